//! The library version, and the export that proves the panic boundary works.

use std::ffi::c_char;

use super::status::{PROMRW_PANIC, promrw_status};

/// The version as a NUL-terminated string.
const VERSION_NUL: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version, e.g. `"0.1.0"` (the crate version).
///
/// Ownership: the string is static; do not free it.
///
/// Lifetime: valid for the life of the process.
///
/// Thread safety: may be called from any thread.
///
/// Returns: a non-NULL, NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn promrw_version() -> *const c_char {
    ffi_boundary!(std::ptr::null(), { VERSION_NUL.as_ptr().cast() })
}

/// For tests of the library and its bindings: panics inside the panic boundary, which catches
/// it. Never useful in production code.
///
/// Ownership: none.
///
/// Lifetime: nothing is kept.
///
/// Thread safety: may be called from any thread. The panic message is printed to standard
/// error by the Rust panic hook.
///
/// Returns: always `PROMRW_PANIC`.
#[unsafe(no_mangle)]
#[allow(clippy::panic)]
pub extern "C" fn promrw_test_force_panic() -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        panic!("promrw_test_force_panic: a panic forced by the caller")
    })
}
