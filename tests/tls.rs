//! `tls_config` end to end over real HTTPS on 127.0.0.1: a CA made at test time, a server
//! certificate for `promrw.test` only (so the URL host 127.0.0.1 never matches it), trust
//! roots from `ca_file`, `server_name`, `insecure_skip_verify`, mutual TLS, and configuration
//! errors naming the field. The system's CA store is covered by tests/tls_system_roots.rs.

mod tls_support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promrw::{Config, ErrorKind, Sender};
use tls_support::{ConnectProxy, HttpsReceiver, Pki, SERVER_NAME};

/// Samples each test appends.
const SAMPLES: u64 = 20;

/// A one-endpoint config for `url` with short backoffs and these `tls_config` lines (each
/// `key: value`, no indentation).
fn yaml(url: &str, tls: &[String]) -> String {
    endpoint_yaml(url, &[], tls)
}

/// Like [`yaml`], with extra endpoint lines (each `key: value`, no indentation).
fn endpoint_yaml(url: &str, extra: &[String], tls: &[String]) -> String {
    let mut lines = vec![
        // Short, so a failing test does not wait a minute when it drops a sender.
        "promrw:".to_string(),
        "  flush_deadline: 200ms".to_string(),
        "remote_write:".to_string(),
        format!("  - url: {url}"),
        "    remote_timeout: 2s".to_string(),
        "    queue_config:".to_string(),
        "      min_backoff: 10ms".to_string(),
        "      max_backoff: 50ms".to_string(),
        "      batch_send_deadline: 50ms".to_string(),
    ];
    lines.extend(extra.iter().map(|line| format!("    {line}")));
    if !tls.is_empty() {
        lines.push("    tls_config:".to_string());
        lines.extend(tls.iter().map(|line| format!("      {line}")));
    }
    lines.join("\n") + "\n"
}

/// A `tls_config` line naming a file (double-quoted, as YAML allows).
fn file(key: &str, path: &Path) -> String {
    format!("{key}: {:?}", path.display().to_string())
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Starts a sender for `text` and appends `SAMPLES` samples to one series.
fn send(text: &str) -> Sender {
    let config = Config::from_text(text).unwrap_or_else(|e| panic!("config {text}: {e}"));
    let sender = Sender::new(config).expect("sender");
    let series = sender
        .series_from_pairs(&[("__name__", "tls_test"), ("job", "tls")])
        .expect("series");
    let base = now_ms() - 60_000;
    for i in 0..SAMPLES {
        sender
            .append(series, base + i as i64 * 1000, i as f64)
            .expect("append");
    }
    sender
}

/// Asserts that every sample is acknowledged by the sender and stored by `receiver`.
fn assert_delivered(text: &str, receiver: &HttpsReceiver) {
    let sender = send(text);
    sender
        .flush(Duration::from_secs(5))
        .expect("flush delivers every sample");
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_acked, SAMPLES);
    assert_eq!(stats.endpoints[0].samples_failed, 0);
    sender.close(Duration::from_secs(2)).expect("close");
    assert_eq!(receiver.accepted(), SAMPLES, "receiver stored every sample");
    let stored = receiver
        .store()
        .samples(&[("__name__", "tls_test"), ("job", "tls")])
        .expect("series stored");
    assert_eq!(stored.len() as u64, SAMPLES);
}

/// Asserts that nothing gets through: the TLS failure is retried until `flush` times out.
fn assert_not_delivered(text: &str, receiver: &HttpsReceiver) {
    let sender = send(text);
    let error = sender
        .flush(Duration::from_millis(600))
        .expect_err("flush cannot succeed");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_acked, 0);
    assert!(
        stats.endpoints[0].samples_retried > 0,
        "TLS failures are retried: {stats:?}"
    );
    let _ = sender.close(Duration::from_millis(200));
    assert_eq!(receiver.accepted(), 0);
    assert_eq!(receiver.requests(), 0, "no request got past the handshake");
    assert!(
        receiver.handshakes_failed() > 0,
        "handshakes were attempted and failed"
    );
}

