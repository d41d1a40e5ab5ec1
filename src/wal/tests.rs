//! Tests of the log on real files: the writer's group commit, fsync policies, rotation,
//! self-contained segments, the disk budget, `full: fail`, the age limit, and recovery from
//! torn and corrupt data (a property test over random damage).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use proptest::prelude::*;

use super::cursor::Position;
use super::format::{Record, WalSample};
use super::reader::LogReader;
use super::recovery::{label_key, recover};
use super::segment::{list_segments, scan_segment, segment_path};
use super::writer::{Entry, FsyncPolicy, FullPolicy, Refusal, Writer, WriterOptions};
use crate::log::Logger;
use crate::model::Labels;

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "promrw-wal-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(dir: &Path, fsync: FsyncPolicy, max_bytes: u64, full: FullPolicy) -> WriterOptions {
    WriterOptions {
        wal_dir: dir.to_path_buf(),
        fsync,
        max_bytes,
        max_age: None,
        full,
    }
}

fn start(options: WriterOptions) -> Writer {
    let recovered = recover(&options.wal_dir).unwrap();
    Writer::start(
        options,
        recovered.segments,
        recovered.highest_segment,
        vec![Position {
            segment: 0,
            offset: 0,
        }],
        Logger::default(),
    )
    .unwrap()
}

fn labels(i: u32) -> Arc<[u8]> {
    let labels = Labels::from_pairs(&[
        ("__name__", "wal_test_metric"),
        ("instance", &format!("host-{i:05}")),
        ("job", "promrw-wal-test"),
    ])
    .unwrap();
    crate::wire::rw1::encode_labels(&labels).into()
}

/// Appends `rounds` rounds over `series` series (series logged on the first round).
fn append_rounds(
    writer: &Writer,
    series: u32,
    rounds: std::ops::Range<u32>,
) -> Result<u64, Refusal> {
    let mut accepted = 0;
    for round in rounds {
        let mut append = writer.append();
        for id in 0..series {
            if round == 0 {
                append.push(Entry::Series {
                    id,
                    labels: labels(id),
                })?;
            }
            append.push(Entry::Sample(WalSample {
                id,
                timestamp: 1_700_000_000_000 + i64::from(round) * 1000,
                value_bits: f64::from(round * series + id).to_bits(),
            }))?;
            accepted += 1;
        }
    }
    Ok(accepted)
}

/// Every sample in the log, in log order, as (label key, timestamp, bits), reading each
/// segment on its own (so it also proves that segments are self-contained).
fn read_all(dir: &Path) -> Vec<(Vec<u8>, i64, u64)> {
    read_log(dir, true)
}

/// [`read_all`]; with `strict` false, samples whose series record was lost are skipped.
fn read_log(dir: &Path, strict: bool) -> Vec<(Vec<u8>, i64, u64)> {
    let mut samples = Vec::new();
    for number in list_segments(dir).unwrap() {
        let bytes = std::fs::read(segment_path(dir, number)).unwrap();
        let mut series = std::collections::HashMap::new();
        scan_segment(&bytes, |_, record| match record {
            Record::Series { id, labels } => {
                series.insert(*id, label_key(labels.iter().copied()));
            }
            Record::Samples(iter) => {
                for sample in iter.clone() {
                    let sample = sample.unwrap();
                    let key = series.get(&sample.id);
                    assert!(
                        key.is_some() || !strict,
                        "a sample's series is defined earlier in its segment"
                    );
                    if let Some(key) = key {
                        samples.push((key.clone(), sample.timestamp, sample.value_bits));
                    }
                }
            }
        });
    }
    samples
}

#[test]
fn samples_are_written_in_order_and_survive_reopening() {
    let dir = TempDir::new("roundtrip");
    let writer = start(options(
        &dir.0,
        FsyncPolicy::Interval(Duration::from_secs(1)),
        1 << 30,
        FullPolicy::DropOldest,
    ));
    assert_eq!(append_rounds(&writer, 100, 0..50).unwrap(), 5000);
    assert!(writer.sync(Duration::from_secs(10)), "sync");
    assert!(writer.counters().fsyncs.load(Ordering::Relaxed) >= 1);
    writer.stop();
    let read = read_all(&dir.0);
    assert_eq!(read.len(), 5000);
    for (i, (key, ts, bits)) in read.iter().enumerate() {
        let (round, id) = (i as u32 / 100, i as u32 % 100);
        assert_eq!(key[..], labels(id)[..]);
        assert_eq!(*ts, 1_700_000_000_000 + i64::from(round) * 1000);
        assert_eq!(*bits, f64::from(round * 100 + id).to_bits());
    }
    let recovered = recover(&dir.0).unwrap();
    assert_eq!(recovered.last_timestamps.len(), 100);
    assert!(
        recovered
            .last_timestamps
            .values()
            .all(|&ts| ts == 1_700_000_049_000)
    );
    assert_eq!(recovered.damage.findings, Vec::<String>::new());
    // A second session writes its own segment after the first one's.
    let second = start(options(
        &dir.0,
        FsyncPolicy::Never,
        1 << 30,
        FullPolicy::DropOldest,
    ));
    append_rounds(&second, 100, 0..1).unwrap();
    assert!(second.sync(Duration::from_secs(10)));
    second.stop();
    assert_eq!(list_segments(&dir.0).unwrap(), vec![1, 2]);
    assert_eq!(read_all(&dir.0).len(), 5100);
}

