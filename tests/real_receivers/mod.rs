//! Harness for the tests against real Remote Write receivers (`tests/real_*.rs`): Prometheus and
//! VictoriaMetrics run as child processes on 127.0.0.1, each on a free port with its own
//! temporary data directory, stopped by PID (also when a test fails).
//!
//! The binaries come from the Debian packages `prometheus` and `victoria-metrics`, installed by
//! `.ci/receivers.sh` (which `./test.sh` runs when they are missing); `PROMRW_PROMETHEUS_BIN`
//! and `PROMRW_VICTORIA_METRICS_BIN` override the paths. A missing binary fails the test with a
//! message naming `./test.sh`. The only way to skip is
//! `PROMRW_SKIP_REAL_RECEIVERS=1`, which is refused when `CI=true`.

#![allow(dead_code)]

pub mod data;
pub mod proxy;
pub mod query;
pub mod scenarios;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The real receivers these tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Prometheus 2.42 with `--web.enable-remote-write-receiver`.
    Prometheus,
    /// Single-node VictoriaMetrics 1.79.
    VictoriaMetrics,
}

impl Kind {
    /// Human name, as used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prometheus => "Prometheus",
            Kind::VictoriaMetrics => "VictoriaMetrics",
        }
    }

    /// The command name of the binary.
    pub fn command(self) -> &'static str {
        match self {
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoria-metrics",
        }
    }

    /// The Debian package that ships the binary.
    pub fn package(self) -> &'static str {
        self.command()
    }

    /// The environment variable that overrides the binary's path.
    pub fn env_var(self) -> &'static str {
        match self {
            Kind::Prometheus => "PROMRW_PROMETHEUS_BIN",
            Kind::VictoriaMetrics => "PROMRW_VICTORIA_METRICS_BIN",
        }
    }

    /// The readiness path: answers 200 once the receiver accepts writes and queries.
    fn ready_path(self) -> &'static str {
        match self {
            Kind::Prometheus => "/-/ready",
            Kind::VictoriaMetrics => "/health",
        }
    }
}

/// Whether the real-receiver test `test` is to be skipped: only when
/// `PROMRW_SKIP_REAL_RECEIVERS=1`, and then a loud `SKIPPED real-receiver test ...` line goes to
/// stderr. Panics (the test fails) when the skip is asked for with `CI=true`.
pub fn skip(test: &str) -> bool {
    if std::env::var("PROMRW_SKIP_REAL_RECEIVERS").as_deref() != Ok("1") {
        return false;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "PROMRW_SKIP_REAL_RECEIVERS=1 is refused with CI=true: {test} must run against the \
             real receivers (./test.sh installs them)"
        );
    }
    // Straight to stderr, past the test harness's output capture, so it shows on success.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED real-receiver test {test} (PROMRW_SKIP_REAL_RECEIVERS=1): \
         nothing was checked against a real receiver"
    );
    true
}

/// Whether `path` is an executable regular file.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The binary for `kind`: the override variable, else the command on `PATH`, else
/// `/usr/bin`. Panics with install instructions when there is none.
pub fn binary(kind: Kind) -> PathBuf {
    if let Some(path) = std::env::var_os(kind.env_var()).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "{}={} is not an executable file",
            kind.env_var(),
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let candidates = on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(kind.command()));
    for candidate in candidates {
        if is_executable(&candidate) {
            return candidate;
        }
    }
    panic!("{}", missing_binary_message(kind))
}

