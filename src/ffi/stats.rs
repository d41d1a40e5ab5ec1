//! Self-metrics: a plain counters snapshot (`promrw_stats`) and the Prometheus text exposition.

use std::ffi::c_char;

use crate::metrics::{EndpointStats, SenderStats};

use super::handles::promrw_sender;
use super::input::{self, invalid_argument};
use super::sender::open_or_closed;
use super::status::{
    PROMRW_BUFFER_TOO_SMALL, PROMRW_OK, PROMRW_PANIC, promrw_status, status_of, status_of_result,
};

/// A snapshot of a sender's counters. Each field means what the metric of
/// `promrw_sender_metrics_text` named in its description means (Prometheus's own
/// remote-storage metrics, or `promrw_*` ones where Prometheus has none), summed over all
/// endpoints unless said otherwise. Counters count samples unless named otherwise and only
/// grow; `samples_pending`, `shards`, `shards_dead`, `series` and the fields marked gauge are
/// gauges. The struct is in its fifth version (see `struct_size`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct promrw_stats {
    /// Set by the caller to `sizeof(promrw_stats)` before the call, so the struct can grow in
    /// later versions; the library writes only the fields that fit and sets it to the number
    /// of bytes it wrote.
    pub struct_size: usize,
    /// Samples accepted by append (once, whatever the number of endpoints)
    /// (`promrw_samples_appended_total`).
    pub samples_appended: u64,
    /// Samples in send attempts: a retried batch counts again at every attempt
    /// (`prometheus_remote_storage_samples_total`).
    pub samples_total: u64,
    /// Samples acknowledged by a receiver with a 2xx, each once (`promrw_samples_acked_total`).
    pub samples_acked: u64,
    /// Samples lost to a non-recoverable response (every sample of the refused batch), a close
    /// deadline or a dead shard (`prometheus_remote_storage_samples_failed_total`).
    pub samples_failed: u64,
    /// Samples in attempts that failed recoverably (5xx, 429, network errors) and were
    /// retried, counted at every retry (`prometheus_remote_storage_samples_retried_total`).
    pub samples_retried: u64,
    /// Samples dropped because they were older than `sample_age_limit`
    /// (`prometheus_remote_storage_samples_dropped_total{reason="too_old"}`).
    pub samples_dropped_too_old: u64,
    /// Samples dropped because a queue was full under the `drop_newest` policy, or refused by
    /// one endpoint of several while another accepted them
    /// (`prometheus_remote_storage_samples_dropped_total{reason="queue_full"}`).
    pub samples_dropped_queue_full: u64,
    /// Samples refused with `PROMRW_OUT_OF_ORDER`
    /// (`promrw_appends_rejected_total{reason="out_of_order"}`). The `rejected_*` fields count
    /// samples: a batch refused whole (closed sender) counts each of its samples, a batch
    /// that stops at a refused sample counts that one.
    pub rejected_out_of_order: u64,
    /// Samples refused with `PROMRW_QUEUE_FULL` (`reason="queue_full"`).
    pub rejected_queue_full: u64,
    /// Samples refused with `PROMRW_UNKNOWN_SERIES` (`reason="unknown_series"`).
    pub rejected_unknown_series: u64,
    /// Samples refused with `PROMRW_CLOSED` (`reason="closed"`).
    pub rejected_closed: u64,
    /// Samples refused with `PROMRW_SHARD_DEAD` (`reason="shard_dead"`).
    pub rejected_shard_dead: u64,
    /// Samples queued or in flight, not yet acknowledged, failed or dropped (gauge,
    /// `prometheus_remote_storage_samples_pending`).
    pub samples_pending: u64,
    /// Compressed bytes of each batch once (not per retry), when its sending ended,
    /// acknowledged or rejected for good (`prometheus_remote_storage_bytes_total`).
    pub bytes_total: u64,
    /// Requests acknowledged with a 2xx (`promrw_batches_acked_total`).
    pub batches_acked: u64,
    /// Times an append waited for room under the `block` policy
    /// (`prometheus_remote_storage_enqueue_retries_total`).
    pub enqueue_retries: u64,
    /// Running shards (gauge, `prometheus_remote_storage_shards`).
    pub shards: u64,
    /// Shards whose thread died (gauge, `promrw_shards_dead`).
    pub shards_dead: u64,
    /// Live registered series (gauge, `promrw_series`).
    pub series: u64,
    /// Configured endpoints.
    pub endpoints: u64,
    /// Highest timestamp (ms) queued on any endpoint; 0 when none (the highest
    /// `prometheus_remote_storage_queue_highest_timestamp_seconds`, in ms).
    pub highest_enqueued_ms: i64,
    /// Highest timestamp (ms) acknowledged on every endpoint, i.e. the lowest over endpoints of
    /// each one's highest acknowledged timestamp; 0 when some endpoint has acknowledged none
    /// (the lowest `prometheus_remote_storage_queue_highest_sent_timestamp_seconds`, in ms).
    /// A rejected or abandoned batch does not advance it.
    pub highest_sent_ms: i64,
    /// Samples that alone, with their series' labels, exceed `promrw.max_request_bytes`:
    /// never sent, also counted in `samples_failed` (`promrw_samples_too_large_total`).
    /// Added in the second version of the struct.
    pub samples_too_large: u64,
    /// Series held in the shards' caches (gauge, `promrw_shard_cached_series`): a released
    /// series stays until its queued samples are sent. Added in the second version.
    pub series_cached: u64,
    /// Samples refused with `PROMRW_IO` because writing the WAL failed (WAL mode)
    /// (`reason="io"`). Added in the third version of the struct, as every field after it up
    /// to `wal_samples_replayed`. Those fields are WAL-mode figures (`promrw.wal` set), 0 in
    /// memory mode.
    pub rejected_io: u64,
    /// Bytes of the log's segments on disk (gauge, `promrw_wal_bytes`).
    pub wal_bytes_on_disk: u64,
    /// Segments on disk (gauge, `promrw_wal_segments`).
    pub wal_segments: u64,
    /// Records written, series and samples records (`promrw_wal_records_written_total`).
    pub wal_records_written: u64,
    /// Bytes written to segments (`promrw_wal_bytes_written_total`).
    pub wal_bytes_written: u64,
    /// Successful fsyncs of segments (`promrw_wal_fsyncs_total`).
    pub wal_fsyncs: u64,
    /// Write and fsync errors met, each retried (`promrw_wal_write_errors_total`).
    pub wal_write_errors: u64,
    /// Damaged stretches skipped, when the log was opened and by the feeders since, and torn
    /// tails cut at open (`promrw_wal_corrupt_records_skipped_total`).
    pub wal_corrupt_records_skipped: u64,
    /// Samples deleted unsent with the oldest segments at `promrw.wal.max_bytes` (`full:
    /// drop_oldest`) (`prometheus_remote_storage_samples_dropped_total{reason="wal_full"}`).
    pub samples_dropped_wal_full: u64,
    /// Samples deleted unsent with segments older than `promrw.wal.max_age`
    /// (`prometheus_remote_storage_samples_dropped_total{reason="wal_too_old"}`).
    pub samples_dropped_wal_too_old: u64,
    /// Log bytes from an endpoint's cursor to the end of the log, not yet done for that
    /// endpoint (gauge, `promrw_wal_cursor_lag_bytes`).
    pub wal_lag_bytes: u64,
    /// Samples from an endpoint's cursor to the end of the log (gauge,
    /// `promrw_wal_cursor_lag_samples`).
    pub wal_lag_samples: u64,
    /// Samples the log held at or after an endpoint's cursor when the sender opened it, sent
    /// first (`promrw_wal_samples_replayed_total`).
    pub wal_samples_replayed: u64,
    /// Samples of series an endpoint's `write_relabel_configs` drop, as configured: not a
    /// loss (`prometheus_remote_storage_samples_dropped_total{reason="relabel"}`). Added in
    /// the fourth version of the struct, as the two fields after it.
    pub samples_dropped_relabel: u64,
    /// Samples of series whose relabeled labels Remote Write cannot carry: no labels left, an
    /// invalid label or metric name (`reason="relabel_invalid"`).
    pub samples_dropped_relabel_invalid: u64,
    /// Samples of series an endpoint's `tenant` routing cannot route: no tenant label and no
    /// `default`, or a tenant that cannot be sent in a header (`reason="no_tenant"`).
    pub samples_dropped_no_tenant: u64,
    /// Native histograms in send attempts: a retried batch counts again at every attempt
    /// (`prometheus_remote_storage_histograms_total`). Added in the fifth version of the
    /// struct, as every field after it.
    pub histograms_total: u64,
    /// Native histograms acknowledged by a receiver with a 2xx, each once
    /// (`promrw_histograms_acked_total`).
    pub histograms_acked: u64,
    /// Native histograms lost to a non-recoverable response, a close deadline or a dead shard,
    /// or reported not written by a Remote Write 2.0 receiver
    /// (`prometheus_remote_storage_histograms_failed_total`).
    pub histograms_failed: u64,
    /// Native histograms in attempts that failed recoverably and were retried
    /// (`prometheus_remote_storage_histograms_retried_total`).
    pub histograms_retried: u64,
    /// Native histograms dropped, for every reason together: a sample's reasons, an endpoint
    /// not configured to send them, custom buckets on Remote Write 1.0
    /// (`prometheus_remote_storage_histograms_dropped_total`, all `reason`s).
    pub histograms_dropped: u64,
    /// Exemplars in send attempts (`prometheus_remote_storage_exemplars_total`).
    pub exemplars_total: u64,
    /// Exemplars acknowledged with a 2xx, each once (`promrw_exemplars_acked_total`).
    pub exemplars_acked: u64,
    /// Exemplars lost to a non-recoverable response, or reported not written
    /// (`prometheus_remote_storage_exemplars_failed_total`).
    pub exemplars_failed: u64,
    /// Exemplars in attempts retried (`prometheus_remote_storage_exemplars_retried_total`).
    pub exemplars_retried: u64,
    /// Exemplars dropped, for every reason together, including an endpoint without
    /// `send_exemplars: true` (`prometheus_remote_storage_exemplars_dropped_total`).
    pub exemplars_dropped: u64,
    /// Metadata entries of Remote Write 1.0 metadata requests acknowledged
    /// (`prometheus_remote_storage_metadata_total`).
    pub metadata_total: u64,
    /// Metadata entries lost to a non-recoverable response
    /// (`prometheus_remote_storage_metadata_failed_total`).
    pub metadata_failed: u64,
    /// Metadata entries in attempts retried (`prometheus_remote_storage_metadata_retried_total`).
    pub metadata_retried: u64,
    /// Compressed bytes of acknowledged metadata requests
    /// (`prometheus_remote_storage_metadata_bytes_total`).
    pub metadata_bytes: u64,
    /// The Remote Write protocol in use (gauge, `promrw_remote_write_protocol`): 1 or 2, the
    /// lowest over endpoints (a 2.0 endpoint whose receiver speaks only 1.0 falls back to 1);
    /// 0 when there is no endpoint.
    pub remote_write_protocol: u64,
}

