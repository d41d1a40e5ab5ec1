//! `oauth2` (client credentials) against a fake token server and the validating receiver,
//! both on 127.0.0.1: the token request's form and client authentication, the token cached and
//! renewed before `expires_in`, a 401 from the endpoint renewing the token with the batch sent
//! again (not dropped), a token server that is down and then up, the fallback to credentials
//! in the form, the token request's proxy keys (through a recording CONNECT proxy), and the
//! parts of `oauth2` that are refused by name.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::token_server::{TokenServer, TokenServerBehaviour};
use promrw::{Config, ErrorKind, Labels, LogLevel, Sender};
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{Receiver, Reply, RequestInfo, SampleStore};

/// The validating receiver, accepting a request only with a bearer token the token server
/// issued and `revoked` does not hold; it records the token of every request.
fn receiver(
    tokens: &TokenServer,
    revoked: Arc<Mutex<HashSet<String>>>,
) -> (Receiver, Arc<Mutex<Vec<String>>>) {
    let valid_token = tokens.checker();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_handler = seen.clone();
    let validate = validating_handler();
    let handler = Arc::new(move |info: &RequestInfo| {
        let token = info
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_string();
        seen_by_handler.lock().unwrap().push(token.clone());
        let valid = valid_token(&token).is_ok() && !revoked.lock().unwrap().contains(&token);
        if !valid {
            return Reply::status(401, "invalid token");
        }
        validate(info)
    });
    let receiver = Receiver::start(
        "127.0.0.1:0",
        2,
        Arc::new(SampleStore::new(true)),
        handler,
        None,
    )
    .expect("receiver");
    (receiver, seen)
}

/// YAML for one endpoint at `url` with `oauth2` against `token_url`.
fn oauth2_yaml(url: &str, token_url: &str) -> String {
    common::yaml(
        url,
        "",
        &format!(
            "    oauth2:\n      client_id: id\n      client_secret: s3cr3t\n      token_url: {token_url}\n      scopes: [write, metrics]\n      endpoint_params:\n        audience: promrw-tests\n"
        ),
    )
}

/// Appends `n` samples of one series, from `start` ms.
fn append(sender: &Sender, name: &str, start: i64, n: i64) {
    let series = sender
        .series(Labels::from_pairs(&[("__name__", name)]).unwrap())
        .unwrap();
    for i in 0..n {
        sender.append(series, start + i, i as f64).unwrap();
    }
}

#[test]
fn tokens_are_requested_with_the_client_credentials_cached_and_renewed_before_expiry() {
    // expires_in 12 s: due 2 s after it is issued (10 s before its expiry).
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 12,
        down_for: 0,
        refuse_basic: false,
    });
    let (recv, seen) = receiver(&tokens, Arc::default());
    let sender = common::sender(&oauth2_yaml(&recv.url(), &tokens.url));
    let t0 = common::now_ms();
    for round in 0..10 {
        append(&sender, "oauth2_cached", t0 + round * 100, 100);
        sender.flush(Duration::from_secs(5)).expect("flushed");
        std::thread::sleep(Duration::from_millis(300));
    }
    let stats = sender.stats();
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(stats.endpoints[0].samples_acked, 1000);
    assert_eq!(recv.store().totals().accepted, 1000);
    let requests = tokens.requests();
    let first = &requests[0];
    assert_eq!(
        first.basic.as_deref(),
        Some("id:s3cr3t"),
        "HTTP basic client authentication"
    );
    let form: HashSet<(&str, &str)> = first
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        form,
        HashSet::from([
            ("grant_type", "client_credentials"),
            ("scope", "write metrics"),
            ("audience", "promrw-tests"),
        ]),
        "the secret is not in the form when basic authentication works"
    );
    // At least 3 s of sending with tokens due after 2 s: renewed, but not per request.
    let issued = tokens.issued();
    let requests_sent = seen.lock().unwrap().len();
    assert!(issued.len() >= 2, "renewed before expiry: {issued:?}");
    assert!(
        issued.len() < requests_sent,
        "cached: {} tokens for {requests_sent} requests",
        issued.len()
    );
}

