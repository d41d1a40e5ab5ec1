//! The one error type of the public Rust API.

use std::fmt;

/// What kind of failure an [`Error`] reports. Each kind maps to one stable C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A label set broke the Remote Write label rules (syntax, duplicates, empty names).
    InvalidLabels,
    /// A sample's timestamp was older than or equal to the last accepted one of its series.
    OutOfOrder,
    /// The series reference is unknown or was released.
    UnknownSeries,
    /// A shard queue was full and the overflow policy refused the sample.
    QueueFull,
    /// A deadline passed before the operation completed.
    Timeout,
    /// The sender was closed; no more samples are accepted.
    Closed,
    /// The configuration text or builder values are invalid.
    InvalidConfig,
    /// An argument was out of range or malformed.
    InvalidArgument,
    /// A shard thread died (it panicked); its samples can no longer be sent.
    ShardDead,
    /// An I/O or system call failed (e.g. a thread could not be started).
    Io,
    /// Samples accepted before a flush or close were rejected by a receiver or dropped since
    /// the previous flush or close returned; [`crate::Sender::last_report`] says how many and
    /// why.
    SamplesLost,
    /// The sender was created in another process: this is a child made by `fork()`, where
    /// the sender's threads do not run. Create senders after forking.
    Forked,
}

impl ErrorKind {
    /// A short stable name for the kind, used in messages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidLabels => "invalid labels",
            ErrorKind::OutOfOrder => "out of order",
            ErrorKind::UnknownSeries => "unknown series",
            ErrorKind::QueueFull => "queue full",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::InvalidConfig => "invalid config",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::ShardDead => "shard dead",
            ErrorKind::Io => "i/o error",
            ErrorKind::SamplesLost => "samples lost",
            ErrorKind::Forked => "forked",
        }
    }
}

/// An error with a kind and a message naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Makes an error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, naming what is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias for the crate.
pub type Result<T> = std::result::Result<T, Error>;
