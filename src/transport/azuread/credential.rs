//! Which Azure AD credential an endpoint's `azuread` block stands for, and where its tokens
//! come from, as Prometheus's `storage/remote/azuread` sets up the Azure SDK for Go
//! (`azidentity`):
//!
//! - The scope is `azuread.scope` when set, else the cloud's Azure Monitor audience
//!   (`https://monitor.azure.com//.default`, `.cn` for `AzureChina`, `.us` for
//!   `AzureGovernment`).
//! - Tokens of an application come from the cloud's authority host
//!   (`https://login.microsoftonline.com/`, `https://login.chinacloudapi.cn/`,
//!   `https://login.microsoftonline.us/`, or `promrw.identity_endpoints.azure_authority_host`)
//!   at `{host}/{tenant_id}/oauth2/v2.0/token`, the token endpoint Azure's OpenID
//!   configuration names (promrw does not fetch the discovery documents the SDK reads).
//! - Managed identities get theirs from the instance metadata service
//!   (`http://169.254.169.254/metadata/identity/oauth2/token`, or
//!   `promrw.identity_endpoints.azure_imds_url`). The SDK's other managed-identity sources
//!   (App Service, Service Fabric, Cloud Shell, Azure ML, Azure Arc), which it picks from
//!   `IDENTITY_ENDPOINT`, `MSI_ENDPOINT` and the Arc agent, are not supported: with one of
//!   them present and no `azure_imds_url`, `Sender::new` refuses the configuration rather
//!   than ask a metadata service that is not there.
//! - `sdk` stands for the SDK's `DefaultAzureCredential` chain, chosen once, when the sender
//!   starts, from the environment, among the credentials that need no SDK:
//!   1. `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`: the client secret
//!      (`EnvironmentCredential`). With `AZURE_CLIENT_CERTIFICATE_PATH` or `AZURE_USERNAME`
//!      instead of the secret, the chain would use a certificate or a password, which promrw
//!      refuses by name.
//!   2. `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_CLIENT_ID`, with `sdk.tenant_id` or else
//!      `AZURE_TENANT_ID`: workload identity (`sdk.tenant_id` applies to it only, as the
//!      SDK's `DefaultAzureCredentialOptions.TenantID` does).
//!   3. Otherwise the managed identity, user-assigned when `AZURE_CLIENT_ID` is set.
//!
//!   The chain's developer tools (Azure CLI, Azure Developer CLI) come after the managed
//!   identity and are not supported. `AZURE_TOKEN_CREDENTIALS` narrows the chain as in the
//!   SDK (`prod`, or one of `EnvironmentCredential`, `WorkloadIdentityCredential`,
//!   `ManagedIdentityCredential`); `dev` and the developer tools are refused.

use std::path::{Path, PathBuf};

use crate::config::{AzureAdConfig, IdentityEndpoints, Secret};
use crate::error::{Error, ErrorKind, Result};

/// The Azure Monitor ingestion scope of the public cloud (Prometheus's
/// `IngestionPublicAudience`).
pub const PUBLIC_AUDIENCE: &str = "https://monitor.azure.com//.default";
/// The Azure Monitor ingestion scope of Azure China.
pub const CHINA_AUDIENCE: &str = "https://monitor.azure.cn//.default";
/// The Azure Monitor ingestion scope of Azure Government.
pub const GOVERNMENT_AUDIENCE: &str = "https://monitor.azure.us//.default";

/// The instance metadata service's token URL.
pub const DEFAULT_IMDS_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Where the Azure Workload Identity webhook puts the federated token by default.
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/azure/tokens/azure-identity-token";
/// The Azure Arc agent, whose presence makes the SDK take managed identities from Arc.
pub const ARC_AGENT: &str = "/opt/azcmagent/bin/himds";

/// An Azure cloud (`azuread.cloud`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// `AzurePublic` (the default).
    Public,
    /// `AzureChina`.
    China,
    /// `AzureGovernment`.
    Government,
}

impl Cloud {
    /// The cloud `azuread.cloud` names (validated already: anything else is the public one).
    pub fn named(name: Option<&str>) -> Cloud {
        match name {
            Some("AzureChina") => Cloud::China,
            Some("AzureGovernment") => Cloud::Government,
            _ => Cloud::Public,
        }
    }

    /// The Azure Monitor ingestion scope of the cloud.
    pub fn audience(self) -> &'static str {
        match self {
            Cloud::Public => PUBLIC_AUDIENCE,
            Cloud::China => CHINA_AUDIENCE,
            Cloud::Government => GOVERNMENT_AUDIENCE,
        }
    }

    /// The cloud's Azure AD authority host (the SDK's `cloud.Configuration`).
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com/",
            Cloud::China => "https://login.chinacloudapi.cn/",
            Cloud::Government => "https://login.microsoftonline.us/",
        }
    }
}

