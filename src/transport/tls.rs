//! TLS settings: trust roots, a client certificate from `cert_file`/`key_file`,
//! `insecure_skip_verify`, and `server_name`.
//!
//! Every https connection goes through one connector chain: [`RefuseSocksProxy`], CONNECT
//! proxy, TCP (interruptible: `connect.rs`), then [`RustlsConnector`], which runs rustls with
//! the settings [`build`] made.
//! The server certificate is checked against `server_name` when it is set (and that name is
//! sent as SNI, as Prometheus's `tls_config.server_name` does), else against the URL host.
//! ureq's own rustls connector is not used: it can only trust either the built-in roots or a
//! given list of certificates, not both plus the system's store.
//!
//! Trust roots, unless `insecure_skip_verify`: the built-in web roots (webpki-roots), the
//! system's CA store (rustls-native-certs: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else
//! the platform store, e.g. /etc/ssl/certs on Debian), and the certificates of `ca_file`.
//! The first two are loaded once per process ([`base_roots`]); a system store that is
//! missing or partly unreadable is not an error: what could be read is used, and the
//! problems are logged once.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::connect::{Interrupted, InterruptibleTcpConnector};
use super::resolve::InterruptibleResolver;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    Transport, TransportAdapter,
};
use ureq::{Agent, ProxyProtocol};

use crate::config::TlsConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};

/// An endpoint's TLS settings, checked: the rustls client configuration and the name to
/// verify the server by instead of the URL host.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Builds the TLS settings of an endpoint, reading the PEM files now so errors surface at
/// start (e.g. a key that does not match its certificate fails the configuration instead of
/// every connection). Problems with the system's CA store go to `logger`, once per process.
pub fn build(tls: &TlsConfig, logger: &Logger) -> Result<TlsSettings> {
    let server_name = match &tls.server_name {
        Some(name) => Some(server_name(name).map_err(|e| invalid("tls_config.server_name", e))?),
        None => None,
    };
    Ok(TlsSettings {
        config: client_config(tls, logger)?,
        server_name,
    })
}

/// Makes the agent for an endpoint: ureq's `config` (timeouts, proxy) with promrw's connector
/// chain, whose TLS is done by a [`RustlsConnector`] with `tls`, and whose TCP connects and
/// name lookups give up once `interrupted` is set.
pub fn agent(config: ureq::config::Config, tls: TlsSettings, interrupted: Interrupted) -> Agent {
    let connector = RustlsConnector::new(&config, tls);
    let chain = RefuseSocksProxy
        .chain(ConnectProxyConnector::default())
        .chain(InterruptibleTcpConnector::new(interrupted.clone()))
        .chain(connector);
    Agent::with_parts(config, chain, InterruptibleResolver::new(interrupted))
}

/// The first link of the chain: ureq's SOCKS support is not compiled in and the TCP
/// connector ignores proxies, so a configured SOCKS proxy fails the connection instead of
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
/// against the configured `server_name` (also sent as SNI) or, without one, the URL host.
///
/// A TLS connection to an https CONNECT proxy itself is always checked against the proxy's
/// host; only the tunnelled connection to the endpoint uses the configured name.
pub struct RustlsConnector {
    tls: TlsSettings,
    /// Whether the agent goes through a proxy, so a connection made without one is the
    /// connection to the proxy.
    proxied: bool,
}

impl RustlsConnector {
    /// A connector for an agent with `config` (its proxy) and the TLS settings `tls`.
    pub fn new(config: &ureq::config::Config, tls: TlsSettings) -> Self {
        RustlsConnector {
            tls,
            proxied: config.proxy().is_some(),
        }
    }
}

impl fmt::Debug for RustlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsConnector")
            .field("tls", &self.tls)
            .field("proxied", &self.proxied)
            .finish()
    }
}