#[test]
fn ca_file_and_server_name_deliver_to_an_ip_url() {
    let pki = Pki::generate("server-name");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let text = yaml(
        &receiver.url(),
        &[
            file("ca_file", &pki.ca_file),
            format!("server_name: {SERVER_NAME}"),
        ],
    );
    assert_delivered(&text, &receiver);
    let names = receiver.server_names();
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.as_deref() == Some(SERVER_NAME)),
        "server_name is sent as SNI: {names:?}"
    );
}

#[test]
fn ca_file_without_server_name_fails_on_the_name_mismatch() {
    let pki = Pki::generate("mismatch");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let text = yaml(&receiver.url(), &[file("ca_file", &pki.ca_file)]);
    assert_not_delivered(&text, &receiver);
}

#[test]
fn wrong_server_name_fails_verification() {
    let pki = Pki::generate("wrong-name");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let text = yaml(
        &receiver.url(),
        &[
            file("ca_file", &pki.ca_file),
            "server_name: other.test".to_string(),
        ],
    );
    assert_not_delivered(&text, &receiver);
}

#[test]
fn server_name_without_ca_file_uses_web_and_system_roots_and_fails() {
    let pki = Pki::generate("web-roots");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let text = yaml(&receiver.url(), &[format!("server_name: {SERVER_NAME}")]);
    assert_not_delivered(&text, &receiver);
}

#[test]
fn insecure_skip_verify_delivers_without_ca_file() {
    let pki = Pki::generate("insecure");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let text = yaml(&receiver.url(), &["insecure_skip_verify: true".to_string()]);
    assert_delivered(&text, &receiver);
}

#[test]
fn insecure_skip_verify_with_server_name_delivers_and_sends_the_name() {
    let pki = Pki::generate("insecure-name");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let text = yaml(
        &receiver.url(),
        &[
            "insecure_skip_verify: true".to_string(),
            "server_name: other.test".to_string(),
        ],
    );
    assert_delivered(&text, &receiver);
    let names = receiver.server_names();
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.as_deref() == Some("other.test")),
        "{names:?}"
    );
}

#[test]
fn mutual_tls_delivers_with_a_client_certificate() {
    let pki = Pki::generate("mtls");
    let receiver = HttpsReceiver::start(pki.server_config(true));
    let text = yaml(
        &receiver.url(),
        &[
            file("ca_file", &pki.ca_file),
            format!("server_name: {SERVER_NAME}"),
            file("cert_file", &pki.client_cert_file),
            file("key_file", &pki.client_key_file),
        ],
    );
    assert_delivered(&text, &receiver);
}

#[test]
fn mutual_tls_delivers_with_a_client_certificate_without_server_name() {
    // Without server_name the certificate is checked against the URL host (not at all here).
    let pki = Pki::generate("mtls-ureq");
    let receiver = HttpsReceiver::start(pki.server_config(true));
    let text = yaml(
        &receiver.url(),
        &[
            "insecure_skip_verify: true".to_string(),
            file("cert_file", &pki.client_cert_file),
            file("key_file", &pki.client_key_file),
        ],
    );
    assert_delivered(&text, &receiver);
}

#[test]
fn mutual_tls_fails_without_a_client_certificate() {
    let pki = Pki::generate("mtls-none");
    let receiver = HttpsReceiver::start(pki.server_config(true));
    let text = yaml(
        &receiver.url(),
        &[
            file("ca_file", &pki.ca_file),
            format!("server_name: {SERVER_NAME}"),
        ],
    );
    assert_not_delivered(&text, &receiver);
}

#[test]
fn server_name_applies_through_an_http_connect_proxy() {
    let pki = Pki::generate("proxy");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let proxy = ConnectProxy::start(None);
    let text = endpoint_yaml(
        &receiver.url(),
        &[format!("proxy_url: {}", proxy.url())],
        &[
            file("ca_file", &pki.ca_file),
            format!("server_name: {SERVER_NAME}"),
        ],
    );
    assert_delivered(&text, &receiver);
    assert!(proxy.tunnels() > 0, "the request went through the proxy");
    assert!(
        receiver
            .server_names()
            .iter()
            .all(|n| n.as_deref() == Some(SERVER_NAME))
    );
}

