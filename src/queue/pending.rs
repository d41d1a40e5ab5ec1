//! A shard's bounded queue of samples waiting to be batched: a `VecDeque` under a mutex.
//!
//! A lock-free ring (crossbeam's `ArrayQueue`) was measured to cost 16–28 ns per push on this
//! project's 2-core machine against 6–7 ns for an uncontended mutex around a `VecDeque`: each
//! ring slot's cache line travels to the consumer and back (it writes a stamp per slot), while
//! here the consumer takes a whole batch per lock. The counters that flush and the metrics need
//! (samples pushed, highest timestamp) are kept under the same lock, so a push writes no other
//! shared line.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::series_cache::QueuedSample;
use crate::model::SampleExtra;
use crate::series::{Series, SeriesRef, lock};

/// What the lock protects.
#[derive(Debug, Default)]
struct PendingState {
    items: VecDeque<QueuedSample>,
    /// The most samples queued at once (set when the queue is opened).
    capacity: usize,
    pushed: u64,
    highest_ms: i64,
    /// Set (with the queue emptied) by [`PendingQueue::close`] when the shard thread ends:
    /// decided under the lock, so a push either lands before the close (and is counted by
    /// it) or is refused.
    closed: bool,
}

/// Why a push did not queue its sample.
#[derive(Debug)]
pub enum PushError {
    /// The queue holds `capacity` samples.
    Full,
    /// The queue was closed (its shard thread ended): nothing will ever take the sample.
    Closed,
}

impl PendingState {
    /// The push itself, under the lock: the sample is built in the queue's memory rather than
    /// moved there; a full or closed queue refuses it.
    #[inline]
    fn push(
        &mut self,
        series_ref: SeriesRef,
        announce: Option<Arc<Series>>,
        timestamp: i64,
        value: f64,
        extra: Option<Box<SampleExtra>>,
    ) -> Result<usize, PushError> {
        if self.items.len() >= self.capacity || self.closed {
            if self.closed {
                return Err(PushError::Closed);
            }
            return Err(PushError::Full);
        }
        if self.pushed == 0 || timestamp > self.highest_ms {
            self.highest_ms = timestamp;
        }
        self.pushed += 1;
        self.items.push_back(QueuedSample {
            series_ref,
            announce,
            timestamp,
            value,
            extra,
        });
        Ok(self.items.len())
    }

    /// [`PendingState::push`] of a sample already built.
    fn push_sample(&mut self, sample: QueuedSample) -> Result<usize, PushError> {
        let QueuedSample {
            series_ref,
            announce,
            timestamp,
            value,
            extra,
        } = sample;
        self.push(series_ref, announce, timestamp, value, extra)
    }
}

/// The free room at which [`PendingQueue::take`] wakes pushers waiting for room.
fn resume_room(capacity: usize) -> usize {
    (capacity / 4).max(1)
}

/// Why [`PendingQueue::wait_for_room`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// The deadline passed without room.
    Deadline,
    /// `give_up()` returned true (the shard is stopping or dead), or the queue was closed.
    GaveUp,
}

/// Samples queued for one shard, at most `capacity` of them. A queue is opened for each shard
/// thread that uses it and closed when that thread ends; the counters go on across reopenings.
#[derive(Debug)]
pub struct PendingQueue {
    state: Mutex<PendingState>,
    space: Condvar,
    waiting: AtomicUsize,
}

impl PendingQueue {
    /// An empty queue with room for `capacity` samples.
    #[cfg(test)]
    pub fn new(capacity: usize) -> Self {
        let queue = PendingQueue::closed();
        queue.open(capacity);
        queue
    }

