//! Prometheus's `http_config` keys end to end against real servers on 127.0.0.1:
//! `basic_auth.username_file`, `http_headers`, inline `tls_config` `ca`/`cert`/`key`,
//! `tls_config` `min_version`/`max_version`, `proxy_connect_header`, `no_proxy`,
//! `proxy_from_environment` (in a child process, since the environment is the process's) and
//! `round_robin_dns`.
//!
//! The proxy is [`RecordingProxy`], a small CONNECT and forwarding HTTP proxy written here
//! (std only) that records every request and its headers.
//!
//! Loopback addresses and `localhost` bypass the proxy under Go's `httpproxy` rules (with
//! `no_proxy` or `proxy_from_environment`), so the hosts that must go through it are written
//! `127.0.1` and `127.1`: no IP address to Go or promrw (which then match them as names), and
//! 127.0.0.1 to the system resolver, which reads these short forms itself (`inet_aton`) with
//! no DNS query. Whatever the code under test does with them, nothing leaves the machine.

mod common;
mod tls_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use common::{CollectLogs, Fault, FaultReceiver, TempDir, now_ms};
use promrw::{Config, ErrorKind, LogLevel, Sender};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, SupportedProtocolVersion};
use tls_support::{HttpsReceiver, Pki, SERVER_NAME};

/// Samples each sender appends per batch.
const SAMPLES: u64 = 10;

/// A one-endpoint configuration for `url` with short timings, and `lines` under the
/// endpoint (each indented relative to the endpoint's keys).
fn endpoint_yaml(url: &str, lines: &[String]) -> String {
    let mut text = vec![
        "promrw:".to_string(),
        "  flush_deadline: 200ms".to_string(),
        "remote_write:".to_string(),
        format!("  - url: {url}"),
        "    remote_timeout: 2s".to_string(),
        "    queue_config:".to_string(),
        "      min_backoff: 10ms".to_string(),
        "      max_backoff: 50ms".to_string(),
        "      batch_send_deadline: 20ms".to_string(),
    ];
    text.extend(lines.iter().map(|line| format!("    {line}")));
    text.join("\n") + "\n"
}

/// `key: |` followed by `text` as a YAML block scalar, indented by `indent` spaces.
fn block(indent: usize, key: &str, text: &str) -> Vec<String> {
    let pad = " ".repeat(indent);
    let mut lines = vec![format!("{pad}{key}: |")];
    lines.extend(text.lines().map(|line| format!("{pad}  {line}")));
    lines
}

/// A path as a double-quoted YAML string.
fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// A sender for `text` whose log records (debug and up) are collected.
struct Run {
    sender: Sender,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Run {
    /// Starts the sender; panics when the configuration or the start fails.
    fn start(text: &str) -> Run {
        let mut config = Config::from_text(text).unwrap_or_else(|e| panic!("config {text}: {e}"));
        let logs = Arc::new(Mutex::new(Vec::new()));
        config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Debug);
        let sender = Sender::new(config).unwrap_or_else(|e| panic!("sender for {text}: {e}"));
        Run { sender, logs }
    }

    /// Appends `SAMPLES` samples to the series `name`.
    fn append(&self, name: &str) {
        let series = self
            .sender
            .series_from_pairs(&[("__name__", name), ("job", "http_config")])
            .expect("series");
        for i in 0..SAMPLES {
            self.sender
                .append(series, next_timestamp(), i as f64)
                .expect("append");
        }
    }

    /// Appends a batch to `name` and waits until it is acknowledged.
    fn deliver(&self, name: &str) {
        self.append(name);
        self.sender
            .flush(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("flush: {e}; last error {:?}", self.last_error()));
    }

    /// Appends a batch to `name` and checks that it is not acknowledged within 600 ms:
    /// the attempts fail and are retried.
    fn fail(&self, name: &str) -> String {
        self.append(name);
        let error = self
            .sender
            .flush(Duration::from_millis(600))
            .expect_err("flush cannot succeed");
        assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
        self.last_error()
    }

    /// The message of the endpoint's last failed attempt ("" when none).
    fn last_error(&self) -> String {
        self.sender.stats().endpoints[0]
            .last_error
            .as_ref()
            .map_or(String::new(), |e| e.message.clone())
    }

    /// Every log record so far, one a line.
    fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Closes the sender.
    fn close(self) -> Arc<Mutex<Vec<String>>> {
        let _ = self.sender.close(Duration::from_secs(2));
        self.logs
    }
}

