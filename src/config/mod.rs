//! Configuration: the Prometheus `remote_write` schema plus promrw's extensions, read from YAML
//! or JSON text ([`Config::from_text`]) or a file ([`Config::from_file`]), or built in Rust
//! ([`Config::builder`]).
//!
//! Defaults follow Prometheus, except `retry_on_http_429`, which is on by default: a sender
//! that silently drops throttled data loses samples, and receivers that throttle expect retries.

mod duration;
mod http;
mod managed_auth;
mod parse;
mod protocol;
mod size;
mod tenant;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::wal::writer::{FsyncPolicy, FullPolicy};
pub use duration::{format_duration, parse_duration};
pub use http::{HttpHeader, ProxyOptions, TlsVersion};
pub use managed_auth::{
    AzureAdConfig, AzureCertificate, AzureManagedIdentity, AzureOAuth, AzureSdk,
    AzureWorkloadIdentity, GoogleIamConfig, IdentityEndpoints, OAuth2Config, SigV4Config,
};
pub use protocol::{MetadataConfig, ProtobufMessage};
pub use size::parse_size;
pub use tenant::TenantRouting;
pub(crate) use validate::is_tenant_value;

use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, LogSink, Logger};
use crate::model::{Label, Labels};
use crate::relabel::{RawRelabelConfig, RelabelConfigError, RelabelRule, compile_rules};

/// A secret string (password, token). Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// What an append does when a shard queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverflowPolicy {
    /// Wait for room up to `block_timeout`, then fail with `QueueFull`. The default.
    Block,
    /// Drop the new sample, count it in `samples_dropped_total{reason="queue_full"}`, return OK.
    DropNewest,
    /// Return `QueueFull` at once; the sample is not accepted and may be appended again.
    Fail,
}

impl OverflowPolicy {
    /// The configuration spelling of the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowPolicy::Block => "block",
            OverflowPolicy::DropNewest => "drop_newest",
            OverflowPolicy::Fail => "fail",
        }
    }
}

/// `queue_config`: shards, batching, backoff and overflow of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Samples buffered per shard (default 10000).
    pub capacity: usize,
    /// Shards started, and the fewest resharding goes down to (default 1).
    pub min_shards: usize,
    /// The most shards resharding goes up to (default 50).
    pub max_shards: usize,
    /// Samples per request (default 2000).
    pub max_samples_per_send: usize,
    /// Longest a sample waits in a partial batch (default 5s).
    pub batch_send_deadline: Duration,
    /// First retry delay (default 30ms).
    pub min_backoff: Duration,
    /// Largest retry delay from backoff (default 5s); `Retry-After` may ask for longer.
    pub max_backoff: Duration,
    /// Retry 429 responses (default true in promrw; Prometheus defaults to false).
    pub retry_on_http_429: bool,
    /// Drop samples older than this while retrying; zero disables (default 0).
    pub sample_age_limit: Duration,
    /// promrw extension: behaviour of a full queue (default `block`).
    pub overflow: OverflowPolicy,
    /// promrw extension: longest an append blocks under the `block` policy (default 5s).
    pub block_timeout: Duration,
    /// promrw extension: the most samples queued or in flight across all of the endpoint's
    /// shards (default 250,000); each shard's queue holds its share, at most `capacity`, and
    /// the overflow policy applies at that bound.
    pub max_buffered_samples: usize,
    /// promrw extension: how often the desired shard count is computed (default 10s, as
    /// Prometheus's `shardUpdateDuration`).
    pub shard_update_interval: Duration,
    /// promrw extension: a desired shard count within `current × (1 ± shard_tolerance)` keeps
    /// the current count (default 0.3, as Prometheus).
    pub shard_tolerance: f64,
}

/// Default of `queue_config.max_buffered_samples`: 25 shards' worth of the default capacity,
/// half of what 50 shards × 10,000 would buffer (docs/ARCHITECTURE.md, "Memory budget").
pub const DEFAULT_MAX_BUFFERED_SAMPLES: usize = 250_000;

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            min_shards: 1,
            max_shards: 50,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
            sample_age_limit: Duration::ZERO,
            overflow: OverflowPolicy::Block,
            block_timeout: Duration::from_secs(5),
            max_buffered_samples: DEFAULT_MAX_BUFFERED_SAMPLES,
            shard_update_interval: Duration::from_secs(10),
            shard_tolerance: 0.3,
        }
    }
}

