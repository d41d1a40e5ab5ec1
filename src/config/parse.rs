//! Reading configuration text: serde structs mirroring the YAML/JSON schema, with unknown keys
//! rejected and every error reported with the path of the field that caused it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::duration::parse_duration;
use super::{
    Authorization, AzureAdConfig, BasicAuth, Config, DEFAULT_FLUSH_DEADLINE,
    DEFAULT_MAX_REQUEST_BYTES, EndpointConfig, GoogleIamConfig, HttpHeader, IdentityEndpoints,
    MetadataConfig, OAuth2Config, OverflowPolicy, ProtobufMessage, ProxyOptions, QueueConfig,
    Secret, SigV4Config, TlsConfig, TlsVersion, WriteRelabelConfigs, validate,
};
use crate::error::{Error, ErrorKind, Result};
use crate::log::Logger;
use crate::model::Label;
use crate::relabel::RawRelabelConfig;

/// Top level of the text: promrw's keys and, so that a whole `prometheus.yml` can be given,
/// every other top-level key Prometheus defines (accepted and ignored, except
/// `global.external_labels`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    remote_write: Vec<RawEndpoint>,
    external_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    promrw: RawPromrw,
    global: Option<RawGlobal>,
    runtime: Option<IgnoredAny>,
    alerting: Option<IgnoredAny>,
    rule_files: Option<IgnoredAny>,
    scrape_config_files: Option<IgnoredAny>,
    scrape_configs: Option<IgnoredAny>,
    storage: Option<IgnoredAny>,
    tracing: Option<IgnoredAny>,
    remote_read: Option<IgnoredAny>,
    otlp: Option<IgnoredAny>,
}

impl RawConfig {
    /// The Prometheus top-level keys given that promrw does not use (and `global`'s).
    fn ignored_keys(&self) -> Vec<String> {
        let top = [
            ("runtime", self.runtime.is_some()),
            ("alerting", self.alerting.is_some()),
            ("rule_files", self.rule_files.is_some()),
            ("scrape_config_files", self.scrape_config_files.is_some()),
            ("scrape_configs", self.scrape_configs.is_some()),
            ("storage", self.storage.is_some()),
            ("tracing", self.tracing.is_some()),
            ("remote_read", self.remote_read.is_some()),
            ("otlp", self.otlp.is_some()),
        ];
        let mut keys: Vec<String> = top
            .iter()
            .filter(|(_, given)| *given)
            .map(|(key, _)| key.to_string())
            .collect();
        if let Some(global) = &self.global {
            keys.extend(global.ignored_keys());
        }
        keys
    }
}

/// `global` of a `prometheus.yml`: `external_labels` applies; the other keys Prometheus
/// defines are accepted and ignored.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    external_labels: Option<BTreeMap<String, String>>,
    scrape_interval: Option<IgnoredAny>,
    scrape_timeout: Option<IgnoredAny>,
    scrape_protocols: Option<IgnoredAny>,
    evaluation_interval: Option<IgnoredAny>,
    rule_query_offset: Option<IgnoredAny>,
    query_log_file: Option<IgnoredAny>,
    scrape_failure_log_file: Option<IgnoredAny>,
    body_size_limit: Option<IgnoredAny>,
    sample_limit: Option<IgnoredAny>,
    target_limit: Option<IgnoredAny>,
    label_limit: Option<IgnoredAny>,
    label_name_length_limit: Option<IgnoredAny>,
    label_value_length_limit: Option<IgnoredAny>,
    keep_dropped_targets: Option<IgnoredAny>,
    metric_name_validation_scheme: Option<IgnoredAny>,
    metric_name_escaping_scheme: Option<IgnoredAny>,
    scrape_native_histograms: Option<IgnoredAny>,
    always_scrape_classic_histograms: Option<IgnoredAny>,
    convert_classic_histograms_to_nhcb: Option<IgnoredAny>,
    extra_scrape_metrics: Option<IgnoredAny>,
}

