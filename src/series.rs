//! The series registry: label sets are registered once and referred to by a [`SeriesRef`].
//!
//! A ref is `generation << 32 | slot`. Released slots are reused with a new generation, so a
//! stale ref is detected instead of reaching another series, and memory stays bounded when
//! series churn. Each slot has its own small lock, held while a sample of that series is checked
//! and queued, which keeps per-series queue order equal to timestamp order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};

use fxhash::FxHashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::model::Labels;
use crate::wire::rw1;

/// A handle to a registered series. `0` is never a valid ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// An immutable registered series: the pre-encoded label bytes of the RW 1.0
/// `TimeSeries.labels` field (external labels merged, sorted), which also identify it, and the
/// stable hash used to pick a shard. Kept small so that the label bytes of many series stay in
/// cache while batches are encoded.
#[derive(Debug)]
pub struct Series {
    id: u64,
    shard_hash: u64,
    encoded_labels: Arc<[u8]>,
}

impl Series {
    /// A process-unique id (never reused, unlike refs' slots).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The RW 1.0 encoding of the labels.
    pub fn encoded_labels(&self) -> &[u8] {
        &self.encoded_labels
    }

    /// Stable hash of the labels; scaled to the shard count it picks the shard.
    pub fn shard_hash(&self) -> u64 {
        self.shard_hash
    }
}

/// What a slot holds while its series is live.
#[derive(Debug)]
pub struct SlotState {
    generation: u32,
    series: Option<Arc<Series>>,
    last_timestamp: Option<i64>,
    shard_hash: u64,
    announced_to: u64,
}

impl SlotState {
    /// The live series of the slot.
    pub fn series(&self) -> &Arc<Series> {
        self.series
            .as_ref()
            .expect("SlotGuard only hands out live slots")
    }

    /// The last accepted timestamp of the series, if any.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.last_timestamp
    }

    /// Records `timestamp` as the last accepted one.
    pub fn set_last_timestamp(&mut self, timestamp: i64) {
        self.last_timestamp = Some(timestamp);
    }

    /// The series' shard hash (a copy kept in the slot, which the appending thread has
    /// locked anyway, so the hot path does not read the series).
    pub fn shard_hash(&self) -> u64 {
        self.shard_hash
    }

    /// What a queued sample must carry for the endpoint with cache bit `endpoint_bit`: the
    /// series itself until a sample carrying it was queued for that endpoint
    /// ([`SlotState::mark_announced`]), then nothing (the shard resolves the ref in its cache).
    pub fn announce_for(&self, endpoint_bit: u64) -> Option<Arc<Series>> {
        if endpoint_bit != 0 && self.announced_to & endpoint_bit == endpoint_bit {
            None
        } else {
            Some(self.series().clone())
        }
    }

    /// Records that a sample carrying the series was queued for the endpoint with cache bit
    /// `endpoint_bit`: its shard will have the series cached before it sees a later sample.
    pub fn mark_announced(&mut self, endpoint_bit: u64) {
        self.announced_to |= endpoint_bit;
    }
}

/// Slots per chunk; chunks are allocated on demand and never freed while the registry lives.
const CHUNK_SLOTS: usize = 4096;
/// Number of chunks: up to 2^28 live series.
const MAX_CHUNKS: usize = 1 << 16;

/// A block of slots, allocated on first use.
type SlotChunk = Box<[Mutex<SlotState>]>;

/// Label sets to refs, and refs to series.
pub struct SeriesRegistry {
    chunks: Box<[OnceLock<SlotChunk>]>,
    index: Mutex<IndexState>,
    next_id: AtomicU64,
    external_labels: Labels,
}

/// The part of the registry changed only by register and release.
struct IndexState {
    by_labels: FxHashMap<Arc<[u8]>, SeriesRef>,
    free_slots: Vec<u32>,
    next_slot: u32,
}

impl SeriesRegistry {
    /// An empty registry that merges `external_labels` into every series.
    pub fn new(external_labels: Labels) -> Self {
        SeriesRegistry {
            chunks: (0..MAX_CHUNKS).map(|_| OnceLock::new()).collect(),
            index: Mutex::new(IndexState {
                by_labels: FxHashMap::default(),
                free_slots: Vec::new(),
                next_slot: 0,
            }),
            next_id: AtomicU64::new(1),
            external_labels,
        }
    }