#[test]
fn group_commit_writes_many_entries_per_write_and_fsync_follows_the_policy() {
    for (policy, expect_many_fsyncs) in [(FsyncPolicy::Always, true), (FsyncPolicy::Never, false)] {
        let dir = TempDir::new("policy");
        let writer = start(options(&dir.0, policy, 1 << 30, FullPolicy::DropOldest));
        for round in 0..5 {
            append_rounds(&writer, 1000, round..round + 1).unwrap();
            // One wake of the writer per round (it takes entries within 100 ms).
            assert!(writer.wait_written(Duration::from_secs(10)));
        }
        let fsyncs_before_sync = writer.counters().fsyncs.load(Ordering::Relaxed);
        assert!(writer.sync(Duration::from_secs(10)));
        writer.stop();
        let records = writer.counters().records_written.load(Ordering::Relaxed);
        assert!(
            records < 1000 + 100,
            "{records} records for 5000 samples: not group-committed"
        );
        if expect_many_fsyncs {
            assert!(
                fsyncs_before_sync >= 4,
                "always: {fsyncs_before_sync} fsyncs for 5 wakes"
            );
        } else {
            assert_eq!(fsyncs_before_sync, 0, "never: fsync only at sync and stop");
        }
        assert_eq!(read_all(&dir.0).len(), 5000);
    }
}

#[test]
fn segments_rotate_and_each_is_self_contained() {
    let dir = TempDir::new("rotate");
    // 512 KiB budget: 64 KiB segments.
    let writer = start(options(
        &dir.0,
        FsyncPolicy::Never,
        512 << 10,
        FullPolicy::DropOldest,
    ));
    writer.set_cursor(
        0,
        Position {
            segment: u64::MAX,
            offset: 0,
        },
    ); // everything is "sent"
    append_rounds(&writer, 200, 0..100).unwrap();
    assert!(writer.sync(Duration::from_secs(10)));
    writer.stop();
    let segments = list_segments(&dir.0).unwrap();
    assert!(segments.len() >= 2, "{segments:?}");
    for number in &segments {
        let len = std::fs::metadata(segment_path(&dir.0, *number))
            .unwrap()
            .len();
        assert!(
            len <= (64 << 10) + (64 << 10),
            "segment {number} is {len} bytes"
        );
    }
    read_all(&dir.0); // panics on a sample whose series is not defined in its segment
}

#[test]
fn the_budget_drops_the_oldest_unsent_segments_and_counts_their_samples() {
    let dir = TempDir::new("budget");
    let writer = start(options(
        &dir.0,
        FsyncPolicy::Never,
        512 << 10,
        FullPolicy::DropOldest,
    ));
    let accepted = append_rounds(&writer, 500, 0..400).unwrap();
    assert!(writer.sync(Duration::from_secs(10)));
    let on_disk = writer.counters().bytes_on_disk.load(Ordering::Relaxed);
    let (dropped, too_old) = writer.dropped(0);
    writer.stop();
    assert!(
        on_disk <= (512 << 10) + (64 << 10),
        "{on_disk} bytes on disk"
    );
    let remaining = read_all(&dir.0).len() as u64;
    assert!(dropped > 0);
    assert_eq!(too_old, 0);
    assert_eq!(
        dropped + remaining,
        accepted,
        "every sample is on disk or counted as dropped"
    );
}

