//! Shared test support: a fault-injecting Remote Write receiver built on promrw's validating
//! receiver, plus helpers to build senders against it.

#![allow(dead_code)]

pub mod child;
pub mod proxy;
pub mod token_server;

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promrw::{Config, Sender};
use promrw_tools::receiver::{Receiver, Reply, RequestInfo, SampleStore};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and body), storing nothing.
    Status(u16, &'static str),
    /// Answer 429 or 503 with a `Retry-After` header value.
    RetryAfter(u16, String),
    /// Wait this long, then accept without storing (the sender has given up by then).
    SlowThenDrop(Duration),
    /// Answer with this 3xx status and `Location` header, storing nothing.
    Redirect(u16, String),
    /// Read the request and never answer it, until [`FaultReceiver::release_stalled`] (or the
    /// receiver stops); then answer 503.
    Stall,
}

/// Requests held by [`Fault::Stall`]: how many are stalled now, and whether they were let go.
#[derive(Default)]
pub struct StallGate {
    state: Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

impl StallGate {
    /// Holds the calling handler until released.
    fn hold(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        self.changed.notify_all();
        while !state.1 {
            state = self.changed.wait(state).unwrap();
        }
        state.0 -= 1;
    }

    /// Lets every held request (and every later one) go.
    fn release(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }

    /// Waits up to 10 s until `n` requests are held; returns whether they are.
    fn wait_held(&self, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut state = self.state.lock().unwrap();
        while state.0 < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
        true
    }
}

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// Status answered.
    pub status: u16,
    /// Samples in it (0 when invalid).
    pub samples: usize,
    /// Size of the decompressed body (0 when invalid).
    pub raw_bytes: usize,
    /// Compressed size of its body (0 when invalid).
    pub bytes: usize,
    /// Every `(timestamp, value bits)` with the series' `__name__`.
    pub contents: Vec<(String, i64, u64)>,
    /// `Retry-Attempt` header.
    pub retry_attempt: Option<String>,
    /// All headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Method and path asked for.
    pub method: String,
    /// The request path.
    pub path: String,
    /// Validation error, if the request was invalid.
    pub invalid: Option<String>,
}

/// A receiver on 127.0.0.1 that validates every request, answers from a script of faults
/// (then 204), and records what it saw. Stopped on drop.
pub struct FaultReceiver {
    receiver: Option<Receiver>,
    stalls: Arc<StallGate>,
    /// Milliseconds every unscripted answer waits ([`FaultReceiver::set_latency`]).
    latency_ms: Arc<AtomicU64>,
    /// Status of every unscripted answer when not 0 ([`FaultReceiver::set_status`]).
    status: Arc<AtomicU16>,
    script: Arc<Mutex<VecDeque<Fault>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    store: Arc<SampleStore>,
}

impl FaultReceiver {
    /// Starts on a free port.
    pub fn start() -> FaultReceiver {
        FaultReceiver::start_on("127.0.0.1:0")
    }

    /// Starts on `addr`.
    pub fn start_on(addr: &str) -> FaultReceiver {
        FaultReceiver::start_with(addr, 8)
    }

