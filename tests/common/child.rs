//! Runs one test of the current test binary in a child process, whose environment is its own:
//! for tests of what promrw reads from the environment, which a test must not change in its
//! own process (the other tests of the binary run alongside it).

use std::process::Command;

/// Runs the `#[ignore]`d test `test` of this binary in a child process with the variables
/// `cleared` removed and `env` set; panics unless it ran and passed.
pub fn run(test: &str, cleared: &[&str], env: &[(&str, &str)]) {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in cleared {
        command.env_remove(var);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child {test} ({env:?}) failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}
