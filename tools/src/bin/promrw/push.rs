//! `promrw push [--config FILE] [--url URL] [--label NAME=VALUE]... [FILE...]`: sends a
//! Prometheus text exposition (0.0.4) or OpenMetrics 1.0 text, from files or stdin, to a
//! remote-write endpoint, once, for batch jobs. The whole input is parsed and checked first
//! (nothing is sent from an input with an error, unless `--skip-invalid`); then every series
//! is registered once, its family's metadata set, every sample appended, and the command waits
//! until all are acknowledged. Exit status: 0 when every sample was acknowledged, 1 when
//! sending failed (rejected by the receiver, timeout, dropped), 2 when nothing was sent (an
//! input error, a bad argument or configuration).

use std::collections::hash_map::Entry;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fxhash::FxHashMap;
use promrw::config::{EndpointConfig, ProtobufMessage};
use promrw::log::StderrSink;
use promrw::{
    Config, Exemplar, Label, Labels, LogLevel, Metadata, SampleOptions, Sender, SeriesRef,
};
use promrw_tools::exposition::{
    Exposition, Format, InputError, ParseError, ParseOptions, Position, parse, parse_seekable,
    render_labels,
};

/// Exit status when sending failed: a sample was not acknowledged.
const SEND_FAILED: u8 = 1;
/// Exit status when nothing was sent: the input, an argument or the configuration is bad.
const NOTHING_SENT: u8 = 2;
/// How many skipped lines `--skip-invalid` shows.
const SHOWN_SKIPPED: usize = 5;
/// Samples per `append_batch` call.
const BATCH: usize = 4096;

/// The `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// OpenMetrics when the input's last line is `# EOF`, else 0.0.4.
    Auto,
    /// The Prometheus text exposition format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    Openmetrics,
}

