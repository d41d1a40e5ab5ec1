//! Reading configuration text: serde structs mirroring the YAML/JSON schema, with unknown keys
//! rejected and every error reported with the path of the field that caused it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::duration::parse_duration;
use super::{
    Authorization, BasicAuth, Config, DEFAULT_FLUSH_DEADLINE, DEFAULT_MAX_REQUEST_BYTES,
    EndpointConfig, OverflowPolicy, QueueConfig, Secret, TlsConfig, validate,
};
use crate::error::{Error, ErrorKind, Result};
use crate::log::Logger;
use crate::model::Label;

/// Top level of the text.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    remote_write: Vec<RawEndpoint>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    promrw: RawPromrw,
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
    #[serde(default)]
    tls_config: RawTls,
    proxy_url: Option<String>,
    follow_redirects: Option<bool>,
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
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
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
    let external = raw
        .external_labels
        .into_iter()
        .map(|(name, value)| Label::new(name, value))
        .collect();
    let external_labels = validate::external_labels(external, "external_labels")?;
    let mut endpoints = Vec::with_capacity(raw.remote_write.len());
    for (index, entry) in raw.remote_write.into_iter().enumerate() {
        endpoints.push(convert_endpoint(index, entry)?);
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
    };
    let mut endpoint = EndpointConfig::new(url);
    endpoint.name = raw.name;
    if let Some(timeout) = raw.remote_timeout {
        endpoint.remote_timeout = timeout;
    }
    endpoint.headers = raw.headers.into_iter().collect();
    endpoint.queue = queue;
    endpoint.basic_auth = raw.basic_auth.map(|b| BasicAuth {
        username: b.username,
        password: b.password.map(Secret::new),
        password_file: b.password_file,
    });
    endpoint.authorization = raw.authorization.map(|a| Authorization {
        auth_type: a.auth_type.unwrap_or_else(|| "Bearer".to_string()),
        credentials: a.credentials.map(Secret::new),
        credentials_file: a.credentials_file,
    });
    endpoint.tls = TlsConfig {
        ca_file: raw.tls_config.ca_file,
        cert_file: raw.tls_config.cert_file,
        key_file: raw.tls_config.key_file,
        server_name: raw.tls_config.server_name,
        insecure_skip_verify: raw.tls_config.insecure_skip_verify,
    };
    endpoint.proxy_url = raw.proxy_url;
    endpoint.follow_redirects = raw.follow_redirects.unwrap_or(true);
    Ok(endpoint)
}
