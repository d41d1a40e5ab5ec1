//! `promrw sink`: a receiver that decodes and validates every request, Remote Write 1.0 or
//! 2.0 (headers, snappy, protobuf, symbols and refs, label rules, histograms, exemplars and
//! metadata, 1.0's extensions included, per-series order across requests), answers accepted 2.0 requests with the Written headers, and prints a line
//! per request or a summary per interval. `--protocol 1.0-415` or `1.0-ignore` makes it a
//! 1.0-only receiver. `--control-stdin` changes its latency and status while it serves, from
//! commands on stdin. It runs until interrupted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promrw::wire::proto_v2;
use promrw_tools::receiver::server::{Handler, Observer, validating_handler};
use promrw_tools::receiver::{
    DecodedRequest, ProtocolMode, Receiver, ReceiverOptions, Reply, RequestInfo, SampleStore,
    WireProtocol,
};

/// Arguments of `promrw sink`.
#[derive(clap::Args)]
pub struct SinkArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed first).
    #[arg(long, default_value = "127.0.0.1:9201")]
    listen: String,
    /// Print a line for every request instead of a summary per interval.
    #[arg(long)]
    per_request: bool,
    /// Interval between summaries, in seconds.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Print only the listening line and invalid requests.
    #[arg(long)]
    quiet: bool,
    /// Also print what each request it stores (answered 2xx) carries, also with `--quiet`,
    /// one line per item. For tests that check exact values. Per series, in request order:
    /// its samples, its histograms, its exemplars, then its 2.0 metadata; then the request's
    /// 1.0 family metadata, in request order. Line kinds:
    ///
    /// `sample <labels> <timestamp ms> <bits>`;
    ///
    /// `histogram <labels> <timestamp ms> <json>`: the histogram as received, a one-line JSON
    /// object with keys schema, zero_threshold_bits, sum_bits, count_int or count_float_bits
    /// (neither when unset), zero_count_int or zero_count_float_bits (likewise),
    /// positive_spans and negative_spans (`[[offset,length],...]`), positive_deltas,
    /// negative_deltas, positive_counts_bits, negative_counts_bits, reset_hint,
    /// custom_values_bits, start_timestamp (every array present, maybe empty; integers as JSON
    /// numbers; key order not significant);
    ///
    /// `exemplar <series labels> <exemplar labels> <timestamp ms> <bits>`;
    ///
    /// `series_metadata <labels> <type number> <help> <unit>`: a 2.0 series' metadata, every
    /// time a stored request carries it;
    ///
    /// `metadata <family> <type number> <help> <unit>`: a 1.0 `WriteRequest.metadata` entry.
    ///
    /// Labels are `{name="value",...}` (`{}` for none) with values escaped and quoted as Rust
    /// strings (a `}` or space can appear inside the quotes); help and unit are quoted the same
    /// way; `<bits>` and every `*_bits` are an f64's IEEE-754 bits, 16 lower-case hex digits.
    #[arg(long)]
    print_samples: bool,
    /// Requests handled at once (decode, store, `--latency-ms` delay); further requests wait
    /// for one to finish. Idle keep-alive connections do not count.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Answer every request only after sleeping this many milliseconds (after reading its
    /// body, before answering), to simulate a slow receiver. Each request sleeps on its own
    /// worker, so concurrent requests overlap their sleeps up to `--workers` (default 8);
    /// pass `--workers` at least the number of concurrent senders, or requests beyond it wait
    /// for a free worker and the latency is serialised. 0 (the default) does not sleep.
    #[arg(long, value_name = "N", default_value_t = 0)]
    latency_ms: u64,
    /// Answer every valid request with this status (4xx or 5xx) and store nothing: shows how a
    /// pipeline handles a receiver that rejects its data (400, 401, 404) or is failing (503).
    #[arg(long, value_name = "STATUS")]
    reject_with: Option<u16>,
    /// The protocols spoken: `both` (1.0 and 2.0), `1.0-415` (1.0 only, answering 415 to
    /// every 2.0 request) or `1.0-ignore` (a broken 1.0 receiver: decodes a 2.0 body as an
    /// empty 1.0 request, stores nothing, answers 204 without the Written headers). For
    /// watching a sender fall back to 1.0.
    #[arg(long, value_name = "MODE", default_value = "both", value_parser = parse_protocol)]
    protocol: ProtocolMode,
    /// Read commands from stdin, one per line, while serving, and apply them to the requests
    /// that arrive next: `latency <ms>` (answer each request that late, as `--latency-ms`),
    /// `status <code>` (answer every valid request with that 4xx or 5xx status and store
    /// nothing, as `--reject-with`; `status 200` or `status ok` returns to normal) and
    /// `totals` (print what was stored so far). After applying a command it prints
    /// `control ok <command>` to stdout, flushed (for `totals`, followed by `requests=N
    /// samples=N duplicates=N out_of_order=N series=N`, the unique samples stored, the
    /// duplicate and out-of-order ones refused, per series across requests); a line it cannot
    /// apply gets `control error <why>`. Blank lines are ignored; EOF on stdin leaves the
    /// current setting. `--latency-ms` and `--reject-with` give the initial setting.
    #[arg(long)]
    control_stdin: bool,
}

