//! Native histograms, exemplars, start timestamps and metadata: `promrw_histogram`,
//! `promrw_exemplar`, `promrw_sender_append_histogram`, `promrw_sender_append_stale_histogram`,
//! `promrw_sender_append_with_exemplar` and `promrw_sender_set_metadata`.
//!
//! The input structs are plain values borrowed for the call: the library copies what it keeps
//! before returning. Every malformed field (a NULL array with a non-zero length, an unknown
//! enumerated value, a bad `struct_size`) gives `PROMRW_INVALID_ARGUMENT` with a message
//! naming the field, e.g. `histogram.positive_spans is NULL but its length is 2`.

use std::ffi::c_char;

use crate::error::Result;
use crate::model::{
    BucketSpan, Exemplar, Histogram, HistogramCounts, Label, Metadata, MetricType, ResetHint,
    SampleOptions,
};
use crate::series::SeriesRef;

use super::error::report;
use super::handles::{promrw_error, promrw_sender};
use super::input::{self, invalid_argument};
use super::sender::{open, open_or_closed, promrw_label, promrw_series_ref};
use super::status::{PROMRW_PANIC, promrw_status, status_of_result};

/// `promrw_histogram.kind`: integer counts (`count_int`, `zero_count_int`, bucket deltas).
pub const PROMRW_HISTOGRAM_INTEGER: u32 = 0;
/// `promrw_histogram.kind`: float counts (`count_float`, `zero_count_float`, absolute bucket
/// counts).
pub const PROMRW_HISTOGRAM_FLOAT: u32 = 1;

/// `promrw_histogram.reset_hint`: nothing known about counter resets.
pub const PROMRW_RESET_HINT_UNKNOWN: u32 = 0;
/// `promrw_histogram.reset_hint`: a counter reset happened just before this histogram.
pub const PROMRW_RESET_HINT_YES: u32 = 1;
/// `promrw_histogram.reset_hint`: no counter reset happened.
pub const PROMRW_RESET_HINT_NO: u32 = 2;
/// `promrw_histogram.reset_hint`: a gauge histogram, where counter resets do not apply.
pub const PROMRW_RESET_HINT_GAUGE: u32 = 3;

/// Metric type for `promrw_sender_set_metadata`: unknown (Remote Write 2.0's
/// `METRIC_TYPE_UNSPECIFIED`). The `PROMRW_METRIC_TYPE_*` values are the protocol's (0 to 7,
/// the same in Remote Write 1.0 and 2.0).
pub const PROMRW_METRIC_TYPE_UNKNOWN: u32 = 0;
/// Metric type: a counter.
pub const PROMRW_METRIC_TYPE_COUNTER: u32 = 1;
/// Metric type: a gauge.
pub const PROMRW_METRIC_TYPE_GAUGE: u32 = 2;
/// Metric type: a histogram (classic or native).
pub const PROMRW_METRIC_TYPE_HISTOGRAM: u32 = 3;
/// Metric type: a gauge histogram.
pub const PROMRW_METRIC_TYPE_GAUGEHISTOGRAM: u32 = 4;
/// Metric type: a summary.
pub const PROMRW_METRIC_TYPE_SUMMARY: u32 = 5;
/// Metric type: an info metric.
pub const PROMRW_METRIC_TYPE_INFO: u32 = 6;
/// Metric type: a state set.
pub const PROMRW_METRIC_TYPE_STATESET: u32 = 7;

/// A run of consecutive buckets of a native histogram: `offset` is the gap since the previous
/// span's end (for the first span, the index of its first bucket), `length` the number of
/// buckets.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct promrw_bucket_span {
    /// Gap to the previous span (the first span: the index of its first bucket).
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// An exemplar: labels (often `trace_id`), a value and, optionally, its own timestamp.
///
/// Ownership: borrowed for the call only, with the labels and their strings; the library
/// copies it. The labels follow `promrw_label`'s rules (empty values are dropped; names must
/// be valid, unique); an empty set is allowed; the names and values together may hold at most
/// 128 UTF-8 runes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct promrw_exemplar {
    /// The exemplar's labels; NULL with `labels_len` 0 for none.
    pub labels: *const promrw_label,
    /// Number of labels at `labels`.
    pub labels_len: usize,
    /// The exemplar's value.
    pub value: f64,
    /// Milliseconds since the Unix epoch; used only when `has_timestamp` is 1.
    pub timestamp_ms: i64,
    /// 1: `timestamp_ms` is the exemplar's timestamp; 0: it takes the sample's timestamp
    /// (Remote Write 2.0 requires one). Any other value is `PROMRW_INVALID_ARGUMENT`.
    pub has_timestamp: u32,
}