/// A timestamp (ms) later than every one given before in this process, about a minute ago:
/// the receivers store a series' samples only in order.
fn next_timestamp() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    NEXT.fetch_max(now_ms() - 60_000, Ordering::SeqCst);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// The values of header `name` (lower case) of a request, in order.
fn header_values(seen: &common::Seen, name: &str) -> Vec<String> {
    seen.headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// `Basic` credentials decoded to `user:password`.
fn basic_credentials(value: &str) -> String {
    let token = value.strip_prefix("Basic ").expect("basic credentials");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap(),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// basic_auth.username_file

#[test]
fn username_file_is_read_at_each_request() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("http-config-user");
    let user = dir.path().join("user");
    std::fs::write(&user, "alice\n").unwrap();
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &[
            "basic_auth:".to_string(),
            format!("  username_file: {}", quoted(&user)),
            "  password: pw-41c2".to_string(),
        ],
    ));
    run.deliver("username_file");
    let last = |receiver: &FaultReceiver| {
        let seen = receiver.seen();
        let request = seen.last().expect("a request");
        basic_credentials(&header_values(request, "authorization")[0])
    };
    assert_eq!(last(&receiver), "alice:pw-41c2");
    // Rotated: the next request carries the new name.
    std::fs::write(&user, "bob\n").unwrap();
    run.deliver("username_file");
    assert_eq!(last(&receiver), "bob:pw-41c2");
    // Gone: the attempt is not made, and retried.
    std::fs::remove_file(&user).unwrap();
    let error = run.fail("username_file");
    assert!(error.contains("basic_auth.username_file"), "{error}");
    std::fs::write(&user, "carol").unwrap();
    run.sender.flush(Duration::from_secs(5)).expect("delivered");
    assert_eq!(last(&receiver), "carol:pw-41c2");
    let logs = run.close();
    assert!(!logs.lock().unwrap().join("\n").contains("pw-41c2"));
}

// ---------------------------------------------------------------------------------------
// http_headers

/// The secret of the `http_headers` tests, which no log line may show.
const HEADER_SECRET: &str = "hdr-secret-3c1d";
/// The contents of the header files, which no log line may show either.
const FILE_VALUE: &str = "file-value-9e07";

#[test]
fn http_headers_send_every_value_as_a_line_and_read_files_at_each_request() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("http-config-headers");
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    std::fs::write(&first, format!("{FILE_VALUE}\n")).unwrap();
    std::fs::write(&second, "  second-value \r\n").unwrap();
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &[
            "http_headers:".to_string(),
            "  X-Multi:".to_string(),
            "    values: [v-one, v-two]".to_string(),
            format!("    secrets: [{HEADER_SECRET}]"),
            format!("    files: [{}, {}]", quoted(&first), quoted(&second)),
            "  X-Single:".to_string(),
            "    values: [only]".to_string(),
        ],
    ));
    run.deliver("http_headers");
    let last = || receiver.seen().last().cloned().expect("a request");
    let request = last();
    assert_eq!(
        header_values(&request, "x-multi"),
        ["v-one", "v-two", HEADER_SECRET, FILE_VALUE, "second-value"],
        "values, then secrets, then files, each a header line: {:?}",
        request.headers
    );
    assert_eq!(header_values(&request, "x-single"), ["only"]);

    // A rotated file is read again for the next request.
    std::fs::write(&second, "rotated-value").unwrap();
    run.deliver("http_headers");
    assert_eq!(
        header_values(&last(), "x-multi").last().map(String::as_str),
        Some("rotated-value")
    );

    // An unreadable file holds the batch back (retried), naming the header and the file.
    std::fs::remove_file(&first).unwrap();
    let error = run.fail("http_headers");
    assert!(error.contains("http_headers.X-Multi"), "{error}");
    assert!(error.contains(&first.display().to_string()), "{error}");
    // So does a value that cannot be a header (a line break inside).
    std::fs::write(&first, "two\nlines").unwrap();
    let error = run.fail("http_headers");
    assert!(
        error.contains("not hold a valid HTTP header value"),
        "{error}"
    );
    std::fs::write(&first, FILE_VALUE).unwrap();
    run.sender.flush(Duration::from_secs(5)).expect("delivered");
    assert_eq!(header_values(&last(), "x-multi")[3], FILE_VALUE);

    let logs = run.close();
    let logs = logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("http_headers.X-Multi"),
        "the failure was logged"
    );
    assert!(
        !logs.contains(HEADER_SECRET),
        "the secret is never logged:\n{logs}"
    );
    assert!(
        !logs.contains(FILE_VALUE),
        "file contents are never logged:\n{logs}"
    );
    let config = Config::from_text(&endpoint_yaml(
        &receiver.url(),
        &[
            "http_headers:".to_string(),
            "  X-Multi:".to_string(),
            format!("    secrets: [{HEADER_SECRET}]"),
        ],
    ))
    .unwrap();
    assert!(!format!("{config:?}").contains(HEADER_SECRET));
}

