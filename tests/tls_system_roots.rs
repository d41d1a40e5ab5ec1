//! The system's CA store as a source of trust roots, end to end over real HTTPS on 127.0.0.1.
//!
//! rustls-native-certs reads `SSL_CERT_FILE` and promrw loads the store once per process, so
//! every sender here runs in a child process: this test binary run again for its ignored
//! [`child_sends_to_the_receiver`] test, with the environment each case needs. The parent
//! starts the receiver, and checks both the child's verdict and what the receiver saw.

mod tls_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promrw::{Config, ErrorKind, Sender};
use tls_support::{HttpsReceiver, Pki, SERVER_NAME};

/// Samples the child appends.
const SAMPLES: u64 = 20;

/// The child's URL to send to; the child does nothing without it.
const URL_VAR: &str = "PROMRW_TEST_SYSTEM_ROOTS_URL";
/// What the child must see: `delivered` or `unknown_issuer`.
const EXPECT_VAR: &str = "PROMRW_TEST_SYSTEM_ROOTS_EXPECT";
/// Optional `tls_config.server_name` for the child.
const SERVER_NAME_VAR: &str = "PROMRW_TEST_SYSTEM_ROOTS_SERVER_NAME";
/// Optional `tls_config.ca_file` for the child.
const CA_FILE_VAR: &str = "PROMRW_TEST_SYSTEM_ROOTS_CA_FILE";

/// How a child process is set up.
struct Child<'a> {
    url: String,
    expect: &'a str,
    /// `SSL_CERT_FILE`; the variable is removed when `None` (and `SSL_CERT_DIR` always is).
    ssl_cert_file: Option<&'a Path>,
    server_name: Option<&'a str>,
    ca_file: Option<&'a Path>,
}

