//! `promrw reshard-soak`: a soak of the sender under changing load and receiver outages
//! (issue 16). It is a command to run by hand (10 minutes by default); its one-minute version
//! is a test (`tools/tests/reshard_soak.rs`).
//!
//! The receiver is `promrw sink --control-stdin` run as a child process, so the RSS measured
//! here is the sender's own; the sender is built in this process with the library API. The
//! run follows a schedule of ten equal steps scaled to `--duration` (see [`PLAN`]): the rates
//! step between 10k and 300k samples/s, the sink answers 503 (a recoverable error the sender
//! retries) during two steps and answers 100 ms late during one. `--producers` threads append
//! to `--series` W1-like series with `append_batch`, paced by the wall clock in 10 ms slices;
//! when the sender blocks them they fall behind, which is printed as the producer lag, and
//! they catch up at most at twice the scheduled rate. Each sample's timestamp is the wall
//! clock in milliseconds, or one more than the series' previous one (strictly increasing per
//! series); its value is [`crate::wal_soak::value_for`] of the series and the timestamp.
//!
//! Every `--report-every` seconds it prints one row: elapsed seconds, phase, scheduled rate,
//! achieved append rate, producer lag, the sender's lag (highest queued minus highest sent
//! timestamp), samples pending, shards and desired shards (from the sender's text exposition,
//! `-` when the metric does not exist) and this process's RSS. At the end it flushes, closes
//! and prints a `totals` line (what was appended, acknowledged, dropped by reason, failed,
//! and what the sink stored: unique samples, duplicates, out-of-order, missing) and a
//! `memory` line (RSS max and final, lag max, shards seen). It exits 0 only when the sink
//! received exactly what was appended, once each and in order, with nothing dropped or failed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promrw::{Config, EndpointStats, ErrorKind, Sample, Sender, SeriesRef};
use promrw_tools::workload::Workload;

use crate::bench::{ChildReceiver, metric_value, mib};
use crate::usage::{current_rss, process_usage};
use crate::wal_soak::value_for;

/// The schedule, in ten steps of a tenth of the duration each: the rate (samples/s over all
/// producers) and what the sink does meanwhile. Two outages (503) and one latency period
/// (100 ms), each a tenth of the run (60 s of 600 s); the first outage meets the highest rate.
pub const PLAN: [(u64, Phase); 10] = [
    (10_000, Phase::Normal),
    (50_000, Phase::Normal),
    (150_000, Phase::Normal),
    (300_000, Phase::Outage),
    (100_000, Phase::Normal),
    (300_000, Phase::Latency),
    (10_000, Phase::Normal),
    (200_000, Phase::Outage),
    (300_000, Phase::Normal),
    (30_000, Phase::Normal),
];

/// The sink's latency during [`Phase::Latency`], in milliseconds.
const LATENCY_MS: u64 = 100;

/// The status the sink answers during [`Phase::Outage`].
const OUTAGE_STATUS: u16 = 503;

/// Producers pace themselves in slices this long.
const SLICE: Duration = Duration::from_millis(10);

/// Producers catch up at most at this multiple of the scheduled rate.
const CATCH_UP: f64 = 2.0;

/// The main thread samples the sender's figures this often.
const TICK: Duration = Duration::from_millis(100);

/// How long the final flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Arguments of `promrw reshard-soak`.
#[derive(clap::Args)]
pub struct ReshardSoakArgs {
    /// Length of the run in seconds; the schedule's ten steps scale to it (the CI test uses
    /// 60).
    #[arg(long, default_value_t = 600.0)]
    duration: f64,
    /// Series appended to (W1's label sets, round-robin within each producer's share).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Producer threads; each takes a contiguous share of the series and of the rate.
    #[arg(long, default_value_t = 2)]
    producers: usize,
    /// Seconds between report rows (default: a thirtieth of the duration, between 1 and 10).
    #[arg(long, value_name = "SECONDS")]
    report_every: Option<f64>,
    /// `queue_config.min_shards` of the built-in configuration.
    #[arg(long, default_value_t = 1)]
    min_shards: usize,
    /// `queue_config.max_shards` of the built-in configuration.
    #[arg(long, default_value_t = 50)]
    max_shards: usize,
    /// Use this configuration file (YAML or JSON, one endpoint) instead of the built-in one;
    /// its endpoint's URL is replaced by the sink's.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Requests the sink handles at once (at least `max_shards`, so the latency period does
    /// not serialise the shards' requests).
    #[arg(long, default_value_t = 64)]
    sink_workers: usize,
}

