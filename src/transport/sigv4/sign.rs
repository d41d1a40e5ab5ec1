//! One AWS Signature Version 4 signature over a request, made by AWS's own `aws-sigv4`
//! crate, with the settings Prometheus's signer (`prometheus/sigv4`, aws-sdk-go-v2) uses:
//! the signature in headers, the path percent-encoded twice and normalised (AWS's rule for
//! every service but S3), the body's SHA-256 in the canonical request without an
//! `x-amz-content-sha256` header, the session token signed, and `Authorization`,
//! `User-Agent`, `X-Amzn-Trace-Id` and `Transfer-Encoding` left out of the signed headers.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::credentials::AwsCredentials;

/// What a signature is made for: the credentials, the region and the service name (`aps`
/// for Amazon Managed Service for Prometheus, `sts` for STS).
#[derive(Debug, Clone, Copy)]
pub struct SigningScope<'a> {
    /// The region the request is signed for.
    pub region: &'a str,
    /// The service name of the credential scope.
    pub service: &'a str,
}

/// The headers that sign a request (`authorization`, `x-amz-date` and, with temporary
/// credentials, `x-amz-security-token`), to be sent with the request's own `headers`.
///
/// `url` is the absolute URL the request goes to, its path as sent; `headers` are every
/// header the request carries besides those the HTTP client adds itself (`Host` is signed
/// from the URL); `body` is the exact body sent. The error says what could not be signed
/// (never a secret).
pub fn sign_request(
    credentials: &AwsCredentials,
    scope: SigningScope<'_>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity: Identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_string(),
        credentials
            .session_token
            .as_ref()
            .map(|token| token.expose().to_string()),
        credentials.expires,
        "promrw",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("sigv4: cannot sign: {e}"))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("sigv4: cannot sign the request to this URL: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("sigv4: cannot sign: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}

/// `path` normalised as Prometheus's signer does before signing and sending: Go's
/// `path.Clean` (repeated slashes collapsed, `.` and `..` segments resolved), except that an
/// empty path stays empty and a trailing slash is kept.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    let rooted = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.last().is_some_and(|last| *last != "..") {
                    segments.pop();
                } else if !rooted {
                    segments.push("..");
                }
            }
            other => segments.push(other),
        }
    }
    let mut cleaned = segments.join("/");
    if rooted {
        cleaned.insert(0, '/');
    }
    if cleaned.is_empty() {
        // Go's path.Clean gives "." here, which Prometheus does not send.
        return path.to_string();
    }
    if cleaned != "/" && path.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// `url` with its path cleaned by [`clean_path`] (scheme, authority and query untouched).
pub fn clean_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let after_scheme = scheme_end + 3;
    let path_start = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| path_start + i);
    format!(
        "{}{}{}",
        &url[..path_start],
        clean_path(&url[path_start..path_end]),
        &url[path_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_as_prometheus_does() {
        for (path, cleaned) in [
            ("/api/v1/remote_write", "/api/v1/remote_write"),
            (
                "/workspaces/ws-1//api/v1/./remote_write",
                "/workspaces/ws-1/api/v1/remote_write",
            ),
            ("/a/b/../c", "/a/c"),
            ("/../a", "/a"),
            ("/a/", "/a/"),
            ("//", "/"),
            ("/", "/"),
            ("", ""),
            ("/a/./", "/a/"),
        ] {
            assert_eq!(clean_path(path), cleaned, "{path:?}");
        }
        assert_eq!(
            clean_url("https://aps.example:8443/ws//api/./write?x=1#f"),
            "https://aps.example:8443/ws/api/write?x=1#f"
        );
        assert_eq!(clean_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(clean_url("http://h/a/../b?q=/../"), "http://h/b?q=/../");
    }
}
