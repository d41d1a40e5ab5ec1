//! Resharding of one endpoint: every `shard_update_interval` its reshard thread
//! computes the desired shard count from the endpoint's rates ([`super::shard_rate`]) and, when
//! the gate allows, replaces the current shard set with one of the desired size
//! (docs/ARCHITECTURE.md, "Resharding").
//!
//! A switch keeps every series' samples in order: the new set's shards queue but do not send
//! until every shard of the old set has drained and exited; their series caches are then
//! split among the new shards by the same hash pushes use, and the new shards start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::EndpointContext;
use super::series_cache::SeriesCache;
use super::shard::{DRAIN, HARD};
use super::shard_pool::{ShardPool, queue_capacity};
use super::shard_rate::{DesiredInputs, EwmaRate, ReshardGate, desired_shards};
use crate::error::Result;
use crate::log::LogLevel;
use crate::series::{OrderStripes, lock};
use crate::transport::{EndpointAuth, Transport};

use super::feeder::FeederLink;

/// How long a WAL-mode switch waits for the feeder to take the new set (it may be waiting
/// for room in a full queue); the switch is given up after.
const FEEDER_HANDOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// How a new shard set becomes the one pushes go to.
pub enum SetStore {
    /// Memory mode: stored while every order stripe of the registry is held.
    Stripes(OrderStripes),
    /// WAL mode: handed to the feeder, the only pusher, which takes it between two records.
    Feeder(FeederLink),
}

/// What the push path and the shard threads tell the reshard thread.
#[derive(Debug)]
pub struct ReshardSignals {
    /// Prometheus's `shouldReshard` state: last send, recoverable errors.
    pub gate: ReshardGate,
    /// Nanoseconds spent sending batches, retries included.
    send_nanos: AtomicU64,
    /// A sample met a full queue since the last update (blocked, refused or dropped).
    met_full: AtomicBool,
    /// Items dropped before they were queued (relabeling, too old, disabled kinds, full
    /// queue under `drop_newest`).
    dropped_at_push: AtomicU64,
    /// Items refused for a full queue (`fail`, or `block` past `block_timeout`).
    refused_full: AtomicU64,
}

impl ReshardSignals {
    /// Signals for an endpoint updating every `interval`.
    pub fn new(interval: Duration) -> Self {
        ReshardSignals {
            gate: ReshardGate::new(interval),
            send_nanos: AtomicU64::new(0),
            met_full: AtomicBool::new(false),
            dropped_at_push: AtomicU64::new(0),
            refused_full: AtomicU64::new(0),
        }
    }

    /// A batch's sending (begun at `began`, retries included) ended.
    pub fn note_send(&self, began: Instant) {
        let now = Instant::now();
        self.gate.note_send(now);
        let nanos = u64::try_from(now.duration_since(began).as_nanos()).unwrap_or(u64::MAX);
        self.send_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// A sample met a full queue: demand the rates cannot see.
    #[inline]
    pub fn note_full(&self) {
        if !self.met_full.load(Ordering::Relaxed) {
            self.met_full.store(true, Ordering::Relaxed);
        }
    }

    /// An item was dropped before it was queued.
    pub fn note_dropped_at_push(&self) {
        self.dropped_at_push.fetch_add(1, Ordering::Relaxed);
    }

    /// An item was refused for a full queue.
    pub fn note_refused_full(&self) {
        self.refused_full.fetch_add(1, Ordering::Relaxed);
    }

    /// Items dropped or refused before they were queued, so far.
    pub fn not_queued(&self) -> u64 {
        self.dropped_at_push.load(Ordering::Relaxed) + self.refused_full.load(Ordering::Relaxed)
    }
}

/// The endpoint's cumulative counts the rates are computed from.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    /// Items offered: queued, or dropped or refused at the push.
    offered: u64,
    /// Items finished by the shards.
    done: u64,
    /// Items dropped at the push.
    dropped: u64,
    send_nanos: u64,
    pending: u64,
}

impl Totals {
    fn read(ctx: &EndpointContext, pool: &ShardPool) -> Totals {
        let (pushed, done) = pool.all().fold((0u64, 0u64), |(p, d), shard| {
            (
                p + shard.queue.pushed(),
                d + shard.done.load(Ordering::SeqCst),
            )
        });
        let signals = &ctx.reshard;
        Totals {
            offered: pushed + signals.not_queued(),
            done,
            dropped: signals.dropped_at_push.load(Ordering::Relaxed),
            send_nanos: signals.send_nanos.load(Ordering::Relaxed),
            pending: pushed.saturating_sub(done),
        }
    }
}

/// Scales counts taken over `elapsed` to what they would be over one `interval`.
#[derive(Debug, Clone, Copy)]
struct PerInterval {
    factor: f64,
}

impl PerInterval {
    /// The scale from `elapsed` (at least 1 ms) to `interval`.
    fn new(interval: Duration, elapsed: Duration) -> Self {
        let elapsed = elapsed.max(Duration::from_millis(1));
        PerInterval {
            factor: interval.as_secs_f64() / elapsed.as_secs_f64(),
        }
    }

