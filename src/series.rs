//! The series registry: label sets are registered once and referred to by a [`SeriesRef`].
//!
//! A ref is `generation << 32 | slot`. A slot counts its uses (register and release each
//! advance it); a ref's generation is that count plus the registry's random seed, so refs of
//! one sender are refused by another (whose seed differs) instead of reaching one of its
//! series. Released slots are reused with a new count, so a stale ref is detected and memory
//! stays bounded when series churn; a slot whose count would wrap (after 2^31 reuses) is
//! retired rather than issue a generation again.
//!
//! Per-series state that appends read and write (the last accepted timestamp, which endpoints
//! have been sent the series) is guarded by an *order stripe*: one of a few locks, chosen by
//! the series' shard hash exactly as the first endpoint chooses its shard, so the series of one
//! shard share one stripe. An append holds its series' stripe while it checks the timestamp and
//! queues the sample, which keeps per-series queue order equal to timestamp order; a batch
//! append keeps the stripe locked across consecutive samples, so a batch of series of one shard
//! takes one lock rather than one per sample. Release takes the stripe too, so it never runs in
//! the middle of an append of that series. The fields are atomics only so that an append can
//! read the generation and shard hash before it knows which stripe to lock (and so that no
//! `unsafe` is needed); every other access happens under the stripe, where relaxed loads and
//! stores are plain moves.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use fxhash::FxHashMap;

use crate::config::SeriesLimits;
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::DropReason;
use crate::model::{Labels, Metadata};
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
    /// The tenant whose requests carry the series, on an endpoint with `tenant` routing.
    tenant: Option<Arc<str>>,
    /// The series' metadata (type, help, unit), set by [`crate::Sender::set_metadata`] (or
    /// read back from the log); read by the shards when they encode, never on the append path.
    metadata: Mutex<Option<Arc<Metadata>>>,
    /// For a series relabeled for an endpoint: the registry's series, whose metadata it shares
    /// (metadata set after the relabeling is seen too).
    metadata_source: Option<Arc<Series>>,
}

impl Series {
    /// A series from its Remote Write 1.0 label bytes (as [`rw1::encode_labels`] writes them),
    /// outside any registry: the WAL's feeders make the series they read back this way. `id`
    /// must not collide with a registry's ids where both meet (feeders count from `1 << 63`).
    pub fn from_encoded(id: u64, encoded_labels: Arc<[u8]>) -> Series {
        Series {
            id,
            shard_hash: fxhash::hash64(&encoded_labels[..]),
            encoded_labels,
            tenant: None,
            metadata: Mutex::new(None),
            metadata_source: None,
        }
    }

    /// The same series sharing the metadata of `source` (the series it was relabeled from).
    pub fn sharing_metadata_of(mut self, source: &Arc<Series>) -> Series {
        self.metadata_source = Some(source.clone());
        self
    }

    /// The series' metadata, when set.
    pub fn metadata(&self) -> Option<Arc<Metadata>> {
        match &self.metadata_source {
            Some(source) => source.metadata(),
            None => lock(&self.metadata).clone(),
        }
    }

    /// Sets (or, with `None`, clears) the series' metadata.
    pub fn set_metadata(&self, metadata: Option<Arc<Metadata>>) {
        match &self.metadata_source {
            Some(source) => source.set_metadata(metadata),
            None => *lock(&self.metadata) = metadata,
        }
    }

    /// The same series sent for `tenant` (an endpoint's `tenant` routing).
    pub fn with_tenant(mut self, tenant: Arc<str>) -> Series {
        self.tenant = Some(tenant);
        self
    }

    /// The tenant whose requests carry the series, when its endpoint routes by tenant.
    pub fn tenant(&self) -> Option<&Arc<str>> {
        self.tenant.as_ref()
    }

    /// The label bytes, shared.
    pub fn encoded_labels_shared(&self) -> &Arc<[u8]> {
        &self.encoded_labels
    }

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

    /// The labels as Prometheus writes a series, `up{instance="a", job="b"}` (values escaped),
    /// for messages and logs.
    pub fn describe(&self) -> String {
        crate::wire::rw1::describe_labels(&self.encoded_labels)
    }
}

/// The bucket of `hash` among `buckets` (a shard among an endpoint's shards, a stripe among the
/// registry's stripes): the hash scaled to the count, a multiply instead of a division on the
/// append path, stable for a given count.
pub fn bucket_of(hash: u64, buckets: usize) -> usize {
    ((u128::from(hash) * buckets as u128) >> 64) as usize
}

