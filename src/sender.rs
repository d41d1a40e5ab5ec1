//! The [`Sender`]: registers series, validates and routes appended samples to every endpoint's
//! queue, and exposes flush, close and self-metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::metrics::{RejectReason, SenderMetrics, SenderStats, render_text};
use crate::model::{Label, Labels, stale_nan};
use crate::queue::{EndpointQueue, HeldQueue, PushOutcome};
use crate::series::{SeriesRef, SeriesRegistry, StripeGuard};

/// One sample for [`Sender::append_batch`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Sample {
    /// The series.
    pub series: SeriesRef,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value (bits preserved).
    pub value: f64,
}

/// A remote-write sender. Cheap to share: all methods take `&self` and it is `Send + Sync`.
///
/// Dropping a sender that was not closed closes it with `promrw.flush_deadline` (default 1m)
/// as the deadline, so drop never hangs longer than that.
pub struct Sender {
    registry: SeriesRegistry,
    endpoints: Vec<EndpointQueue>,
    metrics: SenderMetrics,
    closed: AtomicBool,
    logger: Logger,
    flush_deadline: Duration,
}

impl Sender {
    /// Starts the shard threads of every endpoint in `config`.
    pub fn new(config: Config) -> Result<Sender> {
        if config.endpoints.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "remote_write: at least one endpoint is required",
            ));
        }
        // The series of one shard of the first endpoint share an order stripe, so a batch
        // append to one shard holds one stripe.
        let stripes = config.endpoints[0].queue.min_shards;
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        for (index, endpoint) in config.endpoints.into_iter().enumerate() {
            match EndpointQueue::start(endpoint, config.logger.clone(), index) {
                Ok(queue) => endpoints.push(queue),
                Err(e) => {
                    for started in &endpoints {
                        started.close(Instant::now());
                    }
                    return Err(e);
                }
            }
        }
        Ok(Sender {
            registry: SeriesRegistry::with_stripes(config.external_labels, stripes),
            endpoints,
            metrics: SenderMetrics::default(),
            closed: AtomicBool::new(false),
            logger: config.logger,
            flush_deadline: config.flush_deadline,
        })
    }

    /// Registers a label set (validated, sorted, encoded once) and returns its ref. Equal label
    /// sets give the same ref.
    pub fn series(&self, labels: Labels) -> Result<SeriesRef> {
        self.registry.register(labels)
    }

    /// Registers a label set given as `(name, value)` pairs; see [`Sender::series`].
    pub fn series_from_pairs<N: AsRef<str>, V: AsRef<str>>(
        &self,
        pairs: &[(N, V)],
    ) -> Result<SeriesRef> {
        self.series(Labels::new(
            pairs
                .iter()
                .map(|(n, v)| Label::new(n.as_ref(), v.as_ref()))
                .collect(),
        )?)
    }

    /// Forgets a series so its memory can be reused; samples already queued are still sent.
    /// Waits for appends in progress to series of the same order stripe (one waiting for room
    /// under the `block` overflow policy can hold it up to `block_timeout`).
    pub fn release(&self, series: SeriesRef) -> Result<()> {
        self.registry.release(series)
    }

    /// Appends one sample. The timestamp must be later than the series' last accepted one.
    pub fn append(&self, series: SeriesRef, timestamp_ms: i64, value: f64) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            self.metrics.reject(RejectReason::Closed);
            return Err(Error::new(ErrorKind::Closed, "sender is closed"));
        }
        self.append_checked(&mut AppendLocks::default(), series, timestamp_ms, value)?;
        self.metrics.appended.add(1);
        Ok(())
    }

    /// Checks a sample against its series and offers it to every endpoint, holding the
    /// series' order stripe so that queue order is timestamp order. `locks` may already hold
    /// a stripe and (with one endpoint) a shard queue from the previous sample of a batch;
    /// they are kept when this sample needs the same ones.
    fn append_checked<'a>(
        &'a self,
        locks: &mut AppendLocks<'a>,
        series: SeriesRef,
        timestamp_ms: i64,
        value: f64,
    ) -> Result<()> {
        let unknown = |e| {
            self.metrics.reject(RejectReason::UnknownSeries);
            e
        };
        let found = self.registry.find(series).map_err(unknown)?;
        let AppendLocks { queue, stripe } = locks;
        if stripe.as_ref().map(StripeGuard::stripe) != Some(found.stripe()) {
            // Lock order is stripe, then queue: let go of both before taking another stripe.
            *queue = None;
            *stripe = None;
        }
        let stripe = stripe.get_or_insert_with(|| self.registry.lock_stripe(found.stripe()));
        let slot = found.lock(stripe).map_err(unknown)?;
        if let Some(last) = slot.last_timestamp() {
            if timestamp_ms <= last {
                return Err(self.out_of_order(series, timestamp_ms, last));
            }
        }
        if let [endpoint] = &self.endpoints[..] {
            // One endpoint: its shard queue stays locked across consecutive samples.
            if let PushOutcome::Refused(error) =
                endpoint.push_holding(&slot, timestamp_ms, value, queue)
            {
                return self.refused(false, vec![(0, error)]);
            }
        } else {
            // Several: holding one endpoint's queue while waiting for another's room would
            // stall the first, so each push locks its queue on its own.
            let mut accepted = false;
            let mut refusals: Vec<(usize, Error)> = Vec::new();
            for (index, endpoint) in self.endpoints.iter().enumerate() {
                match endpoint.push(&slot, timestamp_ms, value) {
                    PushOutcome::Queued | PushOutcome::Dropped => accepted = true,
                    PushOutcome::Refused(error) => refusals.push((index, error)),
                }
            }
            if !refusals.is_empty() {
                self.refused(accepted, refusals)?;
            }
        }
        slot.set_last_timestamp(timestamp_ms);
        Ok(())
    }

    /// Counts and returns the out-of-order rejection of a sample.
    #[cold]
    fn out_of_order(&self, series: SeriesRef, timestamp_ms: i64, last: i64) -> Error {
        self.metrics.reject(RejectReason::OutOfOrder);
        Error::new(
            ErrorKind::OutOfOrder,
            format!(
                "timestamp {timestamp_ms} is not after the last accepted timestamp {last} of series {}",
                series.0
            ),
        )
    }

    /// Handles endpoints refusing a sample: when none `accepted` it, the first refusal is
    /// counted and returned; otherwise each refusal is counted as a sample lost for that
    /// endpoint, and logged.
    #[cold]
    fn refused(&self, accepted: bool, mut refusals: Vec<(usize, Error)>) -> Result<()> {
        if !accepted {
            let (_, error) = refusals.swap_remove(0);
            let reason = match error.kind() {
                ErrorKind::Closed => RejectReason::Closed,
                _ => RejectReason::QueueFull,
            };
            self.metrics.reject(reason);
            return Err(error);
        }
        for (index, error) in &refusals {
            self.endpoints[*index].count_lost(error);
            self.logger.log(LogLevel::Warn, || {
                format!("sample lost for one endpoint: {error}")
            });
        }
        Ok(())
    }

    /// Appends a stale marker (the exact bits `0x7ff0000000000002`), telling receivers the
    /// series ended at `timestamp_ms`.
    pub fn append_stale(&self, series: SeriesRef, timestamp_ms: i64) -> Result<()> {
        self.append(series, timestamp_ms, stale_nan())
    }

    /// Appends samples in order, stopping at the first refusal. Returns how many were accepted
    /// (a prefix of `samples`) and the error of the first refused one, if any.
    pub fn append_batch(&self, samples: &[Sample]) -> (usize, Result<()>) {
        self.append_each(samples.iter().copied())
    }

    /// [`Sender::append_batch`] over any sequence of samples, so callers holding another sample
    /// layout (the C ABI) need not copy their batch first. The appended counter is updated once
    /// per call.
    pub fn append_each(&self, samples: impl IntoIterator<Item = Sample>) -> (usize, Result<()>) {
        if self.closed.load(Ordering::Relaxed) {
            self.metrics.reject(RejectReason::Closed);
            return (0, Err(Error::new(ErrorKind::Closed, "sender is closed")));
        }
        let mut accepted = 0;
        let mut result = Ok(());
        let mut locks = AppendLocks::default();
        for sample in samples {
            if let Err(error) =
                self.append_checked(&mut locks, sample.series, sample.timestamp_ms, sample.value)
            {
                let message = format!("sample {accepted}: {}", error.message());
                result = Err(Error::new(error.kind(), message));
                break;
            }
            accepted += 1;
        }
        // Let go of the stripe and queue before returning.
        drop(locks);
        self.metrics.appended.add(accepted as u64);
        (accepted, result)
    }

    /// Returns once every sample appended before the call is acknowledged (or failed for
    /// good), or with `Timeout` when `timeout` passes first. Partial batches are sent at once.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for endpoint in &self.endpoints {
            endpoint.flush(deadline)?;
        }
        Ok(())
    }

    /// Stops accepting samples, sends what is queued until `timeout`, then stops and joins the
    /// shard threads. Samples still unsent at the deadline are counted as failed and `Timeout`
    /// is returned. Closing again returns `Closed`.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Closed, "sender is already closed"));
        }
        let deadline = Instant::now() + timeout;
        let mut drained = true;
        for endpoint in &self.endpoints {
            drained &= endpoint.close(deadline);
        }
        self.logger
            .log(LogLevel::Info, || format!("closed (drained: {drained})"));
        if drained {
            Ok(())
        } else {
            let failed: u64 = self
                .endpoints
                .iter()
                .map(|e| e.stats().samples_failed)
                .sum();
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "close timed out after {timeout:?}; unsent samples were counted as failed (samples_failed_total now {failed})"
                ),
            ))
        }
    }

    /// True once `close` was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SenderStats {
        SenderStats {
            samples_appended: self.metrics.appended.sum(),
            rejected_out_of_order: self.metrics.rejected(RejectReason::OutOfOrder),
            rejected_queue_full: self.metrics.rejected(RejectReason::QueueFull),
            rejected_unknown_series: self.metrics.rejected(RejectReason::UnknownSeries),
            rejected_closed: self.metrics.rejected(RejectReason::Closed),
            series: self.registry.len() as u64,
            endpoints: self.endpoints.iter().map(EndpointQueue::stats).collect(),
        }
    }

    /// The self-metrics in the Prometheus text exposition format.
    pub fn metrics_text(&self) -> String {
        let expositions: Vec<_> = self
            .endpoints
            .iter()
            .map(EndpointQueue::exposition)
            .collect();
        render_text(&self.stats(), &expositions)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if !self.is_closed() {
            let _ = self.close(self.flush_deadline);
        }
    }
}

/// Locks an append keeps between consecutive samples of a batch: the order stripe of the last
/// series and, for a sender with one endpoint, the shard queue it pushed to. The queue is let
/// go of first (fields drop in order).
#[derive(Default)]
struct AppendLocks<'a> {
    queue: Option<HeldQueue<'a>>,
    stripe: Option<StripeGuard<'a>>,
}

/// Shared-ownership handle, for callers that hand a sender to several owners.
pub type SharedSender = Arc<Sender>;
