//! Proxies: which proxy each request goes through ([`ProxyPolicy`]: `proxy_url`, `no_proxy`,
//! `proxy_from_environment`, with the rules of Prometheus, i.e. of Go's `net/http` and
//! `golang.org/x/net/http/httpproxy`), and the CONNECT tunnel through it
//! ([`ProxyConnector`], which sends `proxy_connect_header`).
//!
//! - `proxy_url` alone: every request goes through the proxy, whatever its host (Go's
//!   `http.ProxyURL`).
//! - `proxy_url` with `no_proxy`, or `proxy_from_environment`: Go's `httpproxy` rules. A
//!   request goes through the proxy for its scheme (`proxy_url` for both; from the
//!   environment, `HTTPS_PROXY` for https URLs and `HTTP_PROXY` for http ones, the upper-case
//!   name first, an empty value counting as unset) unless its host is `localhost` or a
//!   loopback address, or matches the `no_proxy` list (`NO_PROXY`/`no_proxy` from the
//!   environment): comma-separated entries, each `*` (every host), an IP address or CIDR
//!   range, or a domain name that matches itself and its subdomains (`.example.com` and
//!   `*.example.com` only the subdomains); an IP address or domain may end in `:port`, and
//!   then matches that port only. The environment is read when the transport is made (when
//!   the sender starts). As in Go, with `REQUEST_METHOD` set (a CGI program) `HTTP_PROXY` is
//!   refused for http URLs.
//!
//! ureq does not support custom CONNECT headers, so the tunnel is promrw's own: a TCP
//! connection to the proxy (the chain's interruptible connector, round-robin DNS included),
//! TLS to an https proxy (checked against the proxy's host), then `CONNECT host:port` with
//! `Host`, `User-Agent`, the `proxy_connect_header` headers (each value on a line of its own)
//! and the proxy URL's credentials as `Proxy-Authorization: Basic`. The proxy must answer
//! 200. Like ureq (and unlike Go, which forwards plain-http requests to the proxy instead),
//! promrw tunnels http URLs with CONNECT too, so `proxy_connect_header` goes to the proxy for
//! them as well.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use ureq::Proxy;
use ureq::ProxyProtocol;
use ureq::http::Uri;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, Transport, TransportAdapter,
};

