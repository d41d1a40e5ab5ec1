//! `promrw demo`: the README's main job. Starts an embedded receiver unless `--url` is given,
//! pushes a synthetic workload from several threads, flushes, and prints what was sent, what
//! arrived and the rate.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promrw::config::{EndpointConfig, QueueConfig};
use promrw::{Config, LogLevel, Sender};
use promrw_tools::receiver::{Receiver, SampleStore, server::validating_handler};
use promrw_tools::workload::Workload;

/// Arguments of `promrw demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Receiver URL; without it an embedded receiver on 127.0.0.1 is started.
    #[arg(long)]
    url: Option<String>,
    /// Number of series.
    #[arg(long, default_value_t = 2_000)]
    series: usize,
    /// Samples per series (timestamps 1 s apart, ending now).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// Producer threads.
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Shards.
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Print promrw's warnings and errors.
    #[arg(long)]
    verbose: bool,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<(), String> {
    if args.series == 0 || args.rounds == 0 || args.producers == 0 || args.shards == 0 {
        return Err("--series, --rounds, --producers and --shards must be greater than 0".into());
    }
    let receiver = match &args.url {
        Some(_) => None,
        None => Some(
            Receiver::start(
                "127.0.0.1:0",
                4,
                Arc::new(SampleStore::new(false)),
                validating_handler(),
                None,
            )
            .map_err(|e| format!("cannot start the embedded receiver: {e}"))?,
        ),
    };
    let url = match (&args.url, &receiver) {
        (Some(url), _) => url.clone(),
        (None, Some(r)) => r.url(),
        (None, None) => unreachable!("a receiver is started when no URL is given"),
    };
    let endpoint = EndpointConfig::new(&url).name("demo").queue(QueueConfig {
        min_shards: args.shards,
        max_shards: args.shards.max(50),
        ..QueueConfig::default()
    });
    let mut builder = Config::builder()
        .endpoint(endpoint)
        .external_label("source", "promrw-demo");
    if args.verbose {
        builder = builder.logger(Arc::new(promrw::log::StderrSink), LogLevel::Warn);
    }
    let config = builder.build().map_err(|e| e.to_string())?;
    let sender = Arc::new(Sender::new(config).map_err(|e| e.to_string())?);
    let workload = Workload {
        series: args.series,
        rounds: args.rounds,
        step_ms: 1_000,
    };
    let where_to = if receiver.is_some() {
        "embedded receiver"
    } else {
        "remote receiver"
    };
    println!(
        "promrw demo: {} series x {} samples = {} samples from {} threads over {} shards to {url} ({where_to})",
        workload.series,
        workload.rounds,
        workload.samples(),
        args.producers,
        args.shards
    );
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as i64;
    let first_ts = now_ms - (workload.rounds as i64) * workload.step_ms;
    let started = Instant::now();
    let producers: Vec<_> = (0..args.producers)
        .map(|p| {
            let sender = sender.clone();
            let producers = args.producers;
            std::thread::spawn(move || -> Result<(), String> {
                let mine: Vec<usize> = (p..workload.series).step_by(producers).collect();
                let refs = mine
                    .iter()
                    .map(|&i| sender.series(workload.labels(i)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                for round in 0..workload.rounds {
                    let ts = first_ts + round as i64 * workload.step_ms;
                    for (r, &i) in refs.iter().zip(&mine) {
                        sender
                            .append(*r, ts, workload.value(i, round))
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for producer in producers {
        producer
            .join()
            .map_err(|_| "a producer thread panicked".to_string())??;
    }
    let appended_in = started.elapsed();
    sender
        .flush(Duration::from_secs(60))
        .map_err(|e| format!("flush: {e}"))?;
    let elapsed = started.elapsed();
    let stats = sender.stats();
    let endpoint = &stats.endpoints[0];
    sender
        .close(Duration::from_secs(10))
        .map_err(|e| format!("close: {e}"))?;
    println!(
        "appended  {} samples in {:.3} s",
        stats.samples_appended,
        appended_in.as_secs_f64()
    );
    println!(
        "sent      {} samples acknowledged in {} requests ({} failed, {} dropped, {} retried)",
        endpoint.samples_acked,
        endpoint.batches_acked,
        endpoint.samples_failed,
        endpoint.samples_dropped(),
        endpoint.samples_retried
    );
    let rate = stats.samples_appended as f64 / elapsed.as_secs_f64();
    let bytes_per_sample = endpoint.bytes_total as f64 / endpoint.samples_acked.max(1) as f64;
    let mut ok = endpoint.samples_acked == stats.samples_appended;
    if let Some(receiver) = receiver {
        let totals = receiver.store().totals();
        println!(
            "arrived   {} samples of {} series in {} requests ({} duplicates, {} out of order)",
            totals.accepted,
            receiver.store().series_count(),
            totals.requests,
            totals.duplicates,
            totals.out_of_order
        );
        ok &= totals.accepted == stats.samples_appended
            && totals.duplicates == 0
            && totals.out_of_order == 0;
        receiver.stop();
    } else {
        println!(
            "arrived   (remote receiver: check it for the {} samples)",
            endpoint.samples_acked
        );
    }
    println!(
        "rate      {rate:.0} samples/s end to end ({:.3} s), {bytes_per_sample:.2} bytes/sample on the wire",
        elapsed.as_secs_f64()
    );
    if ok {
        println!("result    OK: every appended sample was acknowledged exactly once");
        Ok(())
    } else {
        Err("not every appended sample was delivered exactly once".into())
    }
}
