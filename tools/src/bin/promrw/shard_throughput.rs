//! `promrw shard-throughput`: wall throughput of W1 with resharding on against fixed shard
//! counts (issue 16, item 7).
//!
//! Each mode is a sender configuration: a fixed count `N` is `min_shards = max_shards = N`;
//! `auto` is `min_shards 1`, `max_shards --max-shards`, `shard_update_interval
//! --shard-update-interval`. `--runs` rounds each run every mode once, interleaved, each
//! against a fresh `promrw sink` child (`--control-stdin --quiet --workers W`, with
//! `--latency-ms --receiver-latency-ms` when that is not 0), so the CPU time measured here is
//! the sender's and the producers'.
//!
//! The workload is W1's series and labels with `--rounds` rounds; `--producers` threads each
//! take a contiguous share of the series and append round after round with `append_batch`, as
//! fast as the sender takes them (`overflow: block`, a one-hour `block_timeout`,
//! `max_samples_per_send` 2000, the default capacity and memory budget). The series are
//! registered before the measured section; it runs from the first append to the end of the
//! flush (every sample acknowledged). A sampler thread reads the acknowledged count and the
//! shard gauge every 100 ms, which gives the second-half rate (the steady state after the
//! ramp), the peak shard count and the gauge at each whole second (`shards_by_second`).
//!
//! With a slow receiver (`--receiver-latency-ms` > 0) every round also runs an `offered`
//! measurement: 4 fixed shards against a fresh sink with no latency. Its rate is taken as the
//! offered rate (the fastest the producers append on this machine), and the summary checks
//! auto's second-half rate against `min(0.9 × max_shards × 2000 / latency, offered)`.
//!
//! It exits non-zero when a run's delivery check fails (the sink did not receive every
//! appended sample exactly once and in order, or the sender dropped, failed or refused
//! anything); a throughput target missed is reported, not an error.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use promrw::config::{EndpointConfig, OverflowPolicy, QueueConfig};
use promrw::{Config, Labels, Sample, Sender, SeriesRef};
use promrw_tools::workload::Workload;

use crate::bench::{
    ChildReceiver, check_delivery, machine_description, median, metric_value, now_ms, us_per_sample,
};
use crate::reshard_soak::parse_sink_totals;
use crate::usage::process_usage;

/// Samples per request, every mode.
const MAX_SAMPLES_PER_SEND: usize = 2_000;

/// Longest an append blocks for room (longer than any run).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(3_600);

/// How long the final flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(600);

/// How long the close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The sampler reads the sender's figures this often.
const TICK: Duration = Duration::from_millis(100);

/// Default `--rounds` against the fast local sink: 10,000,000 samples.
const FAST_DEFAULT_ROUNDS: usize = 1_000;

/// The fixed shard count of the `offered` measurement (fast sink), slow receivers only.
const OFFERED_SHARDS: usize = 4;

/// The fraction of the ideal slow-receiver rate the target asks for.
const TARGET_FRACTION: f64 = 0.9;

/// Arguments of `promrw shard-throughput`.
#[derive(clap::Args)]
pub struct ShardThroughputArgs {
    /// Comma-separated modes: a number is that many fixed shards (`min_shards = max_shards`),
    /// `auto` reshards between 1 and `--max-shards`.
    #[arg(long, default_value = "1,2,4,auto")]
    modes: String,
    /// Rounds; each runs every mode once, interleaved, each with a fresh sink.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// W1 rounds (10,000 samples each). Default: 1000 against the fast sink; against a slow
    /// receiver, enough for auto to run about three times its ramp-up at `--max-shards`
    /// (printed).
    #[arg(long)]
    rounds: Option<usize>,
    /// Producer threads, each appending its share of the series with `append_batch`.
    #[arg(long, default_value_t = 2)]
    producers: usize,
    /// `max_shards` of the `auto` mode (default 50, Prometheus's default).
    #[arg(long, default_value_t = 50)]
    max_shards: usize,
    /// `shard_update_interval` of the `auto` mode, in seconds (default 1: W1 alone lasts well
    /// under the library's 10 s default against the fast sink).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    shard_update_interval: f64,
    /// The sink answers each request this late (0: the fast local sink).
    #[arg(long, default_value_t = 0)]
    receiver_latency_ms: u64,
    /// Requests each sink handles at once (default: the most shards of any mode, plus 4).
    #[arg(long)]
    sink_workers: Option<usize>,
}