    /// A closed queue holding no memory, refusing every push until [`PendingQueue::open`].
    pub fn closed() -> Self {
        PendingQueue {
            state: Mutex::new(PendingState {
                items: VecDeque::new(),
                capacity: 0,
                pushed: 0,
                highest_ms: 0,
                closed: true,
            }),
            space: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Opens the (empty) queue with room for `capacity` samples.
    pub fn open(&self, capacity: usize) {
        let mut state = lock(&self.state);
        state.capacity = capacity;
        state.items.reserve(capacity.min(1 << 16));
        state.closed = false;
    }

    /// The most samples it holds at once.
    pub fn capacity(&self) -> usize {
        lock(&self.state).capacity
    }

    /// Queues `sample` when there is room and returns the new length.
    pub fn try_push(&self, sample: QueuedSample) -> Result<usize, PushError> {
        lock(&self.state).push_sample(sample)
    }

    /// Waits until the queue has room, `deadline` passes (`Deadline`), `give_up()` returns true
    /// or the queue is closed (`GaveUp`); checks whenever woken. Pushes nothing: the caller
    /// takes its series' order stripe again and pushes then, so it never waits holding it.
    pub fn wait_for_room(
        &self,
        deadline: Instant,
        give_up: impl Fn() -> bool,
    ) -> Result<(), WaitEnd> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut state = lock(&self.state);
        let result = loop {
            if state.closed || give_up() {
                break Err(WaitEnd::GaveUp);
            }
            if state.items.len() < state.capacity {
                break Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(WaitEnd::Deadline);
            }
            state = self
                .space
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        drop(state);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Locks the queue, for a caller pushing several samples in a row ([`PendingGuard`]).
    pub fn lock(&self) -> PendingGuard<'_> {
        PendingGuard {
            state: lock(&self.state),
        }
    }

    /// Moves up to `max` samples, oldest first, to the back of `out`; returns how many.
    ///
    /// Pushers waiting for room are woken only once a quarter of the queue is free: a
    /// producer that outruns the shard then sleeps once per quarter queue rather than once per
    /// batch (each sleep and wake-up costs it microseconds of CPU). The shard also wakes them
    /// whenever it is about to wait for a retry, so they never wait on a stalled shard while
    /// there is room.
    pub fn take(&self, max: usize, out: &mut VecDeque<QueuedSample>) -> usize {
        let mut state = lock(&self.state);
        let n = max.min(state.items.len());
        out.extend(state.items.drain(..n));
        let room = state.capacity.saturating_sub(state.items.len());
        let resume = resume_room(state.capacity);
        drop(state);
        if n > 0 && room >= resume {
            self.wake_waiters();
        }
        n
    }

    /// Closes the queue (its shard thread is ending): empties it, gives its memory back and
    /// refuses every later push until it is opened again; returns how many samples it held.
    pub fn close(&self) -> usize {
        let mut state = lock(&self.state);
        state.closed = true;
        let n = state.items.len();
        state.items = VecDeque::new();
        drop(state);
        self.wake_waiters();
        n
    }

    /// Samples queued now.
    pub fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// Samples pushed since the queue was created (across reopenings).
    pub fn pushed(&self) -> u64 {
        lock(&self.state).pushed
    }

    /// The highest timestamp (ms) pushed so far, 0 before the first push.
    pub fn highest_ms(&self) -> i64 {
        lock(&self.state).highest_ms
    }

    /// Wakes pushers waiting for room (after samples were taken, or when they should give up).
    pub fn wake_waiters(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this wake-up after a waiter's check of its condition.
            let _state = lock(&self.state);
            self.space.notify_all();
        }
    }
}

/// A held queue lock: pushes without taking the lock again. Whoever holds one must not wait
/// for another lock the shard thread may hold while it looks at the queue (its wake lock), nor
/// for a series' order stripe (taken before queue locks).
#[derive(Debug)]
pub struct PendingGuard<'a> {
    state: MutexGuard<'a, PendingState>,
}

