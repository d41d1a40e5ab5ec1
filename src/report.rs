//! Flush and close reports: what was lost since the previous flush or close returned, what is
//! still pending, and each endpoint's most recent failed attempt.

use std::fmt::Write as _;

use crate::error::{Error, ErrorKind};
use crate::metrics::{AttemptError, EndpointStats};

/// The loss counters of one endpoint at one moment (all only grow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossCounts {
    /// Samples (and native histograms) rejected by the receiver, reported not written, or
    /// abandoned at a close deadline.
    pub failed: u64,
    /// Samples dropped as older than `sample_age_limit`.
    pub dropped_too_old: u64,
    /// Samples dropped because the queue was full (`drop_newest`).
    pub dropped_queue_full: u64,
    /// WAL mode: samples dropped unsent with the oldest segments (`max_bytes` reached with
    /// `full: drop_oldest`, or older than `max_age`).
    pub dropped_wal: u64,
}

impl LossCounts {
    /// The counters of an endpoint's stats.
    pub fn of(stats: &EndpointStats) -> LossCounts {
        // Histograms count as samples here: each is an item appended and lost.
        let (too_old, queue_full, wal) = stats.histograms.lost_dropped();
        LossCounts {
            failed: stats.samples_failed + stats.histograms.failed,
            dropped_too_old: stats.samples_dropped_too_old + too_old,
            dropped_queue_full: stats.samples_dropped_queue_full + queue_full,
            dropped_wal: stats.samples_dropped_wal_full + stats.samples_dropped_wal_too_old + wal,
        }
    }

    /// What was added since `earlier`.
    pub fn since(self, earlier: LossCounts) -> LossCounts {
        LossCounts {
            failed: self.failed.saturating_sub(earlier.failed),
            dropped_too_old: self.dropped_too_old.saturating_sub(earlier.dropped_too_old),
            dropped_queue_full: self
                .dropped_queue_full
                .saturating_sub(earlier.dropped_queue_full),
            dropped_wal: self.dropped_wal.saturating_sub(earlier.dropped_wal),
        }
    }

    /// All samples lost.
    pub fn total(self) -> u64 {
        self.failed + self.dropped_too_old + self.dropped_queue_full + self.dropped_wal
    }
}

/// One endpoint's part of a [`FlushReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointReport {
    /// The `remote_name` label.
    pub remote_name: String,
    /// The URL with secrets removed.
    pub url: String,
    /// Samples lost since the previous flush or close returned.
    pub lost: LossCounts,
    /// Samples still pending when the call returned (non-zero after a timeout).
    pub samples_pending: u64,
    /// The endpoint's most recent failed attempt (rejected or retried), at any time before the
    /// report.
    pub last_error: Option<AttemptError>,
}

impl EndpointReport {
    /// The `remote_name=... url=...` prefix of log lines and messages.
    fn describe(&self) -> String {
        format!("remote_name={} url={}", self.remote_name, self.url)
    }
}

/// What a flush or close found: [`crate::Sender::last_report`] returns the latest one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// `"flush"` or `"close"`; empty before the first report.
    pub operation: &'static str,
    /// True when the call hit its deadline.
    pub timed_out: bool,
    /// Per endpoint, in configuration order.
    pub endpoints: Vec<EndpointReport>,
}

impl FlushReport {
    /// Samples lost on every endpoint together.
    pub fn lost(&self) -> LossCounts {
        self.endpoints
            .iter()
            .fold(LossCounts::default(), |sum, e| LossCounts {
                failed: sum.failed + e.lost.failed,
                dropped_too_old: sum.dropped_too_old + e.lost.dropped_too_old,
                dropped_queue_full: sum.dropped_queue_full + e.lost.dropped_queue_full,
                dropped_wal: sum.dropped_wal + e.lost.dropped_wal,
            })
    }

    /// Samples pending on every endpoint together.
    pub fn samples_pending(&self) -> u64 {
        self.endpoints.iter().map(|e| e.samples_pending).sum()
    }

    /// The most recent failed attempt over all endpoints.
    pub fn last_error(&self) -> Option<&AttemptError> {
        self.endpoints
            .iter()
            .filter_map(|e| e.last_error.as_ref())
            .max_by_key(|e| e.unix_ms)
    }

