//! promrw: an embeddable Prometheus Remote Write sender.
//!
//! Register a label set once ([`Sender::series`]), then append samples by [`SeriesRef`] from
//! any number of threads. Each configured endpoint gets its own queue of shard threads that
//! batch, snappy-compress and POST Remote Write 1.0 requests, retrying with backoff; per-series
//! order is kept end to end. See `docs/ARCHITECTURE.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use promrw::{Config, Sender};
//!
//! let config = Config::from_text("remote_write:\n  - url: http://127.0.0.1:9090/api/v1/write\n")?;
//! let sender = Sender::new(config)?;
//! let up = sender.series_from_pairs(&[("__name__", "up"), ("job", "demo")])?;
//! sender.append(up, 1_700_000_000_000, 1.0)?;
//! sender.close(Duration::from_secs(10))?;
//! # Ok::<(), promrw::Error>(())
//! ```

#![warn(missing_docs)]

pub mod config;
mod durable;
pub mod error;
pub mod ffi;
mod fork;
pub mod log;
pub mod metrics;
pub mod model;
pub mod queue;
pub mod redact;
pub mod relabel;
pub mod report;
pub mod sender;
pub mod series;
pub mod transport;
pub mod wal;
pub mod wire;

pub use config::{Config, EndpointConfig, OverflowPolicy, QueueConfig, SeriesLimits};
pub use error::{Error, ErrorKind, Result};
pub use log::{LogLevel, LogSink};
pub use metrics::{AttemptError, EndpointStats, SenderStats};
pub use model::{
    BucketSpan, Exemplar, Histogram, HistogramCounts, Label, Labels, Metadata, MetricType,
    ResetHint, STALE_NAN_BITS, SampleOptions, is_stale_nan, stale_nan,
};
pub use report::{EndpointReport, FlushReport, LossCounts};
pub use sender::{Sample, Sender};
pub use series::SeriesRef;

/// `now + timeout`, or a point about a century away when that would overflow the clock: for
/// deadlines built from callers' and receivers' durations (`Duration::MAX` must not panic).
pub(crate) fn deadline_after(timeout: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