/// `basic_auth`: a username and a password given inline or read from files at each request.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// A file holding the user name (instead of `username`); re-read at each request, as
    /// Prometheus does.
    pub username_file: Option<PathBuf>,
    /// The password, inline.
    pub password: Option<Secret>,
    /// A file holding the password; re-read at each request so a rotated one is picked up.
    pub password_file: Option<PathBuf>,
}

/// `authorization`: an `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// The scheme (default `Bearer`).
    pub auth_type: String,
    /// The credentials, inline.
    pub credentials: Option<Secret>,
    /// A file holding the credentials; re-read at each request.
    pub credentials_file: Option<PathBuf>,
}

/// `tls_config`: trust roots, client certificate and verification settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// PEM file of CA certificates to trust in addition to the built-in web roots and the
    /// system's CA store.
    pub ca_file: Option<PathBuf>,
    /// The same as `ca_file`, inline PEM (`ca`).
    pub ca: Option<String>,
    /// PEM client certificate (chain) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// The same as `cert_file`, inline PEM (`cert`).
    pub cert: Option<String>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// The same as `key_file`, inline PEM (`key`).
    pub key: Option<Secret>,
    /// The lowest TLS version to negotiate (`min_version`; rustls never goes below TLS 1.2).
    pub min_version: Option<TlsVersion>,
    /// The highest TLS version to negotiate (`max_version`).
    pub max_version: Option<TlsVersion>,
    /// Name to verify the server certificate against (and send as SNI) instead of the URL host.
    pub server_name: Option<String>,
    /// Skip server certificate verification. Unsafe outside tests.
    pub insecure_skip_verify: bool,
}

/// One `remote_write` entry: where to send and how. Its `Debug` output hides every secret: the
/// URL's password and query values, header values, and the proxy URL's credentials and query.
#[derive(Clone, PartialEq)]
pub struct EndpointConfig {
    /// The receiver URL (http or https), POSTed to exactly as given.
    pub url: String,
    /// The `remote_name` label; defaults to the first 6 hex digits of a hash of the entry.
    pub name: Option<String>,
    /// Bound on each HTTP attempt (default 30s).
    pub remote_timeout: Duration,
    /// Extra request headers; reserved names are rejected.
    pub headers: Vec<(String, String)>,
    /// Queue settings.
    pub queue: QueueConfig,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header credentials.
    pub authorization: Option<Authorization>,
    /// TLS settings for https URLs.
    pub tls: TlsConfig,
    /// HTTP or HTTPS proxy URL (`http://` or `https://`; SOCKS proxies are refused).
    pub proxy_url: Option<String>,
    /// Follow 3xx redirects (default true).
    pub follow_redirects: bool,
    /// `no_proxy`, `proxy_from_environment` and `proxy_connect_header`.
    pub proxy: ProxyOptions,
    /// `http_headers`: headers with several values, secrets or files.
    pub http_headers: Vec<HttpHeader>,
    /// `enable_http2` (default false for remote write; promrw speaks HTTP/1.1 only).
    pub enable_http2: bool,
    /// `round_robin_dns`: connect to one resolved address chosen at random.
    pub round_robin_dns: bool,
    /// `write_relabel_configs`: applied once per series to what this endpoint sends.
    pub write_relabel_configs: WriteRelabelConfigs,
    /// `tenant` (promrw extension): one tenant per request, named in a header.
    pub tenant: Option<TenantRouting>,
    /// `protobuf_message`.
    pub protobuf_message: ProtobufMessage,
    /// `send_exemplars` (default false).
    pub send_exemplars: bool,
    /// `send_native_histograms` (default false).
    pub send_native_histograms: bool,
    /// `metadata_config`, when given.
    pub metadata_config: Option<MetadataConfig>,
    /// `sigv4`.
    pub sigv4: Option<SigV4Config>,
    /// `oauth2`.
    pub oauth2: Option<OAuth2Config>,
    /// `azuread`.
    pub azuread: Option<AzureAdConfig>,
    /// `google_iam`.
    pub google_iam: Option<GoogleIamConfig>,
    /// promrw extension (`promrw.identity_endpoints`, shared by every endpoint): where the
    /// AWS and Azure identity services are.
    pub identity_endpoints: IdentityEndpoints,
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<secret>"))
            .collect();
        f.debug_struct("EndpointConfig")
            .field("url", &crate::redact::redact_url(&self.url))
            .field("name", &self.name)
            .field("remote_timeout", &self.remote_timeout)
            .field("headers", &headers)
            .field("queue", &self.queue)
            .field("basic_auth", &self.basic_auth)
            .field("authorization", &self.authorization)
            .field("tls", &self.tls)
            .field(
                "proxy_url",
                &self.proxy_url.as_deref().map(crate::redact::redact_url),
            )
            .field("follow_redirects", &self.follow_redirects)
            .field("proxy", &self.proxy)
            .field("http_headers", &self.http_headers)
            .field("enable_http2", &self.enable_http2)
            .field("round_robin_dns", &self.round_robin_dns)
            .field("write_relabel_configs", &self.write_relabel_configs.raw())
            .field("tenant", &self.tenant)
            .field("protobuf_message", &self.protobuf_message)
            .field("send_exemplars", &self.send_exemplars)
            .field("send_native_histograms", &self.send_native_histograms)
            .field("metadata_config", &self.metadata_config)
            .field("sigv4", &self.sigv4)
            .field("oauth2", &self.oauth2)
            .field("azuread", &self.azuread)
            .field("google_iam", &self.google_iam)
            .finish()
    }
}