/// Arguments of `promrw push`.
#[derive(clap::Args)]
pub struct PushArgs {
    /// The configuration file (the `remote_write` block in YAML or JSON, as for
    /// check-config). May be left out when --url is given.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The receiver's URL. With --config it replaces the URL of the configuration's single
    /// remote_write entry (an error with several). Without --config, the endpoint is this URL
    /// with the defaults, speaking Remote Write 2.0 (a 1.0-only receiver's 415 makes it fall
    /// back to 1.0) with send_exemplars on, and a queue for a one-shot push: one shard per CPU
    /// (2 to 8) and 5000 samples per request. With --config its queue_config holds (a push ends
    /// before resharding acts, so min_shards sets how many requests are in flight).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// A label added to every series, replacing one of the same name the input has (as a
    /// Pushgateway's grouping key, e.g. `--label job=backup --label instance=db1`). Repeat it
    /// for several.
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Skip the lines that do not parse (and the samples of series that are invalid or out of
    /// order) instead of sending nothing: they are counted, the first few shown on stderr, the
    /// rest sent.
    #[arg(long)]
    skip_invalid: bool,
    /// The input format: `auto` reads OpenMetrics when the input's last line is `# EOF`,
    /// else 0.0.4.
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// Seconds to wait for every sample to be acknowledged before giving up (exit 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    timeout: f64,
    /// Parse and check the input (and the configuration, when given), print what would be
    /// sent and the parse rate, send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print only errors.
    #[arg(long)]
    quiet: bool,
    /// The inputs; none or `-` reads stdin.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Parses `--label NAME=VALUE`.
fn parse_label(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))?;
    if name == "__name__" {
        return Err("--label cannot set __name__".into());
    }
    let valid = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !valid {
        return Err(format!("invalid label name {name:?}"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// A failure and the exit status it gives.
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    fn nothing_sent(message: impl Into<String>) -> Failure {
        Failure {
            status: NOTHING_SENT,
            message: message.into(),
        }
    }

    fn send_failed(message: impl Into<String>) -> Failure {
        Failure {
            status: SEND_FAILED,
            message: message.into(),
        }
    }
}

/// Runs `promrw push`.
pub fn run(args: PushArgs) -> ExitCode {
    match push(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("promrw push: {}", failure.message);
            }
            ExitCode::from(failure.status)
        }
    }
}

/// One input: its name for messages and its parse.
struct Input {
    name: String,
    parsed: Exposition,
}

/// A series as sent: its labels (with `--label`), metadata, start timestamp and where the
/// input first has it.
struct Canonical {
    labels: Labels,
    metadata: Option<Metadata>,
    start_ms: i64,
    input: usize,
    first: Position,
}

/// Everything checked and ready to append.
struct Prepared {
    series: Vec<Canonical>,
    /// Per input, per parsed series: the index in `series`, or `SKIPPED`.
    map: Vec<Vec<u32>>,
    /// Per input: the indices of samples skipped (sorted).
    skipped_samples: Vec<Vec<u32>>,
    /// Per input: the exemplars, by sample index (sorted).
    exemplars: Vec<Vec<(u32, Exemplar)>>,
    /// Samples to send.
    samples: u64,
}

/// A parsed series left out (`--skip-invalid`).
const SKIPPED: u32 = u32::MAX;

fn push(args: &PushArgs) -> Result<(), Failure> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err(Failure::nothing_sent(format!(
            "--timeout must be a positive number of seconds, got {}",
            args.timeout
        )));
    }
    // A dry run checks the configuration only when one is given.
    let config = if args.dry_run && args.config.is_none() && args.url.is_none() {
        None
    } else {
        Some(build_config(args)?)
    };
    let started = Instant::now();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (inputs, bytes) = read_and_parse(args, now_ms)?;
    let read_in = started.elapsed();
    let mut prepared = prepare(args, &inputs)?;
    let parsed_in = started.elapsed();
    let families: usize = inputs.iter().map(|i| i.parsed.families.len()).sum();
    if args.dry_run {
        let secs = parsed_in.as_secs_f64().max(1e-9);
        println!(
            "promrw push: dry run: {} samples of {} series in {families} families from {} input(s), {bytes} bytes, parsed and checked in {:.3} s ({:.0} samples/s, {:.1} MB/s); nothing sent",
            prepared.samples,
            prepared.series.len(),
            inputs.len(),
            secs,
            prepared.samples as f64 / secs,
            bytes as f64 / secs / 1e6,
        );
        return Ok(());
    }
    let Some(config) = config else {
        return Err(Failure::nothing_sent("no configuration"));
    };
    let url = config.endpoints[0].url.clone();
    // The endpoints that send 1.0 metadata requests (when the input has metadata).
    let with_metadata = prepared
        .series
        .iter()
        .filter(|s| s.metadata.is_some())
        .count();
    let has_metadata = with_metadata > 0;
    let metadata_endpoints: Vec<usize> = config
        .endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            has_metadata && e.tenant.is_none() && e.metadata_config.as_ref().is_some_and(|m| m.send)
        })
        .map(|(i, _)| i)
        .collect();
    let sender = Sender::new(config)
        .map_err(|e| Failure::nothing_sent(format!("cannot start the sender: {e}")))?;
    let registering = Instant::now();
    let refs = register(&sender, &inputs, &mut prepared)?;
    let metadata_set = Instant::now();
    send(&sender, &inputs, &prepared, &refs)?;
    let result = wait_acknowledged(
        &sender,
        args,
        prepared.samples,
        (metadata_set, &metadata_endpoints),
    );
    // Close at once: after a successful flush nothing is left; after a failure, what is
    // left is given up (and was reported).
    let _ = sender.close(Duration::from_millis(500));
    result?;
    if !args.quiet {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let exemplars: usize = prepared.exemplars.iter().map(Vec::len).sum();
        println!(
            "promrw push: {} samples of {} series ({with_metadata} with metadata, {exemplars} exemplars) acknowledged by {} in {secs:.3} s ({:.0} samples/s; read and parsed in {:.3} s, checked in {:.3} s, registered in {:.3} s, sent and acknowledged in {:.3} s)",
            prepared.samples,
            prepared.series.len(),
            promrw::redact::redact_url_and_query(&url),
            prepared.samples as f64 / secs,
            read_in.as_secs_f64(),
            (parsed_in - read_in).as_secs_f64(),
            (metadata_set - registering).as_secs_f64(),
            metadata_set.elapsed().as_secs_f64(),
        );
    }
    // The process ends now: freeing each of the inputs', the series' and the sender's many
    // small allocations one by one would cost more than the exit that returns them at once.
    std::mem::forget(inputs);
    std::mem::forget(prepared);
    std::mem::forget(sender);
    Ok(())
}

