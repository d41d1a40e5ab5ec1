//! Process and thread resource usage (CPU time and peak RSS) for the demo and the benchmark.

use std::time::Duration;

/// CPU time and peak resident set size of this process (or of one thread).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set size in bytes (always the whole process's): `VmHWM` from
    /// `/proc/self/status` where it exists, else `ru_maxrss`. `ru_maxrss` is kept across
    /// `execve` on Linux, so under `cargo run` it would report cargo's own peak when larger.
    pub peak_rss: u64,
}

/// Reads the usage of the whole process (all threads).
pub fn process_usage() -> Usage {
    rusage(libc::RUSAGE_SELF)
}

/// Reads the CPU time of the calling thread only (Linux `RUSAGE_THREAD`). On other systems this
/// falls back to the whole process, which equals the thread's time only while no other thread
/// is busy; the benchmark's single-threaded baseline runs at such a moment.
pub fn thread_usage() -> Usage {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let who = libc::RUSAGE_THREAD;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let who = libc::RUSAGE_SELF;
    rusage(who)
}

/// `getrusage(who)` as a [`Usage`]; `who` is `RUSAGE_SELF` or `RUSAGE_THREAD`.
fn rusage(who: libc::c_int) -> Usage {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes into the rusage struct we pass, which is valid and
    // zero-initialised; `who` is RUSAGE_SELF or RUSAGE_THREAD (callers above), both valid.
    // There is no safe std API for CPU time.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Usage {
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss: proc_peak_rss().unwrap_or(usage.ru_maxrss as u64 * 1024),
    }
}

/// `VmHWM` (peak RSS of this process image) from `/proc/self/status`, in bytes.
fn proc_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
