//! The log's writer: appending threads put entries in a shared buffer, and one writer thread
//! group-commits them (one write per wake and segment), fsyncs per the policy, rotates
//! segments, keeps the disk budget and the age limit, and recovers from write and fsync errors
//! without losing an accepted entry (docs/ARCHITECTURE.md, "Durable queue (WAL mode): design").

use std::collections::VecDeque;

use fxhash::FxHashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::cursor::Position;
use super::format::{
    Decoded, ExtendedEncoder, Record, SEGMENT_HEADER_LEN, SamplesEncoder, WalSample,
    encode_metadata, encode_series, write_frame,
};
use super::recovery::SegmentInfo;
use super::segment::{SegmentWriter, good_record_at, scan_segment_all, segment_path, sync_dir};
use super::tail::{DEFAULT_TAIL_BYTES, Tail};
use crate::log::{LogLevel, Logger};
use crate::model::{Metadata, SampleExtra};
use crate::wire::rw1::{encode_label_pairs, label_pairs};

/// When the log's data reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every group commit.
    Always,
    /// At most this long after a write.
    Interval(Duration),
    /// Only when a segment is closed, at `sync` and at close.
    Never,
}

/// What an append meets when the log reaches its disk budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// The oldest segments are deleted, even if unsent (counted as dropped, `wal_full`).
    DropOldest,
    /// Appends are refused (`QueueFull`) until sending frees space.
    Fail,
}

/// The writer's settings.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// The `wal/` directory holding the segments.
    pub wal_dir: PathBuf,
    /// The fsync policy.
    pub fsync: FsyncPolicy,
    /// The disk budget for all segments.
    pub max_bytes: u64,
    /// Segments whose newest record is older than this are dropped; `None`: never.
    pub max_age: Option<Duration>,
    /// The policy at the budget.
    pub full: FullPolicy,
}

/// The size segments are cut at for a budget: an eighth of it, 64 KiB ..= 32 MiB.
pub fn segment_size_for(max_bytes: u64) -> u64 {
    (max_bytes / 8).clamp(64 << 10, 32 << 20)
}

/// A Samples or Extended samples record is closed at this many body bytes (well below the
/// frame limit: one extended entry is at most [`MAX_EXTENDED_ENTRY_BYTES`]).
const SAMPLES_RECORD_BYTES: usize = 64 << 10;
/// The largest extended entry the log takes (by [`super::format::extended_entry_bound`]): a
/// larger histogram or exemplar is refused in WAL mode.
pub const MAX_EXTENDED_ENTRY_BYTES: usize = 512 << 10;
/// The writer wakes once this many entries wait.
const WAKE_AT_ENTRIES: usize = 8192;
/// Appenders wait once this many entries wait for the writer (about 8 MiB): the disk's pace
/// bounds memory.
const MAX_PENDING_ENTRIES: usize = 256 * 1024;
/// The bytes written but not yet fsync'd are kept to rewrite after an fsync error; past this
/// many the writer fsyncs early, whatever the interval.
const MAX_UNSYNCED_BYTES: u64 = 16 << 20;
/// An accepted entry waits at most this long before the writer takes it.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// The writer looks at the age limit and the fsync interval at least this often.
const TICK: Duration = Duration::from_millis(250);

/// One thing to log.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A series' labels, before its first sample of the session (and after its slot is reused).
    Series {
        /// The registry slot the series' samples refer to.
        id: u32,
        /// Its labels, as the registry encodes them (Remote Write 1.0 label bytes).
        labels: Arc<[u8]>,
    },
    /// A sample.
    Sample(WalSample),
    /// A sample with an extra part (a start timestamp, a histogram in place of the value, an
    /// exemplar): an entry of an Extended samples record. Boxed, so that an `Entry` is no
    /// larger than before for the plain samples.
    Extended(Box<(WalSample, SampleExtra)>),
    /// A series' metadata (after its Series entry): a Metadata record, written again in each
    /// segment the series appears in.
    Metadata {
        /// The registry slot of the series.
        id: u32,
        /// Its type, help and unit.
        metadata: Arc<Metadata>,
    },
}

/// What the writer knows of a series logged this session.
#[derive(Debug, Clone)]
struct LoggedSeries {
    labels: Arc<[u8]>,
    /// The segment its Series record was last written to.
    written_in: Option<u64>,
    /// Its metadata, written after its Series record in each segment.
    metadata: Option<Arc<Metadata>>,
}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Writing failed and has not recovered (the message names the path and the error).
    Io(String),
    /// `full: fail` and the log is at its budget.
    Full,
    /// The writer was stopped.
    Stopped,
}

/// Counters of the writer, readable at any time.
#[derive(Debug, Default)]
pub struct WriterCounters {
    /// Records written (of every type).
    pub records_written: AtomicU64,
    /// Bytes written to segments.
    pub bytes_written: AtomicU64,
    /// Successful fsyncs of segments.
    pub fsyncs: AtomicU64,
    /// Write or fsync errors met (each retried or recovered).
    pub write_errors: AtomicU64,
    /// Bytes of all segments on disk.
    pub bytes_on_disk: AtomicU64,
    /// Segments on disk.
    pub segments: AtomicU64,
    /// Samples accepted but never written because the writer stopped during a write error.
    pub samples_unwritten: AtomicU64,
}

/// Per-endpoint state the writer shares with the senders: the cursor the budget accounts
/// from, and the samples dropped unsent by the budget and the age limit.
#[derive(Debug)]
pub struct EndpointMark {
    /// The endpoint's cursor (its first record not done).
    pub cursor: Position,
    /// Samples dropped unsent by the budget (`wal_full`).
    pub dropped_full: u64,
    /// Samples dropped unsent by the age limit (`wal_too_old`).
    pub dropped_too_old: u64,
}

/// A segment the writer accounts for.
#[derive(Debug, Clone)]
struct SegmentMeta {
    info: SegmentInfo,
    last_write: SystemTime,
}

