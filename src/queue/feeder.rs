//! The feeder of one endpoint in WAL mode: one thread that reads the log from the endpoint's
//! cursor (from the writer's in-memory tail while it keeps up, from the files when it fell
//! behind) and pushes the samples into the endpoint's shard queues, waiting for room, never
//! dropping. It keeps, per shard, the records whose samples that shard has not finished, so it
//! knows the endpoint's cursor: the first record not done for every shard (docs/ARCHITECTURE.md,
//! "Durable queue (WAL mode)"). It persists the cursor at most once a second and at close; the
//! writer deletes the segments below every endpoint's cursor.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fxhash::FxHashMap;

use super::kinds::{Admitted, ItemKinds};
use super::pending::PushError;
use super::relabeling::{Relabeled, route_series};
use super::shard::{self, RUN, ShardShared};
use super::{EndpointContext, EndpointQueue};
use crate::log::LogLevel;
use crate::metrics::DropReason;
use crate::model::SampleExtra;
use crate::series::{Series, SeriesRef, bucket_of, lock};
use crate::wal::cursor::{CursorStore, Position};
use crate::wal::reader::{LogReader, ReadRecord, ReadSample};
use crate::wal::writer::Writer;

/// The cursor is persisted at most this often while running.
const PERSIST_EVERY: Duration = Duration::from_secs(1);
/// How long the feeder waits for the writer, or for room, before it looks at its stop flag
/// and its cursor again.
const POLL: Duration = Duration::from_millis(50);
/// Feeder series ids start here, far from any registry's.
const FIRST_SERIES_ID: u64 = 1 << 63;

