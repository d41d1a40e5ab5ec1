//! Name resolution for the HTTP agents: URLs whose host is an IP literal (the common case for
//! receivers on 127.0.0.1 or a cluster IP) are answered directly. ureq's default resolver
//! spawns a thread per request whenever a timeout is configured, even for IP literals; host
//! names still go through it.

use std::net::{IpAddr, SocketAddr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Resolves IP-literal hosts without a lookup and delegates everything else.
#[derive(Debug, Default)]
pub struct IpLiteralResolver {
    fallback: DefaultResolver,
}

impl Resolver for IpLiteralResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal_socket_addr(uri) {
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        self.fallback.resolve(uri, config, timeout)
    }
}

/// The socket address of `uri` when its host is an IPv4 or bracketed IPv6 literal.
fn literal_socket_addr(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_only() {
        let uri: Uri = "http://127.0.0.1:9201/api/v1/write".parse().unwrap();
        assert_eq!(
            literal_socket_addr(&uri),
            Some("127.0.0.1:9201".parse().unwrap())
        );
        let uri: Uri = "https://[::1]/w".parse().unwrap();
        assert_eq!(
            literal_socket_addr(&uri),
            Some("[::1]:443".parse().unwrap())
        );
        let uri: Uri = "http://localhost:9/w".parse().unwrap();
        assert_eq!(literal_socket_addr(&uri), None);
    }
}