    /// `Ok` when nothing was lost and the deadline was met; otherwise `Timeout` (which wins)
    /// or `SamplesLost`, with [`FlushReport::message`].
    pub fn to_result(&self) -> crate::Result<()> {
        if self.timed_out {
            Err(Error::new(ErrorKind::Timeout, self.message()))
        } else if self.lost().total() > 0 {
            Err(Error::new(ErrorKind::SamplesLost, self.message()))
        } else {
            Ok(())
        }
    }

    /// The report as one message: empty when nothing was lost and the deadline was met,
    /// otherwise what was lost and what is pending per endpoint, with each endpoint's last
    /// error.
    pub fn message(&self) -> String {
        let lost = self.lost().total();
        if !self.timed_out && lost == 0 {
            return String::new();
        }
        let mut out = String::new();
        if self.timed_out {
            let _ = write!(
                out,
                "{} timed out with {} samples pending",
                self.operation,
                self.samples_pending()
            );
            if lost > 0 {
                let _ = write!(out, " and {lost} lost");
            }
        } else {
            let _ = write!(out, "{}: {lost} samples lost", self.operation);
        }
        out.push_str(" since the previous flush or close");
        for e in &self.endpoints {
            if e.lost.total() == 0 && e.samples_pending == 0 {
                continue;
            }
            let _ = write!(
                out,
                "; {}: {} failed, {} dropped too_old, {} dropped queue_full, ",
                e.describe(),
                e.lost.failed,
                e.lost.dropped_too_old,
                e.lost.dropped_queue_full,
            );
            if e.lost.dropped_wal > 0 {
                let _ = write!(out, "{} dropped from the WAL, ", e.lost.dropped_wal);
            }
            let _ = write!(out, "{} pending", e.samples_pending);
            match &e.last_error {
                Some(error) => {
                    let _ = write!(out, ", last error: {}", error.message);
                }
                None => out.push_str(", no failed attempt"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(failed: u64, pending: u64, error: Option<&str>) -> EndpointReport {
        EndpointReport {
            remote_name: "r".into(),
            url: "http://127.0.0.1:1/w".into(),
            lost: LossCounts {
                failed,
                ..LossCounts::default()
            },
            samples_pending: pending,
            last_error: error.map(|m| AttemptError {
                status: Some(404),
                message: m.into(),
                unix_ms: 5,
            }),
        }
    }

    #[test]
    fn clean_report_is_ok_and_silent() {
        let report = FlushReport {
            operation: "flush",
            timed_out: false,
            endpoints: vec![endpoint(0, 0, Some("old"))],
        };
        assert_eq!(report.to_result(), Ok(()));
        assert_eq!(report.message(), "");
    }

    #[test]
    fn loss_names_counts_and_last_error() {
        let report = FlushReport {
            operation: "flush",
            timed_out: false,
            endpoints: vec![endpoint(
                7,
                0,
                Some("server returned HTTP status 404: nope"),
            )],
        };
        let error = report.to_result().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::SamplesLost);
        let message = error.message();
        assert!(message.starts_with("flush: 7 samples lost"), "{message}");
        assert!(message.contains("7 failed"), "{message}");
        assert!(message.contains("HTTP status 404: nope"), "{message}");
    }

    #[test]
    fn timeout_wins_and_names_pending() {
        let report = FlushReport {
            operation: "close",
            timed_out: true,
            endpoints: vec![endpoint(2, 3, None)],
        };
        let error = report.to_result().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Timeout);
        assert!(
            error
                .message()
                .starts_with("close timed out with 3 samples pending and 2 lost"),
            "{}",
            error.message()
        );
        assert!(error.message().contains("no failed attempt"));
    }

    #[test]
    fn counts_since_an_earlier_snapshot() {
        let later = LossCounts {
            failed: 10,
            dropped_too_old: 4,
            dropped_queue_full: 1,
            dropped_wal: 0,
        };
        let earlier = LossCounts {
            failed: 3,
            dropped_too_old: 4,
            dropped_queue_full: 0,
            dropped_wal: 0,
        };
        assert_eq!(
            later.since(earlier),
            LossCounts {
                failed: 7,
                dropped_too_old: 0,
                dropped_queue_full: 1,
                dropped_wal: 0,
            }
        );
        assert_eq!(later.since(earlier).total(), 8);
    }
}
