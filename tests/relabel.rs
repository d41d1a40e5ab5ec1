//! `write_relabel_configs` on the send path: each endpoint relabels with its own rules, once
//! per series (the result is remembered), after the external labels are added; dropped series
//! are counted per sample (`reason="relabel"`), results Remote Write cannot carry are dropped,
//! counted (`reason="relabel_invalid"`) and logged once; in WAL mode the feeder relabels what
//! it reads back, so a restart sends the same label sets.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CollectLogs, FaultReceiver, TempDir, now_ms};
use promrw::{Config, LogLevel, Sender};

/// Two endpoints with different rules; `extra` adds top-level lines.
fn two_endpoints(a: &str, b: &str, extra: &str) -> String {
    format!(
        "external_labels:\n  cluster: eu-1\nremote_write:
  - url: {a}
    name: keeper
    queue_config: {{batch_send_deadline: 20ms, min_backoff: 10ms, max_backoff: 50ms}}
    write_relabel_configs:
      # keep only what the cluster label says (an external label)
      - source_labels: [cluster, __name__]
        regex: 'eu-1;(app|job)_.*'
        action: keep
      - regex: pod
        action: labeldrop
      - source_labels: [instance]
        target_label: shard
        modulus: 4
        action: hashmod
  - url: {b}
    name: renamer
    queue_config: {{batch_send_deadline: 20ms, min_backoff: 10ms, max_backoff: 50ms}}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'app_(.*)'
        target_label: __name__
        replacement: 'renamed_${{1}}'
      - source_labels: [__name__]
        regex: 'job_bad'
        target_label: __name__
        replacement: '1invalid'
      - source_labels: [__name__]
        regex: 'other_.*'
        action: drop
{extra}"
    )
}

/// The label sets a receiver stored, each as `name=value,...`, and its sample count.
fn stored(receiver: &FaultReceiver) -> (BTreeSet<String>, usize) {
    let mut sets = BTreeSet::new();
    let mut samples = 0;
    for (labels, kept) in receiver.store().all_samples() {
        let text: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
        sets.insert(text.join(","));
        samples += kept.len();
    }
    (sets, samples)
}

/// Appends `rounds` samples to each of the workload's series.
fn append_rounds(sender: &Sender, rounds: i64) {
    let names = [
        ("app_requests", "i1", "p1"),
        ("app_errors", "i2", "p2"),
        ("job_bad", "i3", "p3"),
        ("other_metric", "i4", "p4"),
    ];
    let refs: Vec<_> = names
        .iter()
        .map(|(name, instance, pod)| {
            sender
                .series_from_pairs(&[("__name__", *name), ("instance", *instance), ("pod", *pod)])
                .unwrap()
        })
        .collect();
    let t0 = now_ms() - 10_000;
    for round in 0..rounds {
        for r in &refs {
            sender.append(*r, t0 + round, round as f64).unwrap();
        }
    }
}

fn dropped(sender: &Sender, endpoint: &str, reason: &str) -> u64 {
    let text = sender.metrics_text();
    let needle = format!(
        "prometheus_remote_storage_samples_dropped_total{{reason=\"{reason}\",remote_name=\"{endpoint}\""
    );
    text.lines()
        .find(|l| l.starts_with(&needle))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
}

