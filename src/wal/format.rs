//! The byte format of the log: segment header, record framing (length + CRC32C) and the bodies
//! of Series, Samples, Extended samples and Metadata records (LEB128 varints, zigzag for
//! signed values, raw f64 bits). See docs/ARCHITECTURE.md, "Durable queue (WAL mode): design".

use crate::model::{
    BucketSpan, Exemplar, Histogram, HistogramCounts, Label, Metadata, MetricType, ResetHint,
    SampleExtra,
};

/// The first 8 bytes of every segment.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"PROMRWAL";
/// The segment format this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header: magic, version (u32 LE), 4 reserved zero bytes.
pub(crate) const SEGMENT_HEADER_LEN: usize = 16;
/// Bytes of a record frame before its payload: length (u32 LE) and CRC32C (u32 LE).
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// The largest payload a frame may declare; a larger length is corruption.
pub(crate) const MAX_PAYLOAD_LEN: usize = 1 << 20;

/// Record type byte of a Series record.
pub(crate) const RECORD_SERIES: u8 = 1;
/// Record type byte of a Samples record.
pub(crate) const RECORD_SAMPLES: u8 = 2;
/// Record type byte of an Extended samples record (start timestamps, histograms, exemplars).
pub(crate) const RECORD_EXTENDED: u8 = 3;
/// Record type byte of a Metadata record.
pub(crate) const RECORD_METADATA: u8 = 4;

/// Whether `kind` is a record type this build reads.
pub(crate) fn is_known_record_type(kind: u8) -> bool {
    (RECORD_SERIES..=RECORD_METADATA).contains(&kind)
}

/// The header every segment starts with.
pub fn segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

/// Why a segment header is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than `SEGMENT_HEADER_LEN` (16) bytes.
    Short,
    /// The magic is not `SEGMENT_MAGIC` (`PROMRWAL`).
    BadMagic,
    /// A format version this build does not read.
    UnknownVersion(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short => write!(f, "shorter than the {SEGMENT_HEADER_LEN}-byte header"),
            HeaderError::BadMagic => write!(f, "does not start with the promrw segment magic"),
            HeaderError::UnknownVersion(v) => write!(
                f,
                "has format version {v}, this build reads version {FORMAT_VERSION}"
            ),
        }
    }
}

/// Checks a segment's first bytes.
pub fn check_segment_header(bytes: &[u8]) -> Result<(), HeaderError> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err(HeaderError::Short);
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(HeaderError::UnknownVersion(version));
    }
    Ok(())
}

/// The CRC32C a frame carries: over its length bytes and its payload.
fn frame_crc(length: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&length), payload)
}

/// Appends one framed record (`payload` starts with its type byte) to `out`.
///
/// # Panics
/// If `payload` is empty or longer than `MAX_PAYLOAD_LEN`: the writer cuts records well
/// below that.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) {
    assert!(
        !payload.is_empty() && payload.len() <= MAX_PAYLOAD_LEN,
        "record payload of {} bytes",
        payload.len()
    );
    let length = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&length);
    out.extend_from_slice(&frame_crc(length, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What is at an offset of a segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A record whose frame checks: its payload and the frame's whole length.
    Record {
        /// The payload (type byte first).
        payload: &'a [u8],
        /// Frame header plus payload.
        frame_len: usize,
    },
    /// The bytes end before the frame does (a torn tail, or the end of the data).
    Truncated,
    /// The frame declares an impossible length or its CRC does not match.
    Corrupt,
}

/// Reads the frame at the start of `bytes` (which must not be empty).
pub fn read_frame(bytes: &[u8]) -> Frame<'_> {
    if bytes.len() < FRAME_HEADER_LEN {
        return Frame::Truncated;
    }
    let length: [u8; 4] = bytes[..4].try_into().expect("4 bytes");
    let payload_len = u32::from_le_bytes(length) as usize;
    if payload_len == 0 || payload_len > MAX_PAYLOAD_LEN {
        return Frame::Corrupt;
    }
    let Some(payload) = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload_len) else {
        return Frame::Truncated;
    };
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if crc != frame_crc(length, payload) {
        return Frame::Corrupt;
    }
    Frame::Record {
        payload,
        frame_len: FRAME_HEADER_LEN + payload_len,
    }
}

/// Appends `value` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `value` zigzag-encoded as a varint.
pub fn put_zigzag(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// A cursor over a record body; every read fails with [`BodyError`] rather than panicking.
#[derive(Debug)]
pub struct BodyReader<'a> {
    bytes: &'a [u8],
}

/// A record body that does not decode (only possible for a record whose CRC matched by
/// accident, or one written by a buggy build): counted as corrupt like a bad CRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub &'static str);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record body does not decode: {}", self.0)
    }
}

