//! `promrw_config`: a validated configuration read from YAML or JSON text.

use std::ffi::c_char;
use std::os::unix::ffi::OsStrExt;

use crate::config::Config;
use crate::error::{Error, ErrorKind};

use super::error::report;
use super::handles::{self, promrw_config, promrw_error};
use super::input;
use super::status::promrw_status;

/// Parses and validates a configuration in the Prometheus `remote_write` schema, written as
/// YAML or JSON (chosen by the first non-blank character: `{` means JSON).
///
/// Ownership: `text` is borrowed for the call only (it need not be NUL-terminated; NULL with
/// `len` 0 is the empty text). On success `*out` receives a new config the caller frees with
/// `promrw_config_free`, also after senders were made from it.
///
/// Lifetime: nothing is kept from `text` after the call returns.
///
/// Thread safety: may be called from any thread.
///
/// Returns: `PROMRW_OK`; `PROMRW_INVALID_CONFIG` when the text is not UTF-8, does not parse,
/// has an unknown key or an invalid value (the message names the field, e.g.
/// `remote_write[0].queue_config.capacity: ...`); `PROMRW_INVALID_ARGUMENT` when `out` is NULL
/// or `text` is NULL with a non-zero `len`.
///
/// # Safety
///
/// `text` must be NULL or point to `len` readable bytes; `out` must be NULL or valid for
/// writing a pointer; `err` must be NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_config_from_yaml(
    text: *const c_char,
    len: usize,
    out: *mut *mut promrw_config,
    err: *mut *mut promrw_error,
) -> promrw_status {
    ffi_boundary!(err = err, {
        let result = (|| {
            input::check_out(out, "out")?;
            // SAFETY: `text` is NULL or points to `len` readable bytes, per the contract.
            let bytes = unsafe { input::bytes(text, len, "text") }?;
            let text = std::str::from_utf8(bytes).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "configuration text is not valid UTF-8 (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                )
            })?;
            let config = Config::from_text(text)?;
            // SAFETY: `out` was checked non-NULL and aligned; it is writable per the contract.
            unsafe { input::write_out(out, handles::into_handle(config)) };
            Ok(())
        })();
        // SAFETY: `err` is NULL or writable per the contract.
        unsafe { report(result, err) }
    })
}

/// Reads and validates a configuration file: the same schema, the same YAML-or-JSON choice
/// and the same errors as `promrw_config_from_yaml`.
///
/// Ownership: `path` is borrowed for the call only (`path_len` bytes, no NUL terminator
/// needed; UTF-8 or the operating system's bytes). On success `*out` receives a new config the
/// caller frees with `promrw_config_free`.
///
/// Lifetime: the file is read once, during the call; nothing refers to it afterwards (files
/// named inside the configuration, such as `password_file`, are read when used).
///
/// Thread safety: may be called from any thread.
///
/// Returns: `PROMRW_OK`; `PROMRW_INVALID_CONFIG` when the file cannot be read (the message
/// names the path and the system's error) or its text is invalid (the message names the
/// field); `PROMRW_INVALID_ARGUMENT` when `out` is NULL, `path` is NULL or `path_len` is 0.
///
/// # Safety
///
/// `path` must be NULL or point to `path_len` readable bytes; `out` must be NULL or valid for
/// writing a pointer; `err` must be NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_config_from_file(
    path: *const c_char,
    path_len: usize,
    out: *mut *mut promrw_config,
    err: *mut *mut promrw_error,
) -> promrw_status {
    ffi_boundary!(err = err, {
        let result = (|| {
            input::check_out(out, "out")?;
            // SAFETY: `path` is NULL or points to `path_len` readable bytes, per the contract.
            let bytes = unsafe { input::bytes(path, path_len, "path") }?;
            if bytes.is_empty() {
                return Err(input::invalid_argument("path is empty"));
            }
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(bytes));
            let config = Config::from_file(path)?;
            // SAFETY: `out` was checked non-NULL and aligned; it is writable per the contract.
            unsafe { input::write_out(out, handles::into_handle(config)) };
            Ok(())
        })();
        // SAFETY: `err` is NULL or writable per the contract.
        unsafe { report(result, err) }
    })
}

/// Frees a configuration. Senders made from it are not affected; a log callback set on it
/// stays alive while a sender still uses it.
///
/// Ownership: takes ownership of `cfg`. Calling with NULL is fine. Must not be called twice.
///
/// Lifetime: `cfg` is invalid afterwards.
///
/// Thread safety: must not run concurrently with any other use of `cfg`. When this drops the
/// last holder of a log callback, its `free_user_data` hook runs on this thread.
///
/// Returns: nothing.
///
/// # Safety
///
/// `cfg` must be NULL or a live `promrw_config` that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_config_free(cfg: *mut promrw_config) {
    ffi_boundary!((), {
        // SAFETY: `cfg` is NULL or a live config handle the caller gives up, per the contract.
        drop(unsafe { handles::take(cfg) });
    })
}
