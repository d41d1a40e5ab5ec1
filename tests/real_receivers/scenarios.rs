//! Test bodies shared by `tests/real_prometheus.rs` and `tests/real_victoriametrics.rs` (each
//! starts its own receiver, with its own port and directory, and uses its own metric names),
//! and the sender, pusher and waiting helpers the other `tests/real_*.rs` use too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use promrw::{Config, LogLevel, LogSink, Sender};

use super::data::{SeriesSpec, assert_stored, expected, push, round_trip_dataset, stale};
use super::proxy::{FaultProxy, ProxyMode, ProxyRecord};
use super::query::{Shown, instant};
use super::{Kind, RealReceiver, now_ms, skip};

/// A log sink that keeps every record as `level: message`.
pub struct CollectLogs(pub Arc<Mutex<Vec<String>>>);

impl LogSink for CollectLogs {
    fn log(&self, level: LogLevel, message: &str) {
        self.0.lock().unwrap().push(format!("{level}: {message}"));
    }
}

/// Sender YAML: one endpoint per `(name, url)` with fast test timings (batch_send_deadline
/// 50ms, backoff 10ms..500ms) unless `queue` sets them; `queue` adds queue_config lines
/// indented by 6 spaces.
pub fn sender_yaml(endpoints: &[(&str, &str)], queue: &str) -> String {
    sender_yaml_with(endpoints, queue, "")
}

/// [`sender_yaml`] with `endpoint` added to every endpoint: lines indented by 4 spaces, such
/// as an `authorization`, `oauth2` or `sigv4` block.
pub fn sender_yaml_with(endpoints: &[(&str, &str)], queue: &str, endpoint: &str) -> String {
    let mut queue_config = String::new();
    for (key, value) in [
        ("min_backoff", "10ms"),
        ("max_backoff", "500ms"),
        ("batch_send_deadline", "50ms"),
    ] {
        if !queue.contains(&format!("{key}:")) {
            queue_config.push_str(&format!("      {key}: {value}\n"));
        }
    }
    queue_config.push_str(queue);
    let mut text = String::from("remote_write:\n");
    for (name, url) in endpoints {
        text.push_str(&format!(
            "  - url: {url}\n    name: {name}\n    remote_timeout: 5s\n{endpoint}    queue_config:\n{queue_config}"
        ));
    }
    text
}

/// A sender for `endpoints` (see [`sender_yaml`]); with `logs`, records at debug level and up
/// are collected there.
pub fn sender(
    endpoints: &[(&str, &str)],
    queue: &str,
    logs: Option<&Arc<Mutex<Vec<String>>>>,
) -> Sender {
    let mut config = Config::from_text(&sender_yaml(endpoints, queue)).expect("valid config");
    if let Some(logs) = logs {
        config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Debug);
    }
    Sender::new(config).expect("sender starts")
}

/// `{__name__="metric"}`.
pub fn selector(metric: &str) -> String {
    format!("{{__name__=\"{metric}\"}}")
}

/// Polls `done` every 20 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A thread appending one sample to each of `series` series every `interval`, with the wall
/// clock as timestamp, until finished; it remembers everything it appended. Dropping it stops
/// the thread.
pub struct Pusher {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<SeriesSpec>>>,
}

