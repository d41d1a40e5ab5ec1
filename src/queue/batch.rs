//! Turning a batch of queued items into a compressed Remote Write request body, 1.0 or 2.0:
//! the items of one series share one `TimeSeries` (two in 2.0 when it has samples and
//! histograms), in the order they were queued.
//!
//! A batch whose body would exceed `promrw.max_request_bytes` is split first
//! ([`BatchEncoder::split`]) into parts sent one after the other; the buffers are reused from
//! request to request and shrunk when a spike left them far larger than recent requests need.

use super::series_cache::{BatchSample, NO_EXTRA, SeriesCache};
use super::series_symbols::SeriesSymbols;
use crate::config::ProtobufMessage;
use crate::model::{CUSTOM_BUCKETS_SCHEMA, Exemplar, Histogram, SampleExtra};
use crate::wire::rw2::{Rw2Encoder, Rw2Exemplar, Rw2Histogram, Rw2Sample};
use crate::wire::{rw1, snappy_compress};

/// A batch's series and the extra parts of its items.
#[derive(Clone, Copy)]
pub struct BatchView<'a> {
    /// The shard's series cache, which resolved the batch.
    pub cache: &'a SeriesCache,
    /// The extra parts of the batch's items, indexed by [`BatchSample::extra`].
    pub extras: &'a [Box<SampleExtra>],
    /// The longest help and unit text of any metadata the endpoint was given (for bounding
    /// 2.0 bodies).
    pub max_metadata_text: usize,
    /// Whether any series of the endpoint may have metadata; when false, the encoders do not
    /// look it up (it takes a lock per series).
    pub metadata_set: bool,
    /// A series was released within the batch: it may hold the released series and a new
    /// one with the same labels under another slot, so series go in the order of their first
    /// sample rather than slot order (the receiver must see the released one's samples, all
    /// older, first).
    pub release_in_batch: bool,
}

impl<'a> BatchView<'a> {
    /// A view of a batch without extras (tests, plain batches).
    pub fn plain(cache: &'a SeriesCache) -> BatchView<'a> {
        BatchView {
            cache,
            extras: &[],
            max_metadata_text: 0,
            metadata_set: true,
            release_in_batch: false,
        }
    }

    /// The extra part of `sample`, if any.
    pub fn extra(&self, sample: &BatchSample) -> Option<&'a SampleExtra> {
        if sample.extra == NO_EXTRA {
            None
        } else {
            Some(&self.extras[sample.extra as usize])
        }
    }
}

/// What one encoded body carries, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodedCounts {
    /// Float samples.
    pub samples: u64,
    /// Native histograms.
    pub histograms: u64,
    /// Exemplars.
    pub exemplars: u64,
    /// Histograms with custom buckets left out of a 1.0 body (1.0 cannot carry them).
    pub nhcb_skipped: u64,
    /// Exemplars of those histograms, left out with them.
    pub nhcb_exemplars_skipped: u64,
}

/// Upper bound of the bytes a 2.0 body adds per series beyond 1.0's label bytes: refs up to
/// 4 bytes longer per label than 1.0's keys (a label is at least 8 bytes, so half the label
/// bytes more), the packed field's and the metadata's keys and lengths.
fn v2_series_bound(labels_len: u64, metadata_text: u64) -> u64 {
    labels_len
        .saturating_add(labels_len / 2)
        .saturating_add(32)
        .saturating_add(metadata_text)
}

/// Upper bound of the bytes one item adds to a body, either protocol.
fn item_bound(sample: &BatchSample, extra: Option<&SampleExtra>) -> u64 {
    let Some(extra) = extra else {
        return rw1::MAX_SAMPLE_ENTRY_LEN;
    };
    let mut len = match &extra.histogram {
        Some(histogram) => {
            (rw1::histogram_fields_len(histogram, sample.timestamp) as u64).saturating_add(24)
        }
        None => rw1::MAX_SAMPLE_ENTRY_LEN,
    };
    len = len.saturating_add(12);
    if let Some(exemplar) = &extra.exemplar {
        let ts = exemplar.timestamp_ms.unwrap_or(sample.timestamp);
        len = len.saturating_add(rw1::exemplar_entry_len(exemplar, ts).saturating_mul(2));
    }
    len
}

