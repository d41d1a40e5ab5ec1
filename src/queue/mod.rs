//! The queue of one endpoint: a set of shard threads (`min_shards` at first, resharded between
//! `min_shards` and `max_shards` by the `reshard` module), series assigned to shards by a stable hash of
//! their labels, the overflow policy and the memory budget, and flush/close with deadlines.

mod batch;
pub mod feeder;
mod kinds;
pub mod metadata_book;
mod metadata_send;
mod pending;
mod protocol;
pub mod relabeling;
mod reshard;
pub mod series_cache;
mod series_symbols;
mod shard;
mod shard_pool;
mod shard_rate;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use batch::{BatchEncoder, BatchView, EncodedCounts};
pub use kinds::{Admitted, ItemKinds};
use pending::{PushError, WaitEnd};
use relabeling::Relabeled;
use reshard::{Reshard, ReshardSignals};
use series_cache::QueuedSample;
use series_cache::endpoint_bit;
use shard::{DRAIN, HARD, RUN, ShardShared};
use shard_pool::{ShardPool, queue_capacity};

use crate::config::{EndpointConfig, OverflowPolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::metrics::{
    DropReason, EndpointExposition, EndpointMetrics, EndpointSettings, EndpointStats,
    endpoint_stats,
};
use crate::model::{Metadata, SampleExtra};
use crate::redact::redact_url;
use crate::series::{LockedSlot, OrderStripes, Series, lock};
use crate::transport::{EndpointAuth, Transport};

/// Read-only settings and shared counters of an endpoint, shared with its shard threads.
pub struct EndpointContext {
    /// The endpoint's settings.
    pub config: EndpointConfig,
    /// The `remote_name` label.
    pub remote_name: String,
    /// The URL without password.
    pub shown_url: String,
    /// Live counters.
    pub metrics: EndpointMetrics,
    /// Where records go.
    pub logger: Logger,
    /// This endpoint's bit in [`LockedSlot::mark_announced`].
    pub cache_bit: u64,
    /// `promrw.max_request_bytes`: the largest uncompressed body of one request.
    pub max_request_bytes: usize,
    /// Samples come from the durable queue's log: what a hard stop abandons stays there for
    /// the next sender rather than being counted as failed.
    pub wal_mode: bool,
    /// A series relabeled into an invalid one was logged (once per endpoint).
    relabel_invalid_logged: AtomicBool,
    /// A histogram the endpoint is not configured for was logged (once).
    disabled_histograms_logged: AtomicBool,
    /// An exemplar the endpoint is not configured for was logged (once).
    disabled_exemplars_logged: AtomicBool,
    /// A partial write reported by the Written headers was logged (once).
    partial_write_logged: AtomicBool,
    /// Histograms with custom buckets left out of 1.0 requests were logged (once).
    nhcb_logged: AtomicBool,
    /// Metadata by family, for Remote Write 1.0 metadata requests.
    pub metadata_book: metadata_book::MetadataBook,
    /// The protocol requests use now (2.0 until a 1.0-only receiver is met, when configured).
    pub protocol: protocol::ProtocolState,
    /// What pushes and sends tell the reshard thread.
    pub reshard: ReshardSignals,
    progress: Mutex<()>,
    progress_cv: Condvar,
    flush_waiters: AtomicUsize,
    exited: AtomicUsize,
    /// The deadline of the close in progress, once close was called: attempts started after
    /// that are bounded by it as well as by `remote_timeout`.
    close_deadline: Mutex<Option<Instant>>,
}

impl EndpointContext {
    /// Logs, the first time only, a series that the endpoint's `write_relabel_configs` made
    /// invalid or whose tenant cannot be sent (the later ones are only counted).
    pub fn log_series_not_sent(&self, problem: &str) {
        if !self.relabel_invalid_logged.swap(true, Ordering::Relaxed) {
            self.logger.log(LogLevel::Warn, || {
                format!(
                    "{}: {problem}; dropped (further such series are counted in prometheus_remote_storage_samples_dropped_total, not logged)",
                    self.describe()
                )
            });
        }
    }

    /// True when series are relabeled or routed by tenant before they are sent.
    pub fn routes_series(&self) -> bool {
        !self.config.write_relabel_configs.is_empty() || self.config.tenant.is_some()
    }

    /// `remote_name=... url=...` for log lines.
    pub fn describe(&self) -> String {
        format!("remote_name={} url={}", self.remote_name, self.shown_url)
    }

    /// Wakes flush and close waiters when there are any.
    pub fn notify_progress(&self) {
        if self.flush_waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.progress);
            self.progress_cv.notify_all();
        }
    }

    /// The timeout of an HTTP attempt starting now, when it is shorter than `remote_timeout`
    /// (the agent's own): what is left until the close deadline. `None` while no close is in
    /// progress.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        let deadline = (*lock(&self.close_deadline))?;
        let left = deadline.saturating_duration_since(Instant::now());
        (left < self.config.remote_timeout).then_some(left)
    }

    /// Records that a shard thread has ended.
    fn shard_exited(&self) {
        self.exited.fetch_add(1, Ordering::SeqCst);
        let _guard = lock(&self.progress);
        self.progress_cv.notify_all();
    }

    /// Waits on the progress condition until `done()` or `deadline`; true when done.
    fn wait_until(&self, deadline: Instant, done: impl Fn() -> bool) -> bool {
        self.flush_waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&self.progress);
        let finished = loop {
            if done() {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            guard = self
                .progress_cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        drop(guard);
        self.flush_waiters.fetch_sub(1, Ordering::SeqCst);
        finished
    }
}

