//! Remote Write 1.0 batch encoder.
//!
//! A series' labels are encoded once, at registration ([`encode_labels`]), as the exact bytes of
//! the `labels` field of a `TimeSeries`. Encoding a batch then only copies those bytes and writes
//! the samples, which is several times cheaper than building prost messages per request.

use prost::encoding::{encode_varint, encoded_len_varint};

use crate::model::Labels;

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
}
