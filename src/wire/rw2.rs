//! Remote Write 2.0 request encoder (`io.prometheus.write.v2.Request`), independent of the
//! queue: [`Rw2Encoder::begin`], one [`Rw2Encoder::add_series`] per series, then
//! [`Rw2Encoder::finish`] for the uncompressed body.
//!
//! Layout: `symbols` (field 4) come first and `timeseries` (field 5) after, as Prometheus
//! writes them, but the symbols are only known once every series is interned. So each
//! series is encoded, with its refs, into a buffer of `timeseries` entries as it is added;
//! `finish` writes the symbol table into the output and copies the entries after it. Every
//! buffer (symbols, entries, scratch for one series and one histogram, output) is kept
//! between requests and only cleared, so a steady stream of requests allocates nothing once
//! the buffers have grown to the largest request.
//!
//! Values are written as raw bits (stale markers and NaN payloads survive). Field 6 of
//! `TimeSeries` (the retired `created_timestamp`) is never written.

use prost::encoding::{encode_varint, encoded_len_varint};

use super::rw1::{histogram_fields_len, write_histogram_fields};
use crate::model::{Exemplar, Histogram, Metadata};

/// Wire key of `Request.symbols` (field 4, length-delimited).
const KEY_REQUEST_SYMBOL: u8 = (4 << 3) | 2;
/// Wire key of `Request.timeseries` (field 5, length-delimited).
const KEY_REQUEST_TIMESERIES: u8 = (5 << 3) | 2;
/// Wire key of `TimeSeries.labels_refs` (field 1, packed).
const KEY_TIMESERIES_LABELS_REFS: u8 = (1 << 3) | 2;
/// Wire key of `TimeSeries.samples` (field 2).
const KEY_TIMESERIES_SAMPLE: u8 = (2 << 3) | 2;
/// Wire key of `TimeSeries.histograms` (field 3).
const KEY_TIMESERIES_HISTOGRAM: u8 = (3 << 3) | 2;
/// Wire key of `TimeSeries.exemplars` (field 4).
const KEY_TIMESERIES_EXEMPLAR: u8 = (4 << 3) | 2;
/// Wire key of `TimeSeries.metadata` (field 5).
const KEY_TIMESERIES_METADATA: u8 = (5 << 3) | 2;
/// Wire key of `Histogram.start_timestamp` (field 17, varint): two bytes.
const KEY_HISTOGRAM_START_TIMESTAMP: [u8; 2] = [(17u8 << 3) | 0x80, 1];
/// Smallest slot table of a [`SymbolTable`] (a power of two).
const MIN_SLOTS: usize = 1024;

/// The symbol table of one request: each string once, `""` at index 0.
///
/// The strings are kept concatenated in one byte buffer with their end offsets. Lookups go
/// through an open-addressing table (linear probing, at most half full) of slots holding a
/// symbol's index and the high 32 bits of its 64-bit hash, so a probe compares the hash
/// before the bytes and a lookup costs one hash of the string and usually one slot read.
/// [`SymbolTable::clear`] keeps every allocation (it zeroes the slots), so interning costs no
/// allocation once the table has held a request as large.
#[derive(Debug)]
pub struct SymbolTable {
    /// Every symbol's bytes, in index order (each one UTF-8: interned from `&str`, or from
    /// label bytes the registry encoded from `&str`).
    text: Vec<u8>,
    /// End offset in `text` of each symbol.
    ends: Vec<usize>,
    /// Open-addressing table: 0 is empty, otherwise `hash_high << 32 | index` (index >= 1;
    /// `""`, index 0, is never looked up).
    slots: Vec<u64>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SymbolTable {
    /// A table holding only `""` (index 0).
    pub fn new() -> SymbolTable {
        let mut table = SymbolTable {
            text: Vec::new(),
            ends: Vec::new(),
            slots: vec![0; MIN_SLOTS],
        };
        table.clear();
        table
    }

    /// Back to only `""`, keeping the capacity.
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.ends.push(0);
        self.slots.fill(0);
    }

    /// The bytes of symbol `index`.
    #[inline]
    pub(crate) fn bytes(&self, index: usize) -> &[u8] {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        &self.text[start..self.ends[index]]
    }

    /// Symbol `index`.
    fn get(&self, index: usize) -> &str {
        std::str::from_utf8(self.bytes(index)).expect("symbols are interned from UTF-8")
    }

    /// The index of `symbol`, added if new.
    pub fn intern(&mut self, symbol: &str) -> u32 {
        self.intern_bytes(symbol.as_bytes())
    }

    /// [`SymbolTable::intern`] of bytes that are UTF-8 (label bytes the registry encoded).
    #[inline]
    pub(crate) fn intern_bytes(&mut self, symbol: &[u8]) -> u32 {
        if symbol.is_empty() {
            return 0;
        }
        let tag = (fxhash::hash64(symbol) >> 32) as u32;
        let mask = self.slots.len() - 1;
        let mut pos = tag as usize & mask;
        loop {
            let slot = self.slots[pos];
            if slot == 0 {
                break;
            }
            if (slot >> 32) as u32 == tag {
                let index = slot as u32;
                if self.bytes(index as usize) == symbol {
                    return index;
                }
            }
            pos = (pos + 1) & mask;
        }
        let index = u32::try_from(self.ends.len()).expect("fewer than 2^32 symbols per request");
        self.text.extend_from_slice(symbol);
        self.ends.push(self.text.len());
        self.slots[pos] = (u64::from(tag) << 32) | u64::from(index);
        if self.ends.len() * 2 > self.slots.len() {
            self.grow();
        }
        index
    }

