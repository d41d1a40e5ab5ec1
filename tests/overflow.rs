//! The overflow policies: `drop_newest`, `fail` and `block`, against a receiver that is
//! unavailable so the shard queue fills.

mod common;

use std::time::{Duration, Instant};

use common::{Fault, FaultReceiver, now_ms, sender, yaml};
use promrw::ErrorKind;

/// A receiver answering 503 to the next `n` requests.
fn unavailable(n: usize) -> FaultReceiver {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..n).map(|_| Fault::Status(503, "unavailable")));
    receiver
}

/// Queue settings: 10 samples of room, batches of 5.
const SMALL_QUEUE: &str = "      capacity: 10\n      max_samples_per_send: 5\n";

#[test]
fn drop_newest_drops_and_counts_what_does_not_fit() {
    let receiver = unavailable(100_000);
    let sender = sender(&yaml(
        &receiver.url(),
        &format!("{SMALL_QUEUE}      overflow: drop_newest\n"),
        "",
    ));
    let r = sender
        .series_from_pairs(&[("__name__", "dropped")])
        .unwrap();
    let t = now_ms();
    for i in 0..100 {
        sender
            .append(r, t + i, 1.0)
            .expect("drop_newest never refuses");
    }
    let stats = sender.stats();
    let e = &stats.endpoints[0];
    assert_eq!(stats.samples_appended, 100);
    assert!(e.samples_dropped_queue_full >= 85, "{e:?}");
    assert!(sender
        .metrics_text()
        .contains(&format!("prometheus_remote_storage_samples_dropped_total{{reason=\"queue_full\",remote_name=\"test\",url=\"{}\"}} {}", receiver.url(), e.samples_dropped_queue_full)));
    receiver.clear_faults();
    let lost = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(lost.kind(), promrw::ErrorKind::SamplesLost, "{lost}");
    let e = sender.stats().endpoints[0].clone();
    assert_eq!(
        sender.last_report().lost().dropped_queue_full,
        e.samples_dropped_queue_full
    );
    assert_eq!(e.samples_acked + e.samples_dropped_queue_full, 100, "{e:?}");
    assert_eq!(receiver.store().totals().accepted, e.samples_acked);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn fail_returns_queue_full_and_the_sample_can_be_appended_again() {
    let receiver = unavailable(100_000);
    let sender = sender(&yaml(
        &receiver.url(),
        &format!("{SMALL_QUEUE}      overflow: fail\n"),
        "",
    ));
    let r = sender
        .series_from_pairs(&[("__name__", "refused")])
        .unwrap();
    let t = now_ms();
    let mut accepted = 0;
    let refused = loop {
        match sender.append(r, t + accepted, 1.0) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "the queue never filled");
    };
    assert_eq!(refused.kind(), ErrorKind::QueueFull);
    assert!(refused.message().contains("queue is full"), "{refused}");
    assert!((10..=15).contains(&accepted), "accepted {accepted}");
    assert_eq!(sender.stats().rejected_queue_full, 1);
    assert_eq!(
        sender.stats().endpoints[0].samples_dropped_queue_full,
        0,
        "refused is not dropped"
    );
    receiver.clear_faults();
    sender.flush(Duration::from_secs(10)).unwrap();
    // The refused timestamp was not committed: appending it again works.
    sender.append(r, t + accepted, 1.0).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.store().totals().accepted, accepted as u64 + 1);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn block_waits_up_to_block_timeout_then_refuses() {
    let receiver = unavailable(100_000);
    let sender = sender(&yaml(
        &receiver.url(),
        &format!("{SMALL_QUEUE}      overflow: block\n      block_timeout: 300ms\n"),
        "",
    ));
    let r = sender
        .series_from_pairs(&[("__name__", "blocked")])
        .unwrap();
    let t = now_ms();
    let mut i = 0;
    let (error, waited) = loop {
        let started = Instant::now();
        match sender.append(r, t + i, 1.0) {
            Ok(()) => i += 1,
            Err(e) => break (e, started.elapsed()),
        }
        assert!(i < 100, "the queue never filled");
    };
    assert_eq!(error.kind(), ErrorKind::QueueFull);
    assert!(error.message().contains("block_timeout"), "{error}");
    assert!(waited >= Duration::from_millis(300), "waited {waited:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    assert!(sender.stats().endpoints[0].enqueue_retries >= 1);
    receiver.clear_faults();
    sender.flush(Duration::from_secs(10)).unwrap();
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn block_resumes_when_the_receiver_recovers() {
    let receiver = unavailable(4);
    let sender = sender(&yaml(
        &receiver.url(),
        &format!("{SMALL_QUEUE}      overflow: block\n      block_timeout: 20s\n"),
        "",
    ));
    let r = sender
        .series_from_pairs(&[("__name__", "resumed")])
        .unwrap();
    let t = now_ms();
    for i in 0..200 {
        sender
            .append(r, t + i, i as f64)
            .expect("block waits for room");
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    let stored = receiver
        .store()
        .samples(&[("__name__", "resumed")])
        .unwrap();
    assert_eq!(stored.len(), 200, "nothing lost under block");
    assert!(sender.stats().endpoints[0].enqueue_retries > 0);
    sender.close(Duration::from_secs(5)).unwrap();
}
