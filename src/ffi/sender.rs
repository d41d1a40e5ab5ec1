//! `promrw_sender`: series registration, appends, flush, sync, close and free.

use std::ffi::c_char;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{Label, Labels};
use crate::sender::{Sample, Sender};
use crate::series::SeriesRef;

use super::error::report;
use super::handles::{self, promrw_config, promrw_error, promrw_sender};
use super::input::{self, invalid_argument};
use super::status::{PROMRW_PANIC, promrw_status, status_of_result};

/// A registered series, returned by `promrw_sender_series`. `0` is never a valid reference.
pub type promrw_series_ref = u64;

/// One label: a name and a value, each as UTF-8 bytes with a length (no NUL terminator
/// needed). A NULL pointer with length 0 is the empty string. A label with an empty value is
/// ignored (empty means absent).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct promrw_label {
    /// The label name; `__name__` holds the metric name.
    pub name: *const c_char,
    /// Length of `name` in bytes.
    pub name_len: usize,
    /// The label value.
    pub value: *const c_char,
    /// Length of `value` in bytes.
    pub value_len: usize,
}

/// One sample for `promrw_sender_append_batch`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct promrw_sample {
    /// The series, from `promrw_sender_series`.
    pub series: promrw_series_ref,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value; its bits are sent unchanged (so a stale marker stays one).
    pub value: f64,
}

/// Borrows the sender behind `s` when it is open: `InvalidArgument` for NULL, `Closed` once
/// `promrw_sender_close` was called. Every call but `promrw_sender_free` goes through here.
///
/// # Safety
///
/// `s` must be NULL or a live sender handle not freed during `'a`.
pub(super) unsafe fn open<'a>(s: *const promrw_sender) -> Result<&'a Sender> {
    // SAFETY: forwarded contract.
    let sender = unsafe { open_or_closed(s) }?;
    if sender.is_closed() {
        return Err(Error::new(ErrorKind::Closed, "sender is closed"));
    }
    Ok(sender)
}

/// Borrows the sender behind `s`, open or closed: for the read-only calls (stats, metrics,
/// reports) that keep working after `promrw_sender_close`. `InvalidArgument` for NULL.
///
/// # Safety
///
/// `s` must be NULL or a live sender handle not freed during `'a`.
pub(super) unsafe fn open_or_closed<'a>(s: *const promrw_sender) -> Result<&'a Sender> {
    // SAFETY: forwarded contract.
    let sender = unsafe { handles::borrow(s) }.ok_or_else(|| invalid_argument("sender is NULL"))?;
    // In a forked child every call but free is refused (a vanished thread may hold a lock).
    sender.check_process()?;
    Ok(sender)
}

