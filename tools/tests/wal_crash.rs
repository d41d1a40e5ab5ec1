//! The durable queue survives `kill -9`: `promrw wal-soak` (a real process) appends rounds in
//! WAL mode, syncing after each and printing it; the test kills it with SIGKILL at random
//! moments (during writes, sends, segment rotations and cursor updates: the log is small, so
//! segments rotate every thousand rounds or so, and cursors are persisted every second), starts
//! it again on the same directory each time, and finally drains the log. Against the
//! validating receiver it then checks the durability contract (docs/DURABILITY.md): every
//! synced round delivered, nothing invented or corrupted, each series in order, duplicates only
//! as exact re-sends.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promrw_tools::receiver::server::{Handler, Reply};
use promrw_tools::receiver::{Receiver, SampleStore};

/// Series per round (as `wal-soak --series`).
const SERIES: usize = 50;
/// Kills before the final drain.
const KILLS: usize = 24;

/// The value `wal-soak` appends for series `series` at `timestamp` (its `value_for`).
fn value_for(series: usize, timestamp: i64) -> f64 {
    series as f64 * 1e7 + timestamp.rem_euclid(1_000_000) as f64
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("promrw-wal-crash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child killed (and reaped) on drop, so a failing test leaves no process behind.
struct Soak(Child);

impl Drop for Soak {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A small random source (std's randomly keyed hasher over a counter).
struct Random {
    state: std::collections::hash_map::RandomState,
    n: u64,
}

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.n += 1;
        let mut h = self.state.build_hasher();
        h.write_u64(self.n);
        h.finish() % bound
    }
}

/// What the receiver saw that breaks the contract, counted by its handler.
#[derive(Default)]
struct Findings {
    /// Samples whose value is not `value_for(series, ts)` or whose series is unknown.
    invented: AtomicU64,
    /// Samples received in total (duplicates included).
    received: AtomicU64,
}

/// Accepts after a random short delay (so kills land during sends too), answers 503 to
/// about one request in twenty (so retries are in flight as well), and checks every sample.
fn handler(findings: Arc<Findings>) -> Handler {
    let random = Mutex::new(Random {
        state: std::collections::hash_map::RandomState::new(),
        n: 0,
    });
    Arc::new(move |info| {
        let Ok(decoded) = &info.decoded else {
            return Reply::status(400, "undecodable");
        };
        for series in &decoded.series {
            let name = series
                .labels
                .iter()
                .find(|(n, _)| n == "__name__")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            let index = name
                .strip_prefix("soak_")
                .and_then(|i| i.parse::<usize>().ok());
            for &(timestamp, bits) in &series.samples {
                findings.received.fetch_add(1, Ordering::Relaxed);
                let good =
                    index.is_some_and(|i| i < SERIES && value_for(i, timestamp).to_bits() == bits);
                if !good || series.labels.len() != 1 {
                    findings.invented.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let (fail, delay) = {
            let mut random = random.lock().unwrap();
            (random.below(20) == 0, random.below(15))
        };
        if fail {
            Reply::status(503, "try again").with_delay(Duration::from_millis(delay))
        } else {
            Reply::accept().with_delay(Duration::from_millis(delay))
        }
    })
}

/// Starts `promrw wal-soak` on `dir` for `url`; `drain` delivers and exits instead.
fn soak(dir: &TempDir, url: &str, drain: bool) -> Soak {
    let mut command = Command::new(env!("CARGO_BIN_EXE_promrw"));
    command
        .arg("wal-soak")
        .arg("--dir")
        .arg(&dir.0)
        .arg("--url")
        .arg(url)
        .arg("--series")
        .arg(SERIES.to_string())
        // Segments of 1 MiB: a rotation every two thousand rounds or so; the budget (8 MiB)
        // is far above what the runs leave unsent even on a slow, loaded host, so nothing is
        // dropped (a drop_oldest would lose synced rounds by design).
        .arg("--max-bytes")
        .arg((8u64 << 20).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if drain {
        command.arg("--drain");
    }
    Soak(command.spawn().expect("start promrw wal-soak"))
}

#[test]
fn every_synced_round_survives_kill_9_and_is_delivered_once_in_order() {
    let findings = Arc::new(Findings::default());
    let store = Arc::new(SampleStore::new(true));
    let receiver = Receiver::start(
        "127.0.0.1:0",
        4,
        store.clone(),
        handler(findings.clone()),
        None,
    )
    .expect("start receiver");
    let url = receiver.url();
    let dir = TempDir::new();
    let mut random = Random {
        state: std::collections::hash_map::RandomState::new(),
        n: 0,
    };
    let mut synced: Vec<i64> = Vec::new();
    let started = Instant::now();
    for kill in 0..KILLS {
        let mut child = soak(&dir, &url, false);
        let stdout = child.0.stdout.take().unwrap();
        let lines: Arc<Mutex<Vec<i64>>> = Arc::default();
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(ts) = line.strip_prefix("synced ") {
                        lines.lock().unwrap().push(ts.parse().unwrap());
                    }
                }
            })
        };
        // Up to 5 s for the first round (the process starts and replays), then a random
        // moment within the next 1.2 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines.lock().unwrap().is_empty() && Instant::now() < deadline {
            assert!(
                child.0.try_wait().unwrap().is_none(),
                "wal-soak exited early (run {kill})"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(random.below(1200)));
        child.0.kill().expect("SIGKILL");
        let status = child.0.wait().unwrap();
        assert!(!status.success(), "killed, not exited: {status:?}");
        reader.join().unwrap();
        let printed = lines.lock().unwrap().clone();
        assert!(!printed.is_empty(), "run {kill} synced nothing");
        synced.extend(printed);
    }
    let mut drain = soak(&dir, &url, true);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = drain.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the drain did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "drain failed: {status:?}");
    eprintln!(
        "{KILLS} kills, {} synced rounds, {} samples received in {:?}",
        synced.len(),
        findings.received.load(Ordering::Relaxed),
        started.elapsed()
    );

    assert_eq!(
        findings.invented.load(Ordering::Relaxed),
        0,
        "samples that were never appended, or corrupted"
    );
    let totals = store.totals();
    assert_eq!(totals.out_of_order, 0, "per-series order");
    let stored: HashMap<String, Vec<(i64, u64)>> = store
        .all_samples()
        .into_iter()
        .map(|(labels, samples)| (labels[0].1.clone(), samples))
        .collect();
    for series in 0..SERIES {
        let samples = &stored[&format!("soak_{series}")];
        let timestamps: std::collections::HashSet<i64> =
            samples.iter().map(|&(ts, _)| ts).collect();
        let missing: Vec<&i64> = synced
            .iter()
            .filter(|ts| !timestamps.contains(ts))
            .collect();
        assert!(
            missing.is_empty(),
            "soak_{series}: {} synced rounds not delivered, first {:?}",
            missing.len(),
            missing.first()
        );
        assert!(
            samples.windows(2).all(|w| w[0].0 < w[1].0),
            "soak_{series} stored in order"
        );
    }
    // The log was delivered whole: the drain left the cursors at its end, and the budget
    // was never reached (nothing dropped), so every round written was delivered once.
    drop(receiver);
}
