//! OAuth 2.0 access tokens for an endpoint's `oauth2` block: the client-credentials grant
//! (RFC 6749 section 4.4), as Prometheus gets them through Go's `x/oauth2/clientcredentials`.
//!
//! - The token request is a POST of `grant_type=client_credentials`, `scope` (the `scopes`
//!   joined by spaces, when there are any) and `endpoint_params` to `token_url`.
//! - The client authenticates as `x/oauth2` does by default: first with HTTP basic
//!   authentication (id and secret URL-encoded); when that fails, with `client_id` and
//!   `client_secret` in the form. The way that first gets a token is kept.
//! - `client_secret_file` is read again at each token request, so a rotated secret is used.
//! - The token is cached. It is due 10 seconds before its `expires_in` (`x/oauth2`'s expiry
//!   delta); a token without `expires_in` is kept until the endpoint answers 401, which
//!   [`TokenSource::invalidate`] turns into a new token for the retry.
//! - The token request has its own TLS settings (`oauth2.tls_config`) and proxy keys
//!   (`proxy_url`, `no_proxy`, `proxy_from_environment`, `proxy_connect_header`), used as the
//!   endpoint's are (`transport::proxy`): prometheus/common gives the token request a
//!   transport of its own with them, and without them no proxy (not the endpoint's).
//! - Fetches are blocking, on the shard thread that needs the token, one at a time per
//!   endpoint: a shard that finds the token due fetches it while the others wait for it.
//!
//! Errors name the token URL (without its password) and the HTTP status, with the first
//! bytes of the answer, never the secret or a token.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;

use crate::config::{OAuth2Config, Secret, TlsConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::log::Logger;
use crate::redact::redact_url;

use super::connect::Interrupted;
use super::proxy::{ConnectHeaders, ProxyPolicy};
use super::token_client::TokenClient;

/// How long before its expiry a token is replaced (`x/oauth2`'s `defaultExpiryDelta`).
pub const EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// The access tokens of one endpoint, shared by its shards.
pub struct TokenSource {
    config: OAuth2Config,
    client: TokenClient,
    shown_url: String,
    state: Mutex<TokenState>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.shown_url)
            .finish_non_exhaustive()
    }
}

/// What the source remembers between requests.
#[derive(Default)]
struct TokenState {
    token: Option<CachedToken>,
    /// How the client authenticates, once a token request has succeeded.
    client_auth: ClientAuth,
}

/// Where the client id and secret go, as `x/oauth2` probes it: unknown until a token request
/// succeeds; while unknown, each fetch tries basic authentication and, if that fails in any
/// way, the form.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    #[default]
    Unknown,
    Basic,
    Form,
}

/// A token and when it is due.
struct CachedToken {
    header: Secret,
    due: Option<Instant>,
}

