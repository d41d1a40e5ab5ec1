//! `promrw reshard-soak --duration 60`: the one-minute version of the soak (issue 16). Rates
//! step between 10k and 300k samples/s, the sink answers 503 twice and 100 ms late once; every
//! appended sample must arrive exactly once, in order, with nothing dropped or failed. The
//! totals are checked here too, so a wrong check in the command would not pass unseen.

use std::process::Command;
use std::time::{Duration, Instant};

/// The `name=N` count of a `totals` line.
fn count(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} in {line:?}: {e}"))
}

#[test]
fn one_minute_soak_delivers_every_sample_once() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_promrw"))
        .args(["reshard-soak", "--duration", "60"])
        .output()
        .expect("run promrw reshard-soak");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(took < Duration::from_secs(120), "{took:?}\n{stdout}");

    let totals = stdout
        .lines()
        .find(|l| l.starts_with("totals "))
        .unwrap_or_else(|| panic!("no totals line:\n{stdout}"));
    let appended = count(totals, "appended");
    assert!(appended > 0, "{totals}");
    assert_eq!(count(totals, "received"), appended, "{totals}");
    assert_eq!(count(totals, "acked"), appended, "{totals}");
    for zero in ["duplicates", "out_of_order", "missing", "dropped", "failed"] {
        assert_eq!(count(totals, zero), 0, "{zero}: {totals}");
    }
    // Both outages were seen: the sender retried.
    assert!(count(totals, "retried") > 0, "{totals}");

    // Report rows cover the three phases.
    for phase in [" normal ", " outage ", " latency "] {
        assert!(stdout.contains(phase), "no {phase:?} row:\n{stdout}");
    }
    let memory = stdout
        .lines()
        .find(|l| l.starts_with("memory "))
        .unwrap_or_else(|| panic!("no memory line:\n{stdout}"));
    assert!(memory.contains("rss_max_mib="), "{memory}");
}
