//! SigV4 credentials: which source an endpoint's `sigv4` block takes them from, resolved when
//! the sender starts in the order of Prometheus's signer (aws-sdk-go-v2's default chain),
//! and the temporary credentials of STS cached and renewed before they expire.
//!
//! The order:
//!
//! 1. `access_key` and `secret_key` in the block;
//! 2. a profile named by `profile` (or `AWS_PROFILE`), from the shared files;
//! 3. `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`);
//! 4. `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (`AWS_ROLE_SESSION_NAME`): STS
//!    `AssumeRoleWithWebIdentity`, the token file read again at each renewal;
//! 5. the `default` profile of the shared files.
//!
//! A profile holds static keys, or `role_arn` with `source_profile` (AssumeRole with that
//! profile's credentials) or with `web_identity_token_file`. Then `role_arn` in the block
//! assumes that role with the credentials found, passing `external_id`. The EC2 and ECS
//! metadata services, `credential_process` and SSO are not read: a profile that needs them
//! is refused by name, and finding no credentials at all fails `Sender::new`.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::config::{Secret, SigV4Config};

use super::profile::SharedFiles;
use super::sts::Sts;

/// How long before their expiry temporary credentials are renewed (Prometheus's signer
/// renews them 15 to 30 s before, with jitter; promrw at 30 s).
pub const EXPIRY_WINDOW: Duration = Duration::from_secs(30);

/// Most `source_profile` links followed (a loop is an error).
const MAX_PROFILE_DEPTH: usize = 5;

/// AWS credentials: an access key, its secret and, for temporary ones, the session token and
/// when they expire.
#[derive(Clone)]
pub struct AwsCredentials {
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
    /// When temporary credentials expire.
    pub expires: Option<SystemTime>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    /// Static credentials.
    pub fn fixed(access_key_id: &str, secret: &str, session_token: Option<&str>) -> Self {
        AwsCredentials {
            access_key_id: access_key_id.to_string(),
            secret_access_key: Secret::new(secret),
            session_token: session_token.filter(|t| !t.is_empty()).map(Secret::new),
            expires: None,
        }
    }

    /// Whether these credentials are still good at `now`, with the renewal window.
    fn fresh(&self, now: SystemTime) -> bool {
        self.expires
            .is_none_or(|expires| now + EXPIRY_WINDOW < expires)
    }
}

/// The process's environment, or a stand-in for tests.
pub trait Environment {
    /// The variable's value; `None` when unset or empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real environment of the process.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

/// Where credentials come from, and how temporary ones are renewed.
#[derive(Debug)]
pub enum CredentialSource {
    /// Long-lived credentials (the block's keys, the environment's, a profile's); `origin`
    /// says which, for logs.
    Fixed {
        /// The credentials.
        credentials: AwsCredentials,
        /// Where they were found.
        origin: String,
    },
    /// STS `AssumeRoleWithWebIdentity` with the token file's contents.
    WebIdentity {
        /// The web identity token file, read at each renewal.
        token_file: PathBuf,
        /// The role assumed.
        role_arn: String,
        /// The role session name.
        session_name: String,
    },
    /// STS `AssumeRole` with the credentials of `base`.
    AssumeRole {
        /// The credentials that assume the role.
        base: Box<CredentialProvider>,
        /// The role assumed.
        role_arn: String,
        /// The external ID, when the role's trust policy asks for one.
        external_id: Option<String>,
        /// The role session name.
        session_name: String,
    },
}

/// A credential source with its cache of temporary credentials; fetches are made one at a
/// time (the cache's lock is held while STS answers: the other shards wait for the result).
#[derive(Debug)]
pub struct CredentialProvider {
    source: CredentialSource,
    cache: Mutex<Option<AwsCredentials>>,
}

impl CredentialProvider {
    /// A provider over `source`.
    pub fn new(source: CredentialSource) -> Self {
        CredentialProvider {
            source,
            cache: Mutex::new(None),
        }
    }

    /// The source, for logs and tests.
    pub fn source(&self) -> &CredentialSource {
        &self.source
    }

