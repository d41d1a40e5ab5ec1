//! Credentials: builds the `Authorization` header value from `basic_auth` or `authorization`,
//! re-reading credential files (`basic_auth.username_file` and `password_file`,
//! `authorization.credentials_file`) at each request so rotated secrets are picked up, as
//! Prometheus does. A file's contents are trimmed of surrounding whitespace (Go's
//! `strings.TrimSpace`, as Prometheus trims them).

use std::path::Path;
use std::sync::Arc;

use base64::Engine;

use crate::config::{Authorization, BasicAuth, Secret};

use super::azuread::AzureTokenSource;
use super::oauth2::TokenSource;

/// Source of the `Authorization` header of an endpoint.
#[derive(Debug, Clone)]
pub enum AuthSource {
    /// No authorization header.
    None,
    /// HTTP basic authentication.
    Basic(BasicAuth),
    /// `<type> <credentials>`.
    Scheme(Authorization),
    /// OAuth 2.0 access tokens (`oauth2`), fetched and cached by the source.
    OAuth2(Arc<TokenSource>),
    /// Azure AD access tokens (`azuread`), fetched and cached by the source.
    AzureAd(Arc<AzureTokenSource>),
}

impl AuthSource {
    /// From an endpoint's settings (at most one is set; validated earlier).
    pub fn new(basic: Option<&BasicAuth>, authorization: Option<&Authorization>) -> Self {
        match (basic, authorization) {
            (Some(b), _) => AuthSource::Basic(b.clone()),
            (None, Some(a)) => AuthSource::Scheme(a.clone()),
            (None, None) => AuthSource::None,
        }
    }

    /// After a 401 from the endpoint: forgets an OAuth 2.0 or Azure AD token, so that the
    /// request can be sent again at once with a new one (true); false for the other sources,
    /// whose credentials a retry would not change.
    pub fn renew_after_unauthorized(&self) -> bool {
        match self {
            AuthSource::OAuth2(source) => {
                source.invalidate();
                true
            }
            AuthSource::AzureAd(source) => {
                source.invalidate();
                true
            }
            _ => false,
        }
    }

    /// The header value for the next request, or an error naming the unreadable file (or
    /// why no OAuth 2.0 or Azure AD token could be had).
    pub fn header_value(&self) -> Result<Option<Secret>, String> {
        match self {
            AuthSource::None => Ok(None),
            AuthSource::OAuth2(source) => source.header_value().map(Some),
            AuthSource::AzureAd(source) => source.header_value().map(Some),
            AuthSource::Basic(b) => {
                let username = match &b.username_file {
                    Some(file) => read_secret_file(file, "basic_auth.username_file")?,
                    None => b.username.clone(),
                };
                let password = match (&b.password, &b.password_file) {
                    (_, Some(file)) => read_secret_file(file, "basic_auth.password_file")?,
                    (Some(p), None) => p.expose().to_string(),
                    (None, None) => String::new(),
                };
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Ok(Some(Secret::new(format!("Basic {token}"))))
            }
            AuthSource::Scheme(a) => {
                let credentials = match (&a.credentials, &a.credentials_file) {
                    (_, Some(file)) => read_secret_file(file, "authorization.credentials_file")?,
                    (Some(c), None) => c.expose().to_string(),
                    (None, None) => String::new(),
                };
                Ok(Some(Secret::new(format!(
                    "{} {}",
                    a.auth_type, credentials
                ))))
            }
        }
    }

    /// The inline secrets, so they can be scrubbed from error texts.
    pub fn inline_secrets(&self) -> Vec<String> {
        let secret = match self {
            AuthSource::None => None,
            AuthSource::Basic(b) => b.password.as_ref(),
            AuthSource::Scheme(a) => a.credentials.as_ref(),
            AuthSource::OAuth2(source) => return source.inline_secrets(),
            AuthSource::AzureAd(source) => return source.inline_secret().into_iter().collect(),
        };
        secret
            .map(|s| s.expose().to_string())
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Reads a credentials file, trimming surrounding whitespace (as Prometheus does).
fn read_secret_file(path: &Path, field: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .map_err(|e| format!("cannot read {field} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_rotated_bearer() {
        let basic = AuthSource::Basic(BasicAuth {
            username_file: None,
            username: "user".into(),
            password: Some(Secret::new("pass")),
            password_file: None,
        });
        assert_eq!(
            basic.header_value().unwrap().unwrap().expose(),
            "Basic dXNlcjpwYXNz"
        );
        let dir = std::env::temp_dir().join(format!("promrw-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "one\n").unwrap();
        let bearer = AuthSource::Scheme(Authorization {
            auth_type: "Bearer".into(),
            credentials: None,
            credentials_file: Some(file.clone()),
        });
        assert_eq!(
            bearer.header_value().unwrap().unwrap().expose(),
            "Bearer one"
        );
        std::fs::write(&file, "two").unwrap();
        assert_eq!(
            bearer.header_value().unwrap().unwrap().expose(),
            "Bearer two"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            bearer
                .header_value()
                .unwrap_err()
                .contains("credentials_file")
        );
    }

    #[test]
    fn username_file_is_read_at_each_request_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("promrw-auth-user-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let user = dir.join("user");
        let password = dir.join("password");
        std::fs::write(&user, "alice\n").unwrap();
        std::fs::write(&password, "secret\n").unwrap();
        let basic = AuthSource::Basic(BasicAuth {
            username: String::new(),
            username_file: Some(user.clone()),
            password: None,
            password_file: Some(password),
        });
        let decoded = |source: &AuthSource| {
            let value = source.header_value().unwrap().unwrap();
            let token = value.expose().strip_prefix("Basic ").unwrap().to_string();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(token)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(decoded(&basic), "alice:secret");
        // Rotated: the next request sends the new name.
        std::fs::write(&user, "  bob \r\n").unwrap();
        assert_eq!(decoded(&basic), "bob:secret");
        std::fs::remove_file(&user).unwrap();
        let error = basic.header_value().unwrap_err();
        assert!(error.contains("basic_auth.username_file"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
