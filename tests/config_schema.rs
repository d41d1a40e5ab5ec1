//! The whole Prometheus `remote_write` schema: every key known, Prometheus's validation rules
//! and messages, the keys a later issue implements refused by `Sender::new` naming the key, and
//! a whole `prometheus.yml` accepted as configuration.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CollectLogs, FaultReceiver, TempDir, now_ms};
use promrw::config::TlsVersion;
use promrw::{Config, ErrorKind, LogLevel, Sender};

const URL: &str = "http://127.0.0.1:9/api/v1/write";

/// `Config::from_text` refuses `text` with a message containing `expected`.
fn refused(text: &str, expected: &str) {
    let err = Config::from_text(text).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{text}");
    assert!(
        err.message().contains(expected),
        "{:?} should contain {expected:?}",
        err.message()
    );
}

/// One endpoint at `URL` with `extra` lines (indented by 4 spaces).
fn endpoint(extra: &str) -> String {
    format!("remote_write:\n  - url: {URL}\n{extra}")
}

/// The config parses, and `Sender::new` refuses it with a message containing `expected`.
fn refused_by_sender(text: &str, expected: &str) {
    let config = Config::from_text(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let err = Sender::new(config).err().expect("Sender::new refuses");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{text}");
    assert!(
        err.message().contains(expected),
        "{:?} should contain {expected:?}",
        err.message()
    );
}

#[test]
fn a_whole_prometheus_yml_is_accepted_and_sends_with_its_external_labels() {
    let receiver = FaultReceiver::start();
    let dir = TempDir::new("prometheus-yml");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let text = std::fs::read_to_string("tests/configs/prometheus.yml")
        .unwrap()
        .replace("RECEIVER_URL", &receiver.url())
        .replace("BEARER_FILE", &token.display().to_string());
    let mut config = Config::from_text(&text).expect("a prometheus.yml is a configuration");
    let labels: Vec<(String, String)> = config
        .external_labels
        .as_slice()
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    assert_eq!(
        labels,
        [
            ("cluster".to_string(), "eu-1".to_string()),
            ("replica".to_string(), "a".to_string())
        ]
    );
    assert_eq!(
        config.ignored_prometheus_keys,
        [
            "runtime",
            "alerting",
            "rule_files",
            "scrape_configs",
            "storage",
            "tracing",
            "remote_read",
            "otlp",
            "global.scrape_interval",
            "global.scrape_timeout",
            "global.evaluation_interval",
            "global.query_log_file",
            "global.metric_name_validation_scheme",
        ]
    );
    let endpoint = &config.endpoints[0];
    assert_eq!(endpoint.name.as_deref(), Some("primary"));
    assert_eq!(endpoint.queue.max_shards, 200);
    assert!(!endpoint.follow_redirects);
    let authorization = endpoint.authorization.as_ref().expect("bearer_token_file");
    assert_eq!(authorization.auth_type, "Bearer");
    assert_eq!(
        authorization.credentials_file.as_deref(),
        Some(token.as_path())
    );

    let logs = Arc::new(Mutex::new(Vec::new()));
    config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Info);
    let sender = Sender::new(config).expect("sender starts");
    let series = sender.series_from_pairs(&[("__name__", "up")]).unwrap();
    sender.append(series, now_ms(), 1.0).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    sender.close(Duration::from_secs(5)).unwrap();
    let stored =
        receiver
            .store()
            .samples(&[("__name__", "up"), ("cluster", "eu-1"), ("replica", "a")]);
    assert_eq!(
        stored.map(|s| s.len()),
        Some(1),
        "sent with global.external_labels"
    );
    let seen = receiver.seen();
    let headers = &seen.last().expect("a request").headers;
    assert!(headers.contains(&("authorization".into(), "Bearer s3cret-token".into())));
    assert!(headers.contains(&("x-team".into(), "metrics".into())));
    let logs = logs.lock().unwrap();
    let ignored: Vec<&String> = logs
        .iter()
        .filter(|line| line.contains("accepted and ignored"))
        .collect();
    assert_eq!(ignored.len(), 1, "one info line: {logs:?}");
    assert!(ignored[0].starts_with("info: "), "{}", ignored[0]);
    assert!(ignored[0].contains("scrape_configs"), "{}", ignored[0]);
    assert!(
        !logs.iter().any(|l| l.contains("s3cret")),
        "no secret in logs"
    );
}