    /// Starts on `addr` handling up to `workers` requests at once (each answer's latency is
    /// served on its worker, so concurrent requests overlap their waits up to `workers`).
    pub fn start_with(addr: &str, workers: usize) -> FaultReceiver {
        let latency_ms: Arc<AtomicU64> = Arc::default();
        let status: Arc<AtomicU16> = Arc::default();
        let script: Arc<Mutex<VecDeque<Fault>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let store = Arc::new(SampleStore::new(true));
        let stalls = Arc::new(StallGate::default());
        let handler = {
            let script = script.clone();
            let seen = seen.clone();
            let stalls = stalls.clone();
            let latency_ms = latency_ms.clone();
            let status = status.clone();
            Arc::new(move |info: &RequestInfo| {
                let fault = script.lock().unwrap().pop_front();
                let reply = match (&info.decoded, fault) {
                    (Err(e), _) => Reply::status(e.status, e.message.clone()),
                    (Ok(_), None) => {
                        let delay = Duration::from_millis(latency_ms.load(Ordering::SeqCst));
                        match status.load(Ordering::SeqCst) {
                            0 => Reply::accept(),
                            code => Reply::status(code, "status set by the test"),
                        }
                        .with_delay(delay)
                    }
                    (Ok(_), Some(Fault::Status(status, body))) => Reply::status(status, body),
                    (Ok(_), Some(Fault::RetryAfter(status, value))) => {
                        Reply::status(status, "slow down").with_header("Retry-After", &value)
                    }
                    (Ok(_), Some(Fault::SlowThenDrop(delay))) => {
                        Reply::status(204, "").with_delay(delay)
                    }
                    (Ok(_), Some(Fault::Redirect(status, location))) => {
                        Reply::status(status, "moved").with_header("Location", &location)
                    }
                    (Ok(_), Some(Fault::Stall)) => {
                        stalls.hold();
                        Reply::status(503, "stalled")
                    }
                };
                let contents = info
                    .decoded
                    .as_ref()
                    .map(|d| {
                        d.series
                            .iter()
                            .flat_map(|s| {
                                let name = s
                                    .labels
                                    .iter()
                                    .find(|(n, _)| n == "__name__")
                                    .map(|(_, v)| v.clone())
                                    .unwrap_or_default();
                                s.samples.iter().map(move |(t, v)| (name.clone(), *t, *v))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                seen.lock().unwrap().push(Seen {
                    at: info.received_at,
                    status: reply.status,
                    samples: info.decoded.as_ref().map_or(0, |d| d.samples),
                    raw_bytes: info.decoded.as_ref().map_or(0, |d| d.raw_bytes),
                    bytes: info.decoded.as_ref().map_or(0, |d| d.compressed_bytes),
                    contents,
                    retry_attempt: info.header("retry-attempt").map(str::to_string),
                    headers: info.headers.clone(),
                    method: info.method.clone(),
                    path: info.path.clone(),
                    invalid: info.decoded.as_ref().err().map(|e| e.message.clone()),
                });
                reply
            })
        };
        let receiver =
            Receiver::start(addr, workers, store.clone(), handler, None).expect("start receiver");
        FaultReceiver {
            receiver: Some(receiver),
            stalls,
            latency_ms,
            status,
            script,
            seen,
            store,
        }
    }

    /// Makes every unscripted answer wait `latency` first.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// Answers every unscripted request with `status` and stores nothing (`None`: accept
    /// again).
    pub fn set_status(&self, status: Option<u16>) {
        self.status.store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Queues faults answered before normal acceptance resumes.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.script.lock().unwrap().extend(faults);
    }

    /// The write URL.
    pub fn url(&self) -> String {
        self.receiver.as_ref().unwrap().url()
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Stored (accepted) samples.
    pub fn store(&self) -> &SampleStore {
        &self.store
    }

    /// Waits up to 10 s until `n` requests are held by [`Fault::Stall`]; true when they are.
    pub fn wait_stalled(&self, n: usize) -> bool {
        self.stalls.wait_held(n)
    }

    /// Answers every request held by [`Fault::Stall`] (and lets later ones through).
    pub fn release_stalled(&self) {
        self.stalls.release();
    }

    /// Stops the server and joins its threads.
    pub fn stop(mut self) {
        self.stalls.release();
        if let Some(r) = self.receiver.take() {
            r.stop();
        }
    }
}

impl Drop for FaultReceiver {
    fn drop(&mut self) {
        self.stalls.release();
        if let Some(r) = self.receiver.take() {
            r.stop();
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// YAML for one endpoint at `url` with fast test timings; `extra_queue` adds queue_config
/// lines (already indented by 6 spaces), `extra` adds endpoint lines (4 spaces).
pub fn yaml(url: &str, extra_queue: &str, extra: &str) -> String {
    format!(
        "remote_write:\n  - url: {url}\n    name: test\n    remote_timeout: 2s\n{extra}    queue_config:\n      min_backoff: 10ms\n      max_backoff: 100ms\n      batch_send_deadline: 50ms\n{extra_queue}"
    )
}

/// A sender from YAML text.
pub fn sender(yaml: &str) -> Sender {
    Sender::new(Config::from_text(yaml).expect("valid config")).expect("sender starts")
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A log sink collecting records.
pub struct CollectLogs(pub Arc<Mutex<Vec<String>>>);

impl promrw::LogSink for CollectLogs {
    fn log(&self, level: promrw::LogLevel, message: &str) {
        self.0.lock().unwrap().push(format!("{level}: {message}"));
    }
}

impl FaultReceiver {
    /// Drops every queued fault: normal acceptance resumes.
    pub fn clear_faults(&self) {
        self.script.lock().unwrap().clear();
    }
}

/// Names of this process's threads that start with `prefix`.
pub fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Waits up to 5 s for the number of threads named `prefix...` to become `expected`; returns
/// the last count seen. Thread names are set by the threads themselves once they run, and an
/// ended thread disappears from /proc a moment after it reports its exit.
pub fn wait_for_threads(prefix: &str, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let count = threads_named(prefix);
        if count == expected || Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The value of the (one) endpoint's sample of metric `name` in `sender`'s text exposition.
pub fn endpoint_metric(sender: &Sender, name: &str) -> u64 {
    endpoint_value(sender, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// As [`endpoint_metric`], for a gauge that need not be whole (`shards_desired`).
pub fn endpoint_gauge(sender: &Sender, name: &str) -> f64 {
    endpoint_value(sender, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The value text of the (one) endpoint's sample of metric `name`.
fn endpoint_value(sender: &Sender, name: &str) -> String {
    let text = sender.metrics_text();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("{name} in\n{text}"));
    line.rsplit(' ').next().unwrap().to_string()
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A new, empty, uniquely named directory.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("promrw-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