/// What the sink does during a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepts and stores every valid request.
    Normal,
    /// Answers every request with [`OUTAGE_STATUS`] and stores nothing.
    Outage,
    /// Accepts every request, [`LATENCY_MS`] late.
    Latency,
}

impl Phase {
    /// The name printed in the report.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Normal => "normal",
            Phase::Outage => "outage",
            Phase::Latency => "latency",
        }
    }

    /// The sink's `(status, latency ms)` in this phase (`status` 200: normal).
    fn sink_setting(self) -> (u16, u64) {
        match self {
            Phase::Normal => (200, 0),
            Phase::Outage => (OUTAGE_STATUS, 0),
            Phase::Latency => (200, LATENCY_MS),
        }
    }
}

/// One step of the schedule: from `start` to `end` seconds, `rate` samples/s, `phase`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Start, seconds from the beginning of the run.
    pub start: f64,
    /// End (exclusive), seconds.
    pub end: f64,
    /// Samples per second over all producers.
    pub rate: f64,
    /// What the sink does.
    pub phase: Phase,
}

/// The schedule of [`PLAN`] scaled to `duration` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    steps: Vec<Step>,
}

impl Schedule {
    /// [`PLAN`]'s steps, each a tenth of `duration` seconds.
    pub fn scaled(duration: f64) -> Schedule {
        let n = PLAN.len() as f64;
        let steps = PLAN
            .iter()
            .enumerate()
            .map(|(i, &(rate, phase))| Step {
                start: duration * i as f64 / n,
                end: duration * (i + 1) as f64 / n,
                rate: rate as f64,
                phase,
            })
            .collect();
        Schedule { steps }
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The length of the run in seconds.
    pub fn duration(&self) -> f64 {
        self.steps.last().map_or(0.0, |s| s.end)
    }

    /// The step at `t` seconds (the last one from its end on).
    pub fn step_at(&self, t: f64) -> Step {
        *self
            .steps
            .iter()
            .find(|s| t < s.end)
            .or(self.steps.last())
            .expect("a schedule has steps")
    }

    /// Samples scheduled from the start to `t` seconds (all producers).
    pub fn cumulative(&self, t: f64) -> f64 {
        self.steps
            .iter()
            .map(|s| (t.min(s.end) - s.start).max(0.0) * s.rate)
            .sum()
    }

    /// The time at which the schedule had reached `samples` (all producers), or the end of
    /// the run when it never does.
    pub fn time_of(&self, samples: f64) -> f64 {
        let mut before = 0.0;
        for s in &self.steps {
            let during = (s.end - s.start) * s.rate;
            if before + during >= samples {
                return s.start + (samples - before).max(0.0) / s.rate;
            }
            before += during;
        }
        self.duration()
    }

    /// How far behind the schedule `appended` samples (all producers) are at `t` seconds,
    /// in seconds (0 when on time).
    pub fn lag(&self, t: f64, appended: f64) -> f64 {
        if appended >= self.cumulative(t) {
            0.0
        } else {
            (t - self.time_of(appended)).max(0.0)
        }
    }
}

/// The default `--report-every`: a thirtieth of the duration, between 1 and 10 s (10 s at
/// 600 s, 2 s at 60 s).
pub fn default_report_every(duration: f64) -> f64 {
    (duration / 30.0).clamp(1.0, 10.0)
}

/// The built-in configuration: one endpoint at `url`, `overflow: block` with a
/// `block_timeout` longer than the run, capacity 10,000, 2,000 samples per send.
fn builtin_config(url: &str, args: &ReshardSoakArgs) -> Result<Config, String> {
    let block_timeout = args.duration.ceil() as u64 + 60;
    let text = format!(
        "remote_write:
  - url: {url}
    name: reshard-soak
    queue_config:
      capacity: 10000
      min_shards: {}
      max_shards: {}
      max_samples_per_send: 2000
      overflow: block
      block_timeout: {block_timeout}s
promrw:
  flush_deadline: 5s
",
        args.min_shards, args.max_shards
    );
    Config::from_text(&text).map_err(|e| format!("the built-in configuration: {e}"))
}

/// The configuration of `--config FILE`, its one endpoint's URL replaced by `url`.
fn file_config(path: &std::path::Path, url: &str) -> Result<Config, String> {
    let mut config = Config::from_file(path).map_err(|e| e.to_string())?;
    if config.endpoints.len() != 1 {
        return Err(format!(
            "{}: reshard-soak needs exactly one endpoint, the file has {}",
            path.display(),
            config.endpoints.len()
        ));
    }
    config.endpoints[0].url = url.to_string();
    Ok(config)
}

/// What a producer shares with the main thread.
#[derive(Debug, Default)]
struct Progress {
    /// Samples accepted by the sender.
    appended: AtomicU64,
    /// Samples refused for a full queue (a `block_timeout` passed) and appended again.
    refused_retried: AtomicU64,
}

/// A running producer: its progress and its thread.
type Producer = (Arc<Progress>, JoinHandle<Result<(), String>>);

/// One producer: appends to `refs` (global series index, ref), round-robin, following its
/// share (`1 / producers`) of the schedule until its end.
fn produce(
    sender: &Sender,
    refs: &[(usize, SeriesRef)],
    schedule: &Schedule,
    producers: usize,
    started: Instant,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<(), String> {
    if refs.is_empty() {
        return Ok(());
    }
    let share = 1.0 / producers as f64;
    let duration = schedule.duration();
    let mut last_ts = vec![i64::MIN; refs.len()];
    let mut cursor = 0usize;
    let mut batch: Vec<Sample> = Vec::new();
    let mut appended = 0u64;
    let mut next = started;
    loop {
        let t = started.elapsed().as_secs_f64();
        if t >= duration || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let due = schedule.cumulative(t) * share - appended as f64;
        let cap = (CATCH_UP * schedule.step_at(t).rate * share * SLICE.as_secs_f64()).max(1.0);
        let want = due.min(cap).floor().max(0.0) as usize;
        if want > 0 {
            let now = now_ms()?;
            batch.clear();
            for _ in 0..want {
                let (series, r) = refs[cursor];
                let ts = now.max(last_ts[cursor].saturating_add(1));
                last_ts[cursor] = ts;
                batch.push(Sample {
                    series: r,
                    timestamp_ms: ts,
                    value: value_for(series, ts),
                });
                cursor = (cursor + 1) % refs.len();
            }
            let mut rest = &batch[..];
            while !rest.is_empty() {
                let (accepted, result) = sender.append_batch(rest);
                appended += accepted as u64;
                progress
                    .appended
                    .fetch_add(accepted as u64, Ordering::Relaxed);
                rest = &rest[accepted..];
                match result {
                    Ok(()) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::QueueFull | ErrorKind::Timeout) => {
                        // A block_timeout passed: the sample was not taken; offer it again
                        // (it keeps its timestamp, so order holds) unless the run is over.
                        progress.refused_retried.fetch_add(1, Ordering::Relaxed);
                        if started.elapsed().as_secs_f64() >= duration
                            || stop.load(Ordering::Relaxed)
                        {
                            return Ok(());
                        }
                        // Under `overflow: fail` the refusal is immediate: do not spin.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(format!("append_batch: {e}")),
                }
            }
        }
        next += SLICE;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Behind (blocked): start the next slice now, without a burst of slices.
            next = now;
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> Result<i64, String> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| format!("system clock is before 1970: {e}"))
}

/// The figures sampled from the sender at one moment.
#[derive(Debug, Clone, Copy)]
struct Sampled {
    pending: u64,
    /// Highest queued minus highest sent timestamp, seconds.
    send_lag: f64,
    shards: Option<f64>,
    desired: Option<f64>,
    rss: Option<u64>,
}

/// Reads the sender's figures.
fn sample(sender: &Sender) -> Result<Sampled, String> {
    let stats = sender.stats();
    let endpoint = stats
        .endpoints
        .first()
        .ok_or("the sender has no endpoint")?;
    let text = sender.metrics_text();
    let send_lag = if endpoint.highest_enqueued_ms > 0 && endpoint.highest_sent_ms > 0 {
        (endpoint.highest_enqueued_ms - endpoint.highest_sent_ms).max(0) as f64 / 1000.0
    } else {
        0.0
    };
    Ok(Sampled {
        pending: endpoint.samples_pending,
        send_lag,
        shards: metric_value(&text, "prometheus_remote_storage_shards"),
        desired: metric_value(&text, "prometheus_remote_storage_shards_desired"),
        rss: current_rss(),
    })
}

/// A gauge for the report, `-` when absent.
fn gauge(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v}"))
}

/// Smallest and largest values seen of a gauge.
#[derive(Debug, Default, Clone, Copy)]
struct Range(Option<(f64, f64)>);

impl Range {
    /// Notes a value (absent values are skipped).
    fn note(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            self.0 = Some(self.0.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
        }
    }