#[test]
fn https_proxy_is_verified_by_its_own_host_and_the_endpoint_by_server_name() {
    // The proxy's certificate names only 127.0.0.1, the receiver's only promrw.test: both
    // legs verify only if server_name is applied to the tunnelled connection alone.
    let pki = Pki::generate("https-proxy");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let proxy = ConnectProxy::start(Some(pki.proxy_config()));
    let text = endpoint_yaml(
        &receiver.url(),
        &[format!("proxy_url: {}", proxy.url())],
        &[
            file("ca_file", &pki.ca_file),
            format!("server_name: {SERVER_NAME}"),
        ],
    );
    assert_delivered(&text, &receiver);
    assert!(proxy.tunnels() > 0, "the request went through the proxy");
}

#[test]
fn socks_proxy_is_refused_at_config_time_not_bypassed() {
    // ureq's SOCKS support is not compiled in: the config is refused instead of letting the
    // connection go straight to the receiver.
    let pki = Pki::generate("socks");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let text = endpoint_yaml(
        &receiver.url(),
        &["proxy_url: socks5://127.0.0.1:9".to_string()],
        &[
            file("ca_file", &pki.ca_file),
            format!("server_name: {SERVER_NAME}"),
        ],
    );
    let error = Config::from_text(&text).expect_err("socks proxies are refused");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
    assert!(error.message().contains("proxy_url"), "{error}");
    assert_eq!(
        receiver.handshakes_ok() + receiver.handshakes_failed(),
        0,
        "receiver never reached"
    );
}

/// `Sender::new` for `text` fails with `InvalidConfig` naming `field`.
fn assert_sender_refused(text: &str, field: &str) {
    let config = Config::from_text(text).expect("config parses; the files are read at start");
    let error = Sender::new(config)
        .err()
        .expect("sender refuses the config");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
    assert!(error.message().contains(field), "names {field}: {error}");
}

#[test]
fn missing_ca_file_fails_sender_start() {
    let pki = Pki::generate("missing-ca");
    let missing = pki.dir.path().join("missing.pem");
    let text = yaml(
        "https://127.0.0.1:9/api/v1/write",
        &[file("ca_file", &missing)],
    );
    assert_sender_refused(&text, "tls_config.ca_file");
}

#[test]
fn ca_file_without_certificates_fails_sender_start() {
    let pki = Pki::generate("empty-ca");
    let not_pem = pki.dir.write("not-pem.txt", "no certificates here\n");
    let text = yaml(
        "https://127.0.0.1:9/api/v1/write",
        &[file("ca_file", &not_pem)],
    );
    assert_sender_refused(&text, "tls_config.ca_file");
}

#[test]
fn key_not_matching_the_client_certificate_fails_sender_start() {
    let pki = Pki::generate("stray-key");
    let text = yaml(
        "https://127.0.0.1:9/api/v1/write",
        &[
            file("cert_file", &pki.client_cert_file),
            file("key_file", &pki.stray_key_file),
        ],
    );
    assert_sender_refused(&text, "tls_config.key_file");
}

#[test]
fn invalid_server_name_fails_sender_start() {
    let text = yaml(
        "https://127.0.0.1:9/api/v1/write",
        &["server_name: \"not a host name\"".to_string()],
    );
    assert_sender_refused(&text, "tls_config.server_name");
}

#[test]
fn cert_file_without_key_file_is_a_config_error() {
    let pki = Pki::generate("cert-only");
    let text = yaml(
        "https://127.0.0.1:9/api/v1/write",
        &[file("cert_file", &pki.client_cert_file)],
    );
    let error = Config::from_text(&text).expect_err("cert_file needs key_file");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
    assert!(error.message().contains("tls_config"), "{error}");
}
