//! Pluggable logging: a sink trait with levels. promrw is silent unless a sink is set.

use std::fmt;
use std::sync::Arc;

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

/// The logger handed around inside the crate: an optional sink and a minimum level.
#[derive(Clone, Default)]
pub struct Logger {
    sink: Option<Arc<dyn LogSink>>,
    min_level: Option<LogLevel>,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("enabled", &self.sink.is_some())
            .field("min_level", &self.min_level)
            .finish()
    }
}

impl Logger {
    /// A logger that sends records at `min_level` and above to `sink`.
    pub fn new(sink: Arc<dyn LogSink>, min_level: LogLevel) -> Self {
        Logger {
            sink: Some(sink),
            min_level: Some(min_level),
        }
    }

    /// True when a record at `level` would be delivered (use it to skip formatting).
    pub fn enabled(&self, level: LogLevel) -> bool {
        self.sink.is_some() && self.min_level.is_some_and(|min| level >= min)
    }

    /// Delivers a record built lazily by `message` when `level` is enabled.
    pub fn log(&self, level: LogLevel, message: impl FnOnce() -> String) {
        if self.enabled(level) {
            if let Some(sink) = &self.sink {
                sink.log(level, &message());
            }
        }
    }
}
