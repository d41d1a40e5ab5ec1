//! Reading the log back in order from a position (an endpoint's cursor), across segments, up
//! to what the writer has written: what a feeder sends from when its endpoint fell behind, and
//! what a new session replays. A segment is read in windows, so memory stays bounded however
//! large the backlog; damage is skipped and counted as the open-time scan does.

use fxhash::FxHashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cursor::Position;
use super::format::{Decoded, FRAME_HEADER_LEN, MAX_PAYLOAD_LEN, Record, SEGMENT_HEADER_LEN};
use super::segment::{good_record_at, list_segments, segment_path, unknown_record_at};
use super::tail::Tail;
use crate::model::{Metadata, SampleExtra};

/// Bytes read from a segment at a time (at least one whole frame of the largest size).
const WINDOW: usize = 4 << 20;
/// Ids below this are also tracked in a flat table (registry slots are small and dense; a
/// larger one, never written by promrw, only costs a map lookup).
const KNOWN_LIMIT: usize = 1 << 24;
/// The largest frame: before parsing at an offset, this much (or what is left) is buffered.
const MAX_FRAME: usize = FRAME_HEADER_LEN + MAX_PAYLOAD_LEN;
/// Records of the current segment remembered for a cut after an fsync error, at most.
const PASSED_KEPT: usize = 4096;

/// One sample read back. Its series' labels are [`LogReader::series_labels`] of its `id`
/// until the reader moves to another segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadSample {
    /// The series' id in the record's segment.
    pub id: u32,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value's bits.
    pub value_bits: u64,
}

/// A Samples or Extended samples record read back; or, when the reader reaches the end of
/// what is written with Metadata records read after the last record it returned, those
/// alone (no samples), so that metadata set without appends after it is not held back.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    /// Where the record starts.
    pub at: Position,
    /// Where the next record starts (the cursor once this one is done).
    pub next: Position,
    /// Its samples whose series is defined in the segment (others are counted in
    /// [`ReadCounts::orphan_samples`]); for a histogram entry `value_bits` is 0.
    pub samples: Vec<ReadSample>,
    /// For an Extended samples record, the extra part of each of `samples` (the same
    /// length); empty for a Samples record.
    pub extras: Vec<SampleExtra>,
    /// The metadata (series id, metadata) of the Metadata records read since the previous
    /// record returned in the same segment, in order; for the first record read from a
    /// position inside a segment, also the latest metadata of each series the segment set
    /// before that position.
    pub metadata: Vec<(u32, Metadata)>,
    /// The series ids (re)defined by Series records read since the previous record returned
    /// in the same segment: a reused registry slot gives an id new labels.
    pub defined: Vec<u32>,
}

/// What a reader skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// Damaged stretches skipped.
    pub corrupt_stretches: u64,
    /// Bytes in them.
    pub corrupt_bytes: u64,
    /// Samples whose series record was lost.
    pub orphan_samples: u64,
    /// Times the reader found its segment deleted (by the budget or the age limit) before it
    /// was read and moved on to the oldest one on disk; the writer counts the samples lost.
    pub segments_skipped: u64,
    /// Samples not returned because they are the writer's rewrite of samples this reader had
    /// returned already (after an fsync error the writer cuts the segment back to its last
    /// fsync'd length and writes what followed again, in the same order, into the next one).
    pub rewrites_skipped: u64,
}

/// Reads Samples records in order from a position.
#[derive(Debug)]
pub struct LogReader {
    wal_dir: PathBuf,
    position: Position,
    /// Bytes of segment `position.segment` from absolute offset `buffer_start`.
    buffer: Vec<u8>,
    buffer_start: u64,
    /// The segment the series map belongs to.
    series_segment: Option<u64>,
    /// The segment's series by id, as Remote Write 1.0 label bytes.
    series: FxHashMap<u32, Arc<[u8]>>,
    /// Ids defined since the last record returned.
    defined: Vec<u32>,
    /// Metadata read since the last record returned, and where the first of it starts.
    metadata: Vec<(u32, Metadata)>,
    metadata_at: Option<Position>,
    /// `known[id]`: `series` has `id` (a cheaper test per sample than the map; ids are
    /// registry slots, small and dense).
    known: Vec<bool>,
    /// (offset, samples) of each Samples record passed in the current segment: when the
    /// writer cuts it back after an fsync error, those at or after the cut are rewritten at
    /// the start of the next segment.
    passed: Vec<(u64, u64)>,
    /// Samples at the start of the segments ahead that are rewrites of samples already
    /// returned: skipped.
    rewritten_ahead: u64,
    counts: ReadCounts,
    /// The newest bytes of the segment being written, kept in memory by the writer.
    tail: Option<Arc<Tail>>,
    /// Bytes taken from the tail and from the files.
    from_memory: u64,
    from_files: u64,
}