#[test]
fn full_fail_refuses_appends_until_sending_frees_space() {
    let dir = TempDir::new("fail");
    let writer = start(options(
        &dir.0,
        FsyncPolicy::Never,
        512 << 10,
        FullPolicy::Fail,
    ));
    let mut refused = None;
    for round in 0..10_000 {
        match append_rounds(&writer, 500, round..round + 1) {
            Ok(_) => {
                writer.sync(Duration::from_secs(10));
            }
            Err(refusal) => {
                refused = Some(refusal);
                break;
            }
        }
    }
    assert_eq!(refused, Some(Refusal::Full));
    assert_eq!(writer.dropped(0), (0, 0), "fail never drops");
    let current = *list_segments(&dir.0).unwrap().last().unwrap();
    writer.set_cursor(
        0,
        Position {
            segment: current,
            offset: 0,
        },
    );
    assert!(
        append_rounds(&writer, 500, 20_000..20_001).is_ok(),
        "space freed"
    );
    writer.stop();
}

#[test]
fn segments_older_than_max_age_are_dropped_and_counted() {
    let dir = TempDir::new("age");
    let mut options = options(&dir.0, FsyncPolicy::Never, 1 << 30, FullPolicy::DropOldest);
    options.max_age = Some(Duration::from_millis(300));
    let writer = start(options);
    let accepted = append_rounds(&writer, 100, 0..10).unwrap();
    assert!(writer.sync(Duration::from_secs(10)));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while writer.dropped(0).1 < accepted {
        assert!(
            std::time::Instant::now() < deadline,
            "dropped {:?}",
            writer.dropped(0)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.stop();
    assert_eq!(writer.dropped(0), (0, accepted));
    assert!(read_all(&dir.0).is_empty());
}

/// A sample read back: (label bytes, timestamp, value bits).
type ReadBack = (Vec<u8>, i64, u64);

/// Everything a reader from `start` gets, as (label key, timestamp, bits), with the
/// position after the last record.
fn read_with_reader(writer: &Writer, dir: &Path, start: Position) -> (Vec<ReadBack>, Position) {
    let (read, position, _) = read_with(writer, LogReader::new(dir, start));
    (read, position)
}

/// [`read_with_reader`] with a reader of its own; also gives its bytes read from memory and
/// from the files.
fn read_with(writer: &Writer, mut reader: LogReader) -> (Vec<ReadBack>, Position, (u64, u64)) {
    let mut samples = Vec::new();
    while let Some(record) = reader.next_record(writer.read_limit()).unwrap() {
        assert!(record.next > record.at);
        for sample in record.samples {
            let key = reader.series_labels(sample.id).unwrap().to_vec();
            samples.push((key, sample.timestamp, sample.value_bits));
        }
    }
    assert_eq!(reader.counts(), &Default::default());
    (samples, reader.position(), reader.bytes_read())
}

#[test]
fn a_reader_reads_the_log_in_order_across_sessions_segments_and_while_it_grows() {
    let dir = TempDir::new("reader");
    let first = start(options(
        &dir.0,
        FsyncPolicy::Never,
        1 << 30,
        FullPolicy::DropOldest,
    ));
    append_rounds(&first, 50, 0..20).unwrap();
    assert!(first.sync(Duration::from_secs(10)));
    first.stop();
    // A second session with small segments: rotations while the reader follows it.
    let writer = start(options(
        &dir.0,
        FsyncPolicy::Never,
        2 << 20,
        FullPolicy::DropOldest,
    ));
    let origin = Position {
        segment: 0,
        offset: 0,
    };
    let (mut read, mut position) = read_with_reader(&writer, &dir.0, origin);
    assert_eq!(read.len(), 1000, "the first session");
    let mut from_memory = 0;
    for round in 0..10 {
        append_rounds(&writer, 2000, round..round + 1).unwrap();
        assert!(writer.wait_written(Duration::from_secs(10)));
        // Every other round reads the writer's tail from memory: the same records.
        let reader = LogReader::new(&dir.0, position);
        let reader = if round % 2 == 0 {
            reader.with_tail(writer.tail())
        } else {
            reader
        };
        let (more, next, (memory, _)) = read_with(&writer, reader);
        assert_eq!(more.len(), 2000, "round {round}");
        if round % 2 == 1 {
            assert_eq!(memory, 0);
        }
        from_memory += memory;
        read.extend(more);
        position = next;
    }
    assert!(from_memory > 0, "readers keeping up read from memory");
    writer.stop();
    assert!(list_segments(&dir.0).unwrap().len() >= 3, "rotated");
    let files = read_all(&dir.0);
    let first_difference = read.iter().zip(&files).position(|(a, b)| a != b);
    assert_eq!(
        (read.len(), first_difference),
        (files.len(), None),
        "the reader sees what the files hold, in order"
    );
    // Starting at any record's cursor gives exactly the rest.
    let writer = start(options(
        &dir.0,
        FsyncPolicy::Never,
        1 << 30,
        FullPolicy::DropOldest,
    ));
    let mut reader = LogReader::new(&dir.0, origin);
    let mut cursors = Vec::new();
    let mut before = 0;
    while let Some(record) = reader.next_record(writer.read_limit()).unwrap() {
        before += record.samples.len();
        cursors.push((record.next, before));
    }
    for &(cursor, done) in cursors.iter().step_by(7) {
        let (rest, _) = read_with_reader(&writer, &dir.0, cursor);
        assert_eq!(rest[..], read[done..], "from {cursor:?}");
    }
    writer.stop();
}

#[test]
fn a_reader_skips_deleted_segments_and_counts_damage() {
    let dir = TempDir::new("reader-skip");
    let writer = start(options(
        &dir.0,
        FsyncPolicy::Never,
        1 << 20,
        FullPolicy::DropOldest,
    ));
    append_rounds(&writer, 500, 0..300).unwrap();
    assert!(writer.sync(Duration::from_secs(10)));
    let (dropped, _) = writer.dropped(0);
    assert!(dropped > 0, "the budget dropped segments");
    // Starting in the first segment, deleted since.
    let mut reader = LogReader::new(
        &dir.0,
        Position {
            segment: 1,
            offset: 0,
        },
    );
    let mut got = 0u64;
    while let Some(record) = reader.next_record(writer.read_limit()).unwrap() {
        got += record.samples.len() as u64;
    }
    assert!(reader.counts().segments_skipped > 0);
    assert_eq!(
        got + dropped,
        150_000,
        "read or counted as dropped by the writer"
    );
    // Damage in a closed segment is skipped and counted, the rest still read.
    let segments = list_segments(&dir.0).unwrap();
    let victim = segment_path(&dir.0, segments[0]);
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0xee);
    std::fs::write(&victim, &bytes).unwrap();
    let mut reader = LogReader::new(
        &dir.0,
        Position {
            segment: segments[0],
            offset: 0,
        },
    );
    let mut after_damage = 0u64;
    while let Some(record) = reader.next_record(writer.read_limit()).unwrap() {
        after_damage += record.samples.len() as u64;
    }
    writer.stop();
    assert_eq!(
        reader.counts().corrupt_stretches,
        1,
        "{:?}",
        reader.counts()
    );
    assert!(after_damage > 0 && after_damage < got);
}

/// Samples of rounds `rounds` over series `0..series` (as [`append_rounds`] writes them), with
/// the label keys a reader gives.
fn expected_rounds(series: u32, rounds: std::ops::Range<u32>) -> Vec<ReadBack> {
    rounds
        .flat_map(|round| {
            (0..series).map(move |id| {
                (
                    labels(id).to_vec(),
                    1_700_000_000_000 + i64::from(round) * 1000,
                    f64::from(round * series + id).to_bits(),
                )
            })
        })
        .collect()
}

/// Reads every record `reader` has up to `limit`.
fn drain(reader: &mut LogReader, limit: super::reader::ReadLimit) -> Vec<ReadBack> {
    let mut samples = Vec::new();
    while let Some(record) = reader.next_record(limit).unwrap() {
        for sample in record.samples {
            let key = reader.series_labels(sample.id).unwrap().to_vec();
            samples.push((key, sample.timestamp, sample.value_bits));
        }
    }
    samples
}

#[test]
fn a_reader_that_read_past_an_fsync_cut_skips_the_rewrite_and_only_then() {
    // What the writer does after an fsync error, done by hand: segment 1 is cut back to its
    // last fsync'd length and what followed is written again, first thing, in segment 2.
    let dir = TempDir::new("reader-rewrite");
    let first = start(options(
        &dir.0,
        FsyncPolicy::Always,
        1 << 30,
        FullPolicy::DropOldest,
    ));
    append_rounds(&first, 5, 0..10).unwrap();
    assert!(first.sync(Duration::from_secs(10)));
    let synced = std::fs::metadata(segment_path(&dir.0, 1)).unwrap().len();
    append_rounds(&first, 5, 10..20).unwrap();
    assert!(first.sync(Duration::from_secs(10)));
    let origin = Position {
        segment: 1,
        offset: 0,
    };
    // Readers keeping up read all of segment 1, the part about to be cut included.
    let tails: Vec<Arc<super::tail::Tail>> = (0..3)
        .map(|_| Arc::new(super::tail::Tail::new(1 << 20)))
        .collect();
    let mut readers: Vec<LogReader> = tails
        .iter()
        .map(|tail| LogReader::new(&dir.0, origin).with_tail(tail.clone()))
        .collect();
    for reader in &mut readers {
        assert_eq!(drain(reader, first.read_limit()), expected_rounds(5, 0..20));
    }
    first.stop();
    std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(&dir.0, 1))
        .unwrap()
        .set_len(synced)
        .unwrap();
    // The rewrite of rounds 10..20, then new rounds.
    let second = start(options(
        &dir.0,
        FsyncPolicy::Always,
        1 << 30,
        FullPolicy::DropOldest,
    ));
    {
        let mut append = second.append();
        for id in 0..5 {
            append
                .push(Entry::Series {
                    id,
                    labels: labels(id),
                })
                .unwrap();
        }
    }
    append_rounds(&second, 5, 10..25).unwrap();
    assert!(second.sync(Duration::from_secs(10)));
    // Told of the rewrite, the first reader skips it; the second is told the cut part was
    // not rewritten (`fsync: never`) and the third nothing: they read all of segment 2.
    tails[0].cut(1, synced, true);
    tails[1].cut(1, synced, false);
    let limit = second.read_limit();
    assert_eq!(drain(&mut readers[0], limit), expected_rounds(5, 20..25));
    assert_eq!(readers[0].counts().rewrites_skipped, 50);
    for reader in &mut readers[1..] {
        assert_eq!(drain(reader, limit), expected_rounds(5, 10..25));
        assert_eq!(reader.counts().rewrites_skipped, 0);
    }
    // A reader that had not read past the cut reads the log as it is, rewrite included.
    let mut behind = LogReader::new(&dir.0, origin).with_tail(tails[0].clone());
    let mut expected = expected_rounds(5, 0..10);
    expected.extend(expected_rounds(5, 10..25));
    assert_eq!(drain(&mut behind, limit), expected);
    assert_eq!(behind.counts(), &Default::default());
    second.stop();
}

