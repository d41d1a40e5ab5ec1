//! What a receiver has accepted: per-series last timestamps (to detect out-of-order and
//! duplicate samples and histograms across requests) and, optionally, every sample,
//! histogram and exemplar for exact comparisons; the last metadata of each series (2.0) and
//! of each metric family (1.0 `WriteRequest.metadata`).

use fxhash::FxHashMap as HashMap;
use std::sync::{Mutex, MutexGuard};

use promrw::wire::proto_v2;

use super::decode::{
    DecodedRequest, ReceivedExemplar, ReceivedFamilyMetadata, ReceivedMetadata, WireProtocol,
};

/// A series' labels as `(name, value)` pairs, sorted by name.
pub type LabelPairs = Vec<(String, String)>;

/// Outcome of storing one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreReport {
    /// Samples newer than anything stored for their series.
    pub accepted: u64,
    /// Samples whose timestamp was already stored for their series.
    pub duplicates: u64,
    /// Samples older than the newest stored one of their series (and not duplicates).
    pub out_of_order: u64,
    /// Histograms newer than anything stored for their series (1.0 or 2.0; a series'
    /// histograms are a timeline of their own, apart from its samples).
    pub histograms_accepted: u64,
    /// Histograms whose timestamp was already stored for their series.
    pub histogram_duplicates: u64,
    /// Histograms older than the newest stored one of their series (and not duplicates).
    pub histogram_out_of_order: u64,
    /// Exemplars stored (1.0 or 2.0).
    pub exemplars_accepted: u64,
    /// Exemplars identical to one already kept for their series (seen only when the store
    /// keeps samples).
    pub exemplar_duplicates: u64,
    /// Series whose metadata was recorded (2.0).
    pub metadata: u64,
    /// 1.0 family metadata entries recorded (`WriteRequest.metadata`).
    pub family_metadata: u64,
}

impl StoreReport {
    /// The `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written` counts of a
    /// 2.0 request: what is stored now, new or already there (duplicates are idempotent
    /// writes); out-of-order data is not written.
    pub fn written(&self) -> (u64, u64, u64) {
        (
            self.accepted + self.duplicates,
            self.histograms_accepted + self.histogram_duplicates,
            self.exemplars_accepted + self.exemplar_duplicates,
        )
    }
}

/// Per-series state.
#[derive(Debug, Default)]
struct SeriesState {
    last_timestamp: Option<i64>,
    samples: Vec<(i64, u64)>,
    /// Whether float samples were ever sent for the series (a histogram-only series is left
    /// out of [`SampleStore::all_samples`]).
    has_float_samples: bool,
    last_histogram_timestamp: Option<i64>,
    histograms: Vec<(i64, proto_v2::Histogram)>,
    exemplars: Vec<ReceivedExemplar>,
    metadata: Option<ReceivedMetadata>,
}

/// Totals over everything stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreTotals {
    /// Requests stored.
    pub requests: u64,
    /// Samples accepted.
    pub accepted: u64,
    /// Duplicate samples seen.
    pub duplicates: u64,
    /// Out-of-order samples seen.
    pub out_of_order: u64,
    /// Compressed bytes received.
    pub compressed_bytes: u64,
    /// 2.0 requests stored (included in `requests`).
    pub v2_requests: u64,
    /// Histograms accepted (1.0 or 2.0).
    pub histograms: u64,
    /// Duplicate histograms seen.
    pub histogram_duplicates: u64,
    /// Out-of-order histograms seen.
    pub histogram_out_of_order: u64,
    /// Exemplars accepted (1.0 or 2.0).
    pub exemplars: u64,
    /// Duplicate exemplars seen.
    pub exemplar_duplicates: u64,
    /// Metadata records received (2.0; one per series per request at most).
    pub metadata: u64,
    /// 2.0 requests answered 415 by a receiver in `ProtocolMode::V1Refuse415`.
    pub v2_refused: u64,
    /// 2.0 requests decoded as empty 1.0 requests by a receiver in
    /// `ProtocolMode::V1Ignore` (included in `requests`).
    pub v2_ignored: u64,
    /// 1.0 family metadata entries received (`WriteRequest.metadata`; every entry of every
    /// request, repeats included).
    pub family_metadata: u64,
}

