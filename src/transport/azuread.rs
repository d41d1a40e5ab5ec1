//! Azure AD access tokens for an endpoint's `azuread` block (Azure Monitor managed service for
//! Prometheus), sent as `Authorization: Bearer <token>`, as Prometheus's
//! `storage/remote/azuread` gets them through the Azure SDK for Go. Which credential, scope
//! and token endpoint: see [`credential`].
//!
//! - A client secret (`oauth`): a POST of `grant_type=client_credentials`, `client_id`,
//!   `client_secret` and `scope` to `{authority}/{tenant_id}/oauth2/v2.0/token`. As the SDK
//!   (MSAL) asks, the scope is followed by `openid offline_access profile`.
//! - Workload identity: the same form with `client_assertion_type`
//!   (`urn:ietf:params:oauth:client-assertion-type:jwt-bearer`), `client_assertion` (the
//!   federated token file's contents, trimmed) and `client_info=1` instead of the secret. The
//!   file is read again at each token request, so the token Kubernetes rotates is used (the
//!   SDK keeps what it read for up to 10 minutes).
//! - A managed identity: a GET of the instance metadata service with `api-version=2018-02-01`,
//!   `resource` (the scope without `/.default`), `client_id` for a user-assigned identity and
//!   the header `Metadata: true`.
//!
//! The token's lifetime is its `expires_in` (seconds, a number or a numeric string as the
//! metadata service writes it), else its `expires_on` (Unix seconds); a token without a
//! lifetime in the future is an error, as in Prometheus. The token is cached and due again
//! when half of its lifetime has passed (Prometheus's `updateRefreshTime`). Prometheus asks
//! the SDK then, whose own cache may give the same token back until 5 minutes before it
//! expires; promrw has no second cache and asks the token endpoint, so it renews more often,
//! never later. A 401 from the endpoint makes the token due at once
//! ([`AzureTokenSource::invalidate`]).
//!
//! Token requests go through the proxy of `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` (read when
//! the sender starts), never the endpoint's `proxy_url`: the SDK's default transport uses Go's
//! `http.ProxyFromEnvironment`. Their TLS trusts the system's roots, as the SDK does.
//!
//! Fetches are blocking, on the shard thread that needs the token, one at a time: a shard that
//! finds the token due fetches it while the others wait for it. Errors name the token URL and
//! the HTTP status, with the first bytes of the answer, never the secret, the assertion or a
//! token.

pub mod credential;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::config::{AzureAdConfig, IdentityEndpoints, Secret};
use crate::error::Result;
use crate::log::{LogLevel, Logger};
use crate::redact::redact_url;

use super::connect::Interrupted;
use super::token_client::{Answer, TokenClient};
use credential::{Credential, Environment};

/// The instance metadata service API version the SDK asks for.
pub const IMDS_API_VERSION: &str = "2018-02-01";
/// The client assertion type of a federated token.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The scopes MSAL adds to every token request's `scope`.
const MSAL_DEFAULT_SCOPES: &str = "openid offline_access profile";

/// The Azure AD tokens of one endpoint's transport.
pub struct AzureTokenSource {
    credential: Credential,
    scope: String,
    client: TokenClient,
    /// The token URL or metadata service URL, redacted, for messages.
    shown_url: String,
    state: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for AzureTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureTokenSource")
            .field("credential", &self.credential)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A token and when it is due.
struct CachedToken {
    header: Secret,
    due: Instant,
}

/// The token endpoint's (or metadata service's) answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
}

impl AzureTokenSource {
    /// The source for `config` (with `identity`'s URLs), choosing the credential of `sdk` from
    /// this process's environment now. Requests are bounded by `timeout` (the endpoint's
    /// `remote_timeout`) and given up once `interrupted` is set (close). Fails with
    /// `InvalidConfig` when the configuration or the environment asks for what promrw does
    /// not support.
    pub(super) fn new(
        config: &AzureAdConfig,
        identity: &IdentityEndpoints,
        timeout: Duration,
        interrupted: Interrupted,
        logger: &Logger,
    ) -> Result<Arc<AzureTokenSource>> {
        let credential = credential::choose(config, identity, &Environment::of_process())?;
        if config.sdk.is_some() {
            logger.log(LogLevel::Info, || {
                format!(
                    "azuread.sdk: authenticating with {} (from the environment)",
                    credential.describe()
                )
            });
        }
        let client = TokenClient::with_environment_proxy(
            "azuread: its token requests",
            timeout,
            interrupted,
            logger,
        )?;
        let shown_url = redact_url(match &credential {
            Credential::ClientSecret { token_url, .. }
            | Credential::WorkloadIdentity { token_url, .. } => token_url,
            Credential::ManagedIdentity { imds_url, .. } => imds_url,
        });
        Ok(Arc::new(AzureTokenSource {
            credential,
            scope: credential::scope(config),
            client,
            shown_url,
            state: Mutex::new(None),
        }))
    }