impl Pusher {
    /// Starts pushing to series `{__name__=metric, s="<i>"}`; values are `i * 100000 + round`.
    pub fn start(sender: Arc<Sender>, metric: &str, series: usize, interval: Duration) -> Pusher {
        let stop = Arc::new(AtomicBool::new(false));
        let metric = metric.to_string();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut specs: Vec<SeriesSpec> = (0..series)
                .map(|i| SeriesSpec::new(&[("__name__", metric.as_str()), ("s", &i.to_string())]))
                .collect();
            let refs: Vec<_> = specs
                .iter()
                .map(|s| sender.series_from_pairs(&s.pairs()).expect("series"))
                .collect();
            let mut last = 0;
            let mut round = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let t = now_ms().max(last + 1);
                last = t;
                for (i, (spec, r)) in specs.iter_mut().zip(&refs).enumerate() {
                    let v = (i as u64 * 100_000 + round) as f64;
                    sender.append(*r, t, v).expect("append");
                    spec.samples.push((t, v));
                }
                round += 1;
                std::thread::sleep(interval);
            }
            specs
        });
        Pusher {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the thread and returns what it appended.
    pub fn finish(mut self) -> Vec<SeriesSpec> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("running")
            .join()
            .expect("pusher thread")
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Number of samples in `specs`.
pub fn count(specs: &[SeriesSpec]) -> u64 {
    specs.iter().map(|s| s.samples.len() as u64).sum()
}

/// The `[min, max]` timestamps of `specs`.
pub fn window(specs: &[SeriesSpec]) -> (i64, i64) {
    let all = specs.iter().flat_map(|s| s.samples.iter().map(|(t, _)| *t));
    let (lo, hi) = all.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    assert!(lo <= hi, "no samples");
    (lo, hi)
}

/// Asserts that endpoint `index` of `sender` acknowledged `appended` samples with none failed,
/// dropped or pending.
pub fn assert_all_acked(sender: &Sender, index: usize, appended: u64) {
    let stats = sender.stats().endpoints[index].clone();
    assert_eq!(stats.samples_acked, appended, "{stats:?}");
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    assert_eq!(stats.samples_dropped(), 0, "{stats:?}");
    assert_eq!(stats.samples_pending, 0, "{stats:?}");
}

/// Test 1: 1,000 series x 300 samples (special floats, awkward and 4 KiB label values) pushed
/// and read back; every series has exactly the samples the receiver is documented to show.
pub fn round_trip(kind: Kind, test: &str) {
    if skip(test) {
        return;
    }
    let receiver = RealReceiver::start(kind);
    let metric = "promrw_round_trip";
    let end = now_ms() - 1000;
    let specs = round_trip_dataset(metric, 1000, 300, end);
    let sender = sender(
        &[("round_trip", &receiver.write_url())],
        "      min_shards: 4\n      capacity: 100000\n",
        None,
    );
    let appended = push(&sender, &specs);
    assert_eq!(appended, 300_000);
    sender.flush(Duration::from_secs(120)).expect("flush");
    assert_all_acked(&sender, 0, appended);
    let (start, end) = window(&specs);
    assert_stored(
        &format!("{} round trip", kind.name()),
        &receiver,
        &selector(metric),
        (start, end),
        &expected(kind, &specs),
    );
    sender.close(Duration::from_secs(10)).expect("close");
}

/// The labels of the only result of an instant query, with its value; `None` when empty.
fn single(results: Vec<(super::query::LabelMap, Shown)>) -> Option<Shown> {
    assert!(results.len() <= 1, "{results:?}");
    results.into_iter().next().map(|(_, v)| v)
}

/// Test 2: stale markers. Both receivers end a series at its marker for queries (an instant
/// query at or after the marker finds nothing, while an unmarked twin is still found);
/// Prometheus's range selectors leave the marker out, VictoriaMetrics' export shows it as
/// `null`. A series can resume after a marker.
pub fn stale_markers(kind: Kind, test: &str) {
    if skip(test) {
        return;
    }
    let receiver = RealReceiver::start(kind);
    let t0 = now_ms() - 60_000;
    let mut ended = SeriesSpec::new(&[("__name__", "promrw_stale_ended")]);
    let mut unmarked = SeriesSpec::new(&[("__name__", "promrw_stale_unmarked")]);
    for k in 0..10 {
        ended.samples.push((t0 + k * 1000, (k + 1) as f64));
        unmarked.samples.push((t0 + k * 1000, (k + 1) as f64));
    }
    ended.samples.push((t0 + 10_000, stale()));
    let mut resumed = SeriesSpec::new(&[("__name__", "promrw_stale_resumed")]);
    for k in 0..5 {
        resumed.samples.push((t0 + k * 1000, k as f64));
    }
    resumed.samples.push((t0 + 5000, stale()));
    for k in 8..12 {
        resumed.samples.push((t0 + k * 1000, k as f64));
    }
    resumed.samples.push((t0 + 12_000, stale()));
    let specs = vec![ended, unmarked, resumed];
    let sender = sender(&[("stale", &receiver.write_url())], "", None);
    let appended = push(&sender, &specs);
    sender.flush(Duration::from_secs(30)).expect("flush");
    assert_all_acked(&sender, 0, appended);

    // What is stored, read raw.
    assert_stored(
        &format!("{} stale markers", kind.name()),
        &receiver,
        "{__name__=~\"promrw_stale_.*\"}",
        (t0, t0 + 20_000),
        &expected(kind, &specs),
    );

    // What queries see: the series ends at its marker.
    let at = |query: &str, ms: i64| single(instant(&receiver, query, ms));
    assert_eq!(at("promrw_stale_ended", t0 + 9_500), Some(Shown::Num(10.0)));
    assert_eq!(at("promrw_stale_ended", t0 + 10_000), None, "at the marker");
    assert_eq!(
        at("promrw_stale_ended", t0 + 10_500),
        None,
        "after the marker"
    );
    assert_eq!(at("promrw_stale_ended", t0 + 30_000), None, "long after");
    assert_eq!(
        at("promrw_stale_unmarked", t0 + 10_500),
        Some(Shown::Num(10.0)),
        "without a marker the series is still found"
    );
    assert_eq!(
        at("promrw_stale_resumed", t0 + 4_500),
        Some(Shown::Num(4.0))
    );
    assert_eq!(at("promrw_stale_resumed", t0 + 6_000), None, "ended");
    assert_eq!(
        at("promrw_stale_resumed", t0 + 9_500),
        Some(Shown::Num(9.0)),
        "resumed after the marker"
    );
    assert_eq!(at("promrw_stale_resumed", t0 + 12_500), None, "ended again");
    sender.close(Duration::from_secs(10)).expect("close");
}

/// Test 3a: while pushing at a steady rate the receiver is stopped for 15 s and started again
/// on the same directory and port; after `flush` every sample is there exactly once.
pub fn outage(kind: Kind, test: &str) {
    if skip(test) {
        return;
    }
    let mut receiver = RealReceiver::start(kind);
    let sender = Arc::new(sender(
        &[("outage", &receiver.write_url())],
        "      min_shards: 2\n      capacity: 100000\n",
        None,
    ));
    let metric = "promrw_outage";
    let pusher = Pusher::start(sender.clone(), metric, 40, Duration::from_millis(100));
    // Ten rounds of the 40 series delivered: data flows before the outage.
    wait_until(Duration::from_secs(30), "ten rounds acked", || {
        sender.stats().endpoints[0].samples_acked >= 400
    });
    receiver.stop();
    let stopped = Instant::now();
    // Once an attempt has failed against the stopped receiver, every answer read before the
    // stop has been counted.
    wait_until(Duration::from_secs(30), "a retry after the stop", || {
        sender.stats().endpoints[0].samples_retried > 0
    });
    let at_stop = sender.stats().endpoints[0].clone();
    // The outage lasts 15 s: that is the scenario's length, not a wait for something to
    // happen. Nothing may be acked during it; the same counter is then seen to move once the
    // receiver is back, so an ack during the outage would have been seen.
    std::thread::sleep(Duration::from_secs(15).saturating_sub(stopped.elapsed()));
    let during = sender.stats().endpoints[0].clone();
    assert_eq!(
        during.samples_acked, at_stop.samples_acked,
        "nothing acked while down"
    );
    assert!(during.samples_pending > 0, "{during:?}");
    assert!(
        during.samples_retried > at_stop.samples_retried,
        "retries went on during the outage: {during:?}"
    );
    receiver.restart();
    // The backlog, and what was appended up to the restart, is delivered while the pusher
    // goes on appending.
    let appended_at_restart = sender.stats().samples_appended;
    wait_until(
        Duration::from_secs(90),
        "the backlog acked after the restart",
        || sender.stats().endpoints[0].samples_acked >= appended_at_restart,
    );
    assert!(
        appended_at_restart > during.samples_acked,
        "a backlog was there"
    );
    let specs = pusher.finish();
    sender.flush(Duration::from_secs(90)).expect("flush");
    let appended = count(&specs);
    assert_all_acked(&sender, 0, appended);
    let (start, end) = window(&specs);
    assert_stored(
        &format!("{} after a 15 s outage", kind.name()),
        &receiver,
        &selector(metric),
        (start, end),
        &expected(kind, &specs),
    );
    sender.close(Duration::from_secs(10)).expect("close");
}

/// Test 3b/3c: while pushing at a steady rate a fault proxy in front of the receiver answers
/// `fault` (503, or 429 with `Retry-After`) for 4 s; afterwards every sample is there exactly
/// once, retries carried `Retry-Attempt`, and with `Retry-After` the retries waited for it.
pub fn throttled(kind: Kind, test: &str, fault: ProxyMode) {
    if skip(test) {
        return;
    }
    let receiver = RealReceiver::start(kind);
    let proxy = FaultProxy::start(&receiver.write_url());
    // One shard: one request in flight, so the gaps between refused requests are the
    // sender's waits.
    let sender = Arc::new(sender(
        &[("throttled", &proxy.url())],
        "      capacity: 100000\n",
        None,
    ));
    let metric = "promrw_throttled";
    let pusher = Pusher::start(sender.clone(), metric, 20, Duration::from_millis(50));
    wait_until(Duration::from_secs(30), "first samples acked", || {
        sender.stats().endpoints[0].samples_acked > 0
    });
    let status = match fault {
        ProxyMode::Status(s) | ProxyMode::RetryAfter(s, _) => s,
        ProxyMode::Forward => panic!("not a fault"),
    };
    let refusals = || {
        proxy
            .records()
            .iter()
            .filter(|r| !r.forwarded && r.status == status)
            .count()
    };
    proxy.set_mode(fault.clone());
    // The fault lasts until four requests were refused: retries of one batch, and with
    // Retry-After three waits between them to check.
    wait_until(Duration::from_secs(60), "four requests refused", || {
        refusals() >= 4
    });
    proxy.set_mode(ProxyMode::Forward);
    // Deliveries resume while the pusher goes on: a request forwarded after the switch and
    // acknowledged.
    let acked_at_switch = sender.stats().endpoints[0].samples_acked;
    let switched = proxy.records().len();
    wait_until(Duration::from_secs(60), "deliveries resumed", || {
        proxy.records()[switched..].iter().any(|r| r.forwarded)
            && sender.stats().endpoints[0].samples_acked > acked_at_switch
    });
    let specs = pusher.finish();
    sender.flush(Duration::from_secs(60)).expect("flush");
    let appended = count(&specs);
    assert_all_acked(&sender, 0, appended);
    let stats = sender.stats().endpoints[0].clone();
    assert!(stats.samples_retried > 0, "{stats:?}");

    let records = proxy.records();
    let refused: Vec<&ProxyRecord> = records
        .iter()
        .filter(|r| !r.forwarded && r.status == status)
        .collect();
    assert!(refused.len() >= 2, "refused requests: {}", refused.len());
    // Every request after a refusal is a retry of the refused batch.
    for pair in records.windows(2) {
        if !pair[0].forwarded && pair[0].status == status {
            assert!(
                pair[1].retry_attempt.is_some(),
                "a retry without Retry-Attempt: {:?}",
                pair[1]
            );
        }
    }
    if let ProxyMode::RetryAfter(_, secs) = fault {
        for pair in refused.windows(2) {
            let gap = pair[1].at.duration_since(pair[0].at);
            assert!(
                gap >= Duration::from_millis(secs * 1000 - 50),
                "Retry-After: {secs} not honoured: retried after {gap:?}"
            );
        }
    }
    assert!(records.iter().all(|r| r.forwarded || r.status == status));
    let (start, end) = window(&specs);
    assert_stored(
        &format!("{} after {status} answers", kind.name()),
        &receiver,
        &selector(metric),
        (start, end),
        &expected(kind, &specs),
    );
    sender.close(Duration::from_secs(10)).expect("close");
}

/// Requests the proxy handled after the first `from`. Called once a flush has returned: the
/// proxy records each request before answering it, and the flush returned after the answer
/// that settled the batch, so every request made for the batch (a retry included) is there.
/// A resend after that would be a further request; [`assert_request_count`] at the end of the
/// test catches it.
fn records_after(proxy: &FaultProxy, from: usize) -> Vec<ProxyRecord> {
    proxy.records()[from..].to_vec()
}

/// Asserts that the proxy handled exactly `flushes` requests in all: one per flush, so no
/// batch was resent late. The last flush's own request is among them, which shows a request
/// made before it (such as a late resend) would have been counted.
fn assert_request_count(proxy: &FaultProxy, flushes: usize) {
    let records = proxy.records();
    assert_eq!(
        records.len(),
        flushes,
        "one request per flush: {records:#?}"
    );
}

/// Asserts that exactly one request was made since `from`, refused with `status` and a body
/// containing `message`, carrying the series `names`.
fn assert_refused_once(
    proxy: &FaultProxy,
    from: usize,
    status: u16,
    message: &str,
    names: &[&str],
) {
    let records = records_after(proxy, from);
    assert_eq!(records.len(), 1, "one request, never retried: {records:?}");
    let r = &records[0];
    assert!(r.forwarded, "{r:?}");
    assert_eq!(r.status, status, "{r:?}");
    assert!(r.body.contains(message), "{r:?}");
    let mut got: Vec<&str> = r.names.iter().map(String::as_str).collect();
    got.sort_unstable();
    assert_eq!(got, names, "{r:?}");
}

/// Asserts that a collected log line contains all of `parts`.
fn assert_logged(logs: &Arc<Mutex<Vec<String>>>, parts: &[&str]) {
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter().any(|l| parts.iter().all(|p| l.contains(p))),
        "no log line with {parts:?}; logs: {logs:#?}"
    );
}

