//! The durable queue under faults, end to end (issue 12): the disk budget and the age limit
//! during a receiver outage, `full: fail`, endpoints added and removed between runs, and
//! damaged logs (a property test). Real receivers on 127.0.0.1 and real files in temporary
//! directories. Injected write and fsync errors are in tests/wal_enospc.rs (feature
//! `test-hooks`).

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CollectLogs, Fault, FaultReceiver, TempDir, free_port, now_ms};
use promrw::wal::format::Record;
use promrw::wal::segment::{list_segments, scan_segment, segment_path};
use promrw::{Config, ErrorKind, LogLevel, Sender, SeriesRef};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

/// The log lines of a sender.
type Logs = Arc<Mutex<Vec<String>>>;

/// A sample: (series index, timestamp, value bits). Series `i` is named `<prefix>_<i>`.
type Key = (usize, i64, u64);

/// The smallest budget: 1 MiB, cut in segments of 128 KiB.
const MAX_BYTES: u64 = 1 << 20;
const SEGMENT_BYTES: u64 = MAX_BYTES / 8;

/// YAML for `endpoints` (name, url) with fast test timings and `queue` lines under each
/// `queue_config`, and the log in `dir` with `wal` lines under `promrw.wal`.
fn config_text(endpoints: &[(&str, &str)], queue: &str, dir: &Path, wal: &str) -> String {
    let mut text = String::from("remote_write:\n");
    for (name, url) in endpoints {
        text += &format!(
            "  - url: {url}\n    name: {name}\n    remote_timeout: 2s\n    queue_config:\n      min_backoff: 10ms\n      max_backoff: 100ms\n      batch_send_deadline: 50ms\n{queue}"
        );
    }
    // A sender dropped unclosed (a failing test) closes within 2 s, not the default 1 min.
    text + &format!(
        "promrw:\n  flush_deadline: 2s\n  wal:\n    dir: {}\n{wal}",
        dir.display()
    )
}

/// A WAL-mode sender (see [`config_text`]) whose log lines (Info and up) are collected.
fn start(endpoints: &[(&str, &str)], queue: &str, dir: &Path, wal: &str) -> (Sender, Logs) {
    let mut config =
        Config::from_text(&config_text(endpoints, queue, dir, wal)).expect("valid config");
    let logs = Logs::default();
    config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Info);
    (Sender::new(config).expect("sender starts"), logs)
}

/// The value of series `i`'s sample at round `round` (distinct per sample).
fn value(i: usize, round: usize) -> f64 {
    round as f64 * 1000.0 + i as f64 + 0.25
}

/// Series `<prefix>_<i>` registered, appended to in rounds 1 ms apart from `t0`.
struct Workload {
    prefix: String,
    refs: Vec<SeriesRef>,
    t0: i64,
    next_round: usize,
}

impl Workload {
    fn new(sender: &Sender, prefix: &str, series: usize, t0: i64) -> Workload {
        let refs = (0..series)
            .map(|i| {
                sender
                    .series_from_pairs(&[("__name__", format!("{prefix}_{i}"))])
                    .unwrap()
            })
            .collect();
        Workload {
            prefix: prefix.to_string(),
            refs,
            t0,
            next_round: 0,
        }
    }

    /// Appends `rounds` rounds (one sample per series each), adding what was accepted to
    /// `accepted`; stops at the first refusal and returns it (that sample is retried by the
    /// next call).
    fn append(
        &mut self,
        sender: &Sender,
        rounds: usize,
        accepted: &mut Vec<Key>,
    ) -> Result<(), promrw::Error> {
        for _ in 0..rounds {
            let round = self.next_round;
            let t = self.t0 + round as i64;
            for (i, r) in self.refs.iter().enumerate() {
                // After a refusal part of a round may be in already.
                if accepted.last().is_some_and(|&(s, ts, _)| ts == t && s >= i) {
                    continue;
                }
                let v = value(i, round);
                sender.append(*r, t, v)?;
                accepted.push((i, t, v.to_bits()));
            }
            self.next_round += 1;
        }
        Ok(())
    }

