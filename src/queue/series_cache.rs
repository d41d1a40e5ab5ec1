//! A shard's private map from series refs to series, so that queued samples can name their
//! series by ref alone.
//!
//! Sharing an `Arc<Series>` between appending threads and a shard costs two cache-line
//! transfers per sample (the reference count is written on both sides). Instead, a sample
//! carries the series itself only until the endpoint's shard has put the series in this cache
//! and said so on the series ([`Series::mark_cached_by`]); later samples carry just the ref.
//!
//! Why a ref is always found: an entry is replaced only by a sample carrying a newer
//! generation of the same slot, which was queued after the older series was released, and a
//! shard's queue is first in, first out; so every sample naming the older generation by ref was
//! taken from the queue before. An entry used by the batch being built is never replaced: the
//! replacing sample waits for the next batch ([`Resolved::NextBatch`]). Memory is bounded by the
//! number of registry slots: an entry holds a released series until its slot is reused.

use std::sync::Arc;

use crate::series::{Series, SeriesRef, SlotState};

/// One accepted sample waiting in a shard queue.
#[derive(Debug, Clone)]
pub struct QueuedSample {
    /// The series' ref.
    pub series_ref: SeriesRef,
    /// The series itself, until the shard has confirmed it caches it.
    pub announce: Option<Arc<Series>>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value, bits preserved.
    pub value: f64,
}

impl QueuedSample {
    /// A sample of `series` (whose ref is `series_ref`) for the endpoint whose cache bit is
    /// `endpoint_bit`: the series travels along until that endpoint's shard has cached it.
    pub fn new(
        series_ref: SeriesRef,
        series: &Arc<Series>,
        endpoint_bit: u64,
        timestamp: i64,
        value: f64,
    ) -> Self {
        QueuedSample {
            series_ref,
            announce: (!series.is_cached_by(endpoint_bit)).then(|| series.clone()),
            timestamp,
            value,
        }
    }

    /// A sample of the series locked in `slot` (ref `series_ref`) for the endpoint whose
    /// cache bit is `endpoint_bit`; as [`QueuedSample::new`].
    pub fn from_slot(
        series_ref: SeriesRef,
        slot: &mut SlotState,
        endpoint_bit: u64,
        timestamp: i64,
        value: f64,
    ) -> Self {
        QueuedSample {
            series_ref,
            announce: slot.announce_for(endpoint_bit),
            timestamp,
            value,
        }
    }
}

/// A sample in the batch being built: its series is `cache.series(slot)`.
#[derive(Debug, Clone, Copy)]
pub struct BatchSample {
    /// The cache slot of the series (unique per series within one batch).
    pub slot: u32,
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
    endpoint_bit: u64,
    batch: u64,
}

impl SeriesCache {
    /// An empty cache for the shard of the endpoint whose bit is `endpoint_bit` (0: never
    /// confirm, so every sample carries its series).
    pub fn new(endpoint_bit: u64) -> Self {
        SeriesCache {
            entries: Vec::new(),
            endpoint_bit,
            batch: 1,
        }
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
                    series.mark_cached_by(self.endpoint_bit);
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
}

/// The cache bit of endpoint `index`; endpoints past the 64th always send the series along.
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
        let series = reg.lock_live(r).unwrap().series().clone();
        (r, series)
    }

    #[test]
    fn series_travel_until_the_shard_confirms_then_refs_resolve() {
        let reg = SeriesRegistry::new(Labels::default());
        let (r, series) = registered(&reg, "a");
        let bit = endpoint_bit(3);
        let first = QueuedSample::new(r, &series, bit, 1, 1.0);
        assert!(first.announce.is_some());
        let second = QueuedSample::new(r, &series, bit, 2, 2.0);
        assert!(second.announce.is_some(), "not confirmed yet");
        let mut cache = SeriesCache::new(bit);
        assert!(matches!(cache.resolve(first), Resolved::Ready(_)));
        assert!(matches!(cache.resolve(second), Resolved::Ready(_)));
        let third = QueuedSample::new(r, &series, bit, 3, 3.0);
        assert!(third.announce.is_none(), "confirmed: the ref is enough");
        let Resolved::Ready(sample) = cache.resolve(third) else {
            panic!("a confirmed ref resolves");
        };
        assert_eq!(cache.series(sample.slot).id(), series.id());
        assert!(
            QueuedSample::new(r, &series, endpoint_bit(4), 4, 4.0)
                .announce
                .is_some(),
            "another endpoint has not confirmed"
        );
    }

    #[test]
    fn a_reused_slot_waits_for_the_next_batch_when_the_old_series_is_in_this_one() {
        let reg = SeriesRegistry::new(Labels::default());
        let (old_ref, old) = registered(&reg, "old");
        let bit = endpoint_bit(0);
        let mut cache = SeriesCache::new(bit);
        cache.start_batch();
        assert!(matches!(
            cache.resolve(QueuedSample::new(old_ref, &old, bit, 1, 1.0)),
            Resolved::Ready(_)
        ));
        reg.release(old_ref).unwrap();
        let (new_ref, new) = registered(&reg, "new");
        assert_eq!(new_ref.slot(), old_ref.slot());
        let Resolved::NextBatch(carried) =
            cache.resolve(QueuedSample::new(new_ref, &new, bit, 1, 1.0))
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
            cache.resolve(QueuedSample {
                series_ref: old_ref,
                announce: None,
                timestamp: 2,
                value: 0.0
            }),
            Resolved::Unknown(_)
        ));
    }

    #[test]
    fn endpoints_past_64_never_confirm() {
        assert_eq!(endpoint_bit(64), 0);
        let reg = SeriesRegistry::new(Labels::default());
        let (r, series) = registered(&reg, "a");
        let mut cache = SeriesCache::new(0);
        assert!(matches!(
            cache.resolve(QueuedSample::new(r, &series, 0, 1, 1.0)),
            Resolved::Ready(_)
        ));
        assert!(QueuedSample::new(r, &series, 0, 2, 1.0).announce.is_some());
    }
}