/// The entries waiting for the writer, and what appenders must know.
#[derive(Debug, Default)]
struct Pending {
    entries: Vec<Entry>,
    /// Entries accepted since the log opened.
    accepted: u64,
    /// When the oldest waiting entry was accepted.
    oldest: Option<Instant>,
    /// The highest `accepted` count a `sync` waits for.
    sync_target: u64,
    stop: bool,
    error: Option<String>,
    full: bool,
}

/// Entries written and synced, for `sync`.
#[derive(Debug, Default)]
struct Progress {
    written: u64,
    synced: u64,
    stopped: bool,
}

/// State shared by appenders, the writer thread and the cursor keeper.
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Wakes appenders waiting for the buffer to have room.
    room: Condvar,
    progress: Mutex<Progress>,
    progressed: Condvar,
    segments: Mutex<VecDeque<SegmentMeta>>,
    marks: Mutex<Vec<EndpointMark>>,
    counters: WriterCounters,
    options: WriterOptions,
    segment_size: u64,
    logger: Logger,
    /// The newest bytes written, for readers keeping up.
    tail: Arc<Tail>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer: a handle for appenders and `sync`, owning the writer thread.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The process's fork epoch when the writer started.
    fork_epoch: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("wal_dir", &self.shared.options.wal_dir)
            .finish_non_exhaustive()
    }
}

/// A held append buffer: entries pushed through it are accepted in order.
pub struct AppendGuard<'a> {
    /// Always `Some` but while waiting for room.
    pending: Option<MutexGuard<'a, Pending>>,
    shared: &'a Shared,
}

