//! A shard's private map from series refs to series, so that queued samples can name their
//! series by ref alone.
//!
//! Sharing an `Arc<Series>` between appending threads and a shard costs two cache-line
//! transfers per sample (the reference count is written on both sides). Instead, the first
//! sample of a series queued for an endpoint carries the series itself ("announces" it), the
//! slot records that ([`LockedSlot::mark_announced`], under the series' order stripe), and
//! later samples carry just the ref. All samples of a series go to one shard of the endpoint, in order, and
//! the shard resolves them first in, first out, so the announcing sample has put the series in
//! this cache before any ref-only sample of it is resolved.
//!
//! An entry is replaced only by an announcement of a newer generation of the same slot, which
//! was queued after the older series was released; so every sample naming the older generation
//! was resolved before. An entry used by the batch being built is never replaced: the replacing
//! sample waits for the next batch ([`Resolved::NextBatch`]).
//!
//! A released series is purged soon after its release, so its label bytes are freed without
//! waiting for the slot to be reused: release records the series in each endpoint's
//! [`Releases`] of the series' shard, with the number of samples that shard's queue had been
//! pushed by then. Every sample of the series was pushed before (pushes and release both hold
//! the series' order stripe), so once the shard has resolved that many samples no queued
//! sample names the series, and between two batches (when no batch uses it) the entry is
//! dropped ([`SeriesCache::purge`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::SampleExtra;
#[cfg(doc)]
use crate::series::LockedSlot;
use crate::series::{Series, SeriesRef};

/// One accepted sample waiting in a shard queue.
#[derive(Debug, Clone)]
pub struct QueuedSample {
    /// The series' ref.
    pub series_ref: SeriesRef,
    /// The series itself on the first sample queued for the endpoint (the slot then remembers
    /// it was announced); `None` on later samples, which the shard resolves in its cache.
    pub announce: Option<Arc<Series>>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value, bits preserved.
    pub value: f64,
    /// A start timestamp, exemplar or histogram; `None` for a plain float sample (no
    /// allocation on that path).
    pub extra: Option<Box<SampleExtra>>,
}

impl QueuedSample {
    /// A sample carrying its series (the first one queued for an endpoint's shard).
    pub fn announcing(
        series_ref: SeriesRef,
        series: &Arc<Series>,
        timestamp: i64,
        value: f64,
    ) -> Self {
        QueuedSample {
            series_ref,
            announce: Some(series.clone()),
            timestamp,
            value,
            extra: None,
        }
    }

    /// A sample naming its series by ref (the shard has it cached by the time it sees it).
    pub fn by_ref(series_ref: SeriesRef, timestamp: i64, value: f64) -> Self {
        QueuedSample {
            series_ref,
            announce: None,
            timestamp,
            value,
            extra: None,
        }
    }
}

/// [`BatchSample::extra`] of a plain float sample.
pub const NO_EXTRA: u32 = u32::MAX;

/// A sample in the batch being built: its series is `cache.series(slot)`.
#[derive(Debug, Clone, Copy)]
pub struct BatchSample {
    /// The cache slot of the series (unique per series within one batch).
    pub slot: u32,
    /// The index of the sample's [`SampleExtra`] in the batch's extras, or [`NO_EXTRA`].
    pub extra: u32,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value, bits preserved.
    pub value: f64,
}

/// What [`SeriesCache::resolve`] made of a queued sample.
#[derive(Debug)]
pub enum Resolved {
    /// The sample, ready for the batch.
    Ready(BatchSample),
    /// The sample replaces a series the current batch uses: put it in the next batch.
    NextBatch(QueuedSample),
    /// The ref is not in the cache (a broken invariant; the sample cannot be sent).
    Unknown(SeriesRef),
}

/// A cached series.
#[derive(Debug)]
struct Entry {
    generation: u32,
    series: Arc<Series>,
    used_in_batch: u64,
}

/// Series by registry slot, private to one shard thread.
#[derive(Debug)]
pub struct SeriesCache {
    entries: Vec<Option<Entry>>,
    batch: u64,
    /// Entries that are `Some`.
    live: usize,
    /// The longest label bytes of a series cached so far (never lowered; a bound for sizing
    /// batches without looking at every series).
    max_labels_len: usize,
}

/// Releases of series one shard may have cached, recorded by [`crate::Sender::release`] and
/// purged by the shard thread.
#[derive(Debug)]
pub struct Releases {
    /// `(ref, samples pushed to the shard's queue when the series was released)`.
    list: Mutex<Vec<(SeriesRef, u64)>>,
    /// The smallest pushed count in `list` (`u64::MAX` when empty): the shard compares it with
    /// the samples it resolved without taking the lock.
    earliest: AtomicU64,
}

