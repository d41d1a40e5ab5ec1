//! Process resource usage (CPU time and peak RSS) for the demo and the benchmark.

use std::time::Duration;

/// CPU time and peak resident set size of this process.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set size in bytes.
    pub peak_rss: u64,
}

/// Reads the usage of the whole process (all threads).
pub fn process_usage() -> Usage {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes into the rusage struct we pass, which is valid and
    // zero-initialised; RUSAGE_SELF is a valid `who`. There is no safe std API for CPU time.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Usage {
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss: usage.ru_maxrss as u64 * 1024,
    }
}
