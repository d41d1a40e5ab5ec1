//! What an endpoint does with the parts of an item beyond a float sample: histograms are
//! admitted when the endpoint sends them (`send_native_histograms`, or Remote Write 2.0),
//! exemplars when it has `send_exemplars`; the rest is dropped and counted per kind.

use std::sync::atomic::Ordering;

use super::EndpointContext;
use super::batch::EncodedCounts;
use crate::config::ProtobufMessage;
use crate::log::LogLevel;
use crate::metrics::{DropReason, ExtraDropReason};
use crate::model::SampleExtra;

/// What kinds an item counts as when it is dropped: a sample or a histogram, with or without
/// an exemplar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemKinds {
    /// The item is a histogram (else a float sample).
    pub histogram: bool,
    /// The item carries an exemplar.
    pub exemplar: bool,
}

impl ItemKinds {
    /// The kinds of an item with `extra`.
    pub fn of(extra: Option<&SampleExtra>) -> ItemKinds {
        extra.map_or(ItemKinds::default(), |extra| ItemKinds {
            histogram: extra.is_histogram(),
            exemplar: extra.exemplar.is_some(),
        })
    }
}

/// What an endpoint makes of an item's extra part.
#[derive(Debug)]
pub enum Admitted {
    /// Nothing of it is sent: the item travels as a plain float sample.
    Plain,
    /// Queued with the item (perhaps without its exemplar).
    Extra(Box<SampleExtra>),
    /// The whole item is dropped (a histogram the endpoint does not send); counted.
    Dropped,
}

impl EndpointContext {
    /// True when the endpoint sends native histograms: with `send_native_histograms`, or
    /// configured for Remote Write 2.0 (where the flag is a no-op, as in Prometheus; it stays
    /// so after a fallback to 1.0, since the user asked for what 2.0 carries).
    pub fn sends_histograms(&self) -> bool {
        self.config.send_native_histograms || self.config.protobuf_message == ProtobufMessage::V2
    }

    /// Applies the endpoint's `send_native_histograms` and `send_exemplars` to an item's
    /// extra part, counting what it drops (logged once per endpoint).
    pub fn admit_extra(&self, extra: &SampleExtra) -> Admitted {
        if extra.is_histogram() && !self.sends_histograms() {
            self.metrics
                .histograms
                .add_dropped(ExtraDropReason::NativeHistogramsDisabled, 1);
            if extra.exemplar.is_some() {
                self.metrics
                    .exemplars
                    .add_dropped(ExtraDropReason::NativeHistogramsDisabled, 1);
            }
            self.log_disabled_kind(&self.disabled_histograms_logged, "native histograms are dropped: the endpoint has neither send_native_histograms: true nor protobuf_message: io.prometheus.write.v2.Request");
            return Admitted::Dropped;
        }
        if extra.exemplar.is_some() && !self.config.send_exemplars {
            self.metrics
                .exemplars
                .add_dropped(ExtraDropReason::ExemplarsDisabled, 1);
            self.log_disabled_kind(
                &self.disabled_exemplars_logged,
                "exemplars are dropped (their samples are sent): the endpoint does not have send_exemplars: true",
            );
            let mut kept = extra.clone();
            kept.exemplar = None;
            if kept.is_plain() {
                return Admitted::Plain;
            }
            return Admitted::Extra(Box::new(kept));
        }
        Admitted::Extra(Box::new(extra.clone()))
    }

    /// Counts `n` items of `kinds` dropped for `reason`: as samples or histograms, and their
    /// exemplars.
    pub fn count_dropped(&self, kinds: ItemKinds, reason: DropReason, n: u64) {
        if kinds.histogram {
            self.metrics
                .histograms
                .add_dropped(ExtraDropReason::Sample(reason), n);
        } else {
            self.metrics.add_dropped(reason, n);
        }
        if kinds.exemplar {
            self.metrics
                .exemplars
                .add_dropped(ExtraDropReason::Sample(reason), n);
        }
    }

    /// Counts `n` items of `kinds` failed (not retried): as samples or histograms, and their
    /// exemplars.
    pub fn count_failed(&self, kinds: ItemKinds, n: u64) {
        if kinds.histogram {
            self.metrics
                .histograms
                .failed
                .fetch_add(n, Ordering::Relaxed);
        } else {
            self.metrics.samples_failed.fetch_add(n, Ordering::Relaxed);
        }
        if kinds.exemplar {
            self.metrics
                .exemplars
                .failed
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Logs, the first time only, a 2xx whose Written headers say less was written than sent
    /// (the rest is counted as failed).
    pub fn log_partial_write(&self, sent: &EncodedCounts, lost: &EncodedCounts) {
        if !self.partial_write_logged.swap(true, Ordering::Relaxed) {
            self.logger.log(LogLevel::Warn, || {
                format!(
                    "{}: the receiver answered 2xx but wrote only part of a request: {} of {} samples, {} of {} histograms, {} of {} exemplars not written (counted as failed; further partial writes are counted, not logged)",
                    self.describe(),
                    lost.samples,
                    sent.samples,
                    lost.histograms,
                    sent.histograms,
                    lost.exemplars,
                    sent.exemplars
                )
            });
        }
    }

    /// Logs, the first time only, histograms with custom buckets left out of 1.0 requests.
    pub fn log_nhcb_skipped(&self, n: u64) {
        if !self.nhcb_logged.swap(true, Ordering::Relaxed) {
            self.logger.log(LogLevel::Warn, || {
                format!(
                    "{}: {n} histograms with custom buckets (schema -53) dropped: Remote Write 1.0 cannot carry them (counted in prometheus_remote_storage_histograms_dropped_total{{reason=\"nhcb_in_rw1_not_supported\"}}; logged once)",
                    self.describe()
                )
            });
        }
    }

    /// Logs, the first time only (per kind, as `logged` records), that the endpoint drops a
    /// kind it is not configured for.
    fn log_disabled_kind(&self, logged: &std::sync::atomic::AtomicBool, what: &str) {
        if !logged.swap(true, Ordering::Relaxed) {
            self.logger.log(LogLevel::Warn, || {
                format!(
                    "{}: {what} (counted in prometheus_remote_storage_{{histograms,exemplars}}_dropped_total; logged once)",
                    self.describe()
                )
            });
        }
    }
}