/// Writes a log of 3 sessions and returns its dir and (segment, length) of each file.
fn sample_log(tag: &str) -> (TempDir, Vec<(u64, Vec<u8>)>) {
    let dir = TempDir::new(tag);
    for session in 0..3 {
        let writer = start(options(
            &dir.0,
            FsyncPolicy::Never,
            1 << 30,
            FullPolicy::DropOldest,
        ));
        append_rounds(&writer, 20, session * 10..session * 10 + 10).ok();
        // Round 0 logs the series; later sessions must log them too (their own segments).
        if session > 0 {
            let mut append = writer.append();
            for id in 0..20 {
                append
                    .push(Entry::Series {
                        id: 100 + id,
                        labels: labels(100 + id),
                    })
                    .unwrap();
                append
                    .push(Entry::Sample(WalSample {
                        id: 100 + id,
                        timestamp: 5,
                        value_bits: 7,
                    }))
                    .unwrap();
            }
        }
        assert!(writer.sync(Duration::from_secs(10)));
        writer.stop();
    }
    let files = list_segments(&dir.0)
        .unwrap()
        .into_iter()
        .map(|n| (n, std::fs::read(segment_path(&dir.0, n)).unwrap()))
        .collect();
    (dir, files)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Truncating the last segment anywhere and flipping bytes anywhere: recovery never
    /// panics, every sample before the first damaged byte is read back, nothing read is
    /// invented (each read sample was written), and the damage is counted.
    #[test]
    fn damage_anywhere_keeps_the_valid_prefix_and_is_counted(
        cut_fraction in 0.0f64..1.0,
        flips in proptest::collection::vec((0usize..3, 0.0f64..1.0, 1u8..=255), 0..4),
    ) {
        let (dir, files) = sample_log("prop");
        let original = read_all(&dir.0);
        let mut damaged = files.clone();
        let mut first_damage: Vec<usize> = damaged.iter().map(|(_, b)| b.len()).collect();
        let last = damaged.len() - 1;
        let cut = (damaged[last].1.len() as f64 * cut_fraction) as usize;
        damaged[last].1.truncate(cut);
        first_damage[last] = first_damage[last].min(cut);
        let files_count = damaged.len();
        for (file, at, mask) in flips {
            let bytes = &mut damaged[file % files_count].1;
            if bytes.is_empty() { continue; }
            let offset = ((bytes.len() - 1) as f64 * at) as usize;
            bytes[offset] ^= mask;
            let slot = &mut first_damage[file % files.len()];
            *slot = (*slot).min(offset);
        }
        for (number, bytes) in &damaged {
            std::fs::write(segment_path(&dir.0, *number), bytes).unwrap();
        }
        let recovered = recover(&dir.0).unwrap();
        let read = read_log(&dir.0, false);
        // Nothing invented: every sample read back was written.
        for sample in &read {
            prop_assert!(original.contains(sample), "invented sample {sample:?}");
        }
        // The valid prefix of every segment is read: count the samples of records that end
        // before the segment's first damaged byte.
        let mut expected_at_least = 0;
        for ((_, bytes), damage_at) in files.iter().zip(&first_damage) {
            let prefix = &bytes[..(*damage_at).min(bytes.len())];
            scan_segment(prefix, |_, record| {
                if let Record::Samples(samples) = record {
                    expected_at_least += samples.declared();
                }
            });
        }
        prop_assert!(read.len() as u64 >= expected_at_least,
            "read {} samples, the undamaged prefixes hold {}", read.len(), expected_at_least);
        let damage = &recovered.damage;
        let changed = damaged != files;
        if read.len() < original.len() {
            prop_assert!(changed);
            prop_assert!(
                damage.corrupt_stretches + damage.tail_bytes_cut + damage.bad_segments
                    + damage.orphan_samples > 0 || cut < files[last].1.len(),
                "samples lost without a count: {damage:?}");
        }
        // A second recovery finds nothing more to repair at the tails.
        let again = recover(&dir.0).unwrap();
        prop_assert_eq!(again.damage.tail_bytes_cut, 0);
    }
}