/// Requests per window of the buffers' high-water mark: the mark is the largest body of the
/// current and the previous window (the last 16 to 32 requests).
const SHRINK_WINDOW: u32 = 16;
/// Buffers at or below this capacity are never shrunk.
const SHRINK_FLOOR: usize = 1 << 20;

/// Reusable buffers for encoding batches; one per shard.
pub struct BatchEncoder {
    order: Vec<(u32, u32)>,
    raw: Vec<u8>,
    /// The 2.0 request encoder (its own buffers).
    rw2: Rw2Encoder,
    /// The label symbols of the series this encoder has sent in 2.0, kept between requests.
    series_symbols: SeriesSymbols,
    /// Length of the last uncompressed body, either protocol.
    raw_len: usize,
    /// What the last body carries.
    counts: EncodedCounts,
    compressed: Vec<u8>,
    compressed_len: usize,
    snappy: snap::raw::Encoder,
    /// Largest raw body in the current window of [`SHRINK_WINDOW`] requests.
    window_peak: usize,
    /// Largest raw body in the previous window.
    previous_peak: usize,
    /// Requests encoded in the current window.
    window_requests: u32,
}

impl Default for BatchEncoder {
    fn default() -> Self {
        BatchEncoder {
            order: Vec::new(),
            raw: Vec::new(),
            rw2: Rw2Encoder::new(),
            series_symbols: SeriesSymbols::new(),
            raw_len: 0,
            counts: EncodedCounts::default(),
            compressed: Vec::new(),
            compressed_len: 0,
            snappy: snap::raw::Encoder::new(),
            window_peak: 0,
            previous_peak: 0,
            window_requests: 0,
        }
    }
}

/// A batch cut into requests that each fit `max_request_bytes`.
#[derive(Debug, Default)]
pub(crate) struct Split {
    /// The requests, to send in this order: a series' samples are spread over them in queue
    /// order.
    pub parts: Vec<Vec<BatchSample>>,
    /// Samples that do not fit even alone (one sample and its series' labels): never sent.
    pub too_large: Vec<BatchSample>,
}

/// `buffer`'s capacity is given back when it is above [`SHRINK_FLOOR`] and over four times
/// `needed`; it keeps twice `needed` (and at least its length).
fn shrink(buffer: &mut Vec<u8>, needed: usize) {
    if buffer.capacity() > SHRINK_FLOOR && buffer.capacity() / 4 > needed {
        buffer.shrink_to(needed.saturating_mul(2));
    }
}

impl BatchEncoder {
    /// Sorts the batch's samples by series into `order` (`(cache slot, index in batch)`), so
    /// that each series' samples are consecutive and in queue order. Series go in slot order,
    /// or with `by_first_sample` in the order of their first sample in the batch.
    fn group(&mut self, batch: &[BatchSample], by_first_sample: bool) {
        self.order.clear();
        self.order
            .extend(batch.iter().enumerate().map(|(i, s)| (s.slot, i as u32)));
        // Usually every series of a batch is distinct and already in slot order; sort only when not.
        if !self.order.is_sorted() {
            self.order.sort_unstable();
            if by_first_sample {
                self.order_by_first_sample();
            }
        }
    }

    /// Reorders the series of `order` (sorted by slot) by the index of their first sample.
    #[cold]
    fn order_by_first_sample(&mut self) {
        // (first index, start in order, end in order) of each series.
        let mut runs: Vec<(u32, usize, usize)> = Vec::new();
        let mut start = 0;
        while start < self.order.len() {
            let slot = self.order[start].0;
            let end = start
                + self.order[start..]
                    .iter()
                    .take_while(|(s, _)| *s == slot)
                    .count();
            runs.push((self.order[start].1, start, end));
            start = end;
        }
        runs.sort_unstable();
        let reordered: Vec<(u32, u32)> = runs
            .iter()
            .flat_map(|&(_, start, end)| self.order[start..end].iter().copied())
            .collect();
        self.order = reordered;
    }