impl EndpointConfig {
    /// An endpoint with Prometheus's defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        EndpointConfig {
            url: url.into(),
            name: None,
            remote_timeout: Duration::from_secs(30),
            headers: Vec::new(),
            queue: QueueConfig::default(),
            basic_auth: None,
            authorization: None,
            tls: TlsConfig::default(),
            proxy_url: None,
            follow_redirects: true,
            proxy: ProxyOptions::default(),
            http_headers: Vec::new(),
            enable_http2: false,
            round_robin_dns: false,
            write_relabel_configs: WriteRelabelConfigs::default(),
            tenant: None,
            protobuf_message: ProtobufMessage::V1,
            send_exemplars: false,
            send_native_histograms: false,
            metadata_config: None,
            sigv4: None,
            oauth2: None,
            azuread: None,
            google_iam: None,
            identity_endpoints: IdentityEndpoints::default(),
        }
    }

    /// Sets the `remote_name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Replaces the queue settings.
    pub fn queue(mut self, queue: QueueConfig) -> Self {
        self.queue = queue;
        self
    }

    /// Sets the per-attempt timeout.
    pub fn remote_timeout(mut self, timeout: Duration) -> Self {
        self.remote_timeout = timeout;
        self
    }

    /// Sets `write_relabel_configs` (compile them with [`WriteRelabelConfigs::new`]).
    pub fn write_relabel_configs(mut self, rules: WriteRelabelConfigs) -> Self {
        self.write_relabel_configs = rules;
        self
    }

    /// Routes series by tenant (the `tenant` block).
    pub fn tenant(mut self, routing: TenantRouting) -> Self {
        self.tenant = Some(routing);
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The endpoint's `remote_name`: the configured name or a short hash of the entry.
    pub fn remote_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("{:06x}", fxhash::hash64(&format!("{self:?}")) & 0xff_ffff),
        }
    }
}

/// `write_relabel_configs`: the rules as written and compiled (Prometheus's defaults filled in,
/// validated with its messages, regexes anchored).
#[derive(Debug, Clone, Default)]
pub struct WriteRelabelConfigs {
    raw: Vec<RawRelabelConfig>,
    rules: Vec<RelabelRule>,
}

impl WriteRelabelConfigs {
    /// Compiles `raw`; the error names the first invalid rule by index, with Prometheus's
    /// message.
    pub fn new(raw: Vec<RawRelabelConfig>) -> std::result::Result<Self, RelabelConfigError> {
        let rules = compile_rules(&raw)?;
        Ok(WriteRelabelConfigs { raw, rules })
    }

    /// The rules as written.
    pub fn raw(&self) -> &[RawRelabelConfig] {
        &self.raw
    }

    /// The compiled rules, in order.
    pub fn rules(&self) -> &[RelabelRule] {
        &self.rules
    }