/// One registry slot. `uses`, `shard_hash` and `series` change only in register (while the
/// slot is free, so no append can pass the generation check) and release (under the stripe);
/// `last_timestamp`, `has_timestamp`, `busy`, `announced_to` and the drop masks change only
/// under the stripe.
#[derive(Debug, Default)]
struct Slot {
    /// Registers and releases so far (0: never used). A ref's generation is this plus the
    /// registry's seed.
    uses: AtomicU32,
    shard_hash: AtomicU64,
    last_timestamp: AtomicI64,
    has_timestamp: AtomicBool,
    /// An append of the series let go of the stripe to wait for room in a full queue: until
    /// it clears this, other appends of the series wait (on the stripe's condition variable),
    /// so the series' samples still reach every queue in timestamp order.
    busy: AtomicBool,
    announced_to: AtomicU64,
    /// The endpoints (by cache bit) that drop the series, two bits per endpoint giving the
    /// reason: in `drop_low` only, `Relabel`; in `drop_high` only, `NoTenant`; in both,
    /// `RelabelInvalid`.
    drop_low: AtomicU64,
    drop_high: AtomicU64,
    series: Mutex<Option<Arc<Series>>>,
}

/// Slots per chunk; chunks are allocated on demand and never freed while the registry lives
/// (appends read slots without a lock, so a chunk cannot go away under them; a released slot
/// holds no series, so what stays is its fixed-size atomics). Slots are reused before new ones
/// are taken, so the chunks allocated cover the peak of live series, and `promrw.max_series`
/// bounds them.
const CHUNK_SLOTS: usize = 4096;
/// Number of chunks without `promrw.max_series`: up to 2^28 live series.
const MAX_CHUNKS: usize = 1 << 16;

/// The chunk table for `max_series` live series (0: no limit): enough chunks for them, plus
/// one for slots taken to replace retired ones.
fn chunk_table(max_series: usize) -> Box<[OnceLock<SlotChunk>]> {
    let chunks = if max_series == 0 {
        MAX_CHUNKS
    } else {
        (max_series.div_ceil(CHUNK_SLOTS) + 1).min(MAX_CHUNKS)
    };
    (0..chunks).map(|_| OnceLock::new()).collect()
}

/// A block of slots, allocated on first use.
type SlotChunk = Box<[Slot]>;

/// Label sets to refs, and refs to series.
pub struct SeriesRegistry {
    chunks: Box<[OnceLock<SlotChunk>]>,
    stripes: Arc<[CachePadded<Stripe>]>,
    index: Mutex<IndexState>,
    next_id: AtomicU64,
    external_labels: Labels,
    /// Added to a slot's use count to make a ref's generation: differs between registries.
    seed: u32,
    /// Limits on what is registered.
    limits: SeriesLimits,
    /// How long release waits for an append of the series that is blocked for room.
    busy_wait: Duration,
    /// Last timestamps recovered from the WAL, by label bytes: a series registered with
    /// those labels starts from it (then the entry goes).
    restored: Mutex<FxHashMap<Arc<[u8]>, i64>>,
}

/// A seed no other registry of this process has, unpredictable across processes: a process
/// counter hashed with std's randomly keyed hasher.
fn registry_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    static REGISTRIES: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(REGISTRIES.fetch_add(1, Ordering::Relaxed));
    hasher.finish() as u32
}

/// The part of the registry changed only by register and release.
struct IndexState {
    by_labels: FxHashMap<Arc<[u8]>, SeriesRef>,
    free_slots: Vec<u32>,
    next_slot: u32,
}

impl SeriesRegistry {
    /// An empty registry with one order stripe that merges `external_labels` into every series.
    pub fn new(external_labels: Labels) -> Self {
        SeriesRegistry::with_stripes(external_labels, 1)
    }

    /// An empty registry with `stripes` order stripes (at least one). Give it the first
    /// endpoint's shard count, so that the series of one shard share a stripe.
    pub fn with_stripes(external_labels: Labels, stripes: usize) -> Self {
        SeriesRegistry {
            chunks: chunk_table(0),
            stripes: (0..stripes.max(1))
                .map(|_| CachePadded::new(Stripe::default()))
                .collect(),
            index: Mutex::new(IndexState {
                by_labels: FxHashMap::default(),
                free_slots: Vec::new(),
                next_slot: 0,
            }),
            next_id: AtomicU64::new(1),
            external_labels,
            seed: registry_seed(),
            limits: SeriesLimits::default(),
            busy_wait: Duration::ZERO,
            restored: Mutex::new(FxHashMap::default()),
        }
    }

