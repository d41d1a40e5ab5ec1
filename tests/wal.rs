//! The durable queue end to end (WAL mode): delivery from the log, resume after close and
//! restart, per-series order across the restart, the cursor, and the lock.

mod common;

use std::time::Duration;

use common::{Fault, FaultReceiver, TempDir, now_ms, yaml};
use promrw::{Config, ErrorKind, Sender};

/// A WAL-mode sender for `url` with the log in `dir`; `wal` adds lines under `promrw.wal`.
fn wal_sender(url: &str, dir: &TempDir, wal: &str) -> promrw::Result<Sender> {
    let text = format!(
        "{}promrw:\n  wal:\n    dir: {}\n{wal}",
        yaml(url, "      max_samples_per_send: 500\n", ""),
        dir.path().display()
    );
    Sender::new(Config::from_text(&text).expect("valid config"))
}

/// Appends `per_series` samples to each of `series` series named `name_i`, 1 ms apart from
/// `t`; returns the refs.
fn append_rounds(sender: &Sender, name: &str, series: usize, per_series: usize, t: i64) {
    let refs: Vec<_> = (0..series)
        .map(|i| {
            sender
                .series_from_pairs(&[("__name__", format!("{name}_{i}"))])
                .unwrap()
        })
        .collect();
    for round in 0..per_series {
        for r in &refs {
            sender
                .append(*r, t + round as i64, round as f64)
                .expect("append");
        }
    }
}

fn expected(t: i64, n: usize) -> Vec<(i64, u64)> {
    (0..n)
        .map(|i| (t + i as i64, (i as f64).to_bits()))
        .collect()
}

#[test]
fn samples_are_delivered_from_the_log_once_and_in_order() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("wal-deliver");
    let sender = wal_sender(&receiver.url(), &dir, "").unwrap();
    let t = now_ms();
    append_rounds(&sender, "wal_deliver", 10, 300, t);
    sender.sync(Duration::from_secs(10)).unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    for i in 0..10 {
        let stored = receiver
            .store()
            .samples(&[("__name__", &format!("wal_deliver_{i}"))])
            .unwrap();
        assert_eq!(stored, expected(t, 300), "series {i}");
    }
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_acked, 3000);
    sender.close(Duration::from_secs(10)).unwrap();
    assert!(dir.path().join("wal").is_dir());
    assert!(dir.path().join("LOCK").is_file());
    // A new sender on the same log sends nothing again.
    let sender = wal_sender(&receiver.url(), &dir, "").unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    sender.close(Duration::from_secs(10)).unwrap();
    let totals = receiver.store().totals();
    assert_eq!((totals.duplicates, totals.out_of_order), (0, 0));
    assert_eq!(receiver.store().all_samples().len(), 10);
}