impl RawGlobal {
    fn ignored_keys(&self) -> Vec<String> {
        [
            ("scrape_interval", self.scrape_interval.is_some()),
            ("scrape_timeout", self.scrape_timeout.is_some()),
            ("scrape_protocols", self.scrape_protocols.is_some()),
            ("evaluation_interval", self.evaluation_interval.is_some()),
            ("rule_query_offset", self.rule_query_offset.is_some()),
            ("query_log_file", self.query_log_file.is_some()),
            (
                "scrape_failure_log_file",
                self.scrape_failure_log_file.is_some(),
            ),
            ("body_size_limit", self.body_size_limit.is_some()),
            ("sample_limit", self.sample_limit.is_some()),
            ("target_limit", self.target_limit.is_some()),
            ("label_limit", self.label_limit.is_some()),
            (
                "label_name_length_limit",
                self.label_name_length_limit.is_some(),
            ),
            (
                "label_value_length_limit",
                self.label_value_length_limit.is_some(),
            ),
            ("keep_dropped_targets", self.keep_dropped_targets.is_some()),
            (
                "metric_name_validation_scheme",
                self.metric_name_validation_scheme.is_some(),
            ),
            (
                "metric_name_escaping_scheme",
                self.metric_name_escaping_scheme.is_some(),
            ),
            (
                "scrape_native_histograms",
                self.scrape_native_histograms.is_some(),
            ),
            (
                "always_scrape_classic_histograms",
                self.always_scrape_classic_histograms.is_some(),
            ),
            (
                "convert_classic_histograms_to_nhcb",
                self.convert_classic_histograms_to_nhcb.is_some(),
            ),
            ("extra_scrape_metrics", self.extra_scrape_metrics.is_some()),
        ]
        .iter()
        .filter(|(_, given)| *given)
        .map(|(key, _)| format!("global.{key}"))
        .collect()
    }
}

/// promrw's own top-level settings.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPromrw {
    #[serde(default, deserialize_with = "duration_opt")]
    flush_deadline: Option<Duration>,
    #[serde(default)]
    max_series: usize,
    #[serde(default)]
    label_limit: usize,
    #[serde(default)]
    label_name_length_limit: usize,
    #[serde(default)]
    label_value_length_limit: usize,
    max_request_bytes: Option<usize>,
    wal: Option<RawWal>,
    #[serde(default)]
    identity_endpoints: IdentityEndpoints,
}

/// `promrw.wal`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWal {
    dir: Option<PathBuf>,
    fsync: Option<RawFsync>,
    #[serde(default, deserialize_with = "duration_opt")]
    fsync_interval: Option<Duration>,
    #[serde(default, deserialize_with = "size_opt")]
    max_bytes: Option<u64>,
    #[serde(default, deserialize_with = "duration_opt")]
    max_age: Option<Duration>,
    full: Option<RawFull>,
}

/// `promrw.wal.fsync`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawFsync {
    Always,
    Interval,
    Never,
}

/// `promrw.wal.full`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawFull {
    DropOldest,
    Fail,
}

/// One `remote_write` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    url: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "duration_opt")]
    remote_timeout: Option<Duration>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    queue_config: RawQueue,
    basic_auth: Option<RawBasicAuth>,
    authorization: Option<RawAuthorization>,
    bearer_token: Option<String>,
    bearer_token_file: Option<PathBuf>,
    oauth2: Option<OAuth2Config>,
    sigv4: Option<SigV4Config>,
    azuread: Option<AzureAdConfig>,
    google_iam: Option<GoogleIamConfig>,
    #[serde(default)]
    tls_config: RawTls,
    proxy_url: Option<String>,
    no_proxy: Option<String>,
    proxy_from_environment: Option<bool>,
    #[serde(default)]
    proxy_connect_header: BTreeMap<String, Vec<String>>,
    follow_redirects: Option<bool>,
    enable_http2: Option<bool>,
    round_robin_dns: Option<bool>,
    #[serde(default)]
    http_headers: BTreeMap<String, RawHttpHeader>,
    protobuf_message: Option<String>,
    send_exemplars: Option<bool>,
    send_native_histograms: Option<bool>,
    metadata_config: Option<RawMetadata>,
    #[serde(default)]
    write_relabel_configs: Vec<Option<RawRelabelConfig>>,
    tenant: Option<RawTenant>,
}

/// `tenant` (promrw extension).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    label: Option<String>,
    header: Option<String>,
    default: Option<String>,
    keep_label: Option<bool>,
}
/// One `http_headers` entry.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttpHeader {
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    files: Vec<PathBuf>,
}

/// `metadata_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    send: Option<bool>,
    #[serde(default, deserialize_with = "duration_opt")]
    send_interval: Option<Duration>,
    max_samples_per_send: Option<usize>,
}