    /// The registry with each series' last timestamp as the WAL holds it (keyed by label
    /// bytes, external labels merged): once registered, such a series refuses appends not
    /// after it (`OutOfOrder`), as before the restart.
    pub fn with_restored_timestamps(self, restored: FxHashMap<Arc<[u8]>, i64>) -> Self {
        *lock(&self.restored) = restored;
        self
    }

    /// The registry with `busy_wait` as the longest a release waits for an append of the
    /// series that let go of the stripe to wait for room (give it the longest
    /// `block_timeout`: such an append ends within that).
    pub fn with_busy_wait(mut self, busy_wait: Duration) -> Self {
        self.busy_wait = busy_wait;
        self
    }

    /// The registry with `limits` on registered series and their labels; its slot table is
    /// sized for `limits.max_series`. Call it before registering anything.
    pub fn with_limits(mut self, limits: SeriesLimits) -> Self {
        debug_assert!(self.is_empty(), "limits are set on a new registry");
        self.limits = limits;
        if lock(&self.index).next_slot == 0 {
            self.chunks = chunk_table(limits.max_series);
        }
        self
    }

    /// `labels` against the label limits (their own labels, before external ones are merged).
    fn check_label_limits(&self, labels: &Labels) -> Result<()> {
        let limits = &self.limits;
        let refuse = |message: String| Err(Error::new(ErrorKind::InvalidLabels, message));
        let count = labels.as_slice().len();
        if limits.label_limit > 0 && count > limits.label_limit {
            return refuse(format!(
                "series {} has {count} labels, more than promrw.label_limit ({})",
                crate::wire::rw1::describe_labels(&rw1::encode_labels(labels)),
                limits.label_limit
            ));
        }
        for label in labels.as_slice() {
            if limits.label_name_length_limit > 0
                && label.name.len() > limits.label_name_length_limit
            {
                return refuse(format!(
                    "label name {:?} is {} bytes, more than promrw.label_name_length_limit ({})",
                    label.name,
                    label.name.len(),
                    limits.label_name_length_limit
                ));
            }
            if limits.label_value_length_limit > 0
                && label.value.len() > limits.label_value_length_limit
            {
                return refuse(format!(
                    "the value of label {:?} is {} bytes, more than promrw.label_value_length_limit ({})",
                    label.name,
                    label.value.len(),
                    limits.label_value_length_limit
                ));
            }
        }
        Ok(())
    }

