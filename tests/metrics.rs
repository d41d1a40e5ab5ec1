//! Every self-metric against a scripted receiver: what each counter and gauge of
//! `Sender::stats` says after 2xx, 5xx then 2xx, 4xx, 429, drops (too old, queue full) and
//! refused appends, and that the text exposition says the same under Prometheus's names
//! (reference §3.8): `samples_total` per attempt, `samples_failed_total` and
//! `samples_retried_total` per sample, `bytes_total` once per batch, the highest-timestamp
//! gauges, `samples_pending`, and the batch-duration histogram per attempt.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Fault, FaultReceiver, now_ms, sender, yaml};
use promrw::metrics::EndpointStats;
use promrw::{ErrorKind, Sample, Sender, SeriesRef};

/// The exposition as `metric{labels} -> value`, label text as written.
fn exposition(sender: &Sender) -> HashMap<String, f64> {
    sender
        .metrics_text()
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').expect("`name value` line");
            (
                key.to_string(),
                value.parse::<f64>().expect("numeric value"),
            )
        })
        .collect()
}

/// The value of an endpoint metric of the endpoint named `test` (`reason` is the first label
/// of `samples_dropped_total`).
fn endpoint_metric(
    metrics: &HashMap<String, f64>,
    stats: &EndpointStats,
    name: &str,
    reason: Option<&str>,
) -> f64 {
    let labels = format!("remote_name=\"test\",url=\"{}\"", stats.url);
    let key = match reason {
        Some(reason) => format!("{name}{{reason=\"{reason}\",{labels}}}"),
        None => format!("{name}{{{labels}}}"),
    };
    *metrics
        .get(&key)
        .unwrap_or_else(|| panic!("{key} is not in the exposition: {metrics:?}"))
}

/// Checks that every endpoint figure of `stats()` is what the exposition says under the name
/// of the Prometheus metric it stands for, and the sender figures likewise; returns the
/// endpoint's stats.
fn stats_agree_with_exposition(sender: &Sender) -> EndpointStats {
    let stats = sender.stats();
    let metrics = exposition(sender);
    let e = stats.endpoints[0].clone();
    let p = |name: &str| format!("prometheus_remote_storage_{name}");
    let counters: [(String, Option<&str>, u64); 11] = [
        (p("samples_total"), None, e.samples_total),
        ("promrw_samples_acked_total".into(), None, e.samples_acked),
        (p("samples_failed_total"), None, e.samples_failed),
        (p("samples_retried_total"), None, e.samples_retried),
        (
            p("samples_dropped_total"),
            Some("too_old"),
            e.samples_dropped_too_old,
        ),
        (
            p("samples_dropped_total"),
            Some("queue_full"),
            e.samples_dropped_queue_full,
        ),
        (p("bytes_total"), None, e.bytes_total),
        ("promrw_batches_acked_total".into(), None, e.batches_acked),
        (p("enqueue_retries_total"), None, e.enqueue_retries),
        (p("samples_pending"), None, e.samples_pending),
        (p("shards"), None, e.shards),
    ];
    for (name, reason, value) in counters {
        assert_eq!(
            endpoint_metric(&metrics, &e, &name, reason),
            value as f64,
            "{name} {reason:?} vs {e:?}"
        );
    }
    for (name, ms) in [
        ("queue_highest_timestamp_seconds", e.highest_enqueued_ms),
        ("queue_highest_sent_timestamp_seconds", e.highest_sent_ms),
    ] {
        assert_eq!(
            endpoint_metric(&metrics, &e, &p(name), None),
            ms as f64 / 1000.0,
            "{name} vs {e:?}"
        );
    }
    assert_eq!(
        metrics["promrw_samples_appended_total"],
        stats.samples_appended as f64
    );
    for (reason, value) in [
        ("out_of_order", stats.rejected_out_of_order),
        ("queue_full", stats.rejected_queue_full),
        ("unknown_series", stats.rejected_unknown_series),
        ("closed", stats.rejected_closed),
        ("shard_dead", stats.rejected_shard_dead),
        ("io", stats.rejected_io),
    ] {
        assert_eq!(
            metrics[&format!("promrw_appends_rejected_total{{reason=\"{reason}\"}}")],
            value as f64,
            "rejected {reason}"
        );
    }
    e
}

/// The number of observations of the batch-duration histogram (one per attempt).
fn attempts_observed(sender: &Sender) -> f64 {
    let metrics = exposition(sender);
    let e = &sender.stats().endpoints[0];
    endpoint_metric(
        &metrics,
        e,
        "prometheus_remote_storage_sent_batch_duration_seconds_count",
        None,
    )
}