    /// The series index of `name`, if it is one of this workload's.
    fn index_of(&self, name: &str) -> Option<usize> {
        name.strip_prefix(&self.prefix)?
            .strip_prefix('_')?
            .parse()
            .ok()
    }

    /// What `receiver` stored of this workload.
    fn delivered(&self, receiver: &FaultReceiver) -> Vec<Key> {
        let mut out = Vec::new();
        for (labels, samples) in receiver.store().all_samples() {
            let name = labels
                .iter()
                .find(|(n, _)| n == "__name__")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if let Some(i) = self.index_of(name) {
                out.extend(samples.iter().map(|&(t, bits)| (i, t, bits)));
            }
        }
        out
    }
}

/// Samples of this workload in every 2xx request `receiver` saw, duplicates included.
fn arrivals(receiver: &FaultReceiver, workload: &Workload) -> usize {
    receiver
        .seen()
        .iter()
        .filter(|s| (200..300).contains(&s.status))
        .flat_map(|s| s.contents.iter())
        .filter(|(name, _, _)| workload.index_of(name).is_some())
        .count()
}

/// Checks what a receiver stored: each series strictly in timestamp order, nothing twice,
/// every sample one that was appended with its exact value bits.
fn check_delivered(receiver: &FaultReceiver, workload: &Workload, appended: &HashSet<Key>) {
    let totals = receiver.store().totals();
    assert_eq!(
        (totals.duplicates, totals.out_of_order),
        (0, 0),
        "no duplicates, per-series order"
    );
    let delivered = workload.delivered(receiver);
    assert_eq!(
        arrivals(receiver, workload),
        delivered.len(),
        "no sample arrived twice"
    );
    for key in &delivered {
        assert!(appended.contains(key), "delivered {key:?} was appended so");
    }
}