impl<'a> BodyReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BodyReader { bytes }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// An unsigned varint of at most 10 bytes.
    pub fn varint(&mut self) -> Result<u64, BodyError> {
        let mut value = 0u64;
        for (i, &byte) in self.bytes.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(BodyError("varint"))
    }

    /// A zigzag varint.
    pub fn zigzag(&mut self) -> Result<i64, BodyError> {
        let raw = self.varint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Eight bytes, little endian.
    pub fn u64_le(&mut self) -> Result<u64, BodyError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<8>()
            .ok_or(BodyError("8-byte value"))?;
        self.bytes = rest;
        Ok(u64::from_le_bytes(*head))
    }

    /// A varint length and that many bytes of UTF-8.
    pub fn string(&mut self) -> Result<&'a str, BodyError> {
        let len = usize::try_from(self.varint()?).map_err(|_| BodyError("string length"))?;
        if len > self.bytes.len() {
            return Err(BodyError("string length"));
        }
        let (text, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        std::str::from_utf8(text).map_err(|_| BodyError("string is not UTF-8"))
    }
}

/// One sample of a Samples record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalSample {
    /// The series' id within the segment (defined by an earlier Series record).
    pub id: u32,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value's bits (stale markers and NaN payloads kept exactly).
    pub value_bits: u64,
}

/// Appends the payload of a Series record to `out`.
pub fn encode_series<'l>(
    out: &mut Vec<u8>,
    id: u32,
    labels: impl ExactSizeIterator<Item = (&'l str, &'l str)>,
) {
    out.push(RECORD_SERIES);
    put_varint(out, u64::from(id));
    put_varint(out, labels.len() as u64);
    for (name, value) in labels {
        put_varint(out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        put_varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

/// The entries of one samples record being built (Samples or Extended samples): each entry
/// starts with the series id and its timestamp as a delta from the previous entry's.
#[derive(Debug, Default)]
struct EntryRun {
    body: Vec<u8>,
    count: u64,
    previous_timestamp: i64,
}

impl EntryRun {
    /// Starts an entry of series `id` at `timestamp`; returns the body for the rest of it.
    #[inline]
    fn start(&mut self, id: u32, timestamp: i64) -> &mut Vec<u8> {
        put_varint(&mut self.body, u64::from(id));
        put_zigzag(
            &mut self.body,
            timestamp.wrapping_sub(self.previous_timestamp),
        );
        self.previous_timestamp = timestamp;
        self.count += 1;
        &mut self.body
    }

    /// Appends the record's payload (`record_type`, count, entries) to `out` and starts a new
    /// record.
    fn finish_into(&mut self, record_type: u8, out: &mut Vec<u8>) {
        out.push(record_type);
        put_varint(out, self.count);
        out.extend_from_slice(&self.body);
        self.body.clear();
        self.count = 0;
        self.previous_timestamp = 0;
    }
}

/// Builds the payload of one Samples record sample by sample.
#[derive(Debug, Default)]
pub struct SamplesEncoder {
    run: EntryRun,
}

impl SamplesEncoder {
    /// Adds a sample.
    pub fn push(&mut self, sample: WalSample) {
        self.run
            .start(sample.id, sample.timestamp)
            .extend_from_slice(&sample.value_bits.to_le_bytes());
    }

    /// Samples added since the last [`SamplesEncoder::finish_into`].
    pub fn len(&self) -> u64 {
        self.run.count
    }

    /// Whether no sample was added since the last [`SamplesEncoder::finish_into`].
    pub fn is_empty(&self) -> bool {
        self.run.count == 0
    }

    /// Bytes of body so far.
    pub fn body_len(&self) -> usize {
        self.run.body.len()
    }

    /// Appends the record's payload (type, count, samples) to `out` and starts a new record.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        self.run.finish_into(RECORD_SAMPLES, out);
    }
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    /// A series definition: id and label pairs.
    Series {
        /// The id samples of this segment refer to.
        id: u32,
        /// (name, value) pairs in the order written.
        labels: Vec<(&'a str, &'a str)>,
    },
    /// A group of samples.
    Samples(SamplesIter<'a>),
}

/// The samples of a Samples record, decoded lazily.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplesIter<'a> {
    rest: &'a [u8],
    remaining: u64,
    previous_timestamp: i64,
}

impl SamplesIter<'_> {
    /// Samples the record declares.
    pub fn declared(&self) -> u64 {
        self.remaining
    }
}

impl Iterator for SamplesIter<'_> {
    type Item = Result<WalSample, BodyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let mut reader = BodyReader::new(self.rest);
        let sample = (|| {
            let id = u32::try_from(reader.varint()?).map_err(|_| BodyError("series id"))?;
            let timestamp = self.previous_timestamp.wrapping_add(reader.zigzag()?);
            let value_bits = reader.u64_le()?;
            Ok(WalSample {
                id,
                timestamp,
                value_bits,
            })
        })();
        match sample {
            Ok(sample) => {
                self.rest = reader.bytes;
                self.previous_timestamp = sample.timestamp;
                Some(Ok(sample))
            }
            Err(e) => {
                self.remaining = 0;
                Some(Err(e))
            }
        }
    }
}