    /// Registers `labels` (already validated) and returns its ref. Label sets that are equal
    /// once external labels are merged give the same ref until released.
    pub fn register(&self, labels: Labels) -> Result<SeriesRef> {
        let full = labels.with_external(&self.external_labels);
        let encoded = rw1::encode_labels(&full);
        let mut index = lock(&self.index);
        if let Some(existing) = index.by_labels.get(encoded.as_slice()) {
            return Ok(*existing);
        }
        let slot = match index.free_slots.pop() {
            Some(slot) => slot,
            None => {
                if index.next_slot as usize >= CHUNK_SLOTS * MAX_CHUNKS {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        "series limit reached: release series that are no longer used",
                    ));
                }
                index.next_slot += 1;
                index.next_slot - 1
            }
        };
        let encoded_labels: Arc<[u8]> = Arc::from(encoded);
        let series = Arc::new(Series {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            shard_hash: fxhash::hash64(&encoded_labels[..]),
            encoded_labels: encoded_labels.clone(),
        });
        let mut state = lock(self.slot(slot));
        state.generation = state.generation.wrapping_add(1).max(1);
        state.shard_hash = series.shard_hash;
        state.announced_to = 0;
        state.series = Some(series);
        state.last_timestamp = None;
        let series_ref = SeriesRef((u64::from(state.generation) << 32) | u64::from(slot));
        drop(state);
        index.by_labels.insert(encoded_labels, series_ref);
        Ok(series_ref)
    }

    /// Forgets a series. Samples already queued are still sent; appends with the old ref fail
    /// with `UnknownSeries`; registering the same labels again gives a new ref.
    pub fn release(&self, series_ref: SeriesRef) -> Result<()> {
        let mut index = lock(&self.index);
        let mut state = self.lock_live(series_ref)?;
        index.by_labels.remove(state.series().encoded_labels());
        state.series = None;
        state.last_timestamp = None;
        state.generation = state.generation.wrapping_add(1).max(1);
        drop(state);
        index.free_slots.push(slot_of(series_ref));
        Ok(())
    }

    /// Number of live series.
    pub fn len(&self) -> usize {
        lock(&self.index).by_labels.len()
    }

    /// True when no series is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Locks the slot of a live `series_ref`; fails with `UnknownSeries` for refs never issued
    /// or released.
    pub fn lock_live(&self, series_ref: SeriesRef) -> Result<MutexGuard<'_, SlotState>> {
        let state = lock(self.live_slot(series_ref)?);
        Self::check_live(series_ref, state)
    }

    /// As [`SeriesRegistry::lock_live`], but `Ok(None)` instead of waiting when another thread
    /// holds the slot's lock (for callers that hold a queue lock, which must not wait here).
    pub fn try_lock_live(
        &self,
        series_ref: SeriesRef,
    ) -> Result<Option<MutexGuard<'_, SlotState>>> {
        let state = match self.live_slot(series_ref)?.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(None),
        };
        Self::check_live(series_ref, state).map(Some)
    }

    /// The slot mutex a ref points at, if its chunk exists.
    fn live_slot(&self, series_ref: SeriesRef) -> Result<&Mutex<SlotState>> {
        let slot = slot_of(series_ref) as usize;
        self.chunks
            .get(slot / CHUNK_SLOTS)
            .and_then(OnceLock::get)
            .map(|chunk| &chunk[slot % CHUNK_SLOTS])
            .ok_or_else(|| unknown_series(series_ref))
    }

    /// The locked slot when it holds the generation of `series_ref`, else `UnknownSeries`.
    fn check_live(
        series_ref: SeriesRef,
        state: MutexGuard<'_, SlotState>,
    ) -> Result<MutexGuard<'_, SlotState>> {
        let generation = series_ref.generation();
        if generation == 0 || state.generation != generation || state.series.is_none() {
            return Err(unknown_series(series_ref));
        }
        Ok(state)
    }

    /// The slot's lock, allocating its chunk on first use.
    fn slot(&self, slot: u32) -> &Mutex<SlotState> {
        let slot = slot as usize;
        let chunk = self.chunks[slot / CHUNK_SLOTS].get_or_init(|| {
            (0..CHUNK_SLOTS)
                .map(|_| {
                    Mutex::new(SlotState {
                        generation: 0,
                        series: None,
                        last_timestamp: None,
                        shard_hash: 0,
                        announced_to: 0,
                    })
                })
                .collect()
        });
        &chunk[slot % CHUNK_SLOTS]
    }
}

/// The error for a ref that was never issued or was released.
fn unknown_series(series_ref: SeriesRef) -> Error {
    Error::new(
        ErrorKind::UnknownSeries,
        format!("series ref {} is unknown or was released", series_ref.0),
    )
}

/// The slot number of a ref.
fn slot_of(series_ref: SeriesRef) -> u32 {
    series_ref.0 as u32
}

impl SeriesRef {
    /// The registry slot the ref points at (slots are reused after release).
    pub fn slot(self) -> u32 {
        slot_of(self)
    }

    /// The generation of the slot the ref was issued for.
    pub fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves consistent state.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str) -> Labels {
        Labels::from_pairs(&[("__name__", name), ("job", "t")]).unwrap()
    }

    #[test]
    fn same_labels_same_ref_and_release_invalidates() {
        let reg = SeriesRegistry::new(Labels::default());
        let a = reg.register(labels("a")).unwrap();
        assert_eq!(reg.register(labels("a")).unwrap(), a);
        let b = reg.register(labels("b")).unwrap();
        assert_ne!(a, b);
        reg.release(a).unwrap();
        assert_eq!(
            reg.lock_live(a).unwrap_err().kind(),
            ErrorKind::UnknownSeries
        );
        let c = reg.register(labels("c")).unwrap();
        assert_eq!(slot_of(c), slot_of(a), "released slot is reused");
        assert_ne!(c, a, "with a new generation");
        assert_eq!(reg.len(), 2);
        assert!(reg.lock_live(SeriesRef(0)).is_err());
        assert!(reg.lock_live(SeriesRef(u64::MAX)).is_err());
    }

    #[test]
    fn churn_keeps_slots_bounded() {
        let reg = SeriesRegistry::new(Labels::default());
        for i in 0..10_000 {
            let r = reg.register(labels(&format!("m{i}"))).unwrap();
            reg.release(r).unwrap();
        }
        assert_eq!(lock(&reg.index).next_slot, 1);
    }
}
