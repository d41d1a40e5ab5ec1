//! The command-line tool's `check-config` (run as the built binary) and `Config::from_file`,
//! which it is built on.

use std::path::Path;
use std::process::{Command, Output};

use promrw::{Config, ErrorKind, Sender};

mod common;
use common::{SinkProcess, TempDir};

/// Runs `promrw check-config <path>`.
fn check_config(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_promrw"))
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run promrw")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const GOOD: &str = r#"
remote_write:
  - url: https://127.0.0.1:9/api/v1/write?api_key=T0KEN-in-query&tenant=team-a
    name: prod
    basic_auth:
      username: bob
      password: pa55-inline
    queue_config:
      capacity: 500
      min_shards: 2
      max_shards: 8
      max_samples_per_send: 100
      overflow: drop_newest
    tls_config:
      server_name: receiver.example
  - url: http://alice:url-pa55@127.0.0.1:10/write
    authorization:
      credentials: bearer-t0ken
    proxy_url: http://proxyuser:proxy-pa55@127.0.0.1:3128/?proxy_key=pr0xy-token
    headers:
      X-Scope-OrgID: org-secret-id
external_labels:
  cluster: eu-1
"#;

#[test]
fn check_config_prints_endpoints_with_secrets_hidden() {
    let dir = TempDir::new("cli");
    let path = dir.file("good.yml", GOOD);
    let output = check_config(&path);
    let out = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{out}\nstderr:\n{}",
        stderr(&output)
    );
    for expected in [
        "valid, 2 endpoints",
        "remote_write[0]:",
        "remote_name: prod",
        "url: https://127.0.0.1:9/api/v1/write?api_key=xxxxx&tenant=xxxxx",
        "shards: min 2, max 8, updated every 10s (tolerance 0.3)",
        "max_buffered_samples: 250000 across the shards",
        "capacity: 500 samples per shard",
        "max_samples_per_send: 100",
        "overflow: drop_newest",
        "auth: basic (username \"bob\", password inline (hidden))",
        "tls: server_name receiver.example",
        "remote_write[1]:",
        "url: http://alice:xxxxx@127.0.0.1:10/write",
        "overflow: block (block_timeout 5s)",
        "auth: bearer (credentials inline (hidden))",
        "proxy: http://proxyuser:xxxxx@127.0.0.1:3128/?proxy_key=xxxxx",
        "headers: X-Scope-OrgID (values hidden)",
        "tls: none (http)",
        "external_labels: cluster=\"eu-1\"",
        "max_request_bytes: 33554432 (uncompressed, per request)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // The second endpoint's generated remote_name is the one a sender uses.
    let config = Config::from_file(&path).expect("valid");
    let second = config.endpoints[1].remote_name();
    assert!(out.contains(&format!("remote_name: {second}\n")), "{out}");
    for secret in [
        "T0KEN-in-query",
        "team-a",
        "pa55-inline",
        "url-pa55",
        "bearer-t0ken",
        "proxy-pa55",
        "pr0xy-token",
        "org-secret-id",
    ] {
        assert!(!out.contains(secret), "{secret:?} shown in:\n{out}");
        assert!(!stderr(&output).contains(secret), "{secret:?} on stderr");
    }
}

#[test]
fn check_config_rejects_an_unknown_key_naming_its_path() {
    let dir = TempDir::new("cli");
    let path = dir.file(
        "bad.yml",
        "remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n      capasity: 5\n",
    );
    let output = check_config(&path);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{err}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("remote_write[0].queue_config") && err.contains("capasity"),
        "the error names neither the field path nor the key: {err}"
    );
}

#[test]
fn check_config_names_a_missing_file() {
    let dir = TempDir::new("cli");
    let path = dir.0.join("does-not-exist.yml");
    let output = check_config(&path);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{err}");
    assert!(
        err.starts_with("error: ") && err.contains(&path.display().to_string()),
        "the error does not name {}: {err}",
        path.display()
    );
}

#[test]
fn check_config_fails_as_sender_new_does_on_an_unreadable_tls_file() {
    // Parsing accepts it; building the transport (as Sender::new does) reads the file.
    let dir = TempDir::new("cli");
    let missing_ca = dir.0.join("missing-ca.pem");
    let path = dir.file(
        "tls.yml",
        &format!(
            "remote_write:\n  - url: https://127.0.0.1:9/w\n    tls_config:\n      ca_file: {}\n",
            missing_ca.display()
        ),
    );
    let config = Config::from_file(&path).expect("parses and validates");
    let sender_error = match Sender::new(config) {
        Ok(_) => panic!("Sender::new accepted a missing ca_file"),
        Err(e) => e,
    };
    let output = check_config(&path);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{err}");
    assert!(
        err.starts_with(&format!("error: {sender_error}\n")),
        "check-config says {err:?}, Sender::new says {sender_error}"
    );
    assert!(err.contains("tls_config.ca_file"), "{err}");
    assert!(err.contains("remote_write[0]"), "{err}");
}

#[test]
fn check_config_warns_about_an_unreadable_credentials_file() {
    let dir = TempDir::new("cli");
    let missing = dir.0.join("no-token");
    let path = dir.file(
        "creds.yml",
        &format!(
            "remote_write:\n  - url: http://127.0.0.1:9/w\n    authorization:\n      \
             credentials_file: {}\n",
            missing.display()
        ),
    );
    let output = check_config(&path);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{err}");
    assert!(
        stdout(&output).contains(&format!("credentials_file {}", missing.display())),
        "{}",
        stdout(&output)
    );
    assert!(
        err.starts_with("warning: remote_write[0]: ") && err.contains("no-token"),
        "{err}"
    );
}

