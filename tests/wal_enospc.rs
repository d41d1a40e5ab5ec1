//! The durable queue when the disk fails (issue 12): write errors (`ENOSPC`, injected by
//! `promrw::wal::test_hooks`: each failing write leaves half a record behind, as a disk
//! filling up mid-write does) refuse appends with `Io` naming the WAL's path, lose nothing
//! accepted before, and clear once a write succeeds; an fsync error is rewritten into a new
//! segment. Needs the `test-hooks` feature:
//! `cargo test --features test-hooks --test wal_enospc` (./test.sh runs it).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{FaultReceiver, TempDir, now_ms};
use promrw::wal::segment::{list_segments, scan_segment, segment_path};
use promrw::wal::test_hooks;
use promrw::{Config, ErrorKind, Sender, SeriesRef};

/// A sample: (series index, timestamp, value bits); series `i` is `<prefix>_<i>`.
type Key = (usize, i64, u64);

/// A WAL-mode sender for `url` with the log in `dir` and `wal` lines under `promrw.wal`.
fn wal_sender(url: &str, dir: &Path, wal: &str) -> Sender {
    let text = format!(
        "{}promrw:\n  flush_deadline: 2s\n  wal:\n    dir: {}\n{wal}",
        common::yaml(url, "      max_samples_per_send: 500\n", ""),
        dir.display()
    );
    Sender::new(Config::from_text(&text).expect("valid config")).expect("sender starts")
}

/// Series appended to in rounds, 1 ms apart.
struct Workload {
    prefix: String,
    refs: Vec<SeriesRef>,
    t0: i64,
    next_round: usize,
    /// (series, timestamp) of the next sample to append within the round (after a refusal).
    next_series: usize,
    accepted: Vec<Key>,
}

impl Workload {
    fn new(sender: &Sender, prefix: &str, series: usize) -> Workload {
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
            t0: now_ms() - 600_000,
            next_round: 0,
            next_series: 0,
            accepted: Vec::new(),
        }
    }

    /// Registers `more` series, appended to from the next round on.
    fn add_series(&mut self, sender: &Sender, more: usize) {
        let first = self.refs.len();
        for i in first..first + more {
            let name = format!("{}_{i}", self.prefix);
            self.refs
                .push(sender.series_from_pairs(&[("__name__", name)]).unwrap());
        }
    }

    /// Appends `rounds` rounds; at the first refusal returns it (the refused sample is
    /// tried again by the next call).
    fn append(&mut self, sender: &Sender, rounds: usize) -> promrw::Result<()> {
        for _ in 0..rounds {
            let t = self.t0 + self.next_round as i64;
            while self.next_series < self.refs.len() {
                let i = self.next_series;
                let v = self.next_round as f64 * 1000.0 + i as f64 + 0.5;
                sender.append(self.refs[i], t, v)?;
                self.accepted.push((i, t, v.to_bits()));
                self.next_series += 1;
            }
            self.next_series = 0;
            self.next_round += 1;
        }
        Ok(())
    }

    /// Checks that `receiver` got every accepted sample once, in order, with its exact value.
    fn check_all_delivered(&self, receiver: &FaultReceiver) {
        let totals = receiver.store().totals();
        assert_eq!(
            (totals.duplicates, totals.out_of_order),
            (0, 0),
            "nothing twice, per-series order"
        );
        let mut expected_by_series = vec![Vec::new(); self.refs.len()];
        for &(i, t, bits) in &self.accepted {
            expected_by_series[i].push((t, bits));
        }
        for (i, expected) in expected_by_series.into_iter().enumerate() {
            let stored = receiver
                .store()
                .samples(&[("__name__", &format!("{}_{i}", self.prefix))])
                .unwrap_or_default();
            assert_eq!(stored.len(), expected.len(), "series {i}: every sample");
            assert_eq!(stored, expected, "series {i}: in order, exact values");
        }
        let accepted: HashSet<(String, i64, u64)> = self
            .accepted
            .iter()
            .map(|&(i, t, bits)| (format!("{}_{i}", self.prefix), t, bits))
            .collect();
        assert_eq!(accepted.len(), self.accepted.len());
        let mut arrived = 0;
        for seen in receiver.seen() {
            if !(200..300).contains(&seen.status) {
                continue;
            }
            for sample in seen.contents {
                assert!(
                    accepted.contains(&sample),
                    "{sample:?} arrived exactly as accepted"
                );
                arrived += 1;
            }
        }
        assert_eq!(arrived, self.accepted.len(), "no sample arrived twice");
    }
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
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks that no segment in `dir`/wal ends in a partial record or holds damage: a failed
/// write was cut back.
fn assert_log_clean(dir: &Path) {
    let wal_dir = dir.join("wal");
    for number in list_segments(&wal_dir).unwrap() {
        let bytes = std::fs::read(segment_path(&wal_dir, number)).unwrap();
        let scan = scan_segment(&bytes, |_, _| {});
        assert_eq!(scan.bad_header, None, "segment {number}");
        assert_eq!(
            (scan.tail_bytes, scan.corrupt_stretches),
            (0, 0),
            "segment {number} holds only whole records"
        );
    }
}