/// `queue_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    capacity: Option<usize>,
    min_shards: Option<usize>,
    max_shards: Option<usize>,
    max_samples_per_send: Option<usize>,
    #[serde(default, deserialize_with = "duration_opt")]
    batch_send_deadline: Option<Duration>,
    #[serde(default, deserialize_with = "duration_opt")]
    min_backoff: Option<Duration>,
    #[serde(default, deserialize_with = "duration_opt")]
    max_backoff: Option<Duration>,
    retry_on_http_429: Option<bool>,
    #[serde(default, deserialize_with = "duration_opt")]
    sample_age_limit: Option<Duration>,
    overflow: Option<RawOverflow>,
    #[serde(default, deserialize_with = "duration_opt")]
    block_timeout: Option<Duration>,
    max_buffered_samples: Option<usize>,
    #[serde(default, deserialize_with = "duration_opt")]
    shard_update_interval: Option<Duration>,
    shard_tolerance: Option<f64>,
}

/// `queue_config.overflow`.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawOverflow {
    Block,
    DropNewest,
    Fail,
}

/// `basic_auth`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    #[serde(default)]
    username: String,
    username_file: Option<PathBuf>,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

/// `authorization`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorization {
    #[serde(rename = "type")]
    auth_type: Option<String>,
    credentials: Option<String>,
    credentials_file: Option<PathBuf>,
}

/// `tls_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca: Option<String>,
    ca_file: Option<PathBuf>,
    cert: Option<String>,
    cert_file: Option<PathBuf>,
    key: Option<String>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// Deserialises an optional Prometheus duration string.
fn duration_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}

fn size_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Raw::Bytes(bytes)) => Ok(Some(bytes)),
        Some(Raw::Text(text)) => super::size::parse_size(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Converts `promrw.wal`, checking what only makes sense together.
fn convert_wal(raw: RawWal) -> Result<super::WalConfig> {
    let invalid = |field: &str, message: &str| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("promrw.wal.{field}: {message}"),
        )
    };
    let dir = raw
        .dir
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| invalid("dir", "is required: the directory of the durable queue"))?;
    let mut wal = super::WalConfig::new(dir);
    let fsync = raw.fsync.unwrap_or(RawFsync::Interval);
    if raw.fsync_interval.is_some() && fsync != RawFsync::Interval {
        return Err(invalid(
            "fsync_interval",
            "applies only with fsync: interval",
        ));
    }
    wal.fsync = match fsync {
        RawFsync::Always => super::FsyncPolicy::Always,
        RawFsync::Never => super::FsyncPolicy::Never,
        RawFsync::Interval => {
            let every = raw
                .fsync_interval
                .unwrap_or(super::DEFAULT_WAL_FSYNC_INTERVAL);
            if every.is_zero() {
                return Err(invalid("fsync_interval", "must be greater than 0s"));
            }
            super::FsyncPolicy::Interval(every)
        }
    };
    if let Some(max_bytes) = raw.max_bytes {
        wal.max_bytes = max_bytes;
    }
    wal.max_age = raw.max_age.filter(|age| !age.is_zero());
    wal.full = match raw.full {
        None | Some(RawFull::DropOldest) => super::FullPolicy::DropOldest,
        Some(RawFull::Fail) => super::FullPolicy::Fail,
    };
    Ok(wal)
}

/// Parses YAML or JSON (chosen by the first non-blank character) into a [`Config`]; semantic
/// validation is left to the caller.
pub(super) fn parse(text: &str) -> Result<Config> {
    let raw: RawConfig = if text.trim_start().starts_with('{') {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de)
            .map_err(|e| config_error(e.path().to_string(), e.inner()))?
    } else if text.trim().is_empty() {
        RawConfig::default()
    } else {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| config_error(e.path().to_string(), e.inner()))?
    };
    convert(raw)
}

/// Formats a deserialisation error with the path of the field it concerns.
fn config_error(path: String, inner: &dyn std::fmt::Display) -> Error {
    let inner = inner.to_string();
    // The YAML parser prefixes its own (shorter) path; keep only ours.
    let inner = match inner.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(' ') && path.starts_with(prefix) => {
            rest.to_string()
        }
        _ => inner,
    };
    let message = if path.is_empty() || path == "." {
        inner
    } else {
        format!("{path}: {inner}")
    };
    Error::new(ErrorKind::InvalidConfig, message)
}