    /// Cuts `batch` into requests whose uncompressed bodies fit `max_bytes`, or `None` when
    /// it fits whole (`batch` is then left as it is; otherwise it is emptied into the split).
    /// Series are packed whole while they fit; a series that does not fit in the rest of a
    /// request has its first samples there and the others in the next ones, so each series'
    /// samples stay in queue order across the requests. A sample that does not fit even in an
    /// empty request is put in [`Split::too_large`]. Sizes are computed with saturating
    /// arithmetic, so no batch is too big to be measured.
    pub(crate) fn split(
        &mut self,
        batch: &mut Vec<BatchSample>,
        view: &BatchView<'_>,
        protocol: ProtobufMessage,
        max_bytes: usize,
    ) -> Option<Split> {
        let cap = max_bytes as u64;
        let cache = view.cache;
        let v2 = protocol == ProtobufMessage::V2;
        let plain = view.extras.is_empty();
        let metadata_text = view.max_metadata_text as u64;
        // The label bytes of a series as the body's size bound counts them.
        let series_len = |labels: u64| {
            if v2 {
                v2_series_bound(labels, metadata_text)
            } else {
                labels
            }
        };
        // The bytes of one item as the bound counts them: exact for a plain 1.0 sample.
        let item_len = |sample: &BatchSample| match view.extra(sample) {
            None if !v2 => rw1::sample_entry_len(sample.timestamp),
            extra => item_bound(sample, extra),
        };
        if plain {
            // Every sample as a series of its own, with the longest labels cached: an upper
            // bound of the body, so the usual batch is not measured series by series.
            let bound = series_len(cache.max_labels_len() as u64)
                .saturating_add(rw1::MAX_SERIES_OVERHEAD + rw1::MAX_SAMPLE_ENTRY_LEN)
                .saturating_mul(batch.len() as u64);
            if bound <= cap {
                return None;
            }
        }
        self.group(batch, view.release_in_batch);
        let mut total = 0u64;
        let mut start = 0;
        while start < self.order.len() {
            let end = self.run_end(start);
            let labels =
                series_len(cache.series(self.order[start].0).encoded_labels().len() as u64);
            let samples = self.order[start..end]
                .iter()
                .map(|&(_, i)| item_len(&batch[i as usize]))
                .fold(0, u64::saturating_add);
            total = total.saturating_add(rw1::series_entry_len(labels, samples));
            start = end;
        }
        if total <= cap {
            return None;
        }
        let mut split = Split::default();
        let mut part: Vec<BatchSample> = Vec::new();
        let mut part_len = 0u64;
        let mut start = 0;
        while start < self.order.len() {
            let end = self.run_end(start);
            let labels =
                series_len(cache.series(self.order[start].0).encoded_labels().len() as u64);
            // Bytes of this series' samples in the current part, and of its entry.
            let mut in_part = 0u64;
            for &(_, i) in &self.order[start..end] {
                let sample = batch[i as usize];
                let entry = item_len(&sample);
                loop {
                    let before = if in_part == 0 {
                        0
                    } else {
                        rw1::series_entry_len(labels, in_part)
                    };
                    let after = rw1::series_entry_len(labels, in_part.saturating_add(entry));
                    let grown = (part_len - before).saturating_add(after);
                    if grown <= cap {
                        part.push(sample);
                        part_len = grown;
                        in_part += entry;
                        break;
                    }
                    if part.is_empty() {
                        split.too_large.push(sample);
                        break;
                    }
                    split.parts.push(std::mem::take(&mut part));
                    part_len = 0;
                    in_part = 0;
                }
            }
            start = end;
        }
        if !part.is_empty() {
            split.parts.push(part);
        }
        batch.clear();
        Some(split)
    }

    /// The end of the run of one series' samples in `order` that starts at `start`.
    fn run_end(&self, start: usize) -> usize {
        let id = self.order[start].0;
        self.order[start..]
            .iter()
            .position(|(other, _)| *other != id)
            .map_or(self.order.len(), |n| start + n)
    }

