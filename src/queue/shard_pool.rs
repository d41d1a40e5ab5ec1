//! The shard objects of one endpoint and which of them form its current set.
//!
//! Shard objects ([`ShardShared`]) live as long as the endpoint and are reused from set to set,
//! so a producer can keep a queue lock borrowed from the endpoint across samples. There are
//! room for two sets of `max_shards`: the set being drained by a reshard and the one replacing
//! it. Their counters (samples pushed, samples done) are never reset, so the sums over every
//! object give the endpoint's pending count and flush targets whatever sets came and went.
//!
//! The current set is a list of object indexes read by every push. It is changed only while
//! every order stripe of the registry is held (memory mode) or by the only pusher (WAL mode);
//! a push holds its series' stripe while it reads the set and queues, so the stripe's lock
//! orders the read after the change. The atomics are for the compiler's sake: plain loads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::EndpointContext;
use super::series_cache::SeriesCache;
use super::shard::{self, ShardShared};
use crate::config::QueueConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::series::{bucket_of, lock};
use crate::transport::Transport;

/// Every shard object of an endpoint, and the current set.
pub struct ShardPool {
    slots: Box<[Arc<ShardShared>]>,
    current_len: AtomicUsize,
    current: Box<[AtomicUsize]>,
    /// The thread running each object, until joined.
    threads: Mutex<Vec<Option<JoinHandle<SeriesCache>>>>,
    /// Shard threads started so far (the endpoint counts those that ended).
    spawned: AtomicUsize,
}

impl ShardPool {
    /// Objects for sets of up to `max_shards` shards, two sets side by side when `reshards`.
    pub fn new(max_shards: usize, reshards: bool) -> Self {
        let max_shards = max_shards.max(1);
        let count = if reshards { 2 * max_shards } else { max_shards };
        ShardPool {
            slots: (0..count).map(|_| Arc::new(ShardShared::idle())).collect(),
            current_len: AtomicUsize::new(0),
            current: (0..max_shards).map(|_| AtomicUsize::new(0)).collect(),
            threads: Mutex::new((0..count).map(|_| None).collect()),
            spawned: AtomicUsize::new(0),
        }
    }

    /// Shard object `id`.
    pub fn slot(&self, id: usize) -> &ShardShared {
        &self.slots[id]
    }

    /// Shard object `id`, shared (for the WAL feeder).
    pub fn shared(&self, id: usize) -> Arc<ShardShared> {
        self.slots[id].clone()
    }

    /// Every shard object, running or not.
    pub fn all(&self) -> impl Iterator<Item = &ShardShared> {
        self.slots.iter().map(|slot| &**slot)
    }

    /// The object of the current set's shard for a series' shard hash. The caller holds the
    /// series' order stripe (memory mode) or is the only pusher (WAL mode).
    #[inline]
    pub fn current_slot(&self, shard_hash: u64) -> usize {
        let len = self.current_len.load(Ordering::Relaxed);
        self.current[bucket_of(shard_hash, len)].load(Ordering::Relaxed)
    }

    /// The current set's objects, in bucket order.
    pub fn current_slots(&self) -> Vec<usize> {
        let len = self.current_len.load(Ordering::Relaxed);
        self.current[..len]
            .iter()
            .map(|id| id.load(Ordering::Relaxed))
            .collect()
    }

    /// The current set's shard objects, in bucket order.
    pub fn current_shards(&self) -> Vec<Arc<ShardShared>> {
        self.current_slots()
            .into_iter()
            .map(|id| self.slots[id].clone())
            .collect()
    }

    /// Shards in the current set.
    pub fn current_len(&self) -> usize {
        self.current_len.load(Ordering::Relaxed)
    }

    /// Makes `ids` the current set. Call with every order stripe held (memory mode) or as the
    /// only pusher (WAL mode).
    pub fn set_current(&self, ids: &[usize]) {
        for (place, &id) in self.current.iter().zip(ids) {
            place.store(id, Ordering::Relaxed);
        }
        self.current_len.store(ids.len(), Ordering::Relaxed);
    }

