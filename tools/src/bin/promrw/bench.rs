//! `promrw bench`: pushes workload W1 (10,000 series × 100 rounds = 1,000,000 samples) through
//! the full pipeline ([`Sender`]: registry, shard queues, batch encoding, snappy, HTTP) and
//! prints throughput, CPU per sample, wire bytes per sample and peak RSS.
//!
//! Without `--url` the receiver is `promrw sink` started as a child process, so the CPU time
//! measured here (getrusage of this whole process) is the sender's only. The label sets are
//! built before the measured section (that is the application's cost); the measured section is
//! registering the series, appending every sample and flushing.
//!
//! In the same invocation a naive encoder is measured as the baseline: the same samples in
//! batches of `--max-samples-per-send`, built as prost `WriteRequest` messages (one
//! `TimeSeries` with owned label strings per sample, as Prometheus sends them), encoded with
//! `encode_to_vec` and snappy-compressed, on one thread. promrw's end-to-end CPU per sample is
//! reported as a ratio to it.
//!
//! With `--wal DIR` every round also runs the workload in WAL mode (the durable queue) with
//! each fsync policy, interleaved with the memory-mode run (memory, wal-interval, wal-always,
//! wal-never, `--runs` times), each in a fresh subdirectory of DIR removed afterwards; the
//! summary gives each WAL mode's CPU per sample as a ratio to the memory-mode run of the same
//! round and the bytes the WAL writer wrote per sample. Then a backlog of `--backlog-samples`
//! samples is logged while the receiver answers 503, left on disk by a close with a short
//! timeout, and timed while a new sender on the same directory drains it to a fresh receiver.
//!
//! With `--rw2` every round also runs W1 in memory mode on an endpoint speaking Remote Write
//! 2.0 (`protobuf_message: io.prometheus.write.v2.Request`), interleaved with the 1.0 run, and
//! the summary compares their CPU per sample and wire bytes per sample (issue 15).
//!
//! With `--histograms` the workload is instead 1,000 native histogram series with 20 buckets
//! each (`HistogramWorkload::H1`, `--rounds` rounds) appended with `append_histogram`, sent as
//! 1.0 (`send_native_histograms: true`) and as 2.0 in interleaved runs; the summary gives CPU
//! and wire bytes per histogram for each and their ratio.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promrw::config::{
    EndpointConfig, FsyncPolicy, FullPolicy, ProtobufMessage, QueueConfig, WalConfig,
    WriteRelabelConfigs,
};
use promrw::wire::proto;
use promrw::{Config, Histogram, Labels, Sample, SampleOptions, Sender, SenderStats};
use promrw_tools::workload::{self, HistogramWorkload, Workload};
use prost::Message;

use crate::usage::{ThreadsUsage, process_io, process_usage, thread_usage, threads_usage};

/// The goal: CPU per sample of the whole sending pipeline, in microseconds.
const TARGET_US_PER_SAMPLE: f64 = 0.3;

/// How long a flush of the whole workload may take before the run fails.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the child receiver may take to print its listening line.
const SINK_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Shard threads of the bench endpoint are named `promrw-bench-<index>`.
const SHARD_THREAD_PREFIX: &str = "promrw-bench-";

/// The endpoint's feeder thread (WAL mode), `promrw-bench-feed` as the kernel keeps it (15
/// bytes).
const FEEDER_THREAD: &str = "promrw-bench-fe";

/// The WAL writer thread, `promrw-wal-writer` as the kernel keeps it.
const WRITER_THREAD: &str = "promrw-wal-writ";

/// The goal for WAL mode (fsync interval): CPU per sample at most this many times
/// memory mode's.
const TARGET_WAL_CPU_RATIO: f64 = 1.3;

/// The goal for WAL mode: bytes the writer writes per W1 sample.
const TARGET_WAL_BYTES_PER_SAMPLE: f64 = 20.0;

/// The backlog's log budget: at least this much (and twice the estimate when larger), so
/// that nothing is dropped unsent.
const BACKLOG_MAX_BYTES: u64 = 4 << 30;

/// Disk space estimated per backlog sample, for the free-space check (W1 samples take about
/// half of it).
const BACKLOG_BYTES_PER_SAMPLE_ESTIMATE: u64 = 40;

/// The close that leaves the backlog on disk: its deadline.
const BACKLOG_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the backlog may take to drain before the run fails.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(900);

/// Arguments of `promrw bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Receiver URL; without it `promrw sink` is started as a child process on 127.0.0.1.
    #[arg(long)]
    url: Option<String>,
    /// Producer threads; they split the series between them.
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Shards (sending threads) of the endpoint queue.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Samples per request (also the naive baseline's batch size).
    #[arg(long, default_value_t = 2_000)]
    max_samples_per_send: usize,
    /// Runs; each uses a fresh sender. Every run, the best and the median are printed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// How producers append: `append` (one call per sample) or `batch` (one
    /// `append_batch` call per producer per round, as a scrape loop holding a round would).
    #[arg(long, value_enum, default_value_t = AppendApi::Append)]
    api: AppendApi,
    /// Also run in WAL mode (the durable queue) with each fsync policy (always, interval 1s,
    /// never), interleaved with memory mode, each run in a fresh subdirectory of DIR (created
    /// if missing) removed afterwards; then time the drain of a backlog (--backlog-samples).
    #[arg(long, value_name = "DIR")]
    wal: Option<PathBuf>,
    /// Rounds of the workload (W1 has 100, i.e. 1,000,000 samples); fewer make a quick run.
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// With --wal: samples of the backlog (W1's series, as many rounds as it takes) logged
    /// while the receiver answers 503, then drained by a new sender; 0 skips it.
    #[arg(long, default_value_t = 10_000_000)]
    backlog_samples: u64,
    /// Also run memory mode with five `write_relabel_configs` rules (a keep, a drop, a
    /// replace, a hashmod and a labeldrop that keep every series), interleaved with memory
    /// mode without rules, and compare their CPU per sample.
    #[arg(long)]
    relabel: bool,
    /// Also run memory mode on an endpoint speaking Remote Write 2.0 (`protobuf_message:
    /// io.prometheus.write.v2.Request`), interleaved with the 1.0 run, and compare their CPU
    /// and wire bytes per sample.
    #[arg(long)]
    rw2: bool,
    /// Instead of W1, run the histogram workload: 1,000 native histogram series with 20
    /// buckets, `--rounds` rounds, appended with `append_histogram`, sent as 1.0
    /// (`send_native_histograms: true`) and as 2.0 in interleaved runs.
    #[arg(long, conflicts_with_all = ["wal", "relabel", "rw2"])]
    histograms: bool,
}

/// The ceilings of `--rw2` (issue 15): wire bytes per W1 sample in 2.0, and 2.0's CPU per
/// sample as a multiple of 1.0's.
const TARGET_RW2_BYTES_PER_SAMPLE: f64 = 16.0;
const TARGET_RW2_CPU_RATIO: f64 = 1.1;

/// The ceiling of `--relabel`'s ratio (issue 13): relabeling stays off the per-sample path.
const TARGET_RELABEL_CPU_RATIO: f64 = 1.05;

/// Where a run's queue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Memory mode (no `promrw.wal`).
    Memory,
    /// WAL mode with this fsync policy.
    Wal(FsyncPolicy),
    /// Memory mode with the `--relabel` rules.
    Relabel,
    /// Memory mode, the endpoint speaking Remote Write 2.0 (`--rw2`).
    Rw2,
}

impl Mode {
    /// The modes of one round: memory mode only, or with `--wal` memory then each WAL policy.
    fn round(wal: bool, relabel: bool, rw2: bool) -> Vec<Mode> {
        let mut modes = vec![Mode::Memory];
        if relabel {
            modes.push(Mode::Relabel);
        }
        if rw2 {
            modes.push(Mode::Rw2);
        }
        if wal {
            modes.extend([
                Mode::Wal(FsyncPolicy::Interval(Duration::from_secs(1))),
                Mode::Wal(FsyncPolicy::Always),
                Mode::Wal(FsyncPolicy::Never),
            ]);
        }
        modes
    }

    /// A short name for the output and the run's directory.
    fn label(self) -> &'static str {
        match self {
            Mode::Memory => "memory",
            Mode::Wal(FsyncPolicy::Interval(_)) => "wal-interval",
            Mode::Wal(FsyncPolicy::Always) => "wal-always",
            Mode::Wal(FsyncPolicy::Never) => "wal-never",
            Mode::Relabel => "relabel",
            Mode::Rw2 => "rw2",
        }
    }

    /// The protocol its endpoint is configured with.
    fn message(self) -> ProtobufMessage {
        match self {
            Mode::Rw2 => ProtobufMessage::V2,
            Mode::Memory | Mode::Wal(_) | Mode::Relabel => ProtobufMessage::V1,
        }
    }
}

/// The append API the producers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppendApi {
    /// `Sender::append`, one call per sample.
    Append,
    /// `Sender::append_batch`, one call per round.
    Batch,
}

/// The `promrw sink` child process. Dropping it kills and reaps the child, so every error path
/// stops it too.
pub(crate) struct ChildReceiver {
    /// The child process.
    child: Child,
    /// The remote-write URL it printed.
    pub(crate) url: String,
    /// Its stdin, with `--control-stdin` ([`ChildReceiver::start_controlled`]).
    stdin: Option<ChildStdin>,
    /// Its `control ...` answer lines, with `--control-stdin`.
    answers: Option<mpsc::Receiver<String>>,
}

