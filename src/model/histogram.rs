//! Native histograms as Prometheus defines them: an exponential schema (-4 ..= 8) or custom
//! buckets (schema -53, "NHCB"), integer counts (buckets as deltas) or float counts (buckets
//! as absolute counts), spans locating the populated buckets, and a reset hint.
//!
//! [`Histogram::validate`] applies Prometheus's `Histogram.Validate` and
//! `FloatHistogram.Validate` rules, with their messages, so a histogram Prometheus would
//! refuse is refused at append time rather than by the receiver.

use crate::model::{STALE_NAN_BITS, is_stale_nan};

/// Smallest exponential schema.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// Largest exponential schema.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;
/// The schema of histograms with custom bucket bounds.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// A run of consecutive buckets: `offset` is the gap since the previous span's end (or, for
/// the first span, the index of its first bucket), `length` the number of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketSpan {
    /// Gap to the previous span (the first span: the index of its first bucket).
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// What the producer knows about counter resets (`ResetHint` of the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetHint {
    /// Nothing known.
    #[default]
    Unknown,
    /// A counter reset happened just before this histogram.
    Yes,
    /// No counter reset happened.
    No,
    /// A gauge histogram, where counter resets do not apply.
    Gauge,
}

impl ResetHint {
    /// The protocol's enum value (0 ..= 3).
    pub fn as_u8(self) -> u8 {
        match self {
            ResetHint::Unknown => 0,
            ResetHint::Yes => 1,
            ResetHint::No => 2,
            ResetHint::Gauge => 3,
        }
    }

    /// From the protocol's enum value; `None` for an unknown one.
    pub fn from_u8(value: u8) -> Option<ResetHint> {
        Some(match value {
            0 => ResetHint::Unknown,
            1 => ResetHint::Yes,
            2 => ResetHint::No,
            3 => ResetHint::Gauge,
            _ => return None,
        })
    }
}

/// The counts of a histogram: integer (buckets as deltas, the first absolute) or float
/// (buckets as absolute counts).
#[derive(Debug, Clone, PartialEq)]
pub enum HistogramCounts {
    /// An integer histogram.
    Integer {
        /// Total number of observations.
        count: u64,
        /// Observations in the zero bucket.
        zero_count: u64,
        /// Positive buckets, each the delta from the previous bucket.
        positive_deltas: Vec<i64>,
        /// Negative buckets, each the delta from the previous bucket.
        negative_deltas: Vec<i64>,
    },
    /// A float histogram.
    Float {
        /// Total number of observations.
        count: f64,
        /// Observations in the zero bucket.
        zero_count: f64,
        /// Positive buckets' absolute counts.
        positive_counts: Vec<f64>,
        /// Negative buckets' absolute counts.
        negative_counts: Vec<f64>,
    },
}

/// One native histogram observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// -4 ..= 8 (exponential buckets) or -53 (custom buckets).
    pub schema: i32,
    /// The width of the zero bucket (0 with custom buckets).
    pub zero_threshold: f64,
    /// Sum of the observations; StaleNaN marks the series stale.
    pub sum: f64,
    /// Counts and buckets.
    pub counts: HistogramCounts,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<BucketSpan>,
    /// Spans of the negative buckets (none with custom buckets).
    pub negative_spans: Vec<BucketSpan>,
    /// Counter-reset knowledge.
    pub reset_hint: ResetHint,
    /// Custom buckets' upper bounds, inclusive, strictly increasing, without `+Inf`
    /// (schema -53 only).
    pub custom_values: Vec<f64>,
}

impl Histogram {
    /// A stale marker for a histogram series: an empty integer histogram whose `sum` is
    /// StaleNaN (the other fields are ignored by receivers).
    pub fn stale() -> Histogram {
        Histogram {
            schema: 0,
            zero_threshold: 0.0,
            sum: f64::from_bits(STALE_NAN_BITS),
            counts: HistogramCounts::Integer {
                count: 0,
                zero_count: 0,
                positive_deltas: Vec::new(),
                negative_deltas: Vec::new(),
            },
            positive_spans: Vec::new(),
            negative_spans: Vec::new(),
            reset_hint: ResetHint::Unknown,
            custom_values: Vec::new(),
        }
    }

    /// Whether this is a stale marker (`sum` is StaleNaN).
    pub fn is_stale(&self) -> bool {
        is_stale_nan(self.sum)
    }

    /// Whether the counts are floats.
    pub fn is_float(&self) -> bool {
        matches!(self.counts, HistogramCounts::Float { .. })
    }

