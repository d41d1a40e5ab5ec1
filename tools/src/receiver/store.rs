//! What a receiver has accepted: per-series last timestamps (to detect out-of-order and
//! duplicate samples across requests) and, optionally, every sample for exact comparisons.

use fxhash::FxHashMap as HashMap;
use std::sync::{Mutex, MutexGuard};

use super::decode::DecodedRequest;

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
}

/// Per-series state.
#[derive(Debug, Default)]
struct SeriesState {
    last_timestamp: Option<i64>,
    samples: Vec<(i64, u64)>,
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
        let totals = &mut inner.totals;
        totals.requests += 1;
        totals.accepted += report.accepted;
        totals.duplicates += report.duplicates;
        totals.out_of_order += report.out_of_order;
        totals.compressed_bytes += request.compressed_bytes as u64;
        report
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

    /// Every kept series with its samples.
    pub fn all_samples(&self) -> Vec<(LabelPairs, Vec<(i64, u64)>)> {
        lock(&self.inner)
            .series
            .iter()
            .map(|(labels, state)| (labels.clone(), state.samples.clone()))
            .collect()
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves consistent state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
