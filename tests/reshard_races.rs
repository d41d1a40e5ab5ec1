//! Shard set switches racing appends, flush, release and close (issue 16), forced with the
//! `test-hooks` feature's `Sender::reshard_now` so that a switch happens at every step rather
//! than every update interval. Every sample must be stored exactly once and in order per
//! series, no flush may fail, and released series must leave the shard caches.
//!
//! Run with `cargo test --features test-hooks --test reshard_races`.

#![cfg(feature = "test-hooks")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{FaultReceiver, TempDir, endpoint_metric, now_ms, sender, yaml};
use promrw::{Config, Sample, Sender};

/// A sender that reshards only when told (the update interval is an hour).
fn forced_sender(receiver: &FaultReceiver) -> Arc<Sender> {
    let queue = "      min_shards: 1\n      max_shards: 8\n      shard_update_interval: 1h\n      block_timeout: 60s\n      capacity: 3000\n      max_samples_per_send: 500\n";
    Arc::new(sender(&slow_tolerant(&yaml(&receiver.url(), queue, ""))))
}

/// A request answered after its timeout is sent again, and the receiver, which had stored it,
/// counts duplicates: on a loaded machine (these tests run beside others) 2 s is not enough.
fn slow_tolerant(yaml: &str) -> String {
    yaml.replace("remote_timeout: 2s", "remote_timeout: 60s")
}

/// Appends rounds over `series` series of its own (`producer` names them) until `stop`,
/// alternating batch and single appends and releasing and registering again one series per
/// round; returns the samples accepted.
fn produce(sender: &Sender, producer: usize, series: usize, stop: &AtomicBool) -> u64 {
    let labels = |i: usize| {
        [
            ("__name__".to_string(), format!("race_{producer}")),
            ("i".to_string(), i.to_string()),
        ]
    };
    let register = |i: usize| sender.series_from_pairs(&labels(i)).unwrap();
    let mut refs: Vec<_> = (0..series).map(register).collect();
    let base = now_ms() - 3_600_000;
    let mut accepted = 0u64;
    let mut round = 0i64;
    while !stop.load(Ordering::SeqCst) {
        let ts = base + round;
        if round % 2 == 0 {
            let batch: Vec<Sample> = refs
                .iter()
                .map(|&series| Sample {
                    series,
                    timestamp_ms: ts,
                    value: ts as f64,
                })
                .collect();
            let (n, result) = sender.append_batch(&batch);
            result.expect("batch append");
            accepted += n as u64;
        } else {
            for &series in &refs {
                sender.append(series, ts, ts as f64).expect("append");
                accepted += 1;
            }
        }
        // One series per round is released and registered again: the same labels under a
        // new ref, its timestamps going on.
        let victim = (round as usize) % series;
        sender.release(refs[victim]).expect("release");
        refs[victim] = register(victim);
        round += 1;
    }
    accepted
}