    /// Checks the histogram with Prometheus's rules: a valid schema; with custom buckets,
    /// strictly increasing finite bounds covering the spans, no zero bucket and no negative
    /// side; with an exponential schema, no custom bounds; spans matching the bucket counts,
    /// every span but an exponential schema's first with a non-negative offset; no bucket,
    /// zero count or count below zero; and for an integer histogram the count equal to the
    /// buckets' sum (at least that sum when `sum` is NaN). A stale marker is always valid.
    /// The error says what is wrong, in Prometheus's words.
    pub fn validate(&self) -> Result<(), String> {
        if self.is_stale() {
            return Ok(());
        }
        let (positive_len, negative_len) = match &self.counts {
            HistogramCounts::Integer {
                positive_deltas,
                negative_deltas,
                ..
            } => (positive_deltas.len(), negative_deltas.len()),
            HistogramCounts::Float {
                positive_counts,
                negative_counts,
                ..
            } => (positive_counts.len(), negative_counts.len()),
        };
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            check_custom_bounds(&self.custom_values, &self.positive_spans, positive_len)
                .map_err(|e| format!("custom buckets: {e}"))?;
            let zero_count_is_zero = match &self.counts {
                HistogramCounts::Integer { zero_count, .. } => *zero_count == 0,
                HistogramCounts::Float { zero_count, .. } => *zero_count == 0.0,
            };
            if !zero_count_is_zero {
                return Err("custom buckets: must have zero count of 0".into());
            }
            if self.zero_threshold != 0.0 {
                return Err("custom buckets: must have zero threshold of 0".into());
            }
            if !self.negative_spans.is_empty() {
                return Err("custom buckets: must not have negative spans".into());
            }
            if negative_len > 0 {
                return Err("custom buckets: must not have negative buckets".into());
            }
        } else if (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&self.schema) {
            check_spans(&self.positive_spans, positive_len)
                .map_err(|e| format!("positive side: {e}"))?;
            check_spans(&self.negative_spans, negative_len)
                .map_err(|e| format!("negative side: {e}"))?;
            if !self.custom_values.is_empty() {
                return Err("histogram with exponential schema must not have custom bounds".into());
            }
        } else {
            return Err(format!(
                "histogram has an invalid schema, which must be between {EXPONENTIAL_SCHEMA_MIN} and {EXPONENTIAL_SCHEMA_MAX} for exponential buckets, or {CUSTOM_BUCKETS_SCHEMA} for custom buckets, got schema {}",
                self.schema
            ));
        }
        match &self.counts {
            HistogramCounts::Integer {
                count,
                zero_count,
                positive_deltas,
                negative_deltas,
            } => {
                let negative = delta_bucket_total(negative_deltas)
                    .map_err(|e| format!("negative side: {e}"))?;
                let positive = delta_bucket_total(positive_deltas)
                    .map_err(|e| format!("positive side: {e}"))?;
                let in_buckets = negative as u128 + positive as u128 + *zero_count as u128;
                let count = *count as u128;
                if self.sum.is_nan() {
                    if in_buckets > count {
                        return Err(format!(
                            "{in_buckets} observations found in buckets, but the Count field is {count}: histogram's observation count should be at least the number of observations found in the buckets"
                        ));
                    }
                } else if in_buckets != count {
                    return Err(format!(
                        "{in_buckets} observations found in buckets, but the Count field is {count}: histogram's observation count should equal the number of observations found in the buckets (in absence of NaN)"
                    ));
                }
            }
            HistogramCounts::Float {
                count,
                zero_count,
                positive_counts,
                negative_counts,
            } => {
                float_buckets(negative_counts).map_err(|e| format!("negative side: {e}"))?;
                if *zero_count < 0.0 {
                    return Err(format!(
                        "zero bucket has observation count of {zero_count}: histogram has a bucket whose observation count is negative"
                    ));
                }
                if *count < 0.0 {
                    return Err(format!(
                        "observation count is {count}: histogram's observation count is negative"
                    ));
                }
                float_buckets(positive_counts).map_err(|e| format!("positive side: {e}"))?;
            }
        }
        Ok(())
    }
}

/// The spans cover exactly `buckets` buckets, and no span after the first has a negative
/// offset.
fn check_spans(spans: &[BucketSpan], buckets: usize) -> Result<(), String> {
    let mut span_buckets: u64 = 0;
    for (n, span) in spans.iter().enumerate() {
        if n > 0 && span.offset < 0 {
            return Err(format!(
                "span number {} with offset {}: histogram has a span whose offset is negative",
                n + 1,
                span.offset
            ));
        }
        span_buckets += u64::from(span.length);
    }
    spans_match(span_buckets, buckets)
}