/// Turns the raw text structs into the public config, filling Prometheus's defaults.
fn convert(raw: RawConfig) -> Result<Config> {
    let ignored_prometheus_keys = raw.ignored_keys();
    let global_labels = raw.global.and_then(|g| g.external_labels);
    let (external, field) = match (raw.external_labels, global_labels) {
        (Some(_), Some(_)) => {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "external_labels: given both at the top level and in global; keep one",
            ));
        }
        (Some(labels), None) => (labels, "external_labels"),
        (None, Some(labels)) => (labels, "global.external_labels"),
        (None, None) => (BTreeMap::new(), "external_labels"),
    };
    let external = external
        .into_iter()
        .map(|(name, value)| Label::new(name, value))
        .collect();
    let external_labels = validate::external_labels(external, field)?;
    let mut endpoints = Vec::with_capacity(raw.remote_write.len());
    for (index, entry) in raw.remote_write.into_iter().enumerate() {
        let mut endpoint = convert_endpoint(index, entry)?;
        endpoint.identity_endpoints = raw.promrw.identity_endpoints.clone();
        endpoints.push(endpoint);
    }
    Ok(Config {
        endpoints,
        external_labels,
        flush_deadline: raw.promrw.flush_deadline.unwrap_or(DEFAULT_FLUSH_DEADLINE),
        limits: super::SeriesLimits {
            max_series: raw.promrw.max_series,
            label_limit: raw.promrw.label_limit,
            label_name_length_limit: raw.promrw.label_name_length_limit,
            label_value_length_limit: raw.promrw.label_value_length_limit,
        },
        max_request_bytes: raw
            .promrw
            .max_request_bytes
            .unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
        wal: raw.promrw.wal.map(convert_wal).transpose()?,
        logger: Logger::default(),
        ignored_prometheus_keys,
    })
}