/// Label text: UTF-8 checked at the boundary, errors naming the label's index.
///
/// # Safety
///
/// `ptr` must be NULL or point to `len` readable bytes.
unsafe fn label_text<'a>(
    ptr: *const c_char,
    len: usize,
    index: usize,
    part: &str,
) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { input::bytes(ptr, len, &format!("labels[{index}].{part}")) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidLabels,
            format!(
                "label {index}: {part} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Starts a sender: one queue of shard threads per configured endpoint.
///
/// Ownership: `cfg` is borrowed; the caller still frees it (at any time after this call).
/// On success `*out` receives a new sender the caller releases with `promrw_sender_free`.
///
/// Lifetime: the sender keeps its own copy of the configuration (and shares its log callback).
///
/// Thread safety: may be called from any thread; several threads may create senders from the
/// same `cfg` at once, as long as no thread mutates or frees it meanwhile.
///
/// Returns: `PROMRW_OK`; `PROMRW_INVALID_CONFIG` when the configuration cannot be used;
/// `PROMRW_IO` when a thread could not be started; `PROMRW_INVALID_ARGUMENT` when `cfg` or
/// `out` is NULL.
///
/// # Safety
///
/// `cfg` must be NULL or a live `promrw_config`; `out` and `err` must each be NULL or valid for
/// writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_new(
    cfg: *const promrw_config,
    out: *mut *mut promrw_sender,
    err: *mut *mut promrw_error,
) -> promrw_status {
    ffi_boundary!(err = err, {
        let result = (|| {
            // SAFETY: `cfg` is NULL or a live config, per the contract.
            let config =
                unsafe { handles::borrow(cfg) }.ok_or_else(|| invalid_argument("cfg is NULL"))?;
            input::check_out(out, "out")?;
            let sender = Sender::new(config.clone())?;
            // SAFETY: `out` was checked non-NULL and aligned; it is writable per the contract.
            unsafe { input::write_out(out, handles::into_handle(sender)) };
            Ok(())
        })();
        // SAFETY: `err` is NULL or writable per the contract.
        unsafe { report(result, err) }
    })
}

/// Registers a label set (validated, sorted, external labels added) and returns its reference.
/// Equal label sets give the same reference.
///
/// Ownership: `labels` and the strings they point to are borrowed for the call only. On
/// success `*out` receives the reference.
///
/// Lifetime: nothing is kept from `labels` after the call returns. The reference stays valid
/// until `promrw_sender_release_series` or the sender is freed.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`.
///
/// Returns: `PROMRW_OK`; `PROMRW_INVALID_LABELS` when a name or value is not UTF-8 (the message
/// names the label's index), a name is invalid or empty, names repeat, or no label has a value;
/// `PROMRW_CLOSED` after `promrw_sender_close`; `PROMRW_INVALID_ARGUMENT` when `s` or `out` is
/// NULL, or `labels` or a string in it is NULL with a non-zero length.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `labels` must be NULL or point to `n` readable labels
/// whose strings are NULL or readable for their lengths; `out` must be NULL or writable; `err`
/// must be NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_series(
    s: *const promrw_sender,
    labels: *const promrw_label,
    n: usize,
    out: *mut promrw_series_ref,
    err: *mut *mut promrw_error,
) -> promrw_status {
    ffi_boundary!(err = err, {
        let result = (|| {
            input::check_out(out, "out")?;
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open(s) }?;
            // SAFETY: `labels` is NULL or points to `n` readable labels, per the contract.
            let labels = unsafe { input::slice(labels, n, "labels") }?;
            let mut converted = Vec::with_capacity(labels.len());
            for (index, label) in labels.iter().enumerate() {
                // SAFETY: each label's strings are NULL or readable for their lengths.
                let name = unsafe { label_text(label.name, label.name_len, index, "name") }?;
                // SAFETY: as above.
                let value = unsafe { label_text(label.value, label.value_len, index, "value") }?;
                converted.push(Label::new(name, value));
            }
            let series = sender.series(Labels::new(converted)?)?;
            // SAFETY: `out` was checked non-NULL and aligned; it is writable per the contract.
            unsafe { input::write_out(out, series.0) };
            Ok(())
        })();
        // SAFETY: `err` is NULL or writable per the contract.
        unsafe { report(result, err) }
    })
}

/// Forgets a series so its memory can be reused; samples already queued are still sent.
///
/// Ownership: none.
///
/// Lifetime: `series` is invalid afterwards; appends with it give `PROMRW_UNKNOWN_SERIES`.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`. It
/// waits for an append of this series in progress: under the `block` overflow policy one
/// waiting for room holds it up until it has offered its sample to every endpoint (at most
/// `block_timeout`), so the sample reaches every endpoint or none. Appends of other series
/// (even those waiting for room) do not hold it up.
///
/// Returns: `PROMRW_OK`; `PROMRW_UNKNOWN_SERIES` when `series` is unknown or already released;
/// `PROMRW_CLOSED` after `promrw_sender_close`; `PROMRW_INVALID_ARGUMENT` when `s` is NULL.
///
/// # Safety
///
/// `s` must be NULL or a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_release_series(
    s: *const promrw_sender,
    series: promrw_series_ref,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `s` is NULL or a live sender, per the contract.
        let result = unsafe { open(s) }.and_then(|sender| sender.release(SeriesRef(series)));
        status_of_result(&result)
    })
}