/// The token endpoint's answer (RFC 6749 section 5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl TokenSource {
    /// The source for `config`, requests bounded by `timeout` (the endpoint's
    /// `remote_timeout`) and given up once `interrupted` is set (close).
    pub(super) fn new(
        config: &OAuth2Config,
        timeout: Duration,
        interrupted: Interrupted,
        logger: &Logger,
    ) -> Result<Arc<TokenSource>> {
        let tls_config = match &config.tls_config {
            Some(token_tls) => token_tls
                .to_tls_config()
                .map_err(|message| Error::new(ErrorKind::InvalidConfig, message))?,
            None => TlsConfig::default(),
        };
        let proxy = ProxyPolicy::from_keys(
            "oauth2.",
            config.proxy_url.as_deref(),
            config.no_proxy.as_deref(),
            config.proxy_from_environment,
        )?;
        let connect_headers = ConnectHeaders::new(
            config
                .proxy_connect_header
                .iter()
                .map(|(name, values)| (name.clone(), values.clone()))
                .collect(),
        );
        let client = TokenClient::new(
            &tls_config,
            proxy,
            connect_headers,
            timeout,
            interrupted,
            logger,
        )?;
        Ok(Arc::new(TokenSource {
            config: config.clone(),
            client,
            shown_url: redact_url(&config.token_url),
            state: Mutex::new(TokenState::default()),
        }))
    }

    /// The `Authorization` header value: the cached token, or a new one when there is none
    /// or it is due. The error says why no token could be had (to be retried).
    pub fn header_value(&self) -> std::result::Result<Secret, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = &state.token
            && token.due.is_none_or(|due| Instant::now() < due)
        {
            return Ok(token.header.clone());
        }
        let token = self.fetch(&mut state)?;
        let header = token.header.clone();
        state.token = Some(token);
        Ok(header)
    }

    /// Forgets the cached token (the endpoint answered 401): the next request gets a new one.
    pub fn invalidate(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).token = None;
    }

    /// The inline secrets (the client secret, the token request's `proxy_connect_header`
    /// values), so they can be scrubbed from error texts.
    pub fn inline_secrets(&self) -> Vec<String> {
        let connect = self.config.proxy_connect_header.values().flatten();
        self.config
            .client_secret
            .iter()
            .chain(connect)
            .map(|s| s.expose().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Requests a token the way that worked before; while none has, as `x/oauth2` probes:
    /// with HTTP basic client authentication, then, if that fails in any way, with the
    /// credentials in the form. The way that succeeds is kept.
    fn fetch(&self, state: &mut TokenState) -> std::result::Result<CachedToken, String> {
        let secret = self.client_secret()?;
        match state.client_auth {
            ClientAuth::Basic => return self.request(&secret, false),
            ClientAuth::Form => return self.request(&secret, true),
            ClientAuth::Unknown => {}
        }
        if let Ok(token) = self.request(&secret, false) {
            state.client_auth = ClientAuth::Basic;
            return Ok(token);
        }
        let token = self.request(&secret, true)?;
        state.client_auth = ClientAuth::Form;
        Ok(token)
    }

    /// The client secret: `client_secret_file` read now (trimmed, as Prometheus reads it),
    /// else `client_secret`, else empty.
    fn client_secret(&self) -> std::result::Result<String, String> {
        match (&self.config.client_secret_file, &self.config.client_secret) {
            (Some(file), _) => std::fs::read_to_string(file)
                .map(|text| text.trim().to_string())
                .map_err(|e| {
                    format!(
                        "cannot read oauth2.client_secret_file {}: {e}",
                        file.display()
                    )
                }),
            (None, Some(secret)) => Ok(secret.expose().to_string()),
            (None, None) => Ok(String::new()),
        }
    }

    /// One token request, the client credentials in the form or in a basic-auth header.
    fn request(&self, secret: &str, in_form: bool) -> std::result::Result<CachedToken, String> {
        let mut form: Vec<(String, String)> =
            vec![("grant_type".into(), "client_credentials".into())];
        if !self.config.scopes.is_empty() {
            form.push(("scope".into(), self.config.scopes.join(" ")));
        }
        for (key, value) in &self.config.endpoint_params {
            form.push((key.clone(), value.clone()));
        }
        let mut basic = String::new();
        if in_form {
            form.push(("client_id".into(), self.config.client_id.clone()));
            if !secret.is_empty() {
                form.push(("client_secret".into(), secret.to_string()));
            }
        } else {
            let pair = format!(
                "{}:{}",
                form_urlencoded::byte_serialize(self.config.client_id.as_bytes())
                    .collect::<String>(),
                form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
            );
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            basic = format!("Basic {encoded}");
        }
        let headers: &[(&str, &str)] = if in_form {
            &[]
        } else {
            &[("Authorization", basic.as_str())]
        };
        let started = Instant::now();
        let answer = self
            .client
            .post_form(&self.config.token_url, headers, &form)
            .map_err(|e| {
                self.scrub(
                    &format!("oauth2: token request to {} failed: {e}", self.shown_url),
                    secret,
                )
            })?;
        let status = answer.status;
        if !answer.is_success() {
            return Err(self.scrub(
                &format!(
                    "oauth2: token endpoint {} answered HTTP {status}: {}",
                    self.shown_url,
                    answer.text()
                ),
                secret,
            ));
        }
        let answer: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|e| {
            format!(
                "oauth2: token endpoint {} answered HTTP {status} without a usable token: {e}",
                self.shown_url
            )
        })?;
        if answer.access_token.is_empty() {
            return Err(format!(
                "oauth2: token endpoint {} answered without an access_token",
                self.shown_url
            ));
        }
        let due = expires_in(answer.expires_in.as_ref())
            .map(|lifetime| started + lifetime.saturating_sub(EXPIRY_DELTA));
        Ok(CachedToken {
            header: Secret::new(format!(
                "{} {}",
                token_type(&answer.token_type),
                answer.access_token
            )),
            due,
        })
    }

    /// `text` with the client secret replaced.
    fn scrub(&self, text: &str, secret: &str) -> String {
        if secret.is_empty() {
            return text.to_string();
        }
        text.replace(secret, "xxxxx")
    }
}

/// `expires_in` in seconds, a number or a numeric string as `x/oauth2` accepts; `None` (never
/// due by time) when absent, zero or not a number.
fn expires_in(value: Option<&serde_json::Value>) -> Option<Duration> {
    let seconds = match value? {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (seconds.is_finite() && seconds > 0.0).then(|| Duration::from_secs_f64(seconds.min(1e9)))
}

/// The scheme of the `Authorization` header, as `x/oauth2`'s `Token.Type` gives it: `Bearer`
/// for an empty or any-case `bearer`, `MAC` and `Basic` likewise, any other type as sent.
fn token_type(sent: &str) -> String {
    if sent.is_empty() || sent.eq_ignore_ascii_case("bearer") {
        "Bearer".to_string()
    } else if sent.eq_ignore_ascii_case("mac") {
        "MAC".to_string()
    } else if sent.eq_ignore_ascii_case("basic") {
        "Basic".to_string()
    } else {
        sent.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_forms() {
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(
            expires_in(Some(&json("3600"))),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            expires_in(Some(&json("\"60\""))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(expires_in(Some(&json("0"))), None);
        assert_eq!(expires_in(Some(&json("-5"))), None);
        assert_eq!(expires_in(Some(&json("\"soon\""))), None);
        assert_eq!(expires_in(None), None);
    }

    #[test]
    fn token_types_as_x_oauth2_spells_them() {
        assert_eq!(token_type(""), "Bearer");
        assert_eq!(token_type("bearer"), "Bearer");
        assert_eq!(token_type("BEARER"), "Bearer");
        assert_eq!(token_type("mac"), "MAC");
        assert_eq!(token_type("basic"), "Basic");
        assert_eq!(token_type("DPoP"), "DPoP");
    }
}
