//! Remote Write 1.0 batch encoder.
//!
//! A series' labels are encoded once, at registration ([`encode_labels`]), as the exact bytes of
//! the `labels` field of a `TimeSeries`. Encoding a batch then only copies those bytes and writes
//! the samples, which is several times cheaper than building prost messages per request.

use prost::encoding::{encode_varint, encoded_len_varint};

use crate::model::{
    BucketSpan, CUSTOM_BUCKETS_SCHEMA, Exemplar, Histogram, HistogramCounts, Label, Labels,
};

/// Wire key of `TimeSeries` inside `WriteRequest` (field 1, length-delimited).
const KEY_WRITE_REQUEST_TIMESERIES: u8 = (1 << 3) | 2;
/// Wire key of `Label` inside `TimeSeries` (field 1, length-delimited).
const KEY_TIMESERIES_LABEL: u8 = (1 << 3) | 2;
/// Wire key of `Sample` inside `TimeSeries` (field 2, length-delimited).
const KEY_TIMESERIES_SAMPLE: u8 = (2 << 3) | 2;
/// Wire key of `Label.name` (field 1, length-delimited).
const KEY_LABEL_NAME: u8 = (1 << 3) | 2;
/// Wire key of `Label.value` (field 2, length-delimited).
const KEY_LABEL_VALUE: u8 = (2 << 3) | 2;
/// Wire key of `Sample.value` (field 1, fixed64).
const KEY_SAMPLE_VALUE: u8 = (1 << 3) | 1;
/// Wire key of `Sample.timestamp` (field 2, varint).
const KEY_SAMPLE_TIMESTAMP: u8 = 2 << 3;

/// Encodes `labels` as the repeated `labels` field of a `TimeSeries` (keys included).
pub fn encode_labels(labels: &Labels) -> Vec<u8> {
    encode_label_pairs(
        labels
            .as_slice()
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str())),
    )
}

/// [`encode_labels`] from (name, value) pairs, in the order given.
pub fn encode_label_pairs<'l>(labels: impl Iterator<Item = (&'l str, &'l str)> + Clone) -> Vec<u8> {
    // Each label costs its bytes plus 6 bytes of keys and lengths when its name and value are
    // under 128 bytes, a few more otherwise: 9 each makes one allocation for the usual set.
    let capacity: usize = labels.clone().map(|(n, v)| n.len() + v.len() + 9).sum();
    let mut out = Vec::with_capacity(capacity);
    encode_label_pairs_into(labels, &mut out);
    out
}

/// [`encode_label_pairs`] appending to `out`.
pub fn encode_label_pairs_into<'l>(
    labels: impl Iterator<Item = (&'l str, &'l str)>,
    out: &mut Vec<u8>,
) {
    for (name, value) in labels {
        let name = name.as_bytes();
        let value = value.as_bytes();
        let inner = 1
            + encoded_len_varint(name.len() as u64)
            + name.len()
            + 1
            + encoded_len_varint(value.len() as u64)
            + value.len();
        out.push(KEY_TIMESERIES_LABEL);
        push_len(inner, out);
        out.push(KEY_LABEL_NAME);
        push_len(name.len(), out);
        out.extend_from_slice(name);
        out.push(KEY_LABEL_VALUE);
        push_len(value.len(), out);
        out.extend_from_slice(value);
    }
}

/// The (name, value) pairs of label bytes written by [`encode_labels`], without allocating.
/// Bytes that are not such an encoding end the iteration early (they never are: the
/// registry encodes every series itself).
pub fn label_pairs(encoded: &[u8]) -> LabelPairs<'_> {
    let mut count = 0;
    let mut counter = LabelPairs {
        rest: encoded,
        left: usize::MAX,
    };
    while counter.next().is_some() {
        count += 1;
    }
    LabelPairs {
        rest: encoded,
        left: count,
    }
}

/// A length as a varint, with the one-byte case (lengths under 128, most labels') inline.
fn push_len(len: usize, out: &mut Vec<u8>) {
    match u8::try_from(len) {
        Ok(byte) if byte < 0x80 => out.push(byte),
        _ => encode_varint(len as u64, out),
    }
}

/// The pairs of [`label_pairs`] collected into a vector, decoding the bytes once (the
/// iterator decodes them twice, to know its length).
pub fn collect_label_pairs(encoded: &[u8]) -> Vec<(&str, &str)> {
    let mut out = Vec::with_capacity(16);
    if let Ok(text) = std::str::from_utf8(encoded) {
        if short_label_pairs(text, &mut out) {
            return out;
        }
        out.clear();
    }
    out.extend(LabelPairs {
        rest: encoded,
        left: usize::MAX,
    });
    out
}

