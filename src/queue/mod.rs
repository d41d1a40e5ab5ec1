//! The queue of one endpoint: `min_shards` shard threads, series assigned to shards by a
//! stable hash of their labels, the overflow policy, and flush/close with deadlines.
//!
//! Resharding (up to `max_shards`) will stop old shards by draining them before new ones start,
//! which keeps per-series order; the shard list is therefore built in one place ([`EndpointQueue::start`]).

mod batch;
pub mod series_cache;
mod shard;
mod tally;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use batch::BatchEncoder;
use series_cache::QueuedSample;
pub use series_cache::endpoint_bit;
use shard::{DRAIN, HARD, RUN, ShardShared};
pub use tally::PushTally;
use tally::TALLY_SHARDS;

use crate::config::{EndpointConfig, OverflowPolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::metrics::{
    DropReason, EndpointExposition, EndpointMetrics, EndpointSettings, EndpointStats,
    endpoint_stats,
};
use crate::redact::redact_url;
use crate::series::{SeriesRef, SlotState, lock};
use crate::transport::Transport;

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
    /// This endpoint's bit in [`Series::is_cached_by`].
    pub cache_bit: u64,
    progress: Mutex<()>,
    progress_cv: Condvar,
    flush_waiters: AtomicUsize,
    exited: AtomicUsize,
}

impl EndpointContext {
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
}