/// Test 4 for Prometheus: samples outside its head window (`out of bounds`) and out of order
/// are answered 400; the batch is dropped, counted as failed and logged with Prometheus's
/// message, never retried, and later good data goes through. A good sample in the same request
/// as a refused one is lost too: Prometheus 2.42 rolls the whole request back. An exact
/// duplicate of a stored sample is accepted (204) and stored once.
/// Asserts that a flush reported exactly `failed` samples lost (rejected by the receiver) since
/// the previous flush, with the receiver's status in the report.
fn expect_lost(flushed: promrw::Result<()>, sender: &Sender, failed: u64) {
    let error = flushed.expect_err("the receiver rejected samples: flush must say so");
    assert_eq!(error.kind(), promrw::ErrorKind::SamplesLost, "{error}");
    let report = sender.last_report();
    assert_eq!(report.lost().failed, failed, "{report:?}");
    assert_eq!(
        report.last_error().and_then(|e| e.status),
        Some(400),
        "{report:?}"
    );
}

pub fn rejections_prometheus(test: &str) {
    if skip(test) {
        return;
    }
    let receiver = RealReceiver::start(Kind::Prometheus);
    let proxy = FaultProxy::start(&receiver.write_url());
    let logs: Arc<Mutex<Vec<String>>> = Arc::default();
    // Batches leave only on flush, so each flush is one request.
    let sender = sender(
        &[("reject", &proxy.url())],
        "      batch_send_deadline: 1h\n",
        Some(&logs),
    );
    let now = now_ms();
    let good = sender
        .series_from_pairs(&[("__name__", "promrw_reject_good")])
        .unwrap();
    let mut good_samples = Vec::new();
    for k in 0..10 {
        let t = now - 30_000 + k * 1000;
        sender.append(good, t, k as f64).unwrap();
        good_samples.push((t, k as f64));
    }
    sender.flush(Duration::from_secs(30)).expect("flush");
    assert_all_acked(&sender, 0, 10);

    // Older than the head window: "out of bounds".
    let old = sender
        .series_from_pairs(&[("__name__", "promrw_reject_old")])
        .unwrap();
    let from = proxy.records().len();
    for k in 0..5 {
        sender.append(old, now - 7_200_000 + k * 1000, 1.0).unwrap();
    }
    expect_lost(sender.flush(Duration::from_secs(30)), &sender, 5);
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(stats.samples_failed, 5, "{stats:?}");
    assert_eq!(stats.samples_retried, 0, "{stats:?}");
    assert_refused_once(&proxy, from, 400, "out of bounds", &["promrw_reject_old"]);
    assert_logged(
        &logs,
        &["rejected a batch of 5 samples", "HTTP 400", "out of bounds"],
    );

    // A good and a refused sample in one request: both are lost.
    let mixed_good = sender
        .series_from_pairs(&[("__name__", "promrw_reject_mixed_good")])
        .unwrap();
    let mixed_old = sender
        .series_from_pairs(&[("__name__", "promrw_reject_mixed_old")])
        .unwrap();
    let from = proxy.records().len();
    sender.append(mixed_good, now - 20_000, 1.0).unwrap();
    sender.append(mixed_old, now - 7_200_000, 1.0).unwrap();
    expect_lost(sender.flush(Duration::from_secs(30)), &sender, 2);
    assert_eq!(sender.stats().endpoints[0].samples_failed, 7);
    assert_refused_once(
        &proxy,
        from,
        400,
        "out of bounds",
        &["promrw_reject_mixed_good", "promrw_reject_mixed_old"],
    );

    // Out of order: another sender writes an older sample into the good series.
    let other = self::sender(
        &[("other", &proxy.url())],
        "      batch_send_deadline: 1h\n",
        None,
    );
    let r = other
        .series_from_pairs(&[("__name__", "promrw_reject_good")])
        .unwrap();
    let from = proxy.records().len();
    other.append(r, now - 25_500, 99.0).unwrap();
    expect_lost(other.flush(Duration::from_secs(30)), &other, 1);
    assert_eq!(other.stats().endpoints[0].samples_failed, 1);
    assert_eq!(other.stats().endpoints[0].samples_retried, 0);
    assert_refused_once(
        &proxy,
        from,
        400,
        "out of order sample",
        &["promrw_reject_good"],
    );
    // An exact duplicate of a stored sample (what a resend after a lost answer looks like) is
    // accepted and stored once.
    let from = proxy.records().len();
    other.append(r, now - 21_000, 9.0).unwrap();
    other.flush(Duration::from_secs(30)).expect("flush");
    assert_eq!(other.stats().endpoints[0].samples_acked, 1);
    let records = records_after(&proxy, from);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, 204, "{records:?}");
    other.close(Duration::from_secs(10)).expect("close");

    // Later good data is not blocked.
    for k in 0..10 {
        let t = now - 10_000 + k * 1000;
        sender.append(good, t, (10 + k) as f64).unwrap();
        good_samples.push((t, (10 + k) as f64));
    }
    sender.flush(Duration::from_secs(30)).expect("flush");
    // Six flushes of the two senders, each one request.
    assert_request_count(&proxy, 6);
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(stats.samples_acked, 20, "{stats:?}");
    assert_eq!(stats.samples_failed, 7, "{stats:?}");
    assert_eq!(stats.samples_retried, 0, "{stats:?}");

    let mut want = SeriesSpec::new(&[("__name__", "promrw_reject_good")]);
    want.samples = good_samples;
    assert_stored(
        "Prometheus after rejections",
        &receiver,
        "{__name__=~\"promrw_reject_.*\"}",
        (now - 60_000, now),
        &expected(Kind::Prometheus, &[want]),
    );
    let old_window = super::query::prometheus_raw(
        &receiver,
        "{__name__=~\"promrw_reject_.*\"}",
        "10m",
        now - 7_200_000 + 60_000,
    );
    assert!(old_window.is_empty(), "{old_window:?}");
    sender.close(Duration::from_secs(10)).expect("close");
}