impl AppendGuard<'_> {
    /// Accepts `entry`, or refuses it (a write error not yet recovered, `full: fail` at the
    /// budget, or a stopped writer).
    pub fn push(&mut self, entry: Entry) -> Result<(), Refusal> {
        let fail_when_full = self.shared.options.full == FullPolicy::Fail;
        let pending = self.state();
        if pending.stop {
            return Err(Refusal::Stopped);
        }
        if let Some(error) = &pending.error {
            return Err(Refusal::Io(error.clone()));
        }
        if pending.full && fail_when_full {
            return Err(Refusal::Full);
        }
        if pending.entries.len() >= MAX_PENDING_ENTRIES {
            self.wait_for_room();
            return self.push(entry);
        }
        let pending = self.state();
        if pending.entries.is_empty() {
            pending.oldest = Some(Instant::now());
        }
        pending.entries.push(entry);
        pending.accepted += 1;
        if pending.entries.len() == WAKE_AT_ENTRIES {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Waits (letting go of the buffer) until the writer took the waiting entries: appends
    /// faster than the disk wait for it, rather than growing memory without bound.
    #[cold]
    fn wait_for_room(&mut self) {
        self.shared.wake.notify_one();
        if let Some(guard) = self.pending.take() {
            let guard = self
                .shared
                .room
                .wait_while(guard, |p| {
                    p.entries.len() >= MAX_PENDING_ENTRIES && !p.stop && p.error.is_none()
                })
                .unwrap_or_else(|p| p.into_inner());
            self.pending = Some(guard);
        }
    }

    /// The locked buffer.
    fn state(&mut self) -> &mut Pending {
        self.pending
            .as_deref_mut()
            .expect("the buffer is held but while waiting for room")
    }

    /// Entries accepted since the log opened (the position a `sync` now would wait for).
    pub fn accepted(&self) -> u64 {
        self.pending.as_ref().map_or(0, |p| p.accepted)
    }
}

impl Writer {
    /// Starts the writer on a recovered log: a new segment numbered above `highest_segment`
    /// (each session writes its own segments), accounting for the `recovered` ones. `marks`
    /// holds one cursor per endpoint.
    pub fn start(
        options: WriterOptions,
        recovered: Vec<SegmentInfo>,
        highest_segment: u64,
        marks: Vec<Position>,
        logger: Logger,
    ) -> Result<Writer, String> {
        let segment_size = segment_size_for(options.max_bytes);
        let first = SegmentWriter::create(&options.wal_dir, highest_segment + 1).map_err(|e| {
            format!(
                "{}: cannot create a segment: {e}",
                segment_path(&options.wal_dir, highest_segment + 1).display()
            )
        })?;
        let now = SystemTime::now();
        let mut segments: VecDeque<SegmentMeta> = recovered
            .into_iter()
            .map(|info| {
                let last_write = std::fs::metadata(segment_path(&options.wal_dir, info.number))
                    .and_then(|m| m.modified())
                    .unwrap_or(now);
                SegmentMeta { info, last_write }
            })
            .collect();
        segments.push_back(SegmentMeta {
            info: SegmentInfo {
                number: first.number(),
                len: first.len(),
                sample_records: Vec::new(),
            },
            last_write: now,
        });
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            room: Condvar::new(),
            progress: Mutex::new(Progress::default()),
            progressed: Condvar::new(),
            segments: Mutex::new(segments),
            marks: Mutex::new(
                marks
                    .into_iter()
                    .map(|cursor| EndpointMark {
                        cursor,
                        dropped_full: 0,
                        dropped_too_old: 0,
                    })
                    .collect(),
            ),
            counters: WriterCounters::default(),
            segment_size,
            options,
            logger,
            tail: Arc::new(Tail::new(DEFAULT_TAIL_BYTES)),
        });
        shared.update_disk_counters(&lock(&shared.segments));
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("promrw-wal-writer".into())
            .spawn(move || WriterThread::new(thread_shared, first).run())
            .map_err(|e| format!("cannot start the WAL writer thread: {e}"))?;
        Ok(Writer {
            shared,
            thread: Mutex::new(Some(thread)),
            fork_epoch: crate::fork::watch(),
        })
    }

    /// Locks the append buffer: entries pushed through the guard are accepted in order.
    pub fn append(&self) -> AppendGuard<'_> {
        AppendGuard {
            pending: Some(lock(&self.shared.pending)),
            shared: &self.shared,
        }
    }

    /// Waits until every entry accepted before the call is written and fsync'd (whatever the
    /// policy). `false` when `timeout` passes first or the writer stopped before.
    pub fn sync(&self, timeout: Duration) -> bool {
        let target = {
            let mut pending = lock(&self.shared.pending);
            pending.sync_target = pending.sync_target.max(pending.accepted);
            pending.accepted
        };
        self.shared.wake.notify_one();
        self.wait_progress(timeout, |progress| progress.synced >= target)
    }

    /// Waits until every entry accepted before the call is written to a segment (not
    /// necessarily fsync'd: that is [`Writer::sync`]); the writer takes entries within 100 ms.
    /// `false` when `timeout` passes first or the writer stopped before.
    pub fn wait_written(&self, timeout: Duration) -> bool {
        let target = lock(&self.shared.pending).accepted;
        self.wait_progress(timeout, |progress| progress.written >= target)
    }

    /// Waits up to `timeout` for the writer to write something (or stop).
    pub fn wait_progress_for(&self, timeout: Duration) {
        let progress = lock(&self.shared.progress);
        if progress.stopped {
            drop(progress);
            std::thread::sleep(timeout);
            return;
        }
        let _ = self
            .shared
            .progressed
            .wait_timeout(progress, timeout)
            .unwrap_or_else(|p| p.into_inner());
    }

    /// Waits until `done(progress)` holds, the writer stops or `timeout` passes.
    fn wait_progress(&self, timeout: Duration, done: impl Fn(&Progress) -> bool) -> bool {
        let deadline = crate::deadline_after(timeout);
        let mut progress = lock(&self.shared.progress);
        while !done(&progress) {
            if progress.stopped {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            progress = self
                .shared
                .progressed
                .wait_timeout(progress, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Moves endpoint `endpoint`'s cursor (after it was persisted) and deletes the segments
    /// wholly below every endpoint's cursor.
    pub fn set_cursor(&self, endpoint: usize, cursor: Position) {
        let lowest = {
            let mut marks = lock(&self.shared.marks);
            marks[endpoint].cursor = cursor;
            marks.iter().map(|m| m.cursor.segment).min().unwrap_or(0)
        };
        self.shared.delete_below(lowest);
    }

    /// Samples dropped unsent for `endpoint` by the budget and by the age limit.
    pub fn dropped(&self, endpoint: usize) -> (u64, u64) {
        let marks = lock(&self.shared.marks);
        (
            marks[endpoint].dropped_full,
            marks[endpoint].dropped_too_old,
        )
    }

    /// How far a reader may read: the end of what the writer has written whole, and the
    /// oldest segment on disk.
    pub fn read_limit(&self) -> super::reader::ReadLimit {
        let segments = lock(&self.shared.segments);
        let current = segments
            .back()
            .expect("the current segment is always accounted");
        super::reader::ReadLimit {
            written_end: Position {
                segment: current.info.number,
                offset: current.info.len,
            },
            oldest_segment: segments.front().map_or(0, |s| s.info.number),
        }
    }

    /// What is not done for a reader at `cursor`: the log's bytes and samples from it to the
    /// end.
    pub fn lag(&self, cursor: Position) -> (u64, u64) {
        let segments = lock(&self.shared.segments);
        let mut bytes = 0;
        let mut samples = 0;
        for segment in segments.iter() {
            let info = &segment.info;
            match info.number.cmp(&cursor.segment) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    let from = cursor.offset.max(SEGMENT_HEADER_LEN as u64);
                    bytes += info.len.saturating_sub(from);
                    samples += info.samples_from(cursor.offset);
                }
                std::cmp::Ordering::Greater => {
                    bytes += info.len.saturating_sub(SEGMENT_HEADER_LEN as u64);
                    samples += info.samples_from(0);
                }
            }
        }
        (bytes, samples)
    }

    /// The oldest segment still on disk (where a reader whose segment was deleted resumes).
    pub fn oldest_segment(&self) -> u64 {
        lock(&self.shared.segments)
            .front()
            .map(|s| s.info.number)
            .unwrap_or(0)
    }

    /// The newest bytes written, kept in memory: readers given it read them from there.
    pub fn tail(&self) -> Arc<Tail> {
        Arc::clone(&self.shared.tail)
    }

    /// The writer's counters.
    pub fn counters(&self) -> &WriterCounters {
        &self.shared.counters
    }

    /// Stops the writer after it wrote and fsync'd every accepted entry (or gave up on a
    /// persisting write error, counting what was not written), and joins its thread.
    pub fn stop(&self) {
        lock(&self.shared.pending).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // In a child made by fork() the writer thread does not exist, and a lock it held at
        // the fork stays locked: nothing to stop or join there, just memory to free.
        if crate::fork::current() == self.fork_epoch {
            self.stop();
        }
    }
}

impl Shared {
    /// Publishes the segment count and bytes.
    fn update_disk_counters(&self, segments: &VecDeque<SegmentMeta>) {
        let bytes: u64 = segments.iter().map(|s| s.info.len).sum();
        self.counters.bytes_on_disk.store(bytes, Ordering::Relaxed);
        self.counters
            .segments
            .store(segments.len() as u64, Ordering::Relaxed);
    }

    /// Deletes the closed segments numbered below `lowest` (every cursor is past them).
    fn delete_below(&self, lowest: u64) {
        let mut segments = lock(&self.segments);
        let mut deleted = false;
        while segments.len() > 1 && segments[0].info.number < lowest {
            let number = segments[0].info.number;
            if self.remove_file(number) {
                segments.pop_front();
                deleted = true;
            } else {
                break;
            }
        }
        if deleted {
            self.after_delete(&segments);
        }
    }

    /// Removes segment `number`'s file; `false` (logged) when that fails.
    fn remove_file(&self, number: u64) -> bool {
        let path = segment_path(&self.options.wal_dir, number);
        match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => {
                self.logger.log(LogLevel::Error, || {
                    format!("WAL: cannot delete {}: {e}", path.display())
                });
                false
            }
        }
    }

    /// After segments were deleted: fsync the directory, update counters, and lift the
    /// `full` state when a new segment fits again.
    fn after_delete(&self, segments: &VecDeque<SegmentMeta>) {
        let _ = sync_dir(&self.options.wal_dir);
        self.update_disk_counters(segments);
        let total: u64 = segments.iter().map(|s| s.info.len).sum();
        if total + self.segment_size <= self.options.max_bytes {
            lock(&self.pending).full = false;
        }
    }

    /// Deletes the oldest closed segment even though some endpoint has not sent it, counting
    /// its unsent samples per endpoint (`too_old` chooses the counter).
    fn drop_oldest_unsent(&self, segments: &mut VecDeque<SegmentMeta>, too_old: bool) -> bool {
        if segments.len() < 2 {
            return false;
        }
        let info = segments[0].info.clone();
        if !self.remove_file(info.number) {
            return false;
        }
        segments.pop_front();
        let mut lost_total = 0;
        for mark in lock(&self.marks).iter_mut() {
            let lost = match mark.cursor.segment.cmp(&info.number) {
                std::cmp::Ordering::Greater => 0,
                std::cmp::Ordering::Equal => info.samples_from(mark.cursor.offset),
                std::cmp::Ordering::Less => info.samples_from(0),
            };
            if too_old {
                mark.dropped_too_old += lost;
            } else {
                mark.dropped_full += lost;
            }
            lost_total += lost;
        }
        self.logger.log(LogLevel::Warn, || {
            format!(
                "WAL: deleted segment {} unsent ({}): {lost_total} sample(s) dropped across endpoints",
                segment_path(&self.options.wal_dir, info.number).display(),
                if too_old { "older than max_age" } else { "max_bytes reached" }
            )
        });
        true
    }
}