    /// Credentials good at `now`: fixed ones, or the cached temporary ones, renewed through
    /// `sts` when they expire within [`EXPIRY_WINDOW`]. The error says why none could be had.
    pub fn credentials(&self, sts: &Sts, now: SystemTime) -> Result<AwsCredentials, String> {
        let (role_arn, session_name) = match &self.source {
            CredentialSource::Fixed { credentials, .. } => return Ok(credentials.clone()),
            CredentialSource::WebIdentity {
                role_arn,
                session_name,
                ..
            }
            | CredentialSource::AssumeRole {
                role_arn,
                session_name,
                ..
            } => (role_arn, session_name),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.as_ref()
            && cached.fresh(now)
        {
            return Ok(cached.clone());
        }
        let fetched = match &self.source {
            CredentialSource::Fixed { .. } => unreachable!("returned above"),
            CredentialSource::WebIdentity { token_file, .. } => {
                let token = std::fs::read_to_string(token_file).map_err(|e| {
                    format!(
                        "sigv4: cannot read the web identity token file {}: {e}",
                        token_file.display()
                    )
                })?;
                sts.assume_role_with_web_identity(role_arn, session_name, token.trim())?
            }
            CredentialSource::AssumeRole {
                base, external_id, ..
            } => {
                let base = base.credentials(sts, now)?;
                sts.assume_role(&base, role_arn, external_id.as_deref(), session_name)?
            }
        };
        *cache = Some(fetched.clone());
        Ok(fetched)
    }

    /// Forgets cached temporary credentials (the endpoint refused the signature): the next
    /// request gets new ones. True when there was something to renew.
    pub fn invalidate(&self) -> bool {
        match &self.source {
            CredentialSource::Fixed { .. } => false,
            CredentialSource::WebIdentity { .. } => {
                *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
                true
            }
            CredentialSource::AssumeRole { base, .. } => {
                base.invalidate();
                *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
                true
            }
        }
    }
}

/// What the sender starts with: the region to sign for and where credentials come from.
#[derive(Debug)]
pub struct Resolved {
    /// The signing region.
    pub region: String,
    /// The credentials.
    pub provider: CredentialProvider,
}

/// Resolves the block against the environment and the shared files, as described in the
/// module's documentation. Errors are Prometheus's where it has them ("region not configured
/// in sigv4 or in default credentials chain", "could not get SigV4 credentials: ...").
pub fn resolve(config: &SigV4Config, env: &dyn Environment) -> Result<Resolved, String> {
    let home = env.var("HOME").map(PathBuf::from);
    let shared_path = |var: &str, file: &str| {
        env.var(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|home| home.join(".aws").join(file)))
            .unwrap_or_else(|| PathBuf::from(format!("~/.aws/{file}")))
    };
    let files = SharedFiles::load(
        shared_path("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        shared_path("AWS_CONFIG_FILE", "config"),
    )
    .map_err(|e| format!("could not get SigV4 credentials: {e}"))?;
    let named_profile = nonblank(&config.profile).or_else(|| env.var("AWS_PROFILE"));
    let profile = named_profile.clone().unwrap_or_else(|| "default".into());
    let region = nonblank(&config.region)
        .or_else(|| env.var("AWS_REGION"))
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .or_else(|| files.get(&profile, "region").map(str::to_string))
        .ok_or("region not configured in sigv4 or in default credentials chain")?;
    let base = base_source(config, env, &files, named_profile.as_deref())
        .map_err(|e| format!("could not get SigV4 credentials: {e}"))?;
    let provider = match nonblank(&config.role_arn) {
        Some(role_arn) => CredentialProvider::new(CredentialSource::AssumeRole {
            base: Box::new(CredentialProvider::new(base)),
            role_arn,
            external_id: nonblank(&config.external_id),
            session_name: session_name(None),
        }),
        None => CredentialProvider::new(base),
    };
    Ok(Resolved { region, provider })
}

/// The credentials before `role_arn`: steps 1 to 5 of the module's order.
fn base_source(
    config: &SigV4Config,
    env: &dyn Environment,
    files: &SharedFiles,
    named_profile: Option<&str>,
) -> Result<CredentialSource, String> {
    if let (Some(key), Some(secret)) = (nonblank(&config.access_key), &config.secret_key)
        && !secret.expose().is_empty()
    {
        return Ok(CredentialSource::Fixed {
            credentials: AwsCredentials::fixed(&key, secret.expose(), None),
            origin: "the sigv4 block".into(),
        });
    }
    if let Some(profile) = named_profile {
        return profile_source(files, profile, 0);
    }
    if let (Some(key), Some(secret)) = (
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
    ) {
        let token = env.var("AWS_SESSION_TOKEN");
        return Ok(CredentialSource::Fixed {
            credentials: AwsCredentials::fixed(&key, &secret, token.as_deref()),
            origin: "the environment".into(),
        });
    }
    if let Some(token_file) = env.var("AWS_WEB_IDENTITY_TOKEN_FILE") {
        let role_arn = env.var("AWS_ROLE_ARN").ok_or(
            "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: the web identity needs the role to assume",
        )?;
        return Ok(CredentialSource::WebIdentity {
            token_file: PathBuf::from(token_file),
            role_arn,
            session_name: session_name(env.var("AWS_ROLE_SESSION_NAME")),
        });
    }
    if files.has_profile("default") {
        return profile_source(files, "default", 0);
    }
    Err(format!(
        "no credentials in the sigv4 block, the environment (AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE) or the shared files ({}); promrw does not read the EC2 or ECS metadata services",
        files.describe()
    ))
}

/// The credentials a profile describes.
fn profile_source(
    files: &SharedFiles,
    profile: &str,
    depth: usize,
) -> Result<CredentialSource, String> {
    if !files.has_profile(profile) {
        return Err(format!(
            "profile {profile:?} not found in {}",
            files.describe()
        ));
    }
    if depth > MAX_PROFILE_DEPTH {
        return Err(format!(
            "profile {profile:?}: more than {MAX_PROFILE_DEPTH} source_profile links (a loop?)"
        ));
    }
    let get = |key: &str| files.get(profile, key).map(str::to_string);
    if let Some(role_arn) = get("role_arn") {
        let session_name = session_name(get("role_session_name"));
        if let Some(token_file) = get("web_identity_token_file") {
            return Ok(CredentialSource::WebIdentity {
                token_file: PathBuf::from(token_file),
                role_arn,
                session_name,
            });
        }
        if let Some(source) = get("source_profile") {
            let base = if source == profile {
                static_keys(files, profile)?
            } else {
                profile_source(files, &source, depth + 1)?
            };
            return Ok(CredentialSource::AssumeRole {
                base: Box::new(CredentialProvider::new(base)),
                role_arn,
                external_id: get("external_id"),
                session_name,
            });
        }
        if get("credential_source").is_some() {
            return Err(format!(
                "profile {profile:?}: credential_source is not supported by promrw (it reads no EC2 or ECS metadata service)"
            ));
        }
        return Err(format!(
            "profile {profile:?}: role_arn needs source_profile or web_identity_token_file"
        ));
    }
    static_keys(files, profile)
}

/// A profile's own `aws_access_key_id` and `aws_secret_access_key`.
fn static_keys(files: &SharedFiles, profile: &str) -> Result<CredentialSource, String> {
    let get = |key: &str| files.get(profile, key);
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(key), Some(secret)) => Ok(CredentialSource::Fixed {
            credentials: AwsCredentials::fixed(key, secret, get("aws_session_token")),
            origin: format!("profile {profile:?}"),
        }),
        _ => {
            let unsupported = ["credential_process", "sso_session", "sso_start_url"]
                .into_iter()
                .find(|key| get(key).is_some());
            Err(match unsupported {
                Some(key) => format!("profile {profile:?}: {key} is not supported by promrw"),
                None => format!(
                    "profile {profile:?} has no aws_access_key_id and aws_secret_access_key"
                ),
            })
        }
    }
}