/// What the sender and the feeder thread share.
#[derive(Debug, Default)]
struct Control {
    state: Mutex<ControlState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct ControlState {
    /// Where the next record to push starts: everything before is in the shard queues (or
    /// done).
    fed: Position,
    /// The cursor last computed (the first record not done).
    cursor: Position,
    /// Stop now (close).
    stop: bool,
    /// Damaged stretches the reader skipped.
    skipped: u64,
    /// A reshard's new shard set, for the feeder to push to from the next record on.
    adopt: Option<Vec<Arc<ShardShared>>>,
}

/// The reshard thread's way to hand a WAL-mode endpoint's feeder a new shard set: the feeder
/// is the only pusher, so it switches itself between two records (no stripes involved).
#[derive(Debug, Clone)]
pub struct FeederLink(Arc<Control>);

impl FeederLink {
    /// Offers `shards` to the feeder and waits up to `timeout` for it to take them at its next
    /// record boundary. True when it did (it pushes only to them from then on); false when it
    /// stopped or did not come to a boundary in time (waiting for room in a full queue), in
    /// which case the offer is withdrawn.
    pub fn hand(&self, shards: Vec<Arc<ShardShared>>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.0.state);
        if state.stop {
            return false;
        }
        state.adopt = Some(shards);
        self.0.changed.notify_all();
        loop {
            if state.adopt.is_none() {
                // Taken, under this lock: the feeder has switched.
                return true;
            }
            let now = Instant::now();
            if state.stop || now >= deadline {
                state.adopt = None;
                return false;
            }
            state = self
                .0
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A shard the feeder pushed to before a reshard, until everything it pushed there is done.
#[derive(Debug)]
struct RetiredShard {
    shard: Arc<ShardShared>,
    fifo: VecDeque<(u64, u64)>,
    finished_base: u64,
}

/// Samples `shard` finished (done, less those abandoned, which stay in the log).
fn finished_of(shard: &ShardShared) -> u64 {
    shard
        .done
        .load(Ordering::SeqCst)
        .saturating_sub(shard.abandoned.load(Ordering::SeqCst))
}

/// A running feeder: its thread and what the sender asks of it.
pub struct FeederHandle {
    control: Arc<Control>,
    thread: Mutex<Option<JoinHandle<Feeder>>>,
    /// The feeder's state once its thread ended, to compute the final cursor.
    ended: Mutex<Option<Feeder>>,
    shards: Vec<Arc<ShardShared>>,
}

/// A feeder series: what its samples are queued as.
#[derive(Debug)]
struct FeedSeries {
    /// The series as queued (relabeled for the endpoint, sharing the metadata of `source`).
    series: Arc<Series>,
    /// The series as logged, before relabeling (its name keys the metadata book).
    source: Arc<Series>,
    series_ref: SeriesRef,
    shard: usize,
    /// A sample carrying the series was queued to its shard.
    announced: bool,
    /// The last segment a sample of it was read from.
    last_segment: u64,
    /// The endpoint's `write_relabel_configs` drop it, for this reason.
    dropped: Option<DropReason>,
}

/// The feeder's series: by label bytes, and by id in the segment being read.
#[derive(Debug, Default)]
struct FeedSeriesTable {
    by_labels: FxHashMap<Arc<[u8]>, u32>,
    slots: Vec<Option<FeedSeries>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    /// Log id in `ids_segment` -> slot (`u32::MAX`: not looked up yet).
    ids: Vec<u32>,
    ids_segment: u64,
    next_id: u64,
}

/// The feeder thread's state.
pub struct Feeder {
    ctx: Arc<EndpointContext>,
    shards: Vec<Arc<ShardShared>>,
    control: Arc<Control>,
    writer: Arc<Writer>,
    reader: LogReader,
    cursors: Arc<CursorStore>,
    /// The endpoint's id in the cursor store.
    id: String,
    /// The endpoint's index among the writer's cursors.
    index: usize,
    series: FeedSeriesTable,
    /// Records pushed and perhaps not done: `(seq, start)`.
    records: VecDeque<(u64, Position)>,
    /// Per shard: `(seq, samples pushed to the shard once that record was)`.
    per_shard: Vec<VecDeque<(u64, u64)>>,
    /// Samples pushed to each shard since the feeder took it.
    pushed: Vec<u64>,
    /// Per shard, [`finished_of`] when the feeder took it: `pushed` and the finished count
    /// less this are counted from the same point (shard objects are reused by reshards).
    finished_base: Vec<u64>,
    /// Shards of earlier sets with records not done yet (the cursor waits for them).
    retired: Vec<RetiredShard>,
    next_seq: u64,
    /// The seq of a record only partly pushed (a stop came while it waited for room).
    partial: Option<u64>,
    /// Per shard, the samples of the record being pushed (kept to reuse their memory).
    runs: Vec<Vec<(u32, i64, f64)>>,
    /// The same for an Extended samples record: each item with its admitted extra part.
    extended_runs: Vec<Vec<ExtendedItem>>,
    /// Where the next record starts.
    fed: Position,
    persisted: Position,
    last_persist: Instant,
    /// A read error was logged (until reading works again).
    read_error: bool,
}

impl EndpointQueue {
    /// Starts this endpoint's feeder (WAL mode): it reads the log with `reader` (positioned at
    /// the endpoint's cursor `start`) up to what `writer` has written, and keeps the cursor
    /// in `cursors` under `id` and in the writer's cursor `index`.
    pub fn start_feeder(
        &self,
        writer: Arc<Writer>,
        reader: LogReader,
        cursors: Arc<CursorStore>,
        id: String,
        index: usize,
        start: Position,
    ) -> crate::Result<FeederHandle> {
        let control = Arc::new(Control::default());
        {
            let mut state = lock(&control.state);
            state.fed = start;
            state.cursor = start;
        }
        let shards = self.pool.current_shards();
        let feeder = Feeder {
            ctx: self.ctx.clone(),
            shards: shards.clone(),
            control: control.clone(),
            writer,
            reader,
            cursors,
            id,
            index,
            series: FeedSeriesTable {
                next_id: FIRST_SERIES_ID,
                ids_segment: u64::MAX,
                ..FeedSeriesTable::default()
            },
            records: VecDeque::new(),
            per_shard: vec![VecDeque::new(); shards.len()],
            pushed: vec![0; shards.len()],
            finished_base: shards.iter().map(|shard| finished_of(shard)).collect(),
            retired: Vec::new(),
            next_seq: 0,
            partial: None,
            runs: Vec::new(),
            extended_runs: Vec::new(),
            fed: start,
            persisted: start,
            last_persist: Instant::now(),
            read_error: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("promrw-{}-feed", self.ctx.remote_name))
            .spawn(move || feeder.run())
            .map_err(|e| {
                crate::Error::new(
                    crate::ErrorKind::Io,
                    format!("cannot start the WAL feeder thread: {e}"),
                )
            })?;
        *lock(&self.feeder_link) = Some(FeederLink(control.clone()));
        Ok(FeederHandle {
            control,
            thread: Mutex::new(Some(thread)),
            ended: Mutex::new(None),
            shards,
        })
    }
}

impl FeederHandle {
    /// Waits until everything before `target` is in the shard queues (or done), or `deadline`
    /// passes; true when it is.
    pub fn wait_fed(&self, target: Position, deadline: Instant) -> bool {
        let mut state = lock(&self.control.state);
        loop {
            if state.fed >= target {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || state.stop {
                return false;
            }
            state = self
                .control
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Damaged stretches of the log the feeder's reader skipped.
    pub fn skipped(&self) -> u64 {
        lock(&self.control.state).skipped
    }

    /// The cursor last computed by the feeder (the first record not done).
    pub fn cursor(&self) -> Position {
        lock(&self.control.state).cursor
    }

    /// Stops the feeder thread (it leaves a record it waits to push for the next sender)
    /// and joins it.
    pub fn stop(&self) {
        lock(&self.control.state).stop = true;
        self.control.changed.notify_all();
        for shard in &self.shards {
            shard.wake_producers();
        }
        if let Some(thread) = lock(&self.thread).take() {
            match thread.join() {
                Ok(feeder) => *lock(&self.ended) = Some(feeder),
                Err(_) => {
                    // The feeder panicked: its cursor stays where it was last persisted.
                }
            }
        }
    }

    /// After [`FeederHandle::stop`] and once the shard threads ended: computes the final
    /// cursor from what the shards finished, persists it and hands it to the writer. Returns
    /// it (`None` when the feeder thread had panicked).
    pub fn finish(&self) -> Option<Position> {
        let mut ended = lock(&self.ended);
        let feeder = ended.as_mut()?;
        let cursor = feeder.cursor();
        feeder.persist(cursor);
        Some(cursor)
    }
}

impl Feeder {
    /// The feeder thread: read, push, keep the cursor, until stopped.
    fn run(mut self) -> Feeder {
        loop {
            if self.stopping() {
                break;
            }
            let offered = lock(&self.control.state).adopt.take();
            if let Some(shards) = offered {
                self.control.changed.notify_all();
                self.adopt(shards);
            }
            let limit = self.writer.read_limit();
            match self.reader.next_record(limit) {
                Ok(Some(record)) => {
                    self.read_error = false;
                    if !self.push_record(record) {
                        break;
                    }
                }
                Ok(None) => {
                    self.read_error = false;
                    // Caught up: whatever the reader passed (Series records, damage) is done.
                    self.fed = self.fed.max(self.reader.position());
                    self.publish();
                    self.wait_for_writer(limit.written_end);
                }
                Err(e) => {
                    if !self.read_error {
                        self.read_error = true;
                        self.ctx.logger.log(LogLevel::Error, || {
                            format!(
                                "{}: cannot read the WAL at {:?}: {e}; retrying",
                                self.ctx.describe(),
                                self.reader.position()
                            )
                        });
                    }
                    self.wait_for_writer(limit.written_end);
                }
            }
            if self.last_persist.elapsed() >= PERSIST_EVERY {
                let cursor = self.publish();
                self.persist(cursor);
            }
        }
        self.publish();
        self
    }

    fn stopping(&self) -> bool {
        lock(&self.control.state).stop
    }

    /// Pushes to `shards` (a reshard's new set, whose threads hold until the old set has
    /// drained) from now on. The old shards' records stay in the cursor's count until they
    /// are done; every series moves to its bucket in the new set, still announced (its cache
    /// entry is handed over to that shard).
    fn adopt(&mut self, shards: Vec<Arc<ShardShared>>) {
        let old = std::mem::replace(&mut self.shards, shards);
        let fifos = std::mem::take(&mut self.per_shard);
        let bases = std::mem::take(&mut self.finished_base);
        for ((shard, fifo), finished_base) in old.into_iter().zip(fifos).zip(bases) {
            if !fifo.is_empty() {
                self.retired.push(RetiredShard {
                    shard,
                    fifo,
                    finished_base,
                });
            }
        }
        let count = self.shards.len();
        self.per_shard = vec![VecDeque::new(); count];
        self.pushed = vec![0; count];
        self.finished_base = self.shards.iter().map(|shard| finished_of(shard)).collect();
        for entry in self.series.slots.iter_mut().flatten() {
            entry.shard = bucket_of(entry.series.shard_hash(), count);
        }
    }

    /// Waits up to [`POLL`] for the writer to write past `end`, or for a stop.
    fn wait_for_writer(&self, end: Position) {
        let deadline = Instant::now() + POLL;
        while Instant::now() < deadline && !self.stopping() {
            if self.writer.read_limit().written_end > end {
                return;
            }
            self.writer.wait_progress_for(Duration::from_millis(10));
        }
    }

    /// Pushes the samples of `record` into the shard queues, waiting for room. False when a
    /// stop came first (the record is then left partly pushed, and the cursor stays before
    /// it).
    fn push_record(&mut self, record: ReadRecord) -> bool {
        if record.at.segment != self.series.ids_segment {
            self.enter_segment(record.at.segment);
        }
        for id in &record.defined {
            if let Some(place) = self.series.ids.get_mut(*id as usize) {
                *place = u32::MAX;
            }
        }
        for (id, metadata) in record.metadata {
            self.set_metadata(id, metadata);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.records.push_back((seq, record.at));
        self.partial = Some(seq);
        let age_limit = self.ctx.config.queue.sample_age_limit;
        let cutoff = (!age_limit.is_zero())
            .then(|| shard::now_ms().saturating_sub(shard::millis(age_limit)));
        let stopped = if record.extras.is_empty() {
            self.split_plain(&record.samples, cutoff);
            let mut runs = std::mem::take(&mut self.runs);
            let stopped = self.push_runs(seq, &mut runs);
            self.runs = runs;
            stopped
        } else {
            self.split_extended(&record.samples, &record.extras, cutoff);
            let mut runs = std::mem::take(&mut self.extended_runs);
            let stopped = self.push_runs(seq, &mut runs);
            self.extended_runs = runs;
            stopped
        };
        if stopped {
            self.fed = record.at;
            return false;
        }
        self.partial = None;
        self.fed = record.next;
        // Flushes waiting for this record see it in the queues.
        let mut state = lock(&self.control.state);
        state.fed = self.fed;
        drop(state);
        self.control.changed.notify_all();
        true
    }

    /// Splits a Samples record's samples into `self.runs` by shard, in record order (each
    /// shard's run is pushed under one lock of its queue; a series lives in one shard, so its
    /// order holds), counting those dropped as too old or by relabeling.
    fn split_plain(&mut self, samples: &[ReadSample], cutoff: Option<i64>) {
        let mut runs = std::mem::take(&mut self.runs);
        runs.resize_with(self.shards.len(), Vec::new);
        let mut too_old = 0u64;
        // Samples of series relabeling or tenant routing drops, by reason.
        let mut not_routed = [
            (DropReason::Relabel, 0u64),
            (DropReason::RelabelInvalid, 0),
            (DropReason::NoTenant, 0),
        ];
        for sample in samples {
            if cutoff.is_some_and(|cutoff| sample.timestamp < cutoff) {
                too_old += 1;
                continue;
            }
            let Some(slot) = self.resolve(sample.id) else {
                continue;
            };
            let Some(entry) = self.series.slots[slot as usize].as_ref() else {
                continue;
            };
            match entry.dropped {
                Some(reason) => {
                    if let Some(count) = not_routed.iter_mut().find(|(r, _)| *r == reason) {
                        count.1 += 1;
                    }
                }
                None => runs[entry.shard].push((
                    slot,
                    sample.timestamp,
                    f64::from_bits(sample.value_bits),
                )),
            }
        }
        for (reason, count) in std::iter::once((DropReason::TooOld, too_old)).chain(not_routed) {
            if count > 0 {
                self.ctx.metrics.add_dropped(reason, count);
            }
        }
        self.runs = runs;
    }

    /// As [`Feeder::split_plain`] for an Extended samples record: each item's extra part is
    /// admitted by the endpoint first (`send_native_histograms`, `send_exemplars`; what it
    /// drops is counted there), then drops are counted per kind (histograms, exemplars).
    fn split_extended(
        &mut self,
        samples: &[ReadSample],
        extras: &[SampleExtra],
        cutoff: Option<i64>,
    ) {
        let mut runs = std::mem::take(&mut self.extended_runs);
        runs.resize_with(self.shards.len(), Vec::new);
        for (sample, extra) in samples.iter().zip(extras) {
            let extra = match self.ctx.admit_extra(extra) {
                Admitted::Plain => None,
                Admitted::Extra(extra) => Some(extra),
                Admitted::Dropped => continue,
            };
            let kinds = ItemKinds::of(extra.as_deref());
            if cutoff.is_some_and(|cutoff| sample.timestamp < cutoff) {
                self.ctx.count_dropped(kinds, DropReason::TooOld, 1);
                continue;
            }
            let Some(slot) = self.resolve(sample.id) else {
                continue;
            };
            let Some(entry) = self.series.slots[slot as usize].as_ref() else {
                continue;
            };
            match entry.dropped {
                Some(reason) => self.ctx.count_dropped(kinds, reason, 1),
                None => runs[entry.shard].push(ExtendedItem {
                    slot,
                    timestamp: sample.timestamp,
                    value: f64::from_bits(sample.value_bits),
                    extra,
                }),
            }
        }
        self.extended_runs = runs;
    }

    /// Pushes each shard's run of record `seq`, noting what each shard got; true when a stop
    /// came first (the record is then left partly pushed). The runs are left empty.
    fn push_runs<T: RunItem>(&mut self, seq: u64, runs: &mut [Vec<T>]) -> bool {
        let mut stopped = false;
        for (shard, run) in runs.iter_mut().enumerate() {
            if run.is_empty() {
                continue;
            }
            if !stopped {
                stopped = !self.push_run(shard, run);
                if !stopped {
                    self.per_shard[shard].push_back((seq, self.pushed[shard]));
                }
            }
            run.clear();
        }
        stopped
    }

    /// Sets the metadata a Metadata record gives series `id` of the segment on its feeder
    /// series (shared with its relabeled copy, read by the shards when they encode) and in the
    /// endpoint's metadata book (by the series' logged name, as in memory mode).
    fn set_metadata(&mut self, id: u32, metadata: crate::model::Metadata) {
        let Some(slot) = self.resolve(id) else {
            return;
        };
        let Some(entry) = self.series.slots[slot as usize].as_ref() else {
            return;
        };
        let metadata = Arc::new(metadata);
        entry.series.set_metadata(Some(metadata.clone()));
        self.ctx.metadata_book.note(&entry.source, &metadata);
    }

    /// Pushes `run` (samples of feeder series, all of shard `shard`) into that shard's queue
    /// in order, under one lock while there is room; waits for room when it is full (persisting
    /// the cursor meanwhile, as the shard drains during a long outage). False on stop.
    fn push_run<T: RunItem>(&mut self, shard: usize, run: &[T]) -> bool {
        let queue = Arc::clone(&self.shards[shard]);
        let mut next = 0;
        loop {
            if queue.stop.load(Ordering::Relaxed) != RUN || queue.dead.load(Ordering::Relaxed) {
                return false;
            }
            let mut full = false;
            let mut len = 0;
            {
                let mut guard = queue.queue.lock();
                while let Some(item) = run.get(next) {
                    let (slot, timestamp, value) = item.parts();
                    let Some(entry) = self.series.slots[slot as usize].as_mut() else {
                        next += 1;
                        continue;
                    };
                    let announce = (!entry.announced).then(|| entry.series.clone());
                    let extra = item.extra();
                    match guard.try_push_parts(entry.series_ref, announce, timestamp, value, extra)
                    {
                        Ok(queued) => {
                            entry.announced = true;
                            len = queued;
                            next += 1;
                            self.pushed[shard] += 1;
                        }
                        Err(PushError::Closed) => return false,
                        Err(PushError::Full) => {
                            full = true;
                            break;
                        }
                    }
                }
            }
            if !full {
                if len >= queue.batch_threshold.load(Ordering::Relaxed)
                    && !queue.wake_pending.load(Ordering::Relaxed)
                    && !queue.wake_pending.swap(true, Ordering::SeqCst)
                {
                    queue.wake();
                }
                return true;
            }
            if !queue.wake_pending.swap(true, Ordering::SeqCst) {
                queue.wake();
            }
            // The log holds what the queue has no room for: demand for more shards.
            self.ctx.reshard.note_full();
            let control = &self.control;
            let _ = queue
                .queue
                .wait_for_room(Instant::now() + POLL, || lock(&control.state).stop);
            if lock(&control.state).stop {
                return false;
            }
            if self.last_persist.elapsed() >= PERSIST_EVERY {
                let cursor = self.publish();
                self.persist(cursor);
            }
        }
    }

    /// The feeder series of log id `id` in the current segment, made on first sight.
    fn resolve(&mut self, id: u32) -> Option<u32> {
        let table = &mut self.series;
        if let Some(&slot) = table.ids.get(id as usize)
            && slot != u32::MAX
        {
            return Some(slot);
        }
        let labels = self.reader.series_labels(id)?.clone();
        let slot = match table.by_labels.get(&labels) {
            Some(&slot) => slot,
            None => self.new_series(labels),
        };
        let table = &mut self.series;
        if table.ids.len() <= id as usize {
            table.ids.resize(id as usize + 1, u32::MAX);
        }
        table.ids[id as usize] = slot;
        if let Some(entry) = table.slots[slot as usize].as_mut() {
            entry.last_segment = table.ids_segment;
        }
        Some(slot)
    }

    /// Makes a feeder series for `labels`.
    fn new_series(&mut self, labels: Arc<[u8]>) -> u32 {
        let table = &mut self.series;
        let id = table.next_id;
        table.next_id += 1;
        let source = Arc::new(Series::from_encoded(id, labels.clone()));
        let mut series = source.clone();
        let mut dropped = None;
        if self.ctx.routes_series() {
            match route_series(
                &source,
                self.ctx.config.write_relabel_configs.rules(),
                self.ctx.config.tenant.as_ref(),
            ) {
                Relabeled::Unchanged => {}
                Relabeled::Changed(relabeled) => series = relabeled,
                Relabeled::Dropped(reason, problem) => {
                    dropped = Some(reason);
                    if let Some(problem) = problem {
                        self.ctx.log_series_not_sent(&problem);
                    }
                }
            }
        }
        let table = &mut self.series;
        let slot = match table.free.pop() {
            Some(slot) => slot,
            None => {
                table.slots.push(None);
                table.generations.push(0);
                (table.slots.len() - 1) as u32
            }
        };
        let generation = table.generations[slot as usize];
        let series_ref = SeriesRef((u64::from(generation) << 32) | u64::from(slot));
        let shard = bucket_of(series.shard_hash(), self.shards.len());
        table.slots[slot as usize] = Some(FeedSeries {
            series,
            source,
            series_ref,
            shard,
            announced: false,
            last_segment: table.ids_segment,
            dropped,
        });
        table.by_labels.insert(labels, slot);
        slot
    }

    /// Starts reading segment `segment`: log ids start afresh, and the series not read in
    /// this or the previous segment are released (their shards purge them once the samples
    /// queued so far are resolved), so a churning workload does not grow the table.
    fn enter_segment(&mut self, segment: u64) {
        let table = &mut self.series;
        table.ids.clear();
        table.ids_segment = segment;
        for slot in 0..table.slots.len() {
            let stale = table.slots[slot]
                .as_ref()
                .is_some_and(|s| s.last_segment.saturating_add(1) < segment);
            if !stale {
                continue;
            }
            if let Some(old) = table.slots[slot].take() {
                table.by_labels.remove(old.series.encoded_labels_shared());
                table.generations[slot] = table.generations[slot].wrapping_add(1);
                table.free.push(slot as u32);
                if old.announced {
                    let shard = &self.shards[old.shard];
                    shard.releases.record(old.series_ref, shard.queue.pushed());
                    shard.wake();
                }
            }
        }
    }

    /// The first record not done for every shard (or where the next record starts).
    fn cursor(&mut self) -> Position {
        let mut lowest_open = self.partial.unwrap_or(u64::MAX);
        let mut oldest_open = |fifo: &mut VecDeque<(u64, u64)>, finished: u64| {
            while fifo.front().is_some_and(|&(_, after)| after <= finished) {
                fifo.pop_front();
            }
            if let Some(&(seq, _)) = fifo.front() {
                lowest_open = lowest_open.min(seq);
            }
        };
        for (index, fifo) in self.per_shard.iter_mut().enumerate() {
            let finished =
                finished_of(&self.shards[index]).saturating_sub(self.finished_base[index]);
            oldest_open(fifo, finished);
        }
        for retired in &mut self.retired {
            let finished = finished_of(&retired.shard).saturating_sub(retired.finished_base);
            oldest_open(&mut retired.fifo, finished);
        }
        self.retired.retain(|retired| !retired.fifo.is_empty());
        while self
            .records
            .front()
            .is_some_and(|&(seq, _)| seq < lowest_open)
        {
            self.records.pop_front();
        }
        self.records.front().map_or(self.fed, |&(_, at)| at)
    }

    /// Computes the cursor and publishes it (and the fed position) to the sender.
    fn publish(&mut self) -> Position {
        let cursor = self.cursor();
        let mut state = lock(&self.control.state);
        state.cursor = cursor;
        state.fed = self.fed;
        state.skipped = self.reader.counts().corrupt_stretches;
        drop(state);
        self.control.changed.notify_all();
        cursor
    }

    /// Writes `cursor` to the cursor store when it moved, then lets the writer delete the
    /// segments below every cursor.
    fn persist(&mut self, cursor: Position) {
        self.last_persist = Instant::now();
        if cursor == self.persisted {
            return;
        }
        match self.cursors.store(&self.id, cursor) {
            Ok(()) => {
                self.persisted = cursor;
                self.writer.set_cursor(self.index, cursor);
            }
            Err(e) => {
                self.ctx.logger.log(LogLevel::Error, || {
                    format!(
                        "{}: cannot persist the WAL cursor to {}: {e}",
                        self.ctx.describe(),
                        self.cursors.path(&self.id).display()
                    )
                });
            }
        }
    }
}

/// An item of an Extended samples record, queued to a shard.
#[derive(Debug)]
struct ExtendedItem {
    slot: u32,
    timestamp: i64,
    value: f64,
    /// The extra part as the endpoint admitted it (`None`: sent as a plain float).
    extra: Option<Box<SampleExtra>>,
}

/// An item of a shard's run: a plain sample or an [`ExtendedItem`].
trait RunItem {
    /// Its feeder series slot, timestamp and value.
    fn parts(&self) -> (u32, i64, f64);
    /// Its extra part for one push attempt. A queue that is full drops what it is given, so
    /// an attempt gets a copy (only items with an extra part pay for it).
    fn extra(&self) -> Option<Box<SampleExtra>>;
}

impl RunItem for (u32, i64, f64) {
    #[inline(always)]
    fn parts(&self) -> (u32, i64, f64) {
        *self
    }

    #[inline(always)]
    fn extra(&self) -> Option<Box<SampleExtra>> {
        None
    }
}

impl RunItem for ExtendedItem {
    fn parts(&self) -> (u32, i64, f64) {
        (self.slot, self.timestamp, self.value)
    }

    fn extra(&self) -> Option<Box<SampleExtra>> {
        self.extra.clone()
    }
}
