//! flush, close and drop: deadlines are respected and threads are stopped.

mod common;

use std::time::{Duration, Instant};

use common::{Fault, FaultReceiver, now_ms, sender, threads_named, wait_for_threads, yaml};
use promrw::ErrorKind;

/// A receiver that answers 503 for a long time.
fn down() -> FaultReceiver {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..100_000).map(|_| Fault::Status(503, "down")));
    receiver
}

#[test]
fn flush_returns_timeout_at_its_deadline() {
    let receiver = down();
    let sender = sender(&yaml(&receiver.url(), "", ""));
    let r = sender.series_from_pairs(&[("__name__", "f")]).unwrap();
    sender.append(r, now_ms(), 1.0).unwrap();
    let started = Instant::now();
    let err = sender.flush(Duration::from_millis(400)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("1 samples pending"), "{err}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(2),
        "{took:?}"
    );
    receiver.clear_faults();
    sender
        .flush(Duration::from_secs(10))
        .expect("completes once the receiver recovers");
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn close_drains_then_joins_and_refuses_later_calls() {
    let receiver = FaultReceiver::start();
    let sender = sender(
        &yaml(&receiver.url(), "      min_shards: 3\n", "").replace("name: test", "name: drain"),
    );
    assert_eq!(wait_for_threads("promrw-drain-", 3), 3);
    let r = sender.series_from_pairs(&[("__name__", "c")]).unwrap();
    let t = now_ms();
    for i in 0..500 {
        sender.append(r, t + i, 1.0).unwrap();
    }
    sender.close(Duration::from_secs(10)).unwrap();
    assert_eq!(
        receiver.store().totals().accepted,
        500,
        "close sends what was queued"
    );
    assert_eq!(
        wait_for_threads("promrw-drain-", 0),
        0,
        "shard threads joined"
    );
    assert_eq!(
        sender.append(r, t + 1000, 1.0).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        sender.close(Duration::from_secs(1)).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(sender.stats().rejected_closed, 1);
}

#[test]
fn close_with_a_zero_timeout_and_nothing_pending_succeeds_and_joins() {
    let receiver = FaultReceiver::start();
    for round in 0..5 {
        let name = format!("zero{round}");
        let sender = sender(
            &yaml(
                &receiver.url(),
                "      min_shards: 2
",
                "",
            )
            .replace("name: test", &format!("name: {name}")),
        );
        let r = sender.series_from_pairs(&[("__name__", "z")]).unwrap();
        sender.append(r, now_ms(), 1.0).unwrap();
        sender.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(
            sender.close(Duration::ZERO).map_err(|e| e.kind()),
            Ok(()),
            "nothing was pending, so nothing was abandoned"
        );
        // A joined thread's /proc entry can outlive the join by a moment (the kernel clears
        // the thread id, which wakes the joiner, before it removes the task).
        assert_eq!(
            wait_for_threads(&format!("promrw-{name}-"), 0),
            0,
            "every shard thread has ended"
        );
    }
}

#[test]
fn close_respects_its_deadline_and_counts_unsent_samples_as_failed() {
    let receiver = down();
    let sender = sender(&yaml(&receiver.url(), "", "").replace("name: test", "name: hard"));
    let r = sender.series_from_pairs(&[("__name__", "h")]).unwrap();
    let t = now_ms();
    for i in 0..50 {
        sender.append(r, t + i, 1.0).unwrap();
    }
    let started = Instant::now();
    let err = sender.close(Duration::from_millis(500)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let e = sender.stats().endpoints[0].clone();
    assert_eq!(e.samples_failed, 50, "{e:?}");
    assert_eq!(e.samples_pending, 0);
    assert_eq!(wait_for_threads("promrw-hard-", 0), 0);
}

#[test]
fn close_does_not_wait_for_a_slow_attempt_beyond_its_deadline() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::SlowThenDrop(Duration::from_secs(3))]);
    let config = yaml(&receiver.url(), "", "")
        .replace("remote_timeout: 2s", "remote_timeout: 10s")
        .replace("name: test", "name: slowc");
    let sender = sender(&config);
    let r = sender.series_from_pairs(&[("__name__", "s")]).unwrap();
    sender.append(r, now_ms(), 1.0).unwrap();
    // Close once the slow attempt is in progress: the receiver has seen the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.seen().is_empty() {
        assert!(Instant::now() < deadline, "the request never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    assert_eq!(
        sender.close(Duration::from_millis(300)).unwrap_err().kind(),
        ErrorKind::Timeout
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The thread ends by itself once its attempt returns.
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads_named("promrw-slowc-") > 0 {
        assert!(Instant::now() < deadline, "shard thread did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dropping_an_unclosed_sender_neither_hangs_nor_leaks_threads() {
    let receiver = down();
    let text = format!(
        "{}promrw:\n  flush_deadline: 300ms\n",
        yaml(&receiver.url(), "      min_shards: 2\n", "").replace("name: test", "name: drop")
    );
    let sender = sender(&text);
    assert_eq!(wait_for_threads("promrw-drop-", 2), 2);
    let r = sender.series_from_pairs(&[("__name__", "d")]).unwrap();
    sender.append(r, now_ms(), 1.0).unwrap();
    let started = Instant::now();
    drop(sender);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(wait_for_threads("promrw-drop-", 0), 0);
}