    /// Encodes and compresses `batch` as `protocol`; the body stays valid until the next
    /// call, and [`BatchEncoder::counts`] says what it carries.
    pub fn encode(
        &mut self,
        batch: &[BatchSample],
        view: &BatchView<'_>,
        protocol: ProtobufMessage,
    ) -> &[u8] {
        self.group(batch, view.release_in_batch);
        self.counts = EncodedCounts::default();
        match protocol {
            ProtobufMessage::V1 => self.encode_v1(batch, view),
            ProtobufMessage::V2 => self.encode_v2(batch, view),
        }
        let raw: &[u8] = match protocol {
            ProtobufMessage::V1 => &self.raw,
            ProtobufMessage::V2 => self.rw2.finish(),
        };
        self.raw_len = raw.len();
        self.compressed_len = snappy_compress(&mut self.snappy, raw, &mut self.compressed);
        self.shrink_after_spike();
        &self.compressed[..self.compressed_len]
    }

    /// The 1.0 body of the grouped batch into `raw`.
    fn encode_v1(&mut self, batch: &[BatchSample], view: &BatchView<'_>) {
        self.raw.clear();
        let mut start = 0;
        while start < self.order.len() {
            let id = self.order[start].0;
            let end = self.run_end(start);
            let run = &self.order[start..end];
            let series = view.cache.series(id);
            let plain = view.extras.is_empty()
                || run
                    .iter()
                    .all(|(_, i)| batch[*i as usize].extra == NO_EXTRA);
            if plain {
                rw1::append_series(
                    &mut self.raw,
                    series.encoded_labels(),
                    run.iter().map(|(_, i)| {
                        let sample = &batch[*i as usize];
                        (sample.timestamp, sample.value)
                    }),
                );
                self.counts.samples += run.len() as u64;
            } else {
                let mut samples: Vec<(i64, f64)> = Vec::with_capacity(run.len());
                let mut exemplars: Vec<(&Exemplar, i64)> = Vec::new();
                let mut histograms: Vec<(&Histogram, i64)> = Vec::new();
                for (_, i) in run {
                    let sample = &batch[*i as usize];
                    let extra = view.extra(sample);
                    let exemplar = extra.and_then(|e| e.exemplar.as_ref());
                    match extra.and_then(|e| e.histogram.as_ref()) {
                        // 1.0 cannot carry custom buckets: left out with its exemplar.
                        Some(histogram) if histogram.schema == CUSTOM_BUCKETS_SCHEMA => {
                            self.counts.nhcb_skipped += 1;
                            if exemplar.is_some() {
                                self.counts.nhcb_exemplars_skipped += 1;
                            }
                            continue;
                        }
                        Some(histogram) => histograms.push((histogram, sample.timestamp)),
                        None => samples.push((sample.timestamp, sample.value)),
                    }
                    if let Some(exemplar) = exemplar {
                        let ts = exemplar.timestamp_ms.unwrap_or(sample.timestamp);
                        exemplars.push((exemplar, ts));
                    }
                }
                if samples.is_empty() && histograms.is_empty() {
                    start = end;
                    continue;
                }
                rw1::append_series_full(
                    &mut self.raw,
                    series.encoded_labels(),
                    samples.iter().copied(),
                    &exemplars,
                    &histograms,
                );
                self.counts.samples += samples.len() as u64;
                self.counts.histograms += histograms.len() as u64;
                self.counts.exemplars += exemplars.len() as u64;
            }
            start = end;
        }
    }

