//! The [`Sender`]: registers series, validates and routes appended samples to every endpoint's
//! queue, and exposes flush, close and self-metrics.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::durable::Durable;
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::metrics::{
    EndpointStats, RejectReason, SenderMetrics, SenderStats, SuspectTimestamp, render_text,
};
use crate::model::{Histogram, Label, Labels, Metadata, SampleExtra, SampleOptions, stale_nan};
use crate::queue::{EndpointQueue, HeldQueue, ItemKinds, PushOutcome};
use crate::report::{EndpointReport, FlushReport, LossCounts};
use crate::series::{FoundSlot, LockedSlot, SeriesRef, SeriesRegistry, StripeGuard};
use crate::wal::writer::AppendGuard;

/// 2001-01-01T00:00:00Z in milliseconds: an earlier timestamp is most likely in seconds.
const EARLIEST_PLAUSIBLE_MS: i64 = 978_307_200_000;
/// How far ahead of now a timestamp may be before it looks like microseconds: one day.
const MAX_AHEAD_MS: i64 = 86_400_000;

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
    /// WAL mode (`promrw.wal`): the durable queue appends go to.
    durable: Option<Durable>,
    metrics: SenderMetrics,
    closed: AtomicBool,
    logger: Logger,
    flush_deadline: Duration,
    /// Timestamps above this (now + a day when it was last computed) are checked against the
    /// clock: the append path compares, and reads the clock only past it.
    future_limit_ms: AtomicI64,
    /// A suspect timestamp was logged (once per sender).
    warned_timestamp: AtomicBool,
    /// Loss counters at the end of the previous flush or close, and the report it made.
    reports: Mutex<ReportState>,
    /// The process's fork epoch when the sender was made: another value means this is a
    /// forked child, where every call fails with `Forked`.
    fork_epoch: u64,
    /// How long an append waits for another append of its series that is blocked for room:
    /// the longest `block_timeout` of the endpoints with the `block` policy.
    busy_timeout: Duration,
}