fn spans_match(span_buckets: u64, buckets: usize) -> Result<(), String> {
    if span_buckets != buckets as u64 {
        return Err(format!(
            "spans need {span_buckets} buckets, have {buckets} buckets: histogram spans specify different number of buckets than provided"
        ));
    }
    Ok(())
}

/// Custom bounds: not NaN, strictly increasing, no `+Inf`; spans with non-negative offsets
/// covering `buckets` buckets, within the bounds (and the implicit `+Inf` bucket).
fn check_custom_bounds(bounds: &[f64], spans: &[BucketSpan], buckets: usize) -> Result<(), String> {
    let mut previous = f64::NEG_INFINITY;
    for (i, &bound) in bounds.iter().enumerate() {
        if bound.is_nan() {
            return Err("histogram custom bounds must not be NaN".into());
        }
        if i > 0 && bound <= previous {
            return Err(format!(
                "previous bound is {previous:.6} and current is {bound:.6}: histogram custom bounds must be in strictly increasing order"
            ));
        }
        previous = bound;
    }
    if previous == f64::INFINITY {
        return Err(
            "last +Inf bound must not be explicitly defined: histogram custom bounds must be finite"
                .into(),
        );
    }
    let mut span_buckets: u64 = 0;
    let mut total_span_length: i64 = 0;
    for (n, span) in spans.iter().enumerate() {
        if span.offset < 0 {
            return Err(format!(
                "span number {} with offset {}: histogram has a span whose offset is negative",
                n + 1,
                span.offset
            ));
        }
        span_buckets += u64::from(span.length);
        total_span_length += i64::from(span.length) + i64::from(span.offset);
    }
    spans_match(span_buckets, buckets)?;
    if (bounds.len() as i64 + 1) < total_span_length {
        return Err(format!(
            "only {} custom bounds defined which is insufficient to cover total span length of {total_span_length}: histogram custom bounds are too few",
            bounds.len()
        ));
    }
    Ok(())
}

/// The total of delta-encoded buckets; an error naming the first bucket whose running count
/// is negative.
fn delta_bucket_total(deltas: &[i64]) -> Result<u64, String> {
    let mut last: i64 = 0;
    let mut total: u64 = 0;
    for (i, delta) in deltas.iter().enumerate() {
        let current = last
            .checked_add(*delta)
            .ok_or_else(|| format!("bucket number {} overflows its count", i + 1))?;
        if current < 0 {
            return Err(format!(
                "bucket number {} has observation count of {current}: histogram has a bucket whose observation count is negative",
                i + 1
            ));
        }
        last = current;
        total = total.saturating_add(current as u64);
    }
    Ok(total)
}