/// What happened to a sample offered to an endpoint.
#[derive(Debug)]
pub enum PushOutcome {
    /// Queued for sending.
    Queued,
    /// Accepted but dropped and counted (too old, or queue full under `drop_newest`).
    Dropped,
    /// Not accepted; the error says why.
    Refused(Error),
    /// Not accepted: shard queue `.0` is full and the overflow policy is `block`. The caller
    /// lets go of its locks, waits with [`EndpointQueue::wait_for_room`] and offers the
    /// sample again (or refuses it once `block_timeout` has passed).
    NoRoom(usize),
}

/// One endpoint's queue and shard threads.
pub struct EndpointQueue {
    ctx: Arc<EndpointContext>,
    pool: Arc<ShardPool>,
    auth: EndpointAuth,
    /// The resharding, once started ([`EndpointQueue::start_resharding`]).
    reshard: Mutex<Option<Arc<Reshard>>>,
    /// WAL mode: the way to hand the feeder a new shard set, once it started.
    feeder_link: Mutex<Option<feeder::FeederLink>>,
}

impl EndpointQueue {
    /// Starts `min_shards` shard threads for `config`, the sender's endpoint number `index`,
    /// sending requests of at most `max_request_bytes` uncompressed; with `wal_dir` (WAL
    /// mode) the shards are fed from the durable queue's log there (by a [`feeder`]), and a
    /// fallback to Remote Write 1.0 is remembered there.
    pub fn start(
        config: EndpointConfig,
        logger: Logger,
        index: usize,
        max_request_bytes: usize,
        wal_dir: Option<&std::path::Path>,
    ) -> Result<EndpointQueue> {
        let wal_mode = wal_dir.is_some();
        let remote_name = config.remote_name();
        let shown_url = redact_url(&config.url);
        let describe = format!("remote_name={remote_name} url={shown_url}");
        let protocol = protocol::ProtocolState::new(
            config.protobuf_message,
            wal_dir.map(|dir| {
                protocol::state_file(
                    &dir.join("endpoint-state"),
                    &crate::durable::endpoint_id(&config),
                )
            }),
            &logger,
            &describe,
        );
        let shard_count = config.queue.min_shards;
        let capacity = queue_capacity(&config.queue, shard_count);
        let reshards = config.queue.max_shards > shard_count;
        let update_interval = config.queue.shard_update_interval;
        let credentials = crate::transport::EndpointAuth::new(&config, &logger)?;
        let transports = (0..shard_count)
            .map(|_| Transport::with_auth(&config, &logger, &credentials))
            .collect::<Result<Vec<_>>>()?;
        let ctx = Arc::new(EndpointContext {
            config,
            remote_name,
            shown_url,
            metrics: EndpointMetrics::default(),
            logger,
            cache_bit: endpoint_bit(index),
            max_request_bytes: max_request_bytes.clamp(
                crate::config::MIN_MAX_REQUEST_BYTES,
                crate::config::MAX_MAX_REQUEST_BYTES,
            ),
            wal_mode,
            relabel_invalid_logged: AtomicBool::new(false),
            disabled_histograms_logged: AtomicBool::new(false),
            disabled_exemplars_logged: AtomicBool::new(false),
            partial_write_logged: AtomicBool::new(false),
            nhcb_logged: AtomicBool::new(false),
            metadata_book: metadata_book::MetadataBook::default(),
            protocol,
            reshard: ReshardSignals::new(update_interval),
            progress: Mutex::new(()),
            progress_cv: Condvar::new(),
            flush_waiters: AtomicUsize::new(0),
            exited: AtomicUsize::new(0),
            close_deadline: Mutex::new(None),
        });
        let pool = Arc::new(ShardPool::new(ctx.config.queue.max_shards, reshards));
        let queue = EndpointQueue {
            ctx: ctx.clone(),
            pool: pool.clone(),
            auth: credentials,
            reshard: Mutex::new(None),
            feeder_link: Mutex::new(None),
        };
        let initial: Vec<usize> = (0..shard_count).collect();
        pool.set_current(&initial);
        ctx.metrics
            .shards
            .store(shard_count as u64, Ordering::Relaxed);
        ctx.metrics.set_shards_desired(shard_count as f64);
        for (id, transport) in transports.into_iter().enumerate() {
            let started = pool.spawn(
                id,
                id,
                &ctx,
                transport,
                capacity,
                Some(series_cache::SeriesCache::new()),
            );
            if let Err(error) = started {
                queue.close(Instant::now());
                return Err(error);
            }
        }
        ctx.logger.log(LogLevel::Info, || {
            format!("{}: started {shard_count} shards", ctx.describe())
        });
        Ok(queue)
    }