/// What flush and close remember between calls.
#[derive(Default)]
struct ReportState {
    /// Each endpoint's loss counters when the previous flush or close returned.
    baseline: Vec<LossCounts>,
    /// The report of the most recent flush or close.
    last: FlushReport,
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
        config.check_supported()?;
        // The sender's level is its own: set_log_level leaves other senders of the config alone.
        let logger = config.logger.with_own_level();
        if !config.ignored_prometheus_keys.is_empty() {
            let keys = config.ignored_prometheus_keys.join(", ");
            logger.log(LogLevel::Info, || {
                format!("configuration: Prometheus keys accepted and ignored by promrw: {keys}")
            });
        }
        // The series of one shard of the first endpoint share an order stripe, so a batch
        // append to one shard holds one stripe. Stripes stay at this count when the endpoint
        // reshards: they are a per-series lock whatever the shard count.
        let stripes = config.endpoints[0].queue.min_shards;
        let busy_timeout = config
            .endpoints
            .iter()
            .filter(|e| e.queue.overflow == crate::config::OverflowPolicy::Block)
            .map(|e| e.queue.block_timeout)
            .max()
            .unwrap_or_default();
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        let max_request_bytes = config.max_request_bytes;
        let wal_dir = config.wal.as_ref().map(|wal| wal.dir.clone());
        let endpoint_configs = config.endpoints.clone();
        for (index, endpoint) in config.endpoints.into_iter().enumerate() {
            let started = EndpointQueue::start(
                endpoint,
                logger.clone(),
                index,
                max_request_bytes,
                wal_dir.as_deref(),
            );
            match started {
                Ok(queue) => endpoints.push(queue),
                Err(e) => {
                    for started in &endpoints {
                        started.close(Instant::now());
                    }
                    return Err(e);
                }
            }
        }
        let mut registry = SeriesRegistry::with_stripes(config.external_labels, stripes)
            .with_limits(config.limits)
            .with_busy_wait(busy_timeout);
        let durable = match &config.wal {
            None => None,
            Some(wal) => match Durable::open(wal, &endpoints, &endpoint_configs, &logger) {
                Ok(opened) => {
                    registry = registry.with_restored_timestamps(opened.last_timestamps);
                    Some(opened.durable)
                }
                Err(e) => {
                    for started in &endpoints {
                        started.close(Instant::now());
                    }
                    return Err(e);
                }
            },
        };
        for endpoint in &endpoints {
            if let Err(e) = endpoint.start_resharding(registry.order_stripes()) {
                for started in &endpoints {
                    started.close(Instant::now());
                }
                return Err(e);
            }
        }
        Ok(Sender {
            registry,
            endpoints,
            durable,
            metrics: SenderMetrics::default(),
            closed: AtomicBool::new(false),
            logger,
            flush_deadline: config.flush_deadline,
            future_limit_ms: AtomicI64::new(now_ms().saturating_add(MAX_AHEAD_MS)),
            warned_timestamp: AtomicBool::new(false),
            reports: Mutex::new(ReportState::default()),
            fork_epoch: crate::fork::watch(),
            busy_timeout,
        })
    }

    /// Registers a label set (validated, sorted, encoded once) and returns its ref. Equal label
    /// sets give the same ref.
    pub fn series(&self, labels: Labels) -> Result<SeriesRef> {
        self.check_process()?;
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
    /// Waits for an append of this series in progress (one waiting for room under the `block`
    /// overflow policy: until it has offered its sample to every endpoint, so the sample
    /// reaches all or none), never for appends of other series.
    pub fn release(&self, series: SeriesRef) -> Result<()> {
        self.check_process()?;
        // Under the series' stripe: each endpoint's shard purges the series from its cache
        // once the samples queued so far are sent, so its label bytes are freed soon.
        // In WAL mode the feeders make series of their own and purge them themselves.
        self.registry.release_with(series, |slot| {
            if self.durable.is_none() {
                for endpoint in &self.endpoints {
                    endpoint.note_release(slot);
                }
            }
        })
    }

    /// Switches endpoint `endpoint` to `shards` shards now, whatever its rates, for tests of
    /// switches racing appends, flush, release and close. False when nothing switched (the
    /// endpoint does not reshard, is closing, or `shards` is out of its range).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn reshard_now(&self, endpoint: usize, shards: usize) -> bool {
        self.endpoints
            .get(endpoint)
            .is_some_and(|queue| queue.reshard_now(shards))
    }

    /// Appends one sample. The timestamp must be later than the series' last accepted one.
    pub fn append(&self, series: SeriesRef, timestamp_ms: i64, value: f64) -> Result<()> {
        self.append_extra(series, timestamp_ms, value, None)
    }

    /// Checks a sample against its series and offers it to every endpoint, holding the
    /// series' order stripe so that queue order is timestamp order. `locks` may already hold
    /// a stripe and (with one endpoint) a shard queue from the previous sample of a batch;
    /// they are kept when this sample needs the same ones. A full queue under the `block`
    /// policy, or a series another append has made busy, goes to [`Sender::append_blocked`],
    /// which waits without holding the stripe.
    #[inline(always)]
    fn append_checked<'a>(
        &'a self,
        locks: &mut AppendLocks<'a>,
        series: SeriesRef,
        timestamp_ms: i64,
        value: f64,
        extra: Option<&SampleExtra>,
    ) -> Result<()> {
        let unknown = |e| {
            self.metrics.reject(RejectReason::UnknownSeries, 1);
            e
        };
        let found = self.registry.find(series).map_err(unknown)?;
        let AppendLocks { queue, wal, stripe } = &mut *locks;
        if stripe.as_ref().map(StripeGuard::stripe) != Some(found.stripe()) {
            // Lock order is stripe, then queue or log: let go of all before taking another
            // stripe.
            *queue = None;
            *wal = None;
            *stripe = None;
        }
        let stripe = stripe.get_or_insert_with(|| self.registry.lock_stripe(found.stripe()));
        let slot = found.lock(stripe).map_err(unknown)?;
        if slot.is_busy() {
            return self.append_blocked(locks, found, timestamp_ms, value, extra, Blocked::busy);
        }
        self.check_timestamp(&slot, timestamp_ms)?;
        if let Some(durable) = &self.durable {
            // WAL mode: the sample goes to the log; the feeders queue it for the endpoints.
            let guard = wal.get_or_insert_with(|| durable.append());
            if let Err(error) = durable.log(guard, &slot, timestamp_ms, value, extra) {
                return Err(self.refused_by_log(error));
            }
            slot.set_last_timestamp(timestamp_ms);
            return Ok(());
        }
        if let [endpoint] = &self.endpoints[..] {
            // One endpoint: its shard queue stays locked across consecutive samples.
            match endpoint.push_holding(&slot, timestamp_ms, value, extra, queue) {
                PushOutcome::Queued | PushOutcome::Dropped => {}
                PushOutcome::Refused(error) => {
                    return self.refused(false, vec![(0, error)], extra);
                }
                PushOutcome::NoRoom(shard) => {
                    let blocked = move || Blocked::no_room(0, shard, false, Vec::new());
                    return self.append_blocked(locks, found, timestamp_ms, value, extra, blocked);
                }
            }
        } else {
            // Several: each push locks its queue on its own.
            let mut accepted = false;
            let mut refusals: Vec<(usize, Error)> = Vec::new();
            for (index, endpoint) in self.endpoints.iter().enumerate() {
                match endpoint.push(&slot, timestamp_ms, value, extra) {
                    PushOutcome::Queued | PushOutcome::Dropped => accepted = true,
                    PushOutcome::Refused(error) => refusals.push((index, error)),
                    PushOutcome::NoRoom(shard) => {
                        let blocked = move || Blocked::no_room(index, shard, accepted, refusals);
                        return self.append_blocked(
                            locks,
                            found,
                            timestamp_ms,
                            value,
                            extra,
                            blocked,
                        );
                    }
                }
            }
            if !refusals.is_empty() {
                self.refused(accepted, refusals, extra)?;
            }
        }
        slot.set_last_timestamp(timestamp_ms);
        Ok(())
    }

    /// The rest of an append whose series is busy or which met a full queue under the `block`
    /// policy. It never waits holding the stripe (which would hold up every append and release
    /// of the stripe's series, each waiting in turn): it marks the series busy, lets go of the
    /// stripe and queue, waits for room (bounded by what is left of the endpoint's
    /// `block_timeout`), takes the stripe again and offers the sample again to the endpoint
    /// that had no room and then to the ones after it. Each endpoint is offered the sample
    /// until it takes or refuses it once, so none gets it twice. While the series is busy its
    /// other appends wait on the stripe's condition (up to the longest `block_timeout`), so
    /// each queue still receives the series' samples in timestamp order. Returns with the
    /// stripe held and no queue held. `blocked` makes the state to start from (built here, off
    /// the fast path).
    #[cold]
    #[inline(never)]
    fn append_blocked<'a>(
        &'a self,
        locks: &mut AppendLocks<'a>,
        found: FoundSlot<'a>,
        timestamp_ms: i64,
        value: f64,
        extra: Option<&SampleExtra>,
        blocked: impl FnOnce() -> Blocked,
    ) -> Result<()> {
        let mut blocked = blocked();
        loop {
            locks.queue = None;
            let stripe = locks
                .stripe
                .get_or_insert_with(|| self.registry.lock_stripe(found.stripe()));
            let slot = match found.lock(stripe) {
                Ok(slot) => slot,
                // Released while this append let go of the stripe: it waited for another
                // append of the series (release waits for the busy one, not for this one), or
                // a release stopped waiting for this one after the longest block_timeout.
                Err(error) => return self.released_while_blocked(blocked, error, extra),
            };
            if let Some(shard) = blocked.no_room.take() {
                let endpoint = &self.endpoints[blocked.next];
                let deadline = blocked.since.checked_add(endpoint.block_timeout());
                if deadline.is_none_or(|deadline| Instant::now() < deadline) {
                    if !blocked.owns_series {
                        slot.set_busy(true);
                        blocked.owns_series = true;
                    }
                    locks.stripe = None;
                    let deadline = deadline.unwrap_or_else(|| crate::deadline_after(Duration::MAX));
                    if let Err(error) = endpoint.wait_for_room(shard, deadline) {
                        blocked.refusals.push((blocked.next, error));
                        blocked.next += 1;
                    }
                    continue;
                }
                blocked
                    .refusals
                    .push((blocked.next, endpoint.blocked_too_long(shard)));
                blocked.next += 1;
            } else if !blocked.owns_series {
                if slot.is_busy() {
                    // Another append of the series waits for room: wait for it to finish.
                    let deadline = blocked.since.checked_add(self.busy_timeout);
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        return Err(self.busy_too_long(&slot));
                    }
                    let deadline = deadline.unwrap_or_else(|| crate::deadline_after(Duration::MAX));
                    let held = locks.stripe.take().expect("the stripe is held");
                    locks.stripe = Some(held.wait_until(deadline));
                    continue;
                }
                if !blocked.checked {
                    // The stripe was let go of: check against what was committed meanwhile.
                    self.check_timestamp(&slot, timestamp_ms)?;
                    blocked.checked = true;
                }
            }
            while blocked.next < self.endpoints.len() {
                let index = blocked.next;
                match self.endpoints[index].push(&slot, timestamp_ms, value, extra) {
                    PushOutcome::Queued | PushOutcome::Dropped => blocked.accepted = true,
                    PushOutcome::Refused(error) => blocked.refusals.push((index, error)),
                    PushOutcome::NoRoom(shard) => {
                        blocked.no_room = Some(shard);
                        break;
                    }
                }
                blocked.next += 1;
            }
            if blocked.no_room.is_some() {
                continue;
            }
            // Every endpoint took or refused the sample.
            if blocked.owns_series {
                slot.set_busy(false);
                stripe.wake_waiters();
            }
            if !blocked.refusals.is_empty() {
                self.refused(
                    blocked.accepted,
                    std::mem::take(&mut blocked.refusals),
                    extra,
                )?;
            }
            slot.set_last_timestamp(timestamp_ms);
            return Ok(());
        }
    }

    /// The end of a blocked append whose series was released while it waited: `UnknownSeries`
    /// when no endpoint had taken the sample; otherwise the endpoints that had not are counted
    /// as having lost it.
    #[cold]
    fn released_while_blocked(
        &self,
        mut blocked: Blocked,
        error: Error,
        extra: Option<&SampleExtra>,
    ) -> Result<()> {
        if !blocked.accepted {
            self.metrics.reject(RejectReason::UnknownSeries, 1);
            return Err(error);
        }
        for index in blocked.next..self.endpoints.len() {
            blocked.refusals.push((index, error.clone()));
        }
        self.refused(true, blocked.refusals, extra)
    }

    /// The refusal of an append that waited for another append of its series (blocked for
    /// room) longer than the longest `block_timeout`, counted as queue full.
    #[cold]
    fn busy_too_long(&self, slot: &LockedSlot<'_>) -> Error {
        self.metrics.reject(RejectReason::QueueFull, 1);
        Error::new(
            ErrorKind::QueueFull,
            format!(
                "series {}: another append of this series has waited for room in a full queue for block_timeout ({:?})",
                describe_series(slot),
                self.busy_timeout
            ),
        )
    }

    /// Checks a sample's timestamp against its series (stripe held): `OutOfOrder` (counted)
    /// unless it is after the last accepted one; a suspect one is counted and accepted.
    #[inline(always)]
    fn check_timestamp(&self, slot: &LockedSlot<'_>, timestamp_ms: i64) -> Result<()> {
        if let Some(last) = slot.last_timestamp()
            && timestamp_ms <= last
        {
            return Err(self.out_of_order(slot, timestamp_ms, last));
        }
        if timestamp_ms < EARLIEST_PLAUSIBLE_MS
            || timestamp_ms > self.future_limit_ms.load(Ordering::Relaxed)
        {
            self.check_suspect_timestamp(slot, timestamp_ms);
        }
        Ok(())
    }

    /// Counts and returns the out-of-order rejection of a sample, naming the series' labels.
    #[cold]
    fn out_of_order(&self, slot: &LockedSlot<'_>, timestamp_ms: i64, last: i64) -> Error {
        self.metrics.reject(RejectReason::OutOfOrder, 1);
        Error::new(
            ErrorKind::OutOfOrder,
            format!(
                "series {}: timestamp {timestamp_ms} is not after its last accepted timestamp {last}",
                describe_series(slot)
            ),
        )
    }

    /// Looks closer at a timestamp before 2001 or past the cached future limit: counts it when
    /// it is before 2001 or more than a day ahead of the clock (logging the first one at warn
    /// level, with its series), else moves the limit forward. The sample is accepted either way.
    #[cold]
    fn check_suspect_timestamp(&self, slot: &LockedSlot<'_>, timestamp_ms: i64) {
        let kind = if timestamp_ms < EARLIEST_PLAUSIBLE_MS {
            SuspectTimestamp::Before2001
        } else {
            let limit = now_ms().saturating_add(MAX_AHEAD_MS);
            if timestamp_ms <= limit {
                self.future_limit_ms.fetch_max(limit, Ordering::Relaxed);
                return;
            }
            SuspectTimestamp::Future
        };
        self.metrics.suspect(kind);
        if !self.warned_timestamp.swap(true, Ordering::Relaxed) {
            self.logger.log(LogLevel::Warn, || {
                let (what, unit) = match kind {
                    SuspectTimestamp::Before2001 => ("is before 2001", "seconds"),
                    SuspectTimestamp::Future => ("is more than a day ahead", "microseconds"),
                };
                format!(
                    "series {}: timestamp {timestamp_ms} {what}: is it in {unit}? promrw expects \
                     milliseconds since the Unix epoch. Accepted as it is; such samples are \
                     counted in promrw_samples_suspect_timestamp_total (this is logged once per sender)",
                    describe_series(slot)
                )
            });
        }
    }

    /// Counts a sample the log refused (WAL mode) and returns the error.
    #[cold]
    fn refused_by_log(&self, error: Error) -> Error {
        let reason = match error.kind() {
            ErrorKind::Io => RejectReason::Io,
            ErrorKind::Closed => RejectReason::Closed,
            _ => RejectReason::QueueFull,
        };
        self.metrics.reject(reason, 1);
        error
    }

    /// Handles endpoints refusing a sample: when none `accepted` it, the first refusal is
    /// counted and returned; otherwise each refusal is counted as a sample lost for that
    /// endpoint, and logged.
    #[cold]
    fn refused(
        &self,
        accepted: bool,
        mut refusals: Vec<(usize, Error)>,
        extra: Option<&SampleExtra>,
    ) -> Result<()> {
        if !accepted {
            let (_, error) = refusals.swap_remove(0);
            let reason = match error.kind() {
                ErrorKind::Closed => RejectReason::Closed,
                ErrorKind::ShardDead => RejectReason::ShardDead,
                ErrorKind::UnknownSeries => RejectReason::UnknownSeries,
                _ => RejectReason::QueueFull,
            };
            self.metrics.reject(reason, 1);
            return Err(error);
        }
        for (index, error) in &refusals {
            self.endpoints[*index].count_lost(error, ItemKinds::of(extra));
            self.logger.log(LogLevel::Warn, || {
                format!("sample lost for one endpoint: {error}")
            });
        }
        Ok(())
    }

    /// Appends one sample with a start timestamp and/or an exemplar (`options`); with
    /// default options it is [`Sender::append`]. The start timestamp (0: unset) must not be
    /// after `timestamp_ms`; an exemplar without its own timestamp takes `timestamp_ms`.
    /// `InvalidArgument` names what is wrong; ordering and the other errors are as for
    /// `append`.
    pub fn append_with(
        &self,
        series: SeriesRef,
        timestamp_ms: i64,
        value: f64,
        options: &SampleOptions,
    ) -> Result<()> {
        let extra = extra_of(timestamp_ms, options, None)?;
        self.append_extra(series, timestamp_ms, value, extra)
    }

    /// Appends one sample with a start timestamp (0: unset), not after `timestamp_ms`.
    pub fn append_with_start(
        &self,
        series: SeriesRef,
        timestamp_ms: i64,
        start_timestamp_ms: i64,
        value: f64,
    ) -> Result<()> {
        self.append_with(
            series,
            timestamp_ms,
            value,
            &SampleOptions::with_start(start_timestamp_ms),
        )
    }

    /// Appends one native histogram to `series`, with `options` as for
    /// [`Sender::append_with`]. The histogram is validated first (`InvalidArgument` with
    /// Prometheus's rule that fails: spans against buckets, schema, negative counts, the
    /// count against the buckets). A histogram is ordered with the series' samples: its
    /// timestamp must be after the series' last accepted one, sample or histogram.
    pub fn append_histogram(
        &self,
        series: SeriesRef,
        timestamp_ms: i64,
        histogram: &Histogram,
        options: &SampleOptions,
    ) -> Result<()> {
        if let Err(problem) = histogram.validate() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("histogram: {problem}"),
            ));
        }
        let extra = extra_of(timestamp_ms, options, Some(histogram.clone()))?;
        self.append_extra(series, timestamp_ms, 0.0, extra)
    }

    /// Appends a stale marker for a histogram series ([`Histogram::stale`]).
    pub fn append_stale_histogram(&self, series: SeriesRef, timestamp_ms: i64) -> Result<()> {
        self.append_histogram(
            series,
            timestamp_ms,
            &Histogram::stale(),
            &SampleOptions::default(),
        )
    }

    /// Sets the metadata (type, help, unit) of `series`, replacing what was set before.
    /// Remote Write 2.0 sends it with every request carrying the series; 1.0 sends it in
    /// metadata requests every `metadata_config.send_interval`, by metric family (the
    /// series' name without the `_total`, `_bucket`, `_sum`, `_count`, `_created`, `_info`
    /// suffix its type implies). `UnknownSeries` for an unknown or released ref.
    pub fn set_metadata(&self, series: SeriesRef, metadata: Metadata) -> Result<()> {
        self.check_process()?;
        if self.is_closed() {
            return Err(Error::new(ErrorKind::Closed, "sender is closed"));
        }
        let found = self.registry.find(series)?;
        let stripe = self.registry.lock_stripe(found.stripe());
        let slot = found.lock(&stripe)?;
        let registered = slot.series()?;
        let metadata = Arc::new(metadata);
        if let Some(durable) = &self.durable {
            durable.log_metadata(&slot, &metadata)?;
        }
        registered.set_metadata(Some(metadata.clone()));
        if self.durable.is_none() {
            // In WAL mode the feeders note it when they read the record back, in log order.
            for endpoint in &self.endpoints {
                endpoint.note_metadata(&registered, &metadata);
            }
        }
        Ok(())
    }

    /// An append with an extra part (none: a plain sample).
    #[inline(always)]
    fn append_extra(
        &self,
        series: SeriesRef,
        timestamp_ms: i64,
        value: f64,
        extra: Option<SampleExtra>,
    ) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) || crate::fork::current() != self.fork_epoch {
            return Err(self.refuse_closed_or_forked(1));
        }
        self.append_checked(
            &mut AppendLocks::default(),
            series,
            timestamp_ms,
            value,
            extra.as_ref(),
        )?;
        self.metrics.appended.add(1);
        Ok(())
    }

    /// Appends a stale marker (the exact bits `0x7ff0000000000002`), telling receivers the
    /// series ended at `timestamp_ms`.
    pub fn append_stale(&self, series: SeriesRef, timestamp_ms: i64) -> Result<()> {
        self.append(series, timestamp_ms, stale_nan())
    }

    /// Appends samples in order, stopping at the first refusal. Returns how many were accepted
    /// (a prefix of `samples`) and the error of the first refused one, if any. The rejection
    /// counters count the refused sample (the ones after it are not tried), or every sample
    /// when the sender is closed.
    pub fn append_batch(&self, samples: &[Sample]) -> (usize, Result<()>) {
        self.append_each(samples.iter().copied())
    }

    /// [`Sender::append_batch`] over any sequence of samples, so callers holding another sample
    /// layout (the C ABI) need not copy their batch first. The appended counter is updated once
    /// per call.
    pub fn append_each(&self, samples: impl IntoIterator<Item = Sample>) -> (usize, Result<()>) {
        if self.closed.load(Ordering::Relaxed) || crate::fork::current() != self.fork_epoch {
            // Refused whole: each sample counts as refused.
            let n = samples.into_iter().count() as u64;
            return (0, Err(self.refuse_closed_or_forked(n)));
        }
        let mut accepted = 0;
        let mut result = Ok(());
        let mut locks = AppendLocks::default();
        for sample in samples {
            if let Err(error) = self.append_checked(
                &mut locks,
                sample.series,
                sample.timestamp_ms,
                sample.value,
                None,
            ) {
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

    /// Returns once every sample appended before the call is acknowledged, or with an error:
    /// `Timeout` when `timeout` passes first (the message says what is still pending and each
    /// endpoint's last error), `SamplesLost` when samples were rejected by a receiver or dropped
    /// since the previous flush or close returned (the message and [`Sender::last_report`] say
    /// how many and why), `Closed` after close. Partial batches are sent at once.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.check_process()?;
        if self.is_closed() {
            return Err(Error::new(ErrorKind::Closed, "sender is closed"));
        }
        let deadline = crate::deadline_after(timeout);
        let mut timed_out = false;
        if let Some(durable) = &self.durable {
            // Everything accepted so far, logged and queued for the endpoints first.
            timed_out |= durable.flush(deadline).is_err();
        }
        for endpoint in &self.endpoints {
            timed_out |= endpoint.flush(deadline).is_err();
        }
        self.report("flush", timed_out).to_result()
    }

    /// Makes every sample accepted before the call durable: with the durable queue
    /// (`promrw.wal`), returns `Ok` once each is written to the log files and fsync'd, else
    /// `Timeout` when `timeout` passes first; in memory mode returns `Ok` at once and
    /// guarantees nothing (samples live in memory only). `Closed` after close. The durability
    /// contract is in docs/DURABILITY.md.
    pub fn sync(&self, timeout: Duration) -> Result<()> {
        self.check_process()?;
        if self.is_closed() {
            return Err(Error::new(ErrorKind::Closed, "sender is closed"));
        }
        match &self.durable {
            Some(durable) => durable.sync(timeout),
            None => Ok(()),
        }
    }

    /// Stops accepting samples, sends what is queued until `timeout`, then stops and joins the
    /// shard threads. Returns `Timeout` when the deadline passed first (samples still unsent
    /// are counted as failed; the sender is closed anyway), `SamplesLost` when samples were
    /// rejected or dropped since the previous flush or close returned, `Closed` when already
    /// closed. Stats, metrics and the last report stay readable afterwards.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        self.check_process()?;
        if self.closed.swap(true, Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Closed, "sender is already closed"));
        }
        let deadline = crate::deadline_after(timeout);
        let mut drained = true;
        if let Some(durable) = &self.durable {
            // Everything accepted is logged and fsync'd; the feeders queue what they can
            // until the deadline, the shards send it, and what is not done stays on disk.
            drained &= durable.close(deadline);
        }
        for endpoint in &self.endpoints {
            drained &= endpoint.close(deadline);
        }
        if let Some(durable) = &self.durable {
            drained &= durable.finish();
        }
        self.logger
            .log(LogLevel::Info, || format!("closed (drained: {drained})"));
        self.report("close", !drained).to_result()
    }

    /// Makes and keeps the report of a flush or close that is returning: each endpoint's
    /// losses since the previous report, what is pending and its last error.
    fn report(&self, operation: &'static str, timed_out: bool) -> FlushReport {
        let mut state = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        let stats: Vec<_> = (0..self.endpoints.len())
            .map(|index| self.endpoint_stats(index))
            .collect();
        state.baseline.resize(stats.len(), LossCounts::default());
        let endpoints = stats
            .into_iter()
            .zip(state.baseline.iter_mut())
            .map(|(stats, baseline)| {
                let now = LossCounts::of(&stats);
                let lost = now.since(*baseline);
                *baseline = now;
                EndpointReport {
                    remote_name: stats.remote_name,
                    url: stats.url,
                    lost,
                    samples_pending: stats.samples_pending,
                    last_error: stats.last_error,
                }
            })
            .collect();
        let report = FlushReport {
            operation,
            timed_out,
            endpoints,
        };
        state.last = report.clone();
        // A log sink may call back into the sender: let go of the lock first.
        drop(state);
        let message = report.message();
        if !message.is_empty() {
            self.logger.log(LogLevel::Warn, || message);
        }
        report
    }

    /// The report of the most recent flush or close that returned (empty before the first):
    /// what was lost since the one before, what was pending, and each endpoint's most recent
    /// failed attempt. Readable after close.
    pub fn last_report(&self) -> FlushReport {
        self.reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last
            .clone()
    }

    /// Changes the minimum level of the records sent to the log sink, for this sender and all
    /// its threads, from the next record on (no effect when no sink was configured).
    pub fn set_log_level(&self, level: LogLevel) {
        self.logger.set_min_level(level);
    }

    /// `Forked` in a child process made by `fork()` after the sender was created (its threads
    /// do not run there, and locks they held stay locked), else `Ok`. Every call that returns a
    /// `Result` checks it; in a child, only dropping the sender is safe besides (the read-only
    /// `stats`, `metrics_text` and `last_report` may wait for such a lock).
    pub fn check_process(&self) -> Result<()> {
        if crate::fork::current() == self.fork_epoch {
            Ok(())
        } else {
            Err(forked())
        }
    }

    /// The refusal of an append of `n` samples to a closed sender (counted) or in a forked
    /// child.
    #[cold]
    fn refuse_closed_or_forked(&self, n: u64) -> Error {
        if crate::fork::current() != self.fork_epoch {
            return forked();
        }
        self.metrics.reject(RejectReason::Closed, n);
        Error::new(ErrorKind::Closed, "sender is closed")
    }

    /// True once `close` was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// How many endpoints the sender sends to (its configuration's `remote_write` entries).
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SenderStats {
        SenderStats {
            samples_appended: self.metrics.appended.sum(),
            rejected_out_of_order: self.metrics.rejected(RejectReason::OutOfOrder),
            rejected_queue_full: self.metrics.rejected(RejectReason::QueueFull),
            rejected_unknown_series: self.metrics.rejected(RejectReason::UnknownSeries),
            rejected_closed: self.metrics.rejected(RejectReason::Closed),
            rejected_shard_dead: self.metrics.rejected(RejectReason::ShardDead),
            rejected_io: self.metrics.rejected(RejectReason::Io),
            suspect_timestamps_before_2001: self.metrics.suspect_timestamps
                [SuspectTimestamp::Before2001 as usize]
                .load(Ordering::Relaxed),
            suspect_timestamps_future: self.metrics.suspect_timestamps
                [SuspectTimestamp::Future as usize]
                .load(Ordering::Relaxed),
            series: self.registry.len() as u64,
            endpoints: (0..self.endpoints.len())
                .map(|index| self.endpoint_stats(index))
                .collect(),
            wal: self.durable.as_ref().map(Durable::stats),
        }
    }

    /// Endpoint `index`'s figures: its queue's, and in WAL mode the log's for it (the
    /// budget's and the age limit's drops, the cursor's lag, what it replayed), which stats,
    /// the exposition and the flush/close reports all read.
    fn endpoint_stats(&self, index: usize) -> EndpointStats {
        let mut stats = self.endpoints[index].stats();
        if let Some(durable) = &self.durable {
            durable.fill_endpoint_stats(index, &mut stats);
        }
        stats
    }

    /// The self-metrics in the Prometheus text exposition format.
    pub fn metrics_text(&self) -> String {
        let expositions: Vec<_> = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(index, endpoint)| {
                let mut exposition = endpoint.exposition();
                exposition.stats = self.endpoint_stats(index);
                exposition
            })
            .collect();
        render_text(&self.stats(), &expositions)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // In a forked child there are no shard threads to drain or join: just free memory.
        if !self.is_closed() && self.check_process().is_ok() {
            let _ = self.close(self.flush_deadline);
        }
    }
}