/// Converts one `remote_write` entry.
fn convert_endpoint(index: usize, raw: RawEndpoint) -> Result<EndpointConfig> {
    let url = raw.url.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("remote_write[{index}].url: url for remote_write is empty"),
        )
    })?;
    let defaults = QueueConfig::default();
    let q = raw.queue_config;
    let queue = QueueConfig {
        capacity: q.capacity.unwrap_or(defaults.capacity),
        min_shards: q.min_shards.unwrap_or(defaults.min_shards),
        max_shards: q.max_shards.unwrap_or(defaults.max_shards),
        max_samples_per_send: q
            .max_samples_per_send
            .unwrap_or(defaults.max_samples_per_send),
        batch_send_deadline: q
            .batch_send_deadline
            .unwrap_or(defaults.batch_send_deadline),
        min_backoff: q.min_backoff.unwrap_or(defaults.min_backoff),
        max_backoff: q.max_backoff.unwrap_or(defaults.max_backoff),
        retry_on_http_429: q.retry_on_http_429.unwrap_or(defaults.retry_on_http_429),
        sample_age_limit: q.sample_age_limit.unwrap_or(defaults.sample_age_limit),
        overflow: match q.overflow {
            None => defaults.overflow,
            Some(RawOverflow::Block) => OverflowPolicy::Block,
            Some(RawOverflow::DropNewest) => OverflowPolicy::DropNewest,
            Some(RawOverflow::Fail) => OverflowPolicy::Fail,
        },
        block_timeout: q.block_timeout.unwrap_or(defaults.block_timeout),
        max_buffered_samples: q
            .max_buffered_samples
            .unwrap_or(defaults.max_buffered_samples),
        shard_update_interval: q
            .shard_update_interval
            .unwrap_or(defaults.shard_update_interval),
        shard_tolerance: q.shard_tolerance.unwrap_or(defaults.shard_tolerance),
    };
    let mut endpoint = EndpointConfig::new(url);
    endpoint.name = raw.name;
    if let Some(timeout) = raw.remote_timeout {
        endpoint.remote_timeout = timeout;
    }
    endpoint.headers = raw.headers.into_iter().collect();
    endpoint.queue = queue;
    let field = format!("remote_write[{index}]");
    let invalid = |key: &str, message: &str| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{field}{}{key}: {message}",
                if key.is_empty() { "" } else { "." }
            ),
        )
    };
    endpoint.basic_auth = raw.basic_auth.map(|b| BasicAuth {
        username: b.username,
        username_file: b.username_file,
        password: b.password.map(Secret::new),
        password_file: b.password_file,
    });
    endpoint.authorization = raw.authorization.map(|a| Authorization {
        auth_type: a
            .auth_type
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Bearer".to_string()),
        credentials: a.credentials.map(Secret::new),
        credentials_file: a.credentials_file,
    });
    endpoint.oauth2 = raw.oauth2;
    // The legacy bearer_token keys, as Prometheus reads them: an `authorization` of type Bearer.
    let bearer_token = raw.bearer_token.filter(|t| !t.is_empty());
    let bearer_token_file = raw.bearer_token_file.filter(|f| !f.as_os_str().is_empty());
    if bearer_token.is_some() || bearer_token_file.is_some() {
        if bearer_token.is_some() && bearer_token_file.is_some() {
            return Err(invalid(
                "",
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if endpoint.basic_auth.is_some() || endpoint.oauth2.is_some() {
            return Err(invalid(
                "",
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        if endpoint.authorization.is_some() {
            return Err(invalid(
                "authorization",
                "authorization is not compatible with bearer_token & bearer_token_file",
            ));
        }
        endpoint.authorization = Some(Authorization {
            auth_type: "Bearer".to_string(),
            credentials: bearer_token.map(Secret::new),
            credentials_file: bearer_token_file,
        });
    }
    endpoint.sigv4 = raw.sigv4;
    endpoint.azuread = raw.azuread;
    endpoint.google_iam = raw.google_iam;
    let tls_version = |key: &str, text: Option<String>| -> Result<Option<TlsVersion>> {
        text.map(|t| {
            TlsVersion::parse(&t).ok_or_else(|| {
                invalid(
                    &format!("tls_config.{key}"),
                    &format!("unknown TLS version: {t}"),
                )
            })
        })
        .transpose()
    };
    let t = raw.tls_config;
    endpoint.tls = TlsConfig {
        min_version: tls_version("min_version", t.min_version)?,
        max_version: tls_version("max_version", t.max_version)?,
        ca_file: t.ca_file,
        ca: t.ca,
        cert_file: t.cert_file,
        cert: t.cert,
        key_file: t.key_file,
        key: t.key.map(Secret::new),
        server_name: t.server_name,
        insecure_skip_verify: t.insecure_skip_verify,
    };
    endpoint.proxy_url = raw.proxy_url.filter(|p| !p.is_empty());
    endpoint.proxy = ProxyOptions {
        no_proxy: raw.no_proxy.filter(|n| !n.is_empty()),
        from_environment: raw.proxy_from_environment.unwrap_or(false),
        connect_headers: raw
            .proxy_connect_header
            .into_iter()
            .map(|(name, values)| (name, values.into_iter().map(Secret::new).collect()))
            .collect(),
    };
    endpoint.follow_redirects = raw.follow_redirects.unwrap_or(true);
    endpoint.enable_http2 = raw.enable_http2.unwrap_or(false);
    endpoint.round_robin_dns = raw.round_robin_dns.unwrap_or(false);
    endpoint.http_headers = raw
        .http_headers
        .into_iter()
        .map(|(name, h)| HttpHeader {
            name,
            values: h.values,
            secrets: h.secrets.into_iter().map(Secret::new).collect(),
            files: h.files,
        })
        .collect();
    if let Some(message) = raw.protobuf_message {
        endpoint.protobuf_message = ProtobufMessage::parse(&message).ok_or_else(|| {
            invalid(
                "protobuf_message",
                &format!(
                    "invalid protobuf_message value: unknown remote write protobuf message {message}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                ),
            )
        })?;
    }
    let mut rules = Vec::with_capacity(raw.write_relabel_configs.len());
    for rule in raw.write_relabel_configs {
        rules.push(rule.ok_or_else(|| {
            invalid(
                "write_relabel_configs",
                "empty or null relabeling rule in remote write config",
            )
        })?);
    }
    endpoint.write_relabel_configs = WriteRelabelConfigs::new(rules)
        .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("{field}.{e}")))?;
    if let Some(tenant) = raw.tenant {
        let label = tenant.label.filter(|l| !l.is_empty()).ok_or_else(|| {
            invalid(
                "tenant.label",
                "is required: the label whose value names each series' tenant",
            )
        })?;
        let mut routing = super::TenantRouting::new(label);
        if let Some(header) = tenant.header {
            routing.header = header;
        }
        routing.default = tenant.default;
        routing.keep_label = tenant.keep_label.unwrap_or(false);
        endpoint.tenant = Some(routing);
    }
    endpoint.send_exemplars = raw.send_exemplars.unwrap_or(false);
    endpoint.send_native_histograms = raw.send_native_histograms.unwrap_or(false);
    endpoint.metadata_config = raw.metadata_config.map(|m| {
        let defaults = MetadataConfig::default();
        MetadataConfig {
            send: m.send.unwrap_or(defaults.send),
            send_interval: m.send_interval.unwrap_or(defaults.send_interval),
            max_samples_per_send: m
                .max_samples_per_send
                .unwrap_or(defaults.max_samples_per_send),
        }
    });
    Ok(endpoint)
}
