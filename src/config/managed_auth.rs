//! The managed-service authentication blocks of a `remote_write` entry: `sigv4`, `oauth2`,
//! `azuread` and `google_iam`, with Prometheus's keys and validation rules. They are parsed
//! and validated here; `Sender::new` refuses the parts that are not implemented yet
//! (`config::validate::refuse_unsupported`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{Secret, TlsConfig, TlsVersion};

/// `sigv4`: AWS Signature Version 4 signing (Amazon Managed Service for Prometheus).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigV4Config {
    /// The AWS region; blank takes it from the default credentials chain.
    pub region: Option<String>,
    /// A static access key (with `secret_key`).
    pub access_key: Option<String>,
    /// A static secret key (with `access_key`).
    pub secret_key: Option<Secret>,
    /// The named profile of the shared credentials and config files.
    pub profile: Option<String>,
    /// A role to assume through STS.
    pub role_arn: Option<String>,
    /// The external ID given when assuming `role_arn`.
    pub external_id: Option<String>,
    /// Use the FIPS endpoint of STS.
    pub use_fips_sts_endpoint: bool,
    /// The service name of the signature (default `aps`, Amazon Managed Service for
    /// Prometheus).
    pub service_name: Option<String>,
}

impl SigV4Config {
    /// Prometheus's rules for the block.
    pub(crate) fn check(&self) -> Result<(), String> {
        if blank(&self.access_key)
            != self
                .secret_key
                .as_ref()
                .is_none_or(|s| s.expose().is_empty())
        {
            return Err("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config".into());
        }
        if !blank(&self.external_id) && blank(&self.role_arn) {
            return Err("external_id can only be used with role_arn".into());
        }
        Ok(())
    }
}

/// `oauth2`: an access token from `token_url` (client credentials grant by default).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2Config {
    /// The client ID.
    pub client_id: String,
    /// The client secret, inline.
    pub client_secret: Option<Secret>,
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// `client_credentials` (default) or `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    pub grant_type: Option<String>,
    /// JWT bearer grant: the key the JWT is signed with, inline.
    pub client_certificate_key: Option<Secret>,
    /// JWT bearer grant: a file holding that key.
    pub client_certificate_key_file: Option<PathBuf>,
    /// JWT bearer grant: the `kid` of the JWT header.
    pub client_certificate_key_id: Option<String>,
    /// JWT bearer grant: RS256 (default), RS384 or RS512.
    pub signature_algorithm: Option<String>,
    /// JWT bearer grant: the issuer (default `client_id`).
    pub iss: Option<String>,
    /// JWT bearer grant: the audience (default `token_url`).
    pub audience: Option<String>,
    /// JWT bearer grant: more claims.
    pub claims: BTreeMap<String, String>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The token endpoint.
    pub token_url: String,
    /// More form parameters for the token request.
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS settings of the token request (`tls_config`; its keys as the endpoint's).
    pub tls_config: Option<TokenTlsConfig>,
    /// A proxy for the token request.
    pub proxy_url: Option<String>,
    /// Hosts that bypass `proxy_url`.
    pub no_proxy: Option<String>,
    /// Take the proxy from the environment.
    pub proxy_from_environment: bool,
    /// Headers sent to the proxy with CONNECT.
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
}

/// `oauth2.tls_config`: the keys of an endpoint's `tls_config`, for the token request.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenTlsConfig {
    /// Inline PEM CA certificates.
    pub ca: Option<String>,
    /// A PEM file of CA certificates.
    pub ca_file: Option<PathBuf>,
    /// Inline PEM client certificate.
    pub cert: Option<String>,
    /// A PEM client certificate file.
    pub cert_file: Option<PathBuf>,
    /// Inline PEM client key.
    pub key: Option<Secret>,
    /// A PEM client key file.
    pub key_file: Option<PathBuf>,
    /// The name to verify the server certificate against.
    pub server_name: Option<String>,
    /// Skip verifying the server certificate.
    pub insecure_skip_verify: bool,
    /// `TLS10` ..= `TLS13`.
    pub min_version: Option<String>,
    /// `TLS10` ..= `TLS13`.
    pub max_version: Option<String>,
}

impl TokenTlsConfig {
    /// These settings as an endpoint's [`TlsConfig`], for the token request's agent. The error
    /// names a `min_version` or `max_version` that is not a TLS version (the configuration
    /// check refuses it first).
    pub fn to_tls_config(&self) -> Result<TlsConfig, String> {
        let version = |field: &str, text: &Option<String>| match text {
            None => Ok(None),
            Some(text) => TlsVersion::parse(text)
                .map(Some)
                .ok_or_else(|| format!("oauth2.tls_config.{field}: unknown TLS version {text:?}")),
        };
        Ok(TlsConfig {
            ca_file: self.ca_file.clone(),
            ca: self.ca.clone(),
            cert_file: self.cert_file.clone(),
            cert: self.cert.clone(),
            key_file: self.key_file.clone(),
            key: self.key.clone(),
            min_version: version("min_version", &self.min_version)?,
            max_version: version("max_version", &self.max_version)?,
            server_name: self.server_name.clone(),
            insecure_skip_verify: self.insecure_skip_verify,
        })
    }
}

