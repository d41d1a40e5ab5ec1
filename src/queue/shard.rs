//! One shard: a bounded queue (a `VecDeque` under a mutex) fed by appending threads, and the
//! named OS thread that batches, encodes, sends and retries. A shard has at most one request
//! in flight and never moves past a batch until it is acknowledged, permanently rejected or
//! the sender is hard-stopped, which keeps per-series order across retries. When the thread
//! ends it closes the queue under its lock, so no later push can land where nothing takes it.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_utils::CachePadded;

use super::EndpointContext;
use super::batch::{BatchEncoder, BatchView, EncodedCounts, Split};
use super::kinds::ItemKinds;
use super::metadata_send::MetadataSchedule;
use super::pending::PendingQueue;
use super::series_cache::{BatchSample, QueuedSample, Releases, Resolved, SeriesCache};
use crate::log::LogLevel;
use crate::metrics::AttemptError;
use crate::metrics::ExtraDropReason;
use crate::model::SampleExtra;
use crate::series::lock;
use crate::transport::Written;
use crate::transport::{Backoff, Interrupter, Outcome, Transport};

/// Shard is running normally.
pub const RUN: u8 = 0;
/// Send what is queued, then exit.
pub const DRAIN: u8 = 1;
/// Exit now: abandon retries; what is left is counted as failed (memory mode) or left in the
/// log for the next sender (WAL mode).
pub const HARD: u8 = 2;

/// State shared between appending threads, flush/close callers and the shard thread.
pub struct ShardShared {
    /// Samples waiting to be batched (with the count of samples pushed so far).
    pub queue: PendingQueue,
    /// Samples finished so far (acknowledged, failed or dropped, or abandoned).
    pub done: CachePadded<AtomicU64>,
    /// Of `done`, the samples abandoned by a hard stop or a panic in WAL mode (left in the
    /// log, not counted as failed).
    pub abandoned: AtomicU64,
    /// Send partial batches at once until `done` reaches this.
    pub flush_target: AtomicU64,
    /// `RUN`, `DRAIN` or `HARD`. Read by every push: on its own cache line, away from the
    /// fields the shard thread writes per batch.
    pub stop: CachePadded<AtomicU8>,
    /// The thread panicked; pushes are refused. Read by every push.
    pub dead: CachePadded<AtomicBool>,
    /// A producer already signalled a full batch.
    pub wake_pending: AtomicBool,
    /// Lock paired with `wake_cv`.
    pub wake: Mutex<()>,
    /// Wakes the shard thread (full batch, flush, stop).
    pub wake_cv: Condvar,
    /// Samples taken from the queue and not finished yet (the batch being sent, and a sample
    /// held back for the next batch).
    pub in_flight: AtomicU64,
    /// Released series the shard may have cached, to purge from its cache.
    pub releases: Releases,
    /// Series in the shard's cache (a gauge, set by the shard thread).
    pub cached_series: AtomicU64,
    /// Interrupts the shard's HTTP attempt in flight (close at its deadline); `None` while no
    /// thread runs the shard.
    pub interrupter: Mutex<Option<Interrupter>>,
    /// Queue length at which a producer wakes the shard thread for a full batch.
    pub batch_threshold: AtomicUsize,
    /// The shard left the endpoint's current set (a reshard): it drains and exits, and
    /// producers waiting for room in its queue offer their sample again to the new set.
    pub retired: AtomicBool,
    /// Samples pushed to the queue before it was opened for the current thread: where the
    /// thread's count of samples taken starts (release records use the pushed count).
    pushed_at_open: AtomicU64,
    /// The series cache the thread starts with: handed over from the shards of the set this
    /// one replaces once they have drained. The thread sends nothing before it has it.
    start: Mutex<Option<SeriesCache>>,
}

