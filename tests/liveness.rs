//! Blocking calls return within their own timeouts (issue 11.4 and 11.5): an append blocked
//! for room does not hold up other appends of its order stripe, nor `release`; and close
//! interrupts an HTTP attempt in flight (a request never answered, or a TCP connect that
//! hangs) and joins every shard thread before it returns.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{Fault, FaultReceiver, now_ms, sender, threads_named, wait_for_threads, yaml};
use promrw::{Config, ErrorKind, LogLevel, LogSink, Sender};

/// A receiver that answers 503 to every request for the whole test: the shard queue fills and
/// stays full.
fn stalled() -> FaultReceiver {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..1_000_000).map(|_| Fault::Status(503, "stalled")));
    receiver
}

/// 8 threads append to 8 series of one order stripe (one shard) while the queue is full: with
/// `block_timeout: 500ms` every call returns within about that, rather than queueing behind
/// the other threads' waits on the stripe (they used to take 0.5, 1.0, ... 4.0 s). A
/// `release` of another series of the stripe meanwhile returns at once.
#[test]
fn appends_blocked_for_room_return_within_block_timeout_and_do_not_hold_up_release() {
    let receiver = stalled();
    let sender = Arc::new(sender(&yaml(
        &receiver.url(),
        "      capacity: 10\n      max_samples_per_send: 5\n      overflow: block\n      block_timeout: 500ms\n",
        "",
    )));
    const THREADS: usize = 8;
    let refs: Vec<_> = (0..THREADS)
        .map(|i| {
            sender
                .series_from_pairs(&[("__name__", "blocked"), ("thread", &i.to_string())])
                .unwrap()
        })
        .collect();
    let bystander = sender
        .series_from_pairs(&[("__name__", "bystander")])
        .unwrap();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let refused = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = refs
        .iter()
        .map(|&r| {
            let (sender, barrier, refused) = (sender.clone(), barrier.clone(), refused.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let t0 = now_ms();
                let mut accepted = 0;
                let mut refusals = 0;
                let mut worst = Duration::ZERO;
                while refusals < 2 {
                    let started = Instant::now();
                    let result = sender.append(r, t0 + accepted, 1.0);
                    worst = worst.max(started.elapsed());
                    match result {
                        Ok(()) => accepted += 1,
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::QueueFull, "{e}");
                            refusals += 1;
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                worst
            })
        })
        .collect();
    barrier.wait();
    // Once some appends have been refused after waiting, the others are waiting too.
    let deadline = Instant::now() + Duration::from_secs(20);
    while refused.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no append was ever refused");
        std::thread::yield_now();
    }
    let started = Instant::now();
    sender.release(bystander).unwrap();
    let release_took = started.elapsed();
    let worst: Vec<Duration> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let max = worst.iter().max().unwrap();
    assert!(
        *max < Duration::from_millis(1500),
        "an append took {max:?} with block_timeout 500ms (per thread: {worst:?})"
    );
    assert!(
        release_took < Duration::from_millis(300),
        "release waited {release_took:?} for appends blocked for room"
    );
    assert!(
        sender.stats().endpoints[0].enqueue_retries >= THREADS as u64,
        "{:?}",
        sender.stats().endpoints[0]
    );
    // Nothing was queued twice or lost: what was accepted is pending.
    let stats = sender.stats();
    assert_eq!(
        stats.samples_appended,
        stats.endpoints[0].samples_pending + stats.endpoints[0].samples_failed,
        "{stats:?}"
    );
    receiver.clear_faults();
    sender.close(Duration::from_secs(10)).unwrap();
}