#[test]
fn http_headers_stay_with_the_configured_origin_across_redirects() {
    let other = FaultReceiver::start();
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Redirect(307, other.url())]);
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &[
            "http_headers:".to_string(),
            "  X-Origin-Only:".to_string(),
            format!("    secrets: [{HEADER_SECRET}]"),
        ],
    ));
    run.deliver("redirected");
    run.close();
    let first = &receiver.seen()[0];
    assert_eq!(header_values(first, "x-origin-only"), [HEADER_SECRET]);
    let redirected = other.seen();
    assert_eq!(
        redirected.len(),
        1,
        "the batch was re-POSTed to the other origin"
    );
    assert!(
        header_values(&redirected[0], "x-origin-only").is_empty(),
        "{:?}",
        redirected[0].headers
    );
}

// ---------------------------------------------------------------------------------------
// tls_config: inline ca, cert and key

#[test]
fn inline_ca_cert_and_key_deliver_over_mutual_tls() {
    let pki = Pki::generate("inline");
    let receiver = HttpsReceiver::start(pki.server_config(true));
    let read = |path: &Path| std::fs::read_to_string(path).unwrap();
    let mut lines = vec![
        "tls_config:".to_string(),
        format!("  server_name: {SERVER_NAME}"),
    ];
    lines.extend(block(2, "ca", &read(&pki.ca_file)));
    lines.extend(block(2, "cert", &read(&pki.client_cert_file)));
    lines.extend(block(2, "key", &read(&pki.client_key_file)));
    let run = Run::start(&endpoint_yaml(&receiver.url(), &lines));
    run.deliver("inline_tls");
    run.close();
    assert_eq!(receiver.accepted(), SAMPLES);
    assert_eq!(receiver.handshakes_failed(), 0);
}

#[test]
fn inline_ca_that_did_not_sign_the_server_is_not_trusted() {
    let pki = Pki::generate("inline-wrong-ca");
    let other = Pki::generate("inline-other-ca");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let mut lines = vec![
        "tls_config:".to_string(),
        format!("  server_name: {SERVER_NAME}"),
    ];
    lines.extend(block(
        2,
        "ca",
        &std::fs::read_to_string(&other.ca_file).unwrap(),
    ));
    let run = Run::start(&endpoint_yaml(&receiver.url(), &lines));
    let error = run.fail("inline_wrong_ca");
    run.close();
    // Signed by another CA (of the same name: rustls finds it, and the signature fails).
    assert!(
        error.contains("TLS handshake failed: invalid peer certificate"),
        "{error}"
    );
    assert_eq!(receiver.requests(), 0);
}

#[test]
fn an_inline_key_that_does_not_match_fails_sender_start_without_being_quoted() {
    let pki = Pki::generate("inline-stray-key");
    let key = std::fs::read_to_string(&pki.stray_key_file).unwrap();
    let mut lines = vec!["tls_config:".to_string()];
    lines.extend(block(
        2,
        "cert",
        &std::fs::read_to_string(&pki.client_cert_file).unwrap(),
    ));
    lines.extend(block(2, "key", &key));
    let config =
        Config::from_text(&endpoint_yaml("https://127.0.0.1:9/api/v1/write", &lines)).unwrap();
    let error = Sender::new(config).err().expect("refused");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
    assert!(
        error
            .message()
            .contains("tls_config.key: unusable with tls_config.cert"),
        "{error}"
    );
    let body = key.lines().nth(1).unwrap();
    assert!(!error.message().contains(body), "{error}");
}

// ---------------------------------------------------------------------------------------
// tls_config: min_version and max_version