    /// True without rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl PartialEq for WriteRelabelConfigs {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

/// promrw's limits on what applications register (`promrw.max_series`, `promrw.label_limit`,
/// `promrw.label_name_length_limit`, `promrw.label_value_length_limit`, named as Prometheus's
/// scrape limits). 0 means no limit, as in Prometheus. A series over a limit is refused when
/// registered, with an error naming the limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesLimits {
    /// Most live series at once.
    pub max_series: usize,
    /// Most labels per series (its own, external labels not counted).
    pub label_limit: usize,
    /// Longest label name, in bytes.
    pub label_name_length_limit: usize,
    /// Longest label value, in bytes.
    pub label_value_length_limit: usize,
}

/// promrw extension (`promrw.wal`): the durable queue (docs/ARCHITECTURE.md, "Durable queue
/// (WAL mode): design").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// The directory of the log, its cursors and its lock file (`dir`).
    pub dir: std::path::PathBuf,
    /// When written data is fsync'd (`fsync`, and `fsync_interval` for `interval`; default
    /// `interval` every 1s).
    pub fsync: FsyncPolicy,
    /// The disk budget of the whole log (`max_bytes`, default 1GiB, at least 1MiB).
    pub max_bytes: u64,
    /// Records older than this are dropped even if unsent (`max_age`; `None`, the default,
    /// is `0s`: off).
    pub max_age: Option<Duration>,
    /// What an append meets at `max_bytes` (`full`, default `drop_oldest`).
    pub full: FullPolicy,
}

/// Default `promrw.wal.max_bytes`: 1 GiB.
pub(crate) const DEFAULT_WAL_MAX_BYTES: u64 = 1 << 30;
/// Smallest `promrw.wal.max_bytes`: 1 MiB (eight segments of the smallest size).
pub(crate) const MIN_WAL_MAX_BYTES: u64 = 1 << 20;
/// Default `promrw.wal.fsync_interval`: 1 s.
pub(crate) const DEFAULT_WAL_FSYNC_INTERVAL: Duration = Duration::from_secs(1);

impl WalConfig {
    /// The defaults for a log in `dir`: fsync every 1s, 1GiB, no age limit, drop_oldest.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        WalConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::Interval(DEFAULT_WAL_FSYNC_INTERVAL),
            max_bytes: DEFAULT_WAL_MAX_BYTES,
            max_age: None,
            full: FullPolicy::DropOldest,
        }
    }
}

/// A complete, validated sender configuration.
#[derive(Clone)]
pub struct Config {
    /// The endpoints; each gets its own queue and all receive every sample.
    pub endpoints: Vec<EndpointConfig>,
    /// Labels added to every series that lacks them, before sorting.
    pub external_labels: Labels,
    /// promrw extension (`promrw.flush_deadline`): how long dropping a sender without `close`
    /// waits for pending samples before giving up (default 1m, Prometheus's flush deadline).
    pub flush_deadline: Duration,
    /// promrw extension: limits on registered series and their labels.
    pub limits: SeriesLimits,
    /// promrw extension (`promrw.max_request_bytes`): the largest uncompressed protobuf body
    /// of one request (default 32 MiB, VictoriaMetrics's `-maxInsertRequestSize`). A batch
    /// that would exceed it is sent as several requests, in order; a sample that alone (with
    /// its series' labels) exceeds it is never sent and is counted as failed.
    pub max_request_bytes: usize,
    /// promrw extension (`promrw.wal`): the durable queue; `None` (the default) is memory mode.
    pub wal: Option<WalConfig>,
    /// The top-level keys of a `prometheus.yml` that were given and are ignored (`global.*`
    /// keys besides `external_labels`, `scrape_configs`, ...); `Sender::new` logs them once.
    pub ignored_prometheus_keys: Vec<String>,
    /// Where log records go; silent by default.
    pub logger: Logger,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoints: Vec::new(),
            external_labels: Labels::default(),
            flush_deadline: Duration::ZERO,
            limits: SeriesLimits::default(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            wal: None,
            logger: Logger::default(),
            ignored_prometheus_keys: Vec::new(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("endpoints", &self.endpoints)
            .field("external_labels", &self.external_labels)
            .field("flush_deadline", &self.flush_deadline)
            .field("limits", &self.limits)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("wal", &self.wal)
            .field("logger", &self.logger)
            .finish()
    }
}

impl Config {
    /// Parses YAML or JSON text in the `remote_write` schema and validates it. Errors name the
    /// offending field, e.g. `remote_write[0].queue_config.capacity: must be greater than 0`.
    pub fn from_text(text: &str) -> Result<Config> {
        let config = parse::parse(text)?;
        validate::validate(&config)?;
        Ok(config)
    }