/// The size of the first version of `promrw_stats` (every field up to `highest_sent_ms`): the
/// smallest `struct_size` accepted. Fields added later go after it: the second version ends
/// at `series_cached`, the third at `wal_samples_replayed`, the fourth at
/// `samples_dropped_no_tenant`, the fifth (this one) at `remote_write_protocol`.
const STATS_V1_SIZE: usize = std::mem::offset_of!(promrw_stats, highest_sent_ms) + size_of::<i64>();

/// `promrw_stats.remote_write_protocol` for an endpoint's protocol name (`"1.0"`, `"2.0"`).
fn protocol_number(name: &str) -> u64 {
    name.split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(1)
}

impl From<&SenderStats> for promrw_stats {
    fn from(stats: &SenderStats) -> Self {
        let sum = |field: fn(&EndpointStats) -> u64| stats.endpoints.iter().map(field).sum::<u64>();
        // Memory mode has no log: its figures are 0.
        let wal = stats.wal.clone().unwrap_or_default();
        promrw_stats {
            struct_size: size_of::<promrw_stats>(),
            samples_appended: stats.samples_appended,
            samples_total: sum(|e| e.samples_total),
            samples_acked: sum(|e| e.samples_acked),
            samples_failed: sum(|e| e.samples_failed),
            samples_retried: sum(|e| e.samples_retried),
            samples_dropped_too_old: sum(|e| e.samples_dropped_too_old),
            samples_dropped_queue_full: sum(|e| e.samples_dropped_queue_full),
            rejected_out_of_order: stats.rejected_out_of_order,
            rejected_queue_full: stats.rejected_queue_full,
            rejected_unknown_series: stats.rejected_unknown_series,
            rejected_closed: stats.rejected_closed,
            rejected_shard_dead: stats.rejected_shard_dead,
            samples_pending: sum(|e| e.samples_pending),
            bytes_total: sum(|e| e.bytes_total),
            batches_acked: sum(|e| e.batches_acked),
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
            samples_too_large: sum(|e| e.samples_too_large),
            series_cached: sum(|e| e.series_cached),
            rejected_io: stats.rejected_io,
            wal_bytes_on_disk: wal.bytes_on_disk,
            wal_segments: wal.segments,
            wal_records_written: wal.records_written,
            wal_bytes_written: wal.bytes_written,
            wal_fsyncs: wal.fsyncs,
            wal_write_errors: wal.write_errors,
            wal_corrupt_records_skipped: wal.corrupt_records_skipped,
            samples_dropped_wal_full: sum(|e| e.samples_dropped_wal_full),
            samples_dropped_wal_too_old: sum(|e| e.samples_dropped_wal_too_old),
            wal_lag_bytes: sum(|e| e.wal_lag_bytes),
            wal_lag_samples: sum(|e| e.wal_lag_samples),
            wal_samples_replayed: sum(|e| e.wal_samples_replayed),
            samples_dropped_relabel: sum(|e| e.samples_dropped_relabel),
            samples_dropped_relabel_invalid: sum(|e| e.samples_dropped_relabel_invalid),
            samples_dropped_no_tenant: sum(|e| e.samples_dropped_no_tenant),
            histograms_total: sum(|e| e.histograms.total),
            histograms_acked: sum(|e| e.histograms.acked),
            histograms_failed: sum(|e| e.histograms.failed),
            histograms_retried: sum(|e| e.histograms.retried),
            histograms_dropped: sum(|e| e.histograms.dropped_total()),
            exemplars_total: sum(|e| e.exemplars.total),
            exemplars_acked: sum(|e| e.exemplars.acked),
            exemplars_failed: sum(|e| e.exemplars.failed),
            exemplars_retried: sum(|e| e.exemplars.retried),
            exemplars_dropped: sum(|e| e.exemplars.dropped_total()),
            metadata_total: sum(|e| e.metadata.total),
            metadata_failed: sum(|e| e.metadata.failed),
            metadata_retried: sum(|e| e.metadata.retried),
            metadata_bytes: sum(|e| e.metadata.bytes),
            remote_write_protocol: stats
                .endpoints
                .iter()
                .map(|e| protocol_number(e.remote_write_protocol))
                .min()
                .unwrap_or(0),
        }
    }
}