impl std::fmt::Debug for ShardShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardShared")
            .field("stop", &self.stop.load(Ordering::Relaxed))
            .field("done", &self.done.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ShardShared {
    /// A shard no thread runs: its queue is closed and holds no memory.
    pub fn idle() -> Self {
        ShardShared {
            queue: PendingQueue::closed(),
            done: CachePadded::new(AtomicU64::new(0)),
            abandoned: AtomicU64::new(0),
            flush_target: AtomicU64::new(0),
            stop: CachePadded::new(AtomicU8::new(RUN)),
            dead: CachePadded::new(AtomicBool::new(false)),
            wake_pending: AtomicBool::new(false),
            wake: Mutex::new(()),
            wake_cv: Condvar::new(),
            in_flight: AtomicU64::new(0),
            releases: Releases::default(),
            cached_series: AtomicU64::new(0),
            interrupter: Mutex::new(None),
            batch_threshold: AtomicUsize::new(usize::MAX),
            retired: AtomicBool::new(false),
            pushed_at_open: AtomicU64::new(0),
            start: Mutex::new(None),
        }
    }

    /// Makes an idle shard (whose previous thread, if any, was joined) ready for a new thread:
    /// its queue opened with room for `capacity` samples, full batches of `batch_threshold`,
    /// the thread's transport `interrupter`. The counters (`done`, pushed) go on from where
    /// they were, so sums over shards stay true. The thread waits for its start cache
    /// ([`ShardShared::hand_over`]) before sending.
    pub fn prepare(&self, capacity: usize, batch_threshold: usize, interrupter: Interrupter) {
        self.stop.store(RUN, Ordering::SeqCst);
        self.dead.store(false, Ordering::SeqCst);
        self.retired.store(false, Ordering::SeqCst);
        self.wake_pending.store(false, Ordering::SeqCst);
        self.in_flight.store(0, Ordering::SeqCst);
        self.batch_threshold
            .store(batch_threshold.max(1), Ordering::Relaxed);
        *lock(&self.interrupter) = Some(interrupter);
        *lock(&self.start) = None;
        self.pushed_at_open
            .store(self.queue.pushed(), Ordering::SeqCst);
        self.queue.open(capacity);
    }

    /// Gives the shard thread the cache it starts with, and wakes it.
    pub fn hand_over(&self, cache: SeriesCache) {
        *lock(&self.start) = Some(cache);
        self.wake();
    }

    /// Interrupts the HTTP attempt of the shard's thread, if one runs.
    pub fn interrupt(&self) {
        if let Some(interrupter) = &*lock(&self.interrupter) {
            interrupter.interrupt();
        }
    }

    /// Wakes the shard thread.
    pub fn wake(&self) {
        let _guard = lock(&self.wake);
        self.wake_cv.notify_all();
    }

    /// Wakes producers blocked for room (after items were taken, or on stop).
    pub fn wake_producers(&self) {
        self.queue.wake_waiters();
    }
}

/// `duration` in whole milliseconds, saturating at `i64::MAX` (configured durations can be
/// huge).
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Body of a shard thread: waits for its start cache, runs the send loop, turning a panic into
/// a dead shard whose samples are counted as failed, then reports its exit. Returns the series
/// cache (released series purged), for the shards of a set that replaces this one; empty
/// after a panic or a hard stop before the start.
pub fn run(
    shard: Arc<ShardShared>,
    ctx: Arc<EndpointContext>,
    transport: Transport,
    index: usize,
) -> SeriesCache {
    let result = catch_unwind(AssertUnwindSafe(|| match wait_for_start(&shard) {
        Some(cache) => send_loop(&shard, &ctx, &transport, index, cache),
        None => (0, SeriesCache::new()),
    }));
    shard.cached_series.store(0, Ordering::Relaxed);
    let mut cache = SeriesCache::new();
    if let Ok((held, left)) = result {
        cache = left;
        if held > 0 {
            // A sample held back for the next batch when a hard stop came.
            shard.in_flight.store(0, Ordering::SeqCst);
            abandon(&shard, &ctx, held);
        }
    } else {
        shard.dead.store(true, Ordering::SeqCst);
        ctx.metrics.shards_dead.fetch_add(1, Ordering::Relaxed);
        let lost = shard.in_flight.swap(0, Ordering::SeqCst);
        abandon(&shard, &ctx, lost);
        ctx.logger.log(LogLevel::Error, || {
            format!(
                "{}: shard {index} panicked; its samples are {}",
                ctx.describe(),
                if ctx.wal_mode {
                    "left in the WAL for the next sender"
                } else {
                    "counted as failed"
                }
            )
        });
    }
    let leftover = drain_as_failed(&shard, &ctx);
    if leftover > 0 {
        ctx.logger.log(LogLevel::Warn, || {
            format!(
                "{}: failed to flush {leftover} samples on shutdown",
                ctx.describe()
            )
        });
    }
    *lock(&shard.interrupter) = None;
    ctx.shard_exited();
    cache
}

/// Waits for the cache the shard starts with ([`ShardShared::hand_over`]); `None` when a hard
/// stop comes first.
fn wait_for_start(shard: &ShardShared) -> Option<SeriesCache> {
    let mut guard = lock(&shard.wake);
    loop {
        if let Some(cache) = lock(&shard.start).take() {
            return Some(cache);
        }
        if shard.stop.load(Ordering::SeqCst) == HARD {
            return None;
        }
        guard = shard
            .wake_cv
            .wait_timeout(guard, Duration::from_millis(100))
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// Closes the queue (later pushes are refused, under the queue lock) and abandons every
/// sample still queued; returns how many.
fn drain_as_failed(shard: &ShardShared, ctx: &EndpointContext) -> u64 {
    let n = shard.queue.close() as u64;
    if n > 0 {
        abandon(shard, ctx, n);
    }
    shard.wake_producers();
    n
}

/// Finishes `n` samples that will not be sent in this session (a hard stop, a panic): in
/// memory mode they are counted as failed; in WAL mode they stay in the log for the next
/// sender and are counted in `abandoned` only, so the cursor stays before them. Abandoned
/// samples always come after every sample really finished (nothing is sent once a hard stop
/// or a panic has come), so `done - abandoned` counts the finished prefix of the queue.
fn abandon(shard: &ShardShared, ctx: &EndpointContext, n: u64) {
    if ctx.wal_mode {
        shard.abandoned.fetch_add(n, Ordering::SeqCst);
    } else {
        ctx.metrics.samples_failed.fetch_add(n, Ordering::Relaxed);
    }
    finish(shard, ctx, n);
}

/// Marks `n` samples finished and wakes flush waiters.
fn finish(shard: &ShardShared, ctx: &EndpointContext, n: u64) {
    if n == 0 {
        return;
    }
    shard.done.fetch_add(n, Ordering::SeqCst);
    ctx.notify_progress();
}

/// What the shard should do next.
enum Next {
    /// Take a batch and send it.
    Send,
    /// Purge released series from the cache (nothing to send yet).
    Purge,
    /// Send the endpoint's metadata (Remote Write 1.0, shard 0).
    Metadata,
    /// Leave the loop.
    Exit,
}

/// The batching and sending loop, starting from `cache`. Returns how many samples it still
/// held when it stopped, and the cache.
fn send_loop(
    shard: &ShardShared,
    ctx: &EndpointContext,
    transport: &Transport,
    index: usize,
    mut cache: SeriesCache,
) -> (u64, SeriesCache) {
    let mut metadata = MetadataSchedule::new(ctx, index);
    let queue_config = &ctx.config.queue;
    let max = queue_config.max_samples_per_send;
    let threshold = shard.batch_threshold.load(Ordering::Relaxed);
    let mut batch: Vec<BatchSample> = Vec::with_capacity(max);
    // The extra parts of the batch's items (histograms, exemplars, start timestamps).
    let mut extras: Vec<Box<SampleExtra>> = Vec::new();
    // Taken from the queue, not yet in a batch: the rest of a take that ended at a sample
    // replacing a series of the batch (see `Resolved::NextBatch`).
    let mut backlog: VecDeque<QueuedSample> = VecDeque::with_capacity(max);
    let mut encoder = BatchEncoder::default();
    let mut timer_start = Instant::now();
    // Samples taken from the queue so far (counted as the queue counts pushes); less the
    // backlog, those resolved.
    let mut taken = shard.pushed_at_open.load(Ordering::SeqCst);
    loop {
        let resolved = taken - backlog.len() as u64;
        match wait_for_batch(
            shard,
            ctx,
            threshold,
            backlog.len(),
            resolved,
            metadata.due(ctx),
            &mut timer_start,
        ) {
            Next::Exit => {
                // Drained (or stopped): every release recorded here is due, for a cache that
                // may be handed over to a new set.
                cache.purge(&shard.releases, u64::MAX);
                return (backlog.len() as u64, cache);
            }
            Next::Metadata => {
                metadata.send(ctx, transport);
                continue;
            }
            Next::Purge => {
                cache.purge(&shard.releases, resolved);
                shard
                    .cached_series
                    .store(cache.len() as u64, Ordering::Relaxed);
                continue;
            }
            Next::Send => {}
        }
        if backlog.len() < max {
            taken += shard.queue.take(max - backlog.len(), &mut backlog) as u64;
        }
        cache.start_batch();
        let mut unknown = 0u64;
        while let Some(mut sample) = backlog.pop_front() {
            let extra = sample.extra.take();
            match cache.resolve(sample) {
                Resolved::Ready(mut sample) => {
                    if let Some(extra) = extra {
                        sample.extra = extras.len() as u32;
                        extras.push(extra);
                    }
                    batch.push(sample);
                }
                Resolved::NextBatch(mut sample) => {
                    sample.extra = extra;
                    backlog.push_front(sample);
                    break;
                }
                Resolved::Unknown(series_ref) => {
                    unknown += 1;
                    ctx.logger.log(LogLevel::Error, || {
                        format!(
                            "{}: internal error: series ref {} is not in the shard's cache; sample counted as failed",
                            ctx.describe(),
                            series_ref.0
                        )
                    });
                }
            }
        }
        if unknown > 0 {
            ctx.metrics
                .samples_failed
                .fetch_add(unknown, Ordering::Relaxed);
        }
        shard
            .cached_series
            .store(cache.len() as u64, Ordering::Relaxed);
        if batch.is_empty() {
            finish(shard, ctx, unknown);
            continue;
        }
        shard
            .in_flight
            .store((batch.len() + backlog.len()) as u64, Ordering::SeqCst);
        let mut settlement = Settlement::default();
        let view = BatchView {
            cache: &cache,
            extras: &extras,
            max_metadata_text: ctx.metadata_book.max_text_len(),
            metadata_set: ctx.metadata_book.ever_noted(),
            release_in_batch: shard.releases.ready(taken - backlog.len() as u64),
        };
        if ctx.config.tenant.is_some() {
            send_by_tenant(
                shard,
                ctx,
                transport,
                &mut encoder,
                &view,
                &mut batch,
                &mut settlement,
            );
        } else {
            send_fitted(
                shard,
                ctx,
                transport,
                &mut encoder,
                &view,
                &mut batch,
                None,
                &mut settlement,
            );
        }
        extras.clear();
        // After the batch: samples finish in queue order, which the WAL's cursor counts on.
        settlement.finished += unknown;
        settle(shard, ctx, settlement);
        shard
            .in_flight
            .store(backlog.len() as u64, Ordering::SeqCst);
        timer_start = Instant::now();
    }
}

/// Waits until a batch should be sent (full, deadline passed, flush or drain requested),
/// released series can be purged (`resolved` samples resolved so far), metadata is due
/// (`metadata_due`), or the shard should exit.
fn wait_for_batch(
    shard: &ShardShared,
    ctx: &EndpointContext,
    threshold: usize,
    held: usize,
    resolved: u64,
    metadata_due: Option<Instant>,
    timer_start: &mut Instant,
) -> Next {
    let deadline = ctx.config.queue.batch_send_deadline;
    let mut guard = lock(&shard.wake);
    loop {
        // Cleared under the lock, before looking at the queue: a producer that fills a batch
        // after this point sets it again and notifies, so no wake-up is lost.
        shard.wake_pending.store(false, Ordering::SeqCst);
        let stop = shard.stop.load(Ordering::SeqCst);
        if stop == HARD {
            return Next::Exit;
        }
        if shard.releases.ready(resolved) {
            return Next::Purge;
        }
        if stop == RUN
            && let Some(due) = metadata_due
            && Instant::now() >= due
        {
            return Next::Metadata;
        }
        let len = shard.queue.len() + held;
        if len == 0 {
            if stop == DRAIN {
                return Next::Exit;
            }
            *timer_start = Instant::now();
        } else {
            let flushing =
                shard.done.load(Ordering::SeqCst) < shard.flush_target.load(Ordering::SeqCst);
            if len >= threshold || stop == DRAIN || flushing || timer_start.elapsed() >= deadline {
                return Next::Send;
            }
        }
        let mut wait = deadline.saturating_sub(timer_start.elapsed());
        if let Some(due) = metadata_due {
            wait = wait.min(due.saturating_duration_since(Instant::now()));
        }
        let wait = wait.max(Duration::from_millis(1));
        guard = shard
            .wake_cv
            .wait_timeout(guard, wait)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// Sends a batch split to fit `promrw.max_request_bytes`: the samples too large to send are
/// counted as failed (and `too_large`) and logged, then each part is sent in order as a batch
/// of its own (retried on its own), one request in flight; after a hard stop the parts not
/// started are counted as failed.
#[cold]
#[allow(clippy::too_many_arguments)]
fn send_parts(
    shard: &ShardShared,
    ctx: &EndpointContext,
    transport: &Transport,
    encoder: &mut BatchEncoder,
    view: &BatchView<'_>,
    split: Split,
    tenant: Option<&str>,
    settlement: &mut Settlement,
) {
    let too_large = split.too_large.len() as u64;
    if too_large > 0 {
        let first = view.cache.series(split.too_large[0].slot);
        let message = format!(
            "{too_large} samples not sent: each alone, with the labels of its series, exceeds promrw.max_request_bytes ({} bytes); first series {} ({} bytes of labels)",
            ctx.max_request_bytes,
            shorten(&first.describe(), 200),
            first.encoded_labels().len()
        );
        ctx.metrics
            .samples_too_large
            .fetch_add(too_large, Ordering::Relaxed);
        for sample in &split.too_large {
            ctx.count_failed(ItemKinds::of(view.extra(sample)), 1);
        }
        ctx.logger
            .log(LogLevel::Error, || format!("{}: {message}", ctx.describe()));
        ctx.metrics.record_error(AttemptError {
            status: None,
            message,
            unix_ms: now_ms(),
        });
        shard.in_flight.fetch_sub(too_large, Ordering::SeqCst);
    }
    let parts = split.parts.len();
    ctx.logger.log(LogLevel::Debug, || {
        format!(
            "{}: batch split into {parts} requests to fit promrw.max_request_bytes ({} bytes)",
            ctx.describe(),
            ctx.max_request_bytes
        )
    });
    settlement.finished += too_large;
    for mut part in split.parts {
        if abandoned_by_hard_stop(shard, &part, settlement) {
            continue;
        }
        let n = part.len() as u64;
        let aged = send_batch(
            shard, ctx, transport, encoder, view, &mut part, tenant, settlement,
        );
        shard.in_flight.fetch_sub(n - aged, Ordering::SeqCst);
    }
}

/// How a batch's samples ended, settled once the whole batch is (samples finish in queue
/// order, which the WAL's cursor counts on, while the parts of a split batch hold samples
/// from all over it).
#[derive(Debug, Default)]
struct Settlement {
    /// Acknowledged, rejected, failed or dropped.
    finished: u64,
    /// Not sent because of a hard stop.
    abandoned: u64,
}

/// After a hard stop, a part of a batch not started yet is abandoned (taken off `in_flight`,
/// settled as abandoned); true when it was.
fn abandoned_by_hard_stop(
    shard: &ShardShared,
    part: &[BatchSample],
    settlement: &mut Settlement,
) -> bool {
    if shard.stop.load(Ordering::SeqCst) != HARD {
        return false;
    }
    let n = part.len() as u64;
    shard.in_flight.fetch_sub(n, Ordering::SeqCst);
    settlement.abandoned += n;
    true
}

/// Finishes a batch. In memory mode its abandoned samples are counted as failed. In WAL mode,
/// when any was abandoned, the whole batch is (it stays in the log for the next sender, which
/// sends its delivered samples again, as exact duplicates after the cursor): its parts hold
/// samples from all over the batch, so only the batch as a whole keeps `done - abandoned`
/// the count of a finished prefix of the queue.
fn settle(shard: &ShardShared, ctx: &EndpointContext, settlement: Settlement) {
    let Settlement {
        finished,
        abandoned,
    } = settlement;
    if abandoned == 0 {
        finish(shard, ctx, finished);
    } else if ctx.wal_mode {
        shard
            .abandoned
            .fetch_add(finished + abandoned, Ordering::SeqCst);
        finish(shard, ctx, finished + abandoned);
    } else {
        finish(shard, ctx, finished);
        abandon(shard, ctx, abandoned);
    }
}

/// Sends a batch (or the part of one for a tenant) in one request, or in several when it does
/// not fit `promrw.max_request_bytes`.
#[allow(clippy::too_many_arguments)]
fn send_fitted(
    shard: &ShardShared,
    ctx: &EndpointContext,
    transport: &Transport,
    encoder: &mut BatchEncoder,
    view: &BatchView<'_>,
    batch: &mut Vec<BatchSample>,
    tenant: Option<&str>,
    settlement: &mut Settlement,
) {
    match encoder.split(batch, view, ctx.protocol.current(), ctx.max_request_bytes) {
        None => {
            let n = batch.len() as u64;
            let aged = send_batch(
                shard, ctx, transport, encoder, view, batch, tenant, settlement,
            );
            shard.in_flight.fetch_sub(n - aged, Ordering::SeqCst);
        }
        Some(split) => send_parts(
            shard, ctx, transport, encoder, view, split, tenant, settlement,
        ),
    }
}

/// With `tenant` routing: sends a batch as one request per tenant, in the order the tenants
/// first appear in it, each tenant's samples in queue order (so every series' samples stay in
/// order). One request is in flight per shard, so a tenant whose requests are retried (a 429,
/// a 5xx) holds up the other tenants of its shard's batch until it succeeds, is rejected or
/// ages out; the other shards go on.
fn send_by_tenant(
    shard: &ShardShared,
    ctx: &EndpointContext,
    transport: &Transport,
    encoder: &mut BatchEncoder,
    view: &BatchView<'_>,
    batch: &mut Vec<BatchSample>,
    settlement: &mut Settlement,
) {
    let mut parts: Vec<(Arc<str>, Vec<BatchSample>)> = Vec::new();
    for sample in batch.drain(..) {
        // Every series of a routing endpoint has its tenant (series without one are dropped
        // before they are queued).
        let tenant = view
            .cache
            .series(sample.slot)
            .tenant()
            .cloned()
            .unwrap_or_else(|| Arc::from(""));
        match parts.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, part)) => part.push(sample),
            None => parts.push((tenant, vec![sample])),
        }
    }
    for (tenant, mut part) in parts {
        if abandoned_by_hard_stop(shard, &part, settlement) {
            continue;
        }
        send_fitted(
            shard,
            ctx,
            transport,
            encoder,
            view,
            &mut part,
            Some(&tenant),
            settlement,
        );
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), with `...` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Sends one batch until it is acknowledged, rejected, aged out or abandoned on hard stop.
/// Returns how many of its samples were dropped as too old (already taken off `in_flight`).
///
/// A 2.0 request that meets a 1.0-only receiver (a 415, or a 2xx without the Written
/// headers) switches the endpoint to 1.0 for good and the same batch is encoded as 1.0 and
/// sent at once: the 1.0 receiver wrote nothing of the 2.0 body (its fields are unknown to
/// 1.0), so nothing is lost or duplicated.
#[allow(clippy::too_many_arguments)]
fn send_batch(
    shard: &ShardShared,
    ctx: &EndpointContext,
    transport: &Transport,
    encoder: &mut BatchEncoder,
    view: &BatchView<'_>,
    batch: &mut Vec<BatchSample>,
    tenant: Option<&str>,
    settlement: &mut Settlement,
) -> u64 {
    let q = &ctx.config.queue;
    let metrics = &ctx.metrics;
    let began = Instant::now();
    let mut aged = 0u64;
    // Given up by a hard stop while failing.
    let mut abandoned = false;
    let mut backoff = Backoff::new(q.min_backoff, q.max_backoff);
    let mut attempt: u32 = 0;
    // The protocol of the body the encoder holds for this batch.
    let mut encoded: Option<crate::config::ProtobufMessage> = None;
    // Histograms with custom buckets (and their exemplars) a 1.0 body left out, counted once
    // the batch is done.
    let mut nhcb_skipped = (0u64, 0u64);
    let highest = batch.iter().map(|s| s.timestamp).max().unwrap_or(0);
    loop {
        if !q.sample_age_limit.is_zero() {
            let cutoff = now_ms().saturating_sub(millis(q.sample_age_limit));
            let before = batch.len();
            batch.retain(|s| {
                let keep = s.timestamp >= cutoff;
                if !keep {
                    ctx.count_dropped(
                        ItemKinds::of(view.extra(s)),
                        crate::metrics::DropReason::TooOld,
                        1,
                    );
                }
                keep
            });
            let dropped = (before - batch.len()) as u64;
            if dropped > 0 {
                shard.in_flight.fetch_sub(dropped, Ordering::SeqCst);
                // Finished with the rest of the batch, below: samples finish in queue order,
                // which the WAL's cursor counts on.
                aged += dropped;
                encoded = None;
                ctx.logger.log(LogLevel::Warn, || {
                    format!(
                        "{}: dropped {dropped} samples older than sample_age_limit",
                        ctx.describe()
                    )
                });
            }
        }
        let n = batch.len() as u64;
        if n == 0 {
            break;
        }
        let protocol = ctx.protocol.current();
        if encoded != Some(protocol) {
            encoded = Some(protocol);
            encoder.encode(batch, view, protocol);
        }
        let counts = encoder.counts();
        let body = encoder.last_body();
        let started = Instant::now();
        let outcome = transport.send_for(body, protocol, attempt, ctx.attempt_timeout(), tenant);
        let took = started.elapsed();
        metrics.observe_batch_duration(took);
        add_counts(metrics, &counts, Counter::Total);
        ctx.logger.log(LogLevel::Debug, || {
            format!(
                "{}: request of {n} samples, {} bytes{}: {} in {took:?}",
                ctx.describe(),
                body.len(),
                if attempt > 0 {
                    format!(" (retry {attempt})")
                } else {
                    String::new()
                },
                outcome.summary()
            )
        });
        if protocol == crate::config::ProtobufMessage::V2
            && let Some(why) = speaks_only_v1(&outcome)
        {
            // Sent again at once as 1.0, without a backoff: counted as retried.
            add_counts(metrics, &counts, Counter::Retried);
            ctx.protocol.fall_back(&ctx.logger, &ctx.describe(), &why);
            continue;
        }
        match outcome {
            Outcome::Success(written) => {
                let lost = if protocol == crate::config::ProtobufMessage::V2 {
                    not_written(&counts, &written)
                } else {
                    EncodedCounts::default()
                };
                let acked = EncodedCounts {
                    samples: counts.samples - lost.samples,
                    histograms: counts.histograms - lost.histograms,
                    exemplars: counts.exemplars - lost.exemplars,
                    ..EncodedCounts::default()
                };
                add_counts(metrics, &acked, Counter::Acked);
                if lost != EncodedCounts::default() {
                    add_counts(metrics, &lost, Counter::Failed);
                    ctx.log_partial_write(&counts, &lost);
                }
                metrics
                    .highest_sent_ms
                    .fetch_max(highest, Ordering::Relaxed);
                metrics
                    .bytes_total
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                metrics.batches_acked.fetch_add(1, Ordering::Relaxed);
                nhcb_skipped = (counts.nhcb_skipped, counts.nhcb_exemplars_skipped);
                break;
            }
            Outcome::Permanent { reason, status } => {
                add_counts(metrics, &counts, Counter::Failed);
                nhcb_skipped = (counts.nhcb_skipped, counts.nhcb_exemplars_skipped);
                // As Prometheus's bytes_total: the batch's bytes once its sending ended,
                // acknowledged or not (a hard stop abandoning it counts none).
                metrics
                    .bytes_total
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                ctx.logger.log(LogLevel::Error, || {
                    rejection_message(ctx, view.cache, batch, status, &reason)
                });
                metrics.record_error(AttemptError {
                    status: Some(status),
                    message: reason,
                    unix_ms: now_ms(),
                });
                break;
            }
            Outcome::Recoverable {
                reason,
                status,
                retry_after,
            } => {
                metrics.record_error(AttemptError {
                    status,
                    message: reason.clone(),
                    unix_ms: now_ms(),
                });
                if shard.stop.load(Ordering::SeqCst) == HARD {
                    abandoned = true;
                    break;
                }
                let delay = backoff.next_delay(retry_after);
                ctx.reshard
                    .gate
                    .note_recoverable_error(Instant::now(), delay);
                // Producers blocked for room use whatever room there is while this batch waits.
                shard.wake_producers();
                add_counts(metrics, &counts, Counter::Retried);
                ctx.logger.log(LogLevel::Warn, || {
                    format!(
                        "{}: failed to send batch of {n} samples, retrying in {delay:?}: {reason}",
                        ctx.describe()
                    )
                });
                if !sleep_unless_hard_stop(shard, delay) {
                    abandoned = true;
                    break;
                }
                attempt = attempt.saturating_add(1);
            }
        }
    }
    if nhcb_skipped.0 > 0 {
        ctx.metrics
            .histograms
            .add_dropped(ExtraDropReason::NhcbInRw1NotSupported, nhcb_skipped.0);
        ctx.metrics
            .exemplars
            .add_dropped(ExtraDropReason::NhcbInRw1NotSupported, nhcb_skipped.1);
        ctx.log_nhcb_skipped(nhcb_skipped.0);
    }

    ctx.reshard.note_send(began);
    let n = batch.len() as u64;
    batch.clear();
    settlement.finished += aged;
    if abandoned {
        settlement.abandoned += n;
    } else {
        settlement.finished += n;
    }
    aged
}

/// Which counters [`add_counts`] adds to.
#[derive(Debug, Clone, Copy)]
enum Counter {
    Total,
    Acked,
    Failed,
    Retried,
}

/// Adds a body's counts to the endpoint's counters of each kind.
fn add_counts(metrics: &crate::metrics::EndpointMetrics, counts: &EncodedCounts, counter: Counter) {
    let (samples, histograms, exemplars) = match counter {
        Counter::Total => (
            &metrics.samples_total,
            &metrics.histograms.total,
            &metrics.exemplars.total,
        ),
        Counter::Acked => (
            &metrics.samples_acked,
            &metrics.histograms.acked,
            &metrics.exemplars.acked,
        ),
        Counter::Failed => (
            &metrics.samples_failed,
            &metrics.histograms.failed,
            &metrics.exemplars.failed,
        ),
        Counter::Retried => (
            &metrics.samples_retried,
            &metrics.histograms.retried,
            &metrics.exemplars.retried,
        ),
    };
    for (counter, n) in [
        (samples, counts.samples),
        (histograms, counts.histograms),
        (exemplars, counts.exemplars),
    ] {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Why the answer to a 2.0 request shows a receiver that speaks only 1.0: a 415, or a 2xx
/// without any of the Written headers (a 1.0 receiver that ignored the Content-Type and
/// decoded an empty request); `None` otherwise.
fn speaks_only_v1(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Permanent { status: 415, reason } => Some(reason.clone()),
        Outcome::Success(written) if written.is_absent() => Some(
            "it answered a 2.0 request with a 2xx without the X-Prometheus-Remote-Write-*-Written headers".to_string(),
        ),
        _ => None,
    }
}

/// What a 2xx to a 2.0 request says was not written: each kind sent less the receiver's
/// Written count (a missing header counts as 0 once any came back).
fn not_written(sent: &EncodedCounts, written: &Written) -> EncodedCounts {
    let lost = |sent: u64, written: Option<u64>| sent.saturating_sub(written.unwrap_or(0));
    EncodedCounts {
        samples: lost(sent.samples, written.samples),
        histograms: lost(sent.histograms, written.histograms),
        exemplars: lost(sent.exemplars, written.exemplars),
        ..EncodedCounts::default()
    }
}

/// The log line for a batch the receiver rejected for good: what its body says and, where the
/// body names a series (`{...}` or `name{...}`, as Prometheus and VictoriaMetrics write them),
/// that series; otherwise the first series of the batch, for context.
#[cold]
fn rejection_message(
    ctx: &EndpointContext,
    cache: &SeriesCache,
    batch: &[BatchSample],
    status: u16,
    reason: &str,
) -> String {
    let n = batch.len();
    let mut slots: Vec<u32> = batch.iter().map(|s| s.slot).collect();
    slots.sort_unstable();
    slots.dedup();
    let named = match named_series(reason) {
        Some(named) => format!("; the receiver names series {named}"),
        None => match batch.first() {
            Some(first) => format!(
                "; the receiver names no series, the batch's first is {}",
                cache.series(first.slot).describe()
            ),
            None => String::new(),
        },
    };
    format!(
        "{}: receiver rejected a batch of {n} samples of {} series with HTTP {status} (not retried, counted as failed): {reason}{named}",
        ctx.describe(),
        slots.len()
    )
}

/// The series a receiver's error text names: the first `{...}` group holding a `=`, with the
/// metric name written just before it, if any (`up{job="a"}`, `{__name__="up", job="a"}`).
pub fn named_series(text: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| from + i) {
        let close = open + text[open..].find('}')?;
        if text[open..close].contains('=') {
            let start = text[..open]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(0, |i| i + 1);
            return Some(&text[start..=close]);
        }
        from = close;
    }
    None
}

/// Sleeps for `delay`; returns false early when a hard stop is requested.
fn sleep_unless_hard_stop(shard: &ShardShared, delay: Duration) -> bool {
    let until = crate::deadline_after(delay);
    let mut guard = lock(&shard.wake);
    loop {
        if shard.stop.load(Ordering::SeqCst) == HARD {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        guard = shard
            .wake_cv
            .wait_timeout(guard, until - now)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}
