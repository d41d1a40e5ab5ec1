//! Memory after a cardinality spike: released series leave the shards' caches and their label
//! bytes are freed soon after release, not when their slots are reused.
//!
//! The test binary counts the bytes live on the heap with a wrapping global allocator; it
//! holds this one test, so nothing else allocates while it measures.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use promrw::{Config, Sender};
use promrw_tools::receiver::{Receiver, Reply, RequestInfo, SampleStore};

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Waits up to 20 s for `cond`.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn released_series_leave_the_shard_caches_and_their_label_bytes_are_freed() {
    // A receiver that counts samples and keeps nothing (its copy would blur the measure).
    let received = Arc::new(AtomicUsize::new(0));
    let handler = {
        let received = received.clone();
        Arc::new(move |info: &RequestInfo| match &info.decoded {
            Ok(request) => {
                received.fetch_add(request.samples, Ordering::SeqCst);
                Reply::status(204, "")
            }
            Err(e) => Reply::status(e.status, e.message.clone()),
        })
    };
    let receiver = Receiver::start(
        "127.0.0.1:0",
        2,
        Arc::new(SampleStore::new(false)),
        handler,
        None,
    )
    .unwrap();
    let config = Config::from_text(&format!(
        "remote_write:\n  - url: {}\n    name: mem\n    queue_config:\n      min_shards: 2\n      batch_send_deadline: 20ms\n      min_backoff: 10ms\n      max_backoff: 100ms\n",
        receiver.url()
    ))
    .unwrap();
    let sender = Sender::new(config).unwrap();

    const SERIES: usize = 2000;
    const PAD: usize = 8192;
    let pad = "z".repeat(PAD);
    let t = 1_700_000_000_000i64;
    let refs: Vec<_> = (0..SERIES)
        .map(|i| {
            sender
                .series_from_pairs(&[
                    ("__name__", "spike"),
                    ("i", i.to_string().as_str()),
                    ("pad", pad.as_str()),
                ])
                .unwrap()
        })
        .collect();
    for r in &refs {
        sender.append(*r, t, 1.0).unwrap();
    }
    sender.flush(Duration::from_secs(20)).unwrap();
    assert_eq!(received.load(Ordering::SeqCst), SERIES);
    assert_eq!(
        common::endpoint_metric(&sender, "promrw_shard_cached_series"),
        SERIES as u64
    );
    let before = LIVE.load(Ordering::SeqCst);

    // Half of the series get one more sample, released before it is sent: it is sent all
    // the same, and the series still leaves the cache afterwards.
    for r in refs.iter().step_by(2) {
        sender.append(*r, t + 1, 2.0).unwrap();
    }
    for r in &refs {
        sender.release(*r).unwrap();
    }
    assert_eq!(sender.stats().series, 0);
    sender.flush(Duration::from_secs(20)).unwrap();
    assert_eq!(received.load(Ordering::SeqCst), SERIES + SERIES / 2);
    assert!(
        wait_for(|| common::endpoint_metric(&sender, "promrw_shard_cached_series") == 0),
        "the shards still cache {} released series",
        common::endpoint_metric(&sender, "promrw_shard_cached_series")
    );
    let after = LIVE.load(Ordering::SeqCst);
    let freed = before - after;
    let labels = (SERIES * PAD) as isize;
    assert!(
        freed >= labels * 9 / 10,
        "{freed} bytes freed after releasing {SERIES} series with {labels} bytes of labels"
    );
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_failed, 0);
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}