/// What `--control-stdin` changes while the sink serves: read by every request's handler.
#[derive(Debug, Default)]
struct Control {
    /// Milliseconds to sleep before answering (0: none).
    latency_ms: AtomicU64,
    /// The status answered to every valid request (0: normal, validate and store).
    reject_with: AtomicU64,
}

/// A command of `--control-stdin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControlCommand {
    /// `latency <ms>`.
    Latency(u64),
    /// `status <code>`: `None` for `200` or `ok` (back to normal).
    Status(Option<u16>),
    /// `totals`.
    Totals,
}

/// Parses one `--control-stdin` line (`None` for a blank one).
fn parse_control(line: &str) -> Option<Result<ControlCommand, String>> {
    let mut words = line.split_whitespace();
    let command = words.next()?;
    let argument = words.next();
    if let Some(extra) = words.next() {
        return Some(Err(format!("unexpected {extra:?} after {command}")));
    }
    Some(match (command, argument) {
        ("latency", Some(ms)) => ms
            .parse()
            .map(ControlCommand::Latency)
            .map_err(|_| format!("latency wants milliseconds (0 or more), got {ms:?}")),
        ("status", Some("ok" | "200")) => Ok(ControlCommand::Status(None)),
        ("status", Some(code)) => match code.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => Ok(ControlCommand::Status(Some(code))),
            _ => Err(format!(
                "status wants a 4xx or 5xx code, or 200 or ok, got {code:?}"
            )),
        },
        ("totals", None) => Ok(ControlCommand::Totals),
        ("latency" | "status", None) => Err(format!("{command} wants an argument")),
        ("totals", Some(extra)) => Err(format!("unexpected {extra:?} after totals")),
        _ => Err(format!(
            "unknown command {command:?} (latency <ms>, status <code>, totals)"
        )),
    })
}

/// Reads `--control-stdin` commands until EOF, applies them to `control` and answers each on
/// stdout (holding `print_lock`, so answers do not interleave with other lines).
fn read_control(control: &Control, store: &SampleStore, print_lock: &Mutex<()>) {
    use std::io::{BufRead, Write};
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Some(parsed) = parse_control(&line) else {
            continue;
        };
        let answer = match parsed {
            Err(why) => format!("control error {why}"),
            Ok(command) => {
                let mut answer = format!("control ok {}", line.trim());
                match command {
                    ControlCommand::Latency(ms) => control.latency_ms.store(ms, Ordering::SeqCst),
                    ControlCommand::Status(code) => control
                        .reject_with
                        .store(code.map_or(0, u64::from), Ordering::SeqCst),
                    ControlCommand::Totals => {
                        let totals = store.totals();
                        answer.push_str(&format!(
                            " requests={} samples={} duplicates={} out_of_order={} series={}",
                            totals.requests,
                            totals.accepted,
                            totals.duplicates,
                            totals.out_of_order,
                            store.series_count()
                        ));
                    }
                }
                answer
            }
        };
        let _guard = print_lock.lock();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{answer}").and_then(|()| out.flush());
    }
}

/// Parses `--protocol`.
fn parse_protocol(value: &str) -> Result<ProtocolMode, String> {
    value.parse()
}

/// Counters for the interval summary.
#[derive(Default)]
struct Interval {
    requests: AtomicU64,
    rejected: AtomicU64,
}

