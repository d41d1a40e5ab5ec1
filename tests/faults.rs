//! Retry behaviour against a fault-injecting receiver: 5xx runs, 429 with Retry-After, 4xx
//! drops, slow responses beyond remote_timeout.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CollectLogs, Fault, FaultReceiver, now_ms, sender, yaml};
use promrw::{Config, LogLevel, Sender};

/// The delay in a "retrying in 12.3ms" warning, parsed from `Duration`'s debug form.
fn logged_retry_delay(line: &str) -> Option<Duration> {
    let rest = line.split("retrying in ").nth(1)?;
    let text = rest.split(':').next()?;
    let split = text.find(|c: char| c.is_alphabetic() || c == '\u{b5}')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "\u{b5}s" => number / 1e6,
        "ns" => number / 1e9,
        _ => panic!("unit {unit:?} in {line:?}"),
    };
    Some(Duration::from_secs_f64(seconds))
}

/// Appends `n` samples to one series per name and returns the first timestamp.
fn append_series(sender: &promrw::Sender, name: &str, n: usize) -> i64 {
    let r = sender.series_from_pairs(&[("__name__", name)]).unwrap();
    let t = now_ms();
    for i in 0..n {
        sender.append(r, t + i as i64, i as f64).unwrap();
    }
    t
}

