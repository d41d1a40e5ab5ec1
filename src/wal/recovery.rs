//! Opening a log: every segment is scanned, damaged tails are cut, damage is counted, and what
//! the next session needs is collected (segment sizes and per-record sample counts for the
//! budget, each series' last timestamp for the registry).

use std::collections::HashMap;

use fxhash::FxHashMap;
use std::fs::OpenOptions;
use std::path::Path;

use super::format::{Decoded, Record};
use super::segment::{list_segments, scan_segment_all, segment_path, sync_dir};

/// The key of a label set in [`Recovered::last_timestamps`]: the labels' Remote Write 1.0
/// encoding, the bytes the registry identifies a series by.
pub fn label_key<'l>(labels: impl Iterator<Item = (&'l str, &'l str)> + Clone) -> Vec<u8> {
    crate::wire::rw1::encode_label_pairs(labels)
}

/// One segment as found at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment's number.
    pub number: u64,
    /// Its length after repair.
    pub len: u64,
    /// (offset, items) of each good Samples or Extended samples record, in order.
    pub sample_records: Vec<(u64, u64)>,
}

impl SegmentInfo {
    /// Items (samples, histograms) in records at or after `offset`.
    pub fn samples_from(&self, offset: u64) -> u64 {
        self.sample_records
            .iter()
            .filter(|(at, _)| *at >= offset)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Damage found and repaired at open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Damaged stretches skipped inside segments.
    pub corrupt_stretches: u64,
    /// Bytes in those stretches.
    pub corrupt_bytes: u64,
    /// Bytes cut from segment tails (torn or damaged last records).
    pub tail_bytes_cut: u64,
    /// Segments whose header was unreadable (skipped whole; empty ones removed).
    pub bad_segments: u64,
    /// Samples referring to a series no earlier record of their segment defines.
    pub orphan_samples: u64,
    /// One line per finding, for the log.
    pub findings: Vec<String>,
}

/// What opening a log found.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// Readable segments, ascending.
    pub segments: Vec<SegmentInfo>,
    /// The last timestamp the log holds for each label set ([`label_key`]).
    pub last_timestamps: HashMap<Vec<u8>, i64>,
    /// Damage found and repaired.
    pub damage: Damage,
    /// The highest segment number seen (readable or not); the next session starts above it.
    pub highest_segment: u64,
}

/// Scans every segment of `wal_dir`, cutting damaged tails. Fails only on an I/O error. A
/// segment whose header does not check (damaged, or of another format version: a newer
/// promrw may have written it) is skipped and left in place, counted and logged; an empty or
/// shorter-than-header file (a crash while creating it) is removed.
pub fn recover(wal_dir: &Path) -> Result<Recovered, String> {
    let io = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    let mut recovered = Recovered::default();
    let mut removed_any = false;
    for number in list_segments(wal_dir).map_err(|e| io(wal_dir, e))? {
        recovered.highest_segment = recovered.highest_segment.max(number);
        let path = segment_path(wal_dir, number);
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        // The segment's series: id -> index in `defined`, each with its last timestamp in
        // the segment (merged into the log's map once per series and segment).
        let mut series: FxHashMap<u32, usize> = FxHashMap::default();
        let mut defined: Vec<(Vec<u8>, Option<i64>)> = Vec::new();
        let mut sample_records = Vec::new();
        let mut orphans = 0u64;
        type Defined = Vec<(Vec<u8>, Option<i64>)>;
        fn note(
            series: &FxHashMap<u32, usize>,
            defined: &mut Defined,
            (id, timestamp): (u32, i64),
            orphans: &mut u64,
        ) {
            match series.get(&id) {
                Some(&index) => {
                    let last = &mut defined[index].1;
                    *last = Some(last.map_or(timestamp, |l| l.max(timestamp)));
                }
                None => *orphans += 1,
            }
        }
        let scan = scan_segment_all(&bytes, |offset, record| match record {
            Decoded::Record(Record::Series { id, labels }) => {
                series.insert(*id, defined.len());
                defined.push((label_key(labels.iter().copied()), None));
            }
            Decoded::Record(Record::Samples(samples)) => {
                sample_records.push((offset, samples.declared()));
                for sample in samples.clone().flatten() {
                    note(
                        &series,
                        &mut defined,
                        (sample.id, sample.timestamp),
                        &mut orphans,
                    );
                }
            }
            Decoded::Extended(entries) => {
                sample_records.push((offset, entries.declared()));
                for (sample, _) in entries.clone().flatten() {
                    note(
                        &series,
                        &mut defined,
                        (sample.id, sample.timestamp),
                        &mut orphans,
                    );
                }
            }
            Decoded::Metadata { .. } => {}
        });
        if let Some((offset, kind)) = scan.unknown_record {
            return Err(format!(
                "{}: the record at offset {offset} has type {kind}, which this build of promrw does not read (the log was written by a newer promrw?); refusing to open the log rather than skip or cut what it holds",
                path.display()
            ));
        }
        for (key, last) in defined {
            if let Some(last) = last {
                let entry = recovered.last_timestamps.entry(key).or_insert(last);
                *entry = (*entry).max(last);
            }
        }
        let damage = &mut recovered.damage;
        if let Some(why) = scan.bad_header {
            damage.bad_segments += 1;
            if bytes.len() < super::format::SEGMENT_HEADER_LEN {
                // A crash between creating the file and syncing its header: nothing to keep.
                std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
                removed_any = true;
                damage
                    .findings
                    .push(format!("{}: {why}; removed", path.display()));
            } else {
                damage.findings.push(format!(
                    "{}: {why}; skipped and left in place",
                    path.display()
                ));
            }
            continue;
        }
        if scan.corrupt_stretches > 0 {
            damage.corrupt_stretches += scan.corrupt_stretches;
            damage.corrupt_bytes += scan.corrupt_bytes;
            damage.findings.push(format!(
                "{}: {} damaged stretch(es), {} bytes, skipped",
                path.display(),
                scan.corrupt_stretches,
                scan.corrupt_bytes
            ));
        }
        if scan.tail_bytes > 0 {
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io(&path, e))?;
            file.set_len(scan.valid_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| io(&path, e))?;
            damage.tail_bytes_cut += scan.tail_bytes;
            damage.findings.push(format!(
                "{}: cut {} bytes of torn or damaged tail at offset {}",
                path.display(),
                scan.tail_bytes,
                scan.valid_len
            ));
        }
        if orphans > 0 {
            damage.orphan_samples += orphans;
            damage.findings.push(format!(
                "{}: {orphans} sample(s) of series whose definition was lost, skipped",
                path.display()
            ));
        }
        recovered.segments.push(SegmentInfo {
            number,
            len: scan.valid_len,
            sample_records,
        });
    }
    if removed_any {
        sync_dir(wal_dir).map_err(|e| io(wal_dir, e))?;
    }
    Ok(recovered)
}