impl Default for Releases {
    fn default() -> Self {
        Releases {
            list: Mutex::new(Vec::new()),
            earliest: AtomicU64::new(u64::MAX),
        }
    }
}

impl Releases {
    /// Records that `series_ref` was released when `pushed` samples had been pushed to the
    /// shard's queue (every sample of the series among them).
    pub fn record(&self, series_ref: SeriesRef, pushed: u64) {
        let mut list = crate::series::lock(&self.list);
        list.push((series_ref, pushed));
        self.earliest.fetch_min(pushed, Ordering::SeqCst);
    }

    /// True when a recorded release can be purged once `resolved` samples of the queue were
    /// resolved.
    pub fn ready(&self, resolved: u64) -> bool {
        self.earliest.load(Ordering::SeqCst) <= resolved
    }

    /// Releases waiting (for tests).
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        crate::series::lock(&self.list).len()
    }
}

/// Capacity of the entry table below which it is never shrunk (entries are 24 bytes).
const MIN_SHRINK_ENTRIES: usize = 4096;

impl SeriesCache {
    /// An empty cache.
    pub fn new() -> Self {
        SeriesCache {
            entries: Vec::new(),
            batch: 1,
            live: 0,
            max_labels_len: 0,
        }
    }

    /// Series cached now (released ones included until purged).
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The longest label bytes of any series cached so far.
    pub fn max_labels_len(&self) -> usize {
        self.max_labels_len
    }

    /// Drops the entries of released series whose samples were all resolved (`resolved`
    /// samples of the queue so far), and shrinks the table after a spike. Call between
    /// batches only: an entry the current batch uses must stay. Returns how many were dropped.
    pub fn purge(&mut self, releases: &Releases, resolved: u64) -> usize {
        let ready: Vec<SeriesRef> = {
            let mut list = crate::series::lock(&releases.list);
            let mut ready = Vec::new();
            list.retain(|&(series_ref, pushed)| {
                if pushed <= resolved {
                    ready.push(series_ref);
                    false
                } else {
                    true
                }
            });
            let earliest = list.iter().map(|&(_, pushed)| pushed).min();
            releases
                .earliest
                .store(earliest.unwrap_or(u64::MAX), Ordering::SeqCst);
            let len = list.len();
            if list.capacity() > MIN_SHRINK_ENTRIES && list.capacity() > 4 * len {
                list.shrink_to(2 * len);
            }
            ready
        };
        let mut purged = 0;
        for series_ref in ready {
            let place = self.entries.get_mut(series_ref.slot() as usize);
            // A newer generation of the slot, announced since, stays.
            if let Some(place) = place
                && place
                    .as_ref()
                    .is_some_and(|entry| entry.generation == series_ref.generation())
            {
                *place = None;
                purged += 1;
            }
        }
        self.live -= purged;
        while let Some(None) = self.entries.last() {
            self.entries.pop();
        }
        let len = self.entries.len();
        if self.entries.capacity() > MIN_SHRINK_ENTRIES && self.entries.capacity() > 4 * len {
            self.entries.shrink_to(2 * len);
        }
        purged
    }

    /// The cached series, as `(slot, generation, series)`: for the shards of a new set
    /// ([`SeriesCache::insert`]).
    pub fn into_entries(self) -> impl Iterator<Item = (u32, u32, Arc<Series>)> {
        self.entries
            .into_iter()
            .enumerate()
            .filter_map(|(slot, entry)| {
                entry.map(|entry| (slot as u32, entry.generation, entry.series))
            })
    }

    /// Caches `series` as generation `generation` of `slot`, as its announcement would have
    /// (a series handed over from a drained shard). Between batches only; an entry already
    /// there stays.
    pub fn insert(&mut self, slot: u32, generation: u32, series: Arc<Series>) {
        let index = slot as usize;
        if self.entries.len() <= index {
            self.entries.resize_with(index + 1, || None);
        }
        let place = &mut self.entries[index];
        if place.is_none() {
            self.live += 1;
        } else {
            // Two drained shards never cache one slot: each series was in one shard.
            return;
        }
        self.max_labels_len = self.max_labels_len.max(series.encoded_labels().len());
        *place = Some(Entry {
            generation,
            series,
            used_in_batch: 0,
        });
    }

    /// Capacity of the entry table (for tests of shrinking).
    #[cfg(test)]
    pub fn table_capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Starts a new batch: entries used by the previous one may be replaced again.
    pub fn start_batch(&mut self) {
        self.batch += 1;
    }

