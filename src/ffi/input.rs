//! Checked conversion of C arguments: (pointer, length) pairs to slices, and output pointers.
//! Every failure is an [`ErrorKind::InvalidArgument`] error naming the argument.

use std::ffi::c_char;

use crate::error::{Error, ErrorKind, Result};

/// An [`ErrorKind::InvalidArgument`] error.
pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// Borrows `len` elements at `ptr`. NULL with length 0 is the empty slice.
///
/// # Safety
///
/// When `ptr` is not NULL it must point to `len` initialised values of `T` that stay valid and
/// unmodified for `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(invalid_argument(format!(
                "{what} is NULL but its length is {len}"
            )))
        };
    }
    if !ptr.is_aligned() {
        return Err(invalid_argument(format!("{what} is not aligned")));
    }
    if len.saturating_mul(size_of::<T>().max(1)) > isize::MAX as usize {
        return Err(invalid_argument(format!(
            "{what}: length {len} is too large"
        )));
    }
    // SAFETY: `ptr` is non-NULL and aligned, the total size fits in `isize`, and the caller
    // guarantees `len` initialised elements that outlive `'a`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows `len` bytes of text at `ptr` (not NUL-terminated). NULL with length 0 is empty.
///
/// # Safety
///
/// As [`slice()`].
pub(crate) unsafe fn bytes<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a [u8]> {
    // SAFETY: forwarded contract; `c_char` and `u8` have the same size and alignment.
    unsafe { slice(ptr.cast::<u8>(), len, what) }
}

/// Checks that an output pointer may be written: not NULL and aligned. Call it before doing
/// any work, so that a bad output pointer leaves no side effects behind.
pub(crate) fn check_out<T>(ptr: *mut T, what: &str) -> Result<()> {
    if ptr.is_null() {
        Err(invalid_argument(format!("{what} is NULL")))
    } else if !ptr.is_aligned() {
        Err(invalid_argument(format!("{what} is not aligned")))
    } else {
        Ok(())
    }
}

/// Writes `value` to an output pointer already accepted by [`check_out`].
///
/// # Safety
///
/// `ptr` must be valid for a write of `T` (it was checked non-NULL and aligned).
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: the caller checked the pointer with `check_out` and guarantees it is writable;
    // `write` does not read or drop the old (possibly uninitialised) value.
    unsafe { ptr.write(value) }
}