/// Appends one sample. The timestamp must be later than the last accepted one of the series.
///
/// Ownership: none.
///
/// Lifetime: the sample is copied.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`; samples
/// of one series are sent in the order they were accepted. The log callback may run on the
/// calling thread.
///
/// Returns: `PROMRW_OK` (also when the `drop_newest` policy dropped the sample, which is
/// counted); `PROMRW_OUT_OF_ORDER`; `PROMRW_UNKNOWN_SERIES`; `PROMRW_QUEUE_FULL` under the
/// `fail` policy, or when `block` waited `block_timeout` without room (the sample was not
/// accepted and may be appended again); `PROMRW_SHARD_DEAD`; `PROMRW_CLOSED` after
/// `promrw_sender_close`; `PROMRW_INVALID_ARGUMENT` when `s` is NULL.
///
/// # Safety
///
/// `s` must be NULL or a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_append(
    s: *const promrw_sender,
    series: promrw_series_ref,
    timestamp_ms: i64,
    value: f64,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `s` is NULL or a live sender, per the contract. A closed sender refuses
        // the sample itself, counting it in `rejected_closed`.
        let result = unsafe { open_or_closed(s) }
            .and_then(|sender| sender.append(SeriesRef(series), timestamp_ms, value));
        status_of_result(&result)
    })
}

/// Appends a stale marker (the NaN with bits `0x7ff0000000000002`), telling receivers the
/// series ended at `timestamp_ms`.
///
/// Ownership: none.
///
/// Lifetime: nothing is kept.
///
/// Thread safety: as `promrw_sender_append`.
///
/// Returns: as `promrw_sender_append`.
///
/// # Safety
///
/// `s` must be NULL or a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_append_stale(
    s: *const promrw_sender,
    series: promrw_series_ref,
    timestamp_ms: i64,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `s` is NULL or a live sender, per the contract. A closed sender refuses
        // the sample itself, counting it.
        let result = unsafe { open_or_closed(s) }
            .and_then(|sender| sender.append_stale(SeriesRef(series), timestamp_ms));
        status_of_result(&result)
    })
}

/// Appends samples in order, stopping at the first one refused.
///
/// Ownership: `samples` is borrowed for the call only.
///
/// Lifetime: the samples are copied.
///
/// Thread safety: as `promrw_sender_append`.
///
/// Returns: `PROMRW_OK` with `*accepted_out == n`; or the status of the first refused sample
/// (as `promrw_sender_append`) with `*accepted_out` set to the number of samples accepted
/// before it, so `samples[*accepted_out]` is the refused one. This is an exception to
/// "outputs only on success": `*accepted_out` is written whenever the samples were processed.
/// `PROMRW_CLOSED` with nothing written when the sender was already closed at the call; when
/// `promrw_sender_close` runs on another thread during the call, `PROMRW_CLOSED` with
/// `*accepted_out` set as for any refusal. `PROMRW_INVALID_ARGUMENT` (nothing written) when `s`
/// or `accepted_out` is NULL, or `samples` is NULL with a non-zero `n`.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `samples` must be NULL or point to `n` readable samples;
/// `accepted_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_append_batch(
    s: *const promrw_sender,
    samples: *const promrw_sample,
    n: usize,
    accepted_out: *mut usize,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let read = || {
            // SAFETY: `samples` is NULL or points to `n` readable samples, per the contract.
            let samples = unsafe { input::slice(samples, n, "samples") }?;
            Ok(samples.iter().map(|s| Sample {
                series: SeriesRef(s.series),
                timestamp_ms: s.timestamp_ms,
                value: s.value,
            }))
        };
        // SAFETY: `s` and `accepted_out` are as `append_counted` requires, per the contract.
        let result = unsafe { append_counted(s, accepted_out, read) };
        status_of_result(&result)
    })
}

