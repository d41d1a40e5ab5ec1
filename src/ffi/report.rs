//! Flush and close reports: `promrw_report` and the calls that read the latest one.

use std::ffi::c_char;

use crate::report::{EndpointReport, FlushReport};
use crate::sender::Sender;

use super::handles::promrw_sender;
use super::input::{self, invalid_argument};
use super::sender::open_or_closed;
use super::stats::write_text;
use super::status::{PROMRW_PANIC, promrw_status, status_of_result};

/// Passed as `endpoint` to ask for all endpoints together.
pub const PROMRW_ALL_ENDPOINTS: usize = usize::MAX;

/// What the most recent flush or close found, for one endpoint or all of them. Counts cover
/// the window since the flush or close before it returned.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct promrw_report {
    /// Set by the caller to `sizeof(promrw_report)` before the call, so the struct can grow
    /// in later versions; the library writes only the fields that fit and sets it to the
    /// number of bytes it wrote.
    pub struct_size: usize,
    /// Samples a receiver rejected (non-retryable status) or abandoned at a close deadline.
    pub samples_failed: u64,
    /// Samples dropped as older than `sample_age_limit`.
    pub samples_dropped_too_old: u64,
    /// Samples dropped because a queue was full under the `drop_newest` policy.
    pub samples_dropped_queue_full: u64,
    /// Samples still pending when the call returned (non-zero after a timeout).
    pub samples_pending: u64,
    /// HTTP status of the endpoint's most recent failed attempt (rejected or retried); 0 when
    /// there was none or it failed without a response (connection refused, timeout). For
    /// `PROMRW_ALL_ENDPOINTS`: the most recent over all endpoints.
    pub last_http_status: u32,
    /// 1 when the flush or close hit its deadline, else 0.
    pub timed_out: u32,
    /// When that most recent failed attempt ended, milliseconds since the Unix epoch; 0 when
    /// there was none.
    pub last_error_unix_ms: i64,
    /// WAL mode: samples dropped unsent with the oldest segments (`promrw.wal.max_bytes`
    /// reached with `full: drop_oldest`, or older than `promrw.wal.max_age`); 0 in memory
    /// mode. Added in the second version of the struct: a caller built against the first
    /// does not get it, but such drops count as losses all the same, in the status
    /// (`PROMRW_SAMPLES_LOST` unless the call timed out) and in the report text.
    pub samples_dropped_wal: u64,
}

/// The size of the first version of `promrw_report` (every field up to
/// `last_error_unix_ms`): the smallest `struct_size` accepted. The second version adds
/// `samples_dropped_wal`.
const REPORT_V1_SIZE: usize =
    std::mem::offset_of!(promrw_report, last_error_unix_ms) + size_of::<i64>();

impl promrw_report {
    /// The C view of one endpoint's part of `report`.
    fn of_endpoint(report: &FlushReport, endpoint: &EndpointReport) -> Self {
        promrw_report {
            struct_size: size_of::<promrw_report>(),
            samples_failed: endpoint.lost.failed,
            samples_dropped_too_old: endpoint.lost.dropped_too_old,
            samples_dropped_queue_full: endpoint.lost.dropped_queue_full,
            samples_pending: endpoint.samples_pending,
            last_http_status: endpoint.last_error.as_ref().map_or(0, |e| e.status_code()),
            timed_out: u32::from(report.timed_out),
            last_error_unix_ms: endpoint.last_error.as_ref().map_or(0, |e| e.unix_ms),
            samples_dropped_wal: endpoint.lost.dropped_wal,
        }
    }

    /// The C view of all endpoints together.
    fn of_all(report: &FlushReport) -> Self {
        let lost = report.lost();
        let last = report.last_error();
        promrw_report {
            struct_size: size_of::<promrw_report>(),
            samples_failed: lost.failed,
            samples_dropped_too_old: lost.dropped_too_old,
            samples_dropped_queue_full: lost.dropped_queue_full,
            samples_pending: report.samples_pending(),
            last_http_status: last.map_or(0, |e| e.status_code()),
            timed_out: u32::from(report.timed_out),
            last_error_unix_ms: last.map_or(0, |e| e.unix_ms),
            samples_dropped_wal: lost.dropped_wal,
        }
    }
}