#[test]
fn keys_prometheus_does_not_define_are_errors_naming_them() {
    refused(
        &format!("{}scrape_config: []\n", endpoint("")),
        "unknown field `scrape_config`",
    );
    refused(
        &format!("{}global:\n  scrape_intervall: 15s\n", endpoint("")),
        "global.scrape_intervall",
    );
    refused(
        &endpoint("    bearer_tokenfile: /x\n"),
        "remote_write[0].bearer_tokenfile: unknown field `bearer_tokenfile`",
    );
    refused(
        &endpoint("    metadata_config:\n      sendd: false\n"),
        "remote_write[0].metadata_config.sendd: unknown field",
    );
    refused(
        &endpoint("    sigv4:\n      regio: eu-west-1\n"),
        "remote_write[0].sigv4.regio: unknown field",
    );
    refused(
        &endpoint(
            "    oauth2:\n      client_id: a\n      token_url: http://x/\n      tls_config:\n        ca_fil: x\n",
        ),
        "remote_write[0].oauth2.tls_config.ca_fil: unknown field",
    );
    refused(
        &endpoint("    azuread:\n      managed_identity:\n        clientid: x\n"),
        "remote_write[0].azuread.managed_identity.clientid: unknown field",
    );
    refused(
        &endpoint("    http_headers:\n      X-A:\n        value: [b]\n"),
        "remote_write[0].http_headers.X-A.value: unknown field",
    );
    refused(
        &format!(
            "{}external_labels: {{a: b}}\nglobal:\n  external_labels: {{c: d}}\n",
            endpoint("")
        ),
        "external_labels: given both at the top level and in global",
    );
    refused(
        &format!(
            "{}global:\n  external_labels: {{bad-name: x}}\n",
            endpoint("")
        ),
        "global.external_labels",
    );
}

