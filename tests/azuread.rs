//! `azuread` against a fake Azure AD authority and instance metadata service and the
//! validating receiver, all on 127.0.0.1: the client-secret, managed-identity and
//! workload-identity requests, the token renewed at half its lifetime, a 401 from the
//! endpoint renewing it with the batch sent again (not dropped), a token endpoint that is
//! down and then up, `sdk` choosing its credential from the environment (in child processes,
//! whose environment is their own), the token requests' proxy from the environment, the
//! certificate refused by name, and no secret in the logs.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promrw::{Config, ErrorKind, Labels, LogLevel, Sender};
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{Receiver, Reply, RequestInfo, SampleStore};

/// The application (and user-assigned identity) client ID the fake authority knows.
const CLIENT_ID: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
/// The tenant of the configurations.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The client secret the fake authority accepts.
const SECRET: &str = "az-s3cr3t-Value~9";
/// The scope Azure AD is asked for (public cloud), as MSAL writes it.
const PUBLIC_SCOPE: &str = "https://monitor.azure.com//.default openid offline_access profile";
/// The metadata service's path.
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";

/// One request the fake Azure services saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    /// Names in lower case.
    headers: Vec<(String, String)>,
}

impl Seen {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn form_set(&self) -> HashSet<(&str, &str)> {
        self.form
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// What the fake services accept and how they answer.
struct ServerState {
    /// `expires_in` of every token.
    expires_in: u64,
    /// The first this many requests are answered 503.
    down_for: usize,
    /// The client assertion accepted (workload identity).
    assertion: String,
    /// The `scope` a token request must carry.
    scope: String,
    /// The `resource` a metadata service request must carry.
    resource: String,
    /// The tokens issued, with when.
    issued: Vec<(String, Instant)>,
    /// Every request seen.
    seen: Vec<Seen>,
}

/// A fake Azure AD authority (`POST /{tenant}/oauth2/v2.0/token`) and instance metadata
/// service (`GET /metadata/identity/oauth2/token`) issuing `az-1`, `az-2`, ...
struct AzureServer {
    server: Arc<tiny_http::Server>,
    base: String,
    state: Arc<Mutex<ServerState>>,
    thread: Option<JoinHandle<()>>,
}

/// Splits `a=b&c=d` into decoded pairs.
fn pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl AzureServer {
    fn start(expires_in: u64, down_for: usize) -> AzureServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("azure server"));
        let base = format!("http://{}", server.server_addr());
        let state = Arc::new(Mutex::new(ServerState {
            expires_in,
            down_for,
            assertion: String::new(),
            scope: PUBLIC_SCOPE.to_string(),
            resource: "https://monitor.azure.com/".to_string(),
            issued: Vec::new(),
            seen: Vec::new(),
        }));
        let thread = {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let (path, query) = match request.url().split_once('?') {
                        Some((path, query)) => (path.to_string(), pairs(query)),
                        None => (request.url().to_string(), Vec::new()),
                    };
                    let seen = Seen {
                        method: request.method().to_string(),
                        path,
                        query,
                        form: pairs(&body),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| {
                                (
                                    h.field.as_str().as_str().to_ascii_lowercase(),
                                    h.value.as_str().to_string(),
                                )
                            })
                            .collect(),
                    };
                    let (status, answer) = answer(&mut state.lock().unwrap(), seen);
                    let response = tiny_http::Response::from_string(answer)
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .unwrap(),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        AzureServer {
            server,
            base,
            state,
            thread: Some(thread),
        }
    }