/// How tokens are had. `Debug` shows no secret (a [`Secret`] prints `<secret>`).
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// An application's client secret: client-credentials requests to `token_url`.
    ClientSecret {
        /// `{authority}/{tenant}/oauth2/v2.0/token`.
        token_url: String,
        /// The application's client ID.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
    /// Workload identity: client-credentials requests to `token_url` with the federated
    /// token read from `token_file` as the client assertion.
    WorkloadIdentity {
        /// `{authority}/{tenant}/oauth2/v2.0/token`.
        token_url: String,
        /// The application's client ID.
        client_id: String,
        /// The federated (Kubernetes service account) token file, read at each request.
        token_file: PathBuf,
    },
    /// A managed identity: requests to the instance metadata service.
    ManagedIdentity {
        /// The metadata service's token URL.
        imds_url: String,
        /// A user-assigned identity's client ID; `None` for the system-assigned one.
        client_id: Option<String>,
    },
}

impl Credential {
    /// What the credential is, for logs: `client secret of <id>`, ...
    pub fn describe(&self) -> String {
        match self {
            Credential::ClientSecret { client_id, .. } => {
                format!("the client secret of application {client_id}")
            }
            Credential::WorkloadIdentity {
                client_id,
                token_file,
                ..
            } => format!(
                "workload identity {client_id} (federated token file {})",
                token_file.display()
            ),
            Credential::ManagedIdentity {
                client_id: Some(id),
                ..
            } => format!("the user-assigned managed identity {id}"),
            Credential::ManagedIdentity {
                client_id: None, ..
            } => "the system-assigned managed identity".to_string(),
        }
    }
}

/// What the choice of a credential reads of the process: its environment variables and
/// whether the Azure Arc agent is installed.
pub struct Environment<'a> {
    /// The value of an environment variable, if it is set.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// Whether the Azure Arc agent ([`ARC_AGENT`]) is installed.
    pub arc_agent: bool,
}

/// The process's environment variable `name`.
fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Environment<'static> {
    /// This process's environment, read now.
    pub fn of_process() -> Environment<'static> {
        Environment {
            var: &process_var,
            arc_agent: Path::new(ARC_AGENT).exists(),
        }
    }
}

impl Environment<'_> {
    /// Variable `name` when it is set and not empty (as the SDK's `os.Getenv` checks).
    fn get(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.is_empty())
    }
}

/// The scope tokens are asked for: `azuread.scope`, else the cloud's audience.
pub fn scope(config: &AzureAdConfig) -> String {
    match config.scope.as_deref() {
        Some(scope) if !scope.is_empty() => scope.to_string(),
        _ => Cloud::named(config.cloud.as_deref()).audience().to_string(),
    }
}

/// The `resource` a scope stands for at the instance metadata service: the scope without its
/// `/.default` suffix, as the SDK converts it (`https://monitor.azure.com//.default` becomes
/// `https://monitor.azure.com/`).
pub fn resource(scope: &str) -> &str {
    scope.strip_suffix("/.default").unwrap_or(scope)
}

/// The token URL of `tenant` at the authority host of `config`'s cloud (or
/// `azure_authority_host`).
fn token_url(config: &AzureAdConfig, identity: &IdentityEndpoints, tenant: &str) -> String {
    let host = identity
        .azure_authority_host
        .as_deref()
        .unwrap_or_else(|| Cloud::named(config.cloud.as_deref()).authority_host());
    format!("{}/{tenant}/oauth2/v2.0/token", host.trim_end_matches('/'))
}