use super::connect::InterruptibleTcpConnector;
use super::tls::{TlsSettings, handshake, host_name};
use crate::config::{EndpointConfig, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::redact::redact_url;

/// Which proxy, if any, each request of an endpoint goes through.
#[derive(Debug, Clone)]
pub enum ProxyPolicy {
    /// No proxy.
    Direct,
    /// `proxy_url` without `no_proxy`: every request goes through it.
    Always(Proxy),
    /// `proxy_url` with `no_proxy`, or `proxy_from_environment`: per request, by its URL.
    PerUrl(Arc<ProxyRules>),
}

/// Go's `httpproxy` rules: a proxy per scheme and the hosts that bypass it.
#[derive(Debug)]
pub struct ProxyRules {
    /// For http URLs.
    http: Option<Proxy>,
    /// For https URLs.
    https: Option<Proxy>,
    /// The hosts that bypass the proxy.
    no_proxy: NoProxy,
    /// `REQUEST_METHOD` is set: `HTTP_PROXY` may come from a client, refuse it.
    cgi: bool,
}

impl ProxyPolicy {
    /// The policy of `endpoint`, reading the proxy environment variables now when it has
    /// `proxy_from_environment`. Fails on a proxy URL promrw cannot use (SOCKS, or not a URL).
    pub fn from_endpoint(endpoint: &EndpointConfig) -> Result<ProxyPolicy> {
        ProxyPolicy::from_keys(
            "",
            endpoint.proxy_url.as_deref(),
            endpoint.proxy.no_proxy.as_deref(),
            endpoint.proxy.from_environment,
        )
    }

    /// The policy of the proxy keys `proxy_url`, `no_proxy` and `proxy_from_environment`
    /// (an endpoint's, or another block's such as `oauth2`'s, whose errors name the keys
    /// after `prefix`), reading the proxy environment variables now with
    /// `from_environment`. An empty `proxy_url` or `no_proxy` counts as unset. Fails on a
    /// proxy URL promrw cannot use (SOCKS, or not a URL).
    pub fn from_keys(
        prefix: &str,
        proxy_url: Option<&str>,
        no_proxy: Option<&str>,
        from_environment: bool,
    ) -> Result<ProxyPolicy> {
        if from_environment {
            return ProxyPolicy::from_environment(|name| std::env::var(name).ok());
        }
        let Some(url) = proxy_url.filter(|u| !u.is_empty()) else {
            return Ok(ProxyPolicy::Direct);
        };
        let proxy = Proxy::new(url).map_err(|e| {
            invalid(
                &format!("{prefix}proxy_url"),
                format!("{}: {e}", redact_url(url)),
            )
        })?;
        Ok(match no_proxy.filter(|n| !n.is_empty()) {
            None => ProxyPolicy::Always(proxy),
            Some(list) => ProxyPolicy::PerUrl(Arc::new(ProxyRules {
                http: Some(proxy.clone()),
                https: Some(proxy),
                no_proxy: NoProxy::parse(list),
                cgi: false,
            })),
        })
    }

    /// The policy of `proxy_from_environment`, with `var` looking a variable up.
    pub fn from_environment(var: impl Fn(&str) -> Option<String>) -> Result<ProxyPolicy> {
        // Go's getEnvAny: the first of the names that is set and not empty.
        let any = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|name| var(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
        };
        let proxy = |names| match any(names) {
            Some((name, value)) => environment_proxy(name, &value).map(Some),
            None => Ok(None),
        };
        let http = proxy(["HTTP_PROXY", "http_proxy"])?;
        let https = proxy(["HTTPS_PROXY", "https_proxy"])?;
        if http.is_none() && https.is_none() {
            return Ok(ProxyPolicy::Direct);
        }
        let no_proxy = any(["NO_PROXY", "no_proxy"])
            .map_or_else(NoProxy::default, |(_, v)| NoProxy::parse(&v));
        Ok(ProxyPolicy::PerUrl(Arc::new(ProxyRules {
            http,
            https,
            no_proxy,
            cgi: var("REQUEST_METHOD").is_some_and(|v| !v.is_empty()),
        })))
    }

    /// Whether no request ever goes through a proxy (else each request is given its proxy,
    /// or none, by [`ProxyPolicy::proxy_for`]).
    pub fn is_direct(&self) -> bool {
        matches!(self, ProxyPolicy::Direct)
    }

    /// The proxy for a request to `url` (`None`: connect directly), or why the request must
    /// not be made.
    pub fn proxy_for(&self, url: &str) -> std::result::Result<Option<Proxy>, String> {
        match self {
            ProxyPolicy::Direct => Ok(None),
            ProxyPolicy::Always(proxy) => Ok(Some(proxy.clone())),
            ProxyPolicy::PerUrl(rules) => rules.proxy_for(url),
        }
    }

    /// The proxy URLs as given (which may hold credentials), to scrub from error texts.
    pub fn urls(&self) -> Vec<String> {
        let uri = |p: &Proxy| p.uri().to_string();
        match self {
            ProxyPolicy::Direct => Vec::new(),
            ProxyPolicy::Always(proxy) => vec![uri(proxy)],
            ProxyPolicy::PerUrl(rules) => rules.http.iter().chain(&rules.https).map(uri).collect(),
        }
    }
}

impl ProxyRules {
    /// Go's `proxyForURL`: the proxy for `url`'s scheme, unless its host bypasses it.
    fn proxy_for(&self, url: &str) -> std::result::Result<Option<Proxy>, String> {
        let Ok(uri) = url.parse::<Uri>() else {
            return Ok(None);
        };
        let proxy = match uri.scheme_str() {
            Some("https") => self.https.as_ref(),
            Some("http") => {
                if self.http.is_some() && self.cgi {
                    return Err(
                        "proxy_from_environment: refusing to use HTTP_PROXY in a CGI \
                                environment (REQUEST_METHOD is set)"
                            .to_string(),
                    );
                }
                self.http.as_ref()
            }
            _ => None,
        };
        let Some(proxy) = proxy else {
            return Ok(None);
        };
        let host = uri.host().unwrap_or_default();
        let port = match uri.port() {
            Some(port) => port.as_str().to_string(),
            None if uri.scheme_str() == Some("https") => "443".to_string(),
            None => "80".to_string(),
        };
        if self.no_proxy.bypasses(host, &port) {
            return Ok(None);
        }
        Ok(Some(proxy.clone()))
    }
}

/// A proxy named by environment variable `name` (Go's `parseProxy`: a URL, or `host[:port]`
/// for an http proxy). SOCKS proxies, which Go would use, are refused: promrw has no SOCKS
/// support, and ignoring the variable would bypass the proxy.
fn environment_proxy(name: &str, value: &str) -> Result<Proxy> {
    let field = format!("proxy_from_environment: {name}");
    let shown = redact_url(value);
    let url = match value.split_once("://") {
        Some((scheme, _)) => {
            let scheme = scheme.to_ascii_lowercase();
            if scheme.starts_with("socks") {
                return Err(invalid(
                    &field,
                    format!("{shown:?}: SOCKS proxies are not supported"),
                ));
            }
            if scheme != "http" && scheme != "https" {
                return Err(invalid(
                    &field,
                    format!(
                        "unsupported proxy URL {shown:?}: only http:// and https:// proxies are supported"
                    ),
                ));
            }
            value.to_string()
        }
        None => format!("http://{value}"),
    };
    Proxy::new(&url).map_err(|e| invalid(&field, format!("{shown:?}: {e}")))
}

/// The hosts that bypass the proxy: Go's `NO_PROXY` syntax (see the module documentation).
/// Entries that are neither an address nor a name are ignored, as in Go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoProxy {
    /// `*`: every host.
    all: bool,
    /// IP addresses (with a port, or `None` for any) and CIDR ranges.
    ips: Vec<IpRule>,
    /// Domain names.
    domains: Vec<DomainRule>,
}