    /// `min=<lo> max=<hi>` with `name`, `-` when never seen.
    fn show(&self, name: &str) -> String {
        match self.0 {
            Some((lo, hi)) => format!("{name}_min={lo} {name}_max={hi}"),
            None => format!("{name}_min=- {name}_max=-"),
        }
    }
}

/// The report's column header.
const HEADER: &str =
    "elapsed_s phase     sched/s  appended/s  lag_s send_lag_s  pending shards desired rss_mib";

/// Sets the sink to `phase`'s status and latency, sending only what changed.
fn apply_phase(
    sink: &mut ChildReceiver,
    current: &mut (u16, u64),
    phase: Phase,
) -> Result<(), String> {
    let (status, latency) = phase.sink_setting();
    if status != current.0 {
        sink.control(&format!("status {status}"))?;
        current.0 = status;
    }
    if latency != current.1 {
        sink.control(&format!("latency {latency}"))?;
        current.1 = latency;
    }
    Ok(())
}

/// What the sink stored, from its `totals` answer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SinkTotals {
    /// Requests stored.
    pub(crate) requests: u64,
    /// Unique samples stored.
    pub(crate) samples: u64,
    /// Samples received again (same series and timestamp).
    pub(crate) duplicates: u64,
    /// Samples older than their series' newest.
    pub(crate) out_of_order: u64,
}