/// Float buckets are not negative.
fn float_buckets(counts: &[f64]) -> Result<(), String> {
    for (i, count) in counts.iter().enumerate() {
        if *count < 0.0 {
            return Err(format!(
                "bucket number {} has observation count of {count}: histogram has a bucket whose observation count is negative",
                i + 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One change that makes a valid histogram invalid.
    type Change = Box<dyn Fn(&mut Histogram)>;

    fn span(offset: i32, length: u32) -> BucketSpan {
        BucketSpan { offset, length }
    }

    /// Prometheus's documented example shape: schema 0, buckets 1, 2, 1 at indices -1..=1
    /// and 1 at index 3 (deltas 1, 1, -1, 0), zero count 2, count 7.
    fn integer() -> Histogram {
        Histogram {
            schema: 0,
            zero_threshold: 0.001,
            sum: 18.4,
            counts: HistogramCounts::Integer {
                count: 7,
                zero_count: 2,
                positive_deltas: vec![1, 1, -1, 0],
                negative_deltas: Vec::new(),
            },
            positive_spans: vec![span(-1, 3), span(1, 1)],
            negative_spans: Vec::new(),
            reset_hint: ResetHint::No,
            custom_values: Vec::new(),
        }
    }

    #[test]
    fn a_consistent_integer_histogram_is_valid() {
        assert_eq!(integer().validate(), Ok(()));
        assert!(Histogram::stale().validate().is_ok());
        assert!(Histogram::stale().is_stale());
    }

    #[test]
    fn each_rule_refuses_with_prometheus_s_words() {
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|h| h.schema = 9), "invalid schema"),
            (Box::new(|h| h.schema = -5), "got schema -5"),
            (
                Box::new(|h| h.positive_spans[1].length = 2),
                "spans need 5 buckets, have 4",
            ),
            (
                Box::new(|h| h.positive_spans[1].offset = -1),
                "span number 2 with offset -1",
            ),
            (
                Box::new(|h| h.custom_values = vec![1.0]),
                "must not have custom bounds",
            ),
            (
                Box::new(|h| {
                    if let HistogramCounts::Integer {
                        positive_deltas, ..
                    } = &mut h.counts
                    {
                        positive_deltas[2] = -3;
                    }
                }),
                "bucket number 3 has observation count of -1",
            ),
            (
                Box::new(|h| {
                    if let HistogramCounts::Integer { count, .. } = &mut h.counts {
                        *count = 8;
                    }
                }),
                "7 observations found in buckets, but the Count field is 8",
            ),
        ];
        for (change, expected) in cases {
            let mut h = integer();
            change(&mut h);
            let error = h.validate().unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        // With a NaN sum the count may exceed the buckets' total, not fall short of it.
        let mut h = integer();
        h.sum = f64::NAN;
        if let HistogramCounts::Integer { count, .. } = &mut h.counts {
            *count = 9;
        }
        assert!(h.validate().is_ok());
        if let HistogramCounts::Integer { count, .. } = &mut h.counts {
            *count = 6;
        }
        assert!(h.validate().unwrap_err().contains("should be at least"));
    }

    #[test]
    fn custom_buckets_follow_their_own_rules() {
        let nhcb = || Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            zero_threshold: 0.0,
            sum: 10.0,
            counts: HistogramCounts::Float {
                count: 6.0,
                zero_count: 0.0,
                positive_counts: vec![1.0, 2.0, 3.0],
                negative_counts: Vec::new(),
            },
            positive_spans: vec![span(0, 3)],
            negative_spans: Vec::new(),
            reset_hint: ResetHint::Unknown,
            custom_values: vec![0.5, 1.0],
        };
        assert_eq!(nhcb().validate(), Ok(()), "two bounds and the +Inf bucket");
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|h| h.custom_values = vec![1.0, 0.5]),
                "strictly increasing",
            ),
            (
                Box::new(|h| h.custom_values = vec![0.5, f64::INFINITY]),
                "must be finite",
            ),
            (
                Box::new(|h| h.custom_values = vec![f64::NAN, 1.0]),
                "must not be NaN",
            ),
            (
                Box::new(|h| h.custom_values = vec![0.5]),
                "insufficient to cover",
            ),
            (Box::new(|h| h.zero_threshold = 0.1), "zero threshold of 0"),
            (
                Box::new(|h| h.negative_spans = vec![span(0, 1)]),
                "negative spans",
            ),
            (
                Box::new(|h| {
                    if let HistogramCounts::Float { zero_count, .. } = &mut h.counts {
                        *zero_count = 1.0;
                    }
                }),
                "zero count of 0",
            ),
        ];
        for (change, expected) in cases {
            let mut h = nhcb();
            change(&mut h);
            let error = h.validate().unwrap_err();
            assert!(error.starts_with("custom buckets: "), "{error}");
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn float_counts_must_not_be_negative() {
        let float = |positive: Vec<f64>, zero: f64, count: f64| Histogram {
            schema: 2,
            zero_threshold: 0.0,
            sum: 1.0,
            counts: HistogramCounts::Float {
                count,
                zero_count: zero,
                positive_counts: positive,
                negative_counts: Vec::new(),
            },
            positive_spans: vec![span(0, 2)],
            negative_spans: Vec::new(),
            reset_hint: ResetHint::Gauge,
            custom_values: Vec::new(),
        };
        assert!(float(vec![1.5, 2.5], 0.5, 4.5).validate().is_ok());
        assert!(
            float(vec![1.5, -2.5], 0.5, 4.5)
                .validate()
                .unwrap_err()
                .contains("positive side: bucket number 2")
        );
        assert!(
            float(vec![1.5, 2.5], -0.5, 4.5)
                .validate()
                .unwrap_err()
                .contains("zero bucket")
        );
        assert!(
            float(vec![1.5, 2.5], 0.5, -1.0)
                .validate()
                .unwrap_err()
                .contains("observation count is -1")
        );
    }

    #[test]
    fn reset_hints_round_trip_through_their_protocol_values() {
        for hint in [
            ResetHint::Unknown,
            ResetHint::Yes,
            ResetHint::No,
            ResetHint::Gauge,
        ] {
            assert_eq!(ResetHint::from_u8(hint.as_u8()), Some(hint));
        }
        assert_eq!(ResetHint::from_u8(4), None);
    }
}