/// The `Forked` error.
/// The extra part of an append: `None` when `options` carry nothing and there is no
/// histogram. `InvalidArgument` for a start timestamp after the sample's.
fn extra_of(
    timestamp_ms: i64,
    options: &SampleOptions,
    histogram: Option<Histogram>,
) -> Result<Option<SampleExtra>> {
    if options.start_timestamp_ms > timestamp_ms {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "start timestamp {} is after the sample's timestamp {timestamp_ms}",
                options.start_timestamp_ms
            ),
        ));
    }
    let exemplar = options.exemplar.clone().map(|mut exemplar| {
        exemplar.timestamp_ms.get_or_insert(timestamp_ms);
        exemplar
    });
    let extra = SampleExtra {
        start_ms: options.start_timestamp_ms,
        histogram,
        exemplar,
    };
    Ok((!extra.is_plain()).then_some(extra))
}

fn forked() -> Error {
    Error::new(
        ErrorKind::Forked,
        "the sender was created in another process (this is a child made by fork(), where its threads do not run): create senders after forking",
    )
}

/// The labels of the series in `slot`, as Prometheus prints a series.
fn describe_series(slot: &LockedSlot<'_>) -> String {
    match slot.series() {
        Ok(series) => series.describe(),
        Err(_) => format!("ref {}", slot.series_ref().0),
    }
}

