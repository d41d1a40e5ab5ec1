//! Injected write and fsync errors for the WAL's fault tests (tests/wal_enospc.rs). Only in a
//! build with the `test-hooks` cargo feature, never in a release artefact.
//!
//! The faults are process-wide but scoped to a directory: a [`SegmentWriter`] whose segment
//! lies under a directory given to [`fail_writes`] or [`fail_syncs`] meets them, every other
//! log in the process writes normally, so tests in one binary can run in parallel.
//!
//! [`SegmentWriter`]: super::segment::SegmentWriter

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Give as a count to fail every write (or fsync) until [`clear`].
pub const UNTIL_CLEARED: u64 = u64::MAX;

/// The faults armed for one directory.
#[derive(Debug)]
struct Armed {
    dir: PathBuf,
    /// Appends still to fail (`UNTIL_CLEARED`: all).
    writes: u64,
    /// fsyncs still to fail (`UNTIL_CLEARED`: all).
    syncs: u64,
    /// Failures injected so far: appends, fsyncs.
    injected: (u64, u64),
}

static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

fn armed() -> MutexGuard<'static, Vec<Armed>> {
    ARMED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The entry for `dir`, made when missing.
fn entry<'a>(all: &'a mut Vec<Armed>, dir: &Path) -> &'a mut Armed {
    let index = match all.iter().position(|a| a.dir == dir) {
        Some(index) => index,
        None => {
            all.push(Armed {
                dir: dir.to_path_buf(),
                writes: 0,
                syncs: 0,
                injected: (0, 0),
            });
            all.len() - 1
        }
    };
    &mut all[index]
}

/// Makes the next `count` appends to segments under `dir` fail with `ENOSPC` (each writes
/// half of its bytes first, as a disk filling up mid-write does); [`UNTIL_CLEARED`] fails
/// every one until [`clear`].
pub fn fail_writes(dir: &Path, count: u64) {
    entry(&mut armed(), dir).writes = count;
}

/// Makes the next `count` fsyncs of segments under `dir` fail with `EIO`; [`UNTIL_CLEARED`]
/// fails every one until [`clear`].
pub fn fail_syncs(dir: &Path, count: u64) {
    entry(&mut armed(), dir).syncs = count;
}

/// Writes and fsyncs under `dir` succeed again (the injected counts stay readable).
pub fn clear(dir: &Path) {
    let mut all = armed();
    let armed = entry(&mut all, dir);
    armed.writes = 0;
    armed.syncs = 0;
}

/// Failures injected under `dir` so far: (appends, fsyncs).
pub fn injected(dir: &Path) -> (u64, u64) {
    armed()
        .iter()
        .find(|a| a.dir == dir)
        .map_or((0, 0), |a| a.injected)
}

/// Forgets `dir` altogether (its counts too).
pub fn forget(dir: &Path) {
    armed().retain(|a| a.dir != dir);
}

/// Which operation asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `SegmentWriter::append`.
    Write,
    /// `SegmentWriter::sync`.
    Sync,
}

/// The error to inject into `op` on the segment at `path`, if one is armed (counted).
pub(crate) fn take(op: Op, path: &Path) -> Option<io::Error> {
    let mut all = armed();
    let armed = all.iter_mut().find(|a| path.starts_with(&a.dir))?;
    let (left, injected, errno) = match op {
        Op::Write => (&mut armed.writes, &mut armed.injected.0, libc::ENOSPC),
        Op::Sync => (&mut armed.syncs, &mut armed.injected.1, libc::EIO),
    };
    if *left == 0 {
        return None;
    }
    if *left != UNTIL_CLEARED {
        *left -= 1;
    }
    *injected += 1;
    Some(io::Error::from_raw_os_error(errno))
}