#[test]
fn prometheus_validation_rules_hold_with_its_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "    bearer_token: a\n    bearer_token_file: /b\n",
            "at most one of bearer_token & bearer_token_file must be configured",
        ),
        (
            "    bearer_token: a\n    basic_auth: {username: u, password: p}\n",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "    bearer_token: a\n    authorization: {credentials: c}\n",
            "authorization is not compatible with bearer_token & bearer_token_file",
        ),
        (
            "    basic_auth: {username: u, password: p}\n    sigv4: {region: eu-west-1}\n",
            "Currently configured: [basic_auth sigv4]",
        ),
        (
            "    oauth2: {client_id: a, token_url: 'http://t/'}\n    azuread: {managed_identity: {}}\n",
            "Currently configured: [oauth2 azuread]",
        ),
        (
            "    basic_auth: {username: u, username_file: /f}\n",
            "at most one of basic_auth username & username_file must be configured",
        ),
        (
            "    basic_auth: {username: u, password: p, password_file: /f}\n",
            "at most one of basic_auth password & password_file must be configured",
        ),
        (
            "    authorization: {type: Basic, credentials: c}\n",
            "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
        ),
        (
            "    tls_config: {ca: x, ca_file: /y}\n",
            "at most one of ca & ca_file must be configured",
        ),
        (
            "    tls_config: {cert_file: /c}\n",
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ),
        (
            "    tls_config: {key: k}\n",
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ),
        (
            "    tls_config: {min_version: TLS14}\n",
            "remote_write[0].tls_config.min_version: unknown TLS version: TLS14",
        ),
        (
            "    tls_config: {min_version: TLS13, max_version: TLS12}\n",
            "tls_config.max_version must be greater than or equal to tls_config.min_version",
        ),
        (
            "    no_proxy: localhost\n",
            "if no_proxy is configured, proxy_url must also be configured",
        ),
        (
            "    proxy_from_environment: true\n    proxy_url: http://127.0.0.1:3128\n",
            "if proxy_from_environment is configured, proxy_url must not be configured",
        ),
        (
            "    proxy_connect_header: {X-A: [b]}\n",
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ),
        (
            "    http_headers:\n      Content-Type: {values: [x]}\n",
            "remote_write[0].http_headers.Content-Type: setting header \"Content-Type\" is not allowed",
        ),
        (
            "    protobuf_message: prometheus.WriteRequestV3\n",
            "invalid protobuf_message value: unknown remote write protobuf message prometheus.WriteRequestV3",
        ),
        (
            "    sigv4: {access_key: AKIA}\n",
            "remote_write[0].sigv4: must provide a AWS SigV4 Access key and Secret Key",
        ),
        (
            "    sigv4: {external_id: x}\n",
            "external_id can only be used with role_arn",
        ),
        (
            "    oauth2: {token_url: 'http://t/'}\n",
            "oauth2 client_id must be configured",
        ),
        (
            "    oauth2: {client_id: a}\n",
            "oauth2 token_url must be configured",
        ),
        (
            "    oauth2: {client_id: a, token_url: 'http://t/', client_secret: s, client_secret_file: /f}\n",
            "at most one of oauth2 client_secret & client_secret_file must be configured",
        ),
        (
            "    oauth2: {client_id: a, token_url: 'http://t/', no_proxy: example.com}\n",
            "remote_write[0].oauth2: if no_proxy is configured, proxy_url must also be configured",
        ),
        (
            "    oauth2: {client_id: a, token_url: 'http://t/', proxy_connect_header: {X-A: [b]}}\n",
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ),
        (
            "    oauth2: {client_id: a, token_url: 'http://t/', proxy_from_environment: true, no_proxy: example.com}\n",
            "if proxy_from_environment is configured, no_proxy must not be configured",
        ),
        (
            "    oauth2: {client_id: a, token_url: 'http://t/', proxy_url: 'socks5://p:1080'}\n",
            "remote_write[0].oauth2.proxy_url: unsupported proxy URL",
        ),
        (
            "    oauth2: {client_id: a, token_url: 'http://t/', proxy_url: 'http://p:3128', proxy_connect_header: {'X A': [b]}}\n",
            "remote_write[0].oauth2.proxy_connect_header.X A: is not a valid HTTP header name",
        ),
        (
            "    azuread: {cloud: AzureMars, managed_identity: {}}\n",
            "must provide a cloud in the Azure AD config",
        ),
        (
            "    azuread: {}\n",
            "must provide an Azure Managed Identity, Azure Workload Identity, Azure OAuth, Azure Certificate or Azure SDK in the Azure AD config",
        ),
        (
            "    azuread: {managed_identity: {}, sdk: {}}\n",
            "cannot provide multiple authentication methods in the Azure AD config",
        ),
        (
            "    azuread: {managed_identity: {client_id: not-a-uuid}}\n",
            "the provided Azure Managed Identity client_id is invalid",
        ),
        (
            "    azuread: {oauth: {client_id: 00000000-0000-0000-0000-000000000000, tenant_id: t}}\n",
            "must provide an Azure OAuth client_secret in the Azure AD config",
        ),
        (
            "    azuread: {managed_identity: {}, scope: 'https://x.test/.default?a=b'}\n",
            "remote_write[0].azuread: the provided scope contains invalid characters",
        ),
        (
            "    azuread: {certificate: {client_id: not-a-uuid, tenant_id: t, certificate_path: /c.pem}}\n",
            "the provided Azure Certificate client_id is invalid",
        ),
        (
            "    queue_config: {min_shards: 0}\n",
            "remote_write[0].queue_config.min_shards: must be greater than 0",
        ),
        (
            "    queue_config: {max_buffered_samples: 0}\n",
            "remote_write[0].queue_config.max_buffered_samples: must be greater than 0",
        ),
        (
            "    queue_config: {shard_update_interval: 0s}\n",
            "remote_write[0].queue_config.shard_update_interval: must be greater than 0",
        ),
        (
            "    queue_config: {shard_tolerance: 1.5}\n",
            "remote_write[0].queue_config.shard_tolerance: must be at least 0 and below 1, got 1.5",
        ),
        (
            "    queue_config: {shard_tolerance: -0.1}\n",
            "remote_write[0].queue_config.shard_tolerance: must be at least 0 and below 1, got -0.1",
        ),
    ];
    for (extra, expected) in cases {
        refused(&endpoint(extra), expected);
    }
}