/// The pairs of `text`, label bytes that are valid UTF-8 as a whole, when every length in them
/// takes one byte (labels under 128 bytes); false otherwise. One UTF-8 check of the whole
/// encoding then stands for one per name and value: `str::get` slices out each name and
/// value, checking only that it starts and ends on a character boundary (it does: keys and
/// one-byte lengths are ASCII).
fn short_label_pairs<'a>(text: &'a str, out: &mut Vec<(&'a str, &'a str)>) -> bool {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let &[key, inner, name_key, name_len, ..] = &bytes[pos..] else {
            return false;
        };
        let name_start = pos + 4;
        let name_end = name_start + usize::from(name_len);
        let (Some(&value_key), Some(&value_len)) = (bytes.get(name_end), bytes.get(name_end + 1))
        else {
            return false;
        };
        let value_start = name_end + 2;
        let value_end = value_start + usize::from(value_len);
        let well_formed = key == KEY_TIMESERIES_LABEL
            && name_key == KEY_LABEL_NAME
            && value_key == KEY_LABEL_VALUE
            && inner < 0x80
            && name_len < 0x80
            && value_len < 0x80
            && value_end == pos + 2 + usize::from(inner);
        if !well_formed {
            return false;
        }
        let (Some(name), Some(value)) = (
            text.get(name_start..name_end),
            text.get(value_start..value_end),
        ) else {
            return false;
        };
        out.push((name, value));
        pos = value_end;
    }
    true
}

/// Iterator of [`label_pairs`].
#[derive(Debug, Clone)]
pub struct LabelPairs<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> LabelPairs<'a> {
    /// A length-delimited field with key `key` at the front of `rest`.
    fn field(rest: &mut &'a [u8], key: u8) -> Option<&'a [u8]> {
        let (&first, mut tail) = rest.split_first()?;
        if first != key {
            return None;
        }
        let len = prost::encoding::decode_varint(&mut tail).ok()? as usize;
        if len > tail.len() {
            return None;
        }
        let (field, after) = tail.split_at(len);
        *rest = after;
        Some(field)
    }
}

impl<'a> Iterator for LabelPairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let mut label = Self::field(&mut self.rest, KEY_TIMESERIES_LABEL)?;
        let name = std::str::from_utf8(Self::field(&mut label, KEY_LABEL_NAME)?).ok()?;
        let value = std::str::from_utf8(Self::field(&mut label, KEY_LABEL_VALUE)?).ok()?;
        self.left = self.left.saturating_sub(1);
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // `usize::MAX` is the uncounted iterator of `label_pairs` and `collect_label_pairs`.
        match self.left {
            usize::MAX => (0, None),
            left => (left, Some(left)),
        }
    }
}

impl ExactSizeIterator for LabelPairs<'_> {}

/// Decodes encoded label bytes (as [`encode_labels`] writes them) into the form Prometheus
/// prints a series in: `name{label="value", ...}`, values escaped as in PromQL strings.
pub fn describe_labels(encoded: &[u8]) -> String {
    use prost::Message as _;
    let Ok(series) = super::proto::TimeSeries::decode(encoded) else {
        return "{<undecodable labels>}".to_string();
    };
    let mut name = "";
    let mut rest = Vec::new();
    for label in &series.labels {
        if label.name == "__name__" {
            name = &label.value;
        } else {
            rest.push(format!("{}={:?}", label.name, label.value));
        }
    }
    format!("{name}{{{}}}", rest.join(", "))
}

/// Length of one encoded `Sample` message body.
fn sample_len(timestamp: i64) -> usize {
    1 + 8 + 1 + encoded_len_varint(timestamp as u64)
}

/// Bytes one sample with timestamp `timestamp` adds inside a `TimeSeries` (key, length,
/// message): at most `MAX_SAMPLE_ENTRY_LEN`.
pub fn sample_entry_len(timestamp: i64) -> u64 {
    let n = sample_len(timestamp);
    (1 + encoded_len_varint(n as u64) + n) as u64
}

/// The most bytes a sample adds inside a `TimeSeries` (a 10-byte timestamp varint).
pub(crate) const MAX_SAMPLE_ENTRY_LEN: u64 = 1 + 1 + 1 + 8 + 1 + 10;

/// The most bytes a `TimeSeries` entry adds to a `WriteRequest` besides its labels and
/// samples (key and a length varint, which never exceeds 10 bytes).
pub(crate) const MAX_SERIES_OVERHEAD: u64 = 1 + 10;