    /// Registers `labels` (already validated) and returns its ref. Label sets that are equal
    /// once external labels are merged give the same ref until released.
    pub fn register(&self, labels: Labels) -> Result<SeriesRef> {
        self.check_label_limits(&labels)?;
        let full = labels.with_external(&self.external_labels);
        let encoded = rw1::encode_labels(&full);
        let mut index = lock(&self.index);
        if let Some(existing) = index.by_labels.get(encoded.as_slice()) {
            return Ok(*existing);
        }
        let max = self.limits.max_series;
        if max > 0 && index.by_labels.len() >= max {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "series limit reached: {max} series are registered (promrw.max_series); release series that are no longer used"
                ),
            ));
        }
        let slot_number = match index.free_slots.pop() {
            Some(slot) => slot,
            None => {
                if index.next_slot as usize >= CHUNK_SLOTS * self.chunks.len() {
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
            tenant: None,
            metadata: Mutex::new(None),
            metadata_source: None,
        });
        // The slot is free: an append can only reach its fields after seeing the generation
        // stored last (release ordering), so no stripe is needed here.
        let slot = self.slot(slot_number);
        slot.shard_hash.store(series.shard_hash, Ordering::Relaxed);
        let restored = self.take_restored(&encoded_labels);
        slot.last_timestamp
            .store(restored.unwrap_or(0), Ordering::Relaxed);
        slot.has_timestamp
            .store(restored.is_some(), Ordering::Relaxed);
        slot.busy.store(false, Ordering::Relaxed);
        slot.announced_to.store(0, Ordering::Relaxed);
        slot.drop_low.store(0, Ordering::Relaxed);
        slot.drop_high.store(0, Ordering::Relaxed);
        *lock(&slot.series) = Some(series);
        let uses = self.next_uses(slot.uses.load(Ordering::Relaxed));
        slot.uses.store(uses, Ordering::Release);
        let generation = uses.wrapping_add(self.seed);
        let series_ref = SeriesRef((u64::from(generation) << 32) | u64::from(slot_number));
        index.by_labels.insert(encoded_labels, series_ref);
        Ok(series_ref)
    }

    /// The last timestamp the WAL held for `encoded` labels, taken out of the map.
    fn take_restored(&self, encoded: &[u8]) -> Option<i64> {
        let mut restored = lock(&self.restored);
        if restored.is_empty() {
            return None;
        }
        restored.remove(encoded)
    }

    /// Forgets a series. Samples already queued are still sent; appends with the old ref fail
    /// with `UnknownSeries`; registering the same labels again gives a new ref. Waits for an
    /// append of the series in progress: one holding the stripe (a moment), or one that let go
    /// of it to wait for room (until it has offered its sample to every endpoint, at most the
    /// registry's busy wait), so that sample reaches every endpoint or none. Appends of other
    /// series never hold it up.
    pub fn release(&self, series_ref: SeriesRef) -> Result<()> {
        self.release_with(series_ref, |_| {})
    }

    /// [`SeriesRegistry::release`], running `before` on the slot first, its stripe held (no
    /// sample of the series can be queued after it), e.g. to tell shards to purge the series.
    /// The registry drops its own references to the series (slot and index), so its label
    /// bytes are freed once the shards have let go of it too.
    pub fn release_with(
        &self,
        series_ref: SeriesRef,
        before: impl FnOnce(&LockedSlot<'_>),
    ) -> Result<()> {
        // Lock order: stripe, then index (register takes only the index).
        let found = self.find(series_ref)?;
        let mut stripe = self.lock_stripe(found.stripe);
        let deadline = crate::deadline_after(self.busy_wait);
        while found.lock(&stripe)?.is_busy() && Instant::now() < deadline {
            stripe = stripe.wait_until(deadline);
        }
        let slot = found.lock(&stripe)?;
        before(&slot);
        let mut index = lock(&self.index);
        let series = lock(&slot.slot.series).take();
        if let Some(series) = series {
            index.by_labels.remove(series.encoded_labels());
            // After a spike, give back the index's table (amortised: it has to fall to a
            // quarter again before the next shrink).
            let len = index.by_labels.len();
            if index.by_labels.capacity() > MIN_SHRINK_INDEX && index.by_labels.capacity() > 4 * len
            {
                index.by_labels.shrink_to(2 * len);
            }
        }
        slot.slot.has_timestamp.store(false, Ordering::Relaxed);
        if slot.slot.busy.swap(false, Ordering::Relaxed) {
            // Appends waiting for the blocked one find the series gone.
            stripe.wake_waiters();
        }
        let uses = self.next_uses(slot.slot.uses.load(Ordering::Relaxed));
        slot.slot.uses.store(uses, Ordering::Release);
        // A slot whose next registration would wrap its count is retired: its generations
        // are never issued twice.
        if uses < RETIRE_AT {
            index.free_slots.push(series_ref.slot());
        }
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

    /// The live series of `series_ref`; `UnknownSeries` for refs never issued or released.
    pub fn series(&self, series_ref: SeriesRef) -> Result<Arc<Series>> {
        self.with_slot(series_ref, |slot| slot.series())
    }

    /// Runs `f` on the slot of a live `series_ref` with its stripe held (for callers that use
    /// one slot; a batch append keeps a stripe across slots with [`SeriesRegistry::find`] and
    /// [`FoundSlot::lock`]).
    pub fn with_slot<T>(
        &self,
        series_ref: SeriesRef,
        f: impl FnOnce(&LockedSlot<'_>) -> Result<T>,
    ) -> Result<T> {
        let found = self.find(series_ref)?;
        let stripe = self.lock_stripe(found.stripe);
        f(&found.lock(&stripe)?)
    }

    /// Finds the slot of a live `series_ref` without locking anything, and the stripe to lock
    /// before using it ([`FoundSlot::lock`] checks again under the stripe); `UnknownSeries` for
    /// refs never issued or released.
    pub fn find(&self, series_ref: SeriesRef) -> Result<FoundSlot<'_>> {
        let slot_number = series_ref.slot() as usize;
        let slot = self
            .chunks
            .get(slot_number / CHUNK_SLOTS)
            .and_then(OnceLock::get)
            .map(|chunk| &chunk[slot_number % CHUNK_SLOTS])
            .ok_or_else(|| unknown_series(series_ref))?;
        let uses = series_ref.generation().wrapping_sub(self.seed);
        check_uses(slot, uses, series_ref, Ordering::Acquire)?;
        Ok(FoundSlot {
            slot,
            series_ref,
            uses,
            stripe: bucket_of(slot.shard_hash.load(Ordering::Relaxed), self.stripes.len()),
        })
    }

    /// The order stripes, for an endpoint that changes its shard set while holding them all.
    pub fn order_stripes(&self) -> OrderStripes {
        OrderStripes(self.stripes.clone())
    }

    /// Locks order stripe `stripe` (from [`FoundSlot::stripe`]).
    pub fn lock_stripe(&self, stripe: usize) -> StripeGuard<'_> {
        let locked = &self.stripes[stripe];
        StripeGuard {
            stripe,
            state: lock(&locked.state),
            cv: &locked.cv,
        }
    }

    /// The slot, allocating its chunk on first use.
    fn slot(&self, slot: u32) -> &Slot {
        let slot = slot as usize;
        let chunk = self.chunks[slot / CHUNK_SLOTS]
            .get_or_init(|| (0..CHUNK_SLOTS).map(|_| Slot::default()).collect());
        &chunk[slot % CHUNK_SLOTS]
    }
}

