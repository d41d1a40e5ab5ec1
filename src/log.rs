//! Pluggable logging: a sink trait with levels. promrw is silent unless a sink is set.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Severity of a log record, from most to least verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum LogLevel {
    /// Per-request detail.
    Debug = 0,
    /// Lifecycle events.
    Info = 1,
    /// Retries, dropped samples, rejected batches.
    Warn = 2,
    /// Failures that lose data or stop a shard.
    Error = 3,
}

impl LogLevel {
    /// The lower-case name of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives promrw's log records. Called from shard threads and from appending threads, so it
/// must be thread-safe; it should return quickly.
pub trait LogSink: Send + Sync {
    /// Handles one record. `message` never contains secrets.
    fn log(&self, level: LogLevel, message: &str);
}

/// A sink writing `level: message` lines to standard error.
#[derive(Debug, Default, Clone, Copy)]
pub struct StderrSink;

impl LogSink for StderrSink {
    fn log(&self, level: LogLevel, message: &str) {
        eprintln!("promrw {level}: {message}");
    }
}

/// The logger handed around inside the crate: an optional sink and a minimum level. Clones
/// share the level, so [`Logger::set_min_level`] reaches every thread of a sender.
#[derive(Clone)]
pub struct Logger {
    sink: Option<Arc<dyn LogSink>>,
    /// The minimum level as its number; [`NO_LEVEL`] before a sink is set.
    min_level: Arc<AtomicU32>,
}

/// `min_level` of a logger without a sink: above every level.
const NO_LEVEL: u32 = u32::MAX;

impl Default for Logger {
    /// A silent logger.
    fn default() -> Self {
        Logger {
            sink: None,
            min_level: Arc::new(AtomicU32::new(NO_LEVEL)),
        }
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("enabled", &self.sink.is_some())
            .field("min_level", &self.min_level())
            .finish()
    }
}

impl Logger {
    /// A logger that sends records at `min_level` and above to `sink`.
    pub fn new(sink: Arc<dyn LogSink>, min_level: LogLevel) -> Self {
        Logger {
            sink: Some(sink),
            min_level: Arc::new(AtomicU32::new(min_level as u32)),
        }
    }

    /// A copy with the same sink and level whose level is its own: changing it leaves the
    /// original (a configuration other senders are made from) alone.
    pub fn with_own_level(&self) -> Self {
        Logger {
            sink: self.sink.clone(),
            min_level: Arc::new(AtomicU32::new(self.min_level.load(Ordering::Relaxed))),
        }
    }

    /// The minimum level records must have to be delivered; `None` without a sink.
    pub fn min_level(&self) -> Option<LogLevel> {
        let level = self.min_level.load(Ordering::Relaxed);
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .find(|l| *l as u32 == level)
    }

    /// Changes the minimum level for this logger and its clones (no effect without a sink).
    pub fn set_min_level(&self, level: LogLevel) {
        if self.sink.is_some() {
            self.min_level.store(level as u32, Ordering::Relaxed);
        }
    }

    /// True when a record at `level` would be delivered (use it to skip formatting).
    pub fn enabled(&self, level: LogLevel) -> bool {
        self.sink.is_some() && level as u32 >= self.min_level.load(Ordering::Relaxed)
    }

    /// Delivers a record built lazily by `message` when `level` is enabled.
    pub fn log(&self, level: LogLevel, message: impl FnOnce() -> String) {
        if self.enabled(level)
            && let Some(sink) = &self.sink
        {
            sink.log(level, &message());
        }
    }
}