/// Records the labels of the key material a TLS server derives: `CLIENT_RANDOM` in TLS 1.2,
/// `CLIENT_TRAFFIC_SECRET_0` and others in TLS 1.3.
#[derive(Debug, Default)]
struct KeyLabels(Mutex<Vec<String>>);

impl rustls::KeyLog for KeyLabels {
    fn log(&self, label: &str, _client_random: &[u8], _secret: &[u8]) {
        self.0.lock().unwrap().push(label.to_string());
    }
}

impl KeyLabels {
    /// Whether a TLS 1.2 handshake was completed (and no TLS 1.3 one).
    fn only_tls12(&self) -> bool {
        let labels = self.0.lock().unwrap();
        labels.iter().any(|l| l == "CLIENT_RANDOM")
            && !labels.iter().any(|l| l.contains("TRAFFIC_SECRET"))
    }

    /// Whether a TLS 1.3 handshake was completed (and no TLS 1.2 one).
    fn only_tls13(&self) -> bool {
        let labels = self.0.lock().unwrap();
        labels.iter().any(|l| l == "CLIENT_TRAFFIC_SECRET_0")
            && !labels.iter().any(|l| l == "CLIENT_RANDOM")
    }
}

/// A server with a self-signed certificate, speaking `versions`, whose key material labels
/// go to `labels`.
fn versioned_server(
    versions: &[&'static SupportedProtocolVersion],
    labels: Arc<KeyLabels>,
) -> Arc<ServerConfig> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
    config.key_log = labels;
    Arc::new(config)
}

/// `tls_config` lines skipping verification (the server is self-signed), with `extra`.
fn tls_lines(extra: &[&str]) -> Vec<String> {
    let mut lines = vec![
        "tls_config:".to_string(),
        "  insecure_skip_verify: true".to_string(),
    ];
    lines.extend(extra.iter().map(|l| format!("  {l}")));
    lines
}

#[test]
fn min_version_tls13_fails_against_a_tls12_server_with_a_clear_error() {
    let labels = Arc::new(KeyLabels::default());
    let receiver =
        HttpsReceiver::start(versioned_server(&[&rustls::version::TLS12], labels.clone()));
    // TLS10 as the minimum is TLS 1.2 in effect: the server's version is accepted.
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &tls_lines(&["min_version: TLS10"]),
    ));
    run.deliver("tls_version");
    run.close();
    assert!(labels.only_tls12());
    let accepted = receiver.accepted();

    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &tls_lines(&["min_version: TLS13"]),
    ));
    let error = run.fail("tls_version");
    let logs = run.log_text();
    run.close();
    assert!(
        error.contains(
            "TLS handshake failed: received fatal alert: ProtocolVersion; no TLS version in \
             common with the server: promrw offered only TLS 1.3 (tls_config.min_version: TLS13)"
        ),
        "{error}"
    );
    assert!(logs.contains("no TLS version in common"), "{logs}");
    assert_eq!(receiver.accepted(), accepted, "nothing more got through");
    assert!(receiver.handshakes_failed() > 0);
}

#[test]
fn max_version_tls12_negotiates_tls_1_2_with_a_server_that_has_1_3() {
    let both = [&rustls::version::TLS12, &rustls::version::TLS13];
    let labels = Arc::new(KeyLabels::default());
    let receiver = HttpsReceiver::start(versioned_server(&both, labels.clone()));
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &tls_lines(&["max_version: TLS12"]),
    ));
    run.deliver("tls_version");
    run.close();
    assert_eq!(receiver.accepted(), SAMPLES);
    assert!(labels.only_tls12(), "{:?}", labels.0.lock().unwrap());

    // Without it (or with max_version: TLS13) the same server negotiates TLS 1.3.
    for extra in [&[][..], &["max_version: TLS13", "min_version: TLS12"][..]] {
        let labels = Arc::new(KeyLabels::default());
        let receiver = HttpsReceiver::start(versioned_server(&both, labels.clone()));
        let run = Run::start(&endpoint_yaml(&receiver.url(), &tls_lines(extra)));
        run.deliver("tls_version");
        run.close();
        assert!(
            labels.only_tls13(),
            "{extra:?}: {:?}",
            labels.0.lock().unwrap()
        );
    }
}