/// An IP entry of a `no_proxy` list.
#[derive(Debug, Clone, PartialEq)]
enum IpRule {
    /// An address, on a port or (`None`) any.
    Addr(IpAddr, Option<String>),
    /// A range: network address and prefix length.
    Cidr(IpAddr, u8),
}

/// A domain entry of a `no_proxy` list.
#[derive(Debug, Clone, PartialEq)]
struct DomainRule {
    /// `.example.com`: matches the names ending with it.
    suffix: String,
    /// The port, or `None` for any.
    port: Option<String>,
    /// Whether the name itself (`example.com`) matches too: the entry had no leading dot.
    matches_itself: bool,
}

impl NoProxy {
    /// Parses a comma-separated `no_proxy` list as Go's `httpproxy` does.
    pub fn parse(list: &str) -> NoProxy {
        let mut rules = NoProxy::default();
        for entry in list.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                return NoProxy {
                    all: true,
                    ..NoProxy::default()
                };
            }
            if let Some(cidr) = parse_cidr(&entry) {
                rules.ips.push(cidr);
                continue;
            }
            let (host, port) = match split_host_port(&entry) {
                Some((host, port)) => {
                    if host.is_empty() {
                        continue;
                    }
                    (host, Some(port.to_string()).filter(|p| !p.is_empty()))
                }
                None => (entry.as_str(), None),
            };
            if let Ok(ip) = host.parse::<IpAddr>() {
                rules.ips.push(IpRule::Addr(ip.to_canonical(), port));
                continue;
            }
            let host = host
                .strip_prefix('*')
                .filter(|h| h.starts_with('.'))
                .unwrap_or(host);
            let (suffix, matches_itself) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            rules.domains.push(DomainRule {
                suffix,
                port,
                matches_itself,
            });
        }
        rules
    }

    /// Go's `useProxy`, negated: whether a request to `host` (as a URI has it: an IPv6
    /// address in brackets) on `port` goes direct. `localhost` and loopback addresses always
    /// do.
    pub fn bypasses(&self, host: &str, port: &str) -> bool {
        if host == "localhost" {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip = bare.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        if self.all {
            return true;
        }
        let name = bare.trim().to_ascii_lowercase();
        let port_matches = |wanted: &Option<String>| wanted.as_deref().is_none_or(|p| p == port);
        if let Some(ip) = ip {
            let hit = self.ips.iter().any(|rule| match rule {
                IpRule::Addr(addr, wanted) => *addr == ip && port_matches(wanted),
                IpRule::Cidr(network, bits) => in_cidr(ip, *network, *bits),
            });
            if hit {
                return true;
            }
        }
        self.domains.iter().any(|rule| {
            (name.ends_with(&rule.suffix) || (rule.matches_itself && name == rule.suffix[1..]))
                && port_matches(&rule.port)
        })
    }
}