impl ChildReceiver {
    /// Starts `<this executable> sink --listen 127.0.0.1:0 --quiet --workers 4` followed by
    /// `extra` and reads the URL from its first stdout line. Later lines (invalid requests) are
    /// copied to stderr.
    fn start(extra: &[&str]) -> Result<ChildReceiver, String> {
        let mut args = vec!["--quiet", "--workers", "4"];
        args.extend_from_slice(extra);
        ChildReceiver::spawn(&args, false)
    }

    /// Starts `<this executable> sink --listen 127.0.0.1:0 --control-stdin --quiet --workers
    /// <workers>`, to be driven by [`ChildReceiver::control`]. Lines other than the control
    /// answers (invalid requests) are copied to stderr.
    pub(crate) fn start_controlled(workers: usize) -> Result<ChildReceiver, String> {
        ChildReceiver::start_controlled_with(workers, &[])
    }

    /// As [`ChildReceiver::start_controlled`], with `extra` sink arguments after the others
    /// (e.g. `--latency-ms 100`).
    pub(crate) fn start_controlled_with(
        workers: usize,
        extra: &[&str],
    ) -> Result<ChildReceiver, String> {
        let workers = workers.to_string();
        let mut args = vec!["--control-stdin", "--quiet", "--workers", &workers];
        args.extend_from_slice(extra);
        ChildReceiver::spawn(&args, true)
    }

    /// Starts `<this executable> sink --listen 127.0.0.1:0` followed by `args`, with a stdin
    /// pipe and the `control ...` lines kept when `controlled`.
    fn spawn(args: &[&str], controlled: bool) -> Result<ChildReceiver, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the promrw executable: {e}"))?;
        let mut child = Command::new(&exe)
            .args(["sink", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(if controlled {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the receiver child {}: {e}", exe.display()))?;
        let stdout = child.stdout.take();
        let stdin = child.stdin.take();
        let (answers_tx, answers) = mpsc::channel();
        // From here on, dropping `receiver` kills the child.
        let mut receiver = ChildReceiver {
            child,
            url: String::new(),
            stdin,
            answers: controlled.then_some(answers),
        };
        let stdout = stdout.ok_or("the receiver child has no stdout pipe")?;
        let (first_line, first_line_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("bench-sink-stdout".into())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = first_line.send(lines.next());
                for line in lines.map_while(Result::ok) {
                    if controlled && line.starts_with("control ") {
                        let _ = answers_tx.send(line);
                    } else if controlled {
                        eprintln!("promrw: sink: {line}");
                    } else {
                        eprintln!("promrw bench: sink: {line}");
                    }
                }
            })
            .map_err(|e| format!("cannot start the thread reading the receiver's output: {e}"))?;
        let line = match first_line_rx.recv_timeout(SINK_START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(Some(Err(e))) => {
                return Err(format!("cannot read the receiver child's output: {e}"));
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the receiver child exited before printing its URL".into());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the receiver child did not print its URL within {SINK_START_TIMEOUT:?}"
                ));
            }
        };
        receiver.url = line
            .strip_prefix("listening on ")
            .map(|url| url.trim().to_string())
            .ok_or_else(|| format!("unexpected first line from the receiver child: {line:?}"))?;
        Ok(receiver)
    }

    /// Sends a `--control-stdin` command and returns what follows `control ok <command>` in
    /// its answer (empty but for `totals`); fails on `control error`, or when no answer comes
    /// within [`SINK_START_TIMEOUT`].
    pub(crate) fn control(&mut self, command: &str) -> Result<String, String> {
        use std::io::Write as _;
        let (Some(stdin), Some(answers)) = (self.stdin.as_mut(), self.answers.as_ref()) else {
            return Err("the receiver child was not started with --control-stdin".into());
        };
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot send {command:?} to the receiver child: {e}"))?;
        let answer = answers.recv_timeout(SINK_START_TIMEOUT).map_err(|_| {
            format!("the receiver child did not answer {command:?} within {SINK_START_TIMEOUT:?}")
        })?;
        match answer.strip_prefix(&format!("control ok {command}")) {
            Some(rest) => Ok(rest.trim().to_string()),
            None => Err(format!(
                "the receiver child answered {command:?} with {answer:?}"
            )),
        }
    }

    /// Fails when the child has already exited (it should run until killed).
    pub(crate) fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the receiver child exited early: {status}")),
            Err(e) => Err(format!("cannot check the receiver child: {e}")),
        }
    }
}

impl Drop for ChildReceiver {
    fn drop(&mut self) {
        // Kill by the child's own handle (its PID), then reap it. Both are no-ops when the child
        // was already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Figures of one promrw run (the measured section only).
#[derive(Debug, Clone, Copy)]
struct RunFigures {
    /// Where its queue lived.
    mode: Mode,
    /// Wall time of register + append + flush.
    wall: Duration,
    /// Wall time of register + append alone (the rest is waiting for the last acks).
    appended: Duration,
    /// CPU time (user + system, all threads of this process) over the same section.
    cpu: Duration,
    /// CPU time of the producer threads (registering and appending).
    producers_cpu: Duration,
    /// CPU time of the shard threads (batching, encoding, sending), when readable.
    shards_cpu: Option<Duration>,
    /// CPU time of the WAL writer thread (WAL mode), when readable.
    writer_cpu: Option<Duration>,
    /// CPU time of the endpoint's feeder thread (WAL mode), when readable.
    feeder_cpu: Option<Duration>,
    /// What the WAL wrote (WAL mode).
    wal: Option<WalFigures>,
    /// Compressed bytes acknowledged by the receiver.
    bytes_sent: u64,
    /// Requests acknowledged.
    batches: u64,
    /// Samples in retried attempts (0 unless the receiver refused requests for a while).
    retried: u64,
    /// Mean duration of one HTTP attempt (from the sender's batch-duration histogram).
    mean_request: Option<Duration>,
    /// Peak RSS of the process after the run.
    peak_rss: u64,
}

/// What the WAL wrote in one run.
#[derive(Debug, Clone, Copy)]
struct WalFigures {
    /// Bytes the writer thread passed to `write(2)` over the measured section: the segment
    /// bytes (`wchar` of `/proc/self/task/<writer>/io`); `None` without per-task I/O
    /// accounting.
    writer_wchar: Option<u64>,
    /// Bytes of the segment files in the run's `wal/` after close (segments the sender
    /// deleted during the run are not in it).
    segment_bytes: u64,
    /// Segment files after close.
    segments: usize,
    /// Bytes of page cache the whole process dirtied from opening the sender to closing it
    /// (`write_bytes` of `/proc/self/io`: segments, cursors, and the last page of a segment
    /// again after each fsync of it); `None` without I/O accounting.
    dirtied: Option<u64>,
}

/// Figures of one naive-encoder run.
#[derive(Debug, Clone, Copy)]
struct NaiveFigures {
    /// CPU time of the encoding thread.
    cpu: Duration,
    /// Compressed bytes produced.
    bytes: u64,
}

/// Figures of the backlog drain.
#[derive(Debug, Clone, Copy)]
struct BacklogFigures {
    /// Series of the backlog.
    series: usize,
    /// Rounds of the backlog.
    rounds: usize,
    /// Bytes of the segment files holding it, once it was left on disk.
    disk_bytes: u64,
    /// Wall time of `Sender::new` on the directory (locking it, scanning the segments).
    open_wall: Duration,
    /// Wall time from before `Sender::new` to the end of the flush that delivered everything.
    drain_wall: Duration,
    /// Process CPU over the same interval.
    drain_cpu: Duration,
    /// CPU of the feeder thread over the drain, when readable.
    feeder_cpu: Option<Duration>,
    /// Requests acknowledged in the drain.
    batches: u64,
    /// Compressed bytes acknowledged in the drain.
    bytes_sent: u64,
}

/// Removes a directory (with its contents) when dropped, so error paths clean up too.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.producers == 0
        || args.shards == 0
        || args.max_samples_per_send == 0
        || args.runs == 0
        || args.rounds == 0
    {
        return Err(
            "--producers, --shards, --max-samples-per-send, --runs and --rounds must be greater than 0"
                .into(),
        );
    }
    if args.histograms {
        return run_histogram_rounds(&args);
    }
    let workload = Workload {
        rounds: args.rounds,
        ..Workload::W1
    };
    if args.producers > workload.series {
        return Err(format!(
            "--producers must not exceed the {} series",
            workload.series
        ));
    }
    let backlog = args.wal.is_some() && args.backlog_samples > 0;
    if backlog && args.url.is_some() {
        return Err(
            "the backlog drain starts its own receivers: give --backlog-samples 0 with --url"
                .into(),
        );
    }
    // The WAL runs' parent directory: created when missing, and removed at the end if it was
    // (and is empty again).
    let wal_parent = match &args.wal {
        None => None,
        Some(dir) => {
            let existed = dir.exists();
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("--wal {}: cannot create it: {e}", dir.display()))?;
            Some((dir.clone(), !existed))
        }
    };
    let result = run_rounds(
        &args,
        &workload,
        wal_parent.as_ref().map(|(dir, _)| dir.as_path()),
    );
    if let Some((dir, true)) = &wal_parent {
        let _ = std::fs::remove_dir(dir);
    }
    result
}