    /// `count` scaled to one interval, rounded.
    fn scale(self, count: u64) -> u64 {
        (count as f64 * self.factor).round() as u64
    }
}

/// Shared by the endpoint, its reshard thread and close.
pub struct Reshard {
    ctx: Arc<EndpointContext>,
    pool: Arc<ShardPool>,
    auth: EndpointAuth,
    /// How the current set changes.
    store: SetStore,
    /// True once close began: no switch starts after. Held through a switch's start.
    closing: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Reshard {
    /// The resharding of the endpoint with `ctx` and `pool`, making transports with `auth`,
    /// changing sets through `store`. Not started.
    pub fn new(
        ctx: Arc<EndpointContext>,
        pool: Arc<ShardPool>,
        auth: EndpointAuth,
        store: SetStore,
    ) -> Arc<Reshard> {
        Arc::new(Reshard {
            ctx,
            pool,
            auth,
            store,
            closing: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        })
    }

    /// Starts the reshard thread.
    pub fn start(self: &Arc<Self>) -> Result<()> {
        let me = self.clone();
        let handle = std::thread::Builder::new()
            .name(format!("promrw-reshard-{}", self.ctx.remote_name))
            .spawn(move || me.run())
            .map_err(|e| {
                crate::error::Error::new(
                    crate::error::ErrorKind::Io,
                    format!("cannot start the reshard thread: {e}"),
                )
            })?;
        *lock(&self.thread) = Some(handle);
        Ok(())
    }

    /// Stops the thread from starting switches; a switch under way goes on (its new shards
    /// start once the old ones have drained). Call before telling the shards to drain, then
    /// [`Reshard::join`] once they have exited or were hard-stopped.
    pub fn stop(&self) {
        let mut closing = lock(&self.closing);
        *closing = true;
        self.wake.notify_all();
    }

    /// Waits for the reshard thread to end (after [`Reshard::stop`]).
    pub fn join(&self) {
        let handle = lock(&self.thread).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// The update loop.
    fn run(self: Arc<Self>) {
        let q = &self.ctx.config.queue;
        let interval = q.shard_update_interval;
        let mut in_rate = EwmaRate::new(interval);
        let mut out_rate = EwmaRate::new(interval);
        let mut dropped_rate = EwmaRate::new(interval);
        let mut duration_rate = EwmaRate::new(interval);
        let mut last = Totals::read(&self.ctx, &self.pool);
        let mut last_read_at = Instant::now();
        let mut next = last_read_at + interval;
        loop {
            {
                let mut closing = lock(&self.closing);
                loop {
                    if *closing {
                        return;
                    }
                    let now = Instant::now();
                    if now >= next {
                        break;
                    }
                    closing = self
                        .wake
                        .wait_timeout(closing, next - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
            let now_totals = Totals::read(&self.ctx, &self.pool);
            let read_at = Instant::now();
            // A tick that comes late (the last switch, which drains the old set, outlasted
            // the interval) skips the ticks it missed, as a Go ticker does, rather than
            // running them back to back over counts of a few milliseconds; and the counts
            // since the last reading are scaled to one interval, so each tick's rate is the
            // rate over the time those counts really took.
            next = (next + interval).max(read_at + interval / 2);
            let per_interval = PerInterval::new(interval, read_at.duration_since(last_read_at));
            last_read_at = read_at;
            let offered = per_interval.scale(now_totals.offered.saturating_sub(last.offered));
            in_rate.add(offered);
            out_rate.add(per_interval.scale(now_totals.done.saturating_sub(last.done)));
            dropped_rate.add(per_interval.scale(now_totals.dropped.saturating_sub(last.dropped)));
            // In seconds, as counts of nanoseconds per second divided below.
            duration_rate
                .add(per_interval.scale(now_totals.send_nanos.saturating_sub(last.send_nanos)));
            last = now_totals;
            for rate in [
                &mut in_rate,
                &mut out_rate,
                &mut dropped_rate,
                &mut duration_rate,
            ] {
                rate.tick();
            }
            let current = self.pool.current_len();
            let out = out_rate.rate();
            let inputs = DesiredInputs {
                in_rate: in_rate.rate(),
                out_rate: out,
                dropped_rate: dropped_rate.rate(),
                out_duration_rate: duration_rate.rate() / 1e9,
                delay_seconds: if out > 0.0 {
                    now_totals.pending as f64 / out
                } else {
                    0.0
                },
                pending: now_totals.pending as f64,
                current,
                min_shards: q.min_shards,
                max_shards: q.max_shards,
                tolerance: q.shard_tolerance,
            };
            let mut desired = desired_shards(&inputs);
            if desired.shards < current {
                // The in rate is an EWMA, dragged down by intervals in which producers were
                // blocked (they offered only what was taken): no downsharding below what the
                // last interval's own rate needs.
                let last_interval = DesiredInputs {
                    in_rate: in_rate.rate().max(offered as f64 / interval.as_secs_f64()),
                    ..inputs
                };
                let needed = desired_shards(&last_interval);
                if needed.shards > desired.shards {
                    desired.shards = needed.shards;
                }
            }

            if self.ctx.reshard.met_full.swap(false, Ordering::Relaxed) {
                // Producers met full queues: what they offered is less than they would have.
                let floor = (current as f64 * 1.5).ceil();
                desired.raw = Some(desired.raw.map_or(floor, |raw| raw.max(floor)));
                desired.shards = desired.shards.max(floor as usize).min(q.max_shards);
            }
            if let Some(raw) = desired.raw {
                self.ctx.metrics.set_shards_desired(raw);
            }
            if self
                .ctx
                .reshard
                .gate
                .should_reshard(Instant::now(), desired.shards, current)
            {
                self.switch(desired.shards);
            }
        }
    }

    /// Stops the threads of a new set that never became current (they hold nothing).
    fn abandon_start(&self, started: &[usize]) {
        for &id in started {
            let shard = self.pool.slot(id);
            shard.stop.store(HARD, Ordering::SeqCst);
            shard.wake();
            self.pool.join(id);
        }
    }

    /// Replaces the current set with one of `shards` shards (see the module doc). Returns
    /// false when nothing changed (closing, or a thread or transport could not be made).
    pub fn switch(&self, shards: usize) -> bool {
        let ctx = &self.ctx;
        let old = {
            let closing = lock(&self.closing);
            if *closing {
                return false;
            }
            let old = self.pool.current_slots();
            let Some(new) = self.pool.free_slots(shards) else {
                return false;
            };
            let capacity = queue_capacity(&ctx.config.queue, shards);
            for (bucket, &id) in new.iter().enumerate() {
                let started = Transport::with_auth(&ctx.config, &ctx.logger, &self.auth).and_then(
                    |transport| self.pool.spawn(id, bucket, ctx, transport, capacity, None),
                );
                if let Err(error) = started {
                    ctx.logger.log(LogLevel::Error, || {
                        format!(
                            "{}: resharding to {shards} shards failed, staying at {}: {error}",
                            ctx.describe(),
                            old.len()
                        )
                    });
                    self.abandon_start(&new[..bucket]);
                    return false;
                }
            }
            match &self.store {
                SetStore::Stripes(stripes) => stripes.with_all_held(|| self.pool.set_current(&new)),
                SetStore::Feeder(link) => {
                    let set = new.iter().map(|&id| self.pool.shared(id)).collect();
                    if !link.hand(set, FEEDER_HANDOVER_TIMEOUT) {
                        ctx.logger.log(LogLevel::Info, || {
                            format!(
                                "{}: resharding to {shards} shards put off: the WAL feeder did not take the new set (stopping, or waiting for room)",
                                ctx.describe()
                            )
                        });
                        self.abandon_start(&new);
                        return false;
                    }
                    self.pool.set_current(&new);
                }
            }
            ctx.metrics.shards.store(shards as u64, Ordering::Relaxed);
            for &id in &old {
                let shard = self.pool.slot(id);
                shard.retired.store(true, Ordering::SeqCst);
                shard.stop.fetch_max(DRAIN, Ordering::SeqCst);
                shard.wake();
                shard.wake_producers();
            }
            (old, new)
        };
        let (old, new) = old;
        let mut caches: Vec<SeriesCache> = (0..new.len()).map(|_| SeriesCache::new()).collect();
        for &id in &old {
            let cache = self.pool.join(id);
            for (slot, generation, series) in cache.into_entries() {
                let bucket = crate::series::bucket_of(series.shard_hash(), new.len());
                caches[bucket].insert(slot, generation, series);
            }
        }
        for (&id, cache) in new.iter().zip(caches) {
            self.pool.slot(id).hand_over(cache);
        }
        ctx.metrics.reshards.fetch_add(1, Ordering::Relaxed);
        ctx.logger.log(LogLevel::Info, || {
            format!(
                "{}: resharded from {} to {} shards",
                ctx.describe(),
                old.len(),
                new.len()
            )
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_a_late_tick_are_scaled_to_one_interval() {
        let interval = Duration::from_secs(1);
        // On time: unchanged.
        assert_eq!(PerInterval::new(interval, interval).scale(20_000), 20_000);
        // Counted over 2.5 s (a switch outlasted the interval): the rate per interval.
        assert_eq!(
            PerInterval::new(interval, Duration::from_millis(2500)).scale(50_000),
            20_000
        );
        // Counted over 5 ms (a tick run right after a late one): scaled up, not a near-zero
        // rate that would drag the EWMA down.
        assert_eq!(
            PerInterval::new(interval, Duration::from_millis(5)).scale(100),
            20_000
        );
        // No time at all is taken as 1 ms, never a division by zero.
        assert_eq!(PerInterval::new(interval, Duration::ZERO).scale(3), 3_000);
    }
}