/// One native histogram observation for `promrw_sender_append_histogram`, with its optional
/// start timestamp and exemplar.
///
/// The arrays are (pointer, length) pairs borrowed for the call only: NULL with length 0 is an
/// empty array; NULL with a non-zero length is `PROMRW_INVALID_ARGUMENT`. `kind` chooses which
/// counts are read: `PROMRW_HISTOGRAM_INTEGER` reads `count_int`, `zero_count_int` and the
/// `*_deltas` arrays (each bucket the delta from the previous one, the first absolute), and
/// requires the `*_counts` arrays to be empty; `PROMRW_HISTOGRAM_FLOAT` reads `count_float`,
/// `zero_count_float` and the `*_counts` arrays (absolute counts), and requires the `*_deltas`
/// arrays to be empty. The count fields of the other kind are ignored.
///
/// Versioning: the caller sets `struct_size` to `sizeof(promrw_histogram)`. This is the first
/// version; a later one appends fields and still accepts this version's size.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct promrw_histogram {
    /// `sizeof(promrw_histogram)`, set by the caller.
    pub struct_size: usize,
    /// -4 to 8 (exponential buckets) or -53 (custom buckets).
    pub schema: i32,
    /// `PROMRW_HISTOGRAM_INTEGER` or `PROMRW_HISTOGRAM_FLOAT`.
    pub kind: u32,
    /// The width of the zero bucket (0 with custom buckets).
    pub zero_threshold: f64,
    /// Sum of the observations.
    pub sum: f64,
    /// Integer histogram: total number of observations.
    pub count_int: u64,
    /// Integer histogram: observations in the zero bucket.
    pub zero_count_int: u64,
    /// Float histogram: total number of observations.
    pub count_float: f64,
    /// Float histogram: observations in the zero bucket.
    pub zero_count_float: f64,
    /// Spans of the positive buckets.
    pub positive_spans: *const promrw_bucket_span,
    /// Number of spans at `positive_spans`.
    pub positive_spans_len: usize,
    /// Spans of the negative buckets (none with custom buckets).
    pub negative_spans: *const promrw_bucket_span,
    /// Number of spans at `negative_spans`.
    pub negative_spans_len: usize,
    /// Integer histogram: positive buckets as deltas.
    pub positive_deltas: *const i64,
    /// Number of deltas at `positive_deltas`.
    pub positive_deltas_len: usize,
    /// Integer histogram: negative buckets as deltas.
    pub negative_deltas: *const i64,
    /// Number of deltas at `negative_deltas`.
    pub negative_deltas_len: usize,
    /// Float histogram: positive buckets' absolute counts.
    pub positive_counts: *const f64,
    /// Number of counts at `positive_counts`.
    pub positive_counts_len: usize,
    /// Float histogram: negative buckets' absolute counts.
    pub negative_counts: *const f64,
    /// Number of counts at `negative_counts`.
    pub negative_counts_len: usize,
    /// Custom buckets' upper bounds, inclusive, strictly increasing, without `+Inf` (schema
    /// -53 only).
    pub custom_values: *const f64,
    /// Number of bounds at `custom_values`.
    pub custom_values_len: usize,
    /// One of `PROMRW_RESET_HINT_*`.
    pub reset_hint: u32,
    /// Start timestamp in milliseconds since the Unix epoch (0: unset), not after the
    /// histogram's timestamp.
    pub start_timestamp_ms: i64,
    /// An exemplar attached to the histogram, or NULL for none.
    pub exemplar: *const promrw_exemplar,
}