#[test]
fn a_401_from_the_endpoint_renews_the_token_and_the_batch_is_sent_again() {
    // A token that does not expire by time: only the 401 makes it due.
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 0,
        down_for: 0,
        refuse_basic: false,
    });
    let revoked = Arc::new(Mutex::new(HashSet::new()));
    let (recv, seen) = receiver(&tokens, revoked.clone());
    let sender = common::sender(&oauth2_yaml(&recv.url(), &tokens.url));
    let t0 = common::now_ms();
    append(&sender, "oauth2_revoked", t0, 50);
    sender.flush(Duration::from_secs(5)).expect("first batch");
    revoked.lock().unwrap().insert("tok-1".to_string());
    append(&sender, "oauth2_revoked", t0 + 50, 50);
    sender
        .flush(Duration::from_secs(5))
        .expect("the revoked token costs no batch");
    let stats = sender.stats();
    sender.close(Duration::from_secs(5)).expect("closed");
    let e = &stats.endpoints[0];
    assert_eq!((e.samples_acked, e.samples_failed), (100, 0), "{e:?}");
    assert_eq!(recv.store().totals().accepted, 100);
    assert_eq!(recv.store().totals().duplicates, 0);
    assert_eq!(tokens.issued(), vec!["tok-1", "tok-2"]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last().map(String::as_str), Some("tok-2"), "{seen:?}");
    assert!(
        seen.iter().filter(|t| *t == "tok-1").count() >= 2,
        "{seen:?}"
    );
}

#[test]
fn a_token_server_that_is_down_delays_the_samples_and_loses_none() {
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 3600,
        down_for: 3,
        refuse_basic: false,
    });
    let (recv, _) = receiver(&tokens, Arc::default());
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::from_text(&oauth2_yaml(&recv.url(), &tokens.url)).unwrap();
    config.set_logger(Arc::new(common::CollectLogs(logs.clone())), LogLevel::Warn);
    let sender = Sender::new(config).expect("sender");
    append(&sender, "oauth2_down", common::now_ms(), 40);
    sender
        .flush(Duration::from_secs(10))
        .expect("delivered once the token server is up");
    let stats = sender.stats();
    sender.close(Duration::from_secs(5)).expect("closed");
    let e = &stats.endpoints[0];
    assert_eq!((e.samples_acked, e.samples_failed), (40, 0), "{e:?}");
    assert!(e.samples_retried >= 40, "retried with backoff: {e:?}");
    // While no token was had, each fetch tries basic authentication, then the form (as
    // x/oauth2 probes): the first fetch makes requests 1 and 2, the second 3 (basic, still
    // down) and 4 (the form, a token).
    let requests = tokens.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    let basic: Vec<bool> = requests.iter().map(|r| r.basic.is_some()).collect();
    assert_eq!(basic, [true, false, true, false]);
    assert_eq!(recv.store().totals().accepted, 40);
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter().any(|l| l.contains("answered HTTP 503")),
        "the token endpoint's failure is logged: {logs:?}"
    );
    assert!(
        logs.iter().all(|l| !l.contains("s3cr3t")),
        "no secret in the logs: {logs:?}"
    );
}

#[test]
fn the_shards_of_an_endpoint_share_one_token() {
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 3600,
        down_for: 0,
        refuse_basic: false,
    });
    let (recv, seen) = receiver(&tokens, Arc::default());
    let yaml = oauth2_yaml(&recv.url(), &tokens.url).replace(
        "    queue_config:\n",
        "    queue_config:\n      min_shards: 4\n      max_shards: 4\n",
    );
    let sender = common::sender(&yaml);
    let t0 = common::now_ms();
    for series in 0..40 {
        append(&sender, &format!("oauth2_shared_{series}"), t0, 5);
    }
    sender.flush(Duration::from_secs(10)).expect("flushed");
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(recv.store().totals().accepted, 200);
    let requests = seen.lock().unwrap().len();
    assert!(requests >= 4, "several shards sent: {requests} requests");
    assert_eq!(
        tokens.issued(),
        vec!["tok-1"],
        "one token for the endpoint, not one per shard"
    );
}

#[test]
fn the_credentials_go_in_the_form_when_basic_authentication_is_refused() {
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 0,
        down_for: 0,
        refuse_basic: true,
    });
    let (recv, _) = receiver(&tokens, Arc::default());
    let sender = common::sender(&oauth2_yaml(&recv.url(), &tokens.url));
    let t0 = common::now_ms();
    append(&sender, "oauth2_form", t0, 10);
    sender.flush(Duration::from_secs(5)).expect("flushed");
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(recv.store().totals().accepted, 10);
    let requests = tokens.requests();
    assert_eq!(
        requests.len(),
        2,
        "basic refused once, then the form: {requests:?}"
    );
    assert!(requests[0].basic.is_some() && requests[1].basic.is_none());
    assert!(
        requests[1]
            .form
            .contains(&("client_secret".to_string(), "s3cr3t".to_string()))
    );
}

