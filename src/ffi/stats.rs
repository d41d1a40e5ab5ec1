//! Self-metrics: a plain counters snapshot (`promrw_stats`) and the Prometheus text exposition.

use std::ffi::c_char;

use crate::metrics::{EndpointStats, SenderStats};

use super::handles::promrw_sender;
use super::input::{self, invalid_argument};
use super::sender::open_or_closed;
use super::status::{
    PROMRW_BUFFER_TOO_SMALL, PROMRW_OK, PROMRW_PANIC, promrw_status, status_of, status_of_result,
};

/// A snapshot of a sender's counters. Endpoint figures are summed over all endpoints unless
/// said otherwise. Counters only grow, except the gauges `samples_pending`, `shards`,
/// `shards_dead` and `series`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct promrw_stats {
    /// Samples accepted by append (once, whatever the number of endpoints).
    pub samples_appended: u64,
    /// Samples acknowledged by a receiver with a 2xx (each once; retries not counted, unlike
    /// `prometheus_remote_storage_samples_total`).
    pub samples_sent: u64,
    /// Samples lost to a non-recoverable response or to a close deadline.
    pub samples_failed: u64,
    /// Samples in retried attempts (`prometheus_remote_storage_samples_retried_total`).
    pub samples_retried: u64,
    /// Samples dropped because they were older than `sample_age_limit`.
    pub samples_dropped_too_old: u64,
    /// Samples dropped because a queue was full under the `drop_newest` policy.
    pub samples_dropped_queue_full: u64,
    /// Appends refused with `PROMRW_OUT_OF_ORDER`.
    pub rejected_out_of_order: u64,
    /// Appends refused with `PROMRW_QUEUE_FULL`.
    pub rejected_queue_full: u64,
    /// Appends refused with `PROMRW_UNKNOWN_SERIES`.
    pub rejected_unknown_series: u64,
    /// Appends refused with `PROMRW_CLOSED`.
    pub rejected_closed: u64,
    /// Samples queued and not yet finished (gauge).
    pub samples_pending: u64,
    /// Compressed bytes of acknowledged requests.
    pub bytes_sent: u64,
    /// Requests acknowledged with a 2xx.
    pub batches_sent: u64,
    /// Times an append waited for room under the `block` policy.
    pub enqueue_retries: u64,
    /// Running shards (gauge).
    pub shards: u64,
    /// Shards whose thread died (gauge).
    pub shards_dead: u64,
    /// Live registered series (gauge).
    pub series: u64,
    /// Configured endpoints.
    pub endpoints: u64,
    /// Highest timestamp (ms) queued on any endpoint; 0 when none.
    pub highest_enqueued_ms: i64,
    /// Highest timestamp (ms) acknowledged on every endpoint, i.e. the lowest over endpoints of
    /// each one's highest acknowledged timestamp; 0 when some endpoint has acknowledged none.
    /// A rejected or abandoned batch does not advance it.
    pub highest_sent_ms: i64,
}

impl From<&SenderStats> for promrw_stats {
    fn from(stats: &SenderStats) -> Self {
        let sum = |field: fn(&EndpointStats) -> u64| stats.endpoints.iter().map(field).sum::<u64>();
        promrw_stats {
            samples_appended: stats.samples_appended,
            samples_sent: sum(|e| e.samples_acked),
            samples_failed: sum(|e| e.samples_failed),
            samples_retried: sum(|e| e.samples_retried),
            samples_dropped_too_old: sum(|e| e.dropped_too_old),
            samples_dropped_queue_full: sum(|e| e.dropped_queue_full),
            rejected_out_of_order: stats.rejected_out_of_order,
            rejected_queue_full: stats.rejected_queue_full,
            rejected_unknown_series: stats.rejected_unknown_series,
            rejected_closed: stats.rejected_closed,
            samples_pending: sum(|e| e.samples_pending),
            bytes_sent: sum(|e| e.bytes_sent),
            batches_sent: sum(|e| e.batches_acked),
            enqueue_retries: sum(|e| e.enqueue_retries),
            shards: sum(|e| e.shards),
            shards_dead: sum(|e| e.shards_dead),
            series: stats.series,
            endpoints: stats.endpoints.len() as u64,
            highest_enqueued_ms: stats
                .endpoints
                .iter()
                .map(|e| e.highest_enqueued_ms)
                .max()
                .unwrap_or(0),
            highest_sent_ms: stats
                .endpoints
                .iter()
                .map(|e| e.highest_sent_ms)
                .min()
                .unwrap_or(0),
        }
    }
}