/// One endpoint's queue and shard threads.
pub struct EndpointQueue {
    ctx: Arc<EndpointContext>,
    batch_threshold: usize,
    wake_check_interval: u64,
    shards: Vec<Arc<ShardShared>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl EndpointQueue {
    /// Starts `min_shards` shard threads for `config`, the sender's endpoint number `index`.
    pub fn start(config: EndpointConfig, logger: Logger, index: usize) -> Result<EndpointQueue> {
        let remote_name = config.remote_name();
        let shown_url = redact_url(&config.url);
        let shard_count = config.queue.min_shards;
        let capacity = config.queue.capacity;
        let transports = (0..shard_count)
            .map(|_| Transport::new(&config))
            .collect::<Result<Vec<_>>>()?;
        let ctx = Arc::new(EndpointContext {
            config,
            remote_name,
            shown_url,
            metrics: EndpointMetrics::default(),
            logger,
            cache_bit: endpoint_bit(index),
            progress: Mutex::new(()),
            progress_cv: Condvar::new(),
            flush_waiters: AtomicUsize::new(0),
            exited: AtomicUsize::new(0),
        });
        let shards: Vec<Arc<ShardShared>> = (0..shard_count)
            .map(|_| Arc::new(ShardShared::new(capacity)))
            .collect();
        let batch_threshold = ctx.config.queue.max_samples_per_send.min(capacity);
        let queue = EndpointQueue {
            ctx: ctx.clone(),
            batch_threshold,
            // A power of two, so the check on the append path is a mask, not a division.
            wake_check_interval: ((batch_threshold / 8).clamp(1, 64) as u64).next_power_of_two(),
            shards: shards.clone(),
            threads: Mutex::new(Vec::new()),
        };
        for (index, (shard, transport)) in shards.into_iter().zip(transports).enumerate() {
            let thread_ctx = ctx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("promrw-{}-{index}", ctx.remote_name))
                .spawn(move || shard::run(shard, thread_ctx, transport, index));
            match spawned {
                Ok(handle) => {
                    ctx.metrics.shards.fetch_add(1, Ordering::Relaxed);
                    lock(&queue.threads).push(handle);
                }
                Err(e) => {
                    queue.close(Instant::now());
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("cannot start shard thread: {e}"),
                    ));
                }
            }
        }
        ctx.logger.log(LogLevel::Info, || {
            format!("{}: started {shard_count} shards", ctx.describe())
        });
        Ok(queue)
    }

    /// Offers a sample of the series locked in `slot` (ref `series_ref`), applying `sample_age_limit` and the
    /// overflow policy. With a `tally`, the shard's counters are updated in groups (call
    /// [`EndpointQueue::publish`] before returning to the caller); without, at once.
    pub fn push(
        &self,
        series_ref: SeriesRef,
        slot: &mut SlotState,
        timestamp: i64,
        value: f64,
        tally: Option<&mut PushTally>,
    ) -> PushOutcome {
        let q = &self.ctx.config.queue;
        let index = shard_of(slot.shard_hash(), self.shards.len());
        let shard = &self.shards[index];
        if shard.dead.load(Ordering::Relaxed) {
            return PushOutcome::Refused(Error::new(
                ErrorKind::ShardDead,
                format!(
                    "{}: shard {index} is dead (its thread panicked)",
                    self.ctx.describe()
                ),
            ));
        }
        if shard.stop.load(Ordering::Relaxed) != RUN {
            return PushOutcome::Refused(Error::new(ErrorKind::Closed, "sender is closed"));
        }
        if !q.sample_age_limit.is_zero()
            && timestamp < shard::now_ms().saturating_sub(q.sample_age_limit.as_millis() as i64)
        {
            self.ctx.metrics.add_dropped(DropReason::TooOld, 1);
            return PushOutcome::Dropped;
        }
        let sample =
            QueuedSample::from_slot(series_ref, slot, self.ctx.cache_bit, timestamp, value);
        let outcome = match shard.queue.push(sample) {
            Ok(()) => PushOutcome::Queued,
            Err(sample) => match q.overflow {
                OverflowPolicy::DropNewest => {
                    self.ctx.metrics.add_dropped(DropReason::QueueFull, 1);
                    return PushOutcome::Dropped;
                }
                OverflowPolicy::Fail => {
                    return PushOutcome::Refused(self.queue_full(index, "overflow policy is fail"));
                }
                OverflowPolicy::Block => self.push_blocking(shard, index, sample),
            },
        };
        if let PushOutcome::Queued = outcome {
            match tally {
                Some(tally) if index < TALLY_SHARDS => {
                    if tally.count(index, timestamp) >= self.wake_check_interval {
                        let (count, highest) = tally.take(index).unwrap_or((0, timestamp));
                        self.publish_shard(index, count, highest, true);
                    }
                }
                _ => {
                    let enqueued = self.publish_shard(index, 1, timestamp, false);
                    if enqueued & (self.wake_check_interval - 1) == 0 {
                        self.wake_if_batch_ready(index);
                    }
                }
            }
        }
        outcome
    }

    /// Publishes every count held in `tally` (see [`EndpointQueue::push`]).
    pub fn publish(&self, tally: &mut PushTally) {
        for index in tally.shards_with_counts() {
            if let Some((count, highest)) = tally.take(index) {
                self.publish_shard(index, count, highest, true);
            }
        }
    }

    /// Adds `count` pushed samples (the highest at `highest` ms) to shard `index`'s counters,
    /// then, when `check` is set, wakes the shard if a batch is ready. Returns the new count.
    fn publish_shard(&self, index: usize, count: u64, highest: i64, check: bool) -> u64 {
        let shard = &self.shards[index];
        let enqueued = shard.enqueued.fetch_add(count, Ordering::SeqCst) + count;
        if shard.highest_enqueued_ms.load(Ordering::Relaxed) < highest {
            shard
                .highest_enqueued_ms
                .fetch_max(highest, Ordering::Relaxed);
        }
        if check {
            self.wake_if_batch_ready(index);
        }
        enqueued
    }

    /// Wakes shard `index` when a full batch is queued. Looking at the queue length reads the
    /// consumer's cache line, so callers do it only every `wake_check_interval` pushes; the
    /// shard re-checks the length itself before sleeping, so a late hint only delays a full
    /// batch by a few samples.
    fn wake_if_batch_ready(&self, index: usize) {
        let shard = &self.shards[index];
        if shard.queue.len() >= self.batch_threshold
            && !shard.wake_pending.swap(true, Ordering::SeqCst)
        {
            shard.wake();
        }
    }

    /// Waits up to `block_timeout` for room in a full shard queue.
    fn push_blocking(
        &self,
        shard: &ShardShared,
        index: usize,
        mut sample: QueuedSample,
    ) -> PushOutcome {
        let timeout = self.ctx.config.queue.block_timeout;
        let deadline = Instant::now() + timeout;
        self.ctx
            .metrics
            .enqueue_retries
            .fetch_add(1, Ordering::Relaxed);
        shard.waiting_producers.fetch_add(1, Ordering::SeqCst);
        if !shard.wake_pending.swap(true, Ordering::SeqCst) {
            shard.wake();
        }
        let mut guard = lock(&shard.space);
        let outcome = loop {
            match shard.queue.push(sample) {
                Ok(()) => break PushOutcome::Queued,
                Err(back) => sample = back,
            }
            if shard.stop.load(Ordering::SeqCst) != RUN || shard.dead.load(Ordering::SeqCst) {
                break PushOutcome::Refused(Error::new(ErrorKind::Closed, "sender is closed"));
            }
            let now = Instant::now();
            if now >= deadline {
                break PushOutcome::Refused(self.queue_full(
                    index,
                    &format!("blocked for block_timeout ({timeout:?}) without room"),
                ));
            }
            guard = shard
                .space_cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        drop(guard);
        shard.waiting_producers.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    /// The `QueueFull` error for shard `index`.
    fn queue_full(&self, index: usize, why: &str) -> Error {
        Error::new(
            ErrorKind::QueueFull,
            format!(
                "{}: shard {index} queue is full ({} samples): {why}",
                self.ctx.describe(),
                self.ctx.config.queue.capacity
            ),
        )
    }

    /// Counts a sample this endpoint refused while another endpoint accepted it.
    pub fn count_lost(&self, error: &Error) {
        match error.kind() {
            ErrorKind::QueueFull => self.ctx.metrics.add_dropped(DropReason::QueueFull, 1),
            _ => {
                self.ctx
                    .metrics
                    .samples_failed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends everything queued so far and waits until it is finished or `deadline` passes.
    pub fn flush(&self, deadline: Instant) -> Result<()> {
        let targets: Vec<u64> = self
            .shards
            .iter()
            .map(|shard| {
                let target = shard.enqueued.load(Ordering::SeqCst);
                shard.flush_target.fetch_max(target, Ordering::SeqCst);
                shard.wake();
                target
            })
            .collect();
        let done = || {
            self.shards
                .iter()
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
    /// failed) and joins their threads. A thread still inside an HTTP attempt at the deadline
    /// is left to end on its own (within `remote_timeout`). Returns false on timeout.
    pub fn close(&self, deadline: Instant) -> bool {
        for shard in &self.shards {
            shard.stop.fetch_max(DRAIN, Ordering::SeqCst);
            shard.wake();
            shard.wake_producers();
        }
        let all_exited = || self.ctx.exited.load(Ordering::SeqCst) >= lock(&self.threads).len();
        let drained = self.ctx.wait_until(deadline, all_exited);
        if !drained {
            for shard in &self.shards {
                shard.stop.store(HARD, Ordering::SeqCst);
                shard.wake();
                shard.wake_producers();
            }
            self.ctx
                .wait_until(Instant::now() + Duration::from_millis(100), all_exited);
        }
        let mut threads = lock(&self.threads);
        for handle in std::mem::take(&mut *threads) {
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
        drained
    }

    /// A snapshot of the endpoint's counters.
    pub fn stats(&self) -> EndpointStats {
        let mut stats = endpoint_stats(
            &self.ctx.remote_name,
            &self.ctx.shown_url,
            &self.ctx.metrics,
        );
        let (enqueued, done) = self.shards.iter().fold((0u64, 0u64), |(e, d), s| {
            (
                e + s.enqueued.load(Ordering::Relaxed),
                d + s.done.load(Ordering::Relaxed),
            )
        });
        stats.samples_pending = enqueued.saturating_sub(done);
        stats.highest_enqueued_ms = self
            .shards
            .iter()
            .map(|s| s.highest_enqueued_ms.load(Ordering::Relaxed))
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

/// The shard of a series with `shard_hash` among `shards`: the hash scaled to the shard count
/// (a multiply instead of a division on the append path), stable for a given count.
fn shard_of(shard_hash: u64, shards: usize) -> usize {
    ((u128::from(shard_hash) * shards as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn shard_of_spreads_hashes_over_every_shard_and_stays_in_range() {
        for shards in [1usize, 2, 3, 4, 7, 16] {
            let mut seen = vec![0usize; shards];
            for i in 0..10_000u64 {
                let index = shard_of(fxhash::hash64(&i), shards);
                assert!(index < shards);
                seen[index] += 1;
            }
            assert!(
                seen.iter().all(|&n| n > 10_000 / shards / 2),
                "{shards} shards: {seen:?}"
            );
        }
        assert_eq!(shard_of(u64::MAX, 4), 3);
        assert_eq!(shard_of(0, 4), 0);
    }
}