#[test]
fn the_jwt_bearer_grant_is_refused_by_name() {
    let recv_url = "http://127.0.0.1:9/api/v1/write";
    for (extra, key) in [
        (
            "      grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\n",
            "oauth2.grant_type",
        ),
        (
            "      client_certificate_key_file: /etc/promrw/key.pem\n",
            "oauth2.client_certificate_key_file",
        ),
    ] {
        let text = oauth2_yaml(recv_url, "http://127.0.0.1:9/token")
            .replace("      scopes:", &format!("{extra}      scopes:"));
        let err = match Config::from_text(&text).map(Sender::new) {
            Ok(Ok(_)) => panic!("{key} should be refused"),
            Ok(Err(e)) | Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
        assert!(
            err.to_string().contains(key) && err.to_string().contains("not supported yet"),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The token request's proxy

/// The connect header's value, a secret.
const CONNECT_SECRET: &str = "pt-c0nnect-s3cr3t";

/// The token server's port.
fn port_of(tokens: &TokenServer) -> u16 {
    let authority = tokens.url.trim_start_matches("http://").split('/').next();
    authority
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// YAML for one endpoint at `url` with `oauth2` against the token server on `127.0.1` (a
/// loopback name the proxy rules do not bypass) and the proxy lines `proxy_lines` (indented
/// by 6) in the `oauth2` block.
fn proxied_yaml(url: &str, tokens: &TokenServer, proxy_lines: &str) -> String {
    let token_url = format!("http://127.0.1:{}/oauth2/token", port_of(tokens));
    oauth2_yaml(url, &token_url).replace("      scopes:", &format!("{proxy_lines}      scopes:"))
}

#[test]
fn the_token_request_goes_through_its_proxy_with_the_connect_header_and_credentials() {
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 3600,
        down_for: 0,
        refuse_basic: false,
    });
    let (recv, _) = receiver(&tokens, Arc::default());
    let proxy = common::proxy::RecordingProxy::start();
    let proxy_url = proxy.url().replace("http://", "http://tok-proxy:pr0xy-pw@");
    let lines = format!(
        "      proxy_url: {proxy_url}\n      proxy_connect_header:\n        X-Proxy-Token: [{CONNECT_SECRET}]\n"
    );
    let sender = common::sender(&proxied_yaml(&recv.url(), &tokens, &lines));
    append(&sender, "oauth2_proxied", common::now_ms(), 10);
    sender.flush(Duration::from_secs(5)).expect("delivered");
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(recv.store().totals().accepted, 10);
    assert_eq!(tokens.issued(), ["tok-1"]);
    let tunnels = proxy.seen();
    assert!(
        !tunnels.is_empty(),
        "the token request went through the proxy"
    );
    let credentials = base64::engine::general_purpose::STANDARD.encode("tok-proxy:pr0xy-pw");
    for tunnel in &tunnels {
        // Only the token request: the endpoint has no proxy of its own.
        assert_eq!(tunnel.target, format!("127.0.1:{}", port_of(&tokens)));
        assert_eq!(tunnel.values("x-proxy-token"), [CONNECT_SECRET]);
        assert_eq!(
            tunnel.values("proxy-authorization"),
            [format!("Basic {credentials}").as_str()]
        );
    }
}

#[test]
fn no_proxy_sends_a_listed_token_host_direct() {
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 3600,
        down_for: 0,
        refuse_basic: false,
    });
    let (recv, _) = receiver(&tokens, Arc::default());
    let proxy = common::proxy::RecordingProxy::start();
    let listed = format!(
        "      proxy_url: {}\n      no_proxy: 127.0.1, .elsewhere.test\n",
        proxy.url()
    );
    let sender = common::sender(&proxied_yaml(&recv.url(), &tokens, &listed));
    append(&sender, "oauth2_no_proxy", common::now_ms(), 10);
    sender.flush(Duration::from_secs(5)).expect("delivered");
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(tokens.issued(), ["tok-1"]);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    // Not listed: through the proxy.
    let unlisted = format!(
        "      proxy_url: {}\n      no_proxy: .elsewhere.test\n",
        proxy.url()
    );
    let sender = common::sender(&proxied_yaml(&recv.url(), &tokens, &unlisted));
    append(&sender, "oauth2_no_proxy_unlisted", common::now_ms(), 10);
    sender.flush(Duration::from_secs(5)).expect("delivered");
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(tokens.issued(), ["tok-1", "tok-2"]);
    assert!(!proxy.seen().is_empty());
    assert_eq!(recv.store().totals().accepted, 20);
}

#[test]
fn an_unreachable_token_proxy_fails_the_attempt_without_secrets_in_the_logs() {
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 3600,
        down_for: 0,
        refuse_basic: false,
    });
    let (recv, _) = receiver(&tokens, Arc::default());
    let lines = format!(
        "      proxy_url: http://tok-proxy:pr0xy-pw@127.0.0.1:{}\n      proxy_connect_header:\n        X-Proxy-Token: [{CONNECT_SECRET}]\n",
        common::free_port()
    );
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::from_text(&proxied_yaml(&recv.url(), &tokens, &lines)).unwrap();
    config.set_logger(Arc::new(common::CollectLogs(logs.clone())), LogLevel::Debug);
    let sender = Sender::new(config).expect("sender");
    append(&sender, "oauth2_proxy_down", common::now_ms(), 10);
    assert!(
        sender.flush(Duration::from_millis(800)).is_err(),
        "no token, no delivery"
    );
    let stats = sender.stats();
    let _ = sender.close(Duration::from_millis(200));
    assert!(tokens.requests().is_empty());
    assert_eq!(recv.store().totals().accepted, 0);
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter().any(|l| l.contains("oauth2: token request to")),
        "the failure is logged: {logs:?}"
    );
    let errors = format!("{:?}", stats.endpoints[0]);
    for text in logs.iter().chain([&errors]) {
        for secret in ["pr0xy-pw", CONNECT_SECRET, "s3cr3t"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

/// The child's configuration (YAML), for [`child_delivers_with_its_environment`].
const CHILD_CONFIG_VAR: &str = "PROMRW_TEST_OAUTH2_CHILD_CONFIG";
/// The name of the child's series: one per child, since each child's timestamps start afresh
/// and the receiver stores a series' samples in order only.
const CHILD_SERIES_VAR: &str = "PROMRW_TEST_OAUTH2_CHILD_SERIES";

/// The child: delivers 10 samples with its configuration, in its own environment.
#[test]
#[ignore = "run by proxy_from_environment_takes_the_token_proxy_from_the_environment"]
fn child_delivers_with_its_environment() {
    let Ok(text) = std::env::var(CHILD_CONFIG_VAR) else {
        return;
    };
    let series = std::env::var(CHILD_SERIES_VAR).expect("series name");
    let sender = common::sender(&text);
    append(&sender, &series, common::now_ms(), 10);
    sender.flush(Duration::from_secs(10)).expect("delivered");
    sender.close(Duration::from_secs(5)).expect("closed");
}

#[test]
fn proxy_from_environment_takes_the_token_proxy_from_the_environment() {
    let tokens = TokenServer::start(TokenServerBehaviour {
        expires_in: 3600,
        down_for: 0,
        refuse_basic: false,
    });
    let (recv, _) = receiver(&tokens, Arc::default());
    let proxy = common::proxy::RecordingProxy::start();
    let text = proxied_yaml(&recv.url(), &tokens, "      proxy_from_environment: true\n");
    let cleared = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUEST_METHOD",
    ];
    let proxy_url = proxy.url();
    common::child::run(
        "child_delivers_with_its_environment",
        &cleared,
        &[
            (CHILD_CONFIG_VAR, text.as_str()),
            (CHILD_SERIES_VAR, "oauth2_child_proxied"),
            ("HTTP_PROXY", &proxy_url),
        ],
    );
    let tunnels = proxy.seen();
    assert!(!tunnels.is_empty(), "through HTTP_PROXY");
    assert!(
        tunnels
            .iter()
            .all(|t| t.target == format!("127.0.1:{}", port_of(&tokens))),
        "{tunnels:?}"
    );
    // NO_PROXY lists the token host: direct.
    common::child::run(
        "child_delivers_with_its_environment",
        &cleared,
        &[
            (CHILD_CONFIG_VAR, text.as_str()),
            (CHILD_SERIES_VAR, "oauth2_child_direct"),
            ("HTTP_PROXY", &proxy_url),
            ("NO_PROXY", "127.0.1"),
        ],
    );
    assert_eq!(proxy.seen().len(), tunnels.len());
    assert_eq!(tokens.issued(), ["tok-1", "tok-2"]);
    assert_eq!(recv.store().totals().accepted, 20);
}
