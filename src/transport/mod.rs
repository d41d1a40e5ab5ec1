//! HTTP transport: one blocking ureq agent per shard (keep-alive), the Remote Write 1.0
//! headers, authentication, TLS, proxy, per-attempt timeout and response classification.

pub mod auth;
pub mod azuread;
mod connect;
pub mod oauth2;
mod proxy;
mod resolve;
pub mod retry;
pub mod sigv4;
mod tls;
mod token_client;

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ureq::Agent;

use crate::config::{EndpointConfig, HttpHeader, ProtobufMessage};
use crate::error::Result;
use crate::log::Logger;
use crate::redact::redact_url;
use auth::AuthSource;
use connect::{Interrupted, InterruptibleTcpConnector};
use proxy::{ConnectHeaders, ProxyPolicy};
pub use retry::{Backoff, Outcome, Written};

/// The `User-Agent` promrw sends.
pub const USER_AGENT: &str = concat!("promrw/", env!("CARGO_PKG_VERSION"));

/// Most response-body bytes kept for logs.
const MAX_ERROR_BODY: usize = 1024;
/// Most response-body bytes read to keep a connection reusable; beyond that it is closed.
const MAX_DRAIN: u64 = 64 * 1024;

/// `text` with control characters (newlines, escapes, NUL, ...) written as `\u{..}` escapes, so
/// a receiver's response body cannot forge or garble log lines.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// What one POST ended with.
enum Hop {
    /// A final outcome.
    Done(Outcome),
    /// A 3xx with its `Location` (empty when missing).
    Redirect(u16, String),
}

/// The credentials of one endpoint, built once and shared by its shards' transports: one
/// token cache (`oauth2`, `azuread`) and one SigV4 signer per endpoint, as Prometheus has one
/// client per endpoint, so that N shards do not fetch N tokens.
#[derive(Debug, Clone)]
pub struct EndpointAuth {
    auth: AuthSource,
    signer: Option<Arc<sigv4::Signer>>,
    /// Given up by the token and STS requests once set (by any shard's [`Interrupter`]).
    interrupted: Interrupted,
}

impl EndpointAuth {
    /// The endpoint's credential providers; fails when a credential source cannot be set up
    /// (no SigV4 region or credentials, an unusable token TLS setting, ...).
    pub fn new(endpoint: &EndpointConfig, logger: &Logger) -> Result<EndpointAuth> {
        let interrupted = Interrupted::default();
        let auth = match (&endpoint.oauth2, &endpoint.azuread) {
            (Some(oauth2), _) => AuthSource::OAuth2(oauth2::TokenSource::new(
                oauth2,
                endpoint.remote_timeout,
                interrupted.clone(),
                logger,
            )?),
            (None, Some(azuread)) => AuthSource::AzureAd(azuread::AzureTokenSource::new(
                azuread,
                &endpoint.identity_endpoints,
                endpoint.remote_timeout,
                interrupted.clone(),
                logger,
            )?),
            (None, None) => AuthSource::new(
                endpoint.basic_auth.as_ref(),
                endpoint.authorization.as_ref(),
            ),
        };
        let signer = match &endpoint.sigv4 {
            Some(config) => Some(sigv4::Signer::new(
                config,
                &endpoint.identity_endpoints,
                &sigv4::ProcessEnvironment,
                endpoint.remote_timeout,
                interrupted.clone(),
                logger,
            )?),
            None => None,
        };
        Ok(EndpointAuth {
            auth,
            signer,
            interrupted,
        })
    }
}