/// Copies a snapshot of the sender's counters into `*out`.
///
/// Ownership: `out` is caller-owned memory, written on success only.
///
/// Lifetime: nothing is kept.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`; the
/// counters are read one by one, so a snapshot taken under load is not atomic as a whole.
///
/// Returns: `PROMRW_OK` (also after `promrw_sender_close`, so the final counts can be read);
/// `PROMRW_INVALID_ARGUMENT` when `s` or `out` is NULL.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `out` must be NULL or valid for writing a `promrw_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_stats(
    s: *const promrw_sender,
    out: *mut promrw_stats,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let result = (|| {
            input::check_out(out, "out")?;
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open_or_closed(s) }?;
            let stats = promrw_stats::from(&sender.stats());
            // SAFETY: `out` was checked non-NULL and aligned; it is writable per the contract.
            unsafe { input::write_out(out, stats) };
            Ok(())
        })();
        status_of_result(&result)
    })
}

/// Writes the sender's self-metrics in the Prometheus text exposition format (0.0.4) into a
/// caller buffer, NUL-terminated.
///
/// Ownership: `buf` is caller-owned memory of `cap` bytes. Pass `buf` NULL with `cap` 0 to ask
/// for the size.
///
/// Lifetime: nothing is kept.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`.
/// Counters keep changing, so the size needed can grow between two calls: allocate some slack
/// and call again on `PROMRW_BUFFER_TOO_SMALL`.
///
/// Returns: `PROMRW_OK` with the text and a NUL in `buf` and its length without the NUL in
/// `*len_out`; `PROMRW_BUFFER_TOO_SMALL` when `cap` is too small, with nothing written to `buf`
/// and the size needed including the NUL in `*len_out` (the one exception to "outputs only on
/// success"); `PROMRW_INVALID_ARGUMENT` when `s` or `len_out` is NULL, or `buf` is NULL with a
/// non-zero `cap`. Works after `promrw_sender_close`.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `buf` must be NULL or valid for writing `cap` bytes;
/// `len_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_metrics_text(
    s: *const promrw_sender,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let text = || {
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open_or_closed(s) }?;
            Ok(sender.metrics_text())
        };
        // SAFETY: `buf`, `cap` and `len_out` are as `write_text` requires, per the contract.
        unsafe { write_text(buf, cap, len_out, text) }
    })
}

/// Writes the text `make` returns into a caller buffer, NUL-terminated, with the convention of
/// `promrw_sender_metrics_text`: `PROMRW_BUFFER_TOO_SMALL` with the size needed (including the
/// NUL) in `*len_out` when `cap` is too small, else the text and its length.
///
/// # Safety
///
/// `buf` must be NULL or valid for writing `cap` bytes; `len_out` must be NULL or writable.
pub(super) unsafe fn write_text(
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
    make: impl FnOnce() -> crate::Result<String>,
) -> promrw_status {
    let result = (|| {
        input::check_out(len_out, "len_out")?;
        if buf.is_null() && cap != 0 {
            return Err(invalid_argument(format!("buf is NULL but cap is {cap}")));
        }
        if cap > isize::MAX as usize {
            return Err(invalid_argument(format!("cap {cap} is too large")));
        }
        let text = make()?;
        let needed = text.len() + 1;
        if cap < needed {
            // SAFETY: `len_out` was checked non-NULL and aligned; it is writable.
            unsafe { input::write_out(len_out, needed) };
            return Ok(PROMRW_BUFFER_TOO_SMALL);
        }
        // SAFETY: `buf` is non-NULL here (cap >= needed > 0) and valid for `cap` bytes per
        // the contract; `needed <= cap`; the source is a separate Rust allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            buf.add(text.len()).write(0);
        }
        // SAFETY: `len_out` was checked non-NULL and aligned; it is writable.
        unsafe { input::write_out(len_out, text.len()) };
        Ok(PROMRW_OK)
    })();
    match result {
        Ok(status) => status,
        Err(error) => status_of(error.kind()),
    }
}