impl<In: Transport> Connector<In> for RustlsConnector {
    type Out = Either<In, RustlsTransport>;

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
        // The proxy connection is made with a copy of the config that has no proxy.
        let to_proxy = self.proxied && details.config.proxy().is_none();
        let name = match &self.tls.server_name {
            Some(name) if !to_proxy => name.clone(),
            _ => {
                let host = details.uri.host().unwrap_or_default();
                server_name(host.trim_start_matches('[').trim_end_matches(']')).map_err(other)?
            }
        };
        let mut conn = ClientConnection::new(self.tls.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(RustlsTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// An established rustls connection made by [`RustlsConnector`].
pub struct RustlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for RustlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsTransport")
            .field("inner", &self.stream.sock.inner())
            .finish_non_exhaustive()
    }
}

impl Transport for RustlsTransport {
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

/// The rustls client settings for `tls`: the process's default crypto provider (else ring),
/// the trust roots (see the module documentation) or none with `insecure_skip_verify`, and the
/// client certificate. Errors name the field at fault.
fn client_config(tls: &TlsConfig, logger: &Logger) -> Result<Arc<ClientConfig>> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| invalid("tls_config", format!("TLS setup failed: {e}")))?;
    // Read even when verification is off, so a wrong path is reported all the same.
    let ca = match &tls.ca_file {
        Some(path) => Some((path, read_certs(path, "tls_config.ca_file")?)),
        None => None,
    };
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    } else {
        let base = base_roots();
        base.report(logger);
        let mut roots = base.store.clone();
        if let Some((path, certs)) = ca {
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(invalid(
                    "tls_config.ca_file",
                    format!("{}: no usable CA certificate", path.display()),
                ));
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let chain = read_certs(cert_file, "tls_config.cert_file")?;
            let key_pem = read(key_file, "tls_config.key_file")?;
            // The PEM label tells PKCS#1, PKCS#8 and SEC1 keys apart.
            let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                invalid(
                    "tls_config.key_file",
                    format!("{}: {}", key_file.display(), pem_error(e, "private key")),
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                invalid(
                    "tls_config.key_file",
                    format!("unusable with tls_config.cert_file: {e}"),
                )
            })?
        }
        // The configuration refuses one without the other.
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The trust roots every verifying connection starts from: the built-in web roots and the
/// system's CA store, loaded on first use and kept for the life of the process.
fn base_roots() -> &'static BaseRoots {
    static ROOTS: OnceLock<BaseRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let system = rustls_native_certs::load_native_certs();
        let problems = system.errors.iter().map(|e| e.to_string()).collect();
        BaseRoots::new(system.certs, problems, system_source())
    })
}

/// Where rustls-native-certs looks for the system's certificates, for the log.
fn system_source() -> String {
    let vars: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(|var| std::env::var_os(var).map(|v| format!("{var}={}", v.to_string_lossy())))
        .collect();
    if vars.is_empty() {
        "the platform store".to_string()
    } else {
        vars.join(", ")
    }
}

/// The built-in web roots merged with the system's CA certificates.
struct BaseRoots {
    /// The web roots, then each system root not among them.
    store: RootCertStore,
    /// The system certificates added (not already among the web roots).
    system_added: usize,
    /// The system certificates that were already in the store (as web roots, or twice).
    system_duplicates: usize,
    /// The system certificates that are not usable as trust anchors (skipped).
    system_unusable: usize,
    /// Where the system certificates were looked for.
    source: String,
    /// Why some system certificates could not be read (files, directories, PEM).
    problems: Vec<String>,
    /// Whether a logger has been told about the store.
    reported: AtomicBool,
}

impl BaseRoots {
    /// Merges the web roots with `system`, the certificates found at `source` (where reading
    /// some failed for the reasons in `problems`).
    fn new(
        system: Vec<CertificateDer<'static>>,
        problems: Vec<String>,
        source: String,
    ) -> BaseRoots {
        let mut store = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let web = store.roots.len();
        let mut system_store = RootCertStore::empty();
        let (_, system_unusable) = system_store.add_parsable_certificates(system);
        let mut system_duplicates = 0;
        for anchor in system_store.roots {
            if store.roots.contains(&anchor) {
                system_duplicates += 1;
            } else {
                store.roots.push(anchor);
            }
        }
        BaseRoots {
            system_added: store.roots.len() - web,
            store,
            system_duplicates,
            system_unusable,
            source,
            problems,
            reported: AtomicBool::new(false),
        }
    }

    /// Tells `logger` how the store was loaded: problems reading it at warn, a summary at
    /// debug. Only the first logger that takes one of these records is told.
    fn report(&self, logger: &Logger) {
        let wanted = logger.enabled(LogLevel::Debug)
            || (!self.problems.is_empty() && logger.enabled(LogLevel::Warn));
        if !wanted || self.reported.swap(true, Ordering::Relaxed) {
            return;
        }
        for problem in &self.problems {
            logger.log(LogLevel::Warn, || {
                format!(
                    "system CA store ({}): {problem}; ignored, the certificates that could \
                     be read are trusted",
                    self.source
                )
            });
        }
        logger.log(LogLevel::Debug, || {
            format!(
                "trust roots: {} built-in web roots and {} system CA certificates from {} \
                 ({} duplicates, {} unusable and skipped)",
                self.store.roots.len() - self.system_added,
                self.system_added,
                self.source,
                self.system_duplicates,
                self.system_unusable,
            )
        });
    }
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
fn read_certs(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, field)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                field,
                format!("{}: {}", path.display(), pem_error(e, "certificate")),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            field,
            format!("{}: no PEM certificate found", path.display()),
        ));
    }
    Ok(certs)
}

