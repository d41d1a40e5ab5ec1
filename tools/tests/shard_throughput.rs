//! `promrw shard-throughput`, short (issue 16, item 7): W1 with 100 rounds against the fast
//! sink (modes 1 and auto), and against a 100 ms receiver with auto up to 8 shards. Every run
//! must deliver every sample once, in order; the per-mode lines and the summary are checked
//! here too, so a command that printed nothing or skipped its check would not pass.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `promrw shard-throughput <args>` and returns its stdout; fails unless it exits 0.
fn run(args: &[&str]) -> String {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_promrw"))
        .arg("shard-throughput")
        .args(args)
        .output()
        .expect("run promrw shard-throughput");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}\n{stdout}",
        started.elapsed()
    );
    stdout
}

/// The `name=N` field of a line, as a number.
fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} in {line:?}: {e}"))
}

/// Checks the per-run line of `mode`: every sample received once, in order, a rate, and
/// shards within `shards`.
fn check_mode(stdout: &str, mode: &str, samples: f64, shards: std::ops::RangeInclusive<f64>) {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&format!("mode={mode}")))
        .unwrap_or_else(|| panic!("no mode={mode} line:\n{stdout}"));
    assert!(line.contains("exactly_once=ok"), "{line}");
    assert_eq!(field(line, "samples"), samples, "{line}");
    assert_eq!(field(line, "received"), samples, "{line}");
    assert_eq!(field(line, "duplicates"), 0.0, "{line}");
    assert_eq!(field(line, "out_of_order"), 0.0, "{line}");
    assert!(field(line, "samples_per_s") > 0.0, "{line}");
    assert!(field(line, "second_half_per_s") > 0.0, "{line}");
    let peak = field(line, "shards_peak");
    assert!(
        shards.contains(&peak),
        "peak {peak} not in {shards:?}: {line}"
    );
    assert!(
        stdout.contains(&format!("summary mode={mode} ")),
        "no summary for {mode}:\n{stdout}"
    );
}

#[test]
fn fast_sink_fixed_and_auto() {
    let stdout = run(&["--runs", "1", "--rounds", "100", "--modes", "1,auto"]);
    check_mode(&stdout, "1", 1_000_000.0, 1.0..=1.0);
    check_mode(&stdout, "auto", 1_000_000.0, 1.0..=50.0);
    assert!(stdout.contains("shard_update_interval 1 s"), "{stdout}");
    assert!(stdout.contains("best fixed: 1 shard(s)"), "{stdout}");
    assert!(stdout.contains("auto / best fixed: "), "{stdout}");
    assert!(stdout.contains("shard-throughput: ok"), "{stdout}");
}

#[test]
fn slow_receiver_auto_against_the_target() {
    let stdout = run(&[
        "--runs",
        "1",
        "--rounds",
        "100",
        "--modes",
        "auto",
        "--receiver-latency-ms",
        "100",
        "--max-shards",
        "8",
    ]);
    // Auto must have resharded up from 1 against a 100 ms receiver.
    check_mode(&stdout, "auto", 1_000_000.0, 2.0..=8.0);
    check_mode(&stdout, "offered", 1_000_000.0, 4.0..=4.0);
    assert!(
        stdout.contains("target: min(0.9 x 8 x 2000 / 0.1 s = 144000"),
        "{stdout}"
    );
    assert!(stdout.contains("auto second half "), "{stdout}");
    assert!(stdout.contains("shard-throughput: ok"), "{stdout}");
}

#[test]
fn bad_flags_are_refused_clearly() {
    for (args, message) in [
        (&["--modes", "0"][..], "--modes"),
        (&["--modes", "1,1"][..], "given twice"),
        (&["--runs", "0"][..], "--runs"),
        (
            &["--shard-update-interval", "0"][..],
            "--shard-update-interval",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_promrw"))
            .arg("shard-throughput")
            .args(args)
            .output()
            .expect("run promrw shard-throughput");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
