//! Exemplars (a trace link and a value attached to a sample or a histogram) and per-series
//! metadata (type, help, unit), with the protocol's rules.

use crate::error::{Error, ErrorKind, Result};

use super::{Label, normalise_labels};

/// Most UTF-8 runes of an exemplar's label names and values together (the Remote Write and
/// OpenMetrics limit; Prometheus's `ExemplarMaxLabelSetLength`).
pub const EXEMPLAR_MAX_LABEL_RUNES: usize = 128;

/// An exemplar: labels (often `trace_id`), a value and, optionally, its own timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    labels: Vec<Label>,
    /// The exemplar's value.
    pub value: f64,
    /// Milliseconds since the Unix epoch; `None` takes the sample's own timestamp, since
    /// Remote Write 2.0 requires one.
    pub timestamp_ms: Option<i64>,
}

impl Exemplar {
    /// An exemplar from its labels (empty values dropped, names checked, sorted, unique; an
    /// empty set is allowed), value and timestamp. `InvalidLabels` when a name is invalid or
    /// repeated, or the names and values hold more than 128 runes together.
    pub fn new(labels: Vec<Label>, value: f64, timestamp_ms: Option<i64>) -> Result<Exemplar> {
        let labels = normalise_labels(labels)
            .map_err(|e| Error::new(e.kind(), format!("exemplar: {}", e.message())))?;
        let runes: usize = labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if runes > EXEMPLAR_MAX_LABEL_RUNES {
            return Err(Error::new(
                ErrorKind::InvalidLabels,
                format!(
                    "exemplar: its labels hold {runes} UTF-8 runes, more than the {EXEMPLAR_MAX_LABEL_RUNES} allowed"
                ),
            ));
        }
        Ok(Exemplar {
            labels,
            value,
            timestamp_ms,
        })
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }
}

/// The type of a metric family, as the protocol names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum MetricType {
    /// Not known (Remote Write 1.0's `UNKNOWN`, 2.0's `METRIC_TYPE_UNSPECIFIED`).
    #[default]
    Unknown,
    /// A counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram.
    Histogram,
    /// A gauge histogram.
    GaugeHistogram,
    /// A summary.
    Summary,
    /// An info metric.
    Info,
    /// A state set.
    StateSet,
}

impl MetricType {
    /// The protocol's enum value (0 ..= 7, the same in 1.0 and 2.0).
    pub fn as_i32(self) -> i32 {
        match self {
            MetricType::Unknown => 0,
            MetricType::Counter => 1,
            MetricType::Gauge => 2,
            MetricType::Histogram => 3,
            MetricType::GaugeHistogram => 4,
            MetricType::Summary => 5,
            MetricType::Info => 6,
            MetricType::StateSet => 7,
        }
    }

    /// From the protocol's enum value; `None` for an unknown one.
    pub fn from_i32(value: i32) -> Option<MetricType> {
        Some(match value {
            0 => MetricType::Unknown,
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => return None,
        })
    }

    /// From the exposition formats' names (`counter`, `gauge`, `histogram`,
    /// `gaugehistogram`, `summary`, `info`, `stateset`, `unknown`; also `untyped`).
    pub fn from_name(name: &str) -> Option<MetricType> {
        Some(match name {
            "unknown" | "untyped" => MetricType::Unknown,
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            _ => return None,
        })
    }
}

/// What is known about a series' metric family: its type, help text and unit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Metadata {
    /// The type.
    pub kind: MetricType,
    /// The help text (may be empty).
    pub help: String,
    /// The unit (may be empty), e.g. `seconds`.
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemplar_labels_are_normalised_and_bounded_at_128_runes() {
        let exemplar = Exemplar::new(
            vec![
                Label::new("trace_id", "abc"),
                Label::new("span_id", "1"),
                Label::new("x", ""),
            ],
            1.5,
            None,
        )
        .unwrap();
        let names: Vec<&str> = exemplar.labels().iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["span_id", "trace_id"]);
        assert!(
            Exemplar::new(Vec::new(), 1.0, Some(5)).is_ok(),
            "labels are optional"
        );
        // 8 + 120 runes: at the limit; one more is refused. Runes, not bytes: "é" is 2 bytes.
        let at_limit = vec![Label::new("trace_id", "é".repeat(120))];
        assert!(Exemplar::new(at_limit, 1.0, None).is_ok());
        let over = vec![Label::new("trace_id", "é".repeat(121))];
        let error = Exemplar::new(over, 1.0, None).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidLabels);
        assert!(error.message().contains("129 UTF-8 runes"), "{error}");
        let duplicate = vec![Label::new("a", "1"), Label::new("a", "2")];
        assert!(Exemplar::new(duplicate, 1.0, None).is_err());
        let bad_name = vec![Label::new("1bad", "1")];
        assert!(Exemplar::new(bad_name, 1.0, None).is_err());
    }

    #[test]
    fn metric_types_round_trip_through_values_and_names() {
        for value in 0..8 {
            let kind = MetricType::from_i32(value).unwrap();
            assert_eq!(kind.as_i32(), value);
        }
        assert_eq!(MetricType::from_i32(8), None);
        assert_eq!(
            MetricType::from_name("gaugehistogram"),
            Some(MetricType::GaugeHistogram)
        );
        assert_eq!(MetricType::from_name("untyped"), Some(MetricType::Unknown));
        assert_eq!(MetricType::from_name("Counter"), None);
    }
}