/// Text borrowed from C: UTF-8 checked, `InvalidArgument` naming `what` otherwise.
///
/// # Safety
///
/// `ptr` must be NULL or point to `len` readable bytes.
unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { input::bytes(ptr, len, what) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        invalid_argument(format!(
            "{what} is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Converts a C exemplar (`what` names it in errors: `exemplar` or `histogram.exemplar`).
///
/// # Safety
///
/// `exemplar`'s labels must be NULL or point to `labels_len` readable labels whose strings are
/// NULL or readable for their lengths.
unsafe fn exemplar_of(exemplar: &promrw_exemplar, what: &str) -> Result<Exemplar> {
    // SAFETY: forwarded contract.
    let labels = unsafe {
        input::slice(
            exemplar.labels,
            exemplar.labels_len,
            &format!("{what}.labels"),
        )
    }?;
    let mut converted = Vec::with_capacity(labels.len());
    for (index, label) in labels.iter().enumerate() {
        let at = |part: &str| format!("{what}.labels[{index}].{part}");
        // SAFETY: each label's strings are NULL or readable for their lengths.
        let name = unsafe { text(label.name, label.name_len, &at("name")) }?;
        // SAFETY: as above.
        let value = unsafe { text(label.value, label.value_len, &at("value")) }?;
        converted.push(Label::new(name, value));
    }
    let timestamp_ms = match exemplar.has_timestamp {
        0 => None,
        1 => Some(exemplar.timestamp_ms),
        other => {
            return Err(invalid_argument(format!(
                "{what}.has_timestamp is {other}; it must be 0 or 1"
            )));
        }
    };
    Exemplar::new(converted, exemplar.value, timestamp_ms)
}

/// Converts a C histogram and its options, checking every field; the histogram's own rules
/// are checked by `Sender::append_histogram`.
///
/// # Safety
///
/// Every array of `h` must be NULL or point to its stated number of readable elements, and
/// `h.exemplar` must be NULL or point to a readable exemplar as `exemplar_of` requires.
unsafe fn histogram_of(h: &promrw_histogram) -> Result<(Histogram, SampleOptions)> {
    /// Copies one array of the histogram, naming the field in errors.
    ///
    /// # Safety
    ///
    /// As [`input::slice`].
    unsafe fn array<T: Copy>(ptr: *const T, len: usize, field: &str) -> Result<Vec<T>> {
        // SAFETY: forwarded contract.
        Ok(unsafe { input::slice(ptr, len, &format!("histogram.{field}")) }?.to_vec())
    }
    /// Refuses a non-empty array of the other kind.
    fn unused(len: usize, field: &str, kind: &str) -> Result<()> {
        if len == 0 {
            Ok(())
        } else {
            Err(invalid_argument(format!(
                "histogram.{field} has {len} elements but kind is PROMRW_HISTOGRAM_{kind}"
            )))
        }
    }
    let spans = |ptr: *const promrw_bucket_span, len: usize, field: &str| -> Result<_> {
        // SAFETY: `ptr` is NULL or points to `len` spans, per the contract.
        let spans = unsafe { array(ptr, len, field) }?;
        Ok(spans
            .into_iter()
            .map(|s| BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect::<Vec<_>>())
    };
    let positive_spans = spans(h.positive_spans, h.positive_spans_len, "positive_spans")?;
    let negative_spans = spans(h.negative_spans, h.negative_spans_len, "negative_spans")?;
    // SAFETY (for each `array` below): the pointers are NULL or point to their stated
    // lengths, per the contract.
    let counts = match h.kind {
        PROMRW_HISTOGRAM_INTEGER => {
            unused(h.positive_counts_len, "positive_counts", "INTEGER")?;
            unused(h.negative_counts_len, "negative_counts", "INTEGER")?;
            HistogramCounts::Integer {
                count: h.count_int,
                zero_count: h.zero_count_int,
                // SAFETY: see above.
                positive_deltas: unsafe {
                    array(h.positive_deltas, h.positive_deltas_len, "positive_deltas")
                }?,
                // SAFETY: see above.
                negative_deltas: unsafe {
                    array(h.negative_deltas, h.negative_deltas_len, "negative_deltas")
                }?,
            }
        }
        PROMRW_HISTOGRAM_FLOAT => {
            unused(h.positive_deltas_len, "positive_deltas", "FLOAT")?;
            unused(h.negative_deltas_len, "negative_deltas", "FLOAT")?;
            HistogramCounts::Float {
                count: h.count_float,
                zero_count: h.zero_count_float,
                // SAFETY: see above.
                positive_counts: unsafe {
                    array(h.positive_counts, h.positive_counts_len, "positive_counts")
                }?,
                // SAFETY: see above.
                negative_counts: unsafe {
                    array(h.negative_counts, h.negative_counts_len, "negative_counts")
                }?,
            }
        }
        other => {
            return Err(invalid_argument(format!(
                "histogram.kind is {other}; it must be PROMRW_HISTOGRAM_INTEGER (0) or PROMRW_HISTOGRAM_FLOAT (1)"
            )));
        }
    };
    let reset_hint = u8::try_from(h.reset_hint)
        .ok()
        .and_then(ResetHint::from_u8)
        .ok_or_else(|| {
            invalid_argument(format!(
                "histogram.reset_hint is {}; it must be one of PROMRW_RESET_HINT_* (0 to 3)",
                h.reset_hint
            ))
        })?;
    // SAFETY: see above.
    let custom_values = unsafe { array(h.custom_values, h.custom_values_len, "custom_values") }?;
    let exemplar = if h.exemplar.is_null() {
        None
    } else if !h.exemplar.is_aligned() {
        return Err(invalid_argument("histogram.exemplar is not aligned"));
    } else {
        // SAFETY: non-NULL and aligned; readable per the contract.
        let exemplar = unsafe { &*h.exemplar };
        // SAFETY: its labels are as `exemplar_of` requires, per the contract.
        Some(unsafe { exemplar_of(exemplar, "histogram.exemplar") }?)
    };
    let histogram = Histogram {
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        sum: h.sum,
        counts,
        positive_spans,
        negative_spans,
        reset_hint,
        custom_values,
    };
    let options = SampleOptions {
        start_timestamp_ms: h.start_timestamp_ms,
        exemplar,
    };
    Ok((histogram, options))
}

/// Borrows the caller's histogram after checking the pointer and `struct_size`.
///
/// # Safety
///
/// `h` must be NULL or point to at least `size_t` readable bytes, and to a whole readable
/// `promrw_histogram` when its `struct_size` says so.
unsafe fn borrow_histogram<'a>(h: *const promrw_histogram) -> Result<&'a promrw_histogram> {
    if h.is_null() {
        return Err(invalid_argument("histogram is NULL"));
    }
    if !h.is_aligned() {
        return Err(invalid_argument("histogram is not aligned"));
    }
    // SAFETY: non-NULL, aligned, and readable for its first field per the contract.
    let size = unsafe { std::ptr::addr_of!((*h).struct_size).read() };
    if size != size_of::<promrw_histogram>() {
        return Err(invalid_argument(format!(
            "histogram.struct_size is {size}; set it to sizeof(promrw_histogram) ({})",
            size_of::<promrw_histogram>()
        )));
    }
    // SAFETY: `struct_size` says the whole struct is there; readable per the contract.
    Ok(unsafe { &*h })
}

/// Appends one native histogram, with its optional start timestamp and exemplar (fields of
/// `*h`). The histogram is checked with Prometheus's rules first. Like a sample, its timestamp
/// must be later than the last accepted one of the series (sample or histogram). An endpoint
/// not configured for it drops it and counts it (`histograms_dropped`): Remote Write 1.0
/// endpoints send histograms only with `send_native_histograms: true`, exemplars only with
/// `send_exemplars: true`.
///
/// Ownership: `h`, its arrays and its exemplar are borrowed for the call only.
///
/// Lifetime: the histogram is copied; nothing is kept from `h` after the call returns.
///
/// Thread safety: as `promrw_sender_append`.
///
/// Returns: as `promrw_sender_append`, and `PROMRW_INVALID_ARGUMENT` when `s` or `h` is NULL,
/// `h->struct_size` is not `sizeof(promrw_histogram)`, an array is NULL with a non-zero
/// length, `kind` or `reset_hint` is unknown, arrays of the other kind are not empty, the
/// start timestamp is after `timestamp_ms`, or the histogram breaks Prometheus's rules (the
/// message names the field or the rule: schema, spans against buckets, negative counts, the
/// count against the buckets, custom bounds); `PROMRW_INVALID_LABELS` when the exemplar's
/// labels break the label rules or hold more than 128 runes.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `h` must be NULL or point to a readable
/// `promrw_histogram` whose arrays are NULL or readable for their lengths and whose exemplar is
/// NULL or readable (with its labels); `err` must be NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_append_histogram(
    s: *const promrw_sender,
    series: promrw_series_ref,
    timestamp_ms: i64,
    h: *const promrw_histogram,
    err: *mut *mut promrw_error,
) -> promrw_status {
    ffi_boundary!(err = err, {
        let result = (|| {
            // SAFETY: `s` is NULL or a live sender, per the contract. A closed sender refuses
            // the histogram itself, counting it in `rejected_closed`.
            let sender = unsafe { open_or_closed(s) }?;
            // SAFETY: `h` is NULL or a readable histogram, per the contract.
            let h = unsafe { borrow_histogram(h) }?;
            // SAFETY: its arrays and exemplar are readable, per the contract.
            let (histogram, options) = unsafe { histogram_of(h) }?;
            sender.append_histogram(SeriesRef(series), timestamp_ms, &histogram, &options)
        })();
        // SAFETY: `err` is NULL or writable per the contract.
        unsafe { report(result, err) }
    })
}

/// Appends a stale marker for a histogram series (an empty integer histogram whose `sum` is
/// the stale NaN), telling receivers the series ended at `timestamp_ms`.
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
pub unsafe extern "C" fn promrw_sender_append_stale_histogram(
    s: *const promrw_sender,
    series: promrw_series_ref,
    timestamp_ms: i64,
) -> promrw_status {
    ffi_boundary!(PROMRW_PANIC, {
        // SAFETY: `s` is NULL or a live sender, per the contract.
        let result = unsafe { open_or_closed(s) }
            .and_then(|sender| sender.append_stale_histogram(SeriesRef(series), timestamp_ms));
        status_of_result(&result)
    })
}

/// Appends one sample with a start timestamp and an exemplar. `start_timestamp_ms` 0 means
/// unset; otherwise it must not be after `timestamp_ms`. `exemplar` may be NULL: then this is
/// an append with a start timestamp only. An endpoint without `send_exemplars: true` drops the
/// exemplar (counted in `exemplars_dropped`) and still sends the sample.
///
/// Ownership: `exemplar`, its labels and their strings are borrowed for the call only.
///
/// Lifetime: the sample and the exemplar are copied.
///
/// Thread safety: as `promrw_sender_append`.
///
/// Returns: as `promrw_sender_append`, and `PROMRW_INVALID_ARGUMENT` when the start timestamp
/// is after `timestamp_ms`, the exemplar's labels are NULL with a non-zero length, a label
/// string is NULL with a non-zero length or not UTF-8, or `has_timestamp` is neither 0 nor 1;
/// `PROMRW_INVALID_LABELS` when the exemplar's labels break the label rules or hold more than
/// 128 runes.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `exemplar` must be NULL or point to a readable
/// `promrw_exemplar` whose labels are NULL or readable for `labels_len` (with their strings);
/// `err` must be NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_append_with_exemplar(
    s: *const promrw_sender,
    series: promrw_series_ref,
    timestamp_ms: i64,
    start_timestamp_ms: i64,
    value: f64,
    exemplar: *const promrw_exemplar,
    err: *mut *mut promrw_error,
) -> promrw_status {
    ffi_boundary!(err = err, {
        let result = (|| {
            // SAFETY: `s` is NULL or a live sender, per the contract. A closed sender refuses
            // the sample itself, counting it.
            let sender = unsafe { open_or_closed(s) }?;
            let exemplar = if exemplar.is_null() {
                None
            } else if !exemplar.is_aligned() {
                return Err(invalid_argument("exemplar is not aligned"));
            } else {
                // SAFETY: non-NULL and aligned; readable with its labels per the contract.
                Some(unsafe { exemplar_of(&*exemplar, "exemplar") }?)
            };
            let options = SampleOptions {
                start_timestamp_ms,
                exemplar,
            };
            sender.append_with(SeriesRef(series), timestamp_ms, value, &options)
        })();
        // SAFETY: `err` is NULL or writable per the contract.
        unsafe { report(result, err) }
    })
}

/// Sets the metadata of a series (its metric family's type, help text and unit), replacing
/// what was set before. Remote Write 2.0 endpoints send it with every request carrying the
/// series; 1.0 endpoints send it in metadata requests every `metadata_config.send_interval`,
/// by metric family (the series' name without the suffix its type implies: `_total`,
/// `_bucket`, `_sum`, `_count`, `_created`, `_info`).
///
/// Ownership: `help` and `unit` are borrowed for the call only (UTF-8, no NUL needed; NULL
/// with length 0 is empty).
///
/// Lifetime: the texts are copied.
///
/// Thread safety: may be called from any thread, concurrently with other calls on `s`.
///
/// Returns: `PROMRW_OK`; `PROMRW_UNKNOWN_SERIES` when `series` is unknown or released;
/// `PROMRW_CLOSED` after `promrw_sender_close`; `PROMRW_IO` when writing the WAL failed (WAL
/// mode); `PROMRW_INVALID_ARGUMENT` when `s` is NULL, `metric_type` is not one of
/// `PROMRW_METRIC_TYPE_*` (0 to 7), or `help` or `unit` is NULL with a non-zero length or not
/// UTF-8.
///
/// # Safety
///
/// `s` must be NULL or a live sender; `help` and `unit` must be NULL or readable for their
/// lengths; `err` must be NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn promrw_sender_set_metadata(
    s: *const promrw_sender,
    series: promrw_series_ref,
    metric_type: u32,
    help: *const c_char,
    help_len: usize,
    unit: *const c_char,
    unit_len: usize,
    err: *mut *mut promrw_error,
) -> promrw_status {
    ffi_boundary!(err = err, {
        let result = (|| {
            // SAFETY: `s` is NULL or a live sender, per the contract.
            let sender = unsafe { open(s) }?;
            let kind = i32::try_from(metric_type)
                .ok()
                .and_then(MetricType::from_i32)
                .ok_or_else(|| {
                    invalid_argument(format!(
                        "metric_type is {metric_type}; it must be one of PROMRW_METRIC_TYPE_* (0 to 7)"
                    ))
                })?;
            // SAFETY: `help` is NULL or readable for `help_len`, per the contract.
            let help = unsafe { text(help, help_len, "help") }?;
            // SAFETY: `unit` is NULL or readable for `unit_len`, per the contract.
            let unit = unsafe { text(unit, unit_len, "unit") }?;
            sender.set_metadata(
                SeriesRef(series),
                Metadata {
                    kind,
                    help: help.to_owned(),
                    unit: unit.to_owned(),
                },
            )
        })();
        // SAFETY: `err` is NULL or writable per the contract.
        unsafe { report(result, err) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_type_constants_are_the_protocol_values() {
        let pairs = [
            (PROMRW_METRIC_TYPE_UNKNOWN, MetricType::Unknown),
            (PROMRW_METRIC_TYPE_COUNTER, MetricType::Counter),
            (PROMRW_METRIC_TYPE_GAUGE, MetricType::Gauge),
            (PROMRW_METRIC_TYPE_HISTOGRAM, MetricType::Histogram),
            (
                PROMRW_METRIC_TYPE_GAUGEHISTOGRAM,
                MetricType::GaugeHistogram,
            ),
            (PROMRW_METRIC_TYPE_SUMMARY, MetricType::Summary),
            (PROMRW_METRIC_TYPE_INFO, MetricType::Info),
            (PROMRW_METRIC_TYPE_STATESET, MetricType::StateSet),
        ];
        for (constant, kind) in pairs {
            assert_eq!(constant as i32, kind.as_i32());
        }
        let hints = [
            (PROMRW_RESET_HINT_UNKNOWN, ResetHint::Unknown),
            (PROMRW_RESET_HINT_YES, ResetHint::Yes),
            (PROMRW_RESET_HINT_NO, ResetHint::No),
            (PROMRW_RESET_HINT_GAUGE, ResetHint::Gauge),
        ];
        for (constant, hint) in hints {
            assert_eq!(constant, u32::from(hint.as_u8()));
        }
    }
}