/// Where reading may go: the writer's written end and the oldest segment on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimit {
    /// Everything before this position is written whole.
    pub written_end: Position,
    /// Segments below this one were deleted.
    pub oldest_segment: u64,
}

impl LogReader {
    /// A reader of the log in `wal_dir` starting at `start` (a cursor).
    pub fn new(wal_dir: &Path, start: Position) -> LogReader {
        LogReader {
            wal_dir: wal_dir.to_path_buf(),
            position: start,
            buffer: Vec::new(),
            buffer_start: start.offset,
            series_segment: None,
            series: FxHashMap::default(),
            defined: Vec::new(),
            metadata: Vec::new(),
            metadata_at: None,
            known: Vec::new(),
            passed: Vec::new(),
            rewritten_ahead: 0,
            counts: ReadCounts::default(),
            tail: None,
            from_memory: 0,
            from_files: 0,
        }
    }

    /// Bytes read so far from memory (the writer's tail) and from the segment files.
    pub fn bytes_read(&self) -> (u64, u64) {
        (self.from_memory, self.from_files)
    }

    /// Reads what the writer still holds in `tail` from memory rather than from the file.
    pub fn with_tail(mut self, tail: Arc<Tail>) -> LogReader {
        self.tail = Some(tail);
        self
    }

    /// The labels (Remote Write 1.0 label bytes) of series `id` in the segment of the record
    /// returned last.
    pub fn series_labels(&self, id: u32) -> Option<&Arc<[u8]>> {
        self.series.get(&id)
    }

    /// Takes in a Series record.
    fn define(&mut self, id: u32, labels: Arc<[u8]>) {
        self.series.insert(id, labels);
        let index = id as usize;
        if index >= KNOWN_LIMIT {
            return;
        }
        if self.known.len() <= index {
            self.known.resize(index + 1, false);
        }
        self.known[index] = true;
    }

    /// True when series `id` is defined in the segment.
    #[inline]
    fn is_known(&self, id: u32) -> bool {
        match self.known.get(id as usize) {
            Some(&known) => known,
            None => id as usize >= KNOWN_LIMIT && self.series.contains_key(&id),
        }
    }

    /// Where the next record would be read.
    pub fn position(&self) -> Position {
        self.position
    }

    /// What was skipped so far.
    pub fn counts(&self) -> &ReadCounts {
        &self.counts
    }

