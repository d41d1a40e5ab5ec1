//! One sender writing to a real Prometheus and a real VictoriaMetrics at once: both receive
//! everything, and one being down does not slow delivery to the other. See
//! `docs/COMPATIBILITY.md`; the receivers come from `.ci/receivers.sh`.

mod real_receivers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use real_receivers::Kind::{Prometheus, VictoriaMetrics};
use real_receivers::data::{assert_stored, expected, push, round_trip_dataset};
use real_receivers::scenarios::{
    Pusher, assert_all_acked, count, selector, sender, wait_until, window,
};
use real_receivers::{RealReceiver, now_ms, skip};

#[test]
fn one_sender_delivers_every_sample_to_both_receivers() {
    if skip("real_multi_endpoint::both") {
        return;
    }
    let prometheus = RealReceiver::start(Prometheus);
    let victoria = RealReceiver::start(VictoriaMetrics);
    let metric = "promrw_multi";
    let specs = round_trip_dataset(metric, 200, 150, now_ms() - 1000);
    let sender = sender(
        &[
            ("prometheus", &prometheus.write_url()),
            ("victoriametrics", &victoria.write_url()),
        ],
        "      min_shards: 2\n      capacity: 100000\n",
        None,
    );
    let appended = push(&sender, &specs);
    sender.flush(Duration::from_secs(120)).expect("flush");
    assert_all_acked(&sender, 0, appended);
    assert_all_acked(&sender, 1, appended);
    let (start, end) = window(&specs);
    for receiver in [&prometheus, &victoria] {
        let kind = receiver.kind();
        assert_stored(
            &format!("{} (one of two endpoints)", kind.name()),
            receiver,
            &selector(metric),
            (start, end),
            &expected(kind, &specs),
        );
    }
    sender.close(Duration::from_secs(10)).expect("close");
}

#[test]
fn a_receiver_that_is_down_does_not_slow_delivery_to_the_other() {
    if skip("real_multi_endpoint::one_down") {
        return;
    }
    let prometheus = RealReceiver::start(Prometheus);
    let mut victoria = RealReceiver::start(VictoriaMetrics);
    // Down from the start; its port and directory are kept for the restart.
    victoria.stop();
    let sender = Arc::new(sender(
        &[
            ("prometheus", &prometheus.write_url()),
            ("victoriametrics", &victoria.write_url()),
        ],
        "      capacity: 100000\n",
        None,
    ));
    let metric = "promrw_one_down";
    let pusher = Pusher::start(sender.clone(), metric, 20, Duration::from_millis(50));
    // Prometheus gets data while VictoriaMetrics refuses connections.
    wait_until(
        Duration::from_secs(10),
        "Prometheus acks while VM is down",
        || sender.stats().endpoints[0].samples_acked >= 200,
    );
    // For 2 s, Prometheus's queue stays short (20 series x 20 rounds/s = 400 samples/s are
    // appended; batches leave every 50 ms) while VictoriaMetrics' grows. This watches a
    // property over a stretch of time rather than waiting for an event; the same sampling of
    // `samples_pending` sees VictoriaMetrics' queue pass 400, so Prometheus's growing that
    // far would have been seen too.
    let mut max_pending = 0;
    let mut vm_max_pending = 0;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(2) {
        let stats = sender.stats();
        max_pending = max_pending.max(stats.endpoints[0].samples_pending);
        vm_max_pending = vm_max_pending.max(stats.endpoints[1].samples_pending);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        vm_max_pending > 400,
        "the sampling sees a growing queue: {vm_max_pending} pending for VictoriaMetrics"
    );
    let specs = pusher.finish();
    let appended = count(&specs);
    let last_append = window(&specs).1;
    wait_until(
        Duration::from_secs(3),
        "Prometheus has every sample within 3 s of the last append",
        || sender.stats().endpoints[0].samples_acked == appended,
    );
    let lag_ms = now_ms() - last_append;
    assert!(
        max_pending <= 400,
        "Prometheus fell more than 1 s behind while VictoriaMetrics was down: {max_pending} pending"
    );
    assert_all_acked(&sender, 0, appended);
    let vm = sender.stats().endpoints[1].clone();
    assert_eq!(vm.samples_acked, 0, "{vm:?}");
    assert_eq!(vm.samples_pending, appended, "{vm:?}");
    assert!(vm.samples_retried > 0, "{vm:?}");
    // flush waits for every endpoint, so it cannot complete while one is down.
    assert_eq!(
        sender
            .flush(Duration::from_millis(300))
            .expect_err("VictoriaMetrics is down")
            .kind(),
        promrw::ErrorKind::Timeout
    );
    let (start, end) = window(&specs);
    assert_stored(
        "Prometheus while VictoriaMetrics is down",
        &prometheus,
        &selector(metric),
        (start, end),
        &expected(Prometheus, &specs),
    );

    victoria.restart();
    sender.flush(Duration::from_secs(60)).expect("flush");
    assert_all_acked(&sender, 1, appended);
    assert_stored(
        "VictoriaMetrics after it came up",
        &victoria,
        &selector(metric),
        (start, end),
        &expected(VictoriaMetrics, &specs),
    );
    eprintln!(
        "while VictoriaMetrics was down: at most {max_pending} samples pending for Prometheus; \
         all there {lag_ms} ms after the last append"
    );
    sender.close(Duration::from_secs(10)).expect("close");
}