    /// The 2.0 request of the grouped batch into the 2.0 encoder.
    fn encode_v2(&mut self, batch: &[BatchSample], view: &BatchView<'_>) {
        self.rw2.begin();
        self.series_symbols.rebuild_if_wasteful();
        let mut samples: Vec<Rw2Sample> = Vec::new();
        let mut histograms: Vec<Rw2Histogram<'_>> = Vec::new();
        let mut exemplars: Vec<Rw2Exemplar<'_>> = Vec::new();
        let mut start = 0;
        while start < self.order.len() {
            let id = self.order[start].0;
            let end = self.run_end(start);
            let (series, generation) = view.cache.series_with_generation(id);
            samples.clear();
            histograms.clear();
            exemplars.clear();
            for (_, i) in &self.order[start..end] {
                let sample = &batch[*i as usize];
                let extra = view.extra(sample);
                let start_timestamp = extra.map_or(0, |e| e.start_ms);
                match extra.and_then(|e| e.histogram.as_ref()) {
                    Some(histogram) => histograms.push(Rw2Histogram {
                        histogram,
                        timestamp: sample.timestamp,
                        start_timestamp,
                    }),
                    None => samples.push(Rw2Sample {
                        value: sample.value,
                        timestamp: sample.timestamp,
                        start_timestamp,
                    }),
                }
                if let Some(exemplar) = extra.and_then(|e| e.exemplar.as_ref()) {
                    exemplars.push(Rw2Exemplar {
                        exemplar,
                        timestamp: exemplar.timestamp_ms.unwrap_or(sample.timestamp),
                    });
                }
            }
            let metadata = if view.metadata_set {
                series.metadata()
            } else {
                None
            };
            let (label_ids, dictionary) =
                self.series_symbols
                    .label_ids(id, generation, series.encoded_labels());
            self.rw2.add_series_dictionary(
                label_ids,
                dictionary,
                &samples,
                &histograms,
                &exemplars,
                metadata.as_deref(),
            );
            self.counts.samples += samples.len() as u64;
            self.counts.histograms += histograms.len() as u64;
            self.counts.exemplars += exemplars.len() as u64;
            start = end;
        }
    }

    /// What the last body encoded carries.
    pub fn counts(&self) -> EncodedCounts {
        self.counts
    }

    /// Records the body just encoded in the high-water mark and gives back buffer capacity a
    /// spike left behind: a buffer over [`SHRINK_FLOOR`] and four times what the last 16 to 32
    /// requests needed keeps twice that. A steady load never shrinks (the mark stays at its
    /// size), and a shrunk buffer grows again as a `Vec` does.
    fn shrink_after_spike(&mut self) {
        self.window_peak = self.window_peak.max(self.raw_len);
        self.window_requests += 1;
        let mark = self.window_peak.max(self.previous_peak);
        if self.window_requests >= SHRINK_WINDOW {
            self.previous_peak = self.window_peak;
            self.window_peak = 0;
            self.window_requests = 0;
        }
        shrink(&mut self.raw, mark);
        // The compressed buffer is kept at the length snappy needs for the largest body seen
        // (it is never re-zeroed): cut it to what the mark needs, past the current body.
        let needed = snap::raw::max_compress_len(mark).max(self.compressed_len);
        if self.compressed.capacity() > SHRINK_FLOOR && self.compressed.capacity() / 4 > needed {
            self.compressed.truncate(needed);
            shrink(&mut self.compressed, needed);
        }
    }

    /// The capacities of the raw and compressed buffers (for tests of shrinking).
    #[cfg(test)]
    fn capacities(&self) -> (usize, usize) {
        (self.raw.capacity(), self.compressed.capacity())
    }

    /// The body produced by the last `encode`.
    pub fn last_body(&self) -> &[u8] {
        &self.compressed[..self.compressed_len]
    }

    /// Size of the last uncompressed body.
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::queue::series_cache::{QueuedSample, Resolved};
    use crate::series::SeriesRegistry;
    use crate::wire::{proto, snappy_decompress};
    use prost::Message;

    /// Registers series `name{i="0".."n", pad=<pad bytes>}` and resolves `per_series` samples
    /// of each (timestamps 1.., interleaved across series as a queue would hold them).
    fn batch_of(
        reg: &SeriesRegistry,
        cache: &mut SeriesCache,
        name: &str,
        n: usize,
        pad: usize,
        per_series: i64,
    ) -> Vec<BatchSample> {
        let pad = "p".repeat(pad);
        let series: Vec<_> = (0..n)
            .map(|i| {
                let r = reg
                    .register(
                        Labels::from_pairs(&[
                            ("__name__", name),
                            ("i", &i.to_string()),
                            ("pad", &pad),
                        ])
                        .unwrap(),
                    )
                    .unwrap();
                (r, reg.series(r).unwrap())
            })
            .collect();
        cache.start_batch();
        let mut batch = Vec::new();
        for ts in 1..=per_series {
            for (r, s) in &series {
                match cache.resolve(QueuedSample::announcing(*r, s, ts, ts as f64)) {
                    Resolved::Ready(sample) => batch.push(sample),
                    other => panic!("resolves: {other:?}"),
                }
            }
        }
        batch
    }