/// What each endpoint must have received: label sets and sample count for `rounds` rounds.
fn check_received(keeper: &FaultReceiver, renamer: &FaultReceiver, rounds: usize) {
    // hashmod of "i1" and "i2" modulo 4, computed as Prometheus does (MD5, low 8 bytes
    // big-endian); the unit tests of src/relabel check the function against Prometheus's own
    // numbers.
    let shard = |instance: &str| promrw::relabel::hashmod(instance, 4).to_string();
    let expected_keeper: BTreeSet<String> = [
        format!(
            "__name__=app_errors,cluster=eu-1,instance=i2,shard={}",
            shard("i2")
        ),
        format!(
            "__name__=app_requests,cluster=eu-1,instance=i1,shard={}",
            shard("i1")
        ),
        format!(
            "__name__=job_bad,cluster=eu-1,instance=i3,shard={}",
            shard("i3")
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(stored(keeper), (expected_keeper, 3 * rounds));
    let expected_renamer: BTreeSet<String> = [
        "__name__=renamed_errors,cluster=eu-1,instance=i2,pod=p2",
        "__name__=renamed_requests,cluster=eu-1,instance=i1,pod=p1",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(stored(renamer), (expected_renamer, 2 * rounds));
}

#[test]
fn each_endpoint_relabels_with_its_own_rules_and_counts_what_it_drops() {
    let keeper = FaultReceiver::start();
    let renamer = FaultReceiver::start();
    let mut config = Config::from_text(&two_endpoints(&keeper.url(), &renamer.url(), "")).unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Warn);
    let sender = Sender::new(config).unwrap();
    append_rounds(&sender, 50);
    sender.flush(Duration::from_secs(10)).unwrap();
    check_received(&keeper, &renamer, 50);
    assert_eq!(
        dropped(&sender, "keeper", "relabel"),
        50,
        "other_metric, each sample"
    );
    assert_eq!(dropped(&sender, "keeper", "relabel_invalid"), 0);
    assert_eq!(dropped(&sender, "renamer", "relabel"), 50, "other_metric");
    assert_eq!(
        dropped(&sender, "renamer", "relabel_invalid"),
        50,
        "job_bad renamed to 1invalid"
    );
    let report = sender.close(Duration::from_secs(5));
    assert!(report.is_ok(), "relabel drops are not losses: {report:?}");
    let logs = logs.lock().unwrap();
    let invalid: Vec<&String> = logs.iter().filter(|l| l.contains("relabeled to")).collect();
    assert_eq!(invalid.len(), 1, "logged once: {logs:?}");
    assert!(invalid[0].contains("remote_name=renamer") && invalid[0].contains("1invalid"));
}

#[test]
fn in_wal_mode_the_log_keeps_the_original_labels_and_each_endpoint_relabels_what_it_reads() {
    let dir = TempDir::new("relabel-wal");
    let down_keeper = FaultReceiver::start();
    let down_renamer = FaultReceiver::start();
    for down in [&down_keeper, &down_renamer] {
        down.push_faults((0..100_000).map(|_| common::Fault::Status(503, "down")));
    }
    let wal = format!("promrw:\n  wal:\n    dir: {}\n", dir.path().display());
    let text = two_endpoints(&down_keeper.url(), &down_renamer.url(), &wal);
    let sender = Sender::new(Config::from_text(&text).unwrap()).unwrap();
    append_rounds(&sender, 40);
    sender.sync(Duration::from_secs(10)).unwrap();
    let _ = sender.close(Duration::from_millis(300));
    assert_eq!(stored(&down_keeper).1 + stored(&down_renamer).1, 0);
    // A new sender on the same log, both receivers up: what the log held is relabeled by each
    // endpoint's feeder.
    let keeper = FaultReceiver::start();
    let renamer = FaultReceiver::start();
    let text = two_endpoints(&keeper.url(), &renamer.url(), &wal);
    let sender = Sender::new(Config::from_text(&text).unwrap()).unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    check_received(&keeper, &renamer, 40);
    assert_eq!(dropped(&sender, "keeper", "relabel"), 40);
    assert_eq!(dropped(&sender, "renamer", "relabel_invalid"), 40);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn bad_rules_are_refused_naming_the_endpoint_and_the_rule() {
    let cases = [
        (
            "      - source_labels: [a]\n        action: replace\n",
            "remote_write[0].write_relabel_configs[0]: relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "      - regex: x\n        action: keep\n      - action: hashmod\n        target_label: t\n",
            "remote_write[0].write_relabel_configs[1]: relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "      - null\n",
            "empty or null relabeling rule in remote write config",
        ),
        (
            "      - action: keepp\n",
            "remote_write[0].write_relabel_configs[0]",
        ),
        (
            "      - regex: '('\n",
            "remote_write[0].write_relabel_configs[0]",
        ),
    ];
    for (rules, expected) in cases {
        let text = format!(
            "remote_write:\n  - url: http://127.0.0.1:9/w\n    write_relabel_configs:\n{rules}"
        );
        let err = Config::from_text(&text).unwrap_err();
        assert!(
            err.message().contains(expected),
            "{:?} should contain {expected:?}",
            err.message()
        );
    }
}