    /// Resolves a sample taken from the queue into a batch sample.
    pub fn resolve(&mut self, mut sample: QueuedSample) -> Resolved {
        let slot = sample.series_ref.slot();
        let generation = sample.series_ref.generation();
        let index = slot as usize;
        if let Some(series) = sample.announce.take() {
            if self.entries.len() <= index {
                self.entries.resize_with(index + 1, || None);
            }
            match &mut self.entries[index] {
                Some(entry) if entry.generation == generation => {
                    entry.used_in_batch = self.batch;
                }
                Some(entry) if entry.used_in_batch == self.batch => {
                    sample.announce = Some(series);
                    return Resolved::NextBatch(sample);
                }
                place => {
                    if place.is_none() {
                        self.live += 1;
                    }
                    self.max_labels_len = self.max_labels_len.max(series.encoded_labels().len());
                    *place = Some(Entry {
                        generation,
                        series,
                        used_in_batch: self.batch,
                    });
                }
            }
        } else {
            match self.entries.get_mut(index) {
                Some(Some(entry)) if entry.generation == generation => {
                    entry.used_in_batch = self.batch;
                }
                _ => return Resolved::Unknown(sample.series_ref),
            }
        }
        Resolved::Ready(BatchSample {
            slot,
            extra: NO_EXTRA,
            timestamp: sample.timestamp,
            value: sample.value,
        })
    }

    /// The series of a slot resolved for the current batch.
    ///
    /// # Panics
    ///
    /// When `slot` was not resolved: batch samples come only from [`SeriesCache::resolve`].
    pub fn series(&self, slot: u32) -> &Series {
        &self.entries[slot as usize]
            .as_ref()
            .expect("batch samples name resolved slots")
            .series
    }

    /// The series of a slot resolved for the current batch and its generation (which tells
    /// it from earlier and later series of the same slot).
    ///
    /// # Panics
    ///
    /// As [`SeriesCache::series`].
    pub fn series_with_generation(&self, slot: u32) -> (&Series, u32) {
        let entry = self.entries[slot as usize]
            .as_ref()
            .expect("batch samples name resolved slots");
        (&entry.series, entry.generation)
    }
}

impl Default for SeriesCache {
    fn default() -> Self {
        SeriesCache::new()
    }
}