/// The sender's configuration: the file's, with `--url`'s URL, or `--url` alone.
fn build_config(args: &PushArgs) -> Result<Config, Failure> {
    let mut config = match (&args.config, &args.url) {
        (Some(path), url) => {
            let mut config = Config::from_file(path)
                .map_err(|e| Failure::nothing_sent(format!("{}: {e}", path.display())))?;
            if let Some(url) = url {
                if config.endpoints.len() != 1 {
                    return Err(Failure::nothing_sent(format!(
                        "--url replaces the URL of a single remote_write entry; {} has {}",
                        path.display(),
                        config.endpoints.len()
                    )));
                }
                config.endpoints[0].url = url.clone();
            }
            config
        }
        (None, Some(url)) => {
            let mut endpoint = EndpointConfig::new(url).name("push");
            endpoint.protobuf_message = ProtobufMessage::V2;
            endpoint.send_exemplars = true;
            endpoint.queue = push_queue_config();
            Config::builder()
                .endpoint(endpoint)
                .build()
                .map_err(|e| Failure::nothing_sent(e.to_string()))?
        }
        (None, None) => {
            return Err(Failure::nothing_sent(
                "give --config FILE, --url URL or both (or --dry-run)",
            ));
        }
    };
    if config.endpoints.is_empty() {
        return Err(Failure::nothing_sent(
            "the configuration has no remote_write entry",
        ));
    }
    for endpoint in &mut config.endpoints {
        // Remote Write 1.0 sends metadata in requests of its own, every send_interval (1m by
        // default): a one-shot push sends them soon after its start instead, and waits for them.
        if endpoint.protobuf_message == ProtobufMessage::V1
            && let Some(metadata) = endpoint.metadata_config.as_mut()
        {
            metadata.send_interval = metadata.send_interval.min(METADATA_INTERVAL);
        } else if endpoint.protobuf_message == ProtobufMessage::V1 {
            endpoint.metadata_config = Some(promrw::config::MetadataConfig {
                send_interval: METADATA_INTERVAL,
                ..promrw::config::MetadataConfig::default()
            });
        }
    }
    config.set_logger(Arc::new(StderrSink), LogLevel::Warn);
    Ok(config)
}

/// The queue of the endpoint `--url` makes without `--config`: the defaults, but a push knows
/// its whole load at its start and is over long before resharding (every 10 s) would add
/// shards, so it starts with one shard per CPU (2 to [`PUSH_MAX_SHARDS`]) and sends
/// [`PUSH_SAMPLES_PER_SEND`] samples per request (a quarter of the per-shard capacity).
fn push_queue_config() -> promrw::config::QueueConfig {
    let defaults = promrw::config::QueueConfig::default();
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    promrw::config::QueueConfig {
        min_shards: cpus.clamp(2, PUSH_MAX_SHARDS),
        max_samples_per_send: PUSH_SAMPLES_PER_SEND,
        capacity: 4 * PUSH_SAMPLES_PER_SEND,
        ..defaults
    }
}

/// The most threads that parse one file.
const PARSE_WORKERS: usize = 8;

/// The most shards a push without `--config` starts with.
const PUSH_MAX_SHARDS: usize = 8;
/// Samples per request of a push without `--config`.
const PUSH_SAMPLES_PER_SEND: usize = 5_000;

/// The 1.0 metadata interval of a push.
const METADATA_INTERVAL: Duration = Duration::from_millis(200);