/// Bytes a `TimeSeries` with `labels_len` bytes of labels and `samples_len` bytes of sample
/// entries (the sum of [`sample_entry_len`]) adds to a `WriteRequest` body. Saturating, so a
/// size that does not fit in `u64` compares as too large rather than wrapping.
pub fn series_entry_len(labels_len: u64, samples_len: u64) -> u64 {
    let body = labels_len.saturating_add(samples_len);
    (1 + encoded_len_varint(body) as u64).saturating_add(body)
}

/// Appends one `TimeSeries` (pre-encoded `labels` plus `samples` as `(timestamp, value)`) to a
/// `WriteRequest` body being built in `out`; it adds [`series_entry_len`] bytes.
pub fn append_series(
    out: &mut Vec<u8>,
    labels: &[u8],
    samples: impl Iterator<Item = (i64, f64)> + Clone,
) {
    let samples_len: u64 = samples
        .clone()
        .map(|(ts, _)| sample_entry_len(ts))
        .fold(0, u64::saturating_add);
    let series_len = (labels.len() as u64).saturating_add(samples_len);
    out.push(KEY_WRITE_REQUEST_TIMESERIES);
    encode_varint(series_len, out);
    out.extend_from_slice(labels);
    write_samples(out, samples);
}

/// Wire key of `Exemplar` inside `TimeSeries` (field 3, length-delimited).
const KEY_TIMESERIES_EXEMPLAR: u8 = (3 << 3) | 2;
/// Wire key of `Histogram` inside `TimeSeries` (field 4, length-delimited).
const KEY_TIMESERIES_HISTOGRAM: u8 = (4 << 3) | 2;
/// Wire key of `Exemplar.value` (field 2, fixed64).
const KEY_EXEMPLAR_VALUE: u8 = (2 << 3) | 1;
/// Wire key of `Exemplar.timestamp` (field 3, varint).
const KEY_EXEMPLAR_TIMESTAMP: u8 = 3 << 3;

/// Bytes of one exemplar's labels, written as `Label` messages under field 1 (the same key
/// as `TimeSeries.labels`, so [`encode_label_pairs_into`] writes them).
fn exemplar_labels_len(labels: &[Label]) -> usize {
    labels
        .iter()
        .map(|l| {
            let inner = 1
                + encoded_len_varint(l.name.len() as u64)
                + l.name.len()
                + 1
                + encoded_len_varint(l.value.len() as u64)
                + l.value.len();
            1 + encoded_len_varint(inner as u64) + inner
        })
        .sum()
}

/// Length of one `prometheus.Exemplar` message body. Like prost, a zero value or timestamp
/// is left out; a negative zero value is written (its bits are kept).
fn exemplar_len(exemplar: &Exemplar, timestamp: i64) -> usize {
    exemplar_labels_len(exemplar.labels()) + double_len(exemplar.value) + int_len(timestamp as u64)
}

/// Bytes one exemplar (with its resolved `timestamp`) adds inside a `TimeSeries` (key,
/// length, message).
pub fn exemplar_entry_len(exemplar: &Exemplar, timestamp: i64) -> u64 {
    let n = exemplar_len(exemplar, timestamp);
    (1 + encoded_len_varint(n as u64) + n) as u64
}

/// Bytes one histogram adds inside a 1.0 `TimeSeries` (key, length, message); 0 for a
/// histogram with custom buckets (schema -53), which [`append_series_full`] does not write.
pub fn histogram_entry_len(histogram: &Histogram, timestamp: i64) -> u64 {
    if histogram.schema == CUSTOM_BUCKETS_SCHEMA {
        return 0;
    }
    let n = histogram_fields_len(histogram, timestamp);
    (1 + encoded_len_varint(n as u64) + n) as u64
}