/// Parses the sink's `totals` answer (`requests=N samples=N duplicates=N out_of_order=N
/// series=N`).
pub(crate) fn parse_sink_totals(answer: &str) -> Result<SinkTotals, String> {
    let field = |name: &str| -> Result<u64, String> {
        answer
            .split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("the sink's totals {answer:?} have no {name}"))
    };
    Ok(SinkTotals {
        requests: field("requests")?,
        samples: field("samples")?,
        duplicates: field("duplicates")?,
        out_of_order: field("out_of_order")?,
    })
}

/// Runs the soak.
pub fn run(args: ReshardSoakArgs) -> Result<(), String> {
    if !(args.duration.is_finite() && args.duration >= 1.0) {
        return Err(format!(
            "--duration must be at least 1 second, got {}",
            args.duration
        ));
    }
    if args.series == 0 || args.producers == 0 || args.sink_workers == 0 {
        return Err("--series, --producers and --sink-workers must be greater than 0".into());
    }
    if args.producers > args.series {
        return Err(format!(
            "--producers ({}) must not exceed --series ({})",
            args.producers, args.series
        ));
    }
    let report_every = args
        .report_every
        .unwrap_or_else(|| default_report_every(args.duration));
    if !(report_every.is_finite() && report_every > 0.0) {
        return Err(format!(
            "--report-every must be a positive number of seconds, got {report_every}"
        ));
    }
    let schedule = Schedule::scaled(args.duration);

    // Declared before the sender, so dropped (killed) after it on every path.
    let mut sink = ChildReceiver::start_controlled(args.sink_workers)?;
    let config = match &args.config {
        Some(path) => file_config(path, &sink.url)?,
        None => builtin_config(&sink.url, &args)?,
    };
    let queue = &config.endpoints[0].queue;
    println!(
        "reshard-soak: {} s, {} series, {} producers, schedule {} (x{} s steps; outage = sink answers {OUTAGE_STATUS}, latency = {LATENCY_MS} ms), capacity {}, max_samples_per_send {}, shards {}..{}, overflow {:?}, block_timeout {:?}",
        args.duration,
        args.series,
        args.producers,
        schedule
            .steps()
            .iter()
            .map(|step| match step.phase {
                Phase::Normal => format!("{}k", step.rate / 1000.0),
                phase => format!("{}k/{}", step.rate / 1000.0, phase.name()),
            })
            .collect::<Vec<_>>()
            .join(" "),
        args.duration / PLAN.len() as f64,
        queue.capacity,
        queue.max_samples_per_send,
        queue.min_shards,
        queue.max_shards,
        queue.overflow,
        queue.block_timeout,
    );
    let sender =
        Arc::new(Sender::new(config).map_err(|e| format!("cannot start the sender: {e}"))?);
    let workload = Workload {
        series: args.series,
        ..Workload::W1
    };
    let refs = (0..args.series)
        .map(|i| sender.series(workload.labels(i)).map(|r| (i, r)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("register: {e}"))?;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut producers: Vec<Producer> = Vec::new();
    for p in 0..args.producers {
        let range = (p * args.series / args.producers)..((p + 1) * args.series / args.producers);
        let mine = refs[range].to_vec();
        let progress = Arc::new(Progress::default());
        let handle = {
            let (sender, schedule, progress, stop) = (
                sender.clone(),
                schedule.clone(),
                progress.clone(),
                stop.clone(),
            );
            let producers = args.producers;
            std::thread::Builder::new()
                .name(format!("soak-producer-{p}"))
                .spawn(move || {
                    produce(
                        &sender, &mine, &schedule, producers, started, &progress, &stop,
                    )
                })
        };
        match handle {
            Ok(handle) => producers.push((progress, handle)),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(format!("cannot start producer {p}: {e}"));
            }
        }
    }
    let seen = drive(
        &mut sink,
        &sender,
        &schedule,
        &producers,
        started,
        report_every,
    );
    stop.store(true, Ordering::Relaxed);
    // On failure only the producers that finished are joined (for their error): another may
    // be blocked in an append for up to `block_timeout`. Returning kills the sink; the
    // process then exits.
    let seen = match seen {
        Ok(seen) => seen,
        Err(e) => {
            for (_, handle) in producers {
                if handle.is_finished()
                    && let Ok(Err(producer)) = handle.join()
                {
                    return Err(producer);
                }
            }
            return Err(e);
        }
    };
    let mut failure = None;
    let (mut appended, mut refused_retried) = (0, 0);
    for (progress, handle) in producers {
        let joined = handle.join();
        appended += progress.appended.load(Ordering::Relaxed);
        refused_retried += progress.refused_retried.load(Ordering::Relaxed);
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some("a producer thread panicked".into())),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // The schedule ends in a normal step, but say so anyway before the final flush.
    sink.control("status 200")?;
    sink.control("latency 0")?;
    finish(&mut sink, &sender, seen, appended, refused_retried)
}