mod extended {
    //! Extended samples and Metadata records through the writer, the segments and the reader.

    use super::*;
    use crate::model::{
        BucketSpan, Exemplar, Histogram, HistogramCounts, Label, Metadata, MetricType, SampleExtra,
    };
    use crate::wal::format::{Decoded, write_frame};
    use crate::wal::segment::scan_segment_all;

    const SERIES: u32 = 50;
    const ROUNDS: u32 = 100;

    fn metadata(id: u32, version: u32) -> Arc<Metadata> {
        Arc::new(Metadata {
            kind: MetricType::Histogram,
            help: format!("series {id}, version {version}"),
            unit: "seconds".to_string(),
        })
    }

    /// The extra part of series `id`'s item in `round` (`None`: a plain float).
    fn extra(id: u32, round: u32) -> Option<SampleExtra> {
        let ts = 1_700_000_000_000 + i64::from(round) * 1000;
        match id % 3 {
            0 => Some(SampleExtra {
                start_ms: if round.is_multiple_of(2) {
                    ts - 60_000
                } else {
                    0
                },
                histogram: Some(Histogram {
                    schema: 3,
                    zero_threshold: 0.001,
                    sum: f64::from(round) + 0.5,
                    counts: HistogramCounts::Integer {
                        count: u64::from(round) + 2,
                        zero_count: 1,
                        positive_deltas: vec![1, i64::from(round)],
                        negative_deltas: Vec::new(),
                    },
                    positive_spans: vec![BucketSpan {
                        offset: -2,
                        length: 2,
                    }],
                    negative_spans: Vec::new(),
                    reset_hint: crate::model::ResetHint::No,
                    custom_values: Vec::new(),
                }),
                exemplar: round.is_multiple_of(5).then(|| {
                    Exemplar::new(vec![Label::new("trace_id", format!("t{round}"))], 1.0, None)
                        .unwrap()
                }),
            }),
            1 => Some(SampleExtra {
                start_ms: ts - 1,
                histogram: None,
                exemplar: Some(Exemplar::new(Vec::new(), -2.0, Some(ts - 5)).unwrap()),
            }),
            _ => None,
        }
    }