/// The credential of `config`, choosing `sdk`'s from `env` (see the module documentation).
/// Fails with `InvalidConfig`, naming the key and the environment variable, when what the
/// configuration and the environment ask for is not supported.
pub fn choose(
    config: &AzureAdConfig,
    identity: &IdentityEndpoints,
    env: &Environment<'_>,
) -> Result<Credential> {
    if let Some(oauth) = &config.oauth {
        return Ok(Credential::ClientSecret {
            token_url: token_url(config, identity, &oauth.tenant_id),
            client_id: oauth.client_id.clone(),
            secret: oauth.client_secret.clone(),
        });
    }
    if let Some(workload) = &config.workload_identity {
        // As Prometheus resolves an unset path: AZURE_FEDERATED_TOKEN_FILE, else the
        // webhook's default path.
        let token_file = match &workload.token_file_path {
            Some(path) if !path.as_os_str().is_empty() => path.clone(),
            _ => env
                .get("AZURE_FEDERATED_TOKEN_FILE")
                .map_or_else(|| PathBuf::from(DEFAULT_TOKEN_FILE), PathBuf::from),
        };
        return Ok(Credential::WorkloadIdentity {
            token_url: token_url(config, identity, &workload.tenant_id),
            client_id: workload.client_id.clone(),
            token_file,
        });
    }
    if let Some(managed) = &config.managed_identity {
        let client_id = Some(managed.client_id.clone()).filter(|id| !id.is_empty());
        return managed_identity("azuread.managed_identity", identity, env, client_id);
    }
    if let Some(sdk) = &config.sdk {
        return default_chain(config, identity, env, &sdk.tenant_id);
    }
    if config.certificate.is_some() {
        return Err(refused(
            "azuread.certificate",
            "client certificate authentication is not supported yet",
        ));
    }
    Err(refused(
        "azuread",
        "no authentication method is configured (the configuration check requires one)",
    ))
}

/// Which links of the default chain `AZURE_TOKEN_CREDENTIALS` keeps: (environment, workload
/// identity, managed identity).
fn chain_links(env: &Environment<'_>) -> Result<(bool, bool, bool)> {
    let Some(selected) = env.get("AZURE_TOKEN_CREDENTIALS") else {
        return Ok((true, true, true));
    };
    match selected.trim().to_ascii_lowercase().as_str() {
        "prod" => Ok((true, true, true)),
        "environmentcredential" => Ok((true, false, false)),
        "workloadidentitycredential" => Ok((false, true, false)),
        "managedidentitycredential" => Ok((false, false, true)),
        "dev" | "azureclicredential" | "azuredeveloperclicredential" => Err(refused(
            "azuread.sdk",
            format!(
                "AZURE_TOKEN_CREDENTIALS={selected} selects the Azure SDK's developer tool \
                 credentials (Azure CLI, Azure Developer CLI), which are not supported"
            ),
        )),
        _ => Err(refused(
            "azuread.sdk",
            format!(
                "invalid AZURE_TOKEN_CREDENTIALS value {selected:?}: promrw takes \"prod\", \
                 \"EnvironmentCredential\", \"WorkloadIdentityCredential\" or \
                 \"ManagedIdentityCredential\""
            ),
        )),
    }
}

/// `sdk`: the first credential of the SDK's default chain that the environment configures.
fn default_chain(
    config: &AzureAdConfig,
    identity: &IdentityEndpoints,
    env: &Environment<'_>,
    sdk_tenant: &str,
) -> Result<Credential> {
    let (environment, workload, managed) = chain_links(env)?;
    let client_id = env.get("AZURE_CLIENT_ID");
    if environment && let (Some(tenant), Some(client_id)) = (env.get("AZURE_TENANT_ID"), &client_id)
    {
        if let Some(secret) = env.get("AZURE_CLIENT_SECRET") {
            return Ok(Credential::ClientSecret {
                token_url: token_url(config, identity, &tenant),
                client_id: client_id.clone(),
                secret: Secret::new(secret),
            });
        }
        if env.get("AZURE_CLIENT_CERTIFICATE_PATH").is_some() {
            return Err(refused(
                "azuread.sdk",
                "AZURE_CLIENT_CERTIFICATE_PATH is set: the Azure SDK would authenticate with a \
                 client certificate, which is not supported yet",
            ));
        }
        if env.get("AZURE_USERNAME").is_some() {
            return Err(refused(
                "azuread.sdk",
                "AZURE_USERNAME is set: the Azure SDK would authenticate a user with a \
                 password, which is not supported",
            ));
        }
    }
    if workload {
        let tenant = Some(sdk_tenant.to_string())
            .filter(|t| !t.is_empty())
            .or_else(|| env.get("AZURE_TENANT_ID"));
        if let (Some(file), Some(client_id), Some(tenant)) =
            (env.get("AZURE_FEDERATED_TOKEN_FILE"), &client_id, tenant)
        {
            return Ok(Credential::WorkloadIdentity {
                token_url: token_url(config, identity, &tenant),
                client_id: client_id.clone(),
                token_file: PathBuf::from(file),
            });
        }
    }
    if managed {
        return managed_identity("azuread.sdk", identity, env, client_id);
    }
    Err(refused(
        "azuread.sdk",
        "AZURE_TOKEN_CREDENTIALS selects a credential the environment does not configure",
    ))
}