/// Appends one 1.0 `TimeSeries` to a `WriteRequest` body in `out`: the pre-encoded `labels`,
/// `samples` as `(timestamp, value)` (field 2), `exemplars` with their resolved timestamps
/// (field 3) and `histograms` with their timestamps (field 4), in that order. It adds
/// [`series_entry_len`] of the labels and the sum of the entries' lengths
/// ([`sample_entry_len`], [`exemplar_entry_len`], [`histogram_entry_len`]).
///
/// Histograms with custom buckets (schema -53, "NHCB") are skipped: Remote Write 1.0's
/// `custom_values` (field 16) is "not part of the specification, DO NOT use in remote write
/// clients", and Prometheus drops them too (`nhcb_in_rw1_not_supported`). The number skipped
/// is returned so that the caller can count them as dropped.
pub fn append_series_full(
    out: &mut Vec<u8>,
    labels: &[u8],
    samples: impl Iterator<Item = (i64, f64)> + Clone,
    exemplars: &[(&Exemplar, i64)],
    histograms: &[(&Histogram, i64)],
) -> usize {
    let samples_len: u64 = samples
        .clone()
        .map(|(ts, _)| sample_entry_len(ts))
        .fold(0, u64::saturating_add);
    let extra_len: u64 = exemplars
        .iter()
        .map(|(e, ts)| exemplar_entry_len(e, *ts))
        .chain(histograms.iter().map(|(h, ts)| histogram_entry_len(h, *ts)))
        .fold(0, u64::saturating_add);
    let series_len = (labels.len() as u64)
        .saturating_add(samples_len)
        .saturating_add(extra_len);
    out.push(KEY_WRITE_REQUEST_TIMESERIES);
    encode_varint(series_len, out);
    out.extend_from_slice(labels);
    write_samples(out, samples);
    for (exemplar, ts) in exemplars {
        out.push(KEY_TIMESERIES_EXEMPLAR);
        encode_varint(exemplar_len(exemplar, *ts) as u64, out);
        encode_label_pairs_into(
            exemplar
                .labels()
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
            out,
        );
        put_double(KEY_EXEMPLAR_VALUE, exemplar.value, out);
        put_int(KEY_EXEMPLAR_TIMESTAMP, *ts as u64, out);
    }
    let mut skipped = 0;
    for (histogram, ts) in histograms {
        if histogram.schema == CUSTOM_BUCKETS_SCHEMA {
            skipped += 1;
            continue;
        }
        out.push(KEY_TIMESERIES_HISTOGRAM);
        encode_varint(histogram_fields_len(histogram, *ts) as u64, out);
        write_histogram_fields(histogram, *ts, out);
    }
    skipped
}

/// Bytes of an optional double field (one-byte key): absent when its bits are 0, so `0.0`
/// is left out as prost does, but `-0.0` and every NaN are written.
fn double_len(value: f64) -> usize {
    if value.to_bits() == 0 { 0 } else { 9 }
}

/// Bytes of an optional varint field (one-byte key): absent when 0.
fn int_len(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        1 + encoded_len_varint(value)
    }
}