/// The JWT bearer grant type's name.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

impl OAuth2Config {
    /// Prometheus's rules for the block.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.client_id.is_empty() {
            return Err("oauth2 client_id must be configured".into());
        }
        if self.token_url.is_empty() {
            return Err("oauth2 token_url must be configured".into());
        }
        match self.grant_type.as_deref() {
            None | Some("") | Some("client_credentials") => {
                if self.client_secret.is_some() && self.client_secret_file.is_some() {
                    return Err("at most one of oauth2 client_secret & client_secret_file must be configured using grant-type=client_credentials".into());
                }
            }
            Some(JWT_BEARER) => {
                if self.client_certificate_key.is_some()
                    && self.client_certificate_key_file.is_some()
                {
                    return Err(format!(
                        "at most one of oauth2 client_certificate_key & client_certificate_key_file must be configured using grant-type={JWT_BEARER}"
                    ));
                }
                if let Some(algorithm) = self.signature_algorithm.as_deref()
                    && !algorithm.is_empty()
                    && !["RS256", "RS384", "RS512"].contains(&algorithm)
                {
                    return Err("valid signature algorithms are RS256, RS384 and RS512".into());
                }
            }
            Some(other) => {
                return Err(format!(
                    "oauth2 grant_type {other:?} is not supported: use client_credentials or {JWT_BEARER}"
                ));
            }
        }
        // prometheus/common's ProxyConfig.Validate; an empty proxy_url or no_proxy is unset.
        let proxy_url = !blank(&self.proxy_url);
        let no_proxy = !blank(&self.no_proxy);
        if !self.proxy_connect_header.is_empty() && !self.proxy_from_environment && !proxy_url {
            return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
        }
        if self.proxy_from_environment && proxy_url {
            return Err(
                "if proxy_from_environment is configured, proxy_url must not be configured".into(),
            );
        }
        if self.proxy_from_environment && no_proxy {
            return Err(
                "if proxy_from_environment is configured, no_proxy must not be configured".into(),
            );
        }
        if no_proxy && !proxy_url {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        if let Some(tls) = &self.tls_config {
            for version in [&tls.min_version, &tls.max_version].into_iter().flatten() {
                if TlsVersion::parse(version).is_none() {
                    return Err(format!("unknown TLS version: {version}"));
                }
            }
        }
        Ok(())
    }
}

/// `azuread.managed_identity`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureManagedIdentity {
    /// The identity's client ID (a UUID); blank for the default managed identity.
    pub client_id: String,
}

/// `azuread.workload_identity`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureWorkloadIdentity {
    /// The application's client ID (a UUID).
    pub client_id: String,
    /// The tenant ID (a UUID).
    pub tenant_id: String,
    /// The federated token file; default `AZURE_FEDERATED_TOKEN_FILE`, else
    /// `/var/run/secrets/azure/tokens/azure-identity-token`.
    pub token_file_path: Option<PathBuf>,
}

/// `azuread.oauth`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureOAuth {
    /// The application's client ID (a UUID).
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// The tenant ID.
    pub tenant_id: String,
}

/// `azuread.certificate`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureCertificate {
    /// The application's client ID.
    pub client_id: String,
    /// The tenant ID.
    pub tenant_id: String,
    /// The certificate file.
    pub certificate_path: PathBuf,
    /// The private key file, when not in the certificate file.
    pub certificate_key_path: Option<PathBuf>,
    /// The password of a PFX/PKCS12 file.
    pub certificate_password: Option<Secret>,
    /// Send the certificate chain in the `x5c` header.
    pub send_certificate_chain: bool,
}

/// `azuread.sdk`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureSdk {
    /// The tenant ID.
    pub tenant_id: String,
}

/// `azuread`: Azure AD tokens for Azure Monitor managed service for Prometheus.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureAdConfig {
    /// `AzurePublic` (default), `AzureChina` or `AzureGovernment`.
    pub cloud: Option<String>,
    /// A managed identity.
    pub managed_identity: Option<AzureManagedIdentity>,
    /// A workload identity (federated token file).
    pub workload_identity: Option<AzureWorkloadIdentity>,
    /// An application's client credentials.
    pub oauth: Option<AzureOAuth>,
    /// An application's certificate.
    pub certificate: Option<AzureCertificate>,
    /// The Azure SDK's default chain.
    pub sdk: Option<AzureSdk>,
    /// A custom scope instead of the cloud's monitoring scope.
    pub scope: Option<String>,
}

