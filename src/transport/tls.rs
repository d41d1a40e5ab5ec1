//! TLS settings: trust roots from `ca_file`, a client certificate from `cert_file`/`key_file`,
//! `insecure_skip_verify`, and `server_name`.
//!
//! Without `server_name`, ureq's own rustls connector does the TLS, configured by the
//! [`UreqTls`] that [`build`] returns. ureq always verifies the server against the URL host,
//! so with `server_name` the agent gets its own connector chain instead:
//! [`RefuseSocksProxy`], CONNECT proxy, TCP, then [`ServerNameConnector`], which runs rustls
//! with the same trust roots, client certificate and verification setting but checks the
//! certificate against `server_name` and sends it as SNI (as Prometheus's
//! `tls_config.server_name` does).

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;

use super::resolve::IpLiteralResolver;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig as UreqTls};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, DefaultConnector, Either,
    LazyBuffers, NextTimeout, TcpConnector, Transport, TransportAdapter,
};
use ureq::{Agent, ProxyProtocol};

use crate::config::TlsConfig;
use crate::error::{Error, ErrorKind, Result};

/// Builds ureq's TLS settings, reading the PEM files now so errors surface at start. The
/// result is also checked with rustls here, so e.g. a key that does not match its certificate
/// fails the configuration instead of every connection (or ureq's connector, which panics).
pub fn build(tls: &TlsConfig) -> Result<UreqTls> {
    let mut builder = UreqTls::builder().disable_verification(tls.insecure_skip_verify);
    if let Some(ca_file) = &tls.ca_file {
        let certs = read_certs(ca_file, "tls_config.ca_file")?;
        builder = builder.root_certs(RootCerts::new_with_certs(&certs));
    }
    if let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) {
        let chain = read_certs(cert_file, "tls_config.cert_file")?;
        let key_pem = read(key_file, "tls_config.key_file")?;
        let key = PrivateKey::from_pem(&key_pem).map_err(|e| {
            invalid(
                "tls_config.key_file",
                format!("{}: {e}", key_file.display()),
            )
        })?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    let ureq_tls = builder.build();
    client_config(&ureq_tls).map_err(|(field, message)| invalid(field, message))?;
    if let Some(name) = &tls.server_name {
        server_name(name).map_err(|e| invalid("tls_config.server_name", e))?;
    }
    Ok(ureq_tls)
}

/// Makes the agent for an endpoint: ureq's default one, or with `server_name` set, one whose
/// TLS is done by a [`ServerNameConnector`] built from `config`'s TLS settings (which
/// [`build`] made and checked).
pub fn agent(config: ureq::config::Config, tls: &TlsConfig) -> Agent {
    let Some(name) = &tls.server_name else {
        return Agent::with_parts(
            config,
            DefaultConnector::default(),
            IpLiteralResolver::default(),
        );
    };
    let connector = ServerNameConnector::new(&config, name);
    let chain = RefuseSocksProxy
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(connector);
    Agent::with_parts(config, chain, IpLiteralResolver::default())
}

/// The first link of the `server_name` chain: ureq's SOCKS support is not compiled in and the
/// TCP connector ignores proxies, so a configured SOCKS proxy fails the connection instead of
/// being bypassed. (ureq itself ignores one taken from the environment, and so does this.)
#[derive(Debug)]
pub struct RefuseSocksProxy;

impl<In: Transport> Connector<In> for RefuseSocksProxy {
    type Out = In;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<In>, ureq::Error> {
        if let Some(proxy) = details.config.proxy() {
            let socks = !matches!(proxy.protocol(), ProxyProtocol::Http | ProxyProtocol::Https);
            if socks && !proxy.is_from_env() && !proxy.is_no_proxy(details.uri) {
                return Err(other(
                    "proxy_url: SOCKS proxies are not supported".to_string(),
                ));
            }
        }
        Ok(chained)
    }
}