/// Appends `n` samples, 1 ms apart from `t`, to a new series; returns its ref.
fn append_n(sender: &Sender, name: &str, t: i64, n: usize) -> SeriesRef {
    let r = sender.series_from_pairs(&[("__name__", name)]).unwrap();
    for i in 0..n {
        sender.append(r, t + i as i64, i as f64).unwrap();
    }
    r
}

/// One batch of 5 samples per request.
const BATCH_OF_5: &str = "      max_samples_per_send: 5\n";

#[test]
fn acknowledged_batches_count_once_each() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(&receiver.url(), BATCH_OF_5, ""));
    let t = now_ms();
    append_n(&sender, "ok", t, 10);
    sender.flush(Duration::from_secs(10)).unwrap();
    let e = stats_agree_with_exposition(&sender);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2, "two requests of 5");
    assert_eq!(
        (e.samples_total, e.samples_acked, e.batches_acked),
        (10, 10, 2),
        "{e:?}"
    );
    assert_eq!((e.samples_failed, e.samples_retried), (0, 0), "{e:?}");
    assert_eq!(
        e.bytes_total,
        seen.iter().map(|s| s.bytes as u64).sum::<u64>()
    );
    assert_eq!(e.bytes_total, receiver.store().totals().compressed_bytes);
    assert_eq!((e.highest_enqueued_ms, e.highest_sent_ms), (t + 9, t + 9));
    assert_eq!(e.samples_pending, 0);
    assert_eq!(attempts_observed(&sender), 2.0);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn retried_attempts_count_in_samples_total_and_retried_bytes_once() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Status(500, "down"), Fault::Status(503, "still down")]);
    let sender = sender(&yaml(&receiver.url(), BATCH_OF_5, ""));
    let t = now_ms();
    append_n(&sender, "retried", t, 5);
    sender.flush(Duration::from_secs(10)).unwrap();
    let e = stats_agree_with_exposition(&sender);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3, "two failed attempts, then the accepted one");
    // Prometheus counts samples_total per attempt and samples_retried_total per retry.
    assert_eq!(e.samples_total, 15, "{e:?}");
    assert_eq!(e.samples_retried, 10, "{e:?}");
    assert_eq!((e.samples_acked, e.batches_acked), (5, 1), "{e:?}");
    assert_eq!(e.samples_failed, 0, "{e:?}");
    // bytes_total counts the batch once, not per attempt.
    assert_eq!(e.bytes_total, seen[2].bytes as u64, "{e:?}");
    assert_eq!(e.highest_sent_ms, t + 4);
    assert_eq!(attempts_observed(&sender), 3.0);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_rejected_batch_fails_every_sample_and_leaves_highest_sent_alone() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Status(400, "bad request")]);
    let sender = sender(&yaml(&receiver.url(), BATCH_OF_5, ""));
    let t = now_ms();
    let r = append_n(&sender, "rejected", t, 5);
    let lost = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::SamplesLost, "{lost}");
    let e = stats_agree_with_exposition(&sender);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "a 4xx is not retried");
    assert_eq!(e.samples_failed, 5, "one failure per sample: {e:?}");
    assert_eq!(sender.last_report().lost().failed, 5);
    assert_eq!(e.samples_total, 5, "{e:?}");
    assert_eq!(
        (e.samples_acked, e.batches_acked, e.samples_retried),
        (0, 0, 0)
    );
    // Prometheus's bytes_total counts a batch once its sending ended, accepted or not.
    assert_eq!(e.bytes_total, seen[0].bytes as u64, "{e:?}");
    assert_eq!(e.highest_enqueued_ms, t + 4);
    assert_eq!(e.highest_sent_ms, 0, "a rejected batch does not advance it");
    assert_eq!(e.samples_pending, 0);
    assert_eq!(attempts_observed(&sender), 1.0);

    // The next batch is accepted: highest sent catches up, bytes add up.
    for i in 5..10 {
        sender.append(r, t + i, 0.0).unwrap();
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    let e = stats_agree_with_exposition(&sender);
    let seen = receiver.seen();
    assert_eq!(e.highest_sent_ms, t + 9);
    assert_eq!(
        (e.samples_total, e.samples_acked, e.samples_failed),
        (10, 5, 5)
    );
    assert_eq!(e.bytes_total, (seen[0].bytes + seen[1].bytes) as u64);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_429_is_retried_by_default_and_fails_every_sample_when_not() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::RetryAfter(429, "0".to_string())]);
    let retrying = sender(&yaml(&receiver.url(), BATCH_OF_5, ""));
    append_n(&retrying, "throttled", now_ms(), 5);
    retrying.flush(Duration::from_secs(10)).unwrap();
    let e = stats_agree_with_exposition(&retrying);
    assert_eq!(
        (
            e.samples_total,
            e.samples_retried,
            e.samples_acked,
            e.samples_failed
        ),
        (10, 5, 5, 0),
        "{e:?}"
    );
    retrying.close(Duration::from_secs(5)).unwrap();

    receiver.push_faults([Fault::RetryAfter(429, "0".to_string())]);
    let failing = sender(&yaml(
        &receiver.url(),
        &format!("{BATCH_OF_5}      retry_on_http_429: false\n"),
        "",
    ));
    append_n(&failing, "throttled", now_ms() + 1000, 5);
    let lost = failing.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::SamplesLost, "{lost}");
    let e = stats_agree_with_exposition(&failing);
    assert_eq!(
        (
            e.samples_total,
            e.samples_retried,
            e.samples_acked,
            e.samples_failed
        ),
        (5, 0, 0, 5),
        "{e:?}"
    );
    assert_eq!(e.highest_sent_ms, 0);
    failing.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn samples_too_old_on_append_are_dropped_and_never_enqueued() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(
        &receiver.url(),
        &format!("{BATCH_OF_5}      sample_age_limit: 1s\n"),
        "",
    ));
    append_n(&sender, "old", now_ms() - 60_000, 7);
    let e = stats_agree_with_exposition(&sender);
    assert_eq!(e.samples_dropped_too_old, 7, "{e:?}");
    assert_eq!(sender.stats().samples_appended, 7, "accepted, then dropped");
    assert_eq!((e.samples_total, e.samples_pending), (0, 0), "{e:?}");
    assert_eq!(e.highest_enqueued_ms, 0, "nothing was queued");
    let lost = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::SamplesLost, "{lost}");
    assert_eq!(sender.last_report().lost().dropped_too_old, 7);
    assert!(receiver.seen().is_empty());
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn queue_full_drops_and_pending_add_up_to_what_was_appended() {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..100_000).map(|_| Fault::Status(503, "unavailable")));
    let sender = sender(&yaml(
        &receiver.url(),
        "      capacity: 10\n      max_samples_per_send: 5\n      overflow: drop_newest\n",
        "",
    ));
    let t = now_ms();
    append_n(&sender, "full", t, 100);
    let e = stats_agree_with_exposition(&sender);
    // Nothing finishes while every attempt gets a 503: what was not dropped is pending.
    assert_eq!(
        e.samples_pending + e.samples_dropped_queue_full,
        100,
        "{e:?}"
    );
    assert!((10..=15).contains(&e.samples_pending), "{e:?}");
    assert_eq!(e.samples_acked, 0);
    assert!(e.highest_enqueued_ms >= t + 9, "{e:?}");
    assert_eq!(e.highest_sent_ms, 0);
    receiver.clear_faults();
    let lost = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::SamplesLost, "{lost}");
    let after = stats_agree_with_exposition(&sender);
    assert_eq!(after.samples_pending, 0);
    assert_eq!(after.samples_acked, e.samples_pending, "{after:?}");
    assert_eq!(
        after.samples_dropped_queue_full,
        e.samples_dropped_queue_full
    );
    assert_eq!(after.highest_sent_ms, e.highest_enqueued_ms);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_batch_refused_whole_counts_every_sample() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(&receiver.url(), BATCH_OF_5, ""));
    let r = sender.series_from_pairs(&[("__name__", "late")]).unwrap();
    let t = now_ms();
    sender.close(Duration::from_secs(5)).unwrap();
    let batch: Vec<Sample> = (0..7)
        .map(|i| Sample {
            series: r,
            timestamp_ms: t + i,
            value: 0.0,
        })
        .collect();
    let (accepted, result) = sender.append_batch(&batch);
    assert_eq!(accepted, 0);
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(
        sender.append(r, t, 0.0).unwrap_err().kind(),
        ErrorKind::Closed
    );
    stats_agree_with_exposition(&sender);
    assert_eq!(sender.stats().rejected_closed, 8, "7 in the batch, then 1");
}

#[test]
fn a_batch_stopping_at_a_refused_sample_counts_that_sample() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(&receiver.url(), BATCH_OF_5, ""));
    let r = sender.series_from_pairs(&[("__name__", "ooo")]).unwrap();
    let t = now_ms();
    // The third sample goes back in time; the two after it are not tried.
    let batch: Vec<Sample> = [0, 1, -5, 2, 3]
        .iter()
        .map(|d| Sample {
            series: r,
            timestamp_ms: t + d,
            value: 0.0,
        })
        .collect();
    let (accepted, result) = sender.append_batch(&batch);
    assert_eq!(accepted, 2);
    assert_eq!(result.unwrap_err().kind(), ErrorKind::OutOfOrder);
    stats_agree_with_exposition(&sender);
    let stats = sender.stats();
    assert_eq!(stats.rejected_out_of_order, 1);
    assert_eq!(stats.samples_appended, 2);
    sender.flush(Duration::from_secs(10)).unwrap();
    sender.close(Duration::from_secs(5)).unwrap();
}