/// Thread-safe record of accepted samples.
#[derive(Debug, Default)]
pub struct SampleStore {
    keep_samples: bool,
    inner: Mutex<StoreInner>,
}

/// The locked part.
#[derive(Debug, Default)]
struct StoreInner {
    series: HashMap<LabelPairs, SeriesState>,
    /// The last 1.0 metadata of each metric family.
    family_metadata: HashMap<String, ReceivedFamilyMetadata>,
    totals: StoreTotals,
}

impl SampleStore {
    /// A store; with `keep_samples` every accepted sample is kept for [`SampleStore::samples`].
    pub fn new(keep_samples: bool) -> Self {
        SampleStore {
            keep_samples,
            inner: Mutex::new(StoreInner::default()),
        }
    }

    /// Records a decoded request. Duplicates and out-of-order samples are counted, not stored.
    pub fn store(&self, request: &DecodedRequest) -> StoreReport {
        let mut inner = lock(&self.inner);
        let mut report = StoreReport::default();
        for series in &request.series {
            if !inner.series.contains_key(&series.labels) {
                inner
                    .series
                    .insert(series.labels.clone(), SeriesState::default());
            }
            let state = inner
                .series
                .get_mut(&series.labels)
                .expect("series state was just ensured");
            if !series.samples.is_empty() || series.histograms.is_empty() {
                state.has_float_samples = true;
            }
            for (timestamp, histogram) in &series.histograms {
                let timestamp = *timestamp;
                match state.last_histogram_timestamp {
                    Some(last) if timestamp == last => report.histogram_duplicates += 1,
                    Some(last) if timestamp < last => {
                        if self.keep_samples
                            && state.histograms.iter().any(|(t, _)| *t == timestamp)
                        {
                            report.histogram_duplicates += 1;
                        } else {
                            report.histogram_out_of_order += 1;
                        }
                    }
                    _ => {
                        state.last_histogram_timestamp = Some(timestamp);
                        if self.keep_samples {
                            state.histograms.push((timestamp, histogram.clone()));
                        }
                        report.histograms_accepted += 1;
                    }
                }
            }
            for exemplar in &series.exemplars {
                if self.keep_samples {
                    if state.exemplars.contains(exemplar) {
                        report.exemplar_duplicates += 1;
                        continue;
                    }
                    state.exemplars.push(exemplar.clone());
                }
                report.exemplars_accepted += 1;
            }
            if let Some(metadata) = &series.metadata {
                state.metadata = Some(metadata.clone());
                report.metadata += 1;
            }
            for &(timestamp, bits) in &series.samples {
                match state.last_timestamp {
                    Some(last) if timestamp == last => report.duplicates += 1,
                    Some(last) if timestamp < last => {
                        if self.keep_samples && state.samples.iter().any(|(t, _)| *t == timestamp) {
                            report.duplicates += 1;
                        } else {
                            report.out_of_order += 1;
                        }
                    }
                    _ => {
                        state.last_timestamp = Some(timestamp);
                        if self.keep_samples {
                            state.samples.push((timestamp, bits));
                        }
                        report.accepted += 1;
                    }
                }
            }
        }
        for metadata in &request.family_metadata {
            inner
                .family_metadata
                .insert(metadata.family.clone(), metadata.clone());
            report.family_metadata += 1;
        }
        let totals = &mut inner.totals;
        totals.requests += 1;
        totals.accepted += report.accepted;
        totals.duplicates += report.duplicates;
        totals.out_of_order += report.out_of_order;
        totals.compressed_bytes += request.compressed_bytes as u64;
        match request.protocol {
            WireProtocol::V1 => {}
            WireProtocol::V2 => totals.v2_requests += 1,
            WireProtocol::V2IgnoredAsV1 => totals.v2_ignored += 1,
        }
        totals.histograms += report.histograms_accepted;
        totals.histogram_duplicates += report.histogram_duplicates;
        totals.histogram_out_of_order += report.histogram_out_of_order;
        totals.exemplars += report.exemplars_accepted;
        totals.exemplar_duplicates += report.exemplar_duplicates;
        totals.metadata += report.metadata;
        totals.family_metadata += report.family_metadata;
        report
    }