/// Bytes of every file in `dir`/wal.
fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("wal"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Samples the writer logged as dropped unsent for `why` ("max_bytes reached" or "older
/// than max_age"), read from its warnings: "WAL: deleted segment <path> unsent (<why>): <n>
/// sample(s) dropped across endpoints".
fn dropped_in_logs(logs: &Logs, why: &str) -> u64 {
    let marker = format!("unsent ({why}): ");
    logs.lock()
        .unwrap()
        .iter()
        .filter_map(|line| {
            let rest = &line[line.find(&marker)? + marker.len()..];
            rest.split(' ').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// `prometheus_remote_storage_samples_dropped_total{reason="<reason>"}` of the (one)
/// endpoint in `sender`'s exposition, if it is exposed.
fn dropped_metric(sender: &Sender, reason: &str) -> Option<u64> {
    let text = sender.metrics_text();
    let wanted = format!("reason=\"{reason}\"");
    let line = text.lines().find(|l| {
        l.starts_with("prometheus_remote_storage_samples_dropped_total{") && l.contains(&wanted)
    })?;
    line.rsplit(' ').next()?.parse().ok()
}

/// Waits up to `timeout` for `done`; true when it held.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A flush that delivered what it could: `Ok`, or `SamplesLost` when the budget or the age
/// limit dropped samples; never `Timeout`.
fn flush_delivers(sender: &Sender, timeout: Duration) {
    match sender.flush(timeout) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::SamplesLost => {}
        Err(e) => panic!("flush: {e}"),
    }
}

/// Checks that `sender` counts `full` samples dropped by the budget and `too_old` by the age
/// limit, in its stats and in `metrics_text()`, as the writer logged them.
fn check_drop_counts(sender: &Sender, full: u64, too_old: u64) {
    let stats = &sender.stats().endpoints[0];
    assert_eq!(
        (
            stats.samples_dropped_wal_full,
            stats.samples_dropped_wal_too_old
        ),
        (full, too_old),
        "stats: wal_full, wal_too_old"
    );
    assert_eq!(dropped_metric(sender, "wal_full"), Some(full), "metric");
    assert_eq!(
        dropped_metric(sender, "wal_too_old"),
        Some(too_old),
        "metric"
    );
}

/// Watches the log's size on disk from another thread until dropped; `max()` is the largest
/// size seen.
struct DiskWatch {
    max: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DiskWatch {
    fn start(dir: &Path) -> DiskWatch {
        let max = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (dir, max, stop) = (dir.to_path_buf(), max.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    max.fetch_max(wal_bytes(&dir), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        DiskWatch {
            max,
            stop,
            thread: Some(thread),
        }
    }

    fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for DiskWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A receiver answering 503 until [`FaultReceiver::clear_faults`] (retries come at most
/// 100 ms apart: this lasts hours).
fn down_receiver() -> FaultReceiver {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..100_000).map(|_| Fault::Status(503, "outage")));
    receiver
}

/// One record of a segment as written: where its frame starts and ends, and its samples
/// (by series name) or the series it defines.
#[derive(Debug, Clone)]
struct LogRecord {
    start: u64,
    end: u64,
    /// Samples record: (series name, timestamp, value bits).
    samples: Vec<(String, i64, u64)>,
    /// Series record: its id and name.
    defines: Option<(u32, String)>,
    /// Samples record: the ids its samples refer to.
    ids: Vec<u32>,
}

/// A segment's number and records, read with the library's own scan.
#[derive(Debug, Clone)]
struct LogSegment {
    number: u64,
    len: u64,
    records: Vec<LogRecord>,
}

/// Every segment in `wal_dir`, each read on its own.
fn read_log(wal_dir: &Path) -> Vec<LogSegment> {
    let mut out = Vec::new();
    for number in list_segments(wal_dir).unwrap() {
        let bytes = std::fs::read(segment_path(wal_dir, number)).unwrap();
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut records = Vec::new();
        scan_segment(&bytes, |offset, record| {
            let at = offset as usize;
            let payload_len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let mut entry = LogRecord {
                start: offset,
                end: offset + 8 + u64::from(payload_len),
                samples: Vec::new(),
                defines: None,
                ids: Vec::new(),
            };
            match record {
                Record::Series { id, labels } => {
                    let name = labels
                        .iter()
                        .find(|(n, _)| *n == "__name__")
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default();
                    names.insert(*id, name.clone());
                    entry.defines = Some((*id, name));
                }
                Record::Samples(samples) => {
                    for sample in samples.clone().flatten() {
                        entry.ids.push(sample.id);
                        let name = names.get(&sample.id).cloned().unwrap_or_default();
                        entry
                            .samples
                            .push((name, sample.timestamp, sample.value_bits));
                    }
                }
            }
            records.push(entry);
        });
        out.push(LogSegment {
            number,
            len: bytes.len() as u64,
            records,
        });
    }
    out
}

/// Every sample in `segments`, as a workload's keys.
fn samples_in(segments: &[LogSegment], workload: &Workload) -> HashSet<Key> {
    segments
        .iter()
        .flat_map(|s| s.records.iter())
        .flat_map(|r| r.samples.iter())
        .filter_map(|(name, t, bits)| Some((workload.index_of(name)?, *t, *bits)))
        .collect()
}

#[test]
fn the_disk_budget_holds_through_an_outage_and_drops_only_the_oldest() {
    let receiver = down_receiver();
    let dir = TempDir::new("walf-budget");
    let (sender, logs) = start(
        &[("test", &receiver.url())],
        "      capacity: 2000\n      max_samples_per_send: 500\n",
        dir.path(),
        "    max_bytes: 1MiB\n    full: drop_oldest\n",
    );
    let watch = DiskWatch::start(dir.path());
    let mut workload = Workload::new(&sender, "walf_budget", 20, now_ms() - 600_000);
    let mut appended = Vec::new();
    // 20 x 20,000 samples, about 4.4 MB of log: four times the budget.
    for _ in 0..20 {
        workload
            .append(&sender, 1000, &mut appended)
            .expect("drop_oldest never refuses an append");
        sender.sync(Duration::from_secs(10)).unwrap();
        let now = wal_bytes(dir.path());
        assert!(
            now <= MAX_BYTES + SEGMENT_BYTES,
            "{now} bytes on disk, budget {MAX_BYTES}"
        );
    }
    let dropped = dropped_in_logs(&logs, "max_bytes reached");
    let appended_set: HashSet<Key> = appended.iter().copied().collect();
    assert_eq!(appended_set.len(), 400_000);
    assert!(
        dropped >= 250_000,
        "most samples were dropped as wal_full: {dropped}"
    );
    assert_eq!(dropped_in_logs(&logs, "older than max_age"), 0);
    // What the log still holds, all of which must be delivered.
    let on_disk = samples_in(&read_log(&dir.path().join("wal")), &workload);
    assert!(!on_disk.is_empty());
    assert_eq!(receiver.store().totals().accepted, 0, "the outage held");
    check_drop_counts(&sender, dropped, 0);

    receiver.clear_faults();
    // The budget's drops are losses: the first flush after them reports them.
    let error = sender
        .flush(Duration::from_secs(30))
        .expect_err("samples were dropped by the budget");
    assert_eq!(error.kind(), ErrorKind::SamplesLost, "{error}");
    assert!(error.message().contains("dropped from the WAL"), "{error}");
    check_drop_counts(&sender, dropped, 0);
    let max_seen = watch.max();
    drop(watch);
    assert!(
        max_seen <= MAX_BYTES + SEGMENT_BYTES,
        "at most {max_seen} bytes on disk, budget {MAX_BYTES} plus a segment"
    );
    check_delivered(&receiver, &workload, &appended_set);
    let delivered: HashSet<Key> = workload.delivered(&receiver).into_iter().collect();
    let missing = on_disk.difference(&delivered).count();
    assert_eq!(missing, 0, "every sample left on disk is delivered");
    // Per series, what was dropped is older than what the log kept: the newest samples of
    // each series (the last 1000 rounds) are all delivered.
    let newest = workload.t0 + 19_000;
    let newest_missing = appended
        .iter()
        .filter(|k| k.1 >= newest && !delivered.contains(k))
        .count();
    assert_eq!(newest_missing, 0, "the newest samples are all delivered");
    // Every sample appended is delivered or counted dropped (the overlap, samples both
    // counted dropped and delivered, is what was queued in memory when the segment went).
    let undelivered = appended_set.len() - delivered.len();
    assert!(
        dropped >= undelivered as u64,
        "{undelivered} samples undelivered, {dropped} counted dropped"
    );
    sender.close(Duration::from_secs(10)).ok();
}

#[test]
fn max_age_drops_old_segments_during_an_outage() {
    let receiver = down_receiver();
    let dir = TempDir::new("walf-age");
    let (sender, logs) = start(
        &[("test", &receiver.url())],
        "      capacity: 2000\n      max_samples_per_send: 500\n",
        dir.path(),
        "    max_bytes: 1MiB\n    max_age: 1s\n",
    );
    let mut workload = Workload::new(&sender, "walf_age", 20, now_ms() - 600_000);
    let mut appended = Vec::new();
    // 40,000 samples, about 440 KB: four segments of 128 KiB, within the budget.
    workload.append(&sender, 2000, &mut appended).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    let written = wal_bytes(dir.path());
    assert!(written > 400_000, "{written} bytes logged");
    // Within max_age plus the writer's tick, everything logged goes (the idle segment is
    // rotated so that it can), counted wal_too_old.
    assert!(
        wait_until(Duration::from_secs(10), || wal_bytes(dir.path()) <= 64),
        "old segments are deleted: {} bytes left",
        wal_bytes(dir.path())
    );
    // The writer logs each deletion just after the file is gone: wait for the last line.
    assert!(
        wait_until(Duration::from_secs(10), || {
            dropped_in_logs(&logs, "older than max_age")
                == sender.stats().endpoints[0].samples_dropped_wal_too_old
        }),
        "the log lines catch up with the counter"
    );
    let dropped = dropped_in_logs(&logs, "older than max_age");
    assert!(dropped > 0, "counted as too old");
    assert_eq!(dropped_in_logs(&logs, "max_bytes reached"), 0);
    assert_eq!(receiver.store().totals().accepted, 0, "the outage held");
    check_drop_counts(&sender, 0, dropped);

    // New samples after the drop are kept and delivered once the receiver is back.
    workload.append(&sender, 100, &mut appended).unwrap();
    let fresh: Vec<Key> = appended[appended.len() - 2000..].to_vec();
    receiver.clear_faults();
    flush_delivers(&sender, Duration::from_secs(30));
    check_drop_counts(&sender, 0, dropped);
    let appended_set: HashSet<Key> = appended.iter().copied().collect();
    check_delivered(&receiver, &workload, &appended_set);
    let delivered: HashSet<Key> = workload.delivered(&receiver).into_iter().collect();
    assert!(
        fresh.iter().all(|k| delivered.contains(k)),
        "samples appended after the drop are delivered"
    );
    let undelivered = (appended_set.len() - delivered.len()) as u64;
    assert!(
        dropped >= undelivered,
        "{undelivered} samples undelivered, {dropped} counted dropped"
    );
    sender.close(Duration::from_secs(10)).ok();
}

#[test]
fn full_fail_refuses_appends_at_the_budget_until_the_backlog_drains() {
    let receiver = down_receiver();
    let dir = TempDir::new("walf-fail");
    let (sender, logs) = start(
        &[("test", &receiver.url())],
        "      capacity: 2000\n      max_samples_per_send: 500\n",
        dir.path(),
        "    max_bytes: 1MiB\n    full: fail\n",
    );
    let mut workload = Workload::new(&sender, "walf_fail", 20, now_ms() - 600_000);
    let mut appended = Vec::new();
    let started = Instant::now();
    let refusal = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the budget was never reached: {} bytes on disk",
            wal_bytes(dir.path())
        );
        if let Err(e) = workload.append(&sender, 100, &mut appended) {
            break e;
        }
        // The writer enters `full` as it rotates: give it the entries now.
        sender.sync(Duration::from_secs(10)).unwrap();
    };
    assert_eq!(refusal.kind(), ErrorKind::QueueFull, "{refusal}");
    assert!(
        refusal.message().contains("WAL") && refusal.message().contains("max_bytes"),
        "the message names the WAL's budget: {refusal}"
    );
    assert!(
        refusal
            .message()
            .contains(&dir.path().display().to_string()),
        "the message names the dir: {refusal}"
    );
    // Refused again, counted, and nothing dropped.
    let again = workload.append(&sender, 1, &mut appended).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::QueueFull);
    assert!(sender.stats().rejected_queue_full >= 2);
    assert_eq!(dropped_in_logs(&logs, "max_bytes reached"), 0);
    check_drop_counts(&sender, 0, 0);
    sender.sync(Duration::from_secs(10)).unwrap();
    let on_disk = wal_bytes(dir.path());
    assert!(
        on_disk <= MAX_BYTES + SEGMENT_BYTES,
        "{on_disk} bytes on disk, budget {MAX_BYTES}"
    );

    // The receiver recovers: once the backlog is sent (and its segments deleted), appends
    // work again.
    receiver.clear_faults();
    let accepted_before = appended.len();
    assert!(
        wait_until(Duration::from_secs(30), || workload
            .append(&sender, 1, &mut appended)
            .is_ok()),
        "appends work again after the backlog drained"
    );
    workload.append(&sender, 500, &mut appended).unwrap();
    assert!(appended.len() >= accepted_before + 500 * 20);
    sender.flush(Duration::from_secs(30)).unwrap();
    let appended_set: HashSet<Key> = appended.iter().copied().collect();
    check_delivered(&receiver, &workload, &appended_set);
    let delivered = workload.delivered(&receiver).len();
    assert_eq!(
        delivered,
        appended.len(),
        "with full: fail nothing accepted is lost"
    );
    sender.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn endpoints_added_and_removed_between_runs() {
    let a = FaultReceiver::start();
    // B never answers: nothing listens on its port.
    let b_url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let dir = TempDir::new("walf-endpoints");
    let t0 = now_ms() - 600_000;

    // Run 1: A and B; B is down, so close leaves its backlog on disk.
    let (sender, _) = start(
        &[("a", &a.url()), ("b", &b_url)],
        "      max_samples_per_send: 500\n",
        dir.path(),
        "",
    );
    let mut run1 = Workload::new(&sender, "walf_ep", 10, t0);
    let mut appended = Vec::new();
    run1.append(&sender, 300, &mut appended).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || a.store().totals().accepted
            == 3000),
        "A receives run 1"
    );
    let error = sender.close(Duration::from_millis(300)).unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Timeout,
        "B's backlog is left: {error}"
    );
    drop(sender);
    let cursors = dir.path().join("cursors");
    let cursor_of =
        |id: &str| cursors.join(id.bytes().map(|b| format!("{b:02x}")).collect::<String>());
    assert!(cursor_of("a").is_file() && cursor_of("b").is_file());
    let run1_segments = list_segments(&dir.path().join("wal")).unwrap();

    // Run 2: A and C. B's cursor goes (logged); C starts at the end of the log.
    let c = FaultReceiver::start();
    let (sender, logs) = start(
        &[("a", &a.url()), ("c", &c.url())],
        "      max_samples_per_send: 500\n",
        dir.path(),
        "",
    );
    assert!(!cursor_of("b").exists(), "B's cursor file is removed");
    assert!(cursor_of("c").is_file(), "C's cursor is stored at once");
    {
        let logs = logs.lock().unwrap();
        assert!(
            logs.iter().any(|l| l.contains("endpoint \"b\"")
                && l.contains("(file 62)")
                && l.contains("no longer configured")),
            "the removal is logged: {logs:?}"
        );
    }
    // The restart keeps each series' last timestamp: run 2 goes on after run 1.
    let mut run2 = Workload::new(&sender, "walf_ep", 10, t0);
    run2.next_round = 300;
    let run2_start = appended.len();
    run2.append(&sender, 200, &mut appended).unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    sender.close(Duration::from_secs(10)).unwrap();
    drop(sender);

    let all: HashSet<Key> = appended.iter().copied().collect();
    // A: run 1 once, then run 2, nothing twice.
    check_delivered(&a, &run1, &all);
    let a_got = run1.delivered(&a);
    assert_eq!(a_got.len(), appended.len(), "A got every sample once");
    // C: only what was appended in run 2.
    check_delivered(&c, &run1, &all);
    let c_got: HashSet<Key> = run1.delivered(&c).into_iter().collect();
    let run2_keys: HashSet<Key> = appended[run2_start..].iter().copied().collect();
    assert_eq!(c_got, run2_keys, "C receives only run 2's samples");
    // B's backlog no longer holds the disk: run 1's segments are deleted once A and C are
    // past them.
    let left = list_segments(&dir.path().join("wal")).unwrap();
    assert!(
        left.iter().all(|n| !run1_segments.contains(n)),
        "run 1's segments {run1_segments:?} are deleted, left: {left:?}"
    );
}

/// A log written by a sender whose receiver was down: closed with everything on disk.
struct PristineLog {
    dir: TempDir,
    segments: Vec<LogSegment>,
}

/// Writes the log every case of the property test damages a copy of.
fn pristine_log() -> PristineLog {
    let dir = TempDir::new("walf-pristine");
    let down = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let (sender, _) = start(&[("test", &down)], "", dir.path(), "    max_bytes: 1MiB\n");
    // 30,000 samples, about 330 KB: three segments of 128 KiB. A sync every 500
    // samples closes a Samples record, so each segment holds about two dozen.
    let mut workload = Workload::new(&sender, "walf_damage", 20, now_ms() - 600_000);
    for _ in 0..60 {
        workload.append(&sender, 25, &mut Vec::new()).unwrap();
        sender.sync(Duration::from_secs(10)).unwrap();
    }
    assert!(sender.close(Duration::from_millis(100)).is_err());
    drop(sender);
    let segments = read_log(&dir.path().join("wal"));
    assert!(segments.len() >= 3, "{} segments", segments.len());
    let records = segments.iter().map(|s| s.records.len()).min().unwrap();
    assert!(records >= 10, "{records} records in a segment");
    PristineLog { dir, segments }
}

/// Copies directory `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// How a case damages the log.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut the last segment at this fraction of its length.
    Truncate(f64),
    /// Cut the last segment at this byte offset (into or just after its header).
    TruncateAt(u64),
    /// XOR bytes of one segment (picked by the index) at these fractions of its length with
    /// these (non-zero) masks.
    Flip(prop::sample::Index, Vec<(f64, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (0.0..1.0f64).prop_map(Damage::Truncate),
        1 => (0u64..40).prop_map(Damage::TruncateAt),
        1 => (any::<prop::sample::Index>(), 0.0..0.0003f64, 1u8..=255)
            .prop_map(|(segment, at, mask)| Damage::Flip(segment, vec![(at, mask)])),
        3 => (
            any::<prop::sample::Index>(),
            prop::collection::vec((0.0..1.0f64, 1u8..=255), 1..4)
        )
            .prop_map(|(segment, flips)| Damage::Flip(segment, flips)),
    ]
}

/// Applies `damage` to the log in `wal_dir` (segments as in `segments`); returns the damaged
/// segment's number and the damaged byte offsets (for a cut: every offset from the cut on).
fn apply(damage: &Damage, wal_dir: &Path, segments: &[LogSegment]) -> (u64, Vec<u64>) {
    match damage {
        Damage::Truncate(_) | Damage::TruncateAt(_) => {
            let last = segments.last().unwrap();
            let cut = match damage {
                Damage::Truncate(at) => ((last.len as f64) * at) as u64,
                Damage::TruncateAt(at) => *at,
                Damage::Flip(..) => unreachable!(),
            };
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(segment_path(wal_dir, last.number))
                .unwrap();
            file.set_len(cut).unwrap();
            (last.number, (cut..last.len).collect())
        }
        Damage::Flip(index, flips) => {
            let segment = &segments[index.index(segments.len())];
            let path = segment_path(wal_dir, segment.number);
            let mut bytes = std::fs::read(&path).unwrap();
            let mut offsets = Vec::new();
            for (at, mask) in flips {
                let offset = ((bytes.len() as f64) * at) as usize;
                bytes[offset] ^= mask;
                offsets.push(offset as u64);
            }
            std::fs::write(&path, &bytes).unwrap();
            (segment.number, offsets)
        }
    }
}

/// The samples a damaged log must still deliver: every segment but the damaged one whole;
/// in the damaged one (unless its header was hit), each Samples record that no damaged byte
/// touches, when the record defining its series is untouched too. That includes everything
/// before the first damaged byte.
fn must_survive(segments: &[LogSegment], damaged: u64, offsets: &[u64]) -> Vec<(String, i64, u64)> {
    let hit = |r: &LogRecord| offsets.iter().any(|&o| o >= r.start && o < r.end);
    let mut out = Vec::new();
    for segment in segments {
        if segment.number != damaged {
            out.extend(segment.records.iter().flat_map(|r| r.samples.clone()));
            continue;
        }
        if offsets.iter().any(|&o| o < 8 + 4) {
            // The magic or the version: the whole segment is unreadable.
            continue;
        }
        let mut intact_ids = HashSet::new();
        for record in &segment.records {
            if let Some((id, _)) = &record.defines {
                if hit(record) {
                    intact_ids.remove(id);
                } else {
                    intact_ids.insert(*id);
                }
                continue;
            }
            if hit(record) {
                continue;
            }
            for (sample, id) in record.samples.iter().zip(&record.ids) {
                if intact_ids.contains(id) {
                    out.push(sample.clone());
                }
            }
        }
    }
    out
}

/// The samples before the first damaged byte.
fn before_damage(
    segments: &[LogSegment],
    damaged: u64,
    offsets: &[u64],
) -> Vec<(String, i64, u64)> {
    let first = offsets.iter().copied().min().unwrap_or(u64::MAX);
    segments
        .iter()
        .filter(|s| s.number <= damaged)
        .flat_map(|s| {
            s.records
                .iter()
                .filter(move |r| s.number < damaged || r.end <= first)
                .flat_map(|r| r.samples.clone())
        })
        .collect()
}

/// One case of the property test: damages a copy of `pristine` and checks what a sender on
/// it delivers.
fn check_damaged(pristine: &PristineLog, damage: &Damage) -> Result<(), TestCaseError> {
    let dir = TempDir::new("walf-damaged");
    copy_dir(pristine.dir.path(), dir.path());
    let wal_dir = dir.path().join("wal");
    let (damaged, offsets) = apply(damage, &wal_dir, &pristine.segments);

    let receiver = FaultReceiver::start();
    let (sender, _) = start(
        &[("test", &receiver.url())],
        "",
        dir.path(),
        "    max_bytes: 1MiB\n",
    );
    let started = Instant::now();
    let flushed = sender.flush(Duration::from_secs(20));
    prop_assert!(started.elapsed() < Duration::from_secs(20), "flush hung");
    prop_assert!(flushed.is_ok(), "flush: {:?}", flushed);
    let closed = sender.close(Duration::from_secs(10));
    prop_assert!(closed.is_ok(), "close: {:?}", closed);
    drop(sender);

    let appended: HashSet<(String, i64, u64)> = pristine
        .segments
        .iter()
        .flat_map(|s| s.records.iter().flat_map(|r| r.samples.clone()))
        .collect();
    let totals = receiver.store().totals();
    prop_assert_eq!((totals.duplicates, totals.out_of_order), (0, 0));
    let mut delivered = HashSet::new();
    for (labels, samples) in receiver.store().all_samples() {
        let name = labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .unwrap()
            .1
            .clone();
        for (t, bits) in samples {
            let key = (name.clone(), t, bits);
            prop_assert!(
                appended.contains(&key),
                "delivered {:?} was appended so",
                key
            );
            delivered.insert(key);
        }
    }
    let arrived = receiver
        .seen()
        .iter()
        .filter(|s| (200..300).contains(&s.status))
        .map(|s| s.samples)
        .sum::<usize>();
    prop_assert_eq!(arrived, delivered.len(), "nothing arrived twice");
    let before = before_damage(&pristine.segments, damaged, &offsets);
    let lost_before = before.iter().filter(|k| !delivered.contains(*k)).count();
    prop_assert_eq!(
        lost_before,
        0,
        "everything before the first damaged byte is delivered"
    );
    let intact = must_survive(&pristine.segments, damaged, &offsets);
    let lost_intact = intact.iter().filter(|k| !delivered.contains(*k)).count();
    prop_assert_eq!(lost_intact, 0, "every intact record is delivered");
    Ok(())
}

#[test]
fn a_damaged_log_delivers_what_is_intact_in_order_and_nothing_else() {
    // The log is written once (and removed at the end); each case damages a copy.
    let pristine = pristine_log();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    });
    if let Err(e) = runner.run(&damage(), |damage| check_damaged(&pristine, &damage)) {
        panic!("{e}\n{runner}");
    }
}