/// The writer thread's own state.
struct WriterThread {
    shared: Arc<Shared>,
    segment: SegmentWriter,
    /// Every series logged this session, with the segment its record was last written to.
    series: FxHashMap<u32, LoggedSeries>,
    encoder: SamplesEncoder,
    /// The open Extended samples record (never open at the same time as a Samples record,
    /// so that records keep the entries' order).
    extended: ExtendedEncoder,
    payload: Vec<u8>,
    out: Vec<u8>,
    /// (offset, samples) of the Samples records in `out`, relative to `out`'s start.
    out_records: Vec<(u64, u64)>,
    /// What was written since the last successful fsync, to rewrite after an fsync error.
    unsynced: UnsyncedWrites,
    last_sync: Instant,
    written_since_sync: bool,
    written: u64,
}

impl WriterThread {
    fn new(shared: Arc<Shared>, segment: SegmentWriter) -> Self {
        WriterThread {
            shared,
            segment,
            series: FxHashMap::default(),
            encoder: SamplesEncoder::default(),
            extended: ExtendedEncoder::default(),
            payload: Vec::new(),
            out: Vec::new(),
            out_records: Vec::new(),
            unsynced: UnsyncedWrites::default(),
            last_sync: Instant::now(),
            written_since_sync: false,
            written: 0,
        }
    }

    fn keeps_unsynced(&self) -> bool {
        self.shared.options.fsync != FsyncPolicy::Never
    }

    fn run(mut self) {
        loop {
            let (entries, stop, sync_target) = self.wait_for_work();
            let taken = entries.len() as u64;
            if !entries.is_empty() && !self.write_entries(entries, stop) {
                // Stopped during a write error: what was not written is counted.
                self.finish_stopped();
                return;
            }
            self.written += taken;
            let sync_due = match self.shared.options.fsync {
                FsyncPolicy::Always => self.written_since_sync,
                FsyncPolicy::Interval(every) => {
                    self.written_since_sync
                        && (self.last_sync.elapsed() >= every
                            || self.segment.len() - self.segment.synced_len() >= MAX_UNSYNCED_BYTES)
                }
                FsyncPolicy::Never => false,
            };
            let synced_before = lock(&self.shared.progress).synced;
            if (sync_due || sync_target > synced_before || stop) && !self.sync_segment(stop) {
                self.finish_stopped();
                return;
            }
            self.enforce_age();
            let all_synced = !self.written_since_sync;
            {
                let mut progress = lock(&self.shared.progress);
                progress.written = self.written;
                if all_synced {
                    progress.synced = self.written;
                }
            }
            self.shared.progressed.notify_all();
            if stop && lock(&self.shared.pending).entries.is_empty() {
                let mut progress = lock(&self.shared.progress);
                progress.stopped = true;
                drop(progress);
                self.shared.progressed.notify_all();
                return;
            }
        }
    }