/// What a test says when the binary for `kind` is missing: the one command that installs it.
fn missing_binary_message(kind: Kind) -> String {
    format!(
        "{} not found: run ./test.sh (it installs the receivers), or sudo bash .ci/receivers.sh \
         (the Debian package `{}`); or point {} at the {} binary. Outside CI, \
         PROMRW_SKIP_REAL_RECEIVERS=1 skips these tests loudly.",
        kind.command(),
        kind.package(),
        kind.env_var(),
        kind.name()
    )
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// A temporary directory removed (with its contents) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a new, unique directory under the system temp dir; `label` goes into its name.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "promrw-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long a receiver may take to become ready (generous: CI machines are busy).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a receiver may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// One real receiver process on 127.0.0.1 with its own data directory. Stopped (SIGTERM, then
/// SIGKILL after 30 s) by PID on [`RealReceiver::stop`] and on drop; the directory is removed on
/// drop, and when the thread is panicking the tail of the receiver's log is printed first.
///
/// The child also gets SIGTERM when the thread that started it ends (`PR_SET_PDEATHSIG`), so an
/// aborted test run leaves no receiver behind: start and restart it from the test's thread.
pub struct RealReceiver {
    kind: Kind,
    bin: PathBuf,
    port: u16,
    extra_args: Vec<String>,
    child: Option<Child>,
    starts: u32,
    // Dropped last: the process is stopped in `Drop::drop` before the directory goes.
    dir: TempDir,
}

impl RealReceiver {
    /// Starts `kind` on a free port with a fresh data directory and waits until it is ready.
    pub fn start(kind: Kind) -> RealReceiver {
        RealReceiver::start_with(kind, &[])
    }

    /// Like [`RealReceiver::start`], with extra command-line flags (kept across restarts).
    pub fn start_with(kind: Kind, extra_args: &[&str]) -> RealReceiver {
        // Minimal configuration: no scrape jobs, so only remote-written data is stored.
        let config = "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n";
        RealReceiver::start_inner(kind, extra_args, config)
    }

    /// Starts Prometheus like [`RealReceiver::start_with`], with `config` as its
    /// `prometheus.yml` instead of the minimal receiver configuration: a Prometheus that
    /// scrapes and remote-writes (a sender), as `tests/relabel_vs_prometheus.rs` runs it.
    pub fn start_prometheus_with_config(config: &str, extra_args: &[&str]) -> RealReceiver {
        RealReceiver::start_inner(Kind::Prometheus, extra_args, config)
    }

    /// Starts `kind`; `prometheus_config` is written as Prometheus's `prometheus.yml`.
    fn start_inner(kind: Kind, extra_args: &[&str], prometheus_config: &str) -> RealReceiver {
        let bin = binary(kind);
        let dir = TempDir::new(kind.command());
        std::fs::create_dir_all(dir.path().join("data")).expect("create data dir");
        if kind == Kind::Prometheus {
            std::fs::write(dir.path().join("prometheus.yml"), prometheus_config)
                .expect("write prometheus.yml");
        }
        let mut receiver = RealReceiver {
            kind,
            bin,
            port: 0,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
            starts: 0,
            dir,
        };
        // The port was free when picked; another process may take it before the receiver binds
        // it, so the first start tries a few ports.
        let mut last_error = String::new();
        for _ in 0..5 {
            receiver.port = free_port();
            match receiver.spawn_and_wait() {
                Ok(()) => return receiver,
                Err(e) if e.contains("address already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{last_error}")
    }

    /// Which receiver this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Remote Write URL: `/api/v1/write` for both receivers.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The log file holding the receiver's stdout and stderr (all starts appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("receiver.log")
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(self.log_path()) {
            let len = file.metadata().map_or(0, |m| m.len());
            let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
            let _ = file.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The process ID, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The command-line arguments for the current port and directory.
    fn args(&self) -> Vec<String> {
        let addr = format!("127.0.0.1:{}", self.port);
        let data = self.data_dir().display().to_string();
        let mut args = match self.kind {
            Kind::Prometheus => vec![
                "--web.enable-remote-write-receiver".to_string(),
                format!("--storage.tsdb.path={data}"),
                format!("--web.listen-address={addr}"),
                format!(
                    "--config.file={}",
                    self.dir.path().join("prometheus.yml").display()
                ),
            ],
            Kind::VictoriaMetrics => vec![
                format!("-storageDataPath={data}"),
                format!("-httpListenAddr={addr}"),
                // Make fresh samples visible to queries at once.
                "-search.latencyOffset=0s".to_string(),
                "-search.disableCache".to_string(),
            ],
        };
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Spawns the process and waits for readiness; on failure the process is stopped and the
    /// error carries the log's tail.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "{} already running", self.kind.name());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open receiver log");
        self.starts += 1;
        let mut command = Command::new(&self.bin);
        command
            .args(self.args())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| {
            format!(
                "cannot start {} ({}): {e}",
                self.kind.name(),
                self.bin.display()
            )
        })?;
        self.child = Some(child);
        let url = format!("{}{}", self.base_url(), self.kind.ready_path());
        let agent = query::agent(Duration::from_secs(2));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "{} exited during start-up ({status}); log tail:\n{}",
                    self.kind.name(),
                    self.log_tail(40)
                ));
            }
            if agent.get(&url).call().is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!(
                    "{} not ready at {url} after {READY_TIMEOUT:?}; log tail:\n{}",
                    self.kind.name(),
                    self.log_tail(40)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process by PID: SIGTERM, then SIGKILL if it has not exited after 30 s. Does
    /// nothing when it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on the PID of our own unreaped child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
        eprintln!(
            "{} (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT:?}; sending SIGKILL",
            self.kind.name()
        );
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the process again on the same port and data directory and waits until it is
    /// ready. Panics if it does not come up.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait() {
            panic!("restart failed: {e}");
        }
    }

    /// Makes recently written samples visible to queries (VictoriaMetrics buffers them; its
    /// `/internal/force_flush` writes them out). Nothing to do for Prometheus, whose head is
    /// queryable at once.
    pub fn make_queryable(&self) {
        if self.kind == Kind::VictoriaMetrics {
            let url = format!("{}/internal/force_flush", self.base_url());
            let (status, body) = query::get(&url, &[]);
            assert_eq!(status, 200, "force_flush: {body}");
        }
    }
}

impl Drop for RealReceiver {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- {} log tail ({}, {} start(s)) ----\n{}\n----",
                self.kind.name(),
                self.log_path().display(),
                self.starts,
                self.log_tail(30)
            );
        }
    }
}
