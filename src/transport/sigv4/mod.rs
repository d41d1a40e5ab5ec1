//! `sigv4`: every request to the endpoint signed with AWS Signature Version 4, as Amazon
//! Managed Service for Prometheus requires and as Prometheus's signer does it.
//!
//! - The signature covers the exact body sent and every header promrw sets; each attempt and
//!   each redirect hop is signed again with the time of sending, so a retry never replays
//!   an old signature.
//! - The URL's path is cleaned first (`.`/`..` resolved, repeated slashes collapsed, a
//!   trailing slash kept) and the request goes to the cleaned path, as Prometheus sends it.
//! - The service is `aps` unless `service_name` says otherwise; the region and credentials
//!   come from [`credentials::resolve`] when the sender starts. Without either,
//!   `Sender::new` fails with Prometheus's message.
//! - Temporary credentials (STS) are fetched on the shard thread that needs them, one fetch
//!   at a time, and renewed 30 s before they expire; a failed fetch fails the attempt, which
//!   is retried with the batch's backoff.

pub mod credentials;
pub mod profile;
mod sign;
pub mod sts;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{IdentityEndpoints, SigV4Config};
use crate::error::{Error, ErrorKind, Result};
use crate::log::Logger;

use super::connect::Interrupted;
pub use credentials::{AwsCredentials, Environment, ProcessEnvironment};
use credentials::{CredentialProvider, CredentialSource};
pub use sign::{SigningScope, clean_path, clean_url, sign_request};
use sts::Sts;

/// Amazon Managed Service for Prometheus's service name, the default of `service_name`.
pub const DEFAULT_SERVICE: &str = "aps";

/// The signer of one endpoint, shared by its shards.
#[derive(Debug)]
pub struct Signer {
    region: String,
    service: String,
    provider: CredentialProvider,
    sts: Sts,
    /// The block's inline secret key, scrubbed from error texts.
    inline_secret: Option<String>,
}

impl Signer {
    /// The signer for `config`, its credentials and region resolved from the block, `env`
    /// and the shared files; STS calls bounded by `timeout` and given up once `interrupted`
    /// is set. `InvalidConfig` when no region or no credentials source is found.
    pub(super) fn new(
        config: &SigV4Config,
        identity: &IdentityEndpoints,
        env: &dyn Environment,
        timeout: Duration,
        interrupted: Interrupted,
        logger: &Logger,
    ) -> Result<Arc<Signer>> {
        let resolved = credentials::resolve(config, env)
            .map_err(|message| Error::new(ErrorKind::InvalidConfig, format!("sigv4: {message}")))?;
        let sts = Sts::new(
            identity.aws_sts_url.as_deref(),
            &resolved.region,
            config.use_fips_sts_endpoint,
            timeout,
            interrupted,
            logger,
        )?;
        let service = config
            .service_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SERVICE)
            .to_string();
        logger.log(crate::log::LogLevel::Debug, || {
            format!(
                "sigv4: signing for region {} and service {service} with {}",
                resolved.region,
                describe(resolved.provider.source())
            )
        });
        Ok(Arc::new(Signer {
            region: resolved.region,
            service,
            provider: resolved.provider,
            sts,
            inline_secret: config
                .secret_key
                .as_ref()
                .map(|s| s.expose().to_string())
                .filter(|s| !s.is_empty()),
        }))
    }

    /// The signing headers of one POST of `body` to `url` with `headers` (see
    /// [`sign_request`]), made now. The error says why the request could not be signed (no
    /// credentials from STS, an unreadable token file): the attempt fails and is retried.
    pub fn sign(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::result::Result<Vec<(String, String)>, String> {
        let now = SystemTime::now();
        let credentials = self.provider.credentials(&self.sts, now)?;
        let scope = SigningScope {
            region: &self.region,
            service: &self.service,
        };
        sign_request(&credentials, scope, "POST", url, headers, body, now)
    }

    /// After a 401 or 403 from the endpoint: forgets temporary credentials, so the request
    /// can be signed again at once with new ones (true); false with fixed credentials.
    pub fn renew(&self) -> bool {
        self.provider.invalidate()
    }

    /// The inline secret key, so it can be scrubbed from error texts.
    pub fn inline_secret(&self) -> Option<String> {
        self.inline_secret.clone()
    }
}

/// Where the credentials come from, for the debug log (no secrets).
fn describe(source: &CredentialSource) -> String {
    match source {
        CredentialSource::Fixed {
            credentials,
            origin,
        } => format!("access key {} from {origin}", credentials.access_key_id),
        CredentialSource::WebIdentity { role_arn, .. } => {
            format!("role {role_arn} through the web identity token file")
        }
        CredentialSource::AssumeRole { base, role_arn, .. } => {
            format!("role {role_arn} assumed with {}", describe(base.source()))
        }
    }
}