/// The rounds, the summaries and (with `--wal`) the backlog drain.
fn run_rounds(args: &BenchArgs, workload: &Workload, wal_dir: Option<&Path>) -> Result<(), String> {
    let samples = workload.samples() as u64;
    let modes = Mode::round(wal_dir.is_some(), args.relabel, args.rw2);
    println!(
        "promrw bench: workload W1 ({} series x {} rounds {} ms apart = {samples} samples), {} producer(s) using {}, {} shard(s), max_samples_per_send {}, {} run(s){}",
        workload.series,
        workload.rounds,
        workload.step_ms,
        args.producers,
        match args.api {
            AppendApi::Append => "append (one call per sample)",
            AppendApi::Batch => "append_batch (one call per round)",
        },
        args.shards,
        args.max_samples_per_send,
        args.runs,
        match wal_dir {
            Some(dir) => format!(
                " of {} interleaved, WAL runs in fresh subdirectories of {}",
                modes
                    .iter()
                    .map(|m| m.label())
                    .collect::<Vec<_>>()
                    .join(", "),
                dir.display()
            ),
            None if modes.len() > 1 => format!(
                " of {} interleaved",
                modes
                    .iter()
                    .map(|m| m.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        }
    );
    println!("machine: {}", machine_description());

    match &args.url {
        None => println!(
            "receiver: a fresh promrw sink child process per run, on 127.0.0.1 (as in real use: not warmed by earlier runs)"
        ),
        Some(url) => println!("receiver: {url} (given with --url)"),
    }
    println!("{}", "-".repeat(100));

    // The baseline's label sets, built once and only read.
    let naive_labels: Vec<Labels> = (0..workload.series).map(|i| workload.labels(i)).collect();
    let rss_before = process_usage().peak_rss;
    // Per round, one figure per mode (in `modes` order).
    let mut rounds: Vec<Vec<RunFigures>> = Vec::with_capacity(args.runs);
    let mut naive_runs = Vec::with_capacity(args.runs);
    let total_runs = args.runs * modes.len();
    let mut started = 0;
    for run in 0..args.runs {
        let naive_first_ts = now_ms()?;
        let naive = run_naive(
            workload,
            &naive_labels,
            naive_first_ts,
            args.max_samples_per_send,
        );
        println!(
            "run {}: naive encoder  {:.3} µs CPU/sample ({:.3} s CPU, 1 thread), {:.2} bytes/sample",
            run + 1,
            us_per_sample(naive.cpu, samples),
            naive.cpu.as_secs_f64(),
            naive.bytes as f64 / samples as f64
        );
        // Odd rounds run the modes in reverse, so no mode always runs first (or last) in a
        // round: whatever one run leaves behind (heap, page cache, CPU frequency) weighs on
        // each mode alike.
        let order: Vec<usize> = if run % 2 == 0 {
            (0..modes.len()).collect()
        } else {
            (0..modes.len()).rev().collect()
        };
        let mut by_mode: Vec<Option<RunFigures>> = vec![None; modes.len()];
        for m in order {
            let mode = modes[m];
            // Each run's timestamps come after the previous run's, so a receiver that keeps
            // per-series order never sees duplicates: run k of N starts (N - k) x the
            // workload's span ago, and the last run starts one span before now.
            let runs_left = (total_runs - started) as i64;
            started += 1;
            let first_ts = now_ms()? - runs_left * workload.rounds as i64 * workload.step_ms;
            let labels = split_labels(workload, args.producers);
            let run_dir = wal_dir.map(|dir| {
                dir.join(format!(
                    "run-{}-{}-{}",
                    std::process::id(),
                    started,
                    mode.label()
                ))
            });
            let mut sink = match &args.url {
                Some(_) => None,
                None => Some(ChildReceiver::start(&[])?),
            };
            let url = match (&args.url, &sink) {
                (Some(url), _) => url.clone(),
                (None, Some(sink)) => sink.url.clone(),
                (None, None) => unreachable!("a receiver child is started when no URL is given"),
            };
            let figures = run_promrw(
                args,
                &url,
                workload,
                first_ts,
                labels,
                mode,
                run_dir.as_deref(),
            )?;
            if let Some(sink) = sink.as_mut() {
                sink.check_alive()?;
            }
            by_mode[m] = Some(figures);
        }
        let round: Vec<RunFigures> = by_mode
            .into_iter()
            .map(|figures| figures.expect("every mode ran this round"))
            .collect();
        for (m, figures) in round.iter().enumerate() {
            let name = if modes.len() > 1 {
                modes[m].label()
            } else {
                "promrw"
            };
            let memory = if m == 0 { None } else { round.first() };
            print_run(run + 1, name, figures, samples, naive.cpu, memory);
        }
        rounds.push(round);
        naive_runs.push(naive);
    }

    println!("{}", "-".repeat(100));
    let memory_runs: Vec<RunFigures> = rounds.iter().map(|round| round[0]).collect();
    summarise(&memory_runs, &naive_runs, samples, rss_before);
    if let Some(m) = modes.iter().position(|&mode| mode == Mode::Relabel) {
        summarise_relabel(&rounds, m, samples);
    }
    if let Some(m) = modes.iter().position(|&mode| mode == Mode::Rw2) {
        summarise_rw2(&rounds, m, samples);
    }
    if wal_dir.is_some() {
        let wal_modes: Vec<usize> = (0..modes.len())
            .filter(|&m| m == 0 || matches!(modes[m], Mode::Wal(_)))
            .collect();
        let wal_rounds: Vec<Vec<RunFigures>> = rounds
            .iter()
            .map(|round| wal_modes.iter().map(|&m| round[m]).collect())
            .collect();
        let modes: Vec<Mode> = wal_modes.iter().map(|&m| modes[m]).collect();
        summarise_wal(&wal_rounds, &modes, samples);
    }

    if let (Some(dir), true) = (wal_dir, args.backlog_samples > 0) {
        println!("{}", "-".repeat(100));
        let figures = run_backlog(args, dir, args.backlog_samples)?;
        let memory_rate = median(
            &memory_runs
                .iter()
                .map(|r| samples as f64 / r.wall.as_secs_f64())
                .collect::<Vec<_>>(),
        );
        print_backlog(&figures, memory_rate);
    }
    Ok(())
}

/// Prints one run's lines; `memory` is the memory-mode run of the same round (for a WAL run's
/// ratio).
fn print_run(
    run: usize,
    name: &str,
    figures: &RunFigures,
    samples: u64,
    naive_cpu: Duration,
    memory: Option<&RunFigures>,
) {
    let cpu_us = us_per_sample(figures.cpu, samples);
    println!(
        "run {run}: {name:<14} {:.0} samples/s ({:.3} s wall: register + append {:.3} s, final flush {:.3} s), {:.3} µs CPU/sample = {:.3} CPU s per million samples ({:.2}x naive{})",
        samples as f64 / figures.wall.as_secs_f64(),
        figures.wall.as_secs_f64(),
        figures.appended.as_secs_f64(),
        (figures.wall - figures.appended).as_secs_f64(),
        cpu_us,
        figures.cpu.as_secs_f64() / (samples as f64 / 1e6),
        cpu_us / us_per_sample(naive_cpu, samples),
        match memory {
            Some(memory) if figures.mode != Mode::Memory => format!(
                ", {:.2}x memory mode",
                figures.cpu.as_secs_f64() / memory.cpu.as_secs_f64()
            ),
            _ => String::new(),
        }
    );
    let per_sample = |cpu: Option<Duration>| {
        cpu.map_or("unknown".to_string(), |cpu| {
            format!("{:.3} µs/sample", us_per_sample(cpu, samples))
        })
    };
    let wal_threads = match figures.mode {
        Mode::Memory | Mode::Relabel | Mode::Rw2 => String::new(),
        Mode::Wal(_) => format!(
            ", WAL writer thread {}, feeder thread {}",
            per_sample(figures.writer_cpu),
            per_sample(figures.feeder_cpu)
        ),
    };
    println!(
        "       {name:<14} of which producer threads {:.3} µs/sample, shard threads {}{wal_threads}",
        us_per_sample(figures.producers_cpu, samples),
        per_sample(figures.shards_cpu),
    );
    println!(
        "       {name:<14} {:.2} bytes/sample on the wire in {} requests ({} samples retried, {} per request on average), peak RSS {:.1} MiB",
        figures.bytes_sent as f64 / samples as f64,
        figures.batches,
        figures.retried,
        figures
            .mean_request
            .map_or("unknown".to_string(), |d| format!(
                "{:.1} ms",
                d.as_secs_f64() * 1e3
            )),
        mib(figures.peak_rss)
    );
    if let Some(wal) = &figures.wal {
        let per = |bytes: Option<u64>| {
            bytes.map_or("unknown".to_string(), |b| {
                format!("{:.2}", b as f64 / samples as f64)
            })
        };
        println!(
            "       {name:<14} WAL {} bytes/sample written to segments (writer thread's write(2) bytes), {:.2} bytes/sample in {} segment file(s) after close, {} bytes/sample of page cache dirtied (process write_bytes, open to close)",
            per(wal.writer_wchar),
            wal.segment_bytes as f64 / samples as f64,
            wal.segments,
            per(wal.dirtied),
        );
    }
}

/// Prints the best and median figures, the ratios against the baseline and the target check.
/// `rss_before` is the peak RSS before the first run, once the baseline's label sets exist.
fn summarise(
    promrw_runs: &[RunFigures],
    naive_runs: &[NaiveFigures],
    samples: u64,
    rss_before: u64,
) {
    let rates: Vec<f64> = promrw_runs
        .iter()
        .map(|r| samples as f64 / r.wall.as_secs_f64())
        .collect();
    let cpu: Vec<f64> = promrw_runs
        .iter()
        .map(|r| us_per_sample(r.cpu, samples))
        .collect();
    let naive: Vec<f64> = naive_runs
        .iter()
        .map(|r| us_per_sample(r.cpu, samples))
        .collect();
    let bytes: Vec<f64> = promrw_runs
        .iter()
        .map(|r| r.bytes_sent as f64 / samples as f64)
        .collect();
    let naive_bytes = naive_runs[0].bytes as f64 / samples as f64;
    let peak_rss = promrw_runs.iter().map(|r| r.peak_rss).max().unwrap_or(0);
    let (best_cpu, median_cpu) = (min(&cpu), median(&cpu));
    let (best_naive, median_naive) = (min(&naive), median(&naive));
    println!(
        "throughput:      best {:.0} samples/s, median {:.0} samples/s (wall, register + append + flush)",
        max(&rates),
        median(&rates)
    );
    println!(
        "CPU per sample:  best {best_cpu:.3} µs ({best_cpu:.3} CPU s per million samples), median {median_cpu:.3} µs (user + sys of the sender process, all threads)"
    );
    println!(
        "naive baseline:  best {best_naive:.3} µs, median {median_naive:.3} µs CPU per sample (prost messages + encode_to_vec + snappy, 1 thread, encoding only)"
    );
    println!(
        "ratio to naive:  best {:.2}x, median {:.2}x (promrw end to end / naive encoding only; below 1 is cheaper)",
        best_cpu / best_naive,
        median_cpu / median_naive
    );
    println!(
        "wire bytes:      {:.2} bytes/sample (median; naive encoder {naive_bytes:.2}, ratio {:.3})",
        median(&bytes),
        median(&bytes) / naive_bytes
    );
    println!(
        "peak RSS:        {:.1} MiB (whole process; {:.1} MiB before the first run, with the baseline's label sets built)",
        mib(peak_rss),
        mib(rss_before)
    );
    println!("target: <= {TARGET_US_PER_SAMPLE} µs CPU per sample end to end");
    if median_cpu <= TARGET_US_PER_SAMPLE {
        println!(
            "target MET: median {median_cpu:.3} µs <= {TARGET_US_PER_SAMPLE} µs (best {best_cpu:.3} µs)"
        );
    } else {
        println!(
            "target NOT MET: median {median_cpu:.3} µs > {TARGET_US_PER_SAMPLE} µs (best {best_cpu:.3} µs, {:.2}x the target)",
            median_cpu / TARGET_US_PER_SAMPLE
        );
    }
}

/// Prints the `--relabel` runs' CPU per sample against the memory-mode run (no rules) of the
/// same round, and the target check. `rounds[r][m]` is round `r`'s relabel run.
fn summarise_relabel(rounds: &[Vec<RunFigures>], m: usize, samples: u64) {
    let ratios: Vec<f64> = rounds
        .iter()
        .map(|round| round[m].cpu.as_secs_f64() / round[0].cpu.as_secs_f64())
        .collect();
    let cpu = |index: usize| {
        median(
            &rounds
                .iter()
                .map(|round| us_per_sample(round[index].cpu, samples))
                .collect::<Vec<_>>(),
        )
    };
    let (memory, relabel) = (cpu(0), cpu(m));
    let ratio = median(&ratios);
    println!(
        "relabel, medians of {} interleaved round(s): without rules {memory:.3} µs, with the 5 rules {relabel:.3} µs CPU per sample = {ratio:.3}x (median of the per-round ratios; {:.3}x the ratio of the medians); per-round ratios {}",
        rounds.len(),
        relabel / memory,
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "target (relabel): {} {TARGET_RELABEL_CPU_RATIO}x: {ratio:.3}x",
        if ratio <= TARGET_RELABEL_CPU_RATIO {
            "MET, <="
        } else {
            "NOT MET, >"
        }
    );
}

/// Prints the `--rw2` runs' CPU and wire bytes per sample against the 1.0 memory-mode run of
/// the same round, and the target checks. `rounds[r][m]` is round `r`'s 2.0 run.
fn summarise_rw2(rounds: &[Vec<RunFigures>], m: usize, samples: u64) {
    let ratios: Vec<f64> = rounds
        .iter()
        .map(|round| round[m].cpu.as_secs_f64() / round[0].cpu.as_secs_f64())
        .collect();
    let column = |index: usize, f: &dyn Fn(&RunFigures) -> f64| {
        median(
            &rounds
                .iter()
                .map(|round| f(&round[index]))
                .collect::<Vec<_>>(),
        )
    };
    let cpu = |r: &RunFigures| us_per_sample(r.cpu, samples);
    let shards = |r: &RunFigures| r.shards_cpu.map_or(f64::NAN, |c| us_per_sample(c, samples));
    let producers = |r: &RunFigures| us_per_sample(r.producers_cpu, samples);
    let bytes = |r: &RunFigures| r.bytes_sent as f64 / samples as f64;
    let ratio = median(&ratios);
    let (v1_bytes, v2_bytes) = (column(0, &bytes), column(m, &bytes));
    println!(
        "rw2, medians of {} interleaved round(s): 1.0 {:.3} µs, 2.0 {:.3} µs CPU per sample = {ratio:.3}x (median of the per-round ratios; {:.3}x the ratio of the medians); per-round ratios {}",
        rounds.len(),
        column(0, &cpu),
        column(m, &cpu),
        column(m, &cpu) / column(0, &cpu),
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "rw2, of which: producer threads 1.0 {:.3} µs, 2.0 {:.3} µs; shard threads 1.0 {:.3} µs, 2.0 {:.3} µs per sample",
        column(0, &producers),
        column(m, &producers),
        column(0, &shards),
        column(m, &shards),
    );
    println!(
        "rw2, wire bytes per sample (compressed bytes acknowledged / samples, medians): 1.0 {v1_bytes:.2}, 2.0 {v2_bytes:.2} = {:.3}x",
        v2_bytes / v1_bytes
    );
    let verdict = |met: bool| if met { "MET, <=" } else { "NOT MET, >" };
    println!(
        "target (rw2, bytes): {} {TARGET_RW2_BYTES_PER_SAMPLE} bytes/sample: {v2_bytes:.2}",
        verdict(v2_bytes <= TARGET_RW2_BYTES_PER_SAMPLE)
    );
    println!(
        "target (rw2, CPU): {} {TARGET_RW2_CPU_RATIO}x 1.0's CPU per sample: {ratio:.3}x",
        verdict(ratio <= TARGET_RW2_CPU_RATIO)
    );
}

/// Figures of one histogram-workload run (the measured section only).
#[derive(Debug, Clone, Copy)]
struct HistogramFigures {
    /// Wall time of register + append + flush.
    wall: Duration,
    /// CPU time (user + system, all threads of this process) over the same section.
    cpu: Duration,
    /// CPU time of the producer threads.
    producers_cpu: Duration,
    /// CPU time of the shard threads, when readable.
    shards_cpu: Option<Duration>,
    /// Compressed bytes acknowledged by the receiver.
    bytes_sent: u64,
    /// Requests acknowledged.
    batches: u64,
    /// Peak RSS of the process after the run.
    peak_rss: u64,
}

/// What one histogram producer appends: its series' labels (with their index) and, per
/// round, their histograms in the same order (built before the measured section).
type HistogramShare = (Vec<(usize, Labels)>, Vec<Vec<Histogram>>);

/// `--histograms`: the histogram workload in 1.0 and 2.0, interleaved, each run against a
/// fresh receiver; then the summary.
fn run_histogram_rounds(args: &BenchArgs) -> Result<(), String> {
    let workload = HistogramWorkload {
        rounds: args.rounds,
        ..HistogramWorkload::H1
    };
    if args.producers > workload.series {
        return Err(format!(
            "--producers must not exceed the {} series",
            workload.series
        ));
    }
    let histograms = workload.histograms() as u64;
    let messages = [ProtobufMessage::V1, ProtobufMessage::V2];
    println!(
        "promrw bench --histograms: {} native histogram series (schema 3, {} positive buckets in one span, integer counts) x {} rounds {} ms apart = {histograms} histograms, {} producer(s) using append_histogram, {} shard(s), max_samples_per_send {}, {} run(s) of 1.0 (send_native_histograms: true) and 2.0 interleaved",
        workload.series,
        workload.buckets,
        workload.rounds,
        workload.step_ms,
        args.producers,
        args.shards,
        args.max_samples_per_send,
        args.runs,
    );
    println!("machine: {}", machine_description());
    match &args.url {
        None => println!("receiver: a fresh promrw sink child process per run, on 127.0.0.1"),
        Some(url) => println!("receiver: {url} (given with --url)"),
    }
    println!("{}", "-".repeat(100));
    let total_runs = args.runs * messages.len();
    let mut started = 0;
    let mut rounds: Vec<[HistogramFigures; 2]> = Vec::with_capacity(args.runs);
    for run in 0..args.runs {
        let order: [usize; 2] = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut by_message: [Option<HistogramFigures>; 2] = [None, None];
        for m in order {
            let runs_left = (total_runs - started) as i64;
            started += 1;
            let first_ts = now_ms()? - runs_left * workload.rounds as i64 * workload.step_ms;
            let shares = split_histograms(&workload, args.producers);
            let mut sink = match &args.url {
                Some(_) => None,
                None => Some(ChildReceiver::start(&[])?),
            };
            let url = match (&args.url, &sink) {
                (Some(url), _) => url.clone(),
                (None, Some(sink)) => sink.url.clone(),
                (None, None) => unreachable!("a receiver child is started when no URL is given"),
            };
            let figures =
                run_promrw_histograms(args, &url, &workload, first_ts, shares, messages[m])?;
            if let Some(sink) = sink.as_mut() {
                sink.check_alive()?;
            }
            by_message[m] = Some(figures);
        }
        let round = by_message.map(|f| f.expect("both protocols ran this round"));
        for (m, figures) in round.iter().enumerate() {
            print_histogram_run(run + 1, messages[m], figures, histograms, &round[0]);
        }
        rounds.push(round);
    }
    println!("{}", "-".repeat(100));
    summarise_histograms(&rounds, histograms);
    Ok(())
}

/// The histogram workload's series split into `producers` contiguous ranges, with their
/// histograms.
fn split_histograms(workload: &HistogramWorkload, producers: usize) -> Vec<HistogramShare> {
    (0..producers)
        .map(|p| {
            let range = (p * workload.series / producers)..((p + 1) * workload.series / producers);
            let labels = range.clone().map(|i| (i, workload.labels(i))).collect();
            let by_round = (0..workload.rounds)
                .map(|round| {
                    range
                        .clone()
                        .map(|i| workload.histogram(i, round))
                        .collect()
                })
                .collect();
            (labels, by_round)
        })
        .collect()
}

/// One histogram run: a fresh sender speaking `message`; the measured section is register +
/// append_histogram + flush. Fails unless every histogram was acknowledged in that protocol.
fn run_promrw_histograms(
    args: &BenchArgs,
    url: &str,
    workload: &HistogramWorkload,
    first_ts: i64,
    shares: Vec<HistogramShare>,
    message: ProtobufMessage,
) -> Result<HistogramFigures, String> {
    let config = sender_config(args, url, None, false, message, true)?;
    let sender = Sender::new(config).map_err(|e| format!("cannot start the sender: {e}"))?;
    let expected = workload.histograms() as u64;
    let shards_before = Threads::Shards.usage();
    let before = process_usage();
    let started = Instant::now();
    let producers_cpu = std::thread::scope(|scope| {
        let producers = shares
            .into_iter()
            .enumerate()
            .map(|(index, share)| {
                let sender = &sender;
                std::thread::Builder::new()
                    .name(format!("bench-producer-{index}"))
                    .spawn_scoped(scope, move || {
                        let before = thread_usage();
                        produce_histograms(sender, workload, first_ts, share)?;
                        Ok(thread_usage().cpu.saturating_sub(before.cpu))
                    })
                    .map_err(|e| format!("cannot start producer thread {index}: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        producers.into_iter().try_fold(Duration::ZERO, |sum, p| {
            let cpu: Result<Duration, String> = p
                .join()
                .map_err(|_| "a producer thread panicked".to_string())?;
            Ok::<_, String>(sum + cpu?)
        })
    })?;
    sender
        .flush(FLUSH_TIMEOUT)
        .map_err(|e| format!("flush: {e}"))?;
    let wall = started.elapsed();
    let after = process_usage();
    let shards = Threads::Shards.since(shards_before);
    let stats = sender.stats();
    sender
        .close(Duration::from_secs(10))
        .map_err(|e| format!("close: {e}"))?;
    drop(sender);
    let endpoint = stats
        .endpoints
        .first()
        .ok_or("the sender has no endpoint")?;
    check_protocol(endpoint, message)?;
    let rejected = stats.rejected_out_of_order
        + stats.rejected_queue_full
        + stats.rejected_unknown_series
        + stats.rejected_closed
        + stats.rejected_shard_dead
        + stats.rejected_io;
    let dropped: u64 = endpoint.histograms.dropped.iter().sum();
    if stats.samples_appended != expected
        || endpoint.histograms.acked != expected
        || endpoint.histograms.failed != 0
        || dropped != 0
        || endpoint.samples_acked != 0
        || endpoint.samples_failed != 0
        || endpoint.samples_dropped() != 0
        || rejected != 0
    {
        return Err(format!(
            "histogram delivery check failed ({}): appended {} (expected {expected}), histograms acked {} (expected {expected}), failed {}, dropped {dropped}; float samples acked {} (expected 0), failed {}, dropped {}; rejected {rejected}",
            protocol_name(message),
            stats.samples_appended,
            endpoint.histograms.acked,
            endpoint.histograms.failed,
            endpoint.samples_acked,
            endpoint.samples_failed,
            endpoint.samples_dropped()
        ));
    }
    Ok(HistogramFigures {
        wall,
        cpu: after.cpu.saturating_sub(before.cpu),
        producers_cpu,
        shards_cpu: shards.map(|s| s.cpu),
        bytes_sent: endpoint.bytes_total,
        batches: endpoint.batches_acked,
        peak_rss: after.peak_rss,
    })
}

/// One histogram producer: registers its series, then appends round after round.
fn produce_histograms(
    sender: &Sender,
    workload: &HistogramWorkload,
    first_ts: i64,
    (labels, by_round): HistogramShare,
) -> Result<(), String> {
    let refs = labels
        .into_iter()
        .map(|(_, labels)| sender.series(labels))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("register: {e}"))?;
    let options = SampleOptions::default();
    for (round, histograms) in by_round.iter().enumerate() {
        let ts = first_ts + round as i64 * workload.step_ms;
        for (&series, histogram) in refs.iter().zip(histograms) {
            sender
                .append_histogram(series, ts, histogram, &options)
                .map_err(|e| format!("append_histogram: {e}"))?;
        }
    }
    Ok(())
}

/// Prints one histogram run; `v1` is the 1.0 run of the same round (for 2.0's ratios).
fn print_histogram_run(
    run: usize,
    message: ProtobufMessage,
    figures: &HistogramFigures,
    histograms: u64,
    v1: &HistogramFigures,
) {
    let name = format!("histograms-{}", protocol_name(message));
    let ratios = match message {
        ProtobufMessage::V1 => String::new(),
        ProtobufMessage::V2 => format!(
            " ({:.3}x 1.0's CPU, {:.3}x its bytes)",
            figures.cpu.as_secs_f64() / v1.cpu.as_secs_f64(),
            figures.bytes_sent as f64 / v1.bytes_sent as f64
        ),
    };
    println!(
        "run {run}: {name:<14} {:.0} histograms/s ({:.3} s wall), {:.3} µs CPU/histogram (producer threads {:.3} µs, shard threads {}), {:.2} bytes/histogram on the wire in {} requests, peak RSS {:.1} MiB{ratios}",
        histograms as f64 / figures.wall.as_secs_f64(),
        figures.wall.as_secs_f64(),
        us_per_sample(figures.cpu, histograms),
        us_per_sample(figures.producers_cpu, histograms),
        figures
            .shards_cpu
            .map_or("unknown".to_string(), |c| format!(
                "{:.3} µs",
                us_per_sample(c, histograms)
            )),
        figures.bytes_sent as f64 / histograms as f64,
        figures.batches,
        mib(figures.peak_rss),
    );
}

/// Prints the histogram runs' medians for each protocol and 2.0's ratios to 1.0.
fn summarise_histograms(rounds: &[[HistogramFigures; 2]], histograms: u64) {
    let column = |m: usize, f: &dyn Fn(&HistogramFigures) -> f64| {
        median(&rounds.iter().map(|round| f(&round[m])).collect::<Vec<_>>())
    };
    let ratio = |f: &dyn Fn(&HistogramFigures) -> f64| {
        let ratios: Vec<f64> = rounds.iter().map(|r| f(&r[1]) / f(&r[0])).collect();
        (median(&ratios), ratios)
    };
    let cpu = |r: &HistogramFigures| us_per_sample(r.cpu, histograms);
    let bytes = |r: &HistogramFigures| r.bytes_sent as f64 / histograms as f64;
    let rate = |r: &HistogramFigures| histograms as f64 / r.wall.as_secs_f64();
    for (m, name) in ["1.0", "2.0"].iter().enumerate() {
        println!(
            "histograms {name}, medians of {} round(s): {:.3} µs CPU per histogram, {:.2} wire bytes per histogram (compressed bytes acknowledged / histograms), {:.0} histograms/s",
            rounds.len(),
            column(m, &cpu),
            column(m, &bytes),
            column(m, &rate),
        );
    }
    let (cpu_ratio, cpu_ratios) = ratio(&cpu);
    let (bytes_ratio, _) = ratio(&bytes);
    println!(
        "histograms 2.0 / 1.0: CPU per histogram {cpu_ratio:.3}x, wire bytes per histogram {bytes_ratio:.3}x (medians of the per-round ratios); per-round CPU ratios {} (no target: measured only)",
        cpu_ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Prints each WAL mode's figures against the memory-mode run of the same round, and the
/// WAL target check. `rounds[r][m]` is round `r`'s run of `modes[m]`; `modes[0]` is memory.
fn summarise_wal(rounds: &[Vec<RunFigures>], modes: &[Mode], samples: u64) {
    // The median over the rounds of `f(run of mode m, memory-mode run of the same round)`.
    let column_vs = |m: usize, f: &dyn Fn(&RunFigures, &RunFigures) -> Option<f64>| {
        let values: Option<Vec<f64>> = rounds.iter().map(|round| f(&round[m], &round[0])).collect();
        values.map(|v| median(&v))
    };
    let column = |m: usize, f: &dyn Fn(&RunFigures) -> Option<f64>| column_vs(m, &|r, _| f(r));
    let per_sample = |cpu: Option<Duration>| cpu.map(|cpu| us_per_sample(cpu, samples));
    let show_us = |value: Option<f64>| value.map_or("unknown".into(), |v| format!("{v:.3} µs"));
    let show_bytes = |value: Option<f64>| value.map_or("unknown".into(), |v| format!("{v:.2}"));
    let memory_cpu = column(0, &|r| Some(us_per_sample(r.cpu, samples))).unwrap_or(f64::NAN);
    println!(
        "WAL mode, medians of {} interleaved round(s); ratios are to the memory-mode run of the same round (median of the per-round ratios; the ratio of the medians in brackets):",
        rounds.len()
    );
    println!(
        "  {:<13} CPU per sample {memory_cpu:.3} µs, throughput {:.0} samples/s",
        "memory",
        column(0, &|r| Some(samples as f64 / r.wall.as_secs_f64())).unwrap_or(f64::NAN)
    );
    let mut interval = None;
    for (m, mode) in modes.iter().enumerate().skip(1) {
        let cpu = column(m, &|r| Some(us_per_sample(r.cpu, samples))).unwrap_or(f64::NAN);
        let ratio = column_vs(m, &|r, memory| {
            Some(r.cpu.as_secs_f64() / memory.cpu.as_secs_f64())
        })
        .unwrap_or(f64::NAN);
        let written = column(m, &|r| {
            r.wal
                .and_then(|w| w.writer_wchar)
                .map(|b| b as f64 / samples as f64)
        });
        let on_disk = column(m, &|r| {
            r.wal.map(|w| w.segment_bytes as f64 / samples as f64)
        });
        let dirtied = column(m, &|r| {
            r.wal
                .and_then(|w| w.dirtied)
                .map(|b| b as f64 / samples as f64)
        });
        println!(
            "  {:<13} CPU per sample {cpu:.3} µs = {ratio:.2}x memory ({:.2}x), throughput {:.0} samples/s; of which producers {}, shards {}, WAL writer {}, feeder {}",
            mode.label(),
            cpu / memory_cpu,
            column(m, &|r| Some(samples as f64 / r.wall.as_secs_f64())).unwrap_or(f64::NAN),
            show_us(column(m, &|r| Some(us_per_sample(
                r.producers_cpu,
                samples
            )))),
            show_us(column(m, &|r| per_sample(r.shards_cpu))),
            show_us(column(m, &|r| per_sample(r.writer_cpu))),
            show_us(column(m, &|r| per_sample(r.feeder_cpu))),
        );
        println!(
            "  {:<13} bytes per sample: {} written to segments (writer thread's write(2) bytes), {} in the segment files after close, {} of page cache dirtied (process write_bytes)",
            "",
            show_bytes(written),
            show_bytes(on_disk),
            show_bytes(dirtied),
        );
        if matches!(mode, Mode::Wal(FsyncPolicy::Interval(_))) {
            interval = Some((ratio, written.or(on_disk)));
        }
    }
    println!(
        "target (WAL, fsync interval): <= {TARGET_WAL_CPU_RATIO}x memory mode's CPU per sample and <= {TARGET_WAL_BYTES_PER_SAMPLE} bytes written per sample"
    );
    let Some((ratio, written)) = interval else {
        return;
    };
    let cpu_met = ratio <= TARGET_WAL_CPU_RATIO;
    let bytes_met = written.is_some_and(|b| b <= TARGET_WAL_BYTES_PER_SAMPLE);
    let bytes = written.map_or("unknown".into(), |b| format!("{b:.2}"));
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "target {}: CPU {ratio:.2}x {} {TARGET_WAL_CPU_RATIO}x ({}), {bytes} bytes/sample {} {TARGET_WAL_BYTES_PER_SAMPLE} ({})",
        if cpu_met && bytes_met {
            "MET"
        } else {
            "NOT MET"
        },
        if cpu_met { "<=" } else { ">" },
        verdict(cpu_met),
        if bytes_met { "<=" } else { ">" },
        verdict(bytes_met),
    );
}

/// Free bytes for unprivileged users on the file system holding `dir` (`statvfs`).
fn free_space(dir: &Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| format!("{}: the path contains a NUL byte", dir.display()))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a valid, zeroed statvfs that
    // statvfs only writes into; it is read only when the call succeeded. std has no API for
    // free space.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return Err(format!(
                "cannot read the free space of {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            ));
        }
        stat.assume_init()
    };
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// The backlog drain: logs `wanted` samples (W1's series, as many rounds as it takes) in WAL
/// mode while the receiver answers 503, closes with a short timeout (the samples stay on
/// disk), then times a new sender on the same directory delivering them all to a fresh
/// receiver.
fn run_backlog(args: &BenchArgs, dir: &Path, wanted: u64) -> Result<BacklogFigures, String> {
    let series = wanted.min(Workload::W1.series as u64) as usize;
    let workload = Workload {
        series,
        rounds: wanted.div_ceil(series as u64) as usize,
        step_ms: Workload::W1.step_ms,
    };
    let samples = workload.samples() as u64;
    let needed = samples * BACKLOG_BYTES_PER_SAMPLE_ESTIMATE + series as u64 * 512 + (64 << 20);
    let free = free_space(dir)?;
    if free < needed {
        return Err(format!(
            "not enough free space in {} for the backlog: {:.0} MiB free, about {:.0} MiB needed for {samples} samples ({BACKLOG_BYTES_PER_SAMPLE_ESTIMATE} bytes per sample, generously); free some space, give another --wal directory or fewer --backlog-samples (0 skips the backlog)",
            dir.display(),
            mib(free),
            mib(needed)
        ));
    }
    let max_bytes = BACKLOG_MAX_BYTES.max(2 * needed);
    let run_dir = dir.join(format!("backlog-{}", std::process::id()));
    std::fs::create_dir(&run_dir).map_err(|e| {
        format!(
            "cannot create the backlog's WAL directory {}: {e}",
            run_dir.display()
        )
    })?;
    let _remove = RemoveOnDrop(run_dir.clone());
    let wal = WalConfig {
        max_bytes,
        full: FullPolicy::Fail,
        ..WalConfig::new(&run_dir)
    };
    println!(
        "backlog: {samples} samples ({} series x {} rounds) in WAL mode (fsync interval 1s, max_bytes {:.0} MiB, full: fail) in {}; {:.0} MiB free there, about {:.0} MiB needed",
        workload.series,
        workload.rounds,
        mib(max_bytes),
        run_dir.display(),
        mib(free),
        mib(needed)
    );

    // Logged while every request is refused, then left on disk.
    let (append_wall, close_wall, refused_attempts) = {
        let refusing = ChildReceiver::start(&["--reject-with", "503"])?;
        println!(
            "backlog: receiver answering 503: promrw sink child process (pid {}) at {}",
            refusing.child.id(),
            refusing.url
        );
        let sender = Sender::new(sender_config(
            args,
            &refusing.url,
            Some(wal.clone()),
            false,
            ProtobufMessage::V1,
            false,
        )?)
        .map_err(|e| format!("cannot start the backlog's sender: {e}"))?;
        let first_ts = now_ms()? - workload.rounds as i64 * workload.step_ms;
        let labels = split_labels(&workload, args.producers.min(workload.series));
        let started = Instant::now();
        produce_all(&sender, args, &workload, first_ts, labels)?;
        let append_wall = started.elapsed();
        let closing = Instant::now();
        let closed = sender.close(BACKLOG_CLOSE_TIMEOUT);
        let close_wall = closing.elapsed();
        match closed {
            Err(e) if e.kind() == promrw::ErrorKind::Timeout => {}
            Ok(()) => {
                return Err(
                    "the backlog's close drained everything: the receiver did not refuse".into(),
                );
            }
            Err(e) => return Err(format!("close of the backlog's sender: {e}")),
        }
        let stats = sender.stats();
        check_delivery(&stats, samples, 0)?;
        let refused = stats.endpoints.first().map_or(0, |e| e.samples_retried);
        (append_wall, close_wall, refused)
    };
    let (disk_bytes, segments) = segment_files(&run_dir)?;
    let evicted = evict_segments(&run_dir);
    println!(
        "backlog: logged {samples} samples in {:.3} s ({:.0} samples/s, register + append, every request answered 503: {refused_attempts} samples in refused attempts); close({BACKLOG_CLOSE_TIMEOUT:?}) took {:.3} s and left them on disk: {:.1} MiB in {segments} segment file(s), {:.2} bytes/sample; {}",
        append_wall.as_secs_f64(),
        samples as f64 / append_wall.as_secs_f64(),
        close_wall.as_secs_f64(),
        mib(disk_bytes),
        disk_bytes as f64 / samples as f64,
        match evicted {
            Ok(()) => "evicted from the page cache (posix_fadvise DONTNEED), so the new sender reads them from the disk".to_string(),
            Err(e) => format!("NOT evicted from the page cache ({e}): the new sender may read them from memory"),
        }
    );

    // A fresh receiver and a new sender on the same directory: it sends the backlog first.
    let mut sink = ChildReceiver::start(&[])?;
    println!(
        "backlog: draining to a fresh promrw sink child process (pid {}) at {}",
        sink.child.id(),
        sink.url
    );
    let config = sender_config(
        args,
        &sink.url,
        Some(wal),
        false,
        ProtobufMessage::V1,
        false,
    )?;
    let before = process_usage();
    let started = Instant::now();
    let sender =
        Sender::new(config).map_err(|e| format!("cannot start the draining sender: {e}"))?;
    let open_wall = started.elapsed();
    sender
        .flush(DRAIN_TIMEOUT)
        .map_err(|e| format!("flush of the backlog: {e}"))?;
    let drain_wall = started.elapsed();
    let after = process_usage();
    // The feeder thread started with this sender: all its CPU is the drain's.
    let feeder_cpu = Threads::Feeder
        .usage()
        .filter(|usage| usage.threads > 0)
        .map(|usage| usage.cpu);
    let stats = sender.stats();
    sender
        .close(Duration::from_secs(10))
        .map_err(|e| format!("close of the draining sender: {e}"))?;
    sink.check_alive()?;
    check_delivery(&stats, 0, samples)?;
    let endpoint = stats
        .endpoints
        .first()
        .ok_or("the sender has no endpoint")?;
    Ok(BacklogFigures {
        series: workload.series,
        rounds: workload.rounds,
        disk_bytes,
        open_wall,
        drain_wall,
        drain_cpu: after.cpu.saturating_sub(before.cpu),
        feeder_cpu,
        batches: endpoint.batches_acked,
        bytes_sent: endpoint.bytes_total,
    })
}

/// Prints the backlog drain's figures; `memory_rate` is memory mode's median W1 throughput
/// of this invocation (bound by the receiver), for comparison.
fn print_backlog(figures: &BacklogFigures, memory_rate: f64) {
    let samples = (figures.series * figures.rounds) as u64;
    let rate = samples as f64 / figures.drain_wall.as_secs_f64();
    println!(
        "backlog drain:   {rate:.0} samples/s: {samples} samples ({:.1} MiB of segments) delivered in {:.3} s from Sender::new (which took {:.3} s) to the end of flush, {:.2}x memory mode's W1 throughput above; {:.3} µs CPU/sample (feeder thread {}), {} requests, {:.2} bytes/sample on the wire",
        mib(figures.disk_bytes),
        figures.drain_wall.as_secs_f64(),
        figures.open_wall.as_secs_f64(),
        rate / memory_rate,
        us_per_sample(figures.drain_cpu, samples),
        figures
            .feeder_cpu
            .map_or("unknown".to_string(), |cpu| format!(
                "{:.3} µs/sample",
                us_per_sample(cpu, samples)
            )),
        figures.batches,
        figures.bytes_sent as f64 / samples as f64,
    );
}

/// The bench endpoint's configuration: `--shards` shards, `--max-samples-per-send`, default
/// queue otherwise; in WAL mode with `wal`; speaking `message`, with
/// `send_native_histograms` as `native_histograms` (it matters to 1.0 only).
fn sender_config(
    args: &BenchArgs,
    url: &str,
    wal: Option<WalConfig>,
    relabel: bool,
    message: ProtobufMessage,
    native_histograms: bool,
) -> Result<Config, String> {
    let queue = QueueConfig {
        // Fixed: the figures are for `--shards` shards (`promrw shard-throughput` measures
        // resharding).
        min_shards: args.shards,
        max_shards: args.shards,
        max_samples_per_send: args.max_samples_per_send,
        capacity: QueueConfig::default()
            .capacity
            .max(args.max_samples_per_send),
        ..QueueConfig::default()
    };
    let mut endpoint = EndpointConfig::new(url).name("bench").queue(queue);
    endpoint.protobuf_message = message;
    endpoint.send_native_histograms = native_histograms;
    if relabel {
        let rules = WriteRelabelConfigs::new(workload::w1_relabel_rules())
            .map_err(|e| format!("the bench's relabel rules: {e}"))?;
        endpoint = endpoint.write_relabel_configs(rules);
    }
    let mut builder = Config::builder()
        .endpoint(endpoint)
        // Error paths drop the sender unclosed; do not wait a minute for them.
        .flush_deadline(Duration::from_secs(5));
    if let Some(wal) = wal {
        builder = builder.wal(wal);
    }
    builder.build().map_err(|e| format!("configuration: {e}"))
}

/// The CPU and I/O of the sender's threads of one kind, by name.
#[derive(Debug, Clone, Copy)]
enum Threads {
    /// The bench endpoint's shard threads (`promrw-bench-<index>`).
    Shards,
    /// Its feeder thread (WAL mode).
    Feeder,
    /// The WAL writer thread.
    Writer,
}

impl Threads {
    /// Their usage now (`None` where `/proc/self/task` is not readable).
    fn usage(self) -> Option<ThreadsUsage> {
        threads_usage(|name| match self {
            Threads::Shards => name.strip_prefix(SHARD_THREAD_PREFIX).is_some_and(|index| {
                !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())
            }),
            Threads::Feeder => name.starts_with(FEEDER_THREAD),
            Threads::Writer => name.starts_with(WRITER_THREAD),
        })
    }

    /// Their usage since `before` (`None` when either reading is, or none of them runs).
    fn since(self, before: Option<ThreadsUsage>) -> Option<ThreadsUsage> {
        self.usage()
            .zip(before)
            .map(|(after, before)| after.since(before))
            .filter(|usage| usage.threads > 0)
    }
}

/// Registers every series and appends every round with one thread per element of `labels`;
/// returns the producer threads' CPU time.
fn produce_all(
    sender: &Sender,
    args: &BenchArgs,
    workload: &Workload,
    first_ts: i64,
    labels: Vec<Vec<(usize, Labels)>>,
) -> Result<Duration, String> {
    std::thread::scope(|scope| {
        // Named threads, so that profiles tell producers from the baseline's main thread.
        let producers = labels
            .into_iter()
            .enumerate()
            .map(|(index, mine)| {
                std::thread::Builder::new()
                    .name(format!("bench-producer-{index}"))
                    .spawn_scoped(scope, move || {
                        let before = thread_usage();
                        produce(sender, workload, first_ts, mine, args.api)?;
                        Ok(thread_usage().cpu.saturating_sub(before.cpu))
                    })
                    .map_err(|e| format!("cannot start producer thread {index}: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        producers.into_iter().try_fold(Duration::ZERO, |sum, p| {
            let cpu: Result<Duration, String> = p
                .join()
                .map_err(|_| "a producer thread panicked".to_string())?;
            Ok::<_, String>(sum + cpu?)
        })
    })
}

/// One promrw run: a fresh sender; the measured section is register + append + flush. In
/// WAL mode the log lives in `run_dir` (created here, removed afterwards).
fn run_promrw(
    args: &BenchArgs,
    url: &str,
    workload: &Workload,
    first_ts: i64,
    labels: Vec<Vec<(usize, Labels)>>,
    mode: Mode,
    run_dir: Option<&Path>,
) -> Result<RunFigures, String> {
    // Declared before the sender, so dropped after it: error paths remove the directory too.
    let mut _remove = None;
    let wal = match (mode, run_dir) {
        (Mode::Memory | Mode::Relabel | Mode::Rw2, _) => None,
        (Mode::Wal(_), None) => unreachable!("WAL runs are given a directory"),
        (Mode::Wal(fsync), Some(dir)) => {
            std::fs::create_dir(dir).map_err(|e| {
                format!(
                    "cannot create the run's WAL directory {}: {e}",
                    dir.display()
                )
            })?;
            _remove = Some(RemoveOnDrop(dir.to_path_buf()));
            Some(WalConfig {
                fsync,
                ..WalConfig::new(dir)
            })
        }
    };
    let config = sender_config(args, url, wal, mode == Mode::Relabel, mode.message(), false)?;
    let io_before_open = process_io();
    let sender = Sender::new(config).map_err(|e| format!("cannot start the sender: {e}"))?;
    let expected = workload.samples() as u64;

    let shards_before = Threads::Shards.usage();
    let feeder_before = Threads::Feeder.usage();
    let writer_before = Threads::Writer.usage();
    let before = process_usage();
    let started = Instant::now();
    let producers_cpu = produce_all(&sender, args, workload, first_ts, labels)?;
    let appended = started.elapsed();
    sender
        .flush(FLUSH_TIMEOUT)
        .map_err(|e| format!("flush: {e}"))?;
    let wall = started.elapsed();
    let after = process_usage();
    let shards = Threads::Shards.since(shards_before);
    let feeder = Threads::Feeder.since(feeder_before);
    let writer = Threads::Writer.since(writer_before);

    let stats = sender.stats();
    let mean_request = mean_request_duration(&sender.metrics_text());
    sender
        .close(Duration::from_secs(10))
        .map_err(|e| format!("close: {e}"))?;
    let io_after_close = process_io();
    drop(sender);
    let endpoint = stats
        .endpoints
        .first()
        .ok_or("the sender has no endpoint")?;
    check_delivery(&stats, expected, expected)?;
    check_protocol(endpoint, mode.message())?;
    if endpoint.histograms.acked != 0 {
        return Err(format!(
            "{} run: {} histograms acknowledged in a float-sample workload",
            mode.label(),
            endpoint.histograms.acked
        ));
    }
    let wal = match run_dir {
        Some(dir) if matches!(mode, Mode::Wal(_)) => {
            let (segment_bytes, segments) = segment_files(dir)?;
            Some(WalFigures {
                writer_wchar: writer.and_then(|w| w.wchar),
                segment_bytes,
                segments,
                dirtied: io_before_open
                    .zip(io_after_close)
                    .map(|((_, before), (_, after))| after.saturating_sub(before)),
            })
        }
        _ => None,
    };
    Ok(RunFigures {
        mode,
        wall,
        appended,
        cpu: after.cpu.saturating_sub(before.cpu),
        producers_cpu,
        shards_cpu: shards.map(|s| s.cpu),
        writer_cpu: writer.map(|w| w.cpu),
        feeder_cpu: feeder.map(|f| f.cpu),
        wal,
        bytes_sent: endpoint.bytes_total,
        batches: endpoint.batches_acked,
        retried: endpoint.samples_retried,
        mean_request,
        peak_rss: after.peak_rss,
    })
}

/// Fails unless `appended` samples were accepted and `acked` acknowledged, with nothing
/// failed, dropped or refused.
pub(crate) fn check_delivery(stats: &SenderStats, appended: u64, acked: u64) -> Result<(), String> {
    let endpoint = stats
        .endpoints
        .first()
        .ok_or("the sender has no endpoint")?;
    let rejected = stats.rejected_out_of_order
        + stats.rejected_queue_full
        + stats.rejected_unknown_series
        + stats.rejected_closed
        + stats.rejected_shard_dead
        + stats.rejected_io;
    if stats.samples_appended != appended
        || endpoint.samples_acked != acked
        || endpoint.samples_failed != 0
        || endpoint.samples_dropped() != 0
        || rejected != 0
    {
        return Err(format!(
            "delivery check failed: appended {} (expected {appended}), acked {} (expected {acked}), failed {}, dropped {}, rejected {rejected}",
            stats.samples_appended,
            endpoint.samples_acked,
            endpoint.samples_failed,
            endpoint.samples_dropped()
        ));
    }
    Ok(())
}

/// The protocol a run's requests were sent in, as [`EndpointStats::remote_write_protocol`]
/// names it.
fn protocol_name(message: ProtobufMessage) -> &'static str {
    match message {
        ProtobufMessage::V1 => "1.0",
        ProtobufMessage::V2 => "2.0",
    }
}

/// Fails unless the endpoint still speaks the protocol it was configured with: a 2.0 run
/// whose endpoint fell back to 1.0 (the receiver refused 2.0 or answered without the Written
/// headers) measured 1.0, not 2.0.
fn check_protocol(
    endpoint: &promrw::EndpointStats,
    message: ProtobufMessage,
) -> Result<(), String> {
    let wanted = protocol_name(message);
    if endpoint.remote_write_protocol != wanted {
        return Err(format!(
            "protocol check failed: the endpoint was configured for Remote Write {wanted} but its requests were {} (the receiver did not accept {wanted}?); the run measured the wrong protocol",
            endpoint.remote_write_protocol
        ));
    }
    Ok(())
}

/// Asks the kernel to drop the segment files of `dir/wal/` from the page cache (they were
/// fsync'd, so their pages are clean), so that reading them back reads the disk.
fn evict_segments(dir: &Path) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let wal = dir.join("wal");
    let entries =
        std::fs::read_dir(&wal).map_err(|e| format!("cannot list {}: {e}", wal.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", wal.display()))?
            .path();
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: `file` is an open descriptor for the whole call; posix_fadvise only reads
        // its arguments and gives the kernel advice.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            return Err(format!(
                "posix_fadvise {}: {}",
                path.display(),
                std::io::Error::from_raw_os_error(rc)
            ));
        }
    }
    Ok(())
}