impl Child<'_> {
    /// Runs the child test and asserts that it ran and passed.
    fn run(&self) {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args([
                "child_sends_to_the_receiver",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(URL_VAR, &self.url)
            .env(EXPECT_VAR, self.expect)
            .env_remove("SSL_CERT_DIR")
            .env_remove(SERVER_NAME_VAR)
            .env_remove(CA_FILE_VAR);
        match self.ssl_cert_file {
            Some(path) => command.env("SSL_CERT_FILE", path),
            None => command.env_remove("SSL_CERT_FILE"),
        };
        if let Some(name) = self.server_name {
            command.env(SERVER_NAME_VAR, name);
        }
        if let Some(path) = self.ca_file {
            command.env(CA_FILE_VAR, path);
        }
        let output = command.output().expect("run the child test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child ({}) failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            self.expect,
            output.status
        );
    }
}

/// Asserts that the receiver stored every sample of the child.
fn assert_stored(receiver: &HttpsReceiver) {
    assert_eq!(receiver.accepted(), SAMPLES, "receiver stored every sample");
}

/// Asserts that the child's handshakes were refused and nothing reached the receiver.
fn assert_refused(receiver: &HttpsReceiver) {
    assert_eq!(receiver.accepted(), 0);
    assert_eq!(receiver.requests(), 0, "no request got past the handshake");
    assert!(receiver.handshakes_failed() > 0, "handshakes were tried");
}

#[test]
fn ssl_cert_file_makes_the_system_store_trust_the_ca_without_ca_file() {
    // This receiver's certificate names 127.0.0.1, so the URL host verifies it (no
    // server_name): the default path.
    let pki = Pki::generate("system-roots");
    let receiver = HttpsReceiver::start(pki.proxy_config());

    // Without SSL_CERT_FILE the platform store (and the web roots) do not know the test CA.
    Child {
        url: receiver.url(),
        expect: "unknown_issuer",
        ssl_cert_file: None,
        server_name: None,
        ca_file: None,
    }
    .run();
    assert_refused(&receiver);

    Child {
        url: receiver.url(),
        expect: "delivered",
        ssl_cert_file: Some(&pki.ca_file),
        server_name: None,
        ca_file: None,
    }
    .run();
    assert_stored(&receiver);
}

#[test]
fn ssl_cert_file_applies_with_server_name_too() {
    let pki = Pki::generate("system-roots-name");
    let receiver = HttpsReceiver::start(pki.server_config(false));
    Child {
        url: receiver.url(),
        expect: "unknown_issuer",
        ssl_cert_file: None,
        server_name: Some(SERVER_NAME),
        ca_file: None,
    }
    .run();
    assert_refused(&receiver);
    Child {
        url: receiver.url(),
        expect: "delivered",
        ssl_cert_file: Some(&pki.ca_file),
        server_name: Some(SERVER_NAME),
        ca_file: None,
    }
    .run();
    assert_stored(&receiver);
}

#[test]
fn ca_file_adds_to_the_system_store_instead_of_replacing_it() {
    // The receiver's CA comes from the system store; ca_file names another CA. Before, a
    // ca_file replaced every other root and this failed with an unknown issuer.
    let pki = Pki::generate("system-roots-plus-ca");
    let other = Pki::generate("system-roots-other-ca");
    let receiver = HttpsReceiver::start(pki.proxy_config());
    Child {
        url: receiver.url(),
        expect: "delivered",
        ssl_cert_file: Some(&pki.ca_file),
        server_name: None,
        ca_file: Some(&other.ca_file),
    }
    .run();
    assert_stored(&receiver);
}

#[test]
fn an_unreadable_ssl_cert_file_is_not_fatal_and_ca_file_still_works() {
    let pki = Pki::generate("system-roots-missing");
    let receiver = HttpsReceiver::start(pki.proxy_config());
    let missing = pki.dir.path().join("no-such-bundle.pem");
    Child {
        url: receiver.url(),
        expect: "delivered",
        ssl_cert_file: Some(&missing),
        server_name: None,
        ca_file: Some(&pki.ca_file),
    }
    .run();
    assert_stored(&receiver);
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Run by the tests above in a child process (see the module documentation); does nothing
/// when run otherwise.
#[test]
#[ignore = "run in a child process by the other tests of this file"]
fn child_sends_to_the_receiver() {
    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("{URL_VAR} is not set: nothing to do outside the parent tests");
        return;
    };
    let expect = std::env::var(EXPECT_VAR).expect("expectation");
    let mut text = format!(
        "promrw:\n  flush_deadline: 200ms\nremote_write:\n  - url: {url}\n    remote_timeout: 2s\n    \
         queue_config:\n      min_backoff: 10ms\n      max_backoff: 50ms\n      \
         batch_send_deadline: 50ms\n"
    );
    let server_name = std::env::var(SERVER_NAME_VAR).ok();
    let ca_file = std::env::var(CA_FILE_VAR).ok();
    if server_name.is_some() || ca_file.is_some() {
        text.push_str("    tls_config:\n");
    }
    if let Some(name) = server_name {
        text.push_str(&format!("      server_name: {name}\n"));
    }
    if let Some(path) = ca_file {
        text.push_str(&format!("      ca_file: {path:?}\n"));
    }
    let config = Config::from_text(&text).unwrap_or_else(|e| panic!("config {text}: {e}"));
    let sender = Sender::new(config).expect("sender starts whatever the system store holds");
    let series = sender
        .series_from_pairs(&[("__name__", "system_roots_test")])
        .expect("series");
    let base = now_ms() - 60_000;
    for i in 0..SAMPLES {
        sender
            .append(series, base + i as i64 * 1000, i as f64)
            .expect("append");
    }
    match expect.as_str() {
        "delivered" => {
            sender
                .flush(Duration::from_secs(10))
                .expect("flush delivers every sample");
            assert_eq!(sender.stats().endpoints[0].samples_acked, SAMPLES);
        }
        "unknown_issuer" => {
            // Retried until the flush gives up; the last error says why.
            let error = sender
                .flush(Duration::from_millis(800))
                .expect_err("flush cannot succeed");
            assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
            let stats = sender.stats();
            assert_eq!(stats.endpoints[0].samples_acked, 0);
            let last = stats.endpoints[0]
                .last_error
                .clone()
                .expect("an attempt failed");
            assert!(last.message.contains("UnknownIssuer"), "{last:?}");
        }
        other => panic!("unknown expectation {other:?}"),
    }
    let _ = sender.close(Duration::from_millis(500));
}