/// What [`drive`] saw over the run.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    rss_max: u64,
    lag_max: f64,
    send_lag_max: f64,
    shards: Range,
    desired: Range,
}

/// Follows the schedule until its end: switches the sink's phase, samples the sender every
/// [`TICK`] and prints a report row every `report_every` seconds. Returns what it saw.
fn drive(
    sink: &mut ChildReceiver,
    sender: &Sender,
    schedule: &Schedule,
    producers: &[Producer],
    started: Instant,
    report_every: f64,
) -> Result<Seen, String> {
    println!("{HEADER}");
    let mut seen = Seen::default();
    let mut setting = Phase::Normal.sink_setting();
    let mut next_report = report_every;
    let mut last_report = (0.0f64, 0u64);
    let share = producers.len() as f64;
    let duration = schedule.duration();
    loop {
        let t = started.elapsed().as_secs_f64();
        let done = t >= duration;
        let step = schedule.step_at(t);
        if !done {
            apply_phase(sink, &mut setting, step.phase)?;
        }
        // A producer finishes on its own only once the schedule is over; one that finished
        // before has failed (the caller reports its error).
        if producers.iter().any(|(_, h)| h.is_finished())
            && started.elapsed().as_secs_f64() < duration
        {
            return Err("a producer stopped before the end of the schedule".into());
        }
        sink.check_alive()?;
        let now = sample(sender)?;
        let appended: Vec<u64> = producers
            .iter()
            .map(|(p, _)| p.appended.load(Ordering::Relaxed))
            .collect();
        let total: u64 = appended.iter().sum();
        let lag = appended
            .iter()
            .map(|&a| schedule.lag(t.min(duration), a as f64 * share))
            .fold(0.0, f64::max);
        seen.rss_max = seen.rss_max.max(now.rss.unwrap_or(0));
        seen.lag_max = seen.lag_max.max(lag);
        seen.send_lag_max = seen.send_lag_max.max(now.send_lag);
        seen.shards.note(now.shards);
        seen.desired.note(now.desired);
        if t >= next_report || done {
            let rate = (total - last_report.1) as f64 / (t - last_report.0).max(1e-9);
            println!(
                "{:>9.1} {:<7} {:>9.0} {:>11.0} {:>6.1} {:>10.1} {:>8} {:>6} {:>7} {:>7}",
                t,
                step.phase.name(),
                step.rate,
                rate,
                lag,
                now.send_lag,
                now.pending,
                gauge(now.shards),
                gauge(now.desired),
                now.rss
                    .map_or_else(|| "-".to_string(), |r| format!("{:.1}", mib(r))),
            );
            last_report = (t, total);
            while next_report <= t {
                next_report += report_every;
            }
        }
        if done {
            return Ok(seen);
        }
        std::thread::sleep(TICK);
    }
}

