//! Synthetic workloads for `promrw demo`, `promrw bench` and the benchmarks.
//!
//! W1: 10,000 series of 8 labels (`__name__` from 100 names, job, instance, region, pod,
//! container, method, code; about 150-200 bytes of label text each), 100 rounds of timestamps
//! 1 s apart: 1,000,000 samples.

use promrw::model::{BucketSpan, Histogram, HistogramCounts, Label, Labels, ResetHint};
use promrw::relabel::RawRelabelConfig;

/// Shape of a synthetic workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Number of series.
    pub series: usize,
    /// Samples per series, one per round.
    pub rounds: usize,
    /// Milliseconds between rounds.
    pub step_ms: i64,
}

impl Workload {
    /// The W1 workload: 10,000 series × 100 rounds, 1 s apart.
    pub const W1: Workload = Workload {
        series: 10_000,
        rounds: 100,
        step_ms: 1_000,
    };

    /// Total samples.
    pub fn samples(&self) -> usize {
        self.series * self.rounds
    }

    /// The label set of series `i`.
    pub fn labels(&self, i: usize) -> Labels {
        const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
        const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];
        const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"];
        let labels = vec![
            Label::new(
                "__name__",
                format!("http_server_requests_metric_{:03}_total", i % 100),
            ),
            Label::new("job", format!("payments-api-{}", i % 7)),
            Label::new(
                "instance",
                format!(
                    "10.{}.{}.{}:9100",
                    (i / 65536) % 256,
                    (i / 256) % 256,
                    i % 256
                ),
            ),
            Label::new("region", REGIONS[i % REGIONS.len()]),
            Label::new(
                "pod",
                format!("payments-api-deployment-7d9f8c6b5-{:05}", i / 5),
            ),
            Label::new("container", format!("payments-container-{}", i % 3)),
            Label::new("method", METHODS[i % METHODS.len()]),
            Label::new("code", CODES[i % CODES.len()]),
        ];
        Labels::new(labels).expect("workload labels are valid")
    }

    /// The value of series `i` at `round` (a counter-like, deterministic value).
    pub fn value(&self, i: usize, round: usize) -> f64 {
        (i as f64) * 0.5 + (round as f64) * 3.0
    }
}

/// The histogram workload of `promrw bench --histograms`: `series` native histogram series
/// (W1's label sets with a `_seconds` name), each with `buckets` positive buckets (schema 3,
/// one span), `rounds` rounds `step_ms` apart. Every bucket counts like a counter: its
/// absolute count never decreases from one round to the next, and grows by an amount that
/// varies per round and bucket, so the deltas change every round as a real histogram's do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramWorkload {
    /// Number of series.
    pub series: usize,
    /// Positive buckets per histogram.
    pub buckets: usize,
    /// Histograms per series, one per round.
    pub rounds: usize,
    /// Milliseconds between rounds.
    pub step_ms: i64,
}

impl HistogramWorkload {
    /// Issue 15's workload: 1,000 series × 20 buckets × 100 rounds, 1 s apart.
    pub const H1: HistogramWorkload = HistogramWorkload {
        series: 1_000,
        buckets: 20,
        rounds: 100,
        step_ms: 1_000,
    };

    /// Total histograms.
    pub fn histograms(&self) -> usize {
        self.series * self.rounds
    }

    /// The label set of series `i`: W1's, named `http_server_request_duration_seconds_NNN`.
    pub fn labels(&self, i: usize) -> Labels {
        let mut labels = Workload::W1.labels(i).as_slice().to_vec();
        labels[0] = Label::new(
            "__name__",
            format!("http_server_request_duration_seconds_{:03}", i % 100),
        );
        Labels::new(labels).expect("workload labels are valid")
    }

    /// Absolute count of bucket `b` of series `i` at `round`: a per-bucket rate plus a
    /// quadratic term, both non-decreasing in `round`.
    fn bucket_count(i: usize, b: usize, round: usize) -> u64 {
        let (i, b, r) = (i as u64, b as u64, round as u64);
        let rate = 1 + (i * 7 + b * 13) % 17;
        (r + 1) * rate + r * r / (b + 2) + (i + b) % 5
    }