/// Reads every input (stdin for none or `-`) and parses it whole. The first error ends it
/// (`FILE:LINE:COLUMN: message`), unless `--skip-invalid`, which lists the skipped lines.
fn read_and_parse(args: &PushArgs, now_ms: i64) -> Result<(Vec<Input>, u64), Failure> {
    let names: Vec<Option<&PathBuf>> = if args.files.is_empty() {
        vec![None]
    } else {
        args.files
            .iter()
            .map(|f| (f.as_os_str() != "-").then_some(f))
            .collect()
    };
    let options = ParseOptions {
        format: match args.format {
            FormatArg::Auto => None,
            FormatArg::Prometheus => Some(Format::Prometheus),
            FormatArg::Openmetrics => Some(Format::OpenMetrics),
        },
        default_timestamp_ms: now_ms,
        skip_invalid: args.skip_invalid,
    };
    let mut inputs = Vec::with_capacity(names.len());
    let mut bytes = 0u64;
    let mut skipped: Vec<String> = Vec::new();
    let mut skipped_count = 0usize;
    for name in names {
        let (label, parsed) = match name {
            None => {
                let mut text = Vec::new();
                std::io::stdin()
                    .lock()
                    .read_to_end(&mut text)
                    .map_err(|e| Failure::nothing_sent(format!("cannot read stdin: {e}")))?;
                bytes += text.len() as u64;
                (
                    "<stdin>".to_string(),
                    parse(&text, &options).map_err(InputError::Parse),
                )
            }
            Some(path) => {
                let label = path.display().to_string();
                let parsed = read_file(path, &options).map(|(parsed, read)| {
                    bytes += read;
                    parsed
                });
                (label, parsed)
            }
        };
        match parsed {
            Ok(parsed) => {
                skipped_count += parsed.skipped.len();
                for e in parsed.skipped.iter().take(SHOWN_SKIPPED) {
                    skipped.push(located(&label, e));
                }
                inputs.push(Input {
                    name: label,
                    parsed,
                });
            }
            Err(InputError::Read(e)) => {
                return Err(Failure::nothing_sent(format!("cannot read {label}: {e}")));
            }
            Err(InputError::Parse(e)) => {
                eprintln!("{}", located(&label, &e));
                return Err(Failure::nothing_sent(
                    "the input does not parse: nothing sent",
                ));
            }
        }
    }
    report_skipped("line", skipped_count, &skipped);
    Ok((inputs, bytes))
}

/// Reads and parses a file: a regular file while it is read, on one thread per CPU (at most
/// [`PARSE_WORKERS`]; see `parse_seekable`); anything else (a pipe) read whole first. Gives
/// the bytes read.
fn read_file(path: &Path, options: &ParseOptions) -> Result<(Exposition, u64), InputError> {
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.is_file() {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Each worker holds a 4 MiB buffer and its part's results: at most PARSE_WORKERS.
        let workers = cpus.min(PARSE_WORKERS);
        return parse_seekable(&mut file, options, workers);
    }
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    let parsed = parse(&text, options).map_err(InputError::Parse)?;
    Ok((parsed, text.len() as u64))
}

/// `FILE:LINE:COLUMN: message`.
fn located(input: &str, e: &ParseError) -> String {
    format!(
        "{input}:{}:{}: {}",
        e.position.line, e.position.column, e.message
    )
}

/// Prints how many `what`s `--skip-invalid` skipped, and the first ones.
fn report_skipped(what: &str, count: usize, shown: &[String]) {
    if count == 0 {
        return;
    }
    eprintln!(
        "promrw push: skipped {count} invalid {what}{} (--skip-invalid); the first:",
        if count == 1 { "" } else { "s" }
    );
    for line in shown.iter().take(SHOWN_SKIPPED) {
        eprintln!("  {line}");
    }
}