/// Runs the sink until the process is killed.
pub fn run(args: SinkArgs) -> Result<(), String> {
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        return Err(format!(
            "--interval must be a positive number of seconds, got {}",
            args.interval
        ));
    }
    if let Some(status) = args.reject_with
        && !(400..=599).contains(&status)
    {
        return Err(format!(
            "--reject-with must be a 4xx or 5xx status, got {status}"
        ));
    }
    let store = Arc::new(SampleStore::new(false));
    let interval = Arc::new(Interval::default());
    let per_request = args.per_request;
    let quiet = args.quiet;
    let print_samples = args.print_samples;
    let print_lock = Arc::new(Mutex::new(()));
    let observer: Observer = {
        let interval = interval.clone();
        let print_lock = print_lock.clone();
        Arc::new(move |info, reply, report| {
            interval.requests.fetch_add(1, Ordering::Relaxed);
            let _guard = print_lock.lock();
            match &info.decoded {
                Err(e) => {
                    interval.rejected.fetch_add(1, Ordering::Relaxed);
                    println!(
                        "{} {} -> {}: {}",
                        info.method, info.path, reply.status, e.message
                    );
                }
                Ok(decoded) if per_request && !quiet => {
                    let report = report.unwrap_or_default();
                    println!(
                        "{} {} -> {} protocol={} series={} samples={} histograms={} exemplars={} bytes={} raw_bytes={} out_of_order={} duplicates={} user_agent={:?} retry_attempt={} family_metadata={}",
                        info.method,
                        info.path,
                        reply.status,
                        protocol_name(decoded.protocol),
                        decoded.series.len(),
                        decoded.samples,
                        decoded.histograms,
                        decoded.exemplars,
                        decoded.compressed_bytes,
                        decoded.raw_bytes,
                        report.out_of_order,
                        report.duplicates,
                        info.header("user-agent").unwrap_or(""),
                        info.header("retry-attempt").unwrap_or("0"),
                        decoded.family_metadata.len(),
                    );
                }
                Ok(_) => {}
            }
            if let (true, Ok(decoded), Some(_)) = (print_samples, &info.decoded, report) {
                print_stored_samples(decoded);
            }
        })
    };
    let control = Arc::new(Control {
        latency_ms: AtomicU64::new(args.latency_ms),
        reject_with: AtomicU64::new(args.reject_with.map_or(0, u64::from)),
    });
    let handler: Handler = {
        let control = control.clone();
        let validating = validating_handler();
        Arc::new(move |info: &RequestInfo| {
            let reply = match (&info.decoded, control.reject_with.load(Ordering::SeqCst)) {
                (Ok(_), status @ 1..) => {
                    let status = u16::try_from(status).unwrap_or(503);
                    Reply::status(
                        status,
                        format!("promrw sink: rejected with {status} (--reject-with or status)"),
                    )
                }
                _ => validating(info),
            };
            match control.latency_ms.load(Ordering::SeqCst) {
                0 => reply,
                ms => reply.with_delay(Duration::from_millis(ms)),
            }
        })
    };
    let receiver = Receiver::start_with(
        &args.listen,
        args.workers,
        store.clone(),
        handler,
        Some(observer),
        ReceiverOptions {
            protocol: args.protocol,
        },
    )
    .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!("listening on {}", receiver.url());
    if args.protocol != ProtocolMode::Both {
        println!("protocol {}", args.protocol.name());
    }
    if args.control_stdin {
        let control = control.clone();
        let store = store.clone();
        let print_lock = print_lock.clone();
        std::thread::Builder::new()
            .name("promrw-sink-control".into())
            .spawn(move || read_control(&control, &store, &print_lock))
            .map_err(|e| format!("cannot start the thread reading --control-stdin: {e}"))?;
    }
    let started = Instant::now();
    let mut previous = store.totals();
    loop {
        std::thread::sleep(Duration::from_secs_f64(args.interval));
        if per_request || quiet {
            continue;
        }
        let totals = store.totals();
        let requests = interval.requests.swap(0, Ordering::Relaxed);
        let rejected = interval.rejected.swap(0, Ordering::Relaxed);
        let _guard = print_lock.lock();
        println!(
            "[{:7.1}s] requests={requests} rejected={rejected} samples={} bytes={} out_of_order={} duplicates={} | total samples={} series={} v2_requests={} histograms={} exemplars={} metadata={} v2_refused={} v2_ignored={} family_metadata={}",
            started.elapsed().as_secs_f64(),
            totals.accepted - previous.accepted,
            totals.compressed_bytes - previous.compressed_bytes,
            totals.out_of_order - previous.out_of_order,
            totals.duplicates - previous.duplicates,
            totals.accepted,
            store.series_count(),
            totals.v2_requests,
            totals.histograms,
            totals.exemplars,
            totals.metadata,
            totals.v2_refused,
            totals.v2_ignored,
            totals.family_metadata,
        );
        previous = totals;
    }
}

/// The per-request line's name of a protocol.
fn protocol_name(protocol: WireProtocol) -> &'static str {
    match protocol {
        WireProtocol::V1 => "1.0",
        WireProtocol::V2 => "2.0",
        WireProtocol::V2IgnoredAsV1 => "2.0-ignored",
    }
}

/// Prints what a stored request carries (`--print-samples`), one line per item.
fn print_stored_samples(decoded: &DecodedRequest) {
    print!("{}", stored_lines(decoded));
}

