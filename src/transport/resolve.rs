//! Name resolution for the HTTP agents. URLs whose host is an IP literal (the common case for
//! receivers on 127.0.0.1 or a cluster IP) are answered directly, without a lookup.
//!
//! A host name is looked up by the system resolver (`getaddrinfo`), which cannot be
//! interrupted. As ureq's own resolver does when a timeout is set, the lookup runs on a
//! helper thread (`promrw-dns`) of its own; the shard waits for it in slices of at most
//! [`SLICE`], giving up at the attempt's timeout or within a slice once the transport is
//! [`Interrupted`] (close reached its deadline). An abandoned lookup's thread holds nothing of
//! the sender's (the `host:port` text and its end of a channel) and ends by itself when the
//! system resolver answers, within its own timeouts (resolv.conf's `timeout` × `attempts`),
//! possibly after close has returned.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Instant;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use super::connect::{Interrupted, SLICE};

/// Most addresses kept of a lookup (what a [`ResolvedSocketAddrs`] holds).
const MAX_ADDRS: usize = 16;

/// Resolves IP-literal hosts without a lookup, and host names on a helper thread that the
/// attempt stops waiting for at its timeout or once [`Interrupted`].
#[derive(Debug, Default)]
pub struct InterruptibleResolver {
    interrupted: Interrupted,
    fallback: DefaultResolver,
}

impl InterruptibleResolver {
    /// A resolver that gives up waiting when `interrupted` is set.
    pub fn new(interrupted: Interrupted) -> Self {
        InterruptibleResolver {
            interrupted,
            fallback: DefaultResolver::default(),
        }
    }
}

impl Resolver for InterruptibleResolver {
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
        let host_port = match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => DefaultResolver::host_and_port(scheme, authority),
            _ => None,
        };
        // Not an http(s) URL with a host: ureq's resolver says what is wrong with it.
        let Some(host_port) = host_port else {
            return self.fallback.resolve(uri, config, timeout);
        };
        self.interrupted.check("name lookup")?;
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("promrw-dns".to_string())
            .spawn(move || {
                // The receiver is gone when the attempt gave up: nothing to tell.
                let _ = tx.send(host_port.to_socket_addrs());
            })?;
        let found = wait_for_lookup(&rx, timeout, &self.interrupted)?;
        let mut addrs = self.empty();
        for addr in config.ip_family().keep_wanted(found).take(MAX_ADDRS) {
            addrs.push(addr);
        }
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(addrs)
    }
}

/// The answer of the lookup thread sending on `rx`, waited for in slices of at most
/// [`SLICE`]: an error at `timeout`, or within a slice once `interrupted` is set.
fn wait_for_lookup<T>(
    rx: &mpsc::Receiver<std::io::Result<T>>,
    timeout: NextTimeout,
    interrupted: &Interrupted,
) -> Result<T, ureq::Error> {
    let start = Instant::now();
    let limit = timeout.not_zero().map(|t| *t);
    loop {
        interrupted.check("name lookup")?;
        let slice = match limit {
            Some(limit) => {
                let left = limit.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                left.min(SLICE)
            }
            None => SLICE,
        };
        match rx.recv_timeout(slice) {
            Ok(answer) => return Ok(answer?),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ureq::Error::Io(std::io::Error::other(
                    "the name lookup ended without an answer",
                )));
            }
        }
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

    #[test]
    fn host_names_are_looked_up() {
        let uri: Uri = "http://localhost:9/w".parse().unwrap();
        let addrs = InterruptibleResolver::default()
            .resolve(&uri, &Config::default(), NextTimeout::default())
            .expect("localhost resolves");
        assert!(addrs.iter().all(|a| a.port() == 9 && a.ip().is_loopback()));
    }

    #[test]
    fn a_lookup_that_hangs_is_given_up_at_the_timeout_or_once_interrupted() {
        use std::time::Duration;
        // A lookup thread that never answers.
        let (_tx, rx) = mpsc::sync_channel::<std::io::Result<()>>(1);
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::from_millis(200),
            ..NextTimeout::default()
        };
        let started = Instant::now();
        let error = wait_for_lookup(&rx, timeout, &Interrupted::default()).unwrap_err();
        assert!(matches!(error, ureq::Error::Timeout(_)), "{error:?}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(1),
            "{took:?}"
        );
        let interrupted = Interrupted::default();
        let setter = {
            let interrupted = interrupted.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                interrupted.set();
                Instant::now()
            })
        };
        let error = wait_for_lookup(&rx, NextTimeout::default(), &interrupted).unwrap_err();
        let late = setter.join().unwrap().elapsed();
        assert!(matches!(error, ureq::Error::Io(_)), "{error:?}");
        assert!(late < SLICE + Duration::from_millis(100), "{late:?}");
    }
}