/// Builds each distinct series' labels (with `--label`), and checks what the sender would
/// refuse once sending: invalid label sets, timestamps not increasing per series, invalid
/// exemplars. Errors end it with nothing sent, unless `--skip-invalid`.
fn prepare(args: &PushArgs, inputs: &[Input]) -> Result<Prepared, Failure> {
    let mut by_labels = SeriesIndex::default();
    let mut series: Vec<Canonical> = Vec::new();
    let mut map = Vec::with_capacity(inputs.len());
    let mut problems: Vec<String> = Vec::new();
    let mut problem_count = 0usize;
    let mut problem = |text: String| -> Result<(), Failure> {
        if !args.skip_invalid {
            eprintln!("{text}");
            return Err(Failure::nothing_sent(
                "the input has an invalid sample: nothing sent",
            ));
        }
        problem_count += 1;
        if problems.len() < SHOWN_SKIPPED {
            problems.push(text);
        }
        Ok(())
    };
    for (index, input) in inputs.iter().enumerate() {
        let parsed = &input.parsed;
        let mut mine = Vec::with_capacity(parsed.series.len());
        // Each family's metadata, made once.
        let metadata: Vec<Option<Metadata>> =
            parsed.families.iter().map(|f| f.metadata()).collect();
        for s in &parsed.series {
            let mut labels: Vec<Label> = Vec::with_capacity(s.labels.len() + args.labels.len() + 1);
            labels.push(Label::new("__name__", s.name.as_str()));
            for (name, value) in &s.labels {
                if !args.labels.iter().any(|(n, _)| n == name) {
                    labels.push(Label::new(name.as_str(), value.as_str()));
                }
            }
            for (name, value) in &args.labels {
                labels.push(Label::new(name.as_str(), value.as_str()));
            }
            match Labels::new(labels) {
                Ok(labels) => {
                    let family_metadata = &metadata[s.family as usize];
                    let id = match by_labels.find(&labels, &series) {
                        Some(id) => {
                            let known = &mut series[id as usize];
                            if known.metadata.is_none() {
                                known.metadata = family_metadata.clone();
                            }
                            id
                        }
                        None => {
                            let id = series.len() as u32;
                            by_labels.insert(&labels, id);
                            series.push(Canonical {
                                labels,
                                metadata: family_metadata.clone(),
                                start_ms: s.start_ms,
                                input: index,
                                first: s.first,
                            });
                            id
                        }
                    };
                    mine.push(id);
                }
                Err(e) => {
                    problem(format!(
                        "{}:{}:{}: invalid series {}: {}",
                        input.name,
                        s.first.line,
                        s.first.column,
                        render_labels(&s.name, &s.labels),
                        e.message()
                    ))?;
                    mine.push(SKIPPED);
                }
            }
        }
        map.push(mine);
    }
    // Timestamps must increase per series, across inputs; exemplars must be valid.
    let mut last: Vec<(i64, usize, u32)> = vec![(i64::MIN, 0, 0); series.len()];
    let mut skipped_samples = Vec::with_capacity(inputs.len());
    let mut exemplars = Vec::with_capacity(inputs.len());
    let mut samples = 0u64;
    for (index, input) in inputs.iter().enumerate() {
        let parsed = &input.parsed;
        let mut skipped = Vec::new();
        let mut mine_exemplars = Vec::with_capacity(parsed.exemplars.len());
        let mut exemplar_iter = parsed.exemplars.iter().peekable();
        for (i, sample) in parsed.samples.iter().enumerate() {
            let id = map[index][sample.series as usize];
            if id == SKIPPED {
                skipped.push(i as u32);
                while exemplar_iter.next_if(|e| e.sample as usize == i).is_some() {}
                continue;
            }
            let (last_ts, last_input, last_line) = last[id as usize];
            if sample.timestamp_ms <= last_ts {
                let p = &parsed.series[sample.series as usize];
                let what = if sample.timestamp_ms == last_ts {
                    "has the same timestamp as"
                } else {
                    "is older than"
                };
                problem(format!(
                    "{}:{}:1: sample of {} at {} ms {what} the one at {}:{last_line} (timestamps must increase per series; a series twice without timestamps has the time of reading twice)",
                    input.name,
                    sample.line,
                    render_labels(&p.name, &p.labels),
                    sample.timestamp_ms,
                    inputs[last_input].name,
                ))?;
                skipped.push(i as u32);
                while exemplar_iter.next_if(|e| e.sample as usize == i).is_some() {}
                continue;
            }
            last[id as usize] = (sample.timestamp_ms, index, sample.line);
            samples += 1;
            while let Some(e) = exemplar_iter.next_if(|e| e.sample as usize == i) {
                let labels = e
                    .labels
                    .iter()
                    .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
                    .collect();
                match Exemplar::new(labels, e.value, e.timestamp_ms) {
                    Ok(exemplar) => mine_exemplars.push((i as u32, exemplar)),
                    Err(error) => problem(format!(
                        "{}:{}:1: invalid exemplar (sent without it): {}",
                        input.name,
                        sample.line,
                        error.message()
                    ))?,
                }
            }
        }
        skipped_samples.push(skipped);
        exemplars.push(mine_exemplars);
    }
    report_skipped("sample or series", problem_count, &problems);
    Ok(Prepared {
        series,
        map,
        skipped_samples,
        exemplars,
        samples,
    })
}