#[test]
fn from_file_parses_as_from_text_does() {
    let dir = TempDir::new("cli");
    let path = dir.file("good.yml", GOOD);
    let from_file = Config::from_file(&path).expect("valid file");
    let from_text = Config::from_text(GOOD).expect("valid text");
    assert_eq!(from_file.endpoints, from_text.endpoints);
    assert_eq!(from_file.external_labels, from_text.external_labels);
    assert_eq!(from_file.flush_deadline, from_text.flush_deadline);

    let bad =
        "remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n      capacity: 0\n";
    let bad_path = dir.file("bad.yml", bad);
    let file_error = Config::from_file(&bad_path).expect_err("capacity 0");
    let text_error = Config::from_text(bad).expect_err("capacity 0");
    assert_eq!(file_error.kind(), text_error.kind());
    assert_eq!(
        file_error.message(),
        format!("{}: {}", bad_path.display(), text_error.message())
    );
}

#[test]
fn from_file_reports_an_unreadable_file_as_invalid_config() {
    let dir = TempDir::new("cli");
    let missing = dir.0.join("missing.yml");
    let error = Config::from_file(&missing).expect_err("missing file");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    let os_error = std::fs::read(&missing).expect_err("missing").to_string();
    assert_eq!(
        error.message(),
        format!(
            "cannot read configuration file {}: {os_error}",
            missing.display()
        )
    );
    // A directory is not readable as a file either.
    let error = Config::from_file(&dir.0).expect_err("a directory");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(
        error.message().contains(&dir.0.display().to_string()),
        "{error}"
    );
}

/// A self-signed CA certificate in PEM (a readable system store for the test below).
fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("CA certificate").pem()
}

#[test]
fn check_config_warns_about_an_unreadable_ssl_cert_file() {
    let dir = TempDir::new("cli");
    let missing = dir.0.join("no-such-bundle.pem");
    let readable = dir.file("bundle.pem", &ca_pem());
    let config = dir.file(
        "promrw.yml",
        "remote_write:\n  - url: https://127.0.0.1:9/api/v1/write\n",
    );
    let run = |ssl_cert_file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_promrw"))
            .arg("check-config")
            .arg(&config)
            .env("SSL_CERT_FILE", ssl_cert_file)
            .env_remove("SSL_CERT_DIR")
            .output()
            .expect("run promrw")
    };
    let output = run(&missing);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "not fatal: {stderr}");
    assert!(
        stderr.contains("warn") && stderr.contains("system CA store"),
        "{stderr}"
    );
    assert!(stderr.contains("no-such-bundle.pem"), "{stderr}");
    // A readable one gives no warning, so the one above is about the missing file.
    let output = run(&readable);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("system CA store"), "{stderr}");
}

/// `promrw bench --wal`, sized down: every mode runs interleaved, the backlog drains, and the
/// run directories are removed afterwards.
#[test]
fn bench_wal_runs_each_mode_and_drains_a_backlog() {
    let dir = TempDir::new("cli");
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_promrw"))
        .args(["bench", "--runs", "1", "--rounds", "2"])
        .args(["--backlog-samples", "20000", "--wal"])
        .arg(&dir.0)
        .output()
        .expect("run promrw bench");
    let out = stdout(&output);
    assert!(
        output.status.success(),
        "stdout:\n{out}\nstderr:\n{}",
        stderr(&output)
    );
    for expected in [
        "run 1: memory",
        "run 1: wal-interval",
        "run 1: wal-always",
        "run 1: wal-never",
        "bytes/sample written to segments",
        "target (WAL, fsync interval)",
        "backlog: logged 20000 samples",
        "backlog drain:",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("list the WAL directory")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(
        left.is_empty(),
        "left behind in the WAL directory: {left:?}"
    );
    eprintln!("promrw bench --wal took {:?}", started.elapsed());
}

#[test]
fn bench_help_mentions_wal() {
    let output = Command::new(env!("CARGO_BIN_EXE_promrw"))
        .args(["bench", "--help"])
        .output()
        .expect("run promrw bench --help");
    assert!(output.status.success());
    let out = stdout(&output);
    for flag in ["--wal <DIR>", "--backlog-samples", "--rounds"] {
        assert!(out.contains(flag), "no {flag} in:\n{out}");
    }
}

#[test]
fn sink_print_samples_prints_each_stored_sample_with_its_exact_bits() {
    use std::time::Duration;

    let sink = SinkProcess::start(&["--quiet", "--print-samples"]);
    let next = || sink.next_line();
    let url = sink.url();
    let config = format!(
        "remote_write:\n  - url: {url}\n    queue_config:\n      batch_send_deadline: 20ms\n"
    );
    let sender = Sender::new(Config::from_text(&config).unwrap()).unwrap();
    let r = sender
        .series_from_pairs(&[("__name__", "sink_print"), ("say", "a \"quote\"")])
        .unwrap();
    let t = 1_700_000_000_000i64;
    let values = [1.5, -0.0, f64::from_bits(0x7ff8_0000_0000_0001)];
    for (i, v) in values.iter().enumerate() {
        sender.append(r, t + i as i64, *v).unwrap();
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    sender.close(Duration::from_secs(10)).unwrap();
    let printed: Vec<String> = (0..values.len()).map(|_| next()).collect();
    let expected: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "sample {{__name__=\"sink_print\",say=\"a \\\"quote\\\"\"}} {} {:016x}",
                t + i as i64,
                v.to_bits()
            )
        })
        .collect();
    assert_eq!(printed, expected);
}