/// Flag of an extended entry: a histogram (no float value is written).
const EXT_HISTOGRAM: u8 = 0x01;
/// Flag of an extended entry: a start timestamp follows.
const EXT_START: u8 = 0x02;
/// Flag of an extended entry: an exemplar follows.
const EXT_EXEMPLAR: u8 = 0x04;
/// Flag of an extended entry: the exemplar has its own timestamp.
const EXT_EXEMPLAR_TIMESTAMP: u8 = 0x08;
/// Flag of an extended entry: the histogram's counts are floats.
const EXT_FLOAT_COUNTS: u8 = 0x10;
/// Every flag this build knows; an entry with another bit set does not decode.
const EXT_KNOWN: u8 = 0x1f;

/// Appends `value`'s 8 bits, little endian.
fn put_f64(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_bits().to_le_bytes());
}

/// Appends a varint length and the UTF-8 bytes.
fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Appends a span list: the count, then per span the offset (zigzag) and the length.
fn put_spans(out: &mut Vec<u8>, spans: &[BucketSpan]) {
    put_varint(out, spans.len() as u64);
    for span in spans {
        put_zigzag(out, i64::from(span.offset));
        put_varint(out, u64::from(span.length));
    }
}

/// Appends every field of `histogram` (see docs/ARCHITECTURE.md for the layout).
fn put_histogram(out: &mut Vec<u8>, histogram: &Histogram) {
    put_zigzag(out, i64::from(histogram.schema));
    put_f64(out, histogram.zero_threshold);
    put_f64(out, histogram.sum);
    out.push(histogram.reset_hint.as_u8());
    match &histogram.counts {
        HistogramCounts::Integer {
            count, zero_count, ..
        } => {
            put_varint(out, *count);
            put_varint(out, *zero_count);
        }
        HistogramCounts::Float {
            count, zero_count, ..
        } => {
            put_f64(out, *count);
            put_f64(out, *zero_count);
        }
    }
    put_spans(out, &histogram.positive_spans);
    put_spans(out, &histogram.negative_spans);
    match &histogram.counts {
        HistogramCounts::Integer {
            positive_deltas,
            negative_deltas,
            ..
        } => {
            for deltas in [positive_deltas, negative_deltas] {
                put_varint(out, deltas.len() as u64);
                for &delta in deltas {
                    put_zigzag(out, delta);
                }
            }
        }
        HistogramCounts::Float {
            positive_counts,
            negative_counts,
            ..
        } => {
            for counts in [positive_counts, negative_counts] {
                put_varint(out, counts.len() as u64);
                for &count in counts {
                    put_f64(out, count);
                }
            }
        }
    }
    put_varint(out, histogram.custom_values.len() as u64);
    for &bound in &histogram.custom_values {
        put_f64(out, bound);
    }
}

/// An upper bound of the bytes [`ExtendedEncoder::push`] writes for `extra` (the append path
/// refuses an item whose entry could not fit a record).
pub fn extended_entry_bound(extra: &SampleExtra) -> usize {
    let mut bytes = 64;
    if let Some(histogram) = &extra.histogram {
        let buckets = match &histogram.counts {
            HistogramCounts::Integer {
                positive_deltas,
                negative_deltas,
                ..
            } => positive_deltas.len() + negative_deltas.len(),
            HistogramCounts::Float {
                positive_counts,
                negative_counts,
                ..
            } => positive_counts.len() + negative_counts.len(),
        };
        let spans = histogram.positive_spans.len() + histogram.negative_spans.len();
        bytes += 64 + 10 * buckets + 15 * spans + 8 * histogram.custom_values.len();
    }
    if let Some(exemplar) = &extra.exemplar {
        bytes += 32
            + exemplar
                .labels()
                .iter()
                .map(|l| 20 + l.name.len() + l.value.len())
                .sum::<usize>();
    }
    bytes
}

/// Builds the payload of one Extended samples record entry by entry: like
/// [`SamplesEncoder`], each entry tagged with what it carries besides a float.
#[derive(Debug, Default)]
pub struct ExtendedEncoder {
    run: EntryRun,
}

impl ExtendedEncoder {
    /// Adds an entry: `sample` (its `value_bits` unused for a histogram) and its `extra`.
    pub fn push(&mut self, sample: WalSample, extra: &SampleExtra) {
        let body = self.run.start(sample.id, sample.timestamp);
        let mut flags = 0;
        if let Some(histogram) = &extra.histogram {
            flags |= EXT_HISTOGRAM;
            if histogram.is_float() {
                flags |= EXT_FLOAT_COUNTS;
            }
        }
        if extra.start_ms != 0 {
            flags |= EXT_START;
        }
        if let Some(exemplar) = &extra.exemplar {
            flags |= EXT_EXEMPLAR;
            if exemplar.timestamp_ms.is_some() {
                flags |= EXT_EXEMPLAR_TIMESTAMP;
            }
        }
        body.push(flags);
        match &extra.histogram {
            None => body.extend_from_slice(&sample.value_bits.to_le_bytes()),
            Some(histogram) => put_histogram(body, histogram),
        }
        if extra.start_ms != 0 {
            put_zigzag(body, extra.start_ms.wrapping_sub(sample.timestamp));
        }
        if let Some(exemplar) = &extra.exemplar {
            put_varint(body, exemplar.labels().len() as u64);
            for label in exemplar.labels() {
                put_str(body, &label.name);
                put_str(body, &label.value);
            }
            put_f64(body, exemplar.value);
            if let Some(timestamp) = exemplar.timestamp_ms {
                put_zigzag(body, timestamp.wrapping_sub(sample.timestamp));
            }
        }
    }