/// Deterministic pseudo-random lower-case text (incompressible enough to defeat snappy).
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'a' + (x % 26) as u8) as char
        })
        .collect()
}

/// Test 4 for VictoriaMetrics 1.79: a request over `-maxInsertRequestSize` is answered 400
/// ("too big packed request"): dropped, counted as failed, logged, never retried. Samples
/// outside its time window (older than the retention, more than 2 days ahead) are NOT refused:
/// VictoriaMetrics answers 204 and drops them silently (a warning in its own log only).
/// Out-of-order samples are accepted, and an exact duplicate is stored twice. Later good data
/// goes through.
pub fn rejections_victoriametrics(test: &str) {
    if skip(test) {
        return;
    }
    let receiver =
        RealReceiver::start_with(Kind::VictoriaMetrics, &["-maxInsertRequestSize=65536"]);
    let proxy = FaultProxy::start(&receiver.write_url());
    let logs: Arc<Mutex<Vec<String>>> = Arc::default();
    let sender = sender(
        &[("reject", &proxy.url())],
        "      batch_send_deadline: 1h\n",
        Some(&logs),
    );
    let now = now_ms();
    let good = sender
        .series_from_pairs(&[("__name__", "promrw_reject_good")])
        .unwrap();
    let mut good_samples = Vec::new();
    for k in 0..10 {
        let t = now - 30_000 + k * 1000;
        sender.append(good, t, k as f64).unwrap();
        good_samples.push((t, k as f64));
    }
    sender.flush(Duration::from_secs(30)).expect("flush");
    assert_all_acked(&sender, 0, 10);

    // One request of about 160 KB compressed: over the 64 KiB limit.
    let from = proxy.records().len();
    for i in 0..40 {
        let value = noise(i, 4000);
        let r = sender
            .series_from_pairs(&[
                ("__name__", "promrw_reject_big"),
                ("i", &i.to_string()),
                ("noise", &value),
            ])
            .unwrap();
        sender.append(r, now - 20_000, 1.0).unwrap();
    }
    expect_lost(sender.flush(Duration::from_secs(30)), &sender, 40);
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(stats.samples_failed, 40, "{stats:?}");
    assert_eq!(stats.samples_retried, 0, "{stats:?}");
    let big_names = vec!["promrw_reject_big"; 40];
    assert_refused_once(&proxy, from, 400, "too big packed request", &big_names);
    assert_logged(
        &logs,
        &[
            "rejected a batch of 40 samples",
            "HTTP 400",
            "too big packed request",
        ],
    );

    // Another sender writes an older sample into the good series (out of order) and an exact
    // duplicate of a stored one: both are accepted, and the duplicate is stored a second time.
    let other = self::sender(
        &[("other", &proxy.url())],
        "      batch_send_deadline: 1h\n",
        None,
    );
    let r = other
        .series_from_pairs(&[("__name__", "promrw_reject_good")])
        .unwrap();
    let from = proxy.records().len();
    other.append(r, now - 25_500, 99.0).unwrap();
    other.append(r, now - 21_000, 9.0).unwrap();
    other.flush(Duration::from_secs(30)).expect("flush");
    assert_all_acked(&other, 0, 2);
    let records = records_after(&proxy, from);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, 204, "{records:?}");
    other.close(Duration::from_secs(10)).expect("close");
    good_samples.push((now - 25_500, 99.0));
    good_samples.push((now - 21_000, 9.0));

    // Outside the time window: acknowledged, not stored.
    let ancient = sender
        .series_from_pairs(&[("__name__", "promrw_reject_ancient")])
        .unwrap();
    let future = sender
        .series_from_pairs(&[("__name__", "promrw_reject_future")])
        .unwrap();
    let from = proxy.records().len();
    sender.append(ancient, now - 40 * 86_400_000, 1.0).unwrap();
    sender.append(future, now + 3 * 86_400_000, 1.0).unwrap();
    sender.flush(Duration::from_secs(30)).expect("flush");
    let records = records_after(&proxy, from);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, 204, "{records:?}");
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(
        stats.samples_acked, 12,
        "acknowledged although dropped: {stats:?}"
    );
    assert_eq!(stats.samples_failed, 40, "{stats:?}");
    // Only VictoriaMetrics' own log tells (one warning for the request, not one per sample).
    let log = receiver.log();
    assert!(
        log.contains("warn occurred during rows addition")
            && (log.contains("outside the retention") || log.contains("too big timestamp")),
        "{}",
        receiver.log_tail(20)
    );

    // Later good data is not blocked.
    for k in 0..10 {
        let t = now - 10_000 + k * 1000;
        sender.append(good, t, (10 + k) as f64).unwrap();
        good_samples.push((t, (10 + k) as f64));
    }
    sender.flush(Duration::from_secs(30)).expect("flush");
    // Five flushes of the two senders, each one request.
    assert_request_count(&proxy, 5);
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(stats.samples_acked, 22, "{stats:?}");
    assert_eq!(stats.samples_retried, 0, "{stats:?}");
    let mut want = SeriesSpec::new(&[("__name__", "promrw_reject_good")]);
    good_samples.sort_by_key(|(t, _)| *t);
    want.samples = good_samples;
    assert_stored(
        "VictoriaMetrics after rejections",
        &receiver,
        "{__name__=~\"promrw_reject_.*\"}",
        (now - 60_000, now),
        &expected(Kind::VictoriaMetrics, &[want]),
    );
    // Checked once later data is visible, so that "not there" is not "not visible yet".
    let kept = super::query::victoriametrics_export(
        &receiver,
        "{__name__=~\"promrw_reject_(ancient|future)\"}",
        now - 45 * 86_400_000,
        now + 4 * 86_400_000,
    );
    assert!(kept.is_empty(), "{kept:?}");
    sender.close(Duration::from_secs(10)).expect("close");
}

