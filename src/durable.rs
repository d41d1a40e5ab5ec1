//! The sender's WAL mode (`promrw.wal`): opening the log (lock, repair, cursors, replay), the
//! append into the log, `sync`, and the WAL's side of flush and close. The contract is in
//! docs/DURABILITY.md, the design in docs/ARCHITECTURE.md ("Durable queue (WAL mode)").

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fxhash::FxHashMap;

use crate::config::{EndpointConfig, WalConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::metrics::{EndpointStats, WalStats};
use crate::model::{Metadata, SampleExtra};
use crate::queue::EndpointQueue;
use crate::queue::feeder::FeederHandle;
use crate::redact::redact_url;
use crate::series::LockedSlot;
use crate::wal::cursor::{CursorError, CursorStore, Position};
use crate::wal::format::{WalSample, extended_entry_bound};
use crate::wal::lock::DirLock;
use crate::wal::reader::LogReader;
use crate::wal::recovery::{Damage, recover};
use crate::wal::writer::{
    AppendGuard, Entry, MAX_EXTENDED_ENTRY_BYTES, Refusal, Writer, WriterOptions, wal_dir_of,
};

/// In WAL mode appends never queue samples for endpoints themselves (the feeders do), so the
/// slot's announcement bits are the log's: this one says the series' labels were logged in
/// this session.
const LOGGED_BIT: u64 = 1;

/// The durable queue of a sender.
pub struct Durable {
    writer: Arc<Writer>,
    feeders: Vec<FeederHandle>,
    dir: PathBuf,
    /// Samples at or after each endpoint's cursor when the log was opened.
    replayed: Vec<u64>,
    /// Damage repaired or skipped when the log was opened.
    damage: Damage,
    /// Held until close: a second sender on `dir` fails meanwhile.
    lock: Mutex<Option<DirLock>>,
}

/// What opening the log gives the sender besides the durable queue.
pub struct Opened {
    /// The queue.
    pub durable: Durable,
    /// Each series' last timestamp in the log, by label bytes, for the registry.
    pub last_timestamps: FxHashMap<Arc<[u8]>, i64>,
}

/// An endpoint's id in the log's cursors: its `name`, else `url:` and its URL with the
/// password and query values hidden as in logs (no secret reaches the disk).
pub fn endpoint_id(config: &EndpointConfig) -> String {
    match &config.name {
        Some(name) => name.clone(),
        None => format!("url:{}", redact_url(&config.url)),
    }
}

/// The endpoint id a cursor file is named after (the hex of its bytes), or the file name when
/// it is not such a name (a long id's name is a prefix and a checksum).
fn endpoint_of_cursor_file(name: &str) -> String {
    let bytes: Option<Vec<u8>> = name
        .len()
        .is_multiple_of(2)
        .then(|| {
            (0..name.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .map_or_else(|| name.to_string(), |id| format!("{id:?}"))
}

/// `InvalidConfig` naming the WAL directory.
fn open_error(dir: &std::path::Path, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!("promrw.wal.dir {}: {what}", dir.display()),
    )
}

impl Durable {
    /// Opens (or creates) the log in `config.dir` for `endpoints` (already started in WAL
    /// mode): takes the lock, repairs and scans the segments, loads each endpoint's cursor (a
    /// new endpoint starts at the end of the log, a removed one loses its cursor), starts the
    /// writer and one feeder per endpoint, which first sends what each endpoint had not.
    pub fn open(
        config: &WalConfig,
        endpoints: &[EndpointQueue],
        endpoint_configs: &[EndpointConfig],
        logger: &Logger,
    ) -> Result<Opened> {
        let dir = &config.dir;
        std::fs::create_dir_all(dir).map_err(|e| open_error(dir, e))?;
        let lock = DirLock::acquire(dir).map_err(|e| Error::new(ErrorKind::InvalidConfig, e))?;
        let wal_dir = wal_dir_of(dir);
        std::fs::create_dir_all(&wal_dir).map_err(|e| open_error(&wal_dir, e))?;
        let recovered = recover(&wal_dir).map_err(|e| open_error(dir, e))?;
        for finding in &recovered.damage.findings {
            logger.log(LogLevel::Warn, || format!("WAL: {finding}"));
        }
        let cursors = CursorStore::open(&dir.join("cursors")).map_err(|e| open_error(dir, e))?;
        let ids: Vec<String> = endpoint_configs.iter().map(endpoint_id).collect();
        let keep: Vec<&str> = ids.iter().map(String::as_str).collect();
        match cursors.retain(&keep) {
            Ok(removed) => {
                for name in removed {
                    let endpoint = endpoint_of_cursor_file(&name);
                    logger.log(LogLevel::Info, || {
                        format!(
                            "WAL: endpoint {endpoint} is no longer configured; its cursor (file {name}) is removed, and what it had not sent is no longer sent to it"
                        )
                    });
                }
            }
            Err(e) => return Err(open_error(dir, format!("cannot clean up cursors: {e}"))),
        }
        let end_of_log = Position {
            segment: recovered.highest_segment + 1,
            offset: 0,
        };
        let oldest = Position {
            segment: recovered.segments.first().map_or(0, |s| s.number),
            offset: 0,
        };
        let mut starts = Vec::with_capacity(ids.len());
        for id in &ids {
            let start = match cursors.load(id) {
                Ok(position) => position,
                Err(CursorError::Missing) => {
                    // A new endpoint: from the end of the log. Persisted now, so that a crash
                    // before its first cursor update cannot make it skip what is logged.
                    cursors
                        .store(id, end_of_log)
                        .map_err(|e| open_error(dir, format!("cannot write a cursor: {e}")))?;
                    end_of_log
                }
                Err(CursorError::Unusable(why)) | Err(CursorError::Io(why)) => {
                    logger.log(LogLevel::Warn, || {
                        format!(
                            "WAL: cursor of endpoint {id} unusable ({why}); resending it the whole log (duplicates possible)"
                        )
                    });
                    oldest
                }
            };
            starts.push(start);
        }
        let replayed: Vec<u64> = starts
            .iter()
            .map(|start| samples_from(&recovered.segments, *start))
            .collect();
        let options = WriterOptions {
            wal_dir: wal_dir.clone(),
            fsync: config.fsync,
            max_bytes: config.max_bytes,
            max_age: config.max_age,
            full: config.full,
        };
        let last_timestamps = recovered
            .last_timestamps
            .into_iter()
            .map(|(key, ts)| (Arc::from(key), ts))
            .collect();
        let writer = Writer::start(
            options,
            recovered.segments,
            recovered.highest_segment,
            starts.clone(),
            logger.clone(),
        )
        .map(Arc::new)
        .map_err(|e| open_error(dir, e))?;
        let cursors = Arc::new(cursors);
        let mut feeders = Vec::with_capacity(endpoints.len());
        for (index, (endpoint, start)) in endpoints.iter().zip(&starts).enumerate() {
            let reader = LogReader::new(&wal_dir, *start).with_tail(writer.tail());
            match endpoint.start_feeder(
                writer.clone(),
                reader,
                cursors.clone(),
                ids[index].clone(),
                index,
                *start,
            ) {
                Ok(feeder) => feeders.push(feeder),
                Err(e) => {
                    for feeder in &feeders {
                        feeder.stop();
                    }
                    writer.stop();
                    return Err(e);
                }
            }
        }
        let total: u64 = replayed.iter().sum();
        if total > 0 {
            logger.log(LogLevel::Info, || {
                format!(
                    "WAL: {} holds {total} unsent sample(s) across endpoints; sending them first",
                    dir.display()
                )
            });
        }
        Ok(Opened {
            durable: Durable {
                writer,
                feeders,
                dir: dir.clone(),
                replayed,
                damage: recovered.damage,
                lock: Mutex::new(Some(lock)),
            },
            last_timestamps,
        })
    }

    /// Locks the log's append buffer (for one sample or a run of them).
    pub fn append(&self) -> AppendGuard<'_> {
        self.writer.append()
    }

    /// Logs a sample of the series in `slot` (its order stripe held, so the log has each
    /// series' samples in timestamp order): its labels first when this session has not
    /// logged them yet. With an `extra` part (a start timestamp, a histogram in place of the
    /// value, an exemplar) it is an entry of an Extended samples record; a plain float stays a
    /// Samples record entry. A refusal (write error, `full: fail` at the budget, stopped) is
    /// the append's error; nothing of the sample is logged then.
    pub fn log(
        &self,
        guard: &mut AppendGuard<'_>,
        slot: &LockedSlot<'_>,
        timestamp: i64,
        value: f64,
        extra: Option<&SampleExtra>,
    ) -> Result<()> {
        let id = slot.series_ref().slot();
        let sample = WalSample {
            id,
            timestamp,
            value_bits: value.to_bits(),
        };
        let entry = match extra {
            None => Entry::Sample(sample),
            Some(extra) => self.extended_entry(sample, extra)?,
        };
        self.log_series(guard, slot)?;
        guard
            .push(entry)
            .map_err(|refusal| self.refusal_error(refusal))
    }

    /// The entry of a sample with an extra part (a plain one is a sample), or
    /// `InvalidArgument` when it is too large for a record.
    #[cold]
    fn extended_entry(&self, sample: WalSample, extra: &SampleExtra) -> Result<Entry> {
        if extra.is_plain() {
            return Ok(Entry::Sample(sample));
        }
        let bound = extended_entry_bound(extra);
        if bound > MAX_EXTENDED_ENTRY_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the histogram or exemplar needs up to {bound} bytes in the WAL, more than the {MAX_EXTENDED_ENTRY_BYTES} a WAL entry may take"
                ),
            ));
        }
        let sample = WalSample {
            // A histogram's float value is not logged (nor sent).
            value_bits: if extra.is_histogram() {
                0
            } else {
                sample.value_bits
            },
            ..sample
        };
        Ok(Entry::Extended(Box::new((sample, extra.clone()))))
    }

    /// Logs the labels of the series in `slot` unless this session has.
    #[inline]
    fn log_series(&self, guard: &mut AppendGuard<'_>, slot: &LockedSlot<'_>) -> Result<()> {
        if !slot.was_announced(LOGGED_BIT) {
            let series = slot.series()?;
            guard
                .push(Entry::Series {
                    id: slot.series_ref().slot(),
                    labels: series.encoded_labels_shared().clone(),
                })
                .map_err(|refusal| self.refusal_error(refusal))?;
            slot.mark_announced(LOGGED_BIT);
        }
        Ok(())
    }

    /// Logs the metadata of the series in `slot` (its order stripe held), after its labels
    /// when this session has not logged them yet: a Metadata record, which the writer also
    /// writes again in each later segment the series appears in.
    pub fn log_metadata(&self, slot: &LockedSlot<'_>, metadata: &Arc<Metadata>) -> Result<()> {
        let mut guard = self.writer.append();
        self.log_series(&mut guard, slot)?;
        guard
            .push(Entry::Metadata {
                id: slot.series_ref().slot(),
                metadata: Arc::clone(metadata),
            })
            .map_err(|refusal| self.refusal_error(refusal))
    }

    /// The append error of a refusal.
    #[cold]
    fn refusal_error(&self, refusal: Refusal) -> Error {
        match refusal {
            Refusal::Io(message) => Error::new(ErrorKind::Io, message),
            Refusal::Full => Error::new(
                ErrorKind::QueueFull,
                format!(
                    "WAL {} is at promrw.wal.max_bytes and full is fail: appends are refused until sending frees space",
                    self.dir.display()
                ),
            ),
            Refusal::Stopped => Error::new(ErrorKind::Closed, "sender is closed"),
        }
    }

    /// Waits until every sample accepted before the call is written and fsync'd.
    pub fn sync(&self, timeout: Duration) -> Result<()> {
        if self.writer.sync(timeout) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "sync: the WAL {} was not written and fsync'd within {timeout:?}",
                    self.dir.display()
                ),
            ))
        }
    }

    /// The WAL's part of a flush: waits until every sample accepted before the call is
    /// written and pushed into the endpoints' queues; then the endpoints' own flush waits
    /// for delivery. `Timeout` when `deadline` passes first.
    pub fn flush(&self, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if !self.writer.wait_written(left) {
            return Err(Error::new(
                ErrorKind::Timeout,
                "flush timed out before the WAL writer wrote every accepted sample",
            ));
        }
        let target = self.writer.read_limit().written_end;
        for feeder in &self.feeders {
            if !feeder.wait_fed(target, deadline) {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "flush timed out with samples still in the WAL, not yet queued for sending",
                ));
            }
        }
        Ok(())
    }

    /// Closes the log's side of a sender: stops the writer (everything accepted is written and
    /// fsync'd), lets the feeders push what is logged until `deadline`, then stops them; the
    /// caller closes the endpoints next and then calls [`Durable::finish`]. True when every
    /// feeder pushed everything.
    pub fn close(&self, deadline: Instant) -> bool {
        self.writer.stop();
        let end = self.writer.read_limit().written_end;
        let mut all_fed = true;
        for feeder in &self.feeders {
            all_fed &= feeder.wait_fed(end, deadline);
        }
        for feeder in &self.feeders {
            feeder.stop();
        }
        all_fed
    }

    /// After the endpoints closed: persists each endpoint's final cursor (what is not done
    /// stays on disk for the next sender) and lets go of the directory's lock. True when every
    /// endpoint is done with the whole log.
    pub fn finish(&self) -> bool {
        let end = self.writer.read_limit().written_end;
        let mut complete = true;
        for feeder in &self.feeders {
            // `None`: the feeder thread panicked; its cursor stays where it was persisted.
            complete &= feeder.finish().is_some_and(|cursor| cursor >= end);
        }
        // Nothing writes to the directory any more: another sender may open it now.
        crate::series::lock(&self.lock).take();
        complete
    }

    /// The log's figures.
    pub fn stats(&self) -> WalStats {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let counters = self.writer.counters();
        let damage = &self.damage;
        let skipped_by_feeders: u64 = self.feeders.iter().map(FeederHandle::skipped).sum();
        WalStats {
            bytes_on_disk: load(&counters.bytes_on_disk),
            segments: load(&counters.segments),
            records_written: load(&counters.records_written),
            bytes_written: load(&counters.bytes_written),
            fsyncs: load(&counters.fsyncs),
            write_errors: load(&counters.write_errors),
            corrupt_records_skipped: damage.corrupt_stretches
                + damage.bad_segments
                + u64::from(damage.tail_bytes_cut > 0)
                + skipped_by_feeders,
        }
    }

    /// Fills in endpoint `index`'s WAL figures: its drops by the budget and the age limit,
    /// its cursor's lag, and what it replayed at open.
    pub fn fill_endpoint_stats(&self, index: usize, stats: &mut EndpointStats) {
        let (full, too_old) = self.writer.dropped(index);
        stats.samples_dropped_wal_full = full;
        stats.samples_dropped_wal_too_old = too_old;
        if let Some(feeder) = self.feeders.get(index) {
            let (bytes, samples) = self.writer.lag(feeder.cursor());
            stats.wal_lag_bytes = bytes;
            stats.wal_lag_samples = samples;
        }
        stats.wal_samples_replayed = self.replayed.get(index).copied().unwrap_or(0);
    }
}

/// Samples in `segments` at or after `start`.
fn samples_from(segments: &[crate::wal::recovery::SegmentInfo], start: Position) -> u64 {
    segments
        .iter()
        .map(|s| match s.number.cmp(&start.segment) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => s.samples_from(start.offset),
            std::cmp::Ordering::Greater => s.samples_from(0),
        })
        .sum()
}