#[test]
fn max_version_tls12_fails_against_a_tls13_server_and_below_tls12_is_refused() {
    let receiver =
        HttpsReceiver::start(versioned_server(&[&rustls::version::TLS13], Arc::default()));
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &tls_lines(&["max_version: TLS12"]),
    ));
    let error = run.fail("tls_version");
    run.close();
    assert!(
        error.contains("promrw offered only TLS 1.2 (tls_config.max_version: TLS12)"),
        "{error}"
    );
    assert_eq!(receiver.requests(), 0);

    let config = Config::from_text(&endpoint_yaml(
        &receiver.url(),
        &tls_lines(&["max_version: TLS11"]),
    ))
    .unwrap();
    let error = Sender::new(config).err().expect("refused");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(
        error.message().contains("tls_config.max_version"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// The recording proxy

/// One request the proxy saw.
#[derive(Debug, Clone)]
struct ProxySeen {
    /// `CONNECT`, or the method of a forwarded request.
    method: String,
    /// `host:port` for CONNECT, the absolute URL for a forwarded request.
    target: String,
    /// The request's headers, in order (names lower-cased).
    headers: Vec<(String, String)>,
}

impl ProxySeen {
    /// The values of header `name` (lower case), in order.
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// An HTTP proxy on 127.0.0.1 that tunnels CONNECT requests and forwards absolute-form
/// requests (one per connection), to loopback only: 127.0.0.1, `localhost`, `127.0.1` and
/// `127.1` are taken to 127.0.0.1 (nothing is looked up), any other host is answered 502. It
/// records every request; with `refuse`, it answers every request with that status instead.
/// Stopped on drop (connections in use end when their peers close them).
struct RecordingProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<ProxySeen>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl RecordingProxy {
    /// Starts a proxy that tunnels and forwards.
    fn start() -> RecordingProxy {
        RecordingProxy::with_answer(None)
    }

    /// Starts a proxy that answers every request with `status`.
    fn refusing(status: u16) -> RecordingProxy {
        RecordingProxy::with_answer(Some(status))
    }

    fn with_answer(refuse: Option<u16>) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<ProxySeen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let seen = seen.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let seen = seen.clone();
                    std::thread::spawn(move || proxy_connection(stream, &seen, refuse));
                }
            })
        };
        RecordingProxy {
            addr,
            seen,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>`.
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:<port>`.
    fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// The requests seen so far.
    fn seen(&self) -> Vec<ProxySeen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The loopback address a target `host:port` stands for here, if any.
fn loopback_target(host_port: &str) -> Option<SocketAddr> {
    let (host, port) = host_port.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let loopback = ["127.0.0.1", "localhost", "127.0.1", "127.1"].contains(&host);
    loopback.then(|| SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Serves one client connection: reads its request, records it, and tunnels, forwards or
/// refuses it.
fn proxy_connection(client: TcpStream, seen: &Mutex<Vec<ProxySeen>>, refuse: Option<u16>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    seen.lock().unwrap().push(ProxySeen {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
    });
    let mut client = client;
    let answer = |client: &mut TcpStream, status: u16| {
        let _ = write!(
            client,
            "HTTP/1.1 {status} Refused By Test Proxy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    if let Some(status) = refuse {
        return answer(&mut client, status);
    }
    if method == "CONNECT" {
        let Some(upstream) = loopback_target(&target).and_then(|a| TcpStream::connect(a).ok())
        else {
            return answer(&mut client, 502);
        };
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .is_err()
        {
            return;
        }
        relay(reader, client, upstream);
        return;
    }
    // Forwarding: `METHOD http://host:port/path`, the body by its Content-Length.
    let Some(rest) = target.strip_prefix("http://") else {
        return answer(&mut client, 400);
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(mut upstream) = loopback_target(authority).and_then(|a| TcpStream::connect(a).ok())
    else {
        return answer(&mut client, 502);
    };
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut head = format!(
        "{method} {} HTTP/1.1\r\n",
        if path.is_empty() { "/" } else { path }
    );
    for (name, value) in &headers {
        if !name.starts_with("proxy-") && name != "connection" {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(head.as_bytes()).is_err() || upstream.write_all(&body).is_err() {
        return;
    }
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
}

/// Relays a tunnel both ways until either side closes: the client's bytes (`reader`, with
/// whatever it buffered) to `upstream`, and `upstream`'s back to `client`.
fn relay(mut reader: BufReader<TcpStream>, mut client: TcpStream, upstream: TcpStream) {
    let _ = upstream.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(mut to_upstream) = upstream.try_clone() else {
        return;
    };
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let mut from_upstream = upstream;
    let _ = std::io::copy(&mut from_upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = from_upstream.shutdown(Shutdown::Both);
    let _ = forward.join();
}

#[test]
fn the_recording_proxy_forwards_absolute_form_requests() {
    // The helper's forwarding path, which ureq never takes (it tunnels http URLs too).
    let receiver = FaultReceiver::start();
    let proxy = RecordingProxy::start();
    let mut stream = TcpStream::connect(proxy.addr).unwrap();
    let target = receiver.url().replace("127.0.0.1", "127.0.1");
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: 127.0.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    let seen = proxy.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, target);
    let at_receiver = receiver.seen();
    assert_eq!(at_receiver[0].method, "GET");
    assert!(header_values(&at_receiver[0], "proxy-authorization").is_empty());
}

// ---------------------------------------------------------------------------------------
// proxy_connect_header

#[test]
fn proxy_connect_header_goes_with_each_connect_to_the_proxy_only() {
    let receiver = FaultReceiver::start();
    let proxy = RecordingProxy::start();
    let proxy_url = format!("http://puser:ppass-77@{}", proxy.host_port());
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &[
            format!("proxy_url: {proxy_url}"),
            "proxy_connect_header:".to_string(),
            "  X-Proxy-Key: [pk-one-5a, pk-two-5a]".to_string(),
            "  X-Tenant: [acme]".to_string(),
        ],
    ));
    run.deliver("connect_header");
    let logs = run.close();
    assert_eq!(receiver.store().totals().accepted, SAMPLES);
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "the requests went through the proxy");
    let target = receiver.url();
    let target = target
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    for connect in &seen {
        assert_eq!(connect.method, "CONNECT");
        assert_eq!(connect.target, target);
        assert_eq!(connect.values("host"), [target]);
        assert_eq!(connect.values("x-proxy-key"), ["pk-one-5a", "pk-two-5a"]);
        assert_eq!(connect.values("x-tenant"), ["acme"]);
        assert!(connect.values("user-agent")[0].starts_with("promrw/"));
        let authorization = connect.values("proxy-authorization");
        assert_eq!(basic_credentials(authorization[0]), "puser:ppass-77");
    }
    for request in receiver.seen() {
        assert!(header_values(&request, "x-proxy-key").is_empty());
        assert!(header_values(&request, "proxy-authorization").is_empty());
    }
    let logs = logs.lock().unwrap().join("\n");
    for secret in ["pk-one-5a", "pk-two-5a", "ppass-77"] {
        assert!(!logs.contains(secret), "{secret} logged:\n{logs}");
    }
}

#[test]
fn proxy_connect_header_goes_with_the_tunnel_to_an_https_endpoint() {
    let pki = Pki::generate("connect-header-https");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    let proxy = RecordingProxy::start();
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &[
            format!("proxy_url: {}", proxy.url()),
            "proxy_connect_header:".to_string(),
            "  X-Proxy-Key: [pk-https-5a]".to_string(),
            "tls_config:".to_string(),
            format!("  ca_file: {}", quoted(&pki.ca_file)),
            format!("  server_name: {SERVER_NAME}"),
        ],
    ));
    run.deliver("connect_header_https");
    run.close();
    assert_eq!(receiver.accepted(), SAMPLES);
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|c| c.method == "CONNECT" && c.values("x-proxy-key") == ["pk-https-5a"])
    );
}