    /// What an item read back is: (label key, timestamp, value bits, extra part).
    type Item = (Vec<u8>, i64, u64, Option<SampleExtra>);

    fn expected() -> Vec<Item> {
        let mut items = Vec::new();
        for round in 0..ROUNDS {
            for id in 0..SERIES {
                let ts = 1_700_000_000_000 + i64::from(round) * 1000;
                let extra = extra(id, round);
                let bits = if extra.as_ref().is_some_and(SampleExtra::is_histogram) {
                    0
                } else {
                    f64::from(round).to_bits()
                };
                items.push((labels(id).to_vec(), ts, bits, extra));
            }
        }
        items
    }

    /// Logs [`expected`]'s items; the even series get metadata first, series 2 new metadata
    /// halfway.
    fn write_log(writer: &Writer) {
        {
            let mut append = writer.append();
            for id in 0..SERIES {
                append
                    .push(Entry::Series {
                        id,
                        labels: labels(id),
                    })
                    .unwrap();
                if id.is_multiple_of(2) {
                    append
                        .push(Entry::Metadata {
                            id,
                            metadata: metadata(id, 1),
                        })
                        .unwrap();
                }
            }
        }
        for round in 0..ROUNDS {
            let mut append = writer.append();
            if round == ROUNDS / 2 {
                append
                    .push(Entry::Metadata {
                        id: 2,
                        metadata: metadata(2, 2),
                    })
                    .unwrap();
            }
            for id in 0..SERIES {
                let sample = WalSample {
                    id,
                    timestamp: 1_700_000_000_000 + i64::from(round) * 1000,
                    value_bits: f64::from(round).to_bits(),
                };
                let entry = match extra(id, round) {
                    None => Entry::Sample(sample),
                    Some(extra) => {
                        let value_bits = if extra.is_histogram() {
                            0
                        } else {
                            sample.value_bits
                        };
                        Entry::Extended(Box::new((
                            WalSample {
                                value_bits,
                                ..sample
                            },
                            extra,
                        )))
                    }
                };
                append.push(entry).unwrap();
            }
        }
    }