/// `address/bits` as a CIDR range (Go's `net.ParseCIDR`).
fn parse_cidr(entry: &str) -> Option<IpRule> {
    let (address, bits) = entry.split_once('/')?;
    let ip = address.parse::<IpAddr>().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then(|| IpRule::Cidr(ip.to_canonical(), bits))
}

/// Whether `ip` lies in `network/bits` (both of one family).
fn in_cidr(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// Go's `net.SplitHostPort`: `host:port` or `[host]:port` (the port may be empty); `None`
/// without a port or with a colon in an unbracketed host.
fn split_host_port(entry: &str) -> Option<(&str, &str)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return (!port.contains(':')).then_some((host, port));
    }
    let (host, port) = entry.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

/// `proxy_connect_header`: headers sent to the proxy with each CONNECT request. `Debug` shows
/// the names only.
#[derive(Clone, Default)]
pub struct ConnectHeaders(Arc<Vec<(String, Vec<Secret>)>>);

impl ConnectHeaders {
    /// The headers `name: value` for each value, in order.
    pub fn new(headers: Vec<(String, Vec<Secret>)>) -> Self {
        ConnectHeaders(Arc::new(headers))
    }

    /// The inline values, so they can be scrubbed from error texts.
    pub fn secrets(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(_, values)| values.iter().map(|v| v.expose().to_string()))
            .filter(|v| !v.is_empty())
            .collect()
    }
}

impl fmt::Debug for ConnectHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

/// Headers Go's request writer leaves out of a CONNECT request's configured headers: it
/// writes `Host` itself, and `User-Agent` from the headers in place of its own.
const NOT_COPIED: [&str; 5] = [
    "host",
    "user-agent",
    "content-length",
    "transfer-encoding",
    "trailer",
];

/// The chain's first link: for a request through an http(s) proxy, opens the tunnel to the
/// endpoint (see the module documentation); passes without a proxy. A SOCKS proxy fails the
/// connection instead of being bypassed (ureq's SOCKS support is not compiled in).
#[derive(Debug)]
pub struct ProxyConnector {
    tcp: InterruptibleTcpConnector,
    tls: TlsSettings,
    headers: ConnectHeaders,
}

impl ProxyConnector {
    /// A connector reaching proxies with `tcp` (and `tls` for https proxies), sending
    /// `headers` with each CONNECT.
    pub fn new(tcp: InterruptibleTcpConnector, tls: TlsSettings, headers: ConnectHeaders) -> Self {
        ProxyConnector { tcp, tls, headers }
    }