    fn issued(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.issued.iter().map(|(t, _)| t.clone()).collect()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn accept_assertion(&self, assertion: &str) {
        self.state.lock().unwrap().assertion = assertion.to_string();
    }
}

/// The fake services' answer to `seen` (recorded in `state`).
fn answer(state: &mut ServerState, seen: Seen) -> (u16, String) {
    state.seen.push(seen.clone());
    if state.seen.len() <= state.down_for {
        return (503, "{\"error\":\"temporarily_unavailable\"}".to_string());
    }
    let field = |name: &str| {
        seen.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let imds = seen.method == "GET" && seen.path == IMDS_PATH;
    if imds {
        let id_ok = seen.query("client_id").is_none_or(|id| id == CLIENT_ID);
        if seen.header("metadata") != Some("true")
            || seen.query("api-version") != Some("2018-02-01")
            || seen.query("resource") != Some(state.resource.as_str())
            || !id_ok
        {
            return (400, "{\"error\":\"invalid_request\"}".to_string());
        }
    } else {
        let authority = seen.method == "POST"
            && seen.path.ends_with("/oauth2/v2.0/token")
            && seen.path.matches('/').count() == 4;
        let authenticated = field("client_secret") == Some(SECRET)
            || (field("client_assertion_type")
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                && !state.assertion.is_empty()
                && field("client_assertion") == Some(state.assertion.as_str()));
        if !authority {
            return (404, "{\"error\":\"not_found\"}".to_string());
        }
        if field("grant_type") != Some("client_credentials")
            || field("scope") != Some(state.scope.as_str())
            || field("client_id") != Some(CLIENT_ID)
        {
            return (400, "{\"error\":\"invalid_request\"}".to_string());
        }
        if !authenticated {
            return (
                401,
                "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215\"}"
                    .to_string(),
            );
        }
    }
    let token = format!("az-{}", state.issued.len() + 1);
    state.issued.push((token.clone(), Instant::now()));
    let n = state.expires_in;
    if imds {
        let on = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + n;
        (
            200,
            format!(
                "{{\"access_token\":\"{token}\",\"client_id\":\"{CLIENT_ID}\",\"expires_in\":\"{n}\",\"expires_on\":\"{on}\",\"ext_expires_in\":\"{n}\",\"not_before\":\"0\",\"resource\":\"{}\",\"token_type\":\"Bearer\"}}",
                state.resource
            ),
        )
    } else {
        (
            200,
            format!(
                "{{\"token_type\":\"Bearer\",\"expires_in\":{n},\"ext_expires_in\":{n},\"access_token\":\"{token}\"}}"
            ),
        )
    }
}

impl Drop for AzureServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The tokens a request of the receiver carried, with when it arrived.
type TokensSeen = Arc<Mutex<Vec<(String, Instant)>>>;

/// The validating receiver, accepting a request only with a bearer token the server issued
/// and `revoked` does not hold.
fn receiver(azure: &AzureServer, revoked: Arc<Mutex<HashSet<String>>>) -> (Receiver, TokensSeen) {
    let state = azure.state.clone();
    let seen: TokensSeen = Arc::default();
    let seen_by_handler = seen.clone();
    let validate = validating_handler();
    let handler = Arc::new(move |info: &RequestInfo| {
        let token = info
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_string();
        seen_by_handler
            .lock()
            .unwrap()
            .push((token.clone(), info.received_at));
        let issued = state
            .lock()
            .unwrap()
            .issued
            .iter()
            .any(|(t, _)| *t == token);
        if !issued || revoked.lock().unwrap().contains(&token) {
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

/// YAML for one endpoint at `url` with the `azuread` block `block` (lines indented by 6) and
/// the fake services as the authority host and metadata service.
fn azuread_yaml(url: &str, azure: &AzureServer, block: &str) -> String {
    format!(
        "{}promrw:\n  identity_endpoints:\n    azure_authority_host: {}/\n    azure_imds_url: {}{IMDS_PATH}\n",
        common::yaml(url, "", &format!("    azuread:\n{block}")),
        azure.base,
        azure.base
    )
}

/// The `oauth` block with the secret the server accepts.
fn oauth_block() -> String {
    format!(
        "      oauth:\n        client_id: {CLIENT_ID}\n        client_secret: {SECRET}\n        tenant_id: {TENANT}\n"
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

/// A sender from `text` whose logs (down to `level`) are collected.
fn logged_sender(text: &str, level: LogLevel) -> (Sender, Arc<Mutex<Vec<String>>>) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::from_text(text).expect("valid config");
    config.set_logger(Arc::new(common::CollectLogs(logs.clone())), level);
    (Sender::new(config).expect("sender"), logs)
}

#[test]
fn client_secret_tokens_are_asked_in_the_tenant_for_the_monitor_scope_and_renewed_at_half_life() {
    // A 6 s lifetime: due 3 s after it is asked for.
    let azure = AzureServer::start(6, 0);
    let (recv, seen) = receiver(&azure, Arc::default());
    let sender = common::sender(&azuread_yaml(&recv.url(), &azure, &oauth_block()));
    let t0 = common::now_ms();
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_millis(4500) {
        append(&sender, "azuread_secret", t0 + round * 10, 10);
        sender.flush(Duration::from_secs(5)).expect("flushed");
        std::thread::sleep(Duration::from_millis(150));
        round += 1;
    }
    let stats = sender.stats();
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(stats.endpoints[0].samples_acked, round as u64 * 10);
    assert_eq!(recv.store().totals().accepted, round as u64 * 10);

    let requests = azure.seen();
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        first.form_set(),
        HashSet::from([
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", PUBLIC_SCOPE),
        ])
    );

    // Renewed once half the lifetime had passed, not before and not per request.
    let issued = azure.state.lock().unwrap().issued.clone();
    assert!(issued.len() >= 2, "renewed: {issued:?}");
    let (first_token, first_at) = issued[0].clone();
    let (_, second_at) = issued[1].clone();
    let renewed_after = second_at - first_at;
    assert!(
        renewed_after >= Duration::from_millis(2500) && renewed_after < Duration::from_millis(4500),
        "the second token came {renewed_after:?} after the first"
    );
    let seen = seen.lock().unwrap().clone();
    let with_first: Vec<Duration> = seen
        .iter()
        .filter(|(t, _)| *t == first_token)
        .map(|(_, at)| *at - first_at)
        .collect();
    assert!(
        with_first.len() >= 5,
        "cached: {} requests with the first token",
        with_first.len()
    );
    assert!(
        with_first.iter().all(|d| *d < Duration::from_millis(3500)),
        "the first token was used until it was due: {with_first:?}"
    );
}

#[test]
fn a_managed_identity_asks_the_metadata_service_with_its_client_id() {
    let azure = AzureServer::start(3600, 0);
    let (recv, _) = receiver(&azure, Arc::default());
    // User-assigned, in the government cloud: the resource is the scope without /.default.
    azure.state.lock().unwrap().resource = "https://monitor.azure.us/".to_string();
    let block = format!(
        "      cloud: AzureGovernment\n      managed_identity:\n        client_id: {CLIENT_ID}\n"
    );
    let sender = common::sender(&azuread_yaml(&recv.url(), &azure, &block));
    append(&sender, "azuread_managed", common::now_ms(), 20);
    sender.flush(Duration::from_secs(5)).expect("delivered");
    sender.close(Duration::from_secs(5)).expect("closed");
    // System-assigned: no client_id.
    azure.state.lock().unwrap().resource = "https://monitor.azure.com/".to_string();
    let block = "      managed_identity: {}\n";
    let sender = common::sender(&azuread_yaml(&recv.url(), &azure, block));
    append(&sender, "azuread_managed_system", common::now_ms(), 20);
    sender.flush(Duration::from_secs(5)).expect("delivered");
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(recv.store().totals().accepted, 40);

    let requests = azure.seen();
    assert_eq!(requests.len(), 2, "one token each: {requests:?}");
    for (request, client_id, resource) in [
        (&requests[0], Some(CLIENT_ID), "https://monitor.azure.us/"),
        (&requests[1], None, "https://monitor.azure.com/"),
    ] {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, IMDS_PATH);
        assert_eq!(request.header("metadata"), Some("true"));
        assert_eq!(request.query("api-version"), Some("2018-02-01"));
        assert_eq!(request.query("resource"), Some(resource));
        assert_eq!(request.query("client_id"), client_id);
        assert_eq!(request.query.len(), 2 + usize::from(client_id.is_some()));
    }
}

#[test]
fn workload_identity_sends_the_federated_token_read_at_each_request() {
    let azure = AzureServer::start(3600, 0);
    let revoked = Arc::new(Mutex::new(HashSet::new()));
    let (recv, _) = receiver(&azure, revoked.clone());
    let dir = common::TempDir::new("azuread-workload");
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "eyJhbGciOi.first-assertion.sig\n").unwrap();
    azure.accept_assertion("eyJhbGciOi.first-assertion.sig");
    let block = format!(
        "      workload_identity:\n        client_id: {CLIENT_ID}\n        tenant_id: {TENANT}\n        token_file_path: {}\n",
        file.display()
    );
    let (sender, logs) = logged_sender(&azuread_yaml(&recv.url(), &azure, &block), LogLevel::Debug);
    let t0 = common::now_ms();
    append(&sender, "azuread_workload", t0, 10);
    sender.flush(Duration::from_secs(5)).expect("first batch");
    // Kubernetes rotates the file; the old assertion is no longer accepted and the endpoint
    // refuses the token it gave: the next token is asked with the new file's contents.
    std::fs::write(&file, "eyJhbGciOi.second-assertion.sig").unwrap();
    azure.accept_assertion("eyJhbGciOi.second-assertion.sig");
    revoked.lock().unwrap().insert("az-1".to_string());
    append(&sender, "azuread_workload", t0 + 10, 10);
    sender.flush(Duration::from_secs(5)).expect("second batch");
    let stats = sender.stats();
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(
        (
            stats.endpoints[0].samples_acked,
            stats.endpoints[0].samples_failed
        ),
        (20, 0)
    );
    assert_eq!(azure.issued(), ["az-1", "az-2"]);
    let requests = azure.seen();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for (request, assertion) in [
        (&requests[0], "eyJhbGciOi.first-assertion.sig"),
        (&requests[1], "eyJhbGciOi.second-assertion.sig"),
    ] {
        assert_eq!(request.path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(
            request.form_set(),
            HashSet::from([
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                ),
                ("client_assertion", assertion),
                ("client_id", CLIENT_ID),
                ("client_info", "1"),
                ("scope", PUBLIC_SCOPE),
            ])
        );
    }
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter().all(|l| !l.contains("assertion.sig")),
        "no assertion in the logs: {logs:?}"
    );
}

#[test]
fn a_401_from_the_endpoint_renews_the_token_and_the_batch_is_sent_again() {
    let azure = AzureServer::start(3600, 0);
    let revoked = Arc::new(Mutex::new(HashSet::new()));
    let (recv, seen) = receiver(&azure, revoked.clone());
    let sender = common::sender(&azuread_yaml(&recv.url(), &azure, &oauth_block()));
    let t0 = common::now_ms();
    append(&sender, "azuread_revoked", t0, 50);
    sender.flush(Duration::from_secs(5)).expect("first batch");
    revoked.lock().unwrap().insert("az-1".to_string());
    append(&sender, "azuread_revoked", t0 + 50, 50);
    sender
        .flush(Duration::from_secs(5))
        .expect("the revoked token costs no batch");
    let stats = sender.stats();
    sender.close(Duration::from_secs(5)).expect("closed");
    let e = &stats.endpoints[0];
    assert_eq!((e.samples_acked, e.samples_failed), (100, 0), "{e:?}");
    assert_eq!(recv.store().totals().accepted, 100);
    assert_eq!(recv.store().totals().duplicates, 0);
    assert_eq!(azure.issued(), ["az-1", "az-2"]);
    let seen: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(seen.last().map(String::as_str), Some("az-2"), "{seen:?}");
    assert!(
        seen.iter().filter(|t| *t == "az-1").count() >= 2,
        "{seen:?}"
    );
}

#[test]
fn a_token_endpoint_that_is_down_delays_the_samples_loses_none_and_logs_no_secret() {
    let azure = AzureServer::start(3600, 3);
    let (recv, _) = receiver(&azure, Arc::default());
    let (sender, logs) = logged_sender(
        &azuread_yaml(&recv.url(), &azure, &oauth_block()),
        LogLevel::Debug,
    );
    append(&sender, "azuread_down", common::now_ms(), 40);
    sender
        .flush(Duration::from_secs(10))
        .expect("delivered once the token endpoint is up");
    let stats = sender.stats();
    let errors = format!("{:?}", stats.endpoints[0]);
    let metrics = sender.metrics_text();
    sender.close(Duration::from_secs(5)).expect("closed");
    let e = &stats.endpoints[0];
    assert_eq!((e.samples_acked, e.samples_failed), (40, 0), "{e:?}");
    assert!(e.samples_retried >= 40, "retried with backoff: {e:?}");
    assert_eq!(azure.seen().len(), 4, "three refused, then a token");
    assert_eq!(recv.store().totals().accepted, 40);
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter().any(|l| l.contains("answered HTTP 503")
            && l.contains(&format!("{}/{TENANT}/oauth2/v2.0/token", azure.base))),
        "the token endpoint's failure is logged: {logs:?}"
    );
    for text in logs.iter().chain([&errors, &metrics]) {
        assert!(!text.contains(SECRET), "no secret: {text}");
        assert!(!text.contains("az-1"), "no token: {text}");
    }
    let config = Config::from_text(&azuread_yaml(&recv.url(), &azure, &oauth_block())).unwrap();
    assert!(!format!("{config:?}").contains(SECRET));
}

#[test]
fn the_certificate_is_refused_by_name() {
    let azure = AzureServer::start(3600, 0);
    let block = format!(
        "      certificate:\n        client_id: {CLIENT_ID}\n        tenant_id: {TENANT}\n        certificate_path: /etc/promrw/client.pem\n"
    );
    let text = azuread_yaml("http://127.0.0.1:9/api/v1/write", &azure, &block);
    let error = Sender::new(Config::from_text(&text).expect("valid config"))
        .err()
        .expect("refused");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
    assert!(
        error
            .message()
            .contains("remote_write[0].azuread.certificate: ")
            && error.message().contains("is not supported yet"),
        "{error}"
    );
    assert!(azure.seen().is_empty());
}

// ---------------------------------------------------------------------------------------
// The environment, in child processes

/// The child's configuration (YAML); the child does nothing without it.
const CHILD_CONFIG_VAR: &str = "PROMRW_TEST_AZUREAD_CHILD_CONFIG";
/// `delivered`, or `refused:<text the error must contain>`.
const CHILD_EXPECT_VAR: &str = "PROMRW_TEST_AZUREAD_CHILD_EXPECT";
/// The name of the child's series: one per child.
const CHILD_SERIES_VAR: &str = "PROMRW_TEST_AZUREAD_CHILD_SERIES";
/// Every variable the credential choice and the proxy selection read, cleared in each child.
const CLEARED_VARS: [&str; 22] = [
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
    "ALL_PROXY",
];

/// Runs [`child_sends_with_its_environment`] in a child process with `config`, the
/// environment `env` (the Azure and proxy variables otherwise cleared) and `expect`; asserts
/// it passed.
fn run_child(config: &str, env: &[(&str, &str)], expect: &str) {
    static CHILDREN: AtomicUsize = AtomicUsize::new(0);
    let series = format!("azuread_child_{}", CHILDREN.fetch_add(1, Ordering::SeqCst));
    let mut all = vec![
        (CHILD_CONFIG_VAR, config),
        (CHILD_EXPECT_VAR, expect),
        (CHILD_SERIES_VAR, series.as_str()),
    ];
    all.extend_from_slice(env);
    common::child::run("child_sends_with_its_environment", &CLEARED_VARS, &all);
}

/// The child: starts a sender for its configuration and checks the outcome it was told to.
#[test]
#[ignore = "run by sdk_chooses_its_credential_from_the_environment and the proxy test"]
fn child_sends_with_its_environment() {
    let Ok(text) = std::env::var(CHILD_CONFIG_VAR) else {
        return;
    };
    let expect = std::env::var(CHILD_EXPECT_VAR).unwrap_or_default();
    let config = Config::from_text(&text).expect("valid config");
    if let Some(wanted) = expect.strip_prefix("refused:") {
        let error = Sender::new(config).err().expect("sender refuses to start");
        assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
        assert!(error.message().contains(wanted), "{error}");
        return;
    }
    assert_eq!(expect, "delivered");
    let series = std::env::var(CHILD_SERIES_VAR).expect("series name");
    let sender = Sender::new(config).expect("sender");
    append(&sender, &series, common::now_ms(), 10);
    sender.flush(Duration::from_secs(10)).expect("delivered");
    let stats = sender.stats();
    sender.close(Duration::from_secs(5)).expect("closed");
    assert_eq!(stats.endpoints[0].samples_acked, 10);
}

#[test]
fn sdk_chooses_its_credential_from_the_environment() {
    let azure = AzureServer::start(3600, 0);
    let (recv, _) = receiver(&azure, Arc::default());
    let dir = common::TempDir::new("azuread-sdk");
    let token_file = dir.path().join("federated-token");
    std::fs::write(&token_file, "eyJ.sdk-assertion.sig").unwrap();
    azure.accept_assertion("eyJ.sdk-assertion.sig");
    let token_file = token_file.display().to_string();
    let sdk_tenant = "contoso.onmicrosoft.com";
    let with_tenant = azuread_yaml(
        &recv.url(),
        &azure,
        &format!("      sdk:\n        tenant_id: {sdk_tenant}\n"),
    );
    let env_tenant = "11111111-2222-3333-4444-555555555555";

    // 1. The client secret of the environment; sdk.tenant_id does not apply to it.
    run_child(
        &with_tenant,
        &[
            ("AZURE_TENANT_ID", env_tenant),
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_SECRET", SECRET),
            ("AZURE_FEDERATED_TOKEN_FILE", &token_file),
        ],
        "delivered",
    );
    // 2. Without a secret: workload identity, in sdk.tenant_id's tenant.
    run_child(
        &with_tenant,
        &[
            ("AZURE_TENANT_ID", env_tenant),
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_FEDERATED_TOKEN_FILE", &token_file),
        ],
        "delivered",
    );
    // 3. Neither: the managed identity AZURE_CLIENT_ID names.
    run_child(&with_tenant, &[("AZURE_CLIENT_ID", CLIENT_ID)], "delivered");
    // 4. A certificate in the environment is refused, naming the variable.
    run_child(
        &with_tenant,
        &[
            ("AZURE_TENANT_ID", env_tenant),
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/etc/promrw/client.pem"),
        ],
        "refused:azuread.sdk: AZURE_CLIENT_CERTIFICATE_PATH",
    );

    let requests = azure.seen();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[0].path, format!("/{env_tenant}/oauth2/v2.0/token"));
    assert!(requests[0].form_set().contains(&("client_secret", SECRET)));
    assert_eq!(requests[1].path, format!("/{sdk_tenant}/oauth2/v2.0/token"));
    assert!(
        requests[1]
            .form_set()
            .contains(&("client_assertion", "eyJ.sdk-assertion.sig"))
    );
    assert!(
        !requests[1]
            .form_set()
            .iter()
            .any(|(k, _)| *k == "client_secret")
    );
    assert_eq!(
        (requests[2].method.as_str(), requests[2].path.as_str()),
        ("GET", IMDS_PATH)
    );
    assert_eq!(requests[2].query("client_id"), Some(CLIENT_ID));
    assert_eq!(recv.store().totals().accepted, 30);
}

#[test]
fn token_requests_take_their_proxy_from_the_environment() {
    let azure = AzureServer::start(3600, 0);
    let (recv, _) = receiver(&azure, Arc::default());
    let proxy = common::proxy::RecordingProxy::start();
    let port = azure.base.rsplit(':').next().unwrap().to_string();
    // `127.0.1` is loopback that the proxy rules do not bypass (as `127.0.0.1` would be).
    let text = azuread_yaml(&recv.url(), &azure, &oauth_block()).replace(
        &format!("azure_authority_host: {}/", azure.base),
        &format!("azure_authority_host: http://127.0.1:{port}/"),
    );
    run_child(&text, &[("HTTP_PROXY", &proxy.url())], "delivered");
    let tunnels = proxy.seen();
    assert!(
        !tunnels.is_empty(),
        "the token request went through the proxy"
    );
    assert!(
        tunnels
            .iter()
            .all(|c| c.target == format!("127.0.1:{port}")),
        "only the token request: {tunnels:?}"
    );
    assert_eq!(azure.issued(), ["az-1"]);
    assert_eq!(recv.store().totals().accepted, 10);
    // Without the variable, no proxy.
    let direct = azuread_yaml(&recv.url(), &azure, &oauth_block());
    run_child(&direct, &[], "delivered");
    assert_eq!(proxy.seen().len(), tunnels.len());
}