#[test]
fn switches_racing_appends_flush_and_release_keep_every_sample_once_in_order() {
    let receiver = FaultReceiver::start_with("127.0.0.1:0", 32);
    receiver.set_latency(Duration::from_millis(2));
    let sender = forced_sender(&receiver);
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..2)
        .map(|producer| {
            let (sender, stop) = (sender.clone(), stop.clone());
            std::thread::spawn(move || produce(&sender, producer, 400, &stop))
        })
        .collect();
    let switches = Arc::new(AtomicU64::new(0));
    let switcher = {
        let (sender, stop, switches) = (sender.clone(), stop.clone(), switches.clone());
        std::thread::spawn(move || {
            let counts = [3, 1, 8, 2, 5, 4, 7, 1, 6];
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                if sender.reshard_now(0, counts[k % counts.len()]) {
                    switches.fetch_add(1, Ordering::SeqCst);
                }
                k += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let flusher = {
        let (sender, stop) = (sender.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut flushes = 0;
            while !stop.load(Ordering::SeqCst) {
                sender
                    .flush(Duration::from_secs(30))
                    .expect("flush during switches");
                flushes += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            flushes
        })
    };
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    let appended: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    switcher.join().unwrap();
    let flushes = flusher.join().unwrap();
    let switches = switches.load(Ordering::SeqCst);
    assert!(switches >= 20, "only {switches} switches");
    assert!(flushes >= 5, "only {flushes} flushes");
    assert!(appended > 100_000, "only {appended} samples appended");

    sender.flush(Duration::from_secs(30)).expect("final flush");
    // Released series leave the caches once their samples are sent: of the 800 live series,
    // 798 are cached (each producer's last series registered again has no sample yet).
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoint_metric(&sender, "promrw_shard_cached_series") != 798 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        endpoint_metric(&sender, "promrw_shard_cached_series"),
        798,
        "{}",
        sender.metrics_text()
    );
    assert_eq!(
        endpoint_metric(&sender, "promrw_reshards_total"),
        switches,
        "every switch completed"
    );

    sender.close(Duration::from_secs(30)).expect("close");
    let totals = receiver.store().totals();
    // Each series' rounds arrive whole: no gap (a late sample is out of order, not stored).
    let mut gaps = Vec::new();
    for (labels, samples) in receiver.store().all_samples() {
        let first = samples[0].0;
        for pair in samples.windows(2) {
            if pair[1].0 != pair[0].0 + 1 {
                gaps.push(format!(
                    "{labels:?}: round {} then {}",
                    pair[0].0 - first,
                    pair[1].0 - first
                ));
            }
        }
    }
    assert!(gaps.is_empty(), "{totals:?}: {gaps:?}");
    assert_eq!(totals.accepted, appended, "{totals:?}");
    assert_eq!(totals.duplicates, 0, "{totals:?}");
    assert_eq!(totals.out_of_order, 0, "{totals:?}");
    let stats = &sender.stats().endpoints[0];
    assert_eq!((stats.samples_failed, stats.samples_acked), (0, appended));
}

/// Close while a switch is under way (old set draining, new set held): the switch completes,
/// then the new set drains, under the one deadline; nothing is lost.
#[test]
fn close_racing_a_switch_delivers_everything() {
    for attempt in 0..6 {
        let receiver = FaultReceiver::start_with("127.0.0.1:0", 32);
        receiver.set_latency(Duration::from_millis(20));
        let sender = forced_sender(&receiver);
        let refs: Vec<_> = (0..2_000)
            .map(|i| {
                sender
                    .series_from_pairs(&[("__name__", "close_race"), ("i", &i.to_string())])
                    .unwrap()
            })
            .collect();
        let base = now_ms() - 3_600_000;
        let mut appended = 0u64;
        for round in 0..3 {
            let batch: Vec<Sample> = refs
                .iter()
                .map(|&series| Sample {
                    series,
                    timestamp_ms: base + round,
                    value: 1.0,
                })
                .collect();
            let (n, result) = sender.append_batch(&batch);
            result.unwrap();
            appended += n as u64;
        }
        let switcher = {
            let sender = sender.clone();
            std::thread::spawn(move || sender.reshard_now(0, 2 + attempt % 5))
        };
        // Sometimes before the switch starts, sometimes while it drains.
        std::thread::sleep(Duration::from_millis(attempt as u64 * 7));
        sender.close(Duration::from_secs(30)).expect("close");
        switcher.join().unwrap();
        let totals = receiver.store().totals();
        assert_eq!(totals.accepted, appended, "attempt {attempt}: {totals:?}");
        assert_eq!(
            (totals.duplicates, totals.out_of_order),
            (0, 0),
            "attempt {attempt}"
        );
        assert_eq!(sender.stats().endpoints[0].samples_failed, 0);
    }
}

/// WAL mode: the feeder takes each new set between two records; the old shards' records stay
/// in the cursor until they are done. Switches racing appends, flush and close; a second
/// sender on the same directory then finds nothing left to send (the cursor was exact).
#[test]
fn wal_mode_switches_keep_every_sample_once_in_order_and_the_cursor_exact() {
    let receiver = FaultReceiver::start_with("127.0.0.1:0", 32);
    receiver.set_latency(Duration::from_millis(2));
    let dir = TempDir::new("reshard-wal");
    let open = || {
        let queue = "      min_shards: 1\n      max_shards: 8\n      shard_update_interval: 1h\n      block_timeout: 60s\n      capacity: 3000\n      max_samples_per_send: 500\n";
        let text = format!(
            "{}promrw:\n  wal:\n    dir: {}\n",
            slow_tolerant(&yaml(&receiver.url(), queue, "")),
            dir.path().display()
        );
        Arc::new(Sender::new(Config::from_text(&text).unwrap()).unwrap())
    };
    let sender = open();
    let refs: Vec<_> = (0..500)
        .map(|i| {
            sender
                .series_from_pairs(&[("__name__", "wal_race"), ("i", &i.to_string())])
                .unwrap()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let switcher = {
        let (sender, stop) = (sender.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut switches = 0;
            let counts = [4, 1, 7, 2, 8, 3];
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                if sender.reshard_now(0, counts[k % counts.len()]) {
                    switches += 1;
                }
                k += 1;
                std::thread::sleep(Duration::from_millis(30));
            }
            switches
        })
    };
    let base = now_ms() - 3_600_000;
    let mut appended = 0u64;
    let started = Instant::now();
    let mut round = 0i64;
    while started.elapsed() < Duration::from_secs(4) {
        let batch: Vec<Sample> = refs
            .iter()
            .map(|&series| Sample {
                series,
                timestamp_ms: base + round,
                value: round as f64,
            })
            .collect();
        let (n, result) = sender.append_batch(&batch);
        result.expect("append");
        appended += n as u64;
        if round % 50 == 0 {
            sender.flush(Duration::from_secs(30)).expect("flush");
        }
        round += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let switches = switcher.join().unwrap();
    assert!(switches >= 10, "only {switches} switches");
    sender.close(Duration::from_secs(30)).expect("close");
    drop(sender);

    let totals = receiver.store().totals();
    assert_eq!(totals.accepted, appended, "{totals:?}");
    assert_eq!(
        (totals.duplicates, totals.out_of_order),
        (0, 0),
        "{totals:?}"
    );

    // Everything was done before close returned: the next sender replays nothing.
    let again = open();
    again.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(again.stats().endpoints[0].wal_samples_replayed, 0);
    again.close(Duration::from_secs(10)).unwrap();
    let totals = receiver.store().totals();
    assert_eq!(totals.accepted + totals.duplicates, appended, "{totals:?}");
}

/// Two endpoints reshard independently: forced switches on each at its own pace, while
/// appends go to both; each receiver stores every sample once and in order.
#[test]
fn two_endpoints_reshard_independently() {
    let slow = FaultReceiver::start_with("127.0.0.1:0", 32);
    slow.set_latency(Duration::from_millis(20));
    let fast = FaultReceiver::start_with("127.0.0.1:0", 32);
    let endpoint = |url: &str, name: &str, max: usize| {
        format!(
            "  - url: {url}\n    name: {name}\n    remote_timeout: 60s\n    queue_config:\n      min_shards: 1\n      max_shards: {max}\n      shard_update_interval: 1h\n      block_timeout: 60s\n      batch_send_deadline: 50ms\n      min_backoff: 10ms\n      max_backoff: 100ms\n"
        )
    };
    let text = format!(
        "remote_write:\n{}{}",
        endpoint(&slow.url(), "slow", 6),
        endpoint(&fast.url(), "fast", 3)
    );
    let sender = Arc::new(Sender::new(Config::from_text(&text).unwrap()).unwrap());
    let refs: Vec<_> = (0..300)
        .map(|i| {
            sender
                .series_from_pairs(&[("__name__", "two"), ("i", &i.to_string())])
                .unwrap()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let switcher = {
        let (sender, stop) = (sender.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut switched = [0u32; 2];
            let mut k = 0usize;
            while !stop.load(Ordering::SeqCst) {
                if sender.reshard_now(0, 1 + k % 6) {
                    switched[0] += 1;
                }
                if k.is_multiple_of(3) && sender.reshard_now(1, 1 + (k / 3) % 3) {
                    switched[1] += 1;
                }
                k += 1;
                std::thread::sleep(Duration::from_millis(15));
            }
            switched
        })
    };
    let base = now_ms() - 3_600_000;
    let mut appended = 0u64;
    let started = Instant::now();
    let mut round = 0i64;
    while started.elapsed() < Duration::from_secs(3) {
        let batch: Vec<Sample> = refs
            .iter()
            .map(|&series| Sample {
                series,
                timestamp_ms: base + round,
                value: round as f64,
            })
            .collect();
        let (n, result) = sender.append_batch(&batch);
        result.expect("append");
        appended += n as u64;
        round += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let switched = switcher.join().unwrap();
    assert!(switched[0] >= 10 && switched[1] >= 3, "{switched:?}");
    sender.close(Duration::from_secs(60)).expect("close");
    for (name, receiver) in [("slow", &slow), ("fast", &fast)] {
        let totals = receiver.store().totals();
        assert_eq!(totals.accepted, appended, "{name}: {totals:?}");
        assert_eq!(
            (totals.duplicates, totals.out_of_order),
            (0, 0),
            "{name}: {totals:?}"
        );
    }
    let stats = sender.stats();
    assert_eq!(
        stats
            .endpoints
            .iter()
            .map(|e| e.reshards)
            .collect::<Vec<_>>(),
        [u64::from(switched[0]), u64::from(switched[1])],
        "each endpoint counts its own switches"
    );
}