    /// Entries added since the last [`ExtendedEncoder::finish_into`].
    pub fn len(&self) -> u64 {
        self.run.count
    }

    /// Whether no entry was added since the last [`ExtendedEncoder::finish_into`].
    pub fn is_empty(&self) -> bool {
        self.run.count == 0
    }

    /// Bytes of body so far.
    pub fn body_len(&self) -> usize {
        self.run.body.len()
    }

    /// Appends the record's payload (type, count, entries) to `out` and starts a new record.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        self.run.finish_into(RECORD_EXTENDED, out);
    }
}

/// Appends the payload of a Metadata record: the series id, the type, the help and the unit.
pub fn encode_metadata(out: &mut Vec<u8>, id: u32, metadata: &Metadata) {
    out.push(RECORD_METADATA);
    put_varint(out, u64::from(id));
    put_varint(out, metadata.kind.as_i32() as u64);
    put_str(out, &metadata.help);
    put_str(out, &metadata.unit);
}

impl BodyReader<'_> {
    /// One byte.
    fn byte(&mut self) -> Result<u8, BodyError> {
        let (&first, rest) = self.bytes.split_first().ok_or(BodyError("byte"))?;
        self.bytes = rest;
        Ok(first)
    }

    /// Eight bytes as an f64's bits.
    fn f64(&mut self) -> Result<f64, BodyError> {
        Ok(f64::from_bits(self.u64_le()?))
    }

    /// A count of items taking at least `min_bytes` each: more than the bytes left allow is
    /// corruption (so a damaged count never makes a huge allocation).
    fn count(&mut self, min_bytes: usize, what: &'static str) -> Result<usize, BodyError> {
        let count = self.varint()?;
        if count.saturating_mul(min_bytes as u64) > self.bytes.len() as u64 {
            return Err(BodyError(what));
        }
        Ok(count as usize)
    }

    fn spans(&mut self) -> Result<Vec<BucketSpan>, BodyError> {
        let count = self.count(2, "span count")?;
        let mut spans = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = i32::try_from(self.zigzag()?).map_err(|_| BodyError("span offset"))?;
            let length = u32::try_from(self.varint()?).map_err(|_| BodyError("span length"))?;
            spans.push(BucketSpan { offset, length });
        }
        Ok(spans)
    }

    fn deltas(&mut self) -> Result<Vec<i64>, BodyError> {
        let count = self.count(1, "bucket count")?;
        (0..count).map(|_| self.zigzag()).collect()
    }

    fn floats(&mut self, what: &'static str) -> Result<Vec<f64>, BodyError> {
        let count = self.count(8, what)?;
        (0..count).map(|_| self.f64()).collect()
    }

    fn histogram(&mut self, float: bool) -> Result<Histogram, BodyError> {
        let schema = i32::try_from(self.zigzag()?).map_err(|_| BodyError("schema"))?;
        let zero_threshold = self.f64()?;
        let sum = self.f64()?;
        let reset_hint = ResetHint::from_u8(self.byte()?).ok_or(BodyError("reset hint"))?;
        let (count_i, zero_i, count_f, zero_f) = if float {
            (0, 0, self.f64()?, self.f64()?)
        } else {
            (self.varint()?, self.varint()?, 0.0, 0.0)
        };
        let positive_spans = self.spans()?;
        let negative_spans = self.spans()?;
        let counts = if float {
            HistogramCounts::Float {
                count: count_f,
                zero_count: zero_f,
                positive_counts: self.floats("bucket count")?,
                negative_counts: self.floats("bucket count")?,
            }
        } else {
            HistogramCounts::Integer {
                count: count_i,
                zero_count: zero_i,
                positive_deltas: self.deltas()?,
                negative_deltas: self.deltas()?,
            }
        };
        let custom_values = self.floats("custom value count")?;
        Ok(Histogram {
            schema,
            zero_threshold,
            sum,
            counts,
            positive_spans,
            negative_spans,
            reset_hint,
            custom_values,
        })
    }
}

/// The entries of an Extended samples record, decoded lazily: each the sample part
/// (`value_bits` 0 for a histogram) and the extra part.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtendedIter<'a> {
    rest: &'a [u8],
    remaining: u64,
    previous_timestamp: i64,
}

