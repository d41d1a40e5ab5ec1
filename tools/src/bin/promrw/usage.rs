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
    proc_status_bytes("VmHWM:")
}

/// `VmRSS` (resident set size now) of this process from `/proc/self/status`, in bytes
/// (`None` where there is no such file).
pub fn current_rss() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

/// The `key` line (e.g. `VmRSS:`) of `/proc/self/status`, given in kB, in bytes.
fn proc_status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line
        .trim_start_matches(key)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// What [`threads_usage`] sums over the matching threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadsUsage {
    /// User plus system CPU time (`/proc/self/task/*/stat`, clock-tick resolution: 10 ms).
    pub cpu: Duration,
    /// Bytes passed to `write(2)` and friends (`wchar` of `/proc/self/task/*/io`; `None`
    /// where the kernel has no per-task I/O accounting).
    pub wchar: Option<u64>,
    /// Bytes of page cache the threads dirtied, i.e. sent towards the disk (`write_bytes`).
    pub write_bytes: Option<u64>,
    /// Threads that matched.
    pub threads: usize,
}

impl ThreadsUsage {
    /// What was used between `before` and `self` (same threads, read later).
    pub fn since(self, before: ThreadsUsage) -> ThreadsUsage {
        let minus = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a.saturating_sub(b));
        ThreadsUsage {
            cpu: self.cpu.saturating_sub(before.cpu),
            wchar: minus(self.wchar, before.wchar),
            write_bytes: minus(self.write_bytes, before.write_bytes),
            threads: self.threads,
        }
    }
}

/// CPU time and written bytes of this process's threads whose name (as the kernel keeps it:
/// at most 15 bytes) `matches`, from `/proc/self/task/*/{stat,io}` (Linux; `None`
/// elsewhere). Threads that already exited are not counted.
pub fn threads_usage(matches: impl Fn(&str) -> bool) -> Option<ThreadsUsage> {
    let ticks_per_second = {
        // SAFETY: sysconf only reads a system constant.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks <= 0 {
            return None;
        }
        ticks as u64
    };
    let mut total_ticks = 0u64;
    let mut usage = ThreadsUsage {
        wchar: Some(0),
        write_bytes: Some(0),
        ..ThreadsUsage::default()
    };
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // Format: `tid (comm) state ...`; comm may contain spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !matches(&stat[open + 1..close]) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the comm: state is field 3, utime field 14, stime field 15 (1-based).
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        total_ticks += utime + stime;
        let io = std::fs::read_to_string(task.path().join("io")).ok();
        let field = |name| io.as_deref().and_then(|io| io_field(io, name));
        usage.wchar = usage.wchar.zip(field("wchar")).map(|(a, b)| a + b);
        usage.write_bytes = usage
            .write_bytes
            .zip(field("write_bytes"))
            .map(|(a, b)| a + b);
        usage.threads += 1;
    }
    usage.cpu = Duration::from_nanos(total_ticks * 1_000_000_000 / ticks_per_second);
    Some(usage)
}

/// Bytes this whole process passed to `write(2)` (`wchar`) and dirtied towards the disk
/// (`write_bytes`), exited threads included, from `/proc/self/io` (`None` where the kernel
/// has no I/O accounting).
pub fn process_io() -> Option<(u64, u64)> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    Some((io_field(&io, "wchar")?, io_field(&io, "write_bytes")?))
}

/// The value of `name:` in a `/proc/*/io` text.
fn io_field(io: &str, name: &str) -> Option<u64> {
    io.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
}