    /// Waits for entries (a full batch, the oldest waiting `MAX_WAIT`), a sync, a stop or a
    /// tick, and takes every waiting entry.
    fn wait_for_work(&mut self) -> (Vec<Entry>, bool, u64) {
        let mut pending = lock(&self.shared.pending);
        let tick_end = Instant::now() + TICK;
        loop {
            let synced = lock(&self.shared.progress).synced;
            let now = Instant::now();
            let oldest_due = pending
                .oldest
                .map(|at| now.duration_since(at) >= MAX_WAIT)
                .unwrap_or(false);
            if pending.stop
                || pending.entries.len() >= WAKE_AT_ENTRIES
                || oldest_due
                || pending.sync_target > synced
                || now >= tick_end
            {
                pending.oldest = None;
                let entries = std::mem::take(&mut pending.entries);
                self.shared.room.notify_all();
                return (entries, pending.stop, pending.sync_target);
            }
            let mut wait = tick_end - now;
            if let Some(at) = pending.oldest {
                wait = wait.min((at + MAX_WAIT).saturating_duration_since(now));
            }
            pending = self
                .shared
                .wake
                .wait_timeout(pending, wait.max(Duration::from_millis(1)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Encodes and writes `entries`, rotating segments as they fill. Retries write errors
    /// (appends are refused meanwhile) until they clear; `false` when a stop came first.
    fn write_entries(&mut self, entries: Vec<Entry>, stop: bool) -> bool {
        // Entries before this index are in a segment's file.
        let mut flushed = 0;
        for index in 0..entries.len() {
            self.encode(&entries[index]);
            if self.segment.len()
                + self.out.len() as u64
                + self.encoder.body_len() as u64
                + self.extended.body_len() as u64
                >= self.shared.segment_size
            {
                self.close_samples_record();
                if !self.flush_out(stop) {
                    self.count_unwritten(&entries[flushed..]);
                    return false;
                }
                flushed = index + 1;
                if !self.rotate(stop) {
                    self.count_unwritten(&entries[flushed..]);
                    return false;
                }
            }
        }
        self.close_samples_record();
        if !self.flush_out(stop) {
            self.count_unwritten(&entries[flushed..]);
            return false;
        }
        true
    }

    /// Counts the samples of `entries` as never written (a stop during a write error).
    fn count_unwritten(&self, entries: &[Entry]) {
        let samples = entries
            .iter()
            .filter(|e| matches!(e, Entry::Sample(_) | Entry::Extended(_)))
            .count() as u64;
        self.shared
            .counters
            .samples_unwritten
            .fetch_add(samples, Ordering::Relaxed);
    }

    /// Adds one entry to `out` (a Series record, and the series' Metadata record, when its
    /// segment lacks them).
    fn encode(&mut self, entry: &Entry) {
        match entry {
            Entry::Series { id, labels } => match self.series.get_mut(id) {
                // The same series again (a rewrite after an fsync error): nothing changes.
                Some(known) if known.labels == *labels => {}
                Some(known) => {
                    // A reused slot: another series, without metadata yet.
                    let before = std::mem::replace(&mut known.labels, Arc::clone(labels));
                    let metadata = known.metadata.take();
                    known.written_in = None;
                    if self.keeps_unsynced() {
                        self.unsynced.slot_reused(*id, before, metadata);
                    }
                }
                None => {
                    self.series.insert(
                        *id,
                        LoggedSeries {
                            labels: Arc::clone(labels),
                            written_in: None,
                            metadata: None,
                        },
                    );
                }
            },
            Entry::Sample(sample) => {
                if !self.series_in_segment(sample.id) {
                    return;
                }
                // Records keep the entries' order: an open Extended record is framed first.
                if !self.extended.is_empty() {
                    self.close_samples_record();
                }
                self.encoder.push(*sample);
                if self.encoder.body_len() >= SAMPLES_RECORD_BYTES {
                    self.close_samples_record();
                }
            }
            Entry::Extended(boxed) => {
                let (sample, extra) = &**boxed;
                if !self.series_in_segment(sample.id) {
                    return;
                }
                if !self.encoder.is_empty() {
                    self.close_samples_record();
                }
                self.extended.push(*sample, extra);
                if self.extended.body_len() >= SAMPLES_RECORD_BYTES {
                    self.close_samples_record();
                }
            }
            Entry::Metadata { id, metadata } => {
                let segment = self.segment.number();
                let Some(known) = self.series.get_mut(id) else {
                    self.unlogged(*id);
                    return;
                };
                known.metadata = Some(Arc::clone(metadata));
                if known.written_in == Some(segment) {
                    self.payload.clear();
                    encode_metadata(&mut self.payload, *id, metadata);
                    self.write_record();
                } else {
                    // Its Series record first, followed by the metadata just set.
                    self.series_in_segment(*id);
                }
            }
        }
    }

    /// Makes sure series `id`'s Series record (and its Metadata record, if it has metadata) is
    /// in the current segment, writing them to `out` when not. The open Samples record is
    /// framed later, after them, so it need not be closed: every sample in it has its series
    /// defined. False for a series never logged (never happens: the append path logs a series
    /// before its first sample).
    fn series_in_segment(&mut self, id: u32) -> bool {
        let segment = self.segment.number();
        let Some(known) = self.series.get_mut(&id) else {
            self.unlogged(id);
            return false;
        };
        if known.written_in == Some(segment) {
            return true;
        }
        known.written_in = Some(segment);
        let labels = Arc::clone(&known.labels);
        let metadata = known.metadata.clone();
        self.payload.clear();
        encode_series(&mut self.payload, id, label_pairs(&labels));
        self.write_record();
        if let Some(metadata) = metadata {
            self.payload.clear();
            encode_metadata(&mut self.payload, id, &metadata);
            self.write_record();
        }
        true
    }

    /// Frames `payload` into `out`.
    fn write_record(&mut self) {
        write_frame(&mut self.out, &self.payload);
        self.shared
            .counters
            .records_written
            .fetch_add(1, Ordering::Relaxed);
    }

    #[cold]
    fn unlogged(&self, id: u32) {
        self.shared.logger.log(LogLevel::Error, || {
            format!("WAL: entry of unlogged series {id} not written")
        });
    }

    /// Frames the open Samples or Extended samples record into `out`.
    fn close_samples_record(&mut self) {
        let items = if !self.encoder.is_empty() {
            let samples = self.encoder.len();
            self.payload.clear();
            self.encoder.finish_into(&mut self.payload);
            samples
        } else if !self.extended.is_empty() {
            let entries = self.extended.len();
            self.payload.clear();
            self.extended.finish_into(&mut self.payload);
            entries
        } else {
            return;
        };
        self.out_records.push((self.out.len() as u64, items));
        self.write_record();
    }

    /// Writes `out` to the segment, retrying errors with backoff while refusing appends;
    /// `false` when stopping during an error.
    fn flush_out(&mut self, stop: bool) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.segment.append(&self.out) {
                Ok(()) => break,
                Err(e) => {
                    if !self.on_error("write to", &e, stop, &mut backoff) {
                        return false;
                    }
                }
            }
        }
        self.clear_error();
        let base = self.segment.len() - self.out.len() as u64;
        self.shared
            .tail
            .publish(self.segment.number(), base, &self.out);
        let counters = &self.shared.counters;
        counters
            .bytes_written
            .fetch_add(self.out.len() as u64, Ordering::Relaxed);
        {
            let mut segments = lock(&self.shared.segments);
            if let Some(current) = segments.back_mut() {
                current.info.len = self.segment.len();
                current.last_write = SystemTime::now();
                current.info.sample_records.extend(
                    self.out_records
                        .iter()
                        .map(|(offset, samples)| (base + offset, *samples)),
                );
            }
            self.shared.update_disk_counters(&segments);
        }
        if self.keeps_unsynced() {
            self.unsynced.keep(&mut self.out);
        } else {
            self.out.clear();
        }
        self.out_records.clear();
        self.written_since_sync = true;
        true
    }

    /// Logs an I/O error, refuses appends until it clears, and sleeps the backoff; `false`
    /// when a stop is requested (then nothing more is tried).
    fn on_error(&self, what: &str, e: &std::io::Error, stop: bool, backoff: &mut Duration) -> bool {
        self.shared
            .counters
            .write_errors
            .fetch_add(1, Ordering::Relaxed);
        let message = format!(
            "{}: cannot {what} the WAL: {e}",
            self.segment.path().display()
        );
        self.shared.logger.log(LogLevel::Error, || message.clone());
        let mut pending = lock(&self.shared.pending);
        pending.error = Some(message);
        if stop || pending.stop {
            return false;
        }
        let _ = self
            .shared
            .wake
            .wait_timeout(pending, *backoff)
            .unwrap_or_else(|p| p.into_inner());
        *backoff = (*backoff * 2).min(Duration::from_secs(1));
        true
    }

    fn clear_error(&self) {
        let mut pending = lock(&self.shared.pending);
        if pending.error.take().is_some() {
            self.shared
                .logger
                .log(LogLevel::Info, || "WAL: writing works again".to_string());
        }
    }

    /// fsyncs the segment. After an fsync error the segment is cut back to its last synced
    /// length and closed, and the entries written since are rewritten into a new segment
    /// (never fsync the same file again: the kernel may have dropped the pages).
    fn sync_segment(&mut self, stop: bool) -> bool {
        if !self.written_since_sync {
            return true;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.segment.sync() {
                Ok(()) => {
                    self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
                    self.last_sync = Instant::now();
                    self.written_since_sync = false;
                    self.unsynced.synced();
                    self.clear_error();
                    return true;
                }
                Err(e) => {
                    if !self.on_error("fsync", &e, stop, &mut backoff) {
                        return false;
                    }
                    if !self.rewrite_after_sync_error(stop) {
                        return false;
                    }
                }
            }
        }
    }

    /// Seals the current segment at its last synced length and rewrites the entries since
    /// then into a new segment.
    fn rewrite_after_sync_error(&mut self, stop: bool) -> bool {
        let synced_len = self.segment.synced_len();
        let (entries, whole) = if self.keeps_unsynced() {
            let kept = std::mem::take(&mut self.unsynced);
            let entries = kept.entries(&self.series);
            self.unsynced.recycle(kept);
            (entries, true)
        } else {
            self.read_back(synced_len)
        };
        // The rewrite gives each series the labels it had when its samples were written;
        // afterwards every series gets its latest labels and metadata back.
        let latest: Vec<(u32, LoggedSeries)> = entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Series { id, .. } => self.series.get(id).map(|known| (*id, known.clone())),
                _ => None,
            })
            .collect();
        // Readers must not take the bytes being cut from memory; those that read them already
        // skip their rewrite, when it is whole.
        self.shared
            .tail
            .cut(self.segment.number(), synced_len, whole);
        if !self.open_next_segment(stop, true) {
            return false;
        }
        {
            let mut segments = lock(&self.shared.segments);
            let len = segments.len();
            if len >= 2 {
                let sealed = &mut segments[len - 2].info;
                sealed.len = synced_len;
                sealed
                    .sample_records
                    .retain(|(offset, _)| *offset < synced_len);
            }
            self.shared.update_disk_counters(&segments);
        }
        self.written_since_sync = false;
        let written = self.write_entries(entries, stop);
        for (id, before) in latest {
            if let Some(now) = self.series.get_mut(&id)
                && (now.labels != before.labels || now.metadata != before.metadata)
            {
                // Written again (with these labels and metadata) where the series next appears.
                *now = LoggedSeries {
                    written_in: None,
                    ..before
                };
            }
        }
        written
    }