/// The endpoint's part of the sender's last report (all zero before the first report),
/// checking `endpoint` against the configured endpoints; `None` for `PROMRW_ALL_ENDPOINTS`.
fn endpoint_of(
    sender: &Sender,
    report: &FlushReport,
    endpoint: usize,
) -> crate::Result<Option<EndpointReport>> {
    if endpoint == PROMRW_ALL_ENDPOINTS {
        return Ok(None);
    }
    let configured = sender.endpoint_count();
    if endpoint >= configured {
        return Err(invalid_argument(format!(
            "endpoint {endpoint} is out of range: the sender has {configured} endpoints"
        )));
    }
    Ok(Some(
        report.endpoints.get(endpoint).cloned().unwrap_or_default(),
    ))
}

/// Copies the report of the most recent flush or close that returned (all zero before the
/// first) for endpoint `endpoint` (0-based, in configuration order) or `PROMRW_ALL_ENDPOINTS`.
///
/// Ownership: `out` is caller-owned memory; the caller sets `out->struct_size` to
/// `sizeof(promrw_report)` first. Written on success only: at most `out->struct_size` bytes
/// (the fields that fit), and `out->struct_size` is set to the number of bytes written (less
/// than the caller's when the caller's header is newer than the library).
///
/// Lifetime: nothing is kept.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`; a flush
/// or close returning meanwhile replaces the report.
///
/// Returns: `PROMRW_OK` (also after `promrw_sender_close`); `PROMRW_INVALID_ARGUMENT` when `s`
/// or `out` is NULL, `out->struct_size` is smaller than the first version of the struct, or
/// `endpoint` is out of range.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `out` must be NULL or valid for reading a `size_t` and
/// writing `out->struct_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_last_report(
    s: *const promrw_sender,
    endpoint: usize,
    out: *mut promrw_report,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let result = (|| {
            input::check_out(out, "out")?;
            // SAFETY: `out` is non-NULL and aligned, and readable for its first field per the
            // contract.
            let room = unsafe { std::ptr::addr_of!((*out).struct_size).read() };
            if room < REPORT_V1_SIZE {
                return Err(invalid_argument(format!(
                    "out->struct_size is {room}; set it to sizeof(promrw_report) ({})",
                    size_of::<promrw_report>()
                )));
            }
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open_or_closed(s) }?;
            let report = sender.last_report();
            let value = match endpoint_of(sender, &report, endpoint)? {
                None => promrw_report::of_all(&report),
                Some(one) => promrw_report::of_endpoint(&report, &one),
            };
            let written = room.min(size_of::<promrw_report>());
            let value = promrw_report {
                struct_size: written,
                ..value
            };
            // SAFETY: `out` was checked non-NULL and aligned and holds `room >= written`
            // writable bytes per the contract; `written <= size_of::<promrw_report>()`, so
            // the source is readable; the two do not overlap (`value` is a local).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    std::ptr::addr_of!(value).cast::<u8>(),
                    out.cast::<u8>(),
                    written,
                );
            }
            Ok(())
        })();
        status_of_result(&result)
    })
}

/// Writes the report of the most recent flush or close as text into a caller buffer,
/// NUL-terminated. For one endpoint: that endpoint's most recent failed attempt, e.g.
/// `server returned HTTP status 404: 404 page not found` or `request failed: ...` (empty when
/// there was none). For `PROMRW_ALL_ENDPOINTS`: the whole message the flush or close carried
/// (what was lost and what is pending per endpoint, with each one's last error; empty when it
/// returned `PROMRW_OK`).
///
/// Ownership: `buf` is caller-owned memory of `cap` bytes. Pass `buf` NULL with `cap` 0 to ask
/// for the size.
///
/// Lifetime: nothing is kept.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`.
///
/// Returns: as `promrw_sender_metrics_text` (`PROMRW_OK`, or `PROMRW_BUFFER_TOO_SMALL` with the
/// size needed including the NUL in `*len_out`); also `PROMRW_INVALID_ARGUMENT` when `endpoint`
/// is out of range. Works after `promrw_sender_close`.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `buf` must be NULL or valid for writing `cap` bytes;
/// `len_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_last_report_text(
    s: *const promrw_sender,
    endpoint: usize,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let text = || {
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open_or_closed(s) }?;
            let report = sender.last_report();
            Ok(match endpoint_of(sender, &report, endpoint)? {
                None => report.message(),
                Some(one) => one.last_error.map(|e| e.message).unwrap_or_default(),
            })
        };
        // SAFETY: `buf`, `cap` and `len_out` are as `write_text` requires, per the contract.
        unsafe { write_text(buf, cap, len_out, text) }
    })
}
