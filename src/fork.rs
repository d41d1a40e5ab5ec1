//! Noticing `fork()`: a child process has the sender's memory but none of its shard threads,
//! and a lock a shard thread held at the fork stays locked for ever in the child. A sender
//! records the process's fork epoch when it is created; the epoch moves on in every child, so
//! the sender can refuse every call there (`Forked`) instead of accepting samples nothing
//! sends, or waiting for threads that do not exist.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Incremented in the child after each `fork()`.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The child-side fork handler: only an atomic increment, which is async-signal-safe.
extern "C" fn after_fork_in_child() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// The current fork epoch, making sure the handler is installed first (once per process).
/// Compare a value taken when a sender was made with [`current`] to tell a forked child.
pub fn watch() -> u64 {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `pthread_atfork` only records the handler; the handler is an `extern "C"`
        // function that never unwinds and does one atomic increment. This is the one use of
        // `unsafe` outside src/ffi/: the C library has the only fork hook, and the call has
        // no Rust-safe wrapper in std.
        let status = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        // Without the hook (ENOMEM, practically never) forks go unnoticed, as before.
        debug_assert_eq!(status, 0, "pthread_atfork");
    });
    current()
}

/// The fork epoch now: a relaxed load, cheap enough for every append.
#[inline]
pub fn current() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}