    /// With `fsync: never` the entries written since the last fsync are not kept in memory:
    /// reads them back from the segment's records after `synced_len` (a record that no longer
    /// checks is lost, logged). Returns them and whether every sample written there was.
    fn read_back(&self, synced_len: u64) -> (Vec<Entry>, bool) {
        let written = lock(&self.shared.segments)
            .back()
            .map_or(0, |current| current.info.samples_from(synced_len));
        let path = self.segment.path();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.shared.logger.log(LogLevel::Error, || {
                    format!(
                        "{}: cannot read back what was written since the last fsync: {e}; {written} sample(s) lost",
                        path.display()
                    )
                });
                return (Vec::new(), written == 0);
            }
        };
        // The labels and metadata of each id as of each record, and what the rewrite was given.
        let mut rebuild = Rebuild::new(FxHashMap::default(), None);
        scan_segment_all(&bytes, |offset, record| {
            rebuild.record(record, offset >= synced_len);
        });
        let (entries, recovered) = (rebuild.entries, rebuild.items);
        if recovered < written {
            self.shared.logger.log(LogLevel::Error, || {
                format!(
                    "{}: {} of the {written} sample(s) written since the last fsync could not be read back; lost",
                    path.display(),
                    written - recovered
                )
            });
        }
        (entries, recovered == written)
    }

    /// Closes the full segment (fsync'd) and opens the next, keeping the budget first.
    fn rotate(&mut self, stop: bool) -> bool {
        if !self.sync_segment(stop) {
            return false;
        }
        self.make_room();
        self.open_next_segment(stop, false)
    }

    /// Opens segment `current + 1`; with `seal_current` the current one is cut back to its
    /// synced length first (after an fsync error).
    fn open_next_segment(&mut self, stop: bool, seal_current: bool) -> bool {
        let next = self.segment.number() + 1;
        let mut backoff = Duration::from_millis(100);
        let writer = loop {
            match SegmentWriter::create(&self.shared.options.wal_dir, next) {
                Ok(writer) => break writer,
                Err(e) => {
                    if !self.on_error("create a segment in", &e, stop, &mut backoff) {
                        return false;
                    }
                }
            }
        };
        let old = std::mem::replace(&mut self.segment, writer);
        if seal_current {
            old.seal_after_sync_error();
        }
        let mut segments = lock(&self.shared.segments);
        segments.push_back(SegmentMeta {
            info: SegmentInfo {
                number: next,
                len: SEGMENT_HEADER_LEN as u64,
                sample_records: Vec::new(),
            },
            last_write: SystemTime::now(),
        });
        self.shared.update_disk_counters(&segments);
        true
    }

    /// Before a new segment: if it would take the log past `max_bytes`, drop the oldest
    /// segments (`drop_oldest`) or enter the `full` state (`fail`).
    fn make_room(&self) {
        let options = &self.shared.options;
        let mut segments = lock(&self.shared.segments);
        loop {
            let total: u64 = segments.iter().map(|s| s.info.len).sum();
            if total + self.shared.segment_size <= options.max_bytes {
                break;
            }
            let dropped = match options.full {
                FullPolicy::DropOldest => self.shared.drop_oldest_unsent(&mut segments, false),
                FullPolicy::Fail => false,
            };
            if !dropped {
                lock(&self.shared.pending).full = true;
                break;
            }
        }
        let _ = sync_dir(&options.wal_dir);
        self.shared.update_disk_counters(&segments);
    }

    /// Drops closed segments whose newest record is older than `max_age` (rotating an idle
    /// current segment first, so that it can go too).
    fn enforce_age(&mut self) {
        let Some(max_age) = self.shared.options.max_age else {
            return;
        };
        let too_old = |meta: &SegmentMeta| {
            meta.last_write
                .elapsed()
                .map(|age| age > max_age)
                .unwrap_or(false)
        };
        let current_too_old = {
            let segments = lock(&self.shared.segments);
            segments.back().is_some_and(too_old) && !self.segment.is_empty()
        };
        if current_too_old && !self.rotate(false) {
            return;
        }
        let mut segments = lock(&self.shared.segments);
        let mut dropped = false;
        while segments.len() > 1 && too_old(&segments[0]) {
            if !self.shared.drop_oldest_unsent(&mut segments, true) {
                break;
            }
            dropped = true;
        }
        if dropped {
            self.shared.after_delete(&segments);
        }
    }

    /// Marks the writer stopped (after giving up during a write error).
    fn finish_stopped(&mut self) {
        let pending = std::mem::take(&mut lock(&self.shared.pending).entries);
        self.count_unwritten(&pending);
        let mut progress = lock(&self.shared.progress);
        progress.written = self.written;
        progress.stopped = true;
        drop(progress);
        self.shared.progressed.notify_all();
    }
}

