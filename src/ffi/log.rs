//! The log callback: a C function pointer plus user data, adapted to [`LogSink`]; and a
//! sender's log level, changeable while it runs.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use crate::log::{LogLevel, LogSink};

use super::handles::{self, promrw_config, promrw_sender};
use super::input::invalid_argument;
use super::sender::open;
use super::status::{
    PROMRW_INVALID_ARGUMENT, PROMRW_OK, PROMRW_PANIC, promrw_status, status_of_result,
};

/// Log level `debug`: per-request detail.
pub const PROMRW_LOG_DEBUG: u32 = 0;
/// Log level `info`: lifecycle events.
pub const PROMRW_LOG_INFO: u32 = 1;
/// Log level `warn`: retries, dropped samples, rejected batches.
pub const PROMRW_LOG_WARN: u32 = 2;
/// Log level `error`: failures that lose data or stop a shard.
pub const PROMRW_LOG_ERROR: u32 = 3;

/// A log callback: `user_data` as registered, the level (`PROMRW_LOG_*`), and the message as
/// pointer and length. The message is UTF-8, not NUL-terminated, never contains secrets, and
/// is valid only during the call.
pub type promrw_log_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: u32,
        message: *const c_char,
        message_len: usize,
    ),
>;

/// Releases a callback's `user_data`; called exactly once.
pub type promrw_free_user_data_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// The level for a C integer, if it names one.
fn level_from_u32(level: u32) -> Option<LogLevel> {
    match level {
        PROMRW_LOG_DEBUG => Some(LogLevel::Debug),
        PROMRW_LOG_INFO => Some(LogLevel::Info),
        PROMRW_LOG_WARN => Some(LogLevel::Warn),
        PROMRW_LOG_ERROR => Some(LogLevel::Error),
        _ => None,
    }
}

/// A [`LogSink`] calling a C function; its drop runs the `free_user_data` hook.
struct CallbackSink {
    /// The callback.
    callback: unsafe extern "C" fn(*mut c_void, u32, *const c_char, usize),
    /// Passed back to the callback and to `free_user_data`.
    user_data: *mut c_void,
    /// Run once, when the last holder drops the sink.
    free_user_data: promrw_free_user_data_fn,
}

// SAFETY: `promrw_config_set_log_callback` requires the callback to be callable with
// `user_data` from any thread, concurrently, and `free_user_data` to be callable from any
// thread; the pointer itself is never dereferenced by the library.
unsafe impl Send for CallbackSink {}
// SAFETY: as above: the callback must accept concurrent calls; the sink has no other state.
unsafe impl Sync for CallbackSink {}

impl LogSink for CallbackSink {
    fn log(&self, level: LogLevel, message: &str) {
        // SAFETY: the callback and `user_data` were registered together, and the contract of
        // `promrw_config_set_log_callback` requires the callback to accept any thread and a
        // message given as pointer and length that is valid only during the call.
        unsafe {
            (self.callback)(
                self.user_data,
                level as u32,
                message.as_ptr().cast(),
                message.len(),
            )
        }
    }
}

impl Drop for CallbackSink {
    fn drop(&mut self) {
        if let Some(free_user_data) = self.free_user_data {
            // SAFETY: the sink is dropped exactly once (it lives in one `Arc`), after the last
            // callback; the contract requires the hook to accept `user_data` on any thread.
            unsafe { free_user_data(self.user_data) }
        }
    }
}

/// Sends the library's log records at `min_level` and above to `callback`, replacing any
/// callback set before. Without a callback the library is silent.
///
/// Ownership: on success the library holds `user_data` until the configuration and every
/// sender made from it after this call are freed; then it calls `free_user_data(user_data)`
/// (when not NULL) exactly once, after the last call to `callback`. On failure nothing is kept
/// and `free_user_data` is not called. A callback replaced by a later call is released the same
/// way once no sender uses it.
///
/// Lifetime: `callback` and `user_data` must stay valid until `free_user_data` is called (or,
/// without a hook, until the configuration and all senders made from it are freed).
///
/// Thread safety: `callback` is called on the library's shard threads and on the threads that
/// call appending functions (`promrw_sender_append`, ...), possibly concurrently; it must be
/// thread-safe, return quickly, not unwind (no C++ exceptions, no `longjmp`) and not call
/// functions of the sender that is logging (it may hold internal locks). `free_user_data` runs
/// on the thread that drops the last holder, in `promrw_sender_free` or `promrw_config_free`
/// (never on a library thread: every shard thread has ended before `promrw_sender_close` or
/// `promrw_sender_free` returns). This function itself must not run concurrently with other uses of
/// `cfg`.
///
/// Returns: `PROMRW_OK`; `PROMRW_INVALID_ARGUMENT` when `cfg` or `callback` is NULL or
/// `min_level` is not one of `PROMRW_LOG_DEBUG` .. `PROMRW_LOG_ERROR`.
///
/// # Safety
///
/// `cfg` must be NULL or a live `promrw_config` not used by another thread during the call;
/// `callback` and `free_user_data` must be NULL or functions with these signatures meeting the
/// requirements above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_config_set_log_callback(
    cfg: *mut promrw_config,
    min_level: u32,
    callback: promrw_log_fn,
    user_data: *mut c_void,
    free_user_data: promrw_free_user_data_fn,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `cfg` is NULL or a live config with no concurrent users, per the contract.
        let Some(config) = (unsafe { handles::borrow_mut(cfg) }) else {
            return PROMRW_INVALID_ARGUMENT;
        };
        let Some(callback) = callback else {
            return PROMRW_INVALID_ARGUMENT;
        };
        let Some(level) = level_from_u32(min_level) else {
            return PROMRW_INVALID_ARGUMENT;
        };
        let sink = CallbackSink {
            callback,
            user_data,
            free_user_data,
        };
        config.set_logger(Arc::new(sink), level);
        PROMRW_OK
    })
}

/// Changes the minimum level of the records the sender passes to its log callback, from the
/// next record on, for all of the sender's threads (other senders made from the same
/// configuration keep theirs). Bindings use it to follow their logging framework's level.
///
/// Ownership: none.
///
/// Lifetime: lasts until the next call; the configuration is not changed.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`
/// (records being formatted meanwhile may still use the previous level).
///
/// Returns: `PROMRW_OK` (also when the configuration had no log callback: then nothing is
/// logged whatever the level); `PROMRW_CLOSED` after `promrw_sender_close`;
/// `PROMRW_INVALID_ARGUMENT` when `s` is NULL or `min_level` is not one of
/// `PROMRW_LOG_DEBUG` .. `PROMRW_LOG_ERROR`.
///
/// # Safety
///
/// `s` must be NULL or a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_set_log_level(
    s: *const promrw_sender,
    min_level: u32,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let result = (|| {
            let level = level_from_u32(min_level).ok_or_else(|| {
                invalid_argument(format!(
                    "min_level {min_level} is not one of PROMRW_LOG_DEBUG .. PROMRW_LOG_ERROR"
                ))
            })?;
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open(s) }?;
            sender.set_log_level(level);
            Ok(())
        })();
        status_of_result(&result)
    })
}