/// Capacity of the label index below which it is never shrunk.
const MIN_SHRINK_INDEX: usize = 4096;

/// A slot's use count at or past which it is retired on release (so counts never wrap).
const RETIRE_AT: u32 = u32::MAX - 4;

impl SeriesRegistry {
    /// The use count after `uses`, skipping a count whose generation would be 0 (no ref
    /// carries generation 0, so ref 0 is never valid).
    fn next_uses(&self, uses: u32) -> u32 {
        let mut next = uses + 1;
        if next.wrapping_add(self.seed) == 0 {
            next += 1;
        }
        next
    }
}

/// `UnknownSeries` unless `slot` holds use count `uses` (the ref's generation less the seed).
/// A released slot's count is one no ref was issued with, so this is also the liveness check;
/// a ref of another registry carries another seed, so it fails here too.
fn check_uses(slot: &Slot, uses: u32, series_ref: SeriesRef, order: Ordering) -> Result<()> {
    if uses == 0 || series_ref.generation() == 0 || slot.uses.load(order) != uses {
        return Err(unknown_series(series_ref));
    }
    Ok(())
}

/// A registry's order stripes, shared with the endpoints that reshard.
#[derive(Clone)]
pub struct OrderStripes(Arc<[CachePadded<Stripe>]>);

impl OrderStripes {
    /// Runs `f` holding every stripe (taken in index order: a holder of a stripe never waits
    /// for another), so no append or release runs meanwhile.
    pub fn with_all_held<R>(&self, f: impl FnOnce() -> R) -> R {
        let guards: Vec<_> = self.0.iter().map(|stripe| lock(&stripe.state)).collect();
        let result = f();
        drop(guards);
        result
    }
}

/// An order stripe: the lock, and the condition appends of a busy series wait on.
#[derive(Debug, Default)]
struct Stripe {
    state: Mutex<StripeState>,
    cv: Condvar,
}

/// What a stripe's lock guards besides the slots of its series.
#[derive(Debug, Default)]
struct StripeState {
    /// Appends waiting on the condition for a busy series of the stripe.
    waiters: usize,
}

/// A held order stripe (see the module doc).
#[derive(Debug)]
pub struct StripeGuard<'a> {
    stripe: usize,
    state: MutexGuard<'a, StripeState>,
    cv: &'a Condvar,
}

impl<'a> StripeGuard<'a> {
    /// Which stripe is held.
    pub fn stripe(&self) -> usize {
        self.stripe
    }

    /// Lets go of the stripe until [`StripeGuard::wake_waiters`] is called by another holder
    /// or `deadline` passes, then holds it again. The caller checks what it waited for.
    pub fn wait_until(self, deadline: Instant) -> StripeGuard<'a> {
        let StripeGuard {
            stripe,
            mut state,
            cv,
        } = self;
        let now = Instant::now();
        if now < deadline {
            state.waiters += 1;
            state = cv
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            state.waiters -= 1;
        }
        StripeGuard { stripe, state, cv }
    }

    /// Wakes the appends waiting in [`StripeGuard::wait_until`] on this stripe, if any.
    pub fn wake_waiters(&self) {
        if self.state.waiters > 0 {
            self.cv.notify_all();
        }
    }
}

