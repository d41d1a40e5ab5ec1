//! Managed-service authentication end to end (issue 14): the real Prometheus 2.42 receiver
//! behind the test's small authenticating proxy (`real_receivers::proxy`, [`ProxyAuth`]), which
//! refuses with 401 every request whose credentials are wrong and forwards the others. Each
//! test proves that what promrw sent with `oauth2`, a rotated `authorization.credentials_file`
//! or `sigv4` was accepted and that Prometheus holds exactly every sample, queried as the
//! other real-receiver tests do. SigV4 signatures are checked by `promrw_tools::sigv4_verify`,
//! which recomputes them from the request received, independently of the library's signer.

mod common;
mod real_receivers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::token_server::{TokenServer, TokenServerBehaviour};
use promrw::Sender;
use promrw_tools::receiver::{Receiver, Reply, RequestInfo, SampleStore};
use promrw_tools::sigv4_verify::{self, Credentials, ReceivedRequest};
use real_receivers::Kind::Prometheus;
use real_receivers::data::{SeriesSpec, assert_stored, expected};
use real_receivers::proxy::{
    AuthCheck, FaultProxy, ProxyAuth, ProxyMode, SIGV4_REGION, SIGV4_SERVICE, TokenCheck,
};
use real_receivers::query::agent;
use real_receivers::scenarios::{
    assert_all_acked, count, selector, sender_yaml_with, wait_until, window,
};
use real_receivers::{RealReceiver, TempDir, now_ms, skip};

/// Series and samples per series of each end-to-end run.
const SERIES: usize = 200;
const SAMPLES: usize = 50;

/// `SERIES` series named `metric` with `SAMPLES` samples each, 1 s apart and ending 10 s ago;
/// values differ per series and sample.
fn dataset(metric: &str) -> Vec<SeriesSpec> {
    let start = now_ms() - 10_000 - (SAMPLES as i64 - 1) * 1000;
    (0..SERIES)
        .map(|i| {
            let index = format!("{i:03}");
            let mut spec = SeriesSpec::new(&[("__name__", metric), ("series", &index)]);
            spec.samples = (0..SAMPLES)
                .map(|j| (start + j as i64 * 1000, (i * 1000 + j) as f64 + 0.125))
                .collect();
            spec
        })
        .collect()
}

/// Appends sample `j` of every series as round `j`, `pace` apart, calling `before(j)` first
/// (the place for a mid-run change); returns the number of samples appended.
fn push_rounds(
    sender: &Sender,
    specs: &[SeriesSpec],
    pace: Duration,
    mut before: impl FnMut(usize),
) -> u64 {
    let refs: Vec<_> = specs
        .iter()
        .map(|s| sender.series_from_pairs(&s.pairs()).expect("series"))
        .collect();
    let mut appended = 0;
    for round in 0..SAMPLES {
        before(round);
        for (spec, r) in specs.iter().zip(&refs) {
            let (t, v) = spec.samples[round];
            sender.append(*r, t, v).expect("append");
            appended += 1;
        }
        std::thread::sleep(pace);
    }
    appended
}

/// A sender with one endpoint, `url`, and the endpoint lines `auth` (4-space indented).
fn sender(url: &str, auth: &str, queue: &str) -> Sender {
    let yaml = sender_yaml_with(&[("auth", url)], queue, auth);
    let config = promrw::Config::from_text(&yaml).expect("valid config");
    Sender::new(config).expect("sender starts")
}

/// Flushes `sender`, checks every sample acknowledged and exactly the data set stored by
/// Prometheus, and closes the sender.
fn assert_delivered_exactly(
    what: &str,
    sender: &Sender,
    receiver: &RealReceiver,
    metric: &str,
    specs: &[SeriesSpec],
    appended: u64,
) {
    assert_eq!(appended, count(specs));
    sender.flush(Duration::from_secs(60)).expect("flush");
    assert_all_acked(sender, 0, appended);
    assert_stored(
        what,
        receiver,
        &selector(metric),
        window(specs),
        &expected(Prometheus, specs),
    );
    sender.close(Duration::from_secs(10)).expect("close");
}