/// A connection to one endpoint, owned by one shard.
pub struct Transport {
    agent: Agent,
    url: String,
    shown_url: String,
    headers: Vec<(String, String)>,
    /// `http_headers`: every value of each, sent as header lines of the same name.
    http_headers: Vec<HttpHeader>,
    auth: AuthSource,
    /// `sigv4`: signs each hop's request (the configured origin's only).
    signer: Option<Arc<sigv4::Signer>>,
    /// Which proxy each request goes through.
    proxy: ProxyPolicy,
    /// URLs that may hold credentials (the endpoint's, the proxies'), redacted in error texts.
    secrets: Vec<String>,
    /// Secret values (inline credentials, secret header values), replaced in error texts.
    hidden: Vec<String>,
    retry_on_http_429: bool,
    follow_redirects: bool,
    /// The configured URL's origin, computed once: redirects send credentials only there.
    origin: Option<String>,
    /// Set by the [`Interrupter`]: the agent's connects and name lookups give up.
    interrupted: Interrupted,
    /// The endpoint's credential requests' flag, set by the [`Interrupter`] too.
    auth_interrupted: Interrupted,
    /// `tenant.header`, with tenant routing: each request names its tenant in it.
    tenant_header: Option<String>,
}

/// Interrupts the HTTP attempts of one [`Transport`] from another thread: the handle close
/// uses at its deadline.
#[derive(Debug, Clone)]
pub struct Interrupter {
    agent: Agent,
    interrupted: Interrupted,
    auth_interrupted: Interrupted,
}

impl Interrupter {
    /// Interrupts the transport for good: an attempt blocked on a socket read or write (or a
    /// TLS or proxy CONNECT handshake) fails at once (the agent shuts down every connection);
    /// a TCP connect in progress fails within 50 ms (it is polled in slices that look for
    /// the interruption); a name lookup in progress is abandoned within 50 ms (it runs on a
    /// helper thread of its own, which ends by itself when the system resolver answers); and
    /// every later attempt fails without connecting. The endpoint's token and STS requests,
    /// shared by all its shards, are given up the same way (connects and later requests).
    pub fn interrupt(&self) {
        // The flag first: a connect that completes now is then refused by the agent's
        // shutdown registry or shut down with the other connections.
        self.interrupted.set();
        self.auth_interrupted.set();
        self.agent.clone().shutdown();
    }
}

/// Most 307/308 redirects one attempt follows.
const MAX_REDIRECTS: usize = 10;

/// `scheme://host:port` of an absolute http(s) URL (port made explicit), lower-cased; `None`
/// for anything else.
fn origin(url: &str) -> Option<String> {
    let uri = http::Uri::try_from(url).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!(
        "{scheme}://{}:{port}",
        authority.host().to_ascii_lowercase()
    ))
}

/// The absolute URL a `Location` value names, relative to `base` (an absolute URL, a path
/// from the root, or a path relative to the base's directory).
fn resolve_location(base: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    let base_origin = origin(base)?;
    if location.starts_with("//") {
        let scheme = base_origin.split("://").next()?;
        return Some(format!("{scheme}:{location}"));
    }
    let uri = http::Uri::try_from(base).ok()?;
    let root = format!("{}://{}", uri.scheme_str()?, uri.authority()?);
    if location.starts_with('/') {
        return Some(format!("{root}{location}"));
    }
    let path = uri.path();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some(format!("{root}{dir}{location}"))
}

impl Transport {
    /// Builds the agent for `endpoint`; fails when TLS files or the proxy URL are unusable.
    /// Problems with the system's CA store are not logged (see [`Transport::with_logger`]).
    pub fn new(endpoint: &EndpointConfig) -> Result<Transport> {
        Transport::with_logger(endpoint, &Logger::default())
    }

    /// [`Transport::new`], logging to `logger` how the system's CA store was loaded (once per
    /// process: problems reading it at warn, a summary at debug).
    pub fn with_logger(endpoint: &EndpointConfig, logger: &Logger) -> Result<Transport> {
        Transport::with_auth(endpoint, logger, &EndpointAuth::new(endpoint, logger)?)
    }

