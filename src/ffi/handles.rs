//! Opaque handle types and the only functions that cast between them and the Rust values they
//! stand for. Each handle is a `Box` of its Rust type; a sender is shared between threads by
//! `&Sender`, since every [`Sender`] method takes `&self`.

use crate::config::Config;
use crate::sender::Sender;

use super::error::ErrorValue;

/// An opaque, validated sender configuration.
///
/// Created by `promrw_config_from_yaml`, freed by `promrw_config_free`.
#[repr(C)]
pub struct promrw_config {
    _private: [u8; 0],
}

/// An opaque remote-write sender, usable from many threads at once.
///
/// Created by `promrw_sender_new`, freed by `promrw_sender_free`.
#[repr(C)]
pub struct promrw_sender {
    _private: [u8; 0],
}

/// An opaque error: a status code and a message.
///
/// Returned through `promrw_error **err` arguments, freed by `promrw_error_free`.
#[repr(C)]
pub struct promrw_error {
    _private: [u8; 0],
}

/// Ties an opaque C handle type to the Rust type behind it.
pub(crate) trait Castable {
    /// The Rust value a handle points to (as a `Box`).
    type Rust;
}

impl Castable for promrw_config {
    type Rust = Config;
}

impl Castable for promrw_sender {
    type Rust = Sender;
}

impl Castable for promrw_error {
    type Rust = ErrorValue;
}

/// Moves `value` to the heap and returns it as an owned handle.
pub(crate) fn into_handle<C: Castable>(value: C::Rust) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Borrows the value behind a handle; `None` for NULL or a misaligned pointer.
///
/// # Safety
///
/// `handle` must be NULL or a live handle of type `C` from [`into_handle`], not freed while
/// the returned reference is used.
pub(crate) unsafe fn borrow<'a, C: Castable>(handle: *const C) -> Option<&'a C::Rust> {
    let ptr = handle.cast::<C::Rust>();
    if !ptr.is_aligned() {
        return None;
    }
    // SAFETY: non-NULL pointers come from `into_handle` (a live `Box<C::Rust>`) per the
    // contract; `as_ref` maps NULL to `None`.
    unsafe { ptr.as_ref() }
}

/// Borrows the value behind a handle mutably; `None` for NULL or a misaligned pointer.
///
/// # Safety
///
/// As [`borrow`], and no other reference to the value may exist while the result is used.
pub(crate) unsafe fn borrow_mut<'a, C: Castable>(handle: *mut C) -> Option<&'a mut C::Rust> {
    let ptr = handle.cast::<C::Rust>();
    if !ptr.is_aligned() {
        return None;
    }
    // SAFETY: non-NULL pointers come from `into_handle` per the contract, and the caller
    // guarantees exclusive access; `as_mut` maps NULL to `None`.
    unsafe { ptr.as_mut() }
}

/// Takes back ownership of a handle; `None` for NULL or a misaligned pointer.
///
/// # Safety
///
/// `handle` must be NULL or a live handle of type `C` from [`into_handle`] that is not used
/// again afterwards.
pub(crate) unsafe fn take<C: Castable>(handle: *mut C) -> Option<Box<C::Rust>> {
    let ptr = handle.cast::<C::Rust>();
    if ptr.is_null() || !ptr.is_aligned() {
        return None;
    }
    // SAFETY: the pointer is non-NULL and came from `Box::into_raw` in `into_handle`; the
    // caller gives up the handle, so the box is reclaimed exactly once.
    Some(unsafe { Box::from_raw(ptr) })
}
