//! Appends racing `close`: every sample an append accepted is acknowledged, failed or dropped
//! (none vanishes in a queue its shard has already left), in every one of many runs.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::yaml;
use promrw::{ErrorKind, Sender};
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{Receiver, SampleStore};

/// One run: `producers` threads append to their own series until the sender refuses with
/// `Closed`, while the main thread closes it after `delay`. Returns (accepted by append as the
/// producers counted, accounted for by the endpoint, pending after close, refused as closed).
fn run_once(url: &str, producers: usize, delay: Duration) -> (u64, u64, u64, u64) {
    let sender = Arc::new(common::sender(&yaml(
        url,
        "      capacity: 256\n      max_samples_per_send: 64\n",
        "",
    )));
    let start = Arc::new(Barrier::new(producers + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let sender: Arc<Sender> = sender.clone();
            let start = start.clone();
            let stop = stop.clone();
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                let r = sender
                    .series_from_pairs(&[("__name__", "race"), ("producer", &p.to_string())])
                    .unwrap();
                let base = common::now_ms();
                start.wait();
                let mut ts = base;
                while !stop.load(Ordering::Relaxed) {
                    ts += 1;
                    match sender.append(r, ts, 1.0) {
                        Ok(()) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == ErrorKind::Closed => break,
                        Err(e) if e.kind() == ErrorKind::QueueFull => {}
                        Err(e) => panic!("unexpected refusal: {e}"),
                    }
                }
            })
        })
        .collect();
    start.wait();
    let until = Instant::now() + delay;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
    // Close may time out under the 2-core machine's load: that counts unsent samples as
    // failed, which is accounted for too.
    let _ = sender.close(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().unwrap();
    }
    let stats = sender.stats();
    let endpoint = &stats.endpoints[0];
    assert_eq!(
        stats.samples_appended,
        accepted.load(Ordering::Relaxed),
        "the appended counter matches what producers were told"
    );
    (
        accepted.load(Ordering::Relaxed),
        endpoint.samples_acked + endpoint.samples_failed + endpoint.samples_dropped(),
        endpoint.samples_pending,
        stats.rejected_closed,
    )
}

#[test]
fn every_sample_accepted_while_close_runs_is_accounted_for() {
    // A receiver that validates and counts but keeps no samples, so runs stay equally fast.
    let receiver = Receiver::start(
        "127.0.0.1:0",
        4,
        Arc::new(SampleStore::new(false)),
        validating_handler(),
        None,
    )
    .unwrap();
    let url = receiver.url();
    let mut refused_runs = 0;
    for (producers, runs) in [(6usize, 400u32), (2, 300)] {
        for run in 0..runs {
            // Close at moments spread over the first two milliseconds of appending.
            let delay = Duration::from_micros(u64::from(run % 40) * 50);
            let (accepted, accounted, pending, refused) = run_once(&url, producers, delay);
            assert_eq!(
                (accounted, pending),
                (accepted, 0),
                "run {run} with {producers} producers: {accepted} accepted, {accounted} \
                 acknowledged + failed + dropped, {pending} pending"
            );
            if refused > 0 {
                refused_runs += 1;
            }
        }
    }
    assert!(
        refused_runs > 0,
        "appends must really have raced close (some refused as closed)"
    );
}