/// POSTs `body` with `headers` to `url`; the status and body answered.
fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let mut request = agent(Duration::from_secs(10)).post(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = request.send(body).expect("proxy answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

#[test]
fn oauth2_tokens_renewed_during_the_run_deliver_every_sample_exactly() {
    if skip("real_auth::oauth2") {
        return;
    }
    let receiver = RealReceiver::start(Prometheus);
    // expires_in 12 s: x/oauth2's 10 s expiry delta makes each token due 2 s after it is
    // issued, so a run of 5 s renews it at least twice; the proxy refuses a token 12 s after
    // it was issued.
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 12,
        down_for: 0,
        refuse_basic: false,
    });
    let proxy =
        FaultProxy::start_with_auth(&receiver.write_url(), ProxyAuth::Bearer(tokens.checker()));
    let auth = format!(
        "    oauth2:\n      client_id: id\n      client_secret: s3cr3t\n      token_url: {}\n",
        tokens.url
    );
    let sender = sender(&proxy.url(), &auth, "");
    let metric = "promrw_auth_oauth2";
    let specs = dataset(metric);
    let appended = push_rounds(&sender, &specs, Duration::from_millis(100), |_| {});
    assert_delivered_exactly(
        "oauth2 through the proxy",
        &sender,
        &receiver,
        metric,
        &specs,
        appended,
    );
    let refusals = proxy.refusals();
    assert!(
        refusals.iter().all(|r| r == "expired token"),
        "only an expired token may be refused (then renewed and the batch sent again): \
         {refusals:?}"
    );
    let issued = tokens.issued();
    let accepted = proxy.accepted();
    assert!(issued.len() >= 2, "renewed during the run: {issued:?}");
    assert!(
        issued.len() < accepted,
        "cached: {} tokens for {accepted} accepted requests",
        issued.len()
    );
    // The proxy's check can fail: a token it never issued is refused.
    let (status, body) = post(
        &proxy.url(),
        &[("Authorization".into(), "Bearer tok-forged".into())],
        b"",
    );
    assert_eq!((status, body.as_str()), (401, "unknown token"));
}

/// Writes `text` to `path` through a rename, so that a reader sees the old or the new
/// contents, never a part.
fn write_atomically(path: &std::path::Path, text: &str) {
    let partial = path.with_extension("new");
    std::fs::write(&partial, text).expect("write credentials");
    std::fs::rename(&partial, path).expect("rename credentials");
}

#[test]
fn a_rotated_bearer_credentials_file_is_used_from_the_next_request() {
    if skip("real_auth::bearer_rotation") {
        return;
    }
    const FIRST: &str = "first-credential-5d1f";
    const SECOND: &str = "second-credential-9a07";
    let receiver = RealReceiver::start(Prometheus);
    let dir = TempDir::new("auth-bearer");
    let file = dir.path().join("credentials");
    write_atomically(&file, &format!("{FIRST}\n"));
    // The credentials the proxy takes now, and how many requests each was accepted for.
    let current = Arc::new(Mutex::new(vec![FIRST.to_string()]));
    let uses: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let check: TokenCheck = {
        let (current, uses) = (current.clone(), uses.clone());
        Arc::new(move |token: &str| {
            if !current.lock().unwrap().iter().any(|c| c == token) {
                return Err("not a current credential".to_string());
            }
            *uses.lock().unwrap().entry(token.to_string()).or_default() += 1;
            Ok(())
        })
    };
    let used = |credential: &str| uses.lock().unwrap().get(credential).copied().unwrap_or(0);
    let proxy = FaultProxy::start_with_auth(&receiver.write_url(), ProxyAuth::Bearer(check));
    let auth = format!(
        "    authorization:\n      credentials_file: {}\n",
        file.display()
    );
    // One shard, so requests go one after the other: once one has carried the new
    // credential, every later one read the file after the rotation.
    let sender = sender(
        &proxy.url(),
        &auth,
        "      min_shards: 1\n      max_shards: 1\n",
    );
    let metric = "promrw_auth_bearer_rotation";
    let specs = dataset(metric);
    let mut second_at_revocation = None;
    let appended = push_rounds(&sender, &specs, Duration::from_millis(60), |round| {
        if round == 20 {
            // Rotation: the new credential in the file, and accepted beside the old one.
            assert!(used(FIRST) > 0, "the first credential was in use");
            write_atomically(&file, &format!("{SECOND}\n"));
            current.lock().unwrap().push(SECOND.to_string());
        }
        if round == 25 {
            wait_until(
                Duration::from_secs(30),
                "a request with the rotated credential",
                || used(SECOND) > 0,
            );
            // The old credential is revoked: only the new one is accepted from now on.
            current.lock().unwrap().retain(|c| c != FIRST);
            second_at_revocation = Some(used(SECOND));
        }
    });
    assert_delivered_exactly(
        "bearer rotation through the proxy",
        &sender,
        &receiver,
        metric,
        &specs,
        appended,
    );
    assert_eq!(proxy.refusals(), Vec::<String>::new(), "nothing refused");
    let at_revocation = second_at_revocation.expect("revoked mid-run");
    assert!(
        used(SECOND) > at_revocation,
        "requests after the revocation carried the new credential: {} then {}",
        at_revocation,
        used(SECOND)
    );
    // The proxy's check can fail: the revoked credential is refused now.
    let (status, body) = post(
        &proxy.url(),
        &[("Authorization".into(), format!("Bearer {FIRST}"))],
        b"",
    );
    assert_eq!((status, body.as_str()), (401, "not a current credential"));
}