    /// Decodes a body into `(name and i label, timestamps)` per series.
    fn decode(body: &[u8]) -> Vec<(String, Vec<i64>)> {
        let req = proto::WriteRequest::decode(snappy_decompress(body).unwrap().as_slice()).unwrap();
        req.timeseries
            .iter()
            .map(|t| {
                let key = format!("{}{}", t.labels[0].value, t.labels[1].value);
                (key, t.samples.iter().map(|s| s.timestamp).collect())
            })
            .collect()
    }

    /// A histogram with `buckets` positive buckets.
    fn histogram(buckets: u32) -> Histogram {
        Histogram {
            schema: 3,
            zero_threshold: 0.0,
            sum: 1.5,
            counts: crate::model::HistogramCounts::Integer {
                count: u64::from(buckets),
                zero_count: 0,
                positive_deltas: (0..buckets).map(|i| i64::from(i == 0)).collect(),
                negative_deltas: vec![],
            },
            positive_spans: vec![crate::model::BucketSpan {
                offset: 0,
                length: buckets,
            }],
            negative_spans: vec![],
            reset_hint: crate::model::ResetHint::Unknown,
            custom_values: vec![],
        }
    }

    #[test]
    fn a_2_0_batch_with_histograms_exemplars_and_metadata_is_split_to_fit_the_cap() {
        let reg = SeriesRegistry::new(Labels::default());
        let mut cache = SeriesCache::new();
        let mut enc = BatchEncoder::default();
        let mut batch = batch_of(&reg, &mut cache, "m", 20, 300, 20);
        let help = "h".repeat(500);
        for i in 0..20 {
            let r = reg
                .register(
                    Labels::from_pairs(&[
                        ("__name__", "m"),
                        ("i", &i.to_string()),
                        ("pad", &"p".repeat(300)),
                    ])
                    .unwrap(),
                )
                .unwrap();
            reg.series(r)
                .unwrap()
                .set_metadata(Some(std::sync::Arc::new(crate::model::Metadata {
                    kind: crate::model::MetricType::Histogram,
                    help: help.clone(),
                    unit: "seconds".into(),
                })));
        }
        // Every other item a histogram with an exemplar and a start timestamp.
        let mut extras: Vec<Box<SampleExtra>> = Vec::new();
        for (n, sample) in batch.iter_mut().enumerate() {
            if n % 2 == 0 {
                sample.extra = extras.len() as u32;
                extras.push(Box::new(SampleExtra {
                    start_ms: 1,
                    histogram: Some(histogram(20)),
                    exemplar: Some(
                        Exemplar::new(
                            vec![crate::model::Label::new("trace_id", "abc")],
                            1.0,
                            Some(sample.timestamp),
                        )
                        .unwrap(),
                    ),
                }));
            }
        }
        let view = BatchView {
            cache: &cache,
            extras: &extras,
            max_metadata_text: help.len() + "seconds".len(),
            metadata_set: true,
            release_in_batch: false,
        };
        let cap = 8192;
        for protocol in [ProtobufMessage::V1, ProtobufMessage::V2] {
            let mut whole = batch.clone();
            let split = enc
                .split(&mut whole, &view, protocol, cap)
                .expect("over the cap");
            assert!(split.too_large.is_empty());
            let mut items = 0;
            for part in &split.parts {
                enc.encode(part, &view, protocol);
                assert!(
                    enc.raw_len() <= cap,
                    "{protocol:?}: {} > {cap}",
                    enc.raw_len()
                );
                let counts = enc.counts();
                items += counts.samples + counts.histograms;
            }
            assert_eq!(items, 400, "{protocol:?}: every item once");
        }
    }

