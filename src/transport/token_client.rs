//! The HTTP client of token requests (an OAuth 2.0 token endpoint, Azure AD's authority, the
//! Azure instance metadata service): an agent of its own, built by the same `transport::tls`
//! code as the endpoint's, and the proxy each request goes through, chosen by a
//! [`ProxyPolicy`] per request as `Transport::send_to` chooses it. The answers are read up to
//! a bound, and transport errors name no proxy password.

use std::io::Read as _;
use std::time::Duration;

use ureq::Agent;
use ureq::http::Response;

use crate::config::TlsConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::log::Logger;
use crate::redact::redact_url;

use super::connect::{Interrupted, InterruptibleTcpConnector};
use super::proxy::{ConnectHeaders, ProxyPolicy};
use super::tls;

/// Most bytes of a successful answer read.
const MAX_ANSWER: u64 = 1 << 20;
/// Most bytes of a refused request's answer kept (for the error message).
const MAX_ERROR_ANSWER: u64 = 512;

/// An agent for token requests and the proxy rules they follow.
pub(super) struct TokenClient {
    agent: Agent,
    proxy: ProxyPolicy,
    /// The proxy URLs as given (they may hold credentials), redacted in error texts.
    proxy_urls: Vec<String>,
    /// The `proxy_connect_header` values, replaced in error texts.
    connect_secrets: Vec<String>,
}

/// What a token request was answered.
pub(super) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body: at most 1 MiB of a 2xx answer, the first 512 bytes of any other.
    pub body: Vec<u8>,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text, trimmed (for the error message of a refused request).
    pub fn text(&self) -> String {
        super::escape_control(String::from_utf8_lossy(&self.body).trim())
    }
}

impl TokenClient {
    /// A client with the TLS settings `tls` and the proxies of `proxy` (sending
    /// `connect_headers` with each CONNECT); each request bounded by `timeout` and given up
    /// once `interrupted` is set.
    pub(super) fn new(
        tls_config: &TlsConfig,
        proxy: ProxyPolicy,
        connect_headers: ConnectHeaders,
        timeout: Duration,
        interrupted: Interrupted,
        logger: &Logger,
    ) -> Result<TokenClient> {
        let settings = tls::build(tls_config, logger)?;
        // No proxy at the agent level (ureq would read the environment): each request is
        // given its own.
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(super::USER_AGENT)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .proxy(None)
            .build();
        let tcp = InterruptibleTcpConnector::new(interrupted.clone(), false);
        let connect_secrets = connect_headers.secrets();
        let agent = tls::agent(config, settings, tcp, connect_headers, interrupted);
        Ok(TokenClient {
            agent,
            proxy_urls: proxy.urls(),
            proxy,
            connect_secrets,
        })
    }

    /// A client with default TLS settings whose requests take their proxy from the
    /// environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, read now), as the cloud SDKs'
    /// default clients do. `what` names the requests in the error of an unusable proxy
    /// variable (`InvalidConfig`).
    pub(super) fn with_environment_proxy(
        what: &str,
        timeout: Duration,
        interrupted: Interrupted,
        logger: &Logger,
    ) -> Result<TokenClient> {
        let proxy =
            ProxyPolicy::from_environment(|name| std::env::var(name).ok()).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "{what} take their proxy from the environment, as the SDK's do: {}",
                        e.message()
                    ),
                )
            })?;
        TokenClient::new(
            &TlsConfig::default(),
            proxy,
            ConnectHeaders::default(),
            timeout,
            interrupted,
            logger,
        )
    }

    /// POSTs `form` (URL-encoded) to `url` with `headers`.
    pub(super) fn post_form(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        form: &[(String, String)],
    ) -> std::result::Result<Answer, String> {
        let pairs = form.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let response = self.post(url, headers)?.send_form(pairs);
        read_answer(response.map_err(|e| self.scrub(&e.to_string()))?)
    }

    /// POSTs `body` as it is (already encoded, e.g. a signed form) to `url` with `headers`.
    pub(super) fn post_body(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::result::Result<Answer, String> {
        let response = self.post(url, headers)?.send(body);
        read_answer(response.map_err(|e| self.scrub(&e.to_string()))?)
    }

    /// A POST to `url` through the proxy chosen for it, with `headers`.
    fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> std::result::Result<ureq::RequestBuilder<ureq::typestate::WithBody>, String> {
        let proxy = self.proxy.proxy_for(url)?;
        let mut request = self.agent.post(url);
        if !self.proxy.is_direct() {
            request = request.config().proxy(proxy).build();
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Ok(request)
    }

    /// GETs `url` with the query parameters `query` (percent-encoded) and `headers`.
    pub(super) fn get(
        &self,
        url: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> std::result::Result<Answer, String> {
        let proxy = self.proxy.proxy_for(url)?;
        let mut request = self.agent.get(url);
        if !self.proxy.is_direct() {
            request = request.config().proxy(proxy).build();
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.query_pairs(query.iter().copied());
        read_answer(request.call().map_err(|e| self.scrub(&e.to_string()))?)
    }

    /// `text` with the proxy URLs' credentials and the CONNECT headers' values removed.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for url in &self.proxy_urls {
            if out.contains(url.as_str()) {
                out = out.replace(url.as_str(), &redact_url(url));
            }
        }
        for secret in &self.connect_secrets {
            out = out.replace(secret.as_str(), "xxxxx");
        }
        out
    }
}

/// The status and the first bytes of the body of `response`.
fn read_answer(mut response: Response<ureq::Body>) -> std::result::Result<Answer, String> {
    let status = response.status().as_u16();
    let limit = if (200..300).contains(&status) {
        MAX_ANSWER
    } else {
        MAX_ERROR_ANSWER
    };
    let mut body = Vec::new();
    let read = response
        .body_mut()
        .as_reader()
        .take(limit)
        .read_to_end(&mut body);
    if let Err(e) = read
        && (200..300).contains(&status)
    {
        return Err(format!("reading the answer failed: {e}"));
    }
    Ok(Answer { status, body })
}
