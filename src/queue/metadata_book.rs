//! The metadata an endpoint sends in Remote Write 1.0 metadata requests: the last metadata
//! set for each metric family, whose name is the series' name without the suffix its type
//! implies (`_total` of a counter, `_bucket`/`_sum`/`_count` of a histogram, ...), as a
//! scrape's `# TYPE` line names the family.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{Metadata, MetricType};
use crate::series::{Series, lock};
use crate::wire::rw1::label_pairs;

/// The family of a series named `metric` whose metadata says `kind`.
pub fn family_name(metric: &str, kind: MetricType) -> &str {
    let suffixes: &[&str] = match kind {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
        MetricType::Summary => &["_sum", "_count", "_created"],
        MetricType::Info => &["_info"],
        _ => &[],
    };
    suffixes
        .iter()
        .find_map(|suffix| metric.strip_suffix(suffix).filter(|base| !base.is_empty()))
        .unwrap_or(metric)
}

/// Metadata by metric family, for one endpoint.
#[derive(Debug, Default)]
pub struct MetadataBook {
    families: Mutex<BTreeMap<String, Arc<Metadata>>>,
    /// The longest help and unit text noted (never lowered): bounds what metadata adds to a
    /// 2.0 request's series.
    max_text: AtomicUsize,
    /// Set by the first [`MetadataBook::note`] (never cleared).
    noted: AtomicBool,
}

impl MetadataBook {
    /// Records `metadata` for the family of `series` (a series without a name has none).
    pub fn note(&self, series: &Series, metadata: &Arc<Metadata>) {
        self.max_text
            .fetch_max(metadata.help.len() + metadata.unit.len(), Ordering::Relaxed);
        self.noted.store(true, Ordering::Release);
        let Some((_, name)) = label_pairs(series.encoded_labels()).find(|(n, _)| *n == "__name__")
        else {
            return;
        };
        let family = family_name(name, metadata.kind);
        lock(&self.families).insert(family.to_string(), metadata.clone());
    }

    /// Every family's metadata, by family name.
    pub fn entries(&self) -> Vec<(String, Arc<Metadata>)> {
        lock(&self.families)
            .iter()
            .map(|(family, metadata)| (family.clone(), metadata.clone()))
            .collect()
    }

    /// The longest help and unit text noted so far.
    pub fn max_text_len(&self) -> usize {
        self.max_text.load(Ordering::Relaxed)
    }

    /// True once any metadata was noted (even if since cleared or replaced): until then no
    /// series of the endpoint has metadata, and encoders need not look.
    pub fn ever_noted(&self) -> bool {
        self.noted.load(Ordering::Acquire)
    }

    /// True when no metadata was recorded.
    pub fn is_empty(&self) -> bool {
        lock(&self.families).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_lose_the_suffix_their_type_implies() {
        assert_eq!(
            family_name("http_requests_total", MetricType::Counter),
            "http_requests"
        );
        assert_eq!(
            family_name("latency_bucket", MetricType::Histogram),
            "latency"
        );
        assert_eq!(family_name("latency_count", MetricType::Summary), "latency");
        assert_eq!(family_name("build_info", MetricType::Info), "build");
        assert_eq!(family_name("temperature", MetricType::Gauge), "temperature");
        assert_eq!(family_name("_total", MetricType::Counter), "_total");
        assert_eq!(
            family_name("requests_total", MetricType::Gauge),
            "requests_total"
        );
    }
}
