//! Threads appending to the same series at once, mixing single appends and batch appends (which
//! keep a series' order stripe and a shard queue locked between samples), and releasing series
//! while others append to them: no deadlock, and the receiver sees every accepted sample once,
//! in timestamp order per series.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use common::{FaultReceiver, now_ms, sender, yaml};
use promrw::{ErrorKind, Sample, SeriesRef};

/// Appends `samples` with `append_batch`, skipping each refused sample: it must be out of
/// order (another thread got a later timestamp of that series in first) or, when the series
/// was released meanwhile, unknown. Returns how many were accepted and how many were refused
/// as unknown.
fn append_all(sender: &promrw::Sender, mut samples: &[Sample]) -> (u64, u64) {
    let (mut accepted, mut unknown) = (0u64, 0u64);
    while !samples.is_empty() {
        let (n, result) = sender.append_batch(samples);
        accepted += n as u64;
        match result {
            Ok(()) => break,
            Err(error) => {
                match error.kind() {
                    ErrorKind::OutOfOrder => {}
                    ErrorKind::UnknownSeries => unknown += 1,
                    other => panic!("unexpected {other:?}: {error}"),
                }
                samples = &samples[n + 1..];
            }
        }
    }
    (accepted, unknown)
}

/// One sample for each of `refs`, with the next timestamps of the shared `clock`.
fn next_batch(refs: &[SeriesRef], clock: &AtomicI64, worker: usize) -> Vec<Sample> {
    refs.iter()
        .map(|&series| Sample {
            series,
            timestamp_ms: clock.fetch_add(1, Ordering::Relaxed),
            value: worker as f64,
        })
        .collect()
}

#[test]
fn single_and_batch_appends_to_shared_series_keep_order_without_deadlock() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(
        &receiver.url(),
        "      min_shards: 2\n      capacity: 5000\n      max_samples_per_send: 500\n",
        "",
    ));
    let refs: Vec<SeriesRef> = (0..50)
        .map(|i| {
            sender
                .series_from_pairs(&[("__name__", "shared"), ("i", &i.to_string())])
                .unwrap()
        })
        .collect();
    let clock = AtomicI64::new(now_ms());
    let accepted: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let (sender, refs, clock) = (&sender, &refs, &clock);
                scope.spawn(move || {
                    let mut accepted = 0u64;
                    for _ in 0..2_000 {
                        let batch = next_batch(refs, clock, worker);
                        if worker % 2 == 0 {
                            let (added, unknown) = append_all(sender, &batch);
                            assert_eq!(unknown, 0, "no series is released here");
                            accepted += added;
                        } else {
                            for s in &batch {
                                match sender.append(s.series, s.timestamp_ms, s.value) {
                                    Ok(()) => accepted += 1,
                                    Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfOrder, "{e}"),
                                }
                            }
                        }
                    }
                    accepted
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    sender.flush(Duration::from_secs(30)).unwrap();
    let stats = sender.stats();
    assert_eq!(stats.samples_appended, accepted);
    assert!(accepted > 100_000, "most samples are accepted: {accepted}");
    let totals = receiver.store().totals();
    assert_eq!(totals.accepted, accepted, "every accepted sample arrived");
    assert_eq!(totals.out_of_order, 0, "order kept per series");
    assert_eq!(totals.duplicates, 0);
    assert_eq!(stats.endpoints[0].samples_failed, 0);
    sender.close(Duration::from_secs(10)).unwrap();
}

/// Workers batch-append to 40 series while another thread keeps releasing them and registering
/// new ones in their place (each registration with its own labels, so each label set's
/// timestamps only grow). Appends with a released ref fail with `UnknownSeries`; every sample
/// accepted arrives once at every endpoint, in order, and none is lost by a shard.
fn release_races_appends(endpoints: usize) {
    let receivers: Vec<FaultReceiver> = (0..endpoints).map(|_| FaultReceiver::start()).collect();
    let queue = "      min_shards: 3\n      capacity: 4000\n      max_samples_per_send: 300\n";
    let mut text = yaml(&receivers[0].url(), queue, "");
    for (i, receiver) in receivers.iter().enumerate().skip(1) {
        let extra = yaml(&receiver.url(), queue, "");
        let endpoint = extra
            .split_once("remote_write:\n")
            .unwrap()
            .1
            .replace("name: test", &format!("name: test{i}"));
        text.push_str(&endpoint);
    }
    let sender = sender(&text);
    let register = |i: usize, generation: usize| {
        sender
            .series_from_pairs(&[
                ("__name__", "churn"),
                ("i", &i.to_string()),
                ("gen", &generation.to_string()),
            ])
            .unwrap()
    };
    let refs = Mutex::new((0..40).map(|i| register(i, 0)).collect::<Vec<SeriesRef>>());
    let clock = AtomicI64::new(now_ms());
    let stop = AtomicBool::new(false);
    let (accepted, unknown) = std::thread::scope(|scope| {
        let churn = scope.spawn(|| {
            let mut generation = 0;
            while !stop.load(Ordering::SeqCst) {
                generation += 1;
                for i in (generation % 4..40).step_by(4) {
                    let old = refs.lock().unwrap()[i];
                    sender.release(old).unwrap();
                    let new = register(i, generation);
                    refs.lock().unwrap()[i] = new;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            generation
        });
        let workers: Vec<_> = (0..3)
            .map(|worker| {
                let (sender, refs, clock) = (&sender, &refs, &clock);
                scope.spawn(move || {
                    let (mut accepted, mut unknown) = (0u64, 0u64);
                    for _ in 0..1_500 {
                        let current = refs.lock().unwrap().clone();
                        let (added, refused) =
                            append_all(sender, &next_batch(&current, clock, worker));
                        accepted += added;
                        unknown += refused;
                    }
                    (accepted, unknown)
                })
            })
            .collect();
        let totals = workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |(a, u), (wa, wu)| (a + wa, u + wu));
        stop.store(true, Ordering::SeqCst);
        let generations = churn.join().unwrap();
        assert!(generations > 2, "the churn thread ran: {generations}");
        totals
    });
    sender.flush(Duration::from_secs(30)).unwrap();
    let stats = sender.stats();
    assert_eq!(stats.endpoints.len(), endpoints);
    assert_eq!(stats.samples_appended, accepted);
    assert_eq!(stats.rejected_unknown_series, unknown);
    assert!(accepted > 100_000, "most samples are accepted: {accepted}");
    assert!(unknown > 0, "some appends met a released series");
    for (receiver, endpoint) in receivers.iter().zip(&stats.endpoints) {
        let totals = receiver.store().totals();
        assert_eq!(totals.accepted, accepted, "every accepted sample arrived");
        assert_eq!(totals.out_of_order, 0, "order kept per series");
        assert_eq!(totals.duplicates, 0);
        assert_eq!(endpoint.samples_failed, 0, "no sample lost by a shard");
    }
    sender.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn release_races_batch_appends_with_one_endpoint() {
    release_races_appends(1);
}

#[test]
fn release_races_batch_appends_with_two_endpoints() {
    release_races_appends(2);
}