    /// `n` objects outside the current set whose threads were joined, or `None`.
    pub fn free_slots(&self, n: usize) -> Option<Vec<usize>> {
        let current = self.current_slots();
        let threads = lock(&self.threads);
        let free: Vec<usize> = (0..self.slots.len())
            .filter(|id| threads[*id].is_none() && !current.contains(id))
            .take(n)
            .collect();
        (free.len() == n).then_some(free)
    }

    /// Starts a thread on idle object `id` as shard `bucket` of its set, with `transport`.
    /// Its queue holds `capacity` samples. With `start` the thread sends at once from that
    /// cache; without, it waits for [`ShardShared::hand_over`].
    pub fn spawn(
        &self,
        id: usize,
        bucket: usize,
        ctx: &Arc<EndpointContext>,
        transport: Transport,
        capacity: usize,
        start: Option<SeriesCache>,
    ) -> Result<()> {
        let shard = self.slots[id].clone();
        let threshold = ctx.config.queue.max_samples_per_send.min(capacity);
        shard.prepare(capacity, threshold, transport.interrupter());
        if let Some(cache) = start {
            shard.hand_over(cache);
        }
        let thread_ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("promrw-{}-{id}", ctx.remote_name))
            .spawn(move || shard::run(shard, thread_ctx, transport, bucket));
        match spawned {
            Ok(handle) => {
                self.spawned.fetch_add(1, Ordering::SeqCst);
                lock(&self.threads)[id] = Some(handle);
                Ok(())
            }
            Err(e) => {
                // No thread will ever take from it.
                self.slots[id].queue.close();
                Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot start shard thread: {e}"),
                ))
            }
        }
    }

    /// Shard threads started so far.
    pub fn spawned(&self) -> usize {
        self.spawned.load(Ordering::SeqCst)
    }

    /// Waits for the thread of object `id` to end and returns its cache (empty when it
    /// panicked, or when another caller joined it).
    pub fn join(&self, id: usize) -> SeriesCache {
        let handle = lock(&self.threads)[id].take();
        handle
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }

    /// Joins every thread still running (at close).
    pub fn join_all(&self) {
        let handles: Vec<JoinHandle<SeriesCache>> = lock(&self.threads)
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

/// The queue capacity of each shard of a set of `shards`: its share of
/// `max_buffered_samples`, at most `capacity`. A shard holds what its queue holds plus one
/// batch taken from it, at most `max_samples_per_send` and at most the queue's capacity, so
/// the queue gets its share less one batch, or half its share when the share is smaller than
/// two batches: the set never buffers more than `max_buffered_samples`.
pub fn queue_capacity(queue: &QueueConfig, shards: usize) -> usize {
    let share = queue.max_buffered_samples / shards.max(1);
    let batch = queue.max_samples_per_send;
    let room = if share >= 2 * batch {
        share - batch
    } else {
        share / 2
    };
    room.min(queue.capacity).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_capacity_keeps_the_set_within_the_budget() {
        let config = QueueConfig::default();
        assert_eq!(
            queue_capacity(&config, 1),
            10_000,
            "capacity bounds one shard"
        );
        assert_eq!(queue_capacity(&config, 25), 8_000, "share 10k less a batch");
        assert_eq!(queue_capacity(&config, 50), 3_000, "share 5k less a batch");
        assert_eq!(
            queue_capacity(&config, 100),
            1_250,
            "share 2.5k is under two batches"
        );
        for shards in [1, 2, 3, 7, 25, 50, 99, 1000, 1_000_000] {
            let room = queue_capacity(&config, shards);
            let per_shard = room + room.min(config.max_samples_per_send);
            assert!(
                per_shard * shards <= config.max_buffered_samples || room == 1,
                "{shards} shards: {room} queued + a batch each"
            );
        }
        let small = QueueConfig {
            max_buffered_samples: 100,
            ..QueueConfig::default()
        };
        assert_eq!(queue_capacity(&small, 1), 50);
        assert_eq!(queue_capacity(&small, 1000), 1, "never zero");
    }
}