#[test]
fn write_errors_refuse_appends_naming_the_wal_and_lose_nothing() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("wal-enospc");
    let sender = wal_sender(&receiver.url(), dir.path(), "");
    let mut workload = Workload::new(&sender, "wal_enospc", 10);
    workload.append(&sender, 200).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();

    // The disk fills up: appends go on being accepted until the writer meets the error,
    // then are refused.
    test_hooks::fail_writes(dir.path(), test_hooks::UNTIL_CLEARED);
    let accepted_before = workload.accepted.len();
    let mut refusal = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            match workload.append(&sender, 1) {
                Ok(()) => false,
                Err(e) => {
                    refusal = Some(e);
                    true
                }
            }
        }),
        "appends are refused while writes fail"
    );
    let refusal = refusal.unwrap();
    assert_eq!(refusal.kind(), ErrorKind::Io, "{refusal}");
    let wal_dir = dir.path().join("wal").display().to_string();
    assert!(
        refusal.message().contains(&wal_dir),
        "the message names the WAL's path: {refusal}"
    );
    assert!(
        refusal.message().contains("No space left on device"),
        "and the error: {refusal}"
    );
    assert!(test_hooks::injected(dir.path()).0 >= 1);
    // Still refused, each refusal counted; sync cannot succeed meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    let again = workload.append(&sender, 1).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Io, "{again}");
    assert!(sender.stats().rejected_io >= 2);
    let sync = sender.sync(Duration::from_millis(300)).unwrap_err();
    assert_eq!(sync.kind(), ErrorKind::Timeout, "{sync}");
    assert!(
        workload.accepted.len() > accepted_before,
        "some samples were accepted after the disk filled, before the writer met it"
    );
    let failures = test_hooks::injected(dir.path()).0;
    assert!(
        failures >= 2,
        "the writer retried ({failures} failed writes)"
    );

    // Space is freed: the writer's retry succeeds (backoff at most 1 s) and appends work
    // again.
    test_hooks::clear(dir.path());
    assert!(
        wait_until(Duration::from_secs(10), || workload
            .append(&sender, 1)
            .is_ok()),
        "appends work again once a write succeeds"
    );
    workload.append(&sender, 200).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    workload.check_all_delivered(&receiver);
    assert_log_clean(dir.path());
    sender.close(Duration::from_secs(10)).unwrap();
    test_hooks::forget(dir.path());
}

