//! `promrw_error`: a status code and a message, returned through `promrw_error **err`.

use std::any::Any;
use std::borrow::Cow;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, Result};

use super::handles::{self, promrw_error};
use super::status::{PROMRW_INVALID_ARGUMENT, PROMRW_PANIC, promrw_status, status_of};

/// What a `promrw_error` handle points to.
#[derive(Debug)]
pub(crate) struct ErrorValue {
    /// The status code.
    code: promrw_status,
    /// The message, NUL-terminated; static only for the panic fallback.
    message: Cow<'static, CStr>,
}

impl ErrorValue {
    /// The value for a Rust error: its kind's code and its message.
    fn from_error(error: &Error) -> ErrorValue {
        ErrorValue {
            code: status_of(error.kind()),
            message: Cow::Owned(c_string(error.message())),
        }
    }
}

/// `text` as a C string; interior NULs (never expected) are shown as `\0`.
fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

/// Stores a new error for `error` in `*err` when `err` is usable (not NULL, aligned).
///
/// # Safety
///
/// `err` must be NULL or valid for writing one pointer.
pub(crate) unsafe fn store(err: *mut *mut promrw_error, error: &Error) {
    if err.is_null() || !err.is_aligned() {
        return;
    }
    let handle = handles::into_handle(ErrorValue::from_error(error));
    // SAFETY: `err` is non-NULL, aligned and writable per the contract.
    unsafe { err.write(handle) };
}

/// The status of `result`, storing its error in `*err` on failure.
///
/// # Safety
///
/// As [`store`].
pub(crate) unsafe fn report(result: Result<()>, err: *mut *mut promrw_error) -> promrw_status {
    match result {
        Ok(()) => super::status::PROMRW_OK,
        Err(error) => {
            // SAFETY: forwarded contract.
            unsafe { store(err, &error) };
            status_of(error.kind())
        }
    }
}

/// Stores a [`PROMRW_PANIC`] error describing a caught panic in `*err` (when usable) and drops
/// the payload. Building the message runs under its own `catch_unwind`, with a static message
/// as the fallback, so this never unwinds.
///
/// # Safety
///
/// As [`store`].
pub(crate) unsafe fn store_panic(err: *mut *mut promrw_error, payload: Box<dyn Any + Send>) {
    let message = catch_unwind(AssertUnwindSafe(|| {
        let detail = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string payload");
        Cow::Owned(c_string(&format!(
            "panic inside promrw (a bug; please report it): {detail}"
        )))
    }))
    .unwrap_or_else(|inner| {
        discard_panic(inner);
        Cow::Borrowed(c"panic inside promrw (a bug; please report it)")
    });
    discard_panic(payload);
    if err.is_null() || !err.is_aligned() {
        return;
    }
    let handle = handles::into_handle(ErrorValue {
        code: PROMRW_PANIC,
        message,
    });
    // SAFETY: `err` is non-NULL, aligned and writable per the contract.
    unsafe { err.write(handle) };
}

/// Drops a panic payload; a payload whose destructor panics in turn is leaked instead.
pub(crate) fn discard_panic(payload: Box<dyn Any + Send>) {
    if let Err(inner) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(inner);
    }
}

/// The status code of an error.
///
/// Ownership: `e` is borrowed.
///
/// Lifetime: no pointer is kept.
///
/// Thread safety: may be called from any thread; errors are immutable.
///
/// Returns: the error's code, or `PROMRW_INVALID_ARGUMENT` when `e` is NULL.
///
/// # Safety
///
/// `e` must be NULL or a live `promrw_error` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_error_code(e: *const promrw_error) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `e` is NULL or a live error handle per the contract.
        match unsafe { handles::borrow(e) } {
            Some(value) => value.code,
            None => PROMRW_INVALID_ARGUMENT,
        }
    })
}

/// The message of an error, naming what is wrong (e.g. the configuration field).
///
/// Ownership: the string belongs to the error; do not free it.
///
/// Lifetime: valid until `promrw_error_free(e)`.
///
/// Thread safety: may be called from any thread; errors are immutable.
///
/// Returns: a NUL-terminated UTF-8 string, or NULL when `e` is NULL.
///
/// # Safety
///
/// `e` must be NULL or a live `promrw_error` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_error_message(e: *const promrw_error) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: `e` is NULL or a live error handle per the contract.
        match unsafe { handles::borrow(e) } {
            Some(value) => value.message.as_ptr(),
            None => std::ptr::null(),
        }
    })
}

/// Frees an error and its message.
///
/// Ownership: takes ownership of `e`. Calling with NULL is fine. Must not be called twice.
///
/// Lifetime: `e` and the string from `promrw_error_message(e)` are invalid afterwards.
///
/// Thread safety: may be called on any thread, but not concurrently with other uses of `e`.
///
/// Returns: nothing.
///
/// # Safety
///
/// `e` must be NULL or a live `promrw_error` that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_error_free(e: *mut promrw_error) {
    ffi_boundary!((), {
        // SAFETY: `e` is NULL or a live error handle the caller gives up, per the contract.
        drop(unsafe { handles::take(e) });
    })
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An export-shaped function with an `err` argument whose body panics.
    fn panicking_export(err: *mut *mut promrw_error) -> promrw_status {
        ffi_boundary!(err = err, {
            panic!("boom {}", 42);
        })
    }

    #[test]
    fn a_panic_in_an_export_with_err_returns_panic_and_a_panic_error() {
        let mut err = std::ptr::null_mut();
        assert_eq!(panicking_export(&mut err), PROMRW_PANIC);
        assert!(!err.is_null());
        // SAFETY: `err` is a live error, freed once.
        unsafe {
            assert_eq!(promrw_error_code(err), PROMRW_PANIC);
            let message = CStr::from_ptr(promrw_error_message(err)).to_str().unwrap();
            assert!(message.contains("boom 42"), "{message}");
            promrw_error_free(err);
        }
        assert_eq!(panicking_export(std::ptr::null_mut()), PROMRW_PANIC);
    }

    #[test]
    fn interior_nul_bytes_do_not_lose_the_message() {
        let value =
            ErrorValue::from_error(&Error::new(crate::error::ErrorKind::InvalidLabels, "a\0b"));
        assert_eq!(value.message.to_str().unwrap(), "a\\0b");
    }
}