    /// The next Samples record before `limit.written_end`, or `None` when caught up.
    pub fn next_record(&mut self, limit: ReadLimit) -> io::Result<Option<ReadRecord>> {
        loop {
            if self.position >= limit.written_end {
                return Ok(None);
            }
            if self.position.segment < limit.oldest_segment {
                // Segment 0 is never written: a reader starting there starts at the beginning.
                if self.position.segment != 0 {
                    self.counts.segments_skipped += 1;
                }
                // A rewrite ahead, if any, is gone too.
                self.rewritten_ahead = 0;
                self.enter_segment(limit.oldest_segment);
                continue;
            }
            if self.position.offset < SEGMENT_HEADER_LEN as u64 {
                self.position.offset = SEGMENT_HEADER_LEN as u64;
                // At the start of the segment being written, with nothing in it yet.
                if self.position >= limit.written_end {
                    return Ok(None);
                }
            }
            let end = if self.position.segment == limit.written_end.segment {
                limit.written_end.offset
            } else {
                match std::fs::metadata(segment_path(&self.wal_dir, self.position.segment)) {
                    Ok(meta) => meta.len(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
                    Err(e) => return Err(e),
                }
            };
            if self.position.offset >= end {
                // Done with a closed segment: on to the next one on disk.
                let next = self.next_segment_after(self.position.segment, limit)?;
                if next != self.position.segment + 1 {
                    // A rewrite, always in the next segment, is gone.
                    self.rewritten_ahead = 0;
                } else if self.position.offset > end
                    && self
                        .tail
                        .as_ref()
                        .is_some_and(|tail| tail.rewritten(self.position.segment, end))
                {
                    // The writer cut this segment back below what was read of it (an fsync
                    // error) and rewrote the cut part first thing in `next`: the samples
                    // returned from the cut part come again there, in the same order.
                    self.rewritten_ahead += self
                        .passed
                        .iter()
                        .filter(|(at, _)| *at >= end)
                        .map(|(_, samples)| samples)
                        .sum::<u64>();
                }
                self.enter_segment(next);
                continue;
            }
            if self.series_segment != Some(self.position.segment) {
                self.load_series_before(self.position)?;
            }
            if let Some(record) = self.read_one(end)? {
                return Ok(Some(record));
            }
        }
    }

    /// Notes a Samples record at `offset` with `samples` passed. The oldest half of a long
    /// list is merged into one entry at its first offset, so memory stays bounded: a cut is
    /// near the end (what was written since the last fsync), and a merged entry straddling it
    /// would only make the next segment's rewrite be sent again, never skip new samples.
    fn note_passed(&mut self, offset: u64, samples: u64) {
        if self.passed.len() == PASSED_KEPT {
            let first = self.passed[0].0;
            let merged: u64 = self.passed.drain(..PASSED_KEPT / 2).map(|(_, n)| n).sum();
            self.passed.insert(0, (first, merged));
        }
        self.passed.push((offset, samples));
    }

    /// Moves to the start of segment `number`.
    fn enter_segment(&mut self, number: u64) {
        self.position = Position {
            segment: number,
            offset: SEGMENT_HEADER_LEN as u64,
        };
        self.buffer.clear();
        self.buffer_start = self.position.offset;
        self.series.clear();
        self.known.clear();
        self.defined.clear();
        self.metadata.clear();
        self.metadata_at = None;
        self.passed.clear();
        self.series_segment = Some(number);
    }

    /// The first segment on disk after `number` (at most the written end's).
    fn next_segment_after(&self, number: u64, limit: ReadLimit) -> io::Result<u64> {
        let next = list_segments(&self.wal_dir)?
            .into_iter()
            .find(|&n| n > number)
            .unwrap_or(limit.written_end.segment);
        Ok(next.min(limit.written_end.segment).max(number + 1))
    }

    /// Starting inside a segment: reads its Series records before `position` (the samples
    /// there are done), so the records from `position` on resolve.
    fn load_series_before(&mut self, position: Position) -> io::Result<()> {
        self.series.clear();
        self.known.clear();
        self.series_segment = Some(position.segment);
        let mut prefix = Vec::new();
        match File::open(segment_path(&self.wal_dir, position.segment)) {
            Ok(file) => {
                file.take(position.offset).read_to_end(&mut prefix)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // The latest metadata of each series, set after its (last) Series record.
        let mut metadata: FxHashMap<u32, Metadata> = FxHashMap::default();
        let mut offset = SEGMENT_HEADER_LEN;
        while offset < prefix.len() {
            match good_record_at(&prefix, offset) {
                Some((record, frame_len)) => {
                    match record {
                        Decoded::Record(Record::Series { id, labels }) => {
                            self.define(id, encoded(&labels));
                            metadata.remove(&id);
                        }
                        Decoded::Metadata { id, metadata: m } => {
                            metadata.insert(id, m);
                        }
                        _ => {}
                    }
                    offset += frame_len;
                }
                None => offset += 1,
            }
        }
        self.metadata.clear();
        self.metadata.extend(metadata);
        self.metadata_at = (!self.metadata.is_empty()).then_some(position);
        self.buffer.clear();
        self.buffer_start = position.offset;
        Ok(())
    }

    /// Makes sure the buffer holds `want` bytes from absolute offset `from` (or up to `end`).
    fn fill(&mut self, from: u64, end: u64) -> io::Result<()> {
        let want = MAX_FRAME.min((end - from) as usize);
        let buffered_end = self.buffer_start + self.buffer.len() as u64;
        if from >= self.buffer_start && from + want as u64 <= buffered_end {
            return Ok(());
        }
        // Keep what is still ahead of `from`, read on from the buffered end.
        if from >= self.buffer_start && from <= buffered_end {
            self.buffer.drain(..(from - self.buffer_start) as usize);
        } else {
            self.buffer.clear();
        }
        self.buffer_start = from;
        let mut read_from = self.buffer_start + self.buffer.len() as u64;
        let mut read_len = (WINDOW as u64).max(want as u64).min(end - read_from);
        if let Some(tail) = &self.tail {
            let copied =
                tail.copy_into(self.position.segment, read_from, read_len, &mut self.buffer);
            read_from += copied;
            read_len -= copied;
            self.from_memory += copied;
            if read_len == 0 || self.buffer.len() >= want {
                return Ok(());
            }
        }
        let mut file = File::open(segment_path(&self.wal_dir, self.position.segment))?;
        file.seek(SeekFrom::Start(read_from))?;
        // A file shorter than `end` (cut by a repair) gives what is there.
        self.from_files += file.take(read_len).read_to_end(&mut self.buffer)? as u64;
        Ok(())
    }

    /// Reads records from the position up to `end`: Series records are taken in, the first
    /// Samples record is returned; damage is skipped and counted. `None` at `end`.
    fn read_one(&mut self, end: u64) -> io::Result<Option<ReadRecord>> {
        let mut skipped = 0u64;
        while self.position.offset < end {
            self.fill(self.position.offset, end)?;
            let at_in_buffer = (self.position.offset - self.buffer_start) as usize;
            let available = self.buffer.len().saturating_sub(at_in_buffer);
            if available == 0 {
                // The file ended before `end` (cut by a repair): nothing more here.
                skipped += end - self.position.offset;
                self.position.offset = end;
                break;
            }
            let Some((record, frame_len)) = good_record_at(&self.buffer, at_in_buffer) else {
                if skipped == 0
                    && let Some(kind) = unknown_record_at(&self.buffer, at_in_buffer)
                {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: the record at offset {} has type {kind}, which this build of promrw does not read (written by a newer promrw?); reading stops there",
                            segment_path(&self.wal_dir, self.position.segment).display(),
                            self.position.offset
                        ),
                    ));
                }
                skipped += 1;
                self.position.offset += 1;
                continue;
            };
            if skipped > 0 {
                self.counts.corrupt_stretches += 1;
                self.counts.corrupt_bytes += skipped;
                skipped = 0;
            }
            let at = self.position;
            self.position.offset += frame_len as u64;
            match record {
                Decoded::Record(Record::Series { id, labels }) => {
                    self.define(id, encoded(&labels));
                    self.defined.push(id);
                }
                Decoded::Metadata { id, metadata } => {
                    if self.is_known(id) {
                        self.metadata_at.get_or_insert(at);
                        self.metadata.push((id, metadata));
                    }
                }
                Decoded::Record(Record::Samples(samples)) => {
                    let mut read = Vec::with_capacity(samples.declared() as usize);
                    let mut passed = 0;
                    for sample in samples.flatten() {
                        passed += 1;
                        if take_in(
                            &mut self.rewritten_ahead,
                            &mut self.counts,
                            &self.known,
                            &self.series,
                            sample.id,
                        ) {
                            read.push(ReadSample {
                                id: sample.id,
                                timestamp: sample.timestamp,
                                value_bits: sample.value_bits,
                            });
                        }
                    }
                    self.note_passed(at.offset, passed);
                    return Ok(Some(self.returned(at, read, Vec::new())));
                }
                Decoded::Extended(entries) => {
                    let mut read = Vec::with_capacity(entries.declared() as usize);
                    let mut extras = Vec::with_capacity(entries.declared() as usize);
                    let mut passed = 0;
                    for (sample, extra) in entries.flatten() {
                        passed += 1;
                        if take_in(
                            &mut self.rewritten_ahead,
                            &mut self.counts,
                            &self.known,
                            &self.series,
                            sample.id,
                        ) {
                            read.push(ReadSample {
                                id: sample.id,
                                timestamp: sample.timestamp,
                                value_bits: sample.value_bits,
                            });
                            extras.push(extra);
                        }
                    }
                    self.note_passed(at.offset, passed);
                    return Ok(Some(self.returned(at, read, extras)));
                }
            }
        }
        if skipped > 0 {
            self.counts.corrupt_stretches += 1;
            self.counts.corrupt_bytes += skipped;
        }
        if let Some(at) = self.metadata_at {
            // Metadata with no record after it yet: handed on alone.
            return Ok(Some(self.returned(at, Vec::new(), Vec::new())));
        }
        Ok(None)
    }