/// The slot of a ref that was live when found, not locked yet.
#[derive(Debug, Clone, Copy)]
pub struct FoundSlot<'a> {
    slot: &'a Slot,
    series_ref: SeriesRef,
    uses: u32,
    stripe: usize,
}

impl<'a> FoundSlot<'a> {
    /// The order stripe to hold while using the slot.
    pub fn stripe(&self) -> usize {
        self.stripe
    }

    /// The slot, once its stripe is held: `UnknownSeries` when the series was released
    /// meanwhile. The slot can be used for as long as the stripe stays held.
    pub fn lock<'g>(self, stripe: &'g StripeGuard<'_>) -> Result<LockedSlot<'g>>
    where
        'a: 'g,
    {
        debug_assert_eq!(stripe.stripe, self.stripe, "the slot's own stripe");
        check_uses(self.slot, self.uses, self.series_ref, Ordering::Relaxed)?;
        Ok(LockedSlot {
            slot: self.slot,
            series_ref: self.series_ref,
        })
    }
}

/// The slot of a live series whose order stripe is held: what an append reads and updates.
#[derive(Debug)]
pub struct LockedSlot<'g> {
    slot: &'g Slot,
    series_ref: SeriesRef,
}

impl LockedSlot<'_> {
    /// The series' ref.
    pub fn series_ref(&self) -> SeriesRef {
        self.series_ref
    }

    /// The live series.
    pub fn series(&self) -> Result<Arc<Series>> {
        lock(&self.slot.series)
            .clone()
            .ok_or_else(|| unknown_series(self.series_ref))
    }

    /// The last accepted timestamp of the series, if any.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.slot
            .has_timestamp
            .load(Ordering::Relaxed)
            .then(|| self.slot.last_timestamp.load(Ordering::Relaxed))
    }

    /// True while another append of the series waits for room outside the stripe
    /// ([`LockedSlot::set_busy`]).
    pub fn is_busy(&self) -> bool {
        self.slot.busy.load(Ordering::Relaxed)
    }

    /// Marks the series busy (an append of it is about to let go of the stripe to wait for
    /// room) or no longer busy. Whoever clears it wakes the stripe's waiters.
    pub fn set_busy(&self, busy: bool) {
        self.slot.busy.store(busy, Ordering::Relaxed);
    }

    /// Records `timestamp` as the last accepted one.
    pub fn set_last_timestamp(&self, timestamp: i64) {
        self.slot.last_timestamp.store(timestamp, Ordering::Relaxed);
        self.slot.has_timestamp.store(true, Ordering::Relaxed);
    }

    /// The series' shard hash (a copy kept in the slot, so the hot path does not read the
    /// series).
    pub fn shard_hash(&self) -> u64 {
        self.slot.shard_hash.load(Ordering::Relaxed)
    }

    /// What a queued sample must carry for the endpoint with cache bit `endpoint_bit`: the
    /// series itself until a sample carrying it was queued for that endpoint
    /// ([`LockedSlot::mark_announced`]), then nothing (the shard resolves the ref in its
    /// cache).
    pub fn announce_for(&self, endpoint_bit: u64) -> Option<Arc<Series>> {
        if endpoint_bit != 0
            && self.slot.announced_to.load(Ordering::Relaxed) & endpoint_bit == endpoint_bit
        {
            None
        } else {
            self.series_to_announce()
        }
    }

    /// The series for an announcing sample (once per series and endpoint, so out of line).
    #[cold]
    fn series_to_announce(&self) -> Option<Arc<Series>> {
        // Live under the stripe: release cannot have taken the series.
        lock(&self.slot.series).clone()
    }

    /// True when a sample of the series may be queued for the endpoint with cache bit
    /// `endpoint_bit` (an endpoint past the 64th has no bit, so always).
    pub fn was_announced(&self, endpoint_bit: u64) -> bool {
        endpoint_bit == 0
            || self.slot.announced_to.load(Ordering::Relaxed) & endpoint_bit == endpoint_bit
    }

    /// Records that a sample carrying the series was queued for the endpoint with cache bit
    /// `endpoint_bit`: its shard will have the series cached before it sees a later sample.
    pub fn mark_announced(&self, endpoint_bit: u64) {
        let announced = self.slot.announced_to.load(Ordering::Relaxed);
        self.slot
            .announced_to
            .store(announced | endpoint_bit, Ordering::Relaxed);
    }
}