    /// [`Transport::with_logger`] with the endpoint's credentials built already, shared
    /// with its other shards.
    pub fn with_auth(
        endpoint: &EndpointConfig,
        logger: &Logger,
        credentials: &EndpointAuth,
    ) -> Result<Transport> {
        let mut builder = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .timeout_global(Some(endpoint.remote_timeout))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_idle_connections(2)
            .max_idle_connections_per_host(1);
        let tls = tls::build(&endpoint.tls, logger)?;
        let proxy = ProxyPolicy::from_endpoint(endpoint)?;
        // Each request chooses its proxy (see `send_to`); none at the agent level, which would
        // otherwise be ureq's own reading of the environment.
        builder = builder.proxy(None);
        let interrupted = Interrupted::default();
        let tcp = InterruptibleTcpConnector::new(interrupted.clone(), endpoint.round_robin_dns);
        let connect_headers = ConnectHeaders::new(endpoint.proxy.connect_headers.clone());
        let agent = tls::agent(
            builder.build(),
            tls,
            tcp,
            connect_headers.clone(),
            interrupted.clone(),
        );
        let EndpointAuth {
            auth,
            signer,
            interrupted: auth_interrupted,
        } = credentials.clone();
        let mut hidden = auth.inline_secrets();
        hidden.extend(signer.as_ref().and_then(|s| s.inline_secret()));
        hidden.extend(connect_headers.secrets());
        hidden.extend(
            endpoint
                .http_headers
                .iter()
                .flat_map(|h| h.secrets.iter().map(|s| s.expose().to_string()))
                .filter(|s| !s.is_empty()),
        );
        let mut secrets = proxy.urls();
        if let Some(url) = &endpoint.proxy_url {
            secrets.push(url.clone());
        }
        secrets.push(endpoint.url.clone());
        // As Prometheus's signer, requests go to the cleaned path.
        let url = match signer {
            Some(_) => sigv4::clean_url(&endpoint.url),
            None => endpoint.url.clone(),
        };
        Ok(Transport {
            agent,
            url,
            shown_url: redact_url(&endpoint.url),
            headers: endpoint.headers.clone(),
            http_headers: endpoint.http_headers.clone(),
            auth,
            signer,
            proxy,
            secrets,
            hidden,
            retry_on_http_429: endpoint.queue.retry_on_http_429,
            follow_redirects: endpoint.follow_redirects,
            origin: origin(&endpoint.url),
            interrupted,
            auth_interrupted,
            tenant_header: endpoint.tenant.as_ref().map(|t| t.header.clone()),
        })
    }

