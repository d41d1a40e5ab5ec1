//! The C ABI: a thin `extern "C"` layer over the public Rust API, with no logic of its own.
//!
//! Every function here converts its arguments, calls the matching [`crate::Config`] or
//! [`crate::Sender`] method and converts the result back. The rules below hold for every
//! function; each function's own documentation only adds what differs.
//!
//! # Status codes
//!
//! Every fallible function returns a [`promrw_status`]: [`PROMRW_OK`] (0) or a non-zero code.
//! Codes are stable and grouped by class in blocks of 100: 1xx bad arguments, 2xx a refused
//! operation the caller may retry or handle, 3xx runtime failures, 9xx internal errors. A code,
//! once published, keeps its number forever; retired numbers are never reused.
//! [`promrw_status_str`] names any code. Functions that take a `promrw_error **err` also return
//! a message on failure.
//!
//! # Errors
//!
//! `err` is optional: pass NULL when the message is not wanted. When it is not NULL and the call
//! fails, `*err` receives a new [`promrw_error`] (code and message) that the caller frees with
//! [`promrw_error_free`]; `*err` is overwritten, not freed, so initialise it to NULL. On success
//! `*err` is left unchanged. There is no thread-local "last error".
//!
//! # Outputs
//!
//! Values are only written to the output arguments if the function returns [`PROMRW_OK`], with
//! two documented exceptions: [`promrw_sender_metrics_text`] (and
//! [`promrw_sender_last_report_text`]) write the needed size to `*len_out` when the buffer is
//! too small, and [`promrw_sender_append_batch`] writes the count
//! of accepted samples to `*accepted_out` when a sample is refused. Output pointers must not be
//! NULL.
//!
//! # Arguments
//!
//! * A NULL handle or NULL output pointer gives [`PROMRW_INVALID_ARGUMENT`], never a crash; so
//!   does a misaligned pointer or a length too large for the address space.
//! * Strings and arrays arrive as a pointer and a length and are borrowed for the call only:
//!   the library copies what it keeps before returning and never scans for a NUL terminator.
//!   A NULL pointer with length 0 is an empty string or array; a NULL pointer with a non-zero
//!   length is [`PROMRW_INVALID_ARGUMENT`]. Text must be UTF-8; it is checked at the boundary.
//! * Enumerated inputs (such as log levels) arrive as integers and are range-checked: an
//!   unknown value gives [`PROMRW_INVALID_ARGUMENT`].
//!
//! # Ownership and lifetimes
//!
//! Handles are created by `promrw_<type>_new` / `promrw_config_from_yaml` /
//! `promrw_config_from_file` and freed by the matching `promrw_<type>_free`, exactly once. Every free function accepts NULL. Strings
//! returned as `const char *` are either static ([`promrw_status_str`], [`promrw_version`]) or
//! borrowed from a handle and valid until that handle is freed ([`promrw_error_message`]).
//! The library never returns memory the caller must release with the C library's `free()`.
//!
//! # Thread safety
//!
//! * A `promrw_sender` may be used from any number of threads at once, except that
//!   [`promrw_sender_free`] must not run concurrently with, or be followed by, any other use of
//!   the same handle.
//! * A `promrw_config` may be read concurrently (e.g. by several [`promrw_sender_new`] calls),
//!   but must not be mutated ([`promrw_config_set_log_callback`], [`promrw_config_free`])
//!   while another thread uses it.
//! * A `promrw_error` is immutable and may be read from any thread and freed on any thread.
//! * Callbacks (the log callback) run on the library's shard threads and on the threads that
//!   call into the sender, possibly concurrently; see [`promrw_config_set_log_callback`].
//! * Senders start threads; they do not survive `fork()`. Create them after forking: in a
//!   child, every call on a sender made before the fork returns [`PROMRW_FORKED`], except
//!   [`promrw_sender_free`], which frees it without waiting for threads.
//!
//! # Panics
//!
//! A Rust panic never crosses the boundary. Every export body runs inside one macro that
//! catches it and returns [`PROMRW_PANIC`] (or NULL for functions returning a pointer, nothing
//! for functions returning `void`). `promrw_test_force_panic`, exported only by a library built
//! with the `test-hooks` cargo feature, exercises that path for the bindings' tests.

