//! Status codes: the stable numbers, the one mapping from [`ErrorKind`], and their names.

use std::ffi::c_char;

use crate::error::{Error, ErrorKind};

/// The result of every fallible C function: [`PROMRW_OK`] or one of the `PROMRW_*` codes.
///
/// Values are stable and grouped by class: 0 success; 1xx the arguments were wrong; 2xx the
/// operation was refused (the caller may handle it and try again); 3xx a runtime failure;
/// 9xx an internal error. Numbers are never reused.
pub type promrw_status = u32;

/// Success.
pub const PROMRW_OK: promrw_status = 0;

/// An argument was NULL, misaligned, out of range or otherwise malformed.
pub const PROMRW_INVALID_ARGUMENT: promrw_status = 100;
/// The configuration text or values are invalid; the message names the field.
pub const PROMRW_INVALID_CONFIG: promrw_status = 101;
/// A label set broke the Remote Write label rules or was not UTF-8; the message says which.
pub const PROMRW_INVALID_LABELS: promrw_status = 102;
/// The series reference is unknown or was released.
pub const PROMRW_UNKNOWN_SERIES: promrw_status = 103;
/// The caller's buffer is too small; the needed size was written to the length output.
pub const PROMRW_BUFFER_TOO_SMALL: promrw_status = 104;

/// The sample's timestamp is not after the last accepted one of its series.
pub const PROMRW_OUT_OF_ORDER: promrw_status = 200;
/// The queue is full and the overflow policy refused the sample; it may be appended again.
pub const PROMRW_QUEUE_FULL: promrw_status = 201;
/// The sender was closed; only `promrw_sender_free` may still be called on it.
pub const PROMRW_CLOSED: promrw_status = 202;

/// A deadline passed before the operation completed.
pub const PROMRW_TIMEOUT: promrw_status = 300;
/// A shard thread died; its samples can no longer be sent.
pub const PROMRW_SHARD_DEAD: promrw_status = 301;
/// An I/O or system call failed (e.g. a thread could not be started).
pub const PROMRW_IO: promrw_status = 302;
/// Some samples accepted before a flush or close were rejected by a receiver or dropped since
/// the previous flush or close returned; `promrw_sender_last_report` says how many and why.
pub const PROMRW_SAMPLES_LOST: promrw_status = 303;
/// The sender was created in another process: this is a child made by `fork()`, where the
/// sender's threads do not run. Only `promrw_sender_free` may still be called on it (it frees
/// memory without waiting for threads); create senders after forking.
pub const PROMRW_FORKED: promrw_status = 304;

/// A panic inside the library was caught at the boundary. This is a bug in promrw.
pub const PROMRW_PANIC: promrw_status = 900;

/// The status code of an error kind: the single place where Rust errors become C codes.
pub fn status_of(kind: ErrorKind) -> promrw_status {
    match kind {
        ErrorKind::InvalidArgument => PROMRW_INVALID_ARGUMENT,
        ErrorKind::InvalidConfig => PROMRW_INVALID_CONFIG,
        ErrorKind::InvalidLabels => PROMRW_INVALID_LABELS,
        ErrorKind::UnknownSeries => PROMRW_UNKNOWN_SERIES,
        ErrorKind::OutOfOrder => PROMRW_OUT_OF_ORDER,
        ErrorKind::QueueFull => PROMRW_QUEUE_FULL,
        ErrorKind::Closed => PROMRW_CLOSED,
        ErrorKind::Timeout => PROMRW_TIMEOUT,
        ErrorKind::ShardDead => PROMRW_SHARD_DEAD,
        ErrorKind::Io => PROMRW_IO,
        ErrorKind::SamplesLost => PROMRW_SAMPLES_LOST,
        ErrorKind::Forked => PROMRW_FORKED,
    }
}

/// The status of a result: [`PROMRW_OK`] or the code of the error's kind.
pub(crate) fn status_of_result<T>(result: &Result<T, Error>) -> promrw_status {
    match result {
        Ok(_) => PROMRW_OK,
        Err(error) => status_of(error.kind()),
    }
}

/// A short static description of a status code, such as `"queue full"`.
///
/// Ownership: the string is static; do not free it.
///
/// Lifetime: valid for the life of the process.
///
/// Thread safety: may be called from any thread.
///
/// Returns: a non-NULL, NUL-terminated string; `"unknown status"` for a code that is not
/// defined by this version of the library.
#[unsafe(no_mangle)]
pub extern "C" fn promrw_status_str(code: promrw_status) -> *const c_char {
    ffi_boundary!(c"unknown status".as_ptr(), {
        let text = match code {
            PROMRW_OK => c"ok",
            PROMRW_INVALID_ARGUMENT => c"invalid argument",
            PROMRW_INVALID_CONFIG => c"invalid config",
            PROMRW_INVALID_LABELS => c"invalid labels",
            PROMRW_UNKNOWN_SERIES => c"unknown series",
            PROMRW_BUFFER_TOO_SMALL => c"buffer too small",
            PROMRW_OUT_OF_ORDER => c"out of order",
            PROMRW_QUEUE_FULL => c"queue full",
            PROMRW_CLOSED => c"closed",
            PROMRW_TIMEOUT => c"timeout",
            PROMRW_SHARD_DEAD => c"shard dead",
            PROMRW_IO => c"i/o error",
            PROMRW_SAMPLES_LOST => c"samples lost",
            PROMRW_FORKED => c"forked",
            PROMRW_PANIC => c"panic (internal error)",
            _ => c"unknown status",
        };
        text.as_ptr()
    })
}