/// Writes an optional double field ([`double_len`]'s rule), raw bits little-endian.
fn put_double(key: u8, value: f64, out: &mut Vec<u8>) {
    if value.to_bits() != 0 {
        out.push(key);
        out.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

/// Writes an optional varint field ([`int_len`]'s rule).
fn put_int(key: u8, value: u64, out: &mut Vec<u8>) {
    if value != 0 {
        out.push(key);
        encode_varint(value, out);
    }
}

/// Zigzag encoding of `sint32`.
fn zigzag32(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

/// Zigzag encoding of `sint64`.
fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Length of a `BucketSpan` body.
fn span_len(span: &BucketSpan) -> usize {
    int_len(zigzag32(span.offset)) + int_len(u64::from(span.length))
}

/// Bytes of a repeated `BucketSpan` field (one-byte key per span).
fn spans_len(spans: &[BucketSpan]) -> usize {
    spans
        .iter()
        .map(|s| {
            let n = span_len(s);
            1 + encoded_len_varint(n as u64) + n
        })
        .sum()
}

/// Writes a repeated `BucketSpan` field under `key`.
fn put_spans(key: u8, spans: &[BucketSpan], out: &mut Vec<u8>) {
    for span in spans {
        out.push(key);
        encode_varint(span_len(span) as u64, out);
        put_int(1 << 3, zigzag32(span.offset), out);
        put_int(2 << 3, u64::from(span.length), out);
    }
}

/// Bytes of a packed field with a `key_len`-byte key and `payload` bytes (absent when empty).
fn packed_len(key_len: usize, payload: usize) -> usize {
    if payload == 0 {
        0
    } else {
        key_len + encoded_len_varint(payload as u64) + payload
    }
}

/// Payload bytes of packed zigzag `sint64` values.
fn deltas_payload(deltas: &[i64]) -> usize {
    deltas
        .iter()
        .map(|d| encoded_len_varint(zigzag64(*d)))
        .sum()
}

/// Writes a packed `sint64` field under the one-byte `key` (nothing when empty).
fn put_deltas(key: u8, deltas: &[i64], out: &mut Vec<u8>) {
    if deltas.is_empty() {
        return;
    }
    out.push(key);
    encode_varint(deltas_payload(deltas) as u64, out);
    for delta in deltas {
        encode_varint(zigzag64(*delta), out);
    }
}

/// Writes a packed `double` field under `key` (one or more bytes; nothing when empty), raw
/// bits.
fn put_doubles(key: &[u8], values: &[f64], out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    out.extend_from_slice(key);
    encode_varint(8 * values.len() as u64, out);
    for value in values {
        out.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

/// Key of `Histogram.custom_values` (field 16, length-delimited): two bytes.
const KEY_HISTOGRAM_CUSTOM_VALUES: [u8; 2] = [(16 << 3 | 2) | 0x80, 1];

/// Length of the fields 1 ..= 16 of a `Histogram` message (the body
/// [`write_histogram_fields`] writes). Shared by Remote Write 2.0, which adds field 17.
pub(crate) fn histogram_fields_len(histogram: &Histogram, timestamp: i64) -> usize {
    let counts = match &histogram.counts {
        HistogramCounts::Integer {
            count,
            zero_count,
            positive_deltas,
            negative_deltas,
        } => {
            1 + encoded_len_varint(*count)
                + 1
                + encoded_len_varint(*zero_count)
                + packed_len(1, deltas_payload(negative_deltas))
                + packed_len(1, deltas_payload(positive_deltas))
        }
        HistogramCounts::Float {
            positive_counts,
            negative_counts,
            ..
        } => {
            9 + 9
                + packed_len(1, 8 * negative_counts.len())
                + packed_len(1, 8 * positive_counts.len())
        }
    };
    counts
        + double_len(histogram.sum)
        + int_len(zigzag32(histogram.schema))
        + double_len(histogram.zero_threshold)
        + spans_len(&histogram.negative_spans)
        + spans_len(&histogram.positive_spans)
        + int_len(u64::from(histogram.reset_hint.as_u8()))
        + int_len(timestamp as u64)
        + packed_len(2, 8 * histogram.custom_values.len())
}

/// Writes the fields 1 ..= 16 of a `Histogram` message in field order: the `count` and
/// `zero_count` oneofs always (even 0 and 0.0: the variant is what tells a float histogram
/// from an integer one), other scalars when not zero (doubles: when their bits are not 0),
/// deltas as packed zigzag varints, counts and custom values as packed raw doubles.
pub(crate) fn write_histogram_fields(histogram: &Histogram, timestamp: i64, out: &mut Vec<u8>) {
    // Fields 1/2 (`count`), 3 to 5, then 6/7 (`zero_count`): the oneofs sit in field order.
    let put_oneof = |out: &mut Vec<u8>, zero: bool| match &histogram.counts {
        HistogramCounts::Integer {
            count, zero_count, ..
        } => {
            out.push(if zero { 6 << 3 } else { 1 << 3 });
            encode_varint(if zero { *zero_count } else { *count }, out);
        }
        HistogramCounts::Float {
            count, zero_count, ..
        } => {
            out.push(if zero { (7 << 3) | 1 } else { (2 << 3) | 1 });
            let value = if zero { *zero_count } else { *count };
            out.extend_from_slice(&value.to_bits().to_le_bytes());
        }
    };
    put_oneof(out, false);
    put_double((3 << 3) | 1, histogram.sum, out);
    put_int(4 << 3, zigzag32(histogram.schema), out);
    put_double((5 << 3) | 1, histogram.zero_threshold, out);
    put_oneof(out, true);
    put_spans((8 << 3) | 2, &histogram.negative_spans, out);
    match &histogram.counts {
        HistogramCounts::Integer {
            negative_deltas, ..
        } => put_deltas((9 << 3) | 2, negative_deltas, out),
        HistogramCounts::Float {
            negative_counts, ..
        } => put_doubles(&[(10 << 3) | 2], negative_counts, out),
    }
    put_spans((11 << 3) | 2, &histogram.positive_spans, out);
    match &histogram.counts {
        HistogramCounts::Integer {
            positive_deltas, ..
        } => put_deltas((12 << 3) | 2, positive_deltas, out),
        HistogramCounts::Float {
            positive_counts, ..
        } => put_doubles(&[(13 << 3) | 2], positive_counts, out),
    }
    put_int(14 << 3, u64::from(histogram.reset_hint.as_u8()), out);
    put_int(15 << 3, timestamp as u64, out);
    put_doubles(&KEY_HISTOGRAM_CUSTOM_VALUES, &histogram.custom_values, out);
}

/// Writes `samples` as `TimeSeries.samples` entries (the value's bits kept exactly).
#[inline]
fn write_samples(out: &mut Vec<u8>, samples: impl Iterator<Item = (i64, f64)>) {
    for (ts, value) in samples {
        out.push(KEY_TIMESERIES_SAMPLE);
        encode_varint(sample_len(ts) as u64, out);
        out.push(KEY_SAMPLE_VALUE);
        out.extend_from_slice(&value.to_bits().to_le_bytes());
        out.push(KEY_SAMPLE_TIMESTAMP);
        encode_varint(ts as u64, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stale_nan;
    use crate::wire::proto;
    use prost::Message;

    #[test]
    fn matches_prost_encoding_and_keeps_nan_bits() {
        let labels = Labels::from_pairs(&[("__name__", "up"), ("job", "j\u{e9}\"\n")]).unwrap();
        let bytes = encode_labels(&labels);
        let mut body = Vec::new();
        let samples = [(1_700_000_000_000i64, 1.5f64), (-5, stale_nan()), (0, 0.0)];
        append_series(&mut body, &bytes, samples.iter().copied());
        append_series(&mut body, &bytes, [(7i64, -0.0f64)].into_iter());
        let decoded = proto::WriteRequest::decode(body.as_slice()).unwrap();
        assert_eq!(decoded.timeseries.len(), 2);
        let ts = &decoded.timeseries[0];
        assert_eq!(ts.labels[1].value, "j\u{e9}\"\n");
        assert_eq!(ts.samples.len(), 3);
        assert_eq!(ts.samples[1].value.to_bits(), stale_nan().to_bits());
        assert_eq!(ts.samples[1].timestamp, -5);
        assert_eq!(
            decoded.timeseries[1].samples[0].value.to_bits(),
            (-0.0f64).to_bits()
        );

        let reference = proto::WriteRequest {
            timeseries: vec![proto::TimeSeries::single(&labels, 9, 2.0)],
            metadata: vec![],
        };
        let mut ours = Vec::new();
        append_series(&mut ours, &bytes, [(9i64, 2.0f64)].into_iter());
        assert_eq!(ours, reference.encode_to_vec());
    }

    #[test]
    fn entry_lengths_match_what_append_series_writes() {
        for labels_len in [0usize, 5, 127, 128, 300, 20_000] {
            let labels =
                Labels::from_pairs(&[("__name__", "x".repeat(labels_len + 1).as_str())]).unwrap();
            let bytes = encode_labels(&labels);
            for samples in [
                vec![],
                vec![(0i64, 1.0f64)],
                vec![(-1, 0.0), (i64::MAX, 2.0), (1_700_000_000_000, 3.0)],
                (0..200).map(|i| (i * 1_000_000_007, i as f64)).collect(),
            ] {
                let mut out = vec![7u8];
                append_series(&mut out, &bytes, samples.iter().copied());
                let entries: u64 = samples.iter().map(|(ts, _)| sample_entry_len(*ts)).sum();
                assert_eq!(
                    out.len() as u64 - 1,
                    series_entry_len(bytes.len() as u64, entries)
                );
                assert!(
                    samples
                        .iter()
                        .all(|(ts, _)| sample_entry_len(*ts) <= MAX_SAMPLE_ENTRY_LEN)
                );
            }
        }
        assert_eq!(sample_entry_len(-1), MAX_SAMPLE_ENTRY_LEN);
        assert_eq!(series_entry_len(u64::MAX, 5), u64::MAX, "saturates");
    }

    #[test]
    fn label_pairs_read_back_what_encode_labels_wrote() {
        let labels =
            Labels::from_pairs(&[("__name__", "up"), ("job", "a\u{e9}b"), ("x", "1")]).unwrap();
        let bytes = encode_labels(&labels);
        let pairs: Vec<(&str, &str)> = label_pairs(&bytes).collect();
        assert_eq!(
            pairs,
            vec![("__name__", "up"), ("job", "a\u{e9}b"), ("x", "1")]
        );
        assert_eq!(label_pairs(&bytes).len(), 3);
        assert_eq!(encode_label_pairs(pairs.into_iter()), bytes);
        assert_eq!(label_pairs(&bytes[..bytes.len() - 1]).count(), 2);
    }

    #[test]
    fn collect_label_pairs_reads_what_label_pairs_reads() {
        let long = "v".repeat(200);
        let sets: [&[(&str, &str)]; 3] = [
            &[("__name__", "up"), ("job", "a\u{e9}b"), ("x", "1")],
            &[("__name__", "up"), ("long", &long), ("z", "\u{1F600}")],
            &[("a", "1")],
        ];
        for set in sets {
            let bytes = encode_labels(&Labels::from_pairs(set).unwrap());
            let want: Vec<(&str, &str)> = label_pairs(&bytes).collect();
            assert_eq!(collect_label_pairs(&bytes), want);
            assert_eq!(want.as_slice(), set);
            // A cut encoding ends early, as label_pairs does.
            let cut = &bytes[..bytes.len() - 1];
            assert_eq!(
                collect_label_pairs(cut),
                label_pairs(cut).collect::<Vec<_>>()
            );
        }
    }

    /// The prost message of a model histogram, as Prometheus's 1.0 encoder would build it.
    fn proto_histogram(h: &Histogram, timestamp: i64) -> proto::Histogram {
        let spans = |spans: &[BucketSpan]| {
            spans
                .iter()
                .map(|s| proto::BucketSpan {
                    offset: s.offset,
                    length: s.length,
                })
                .collect::<Vec<_>>()
        };
        let mut out = proto::Histogram {
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            negative_spans: spans(&h.negative_spans),
            positive_spans: spans(&h.positive_spans),
            reset_hint: i32::from(h.reset_hint.as_u8()),
            timestamp,
            custom_values: h.custom_values.clone(),
            ..proto::Histogram::default()
        };
        match &h.counts {
            HistogramCounts::Integer {
                count,
                zero_count,
                positive_deltas,
                negative_deltas,
            } => {
                out.count = Some(proto::HistogramCount::CountInt(*count));
                out.zero_count = Some(proto::HistogramZeroCount::ZeroCountInt(*zero_count));
                out.positive_deltas = positive_deltas.clone();
                out.negative_deltas = negative_deltas.clone();
            }
            HistogramCounts::Float {
                count,
                zero_count,
                positive_counts,
                negative_counts,
            } => {
                out.count = Some(proto::HistogramCount::CountFloat(*count));
                out.zero_count = Some(proto::HistogramZeroCount::ZeroCountFloat(*zero_count));
                out.positive_counts = positive_counts.clone();
                out.negative_counts = negative_counts.clone();
            }
        }
        out
    }

    fn integer_histogram() -> Histogram {
        Histogram {
            schema: -2,
            zero_threshold: 1e-128,
            sum: 17.5,
            counts: HistogramCounts::Integer {
                count: 300,
                zero_count: 0,
                positive_deltas: vec![1, -1, 200, -150, 1_000_000],
                negative_deltas: vec![2, 0],
            },
            positive_spans: vec![
                BucketSpan {
                    offset: -3,
                    length: 2,
                },
                BucketSpan {
                    offset: 70,
                    length: 3,
                },
            ],
            negative_spans: vec![BucketSpan {
                offset: 0,
                length: 2,
            }],
            reset_hint: crate::model::ResetHint::Gauge,
            custom_values: vec![],
        }
    }

    fn float_histogram() -> Histogram {
        Histogram {
            schema: 8,
            zero_threshold: 0.0,
            sum: -0.25,
            counts: HistogramCounts::Float {
                count: 0.0,
                zero_count: 0.0,
                positive_counts: vec![0.5, f64::from_bits(0x7ff8_0000_dead_beef)],
                negative_counts: vec![],
            },
            positive_spans: vec![BucketSpan {
                offset: 1,
                length: 2,
            }],
            negative_spans: vec![],
            reset_hint: crate::model::ResetHint::No,
            custom_values: vec![],
        }
    }

    fn bits(h: &proto::Histogram) -> Vec<u64> {
        let mut out = vec![h.sum.to_bits(), h.zero_threshold.to_bits()];
        out.extend(h.positive_counts.iter().map(|v| v.to_bits()));
        out.extend(h.negative_counts.iter().map(|v| v.to_bits()));
        if let Some(proto::HistogramCount::CountFloat(c)) = h.count {
            out.push(c.to_bits());
        }
        out
    }

    #[test]
    fn exemplars_and_histograms_match_prost_byte_for_byte() {
        let labels = Labels::from_pairs(&[("__name__", "rpc"), ("job", "api")]).unwrap();
        let bytes = encode_labels(&labels);
        let with_labels = Exemplar::new(
            vec![
                Label::new("trace_id", "abc123"),
                Label::new("span", "\u{e9}"),
            ],
            0.125,
            Some(5),
        )
        .unwrap();
        let without_labels = Exemplar::new(vec![], 3.0, None).unwrap();
        let integer = integer_histogram();
        let mut float = float_histogram();
        // prost leaves out a -0.0 sum; promrw keeps its bits, so compare with a plain one.
        float.sum = 0.0;
        let stale = Histogram::stale();
        let exemplars = [(&with_labels, 5i64), (&without_labels, 1_700_000_000_000)];
        let histograms = [(&integer, -7i64), (&float, 0), (&stale, 9)];
        let mut ours = Vec::new();
        let skipped = append_series_full(
            &mut ours,
            &bytes,
            [(10i64, 1.0f64)].into_iter(),
            &exemplars,
            &histograms,
        );
        assert_eq!(skipped, 0);
        let mut reference = proto::TimeSeries::single(&labels, 10, 1.0);
        reference.exemplars = exemplars
            .iter()
            .map(|(e, ts)| proto::Exemplar {
                labels: e
                    .labels()
                    .iter()
                    .map(|l| proto::Label {
                        name: l.name.clone(),
                        value: l.value.clone(),
                    })
                    .collect(),
                value: e.value,
                timestamp: *ts,
            })
            .collect();
        reference.histograms = histograms
            .iter()
            .map(|(h, ts)| proto_histogram(h, *ts))
            .collect();
        let reference = proto::WriteRequest {
            timeseries: vec![reference],
            metadata: vec![],
        };
        assert_eq!(ours, reference.encode_to_vec());

        let decoded = proto::WriteRequest::decode(ours.as_slice()).unwrap();
        // NaN != NaN, so the decoded message is compared by its encoding.
        assert_eq!(decoded.encode_to_vec(), ours);
        let series = &decoded.timeseries[0];
        assert_eq!(
            series.histograms[2].sum.to_bits(),
            crate::model::STALE_NAN_BITS
        );
        assert_eq!(
            series.histograms[1].count,
            Some(proto::HistogramCount::CountFloat(0.0)),
            "a zero float count stays a float"
        );
        assert_eq!(
            bits(&series.histograms[1]),
            bits(&proto_histogram(&float, 0)),
            "NaN payloads kept"
        );
    }

    #[test]
    fn negative_zero_and_nan_payloads_survive_a_round_trip() {
        let labels = Labels::from_pairs(&[("__name__", "h")]).unwrap();
        let bytes = encode_labels(&labels);
        let float = float_histogram();
        let exemplar = Exemplar::new(vec![], -0.0, Some(1)).unwrap();
        let mut out = Vec::new();
        append_series_full(
            &mut out,
            &bytes,
            std::iter::empty(),
            &[(&exemplar, 1)],
            &[(&float, 3)],
        );
        let decoded = proto::WriteRequest::decode(out.as_slice()).unwrap();
        let series = &decoded.timeseries[0];
        assert_eq!(
            bits(&series.histograms[0]),
            bits(&proto_histogram(&float, 3))
        );
        assert_eq!(series.histograms[0].sum.to_bits(), (-0.25f64).to_bits());
        assert_eq!(series.exemplars[0].value.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn custom_bucket_histograms_are_skipped_and_lengths_match() {
        let labels = Labels::from_pairs(&[("__name__", "x".repeat(150).as_str())]).unwrap();
        let bytes = encode_labels(&labels);
        let nhcb = Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![0.1, 1.0],
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 3,
            }],
            counts: HistogramCounts::Integer {
                count: 6,
                zero_count: 0,
                positive_deltas: vec![1, 1, 1],
                negative_deltas: vec![],
            },
            ..Histogram::stale()
        };
        let long = Exemplar::new(vec![Label::new("t", "v".repeat(120))], 1.0, None).unwrap();
        let integer = integer_histogram();
        let float = float_histogram();
        let samples = [(1i64, 1.0f64), (-1, 2.0)];
        let exemplars = [(&long, -3i64), (&long, 0)];
        let histograms = [(&integer, i64::MIN), (&nhcb, 4), (&float, 0)];
        let mut out = vec![0u8];
        let skipped = append_series_full(
            &mut out,
            &bytes,
            samples.iter().copied(),
            &exemplars,
            &histograms,
        );
        assert_eq!(skipped, 1);
        assert_eq!(histogram_entry_len(&nhcb, 4), 0);
        let entries: u64 = samples
            .iter()
            .map(|(ts, _)| sample_entry_len(*ts))
            .sum::<u64>()
            + exemplars
                .iter()
                .map(|(e, ts)| exemplar_entry_len(e, *ts))
                .sum::<u64>()
            + histograms
                .iter()
                .map(|(h, ts)| histogram_entry_len(h, *ts))
                .sum::<u64>();
        assert_eq!(
            out.len() as u64 - 1,
            series_entry_len(bytes.len() as u64, entries)
        );
        let decoded = proto::WriteRequest::decode(&out[1..]).unwrap();
        let series = &decoded.timeseries[0];
        assert_eq!(series.histograms.len(), 2);
        assert_eq!(series.histograms[0], proto_histogram(&integer, i64::MIN));
        assert_eq!(series.histograms[1].schema, 8);
        assert_eq!(series.exemplars[0].labels[0].value.len(), 120);
        assert_eq!(series.exemplars[0].timestamp, -3);
    }
}
