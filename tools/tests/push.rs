//! `promrw push` as built, against a real `promrw sink` child on 127.0.0.1 port 0: exact
//! samples, labels, timestamps, metadata and exemplars received; exit statuses for input
//! errors (nothing sent), `--skip-invalid`, a rejecting receiver and one that never answers;
//! the README's example script.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;
use common::{SinkProcess, TempDir};

/// Runs `promrw push` with `args` (and `stdin` written to its stdin, if any).
fn push(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_promrw"))
        .arg("push")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promrw push");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A push refused for its arguments exits without reading its input: a broken pipe.
        if let Err(e) = pipe.write_all(text.as_bytes()) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
    }
    child.wait_with_output().expect("wait for promrw push")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// The sink's next `--print-samples` lines until, for each `(kind, count)`, `count` of them
/// start with `kind` (each line within 10 s); returns the lines of each kind, in order.
fn lines_of(sink: &SinkProcess, wanted: &[(&str, usize)]) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = vec![Vec::new(); wanted.len()];
    while found.iter().zip(wanted).any(|(f, (_, n))| f.len() < *n) {
        let line = sink.next_line();
        if let Some(i) = wanted.iter().position(|(kind, _)| line.starts_with(kind)) {
            found[i].push(line);
        }
    }
    found
}

/// The sink's totals (`--control-stdin`): `requests=N samples=N ...`.
fn totals(sink: &mut SinkProcess) -> String {
    sink.send_line("totals");
    loop {
        let line = sink.next_line();
        if let Some(rest) = line.strip_prefix("control ok totals ") {
            return rest.to_string();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn bits(v: f64) -> String {
    format!("{:016x}", v.to_bits())
}

const JOB: &str = r#"# HELP backup_files_total Files copied by the backup.
# TYPE backup_files_total counter
backup_files_total{volume="home"} 1520 1700000000000
backup_files_total{volume="srv",job="overridden"} 7 1700000000000
# TYPE backup_last_success_seconds gauge
backup_last_success_seconds 1.7e9
backup_weird{why="a \"quote\"\nand a \\ backslash"} NaN 1700000000001
backup_weird{why="a \"quote\"\nand a \\ backslash"} -Inf 1700000000002
"#;

#[test]
fn push_sends_exact_samples_labels_timestamps_and_metadata() {
    let dir = TempDir::new("push");
    let file = dir.file("job.prom", JOB);
    let sink = SinkProcess::start(&["--quiet", "--print-samples"]);
    let before = now_ms();
    let output = push(
        &[
            "--url",
            &sink.url(),
            "--label",
            "job=nightly",
            file.to_str().unwrap(),
        ],
        None,
    );
    let after = now_ms();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output)
            .contains("5 samples of 4 series (3 with metadata, 0 exemplars) acknowledged"),
        "{}",
        describe(&output)
    );
    let [mut samples, mut metadata] =
        <[Vec<String>; 2]>::try_from(lines_of(&sink, &[("sample ", 5), ("series_metadata ", 4)]))
            .unwrap();
    samples.sort();
    // The gauge's sample has the time of reading.
    let gauge = samples
        .iter()
        .position(|l| l.contains("backup_last_success_seconds"))
        .unwrap();
    let gauge_line = samples.remove(gauge);
    let fields: Vec<&str> = gauge_line.rsplitn(3, ' ').collect();
    let ts: i64 = fields[1].parse().unwrap();
    assert!(
        before <= ts && ts <= after,
        "{gauge_line}: not in [{before}, {after}]"
    );
    assert_eq!(fields[0], bits(1.7e9));
    assert_eq!(
        fields[2],
        "sample {__name__=\"backup_last_success_seconds\",job=\"nightly\"}"
    );
    let mut expected = vec![
        format!(
            "sample {{__name__=\"backup_files_total\",job=\"nightly\",volume=\"home\"}} 1700000000000 {}",
            bits(1520.0)
        ),
        format!(
            "sample {{__name__=\"backup_files_total\",job=\"nightly\",volume=\"srv\"}} 1700000000000 {}",
            bits(7.0)
        ),
        format!(
            "sample {{__name__=\"backup_weird\",job=\"nightly\",why=\"a \\\"quote\\\"\\nand a \\\\ backslash\"}} 1700000000001 {}",
            bits(f64::NAN)
        ),
        format!(
            "sample {{__name__=\"backup_weird\",job=\"nightly\",why=\"a \\\"quote\\\"\\nand a \\\\ backslash\"}} 1700000000002 {}",
            bits(f64::NEG_INFINITY)
        ),
    ];
    expected.sort();
    assert_eq!(samples, expected);
    // Remote Write 2.0 (the default with --url alone) carries each series' metadata (type 0,
    // unspecified, for the series without descriptors), in whatever order the push's shards
    // sent them.
    metadata.sort();
    assert_eq!(
        metadata,
        vec![
            "series_metadata {__name__=\"backup_files_total\",job=\"nightly\",volume=\"home\"} 1 \"Files copied by the backup.\" \"\"".to_string(),
            "series_metadata {__name__=\"backup_files_total\",job=\"nightly\",volume=\"srv\"} 1 \"Files copied by the backup.\" \"\"".to_string(),
            "series_metadata {__name__=\"backup_last_success_seconds\",job=\"nightly\"} 2 \"\" \"\"".to_string(),
            "series_metadata {__name__=\"backup_weird\",job=\"nightly\",why=\"a \\\"quote\\\"\\nand a \\\\ backslash\"} 0 \"\" \"\"".to_string(),
        ]
    );
}

#[test]
fn push_reads_openmetrics_from_stdin_with_exemplars_and_units() {
    let text = "# TYPE rpc_seconds histogram\n# UNIT rpc_seconds seconds\n# HELP rpc_seconds RPC time.\nrpc_seconds_bucket{le=\"0.1\"} 3 1700000000.250 # {trace_id=\"abc\"} 0.05 1699999999.5\nrpc_seconds_bucket{le=\"+Inf\"} 4 1700000000.250\nrpc_seconds_count 4 1700000000.250\nrpc_seconds_sum 0.9 1700000000.250\nrpc_seconds_created 1600000000\n# EOF\n";
    let sink = SinkProcess::start(&["--quiet", "--print-samples"]);
    let output = push(&["--url", &sink.url(), "-"], Some(text));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let [mut samples, exemplars, metadata] = <[Vec<String>; 3]>::try_from(lines_of(
        &sink,
        &[("sample ", 4), ("exemplar ", 1), ("series_metadata ", 4)],
    ))
    .unwrap();
    samples.sort();
    assert_eq!(
        samples,
        vec![
            format!(
                "sample {{__name__=\"rpc_seconds_bucket\",le=\"+Inf\"}} 1700000000250 {}",
                bits(4.0)
            ),
            format!(
                "sample {{__name__=\"rpc_seconds_bucket\",le=\"0.1\"}} 1700000000250 {}",
                bits(3.0)
            ),
            format!(
                "sample {{__name__=\"rpc_seconds_count\"}} 1700000000250 {}",
                bits(4.0)
            ),
            format!(
                "sample {{__name__=\"rpc_seconds_sum\"}} 1700000000250 {}",
                bits(0.9)
            ),
        ]
    );
    assert_eq!(
        exemplars[0],
        format!(
            "exemplar {{__name__=\"rpc_seconds_bucket\",le=\"0.1\"}} {{trace_id=\"abc\"}} 1699999999500 {}",
            bits(0.05)
        )
    );
    assert!(
        metadata
            .iter()
            .all(|l| l.ends_with(" 3 \"RPC time.\" \"seconds\"")),
        "{metadata:?}"
    );
}

#[test]
fn push_with_a_remote_write_1_config_sends_family_metadata() {
    let dir = TempDir::new("push");
    let sink = SinkProcess::start(&["--quiet", "--print-samples"]);
    // The configuration's URL is replaced by --url.
    let config = dir.file(
        "rw.yml",
        "remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n",
    );
    let output = push(
        &[
            "--config",
            config.to_str().unwrap(),
            "--url",
            &sink.url(),
            "-",
        ],
        Some(
            "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total 3 1700000000000\n",
        ),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let found = lines_of(&sink, &[("sample ", 1), ("metadata ", 1)]);
    assert_eq!(
        found[0][0],
        format!(
            "sample {{__name__=\"jobs_total\"}} 1700000000000 {}",
            bits(3.0)
        )
    );
    assert_eq!(found[1][0], "metadata jobs 1 \"Jobs run.\" \"\"");
    // --url with a configuration of two endpoints is refused; so is neither.
    let two = dir.file(
        "two.yml",
        "remote_write:\n  - url: http://127.0.0.1:9/a\n  - url: http://127.0.0.1:9/b\n",
    );
    let output = push(
        &["--config", two.to_str().unwrap(), "--url", &sink.url(), "-"],
        Some("a 1\n"),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("single remote_write entry"),
        "{}",
        describe(&output)
    );
    let output = push(&["-"], Some("a 1\n"));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

const BROKEN: &str = "good_one 1 1700000000000\ngood_two{a=\"b\"} 2 1700000000000\nbad{a=\"b\" 3\ngood_three 4 1700000000000\ndup 1 1700000000000\ndup 2 1700000000000\n";

#[test]
fn a_parse_error_names_file_line_and_column_and_sends_nothing() {
    let dir = TempDir::new("push");
    let file = dir.file("broken.prom", BROKEN);
    let mut sink = SinkProcess::start_with_stdin(&["--quiet", "--control-stdin"]);
    let output = push(&["--url", &sink.url(), file.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let expected = format!("{}:3:4: label block not closed by '}}'", file.display());
    assert!(
        stderr(&output).contains(&expected),
        "want {expected}\n{}",
        describe(&output)
    );
    assert!(
        stderr(&output).contains("nothing sent"),
        "{}",
        describe(&output)
    );
    // A series twice with the same timestamp is refused before sending too.
    let output = push(
        &["--url", &sink.url(), "-"],
        Some("x 1 1700000000000\nx 2 1700000000000\n"),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("<stdin>:2:1: sample of x at 1700000000000 ms has the same timestamp as the one at <stdin>:1"),
        "{}",
        describe(&output)
    );
    assert!(totals(&mut sink).starts_with("requests=0 samples=0 "));
}

#[test]
fn skip_invalid_counts_and_shows_what_it_skipped_and_sends_the_rest() {
    let dir = TempDir::new("push");
    let file = dir.file("broken.prom", BROKEN);
    let mut sink = SinkProcess::start_with_stdin(&["--quiet", "--control-stdin"]);
    let output = push(
        &[
            "--url",
            &sink.url(),
            "--skip-invalid",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let err = stderr(&output);
    assert!(
        err.contains("skipped 1 invalid line"),
        "{}",
        describe(&output)
    );
    assert!(
        err.contains(&format!("{}:3:4:", file.display())),
        "{}",
        describe(&output)
    );
    assert!(
        err.contains("skipped 1 invalid sample or series"),
        "{}",
        describe(&output)
    );
    assert!(
        err.contains(&format!("{}:6:1:", file.display())),
        "{}",
        describe(&output)
    );
    // Four samples, in as many requests as the push's shards made of them.
    let totals = totals(&mut sink);
    assert!(
        totals.starts_with("requests=") && totals.contains(" samples=4 "),
        "{totals}\n{}",
        describe(&output)
    );
}

#[test]
fn a_rejecting_receiver_fails_the_push_with_its_status() {
    let sink = SinkProcess::start(&["--quiet", "--reject-with", "400"]);
    let output = push(&["--url", &sink.url(), "-"], Some("a 1 1700000000000\n"));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let err = stderr(&output);
    assert!(
        err.contains("not every sample was acknowledged"),
        "{}",
        describe(&output)
    );
    assert!(err.contains("1 failed"), "{}", describe(&output));
    assert!(err.contains("400"), "{}", describe(&output));
}

#[test]
fn a_receiver_that_never_answers_times_out() {
    // Accepts connections and reads nothing, answers nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let started = Instant::now();
    let url = format!("http://{addr}/api/v1/write");
    let output = push(
        &["--url", &url, "--timeout", "1", "-"],
        Some("a 1 1700000000000\n"),
    );
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("timed out"),
        "{}",
        describe(&output)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    drop(holder);
}

#[test]
fn dry_run_parses_and_sends_nothing() {
    let output = push(&["--dry-run", "-"], Some("a 1\nb{c=\"d\"} 2\n"));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("dry run: 2 samples of 2 series"),
        "{}",
        describe(&output)
    );
}

/// The repository's root (tools/..).
fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn readme_example_script_pushes_the_example_job() {
    // examples/push/push.sh is the README's command (tests/readme.rs checks the text); run
    // it as written, with the built promrw first on PATH and PROMRW_URL at a fresh sink.
    let sink = SinkProcess::start(&["--quiet", "--print-samples"]);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_promrw")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .arg("examples/push/push.sh")
        .current_dir(repo_root())
        .env("PATH", path)
        .env("PROMRW_URL", sink.url())
        .output()
        .expect("run examples/push/push.sh");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let example = std::fs::read_to_string(repo_root().join("examples/push/backup.prom")).unwrap();
    let expected = example
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    let samples = lines_of(&sink, &[("sample ", expected)]).remove(0);
    assert!(
        samples
            .iter()
            .all(|l| l.contains("instance=\"db1\"") && l.contains("job=\"nightly-backup\"")),
        "{samples:?}"
    );
}

/// A 0.0.4 exposition of about 12 MB (parsed in chunks while it is read): `families` counter
/// families of 100 series with 10 samples each; returns the text and its sample count.
fn large_exposition(families: usize) -> (String, usize) {
    let mut text = String::new();
    let mut samples = 0;
    for f in 0..families {
        text.push_str(&format!(
            "# HELP big{f}_total Work done by part {f}.\n# TYPE big{f}_total counter\n"
        ));
        for s in 0..100 {
            for p in 0..10 {
                text.push_str(&format!(
                    "big{f}_total{{instance=\"host-{s:03}:9100\",job=\"batch\"}} {} {}\n",
                    s * 10 + p,
                    1_700_000_000_000i64 + p * 15_000
                ));
                samples += 1;
            }
        }
    }
    (text, samples)
}

#[test]
fn a_large_file_parsed_while_read_is_sent_whole() {
    let dir = TempDir::new("push");
    let (text, samples) = large_exposition(160);
    assert!(text.len() > 10 << 20, "{} bytes", text.len());
    let file = dir.file("large.prom", &text);
    let mut sink = SinkProcess::start_with_stdin(&["--quiet", "--control-stdin"]);
    let output = push(&["--url", &sink.url(), file.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains(&format!(
            "{samples} samples of 16000 series (16000 with metadata"
        )),
        "{}",
        describe(&output)
    );
    let totals = totals(&mut sink);
    assert!(
        totals.contains(&format!(" samples={samples} ")),
        "{totals}\n{}",
        describe(&output)
    );
}

#[test]
fn an_error_near_the_end_of_a_large_file_sends_nothing_and_names_its_line() {
    let dir = TempDir::new("push");
    let (mut text, _) = large_exposition(160);
    let bad_line = text.lines().count() + 1;
    text.push_str("big3_total{job=\"batch\" 1\n");
    let file = dir.file("large-broken.prom", &text);
    let mut sink = SinkProcess::start_with_stdin(&["--quiet", "--control-stdin"]);
    let output = push(&["--url", &sink.url(), file.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains(&format!("{}:{bad_line}:", file.display())),
        "{}",
        describe(&output)
    );
    assert!(totals(&mut sink).starts_with("requests=0 samples=0 "));
}