#[test]
fn write_errors_during_an_outage_lose_nothing_across_a_restart() {
    // The receiver is down too: what was accepted before and during the write error stays
    // on disk and the next sender delivers it.
    let down = FaultReceiver::start();
    down.push_faults((0..100_000).map(|_| common::Fault::Status(503, "down")));
    let dir = TempDir::new("wal-enospc-restart");
    let sender = wal_sender(&down.url(), dir.path(), "    fsync: always\n");
    let mut workload = Workload::new(&sender, "wal_enospc_restart", 10);
    workload.append(&sender, 300).unwrap();
    test_hooks::fail_writes(dir.path(), 3);
    // The first group commit meets the three failures (100, 200, 400 ms of backoff) and then
    // succeeds; appends made meanwhile are refused or wait in memory.
    let started = Instant::now();
    let mut refused = 0;
    while started.elapsed() < Duration::from_secs(2) {
        if let Err(e) = workload.append(&sender, 1) {
            assert_eq!(e.kind(), ErrorKind::Io, "{e}");
            refused += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(refused > 0, "appends were refused during the errors");
    assert_eq!(test_hooks::injected(dir.path()).0, 3);
    sender.sync(Duration::from_secs(10)).unwrap();
    let error = sender.close(Duration::from_millis(300)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    drop(sender);
    down.stop();
    assert_log_clean(dir.path());

    let up = FaultReceiver::start();
    let sender = wal_sender(&up.url(), dir.path(), "    fsync: always\n");
    sender.flush(Duration::from_secs(20)).unwrap();
    workload.check_all_delivered(&up);
    sender.close(Duration::from_secs(10)).unwrap();
    test_hooks::forget(dir.path());
}

#[test]
fn an_fsync_error_loses_nothing_accepted() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("wal-eio");
    let sender = wal_sender(&receiver.url(), dir.path(), "    fsync: always\n");
    let mut workload = Workload::new(&sender, "wal_eio", 10);
    workload.append(&sender, 100).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    // The next fsync fails: the segment is cut back to its last fsync'd length and what
    // followed is rewritten into a new segment.
    let segments_before = list_segments(&dir.path().join("wal")).unwrap().len();
    test_hooks::fail_syncs(dir.path(), 1);
    workload.append(&sender, 100).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    assert_eq!(test_hooks::injected(dir.path()).1, 1);
    let segments_after = list_segments(&dir.path().join("wal")).unwrap().len();
    assert!(
        segments_after > segments_before,
        "rewritten into a new segment ({segments_before} -> {segments_after})"
    );
    workload.append(&sender, 100).unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    let stored: usize = receiver.store().totals().accepted as usize;
    assert_eq!(stored, workload.accepted.len(), "every sample delivered");
    // The feeder, keeping up, read what was written before the failed fsync, and skips its
    // rewrite: nothing is sent twice.
    workload.check_all_delivered(&receiver);
    assert_log_clean(dir.path());
    sender.close(Duration::from_secs(10)).unwrap();
    test_hooks::forget(dir.path());
}

#[test]
fn close_during_a_write_error_returns_and_the_next_sender_delivers_what_was_written() {
    let down = FaultReceiver::start();
    down.push_faults((0..100_000).map(|_| common::Fault::Status(503, "down")));
    let dir = TempDir::new("wal-enospc-close");
    let sender = wal_sender(&down.url(), dir.path(), "");
    let mut workload = Workload::new(&sender, "wal_enospc_close", 10);
    workload.append(&sender, 300).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    let written = workload.accepted.len();
    test_hooks::fail_writes(dir.path(), test_hooks::UNTIL_CLEARED);
    assert!(
        wait_until(Duration::from_secs(10), || workload
            .append(&sender, 1)
            .is_err()),
        "appends are refused while writes fail"
    );
    // The writer gives up at close (what it could not write is lost, counted); close does
    // not wait for the disk.
    let started = Instant::now();
    assert!(sender.close(Duration::from_millis(500)).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "close returned in {:?}",
        started.elapsed()
    );
    drop(sender);
    down.stop();
    test_hooks::clear(dir.path());
    assert_log_clean(dir.path());

    let up = FaultReceiver::start();
    let sender = wal_sender(&up.url(), dir.path(), "");
    sender.flush(Duration::from_secs(20)).unwrap();
    workload.accepted.truncate(written);
    workload.check_all_delivered(&up);
    sender.close(Duration::from_secs(10)).unwrap();
    test_hooks::forget(dir.path());
}

#[test]
fn fsync_errors_that_persist_lose_nothing_once_they_clear() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("wal-eio-persist");
    let sender = wal_sender(&receiver.url(), dir.path(), "    fsync: always\n");
    let mut workload = Workload::new(&sender, "wal_eio_persist", 10);
    workload.append(&sender, 100).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    test_hooks::fail_syncs(dir.path(), test_hooks::UNTIL_CLEARED);
    let started = Instant::now();
    let mut refused = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        match workload.append(&sender, 1) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Io, "{e}");
                assert!(e.message().contains("fsync"), "{e}");
                refused += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let sync = sender.sync(Duration::from_millis(200)).unwrap_err();
    assert_eq!(sync.kind(), ErrorKind::Timeout, "{sync}");
    test_hooks::clear(dir.path());
    let failed = test_hooks::injected(dir.path()).1;
    assert!(failed >= 2, "{failed} fsyncs failed");
    assert!(refused > 0, "appends were refused while fsync failed");
    sender.sync(Duration::from_secs(10)).unwrap();
    workload.append(&sender, 100).unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    let stored: usize = receiver.store().totals().accepted as usize;
    assert_eq!(stored, workload.accepted.len(), "every sample delivered");
    workload.check_all_delivered(&receiver);
    assert_log_clean(dir.path());
    sender.close(Duration::from_secs(10)).unwrap();
    test_hooks::forget(dir.path());
}

