//! A receiver down for the whole run, then up: 10 million samples wait in the durable queue's
//! files while the process's memory stays bounded (RSS measured), and all of them are then
//! delivered from disk, once each and in order.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TempDir, free_port, now_ms};
use promrw::{Config, Sample, Sender};
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{Receiver, SampleStore};

const SERIES: usize = 10_000;
const ROUNDS: usize = 1_000;

/// The process's resident set size, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn ten_million_samples_wait_on_disk_in_bounded_memory_then_all_arrive() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = TempDir::new("wal-outage");
    let text = format!(
        "remote_write:\n  - url: {url}\n    name: outage\n    remote_timeout: 2s\n    queue_config:\n      capacity: 10000\n      max_samples_per_send: 2000\n      min_backoff: 50ms\n      max_backoff: 200ms\npromrw:\n  flush_deadline: 1s\n  wal:\n    dir: {}\n    max_bytes: 1GiB\n",
        dir.path().display()
    );
    let sender = Sender::new(Config::from_text(&text).unwrap()).unwrap();
    let refs: Vec<_> = (0..SERIES)
        .map(|i| {
            sender
                .series_from_pairs(&[
                    ("__name__", "outage_metric"),
                    ("instance", &format!("host-{i:05}")),
                    ("job", "promrw-outage"),
                ])
                .unwrap()
        })
        .collect();
    let t = now_ms() - ROUNDS as i64 * 10;
    let before = rss_bytes();
    let mut peak = before;
    let mut batch = Vec::with_capacity(SERIES);
    for round in 0..ROUNDS {
        batch.clear();
        batch.extend(refs.iter().map(|&series| Sample {
            series,
            timestamp_ms: t + round as i64 * 10,
            value: round as f64,
        }));
        let (accepted, result) = sender.append_batch(&batch);
        result.unwrap();
        assert_eq!(accepted, SERIES);
        if round % 50 == 0 {
            peak = peak.max(rss_bytes());
        }
    }
    sender.sync(Duration::from_secs(60)).unwrap();
    peak = peak.max(rss_bytes());
    let stats = sender.stats();
    let wal = stats.wal.clone().unwrap();
    let waiting = stats.endpoints[0].wal_lag_samples;
    eprintln!(
        "10M samples appended: RSS {} MiB -> peak {} MiB, {} MiB on disk in {} segments, {waiting} waiting",
        before >> 20,
        peak >> 20,
        wal.bytes_on_disk >> 20,
        wal.segments
    );
    // Held in memory, 10M queued samples would take over 300 MiB (32 bytes each); the queue
    // holds at most its capacity, the log's tail 8 MiB, a read window 4 MiB.
    assert!(
        peak - before < 150 << 20,
        "RSS grew by {} MiB while the samples waited on disk",
        (peak - before) >> 20
    );
    assert!(
        waiting >= (SERIES * ROUNDS) as u64 - 20_000,
        "almost everything waits on disk: {waiting}"
    );
    assert!(wal.bytes_on_disk > 100 << 20, "{wal:?}");

    // The receiver comes up on the endpoint's port: everything is delivered from disk.
    let store = Arc::new(SampleStore::new(false));
    let receiver = Receiver::start(
        &format!("127.0.0.1:{port}"),
        2,
        store.clone(),
        validating_handler(),
        None,
    )
    .expect("receiver on the endpoint's port");
    let started = Instant::now();
    sender.flush(Duration::from_secs(240)).unwrap();
    let drained = started.elapsed();
    let totals = store.totals();
    eprintln!(
        "drained {} samples from disk in {drained:?} ({:.0} samples/s)",
        totals.accepted,
        totals.accepted as f64 / drained.as_secs_f64()
    );
    assert_eq!(totals.accepted, (SERIES * ROUNDS) as u64);
    assert_eq!((totals.duplicates, totals.out_of_order), (0, 0));
    assert_eq!(store.series_count(), SERIES);
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_acked, (SERIES * ROUNDS) as u64);
    assert_eq!(stats.endpoints[0].samples_dropped(), 0);
    sender.close(Duration::from_secs(30)).unwrap();
    // Everything sent: the segments below the final cursor are gone.
    let left: u64 = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(left < 40 << 20, "{left} bytes left in the log");
    drop(receiver);
}