    #[test]
    fn a_batch_over_the_cap_is_split_into_parts_that_fit_in_order() {
        let reg = SeriesRegistry::new(Labels::default());
        let mut cache = SeriesCache::new();
        let mut enc = BatchEncoder::default();
        // 20 series of ~1 KiB of labels, 50 samples each: about 40 KiB.
        let mut batch = batch_of(&reg, &mut cache, "s", 20, 1000, 50);
        let whole = enc
            .encode(&batch, &BatchView::plain(&cache), ProtobufMessage::V1)
            .len();
        assert!(whole > 0 && enc.raw_len() > 30_000);
        assert!(
            enc.split(
                &mut batch,
                &BatchView::plain(&cache),
                ProtobufMessage::V1,
                1 << 20
            )
            .is_none(),
            "fits 1 MiB whole"
        );
        assert_eq!(batch.len(), 1000, "left as it was");
        let cap = 4096;
        let split = enc
            .split(
                &mut batch,
                &BatchView::plain(&cache),
                ProtobufMessage::V1,
                cap,
            )
            .expect("split");
        assert!(batch.is_empty() && split.too_large.is_empty());
        assert!(split.parts.len() >= 10, "{} parts", split.parts.len());
        let mut seen: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        let mut total = 0;
        for part in &split.parts {
            let body = enc
                .encode(part, &BatchView::plain(&cache), ProtobufMessage::V1)
                .to_vec();
            assert!(enc.raw_len() <= cap, "{} > {cap}", enc.raw_len());
            for (key, ts) in decode(&body) {
                total += ts.len();
                seen.entry(key).or_default().extend(ts);
            }
        }
        assert_eq!(total, 1000, "every sample once");
        assert_eq!(seen.len(), 20);
        for ts in seen.values() {
            assert_eq!(*ts, (1..=50).collect::<Vec<i64>>(), "in order across parts");
        }
    }

    #[test]
    fn a_sample_too_large_alone_is_set_apart_and_the_rest_is_sent() {
        let reg = SeriesRegistry::new(Labels::default());
        let mut cache = SeriesCache::new();
        let mut enc = BatchEncoder::default();
        let mut batch = batch_of(&reg, &mut cache, "small", 3, 10, 4);
        let huge = batch_of(&reg, &mut cache, "huge", 1, 5000, 2);
        batch.extend(huge);
        let split = enc
            .split(
                &mut batch,
                &BatchView::plain(&cache),
                ProtobufMessage::V1,
                4096,
            )
            .expect("split");
        assert_eq!(split.too_large.len(), 2, "both samples of the huge series");
        let sent: usize = split.parts.iter().map(Vec::len).sum();
        assert_eq!(sent, 12);
        for part in &split.parts {
            enc.encode(part, &BatchView::plain(&cache), ProtobufMessage::V1);
            assert!(enc.raw_len() <= 4096);
        }
    }

    #[test]
    fn buffers_shrink_after_a_spike_and_not_under_a_steady_load() {
        let reg = SeriesRegistry::new(Labels::default());
        let mut cache = SeriesCache::new();
        let mut enc = BatchEncoder::default();
        // A spike: 400 series of 10 KiB labels, about 4 MiB raw.
        let spike = batch_of(&reg, &mut cache, "spike", 400, 10_000, 1);
        enc.encode(&spike, &BatchView::plain(&cache), ProtobufMessage::V1);
        let (raw, compressed) = enc.capacities();
        assert!(
            raw >= 4_000_000 && compressed >= 4_000_000,
            "{raw} {compressed}"
        );
        // Then small requests: the spike is in the mark for 16 to 32 more requests.
        let small = batch_of(&reg, &mut cache, "small", 10, 10, 10);
        for _ in 0..15 {
            enc.encode(&small, &BatchView::plain(&cache), ProtobufMessage::V1);
        }
        assert_eq!(enc.capacities().0, raw, "still in the high-water window");
        let body = enc
            .encode(&small, &BatchView::plain(&cache), ProtobufMessage::V1)
            .to_vec();
        for _ in 0..20 {
            enc.encode(&small, &BatchView::plain(&cache), ProtobufMessage::V1);
        }
        let (raw_after, compressed_after) = enc.capacities();
        assert!(
            raw_after < SHRINK_FLOOR && compressed_after < SHRINK_FLOOR,
            "shrunk: {raw_after} {compressed_after}"
        );
        assert_eq!(
            enc.encode(&small, &BatchView::plain(&cache), ProtobufMessage::V1),
            &body[..],
            "bodies unchanged"
        );
        // A steady load of 2 MiB requests keeps its buffers.
        let steady = batch_of(&reg, &mut cache, "steady", 200, 10_000, 1);
        enc.encode(&steady, &BatchView::plain(&cache), ProtobufMessage::V1);
        let grown = enc.capacities();
        for _ in 0..100 {
            enc.encode(&steady, &BatchView::plain(&cache), ProtobufMessage::V1);
            assert_eq!(enc.capacities(), grown);
        }
        let decoded = decode(enc.last_body());
        assert_eq!(decoded.len(), 200);
    }