/// The series so far by their labels: each set kept once, in [`Prepared::series`], and found
/// by its hash (a second map holds the rare sets whose hash another set has).
#[derive(Default)]
struct SeriesIndex {
    by_hash: FxHashMap<u64, u32>,
    collided: FxHashMap<Labels, u32>,
}

impl SeriesIndex {
    /// The index in `series` of `labels`, if they are there.
    fn find(&self, labels: &Labels, series: &[Canonical]) -> Option<u32> {
        let &id = self.by_hash.get(&fxhash::hash64(labels))?;
        if series[id as usize].labels == *labels {
            return Some(id);
        }
        self.collided.get(labels).copied()
    }

    /// Records that `labels` (not yet here) are `series[id]`.
    fn insert(&mut self, labels: &Labels, id: u32) {
        match self.by_hash.entry(fxhash::hash64(labels)) {
            Entry::Vacant(slot) => {
                slot.insert(id);
            }
            Entry::Occupied(_) => {
                self.collided.insert(labels.clone(), id);
            }
        }
    }
}

/// Registers every series and sets its metadata (moved out of `prepared`).
fn register(
    sender: &Sender,
    inputs: &[Input],
    prepared: &mut Prepared,
) -> Result<Vec<SeriesRef>, Failure> {
    let mut refs = Vec::with_capacity(prepared.series.len());
    for series in &mut prepared.series {
        let series_ref = sender.series(series.labels.clone()).map_err(|e| {
            Failure::nothing_sent(format!(
                "{}:{}:{}: cannot register the series: {e}",
                inputs[series.input].name, series.first.line, series.first.column
            ))
        })?;
        if let Some(metadata) = series.metadata.take() {
            sender
                .set_metadata(series_ref, metadata)
                .map_err(|e| Failure::nothing_sent(format!("set_metadata: {e}")))?;
        }
        refs.push(series_ref);
    }
    Ok(refs)
}

/// Appends every sample in input order: plain ones in batches, those with an exemplar or a
/// start timestamp one by one.
fn send(
    sender: &Sender,
    inputs: &[Input],
    prepared: &Prepared,
    refs: &[SeriesRef],
) -> Result<(), Failure> {
    let mut batch: Vec<promrw::Sample> = Vec::with_capacity(BATCH);
    let flush_batch = |batch: &mut Vec<promrw::Sample>| -> Result<(), Failure> {
        let (_, result) = sender.append_batch(batch);
        batch.clear();
        result.map_err(|e| Failure::send_failed(format!("the sender refused a sample: {e}")))
    };
    for (index, input) in inputs.iter().enumerate() {
        let map = &prepared.map[index];
        let mut skipped = prepared.skipped_samples[index].iter().peekable();
        let mut exemplars = prepared.exemplars[index].iter().peekable();
        for (i, sample) in input.parsed.samples.iter().enumerate() {
            if skipped.next_if(|&&s| s as usize == i).is_some() {
                continue;
            }
            let id = map[sample.series as usize] as usize;
            let series = refs[id];
            let start_ms = prepared.series[id].start_ms;
            let exemplar = exemplars.next_if(|(s, _)| *s as usize == i).map(|(_, e)| e);
            if start_ms == 0 && exemplar.is_none() {
                batch.push(promrw::Sample {
                    series,
                    timestamp_ms: sample.timestamp_ms,
                    value: sample.value,
                });
                if batch.len() == BATCH {
                    flush_batch(&mut batch)?;
                }
                continue;
            }
            flush_batch(&mut batch)?;
            let options = SampleOptions {
                // A start after the sample is not one: left out.
                start_timestamp_ms: if start_ms <= sample.timestamp_ms {
                    start_ms
                } else {
                    0
                },
                exemplar: exemplar.cloned(),
            };
            sender
                .append_with(series, sample.timestamp_ms, sample.value, &options)
                .map_err(|e| Failure::send_failed(format!("the sender refused a sample: {e}")))?;
        }
    }
    flush_batch(&mut batch)
}