/// Flushes, closes, prints the totals and checks them: fails unless the sink stored exactly
/// the `appended` samples, each once and in order, with nothing dropped or failed.
fn finish(
    sink: &mut ChildReceiver,
    sender: &Sender,
    mut seen: Seen,
    appended: u64,
    refused_retried: u64,
) -> Result<(), String> {
    let flushed = sender.flush(FLUSH_TIMEOUT);
    let last = sample(sender)?;
    seen.rss_max = seen.rss_max.max(last.rss.unwrap_or(0));
    seen.shards.note(last.shards);
    seen.desired.note(last.desired);
    let stats = sender.stats();
    let closed = sender.close(CLOSE_TIMEOUT);
    let peak_rss = process_usage().peak_rss;
    let endpoint = stats
        .endpoints
        .first()
        .ok_or("the sender has no endpoint")?;
    let received = parse_sink_totals(&sink.control("totals")?)?;
    let missing = appended.saturating_sub(received.samples);
    let dropped = endpoint.samples_dropped();
    let rejected = stats.rejected_out_of_order
        + stats.rejected_unknown_series
        + stats.rejected_closed
        + stats.rejected_shard_dead
        + stats.rejected_io;
    println!(
        "totals appended={appended} acked={} dropped={dropped} {} failed={} received={} duplicates={} out_of_order={} missing={missing} requests={} retried={} refused_retried={refused_retried} rejected={rejected}",
        endpoint.samples_acked,
        dropped_by_reason(endpoint),
        endpoint.samples_failed,
        received.samples,
        received.duplicates,
        received.out_of_order,
        received.requests,
        endpoint.samples_retried,
    );
    println!(
        "memory rss_max_mib={:.1} rss_final_mib={} peak_rss_mib={:.1} lag_max_s={:.1} send_lag_max_s={:.1} {} {}",
        mib(seen.rss_max),
        last.rss
            .map_or_else(|| "-".to_string(), |r| format!("{:.1}", mib(r))),
        mib(peak_rss),
        seen.lag_max,
        seen.send_lag_max,
        seen.shards.show("shards"),
        seen.desired.show("desired"),
    );
    let mut problems = Vec::new();
    if received.samples != appended {
        problems.push(format!(
            "received {} != appended {appended}",
            received.samples
        ));
    }
    if stats.samples_appended != appended {
        problems.push(format!(
            "the sender counted {} appended, the producers {appended}",
            stats.samples_appended
        ));
    }
    if endpoint.samples_acked != appended {
        problems.push(format!(
            "acked {} != appended {appended}",
            endpoint.samples_acked
        ));
    }
    for (count, what) in [
        (received.duplicates, "duplicates"),
        (received.out_of_order, "out of order"),
        (missing, "missing"),
        (dropped, "dropped"),
        (endpoint.samples_failed, "failed"),
        (rejected, "rejected"),
    ] {
        if count != 0 {
            problems.push(format!("{count} {what}"));
        }
    }
    if let Err(e) = flushed {
        problems.push(format!("flush: {e}"));
    }
    if let Err(e) = closed {
        problems.push(format!("close: {e}"));
    }
    if problems.is_empty() {
        println!("reshard-soak: ok, every appended sample received once, in order");
        Ok(())
    } else {
        Err(format!(
            "reshard-soak check failed: {}",
            problems.join("; ")
        ))
    }
}