/// A sender configuration under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `min_shards = max_shards = N`.
    Fixed(usize),
    /// `min_shards 1`, `max_shards --max-shards`.
    Auto,
    /// [`OFFERED_SHARDS`] fixed shards against a sink with no latency (slow receivers only).
    Offered,
}

impl Mode {
    /// The name in the output.
    fn label(self) -> String {
        match self {
            Mode::Fixed(n) => n.to_string(),
            Mode::Auto => "auto".into(),
            Mode::Offered => "offered".into(),
        }
    }

    /// `(min_shards, max_shards)`.
    fn shards(self, max_shards: usize) -> (usize, usize) {
        match self {
            Mode::Fixed(n) => (n, n),
            Mode::Auto => (1, max_shards),
            Mode::Offered => (OFFERED_SHARDS, OFFERED_SHARDS),
        }
    }
}

/// Parses `--modes`: numbers (at least 1) and `auto`, comma-separated, none twice.
fn parse_modes(text: &str) -> Result<Vec<Mode>, String> {
    let mut modes = Vec::new();
    for word in text.split(',').map(str::trim) {
        let mode = match word {
            "auto" => Mode::Auto,
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Mode::Fixed(n),
                _ => {
                    return Err(format!(
                        "--modes: {word:?} is neither a shard count (1 or more) nor auto"
                    ));
                }
            },
        };
        if modes.contains(&mode) {
            return Err(format!("--modes: {word} is given twice"));
        }
        modes.push(mode);
    }
    Ok(modes)
}

/// Number of 1.5× steps (`ceil(current × 1.5)`, the blocked-demand floor) from 1 shard to
/// `max_shards`.
fn ramp_steps(max_shards: usize) -> usize {
    let (mut current, mut steps) = (1usize, 0usize);
    while current < max_shards {
        current = (current * 3).div_ceil(2).min(max_shards);
        steps += 1;
    }
    steps
}

/// The ideal rate of `shards` shards against a receiver `latency_ms` late: one request of
/// [`MAX_SAMPLES_PER_SEND`] per shard per latency.
fn ideal_rate(shards: usize, latency_ms: u64) -> f64 {
    shards as f64 * MAX_SAMPLES_PER_SEND as f64 / (latency_ms as f64 / 1000.0)
}

/// Default `--rounds` against a slow receiver: auto's samples for three times its ramp-up
/// (one interval per 1.5× step, plus one) at `max_shards`' ideal rate, at least 100.
fn slow_default_rounds(max_shards: usize, interval: f64, latency_ms: u64, series: usize) -> usize {
    let ramp = (ramp_steps(max_shards) + 1) as f64 * interval;
    let samples = ideal_rate(max_shards, latency_ms) * 3.0 * ramp;
    ((samples / series as f64).ceil() as usize).max(100)
}

/// Figures of one run.
#[derive(Debug, Clone, Copy)]
struct RunFigures {
    /// Samples appended (and received).
    samples: u64,
    /// First append to flush complete.
    wall: Duration,
    /// Samples acknowledged per second in the second half of `wall`.
    second_half: f64,
    /// Shard gauge after the flush.
    shards_final: f64,
    /// Highest shard gauge seen.
    shards_peak: f64,
    /// `promrw_reshards_total` after the flush.
    reshards: f64,
    /// CPU time of this process over the measured section.
    cpu: Duration,
    /// Samples the sender sent again after a failed attempt.
    retried: u64,
}

impl RunFigures {
    /// Samples per second over the whole run.
    fn rate(&self) -> f64 {
        self.samples as f64 / self.wall.as_secs_f64()
    }
}

/// What the sampler records: `(seconds since start, samples acknowledged)`, the highest
/// shard gauge, and the gauge at each whole second.
#[derive(Debug, Default)]
struct Samples {
    points: Vec<(f64, u64)>,
    shards_peak: f64,
    by_second: Vec<f64>,
}