/// Appends samples given as parallel columns (as bindings hold them: arrays of refs,
/// timestamps and values), in order, stopping at the first one refused. `series_len` is
/// either `n` (one ref per sample) or 1 (every sample belongs to `series[0]`).
///
/// Ownership: the three arrays are borrowed for the call only.
///
/// Lifetime: the samples are copied.
///
/// Thread safety: as `promrw_sender_append`.
///
/// Returns: as `promrw_sender_append_batch` (the same exception for `*accepted_out`);
/// `PROMRW_INVALID_ARGUMENT` (nothing written) when `series_len` is neither 1 nor `n` (0 is
/// allowed when `n` is 0), or an array is NULL with a non-zero length.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `series` must be NULL or point to `series_len` readable
/// refs; `timestamps_ms` and `values` must be NULL or point to `n` readable elements;
/// `accepted_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_append_columns(
    s: *const promrw_sender,
    series: *const promrw_series_ref,
    series_len: usize,
    timestamps_ms: *const i64,
    values: *const f64,
    n: usize,
    accepted_out: *mut usize,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        let read = || {
            // SAFETY: each pointer is NULL or points to its stated number of elements.
            let refs = unsafe { input::slice(series, series_len, "series") }?;
            // SAFETY: as above.
            let timestamps = unsafe { input::slice(timestamps_ms, n, "timestamps_ms") }?;
            // SAFETY: as above.
            let values = unsafe { input::slice(values, n, "values") }?;
            if refs.len() != n && refs.len() != 1 {
                return Err(invalid_argument(format!(
                    "series_len is {series_len}; it must be 1 or n ({n})"
                )));
            }
            let ref_at = move |i: usize| SeriesRef(if refs.len() == 1 { refs[0] } else { refs[i] });
            Ok(timestamps.iter().zip(values).enumerate().map(
                move |(i, (&timestamp_ms, &value))| Sample {
                    series: ref_at(i),
                    timestamp_ms,
                    value,
                },
            ))
        };
        // SAFETY: `s` and `accepted_out` are as `append_counted` requires, per the contract.
        let result = unsafe { append_counted(s, accepted_out, read) };
        status_of_result(&result)
    })
}

/// The shared body of the batch appends: checks `accepted_out` and the sender, then appends
/// the samples `read` gives (after its own argument checks) and writes how many were accepted.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `accepted_out` must be NULL or writable.
unsafe fn append_counted<I: IntoIterator<Item = Sample>>(
    s: *const promrw_sender,
    accepted_out: *mut usize,
    read: impl FnOnce() -> Result<I>,
) -> Result<()> {
    input::check_out(accepted_out, "accepted_out")?;
    // SAFETY: forwarded contract.
    let sender = unsafe { open_or_closed(s) }?;
    if sender.is_closed() {
        // Refused whole, with nothing written: `append_each` counts every sample of a batch
        // that can be read in `rejected_closed`.
        return match read() {
            Ok(samples) => sender.append_each(samples).1,
            Err(_) => Err(Error::new(ErrorKind::Closed, "sender is closed")),
        };
    }
    let (accepted, result) = sender.append_each(read()?);
    // SAFETY: `accepted_out` was checked non-NULL and aligned; it is writable.
    unsafe { input::write_out(accepted_out, accepted) };
    result
}

/// Waits until every sample appended before the call is acknowledged (or failed for good);
/// partial batches are sent at once. Then reports what was lost: see
/// `promrw_sender_last_report`.
///
/// Ownership: none.
///
/// Lifetime: blocks the calling thread for at most about `timeout_ms` milliseconds.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`.
///
/// Returns: `PROMRW_OK` only when every sample accepted before the call was acknowledged and
/// nothing was rejected or dropped since the previous flush or close returned;
/// `PROMRW_SAMPLES_LOST` when some samples were rejected by a receiver (counted as failed) or
/// dropped (too old, queue full) since the previous flush or close returned;
/// `PROMRW_TIMEOUT` when `timeout_ms` passed first (it takes precedence; the report says what
/// is still pending and the last error of each endpoint); `PROMRW_CLOSED` after
/// `promrw_sender_close`; `PROMRW_INVALID_ARGUMENT` when `s` is NULL.
///
/// # Safety
///
/// `s` must be NULL or a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_flush(
    s: *const promrw_sender,
    timeout_ms: u64,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `s` is NULL or a live sender, per the contract.
        let result =
            unsafe { open(s) }.and_then(|sender| sender.flush(Duration::from_millis(timeout_ms)));
        status_of_result(&result)
    })
}