impl ExtendedIter<'_> {
    /// Entries the record declares.
    pub fn declared(&self) -> u64 {
        self.remaining
    }

    fn entry(&self, reader: &mut BodyReader<'_>) -> Result<(WalSample, SampleExtra), BodyError> {
        let id = u32::try_from(reader.varint()?).map_err(|_| BodyError("series id"))?;
        let timestamp = self.previous_timestamp.wrapping_add(reader.zigzag()?);
        let flags = reader.byte()?;
        if flags & !EXT_KNOWN != 0
            || (flags & EXT_FLOAT_COUNTS != 0 && flags & EXT_HISTOGRAM == 0)
            || (flags & EXT_EXEMPLAR_TIMESTAMP != 0 && flags & EXT_EXEMPLAR == 0)
        {
            return Err(BodyError("entry flags"));
        }
        let mut extra = SampleExtra::default();
        let mut value_bits = 0;
        if flags & EXT_HISTOGRAM != 0 {
            extra.histogram = Some(reader.histogram(flags & EXT_FLOAT_COUNTS != 0)?);
        } else {
            value_bits = reader.u64_le()?;
        }
        if flags & EXT_START != 0 {
            extra.start_ms = timestamp.wrapping_add(reader.zigzag()?);
            if extra.start_ms == 0 {
                return Err(BodyError("start timestamp"));
            }
        }
        if flags & EXT_EXEMPLAR != 0 {
            let count = reader.count(2, "exemplar label count")?;
            let mut labels = Vec::with_capacity(count);
            for _ in 0..count {
                let name = reader.string()?;
                let value = reader.string()?;
                labels.push(Label::new(name, value));
            }
            let value = reader.f64()?;
            let own = if flags & EXT_EXEMPLAR_TIMESTAMP != 0 {
                Some(timestamp.wrapping_add(reader.zigzag()?))
            } else {
                None
            };
            extra.exemplar =
                Some(Exemplar::new(labels, value, own).map_err(|_| BodyError("exemplar labels"))?);
        }
        Ok((
            WalSample {
                id,
                timestamp,
                value_bits,
            },
            extra,
        ))
    }
}

impl Iterator for ExtendedIter<'_> {
    type Item = Result<(WalSample, SampleExtra), BodyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let mut reader = BodyReader::new(self.rest);
        match self.entry(&mut reader) {
            Ok(entry) => {
                self.rest = reader.bytes;
                self.previous_timestamp = entry.0.timestamp;
                Some(Ok(entry))
            }
            Err(e) => {
                self.remaining = 0;
                Some(Err(e))
            }
        }
    }
}

/// A decoded record of any type this build reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<'a> {
    /// A Series or a Samples record.
    Record(Record<'a>),
    /// An Extended samples record.
    Extended(ExtendedIter<'a>),
    /// A Metadata record: the series id (as for samples) and its metadata.
    Metadata {
        /// The series' id within the segment.
        id: u32,
        /// Its type, help and unit.
        metadata: Metadata,
    },
}

impl Decoded<'_> {
    /// Sample-like entries the record holds (Samples and Extended samples records).
    pub fn items(&self) -> u64 {
        match self {
            Decoded::Record(Record::Samples(samples)) => samples.declared(),
            Decoded::Extended(entries) => entries.declared(),
            _ => 0,
        }
    }
}

/// Decodes a record payload (type byte first). The entries of a Samples or Extended samples
/// record are checked when iterated; [`decode_record_checked`] checks them all. An unknown
/// record type is an error here; [`crate::wal::segment::scan_segment`] and the reader tell it
/// apart from damage (its frame checks) and stop there.
pub fn decode_record(payload: &[u8]) -> Result<Decoded<'_>, BodyError> {
    let (&kind, body) = payload.split_first().ok_or(BodyError("empty payload"))?;
    let mut reader = BodyReader::new(body);
    match kind {
        RECORD_SERIES => {
            let id = u32::try_from(reader.varint()?).map_err(|_| BodyError("series id"))?;
            let count = reader.varint()?;
            // Each label takes at least two bytes: a count above that is corruption.
            if count > body.len() as u64 {
                return Err(BodyError("label count"));
            }
            let mut labels = Vec::with_capacity(count as usize);
            for _ in 0..count {
                labels.push((reader.string()?, reader.string()?));
            }
            if !reader.is_empty() {
                return Err(BodyError("bytes after the labels"));
            }
            Ok(Decoded::Record(Record::Series { id, labels }))
        }
        RECORD_SAMPLES => {
            let count = reader.varint()?;
            // Each sample takes at least ten bytes.
            if count.saturating_mul(10) > reader.bytes.len() as u64 {
                return Err(BodyError("sample count"));
            }
            Ok(Decoded::Record(Record::Samples(SamplesIter {
                rest: reader.bytes,
                remaining: count,
                previous_timestamp: 0,
            })))
        }
        RECORD_EXTENDED => {
            let count = reader.varint()?;
            // Each entry takes at least eleven bytes (a float with no more than its flags).
            if count.saturating_mul(11) > reader.bytes.len() as u64 {
                return Err(BodyError("entry count"));
            }
            Ok(Decoded::Extended(ExtendedIter {
                rest: reader.bytes,
                remaining: count,
                previous_timestamp: 0,
            }))
        }
        RECORD_METADATA => {
            let id = u32::try_from(reader.varint()?).map_err(|_| BodyError("series id"))?;
            let kind = i32::try_from(reader.varint()?)
                .ok()
                .and_then(MetricType::from_i32)
                .ok_or(BodyError("metric type"))?;
            let help = reader.string()?.to_string();
            let unit = reader.string()?.to_string();
            if !reader.is_empty() {
                return Err(BodyError("bytes after the metadata"));
            }
            Ok(Decoded::Metadata {
                id,
                metadata: Metadata { kind, help, unit },
            })
        }
        _ => Err(BodyError("unknown record type")),
    }
}