/// The acknowledged count at `t` seconds, interpolated between the sampler's points (which
/// start at `(0, 0)` and end at the flush).
fn acked_at(points: &[(f64, u64)], t: f64) -> f64 {
    let mut before = (0.0, 0.0);
    for &(pt, acked) in points {
        let acked = acked as f64;
        if pt >= t {
            let span = pt - before.0;
            return if span <= 0.0 {
                acked
            } else {
                before.1 + (acked - before.1) * (t - before.0) / span
            };
        }
        before = (pt, acked);
    }
    before.1
}

/// Samples acknowledged per second from `wall / 2` to `wall`.
fn second_half_rate(points: &[(f64, u64)], wall: f64) -> f64 {
    let total = points.last().map_or(0.0, |&(_, a)| a as f64);
    (total - acked_at(points, wall / 2.0)) / (wall / 2.0)
}

/// The sender's configuration for `mode`.
fn sender_config(
    url: &str,
    mode: Mode,
    max_shards: usize,
    interval: Duration,
) -> Result<Config, String> {
    let (min_shards, max_shards) = mode.shards(max_shards);
    let queue = QueueConfig {
        min_shards,
        max_shards,
        max_samples_per_send: MAX_SAMPLES_PER_SEND,
        overflow: OverflowPolicy::Block,
        block_timeout: BLOCK_TIMEOUT,
        shard_update_interval: interval,
        ..QueueConfig::default()
    };
    Config::builder()
        .endpoint(
            EndpointConfig::new(url)
                .name("shard-throughput")
                .queue(queue),
        )
        // Error paths drop the sender unclosed; do not wait a minute for them.
        .flush_deadline(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("configuration: {e}"))
}

/// One producer: appends every round of its series, one `append_batch` per round.
fn produce(
    sender: &Sender,
    workload: &Workload,
    first_ts: i64,
    refs: &[(usize, SeriesRef)],
) -> Result<(), String> {
    let mut batch = Vec::with_capacity(refs.len());
    for round in 0..workload.rounds {
        let ts = first_ts + round as i64 * workload.step_ms;
        batch.clear();
        batch.extend(refs.iter().map(|&(i, series)| Sample {
            series,
            timestamp_ms: ts,
            value: workload.value(i, round),
        }));
        let (accepted, result) = sender.append_batch(&batch);
        result.map_err(|e| format!("append_batch (round {round}, sample {accepted}): {e}"))?;
    }
    Ok(())
}

/// The shard gauge of the sender's text exposition.
fn shards_gauge(sender: &Sender) -> Option<f64> {
    metric_value(&sender.metrics_text(), "prometheus_remote_storage_shards")
}

