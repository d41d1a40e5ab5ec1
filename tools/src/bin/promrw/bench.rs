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

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promrw::config::{EndpointConfig, QueueConfig};
use promrw::wire::proto;
use promrw::{Config, Labels, Sample, Sender};
use promrw_tools::workload::Workload;
use prost::Message;

use crate::usage::{process_usage, thread_usage, threads_cpu};

/// The goal: CPU per sample of the whole sending pipeline, in microseconds.
const TARGET_US_PER_SAMPLE: f64 = 0.3;

/// How long a flush of the whole workload may take before the run fails.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the child receiver may take to print its listening line.
const SINK_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Shard threads of the bench endpoint are named `promrw-bench-<index>`.
const SHARD_THREAD_PREFIX: &str = "promrw-bench-";

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
struct ChildReceiver {
    /// The child process.
    child: Child,
    /// The remote-write URL it printed.
    url: String,
}

impl ChildReceiver {
    /// Starts `<this executable> sink --listen 127.0.0.1:0 --quiet --workers 4` and reads the
    /// URL from its first stdout line. Later lines (invalid requests) are copied to stderr.
    fn start() -> Result<ChildReceiver, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the promrw executable: {e}"))?;
        let mut child = Command::new(&exe)
            .args([
                "sink",
                "--listen",
                "127.0.0.1:0",
                "--quiet",
                "--workers",
                "4",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the receiver child {}: {e}", exe.display()))?;
        let stdout = child.stdout.take();
        // From here on, dropping `receiver` kills the child.
        let mut receiver = ChildReceiver {
            child,
            url: String::new(),
        };
        let stdout = stdout.ok_or("the receiver child has no stdout pipe")?;
        let (first_line, first_line_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("bench-sink-stdout".into())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = first_line.send(lines.next());
                for line in lines.map_while(Result::ok) {
                    eprintln!("promrw bench: sink: {line}");
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

    /// Fails when the child has already exited (it should run until killed).
    fn check_alive(&mut self) -> Result<(), String> {
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

/// Figures of one naive-encoder run.
#[derive(Debug, Clone, Copy)]
struct NaiveFigures {
    /// CPU time of the encoding thread.
    cpu: Duration,
    /// Compressed bytes produced.
    bytes: u64,
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.producers == 0 || args.shards == 0 || args.max_samples_per_send == 0 || args.runs == 0 {
        return Err(
            "--producers, --shards, --max-samples-per-send and --runs must be greater than 0"
                .into(),
        );
    }
    let workload = Workload::W1;
    if args.producers > workload.series {
        return Err(format!(
            "--producers must not exceed the {} series",
            workload.series
        ));
    }
    let samples = workload.samples() as u64;
    println!(
        "promrw bench: workload W1 ({} series x {} rounds {} ms apart = {samples} samples), {} producer(s) using {}, {} shard(s), max_samples_per_send {}, {} run(s)",
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
        args.runs
    );
    println!("machine: {}", machine_description());

    let mut sink = match &args.url {
        Some(_) => None,
        None => Some(ChildReceiver::start()?),
    };
    let url = match (&args.url, &sink) {
        (Some(url), _) => url.clone(),
        (None, Some(sink)) => sink.url.clone(),
        (None, None) => unreachable!("a receiver child is started when no URL is given"),
    };
    match &sink {
        Some(sink) => println!(
            "receiver: promrw sink child process (pid {}) at {url}",
            sink.child.id()
        ),
        None => println!("receiver: {url} (given with --url)"),
    }
    println!("{}", "-".repeat(100));

    // The baseline's label sets, built once and only read.
    let naive_labels: Vec<Labels> = (0..workload.series).map(|i| workload.labels(i)).collect();
    let rss_before = process_usage().peak_rss;
    let mut promrw_runs = Vec::with_capacity(args.runs);
    let mut naive_runs = Vec::with_capacity(args.runs);
    for run in 0..args.runs {
        // Each run's timestamps come after the previous run's, so a receiver that keeps
        // per-series order never sees duplicates: run k of N starts (N - k) x 100 s ago, and the
        // last run starts at now - 100 s.
        let runs_left = (args.runs - run) as i64;
        let first_ts = now_ms()? - runs_left * workload.rounds as i64 * workload.step_ms;

        let naive = run_naive(
            &workload,
            &naive_labels,
            first_ts,
            args.max_samples_per_send,
        );
        println!(
            "run {}: naive encoder  {:.3} µs CPU/sample ({:.3} s CPU, 1 thread), {:.2} bytes/sample",
            run + 1,
            us_per_sample(naive.cpu, samples),
            naive.cpu.as_secs_f64(),
            naive.bytes as f64 / samples as f64
        );

        let labels = split_labels(&workload, args.producers);
        let figures = run_promrw(&args, &url, &workload, first_ts, labels)?;
        if let Some(sink) = sink.as_mut() {
            sink.check_alive()?;
        }
        let cpu_us = us_per_sample(figures.cpu, samples);
        println!(
            "run {}: promrw         {:.0} samples/s ({:.3} s wall: register + append {:.3} s, final flush {:.3} s), {:.3} µs CPU/sample = {:.3} CPU s per million samples ({:.2}x naive)",
            run + 1,
            samples as f64 / figures.wall.as_secs_f64(),
            figures.wall.as_secs_f64(),
            figures.appended.as_secs_f64(),
            (figures.wall - figures.appended).as_secs_f64(),
            cpu_us,
            figures.cpu.as_secs_f64() / (samples as f64 / 1e6),
            cpu_us / us_per_sample(naive.cpu, samples),
        );
        println!(
            "       promrw         of which producer threads {:.3} µs/sample, shard threads {}",
            us_per_sample(figures.producers_cpu, samples),
            figures
                .shards_cpu
                .map_or("unknown".to_string(), |cpu| format!(
                    "{:.3} µs/sample",
                    us_per_sample(cpu, samples)
                )),
        );
        println!(
            "       promrw         {:.2} bytes/sample on the wire in {} requests ({} samples retried, {} per request on average), peak RSS {:.1} MiB",
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
        promrw_runs.push(figures);
        naive_runs.push(naive);
    }
    drop(sink);

    println!("{}", "-".repeat(100));
    summarise(&promrw_runs, &naive_runs, samples, rss_before);
    Ok(())
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

/// One promrw run: a fresh sender; the measured section is register + append + flush.
fn run_promrw(
    args: &BenchArgs,
    url: &str,
    workload: &Workload,
    first_ts: i64,
    labels: Vec<Vec<(usize, Labels)>>,
) -> Result<RunFigures, String> {
    let queue = QueueConfig {
        min_shards: args.shards,
        max_shards: args.shards.max(QueueConfig::default().max_shards),
        max_samples_per_send: args.max_samples_per_send,
        capacity: QueueConfig::default()
            .capacity
            .max(args.max_samples_per_send),
        ..QueueConfig::default()
    };
    let config = Config::builder()
        .endpoint(EndpointConfig::new(url).name("bench").queue(queue))
        // Error paths drop the sender unclosed; do not wait a minute for them.
        .flush_deadline(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("configuration: {e}"))?;
    let sender = Sender::new(config).map_err(|e| format!("cannot start the sender: {e}"))?;
    let expected = workload.samples() as u64;

    let shards_before = threads_cpu(SHARD_THREAD_PREFIX);
    let before = process_usage();
    let started = Instant::now();
    let mut producers_cpu = Duration::ZERO;
    std::thread::scope(|scope| {
        // Named threads, so that profiles tell producers from the baseline's main thread.
        let producers = labels
            .into_iter()
            .enumerate()
            .map(|(index, mine)| {
                let sender = &sender;
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
    .map(|cpu| producers_cpu = cpu)?;
    let appended = started.elapsed();
    sender
        .flush(FLUSH_TIMEOUT)
        .map_err(|e| format!("flush: {e}"))?;
    let wall = started.elapsed();
    let after = process_usage();
    let shards_cpu = threads_cpu(SHARD_THREAD_PREFIX)
        .zip(shards_before)
        .map(|(after, before)| after.saturating_sub(before));

    let stats = sender.stats();
    let mean_request = mean_request_duration(&sender.metrics_text());
    sender
        .close(Duration::from_secs(10))
        .map_err(|e| format!("close: {e}"))?;
    let endpoint = stats
        .endpoints
        .first()
        .ok_or("the sender has no endpoint")?;
    let rejected = stats.rejected_out_of_order
        + stats.rejected_queue_full
        + stats.rejected_unknown_series
        + stats.rejected_closed;
    if stats.samples_appended != expected
        || endpoint.samples_acked != expected
        || endpoint.samples_failed != 0
        || endpoint.samples_dropped() != 0
        || rejected != 0
    {
        return Err(format!(
            "delivery check failed: appended {} acked {} (expected {expected} each), failed {}, dropped {}, rejected {rejected}",
            stats.samples_appended,
            endpoint.samples_acked,
            endpoint.samples_failed,
            endpoint.samples_dropped()
        ));
    }
    Ok(RunFigures {
        wall,
        appended,
        cpu: after.cpu.saturating_sub(before.cpu),
        producers_cpu,
        shards_cpu,
        bytes_sent: endpoint.bytes_total,
        batches: endpoint.batches_acked,
        retried: endpoint.samples_retried,
        mean_request,
        peak_rss: after.peak_rss,
    })
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
    let value = |suffix: &str| -> Option<f64> {
        let prefix = format!("{FAMILY}{suffix}{{");
        metrics_text
            .lines()
            .find(|line| line.starts_with(&prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let (sum, count) = (value("_sum")?, value("_count")?);
    (count > 0.0).then(|| Duration::from_secs_f64(sum / count))
}

/// Microseconds of `cpu` per sample.
fn us_per_sample(cpu: Duration, samples: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / samples as f64
}

/// Bytes in MiB.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The smallest value (the values are never empty).
fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The largest value.
fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The median (mean of the two middle values for an even count).
fn median(values: &[f64]) -> f64 {
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
fn now_ms() -> Result<i64, String> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| format!("system clock is before 1970: {e}"))
}

/// CPU count and model, for the report.
fn machine_description() -> String {
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