/// A managed identity through the instance metadata service, refused (naming `key`) where the
/// SDK would take it from another source promrw does not support.
fn managed_identity(
    key: &str,
    identity: &IdentityEndpoints,
    env: &Environment<'_>,
    client_id: Option<String>,
) -> Result<Credential> {
    if identity.azure_imds_url.is_none() {
        let source = if env.get("IDENTITY_ENDPOINT").is_some()
            && env.get("IDENTITY_HEADER").is_some()
        {
            Some("IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service or Service Fabric)")
        } else if env.get("MSI_ENDPOINT").is_some() {
            Some("MSI_ENDPOINT is set (Cloud Shell or Azure ML)")
        } else if (env.get("IDENTITY_ENDPOINT").is_some() && env.get("IMDS_ENDPOINT").is_some())
            || env.arc_agent
        {
            Some("the Azure Arc agent is present")
        } else {
            None
        };
        if let Some(source) = source {
            return Err(refused(
                key,
                format!(
                    "{source}: the Azure SDK would take the managed identity's tokens from \
                     there, which is not supported yet (only the instance metadata service is; \
                     promrw.identity_endpoints.azure_imds_url names it)"
                ),
            ));
        }
    }
    Ok(Credential::ManagedIdentity {
        imds_url: identity
            .azure_imds_url
            .clone()
            .unwrap_or_else(|| DEFAULT_IMDS_URL.to_string()),
        client_id,
    })
}

