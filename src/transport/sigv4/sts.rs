//! AWS STS, the two calls SigV4 credentials need: `AssumeRole` (for `role_arn`, signed with
//! the base credentials) and `AssumeRoleWithWebIdentity` (EKS IRSA's token file, unsigned).
//! Blocking POSTs of the query API's form to the regional endpoint
//! (`https://sts.{region}.amazonaws.com/`, `sts-fips` with `use_fips_sts_endpoint`) or to
//! `promrw.identity_endpoints.aws_sts_url`; the XML answers are read with `quick-xml`. The
//! calls go through the proxy of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`),
//! as the AWS SDK's default HTTP client sends them, never through the endpoint's proxy.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::config::Secret;
use crate::error::Result;
use crate::log::Logger;
use crate::redact::redact_url;
use crate::transport::connect::Interrupted;
use crate::transport::token_client::TokenClient;

use super::credentials::AwsCredentials;
use super::sign::{SigningScope, sign_request};

/// The STS query API's version.
const API_VERSION: &str = "2011-06-15";
/// Most bytes of a refused call's answer quoted in the error.
const MAX_ERROR_TEXT: usize = 512;

/// A blocking STS client for one endpoint's credentials.
pub struct Sts {
    client: TokenClient,
    url: String,
    shown_url: String,
    region: String,
}

impl std::fmt::Debug for Sts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sts")
            .field("url", &self.shown_url)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The answer of both calls: `<...Result><Credentials>...</Credentials></...Result>`.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "AssumeRoleResult", alias = "AssumeRoleWithWebIdentityResult")]
    result: AnswerResult,
}

#[derive(Deserialize)]
struct AnswerResult {
    #[serde(rename = "Credentials")]
    credentials: AnswerCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnswerCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

/// `<ErrorResponse><Error><Code>..</Code><Message>..</Message></Error></ErrorResponse>`.
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(rename = "Error")]
    error: ErrorDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl Sts {
    /// The client for `region`, at `url` when given (else the public regional endpoint, the
    /// FIPS one with `fips`), each call bounded by `timeout` and given up once `interrupted`
    /// is set.
    pub(crate) fn new(
        url: Option<&str>,
        region: &str,
        fips: bool,
        timeout: Duration,
        interrupted: Interrupted,
        logger: &Logger,
    ) -> Result<Sts> {
        let url = match url {
            Some(url) => url.to_string(),
            None if fips => format!("https://sts-fips.{region}.amazonaws.com/"),
            None => format!("https://sts.{region}.amazonaws.com/"),
        };
        let client = TokenClient::with_environment_proxy(
            "sigv4: STS requests",
            timeout,
            interrupted,
            logger,
        )?;
        Ok(Sts {
            client,
            shown_url: redact_url(&url),
            url,
            region: region.to_string(),
        })
    }

    /// `AssumeRole`: temporary credentials of `role_arn`, asked for with `base`.
    pub fn assume_role(
        &self,
        base: &AwsCredentials,
        role_arn: &str,
        external_id: Option<&str>,
        session_name: &str,
    ) -> std::result::Result<AwsCredentials, String> {
        let mut form = vec![
            ("Action", "AssumeRole"),
            ("Version", API_VERSION),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
        ];
        if let Some(external_id) = external_id {
            form.push(("ExternalId", external_id));
        }
        self.call("AssumeRole", &form, Some(base))
    }

    /// `AssumeRoleWithWebIdentity`: temporary credentials of `role_arn` for the web identity
    /// `token` (unsigned: the token is the credential).
    pub fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
    ) -> std::result::Result<AwsCredentials, String> {
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", API_VERSION),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("WebIdentityToken", token),
        ];
        self.call("AssumeRoleWithWebIdentity", &form, None)
            .map_err(|e| e.replace(token, "xxxxx"))
    }

    /// One call: the form POSTed (signed with `signer` when given) and the answer read.
    fn call(
        &self,
        action: &str,
        form: &[(&str, &str)],
        signer: Option<&AwsCredentials>,
    ) -> std::result::Result<AwsCredentials, String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().copied())
            .finish();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut headers: Vec<(String, String)> = vec![("Content-Type".into(), content_type.into())];
        if let Some(credentials) = signer {
            let scope = SigningScope {
                region: &self.region,
                service: "sts",
            };
            let signed = sign_request(
                credentials,
                scope,
                "POST",
                &self.url,
                &[("content-type", content_type)],
                body.as_bytes(),
                SystemTime::now(),
            )?;
            headers.extend(signed);
        }
        let failed = |what: String| format!("sigv4: STS {action} at {}: {what}", self.shown_url);
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let answer = self
            .client
            .post_body(&self.url, &header_refs, body.as_bytes())
            .map_err(|e| failed(format!("request failed: {e}")))?;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        if !answer.is_success() {
            let detail = match quick_xml::de::from_str::<ErrorAnswer>(&text) {
                Ok(answer) => format!("{}: {}", answer.error.code, answer.error.message),
                Err(_) => text.chars().take(MAX_ERROR_TEXT).collect(),
            };
            return Err(failed(format!(
                "answered HTTP {}: {}",
                answer.status,
                crate::transport::escape_control(detail.trim())
            )));
        }
        let answer: Answer = quick_xml::de::from_str(&text)
            .map_err(|e| failed(format!("answered without usable credentials: {e}")))?;
        let credentials = answer.result.credentials;
        let expires = parse_expiration(&credentials.expiration).ok_or_else(|| {
            failed(format!(
                "answered an unreadable Expiration {:?}",
                credentials.expiration
            ))
        })?;
        Ok(AwsCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: Secret::new(credentials.secret_access_key),
            session_token: Some(Secret::new(credentials.session_token)),
            expires: Some(expires),
        })
    }
}

/// An ISO 8601 / RFC 3339 timestamp (`2026-12-02T03:04:05Z`, fractional seconds allowed).
fn parse_expiration(text: &str) -> Option<SystemTime> {
    let parsed =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some(SystemTime::from(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_both_calls_are_read() {
        for (root, result) in [
            ("AssumeRoleResponse", "AssumeRoleResult"),
            (
                "AssumeRoleWithWebIdentityResponse",
                "AssumeRoleWithWebIdentityResult",
            ),
        ] {
            let xml = format!(
                "<{root} xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{result}><AssumedRoleUser><Arn>a</Arn></AssumedRoleUser><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2026-12-02T03:04:05Z</Expiration></Credentials></{result}><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{root}>"
            );
            let answer: Answer = quick_xml::de::from_str(&xml).unwrap();
            assert_eq!(answer.result.credentials.access_key_id, "ASIA1");
            assert_eq!(answer.result.credentials.secret_access_key, "s&k");
            assert_eq!(answer.result.credentials.session_token, "tok");
        }
        let error: ErrorAnswer = quick_xml::de::from_str(
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error><RequestId>r</RequestId></ErrorResponse>",
        )
        .unwrap();
        assert_eq!(error.error.code, "AccessDenied");
        assert_eq!(error.error.message, "no");
    }

    #[test]
    fn expirations_are_rfc3339() {
        let at = parse_expiration("2026-12-02T03:04:05Z").unwrap();
        let seconds = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(seconds, 1_796_180_645);
        assert!(parse_expiration("2026-12-02T03:04:05.123Z").is_some());
        assert!(parse_expiration("tomorrow").is_none());
    }
}