    /// Counts a 2.0 request refused with 415 by a 1.0-only receiver.
    pub fn note_v2_refused(&self) {
        lock(&self.inner).totals.v2_refused += 1;
    }

    /// Totals so far.
    pub fn totals(&self) -> StoreTotals {
        lock(&self.inner).totals
    }

    /// Number of distinct series seen.
    pub fn series_count(&self) -> usize {
        lock(&self.inner).series.len()
    }

    /// The samples kept for the series with exactly these sorted labels.
    pub fn samples(&self, labels: &[(&str, &str)]) -> Option<Vec<(i64, u64)>> {
        let key: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        lock(&self.inner)
            .series
            .get(&key)
            .map(|s| s.samples.clone())
    }

    /// Every kept series with its samples (series that only ever had histograms are left
    /// out).
    pub fn all_samples(&self) -> Vec<(LabelPairs, Vec<(i64, u64)>)> {
        lock(&self.inner)
            .series
            .iter()
            .filter(|(_, state)| state.has_float_samples)
            .map(|(labels, state)| (labels.clone(), state.samples.clone()))
            .collect()
    }

    /// The histograms kept for the series with exactly these sorted labels (1.0 or 2.0), each
    /// `(timestamp, histogram as received)`.
    pub fn histograms(&self, labels: &[(&str, &str)]) -> Option<Vec<(i64, proto_v2::Histogram)>> {
        lock(&self.inner)
            .series
            .get(&key_of(labels))
            .map(|s| s.histograms.clone())
    }

    /// Every series that had histograms, with the histograms kept.
    pub fn all_histograms(&self) -> Vec<(LabelPairs, Vec<(i64, proto_v2::Histogram)>)> {
        lock(&self.inner)
            .series
            .iter()
            .filter(|(_, state)| state.last_histogram_timestamp.is_some())
            .map(|(labels, state)| (labels.clone(), state.histograms.clone()))
            .collect()
    }

    /// The exemplars kept for the series with exactly these sorted labels (1.0 or 2.0), in the
    /// order received.
    pub fn exemplars(&self, labels: &[(&str, &str)]) -> Option<Vec<ReceivedExemplar>> {
        lock(&self.inner)
            .series
            .get(&key_of(labels))
            .map(|s| s.exemplars.clone())
    }

    /// The last metadata received for the series with exactly these sorted labels (2.0).
    pub fn metadata(&self, labels: &[(&str, &str)]) -> Option<ReceivedMetadata> {
        lock(&self.inner)
            .series
            .get(&key_of(labels))
            .and_then(|s| s.metadata.clone())
    }

    /// The last 1.0 metadata received for the metric family `family` (kept whether or not
    /// the store keeps samples).
    pub fn family_metadata(&self, family: &str) -> Option<ReceivedFamilyMetadata> {
        lock(&self.inner).family_metadata.get(family).cloned()
    }

    /// The last 1.0 metadata of every metric family seen, sorted by family name.
    pub fn all_family_metadata(&self) -> Vec<ReceivedFamilyMetadata> {
        let mut all: Vec<ReceivedFamilyMetadata> = lock(&self.inner)
            .family_metadata
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.family.cmp(&b.family));
        all
    }
}

/// The owned key of `labels`.
fn key_of(labels: &[(&str, &str)]) -> LabelPairs {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves consistent state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