/// A log sink that counts its records and says when it was dropped: once dropped, nothing
/// can call it any more.
struct CountingSink {
    records: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl LogSink for CountingSink {
    fn log(&self, _level: LogLevel, _message: &str) {
        self.records.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for CountingSink {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// The receiver reads the batch and never answers; `remote_timeout` is 60 s. A close with a
/// 1 s timeout interrupts the attempt, returns `Timeout` within about that with the batch
/// counted as failed, and joins the shard thread: dropping the sender then drops the log sink
/// at once (the thread used to stay in its attempt for up to `remote_timeout`, holding it, and
/// could log after the sender was gone).
#[test]
fn close_interrupts_an_attempt_that_is_never_answered_and_joins_every_shard_thread() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Stall]);
    let records = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let mut config = Config::from_text(
        &yaml(&receiver.url(), "      min_shards: 2\n", "")
            .replace("remote_timeout: 2s", "remote_timeout: 60s"),
    )
    .unwrap();
    config.set_logger(
        Arc::new(CountingSink {
            records: records.clone(),
            dropped: dropped.clone(),
        }),
        LogLevel::Debug,
    );
    let sender = Sender::new(config).unwrap();
    let r = sender
        .series_from_pairs(&[("__name__", "stalled")])
        .unwrap();
    let t0 = now_ms();
    for i in 0..10 {
        sender.append(r, t0 + i, 1.0).unwrap();
    }
    assert!(
        receiver.wait_stalled(1),
        "the batch never reached the receiver"
    );
    let started = Instant::now();
    let error = sender.close(Duration::from_secs(1)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(2500),
        "close took {took:?}"
    );
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(
        (stats.samples_failed, stats.samples_pending),
        (10, 0),
        "{stats:?}"
    );
    assert_eq!(sender.last_report().lost().failed, 10);
    assert!(records.load(Ordering::SeqCst) > 0, "the sink was used");
    assert!(
        !dropped.load(Ordering::SeqCst),
        "the sender still holds its sink"
    );
    drop(sender);
    assert!(
        dropped.load(Ordering::SeqCst),
        "a shard thread still holds the log sink after the sender was dropped"
    );
}

/// Appends to one series from several threads with two endpoints, one of which stalls with a
/// small queue under `block`: each endpoint receives every accepted sample once, in timestamp
/// order, although appends let go of the stripe while they wait for room.
#[test]
fn blocked_appends_keep_per_endpoint_order_and_never_queue_a_sample_twice() {
    let fast = FaultReceiver::start();
    let slow = FaultReceiver::start();
    slow.push_faults((0..20).map(|_| Fault::Status(503, "busy")));
    let text = format!(
        "remote_write:\n  - url: {}\n    name: fast\n    remote_timeout: 2s\n    queue_config:\n      min_backoff: 10ms\n      max_backoff: 20ms\n      batch_send_deadline: 20ms\n      overflow: block\n      block_timeout: 10s\n  - url: {}\n    name: slow\n    remote_timeout: 2s\n    queue_config:\n      capacity: 8\n      max_samples_per_send: 4\n      min_backoff: 10ms\n      max_backoff: 20ms\n      batch_send_deadline: 20ms\n      overflow: block\n      block_timeout: 10s\n",
        fast.url(),
        slow.url()
    );
    let sender = Arc::new(sender(&text));
    let series: Vec<_> = (0..3)
        .map(|i| {
            sender
                .series_from_pairs(&[("__name__", "shared"), ("n", &i.to_string())])
                .unwrap()
        })
        .collect();
    let clock = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let t0 = now_ms();
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (sender, series, clock, accepted) = (
                sender.clone(),
                series.clone(),
                clock.clone(),
                accepted.clone(),
            );
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let tick = clock.fetch_add(1, Ordering::SeqCst);
                    let which = tick % series.len();
                    let ts = t0 + tick as i64;
                    match sender.append(series[which], ts, tick as f64) {
                        Ok(()) => accepted.lock().unwrap().push((which, ts)),
                        Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfOrder, "{e}"),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    sender.flush(Duration::from_secs(20)).unwrap();
    let mut expected: Vec<Vec<i64>> = vec![Vec::new(); series.len()];
    for (which, ts) in accepted.lock().unwrap().iter() {
        expected[*which].push(*ts);
    }
    for list in &mut expected {
        list.sort_unstable();
    }
    for receiver in [&fast, &slow] {
        let totals = receiver.store().totals();
        assert_eq!(
            (totals.out_of_order, totals.duplicates),
            (0, 0),
            "{totals:?}"
        );
        for (which, want) in expected.iter().enumerate() {
            let n = which.to_string();
            let got: Vec<i64> = receiver
                .store()
                .samples(&[("__name__", "shared"), ("n", &n)])
                .unwrap_or_default()
                .into_iter()
                .map(|(ts, _)| ts)
                .collect();
            assert_eq!(&got, want, "series {which}");
        }
    }
    assert!(
        sender.stats().endpoints[1].enqueue_retries > 0,
        "the slow queue filled"
    );
    sender.close(Duration::from_secs(5)).unwrap();
}

/// A listener on 127.0.0.1 that never accepts, whose accept queue (one connection: backlog 0)
/// is full: Linux drops the SYN of every further connect to it, which so hangs in SYN_SENT
/// until its own timeout. Closed on drop.
struct Unanswering {
    listener: TcpListener,
    _filler: TcpStream,
}

impl Unanswering {
    /// Binds a free port, shrinks the backlog, fills the queue and checks that a connect now
    /// hangs (else the test could not show anything).
    fn start() -> Unanswering {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Listening again on Linux just sets the new backlog.
        rustix::net::listen(&listener, 0).unwrap();
        let addr = listener.local_addr().unwrap();
        let filler = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
        let probe = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
        assert!(
            matches!(&probe, Err(e) if e.kind() == std::io::ErrorKind::TimedOut),
            "a connect to a listener with a full accept queue did not hang: {probe:?}"
        );
        Unanswering {
            listener,
            _filler: filler,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// How many sockets of this process's network namespace are in SYN_SENT to the listener.
    fn connecting(&self) -> usize {
        // rem_address is hex `0100007F:PORT` for 127.0.0.1; state 02 is SYN_SENT.
        let remote = format!("0100007F:{:04X}", self.addr().port());
        std::fs::read_to_string("/proc/net/tcp")
            .unwrap()
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"02")
            })
            .count()
    }
}