#![allow(non_camel_case_types)]
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unsafe_op_in_unsafe_fn
)]

/// Runs an export body inside `catch_unwind`, so that a panic never unwinds into C.
///
/// * `ffi_boundary!(fallback, { body })` returns `fallback` when `body` panics.
/// * `ffi_boundary!(err = err_ptr, { body })` returns [`PROMRW_PANIC`] when `body` panics and,
///   when `err_ptr` is not NULL, stores a `promrw_error` describing the panic in `*err_ptr`.
///
/// The body may `return` early; it returns from the guarded closure, not from the export.
macro_rules! ffi_boundary {
    (err = $err:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(payload) => {
                // SAFETY: `$err` is the export's `err` argument, which its contract requires to
                // be NULL or valid for writes; `store_panic` checks NULL and alignment.
                unsafe { $crate::ffi::error::store_panic($err, payload) };
                $crate::ffi::status::PROMRW_PANIC
            }
        }
    }};
    ($fallback:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(payload) => {
                $crate::ffi::error::discard_panic(payload);
                $fallback
            }
        }
    }};
}

mod config;
mod error;
mod extras;
mod handles;
mod input;
mod log;
mod report;
mod sender;
mod stats;
mod status;
mod version;

pub use config::{promrw_config_free, promrw_config_from_file, promrw_config_from_yaml};
pub use error::{promrw_error_code, promrw_error_free, promrw_error_message};
pub use extras::{
    PROMRW_HISTOGRAM_FLOAT, PROMRW_HISTOGRAM_INTEGER, PROMRW_METRIC_TYPE_COUNTER,
    PROMRW_METRIC_TYPE_GAUGE, PROMRW_METRIC_TYPE_GAUGEHISTOGRAM, PROMRW_METRIC_TYPE_HISTOGRAM,
    PROMRW_METRIC_TYPE_INFO, PROMRW_METRIC_TYPE_STATESET, PROMRW_METRIC_TYPE_SUMMARY,
    PROMRW_METRIC_TYPE_UNKNOWN, PROMRW_RESET_HINT_GAUGE, PROMRW_RESET_HINT_NO,
    PROMRW_RESET_HINT_UNKNOWN, PROMRW_RESET_HINT_YES, promrw_bucket_span, promrw_exemplar,
    promrw_histogram, promrw_sender_append_histogram, promrw_sender_append_stale_histogram,
    promrw_sender_append_with_exemplar, promrw_sender_set_metadata,
};
pub use handles::{promrw_config, promrw_error, promrw_sender};
pub use log::{
    PROMRW_LOG_DEBUG, PROMRW_LOG_ERROR, PROMRW_LOG_INFO, PROMRW_LOG_WARN,
    promrw_config_set_log_callback, promrw_free_user_data_fn, promrw_log_fn,
    promrw_sender_set_log_level,
};
pub use report::{
    PROMRW_ALL_ENDPOINTS, promrw_report, promrw_sender_last_report, promrw_sender_last_report_text,
};
pub use sender::{
    promrw_label, promrw_sample, promrw_sender_append, promrw_sender_append_batch,
    promrw_sender_append_columns, promrw_sender_append_stale, promrw_sender_close,
    promrw_sender_flush, promrw_sender_free, promrw_sender_new, promrw_sender_release_series,
    promrw_sender_series, promrw_sender_sync, promrw_series_ref,
};
pub use stats::{promrw_sender_metrics_text, promrw_sender_stats, promrw_stats};
pub use status::{
    PROMRW_BUFFER_TOO_SMALL, PROMRW_CLOSED, PROMRW_FORKED, PROMRW_INVALID_ARGUMENT,
    PROMRW_INVALID_CONFIG, PROMRW_INVALID_LABELS, PROMRW_IO, PROMRW_OK, PROMRW_OUT_OF_ORDER,
    PROMRW_PANIC, PROMRW_QUEUE_FULL, PROMRW_SAMPLES_LOST, PROMRW_SHARD_DEAD, PROMRW_TIMEOUT,
    PROMRW_UNKNOWN_SERIES, promrw_status, promrw_status_str, status_of,
};
#[cfg(feature = "test-hooks")]
pub use version::promrw_test_force_panic;
pub use version::promrw_version;