#[test]
fn an_fsync_error_during_an_outage_sends_nothing_twice() {
    // The feeder reads what was written before the failed fsync (it keeps up, from memory),
    // and queues it while the receiver is down; the writer rewrites the same entries into a
    // new segment after the failure. Nothing may be queued twice: a batch holding both
    // copies has a series going back in time, which a receiver refuses (400) whole.
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..100_000).map(|_| common::Fault::Status(503, "down")));
    let dir = TempDir::new("wal-eio-outage");
    let sender = wal_sender(&receiver.url(), dir.path(), "    fsync: always\n");
    let mut workload = Workload::new(&sender, "wal_eio_outage", 10);
    workload.append(&sender, 10).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    test_hooks::fail_syncs(dir.path(), 1);
    // 1,050 samples: two full batches of 500 and 50 more.
    workload.append(&sender, 95).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    assert_eq!(test_hooks::injected(dir.path()).1, 1);
    std::thread::sleep(Duration::from_millis(300));
    receiver.clear_faults();
    sender.flush(Duration::from_secs(20)).unwrap();
    workload.check_all_delivered(&receiver);
    sender.close(Duration::from_secs(10)).unwrap();
    test_hooks::forget(dir.path());
}

#[test]
fn an_fsync_error_with_fsync_never_loses_nothing() {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..100_000).map(|_| common::Fault::Status(503, "down")));
    let dir = TempDir::new("wal-eio-never");
    let text = format!(
        "{}promrw:\n  flush_deadline: 2s\n  wal:\n    dir: {}\n    fsync: never\n",
        common::yaml(
            &receiver.url(),
            "      capacity: 200\n      max_samples_per_send: 100\n",
            ""
        ),
        dir.path().display()
    );
    let sender = Sender::new(Config::from_text(&text).unwrap()).unwrap();
    let mut workload = Workload::new(&sender, "wal_eio_never", 10);
    // Four group commits, four records; the feeder holds the first (its queue is full).
    for _ in 0..4 {
        workload.append(&sender, 50).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    test_hooks::fail_syncs(dir.path(), 1);
    sender.sync(Duration::from_secs(10)).unwrap();
    assert_eq!(test_hooks::injected(dir.path()).1, 1);
    receiver.clear_faults();
    sender.flush(Duration::from_secs(20)).unwrap();
    workload.check_all_delivered(&receiver);
    sender.close(Duration::from_secs(10)).unwrap();
    test_hooks::forget(dir.path());
}

#[test]
fn an_fsync_error_with_fsync_interval_rewrites_every_group_commit_since_the_last_fsync() {
    // With `fsync: interval` the writer keeps the bytes of every group commit since the last
    // fsync. The queue holds one record's worth, so the feeder reads most of what follows
    // from the files: after the failed fsync, from the rewrite. Series whose Series record is
    // in the fsync'd part and series first logged after it are both in the rewrite.
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..100_000).map(|_| common::Fault::Status(503, "down")));
    let dir = TempDir::new("wal-eio-interval");
    let text = format!(
        "{}promrw:\n  flush_deadline: 2s\n  wal:\n    dir: {}\n    fsync: interval\n    fsync_interval: 1h\n",
        common::yaml(
            &receiver.url(),
            "      capacity: 200\n      max_samples_per_send: 100\n",
            ""
        ),
        dir.path().display()
    );
    let sender = Sender::new(Config::from_text(&text).unwrap()).unwrap();
    let mut workload = Workload::new(&sender, "wal_eio_interval", 10);
    workload.append(&sender, 5).unwrap();
    sender.sync(Duration::from_secs(10)).unwrap();
    // Four group commits since that fsync; seven more series start in the third.
    for commit in 0..4 {
        if commit == 2 {
            workload.add_series(&sender, 7);
        }
        workload.append(&sender, 40).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    let segments_before = list_segments(&dir.path().join("wal")).unwrap().len();
    test_hooks::fail_syncs(dir.path(), 1);
    sender.sync(Duration::from_secs(10)).unwrap();
    assert_eq!(test_hooks::injected(dir.path()).1, 1);
    let segments_after = list_segments(&dir.path().join("wal")).unwrap().len();
    assert!(
        segments_after > segments_before,
        "rewritten into a new segment ({segments_before} -> {segments_after})"
    );
    receiver.clear_faults();
    sender.flush(Duration::from_secs(20)).unwrap();
    workload.check_all_delivered(&receiver);
    sender.close(Duration::from_secs(10)).unwrap();
    assert_log_clean(dir.path());
    test_hooks::forget(dir.path());
}
