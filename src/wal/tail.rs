//! The newest bytes of the segment being written, kept in memory after the writer wrote them,
//! so that feeders keeping up read records from memory instead of from the files. Bounded:
//! the oldest bytes go first; a reader behind what is kept reads the file. It also tells
//! readers which segments the writer cut back and rewrote after an fsync error.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Bytes the tail keeps by default (about 750,000 samples of W1).
pub(crate) const DEFAULT_TAIL_BYTES: usize = 8 << 20;

/// The writer's recent writes of its current segment.
#[derive(Debug)]
pub struct Tail {
    inner: Mutex<Chunks>,
    capacity: usize,
    /// The latest segments cut back after an fsync error whose cut part was rewritten at the
    /// start of the next segment: (segment, length it was cut to), at most [`REWRITES_KEPT`].
    rewrites: Mutex<VecDeque<(u64, u64)>>,
}

/// Cuts remembered for readers: a reader that read into a cut part is at the head of the log
/// and crosses the cut soon after it (one fsync error takes at least 100 ms to retry).
const REWRITES_KEPT: usize = 16;

/// Consecutive writes of one segment: `(offset, bytes)` in offset order, each starting where
/// the one before ended.
#[derive(Debug, Default)]
struct Chunks {
    segment: u64,
    chunks: VecDeque<(u64, Arc<[u8]>)>,
    bytes: usize,
}

impl Tail {
    /// A tail keeping at most about `capacity` bytes (at least the newest write).
    pub fn new(capacity: usize) -> Tail {
        Tail {
            inner: Mutex::new(Chunks::default()),
            capacity,
            rewrites: Mutex::new(VecDeque::new()),
        }
    }

    /// Records that `bytes` were written to segment `segment` at `offset`. A write to another
    /// segment, or one that does not follow the previous write, starts the tail afresh.
    pub fn publish(&self, segment: u64, offset: u64, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let follows = inner.segment == segment
            && inner
                .chunks
                .back()
                .is_some_and(|(at, chunk)| at + chunk.len() as u64 == offset);
        if !follows {
            inner.chunks.clear();
            inner.bytes = 0;
            inner.segment = segment;
        }
        inner.chunks.push_back((offset, Arc::from(bytes)));
        inner.bytes += bytes.len();
        while inner.bytes > self.capacity && inner.chunks.len() > 1 {
            if let Some((_, chunk)) = inner.chunks.pop_front() {
                inner.bytes -= chunk.len();
            }
        }
    }

    /// Forgets everything (the segment was cut back after an fsync error).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.chunks.clear();
        inner.bytes = 0;
    }

    /// Segment `segment` is being cut back to `len` bytes after an fsync error: forgets the
    /// bytes held, and, when `rewritten`, remembers that everything after `len` is written
    /// again, in the same order, first thing in segment `segment + 1`.
    pub fn cut(&self, segment: u64, len: u64, rewritten: bool) {
        self.clear();
        if rewritten {
            let mut rewrites = self.rewrites.lock().unwrap_or_else(|p| p.into_inner());
            if rewrites.len() == REWRITES_KEPT {
                rewrites.pop_front();
            }
            rewrites.push_back((segment, len));
        }
    }

    /// Whether segment `segment` was cut back to `len` bytes and what followed rewritten at
    /// the start of the next segment.
    pub fn rewritten(&self, segment: u64, len: u64) -> bool {
        self.rewrites
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(segment, len))
    }

    /// Appends to `out` up to `len` bytes of segment `segment` from `offset`, as far as the
    /// tail holds them contiguously; returns how many (0 when it does not hold `offset`).
    pub fn copy_into(&self, segment: u64, offset: u64, len: u64, out: &mut Vec<u8>) -> u64 {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.segment != segment {
            return 0;
        }
        let mut at = offset;
        let end = offset.saturating_add(len);
        for (start, chunk) in &inner.chunks {
            let chunk_end = start + chunk.len() as u64;
            if chunk_end <= at {
                continue;
            }
            if *start > at || at >= end {
                break;
            }
            let from = (at - start) as usize;
            let to = (end.min(chunk_end) - start) as usize;
            out.extend_from_slice(&chunk[from..to]);
            at += (to - from) as u64;
        }
        at - offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_what_it_holds_contiguously_and_forgets_the_oldest_first() {
        let tail = Tail::new(10);
        tail.publish(3, 100, b"abcd");
        tail.publish(3, 104, b"efgh");
        let mut out = Vec::new();
        assert_eq!(tail.copy_into(3, 102, 5, &mut out), 5);
        assert_eq!(out, b"cdefg");
        out.clear();
        assert_eq!(tail.copy_into(3, 106, 100, &mut out), 2);
        assert_eq!(out, b"gh");
        out.clear();
        assert_eq!(tail.copy_into(2, 102, 5, &mut out), 0, "another segment");
        assert_eq!(
            tail.copy_into(3, 99, 5, &mut out),
            0,
            "before what it holds"
        );
        assert_eq!(
            tail.copy_into(3, 108, 5, &mut out),
            0,
            "after what it holds"
        );
        tail.publish(3, 108, b"ijkl");
        assert_eq!(
            tail.copy_into(3, 100, 4, &mut out),
            0,
            "the oldest chunk went"
        );
        assert_eq!(tail.copy_into(3, 104, 8, &mut out), 8);
        assert_eq!(out, b"efghijkl");
        tail.publish(4, 16, b"xy");
        out.clear();
        assert_eq!(
            tail.copy_into(3, 104, 8, &mut out),
            0,
            "a new segment starts afresh"
        );
        assert_eq!(tail.copy_into(4, 16, 8, &mut out), 2);
        tail.clear();
        assert_eq!(tail.copy_into(4, 16, 8, &mut out), 0);
    }

    #[test]
    fn remembers_the_latest_rewritten_cuts() {
        let tail = Tail::new(10);
        tail.publish(3, 100, b"abcd");
        tail.cut(3, 100, true);
        let mut out = Vec::new();
        assert_eq!(tail.copy_into(3, 100, 4, &mut out), 0, "the cut bytes went");
        tail.cut(4, 16, false);
        assert!(tail.rewritten(3, 100));
        assert!(!tail.rewritten(3, 16) && !tail.rewritten(4, 16));
        for segment in 5..5 + REWRITES_KEPT as u64 {
            tail.cut(segment, 16, true);
        }
        assert!(!tail.rewritten(3, 100), "the oldest is forgotten");
        assert!(tail.rewritten(5, 16));
    }
}