/// A sample's first attempt hangs in its TCP connect (the receiver's accept queue is full, so
/// the SYN is never answered) and `remote_timeout` is 30 s. A close with a 300 ms timeout
/// still returns `Timeout` within about that (the connect used to hold it until
/// `remote_timeout`), with the sample counted as failed, not lost, and the shard thread
/// joined.
#[test]
fn close_interrupts_a_tcp_connect_that_hangs_and_joins_the_shard_thread() {
    let unanswering = Unanswering::start();
    let url = format!("http://{}/api/v1/write", unanswering.addr());
    let sender = sender(
        &yaml(&url, "", "")
            .replace("remote_timeout: 2s", "remote_timeout: 30s")
            .replace("name: test", "name: hangconnect"),
    );
    assert_eq!(wait_for_threads("promrw-hangconn", 1), 1);
    let r = sender.series_from_pairs(&[("__name__", "hang")]).unwrap();
    sender.append(r, now_ms(), 1.0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while unanswering.connecting() == 0 {
        assert!(
            Instant::now() < deadline,
            "the sender never started connecting"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Well into the connect: it is blocked in the kernel, not about to start.
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let error = sender.close(Duration::from_millis(300)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "close took {took:?}"
    );
    let stats = sender.stats().endpoints[0].clone();
    assert_eq!(
        (
            stats.samples_failed,
            stats.samples_pending,
            stats.samples_acked
        ),
        (1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(sender.last_report().lost().failed, 1);
    // Joined before close returned; /proc drops a thread a moment after it ends.
    assert_eq!(
        wait_for_threads("promrw-hangconn", 0),
        0,
        "{} shard threads left",
        threads_named("promrw-hangconn")
    );
    assert_eq!(unanswering.connecting(), 0, "the connect was left running");
}
