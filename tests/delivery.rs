//! End-to-end delivery through real HTTP on 127.0.0.1: exact delivery under concurrency,
//! stale markers, and a receiver that only starts after the sender.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{FaultReceiver, free_port, now_ms, sender, yaml};
use promrw::{STALE_NAN_BITS, Sender};

#[test]
fn one_million_samples_from_8_threads_over_4_shards_arrive_exactly_once() {
    let receiver = FaultReceiver::start();
    let config = yaml(
        &receiver.url(),
        "      min_shards: 4\n      capacity: 20000\n",
        "",
    );
    let sender = Arc::new(sender(&config));
    const THREADS: usize = 8;
    const SERIES_PER_THREAD: usize = 250;
    const ROUNDS: usize = 500;
    let base = now_ms() - 3_600_000;
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                let refs: Vec<_> = (0..SERIES_PER_THREAD)
                    .map(|s| {
                        sender
                            .series_from_pairs(&[
                                ("__name__", format!("m_{t}_{s}").as_str()),
                                ("thread", &t.to_string()),
                            ])
                            .unwrap()
                    })
                    .collect();
                for round in 0..ROUNDS {
                    for (s, r) in refs.iter().enumerate() {
                        let value = (t * 1_000_000 + s * 1000 + round) as f64;
                        sender
                            .append(*r, base + round as i64 * 15_000, value)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    sender.flush(Duration::from_secs(120)).expect("flush");
    let stats = sender.stats();
    let total = (THREADS * SERIES_PER_THREAD * ROUNDS) as u64;
    assert_eq!(total, 1_000_000);
    assert_eq!(stats.samples_appended, total);
    assert_eq!(stats.endpoints[0].samples_acked, total);
    assert_eq!(stats.endpoints[0].samples_failed, 0);
    assert_eq!(stats.endpoints[0].samples_pending, 0);
    assert_eq!(stats.endpoints[0].shards, 4);

    let totals = receiver.store().totals();
    assert_eq!(totals.accepted, total, "every sample stored once");
    assert_eq!(totals.duplicates, 0);
    assert_eq!(totals.out_of_order, 0);
    assert!(receiver.seen().iter().all(|s| s.invalid.is_none()));
    // Every series has exactly its samples, in order, with the right values.
    for (labels, samples) in receiver.store().all_samples() {
        let name = &labels.iter().find(|(n, _)| n == "__name__").unwrap().1;
        let mut parts = name.trim_start_matches("m_").split('_');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let s: usize = parts.next().unwrap().parse().unwrap();
        assert_eq!(samples.len(), ROUNDS, "{name}");
        for (round, (ts, bits)) in samples.iter().enumerate() {
            assert_eq!(*ts, base + round as i64 * 15_000);
            assert_eq!(
                f64::from_bits(*bits),
                (t * 1_000_000 + s * 1000 + round) as f64
            );
        }
    }
    assert_eq!(receiver.store().series_count(), THREADS * SERIES_PER_THREAD);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn stale_markers_and_special_values_arrive_bit_exact() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(&receiver.url(), "", ""));
    let r = sender
        .series_from_pairs(&[("__name__", "stale_test")])
        .unwrap();
    let t = now_ms();
    let values = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        5e-324,
        1e308,
    ];
    for (i, v) in values.iter().enumerate() {
        sender.append(r, t + i as i64, *v).unwrap();
    }
    sender.append_stale(r, t + 100).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    let stored = receiver
        .store()
        .samples(&[("__name__", "stale_test")])
        .unwrap();
    let mut expected: Vec<(i64, u64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (t + i as i64, v.to_bits()))
        .collect();
    expected.push((t + 100, STALE_NAN_BITS));
    assert_eq!(stored, expected);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn connection_refused_until_receiver_starts_then_everything_is_delivered() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let sender = sender(&yaml(&url, "      min_shards: 2\n", ""));
    let refs: Vec<_> = (0..20)
        .map(|i| {
            sender
                .series_from_pairs(&[("__name__", format!("refused_{i}").as_str())])
                .unwrap()
        })
        .collect();
    let t = now_ms();
    for round in 0..50 {
        for r in &refs {
            sender.append(*r, t + round, round as f64).unwrap();
        }
    }
    // Nothing listens yet: the flush cannot complete and the sender retries.
    assert_eq!(
        sender.flush(Duration::from_millis(700)).unwrap_err().kind(),
        promrw::ErrorKind::Timeout
    );
    let before = sender.stats().endpoints[0].clone();
    assert!(before.samples_retried > 0, "{before:?}");
    assert_eq!(before.samples_acked, 0);
    let receiver = FaultReceiver::start_on(&format!("127.0.0.1:{port}"));
    sender
        .flush(Duration::from_secs(15))
        .expect("delivered after the receiver started");
    let totals = receiver.store().totals();
    assert_eq!(totals.accepted, 1000);
    assert_eq!(totals.duplicates, 0);
    assert_eq!(sender.stats().endpoints[0].samples_failed, 0);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn several_endpoints_each_receive_every_sample() {
    let a = FaultReceiver::start();
    let b = FaultReceiver::start();
    let text = format!(
        "remote_write:\n  - url: {}\n    name: a\n    queue_config: {{batch_send_deadline: 50ms}}\n  - url: {}\n    name: b\n    queue_config: {{min_shards: 3, batch_send_deadline: 50ms}}\nexternal_labels:\n  cluster: test\n",
        a.url(),
        b.url()
    );
    let sender = sender(&text);
    let r = sender
        .series_from_pairs(&[("__name__", "multi"), ("cluster", "own")])
        .unwrap();
    let r2 = sender.series_from_pairs(&[("__name__", "multi2")]).unwrap();
    let t = now_ms();
    for i in 0..100 {
        sender.append(r, t + i, i as f64).unwrap();
        sender.append(r2, t + i, i as f64).unwrap();
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    for receiver in [&a, &b] {
        assert_eq!(receiver.store().totals().accepted, 200);
        // External labels are added only where the series lacks the label.
        assert_eq!(
            receiver
                .store()
                .samples(&[("__name__", "multi"), ("cluster", "own")])
                .unwrap()
                .len(),
            100
        );
        assert_eq!(
            receiver
                .store()
                .samples(&[("__name__", "multi2"), ("cluster", "test")])
                .unwrap()
                .len(),
            100
        );
    }
    let names: Vec<String> = sender
        .stats()
        .endpoints
        .iter()
        .map(|e| e.remote_name.clone())
        .collect();
    assert_eq!(names, ["a", "b"]);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn headers_follow_the_remote_write_1_0_spec() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(
        &receiver.url(),
        "",
        "    headers:\n      X-Scope-OrgID: tenant-1\n    authorization:\n      credentials: s3cr3t-token\n",
    ));
    let r = sender.series_from_pairs(&[("__name__", "h")]).unwrap();
    sender.append(r, now_ms(), 1.0).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    let seen = receiver.seen();
    let headers: HashMap<String, String> = seen[0].headers.iter().cloned().collect();
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(headers["user-agent"], format!("promrw/{}", promrw::VERSION));
    assert_eq!(headers["x-scope-orgid"], "tenant-1");
    assert_eq!(headers["authorization"], "Bearer s3cr3t-token");
    assert!(!sender.metrics_text().contains("s3cr3t"));
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn released_series_memory_is_reused_and_queued_samples_still_sent() {
    let receiver = FaultReceiver::start();
    let sender: Sender = sender(&yaml(&receiver.url(), "", ""));
    let t = now_ms();
    for i in 0..2000 {
        let r = sender
            .series_from_pairs(&[("__name__", "churn"), ("i", &i.to_string())])
            .unwrap();
        sender.append(r, t, 1.0).unwrap();
        sender.release(r).unwrap();
        assert_eq!(
            sender.append(r, t + 1, 1.0).unwrap_err().kind(),
            promrw::ErrorKind::UnknownSeries
        );
    }
    assert_eq!(sender.stats().series, 0);
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.store().totals().accepted, 2000);
    let started = Instant::now();
    sender.close(Duration::from_secs(5)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}