#[test]
fn a_proxy_refusing_connect_fails_the_attempt_naming_its_status() {
    let receiver = FaultReceiver::start();
    let proxy = RecordingProxy::refusing(407);
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &[format!("proxy_url: {}", proxy.url())],
    ));
    let error = run.fail("refused_connect");
    run.close();
    assert!(
        error.contains("proxy server responded 407 Refused By Test Proxy"),
        "{error}"
    );
    assert!(receiver.seen().is_empty());
}

// ---------------------------------------------------------------------------------------
// no_proxy

#[test]
fn no_proxy_sends_listed_and_loopback_hosts_direct_and_others_through_the_proxy() {
    let receiver = FaultReceiver::start();
    let proxy = RecordingProxy::start();
    let port = receiver_port(&receiver);
    let lines = [
        format!("proxy_url: {}", proxy.url()),
        "no_proxy: 127.1, .elsewhere.test, 10.0.0.0/8".to_string(),
    ];

    // A host the list does not name goes through the proxy.
    let run = Run::start(&endpoint_yaml(&url_for("127.0.1", port), &lines));
    run.deliver("no_proxy");
    run.close();
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|c| c.target == format!("127.0.1:{port}")),
        "{seen:?}"
    );
    let through_proxy = seen.len();

    // A listed host goes direct, and so, with no_proxy set, do loopback addresses and
    // localhost (Go's httpproxy rule): the proxy sees nothing more.
    for host in ["127.1", "127.0.0.1", "localhost"] {
        let run = Run::start(&endpoint_yaml(&url_for(host, port), &lines));
        run.deliver("no_proxy");
        run.close();
        assert_eq!(proxy.seen().len(), through_proxy, "{host} went direct");
    }
    assert_eq!(receiver.store().totals().accepted, 4 * SAMPLES);

    // Without no_proxy, proxy_url takes even loopback through the proxy.
    let run = Run::start(&endpoint_yaml(
        &receiver.url(),
        &[format!("proxy_url: {}", proxy.url())],
    ));
    run.deliver("no_proxy");
    run.close();
    assert!(proxy.seen().len() > through_proxy);
}