#[test]
fn keys_a_later_issue_implements_are_parsed_then_refused_by_the_sender_naming_them() {
    let cases: &[(&str, &str)] = &[
        (
            "    oauth2: {client_id: a, client_secret: s, token_url: 'http://127.0.0.1:9/t', grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer'}\n",
            "remote_write[0].oauth2.grant_type: the JWT bearer grant is not supported yet",
        ),
        (
            "    oauth2: {client_id: a, client_secret: s, token_url: 'http://127.0.0.1:9/t', client_certificate_key_file: /k.pem}\n",
            "remote_write[0].oauth2.client_certificate_key_file: the JWT bearer grant is not supported yet",
        ),
        (
            "    azuread: {cloud: AzureChina, certificate: {client_id: 00000000-0000-0000-0000-000000000000, tenant_id: t, certificate_path: /c.pem}}\n",
            "remote_write[0].azuread.certificate: Azure AD client certificate authentication is not supported yet",
        ),
        (
            "    google_iam: {credentials_file: /k.json}\n",
            "remote_write[0].google_iam: is not supported",
        ),
        (
            "    enable_http2: true\n",
            "remote_write[0].enable_http2: HTTP/2 is not supported",
        ),
        (
            "    tls_config: {max_version: TLS11}\n",
            "remote_write[0].tls_config.max_version",
        ),
    ];
    for (extra, expected) in cases {
        refused_by_sender(&endpoint(extra), expected);
    }
}

#[test]
fn parsed_values_reach_the_config_with_prometheus_defaults() {
    let config = Config::from_text(&endpoint(
        "    bearer_token: tok\n    metadata_config: {send: false}\n    protobuf_message: prometheus.WriteRequest\n",
    ))
    .unwrap();
    let e = &config.endpoints[0];
    let authorization = e.authorization.as_ref().unwrap();
    assert_eq!(
        (
            authorization.auth_type.as_str(),
            authorization.credentials.as_ref().map(|c| c.expose())
        ),
        ("Bearer", Some("tok"))
    );
    let metadata = e.metadata_config.as_ref().unwrap();
    assert_eq!(
        (
            metadata.send,
            metadata.send_interval,
            metadata.max_samples_per_send
        ),
        (false, Duration::from_secs(60), 2000)
    );
    assert!(!e.enable_http2, "remote write's HTTP/2 default is off");
    assert!(config.check_supported().is_ok());
    // The bearer token never shows in Debug output.
    assert!(!format!("{config:?}").contains("tok\""));
    let tls = Config::from_text(&endpoint("    tls_config: {min_version: TLS12}\n")).unwrap();
    assert_eq!(tls.endpoints[0].tls.min_version, Some(TlsVersion::Tls12));
    let json = format!(
        "{{\"global\": {{\"external_labels\": {{\"dc\": \"x\"}}, \"scrape_interval\": \"1m\"}}, \"remote_write\": [{{\"url\": \"{URL}\"}}]}}"
    );
    let config = Config::from_text(&json).unwrap();
    assert_eq!(config.external_labels.get("dc"), Some("x"));
    assert_eq!(config.ignored_prometheus_keys, ["global.scrape_interval"]);
}