/// A connector that wraps https connections in rustls, verifying the server certificate
/// against a configured name (also sent as SNI) rather than the URL host.
///
/// A TLS connection to an https CONNECT proxy itself is still checked against the proxy's
/// host; only the tunnelled connection to the endpoint uses the configured name.
pub struct ServerNameConnector {
    /// The rustls settings, or why they could not be made (reported at each connect; [`build`]
    /// has already refused such a configuration).
    config: std::result::Result<Arc<ClientConfig>, (&'static str, String)>,
    /// The name to verify and send, or why it is not a valid server name.
    name: std::result::Result<ServerName<'static>, String>,
    /// Whether the agent goes through a proxy, so a connection made without one is the
    /// connection to the proxy.
    proxied: bool,
}

impl ServerNameConnector {
    /// A connector for an agent with `config` (its TLS settings and proxy) and `name`.
    pub fn new(config: &ureq::config::Config, name: &str) -> Self {
        ServerNameConnector {
            config: client_config(config.tls_config()),
            name: server_name(name),
            proxied: config.proxy().is_some(),
        }
    }
}

impl fmt::Debug for ServerNameConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerNameConnector")
            .field("name", &self.name)
            .field("proxied", &self.proxied)
            .finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for ServerNameConnector {
    type Out = Either<In, ServerNameTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::Tls("no transport to wrap in TLS"));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let config = self
            .config
            .as_ref()
            .map_err(|(field, message)| other(format!("{field}: {message}")))?;
        // The proxy connection is made with a copy of the config that has no proxy.
        let to_proxy = self.proxied && details.config.proxy().is_none();
        let name = if to_proxy {
            let host = details.uri.host().unwrap_or_default();
            server_name(host.trim_start_matches('[').trim_end_matches(']')).map_err(other)?
        } else {
            self.name.clone().map_err(other)?
        };
        let mut conn = ClientConnection::new(config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(ServerNameTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// An established rustls connection made by [`ServerNameConnector`].
pub struct ServerNameTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for ServerNameTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerNameTransport")
            .field("inner", &self.stream.sock.inner())
            .finish_non_exhaustive()
    }
}

impl Transport for ServerNameTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        self.stream.write_all(&self.buffers.output()[..amount])?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let read = self.stream.read(self.buffers.input_append_buf())?;
        self.buffers.input_appended(read);
        Ok(read > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// The rustls client settings equivalent to ureq's `tls`: its crypto provider (else the
/// process default, else ring), trust roots (web roots unless given), verification switch and
/// client certificate. Errors name the field at fault.
fn client_config(tls: &UreqTls) -> std::result::Result<Arc<ClientConfig>, (&'static str, String)> {
    let provider = tls
        .unversioned_rustls_crypto_provider()
        .clone()
        .or_else(|| CryptoProvider::get_default().cloned())
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| ("tls_config", format!("TLS setup failed: {e}")))?;
    let builder = if tls.disable_verification() {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match tls.root_certs() {
            RootCerts::Specific(certs) => {
                let (added, _ignored) = roots.add_parsable_certificates(
                    certs.iter().map(|c| CertificateDer::from(c.der().to_vec())),
                );
                if added == 0 {
                    return Err(("tls_config.ca_file", "no usable CA certificate".to_string()));
                }
            }
            _ => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let config = match tls.client_cert() {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let chain = client
                .certs()
                .iter()
                .map(|c| CertificateDer::from(c.der().to_vec()))
                .collect();
            // ureq does not export its key kind; the DER structure tells PKCS#1, PKCS#8 and
            // SEC1 apart.
            let key = PrivateKeyDer::try_from(client.private_key().der())
                .map_err(|e| ("tls_config.key_file", e.to_string()))?
                .clone_key();
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                let message = format!("unusable with tls_config.cert_file: {e}");
                ("tls_config.key_file", message)
            })?
        }
    };
    Ok(Arc::new(config))
}

/// Parses a server name (DNS name or IP address) for rustls.
fn server_name(name: &str) -> std::result::Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string())
        .map_err(|e| format!("{name:?} is not a valid server name: {e}"))
}

/// A ureq error carrying `message`.
fn other(message: String) -> ureq::Error {
    ureq::Error::Other(message.into())
}

/// `insecure_skip_verify`: accepts any server certificate for any name, but still checks the
/// handshake signatures so the server holds the key of the certificate it showed.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads every certificate of the PEM file named by `field`; fails when there is none.
fn read_certs(path: &std::path::Path, field: &str) -> Result<Vec<Certificate<'static>>> {
    let pem = read(path, field)?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(Ok(cert)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(
            field,
            format!("{}: no PEM certificate found", path.display()),
        ));
    }
    Ok(certs)
}

/// Reads a PEM file named by `field`.
fn read(path: &std::path::Path, field: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(field, format!("cannot read {}: {e}", path.display())))
}

/// An `InvalidConfig` error for `field`.
fn invalid(field: &str, message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("{field}: {message}"))
}