    #[test]
    fn groups_samples_of_a_series_in_order() {
        let reg = SeriesRegistry::new(Labels::default());
        let a = reg
            .register(Labels::from_pairs(&[("__name__", "a")]).unwrap())
            .unwrap();
        let b = reg
            .register(Labels::from_pairs(&[("__name__", "b")]).unwrap())
            .unwrap();
        let sa = reg.series(a).unwrap();
        let sb = reg.series(b).unwrap();
        let mut cache = SeriesCache::new();
        let batch: Vec<BatchSample> = [
            (a, &sa, 1),
            (b, &sb, 1),
            (a, &sa, 2),
            (b, &sb, 2),
            (a, &sa, 3),
        ]
        .iter()
        .map(
            |(r, s, ts)| match cache.resolve(QueuedSample::announcing(*r, s, *ts, *ts as f64)) {
                Resolved::Ready(sample) => sample,
                other => panic!("resolves: {other:?}"),
            },
        )
        .collect();
        let mut enc = BatchEncoder::default();
        let body = enc
            .encode(&batch, &BatchView::plain(&cache), ProtobufMessage::V1)
            .to_vec();
        let req =
            proto::WriteRequest::decode(snappy_decompress(&body).unwrap().as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let total: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
        assert_eq!(total, 5);
        let a_series = req
            .timeseries
            .iter()
            .find(|t| t.labels[0].value == "a")
            .unwrap();
        let ts: Vec<i64> = a_series.samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(ts, [1, 2, 3]);
    }

    /// A series released and registered again with the same labels can land in a lower slot
    /// within one batch: with `release_in_batch` the older one's samples come first, as the
    /// receiver must store them.
    #[test]
    fn a_released_series_goes_before_its_successor_with_the_same_labels() {
        let reg = SeriesRegistry::new(Labels::default());
        let filler = reg
            .register(Labels::from_pairs(&[("__name__", "filler")]).unwrap())
            .unwrap();
        let old = reg
            .register(Labels::from_pairs(&[("__name__", "same")]).unwrap())
            .unwrap();
        let old_series = reg.series(old).unwrap();
        // The successor takes the filler's slot, below the old one's.
        reg.release(old).unwrap();
        reg.release(filler).unwrap();
        let new = reg
            .register(Labels::from_pairs(&[("__name__", "same")]).unwrap())
            .unwrap();
        let new_series = reg.series(new).unwrap();
        assert!(new.slot() < old.slot(), "the test needs the lower slot");
        let mut cache = SeriesCache::new();
        let batch: Vec<BatchSample> = [
            (old, &old_series, 1),
            (old, &old_series, 2),
            (new, &new_series, 3),
        ]
        .iter()
        .map(
            |(r, s, ts)| match cache.resolve(QueuedSample::announcing(*r, s, *ts, 0.0)) {
                Resolved::Ready(sample) => sample,
                other => panic!("resolves: {other:?}"),
            },
        )
        .collect();
        let timestamps = |release_in_batch: bool| {
            let mut enc = BatchEncoder::default();
            let view = BatchView {
                release_in_batch,
                ..BatchView::plain(&cache)
            };
            let body = enc.encode(&batch, &view, ProtobufMessage::V1).to_vec();
            let req =
                proto::WriteRequest::decode(snappy_decompress(&body).unwrap().as_slice()).unwrap();
            req.timeseries
                .iter()
                .flat_map(|t| t.samples.iter().map(|s| s.timestamp))
                .collect::<Vec<i64>>()
        };
        assert_eq!(
            timestamps(false),
            [3, 1, 2],
            "slot order puts the successor first"
        );
        assert_eq!(timestamps(true), [1, 2, 3]);
    }
}