    /// Reads everything from `start`: the items, and the metadata seen per label key (last).
    fn read_from(
        writer: &Writer,
        dir: &Path,
        start: Position,
    ) -> (Vec<Item>, Vec<(Vec<u8>, Metadata)>) {
        let mut reader = LogReader::new(dir, start);
        let mut items = Vec::new();
        let mut metadata = Vec::new();
        while let Some(record) = reader.next_record(writer.read_limit()).unwrap() {
            for (id, m) in record.metadata {
                metadata.push((reader.series_labels(id).unwrap().to_vec(), m));
            }
            assert!(record.extras.is_empty() || record.extras.len() == record.samples.len());
            let mut extras = record.extras.into_iter();
            for sample in record.samples {
                let key = reader.series_labels(sample.id).unwrap().to_vec();
                items.push((key, sample.timestamp, sample.value_bits, extras.next()));
            }
        }
        assert_eq!(reader.counts(), &Default::default());
        (items, metadata)
    }

    fn last_metadata_of(seen: &[(Vec<u8>, Metadata)], id: u32) -> Option<&Metadata> {
        let key = labels(id).to_vec();
        seen.iter().rev().find(|(k, _)| *k == key).map(|(_, m)| m)
    }

    #[test]
    fn entries_stay_small_for_plain_samples() {
        assert!(
            std::mem::size_of::<Entry>() <= 32,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    #[test]
    fn extended_items_and_metadata_rotate_read_back_and_each_segment_has_its_metadata() {
        let dir = TempDir::new("extended");
        // 512 KiB budget: 64 KiB segments, all kept.
        let writer = start(options(
            &dir.0,
            FsyncPolicy::Never,
            512 << 10,
            FullPolicy::DropOldest,
        ));
        write_log(&writer);
        assert!(writer.sync(Duration::from_secs(10)));
        let segments = list_segments(&dir.0).unwrap();
        assert!(segments.len() >= 3, "{segments:?}");

        // Every item and its extra part, bit for bit, in order; the latest metadata.
        let (items, seen) = read_from(&writer, &dir.0, Position::default());
        assert_eq!(items, expected());
        assert_eq!(last_metadata_of(&seen, 2), Some(&*metadata(2, 2)));
        assert_eq!(last_metadata_of(&seen, 4), Some(&*metadata(4, 1)));
        assert_eq!(last_metadata_of(&seen, 1), None);
        let (_, items_counted) = writer.lag(Position::default());
        assert_eq!(items_counted, u64::from(SERIES * ROUNDS));

        // Each segment on its own: an item's series and, for a series with metadata, its
        // Metadata record come before its first item there.
        for number in &segments {
            let bytes = std::fs::read(segment_path(&dir.0, *number)).unwrap();
            let mut defined = std::collections::HashSet::new();
            let mut with_metadata = std::collections::HashSet::new();
            let mut checked = std::collections::HashSet::new();
            let mut check = |id: u32,
                             defined: &std::collections::HashSet<u32>,
                             md: &std::collections::HashSet<u32>| {
                assert!(
                    defined.contains(&id),
                    "segment {number}: series {id} undefined"
                );
                if id.is_multiple_of(2) && checked.insert(id) {
                    assert!(md.contains(&id), "segment {number}: no metadata for {id}");
                }
            };
            let scan = scan_segment_all(&bytes, |_, record| match record {
                Decoded::Record(Record::Series { id, .. }) => {
                    defined.insert(*id);
                }
                Decoded::Metadata { id, .. } => {
                    assert!(defined.contains(id));
                    with_metadata.insert(*id);
                }
                Decoded::Record(Record::Samples(samples)) => {
                    for sample in samples.clone() {
                        check(sample.unwrap().id, &defined, &with_metadata);
                    }
                }
                Decoded::Extended(entries) => {
                    for entry in entries.clone() {
                        check(entry.unwrap().0.id, &defined, &with_metadata);
                    }
                }
            });
            assert_eq!((scan.corrupt_stretches, scan.tail_bytes), (0, 0));
        }

        // From the start of a later segment: its items, and the metadata of its series.
        let last = *segments.last().unwrap();
        let (items, seen) = read_from(
            &writer,
            &dir.0,
            Position {
                segment: last,
                offset: 0,
            },
        );
        assert!(!items.is_empty());
        assert_eq!(last_metadata_of(&seen, 2), Some(&*metadata(2, 2)));
        assert_eq!(last_metadata_of(&seen, 48), Some(&*metadata(48, 1)));

        // From inside a segment (a record's start): what the segment set before is handed on
        // with the first record.
        let bytes = std::fs::read(segment_path(&dir.0, last)).unwrap();
        let mut offsets = Vec::new();
        scan_segment_all(&bytes, |offset, record| {
            if record.items() > 0 {
                offsets.push(offset);
            }
        });
        let middle = Position {
            segment: last,
            offset: offsets[offsets.len() / 2],
        };
        let (tail_items, seen) = read_from(&writer, &dir.0, middle);
        assert!(!tail_items.is_empty() && tail_items.len() < items.len());
        assert_eq!(last_metadata_of(&seen, 2), Some(&*metadata(2, 2)));
        assert_eq!(last_metadata_of(&seen, 48), Some(&*metadata(48, 1)));
        writer.stop();

        // Opening again counts every item and knows the series' last timestamps.
        let recovered = recover(&dir.0).unwrap();
        let counted: u64 = recovered.segments.iter().map(|s| s.samples_from(0)).sum();
        assert_eq!(counted, u64::from(SERIES * ROUNDS));
        let last_ts = 1_700_000_000_000 + i64::from(ROUNDS - 1) * 1000;
        for id in [0, 1, 2] {
            let key = labels(id).to_vec();
            assert_eq!(
                recovered.last_timestamps.get(&key),
                Some(&last_ts),
                "series {id}"
            );
        }
    }

    #[test]
    fn metadata_set_without_items_after_it_reaches_the_reader() {
        let dir = TempDir::new("metadata-alone");
        let writer = start(options(
            &dir.0,
            FsyncPolicy::Never,
            512 << 10,
            FullPolicy::DropOldest,
        ));
        {
            let mut append = writer.append();
            append
                .push(Entry::Series {
                    id: 7,
                    labels: labels(7),
                })
                .unwrap();
            append
                .push(Entry::Metadata {
                    id: 7,
                    metadata: metadata(7, 1),
                })
                .unwrap();
        }
        assert!(writer.sync(Duration::from_secs(10)));
        let (items, seen) = read_from(&writer, &dir.0, Position::default());
        assert!(items.is_empty());
        assert_eq!(last_metadata_of(&seen, 7), Some(&*metadata(7, 1)));
        writer.stop();
    }

    #[test]
    fn a_record_of_an_unknown_type_stops_opening_and_reading_with_an_error() {
        let dir = TempDir::new("unknown-type");
        let writer = start(options(
            &dir.0,
            FsyncPolicy::Never,
            512 << 10,
            FullPolicy::DropOldest,
        ));
        append_rounds(&writer, 3, 0..2).unwrap();
        assert!(writer.sync(Duration::from_secs(10)));
        writer.stop();
        let number = *list_segments(&dir.0).unwrap().last().unwrap();
        let path = segment_path(&dir.0, number);
        let mut bytes = std::fs::read(&path).unwrap();
        let good_len = bytes.len();
        // A well-framed record of type 9, as a newer promrw might write, then more samples.
        write_frame(&mut bytes, &[9, 1, 2, 3]);
        let tail = bytes[super::super::format::SEGMENT_HEADER_LEN..good_len].to_vec();
        bytes.extend_from_slice(&tail);
        std::fs::write(&path, &bytes).unwrap();
        let error = recover(&dir.0).unwrap_err();
        assert!(error.contains("type 9"), "{error}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            bytes.len() as u64,
            "nothing is cut"
        );
        let mut reader = LogReader::new(&dir.0, Position::default());
        let limit = super::super::reader::ReadLimit {
            written_end: Position {
                segment: number,
                offset: bytes.len() as u64,
            },
            oldest_segment: number,
        };
        let mut read = 0;
        let error = loop {
            match reader.next_record(limit) {
                Ok(Some(record)) => read += record.samples.len(),
                Ok(None) => panic!("the reader passed the unknown record"),
                Err(e) => break e,
            }
        };
        assert_eq!(read, 6, "the records before it are read");
        assert!(error.to_string().contains("type 9"), "{error}");
    }
}
