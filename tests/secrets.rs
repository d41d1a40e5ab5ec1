//! No secret leaves promrw: with a secret in every place a configuration can hold one, no log
//! line, error message, report, `Debug` output or metric of a run that fails in every way
//! (rejections, retries, a dead proxy, timeouts) contains any of them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CollectLogs, Fault, FaultReceiver, free_port, now_ms};
use promrw::{Config, LogLevel, Sender};

const URL_PASSWORD: &str = "urlpass-5f1e";
const QUERY_TOKEN: &str = "querytok-9a2c";
const HEADER_VALUE: &str = "headerval-77d0";
const BEARER_TOKEN: &str = "bearertok-31bb";
const PROXY_PASSWORD: &str = "proxypass-c4e8";
const INLINE_PASSWORD: &str = "inlinepass-0d9f";
const FILE_PASSWORD: &str = "filepass-e62a";

const SECRETS: [&str; 7] = [
    URL_PASSWORD,
    QUERY_TOKEN,
    HEADER_VALUE,
    BEARER_TOKEN,
    PROXY_PASSWORD,
    INLINE_PASSWORD,
    FILE_PASSWORD,
];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaks {secret:?}:\n{text}");
    }
}

#[test]
fn no_secret_reaches_logs_errors_reports_debug_output_or_metrics() {
    let rejecting = FaultReceiver::start();
    rejecting.push_faults((0..50).map(|_| Fault::Status(401, "bad credentials")));
    let retrying = FaultReceiver::start();
    retrying.push_faults((0..1000).map(|_| Fault::Status(503, "try later")));
    let dir = std::env::temp_dir().join(format!("promrw-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("password");
    std::fs::write(&password_file, FILE_PASSWORD).unwrap();
    let host = |url: String| url.trim_start_matches("http://").to_string();
    let dead_proxy = format!("http://puser:{PROXY_PASSWORD}@127.0.0.1:{}", free_port());
    let text = format!(
        r#"
remote_write:
  - url: http://alice:{URL_PASSWORD}@{retrying_host}?api_key={QUERY_TOKEN}
    name: userinfo_and_query
    remote_timeout: 1s
    headers:
      X-Api-Key: {HEADER_VALUE}
    authorization:
      credentials: {BEARER_TOKEN}
    queue_config: {{min_backoff: 10ms, max_backoff: 50ms, batch_send_deadline: 20ms}}
  - url: {rejecting_url}
    name: inline_password
    basic_auth: {{username: bob, password: {INLINE_PASSWORD}}}
    queue_config: {{batch_send_deadline: 20ms}}
  - url: {rejecting_url}
    name: password_file
    basic_auth: {{username: bob, password_file: {password_file}}}
    queue_config: {{batch_send_deadline: 20ms}}
  - url: {rejecting_url}
    name: dead_proxy
    proxy_url: {dead_proxy}
    remote_timeout: 1s
    queue_config: {{min_backoff: 10ms, max_backoff: 50ms, batch_send_deadline: 20ms}}
"#,
        retrying_host = host(retrying.url()),
        rejecting_url = rejecting.url(),
        password_file = password_file.display(),
    );
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::from_text(&text).unwrap();
    config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Debug);
    assert_clean("Config Debug", &format!("{config:?}"));
    assert_clean("Config Debug (pretty)", &format!("{config:#?}"));
    let sender = Sender::new(config).unwrap();
    let r = sender.series_from_pairs(&[("__name__", "s")]).unwrap();
    let t = now_ms();
    for i in 0..5 {
        sender.append(r, t + i, 1.0).unwrap();
    }
    let flushed = sender.flush(Duration::from_millis(1500)).unwrap_err();
    assert_clean("flush error", &flushed.to_string());
    assert_clean("flush error Debug", &format!("{flushed:?}"));
    let report = sender.last_report();
    assert!(
        report.endpoints.iter().all(|e| e.last_error.is_some()),
        "every endpoint failed at least once: {report:?}"
    );
    assert_clean("report Debug", &format!("{report:?}"));
    assert_clean("report message", &report.message());
    assert_clean("stats Debug", &format!("{:?}", sender.stats()));
    let metrics = sender.metrics_text();
    assert!(metrics.contains("api_key=xxxxx"), "{metrics}");
    assert_clean("metrics text", &metrics);
    let closed = sender.close(Duration::from_millis(300));
    if let Err(error) = closed {
        assert_clean("close error", &error.to_string());
    }
    assert_clean("report after close", &format!("{:?}", sender.last_report()));
    let lines = logs.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("debug: ")),
        "DEBUG lines were produced: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("retrying")),
        "retries were logged: {lines:?}"
    );
    for line in &lines {
        assert_clean("log line", line);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