/// Where an append that went to [`Sender::append_blocked`] stands.
struct Blocked {
    /// The first endpoint that has neither taken nor refused the sample.
    next: usize,
    /// Endpoint `next` had no room in this shard queue: wait for it before offering again.
    no_room: Option<usize>,
    /// Some endpoint took the sample.
    accepted: bool,
    /// The endpoints that refused it, with why.
    refusals: Vec<(usize, Error)>,
    /// When the append started waiting: every wait of the sample is bounded from here.
    since: Instant,
    /// This append marked the series busy (and clears the mark).
    owns_series: bool,
    /// The timestamp was checked against the series' last one with the stripe held ever
    /// since.
    checked: bool,
}

impl Blocked {
    /// An append that found its series busy (its timestamp not checked yet).
    fn busy() -> Blocked {
        Blocked {
            next: 0,
            no_room: None,
            accepted: false,
            refusals: Vec::new(),
            since: Instant::now(),
            owns_series: false,
            checked: false,
        }
    }

    /// An append whose timestamp was checked and which met no room in shard queue `shard` of
    /// endpoint `next`, after the endpoints before took (`accepted`) or refused it.
    fn no_room(
        next: usize,
        shard: usize,
        accepted: bool,
        refusals: Vec<(usize, Error)>,
    ) -> Blocked {
        Blocked {
            next,
            no_room: Some(shard),
            accepted,
            refusals,
            since: Instant::now(),
            owns_series: false,
            checked: true,
        }
    }
}

/// Locks an append keeps between consecutive samples of a batch: the order stripe of the last
/// series and, for a sender with one endpoint, the shard queue it pushed to. The queue is let
/// go of first (fields drop in order).
#[derive(Default)]
struct AppendLocks<'a> {
    queue: Option<HeldQueue<'a>>,
    /// WAL mode: the log's append buffer (taken after the stripe, let go of with it).
    wal: Option<AppendGuard<'a>>,
    stripe: Option<StripeGuard<'a>>,
}

/// Shared-ownership handle, for callers that hand a sender to several owners.
pub type SharedSender = Arc<Sender>;