#[test]
fn what_close_could_not_deliver_is_sent_by_the_next_sender_first_and_in_order() {
    let down = FaultReceiver::start();
    down.push_faults((0..10_000).map(|_| Fault::Status(503, "down")));
    let dir = TempDir::new("wal-resume");
    let sender = wal_sender(&down.url(), &dir, "").unwrap();
    let t = now_ms();
    append_rounds(&sender, "wal_resume", 5, 400, t);
    sender.sync(Duration::from_secs(10)).unwrap();
    let error = sender.close(Duration::from_millis(300)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_acked, 0);
    assert_eq!(
        stats.endpoints[0].samples_failed, 0,
        "left on disk, not failed"
    );
    drop(sender);
    down.stop();

    let up = FaultReceiver::start();
    // Same endpoint name: its cursor is found.
    let sender = wal_sender(&up.url(), &dir, "").unwrap();
    // The log's last timestamps hold across the restart.
    let r = sender
        .series_from_pairs(&[("__name__", "wal_resume_0")])
        .unwrap();
    let error = sender.append(r, t + 399, 1.0).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutOfOrder, "{error}");
    sender.append(r, t + 400, 400.0).unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    for i in 0..5 {
        let stored = up
            .store()
            .samples(&[("__name__", &format!("wal_resume_{i}"))])
            .unwrap();
        let n = if i == 0 { 401 } else { 400 };
        assert_eq!(stored, expected(t, n), "series {i}");
    }
    let totals = up.store().totals();
    assert_eq!((totals.duplicates, totals.out_of_order), (0, 0));
    // The log's figures: what was replayed, nothing left behind the cursor once flushed.
    // The feeder recomputes the cursor within 50 ms of the last acknowledgement.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sender.stats().endpoints[0].wal_lag_samples > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = sender.stats();
    let endpoint = &stats.endpoints[0];
    assert_eq!(endpoint.wal_samples_replayed, 2000);
    assert_eq!((endpoint.wal_lag_samples, endpoint.wal_lag_bytes), (0, 0));
    let wal = stats.wal.clone().expect("WAL figures in WAL mode");
    assert!(wal.bytes_on_disk > 0 && wal.segments >= 1, "{wal:?}");
    assert!(wal.records_written >= 2, "{wal:?}");
    let text = sender.metrics_text();
    for line in [
        "promrw_wal_samples_replayed_total{remote_name=\"test\",".to_string(),
        format!("promrw_wal_segments {}", wal.segments),
        "promrw_wal_cursor_lag_samples{remote_name=\"test\",".to_string(),
        "prometheus_remote_storage_samples_dropped_total{reason=\"wal_full\",".to_string(),
    ] {
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    sender.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn the_lag_counts_what_waits_on_disk_and_memory_mode_has_no_wal_figures() {
    let down = FaultReceiver::start();
    down.push_faults((0..10_000).map(|_| Fault::Status(503, "down")));
    let dir = TempDir::new("wal-lag");
    let sender = wal_sender(&down.url(), &dir, "").unwrap();
    append_rounds(&sender, "wal_lag", 4, 250, now_ms());
    sender.sync(Duration::from_secs(10)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sender.stats().endpoints[0].wal_lag_samples != 1000 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            sender.stats().endpoints[0]
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = sender.stats();
    assert!(stats.endpoints[0].wal_lag_bytes > 1000 * 9, "{stats:?}");
    assert!(stats.wal.unwrap().fsyncs >= 1);
    let _ = sender.close(Duration::from_millis(100));
    let memory = common::sender(&yaml(&down.url(), "", ""));
    assert!(memory.stats().wal.is_none());
    assert!(!memory.metrics_text().contains("promrw_wal_"));
    let _ = memory.close(Duration::from_millis(100));
}

#[test]
fn a_second_sender_on_the_same_dir_is_refused_naming_it() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("wal-lock");
    let first = wal_sender(&receiver.url(), &dir, "").unwrap();
    let error = wal_sender(&receiver.url(), &dir, "")
        .err()
        .expect("refused");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(
        error.message().contains(&dir.path().display().to_string()),
        "{error}"
    );
    first.close(Duration::from_secs(5)).unwrap();
    drop(first);
    let again = wal_sender(&receiver.url(), &dir, "").unwrap();
    again.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_forked_child_drops_a_wal_sender_without_waiting_for_its_threads() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("wal-fork");
    let sender = wal_sender(&receiver.url(), &dir, "").unwrap();
    let r = sender
        .series_from_pairs(&[("__name__", "wal_fork")])
        .unwrap();
    let t = now_ms();
    sender.append(r, t, 1.0).unwrap();
    // SAFETY: no lock of this test is held across the fork; the child only calls the sender
    // (whose allocations are fork-safe in glibc) and leaves with `_exit`.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let started = std::time::Instant::now();
            let refused = sender
                .append(r, t + 1, 2.0)
                .is_err_and(|e| e.kind() == ErrorKind::Forked);
            let sync_refused = sender
                .sync(Duration::from_secs(60))
                .is_err_and(|e| e.kind() == ErrorKind::Forked);
            // Dropping frees memory without stopping or joining threads that do not exist.
            drop(sender);
            let quick = started.elapsed() < Duration::from_secs(5);
            libc::_exit(if refused && sync_refused && quick {
                0
            } else {
                1
            });
        }
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        assert!(libc::WIFEXITED(status), "child status {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "calls and drop in the child");
    }
    // The parent's sender is untouched.
    sender.append(r, t + 1, 2.0).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        receiver
            .store()
            .samples(&[("__name__", "wal_fork")])
            .unwrap(),
        vec![(t, 1f64.to_bits()), (t + 1, 2f64.to_bits())]
    );
    sender.close(Duration::from_secs(10)).unwrap();
}