/// Describes a PEM parsing error; `what` names the item looked for.
fn pem_error(error: rustls::pki_types::pem::Error, what: &str) -> String {
    match error {
        rustls::pki_types::pem::Error::NoItemsFound => format!("no PEM {what} found"),
        other => format!("invalid PEM: {other}"),
    }
}

/// Reads a PEM file named by `field`.
fn read(path: &Path, field: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(field, format!("cannot read {}: {e}", path.display())))
}

/// An `InvalidConfig` error for `field`.
fn invalid(field: &str, message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("{field}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogSink;
    use std::sync::Mutex;

    /// Keeps every record.
    #[derive(Default)]
    struct Records(Mutex<Vec<(LogLevel, String)>>);

    impl LogSink for Records {
        fn log(&self, level: LogLevel, message: &str) {
            self.0.lock().unwrap().push((level, message.to_string()));
        }
    }

    /// A temporary directory for this test, removed on drop.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let path =
                std::env::temp_dir().join(format!("promrw-tls-unit-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A self-signed CA certificate as PEM.
    fn ca_pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn system_certificates_are_added_to_the_web_roots_once_each() {
        let der = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let one = der(&ca_pem("promrw unit CA one"));
        let two = der(&ca_pem("promrw unit CA two"));
        let not_a_certificate = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        // `one` twice: the second copy is a duplicate, not a second root.
        let system = vec![one.clone(), two, one, not_a_certificate];
        let roots = BaseRoots::new(system, Vec::new(), "test".to_string());
        assert_eq!(roots.system_added, 2);
        assert_eq!(roots.system_duplicates, 1);
        assert_eq!(roots.system_unusable, 1);
        assert!(roots.problems.is_empty(), "{:?}", roots.problems);
        assert_eq!(
            roots.store.roots.len(),
            webpki_roots::TLS_SERVER_ROOTS.len() + 2
        );
    }

    #[test]
    fn an_unreadable_system_store_is_reported_once_and_leaves_the_web_roots() {
        let dir = Dir::new("missing");
        let missing = dir.0.join("missing.pem");
        let loaded = rustls_native_certs::load_certs_from_paths(Some(&missing), None);
        let problems = loaded.errors.iter().map(|e| e.to_string()).collect();
        let roots = BaseRoots::new(
            loaded.certs,
            problems,
            format!("SSL_CERT_FILE={}", missing.display()),
        );
        assert_eq!(roots.system_added, 0);
        assert_eq!(
            roots.store.roots.len(),
            webpki_roots::TLS_SERVER_ROOTS.len()
        );
        assert_eq!(roots.problems.len(), 1, "{:?}", roots.problems);

        // A logger that would not show the warning does not use up the report.
        roots.report(&Logger::default());
        let errors_only = Arc::new(Records::default());
        roots.report(&Logger::new(errors_only.clone(), LogLevel::Error));
        assert!(errors_only.0.lock().unwrap().is_empty());

        let records = Arc::new(Records::default());
        let logger = Logger::new(records.clone(), LogLevel::Warn);
        roots.report(&logger);
        roots.report(&logger);
        let records = records.0.lock().unwrap();
        assert_eq!(records.len(), 1, "reported once: {records:?}");
        let (level, message) = &records[0];
        assert_eq!(*level, LogLevel::Warn);
        assert!(message.contains("SSL_CERT_FILE="), "{message}");
        assert!(message.contains("missing.pem"), "{message}");
    }

    #[test]
    fn the_debug_summary_counts_the_roots() {
        // Read the way the system store is: from a PEM file.
        let dir = Dir::new("summary");
        let file = dir.0.join("one.pem");
        std::fs::write(&file, ca_pem("promrw unit CA summary")).unwrap();
        let loaded = rustls_native_certs::load_certs_from_paths(Some(&file), None);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let roots = BaseRoots::new(loaded.certs, Vec::new(), "test source".to_string());
        let records = Arc::new(Records::default());
        roots.report(&Logger::new(records.clone(), LogLevel::Debug));
        let records = records.0.lock().unwrap();
        assert_eq!(records.len(), 1, "{records:?}");
        let (level, message) = &records[0];
        assert_eq!(*level, LogLevel::Debug);
        let expected = format!(
            "{} built-in web roots and 1 system CA certificates from test source",
            webpki_roots::TLS_SERVER_ROOTS.len()
        );
        assert!(message.contains(&expected), "{message}");
    }
}
