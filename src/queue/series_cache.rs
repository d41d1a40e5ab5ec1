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
//! sample waits for the next batch ([`Resolved::NextBatch`]). Memory is bounded by the number
//! of registry slots: an entry holds a released series until its slot is reused.

use std::sync::Arc;

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
        }
    }

    /// A sample naming its series by ref (the shard has it cached by the time it sees it).
    pub fn by_ref(series_ref: SeriesRef, timestamp: i64, value: f64) -> Self {
        QueuedSample {
            series_ref,
            announce: None,
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
    batch: u64,
}

impl SeriesCache {
    /// An empty cache.
    pub fn new() -> Self {
        SeriesCache {
            entries: Vec::new(),
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