/// Values VictoriaMetrics 1.79 does not keep exactly, and Prometheus does: it stores a block
/// of a series' values as integers times one power of ten, so small values next to a big one
/// in the same block lose their digits, long fractions are cut to about 12 significant digits,
/// subnormals become 0 and `f64::MAX` loses its last digits. Each series here is one request,
/// so one block. Asserted exactly for both receivers.
pub fn precision(kind: Kind, test: &str) {
    if skip(test) {
        return;
    }
    let receiver = RealReceiver::start(kind);
    let max_shown: f64 = "1.797693134862315e308".parse().unwrap();
    // (name, pushed, what VictoriaMetrics shows)
    let cases: [(&str, Vec<f64>, Vec<f64>); 5] = [
        (
            "promrw_precision_mixed",
            vec![1.5, 1e20, 2.5],
            vec![0.0, 1e20, 0.0],
        ),
        (
            "promrw_precision_third",
            vec![1.0 / 3.0],
            vec![0.333333333333],
        ),
        ("promrw_precision_sum", vec![0.1 + 0.2], vec![0.3]),
        (
            "promrw_precision_subnormal",
            vec![1e-310, -1e-310],
            vec![0.0, 0.0],
        ),
        ("promrw_precision_max", vec![f64::MAX], vec![max_shown]),
    ];
    let sender = sender(
        &[("precision", &receiver.write_url())],
        "      batch_send_deadline: 1h\n",
        None,
    );
    let t0 = now_ms() - 10_000;
    let mut pushed = Vec::new();
    let mut want = Vec::new();
    for (name, values, vm_values) in &cases {
        let mut spec = SeriesSpec::new(&[("__name__", name)]);
        spec.samples = values
            .iter()
            .enumerate()
            .map(|(i, v)| (t0 + i as i64 * 1000, *v))
            .collect();
        push(&sender, std::slice::from_ref(&spec));
        sender.flush(Duration::from_secs(30)).expect("flush");
        let shown_values = match kind {
            Kind::Prometheus => values,
            Kind::VictoriaMetrics => vm_values,
        };
        let mut shown_spec = spec.clone();
        shown_spec.samples = spec
            .samples
            .iter()
            .zip(shown_values)
            .map(|((t, _), v)| (*t, *v))
            .collect();
        pushed.push(spec);
        want.push(shown_spec);
    }
    assert_all_acked(&sender, 0, count(&pushed));
    // `want` holds the shown values already; none is special, so Prometheus's mapping (the
    // identity for them) turns it into the expectation.
    assert_stored(
        &format!("{} precision", kind.name()),
        &receiver,
        "{__name__=~\"promrw_precision_.*\"}",
        (t0, t0 + 5000),
        &expected(Kind::Prometheus, &want),
    );
    sender.close(Duration::from_secs(10)).expect("close");
}