/// One run: a fresh sink and sender, register, then the measured section (append all, flush),
/// then the delivery check against the sender's counts and the sink's totals.
fn run_once(
    args: &ShardThroughputArgs,
    mode: Mode,
    workers: usize,
    workload: &Workload,
    labels: &[Vec<(usize, Labels)>],
    first_ts: i64,
) -> Result<RunFigures, String> {
    let latency = match mode {
        Mode::Offered => 0,
        _ => args.receiver_latency_ms,
    };
    let latency_arg = latency.to_string();
    let extra: &[&str] = if latency > 0 {
        &["--latency-ms", &latency_arg]
    } else {
        &[]
    };
    // Declared before the sender, so dropped (killed) after it on every path.
    let mut sink = ChildReceiver::start_controlled_with(workers, extra)?;
    let interval = Duration::from_secs_f64(args.shard_update_interval);
    let config = sender_config(&sink.url, mode, args.max_shards, interval)?;
    let sender = Sender::new(config).map_err(|e| format!("cannot start the sender: {e}"))?;
    let refs = labels
        .iter()
        .map(|mine| {
            mine.iter()
                .map(|(i, l)| sender.series(l.clone()).map(|r| (*i, r)))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("register: {e}"))?;
    let expected = workload.samples() as u64;

    let done = AtomicBool::new(false);
    let samples = Mutex::new(Samples {
        points: vec![(0.0, 0)],
        shards_peak: 0.0,
        by_second: Vec::new(),
    });
    let before = process_usage();
    let started = Instant::now();
    let measured = std::thread::scope(|scope| -> Result<Duration, String> {
        let sampler = std::thread::Builder::new()
            .name("tput-sampler".into())
            .spawn_scoped(scope, || {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    let acked = sender
                        .stats()
                        .endpoints
                        .first()
                        .map_or(0, |e| e.samples_acked);
                    let shards = shards_gauge(&sender).unwrap_or(0.0);
                    let t = started.elapsed().as_secs_f64();
                    let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
                    s.points.push((t, acked));
                    s.shards_peak = s.shards_peak.max(shards);
                    while (s.by_second.len() as f64) < t.floor() {
                        s.by_second.push(shards);
                    }
                }
            })
            .map_err(|e| format!("cannot start the sampler thread: {e}"))?;
        let result = (|| {
            let producers = refs
                .iter()
                .enumerate()
                .map(|(index, mine)| {
                    let sender = &sender;
                    std::thread::Builder::new()
                        .name(format!("tput-producer-{index}"))
                        .spawn_scoped(scope, move || produce(sender, workload, first_ts, mine))
                        .map_err(|e| format!("cannot start producer thread {index}: {e}"))
                })
                .collect::<Result<Vec<_>, String>>()?;
            for p in producers {
                p.join()
                    .map_err(|_| "a producer thread panicked".to_string())??;
            }
            sender
                .flush(FLUSH_TIMEOUT)
                .map_err(|e| format!("flush: {e}"))?;
            Ok(started.elapsed())
        })();
        done.store(true, Ordering::Relaxed);
        let _ = sampler.join();
        result
    });
    let after = process_usage();
    let wall = measured?;
    let text = sender.metrics_text();
    let stats = sender.stats();
    sender
        .close(CLOSE_TIMEOUT)
        .map_err(|e| format!("close: {e}"))?;
    drop(sender);
    let shards_final = metric_value(&text, "prometheus_remote_storage_shards").unwrap_or(0.0);
    let reshards = metric_value(&text, "promrw_reshards_total").unwrap_or(0.0);
    let acked = stats.endpoints.first().map_or(0, |e| e.samples_acked);
    let mut samples = samples.into_inner().unwrap_or_else(|e| e.into_inner());
    samples.points.push((wall.as_secs_f64(), acked));
    samples.shards_peak = samples.shards_peak.max(shards_final);

    let received = parse_sink_totals(&sink.control("totals")?)?;
    let check = check_delivery(&stats, expected, expected).and_then(|()| {
        if received.samples != expected || received.duplicates != 0 || received.out_of_order != 0
        {
            Err(format!(
                "the sink received {} unique samples of {expected} appended, {} duplicates, {} out of order",
                received.samples, received.duplicates, received.out_of_order
            ))
        } else {
            Ok(())
        }
    });
    let figures = RunFigures {
        samples: expected,
        wall,
        second_half: second_half_rate(&samples.points, wall.as_secs_f64()),
        shards_final,
        shards_peak: samples.shards_peak,
        reshards,
        cpu: after.cpu.saturating_sub(before.cpu),
        retried: stats.endpoints.first().map_or(0, |e| e.samples_retried),
    };
    println!(
        "mode={:<7} samples={} wall_s={:.2} samples_per_s={:.0} second_half_per_s={:.0} shards_final={} shards_peak={} reshards={} cpu_us_per_sample={:.3} retried={} received={} duplicates={} out_of_order={} exactly_once={} shards_by_second={}",
        mode.label(),
        figures.samples,
        wall.as_secs_f64(),
        figures.rate(),
        figures.second_half,
        figures.shards_final,
        figures.shards_peak,
        figures.reshards,
        us_per_sample(figures.cpu, figures.samples),
        figures.retried,
        received.samples,
        received.duplicates,
        received.out_of_order,
        if check.is_ok() { "ok" } else { "FAILED" },
        samples
            .by_second
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    check.map_err(|e| format!("mode {}: {e}", mode.label()))?;
    Ok(figures)
}

/// Runs the measurement.
pub fn run(args: ShardThroughputArgs) -> Result<(), String> {
    let modes = parse_modes(&args.modes)?;
    if args.runs == 0 || args.producers == 0 || args.max_shards == 0 {
        return Err("--runs, --producers and --max-shards must be greater than 0".into());
    }
    if !(args.shard_update_interval.is_finite() && args.shard_update_interval > 0.0) {
        return Err(format!(
            "--shard-update-interval must be a positive number of seconds, got {}",
            args.shard_update_interval
        ));
    }
    if args.rounds == Some(0) {
        return Err("--rounds must be greater than 0".into());
    }
    let slow = args.receiver_latency_ms > 0;
    let series = Workload::W1.series;
    if args.producers > series {
        return Err(format!(
            "--producers ({}) must not exceed W1's {series} series",
            args.producers
        ));
    }
    let (rounds, rounds_why) = match args.rounds {
        Some(r) => (r, "--rounds".to_string()),
        None if slow => (
            slow_default_rounds(
                args.max_shards,
                args.shard_update_interval,
                args.receiver_latency_ms,
                series,
            ),
            format!(
                "default for a slow receiver: auto at {} shards' ideal rate for 3 x its ramp-up of {} intervals",
                args.max_shards,
                ramp_steps(args.max_shards) + 1
            ),
        ),
        None => (FAST_DEFAULT_ROUNDS, "default for the fast sink".to_string()),
    };
    let workload = Workload {
        rounds,
        ..Workload::W1
    };
    let mut all_modes = modes.clone();
    if slow {
        all_modes.push(Mode::Offered);
    }
    let most_shards = all_modes
        .iter()
        .map(|m| m.shards(args.max_shards).1)
        .max()
        .unwrap_or(1);
    let workers = args.sink_workers.unwrap_or(most_shards + 4);
    if workers == 0 {
        return Err("--sink-workers must be greater than 0".into());
    }
    let samples = workload.samples() as u64;
    println!(
        "promrw shard-throughput: W1 series ({series}) x {rounds} rounds ({rounds_why}) = {samples} samples, {} producer(s) using append_batch, max_samples_per_send {MAX_SAMPLES_PER_SEND}, default capacity {} and max_buffered_samples {}, overflow block, block_timeout {BLOCK_TIMEOUT:?}; modes {} (N = min_shards = max_shards = N; auto = 1..{} shards, shard_update_interval {} s); {} run(s) interleaved, each with a fresh sink (--workers {workers}{}); {}",
        args.producers,
        QueueConfig::default().capacity,
        QueueConfig::default().max_buffered_samples,
        modes
            .iter()
            .map(|m| m.label())
            .collect::<Vec<_>>()
            .join(","),
        args.max_shards,
        args.shard_update_interval,
        args.runs,
        if slow {
            format!(", --latency-ms {}", args.receiver_latency_ms)
        } else {
            ", no latency: the fast local sink".to_string()
        },
        machine_description(),
    );
    if slow {
        println!(
            "slow receiver: every round also runs mode offered ({OFFERED_SHARDS} fixed shards, a sink with no latency) for the offered rate; lower bounds on each mode's wall time at one request of {MAX_SAMPLES_PER_SEND} per shard per {} ms: {}",
            args.receiver_latency_ms,
            modes
                .iter()
                .map(|m| format!(
                    "{} {:.0} s",
                    m.label(),
                    samples as f64
                        / ideal_rate(m.shards(args.max_shards).1, args.receiver_latency_ms)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let labels: Vec<Vec<(usize, Labels)>> = (0..args.producers)
        .map(|p| {
            let range = (p * series / args.producers)..((p + 1) * series / args.producers);
            range.map(|i| (i, workload.labels(i))).collect()
        })
        .collect();

    let mut results: Vec<Vec<RunFigures>> = vec![Vec::new(); all_modes.len()];
    for run in 0..args.runs {
        println!("run {}/{}", run + 1, args.runs);
        for (m, &mode) in all_modes.iter().enumerate() {
            // Each run's timestamps follow the previous one's, ending before now.
            let runs_left = (args.runs * all_modes.len() - (run * all_modes.len() + m)) as i64;
            let first_ts = now_ms()? - runs_left * rounds as i64 * workload.step_ms;
            results[m].push(run_once(
                &args, mode, workers, &workload, &labels, first_ts,
            )?);
        }
    }
    summarise(&args, &all_modes, &results);
    println!(
        "shard-throughput: ok, every run's {samples} samples received once each, in order, nothing dropped or failed"
    );
    Ok(())
}

/// Prints the per-mode medians, the best fixed mode and auto's ratio to it, and for a slow
/// receiver the target and whether auto's second-half rate meets it.
fn summarise(args: &ShardThroughputArgs, modes: &[Mode], results: &[Vec<RunFigures>]) {
    let medians: Vec<(Mode, f64, f64)> = modes
        .iter()
        .zip(results)
        .map(|(&mode, runs)| {
            let rates: Vec<f64> = runs.iter().map(RunFigures::rate).collect();
            let halves: Vec<f64> = runs.iter().map(|r| r.second_half).collect();
            (mode, median(&rates), median(&halves))
        })
        .collect();
    for &(mode, rate, half) in &medians {
        let runs = &results[modes.iter().position(|&m| m == mode).unwrap_or(0)];
        let peak = runs.iter().map(|r| r.shards_peak).fold(0.0, f64::max);
        let cpus: Vec<f64> = runs
            .iter()
            .map(|r| us_per_sample(r.cpu, r.samples))
            .collect();
        println!(
            "summary mode={:<7} median_samples_per_s={rate:.0} median_second_half_per_s={half:.0} shards_peak_max={peak} median_cpu_us_per_sample={:.3}",
            mode.label(),
            median(&cpus),
        );
    }
    let best_fixed = medians
        .iter()
        .filter(|(m, _, _)| matches!(m, Mode::Fixed(_)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .copied();
    let auto = medians.iter().find(|(m, _, _)| *m == Mode::Auto).copied();
    match best_fixed {
        Some((mode, rate, half)) => {
            println!(
                "best fixed: {} shard(s), {rate:.0} samples/s (second half {half:.0})",
                mode.label()
            );
            if let Some((_, auto_rate, auto_half)) = auto {
                println!(
                    "auto / best fixed: {:.3} whole run, {:.3} second half ({})",
                    auto_rate / rate,
                    auto_half / half,
                    if auto_rate >= rate {
                        "auto reaches the best fixed count"
                    } else {
                        "auto is below the best fixed count"
                    }
                );
            }
        }
        None => println!("best fixed: no fixed mode was run"),
    }
    if args.receiver_latency_ms > 0 {
        let offered = medians
            .iter()
            .find(|(m, _, _)| *m == Mode::Offered)
            .map_or(f64::INFINITY, |m| m.1);
        let ideal = ideal_rate(args.max_shards, args.receiver_latency_ms);
        let target = (TARGET_FRACTION * ideal).min(offered);
        println!(
            "target: min({TARGET_FRACTION} x {} x {MAX_SAMPLES_PER_SEND} / {} s = {:.0}, offered {offered:.0} (median of mode offered)) = {target:.0} samples/s",
            args.max_shards,
            args.receiver_latency_ms as f64 / 1000.0,
            TARGET_FRACTION * ideal,
        );
        match auto {
            Some((_, _, half)) => println!(
                "auto second half {half:.0} samples/s = {:.3} x target: {}",
                half / target,
                if half >= target { "met" } else { "NOT met" }
            ),
            None => println!("auto was not run: no check against the target"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!(
            parse_modes("1,2, 4,auto").unwrap(),
            vec![Mode::Fixed(1), Mode::Fixed(2), Mode::Fixed(4), Mode::Auto]
        );
        for bad in ["", "0", "x", "1,1", "auto,auto", "-2"] {
            assert!(parse_modes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ramp_and_default_rounds() {
        // 1, 2, 3, 5, 8, 12, 18, 27, 41, 50.
        assert_eq!(ramp_steps(50), 9);
        assert_eq!(ramp_steps(1), 0);
        assert_eq!(ramp_steps(8), 4);
        assert_eq!(ideal_rate(50, 100), 1_000_000.0);
        // 1M/s x 3 x 10 s = 30M samples = 3000 rounds.
        assert_eq!(slow_default_rounds(50, 1.0, 100, 10_000), 3_000);
        assert_eq!(slow_default_rounds(1, 1.0, 1_000, 10_000), 100);
    }

    #[test]
    fn second_half_interpolates() {
        let points = [(0.0, 0), (1.0, 100), (2.0, 300), (4.0, 700)];
        assert_eq!(acked_at(&points, 1.5), 200.0);
        assert_eq!(acked_at(&points, 9.0), 700.0);
        assert_eq!(second_half_rate(&points, 4.0), (700.0 - 300.0) / 2.0);
    }
}