    /// The `Authorization` header value: the cached token, or a new one when there is none or
    /// it is due. The error says why no token could be had (to be retried).
    pub fn header_value(&self) -> std::result::Result<Secret, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = state.as_ref()
            && Instant::now() < token.due
        {
            return Ok(token.header.clone());
        }
        let token = self.fetch()?;
        let header = token.header.clone();
        *state = Some(token);
        Ok(header)
    }

    /// Forgets the cached token (the endpoint answered 401): the next request gets a new one.
    pub fn invalidate(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The client secret, so it can be scrubbed from error texts.
    pub fn inline_secret(&self) -> Option<String> {
        match &self.credential {
            Credential::ClientSecret { secret, .. } => {
                Some(secret.expose().to_string()).filter(|s| !s.is_empty())
            }
            _ => None,
        }
    }

    /// One token request for the credential.
    fn fetch(&self) -> std::result::Result<CachedToken, String> {
        let started = Instant::now();
        let (answer, secret) = match &self.credential {
            Credential::ClientSecret {
                token_url,
                client_id,
                secret,
            } => {
                let form = vec![
                    ("grant_type".to_string(), "client_credentials".to_string()),
                    ("client_secret".to_string(), secret.expose().to_string()),
                    ("client_id".to_string(), client_id.clone()),
                    ("scope".to_string(), self.msal_scope()),
                ];
                let secret = secret.expose().to_string();
                (self.client.post_form(token_url, &[], &form), secret)
            }
            Credential::WorkloadIdentity {
                token_url,
                client_id,
                token_file,
            } => {
                let assertion = std::fs::read_to_string(token_file)
                    .map(|text| text.trim().to_string())
                    .map_err(|e| {
                        format!(
                            "azuread: cannot read the federated token file {}: {e}",
                            token_file.display()
                        )
                    })?;
                let form = vec![
                    ("grant_type".to_string(), "client_credentials".to_string()),
                    (
                        "client_assertion_type".to_string(),
                        JWT_BEARER_ASSERTION.to_string(),
                    ),
                    ("client_assertion".to_string(), assertion.clone()),
                    ("client_id".to_string(), client_id.clone()),
                    ("client_info".to_string(), "1".to_string()),
                    ("scope".to_string(), self.msal_scope()),
                ];
                (self.client.post_form(token_url, &[], &form), assertion)
            }
            Credential::ManagedIdentity {
                imds_url,
                client_id,
            } => {
                let mut query = vec![
                    ("api-version", IMDS_API_VERSION),
                    ("resource", credential::resource(&self.scope)),
                ];
                if let Some(id) = client_id {
                    query.push(("client_id", id.as_str()));
                }
                let answer = self.client.get(imds_url, &query, &[("Metadata", "true")]);
                (answer, String::new())
            }
        };
        let scrub = |text: String| {
            if secret.is_empty() {
                text
            } else {
                text.replace(&secret, "xxxxx")
            }
        };
        let answer = answer.map_err(|e| {
            scrub(format!(
                "azuread: token request to {} failed: {e}",
                self.shown_url
            ))
        })?;
        self.token_from(&answer, started).map_err(scrub)
    }

    /// The `scope` of a token request to Azure AD, as MSAL writes it.
    fn msal_scope(&self) -> String {
        format!("{} {MSAL_DEFAULT_SCOPES}", self.scope)
    }

    /// The token of a 2xx answer, due at half its lifetime from `started`.
    fn token_from(
        &self,
        answer: &Answer,
        started: Instant,
    ) -> std::result::Result<CachedToken, String> {
        let status = answer.status;
        if !answer.is_success() {
            return Err(format!(
                "azuread: token endpoint {} answered HTTP {status}: {}",
                self.shown_url,
                answer.text()
            ));
        }
        let parsed: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|e| {
            format!(
                "azuread: token endpoint {} answered HTTP {status} without a usable token: {e}",
                self.shown_url
            )
        })?;
        if parsed.access_token.is_empty() {
            return Err(format!(
                "azuread: token endpoint {} answered an empty access token",
                self.shown_url
            ));
        }
        let lifetime = lifetime(
            parsed.expires_in.as_ref(),
            parsed.expires_on.as_ref(),
            SystemTime::now(),
        )
        .ok_or_else(|| {
            format!(
                "azuread: token endpoint {} answered a token whose expiry is not in the future \
                 (no usable expires_in or expires_on)",
                self.shown_url
            )
        })?;
        Ok(CachedToken {
            header: Secret::new(format!("Bearer {}", parsed.access_token)),
            due: started + lifetime / 2,
        })
    }
}

/// Seconds in a JSON number or numeric string.
fn seconds(value: &serde_json::Value) -> Option<f64> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    seconds.is_finite().then_some(seconds)
}

/// How long a token lives from `now`: `expires_in`, else `expires_on` (Unix seconds) minus
/// now; `None` unless that is in the future.
fn lifetime(
    expires_in: Option<&serde_json::Value>,
    expires_on: Option<&serde_json::Value>,
    now: SystemTime,
) -> Option<Duration> {
    let left = match expires_in.and_then(seconds) {
        Some(left) => left,
        None => {
            let on = expires_on.and_then(seconds)?;
            let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
            on - now
        }
    };
    (left > 0.0).then(|| Duration::from_secs_f64(left.min(1e9)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_from_expires_in_or_expires_on() {
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let in_3599 = json("3599");
        assert_eq!(
            lifetime(Some(&in_3599), None, now),
            Some(Duration::from_secs(3599))
        );
        // The metadata service writes strings; expires_in wins over expires_on.
        let (s_in, s_on) = (json("\"86399\""), json("\"1000060\""));
        assert_eq!(
            lifetime(Some(&s_in), Some(&s_on), now),
            Some(Duration::from_secs(86399))
        );
        assert_eq!(
            lifetime(None, Some(&s_on), now),
            Some(Duration::from_secs(60))
        );
        let past = json("999999");
        assert_eq!(lifetime(None, Some(&past), now), None);
        assert_eq!(lifetime(Some(&json("0")), None, now), None);
        assert_eq!(lifetime(Some(&json("\"soon\"")), None, now), None);
        assert_eq!(lifetime(None, None, now), None);
    }
}
