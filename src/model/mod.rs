//! Labels and samples: validation and normalisation per the Remote Write 1.0 label rules;
//! native histograms, exemplars and metadata (`histogram`, `exemplar`).

mod exemplar;
mod extra;
mod histogram;

pub use exemplar::{EXEMPLAR_MAX_LABEL_RUNES, Exemplar, Metadata, MetricType};
pub use extra::{SampleExtra, SampleOptions};
pub use histogram::{
    BucketSpan, CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN, Histogram,
    HistogramCounts, ResetHint,
};

use crate::error::{Error, ErrorKind, Result};

/// The bit pattern of Prometheus's stale marker (a signalling NaN). It must reach the wire unchanged.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The stale marker as an `f64`. Never do arithmetic on it: that can quiet the NaN.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `value` carries exactly the stale-marker bits.
pub fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// One label: a name and a non-empty value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The label name (`__name__` for the metric name).
    pub name: String,
    /// The label value, any UTF-8, never empty once normalised.
    pub value: String,
}

impl Label {
    /// Makes a label from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A validated label set: names unique and valid, no empty values, sorted by name in byte order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Validates and normalises `labels`: labels with empty values are removed (empty means
    /// absent), names are checked against the RW 1.0 syntax (`__name__` against the metric-name
    /// syntax), duplicates and empty names are rejected, and the set is sorted in byte order.
    pub fn new(labels: Vec<Label>) -> Result<Labels> {
        let labels = normalise_labels(labels)?;
        if labels.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidLabels,
                "label set is empty (every value was empty or no labels were given)",
            ));
        }
        Ok(Labels(labels))
    }

    /// Builds a label set from `(name, value)` pairs; see [`Labels::new`].
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Result<Labels> {
        Labels::new(
            pairs
                .iter()
                .map(|(n, v)| Label::new(n.as_ref(), v.as_ref()))
                .collect(),
        )
    }

    /// The labels, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// Adds each of `external` whose name the set lacks (the series' own value wins), keeping the
    /// byte-order sort. `external` must already be valid.
    pub fn with_external(self, external: &Labels) -> Labels {
        if external.0.is_empty() {
            return self;
        }
        let missing: Vec<Label> = external
            .0
            .iter()
            .filter(|label| self.get(&label.name).is_none())
            .cloned()
            .collect();
        if missing.is_empty() {
            return self;
        }
        let mut merged = self.0;
        merged.extend(missing);
        merged.sort_unstable_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Labels(merged)
    }
}

/// Checks one label's name (and its value's presence) against the RW 1.0 rules.
/// `labels` without the empty values, each name checked, sorted in byte order, and no name
/// twice (the error names it). An empty result is the caller's to judge.
pub(crate) fn normalise_labels(labels: Vec<Label>) -> Result<Vec<Label>> {
    let mut labels: Vec<Label> = labels.into_iter().filter(|l| !l.value.is_empty()).collect();
    for label in &labels {
        validate_label(label)?;
    }
    labels.sort_unstable_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    if let Some(pair) = labels.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::new(
            ErrorKind::InvalidLabels,
            format!("duplicate label name {:?}", pair[0].name),
        ));
    }
    Ok(labels)
}

fn validate_label(label: &Label) -> Result<()> {
    if label.name.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidLabels,
            format!("empty label name (value {:?})", label.value),
        ));
    }
    let ok = if label.name == "__name__" {
        is_valid_metric_name(&label.value)
    } else {
        true
    };
    if !ok {
        return Err(Error::new(
            ErrorKind::InvalidLabels,
            format!(
                "invalid metric name {:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                label.value
            ),
        ));
    }
    if !is_valid_label_name(&label.name) {
        return Err(Error::new(
            ErrorKind::InvalidLabels,
            format!(
                "invalid label name {:?}: must match [a-zA-Z_][a-zA-Z0-9_]*",
                label.name
            ),
        ));
    }
    Ok(())
}

/// True when `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {}
        _ => return false,
    }
    bytes[1..]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// True when `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' || *b == b':' => {}
        _ => return false,
    }
    bytes[1..]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_in_byte_order_and_drops_empty_values() {
        let l =
            Labels::from_pairs(&[("b", "1"), ("__name__", "m"), ("A", "x"), ("c", "")]).unwrap();
        let names: Vec<&str> = l.as_slice().iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["A", "__name__", "b"]);
    }

    #[test]
    fn rejects_bad_names_and_duplicates() {
        let e = Labels::from_pairs(&[("__name__", "1bad")]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidLabels);
        assert!(e.message().contains("1bad"), "{e}");
        let e = Labels::from_pairs(&[("a-b", "x")]).unwrap_err();
        assert!(e.message().contains("a-b"), "{e}");
        let e = Labels::from_pairs(&[("a", "x"), ("a", "y")]).unwrap_err();
        assert!(e.message().contains("duplicate"), "{e}");
        let e = Labels::from_pairs(&[("", "x")]).unwrap_err();
        assert!(e.message().contains("empty label name"), "{e}");
        assert!(Labels::from_pairs(&[("a", "")]).is_err());
        assert!(Labels::from_pairs(&[("__name__", "ns:sub_total")]).is_ok());
    }

    #[test]
    fn external_labels_do_not_override() {
        let l = Labels::from_pairs(&[("__name__", "m"), ("job", "mine")]).unwrap();
        let ext = Labels::from_pairs(&[("job", "ext"), ("region", "eu")]).unwrap();
        let merged = l.with_external(&ext);
        assert_eq!(merged.get("job"), Some("mine"));
        assert_eq!(merged.get("region"), Some("eu"));
    }

    #[test]
    fn stale_marker_bits() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
    }
}