    /// Offers a sample of the series in `slot` (whose order stripe the caller holds), applying
    /// `sample_age_limit` and the overflow policy. Never waits: under `block` a full queue
    /// gives [`PushOutcome::NoRoom`].
    pub fn push(
        &self,
        slot: &LockedSlot<'_>,
        timestamp: i64,
        value: f64,
        extra: Option<&SampleExtra>,
    ) -> PushOutcome {
        self.push_with(slot, timestamp, value, extra, None)
    }

    /// As [`EndpointQueue::push`], keeping the target shard's queue locked in `held` for the
    /// next sample (a batch append whose samples mostly go to one shard takes the queue lock
    /// once rather than per sample). Lock order is order stripe, then queue: the holder lets go
    /// of `held` before taking another stripe.
    pub fn push_holding<'a>(
        &'a self,
        slot: &LockedSlot<'_>,
        timestamp: i64,
        value: f64,
        extra: Option<&SampleExtra>,
        held: &mut Option<HeldQueue<'a>>,
    ) -> PushOutcome {
        self.push_with(slot, timestamp, value, extra, Some(held))
    }

    /// The push, with or without a held queue lock.
    fn push_with<'a>(
        &'a self,
        slot: &LockedSlot<'_>,
        timestamp: i64,
        value: f64,
        extra: Option<&SampleExtra>,
        held: Option<&mut Option<HeldQueue<'a>>>,
    ) -> PushOutcome {
        let outcome = self.push_inner(slot, timestamp, value, extra, held);
        match &outcome {
            PushOutcome::Queued | PushOutcome::NoRoom(_) => {}
            PushOutcome::Dropped => self.ctx.reshard.note_dropped_at_push(),
            PushOutcome::Refused(error) => {
                if error.kind() == ErrorKind::QueueFull {
                    self.ctx.reshard.note_refused_full();
                }
            }
        }
        outcome
    }

    /// The push itself: what [`EndpointQueue::push_with`] does besides counting the outcome
    /// for the reshard rates.
    #[inline(always)]
    fn push_inner<'a>(
        &'a self,
        slot: &LockedSlot<'_>,
        timestamp: i64,
        value: f64,
        extra: Option<&SampleExtra>,
        mut held: Option<&mut Option<HeldQueue<'a>>>,
    ) -> PushOutcome {
        let series_ref = slot.series_ref();
        let index = self.pool.current_slot(slot.shard_hash());
        let shard = self.pool.slot(index);
        if shard.dead.load(Ordering::Relaxed) || shard.stop.load(Ordering::Relaxed) != RUN {
            return self.refuse_stopped(shard, index);
        }
        let extra = match extra {
            None => None,
            Some(extra) => match self.ctx.admit_extra(extra) {
                Admitted::Plain => None,
                Admitted::Extra(extra) => Some(extra),
                Admitted::Dropped => return PushOutcome::Dropped,
            },
        };
        let kinds = ItemKinds::of(extra.as_deref());
        let age_limit = self.ctx.config.queue.sample_age_limit;
        if !age_limit.is_zero()
            && timestamp < shard::now_ms().saturating_sub(shard::millis(age_limit))
        {
            self.ctx.count_dropped(kinds, DropReason::TooOld, 1);
            return PushOutcome::Dropped;
        }
        let mut announce = slot.announce_for(self.ctx.cache_bit);
        if self.ctx.routes_series() {
            match self.relabel(slot, announce, kinds) {
                Some(relabeled) => announce = relabeled,
                None => return PushOutcome::Dropped,
            }
        }
        let announced = announce.is_some();
        let pushed = match held.as_deref_mut() {
            Some(held) => {
                let current = match &mut *held {
                    Some(current) if current.shard == index => current,
                    other => {
                        // Never hold two queue locks: let go of the old one first.
                        *other = None;
                        other.insert(HeldQueue {
                            shard: index,
                            guard: shard.queue.lock(),
                        })
                    }
                };
                let result = current
                    .guard
                    .try_push_parts(series_ref, announce, timestamp, value, extra);
                if result.is_err() {
                    // Full: let go of the lock before waiting or refusing.
                    *held = None;
                }
                result
            }
            None => shard.queue.try_push(QueuedSample {
                series_ref,
                announce,
                timestamp,
                value,
                extra,
            }),
        };
        let len = match pushed {
            Ok(len) => len,
            Err(PushError::Full) => return self.overflow(shard, index, kinds),
            // The shard thread ended after the check above: decided under the queue lock, so
            // the sample is refused rather than queued where nothing takes it.
            Err(PushError::Closed) => return self.refuse_stopped(shard, index),
        };
        if announced {
            slot.mark_announced(self.ctx.cache_bit);
        }
        // The shard re-checks the length itself before sleeping; this only spares it waiting
        // for `batch_send_deadline` once a full batch is queued. The shard looks at the queue
        // while holding its wake lock, so a held queue lock is released before waking it.
        if len >= shard.batch_threshold.load(Ordering::Relaxed)
            && !shard.wake_pending.load(Ordering::Relaxed)
            && !shard.wake_pending.swap(true, Ordering::SeqCst)
        {
            if let Some(held) = held {
                *held = None;
            }
            shard.wake();
        }
        PushOutcome::Queued
    }

    /// The endpoint's `write_relabel_configs` for a sample of the series in `slot`: the series
    /// to announce (`announce`, relabeled), or `None` when the endpoint drops the series (the
    /// sample counted). Relabels only when the series is to be announced, i.e. once per series.
    fn relabel(
        &self,
        slot: &LockedSlot<'_>,
        announce: Option<Arc<Series>>,
        kinds: ItemKinds,
    ) -> Option<Option<Arc<Series>>> {
        // A series announced to the endpoint was kept by its rules (a dropped one is never
        // announced), so the samples after the first cost no more than without rules.
        let Some(series) = announce else {
            return Some(None);
        };
        let bit = self.ctx.cache_bit;
        if let Some(reason) = slot.relabel_dropped(bit) {
            self.ctx.count_dropped(kinds, reason, 1);
            return None;
        }
        match relabeling::route_series(
            &series,
            self.ctx.config.write_relabel_configs.rules(),
            self.ctx.config.tenant.as_ref(),
        ) {
            Relabeled::Unchanged => Some(Some(series)),
            Relabeled::Changed(relabeled) => Some(Some(relabeled)),
            Relabeled::Dropped(reason, problem) => {
                slot.mark_relabel_dropped(bit, reason);
                self.ctx.count_dropped(kinds, reason, 1);
                if let Some(problem) = problem {
                    self.ctx.log_series_not_sent(&problem);
                }
                None
            }
        }
    }

    /// The refusal for a shard that is dead or stopping (kept out of the push's hot path).
    #[cold]
    fn refuse_stopped(&self, shard: &ShardShared, index: usize) -> PushOutcome {
        PushOutcome::Refused(self.stopped_error(shard, index))
    }

    /// `ShardDead` when the shard's thread panicked, else `Closed`.
    fn stopped_error(&self, shard: &ShardShared, index: usize) -> Error {
        if shard.dead.load(Ordering::SeqCst) {
            return Error::new(
                ErrorKind::ShardDead,
                format!(
                    "{}: shard {index} is dead (its thread panicked)",
                    self.ctx.describe()
                ),
            );
        }
        Error::new(ErrorKind::Closed, "sender is closed")
    }

    /// Applies the overflow policy to a sample that found its shard queue full.
    #[cold]
    fn overflow(&self, shard: &ShardShared, index: usize, kinds: ItemKinds) -> PushOutcome {
        self.ctx.reshard.note_full();
        match self.ctx.config.queue.overflow {
            OverflowPolicy::DropNewest => {
                self.ctx.count_dropped(kinds, DropReason::QueueFull, 1);
                PushOutcome::Dropped
            }
            OverflowPolicy::Fail => {
                PushOutcome::Refused(self.queue_full(index, "overflow policy is fail"))
            }
            OverflowPolicy::Block => {
                self.ctx
                    .metrics
                    .enqueue_retries
                    .fetch_add(1, Ordering::Relaxed);
                if !shard.wake_pending.swap(true, Ordering::SeqCst) {
                    shard.wake();
                }
                PushOutcome::NoRoom(index)
            }
        }
    }

    /// The endpoint's `block_timeout`: how long a sample may wait for room in total.
    pub fn block_timeout(&self) -> Duration {
        self.ctx.config.queue.block_timeout
    }

    /// Waits, holding no lock of the caller's, until shard queue `index` (from
    /// [`PushOutcome::NoRoom`]) has room or `deadline` passes; then the caller offers its
    /// sample again. Also returns when a reshard retired the shard: the sample is offered to
    /// the new set. An error when the shard is stopping (close) or dead, so the sample can
    /// never be queued there.
    pub fn wait_for_room(&self, index: usize, deadline: Instant) -> Result<()> {
        let shard = self.pool.slot(index);
        let give_up =
            || shard.stop.load(Ordering::SeqCst) != RUN || shard.dead.load(Ordering::SeqCst);
        match shard.queue.wait_for_room(deadline, give_up) {
            Ok(()) | Err(WaitEnd::Deadline) => Ok(()),
            Err(WaitEnd::GaveUp) if shard.retired.load(Ordering::SeqCst) => Ok(()),
            Err(WaitEnd::GaveUp) => Err(self.stopped_error(shard, index)),
        }
    }

    /// The refusal of a sample that found shard queue `index` full until `block_timeout`
    /// passed.
    pub fn blocked_too_long(&self, index: usize) -> Error {
        self.ctx.reshard.note_refused_full();
        let timeout = self.ctx.config.queue.block_timeout;
        self.queue_full(
            index,
            &format!("blocked for block_timeout ({timeout:?}) without room"),
        )
    }

    /// The `QueueFull` error for shard `index`.
    fn queue_full(&self, index: usize, why: &str) -> Error {
        Error::new(
            ErrorKind::QueueFull,
            format!(
                "{}: shard {index} queue is full ({} samples): {why}",
                self.ctx.describe(),
                self.pool.slot(index).queue.capacity()
            ),
        )
    }

    /// Tells the shard of the series in `slot` (being released, its order stripe held) that
    /// the series may be purged from its cache once the samples queued so far are resolved.
    /// Nothing to do when no sample of it was queued for this endpoint.
    pub fn note_release(&self, slot: &LockedSlot<'_>) {
        if !slot.was_announced(self.ctx.cache_bit) {
            return;
        }
        let shard = self.pool.slot(self.pool.current_slot(slot.shard_hash()));
        shard
            .releases
            .record(slot.series_ref(), shard.queue.pushed());
        shard.wake();
    }

    /// Records that `series` (the registry's, before relabeling) has `metadata`, for the
    /// endpoint's Remote Write 1.0 metadata requests.
    pub fn note_metadata(&self, series: &Series, metadata: &Arc<Metadata>) {
        self.ctx.metadata_book.note(series, metadata);
    }

    /// Counts a sample this endpoint refused while another endpoint accepted it.
    pub fn count_lost(&self, error: &Error, kinds: ItemKinds) {
        match error.kind() {
            ErrorKind::QueueFull => self.ctx.count_dropped(kinds, DropReason::QueueFull, 1),
            _ => self.ctx.count_failed(kinds, 1),
        }
    }

    /// Sends everything queued so far and waits until it is finished or `deadline` passes.
    pub fn flush(&self, deadline: Instant) -> Result<()> {
        // Every shard object, those of a set being drained by a reshard among them.
        let targets: Vec<u64> = self
            .pool
            .all()
            .map(|shard| {
                let target = shard.queue.pushed();
                shard.flush_target.fetch_max(target, Ordering::SeqCst);
                shard.wake();
                target
            })
            .collect();
        let done = || {
            self.pool
                .all()
                .zip(&targets)
                .all(|(shard, target)| shard.done.load(Ordering::SeqCst) >= *target)
        };
        if self.ctx.wait_until(deadline, done) {
            Ok(())
        } else {
            let pending = self.stats().samples_pending;
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{}: flush timed out with {pending} samples pending",
                    self.ctx.describe()
                ),
            ))
        }
    }

    /// Drains until `deadline`, then stops the shards (abandoning what is left, counted as
    /// failed), interrupts the HTTP attempts in flight and joins every shard thread. Attempts
    /// started during the close are bounded by the deadline as well as by `remote_timeout`.
    /// Returns false on timeout.
    /// A reshard under way goes on: its new shards start once the old ones have drained,
    /// then drain in turn, all under the one deadline.
    pub fn close(&self, deadline: Instant) -> bool {
        {
            let mut close_deadline = lock(&self.ctx.close_deadline);
            if close_deadline.is_none_or(|earlier| deadline < earlier) {
                *close_deadline = Some(deadline);
            }
        }
        let reshard = lock(&self.reshard).clone();
        if let Some(reshard) = &reshard {
            // No switch starts from now on; one that has started has its new set in place.
            reshard.stop();
        }
        for shard in self.pool.all() {
            shard.stop.fetch_max(DRAIN, Ordering::SeqCst);
            shard.wake();
            shard.wake_producers();
        }
        let all_exited = || self.ctx.exited.load(Ordering::SeqCst) >= self.pool.spawned();
        let mut drained = self.ctx.wait_until(deadline, all_exited);
        if !drained {
            // Nothing left to send at the deadline (a zero timeout on an idle sender): the hard
            // stop abandons nothing, so the close still counts as drained.
            drained = self.stats().samples_pending == 0;
            for shard in self.pool.all() {
                shard.stop.store(HARD, Ordering::SeqCst);
                shard.wake();
                shard.wake_producers();
                // An attempt blocked on its socket fails now rather than at remote_timeout.
                shard.interrupt();
            }
        }
        // Every thread is joined, so none runs (or logs) after close returns, and everything
        // the threads held (the log sink among it) is released before. The reshard thread
        // first: it may be joining old shards to hand their caches over.
        if let Some(reshard) = reshard {
            reshard.join();
        }
        self.pool.join_all();
        self.ctx.metrics.shards.store(0, Ordering::Relaxed);
        drained
    }

    /// Starts resharding between `min_shards` and `max_shards` (when they differ). In memory
    /// mode the shard set changes while every stripe of `stripes`, the registry's, is held;
    /// in WAL mode the feeder (started before) takes the new set between two records.
    pub fn start_resharding(&self, stripes: OrderStripes) -> Result<()> {
        let q = &self.ctx.config.queue;
        if q.max_shards <= q.min_shards {
            return Ok(());
        }
        let store = if self.ctx.wal_mode {
            match lock(&self.feeder_link).clone() {
                Some(link) => reshard::SetStore::Feeder(link),
                None => return Ok(()),
            }
        } else {
            reshard::SetStore::Stripes(stripes)
        };
        let reshard = Reshard::new(
            self.ctx.clone(),
            self.pool.clone(),
            self.auth.clone(),
            store,
        );
        reshard.start()?;
        *lock(&self.reshard) = Some(reshard);
        Ok(())
    }

    /// Switches to `shards` shards now, whatever the rates (tests of switches racing
    /// appends, flush, release and close). False when no switch happened (not resharding,
    /// closing, or `shards` out of `min_shards..=max_shards`).
    #[cfg(feature = "test-hooks")]
    pub fn reshard_now(&self, shards: usize) -> bool {
        let q = &self.ctx.config.queue;
        if !(q.min_shards..=q.max_shards).contains(&shards) {
            return false;
        }
        let reshard = lock(&self.reshard).clone();
        reshard.is_some_and(|reshard| reshard.switch(shards))
    }

    /// A snapshot of the endpoint's counters.
    pub fn stats(&self) -> EndpointStats {
        let mut stats = endpoint_stats(
            &self.ctx.remote_name,
            &self.ctx.shown_url,
            &self.ctx.metrics,
        );
        let (enqueued, done) = self.pool.all().fold((0u64, 0u64), |(e, d), s| {
            (e + s.queue.pushed(), d + s.done.load(Ordering::Relaxed))
        });
        stats.samples_pending = enqueued.saturating_sub(done);
        stats.samples_in = enqueued + self.ctx.reshard.not_queued();
        stats.series_cached = self
            .pool
            .all()
            .map(|s| s.cached_series.load(Ordering::Relaxed))
            .sum();
        stats.remote_write_protocol = self.ctx.protocol.current().version();
        stats.highest_enqueued_ms = self
            .pool
            .all()
            .map(|s| s.queue.highest_ms())
            .max()
            .unwrap_or(0);
        stats
    }

    /// The endpoint's part of the text exposition.
    pub fn exposition(&self) -> EndpointExposition<'_> {
        let q = &self.ctx.config.queue;
        EndpointExposition {
            stats: self.stats(),
            settings: EndpointSettings {
                capacity: q.capacity,
                min_shards: q.min_shards,
                max_shards: q.max_shards,
                max_samples_per_send: q.max_samples_per_send,
            },
            live: &self.ctx.metrics,
        }
    }
}

/// A shard queue lock kept by a batch append between consecutive samples of that shard.
pub struct HeldQueue<'a> {
    shard: usize,
    guard: pending::PendingGuard<'a>,
}