/// Copies a snapshot of the sender's counters into `*out`.
///
/// Ownership: `out` is caller-owned memory; the caller sets `out->struct_size` to
/// `sizeof(promrw_stats)` first. Written on success only: at most `out->struct_size` bytes
/// (the fields that fit), and `out->struct_size` is set to the number of bytes written (less
/// than the caller's when the caller's header is newer than the library).
///
/// Lifetime: nothing is kept.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`; the
/// counters are read one by one, so a snapshot taken under load is not atomic as a whole.
///
/// Returns: `PROMRW_OK` (also after `promrw_sender_close`, so the final counts can be read);
/// `PROMRW_INVALID_ARGUMENT` when `s` or `out` is NULL, or `out->struct_size` is smaller than
/// the first version of the struct.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `out` must be NULL or valid for reading a `size_t` and
/// writing `out->struct_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_stats(
    s: *const promrw_sender,
    out: *mut promrw_stats,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let result = (|| {
            input::check_out(out, "out")?;
            // SAFETY: `out` is non-NULL and aligned, and readable for its first field per the
            // contract.
            let room = unsafe { std::ptr::addr_of!((*out).struct_size).read() };
            if room < STATS_V1_SIZE {
                return Err(invalid_argument(format!(
                    "out->struct_size is {room}; set it to sizeof(promrw_stats) ({})",
                    size_of::<promrw_stats>()
                )));
            }
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open_or_closed(s) }?;
            let mut stats = promrw_stats::from(&sender.stats());
            let written = room.min(size_of::<promrw_stats>());
            stats.struct_size = written;
            // SAFETY: `out` was checked non-NULL and aligned and holds `room >= written`
            // writable bytes per the contract; `written <= size_of::<promrw_stats>()`, so the
            // source is readable; the two do not overlap (`stats` is a local).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    std::ptr::addr_of!(stats).cast::<u8>(),
                    out.cast::<u8>(),
                    written,
                );
            }
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