    /// The record to return, starting at `at` (or at the first metadata read before it).
    fn returned(
        &mut self,
        at: Position,
        samples: Vec<ReadSample>,
        extras: Vec<SampleExtra>,
    ) -> ReadRecord {
        let at = self.metadata_at.take().map_or(at, |first| first.min(at));
        ReadRecord {
            at,
            next: self.position,
            samples,
            extras,
            metadata: std::mem::take(&mut self.metadata),
            defined: std::mem::take(&mut self.defined),
        }
    }
}

/// Whether an item of series `id` is returned: not when it is the rewrite of one returned
/// already, nor when its series is not defined (counted). (The reader's fields, borrowed apart
/// from the buffer the record is read from.)
#[inline]
fn take_in(
    rewritten_ahead: &mut u64,
    counts: &mut ReadCounts,
    known: &[bool],
    series: &FxHashMap<u32, Arc<[u8]>>,
    id: u32,
) -> bool {
    if *rewritten_ahead > 0 {
        *rewritten_ahead -= 1;
        counts.rewrites_skipped += 1;
        return false;
    }
    let is_known = match known.get(id as usize) {
        Some(&known) => known,
        None => id as usize >= KNOWN_LIMIT && series.contains_key(&id),
    };
    if !is_known {
        counts.orphan_samples += 1;
    }
    is_known
}

/// Label pairs as Remote Write 1.0 label bytes.
fn encoded(labels: &[(&str, &str)]) -> Arc<[u8]> {
    crate::wire::rw1::encode_label_pairs(labels.iter().copied()).into()
}