/// Makes every sample accepted before the call durable. With the durable queue (`promrw.wal`)
/// it succeeds once every sample accepted before the call is written to the log files and
/// fsync'd (whatever the fsync policy), else it fails with a timeout when the timeout passes
/// first. In memory mode (no `promrw.wal`) it succeeds at once and guarantees nothing: the
/// samples live in memory only. After close it fails as closed. The durability contract is
/// stated in docs/DURABILITY.md.
///
/// Ownership: none.
///
/// Lifetime: blocks the calling thread for at most about `timeout_ms` milliseconds (in memory
/// mode it does not block).
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`
/// (appends racing with it may or may not be covered).
///
/// Returns: `PROMRW_OK` once every sample accepted before the call is durable (in memory mode
/// at once, with no guarantee); `PROMRW_TIMEOUT` when `timeout_ms` passed first;
/// `PROMRW_CLOSED` after `promrw_sender_close`; `PROMRW_INVALID_ARGUMENT` when `s` is NULL.
///
/// # Safety
///
/// `s` must be NULL or a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_sync(
    s: *const promrw_sender,
    timeout_ms: u64,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `s` is NULL or a live sender, per the contract.
        let result =
            unsafe { open(s) }.and_then(|sender| sender.sync(Duration::from_millis(timeout_ms)));
        status_of_result(&result)
    })
}

/// Stops accepting samples, sends what is queued for up to `timeout_ms`, then stops and joins
/// the shard threads. Samples still unsent at the deadline are counted as failed. An HTTP
/// attempt still in progress at the deadline is interrupted (its connection is shut down, a
/// TCP connect is abandoned), so this returns soon after the deadline even when
/// `remote_timeout` is longer. A DNS lookup in progress is abandoned as well: it runs on a
/// helper thread of its own, which holds nothing of the sender's and ends by itself when the
/// system resolver answers, possibly after this returns (a URL whose host is an IP address
/// needs no lookup).
///
/// Ownership: the caller still owns `s` and must free it with `promrw_sender_free`.
///
/// Lifetime: when this returns, every shard thread has ended: no shard thread calls the log
/// callback for `s` any more. Afterwards the read-only calls (`promrw_sender_stats`,
/// `promrw_sender_metrics_text`, `promrw_sender_last_report`, `promrw_sender_last_report_text`)
/// still work, so the final counts can be read; every other call on `s` but
/// `promrw_sender_free` returns `PROMRW_CLOSED`.
///
/// Thread safety: may be called from any thread; calls racing with it on other threads get
/// `PROMRW_CLOSED` or complete before the close.
///
/// Returns: `PROMRW_OK` when everything queued was sent and nothing was rejected or dropped
/// since the previous flush or close returned; `PROMRW_SAMPLES_LOST` when some samples were
/// (see `promrw_sender_last_report`); `PROMRW_TIMEOUT` when the deadline passed first (the
/// samples still unsent are counted as failed); `PROMRW_CLOSED` when already closed;
/// `PROMRW_INVALID_ARGUMENT` when `s` is NULL. The sender is closed in every case but the last.
///
/// # Safety
///
/// `s` must be NULL or a live sender.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_close(
    s: *mut promrw_sender,
    timeout_ms: u64,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `s` is NULL or a live sender, per the contract.
        let result =
            unsafe { open(s) }.and_then(|sender| sender.close(Duration::from_millis(timeout_ms)));
        status_of_result(&result)
    })
}

/// Frees a sender. A sender that was not closed is closed first with the configured
/// `promrw.flush_deadline` (default 1 minute) as the deadline, so this may block that long;
/// call `promrw_sender_close` first to choose the deadline.
///
/// Ownership: takes ownership of `s`. Calling with NULL is fine. Must not be called twice.
///
/// Lifetime: `s` is invalid afterwards. Every shard thread of `s` has ended when this returns,
/// so the log callback is never called for `s` afterwards. When this drops the last holder of a
/// log callback, its `free_user_data` hook runs on this thread, before this returns.
///
/// Thread safety: no other thread may use `s` during or after this call.
///
/// Returns: nothing.
///
/// # Safety
///
/// `s` must be NULL or a live sender that no thread uses afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_free(s: *mut promrw_sender) {
    ffi_boundary!((), {
        // SAFETY: `s` is NULL or a live sender the caller gives up, per the contract.
        drop(unsafe { handles::take(s) });
    })
}