    /// Reads a configuration file and validates it as [`Config::from_text`] does. A file that
    /// cannot be read is `InvalidConfig` naming the path and the system's error.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("cannot read configuration file {}: {e}", path.display()),
            )
        })?;
        Config::from_text(&text)
            .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.message())))
    }
    /// Checks what `Sender::new` refuses in a valid configuration: keys promrw parses and
    /// validates but does not implement yet (the `oauth2` JWT-bearer grant,
    /// `azuread.certificate`, Remote Write 2.0, exemplars, native histograms, metadata,
    /// HTTP/2, ...). The error names the key.
    pub fn check_supported(&self) -> Result<()> {
        validate::refuse_unsupported(self)
    }

    /// Starts a builder.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Sets the log sink and minimum level.
    pub fn set_logger(&mut self, sink: Arc<dyn LogSink>, min_level: LogLevel) {
        self.logger = Logger::new(sink, min_level);
    }
}

/// Builds a [`Config`] in Rust; `build` applies the same validation as text configs.
#[derive(Default)]
pub struct ConfigBuilder {
    endpoints: Vec<EndpointConfig>,
    external_labels: Vec<Label>,
    flush_deadline: Option<Duration>,
    limits: SeriesLimits,
    max_request_bytes: Option<usize>,
    wal: Option<WalConfig>,
    logger: Logger,
}

impl ConfigBuilder {
    /// Enables the durable queue (`promrw.wal`).
    pub fn wal(mut self, wal: WalConfig) -> Self {
        self.wal = Some(wal);
        self
    }

    /// Sets the largest uncompressed body of one request (`promrw.max_request_bytes`).
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = Some(bytes);
        self
    }

    /// Sets the limits on registered series and their labels.
    pub fn limits(mut self, limits: SeriesLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds an endpoint.
    pub fn endpoint(mut self, endpoint: EndpointConfig) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Adds an external label.
    pub fn external_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.external_labels.push(Label::new(name, value));
        self
    }

    /// Sets how long dropping an unclosed sender waits for pending samples.
    pub fn flush_deadline(mut self, deadline: Duration) -> Self {
        self.flush_deadline = Some(deadline);
        self
    }

    /// Sends log records at `min_level` and above to `sink`.
    pub fn logger(mut self, sink: Arc<dyn LogSink>, min_level: LogLevel) -> Self {
        self.logger = Logger::new(sink, min_level);
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Config> {
        let external_labels = validate::external_labels(self.external_labels, "external_labels")?;
        let config = Config {
            endpoints: self.endpoints,
            external_labels,
            flush_deadline: self.flush_deadline.unwrap_or(DEFAULT_FLUSH_DEADLINE),
            limits: self.limits,
            max_request_bytes: self.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
            wal: self.wal,
            logger: self.logger,
            ignored_prometheus_keys: Vec::new(),
        };
        validate::validate(&config)?;
        Ok(config)
    }
}

/// Default of `promrw.flush_deadline`: Prometheus's `--storage.remote.flush-deadline`.
pub const DEFAULT_FLUSH_DEADLINE: Duration = Duration::from_secs(60);

/// Default of `promrw.max_request_bytes`: 32 MiB, VictoriaMetrics's `-maxInsertRequestSize`.
pub(crate) const DEFAULT_MAX_REQUEST_BYTES: usize = 32 << 20;
/// Smallest `promrw.max_request_bytes` accepted: 1 KiB (a request must hold a series).
pub(crate) const MIN_MAX_REQUEST_BYTES: usize = 1 << 10;
/// Largest `promrw.max_request_bytes` accepted: 1 GiB (snappy's block format stops below
/// 4 GiB, and receivers refuse far smaller requests).
pub(crate) const MAX_MAX_REQUEST_BYTES: usize = 1 << 30;