/// Flushes with `--timeout` and checks that every sample was acknowledged on every endpoint
/// (samples `write_relabel_configs` drop by design aside); waits for 1.0 metadata requests.
fn wait_acknowledged(
    sender: &Sender,
    args: &PushArgs,
    samples: u64,
    (metadata_set, metadata_endpoints): (Instant, &[usize]),
) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    if let Err(e) = sender.flush(Duration::from_secs_f64(args.timeout)) {
        return Err(Failure::send_failed(format!(
            "not every sample was acknowledged: {e}"
        )));
    }
    let stats = sender.stats();
    if stats.samples_appended != samples {
        return Err(Failure::send_failed(format!(
            "{} of {samples} samples were accepted by the sender",
            stats.samples_appended
        )));
    }
    for endpoint in &stats.endpoints {
        let accounted = endpoint.samples_acked + endpoint.samples_dropped_relabel;
        if accounted != samples {
            return Err(Failure::send_failed(format!(
                "remote_name={} url={}: {} of {samples} samples acknowledged ({} dropped by write_relabel_configs, {} dropped with invalid relabeled labels, {} without a tenant)",
                endpoint.remote_name,
                endpoint.url,
                endpoint.samples_acked,
                endpoint.samples_dropped_relabel,
                endpoint.samples_dropped_relabel_invalid,
                endpoint.samples_dropped_no_tenant,
            )));
        }
        let exemplars_dropped = endpoint.exemplars.dropped_total();
        if exemplars_dropped > 0 && !args.quiet {
            eprintln!(
                "promrw push: remote_name={}: {exemplars_dropped} exemplars not sent (send_exemplars is false, or the receiver does not take them)",
                endpoint.remote_name
            );
        }
        if endpoint.exemplars.failed > 0 {
            return Err(Failure::send_failed(format!(
                "remote_name={} url={}: {} exemplars were not written",
                endpoint.remote_name, endpoint.url, endpoint.exemplars.failed
            )));
        }
    }
    wait_metadata(sender, metadata_endpoints, metadata_set, deadline);
    Ok(())
}

/// Remote Write 1.0 endpoints send metadata in requests of their own, every
/// [`METADATA_INTERVAL`] in a push: waits (until `deadline`) for a round of each of
/// `endpoints` (those sending metadata) acknowledged after one interval past `metadata_set`
/// (when the last metadata was set; a round begun before may lack some), and warns when one
/// fails or none comes in time. Endpoints speaking 2.0 carry metadata in every request.
fn wait_metadata(sender: &Sender, endpoints: &[usize], metadata_set: Instant, deadline: Instant) {
    let v1 = |stats: &promrw::SenderStats| -> Vec<Option<(u64, u64)>> {
        endpoints
            .iter()
            .map(|&i| &stats.endpoints[i])
            .map(|e| {
                (e.remote_write_protocol == "1.0").then_some((e.metadata.total, e.metadata.failed))
            })
            .collect()
    };
    if v1(&sender.stats()).iter().all(Option::is_none) {
        return;
    }
    let settle = metadata_set + METADATA_INTERVAL;
    if let Some(wait) = settle.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
    let base = v1(&sender.stats());
    loop {
        let now = v1(&sender.stats());
        let pairs = || {
            now.iter()
                .zip(&base)
                .filter_map(|(n, b)| Some(((*n)?, (*b)?)))
        };
        if pairs().any(|(n, b)| n.1 > b.1) {
            eprintln!("promrw push: warning: the receiver refused Remote Write 1.0 metadata");
            return;
        }
        if pairs().all(|(n, b)| n.0 > b.0) {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "promrw push: warning: the Remote Write 1.0 metadata was not acknowledged before --timeout"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