    /// Doubles the slot table, re-placing every symbol by its stored hash bits.
    #[cold]
    fn grow(&mut self) {
        let doubled = vec![0; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|&slot| slot != 0) {
            let mut pos = (slot >> 32) as usize & mask;
            while self.slots[pos] != 0 {
                pos = (pos + 1) & mask;
            }
            self.slots[pos] = slot;
        }
    }

    /// Number of symbols, `""` included.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Never true: `""` is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The symbols in index order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends the table as `Request.symbols` (field 4), index order.
    fn write(&self, out: &mut Vec<u8>) {
        out.reserve(self.text.len() + 3 * self.len());
        for index in 0..self.len() {
            let symbol = self.bytes(index);
            out.push(KEY_REQUEST_SYMBOL);
            put_varint(symbol.len() as u64, out);
            out.extend_from_slice(symbol);
        }
    }
}

/// One float sample of a 2.0 series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rw2Sample {
    /// The value, written as its raw bits.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Start timestamp in ms; 0 is unset (and not written).
    pub start_timestamp: i64,
}

/// One histogram of a 2.0 series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rw2Histogram<'a> {
    /// The histogram.
    pub histogram: &'a Histogram,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Start timestamp in ms; 0 is unset (and not written).
    pub start_timestamp: i64,
}

/// One exemplar of a 2.0 series, its timestamp resolved (2.0 requires one: the exemplar's
/// own, or its sample's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rw2Exemplar<'a> {
    /// The exemplar (its labels are interned).
    pub exemplar: &'a Exemplar,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// Encoder of Remote Write 2.0 requests with reusable buffers (one per shard).
#[derive(Debug, Default)]
pub struct Rw2Encoder {
    /// The request's symbols.
    symbols: SymbolTable,
    /// The `timeseries` entries (key, length, body) so far.
    entries: Vec<u8>,
    /// One `TimeSeries` body being built.
    series: Vec<u8>,
    /// One nested message body being built (a histogram, an exemplar).
    message: Vec<u8>,
    /// The series' `labels_refs`, as the varints of the packed field's payload.
    label_refs: Vec<u8>,
    /// For [`Rw2Encoder::add_series_dictionary`]: the request symbol of each dictionary
    /// symbol, valid where `dictionary_stamp` holds `request_number`.
    dictionary_local: Vec<u32>,
    /// The request in which each dictionary symbol's `dictionary_local` was set.
    dictionary_stamp: Vec<u32>,
    /// Counts requests from 1 ([`Rw2Encoder::begin`]); stamps from earlier requests differ.
    request_number: u32,
    /// One exemplar's `labels_refs`, as the varints of the packed field's payload.
    exemplar_refs: Vec<u8>,
    /// The metadata message body of the series being added.
    metadata: Vec<u8>,
    /// The finished request.
    out: Vec<u8>,
}

impl Rw2Encoder {
    /// An encoder with empty buffers.
    pub fn new() -> Rw2Encoder {
        Rw2Encoder::default()
    }

    /// Starts a request: clears the symbol table and the buffers, keeping their capacity.
    pub fn begin(&mut self) {
        self.symbols.clear();
        self.request_number = self.request_number.wrapping_add(1);
        if self.request_number == 0 {
            // After 2^32 requests: no stamp may look current.
            self.dictionary_stamp.fill(0);
            self.request_number = 1;
        }
        self.entries.clear();
        self.out.clear();
    }