    /// The handle that interrupts this transport's attempts from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            agent: self.agent.clone(),
            interrupted: self.interrupted.clone(),
            auth_interrupted: self.auth_interrupted.clone(),
        }
    }

    /// POSTs one snappy-compressed `WriteRequest`. `attempt` is 0 for the first try; retries
    /// carry `Retry-Attempt: <attempt>`. `timeout`, when given, bounds the attempt (all its
    /// redirect hops) instead of `remote_timeout`: a close deadline coming sooner.
    ///
    /// Redirects are followed here, not by ureq (which turns a redirected POST into a bodyless
    /// GET): a 307 or 308 re-POSTs the same body to `Location` (at most 10 hops), sending the
    /// configured headers and credentials only to the configured URL's origin; a 301, 302 or
    /// 303, or any 3xx with `follow_redirects: false`, fails the batch for good, since the URL
    /// needs fixing.
    pub fn send(&self, body: &[u8], attempt: u32, timeout: Option<Duration>) -> Outcome {
        self.send_for(body, ProtobufMessage::V1, attempt, timeout, None)
    }

    /// As [`Transport::send`], for the series of `tenant` on an endpoint with tenant routing:
    /// every hop carries `tenant.header: <tenant>` (it routes, it is no credential).
    ///
    /// With `oauth2` or `azuread`, a 401 makes the cached token due and the request is sent
    /// once more at once with a new token: a revoked or rotated token costs no batch. With
    /// `sigv4` and temporary credentials, a 401 or 403 likewise renews the credentials.
    pub fn send_for(
        &self,
        body: &[u8],
        protocol: ProtobufMessage,
        attempt: u32,
        timeout: Option<Duration>,
        tenant: Option<&str>,
    ) -> Outcome {
        let outcome = self.send_following_redirects(body, protocol, attempt, timeout, tenant);
        match outcome {
            Outcome::Permanent { status: 401, .. } if self.auth.renew_after_unauthorized() => {
                self.send_following_redirects(body, protocol, attempt, timeout, tenant)
            }
            Outcome::Permanent {
                status: 401 | 403, ..
            } if self.signer.as_ref().is_some_and(|signer| signer.renew()) => {
                self.send_following_redirects(body, protocol, attempt, timeout, tenant)
            }
            outcome => outcome,
        }
    }

    /// One attempt of [`Transport::send_for`]: the POST and the redirects it follows.
    fn send_following_redirects(
        &self,
        body: &[u8],
        protocol: ProtobufMessage,
        attempt: u32,
        timeout: Option<Duration>,
        tenant: Option<&str>,
    ) -> Outcome {
        let mut url = self.url.clone();
        let mut last_status = 0;
        let deadline = timeout.map(crate::deadline_after);
        for hop in 0..=MAX_REDIRECTS {
            // The first hop is the configured URL itself: no parsing on the common path.
            let same_origin = hop == 0 || origin(&url) == self.origin;
            // What is left of the attempt's own timeout (at least 1 ms: ureq reads a zero
            // timeout as none).
            let left = deadline.map(|deadline| {
                deadline
                    .saturating_duration_since(std::time::Instant::now())
                    .max(Duration::from_millis(1))
            });
            match self.send_to(&url, same_origin, body, protocol, attempt, left, tenant) {
                Hop::Done(outcome) => return outcome,
                Hop::Redirect(status, location) => {
                    last_status = status;
                    let shown = redact_url(&location);
                    if location.is_empty() {
                        return Outcome::Permanent {
                            reason: format!(
                                "server returned HTTP status {status} without a Location: fix the url"
                            ),
                            status,
                        };
                    }
                    if !self.follow_redirects {
                        return Outcome::Permanent {
                            reason: self.scrub(&format!(
                                "server returned HTTP status {status} (redirect to {shown}) and follow_redirects is false: fix the url"
                            )),
                            status,
                        };
                    }
                    if !matches!(status, 307 | 308) {
                        return Outcome::Permanent {
                            reason: self.scrub(&format!(
                                "server returned HTTP status {status} (redirect to {shown}): a POST cannot follow it without losing its body; fix the url"
                            )),
                            status,
                        };
                    }
                    match resolve_location(&url, &location) {
                        Some(next) => url = next,
                        None => {
                            return Outcome::Permanent {
                                reason: self.scrub(&format!(
                                    "server returned HTTP status {status} with an unusable Location {shown:?}"
                                )),
                                status,
                            };
                        }
                    }
                }
            }
        }
        Outcome::Permanent {
            reason: format!("more than {MAX_REDIRECTS} redirects: fix the url"),
            status: last_status,
        }
    }

    /// One POST of `body` to `url` (through the proxy [`ProxyPolicy`] picks for it): the
    /// outcome, or the redirect it answered with. Configured headers (`headers` and
    /// `http_headers`) and credentials go only to the configured origin.
    #[allow(clippy::too_many_arguments)]
    fn send_to(
        &self,
        url: &str,
        same_origin: bool,
        body: &[u8],
        protocol: ProtobufMessage,
        attempt: u32,
        timeout: Option<Duration>,
        tenant: Option<&str>,
    ) -> Hop {
        let proxy = match self.proxy.proxy_for(url) {
            Ok(proxy) => proxy,
            Err(reason) => return recoverable(reason),
        };
        let mut request = self.agent.post(url);
        if timeout.is_some() || !self.proxy.is_direct() {
            let mut config = request.config();
            if let Some(timeout) = timeout {
                config = config.timeout_global(Some(timeout));
            }
            if !self.proxy.is_direct() {
                config = config.proxy(proxy);
            }
            request = config.build();
        }
        let mut headers: Vec<(&str, Cow<'_, str>)> = vec![
            ("Content-Encoding", Cow::Borrowed("snappy")),
            ("Content-Type", Cow::Borrowed(protocol.content_type())),
            (
                "X-Prometheus-Remote-Write-Version",
                Cow::Borrowed(protocol.version_header()),
            ),
        ];
        if same_origin {
            for (name, value) in &self.headers {
                headers.push((name.as_str(), Cow::Borrowed(value.as_str())));
            }
            for header in &self.http_headers {
                let name = header.name.as_str();
                for value in &header.values {
                    headers.push((name, Cow::Borrowed(value.as_str())));
                }
                for secret in &header.secrets {
                    headers.push((name, Cow::Borrowed(secret.expose())));
                }
                for file in &header.files {
                    match read_header_file(file, name) {
                        Ok(value) => headers.push((name, Cow::Owned(value))),
                        Err(reason) => return recoverable(reason),
                    }
                }
            }
        }
        if let (Some(header), Some(tenant)) = (&self.tenant_header, tenant) {
            headers.push((header.as_str(), Cow::Borrowed(tenant)));
        }
        if attempt > 0 {
            headers.push(("Retry-Attempt", Cow::Owned(attempt.to_string())));
        }
        let authorization = match self.auth.header_value() {
            Ok(value) if same_origin => value,
            Ok(_) => None,
            Err(message) => return recoverable(message),
        };
        if let Some(value) = &authorization {
            headers.push(("Authorization", Cow::Borrowed(value.expose())));
        }
        let signature = match &self.signer {
            Some(signer) if same_origin => {
                let signable: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(name, value)| (*name, value.as_ref()))
                    .collect();
                match signer.sign(url, &signable, body) {
                    Ok(signature) => signature,
                    Err(reason) => return recoverable(self.scrub(&reason)),
                }
            }
            _ => Vec::new(),
        };
        for (name, value) in &headers {
            request = request.header(*name, value.as_ref());
        }
        for (name, value) in &signature {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(error) => {
                return Hop::Done(Outcome::Recoverable {
                    reason: self.scrub(&format!("request failed: {error}")),
                    status: None,
                    retry_after: None,
                });
            }
        };
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let _ = std::io::copy(
                &mut response.body_mut().as_reader().take(MAX_DRAIN),
                &mut std::io::sink(),
            );
            return Hop::Redirect(status, location);
        }
        let written = Written::from_headers(|name| {
            response.headers().get(name).and_then(|v| v.to_str().ok())
        });
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let mut reader = response.body_mut().as_reader();
        let mut snippet = Vec::new();
        let classification = retry::classify_status(status, self.retry_on_http_429);
        if classification.is_some() {
            let _ = (&mut reader)
                .take(MAX_ERROR_BODY as u64)
                .read_to_end(&mut snippet);
        }
        let _ = std::io::copy(&mut (&mut reader).take(MAX_DRAIN), &mut std::io::sink());
        let text = escape_control(String::from_utf8_lossy(&snippet).trim_end());
        let reason = self.scrub(&format!("server returned HTTP status {status}: {text}"));
        Hop::Done(match classification {
            None => Outcome::Success(written),
            Some(true) => Outcome::Recoverable {
                reason,
                status: Some(status),
                retry_after,
            },
            Some(false) => Outcome::Permanent { reason, status },
        })
    }

    /// The URL with any password removed, for logs and metric labels.
    pub fn shown_url(&self) -> &str {
        &self.shown_url
    }

    /// Removes secrets (inline credentials, the raw URL and proxy URL) from an error text.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), &redact_url(secret));
            }
        }
        for secret in &self.hidden {
            out = out.replace(secret.as_str(), "xxxxx");
        }
        out
    }
}

/// A POST that is not made, to be retried: a credentials or header file unreadable, or no
/// proxy to be had.
fn recoverable(reason: String) -> Hop {
    Hop::Done(Outcome::Recoverable {
        reason,
        status: None,
        retry_after: None,
    })
}

/// One value of `http_headers.<name>.files`: the file's contents, trimmed of surrounding
/// whitespace, read at each request as Prometheus reads it (so a rotated value is picked up).
/// The error names the header and the file, never the contents.
fn read_header_file(path: &Path, name: &str) -> std::result::Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("http_headers.{name}: cannot read {}: {e}", path.display()))?;
    let value = text.trim();
    if http::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "http_headers.{name}: {} does not hold a valid HTTP header value (it has control \
             characters)",
            path.display()
        ));
    }
    Ok(value.to_string())
}