/// The role session name given, or `promrw-<unix nanoseconds>` (the SDKs generate one
/// likewise).
fn session_name(given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("promrw-{nanos}")
    })
}

/// A configured value, `None` when absent or empty.
fn nonblank(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, String>);

    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned().filter(|v| !v.is_empty())
        }
    }

    struct Dir(PathBuf);

    impl Dir {
        fn new(label: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!(
                "promrw-sigv4-{label}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// An environment whose shared files are `credentials` and `config` in `dir`.
    fn env(dir: &Dir, credentials: &str, config: &str, vars: &[(&'static str, &str)]) -> FakeEnv {
        std::fs::write(dir.0.join("credentials"), credentials).unwrap();
        std::fs::write(dir.0.join("config"), config).unwrap();
        let mut map: HashMap<&'static str, String> =
            vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        map.insert(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.0.join("credentials").display().to_string(),
        );
        map.insert(
            "AWS_CONFIG_FILE",
            dir.0.join("config").display().to_string(),
        );
        FakeEnv(map)
    }

    fn fixed_key(resolved: &Resolved) -> (&str, &str) {
        match resolved.provider.source() {
            CredentialSource::Fixed {
                credentials,
                origin,
            } => (credentials.access_key_id.as_str(), origin.as_str()),
            other => panic!("not fixed: {other:?}"),
        }
    }

    fn block(yaml: &str) -> SigV4Config {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn the_chain_is_taken_in_prometheus_order() {
        let dir = Dir::new("order");
        let files = "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n[team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = s\n";
        let config = "[default]\nregion = eu-west-1\n[profile team]\nregion = ap-south-1\n";
        let vars = [
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "tok"),
        ];
        let env_all = env(&dir, files, config, &vars);
        // 1. the block's keys first.
        let resolved = resolve(
            &block("{region: us-east-1, access_key: AKIDBLOCK, secret_key: s}"),
            &env_all,
        )
        .unwrap();
        assert_eq!(fixed_key(&resolved), ("AKIDBLOCK", "the sigv4 block"));
        assert_eq!(resolved.region, "us-east-1");
        // 2. a named profile before the environment; its region from the config file.
        let resolved = resolve(&block("{profile: team}"), &env_all).unwrap();
        assert_eq!(fixed_key(&resolved), ("AKIDTEAM", "profile \"team\""));
        assert_eq!(resolved.region, "ap-south-1");
        // 3. then the environment, with its session token.
        let resolved = resolve(&block("{region: us-west-2}"), &env_all).unwrap();
        assert_eq!(fixed_key(&resolved), ("AKIDENV", "the environment"));
        match resolved.provider.source() {
            CredentialSource::Fixed { credentials, .. } => assert_eq!(
                credentials.session_token.as_ref().map(|t| t.expose()),
                Some("tok")
            ),
            other => panic!("{other:?}"),
        }
        // 4. then web identity.
        let env_web = env(
            &dir,
            files,
            config,
            &[
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa"),
                ("AWS_ROLE_SESSION_NAME", "pod"),
            ],
        );
        let resolved = resolve(&block("{region: us-west-2}"), &env_web).unwrap();
        match resolved.provider.source() {
            CredentialSource::WebIdentity {
                token_file,
                role_arn,
                session_name,
            } => {
                assert_eq!(token_file, &PathBuf::from("/var/run/token"));
                assert_eq!(role_arn, "arn:aws:iam::1:role/irsa");
                assert_eq!(session_name, "pod");
            }
            other => panic!("{other:?}"),
        }
        // 5. then the default profile; the region from AWS_REGION before the file's.
        let env_files = env(&dir, files, config, &[("AWS_REGION", "sa-east-1")]);
        let resolved = resolve(&block("{}"), &env_files).unwrap();
        assert_eq!(fixed_key(&resolved), ("AKIDFILE", "profile \"default\""));
        assert_eq!(resolved.region, "sa-east-1");
        let env_files = env(&dir, files, config, &[]);
        assert_eq!(
            resolve(&block("{}"), &env_files).unwrap().region,
            "eu-west-1"
        );
    }

    #[test]
    fn role_arn_wraps_the_credentials_found_with_its_external_id() {
        let dir = Dir::new("role");
        let env = env(
            &dir,
            "",
            "",
            &[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
        );
        let resolved = resolve(
            &block("{region: us-east-1, role_arn: 'arn:aws:iam::1:role/w', external_id: ext}"),
            &env,
        )
        .unwrap();
        match resolved.provider.source() {
            CredentialSource::AssumeRole {
                base,
                role_arn,
                external_id,
                session_name,
            } => {
                assert_eq!(role_arn, "arn:aws:iam::1:role/w");
                assert_eq!(external_id.as_deref(), Some("ext"));
                assert!(session_name.starts_with("promrw-"), "{session_name}");
                assert!(matches!(base.source(), CredentialSource::Fixed { .. }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn profiles_with_roles_and_what_is_refused() {
        let dir = Dir::new("profiles");
        let config = "[profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = s\n\
            [profile chained]\nrole_arn = arn:aws:iam::1:role/c\nsource_profile = base\nexternal_id = e\n\
            [profile web]\nrole_arn = arn:aws:iam::1:role/web\nweb_identity_token_file = /t\n\
            [profile ec2]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Ec2InstanceMetadata\n\
            [profile process]\ncredential_process = /bin/creds\n\
            [profile loop]\nrole_arn = arn:aws:iam::1:role/l\nsource_profile = loop2\n\
            [profile loop2]\nrole_arn = arn:aws:iam::1:role/l\nsource_profile = loop\n";
        let env = env(&dir, "", config, &[("AWS_REGION", "us-east-1")]);
        let resolved = resolve(&block("{profile: chained}"), &env).unwrap();
        match resolved.provider.source() {
            CredentialSource::AssumeRole {
                base, external_id, ..
            } => {
                assert_eq!(external_id.as_deref(), Some("e"));
                assert!(matches!(base.source(), CredentialSource::Fixed { .. }));
            }
            other => panic!("{other:?}"),
        }
        let resolved = resolve(&block("{profile: web}"), &env).unwrap();
        assert!(matches!(
            resolved.provider.source(),
            CredentialSource::WebIdentity { .. }
        ));
        for (profile, expected) in [
            ("ec2", "credential_source is not supported"),
            ("process", "credential_process is not supported"),
            ("loop", "source_profile links"),
            ("missing", "profile \"missing\" not found"),
        ] {
            let error = resolve(&block(&format!("{{profile: {profile}}}")), &env).unwrap_err();
            assert!(error.contains(expected), "{profile}: {error}");
            assert!(
                error.starts_with("could not get SigV4 credentials"),
                "{error}"
            );
        }
    }

    #[test]
    fn no_region_or_no_credentials_are_prometheus_s_errors() {
        let dir = Dir::new("none");
        let env_none = env(&dir, "", "", &[]);
        assert_eq!(
            resolve(&block("{access_key: a, secret_key: s}"), &env_none).unwrap_err(),
            "region not configured in sigv4 or in default credentials chain"
        );
        let error = resolve(&block("{region: us-east-1}"), &env_none).unwrap_err();
        assert!(
            error.starts_with("could not get SigV4 credentials: no credentials"),
            "{error}"
        );
        let env_web = env(&dir, "", "", &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")]);
        let error = resolve(&block("{region: us-east-1}"), &env_web).unwrap_err();
        assert!(error.contains("AWS_ROLE_ARN"), "{error}");
    }

    #[test]
    fn expiring_credentials_are_not_fresh_within_the_window() {
        let now = SystemTime::now();
        let mut credentials = AwsCredentials::fixed("a", "s", Some("t"));
        assert!(credentials.fresh(now));
        credentials.expires = Some(now + Duration::from_secs(31));
        assert!(credentials.fresh(now));
        credentials.expires = Some(now + Duration::from_secs(29));
        assert!(!credentials.fresh(now));
    }
}