impl LockedSlot<'_> {
    /// Why the endpoint with cache bit `endpoint_bit` drops the series, when its
    /// `write_relabel_configs` or `tenant` routing do ([`LockedSlot::mark_relabel_dropped`]);
    /// an endpoint past the 64th has no bit, so it relabels every sample instead.
    pub fn relabel_dropped(&self, endpoint_bit: u64) -> Option<DropReason> {
        if endpoint_bit == 0 {
            return None;
        }
        let low = self.slot.drop_low.load(Ordering::Relaxed) & endpoint_bit != 0;
        let high = self.slot.drop_high.load(Ordering::Relaxed) & endpoint_bit != 0;
        match (low, high) {
            (false, false) => None,
            (true, false) => Some(DropReason::Relabel),
            (false, true) => Some(DropReason::NoTenant),
            (true, true) => Some(DropReason::RelabelInvalid),
        }
    }

    /// Records that the endpoint with cache bit `endpoint_bit` drops the series for `reason`
    /// ([`DropReason::Relabel`], [`DropReason::RelabelInvalid`] or [`DropReason::NoTenant`]):
    /// its later samples are dropped without relabeling again.
    pub fn mark_relabel_dropped(&self, endpoint_bit: u64, reason: DropReason) {
        let (low, high) = match reason {
            DropReason::NoTenant => (false, true),
            DropReason::RelabelInvalid => (true, true),
            _ => (true, false),
        };
        for (set, mask) in [(low, &self.slot.drop_low), (high, &self.slot.drop_high)] {
            if set {
                mask.store(
                    mask.load(Ordering::Relaxed) | endpoint_bit,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// The error for a ref that was never issued or was released.
fn unknown_series(series_ref: SeriesRef) -> Error {
    Error::new(
        ErrorKind::UnknownSeries,
        format!("series ref {} is unknown or was released", series_ref.0),
    )
}

impl SeriesRef {
    /// The registry slot the ref points at (slots are reused after release).
    pub fn slot(self) -> u32 {
        self.0 as u32
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

    /// The locked slot's last timestamp.
    fn last_timestamp(reg: &SeriesRegistry, r: SeriesRef) -> Result<Option<i64>> {
        reg.with_slot(r, |slot| Ok(slot.last_timestamp()))
    }

    #[test]
    fn refs_of_one_registry_are_refused_by_another() {
        let a = SeriesRegistry::new(Labels::default());
        let b = SeriesRegistry::new(Labels::default());
        let in_a = a.register(labels("x")).unwrap();
        let in_b = b.register(labels("x")).unwrap();
        assert_eq!(in_a.slot(), in_b.slot(), "same slot in both");
        assert_ne!(in_a, in_b, "different seeds give different refs");
        assert_eq!(b.find(in_a).unwrap_err().kind(), ErrorKind::UnknownSeries);
        assert_eq!(a.find(in_b).unwrap_err().kind(), ErrorKind::UnknownSeries);
        assert_eq!(
            a.find(SeriesRef(0)).unwrap_err().kind(),
            ErrorKind::UnknownSeries
        );
        assert!(a.find(in_a).is_ok() && b.find(in_b).is_ok());
    }

    #[test]
    fn a_slot_about_to_wrap_its_count_is_retired_not_reissued() {
        let reg = SeriesRegistry::new(Labels::default());
        let first = reg.register(labels("w")).unwrap();
        reg.release(first).unwrap();
        // Pretend the slot was reused about 2^32 times.
        reg.slot(first.slot())
            .uses
            .store(RETIRE_AT - 2, Ordering::Relaxed);
        let late = reg.register(labels("w")).unwrap();
        assert_eq!(late.slot(), first.slot(), "the free slot is reused");
        reg.release(late).unwrap();
        let next = reg.register(labels("w")).unwrap();
        assert_ne!(next.slot(), late.slot(), "the worn-out slot is retired");
        for stale in [first, late] {
            assert_eq!(
                reg.find(stale).unwrap_err().kind(),
                ErrorKind::UnknownSeries
            );
        }
    }

    #[test]
    fn same_labels_same_ref_and_release_invalidates() {
        let reg = SeriesRegistry::new(Labels::default());
        let a = reg.register(labels("a")).unwrap();
        assert_eq!(reg.register(labels("a")).unwrap(), a);
        let b = reg.register(labels("b")).unwrap();
        assert_ne!(a, b);
        reg.release(a).unwrap();
        assert_eq!(reg.find(a).unwrap_err().kind(), ErrorKind::UnknownSeries);
        assert_eq!(reg.series(a).unwrap_err().kind(), ErrorKind::UnknownSeries);
        assert_eq!(reg.release(a).unwrap_err().kind(), ErrorKind::UnknownSeries);
        let c = reg.register(labels("c")).unwrap();
        assert_eq!(c.slot(), a.slot(), "released slot is reused");
        assert_ne!(c, a, "with a new generation");
        assert_eq!(reg.len(), 2);
        assert!(reg.find(SeriesRef(0)).is_err());
        assert!(reg.find(SeriesRef(u64::MAX)).is_err());
        assert_eq!(reg.series(b).unwrap().encoded_labels().len(), {
            let full = labels("b");
            rw1::encode_labels(&full).len()
        });
    }

    #[test]
    fn a_reused_slot_starts_without_timestamp_or_announcements() {
        let reg = SeriesRegistry::new(Labels::default());
        let a = reg.register(labels("a")).unwrap();
        reg.with_slot(a, |slot| {
            slot.set_last_timestamp(7);
            slot.mark_announced(1);
            assert!(slot.announce_for(1).is_none());
            Ok(())
        })
        .unwrap();
        assert_eq!(last_timestamp(&reg, a).unwrap(), Some(7));
        reg.release(a).unwrap();
        let b = reg.register(labels("b")).unwrap();
        assert_eq!(b.slot(), a.slot());
        assert_eq!(last_timestamp(&reg, b).unwrap(), None);
        let b_id = reg.series(b).unwrap().id();
        reg.with_slot(b, |slot| {
            let announced = slot
                .announce_for(1)
                .expect("a new series is announced again");
            assert_eq!(announced.id(), b_id);
            assert_eq!(slot.shard_hash(), announced.shard_hash());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_release_between_find_and_lock_is_detected() {
        let reg = SeriesRegistry::with_stripes(Labels::default(), 4);
        let a = reg.register(labels("a")).unwrap();
        let found = reg.find(a).unwrap();
        reg.release(a).unwrap();
        let stripe = reg.lock_stripe(found.stripe());
        assert_eq!(
            found.lock(&stripe).unwrap_err().kind(),
            ErrorKind::UnknownSeries
        );
    }

    #[test]
    fn stripes_follow_the_shard_hash() {
        let reg = SeriesRegistry::with_stripes(Labels::default(), 3);
        for i in 0..100 {
            let r = reg.register(labels(&format!("m{i}"))).unwrap();
            let found = reg.find(r).unwrap();
            let hash = reg.series(r).unwrap().shard_hash();
            assert_eq!(found.stripe(), bucket_of(hash, 3));
        }
        assert_eq!(
            SeriesRegistry::with_stripes(Labels::default(), 0)
                .stripes
                .len(),
            1
        );
    }

    #[test]
    fn bucket_of_spreads_hashes_over_every_bucket_and_stays_in_range() {
        for buckets in [1usize, 2, 3, 4, 7, 16] {
            let mut seen = vec![0usize; buckets];
            for i in 0..10_000u64 {
                let index = bucket_of(fxhash::hash64(&i), buckets);
                assert!(index < buckets);
                seen[index] += 1;
            }
            assert!(
                seen.iter().all(|&n| n > 10_000 / buckets / 2),
                "{buckets} buckets: {seen:?}"
            );
        }
        assert_eq!(bucket_of(u64::MAX, 4), 3);
        assert_eq!(bucket_of(0, 4), 0);
    }

    #[test]
    fn max_series_bounds_the_slot_table_and_released_slots_hold_no_series() {
        let limits = SeriesLimits {
            max_series: 5000,
            ..SeriesLimits::default()
        };
        let reg = SeriesRegistry::new(Labels::default()).with_limits(limits);
        assert_eq!(reg.chunks.len(), 3, "two chunks for 5000 series, one spare");
        let refs: Vec<_> = (0..5000)
            .map(|i| reg.register(labels(&format!("m{i}"))).unwrap())
            .collect();
        let weak: Vec<_> = refs
            .iter()
            .map(|r| Arc::downgrade(&reg.series(*r).unwrap()))
            .collect();
        for r in &refs {
            reg.release(*r).unwrap();
        }
        assert!(
            weak.iter().all(|w| w.upgrade().is_none()),
            "released series (and their label bytes) are freed at release"
        );
        assert!(
            lock(&reg.index).by_labels.capacity() < 4096,
            "the index shrank"
        );
        assert_eq!(
            SeriesRegistry::new(Labels::default()).chunks.len(),
            MAX_CHUNKS
        );
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