impl AzureAdConfig {
    /// Prometheus's rules for the block.
    pub(crate) fn check(&self) -> Result<(), String> {
        let cloud = self.cloud.as_deref().unwrap_or("AzurePublic");
        if !["AzurePublic", "AzureChina", "AzureGovernment"].contains(&cloud) {
            return Err("must provide a cloud in the Azure AD config".into());
        }
        let methods = [
            self.managed_identity.is_some(),
            self.workload_identity.is_some(),
            self.oauth.is_some(),
            self.sdk.is_some(),
            self.certificate.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if methods == 0 {
            return Err("must provide an Azure Managed Identity, Azure Workload Identity, Azure OAuth, Azure Certificate or Azure SDK in the Azure AD config".into());
        }
        if methods > 1 {
            return Err(
                "cannot provide multiple authentication methods in the Azure AD config".into(),
            );
        }
        if let Some(identity) = &self.managed_identity
            && !identity.client_id.is_empty()
            && !is_uuid(&identity.client_id)
        {
            return Err("the provided Azure Managed Identity client_id is invalid".into());
        }
        if let Some(identity) = &self.workload_identity {
            if identity.client_id.is_empty() {
                return Err(
                    "must provide an Azure Workload Identity client_id in the Azure AD config"
                        .into(),
                );
            }
            if identity.tenant_id.is_empty() {
                return Err(
                    "must provide an Azure Workload Identity tenant_id in the Azure AD config"
                        .into(),
                );
            }
            if !is_uuid(&identity.client_id) {
                return Err("the provided Azure Workload Identity client_id is invalid".into());
            }
            if !is_uuid(&identity.tenant_id) {
                return Err("the provided Azure Workload Identity tenant_id is invalid".into());
            }
        }
        if let Some(oauth) = &self.oauth {
            if oauth.client_id.is_empty() {
                return Err("must provide an Azure OAuth client_id in the Azure AD config".into());
            }
            if oauth.client_secret.expose().is_empty() {
                return Err(
                    "must provide an Azure OAuth client_secret in the Azure AD config".into(),
                );
            }
            if oauth.tenant_id.is_empty() {
                return Err("must provide an Azure OAuth tenant_id in the Azure AD config".into());
            }
            if !is_uuid(&oauth.client_id) {
                return Err("the provided Azure OAuth client_id is invalid".into());
            }
            if !is_tenant_id(&oauth.tenant_id) {
                return Err("the provided Azure OAuth tenant_id is invalid".into());
            }
        }
        if let Some(sdk) = &self.sdk
            && !sdk.tenant_id.is_empty()
            && !is_tenant_id(&sdk.tenant_id)
        {
            return Err("the provided Azure SDK tenant_id is invalid".into());
        }
        if let Some(certificate) = &self.certificate {
            if certificate.client_id.is_empty() {
                return Err(
                    "must provide an Azure Certificate client_id in the Azure AD config".into(),
                );
            }
            if certificate.tenant_id.is_empty() {
                return Err(
                    "must provide an Azure Certificate tenant_id in the Azure AD config".into(),
                );
            }
            if certificate.certificate_path.as_os_str().is_empty() {
                return Err(
                    "must provide an Azure Certificate certificate_path in the Azure AD config"
                        .into(),
                );
            }
            if !is_uuid(&certificate.client_id) {
                return Err("the provided Azure Certificate client_id is invalid".into());
            }
        }
        if let Some(scope) = self.scope.as_deref()
            && !scope.is_empty()
            && !is_scope(scope)
        {
            return Err("the provided scope contains invalid characters".into());
        }
        Ok(())
    }
}

/// promrw extension (`promrw.identity_endpoints`): where the identity services are, for tests
/// and private clouds. Each unset URL is the public service's: AWS STS at
/// `https://sts.{region}.amazonaws.com/`, the Azure AD authority host of `azuread.cloud`, and
/// the Azure instance metadata service at
/// `http://169.254.169.254/metadata/identity/oauth2/token`. They are never read from the
/// environment.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityEndpoints {
    /// The AWS STS endpoint (`AssumeRole`, `AssumeRoleWithWebIdentity`).
    pub aws_sts_url: Option<String>,
    /// The Azure AD authority host (`{host}/{tenant_id}/oauth2/v2.0/token`).
    pub azure_authority_host: Option<String>,
    /// The Azure instance metadata service's token URL (managed identity).
    pub azure_imds_url: Option<String>,
}

/// `google_iam`: Google Cloud credentials (reserved by Prometheus: Google Cloud does not take
/// remote write).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleIamConfig {
    /// A service account key file.
    pub credentials_file: Option<PathBuf>,
}

fn blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

/// A UUID in its 8-4-4-4-12 hex form (optionally braced or `urn:uuid:`-prefixed, as Go's
/// `uuid.Parse` takes it).
fn is_uuid(text: &str) -> bool {
    let text = text.strip_prefix("urn:uuid:").unwrap_or(text);
    let text = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let groups: Vec<&str> = text.split('-').collect();
    let compact = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
    compact
        || (groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups
                .iter()
                .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit())))
}

/// A scope as Prometheus takes it (`^[\w\s:/.\-]+$` in Go's RE2: ASCII letters, digits,
/// `_`, whitespace, `:`, `/`, `.` and `-`).
fn is_scope(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_\t\n\x0c\r :/.-".contains(&b))
}

/// A tenant ID as Azure takes it: letters, digits, `-` and `.`.
fn is_tenant_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}
