//! Synthetic workloads for `promrw demo`, `promrw bench` and the benchmarks.
//!
//! W1: 10,000 series of 8 labels (`__name__` from 100 names, job, instance, region, pod,
//! container, method, code; about 150-200 bytes of label text each), 100 rounds of timestamps
//! 1 s apart: 1,000,000 samples.

use promrw::model::{Label, Labels};
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
}