/// The `wal/` directory of a log directory.
pub fn wal_dir_of(dir: &Path) -> PathBuf {
    dir.join("wal")
}

/// The bytes written to the current segment since its last fsync (with `fsync: always` or
/// `interval`), kept as the writer's output buffers themselves (no copy), to rewrite them into
/// a new segment after an fsync error. A rotation fsyncs first, so they are all in the current
/// segment, in order, starting at its synced length.
#[derive(Default)]
struct UnsyncedWrites {
    buffers: Vec<Vec<u8>>,
    /// Emptied buffers, reused as output buffers.
    spare: Vec<Vec<u8>>,
    /// The labels (and metadata) a series had at the last fsync, for each slot reused since
    /// (its samples written before the reuse may have their Series record in the synced part).
    labels_at_sync: FxHashMap<u32, Labelled>,
}

impl UnsyncedWrites {
    /// Keeps the bytes of `out`, just written, and gives it an empty buffer in exchange.
    fn keep(&mut self, out: &mut Vec<u8>) {
        let empty = self.spare.pop().unwrap_or_default();
        self.buffers.push(std::mem::replace(out, empty));
    }

    /// Notes that slot `id` now names another series; `before` were its labels, `metadata`
    /// its metadata.
    fn slot_reused(&mut self, id: u32, before: Arc<[u8]>, metadata: Option<Arc<Metadata>>) {
        self.labels_at_sync.entry(id).or_insert((before, metadata));
    }

    /// Everything kept is fsync'd: forgets it, keeping the buffers for reuse.
    fn synced(&mut self) {
        for mut buffer in self.buffers.drain(..) {
            buffer.clear();
            self.spare.push(buffer);
        }
        self.labels_at_sync.clear();
    }

    /// Takes back the buffers of `used` (whose entries were read) for reuse.
    fn recycle(&mut self, mut used: UnsyncedWrites) {
        used.synced();
        self.spare.append(&mut used.spare);
    }

    /// The entries the kept bytes hold, in order: each sample preceded by a Series entry (and
    /// its Metadata entry) whenever its series' labels differ from those of the sample
    /// before. `series` gives the latest labels and metadata of the series whose Series
    /// record is in the synced part.
    fn entries(&self, series: &FxHashMap<u32, LoggedSeries>) -> Vec<Entry> {
        let mut rebuild = Rebuild::new(self.labels_at_sync.clone(), Some(series));
        for buffer in &self.buffers {
            let mut offset = 0;
            while offset < buffer.len() {
                // The writer's own output in memory: every frame is whole and good.
                let Some((record, frame_len)) = good_record_at(buffer, offset) else {
                    break;
                };
                offset += frame_len;
                rebuild.record(&record, true);
            }
        }
        rebuild.entries
    }
}

/// A series' labels and metadata.
type Labelled = (Arc<[u8]>, Option<Arc<Metadata>>);

/// Turns records written since the last fsync back into entries for the rewrite, giving each
/// item the labels (and metadata) its series had when it was written.
struct Rebuild<'s> {
    /// Each id's labels and metadata as of the record being read.
    state: FxHashMap<u32, Labelled>,
    /// The labels last given to the rewrite for each id.
    given: FxHashMap<u32, Arc<[u8]>>,
    /// The writer's series, for ids whose records are before what is read.
    fallback: Option<&'s FxHashMap<u32, LoggedSeries>>,
    entries: Vec<Entry>,
    /// Samples and extended entries rebuilt.
    items: u64,
}

impl<'s> Rebuild<'s> {
    fn new(
        state: FxHashMap<u32, Labelled>,
        fallback: Option<&'s FxHashMap<u32, LoggedSeries>>,
    ) -> Self {
        Rebuild {
            state,
            given: FxHashMap::default(),
            fallback,
            entries: Vec::new(),
            items: 0,
        }
    }

