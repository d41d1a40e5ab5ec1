//! `promrw wal-soak`: a durability soak of the durable queue. Appends rounds of samples (one
//! per series, all at the round's timestamp) into a WAL-mode sender, calls `sync` after each
//! round and prints `synced <timestamp>` once it returned: every round printed must survive a
//! `kill -9` of this process, and be delivered by the next sender opening the same directory.
//! Kill it at any moment and run it again; `--drain` delivers what the log holds and exits.
//! The values are a function of the series and the timestamp ([`value_for`]), so a checker
//! can tell a delivered sample from an invented or corrupted one.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promrw::config::{EndpointConfig, QueueConfig, WalConfig};
use promrw::{Config, ErrorKind, Sender};

/// Arguments of `promrw wal-soak`.
#[derive(clap::Args)]
pub struct WalSoakArgs {
    /// The durable queue's directory.
    #[arg(long)]
    dir: PathBuf,
    /// Receiver URL.
    #[arg(long)]
    url: String,
    /// Series per round, named `soak_<i>`.
    #[arg(long, default_value_t = 200)]
    series: usize,
    /// Rounds to append before exiting (after a flush); 0: until killed.
    #[arg(long, default_value_t = 0)]
    rounds: u64,
    /// The log's disk budget in bytes (small values make segments rotate often).
    #[arg(long, default_value_t = 1 << 30)]
    max_bytes: u64,
    /// Shards of the endpoint.
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Append nothing: deliver what the log holds (flush), close and exit.
    #[arg(long)]
    drain: bool,
}

/// The value of series `series` at `timestamp`: exact in an f64, distinct per (series,
/// timestamp) within a run of a million milliseconds.
pub fn value_for(series: usize, timestamp: i64) -> f64 {
    series as f64 * 1e7 + timestamp.rem_euclid(1_000_000) as f64
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the soak.
pub fn run(args: WalSoakArgs) -> Result<(), String> {
    if args.series == 0 || args.shards == 0 {
        return Err("--series and --shards must be greater than 0".into());
    }
    let queue = QueueConfig {
        min_shards: args.shards,
        max_shards: args.shards.max(50),
        max_samples_per_send: 500,
        batch_send_deadline: Duration::from_millis(20),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        ..QueueConfig::default()
    };
    let wal = WalConfig {
        max_bytes: args.max_bytes,
        ..WalConfig::new(&args.dir)
    };
    let config = Config::builder()
        .endpoint(EndpointConfig::new(&args.url).name("soak").queue(queue))
        .wal(wal)
        .build()
        .map_err(|e| e.to_string())?;
    let sender = Sender::new(config).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    if args.drain {
        sender
            .flush(Duration::from_secs(120))
            .map_err(|e| format!("drain: {e}"))?;
        sender
            .close(Duration::from_secs(30))
            .map_err(|e| format!("close: {e}"))?;
        let _ = writeln!(out, "drained");
        return Ok(());
    }
    let refs = (0..args.series)
        .map(|i| sender.series_from_pairs(&[("__name__", format!("soak_{i}"))]))
        .collect::<promrw::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    let mut last = 0i64;
    let mut round = 0u64;
    while args.rounds == 0 || round < args.rounds {
        // One round per millisecond at most: timestamps stay increasing across restarts.
        let mut timestamp = now_ms();
        while timestamp <= last {
            std::thread::sleep(Duration::from_micros(200));
            timestamp = now_ms();
        }
        for (i, r) in refs.iter().enumerate() {
            match sender.append(*r, timestamp, value_for(i, timestamp)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::OutOfOrder => {
                    return Err(format!("the log holds a later timestamp already: {e}"));
                }
                Err(e) => return Err(format!("append: {e}")),
            }
        }
        sender
            .sync(Duration::from_secs(30))
            .map_err(|e| format!("sync: {e}"))?;
        writeln!(out, "synced {timestamp}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
        last = timestamp;
        round += 1;
    }
    sender
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("flush: {e}"))?;
    sender
        .close(Duration::from_secs(30))
        .map_err(|e| format!("close: {e}"))
}