    /// The CONNECT request for `target` (`host:port`) through `proxy`.
    fn request(&self, target: &str, proxy: &Proxy) -> Vec<u8> {
        let mut out = Vec::new();
        let user_agent = self
            .headers
            .0
            .iter()
            .find(|(name, values)| name.eq_ignore_ascii_case("user-agent") && !values.is_empty())
            .map_or(super::USER_AGENT, |(_, values)| values[0].expose());
        let credentials = proxy.username().is_some() || proxy.password().is_some();
        // Writes to a Vec cannot fail.
        let _ = write!(
            out,
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {user_agent}\r\n"
        );
        for (name, values) in self.headers.0.iter() {
            let lower = name.to_ascii_lowercase();
            // The proxy URL's credentials take the place of a configured one, as in Go.
            if NOT_COPIED.contains(&lower.as_str())
                || (credentials && lower == "proxy-authorization")
            {
                continue;
            }
            for value in values {
                let _ = write!(out, "{name}: {}\r\n", value.expose());
            }
        }
        if credentials {
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                proxy.username().unwrap_or_default(),
                proxy.password().unwrap_or_default()
            ));
            let _ = write!(out, "Proxy-Authorization: Basic {token}\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

impl<In: Transport> Connector<In> for ProxyConnector {
    type Out = Either<In, Box<dyn Transport>>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        let Some(proxy) = details.config.proxy() else {
            return Ok(None);
        };
        if !matches!(proxy.protocol(), ProxyProtocol::Http | ProxyProtocol::Https) {
            return Err(ureq::Error::Other(
                "proxy: SOCKS proxies are not supported".into(),
            ));
        }
        if proxy.is_no_proxy(details.uri) {
            return Ok(None);
        }
        let proxy_uri = proxy.uri();
        let addrs = details
            .resolver
            .resolve(proxy_uri, details.config, details.timeout)?;
        let tcp = self.tcp.open(&addrs, details)?;
        let transport: Box<dyn Transport> = if proxy.protocol() == ProxyProtocol::Https {
            Box::new(handshake(
                &self.tls,
                Box::new(tcp),
                host_name(proxy_uri)?,
                details,
            )?)
        } else {
            Box::new(tcp)
        };
        let target = target(details.uri)?;
        let mut writer = TransportAdapter::new(transport, details.current_time.clone());
        writer.set_timeout(details.timeout);
        writer.write_all(&self.request(&target, proxy))?;
        let mut transport = writer.into_inner();
        read_connect_response(&mut *transport, details.timeout)?;
        Ok(Some(Either::B(Box::new(Tunnel(transport)))))
    }
}

/// `host:port` of `uri` for the CONNECT line (an IPv6 host in brackets, the port explicit).
fn target(uri: &Uri) -> std::result::Result<String, ureq::Error> {
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or(ureq::Error::BadUri(format!("{uri}: no host")))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    Ok(format!("{host}:{port}"))
}

/// Most response headers read from a proxy's CONNECT answer.
const MAX_PROXY_HEADERS: usize = 64;

/// Reads the proxy's answer to CONNECT from `transport`, leaving whatever follows it in the
/// buffer for the tunnel. Anything but 200 fails, naming the proxy's status.
fn read_connect_response(
    transport: &mut dyn Transport,
    timeout: NextTimeout,
) -> std::result::Result<(), ureq::Error> {
    loop {
        let progress = transport.maybe_await_input(timeout)?;
        let buffers = transport.buffers();
        let mut headers = [httparse::EMPTY_HEADER; MAX_PROXY_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buffers.input()) {
            Ok(httparse::Status::Complete(used)) => {
                let code = response.code.unwrap_or(0);
                let reason = super::escape_control(response.reason.unwrap_or(""));
                buffers.input_consume(used);
                if code != 200 {
                    return Err(ureq::Error::ConnectProxyFailed(format!(
                        "proxy server responded {code} {reason}"
                    )));
                }
                return Ok(());
            }
            Ok(httparse::Status::Partial) => {
                buffers.input_consume(0);
                if !progress {
                    return Err(ureq::Error::ConnectProxyFailed(
                        "proxy server closed the connection without answering CONNECT".to_string(),
                    ));
                }
            }
            Err(e) => {
                return Err(ureq::Error::ConnectProxyFailed(format!(
                    "proxy server sent an invalid answer to CONNECT: {e}"
                )));
            }
        }
    }
}

/// The connection through the proxy to the endpoint: not TLS to the endpoint (yet), even over
/// an https proxy.
#[derive(Debug)]
struct Tunnel(Box<dyn Transport>);

impl Transport for Tunnel {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.0.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        false
    }
}