/// The `--print-samples` lines of a stored request (see [`SinkArgs`]'s `print_samples`).
fn stored_lines(decoded: &DecodedRequest) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for series in &decoded.series {
        let labels = format_labels(&series.labels);
        for (timestamp, bits) in &series.samples {
            let _ = writeln!(out, "sample {labels} {timestamp} {bits:016x}");
        }
        for (timestamp, histogram) in &series.histograms {
            let _ = writeln!(
                out,
                "histogram {labels} {timestamp} {}",
                histogram_json(histogram)
            );
        }
        for exemplar in &series.exemplars {
            let _ = writeln!(
                out,
                "exemplar {labels} {} {} {:016x}",
                format_labels(&exemplar.labels),
                exemplar.timestamp,
                exemplar.value_bits
            );
        }
        if let Some(metadata) = &series.metadata {
            let _ = writeln!(
                out,
                "series_metadata {labels} {} {:?} {:?}",
                metadata.metric_type, metadata.help, metadata.unit
            );
        }
    }
    for metadata in &decoded.family_metadata {
        let _ = writeln!(
            out,
            "metadata {} {} {:?} {:?}",
            metadata.family, metadata.metric_type, metadata.help, metadata.unit
        );
    }
    out
}

/// Labels as `{name="value",...}`, values escaped and quoted as Rust strings.
fn format_labels(labels: &[(String, String)]) -> String {
    let inner = labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect::<Vec<_>>()
        .join(",");
    format!("{{{inner}}}")
}

/// A histogram as the one-line JSON object of a `histogram` line.
fn histogram_json(h: &proto_v2::Histogram) -> String {
    use proto_v2::{HistogramCount, HistogramZeroCount};
    use serde_json::{Map, Value, json};
    let bits = |v: f64| Value::String(format!("{:016x}", v.to_bits()));
    let all_bits = |vs: &[f64]| Value::Array(vs.iter().map(|v| bits(*v)).collect());
    let spans = |spans: &[proto_v2::BucketSpan]| {
        Value::Array(spans.iter().map(|s| json!([s.offset, s.length])).collect())
    };
    let mut object = Map::new();
    object.insert("schema".into(), json!(h.schema));
    object.insert("zero_threshold_bits".into(), bits(h.zero_threshold));
    object.insert("sum_bits".into(), bits(h.sum));
    match h.count {
        Some(HistogramCount::CountInt(c)) => {
            object.insert("count_int".into(), json!(c));
        }
        Some(HistogramCount::CountFloat(c)) => {
            object.insert("count_float_bits".into(), bits(c));
        }
        None => {}
    }
    match h.zero_count {
        Some(HistogramZeroCount::ZeroCountInt(c)) => {
            object.insert("zero_count_int".into(), json!(c));
        }
        Some(HistogramZeroCount::ZeroCountFloat(c)) => {
            object.insert("zero_count_float_bits".into(), bits(c));
        }
        None => {}
    }
    object.insert("positive_spans".into(), spans(&h.positive_spans));
    object.insert("negative_spans".into(), spans(&h.negative_spans));
    object.insert("positive_deltas".into(), json!(h.positive_deltas));
    object.insert("negative_deltas".into(), json!(h.negative_deltas));
    object.insert("positive_counts_bits".into(), all_bits(&h.positive_counts));
    object.insert("negative_counts_bits".into(), all_bits(&h.negative_counts));
    object.insert("reset_hint".into(), json!(h.reset_hint));
    object.insert("custom_values_bits".into(), all_bits(&h.custom_values));
    object.insert("start_timestamp".into(), json!(h.start_timestamp));
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::{ControlCommand, parse_control};

    #[test]
    fn control_lines_parse_or_say_why_not() {
        assert_eq!(
            parse_control("latency 100"),
            Some(Ok(ControlCommand::Latency(100)))
        );
        assert_eq!(
            parse_control(" status 503 "),
            Some(Ok(ControlCommand::Status(Some(503))))
        );
        assert_eq!(
            parse_control("status ok"),
            Some(Ok(ControlCommand::Status(None)))
        );
        assert_eq!(
            parse_control("status 200"),
            Some(Ok(ControlCommand::Status(None)))
        );
        assert_eq!(parse_control("totals"), Some(Ok(ControlCommand::Totals)));
        assert_eq!(parse_control("   "), None);
        for bad in [
            "latency",
            "latency -1",
            "latency soon",
            "status 302",
            "status 204",
            "status",
            "status 503 now",
            "totals please",
            "restart",
        ] {
            assert!(matches!(parse_control(bad), Some(Err(_))), "{bad}");
        }
    }
}