/// An `InvalidConfig` error for `key`.
fn refused(key: &str, message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("{key}: {message}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{AzureManagedIdentity, AzureOAuth, AzureSdk, AzureWorkloadIdentity};

    const CLIENT: &str = "00000000-0000-0000-0000-00000000000a";
    const TENANT: &str = "00000000-0000-0000-0000-00000000000b";

    /// `choose` with the environment `vars` (no Arc agent).
    fn chosen(config: &AzureAdConfig, vars: &[(&str, &str)]) -> Result<Credential> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = move |name: &str| vars.get(name).cloned();
        let env = Environment {
            var: &var,
            arc_agent: false,
        };
        choose(config, &IdentityEndpoints::default(), &env)
    }

    fn sdk(tenant: &str) -> AzureAdConfig {
        AzureAdConfig {
            sdk: Some(AzureSdk {
                tenant_id: tenant.to_string(),
            }),
            ..AzureAdConfig::default()
        }
    }

    #[test]
    fn scopes_and_authorities_by_cloud() {
        let mut config = AzureAdConfig::default();
        assert_eq!(scope(&config), "https://monitor.azure.com//.default");
        config.cloud = Some("AzureChina".into());
        assert_eq!(scope(&config), "https://monitor.azure.cn//.default");
        config.cloud = Some("AzureGovernment".into());
        assert_eq!(scope(&config), "https://monitor.azure.us//.default");
        assert_eq!(
            token_url(&config, &IdentityEndpoints::default(), "t"),
            "https://login.microsoftonline.us/t/oauth2/v2.0/token"
        );
        config.scope = Some("api://custom/.default".into());
        assert_eq!(scope(&config), "api://custom/.default");
        let identity = IdentityEndpoints {
            azure_authority_host: Some("http://127.0.0.1:1".into()),
            ..IdentityEndpoints::default()
        };
        assert_eq!(
            token_url(&config, &identity, "t"),
            "http://127.0.0.1:1/t/oauth2/v2.0/token"
        );
        assert_eq!(
            resource("https://monitor.azure.com//.default"),
            "https://monitor.azure.com/"
        );
        assert_eq!(resource("https://example.test/x"), "https://example.test/x");
    }

    #[test]
    fn configured_methods() {
        let oauth = AzureAdConfig {
            cloud: Some("AzureChina".into()),
            oauth: Some(AzureOAuth {
                client_id: CLIENT.into(),
                client_secret: Secret::new("s"),
                tenant_id: TENANT.into(),
            }),
            ..AzureAdConfig::default()
        };
        assert_eq!(
            chosen(&oauth, &[]).unwrap(),
            Credential::ClientSecret {
                token_url: format!("https://login.chinacloudapi.cn/{TENANT}/oauth2/v2.0/token"),
                client_id: CLIENT.into(),
                secret: Secret::new("s"),
            }
        );
        let mut workload = AzureAdConfig {
            workload_identity: Some(AzureWorkloadIdentity {
                client_id: CLIENT.into(),
                tenant_id: TENANT.into(),
                token_file_path: None,
            }),
            ..AzureAdConfig::default()
        };
        let file = |c: Credential| match c {
            Credential::WorkloadIdentity { token_file, .. } => token_file,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            file(chosen(&workload, &[]).unwrap()),
            PathBuf::from(DEFAULT_TOKEN_FILE)
        );
        assert_eq!(
            file(chosen(&workload, &[("AZURE_FEDERATED_TOKEN_FILE", "/env/token")]).unwrap()),
            PathBuf::from("/env/token")
        );
        workload.workload_identity.as_mut().unwrap().token_file_path = Some("/cfg".into());
        assert_eq!(
            file(chosen(&workload, &[("AZURE_FEDERATED_TOKEN_FILE", "/env/token")]).unwrap()),
            PathBuf::from("/cfg")
        );
        let managed = AzureAdConfig {
            managed_identity: Some(AzureManagedIdentity {
                client_id: String::new(),
            }),
            ..AzureAdConfig::default()
        };
        assert_eq!(
            chosen(&managed, &[("AZURE_CLIENT_ID", CLIENT)]).unwrap(),
            Credential::ManagedIdentity {
                imds_url: DEFAULT_IMDS_URL.into(),
                client_id: None,
            },
            "managed_identity does not read AZURE_CLIENT_ID"
        );
        let error = chosen(
            &managed,
            &[("IDENTITY_ENDPOINT", "http://x"), ("IDENTITY_HEADER", "h")],
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidConfig);
        assert!(
            error.to_string().contains("azuread.managed_identity")
                && error.to_string().contains("IDENTITY_ENDPOINT"),
            "{error}"
        );
    }

    #[test]
    fn sdk_follows_the_default_chain() {
        let secret = [
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "s3"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/token"),
        ];
        assert!(matches!(
            chosen(&sdk("other"), &secret).unwrap(),
            Credential::ClientSecret { token_url, secret, .. }
                if token_url.contains(&format!("/{TENANT}/")) && secret.expose() == "s3"
        ));
        // Without the secret: workload identity, in sdk.tenant_id's tenant.
        let workload = &secret[..2]
            .iter()
            .chain(&secret[3..])
            .copied()
            .collect::<Vec<_>>();
        assert!(matches!(
            chosen(&sdk("other"), workload).unwrap(),
            Credential::WorkloadIdentity { token_url, token_file, .. }
                if token_url.contains("/other/") && token_file == Path::new("/token")
        ));
        assert!(matches!(
            chosen(&sdk(""), workload).unwrap(),
            Credential::WorkloadIdentity { token_url, .. } if token_url.contains(&format!("/{TENANT}/"))
        ));
        // Neither: the managed identity named by AZURE_CLIENT_ID.
        assert_eq!(
            chosen(&sdk(""), &[("AZURE_CLIENT_ID", CLIENT)]).unwrap(),
            Credential::ManagedIdentity {
                imds_url: DEFAULT_IMDS_URL.into(),
                client_id: Some(CLIENT.into()),
            }
        );
        assert_eq!(
            chosen(&sdk(""), &[]).unwrap(),
            Credential::ManagedIdentity {
                imds_url: DEFAULT_IMDS_URL.into(),
                client_id: None,
            }
        );
        // A secret without a tenant is no EnvironmentCredential.
        assert!(matches!(
            chosen(
                &sdk("t"),
                &[("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", "s")]
            )
            .unwrap(),
            Credential::ManagedIdentity { .. }
        ));
        for (extra, named) in [
            (
                ("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"),
                "AZURE_CLIENT_CERTIFICATE_PATH",
            ),
            (("AZURE_USERNAME", "u"), "AZURE_USERNAME"),
            (
                ("AZURE_TOKEN_CREDENTIALS", "dev"),
                "AZURE_TOKEN_CREDENTIALS",
            ),
            (
                ("AZURE_TOKEN_CREDENTIALS", "bogus"),
                "AZURE_TOKEN_CREDENTIALS",
            ),
        ] {
            let vars = [
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", CLIENT),
                extra,
            ];
            let error = chosen(&sdk(""), &vars).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidConfig);
            assert!(
                error.message().starts_with("azuread.sdk: ") && error.message().contains(named),
                "{error}"
            );
        }
        let only_managed = [
            ("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential"),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "s"),
        ];
        assert!(matches!(
            chosen(&sdk(""), &only_managed).unwrap(),
            Credential::ManagedIdentity { .. }
        ));
        let only_environment = [("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")];
        assert!(chosen(&sdk(""), &only_environment).is_err());
    }

    #[test]
    fn the_certificate_is_refused_by_name() {
        let config = AzureAdConfig {
            certificate: Some(crate::config::AzureCertificate::default()),
            ..AzureAdConfig::default()
        };
        let error = chosen(&config, &[]).unwrap_err();
        assert!(error.to_string().contains("azuread.certificate"), "{error}");
    }
}