/// The static keys of the SigV4 tests (not AWS's).
const ACCESS_KEY: &str = "AKIDTEST";
const SECRET_KEY: &str = "promrw/test+secret-key-0b9c";

/// The headers Prometheus's signer signs besides `host` and `x-amz-date`: every header of a
/// Remote Write request, the protocol's among them.
fn required_signed() -> Vec<String> {
    [
        "content-encoding",
        "content-type",
        "x-prometheus-remote-write-version",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn sigv4_signed_requests_verified_independently_deliver_every_sample_exactly() {
    if skip("real_auth::sigv4") {
        return;
    }
    let receiver = RealReceiver::start(Prometheus);
    let proxy = FaultProxy::start_with_auth(
        &receiver.write_url(),
        ProxyAuth::SigV4 {
            access_key_id: ACCESS_KEY.to_string(),
            credentials: Credentials::new(SECRET_KEY),
            required_signed: required_signed(),
        },
    );
    // The first well-signed request is answered 503 with Retry-After: 1, so its retry is
    // sent at least a second later: it must carry a new x-amz-date and a new signature.
    proxy.script([ProxyMode::RetryAfter(503, 1)]);
    let auth = format!(
        "    sigv4:\n      region: {SIGV4_REGION}\n      access_key: {ACCESS_KEY}\n      secret_key: {SECRET_KEY}\n"
    );
    let sender = sender(&proxy.url(), &auth, "");
    let metric = "promrw_auth_sigv4";
    let specs = dataset(metric);
    let appended = push_rounds(&sender, &specs, Duration::from_millis(20), |_| {});
    assert_delivered_exactly(
        "sigv4 through the proxy",
        &sender,
        &receiver,
        metric,
        &specs,
        appended,
    );
    let records = proxy.records();
    assert_eq!(proxy.refusals(), Vec::<String>::new(), "nothing refused");
    assert!(
        records
            .iter()
            .all(|r| r.auth == AuthCheck::Accepted && r.sigv4.is_some()),
        "every request verified"
    );
    let (first, retry) = (&records[0], &records[1]);
    assert_eq!((first.status, first.forwarded), (503, false), "{first:?}");
    assert!(
        retry.forwarded && retry.retry_attempt.is_some(),
        "{retry:?}"
    );
    assert!(
        retry.at.duration_since(first.at) >= Duration::from_millis(950),
        "Retry-After honoured"
    );
    let (first_sig, retry_sig) = (first.sigv4.as_ref().unwrap(), retry.sigv4.as_ref().unwrap());
    assert!(
        retry_sig.amz_date > first_sig.amz_date,
        "the retry is signed again with a fresh date: {} then {}",
        first_sig.amz_date,
        retry_sig.amz_date
    );
    assert_ne!(retry_sig.signature, first_sig.signature, "a new signature");
    assert_eq!(retry_sig.scope.split('/').nth(2), Some(SIGV4_SERVICE));
    assert!(
        records
            .iter()
            .skip(1)
            .all(|r| r.forwarded && r.status == 204)
    );
}

/// A stand-in upstream for the proxy's own test: answers 204 to anything.
fn upstream() -> Receiver {
    let accept = Arc::new(|_: &RequestInfo| Reply::status(204, ""));
    Receiver::start(
        "127.0.0.1:0",
        1,
        Arc::new(SampleStore::new(false)),
        accept,
        None,
    )
    .expect("upstream")
}

/// The headers of a POST to `proxy_url` signed with `secret` at `when` by the tools' test
/// signer; the `Host` ureq sends is signed but left for ureq to send.
fn signed_headers(
    proxy_url: &str,
    secret: &str,
    when: SystemTime,
    body: &[u8],
) -> Vec<(String, String)> {
    let host = proxy_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut request = ReceivedRequest::new(
        "POST",
        "/api/v1/write",
        vec![
            ("Host".into(), host),
            ("Content-Encoding".into(), "snappy".into()),
            ("Content-Type".into(), "application/x-protobuf".into()),
            ("X-Prometheus-Remote-Write-Version".into(), "0.1.0".into()),
        ],
        body.to_vec(),
    );
    sigv4_verify::sign(
        &mut request,
        ACCESS_KEY,
        &Credentials::new(secret),
        SIGV4_REGION,
        SIGV4_SERVICE,
        &sigv4_verify::format_amz_date(when),
    );
    request
        .headers
        .into_iter()
        .filter(|(n, _)| n != "Host")
        .collect()
}

#[test]
fn the_proxys_bearer_and_sigv4_checks_refuse_wrong_credentials() {
    let upstream = upstream();
    let bearer = FaultProxy::start_with_auth(
        &upstream.url(),
        ProxyAuth::Bearer(Arc::new(|token: &str| {
            if token == "right-token" {
                Ok(())
            } else {
                Err("not the right token".to_string())
            }
        })),
    );
    let auth = |value: &str| vec![("Authorization".to_string(), value.to_string())];
    assert_eq!(
        post(&bearer.url(), &auth("Bearer right-token"), b"x").0,
        204
    );
    for (headers, reason) in [
        (auth("Bearer wrong-token"), "not the right token"),
        (
            auth("Basic cmlnaHQtdG9rZW4="),
            "Authorization is not a Bearer token",
        ),
        (vec![], "no Authorization header"),
    ] {
        assert_eq!(
            post(&bearer.url(), &headers, b"x"),
            (401, reason.to_string())
        );
    }
    assert_eq!(bearer.accepted(), 1);
    assert_eq!(bearer.refusals().len(), 3);
    assert!(bearer.records().iter().filter(|r| r.forwarded).count() == 1);

    let sigv4 = FaultProxy::start_with_auth(
        &upstream.url(),
        ProxyAuth::SigV4 {
            access_key_id: ACCESS_KEY.to_string(),
            credentials: Credentials::new(SECRET_KEY),
            required_signed: required_signed(),
        },
    );
    let url = sigv4.url();
    let now = SystemTime::now();
    let body = b"a body";
    let right = signed_headers(&url, SECRET_KEY, now, body);
    assert_eq!(
        post(&url, &right, body).0,
        204,
        "a right signature is forwarded"
    );
    let refusals = [
        (
            post(
                &url,
                &signed_headers(&url, "a-wrong-secret", now, body),
                body,
            ),
            "signature does not match",
        ),
        (
            post(&url, &right, b"another body"),
            "signature does not match",
        ),
        (
            post(
                &url,
                &signed_headers(&url, SECRET_KEY, now - Duration::from_secs(600), body),
                body,
            ),
            "from now, more than the 300 s allowed",
        ),
        (post(&url, &[], body), "no Authorization header"),
    ];
    for ((status, answer), reason) in refusals {
        assert_eq!(status, 401, "{answer}");
        assert!(answer.contains(reason), "{answer:?} should name {reason:?}");
        assert!(!answer.contains(SECRET_KEY));
    }
    assert_eq!(sigv4.accepted(), 1);
    assert_eq!(sigv4.refusals().len(), 4);
    upstream.stop();
}