/// The bit of endpoint `index` in [`LockedSlot::mark_announced`]; endpoints past the 64th get
/// none, so every sample for them carries its series.
pub fn endpoint_bit(index: usize) -> u64 {
    if index < 64 { 1 << index } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::series::SeriesRegistry;

    fn registered(reg: &SeriesRegistry, name: &str) -> (SeriesRef, Arc<Series>) {
        let r = reg
            .register(Labels::from_pairs(&[("__name__", name)]).unwrap())
            .unwrap();
        let series = reg.series(r).unwrap();
        (r, series)
    }

    #[test]
    fn an_announced_series_resolves_by_ref_afterwards() {
        let reg = SeriesRegistry::new(Labels::default());
        let (r, series) = registered(&reg, "a");
        let mut cache = SeriesCache::new();
        assert!(
            matches!(
                cache.resolve(QueuedSample::by_ref(r, 1, 1.0)),
                Resolved::Unknown(_)
            ),
            "a ref never announced is unknown"
        );
        assert!(matches!(
            cache.resolve(QueuedSample::announcing(r, &series, 2, 2.0)),
            Resolved::Ready(_)
        ));
        let Resolved::Ready(sample) = cache.resolve(QueuedSample::by_ref(r, 3, 3.0)) else {
            panic!("an announced ref resolves");
        };
        assert_eq!(cache.series(sample.slot).id(), series.id());
        assert!(
            matches!(
                cache.resolve(QueuedSample::announcing(r, &series, 4, 4.0)),
                Resolved::Ready(_)
            ),
            "announcing again is harmless"
        );
    }

    /// Resolves an announcing sample of `r` in its own batch.
    fn announce(cache: &mut SeriesCache, r: SeriesRef, series: &Arc<Series>, ts: i64) {
        cache.start_batch();
        assert!(matches!(
            cache.resolve(QueuedSample::announcing(r, series, ts, 0.0)),
            Resolved::Ready(_)
        ));
    }

    #[test]
    fn released_series_are_purged_once_their_samples_are_resolved_and_freed() {
        let reg = SeriesRegistry::new(Labels::default());
        let mut cache = SeriesCache::new();
        let releases = Releases::default();
        let big = "v".repeat(10_000);
        let mut weak = Vec::new();
        let mut refs = Vec::new();
        for i in 0..5000 {
            let r = reg
                .register(
                    Labels::from_pairs(&[("__name__", "big"), ("i", &i.to_string()), ("v", &big)])
                        .unwrap(),
                )
                .unwrap();
            let series = reg.series(r).unwrap();
            announce(&mut cache, r, &series, 1);
            weak.push(Arc::downgrade(&series));
            refs.push(r);
        }
        assert_eq!(cache.len(), 5000);
        let grown = cache.table_capacity();
        for (n, r) in refs.iter().enumerate() {
            // As the sender does: the queue had had 5000 + n samples pushed when released.
            reg.release(*r).unwrap();
            releases.record(*r, 5000 + n as u64);
        }
        assert!(
            weak.iter().all(|w| w.upgrade().is_some()),
            "the cache holds them"
        );
        assert!(!releases.ready(4999));
        assert_eq!(
            cache.purge(&releases, 4999),
            0,
            "samples of theirs may be queued"
        );
        assert!(releases.ready(5000));
        assert_eq!(
            cache.purge(&releases, 5100),
            101,
            "those whose samples were all resolved"
        );
        assert_eq!(releases.waiting(), 5000 - 101);
        assert!(!releases.ready(5100));
        assert_eq!(cache.purge(&releases, u64::MAX), 5000 - 101);
        assert_eq!(cache.len(), 0);
        assert_eq!(releases.waiting(), 0);
        assert!(!releases.ready(u64::MAX - 1), "nothing left to purge");
        assert!(
            weak.iter().all(|w| w.upgrade().is_none()),
            "every released series (and its label bytes) is freed"
        );
        assert!(
            cache.table_capacity() < grown / 4,
            "the table shrinks: {} of {grown}",
            cache.table_capacity()
        );
    }

    #[test]
    fn a_purge_leaves_a_newer_generation_of_the_slot() {
        let reg = SeriesRegistry::new(Labels::default());
        let mut cache = SeriesCache::new();
        let releases = Releases::default();
        let (old_ref, old) = registered(&reg, "old");
        announce(&mut cache, old_ref, &old, 1);
        reg.release(old_ref).unwrap();
        releases.record(old_ref, 1);
        let (new_ref, new) = registered(&reg, "new");
        assert_eq!(new_ref.slot(), old_ref.slot());
        announce(&mut cache, new_ref, &new, 2);
        assert_eq!(cache.purge(&releases, 2), 0);
        assert_eq!(cache.len(), 1);
        let Resolved::Ready(sample) = cache.resolve(QueuedSample::by_ref(new_ref, 3, 0.0)) else {
            panic!("the new series stays cached");
        };
        assert_eq!(cache.series(sample.slot).id(), new.id());
    }

    #[test]
    fn slots_remember_announcements_per_endpoint() {
        let reg = SeriesRegistry::new(Labels::default());
        let (r, _) = registered(&reg, "a");
        reg.with_slot(r, |slot| {
            assert!(slot.announce_for(endpoint_bit(0)).is_some());
            slot.mark_announced(endpoint_bit(0));
            assert!(slot.announce_for(endpoint_bit(0)).is_none());
            assert!(
                slot.announce_for(endpoint_bit(1)).is_some(),
                "another endpoint"
            );
            slot.mark_announced(endpoint_bit(64));
            assert!(
                slot.announce_for(endpoint_bit(64)).is_some(),
                "endpoints past 64 always announce"
            );
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_reused_slot_waits_for_the_next_batch_when_the_old_series_is_in_this_one() {
        let reg = SeriesRegistry::new(Labels::default());
        let (old_ref, old) = registered(&reg, "old");
        let mut cache = SeriesCache::new();
        cache.start_batch();
        assert!(matches!(
            cache.resolve(QueuedSample::announcing(old_ref, &old, 1, 1.0)),
            Resolved::Ready(_)
        ));
        reg.release(old_ref).unwrap();
        let (new_ref, new) = registered(&reg, "new");
        assert_eq!(new_ref.slot(), old_ref.slot());
        let Resolved::NextBatch(carried) =
            cache.resolve(QueuedSample::announcing(new_ref, &new, 1, 1.0))
        else {
            panic!("the old series is in the current batch");
        };
        assert_eq!(cache.series(old_ref.slot()).id(), old.id());
        cache.start_batch();
        let Resolved::Ready(sample) = cache.resolve(carried) else {
            panic!("the next batch takes it");
        };
        assert_eq!(cache.series(sample.slot).id(), new.id());
        assert!(matches!(
            cache.resolve(QueuedSample::by_ref(old_ref, 2, 0.0)),
            Resolved::Unknown(_)
        ));
    }
}