/// The total size and the number of the segment files in `dir/wal/`.
fn segment_files(dir: &Path) -> Result<(u64, usize), String> {
    let wal = dir.join("wal");
    let entries =
        std::fs::read_dir(&wal).map_err(|e| format!("cannot list {}: {e}", wal.display()))?;
    let mut bytes = 0;
    let mut count = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", wal.display()))?;
        let name = entry.file_name();
        let is_segment = name.len() == 16
            && name
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()));
        if is_segment {
            bytes += entry
                .metadata()
                .map_err(|e| format!("cannot stat {}: {e}", entry.path().display()))?
                .len();
            count += 1;
        }
    }
    Ok((bytes, count))
}

/// One producer: registers its series, then appends round after round (as a scrape loop does),
/// sample by sample or one batch per round.
fn produce(
    sender: &Sender,
    workload: &Workload,
    first_ts: i64,
    mine: Vec<(usize, Labels)>,
    api: AppendApi,
) -> Result<(), String> {
    let refs = mine
        .into_iter()
        .map(|(i, labels)| sender.series(labels).map(|r| (i, r)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("register: {e}"))?;
    let mut batch = Vec::with_capacity(refs.len());
    for round in 0..workload.rounds {
        let ts = first_ts + round as i64 * workload.step_ms;
        match api {
            AppendApi::Append => {
                for &(i, series) in &refs {
                    sender
                        .append(series, ts, workload.value(i, round))
                        .map_err(|e| format!("append: {e}"))?;
                }
            }
            AppendApi::Batch => {
                batch.clear();
                batch.extend(refs.iter().map(|&(i, series)| Sample {
                    series,
                    timestamp_ms: ts,
                    value: workload.value(i, round),
                }));
                let (accepted, result) = sender.append_batch(&batch);
                result.map_err(|e| format!("append_batch (sample {accepted}): {e}"))?;
            }
        }
    }
    Ok(())
}

/// The label sets of every series, split into `producers` contiguous ranges.
fn split_labels(workload: &Workload, producers: usize) -> Vec<Vec<(usize, Labels)>> {
    (0..producers)
        .map(|p| {
            let range = (p * workload.series / producers)..((p + 1) * workload.series / producers);
            range.map(|i| (i, workload.labels(i))).collect()
        })
        .collect()
}

/// The baseline: encodes the same samples, in the same order and batch size, as prost
/// messages with one `TimeSeries` (owning its label strings) per sample, then snappy; measured
/// with the CPU time of this thread.
fn run_naive(
    workload: &Workload,
    labels: &[Labels],
    first_ts: i64,
    batch_size: usize,
) -> NaiveFigures {
    let before = thread_usage();
    let mut snappy = snap::raw::Encoder::new();
    let mut request = proto::WriteRequest::default();
    let mut bytes = 0u64;
    for round in 0..workload.rounds {
        let ts = first_ts + round as i64 * workload.step_ms;
        for (i, series_labels) in labels.iter().enumerate() {
            request.timeseries.push(proto::TimeSeries::single(
                series_labels,
                ts,
                workload.value(i, round),
            ));
            if request.timeseries.len() == batch_size {
                bytes += naive_send(&mut snappy, &mut request);
            }
        }
    }
    if !request.timeseries.is_empty() {
        bytes += naive_send(&mut snappy, &mut request);
    }
    let after = thread_usage();
    NaiveFigures {
        cpu: after.cpu.saturating_sub(before.cpu),
        bytes,
    }
}

/// Encodes and compresses the request, clears it, and returns the compressed size.
fn naive_send(snappy: &mut snap::raw::Encoder, request: &mut proto::WriteRequest) -> u64 {
    let raw = request.encode_to_vec();
    let compressed = snappy
        .compress_vec(&raw)
        .expect("snappy compresses any batch-sized input");
    request.timeseries.clear();
    black_box(compressed).len() as u64
}

/// The mean HTTP attempt duration, from the `_sum` and `_count` of
/// `prometheus_remote_storage_sent_batch_duration_seconds` in the text exposition.
fn mean_request_duration(metrics_text: &str) -> Option<Duration> {
    const FAMILY: &str = "prometheus_remote_storage_sent_batch_duration_seconds";
    let value = |suffix: &str| metric_value(metrics_text, &format!("{FAMILY}{suffix}"));
    let (sum, count) = (value("_sum")?, value("_count")?);
    (count > 0.0).then(|| Duration::from_secs_f64(sum / count))
}

/// The value of the first sample of metric `name` (exactly that name, with labels) in the
/// text exposition, or `None` when it is absent or not a number.
pub(crate) fn metric_value(metrics_text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name}{{");
    metrics_text
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Microseconds of `cpu` per sample.
pub(crate) fn us_per_sample(cpu: Duration, samples: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / samples as f64
}

/// Bytes in MiB.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The smallest value (the values are never empty).
pub(crate) fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The largest value.
pub(crate) fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The median (mean of the two middle values for an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> Result<i64, String> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| format!("system clock is before 1970: {e}"))
}

/// CPU count and model, for the report.
pub(crate) fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU model".into());
    format!("{cpus} CPUs available, {model}")
}