/// The port `receiver` listens on.
fn receiver_port(receiver: &FaultReceiver) -> u16 {
    let url = receiver.url();
    let authority = url.trim_start_matches("http://").split('/').next().unwrap();
    authority.rsplit(':').next().unwrap().parse().unwrap()
}

/// The write URL of a receiver on `port` of `host`.
fn url_for(host: &str, port: u16) -> String {
    format!("http://{host}:{port}/api/v1/write")
}

// ---------------------------------------------------------------------------------------
// proxy_from_environment, in child processes

/// The child's configuration (YAML); the child does nothing without it.
const CHILD_CONFIG_VAR: &str = "PROMRW_TEST_HTTP_CONFIG_CHILD_CONFIG";
/// `delivered`, or `refused:<text the error must contain>`.
const CHILD_EXPECT_VAR: &str = "PROMRW_TEST_HTTP_CONFIG_CHILD_EXPECT";
/// The name of the child's series: one per child, since each child's timestamps start
/// afresh and a receiver stores a series' samples in order only.
const CHILD_SERIES_VAR: &str = "PROMRW_TEST_HTTP_CONFIG_CHILD_SERIES";
/// Every variable Go's (and so Prometheus's) proxy selection reads, cleared in each child.
const PROXY_VARS: [&str; 7] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// Runs [`child_sends_with_the_proxy_environment`] in a child process with `config`, the
/// environment `env` (the proxy variables otherwise cleared) and `expect`; asserts it passed.
fn run_child(config: &str, env: &[(&str, String)], expect: &str) {
    static CHILDREN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let child = CHILDREN.fetch_add(1, Ordering::SeqCst);
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            "child_sends_with_the_proxy_environment",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_CONFIG_VAR, config)
        .env(CHILD_EXPECT_VAR, expect)
        .env(CHILD_SERIES_VAR, format!("from_environment_{child}"));
    for var in PROXY_VARS {
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
        "child ({expect}, {env:?}) failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}

/// The child: starts a sender for its configuration and checks the outcome it was told to.
#[test]
#[ignore = "run by proxy_from_environment_follows_the_child_process_environment"]
fn child_sends_with_the_proxy_environment() {
    let Ok(text) = std::env::var(CHILD_CONFIG_VAR) else {
        return;
    };
    let expect = std::env::var(CHILD_EXPECT_VAR).unwrap_or_default();
    if let Some(wanted) = expect.strip_prefix("refused:") {
        let config = Config::from_text(&text).expect("valid config");
        let error = Sender::new(config).err().expect("sender refuses to start");
        assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
        assert!(error.message().contains(wanted), "{error}");
        return;
    }
    assert_eq!(expect, "delivered");
    let series = std::env::var(CHILD_SERIES_VAR).expect("series name");
    let run = Run::start(&text);
    run.deliver(&series);
    run.close();
}

#[test]
fn proxy_from_environment_follows_the_child_process_environment() {
    let receiver = FaultReceiver::start();
    let proxy = RecordingProxy::start();
    let port = receiver_port(&receiver);
    let named = url_for("127.0.1", port);
    let lines = [
        "proxy_from_environment: true".to_string(),
        "proxy_connect_header:".to_string(),
        "  X-From-Env: [child]".to_string(),
    ];

    // http_proxy (lower case, host:port without a scheme) takes the http URL through the
    // proxy; NO_PROXY names another host.
    run_child(
        &endpoint_yaml(&named, &lines),
        &[
            ("http_proxy", proxy.host_port()),
            ("NO_PROXY", "127.1".to_string()),
        ],
        "delivered",
    );
    let seen = proxy.seen();
    assert!(
        !seen.is_empty(),
        "the child's requests went through the proxy"
    );
    for connect in &seen {
        assert_eq!(connect.target, format!("127.0.1:{port}"));
        assert_eq!(connect.values("x-from-env"), ["child"]);
    }
    assert_eq!(receiver.store().totals().accepted, SAMPLES);

    // NO_PROXY names the host: direct.
    run_child(
        &endpoint_yaml(&url_for("127.1", port), &lines),
        &[
            ("HTTP_PROXY", proxy.url()),
            ("no_proxy", "example.test,127.1".to_string()),
        ],
        "delivered",
    );
    assert_eq!(
        proxy.seen().len(),
        seen.len(),
        "the listed host went direct"
    );
    assert_eq!(receiver.store().totals().accepted, 2 * SAMPLES);

    // HTTP_PROXY, but the host is a loopback address: direct.
    run_child(
        &endpoint_yaml(&receiver.url(), &lines),
        &[("HTTP_PROXY", proxy.url())],
        "delivered",
    );
    assert_eq!(proxy.seen().len(), seen.len(), "loopback went direct");
    assert_eq!(receiver.store().totals().accepted, 3 * SAMPLES);

    // HTTPS_PROXY only applies to https URLs: the http URL goes direct.
    run_child(
        &endpoint_yaml(&named, &lines),
        &[("HTTPS_PROXY", proxy.url())],
        "delivered",
    );
    assert_eq!(proxy.seen().len(), seen.len(), "http went direct");
    assert_eq!(receiver.store().totals().accepted, 4 * SAMPLES);

    // HTTPS_PROXY takes https URLs through the proxy (TLS inside the tunnel).
    let pki = Pki::generate("from-environment");
    let https = HttpsReceiver::start(pki.server_config(false));
    let https_port = https
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut https_lines = lines.to_vec();
    https_lines.extend([
        "tls_config:".to_string(),
        format!("  ca_file: {}", quoted(&pki.ca_file)),
        format!("  server_name: {SERVER_NAME}"),
    ]);
    run_child(
        &endpoint_yaml(
            &format!("https://127.0.1:{https_port}/api/v1/write"),
            &https_lines,
        ),
        &[("HTTPS_PROXY", proxy.url())],
        "delivered",
    );
    assert_eq!(https.accepted(), SAMPLES);
    let tunnels = proxy.seen();
    assert!(
        tunnels.len() > seen.len(),
        "the https requests went through the proxy"
    );
    assert!(
        tunnels[seen.len()..]
            .iter()
            .all(|c| c.target == format!("127.0.1:{https_port}")),
        "{tunnels:?}"
    );
    let seen = tunnels;

    // A SOCKS proxy cannot be used: the sender refuses to start rather than bypass it.
    run_child(
        &endpoint_yaml(&named, &lines),
        &[("HTTP_PROXY", "socks5://127.0.0.1:9".to_string())],
        "refused:proxy_from_environment: HTTP_PROXY",
    );
    assert_eq!(proxy.seen().len(), seen.len());
}

// ---------------------------------------------------------------------------------------
// round_robin_dns

#[test]
fn round_robin_dns_delivers_to_localhost() {
    use std::net::ToSocketAddrs;
    let resolved: Vec<SocketAddr> = ("localhost", 9).to_socket_addrs().unwrap().collect();
    assert!(
        resolved.iter().all(|a| a.ip().is_loopback()),
        "localhost is loopback here: {resolved:?}"
    );
    let receiver = FaultReceiver::start();
    let url = receiver.url().replace("127.0.0.1", "localhost");
    let run = Run::start(&endpoint_yaml(&url, &["round_robin_dns: true".to_string()]));
    // A localhost that also resolves to ::1 (where nothing listens) fails some attempts,
    // which are retried with another draw.
    run.deliver("round_robin");
    run.close();
    assert_eq!(receiver.store().totals().accepted, SAMPLES);
}