impl PendingGuard<'_> {
    /// As [`PendingQueue::try_push`], under the held lock, for a sample given by its parts
    /// (built in the queue's memory).
    pub fn try_push_parts(
        &mut self,
        series_ref: SeriesRef,
        announce: Option<Arc<Series>>,
        timestamp: i64,
        value: f64,
        extra: Option<Box<SampleExtra>>,
    ) -> Result<usize, PushError> {
        self.state
            .push(series_ref, announce, timestamp, value, extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample(ts: i64) -> QueuedSample {
        QueuedSample {
            series_ref: SeriesRef(1),
            announce: None,
            timestamp: ts,
            value: ts as f64,
            extra: None,
        }
    }

    #[test]
    fn bounded_fifo_with_counters() {
        let q = PendingQueue::new(3);
        assert_eq!(q.try_push(sample(5)).unwrap(), 1);
        assert_eq!(q.try_push(sample(7)).unwrap(), 2);
        assert_eq!(q.try_push(sample(6)).unwrap(), 3);
        assert!(
            matches!(q.try_push(sample(8)), Err(PushError::Full)),
            "full"
        );
        assert_eq!((q.pushed(), q.highest_ms(), q.len()), (3, 7, 3));
        {
            let mut held = q.lock();
            assert!(
                held.try_push_parts(SeriesRef(1), None, 9, 9.0, None)
                    .is_err(),
                "still full"
            );
        }
        let mut out = VecDeque::new();
        assert_eq!(q.take(2, &mut out), 2);
        let order: Vec<i64> = out.iter().map(|s| s.timestamp).collect();
        assert_eq!(order, [5, 7]);
        assert_eq!(
            q.lock()
                .try_push_parts(SeriesRef(1), None, 9, 9.0, None)
                .ok(),
            Some(2)
        );
        assert_eq!((q.pushed(), q.highest_ms()), (4, 9));
        assert_eq!(q.close(), 2);
        assert_eq!(q.len(), 0);
        assert_eq!(q.pushed(), 4, "pushed counts every push ever");
        // Closed: every later push is refused, none is queued or counted as pushed.
        assert!(matches!(q.try_push(sample(10)), Err(PushError::Closed)));
        assert!(matches!(
            q.lock().try_push_parts(SeriesRef(1), None, 11, 1.0, None),
            Err(PushError::Closed)
        ));
        assert_eq!(
            q.wait_for_room(Instant::now() + Duration::from_secs(5), || false),
            Err(WaitEnd::GaveUp)
        );
        assert_eq!((q.pushed(), q.len()), (4, 0));
    }

    #[test]
    fn wait_for_room_returns_when_samples_are_taken_and_gives_up_at_the_deadline() {
        let q = Arc::new(PendingQueue::new(1));
        q.try_push(sample(1)).unwrap();
        let start = Instant::now();
        let err = q
            .wait_for_room(start + Duration::from_millis(50), || false)
            .unwrap_err();
        assert_eq!(err, WaitEnd::Deadline);
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(
            q.wait_for_room(Instant::now() + Duration::from_secs(5), || true)
                .unwrap_err(),
            WaitEnd::GaveUp
        );
        let taker = {
            let q = q.clone();
            std::thread::spawn(move || {
                while q.waiting.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
                let mut out = VecDeque::new();
                q.take(1, &mut out)
            })
        };
        q.wait_for_room(Instant::now() + Duration::from_secs(10), || false)
            .expect("room after the take");
        assert_eq!(q.len(), 0, "waiting pushes nothing");
        assert_eq!(taker.join().unwrap(), 1);
    }

    #[test]
    fn waiters_wake_once_a_quarter_is_free_or_when_woken_explicitly() {
        let q = Arc::new(PendingQueue::new(8));
        for ts in 0..8 {
            q.try_push(sample(ts)).unwrap();
        }
        let pushed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiter = || {
            let (q, pushed) = (q.clone(), pushed.clone());
            std::thread::spawn(move || {
                let result = q
                    .wait_for_room(Instant::now() + Duration::from_secs(30), || false)
                    .map(|()| q.len());
                pushed.store(true, Ordering::SeqCst);
                result
            })
        };
        let wait_for_waiter = || {
            while q.waiting.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        let mut out = VecDeque::new();

        let first = waiter();
        wait_for_waiter();
        assert_eq!(q.take(1, &mut out), 1);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !pushed.load(Ordering::SeqCst),
            "one free place of 8 does not wake it"
        );
        assert_eq!(q.take(1, &mut out), 1);
        assert_eq!(
            first.join().unwrap(),
            Ok(6),
            "two free places (a quarter) do"
        );

        pushed.store(false, Ordering::SeqCst);
        q.try_push(sample(101)).unwrap();
        q.try_push(sample(102)).unwrap();
        let second = waiter();
        wait_for_waiter();
        assert_eq!(q.take(1, &mut out), 1);
        std::thread::sleep(Duration::from_millis(100));
        assert!(!pushed.load(Ordering::SeqCst));
        q.wake_waiters();
        assert_eq!(
            second.join().unwrap(),
            Ok(7),
            "an explicit wake uses the room there is"
        );
    }
}
