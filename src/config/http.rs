//! HTTP client settings of a `remote_write` entry beyond the URL and the credentials: custom
//! headers with several values (`http_headers`), the proxy keys, and the TLS versions.

use std::fmt;
use std::path::PathBuf;

use super::Secret;

/// One `http_headers` entry: a header sent with every request, with values given inline, as
/// secrets (hidden in `Debug`) or read from files (each file one value, read at each
/// request, as Prometheus does).
#[derive(Clone, PartialEq, Default)]
pub struct HttpHeader {
    /// The header name.
    pub name: String,
    /// Values given inline.
    pub values: Vec<String>,
    /// Values given inline that are secrets.
    pub secrets: Vec<Secret>,
    /// Files whose contents (surrounding whitespace removed) are further values.
    pub files: Vec<PathBuf>,
}

impl fmt::Debug for HttpHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpHeader")
            .field("name", &self.name)
            .field("values", &self.values.len())
            .field("secrets", &self.secrets.len())
            .field("files", &self.files)
            .finish()
    }
}

/// A TLS protocol version, as `tls_config.min_version`/`max_version` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLS10`: TLS 1.0.
    Tls10,
    /// `TLS11`: TLS 1.1.
    Tls11,
    /// `TLS12`: TLS 1.2.
    Tls12,
    /// `TLS13`: TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// Parses Prometheus's spelling (`TLS10`, `TLS11`, `TLS12`, `TLS13`).
    pub fn parse(text: &str) -> Option<TlsVersion> {
        match text {
            "TLS10" => Some(TlsVersion::Tls10),
            "TLS11" => Some(TlsVersion::Tls11),
            "TLS12" => Some(TlsVersion::Tls12),
            "TLS13" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    /// Prometheus's spelling of the version.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "TLS10",
            TlsVersion::Tls11 => "TLS11",
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        }
    }
}

/// The proxy keys besides `proxy_url`.
#[derive(Clone, PartialEq, Default)]
pub struct ProxyOptions {
    /// `no_proxy`: comma-separated hosts, domains, IPs and CIDRs that bypass `proxy_url`.
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`: use `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` (and their lowercase
    /// forms) instead of `proxy_url`.
    pub from_environment: bool,
    /// `proxy_connect_header`: headers sent to the proxy with each CONNECT request.
    pub connect_headers: Vec<(String, Vec<Secret>)>,
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .connect_headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        f.debug_struct("ProxyOptions")
            .field("no_proxy", &self.no_proxy)
            .field("from_environment", &self.from_environment)
            .field("connect_headers", &names)
            .finish()
    }
}