/// An `InvalidConfig` error for `field`.
fn invalid(field: &str, message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("{field}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `url` goes through the proxy under `policy`.
    fn proxied(policy: &ProxyPolicy, url: &str) -> bool {
        policy.proxy_for(url).unwrap().is_some()
    }

    fn with_no_proxy(list: &str) -> ProxyPolicy {
        let mut endpoint = EndpointConfig::new("http://127.0.0.1:9/w");
        endpoint.proxy_url = Some("http://127.0.0.1:3128".to_string());
        endpoint.proxy.no_proxy = Some(list.to_string());
        ProxyPolicy::from_endpoint(&endpoint).unwrap()
    }

    #[test]
    fn proxy_url_alone_proxies_every_host_loopback_included() {
        let mut endpoint = EndpointConfig::new("http://127.0.0.1:9/w");
        endpoint.proxy_url = Some("http://127.0.0.1:3128".to_string());
        let policy = ProxyPolicy::from_endpoint(&endpoint).unwrap();
        assert!(matches!(policy, ProxyPolicy::Always(_)));
        for url in [
            "http://127.0.0.1:9/w",
            "https://localhost/w",
            "http://example.com/",
        ] {
            assert!(proxied(&policy, url), "{url}");
        }
        let direct = ProxyPolicy::from_endpoint(&EndpointConfig::new("http://a/")).unwrap();
        assert!(direct.is_direct());
        assert!(!proxied(&direct, "http://example.com/"));
    }

    #[test]
    fn no_proxy_follows_go_httpproxy() {
        let policy = with_no_proxy(
            " Example.COM, .sub.test, *.star.test, 10.0.0.0/8, 192.0.2.7, 198.51.100.1:8080, \
             portonly.test:9443, [2001:db8::1]:443, 2001:db8:1::/48, bogus:, :80",
        );
        let cases = [
            // A name matches itself and its subdomains, case-insensitively.
            ("http://example.com/", false),
            ("http://EXAMPLE.com:8080/", false),
            ("https://api.example.com/", false),
            ("http://notexample.com/", true),
            // A leading dot or `*.`: subdomains only.
            ("http://sub.test/", true),
            ("http://a.sub.test/", false),
            ("http://star.test/", true),
            ("http://a.b.star.test/", false),
            // CIDR ranges and addresses, with or without a port.
            ("http://10.1.2.3/", false),
            ("http://11.1.2.3/", true),
            ("http://192.0.2.7:1234/", false),
            ("http://198.51.100.1:8080/", false),
            ("http://198.51.100.1/", true),
            ("https://portonly.test:9443/", false),
            ("https://portonly.test/", true),
            ("https://[2001:db8::1]/", false),
            ("http://[2001:db8::1]/", true),
            ("http://[2001:db8:1::ff]:9/", false),
            ("http://[2001:db8:2::1]:9/", true),
            // Loopback and localhost never go through the proxy.
            ("http://127.0.0.1:9/", false),
            ("http://127.8.9.10/", false),
            ("https://[::1]:9/", false),
            ("http://localhost:9/", false),
            ("http://elsewhere.test/", true),
        ];
        for (url, expected) in cases {
            assert_eq!(proxied(&policy, url), expected, "{url}");
        }
        assert!(!proxied(&with_no_proxy("*"), "http://anything.test/"));
        // A list of nothing usable still exempts loopback only.
        let empty = with_no_proxy(" , ");
        assert!(proxied(&empty, "http://example.com/"));
        assert!(!proxied(&empty, "http://127.0.0.1/"));
    }

    #[test]
    fn the_environment_gives_a_proxy_per_scheme_upper_case_first() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let policy = ProxyPolicy::from_environment(env(&[
            ("HTTP_PROXY", "proxy.test:3128"),
            ("https_proxy", "https://user:pw@secure.test:8443"),
            ("HTTPS_PROXY", ""),
            ("no_proxy", "skip.test"),
        ]))
        .unwrap();
        let http = policy.proxy_for("http://example.com/").unwrap().unwrap();
        assert_eq!(http.host(), "proxy.test");
        assert_eq!(http.port(), 3128);
        assert_eq!(http.protocol(), ProxyProtocol::Http);
        let https = policy.proxy_for("https://example.com/").unwrap().unwrap();
        assert_eq!(https.host(), "secure.test");
        assert_eq!(https.protocol(), ProxyProtocol::Https);
        assert_eq!(https.password(), Some("pw"));
        assert!(!proxied(&policy, "http://a.skip.test/"));
        assert!(!proxied(&policy, "http://127.0.0.1:9/"));
        assert_eq!(policy.urls().len(), 2);

        // Only HTTPS_PROXY: http URLs go direct.
        let policy =
            ProxyPolicy::from_environment(env(&[("HTTPS_PROXY", "http://p.test:1")])).unwrap();
        assert!(!proxied(&policy, "http://example.com/"));
        assert!(proxied(&policy, "https://example.com/"));

        // Upper case wins over lower case.
        let policy = ProxyPolicy::from_environment(env(&[
            ("http_proxy", "http://lower.test:1"),
            ("HTTP_PROXY", "http://upper.test:1"),
        ]))
        .unwrap();
        let proxy = policy.proxy_for("http://example.com/").unwrap().unwrap();
        assert_eq!(proxy.host(), "upper.test");

        assert!(ProxyPolicy::from_environment(env(&[])).unwrap().is_direct());
        assert!(
            ProxyPolicy::from_environment(env(&[("NO_PROXY", "*")]))
                .unwrap()
                .is_direct()
        );

        // A CGI program refuses HTTP_PROXY for http URLs (not for https ones).
        let policy = ProxyPolicy::from_environment(env(&[
            ("HTTP_PROXY", "http://p.test:1"),
            ("HTTPS_PROXY", "http://p.test:1"),
            ("REQUEST_METHOD", "GET"),
        ]))
        .unwrap();
        assert!(policy.proxy_for("http://example.com/").is_err());
        assert!(proxied(&policy, "https://example.com/"));
    }

    #[test]
    fn unusable_environment_proxies_fail_naming_the_variable_without_the_password() {
        for (value, wanted) in [
            (
                "socks5://u:hunter2@p.test:1080",
                "SOCKS proxies are not supported",
            ),
            ("ftp://u:hunter2@p.test", "only http:// and https://"),
        ] {
            let error = ProxyPolicy::from_environment(|name| {
                (name == "HTTPS_PROXY").then(|| value.to_string())
            })
            .unwrap_err();
            let message = error.message();
            assert_eq!(error.kind(), ErrorKind::InvalidConfig);
            assert!(
                message.contains("proxy_from_environment: HTTPS_PROXY"),
                "{message}"
            );
            assert!(message.contains(wanted), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn the_connect_request_carries_the_configured_headers_and_credentials() {
        let headers = ConnectHeaders::new(vec![
            (
                "X-Proxy-Token".to_string(),
                vec![Secret::new("tok-1-7f"), Secret::new("tok-2-7f")],
            ),
            ("Host".to_string(), vec![Secret::new("ignored.test")]),
            (
                "Proxy-Authorization".to_string(),
                vec![Secret::new("Bearer configured")],
            ),
        ]);
        let connector = ProxyConnector::new(
            InterruptibleTcpConnector::new(Default::default(), false),
            super::super::tls::build(&Default::default(), &Default::default()).unwrap(),
            headers.clone(),
        );
        let plain = Proxy::new("http://127.0.0.1:3128").unwrap();
        let text = String::from_utf8(connector.request("example.com:443", &plain)).unwrap();
        assert_eq!(
            text,
            format!(
                "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: {}\r\n\
                 X-Proxy-Token: tok-1-7f\r\nX-Proxy-Token: tok-2-7f\r\n\
                 Proxy-Authorization: Bearer configured\r\n\r\n",
                super::super::USER_AGENT
            )
        );
        // The URL's credentials replace a configured Proxy-Authorization.
        let with_user = Proxy::new("http://alice:s%3Acret@127.0.0.1:3128").unwrap();
        let text = String::from_utf8(connector.request("[::1]:80", &with_user)).unwrap();
        assert!(
            text.starts_with("CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n"),
            "{text}"
        );
        assert!(!text.contains("Bearer configured"), "{text}");
        let token = base64::engine::general_purpose::STANDARD.encode("alice:s:cret");
        assert!(
            text.ends_with(&format!("Proxy-Authorization: Basic {token}\r\n\r\n")),
            "{text}"
        );
        // Debug shows names, never values.
        let shown = format!("{headers:?} {connector:?}");
        assert!(shown.contains("X-Proxy-Token"), "{shown}");
        assert!(
            !shown.contains("tok-1-7f") && !shown.contains("configured"),
            "{shown}"
        );
    }
}