/// Decodes a record and checks every entry of a Samples or Extended samples record (and that
/// no byte is left over), so that a record that passes is safe to hand on.
pub fn decode_record_checked(payload: &[u8]) -> Result<Decoded<'_>, BodyError> {
    let record = decode_record(payload)?;
    match &record {
        Decoded::Record(Record::Samples(samples)) => {
            let mut check = samples.clone();
            for sample in check.by_ref() {
                sample?;
            }
            if !check.rest.is_empty() {
                return Err(BodyError("bytes after the samples"));
            }
        }
        Decoded::Extended(entries) => {
            let mut check = entries.clone();
            for entry in check.by_ref() {
                entry?;
            }
            if !check.rest.is_empty() {
                return Err(BodyError("bytes after the entries"));
            }
        }
        _ => {}
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN_BITS;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, payload);
        out
    }

    #[test]
    fn series_records_round_trip() {
        let mut payload = Vec::new();
        let labels = [("__name__", "up"), ("job", "démo"), ("empty_ok", "x")];
        encode_series(&mut payload, 70_000, labels.iter().copied());
        let bytes = framed(&payload);
        let Frame::Record { payload, frame_len } = read_frame(&bytes) else {
            panic!("frame does not read back");
        };
        assert_eq!(frame_len, bytes.len());
        let Decoded::Record(Record::Series { id, labels: read }) =
            decode_record_checked(payload).unwrap()
        else {
            panic!("not a series record");
        };
        assert_eq!(id, 70_000);
        assert_eq!(read, labels);
    }

    #[test]
    fn samples_keep_every_bit_and_timestamps_in_both_directions() {
        let values = [
            STALE_NAN_BITS,
            f64::NAN.to_bits() | 0x1234,
            (-0.0f64).to_bits(),
            f64::INFINITY.to_bits(),
            1.5f64.to_bits(),
        ];
        let timestamps = [i64::MIN, i64::MAX, 0, -5, 1_700_000_000_000];
        let mut encoder = SamplesEncoder::default();
        let written: Vec<WalSample> = values
            .iter()
            .zip(timestamps)
            .enumerate()
            .map(|(i, (&value_bits, timestamp))| WalSample {
                id: i as u32 * 1000,
                timestamp,
                value_bits,
            })
            .collect();
        for &sample in &written {
            encoder.push(sample);
        }
        assert_eq!(encoder.len(), 5);
        let mut payload = Vec::new();
        encoder.finish_into(&mut payload);
        assert!(encoder.is_empty());
        let Decoded::Record(Record::Samples(samples)) = decode_record_checked(&payload).unwrap()
        else {
            panic!("not a samples record");
        };
        let read: Vec<WalSample> = samples.map(Result::unwrap).collect();
        assert_eq!(read, written);
    }

    #[test]
    fn w1_like_samples_take_about_eleven_bytes() {
        let mut encoder = SamplesEncoder::default();
        for id in 0..10_000u32 {
            encoder.push(WalSample {
                id,
                timestamp: 1_700_000_000_000,
                value_bits: (id as f64).to_bits(),
            });
        }
        let mut payload = Vec::new();
        encoder.finish_into(&mut payload);
        let per_sample = payload.len() as f64 / 10_000.0;
        assert!(
            (10.0..12.0).contains(&per_sample),
            "{per_sample} bytes per sample"
        );
    }

    #[test]
    fn damaged_frames_are_truncated_or_corrupt_never_a_record() {
        let mut payload = Vec::new();
        encode_series(&mut payload, 1, [("a", "b")].into_iter());
        let bytes = framed(&payload);
        for cut in 0..bytes.len() {
            assert_eq!(read_frame(&bytes[..cut]), Frame::Truncated, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    !matches!(read_frame(&damaged), Frame::Record { .. }),
                    "flip of bit {bit} of byte {i} read as a record"
                );
            }
        }
        let mut zero_length = bytes.clone();
        zero_length[..4].fill(0);
        assert_eq!(read_frame(&zero_length), Frame::Corrupt);
    }

    #[test]
    fn bodies_that_lie_about_their_counts_are_errors() {
        assert!(decode_record(&[RECORD_SAMPLES, 0xff, 0xff, 0x7f]).is_err());
        assert!(decode_record(&[RECORD_SERIES, 1, 0xff, 0x7f]).is_err());
        assert!(decode_record(&[9]).is_err());
        assert!(decode_record(&[]).is_err());
        let mut payload = Vec::new();
        let mut encoder = SamplesEncoder::default();
        encoder.push(WalSample {
            id: 1,
            timestamp: 2,
            value_bits: 3,
        });
        encoder.finish_into(&mut payload);
        payload.push(0);
        assert!(decode_record_checked(&payload).is_err(), "trailing byte");
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(check_segment_header(&segment_header()), Ok(()));
        assert_eq!(check_segment_header(b"PROMRWAL"), Err(HeaderError::Short));
        let mut other = segment_header();
        other[8] = 2;
        assert_eq!(
            check_segment_header(&other),
            Err(HeaderError::UnknownVersion(2))
        );
        other[0] = b'X';
        assert_eq!(check_segment_header(&other), Err(HeaderError::BadMagic));
    }

    fn integer_histogram() -> Histogram {
        Histogram {
            schema: -4,
            zero_threshold: 1e-128,
            sum: -12.5,
            counts: HistogramCounts::Integer {
                count: u64::MAX,
                zero_count: 3,
                positive_deltas: vec![5, -3, i64::MIN, i64::MAX, 0],
                negative_deltas: vec![-1],
            },
            positive_spans: vec![
                BucketSpan {
                    offset: i32::MIN,
                    length: 2,
                },
                BucketSpan {
                    offset: 7,
                    length: u32::MAX,
                },
            ],
            negative_spans: vec![BucketSpan {
                offset: -3,
                length: 1,
            }],
            reset_hint: ResetHint::Gauge,
            custom_values: Vec::new(),
        }
    }

    fn float_histogram() -> Histogram {
        Histogram {
            schema: crate::model::CUSTOM_BUCKETS_SCHEMA,
            zero_threshold: 0.0,
            sum: f64::from_bits(f64::NAN.to_bits() | 0x55),
            counts: HistogramCounts::Float {
                count: 7.25,
                zero_count: -0.0,
                positive_counts: vec![1.5, f64::INFINITY, f64::from_bits(STALE_NAN_BITS)],
                negative_counts: Vec::new(),
            },
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 3,
            }],
            negative_spans: Vec::new(),
            reset_hint: ResetHint::Yes,
            custom_values: vec![0.1, 0.5, 1e300],
        }
    }

    /// Bit-exact comparison of extra parts (NaNs compare unequal with `==`).
    fn bits(extra: &SampleExtra) -> String {
        fn f(value: f64) -> String {
            format!("{:#x}", value.to_bits())
        }
        let histogram = extra.histogram.as_ref().map(|h| {
            let counts = match &h.counts {
                HistogramCounts::Integer {
                    count,
                    zero_count,
                    positive_deltas,
                    negative_deltas,
                } => format!("int {count} {zero_count} {positive_deltas:?} {negative_deltas:?}"),
                HistogramCounts::Float {
                    count,
                    zero_count,
                    positive_counts,
                    negative_counts,
                } => format!(
                    "float {} {} {:?} {:?}",
                    f(*count),
                    f(*zero_count),
                    positive_counts.iter().map(|v| f(*v)).collect::<Vec<_>>(),
                    negative_counts.iter().map(|v| f(*v)).collect::<Vec<_>>()
                ),
            };
            format!(
                "{} {} {} {counts} {:?} {:?} {:?} {:?}",
                h.schema,
                f(h.zero_threshold),
                f(h.sum),
                h.positive_spans,
                h.negative_spans,
                h.reset_hint,
                h.custom_values.iter().map(|v| f(*v)).collect::<Vec<_>>()
            )
        });
        let exemplar = extra
            .exemplar
            .as_ref()
            .map(|e| format!("{:?} {} {:?}", e.labels(), f(e.value), e.timestamp_ms));
        format!("{} {histogram:?} {exemplar:?}", extra.start_ms)
    }

    fn extended_entries() -> Vec<(WalSample, SampleExtra)> {
        let exemplar = |labels: Vec<Label>, ts| Exemplar::new(labels, 0.25, ts).unwrap();
        let sample = |id, timestamp, value_bits| WalSample {
            id,
            timestamp,
            value_bits,
        };
        vec![
            // A float with a start timestamp only.
            (
                sample(3, 1_700_000_000_000, STALE_NAN_BITS),
                SampleExtra {
                    start_ms: 1_600_000_000_000,
                    ..SampleExtra::default()
                },
            ),
            // A float with an exemplar without labels or timestamp, and a negative start.
            (
                sample(70_000, -5, (f64::NAN.to_bits()) | 0x77),
                SampleExtra {
                    start_ms: i64::MIN,
                    histogram: None,
                    exemplar: Some(exemplar(Vec::new(), None)),
                },
            ),
            // An integer histogram with an exemplar with labels and its own timestamp.
            (
                sample(0, i64::MAX, 0),
                SampleExtra {
                    start_ms: 0,
                    histogram: Some(integer_histogram()),
                    exemplar: Some(exemplar(
                        vec![Label::new("trace_id", "abc"), Label::new("span", "dé")],
                        Some(i64::MIN),
                    )),
                },
            ),
            // A float histogram with custom buckets and a start timestamp.
            (
                sample(9, i64::MIN, 0),
                SampleExtra {
                    start_ms: 42,
                    histogram: Some(float_histogram()),
                    exemplar: None,
                },
            ),
            // A stale histogram.
            (
                sample(9, 0, 0),
                SampleExtra {
                    histogram: Some(Histogram::stale()),
                    ..SampleExtra::default()
                },
            ),
        ]
    }

    fn extended_payload(entries: &[(WalSample, SampleExtra)]) -> Vec<u8> {
        let mut encoder = ExtendedEncoder::default();
        for (sample, extra) in entries {
            encoder.push(*sample, extra);
            assert!(encoder.body_len() < extended_entry_bound(extra) * encoder.len() as usize);
        }
        assert_eq!(encoder.len(), entries.len() as u64);
        let mut payload = Vec::new();
        encoder.finish_into(&mut payload);
        assert!(encoder.is_empty());
        payload
    }

    #[test]
    fn extended_entries_round_trip_every_field_bit_for_bit() {
        let written = extended_entries();
        let payload = extended_payload(&written);
        assert_eq!(payload[0], RECORD_EXTENDED);
        let Decoded::Extended(entries) = decode_record_checked(&payload).unwrap() else {
            panic!("not an extended record");
        };
        assert_eq!(entries.declared(), written.len() as u64);
        let read: Vec<(WalSample, SampleExtra)> = entries.map(Result::unwrap).collect();
        assert_eq!(read.len(), written.len());
        for ((sample, extra), (want_sample, want_extra)) in read.iter().zip(&written) {
            assert_eq!(sample, want_sample);
            assert_eq!(bits(extra), bits(want_extra));
        }
        assert!(read[4].1.histogram.as_ref().unwrap().is_stale());
    }

    #[test]
    fn metadata_records_round_trip() {
        for (kind, help, unit) in [
            (
                MetricType::Counter,
                "Requests served, in total.",
                "requests",
            ),
            (MetricType::StateSet, "", ""),
            (MetricType::Unknown, "ünïcode help", "seconds"),
        ] {
            let metadata = Metadata {
                kind,
                help: help.to_string(),
                unit: unit.to_string(),
            };
            let mut payload = Vec::new();
            encode_metadata(&mut payload, 123_456, &metadata);
            let bytes = framed(&payload);
            let Frame::Record { payload, .. } = read_frame(&bytes) else {
                panic!("frame does not read back");
            };
            assert_eq!(
                decode_record_checked(payload).unwrap(),
                Decoded::Metadata {
                    id: 123_456,
                    metadata
                }
            );
        }
        // An unknown metric type, a truncated body or a trailing byte do not decode.
        assert!(decode_record(&[RECORD_METADATA, 1, 8, 0, 0]).is_err());
        assert!(decode_record(&[RECORD_METADATA, 1, 1, 5, b'a']).is_err());
        assert!(decode_record(&[RECORD_METADATA, 1, 1, 0, 0, 0]).is_err());
    }

    #[test]
    fn damaged_extended_records_are_caught_by_the_crc_and_the_decoder() {
        let payload = extended_payload(&extended_entries());
        let bytes = framed(&payload);
        for cut in 0..bytes.len() {
            assert_eq!(read_frame(&bytes[..cut]), Frame::Truncated, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(
                !matches!(read_frame(&damaged), Frame::Record { .. }),
                "flip in byte {i} read as a record"
            );
        }
        // A body cut short (with a frame whose CRC matches, as a buggy build would write),
        // or with a byte too many, or with unknown flags, does not decode.
        for cut in 1..payload.len() {
            assert!(
                decode_record_checked(&payload[..cut]).is_err(),
                "body cut at {cut} decodes"
            );
        }
        let mut trailing = payload.clone();
        trailing.push(0);
        assert!(decode_record_checked(&trailing).is_err());
        // [type, count 1, id 1, ts 0, flags with an unknown bit, value bits]
        let mut unknown_flag = vec![RECORD_EXTENDED, 1, 1, 0, 0x20];
        unknown_flag.extend_from_slice(&[0; 8]);
        assert!(decode_record_checked(&unknown_flag).is_err());
        let mut plain = vec![RECORD_EXTENDED, 1, 1, 0, 0];
        plain.extend_from_slice(&1.5f64.to_bits().to_le_bytes());
        assert!(decode_record_checked(&plain).is_ok());
        // A count the bytes cannot hold is refused before anything is allocated.
        assert!(decode_record(&[RECORD_EXTENDED, 0xff, 0xff, 0x7f, 0]).is_err());
    }

    #[test]
    fn record_types_known_to_this_build() {
        for kind in [
            RECORD_SERIES,
            RECORD_SAMPLES,
            RECORD_EXTENDED,
            RECORD_METADATA,
        ] {
            assert!(is_known_record_type(kind));
        }
        assert!(!is_known_record_type(0));
        assert!(!is_known_record_type(5));
    }
}
