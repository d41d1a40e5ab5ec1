//! Segment files: naming, listing, creating, appending with cut-back on failure, and the scan
//! that reads a segment's records, skipping and counting damage (see docs/ARCHITECTURE.md,
//! "Durable queue (WAL mode): design", Faults).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::format::{
    Decoded, FRAME_HEADER_LEN, Frame, HeaderError, Record, SEGMENT_HEADER_LEN,
    check_segment_header, decode_record_checked, is_known_record_type, read_frame, segment_header,
};

/// The file name of segment `number`: 16 lowercase hex digits.
pub fn segment_name(number: u64) -> String {
    format!("{number:016x}")
}

/// The path of segment `number` in `wal_dir`.
pub fn segment_path(wal_dir: &Path, number: u64) -> PathBuf {
    wal_dir.join(segment_name(number))
}

/// The segment numbers in `wal_dir`, ascending. Files whose names are not 16 hex digits are
/// not segments and are left alone.
pub fn list_segments(wal_dir: &Path) -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(wal_dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 16
            && name.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(number) = u64::from_str_radix(name, 16)
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Fsyncs a directory, so that a file created, renamed or removed in it stays so after a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment being written: appends go to its end; a failed append is cut back so the file
/// never keeps a partial record.
#[derive(Debug)]
pub struct SegmentWriter {
    file: File,
    path: PathBuf,
    number: u64,
    len: u64,
    synced_len: u64,
}

impl SegmentWriter {
    /// Creates segment `number` in `wal_dir` (it must not exist) with its header, fsync'd
    /// together with the directory entry.
    pub fn create(wal_dir: &Path, number: u64) -> io::Result<SegmentWriter> {
        let path = segment_path(wal_dir, number);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let created = file
            .write_all(&segment_header())
            .and_then(|()| file.sync_data())
            .and_then(|()| sync_dir(wal_dir));
        if let Err(e) = created {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(SegmentWriter {
            file,
            path,
            number,
            len: SEGMENT_HEADER_LEN as u64,
            synced_len: SEGMENT_HEADER_LEN as u64,
        })
    }

    /// The segment's number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written (header included).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether only the header was written.
    pub fn is_empty(&self) -> bool {
        self.len == SEGMENT_HEADER_LEN as u64
    }

    /// Bytes known to be on the disk (as of the last successful [`SegmentWriter::sync`]).
    pub fn synced_len(&self) -> u64 {
        self.synced_len
    }

    /// Appends whole framed records. On an error (`ENOSPC`, `EIO`, a short write) the file is
    /// cut back to its length before the call, so it never ends in a partial record, and the
    /// error is returned.
    pub fn append(&mut self, framed: &[u8]) -> io::Result<()> {
        match self.write_all(framed) {
            Ok(()) => {
                self.len += framed.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.cut_back(self.len);
                Err(e)
            }
        }
    }

    /// fsyncs the data written so far. After an error the segment must not be synced again
    /// (the kernel may have dropped the pages and a second fsync "succeeds"): the caller cuts
    /// it back to [`SegmentWriter::synced_len`] with [`SegmentWriter::seal_after_sync_error`]
    /// and rewrites what followed into a new segment.
    pub fn sync(&mut self) -> io::Result<()> {
        #[cfg(feature = "test-hooks")]
        if let Some(error) = super::test_hooks::take(super::test_hooks::Op::Sync, &self.path) {
            return Err(error);
        }
        self.file.sync_data()?;
        self.synced_len = self.len;
        Ok(())
    }

    /// Writes `framed` at the file's position. With the `test-hooks` feature an injected
    /// failure (`test_hooks::fail_writes`) writes half of it first, then fails with `ENOSPC`.
    fn write_all(&mut self, framed: &[u8]) -> io::Result<()> {
        #[cfg(feature = "test-hooks")]
        if let Some(error) = super::test_hooks::take(super::test_hooks::Op::Write, &self.path) {
            let _ = self.file.write_all(&framed[..framed.len() / 2]);
            return Err(error);
        }
        self.file.write_all(framed)
    }

    /// Cuts the segment back to what was last synced and closes it (best effort: the open-time
    /// scan cuts any damaged tail anyway).
    pub fn seal_after_sync_error(self) {
        let synced = self.synced_len;
        let mut this = self;
        this.cut_back(synced);
    }

    /// Truncates the file to `len` bytes and moves the write position there (best effort).
    fn cut_back(&mut self, len: u64) {
        use std::io::Seek;
        let _ = self.file.set_len(len);
        let _ = self.file.seek(io::SeekFrom::Start(len));
        self.len = len;
    }
}

/// What scanning one segment found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// The segment header is unreadable: nothing in the segment was read.
    pub bad_header: Option<String>,
    /// End of the last good record (the header's end when there is none).
    pub valid_len: u64,
    /// Good records read.
    pub records: u64,
    /// Samples in the good Samples records.
    pub samples: u64,
    /// Damaged stretches skipped before a later good record (mid-segment corruption).
    pub corrupt_stretches: u64,
    /// Bytes in those stretches.
    pub corrupt_bytes: u64,
    /// Bytes after the last good record (a torn or damaged tail), cut when repairing.
    pub tail_bytes: u64,
    /// A record whose frame checks but whose type this build does not know (written by a
    /// newer promrw): `(offset, type)`. The scan stops there; nothing after it is read, and
    /// the bytes from it on are not counted as a tail (the log must not be repaired).
    pub unknown_record: Option<(u64, u8)>,
}

/// The record type of a good frame at `offset` whose type this build does not know.
pub(crate) fn unknown_record_at(bytes: &[u8], offset: usize) -> Option<u8> {
    match read_frame(&bytes[offset..]) {
        Frame::Record { payload, .. } if !is_known_record_type(payload[0]) => Some(payload[0]),
        _ => None,
    }
}

/// Reads the records of a segment's `bytes`, calling `visit(offset, record)` for each good one
/// in order. A damaged stretch (a frame whose length is impossible, whose CRC does not match or
/// whose body does not decode) is skipped by looking for the next offset where a good frame
/// starts; what cannot be read at the end is the tail. Never panics, whatever the bytes.
/// Visits the Series and Samples records only ([`scan_segment_all`] visits every type).
pub fn scan_segment(bytes: &[u8], mut visit: impl FnMut(u64, &Record<'_>)) -> SegmentScan {
    scan_segment_all(bytes, |offset, decoded| {
        if let Decoded::Record(record) = decoded {
            visit(offset, record);
        }
    })
}

/// As [`scan_segment`], visiting records of every type. A record whose frame checks but whose
/// type is unknown (a newer promrw's) stops the scan: [`SegmentScan::unknown_record`].
pub fn scan_segment_all(bytes: &[u8], mut visit: impl FnMut(u64, &Decoded<'_>)) -> SegmentScan {
    let mut scan = SegmentScan::default();
    if let Err(e) = check_segment_header(bytes) {
        scan.bad_header = Some(match e {
            HeaderError::Short if bytes.is_empty() => "is empty".to_string(),
            other => other.to_string(),
        });
        return scan;
    }
    let mut offset = SEGMENT_HEADER_LEN;
    scan.valid_len = offset as u64;
    while offset < bytes.len() {
        if let Some((record, frame_len)) = good_record_at(bytes, offset) {
            scan.samples += record.items();
            visit(offset as u64, &record);
            scan.records += 1;
            offset += frame_len;
            scan.valid_len = offset as u64;
            continue;
        }
        if let Some(kind) = unknown_record_at(bytes, offset) {
            scan.unknown_record = Some((offset as u64, kind));
            return scan;
        }
        match (offset + 1..bytes.len()).find(|&at| good_record_at(bytes, at).is_some()) {
            Some(next) => {
                scan.corrupt_stretches += 1;
                scan.corrupt_bytes += (next - offset) as u64;
                offset = next;
            }
            None => break,
        }
    }
    scan.tail_bytes = bytes.len() as u64 - scan.valid_len;
    scan
}

/// The record at `offset` when a good frame starts there and its body decodes.
pub(crate) fn good_record_at(bytes: &[u8], offset: usize) -> Option<(Decoded<'_>, usize)> {
    let rest = &bytes[offset..];
    // A cheap test first: a frame's payload starts with a known record type. It keeps the
    // search for the next good frame after damage from computing CRCs at most offsets.
    match rest.get(FRAME_HEADER_LEN) {
        Some(&kind) if is_known_record_type(kind) => {}
        _ => return None,
    }
    match read_frame(rest) {
        Frame::Record { payload, frame_len } => decode_record_checked(payload)
            .ok()
            .map(|record| (record, frame_len)),
        Frame::Truncated | Frame::Corrupt => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::format::{SamplesEncoder, WalSample, encode_series, write_frame};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "promrw-segment-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A segment's bytes: a series record and `rounds` samples records of 3 samples.
    fn segment_bytes(rounds: u32) -> Vec<u8> {
        let mut bytes = segment_header().to_vec();
        let mut payload = Vec::new();
        encode_series(&mut payload, 7, [("__name__", "up")].into_iter());
        write_frame(&mut bytes, &payload);
        for round in 0..rounds {
            let mut encoder = SamplesEncoder::default();
            for i in 0..3 {
                encoder.push(WalSample {
                    id: 7,
                    timestamp: i64::from(round * 3 + i),
                    value_bits: 1.0f64.to_bits(),
                });
            }
            payload.clear();
            encoder.finish_into(&mut payload);
            write_frame(&mut bytes, &payload);
        }
        bytes
    }

    #[test]
    fn a_clean_segment_reads_every_record() {
        let bytes = segment_bytes(4);
        let mut offsets = Vec::new();
        let scan = scan_segment(&bytes, |offset, _| offsets.push(offset));
        assert_eq!(scan.records, 5);
        assert_eq!(scan.samples, 12);
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!((scan.corrupt_stretches, scan.tail_bytes), (0, 0));
        assert_eq!(offsets[0], SEGMENT_HEADER_LEN as u64);
    }

    #[test]
    fn damage_in_the_middle_skips_to_the_next_good_record() {
        let bytes = segment_bytes(4);
        let mut offsets = Vec::new();
        scan_segment(&bytes, |offset, _| offsets.push(offset as usize));
        let mut damaged = bytes.clone();
        damaged[offsets[2] + 12] ^= 0xff;
        let scan = scan_segment(&damaged, |_, _| {});
        assert_eq!(scan.records, 4);
        assert_eq!(scan.corrupt_stretches, 1);
        assert_eq!(scan.corrupt_bytes, (offsets[3] - offsets[2]) as u64);
        assert_eq!(scan.tail_bytes, 0);
    }

    #[test]
    fn a_torn_tail_is_measured() {
        let bytes = segment_bytes(2);
        let scan = scan_segment(&bytes[..bytes.len() - 3], |_, _| {});
        assert_eq!(scan.records, 2);
        assert!(scan.tail_bytes > 0);
        assert_eq!(scan.valid_len + scan.tail_bytes, bytes.len() as u64 - 3);
        assert!(scan_segment(&[], |_, _| {}).bad_header.is_some());
        assert!(
            scan_segment(b"garbage garbage garbage", |_, _| {})
                .bad_header
                .is_some()
        );
    }

    #[test]
    fn the_writer_creates_appends_and_lists_segments() {
        let dir = temp_dir("writer");
        let mut writer = SegmentWriter::create(&dir, 3).unwrap();
        assert!(writer.is_empty());
        let bytes = segment_bytes(1);
        writer.append(&bytes[SEGMENT_HEADER_LEN..]).unwrap();
        writer.sync().unwrap();
        assert_eq!(writer.synced_len(), bytes.len() as u64);
        assert!(
            SegmentWriter::create(&dir, 3).is_err(),
            "segments are never reused"
        );
        SegmentWriter::create(&dir, 10).unwrap();
        std::fs::write(dir.join("not-a-segment"), b"x").unwrap();
        assert_eq!(list_segments(&dir).unwrap(), vec![3, 10]);
        assert_eq!(std::fs::read(writer.path()).unwrap(), bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