    /// The symbol table of the request being built.
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Adds one series: `labels` in the order given (callers pass them sorted by name),
    /// its float `samples`, `histograms`, `exemplars` and `metadata` (none: type
    /// UNSPECIFIED, `help_ref` and `unit_ref` 0). The spec forbids samples and histograms
    /// in one `TimeSeries`, so a series with both becomes two, the samples first; its
    /// exemplars go with the first, its metadata with both. A series with neither samples
    /// nor histograms writes nothing (a `TimeSeries` must carry one). Returns the number of
    /// `TimeSeries` written (0, 1 or 2).
    pub fn add_series<'l>(
        &mut self,
        labels: impl Iterator<Item = (&'l str, &'l str)>,
        samples: &[Rw2Sample],
        histograms: &[Rw2Histogram<'_>],
        exemplars: &[Rw2Exemplar<'_>],
        metadata: Option<&Metadata>,
    ) -> usize {
        if samples.is_empty() && histograms.is_empty() {
            return 0;
        }
        self.label_refs.clear();
        for (name, value) in labels {
            let name = self.symbols.intern(name);
            let value = self.symbols.intern(value);
            put_ref(name, &mut self.label_refs);
            put_ref(value, &mut self.label_refs);
        }
        self.add_interned(samples, histograms, exemplars, metadata)
    }

    /// [`Rw2Encoder::add_series`] with the labels given as symbols of `dictionary`, a
    /// symbol table that outlives requests (a shard keeps one with each series' label
    /// symbols, [`intern_encoded_labels`]): `label_ids` are its indices of the names and
    /// values in label order. Each dictionary symbol is interned into the request once; after
    /// that it costs one array lookup, where interning a string costs a hash and a compare.
    /// `dictionary` must be the same table (or one that only grew) for the whole request.
    pub fn add_series_dictionary(
        &mut self,
        label_ids: &[u32],
        dictionary: &SymbolTable,
        samples: &[Rw2Sample],
        histograms: &[Rw2Histogram<'_>],
        exemplars: &[Rw2Exemplar<'_>],
        metadata: Option<&Metadata>,
    ) -> usize {
        if samples.is_empty() && histograms.is_empty() {
            return 0;
        }
        if self.dictionary_stamp.len() < dictionary.len() {
            let len = dictionary.len().next_power_of_two();
            self.dictionary_stamp.resize(len, 0);
            self.dictionary_local.resize(len, 0);
        }
        self.label_refs.clear();
        for &id in label_ids {
            let id = id as usize;
            let r = if self.dictionary_stamp[id] == self.request_number {
                self.dictionary_local[id]
            } else {
                let r = self.symbols.intern_bytes(dictionary.bytes(id));
                self.dictionary_stamp[id] = self.request_number;
                self.dictionary_local[id] = r;
                r
            };
            put_ref(r, &mut self.label_refs);
        }
        self.add_interned(samples, histograms, exemplars, metadata)
    }

    /// The rest of [`Rw2Encoder::add_series`], the labels interned and their refs encoded
    /// into `label_refs`.
    fn add_interned(
        &mut self,
        samples: &[Rw2Sample],
        histograms: &[Rw2Histogram<'_>],
        exemplars: &[Rw2Exemplar<'_>],
        metadata: Option<&Metadata>,
    ) -> usize {
        self.metadata.clear();
        if let Some(metadata) = metadata {
            let help = self.symbols.intern(&metadata.help);
            let unit = self.symbols.intern(&metadata.unit);
            put_int(1 << 3, metadata.kind.as_i32() as u64, &mut self.metadata);
            put_int(3 << 3, u64::from(help), &mut self.metadata);
            put_int(4 << 3, u64::from(unit), &mut self.metadata);
        }
        let mut exemplars = exemplars;
        let mut written = 0;
        if !samples.is_empty() && exemplars.is_empty() {
            // The common case, written straight into the entries: the body's length is
            // known up front (refs, samples, metadata), so it needs no copy.
            let refs_payload = self.label_refs.len();
            let refs_len = if refs_payload == 0 {
                0
            } else {
                1 + varint_len(refs_payload as u64) + refs_payload
            };
            let samples_len: usize = samples
                .iter()
                .map(|sample| {
                    let len = sample_len(sample);
                    1 + varint_len(len as u64) + len
                })
                .sum();
            let metadata_len = 1 + varint_len(self.metadata.len() as u64) + self.metadata.len();
            let body = refs_len + samples_len + metadata_len;
            let out = &mut self.entries;
            out.reserve(1 + 10 + body);
            out.push(KEY_REQUEST_TIMESERIES);
            put_varint(body as u64, out);
            let before = out.len();
            put_packed_payload(&self.label_refs, out);
            for sample in samples {
                write_sample(sample, out);
            }
            out.push(KEY_TIMESERIES_METADATA);
            put_varint(self.metadata.len() as u64, out);
            out.extend_from_slice(&self.metadata);
            debug_assert_eq!(out.len() - before, body);
            written += 1;
        } else if !samples.is_empty() {
            self.start_series();
            for sample in samples {
                write_sample(sample, &mut self.series);
            }
            self.end_series(exemplars);
            exemplars = &[];
            written += 1;
        }
        if !histograms.is_empty() {
            self.start_series();
            for histogram in histograms {
                self.message.clear();
                write_histogram_fields(histogram.histogram, histogram.timestamp, &mut self.message);
                if histogram.start_timestamp != 0 {
                    self.message
                        .extend_from_slice(&KEY_HISTOGRAM_START_TIMESTAMP);
                    encode_varint(histogram.start_timestamp as u64, &mut self.message);
                }
                debug_assert_eq!(
                    self.message.len(),
                    histogram_fields_len(histogram.histogram, histogram.timestamp)
                        + if histogram.start_timestamp == 0 {
                            0
                        } else {
                            2 + encoded_len_varint(histogram.start_timestamp as u64)
                        }
                );
                self.series.push(KEY_TIMESERIES_HISTOGRAM);
                encode_varint(self.message.len() as u64, &mut self.series);
                self.series.extend_from_slice(&self.message);
            }
            self.end_series(exemplars);
            written += 1;
        }
        written
    }

    /// Starts a `TimeSeries` body with the series' `labels_refs`.
    fn start_series(&mut self) {
        self.series.clear();
        put_packed_payload(&self.label_refs, &mut self.series);
    }

    /// Ends a `TimeSeries` body with `exemplars` and the metadata, and appends it as an entry.
    fn end_series(&mut self, exemplars: &[Rw2Exemplar<'_>]) {
        for exemplar in exemplars {
            self.exemplar_refs.clear();
            for label in exemplar.exemplar.labels() {
                let name = self.symbols.intern(&label.name);
                let value = self.symbols.intern(&label.value);
                put_ref(name, &mut self.exemplar_refs);
                put_ref(value, &mut self.exemplar_refs);
            }
            self.message.clear();
            put_packed_payload(&self.exemplar_refs, &mut self.message);
            put_double((2 << 3) | 1, exemplar.exemplar.value, &mut self.message);
            put_int(3 << 3, exemplar.timestamp as u64, &mut self.message);
            self.series.push(KEY_TIMESERIES_EXEMPLAR);
            encode_varint(self.message.len() as u64, &mut self.series);
            self.series.extend_from_slice(&self.message);
        }
        self.series.push(KEY_TIMESERIES_METADATA);
        encode_varint(self.metadata.len() as u64, &mut self.series);
        self.series.extend_from_slice(&self.metadata);
        self.entries.push(KEY_REQUEST_TIMESERIES);
        encode_varint(self.series.len() as u64, &mut self.entries);
        self.entries.extend_from_slice(&self.series);
    }

    /// The request: symbols, then the series added since [`Rw2Encoder::begin`].
    pub fn finish(&mut self) -> &[u8] {
        self.out.clear();
        self.symbols.write(&mut self.out);
        self.out.extend_from_slice(&self.entries);
        &self.out
    }
}

/// Bytes of a `Sample` message body.
#[inline]
fn sample_len(sample: &Rw2Sample) -> usize {
    9 + 1 + varint_len(sample.timestamp as u64) + int_len(sample.start_timestamp as u64)
}

/// Writes `sample` as a `TimeSeries.samples` entry (key, length, body).
#[inline]
fn write_sample(sample: &Rw2Sample, out: &mut Vec<u8>) {
    out.push(KEY_TIMESERIES_SAMPLE);
    put_varint(sample_len(sample) as u64, out);
    out.push((1 << 3) | 1);
    out.extend_from_slice(&sample.value.to_bits().to_le_bytes());
    out.push(2 << 3);
    put_varint(sample.timestamp as u64, out);
    put_int(3 << 3, sample.start_timestamp as u64, out);
}

/// Bytes of `value` as a varint.
#[inline]
fn varint_len(value: u64) -> usize {
    encoded_len_varint(value)
}

/// Writes `value` as a varint, inline (prost's `encode_varint` is an out-of-line call).
#[inline]
fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    let mut buf = [0u8; 10];
    let mut n = 0;
    while value >= 0x80 {
        buf[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    buf[n] = value as u8;
    out.extend_from_slice(&buf[..=n]);
}

/// A varint at the front of `rest` (at most 10 bytes), consumed.
#[inline]
fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let (&first, tail) = rest.split_first()?;
    if first < 0x80 {
        *rest = tail;
        return Some(u64::from(first));
    }
    prost::encoding::decode_varint(rest).ok()
}

/// A length-delimited field with key `key` at the front of `rest`, consumed.
#[inline]
fn take_field<'a>(rest: &mut &'a [u8], key: u8) -> Option<&'a [u8]> {
    let (&first, mut tail) = rest.split_first()?;
    if first != key {
        return None;
    }
    let len = usize::try_from(take_varint(&mut tail)?).ok()?;
    if len > tail.len() {
        return None;
    }
    let (field, after) = tail.split_at(len);
    *rest = after;
    Some(field)
}

/// The next (name, value) of 1.0 label bytes (`Label` entries of `TimeSeries.labels`: key 1
/// with a `Label` of name field 1 and value field 2), consumed; `None` at the end or at
/// bytes that are not such an encoding.
#[inline]
fn encoded_label<'a>(rest: &mut &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
    let mut label = take_field(rest, (1 << 3) | 2)?;
    let name = take_field(&mut label, (1 << 3) | 2)?;
    let value = take_field(&mut label, (2 << 3) | 2)?;
    Some((name, value))
}

/// Interns the names and values of 1.0 label bytes (`rw1::encode_labels`, what the registry
/// keeps per series) into `dictionary`, pushing their indices onto `ids` in label order (name,
/// value, name, ...), for [`Rw2Encoder::add_series_dictionary`]. Bytes that are not such an
/// encoding end the labels early, as `rw1::label_pairs` does (they never are: the registry
/// encodes every series itself).
pub fn intern_encoded_labels(
    dictionary: &mut SymbolTable,
    encoded_labels: &[u8],
    ids: &mut Vec<u32>,
) {
    let mut rest = encoded_labels;
    while let Some((name, value)) = encoded_label(&mut rest) {
        ids.push(dictionary.intern_bytes(name));
        ids.push(dictionary.intern_bytes(value));
    }
}

/// Bytes of an optional varint field (one-byte key): absent when 0.
fn int_len(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        1 + encoded_len_varint(value)
    }
}

/// Writes an optional varint field ([`int_len`]'s rule).
#[inline]
fn put_int(key: u8, value: u64, out: &mut Vec<u8>) {
    if value != 0 {
        out.push(key);
        put_varint(value, out);
    }
}

/// Writes an optional double field (one-byte key), raw bits: absent when the bits are 0, so
/// `-0.0` and NaN payloads are written.
fn put_double(key: u8, value: f64, out: &mut Vec<u8>) {
    if value.to_bits() != 0 {
        out.push(key);
        out.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

/// Writes a symbol ref as a varint: refs below 2^14 (one or two bytes) take a short path.
#[inline(always)]
fn put_ref(r: u32, out: &mut Vec<u8>) {
    if r < 0x80 {
        out.push(r as u8);
    } else if r < 0x4000 {
        out.extend_from_slice(&[(r as u8) | 0x80, (r >> 7) as u8]);
    } else {
        put_varint(u64::from(r), out);
    }
}

/// Writes a packed `uint32` field 1 (`labels_refs` of a series or an exemplar) whose payload
/// (the refs' varints) is `payload`; nothing when it is empty.
#[inline]
fn put_packed_payload(payload: &[u8], out: &mut Vec<u8>) {
    if payload.is_empty() {
        return;
    }
    out.push(KEY_TIMESERIES_LABELS_REFS);
    put_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        BucketSpan, CUSTOM_BUCKETS_SCHEMA, HistogramCounts, Label, Labels, MetricType, ResetHint,
        STALE_NAN_BITS, stale_nan,
    };
    use crate::wire::proto_v2::{self, HistogramCount, HistogramZeroCount, Request};
    use crate::wire::rw1;
    use proptest::prelude::*;
    use prost::Message;

    /// The prost message of `h` as the spec defines it.
    fn proto_histogram(h: &Rw2Histogram<'_>) -> proto_v2::Histogram {
        let spans = |spans: &[BucketSpan]| {
            spans
                .iter()
                .map(|s| proto_v2::BucketSpan {
                    offset: s.offset,
                    length: s.length,
                })
                .collect::<Vec<_>>()
        };
        let m = h.histogram;
        let mut out = proto_v2::Histogram {
            sum: m.sum,
            schema: m.schema,
            zero_threshold: m.zero_threshold,
            negative_spans: spans(&m.negative_spans),
            positive_spans: spans(&m.positive_spans),
            reset_hint: i32::from(m.reset_hint.as_u8()),
            timestamp: h.timestamp,
            custom_values: m.custom_values.clone(),
            start_timestamp: h.start_timestamp,
            ..proto_v2::Histogram::default()
        };
        match &m.counts {
            HistogramCounts::Integer {
                count,
                zero_count,
                positive_deltas,
                negative_deltas,
            } => {
                out.count = Some(HistogramCount::CountInt(*count));
                out.zero_count = Some(HistogramZeroCount::ZeroCountInt(*zero_count));
                out.positive_deltas = positive_deltas.clone();
                out.negative_deltas = negative_deltas.clone();
            }
            HistogramCounts::Float {
                count,
                zero_count,
                positive_counts,
                negative_counts,
            } => {
                out.count = Some(HistogramCount::CountFloat(*count));
                out.zero_count = Some(HistogramZeroCount::ZeroCountFloat(*zero_count));
                out.positive_counts = positive_counts.clone();
                out.negative_counts = negative_counts.clone();
            }
        }
        out
    }

    /// The strings of `refs`, in pairs, checking every ref is in range.
    fn resolve(request: &Request, refs: &[u32]) -> Vec<(String, String)> {
        assert_eq!(refs.len() % 2, 0, "refs come in pairs");
        refs.chunks(2)
            .map(|pair| {
                let get = |r: u32| {
                    request
                        .symbols
                        .get(r as usize)
                        .unwrap_or_else(|| panic!("ref {r} out of range"))
                        .clone()
                };
                (get(pair[0]), get(pair[1]))
            })
            .collect()
    }

    fn symbol(request: &Request, r: u32) -> &str {
        &request.symbols[r as usize]
    }

    fn check_symbols(request: &Request) {
        assert_eq!(request.symbols.first().map(String::as_str), Some(""));
        let unique: std::collections::HashSet<&String> = request.symbols.iter().collect();
        assert_eq!(unique.len(), request.symbols.len(), "symbols are unique");
        for series in &request.timeseries {
            resolve(request, &series.labels_refs);
            for e in &series.exemplars {
                resolve(request, &e.labels_refs);
            }
            let m = series.metadata.expect("metadata always written");
            assert!((m.help_ref as usize) < request.symbols.len());
            assert!((m.unit_ref as usize) < request.symbols.len());
        }
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn integer_histogram() -> Histogram {
        Histogram {
            schema: -4,
            zero_threshold: 1e-128,
            sum: 12.5,
            counts: HistogramCounts::Integer {
                count: 0,
                zero_count: 0,
                positive_deltas: vec![3, -2, i64::MIN / 4, 7],
                negative_deltas: vec![1],
            },
            positive_spans: vec![
                BucketSpan {
                    offset: -5,
                    length: 1,
                },
                BucketSpan {
                    offset: 2,
                    length: 3,
                },
            ],
            negative_spans: vec![BucketSpan {
                offset: -1,
                length: 1,
            }],
            reset_hint: ResetHint::Yes,
            custom_values: vec![],
        }
    }

    fn float_histogram() -> Histogram {
        Histogram {
            schema: 3,
            zero_threshold: 0.001,
            sum: -0.0,
            counts: HistogramCounts::Float {
                count: 0.0,
                zero_count: 0.0,
                positive_counts: vec![1.5, f64::from_bits(0x7ff8_0000_0bad_f00d)],
                negative_counts: vec![0.25],
            },
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 2,
            }],
            negative_spans: vec![BucketSpan {
                offset: 4,
                length: 1,
            }],
            reset_hint: ResetHint::Gauge,
            custom_values: vec![],
        }
    }

    fn custom_histogram() -> Histogram {
        Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            zero_threshold: 0.0,
            sum: 3.0,
            counts: HistogramCounts::Float {
                count: 4.0,
                zero_count: 0.0,
                positive_counts: vec![1.0, 0.0, 3.0],
                negative_counts: vec![],
            },
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 3,
            }],
            negative_spans: vec![],
            reset_hint: ResetHint::No,
            custom_values: vec![0.1, 0.5, 10.0],
        }
    }

    /// Raw bits of every double of a decoded histogram.
    fn histogram_bits(h: &proto_v2::Histogram) -> Vec<u64> {
        let mut out = vec![h.sum.to_bits(), h.zero_threshold.to_bits()];
        for v in h
            .positive_counts
            .iter()
            .chain(&h.negative_counts)
            .chain(&h.custom_values)
        {
            out.push(v.to_bits());
        }
        if let Some(HistogramCount::CountFloat(c)) = h.count {
            out.push(c.to_bits());
        }
        out
    }

    #[test]
    fn every_field_round_trips_through_prost() {
        let labels =
            Labels::from_pairs(&[("__name__", "rpc_seconds"), ("job", "a\u{e9}")]).unwrap();
        let encoded = rw1::encode_labels(&labels);
        let samples = [
            Rw2Sample {
                value: 1.5,
                timestamp: 1_700_000_000_000,
                start_timestamp: 1_600_000_000_000,
            },
            Rw2Sample {
                value: stale_nan(),
                timestamp: -5,
                start_timestamp: -1,
            },
            Rw2Sample {
                value: -0.0,
                timestamp: 0,
                start_timestamp: 0,
            },
        ];
        let (integer, float, custom, stale) = (
            integer_histogram(),
            float_histogram(),
            custom_histogram(),
            Histogram::stale(),
        );
        let histograms = [
            Rw2Histogram {
                histogram: &integer,
                timestamp: 10,
                start_timestamp: 3,
            },
            Rw2Histogram {
                histogram: &float,
                timestamp: -10,
                start_timestamp: 0,
            },
            Rw2Histogram {
                histogram: &custom,
                timestamp: 11,
                start_timestamp: -2,
            },
            Rw2Histogram {
                histogram: &stale,
                timestamp: 12,
                start_timestamp: 0,
            },
        ];
        let traced = Exemplar::new(
            vec![Label::new("trace_id", "abc"), Label::new("job", "a\u{e9}")],
            0.5,
            Some(9),
        )
        .unwrap();
        let bare = Exemplar::new(vec![], 2.0, None).unwrap();
        let exemplars = [
            Rw2Exemplar {
                exemplar: &traced,
                timestamp: 9,
            },
            Rw2Exemplar {
                exemplar: &bare,
                timestamp: -3,
            },
        ];
        let metadata = Metadata {
            kind: MetricType::Histogram,
            help: "RPC latency.".into(),
            unit: "seconds".into(),
        };
        let mut encoder = Rw2Encoder::new();
        encoder.begin();
        let written = encoder.add_series(
            rw1::label_pairs(&encoded),
            &samples,
            &histograms,
            &exemplars,
            Some(&metadata),
        );
        assert_eq!(written, 2);
        let only = [Rw2Sample {
            value: 4.0,
            timestamp: 1,
            start_timestamp: 0,
        }];
        assert_eq!(
            encoder.add_series([("__name__", "up")].into_iter(), &only, &[], &[], None),
            1
        );
        assert_eq!(
            encoder.add_series(
                [("__name__", "none")].into_iter(),
                &[],
                &[],
                &exemplars,
                None
            ),
            0
        );
        let body = encoder.finish().to_vec();
        let request = Request::decode(body.as_slice()).unwrap();
        check_symbols(&request);
        assert!(!request.symbols.iter().any(|s| s == "none"));
        assert_eq!(request.timeseries.len(), 3);

        let (floats, hists, up) = (
            &request.timeseries[0],
            &request.timeseries[1],
            &request.timeseries[2],
        );
        let want_labels = owned(&[("__name__", "rpc_seconds"), ("job", "a\u{e9}")]);
        assert_eq!(resolve(&request, &floats.labels_refs), want_labels);
        assert_eq!(resolve(&request, &hists.labels_refs), want_labels);
        assert!(floats.histograms.is_empty() && hists.samples.is_empty());

        let want_samples: Vec<proto_v2::Sample> = samples
            .iter()
            .map(|s| proto_v2::Sample {
                value: s.value,
                timestamp: s.timestamp,
                start_timestamp: s.start_timestamp,
            })
            .collect();
        let got_bits: Vec<u64> = floats.samples.iter().map(|s| s.value.to_bits()).collect();
        let want_bits: Vec<u64> = samples.iter().map(|s| s.value.to_bits()).collect();
        assert_eq!(got_bits, want_bits);
        assert_eq!(got_bits[1], STALE_NAN_BITS);
        let keys = |v: &[proto_v2::Sample]| -> Vec<(i64, i64)> {
            v.iter().map(|s| (s.timestamp, s.start_timestamp)).collect()
        };
        assert_eq!(keys(&floats.samples), keys(&want_samples));

        assert_eq!(floats.exemplars.len(), 2);
        assert!(
            hists.exemplars.is_empty(),
            "exemplars go with the first series"
        );
        assert_eq!(
            resolve(&request, &floats.exemplars[0].labels_refs),
            owned(&[("job", "a\u{e9}"), ("trace_id", "abc")])
        );
        assert!(floats.exemplars[1].labels_refs.is_empty());
        assert_eq!(
            (floats.exemplars[0].value, floats.exemplars[0].timestamp),
            (0.5, 9)
        );
        assert_eq!(
            (floats.exemplars[1].value, floats.exemplars[1].timestamp),
            (2.0, -3)
        );

        for series in [floats, hists] {
            let m = series.metadata.unwrap();
            assert_eq!(m.r#type, MetricType::Histogram.as_i32());
            assert_eq!(symbol(&request, m.help_ref), "RPC latency.");
            assert_eq!(symbol(&request, m.unit_ref), "seconds");
        }
        assert_eq!(up.metadata, Some(proto_v2::Metadata::default()));

        assert_eq!(hists.histograms.len(), histograms.len());
        for (got, want) in hists.histograms.iter().zip(&histograms) {
            let want = proto_histogram(want);
            assert_eq!(histogram_bits(got), histogram_bits(&want));
            if !want.sum.is_nan() && !want.positive_counts.iter().any(|v| v.is_nan()) {
                assert_eq!(got, &want);
            }
            assert_eq!(got.count.is_some(), want.count.is_some());
            assert_eq!(
                (
                    got.count,
                    got.zero_count,
                    got.start_timestamp,
                    got.timestamp
                ),
                (
                    want.count,
                    want.zero_count,
                    want.start_timestamp,
                    want.timestamp
                ),
            );
            assert_eq!(
                (&got.positive_spans, &got.negative_spans),
                (&want.positive_spans, &want.negative_spans)
            );
        }
        assert_eq!(
            hists.histograms[1].count,
            Some(HistogramCount::CountFloat(0.0)),
            "a zero float count stays a float"
        );
        assert_eq!(hists.histograms[0].positive_spans[0].offset, -5);
        assert_eq!(hists.histograms[3].sum.to_bits(), STALE_NAN_BITS);
        assert_eq!(hists.histograms[2].custom_values, vec![0.1, 0.5, 10.0]);
    }

    #[test]
    fn metadata_of_each_type_with_and_without_help_and_unit() {
        let kinds = [
            MetricType::Unknown,
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
        ];
        let mut encoder = Rw2Encoder::new();
        encoder.begin();
        let sample = [Rw2Sample {
            value: 1.0,
            timestamp: 1,
            start_timestamp: 0,
        }];
        let all: Vec<Metadata> = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| Metadata {
                kind: *kind,
                help: if i % 2 == 0 {
                    format!("help {i}")
                } else {
                    String::new()
                },
                unit: if i % 3 == 0 {
                    String::new()
                } else {
                    "bytes".into()
                },
            })
            .collect();
        for (i, metadata) in all.iter().enumerate() {
            let name = format!("m{i}");
            encoder.add_series(
                [("__name__", name.as_str())].into_iter(),
                &sample,
                &[],
                &[],
                Some(metadata),
            );
        }
        let request = Request::decode(encoder.finish()).unwrap();
        check_symbols(&request);
        assert_eq!(request.timeseries.len(), kinds.len());
        for (series, want) in request.timeseries.iter().zip(&all) {
            let m = series.metadata.unwrap();
            assert_eq!(MetricType::from_i32(m.r#type), Some(want.kind));
            assert_eq!(symbol(&request, m.help_ref), want.help);
            assert_eq!(symbol(&request, m.unit_ref), want.unit);
            assert_eq!(m.help_ref == 0, want.help.is_empty());
        }
        assert_eq!(
            request.symbols.iter().filter(|s| *s == "bytes").count(),
            1,
            "each string once"
        );
    }

    #[test]
    fn the_encoder_reused_gives_identical_bytes() {
        let histogram = integer_histogram();
        let exemplar = Exemplar::new(vec![Label::new("trace_id", "t")], 1.0, None).unwrap();
        let mut encoder = Rw2Encoder::new();
        let mut bodies = Vec::new();
        for round in 0..3 {
            encoder.begin();
            if round == 1 {
                // A different request between the two identical ones.
                encoder.add_series(
                    [("__name__", "other"), ("zz", "y")].into_iter(),
                    &[Rw2Sample {
                        value: 2.0,
                        timestamp: 2,
                        start_timestamp: 0,
                    }],
                    &[],
                    &[],
                    None,
                );
            }
            encoder.add_series(
                [("__name__", "h"), ("job", "j")].into_iter(),
                &[],
                &[Rw2Histogram {
                    histogram: &histogram,
                    timestamp: 5,
                    start_timestamp: 1,
                }],
                &[Rw2Exemplar {
                    exemplar: &exemplar,
                    timestamp: 5,
                }],
                None,
            );
            bodies.push(encoder.finish().to_vec());
            assert_eq!(
                encoder.finish(),
                bodies[round].as_slice(),
                "finish is repeatable"
            );
        }
        assert_eq!(bodies[0], bodies[2]);
        assert_ne!(bodies[0], bodies[1]);
        let first = Request::decode(bodies[0].as_slice()).unwrap();
        assert_eq!(
            first.symbols,
            ["", "__name__", "h", "job", "j", "trace_id", "t"]
        );
        assert_eq!(first.timeseries[0].labels_refs, [1, 2, 3, 4]);
    }

    #[test]
    fn dictionary_symbols_give_the_bytes_of_label_pairs() {
        // Names shared at the same positions, a value repeated, one moved to another
        // position, a series with fewer labels, and enough symbols to grow the slot table.
        let mut sets: Vec<Vec<(String, String)>> = vec![
            owned(&[("__name__", "a"), ("job", "j"), ("pod", "p1")]),
            owned(&[("__name__", "b"), ("job", "j"), ("pod", "p1")]),
            owned(&[("__name__", "j"), ("job", "a")]),
            owned(&[("__name__", "a"), ("job", "k"), ("pod", "p2")]),
        ];
        sets.extend((0..1500).map(|i| owned(&[("__name__", "m"), ("instance", &i.to_string())])));
        let histogram = integer_histogram();
        let samples = [Rw2Sample {
            value: 1.5,
            timestamp: 1_700_000_000_000,
            start_timestamp: 1_699_999_999_000,
        }];
        let histograms = [Rw2Histogram {
            histogram: &histogram,
            timestamp: 1_700_000_000_000,
            start_timestamp: 0,
        }];
        let (mut by_pairs, mut by_bytes) = (Rw2Encoder::new(), Rw2Encoder::new());
        // The dictionary outlives the requests, as a shard's does; in the second round it
        // already holds every symbol, in an order unlike the request's.
        let mut dictionary = SymbolTable::new();
        dictionary.intern("zzz-unused");
        let mut ids = Vec::new();
        for round in 0..2 {
            by_pairs.begin();
            by_bytes.begin();
            for (i, set) in sets.iter().enumerate() {
                let pairs = || set.iter().map(|(n, v)| (n.as_str(), v.as_str()));
                let encoded = rw1::encode_label_pairs(pairs());
                let h: &[Rw2Histogram<'_>] = if i % 3 == round { &histograms } else { &[] };
                let written = by_pairs.add_series(pairs(), &samples, h, &[], None);
                ids.clear();
                intern_encoded_labels(&mut dictionary, &encoded, &mut ids);
                assert_eq!(
                    by_bytes.add_series_dictionary(&ids, &dictionary, &samples, h, &[], None),
                    written
                );
            }
            let body = by_pairs.finish().to_vec();
            assert_eq!(by_bytes.finish(), body.as_slice(), "round {round}");
            let request = Request::decode(body.as_slice()).expect("decodes");
            check_symbols(&request);
            assert_eq!(
                resolve(&request, &request.timeseries[0].labels_refs),
                sets[0]
            );
        }
    }

    #[test]
    fn symbol_table_interns_once_and_clears_to_the_empty_string() {
        let mut table = SymbolTable::new();
        assert_eq!(table.intern(""), 0);
        let a = table.intern("a");
        let b = table.intern("b");
        assert_eq!((a, b), (1, 2));
        assert_eq!(table.intern("a"), a);
        assert_eq!(table.iter().collect::<Vec<_>>(), ["", "a", "b"]);
        table.clear();
        assert_eq!(table.len(), 1);
        assert_eq!(table.intern("b"), 1);
        assert_eq!(table.iter().collect::<Vec<_>>(), ["", "b"]);
    }

    /// A generated series: sorted unique labels, and samples as (value bits, timestamp,
    /// start timestamp).
    /// Optionally a histogram's (timestamp, start timestamp, sum bits).
    type GeneratedSeries = (
        Vec<(String, String)>,
        Vec<(u64, i64, i64)>,
        Option<(i64, i64, u64)>,
    );

    /// Strategy of [`GeneratedSeries`].
    fn series_strategy() -> impl Strategy<Value = GeneratedSeries> {
        (
            proptest::collection::btree_map("[a-z_]{1,6}", "\\PC{1,8}", 1..5),
            proptest::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 1..6),
            proptest::option::of((any::<i64>(), any::<i64>(), any::<u64>())),
        )
            .prop_map(|(labels, samples, histogram)| {
                (labels.into_iter().collect(), samples, histogram)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

        #[test]
        fn random_series_decode_back_equal(
            all in proptest::collection::vec(series_strategy(), 1..8)
        ) {
            let mut encoder = Rw2Encoder::new();
            encoder.begin();
            let exemplar = Exemplar::new(vec![Label::new("trace_id", "x")], 1.0, None).unwrap();
            for (labels, samples, histogram) in &all {
                let histogram = histogram.map(|(ts, start, sum)| {
                    (ts, start, Histogram { sum: f64::from_bits(sum), ..integer_histogram() })
                });
                let histograms: Vec<Rw2Histogram<'_>> = histogram
                    .iter()
                    .map(|(ts, start, h)| Rw2Histogram {
                        histogram: h,
                        timestamp: *ts,
                        start_timestamp: *start,
                    })
                    .collect();
                let samples: Vec<Rw2Sample> = samples
                    .iter()
                    .map(|(bits, ts, start)| Rw2Sample {
                        value: f64::from_bits(*bits),
                        timestamp: *ts,
                        start_timestamp: *start,
                    })
                    .collect();
                let written = encoder.add_series(
                    labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                    &samples,
                    &histograms,
                    &[Rw2Exemplar { exemplar: &exemplar, timestamp: 7 }],
                    None,
                );
                prop_assert_eq!(written, 1 + histograms.len());
            }
            let request = Request::decode(encoder.finish()).unwrap();
            check_symbols(&request);
            let with_histograms = all.iter().filter(|s| s.2.is_some()).count();
            prop_assert_eq!(request.timeseries.len(), all.len() + with_histograms);
            let mut decoded = request.timeseries.iter();
            for (labels, samples, histogram) in &all {
                let series = decoded.next().unwrap();
                prop_assert_eq!(&resolve(&request, &series.labels_refs), labels);
                prop_assert_eq!(series.exemplars.len(), 1);
                if let Some((ts, start, sum)) = histogram {
                    let h = &decoded.next().unwrap();
                    prop_assert_eq!(&resolve(&request, &h.labels_refs), labels);
                    prop_assert!(h.samples.is_empty() && h.exemplars.is_empty());
                    let got = &h.histograms[0];
                    prop_assert_eq!((got.timestamp, got.start_timestamp), (*ts, *start));
                    prop_assert_eq!(got.sum.to_bits(), *sum);
                    prop_assert_eq!(&got.positive_deltas, &vec![3, -2, i64::MIN / 4, 7]);
                }
                let got: Vec<(u64, i64, i64)> = series
                    .samples
                    .iter()
                    .map(|s| (s.value.to_bits(), s.timestamp, s.start_timestamp))
                    .collect();
                prop_assert_eq!(&got, samples);
            }
        }
    }
}