    /// The histogram of series `i` at `round` (valid per `Histogram::validate`).
    pub fn histogram(&self, i: usize, round: usize) -> Histogram {
        let mut positive_deltas = Vec::with_capacity(self.buckets);
        let mut previous = 0i64;
        let mut count = 0u64;
        let mut sum = 0.0;
        for b in 0..self.buckets {
            let c = Self::bucket_count(i, b, round);
            positive_deltas.push(c as i64 - previous);
            previous = c as i64;
            count += c;
            // Schema 3: bucket index k (offset 4 + b) has upper bound 2^(k/8); its midpoint
            // stands for its observations.
            let upper = 2f64.powf((4 + b) as f64 / 8.0);
            sum += c as f64 * upper * 0.96;
        }
        let zero_count = round as u64 / 10;
        Histogram {
            schema: 3,
            zero_threshold: 2.938735877055719e-39,
            sum,
            counts: HistogramCounts::Integer {
                count: count + zero_count,
                zero_count,
                positive_deltas,
                negative_deltas: Vec::new(),
            },
            positive_spans: vec![BucketSpan {
                offset: 4,
                length: self.buckets as u32,
            }],
            negative_spans: Vec::new(),
            reset_hint: if round == 0 {
                ResetHint::Unknown
            } else {
                ResetHint::No
            },
            custom_values: Vec::new(),
        }
    }
}

/// The rules of `promrw bench --relabel` and `benches/relabel.rs`: one of each kind the target names, keeping every W1 series (so
/// both runs send the same samples); the replace adds `env="prod"` and the labeldrop removes
/// `container` and the hashmod's `__tmp_shard`, so the label bytes stay about the same. As
/// YAML: keep `__name__` =~ `.+`; drop `code` =~ `599`; replace `env` = `prod`; hashmod
/// `instance` % 8 into `__tmp_shard`; labeldrop `__tmp_shard|container`.
pub fn w1_relabel_rules() -> Vec<RawRelabelConfig> {
    vec![
        RawRelabelConfig::new("keep")
            .source_labels(["__name__"])
            .regex(".+"),
        RawRelabelConfig::new("drop")
            .source_labels(["code"])
            .regex("599"),
        RawRelabelConfig::new("replace")
            .target_label("env")
            .replacement("prod"),
        RawRelabelConfig::new("hashmod")
            .source_labels(["instance"])
            .modulus(8)
            .target_label("__tmp_shard"),
        RawRelabelConfig::new("labeldrop").regex("__tmp_shard|container"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w1_label_sizes() {
        let w = Workload::W1;
        for i in [0, 1, 4999, 9999] {
            let l = w.labels(i);
            assert_eq!(l.as_slice().len(), 8);
            let bytes: usize = l
                .as_slice()
                .iter()
                .map(|l| l.name.len() + l.value.len())
                .sum();
            assert!((150..=200).contains(&bytes), "series {i}: {bytes} bytes");
        }
        assert_eq!(w.samples(), 1_000_000);
    }

    #[test]
    fn h1_histograms_are_valid_and_count_up() {
        let w = HistogramWorkload::H1;
        assert_eq!(w.histograms(), 100_000);
        for i in [0, 1, 499, 999] {
            let mut last = vec![0i64; w.buckets];
            let mut deltas_seen = std::collections::HashSet::new();
            for round in 0..w.rounds {
                let h = w.histogram(i, round);
                h.validate()
                    .unwrap_or_else(|e| panic!("series {i} round {round}: {e}"));
                let HistogramCounts::Integer {
                    positive_deltas, ..
                } = &h.counts
                else {
                    panic!("integer histogram");
                };
                assert_eq!(positive_deltas.len(), 20);
                deltas_seen.insert(positive_deltas.clone());
                let mut absolute = 0;
                for (b, delta) in positive_deltas.iter().enumerate() {
                    absolute += delta;
                    assert!(absolute >= last[b], "bucket {b} decreased");
                    last[b] = absolute;
                }
            }
            assert_eq!(deltas_seen.len(), w.rounds, "deltas vary per round");
        }
    }
}