    /// The labels and metadata of `id` now.
    fn current(&self, id: u32) -> Option<Labelled> {
        self.state.get(&id).cloned().or_else(|| {
            self.fallback?
                .get(&id)
                .map(|known| (Arc::clone(&known.labels), known.metadata.clone()))
        })
    }

    /// Gives the rewrite series `id`'s Series entry (and Metadata entry) when its labels
    /// differ from those last given; false when the series is not known.
    fn give(&mut self, id: u32) -> bool {
        let Some((labels, metadata)) = self.current(id) else {
            return false;
        };
        if self.given.get(&id) != Some(&labels) {
            self.given.insert(id, Arc::clone(&labels));
            self.entries.push(Entry::Series { id, labels });
            if let Some(metadata) = metadata {
                self.entries.push(Entry::Metadata { id, metadata });
            }
        }
        true
    }

    /// Takes in one record; with `emit`, its items (and metadata) become entries.
    fn record(&mut self, record: &Decoded<'_>, emit: bool) {
        match record {
            Decoded::Record(Record::Series { id, labels: pairs }) => {
                let labels: Arc<[u8]> = encode_label_pairs(pairs.iter().copied()).into();
                let metadata = match self.current(*id) {
                    Some((before, metadata)) if before == labels => metadata,
                    _ => None,
                };
                self.state.insert(*id, (labels, metadata));
            }
            Decoded::Record(Record::Samples(samples)) if emit => {
                for sample in samples.clone().flatten() {
                    if self.give(sample.id) {
                        self.entries.push(Entry::Sample(sample));
                        self.items += 1;
                    }
                }
            }
            Decoded::Extended(extended) if emit => {
                for (sample, extra) in extended.clone().flatten() {
                    if self.give(sample.id) {
                        self.entries
                            .push(Entry::Extended(Box::new((sample, extra))));
                        self.items += 1;
                    }
                }
            }
            Decoded::Metadata { id, metadata } => {
                let metadata = Arc::new(metadata.clone());
                let Some((labels, _)) = self.current(*id) else {
                    return;
                };
                // The series' entries as of before this record, then the new metadata.
                if emit && self.give(*id) {
                    self.entries.push(Entry::Metadata {
                        id: *id,
                        metadata: Arc::clone(&metadata),
                    });
                }
                self.state.insert(*id, (labels, Some(metadata)));
            }
            Decoded::Record(Record::Samples(_)) | Decoded::Extended(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Exemplar, MetricType};

    fn labels(name: &str) -> Arc<[u8]> {
        crate::wire::rw1::encode_label_pairs([("__name__", name)].into_iter()).into()
    }

    fn frame(out: &mut Vec<u8>, payload: &[u8]) {
        write_frame(out, payload);
    }

    /// What the rewrite after an fsync error gets from the kept buffers: every item with the
    /// labels and metadata its series had when it was written, extended items whole.
    #[test]
    fn the_rewrite_rebuilds_extended_items_and_metadata_with_the_labels_of_their_time() {
        let metadata = Arc::new(Metadata {
            kind: MetricType::Counter,
            help: "h".to_string(),
            unit: "u".to_string(),
        });
        let extra = SampleExtra {
            start_ms: 5,
            histogram: None,
            exemplar: Some(Exemplar::new(Vec::new(), 1.0, None).unwrap()),
        };
        let sample = |timestamp| WalSample {
            id: 1,
            timestamp,
            value_bits: 7,
        };
        let mut buffer = Vec::new();
        let mut payload = Vec::new();
        encode_series(&mut payload, 1, label_pairs(&labels("a")));
        frame(&mut buffer, &payload);
        payload.clear();
        encode_metadata(&mut payload, 1, &metadata);
        frame(&mut buffer, &payload);
        let mut extended = ExtendedEncoder::default();
        extended.push(sample(10), &extra);
        payload.clear();
        extended.finish_into(&mut payload);
        frame(&mut buffer, &payload);
        let mut samples = SamplesEncoder::default();
        samples.push(sample(11));
        payload.clear();
        samples.finish_into(&mut payload);
        frame(&mut buffer, &payload);
        // The slot reused by another series, without metadata.
        payload.clear();
        encode_series(&mut payload, 1, label_pairs(&labels("b")));
        frame(&mut buffer, &payload);
        samples.push(sample(12));
        payload.clear();
        samples.finish_into(&mut payload);
        frame(&mut buffer, &payload);
        let kept = UnsyncedWrites {
            buffers: vec![buffer],
            ..UnsyncedWrites::default()
        };
        let entries = kept.entries(&FxHashMap::default());
        let want = vec![
            Entry::Series {
                id: 1,
                labels: labels("a"),
            },
            Entry::Metadata {
                id: 1,
                metadata: metadata.clone(),
            },
            Entry::Extended(Box::new((sample(10), extra))),
            Entry::Sample(sample(11)),
            Entry::Series {
                id: 1,
                labels: labels("b"),
            },
            Entry::Sample(sample(12)),
        ];
        assert_eq!(format!("{entries:?}"), format!("{want:?}"));

        // A series whose Series record is in the synced part: its labels and metadata come
        // from the writer's table.
        let mut buffer = Vec::new();
        samples.push(sample(13));
        payload.clear();
        samples.finish_into(&mut payload);
        frame(&mut buffer, &payload);
        let kept = UnsyncedWrites {
            buffers: vec![buffer],
            ..UnsyncedWrites::default()
        };
        let mut table = FxHashMap::default();
        table.insert(
            1,
            LoggedSeries {
                labels: labels("c"),
                written_in: Some(1),
                metadata: Some(metadata.clone()),
            },
        );
        let entries = kept.entries(&table);
        let want = vec![
            Entry::Series {
                id: 1,
                labels: labels("c"),
            },
            Entry::Metadata { id: 1, metadata },
            Entry::Sample(sample(13)),
        ];
        assert_eq!(format!("{entries:?}"), format!("{want:?}"));
    }
}