/// The dropped samples of `endpoint` by reason, as `dropped_<reason>=N` words.
fn dropped_by_reason(endpoint: &EndpointStats) -> String {
    [
        ("too_old", endpoint.samples_dropped_too_old),
        ("queue_full", endpoint.samples_dropped_queue_full),
        ("wal_full", endpoint.samples_dropped_wal_full),
        ("wal_too_old", endpoint.samples_dropped_wal_too_old),
        ("relabel", endpoint.samples_dropped_relabel),
        ("relabel_invalid", endpoint.samples_dropped_relabel_invalid),
        ("no_tenant", endpoint.samples_dropped_no_tenant),
    ]
    .iter()
    .map(|(reason, n)| format!("dropped_{reason}={n}"))
    .collect::<Vec<_>>()
    .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_scales_to_the_duration() {
        for duration in [60.0, 600.0, 7.5] {
            let schedule = Schedule::scaled(duration);
            let steps = schedule.steps();
            assert_eq!(steps.len(), PLAN.len());
            assert_eq!(steps[0].start, 0.0);
            for pair in steps.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            let total: f64 = steps.iter().map(|s| s.end - s.start).sum();
            assert!((total - duration).abs() < 1e-9, "{total} for {duration}");
            assert_eq!(schedule.duration(), duration);
            let of = |phase: Phase| -> Vec<f64> {
                steps
                    .iter()
                    .filter(|s| s.phase == phase)
                    .map(|s| s.end - s.start)
                    .collect()
            };
            let outages = of(Phase::Outage);
            assert_eq!(outages.len(), 2);
            let latency = of(Phase::Latency);
            assert_eq!(latency.len(), 1);
            for length in outages.iter().chain(&latency) {
                assert!((length - duration / 10.0).abs() < 1e-9, "{length}");
            }
            let rates: Vec<f64> = steps.iter().map(|s| s.rate).collect();
            assert_eq!(
                rates.iter().copied().fold(f64::INFINITY, f64::min),
                10_000.0
            );
            assert_eq!(rates.iter().copied().fold(0.0, f64::max), 300_000.0);
        }
        assert_eq!(default_report_every(600.0), 10.0);
        assert_eq!(default_report_every(60.0), 2.0);
    }

    #[test]
    fn lag_is_how_long_ago_the_schedule_reached_what_was_appended() {
        let schedule = Schedule::scaled(100.0);
        // First step: 10k/s for 10 s, second 50k/s.
        assert_eq!(schedule.cumulative(5.0), 50_000.0);
        assert_eq!(schedule.cumulative(12.0), 100_000.0 + 100_000.0);
        assert_eq!(schedule.time_of(50_000.0), 5.0);
        assert_eq!(schedule.time_of(150_000.0), 11.0);
        assert_eq!(schedule.lag(12.0, 200_000.0), 0.0);
        assert!((schedule.lag(12.0, 150_000.0) - 1.0).abs() < 1e-9);
        assert!((schedule.lag(12.0, 50_000.0) - 7.0).abs() < 1e-9);
        assert_eq!(schedule.step_at(0.0).rate, 10_000.0);
        assert_eq!(schedule.step_at(35.0).phase, Phase::Outage);
        assert_eq!(schedule.step_at(1_000.0).rate, 30_000.0);
    }

    #[test]
    fn sink_totals_parse() {
        let totals =
            parse_sink_totals("requests=3 samples=10 duplicates=1 out_of_order=2 series=4")
                .unwrap();
        assert_eq!(
            (
                totals.requests,
                totals.samples,
                totals.duplicates,
                totals.out_of_order
            ),
            (3, 10, 1, 2)
        );
        assert!(parse_sink_totals("requests=3 samples=x").is_err());
    }
}
