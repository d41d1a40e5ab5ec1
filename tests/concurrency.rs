//! Threads appending to the same series at once, mixing single appends and batch appends (which
//! keep a shard queue locked between samples): no deadlock, and the receiver sees every
//! accepted sample once, in timestamp order per series.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{FaultReceiver, now_ms, sender, yaml};
use promrw::{ErrorKind, Sample, SeriesRef};

/// Appends `samples` with `append_batch`, skipping each refused sample (it must be out of
/// order: another thread got a later timestamp of that series in first); returns how many
/// were accepted.
fn append_all(sender: &promrw::Sender, mut samples: &[Sample]) -> u64 {
    let mut accepted = 0u64;
    while !samples.is_empty() {
        let (n, result) = sender.append_batch(samples);
        accepted += n as u64;
        match result {
            Ok(()) => break,
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::OutOfOrder, "{error}");
                samples = &samples[n + 1..];
            }
        }
    }
    accepted
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
                        let batch: Vec<Sample> = refs
                            .iter()
                            .map(|&series| Sample {
                                series,
                                timestamp_ms: clock.fetch_add(1, Ordering::Relaxed),
                                value: worker as f64,
                            })
                            .collect();
                        if worker % 2 == 0 {
                            accepted += append_all(sender, &batch);
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
