//! The library version, and (with the `test-hooks` feature) the export that proves the panic
//! boundary works.

use std::ffi::c_char;

#[cfg(feature = "test-hooks")]
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

/// For tests of the library's bindings: panics inside the panic boundary, which catches it.
/// Only in a library built with the `test-hooks` cargo feature (never in a release build);
/// declared only when `PROMRW_TEST_HOOKS` is defined.
///
/// Ownership: none.
///
/// Lifetime: nothing is kept.
///
/// Thread safety: may be called from any thread. The panic message is printed to standard
/// error by the Rust panic hook.
///
/// Returns: always `PROMRW_PANIC`.
#[cfg(feature = "test-hooks")]
#[unsafe(no_mangle)]
#[allow(clippy::panic)]
pub extern "C" fn promrw_test_force_panic() -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        panic!("promrw_test_force_panic: a panic forced by the caller")
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::super::status::{PROMRW_OK, PROMRW_PANIC, promrw_status, promrw_status_str};

    /// An export body that panics, as `promrw_test_force_panic` (built only with the
    /// `test-hooks` feature) has.
    #[allow(clippy::panic)]
    fn panicking_export(panic: bool) -> promrw_status {
        ffi_boundary!(PROMRW_PANIC, {
            if panic {
                panic!("a panic forced by the test");
            }
            PROMRW_OK
        })
    }

    #[test]
    fn a_panic_is_caught_at_the_boundary() {
        assert_eq!(panicking_export(true), PROMRW_PANIC);
        // The boundary still works afterwards.
        assert_eq!(panicking_export(true), PROMRW_PANIC);
        assert_eq!(panicking_export(false), PROMRW_OK);
        // SAFETY: `promrw_status_str` returns a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(promrw_status_str(PROMRW_PANIC)) };
        assert_eq!(name.to_bytes(), b"panic (internal error)");
    }

    #[cfg(feature = "test-hooks")]
    #[test]
    fn the_test_hook_panics_inside_the_boundary() {
        assert_eq!(super::promrw_test_force_panic(), PROMRW_PANIC);
    }
}