#[test]
fn a_run_of_500s_then_recovery_loses_nothing_and_duplicates_nothing() {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..6).map(|_| Fault::Status(500, "internal error")));
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::from_text(&yaml(
        &receiver.url(),
        "      max_samples_per_send: 100\n",
        "",
    ))
    .unwrap();
    config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Warn);
    let sender = Sender::new(config).unwrap();
    let t = append_series(&sender, "five_hundreds", 1000);
    sender.flush(Duration::from_secs(20)).unwrap();
    let stored = receiver
        .store()
        .samples(&[("__name__", "five_hundreds")])
        .unwrap();
    let expected: Vec<(i64, u64)> = (0..1000).map(|i| (t + i, (i as f64).to_bits())).collect();
    assert_eq!(stored, expected, "all samples, once, in order");
    let totals = receiver.store().totals();
    assert_eq!((totals.duplicates, totals.out_of_order), (0, 0));
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(stats.samples_acked, 1000);
    assert_eq!(stats.samples_failed, 0);
    assert!(stats.samples_retried >= 600, "{stats:?}");
    let seen = receiver.seen();
    assert_eq!(seen.iter().filter(|s| s.status == 500).count(), 6);
    // The first retry of the failing batch carries Retry-Attempt: 1, and so on.
    let attempts: Vec<Option<String>> = seen
        .iter()
        .take(7)
        .map(|s| s.retry_attempt.clone())
        .collect();
    assert_eq!(attempts[0], None);
    assert_eq!(attempts[1].as_deref(), Some("1"));
    assert_eq!(attempts[6].as_deref(), Some("6"));
    // The delays the sender chose never shrink, and it really waited each one: the gap
    // between two arrivals at the receiver is at least the delay between them (arrival gaps
    // alone also carry each request's latency, which a busy host makes uneven).
    let delays: Vec<Duration> = logs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| logged_retry_delay(line))
        .collect();
    assert_eq!(delays.len(), 6, "one retry line per 500: {delays:?}");
    for pair in delays.windows(2) {
        assert!(pair[1] >= pair[0], "delays shrank: {delays:?}");
    }
    assert!(delays[0] >= Duration::from_millis(10), "{delays:?}");
    let gaps: Vec<Duration> = seen.windows(2).take(6).map(|w| w[1].at - w[0].at).collect();
    for (gap, delay) in gaps.iter().zip(&delays) {
        assert!(
            gap >= delay,
            "a retry came before its delay: {gaps:?} {delays:?}"
        );
    }
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn status_429_with_retry_after_2_waits_at_least_2_seconds() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::RetryAfter(429, "2".to_string())]);
    let sender = sender(&yaml(&receiver.url(), "", ""));
    append_series(&sender, "throttled", 10);
    sender.flush(Duration::from_secs(20)).unwrap();
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].status, 429);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    assert_eq!(receiver.store().totals().accepted, 10);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn retry_after_as_http_date_is_honoured_on_503() {
    let receiver = FaultReceiver::start();
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    receiver.push_faults([Fault::RetryAfter(503, date)]);
    let sender = sender(&yaml(&receiver.url(), "", ""));
    append_series(&sender, "dated", 10);
    sender.flush(Duration::from_secs(20)).unwrap();
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    // The date has one-second resolution, so at least 1 whole second remains of the 3.
    assert!(
        seen[1].at - seen[0].at >= Duration::from_secs(1),
        "{:?}",
        seen[1].at - seen[0].at
    );
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn status_429_is_dropped_when_retry_on_http_429_is_off() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::RetryAfter(429, "1".to_string())]);
    let sender = sender(&yaml(
        &receiver.url(),
        "      retry_on_http_429: false\n",
        "",
    ));
    append_series(&sender, "no429", 10);
    let lost = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), promrw::ErrorKind::SamplesLost, "{lost}");
    assert!(lost.message().contains("10 failed"), "{lost}");
    assert_eq!(receiver.seen().len(), 1);
    assert_eq!(sender.stats().endpoints[0].samples_failed, 10);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_400_drops_that_batch_counts_it_and_never_resends_it() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Status(400, "out of bounds")]);
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut config = promrw::Config::from_text(&yaml(&receiver.url(), "", "")).unwrap();
    config.set_logger(
        std::sync::Arc::new(common::CollectLogs(logs.clone())),
        promrw::LogLevel::Debug,
    );
    let sender = promrw::Sender::new(config).unwrap();
    let r = sender
        .series_from_pairs(&[("__name__", "bad_batch")])
        .unwrap();
    let t = now_ms();
    for i in 0..10 {
        sender.append(r, t + i, 1.0).unwrap();
    }
    let lost = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), promrw::ErrorKind::SamplesLost, "{lost}");
    let report = sender.last_report();
    assert_eq!(report.lost().failed, 10, "{report:?}");
    let last = report.endpoints[0].last_error.clone().unwrap();
    assert_eq!(last.status, Some(400));
    assert!(last.message.contains("out of bounds"), "{last:?}");
    for i in 10..20 {
        sender.append(r, t + i, 2.0).unwrap();
    }
    // Nothing lost since the previous flush returned: success again.
    sender.flush(Duration::from_secs(10)).unwrap();
    let seen = receiver.seen();
    assert_eq!(
        seen.len(),
        2,
        "the rejected batch is never resent: {seen:?}"
    );
    assert_eq!(seen[0].status, 400);
    assert_eq!(seen[0].samples, 10);
    assert!(seen[1].contents.iter().all(|(_, ts, _)| *ts >= t + 10));
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(
        (
            stats.samples_failed,
            stats.samples_acked,
            stats.samples_retried
        ),
        (10, 10, 0)
    );
    let logged = logs.lock().unwrap().clone();
    assert!(
        logged.iter().any(|l| l.contains("HTTP 400")
            && l.contains("out of bounds")
            && l.contains("the batch's first is bad_batch{}")),
        "the response body and a series of the batch are logged: {logged:?}"
    );
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_response_slower_than_remote_timeout_is_retried() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::SlowThenDrop(Duration::from_millis(1500))]);
    let config =
        yaml(&receiver.url(), "", "").replace("remote_timeout: 2s", "remote_timeout: 300ms");
    let sender = sender(&config);
    let started = Instant::now();
    append_series(&sender, "slow", 5);
    sender.flush(Duration::from_secs(20)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(stats.samples_retried, 5, "{stats:?}");
    assert_eq!(stats.samples_acked, 5);
    assert_eq!(receiver.store().totals().accepted, 5);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn sample_age_limit_drops_samples_that_aged_while_retrying() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::RetryAfter(503, "1".to_string())]);
    let sender = sender(&yaml(
        &receiver.url(),
        "      sample_age_limit: 500ms\n",
        "",
    ));
    append_series(&sender, "aging", 5);
    let lost = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), promrw::ErrorKind::SamplesLost, "{lost}");
    assert_eq!(sender.last_report().lost().dropped_too_old, 5);
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(stats.samples_dropped_too_old, 5, "{stats:?}");
    assert_eq!(receiver.store().totals().accepted, 0);
    assert!(sender.metrics_text().contains(
        "prometheus_remote_storage_samples_dropped_total{reason=\"too_old\",remote_name=\"test\""
    ));
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn hostile_retry_after_headers_never_kill_a_shard() {
    for value in [
        "18446744073709551615",
        "9300000000000000000",
        "99999999999999999999999999",
        "-5",
        "soon",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let receiver = FaultReceiver::start();
        receiver.push_faults([Fault::RetryAfter(503, value.to_string())]);
        let sender = sender(&yaml(&receiver.url(), "", ""));
        let r = sender
            .series_from_pairs(&[("__name__", "hostile")])
            .unwrap();
        sender.append(r, now_ms(), 1.0).unwrap();
        // A huge or far value waits the cap (5 minutes here): the flush times out; an
        // unparseable or past one falls back to the normal backoff and the retry succeeds.
        let flushed = sender.flush(Duration::from_millis(500));
        let stats = sender.stats().endpoints[0].clone();
        assert_eq!(stats.shards_dead, 0, "{value:?}: {stats:?}");
        match flushed {
            Ok(()) => assert_eq!(stats.samples_acked, 1, "{value:?}"),
            Err(e) => assert_eq!(e.kind(), promrw::ErrorKind::Timeout, "{value:?}: {e}"),
        }
        // The shard is alive: the next append is accepted, and close interrupts the wait.
        sender.append(r, now_ms() + 1, 2.0).unwrap();
        let started = Instant::now();
        let _ = sender.close(Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(3), "{value:?}");
        assert_eq!(sender.stats().endpoints[0].shards_dead, 0, "{value:?}");
    }
}
