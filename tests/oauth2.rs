//! `oauth2` (client credentials) against a fake token server and the validating receiver,
//! both on 127.0.0.1: the token request's form and client authentication, the token cached and
//! renewed before `expires_in`, a 401 from the endpoint renewing the token with the batch sent
//! again (not dropped), a token server that is down and then up, the fallback to credentials
//! in the form, and the parts of `oauth2` that are refused by name.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
fn the_jwt_bearer_grant_and_a_token_proxy_are_refused_by_name() {
    let recv_url = "http://127.0.0.1:9/api/v1/write";
    for (extra, key) in [
        (
            "      grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\n",
            "oauth2.grant_type",
        ),
        (
            "      proxy_url: http://127.0.0.1:3128\n",
            "oauth2.proxy_url",
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
