//! TLS settings: trust roots, a client certificate (`cert_file`/`key_file`, or inline `cert`/
//! `key`), `insecure_skip_verify`, `server_name`, and the protocol versions
//! (`min_version`/`max_version`).
//!
//! Every connection goes through one connector chain: the CONNECT proxy connector
//! (`proxy.rs`: SOCKS refusal, and the tunnel, with its own TCP connection to the proxy and,
//! for an https proxy, a TLS one made by [`handshake`]), TCP (interruptible: `connect.rs`),
//! then [`RustlsConnector`], which runs rustls with the settings [`build`] made on https
//! connections.
//! The server certificate is checked against `server_name` when it is set (and that name is
//! sent as SNI, as Prometheus's `tls_config.server_name` does), else against the URL host.
//! ureq's own rustls connector is not used: it can only trust either the built-in roots or a
//! given list of certificates, not both plus the system's store.
//!
//! Trust roots, unless `insecure_skip_verify`: the built-in web roots (webpki-roots), the
//! system's CA store (rustls-native-certs: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else
//! the platform store, e.g. /etc/ssl/certs on Debian), and the certificates of `ca_file` or
//! of the inline `ca` (the same: added to the others, not replacing them).
//! The first two are loaded once per process ([`base_roots`]); a system store that is
//! missing or partly unreadable is not an error: what could be read is used, and the
//! problems are logged once.
//!
//! Protocol versions: rustls speaks TLS 1.2 and 1.3 only. `min_version` `TLS10` or `TLS11`
//! therefore means TLS 1.2 at least, in effect (Prometheus would also accept 1.0 or 1.1
//! there); `TLS12` or unset, 1.2 and 1.3; `TLS13`, 1.3 only. `max_version` `TLS12` means 1.2
//! only; `TLS13` or unset, up to 1.3 (below `TLS12` is refused when the sender starts). See
//! [`protocol_versions`].

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::connect::{Interrupted, InterruptibleTcpConnector};
use super::proxy::{ConnectHeaders, ProxyConnector};
use super::resolve::InterruptibleResolver;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned, SupportedProtocolVersion,
};
use ureq::Agent;
use ureq::http::Uri;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use crate::config::{TlsConfig, TlsVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};

/// An endpoint's TLS settings, checked: the rustls client configuration and the name to
/// verify the server by instead of the URL host.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    /// The protocol versions offered, for handshake errors (e.g. "only TLS 1.3").
    versions: &'static str,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("server_name", &self.server_name)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

/// Builds the TLS settings of an endpoint, reading the PEM files (or parsing the inline PEM)
/// now so errors surface at start (e.g. a key that does not match its certificate fails the
/// configuration instead of every connection). Problems with the system's CA store go to
/// `logger`, once per process.
pub fn build(tls: &TlsConfig, logger: &Logger) -> Result<TlsSettings> {
    let server_name = match &tls.server_name {
        Some(name) => Some(server_name(name).map_err(|e| invalid("tls_config.server_name", e))?),
        None => None,
    };
    let versions = protocol_versions(tls.min_version, tls.max_version)?;
    Ok(TlsSettings {
        config: client_config(tls, &versions, logger)?,
        server_name,
        versions: describe_versions(
            &versions,
            tls.min_version.is_some() || tls.max_version.is_some(),
        ),
    })
}

/// The protocol versions rustls may negotiate for `min_version` and `max_version`, lowest
/// first. rustls has TLS 1.2 and 1.3 only, so a `min` of `TLS10` or `TLS11` is the same as
/// `TLS12`; a `max` below `TLS12` leaves no version and is an error (the sender refuses it
/// before it gets here).
pub fn protocol_versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static SupportedProtocolVersion>> {
    let low = min.unwrap_or(TlsVersion::Tls12);
    let high = max.unwrap_or(TlsVersion::Tls13);
    let versions: Vec<_> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| low <= *version && *version <= high)
    .map(|(_, supported)| supported)
    .collect();
    if versions.is_empty() {
        return Err(invalid(
            "tls_config.max_version",
            format!(
                "{} leaves no TLS version to negotiate: promrw speaks TLS 1.2 and 1.3",
                high.as_str()
            ),
        ));
    }
    Ok(versions)
}

/// How handshake errors describe the offered `versions`; `configured` when min_version or
/// max_version is set.
fn describe_versions(
    versions: &[&'static SupportedProtocolVersion],
    configured: bool,
) -> &'static str {
    let has = |v: &SupportedProtocolVersion| versions.iter().any(|s| s.version == v.version);
    match (
        has(&rustls::version::TLS12),
        has(&rustls::version::TLS13),
        configured,
    ) {
        (true, true, _) => "TLS 1.2 and 1.3",
        (true, false, true) => "only TLS 1.2 (tls_config.max_version: TLS12)",
        (false, true, true) => "only TLS 1.3 (tls_config.min_version: TLS13)",
        (true, false, false) => "only TLS 1.2",
        _ => "only TLS 1.3",
    }
}

/// Makes the agent for an endpoint: ureq's `config` (timeouts; no proxy, which each request
/// chooses) with promrw's connector chain: the CONNECT proxy connector (sending
/// `connect_headers`), `tcp`, and a [`RustlsConnector`] with `tls`; its name lookups give up
/// once `interrupted` is set.
pub fn agent(
    config: ureq::config::Config,
    tls: TlsSettings,
    tcp: InterruptibleTcpConnector,
    connect_headers: ConnectHeaders,
    interrupted: Interrupted,
) -> Agent {
    let proxy = ProxyConnector::new(tcp.clone(), tls.clone(), connect_headers);
    let chain = proxy.chain(tcp).chain(RustlsConnector::new(tls));
    Agent::with_parts(config, chain, InterruptibleResolver::new(interrupted))
}

/// A connector that wraps https connections in rustls, verifying the server certificate
/// against the configured `server_name` (also sent as SNI) or, without one, the URL host.
///
/// A TLS connection to an https CONNECT proxy itself is not made here but by the proxy
/// connector, which checks it against the proxy's host; only the tunnelled connection to the
/// endpoint uses the configured name.
pub struct RustlsConnector {
    tls: TlsSettings,
}

impl RustlsConnector {
    /// A connector with the TLS settings `tls`.
    pub fn new(tls: TlsSettings) -> Self {
        RustlsConnector { tls }
    }
}

impl fmt::Debug for RustlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsConnector")
            .field("tls", &self.tls)
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
        let name = match &self.tls.server_name {
            Some(name) => name.clone(),
            None => host_name(details.uri)?,
        };
        handshake(&self.tls, transport.boxed(), name, details).map(|t| Some(Either::B(t)))
    }
}

/// The name of `uri`'s host (a DNS name or an IP address) for verifying its certificate.
pub(super) fn host_name(uri: &Uri) -> std::result::Result<ServerName<'static>, ureq::Error> {
    let host = uri.host().unwrap_or_default();
    server_name(host.trim_start_matches('[').trim_end_matches(']')).map_err(other)
}

/// Runs a TLS handshake with `tls` over `transport`, verifying the server as `name` (and
/// sending it as SNI). A failed handshake's error says so, and for a protocol version
/// mismatch which versions this side offered.
pub(super) fn handshake(
    tls: &TlsSettings,
    transport: Box<dyn Transport>,
    name: ServerName<'static>,
    details: &ConnectionDetails,
) -> std::result::Result<RustlsTransport, ureq::Error> {
    let mut conn = ClientConnection::new(tls.config.clone(), name)?;
    let mut sock = TransportAdapter::new(transport, details.current_time.clone());
    sock.set_timeout(details.timeout);
    conn.complete_io(&mut sock)
        .map_err(|e| handshake_error(e, tls.versions))?;
    let buffers = LazyBuffers::new(
        details.config.input_buffer_size(),
        details.config.output_buffer_size(),
    );
    Ok(RustlsTransport {
        buffers,
        stream: StreamOwned::new(conn, sock),
    })
}

/// The error of a failed handshake: a timeout or an I/O error as it was, a TLS error as
/// "TLS handshake failed: ...", with the versions offered when the peer refused them.
fn handshake_error(error: std::io::Error, versions: &str) -> ureq::Error {
    let Some(tls_error) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        // Timeouts and I/O errors say what they are (and a timeout stays one).
        return ureq::Error::from(error);
    };
    let version_problem = matches!(
        tls_error,
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
            | rustls::Error::PeerIncompatible(_)
    );
    let hint = if version_problem {
        format!("; no TLS version in common with the server: promrw offered {versions}")
    } else {
        String::new()
    };
    ureq::Error::Io(std::io::Error::new(
        error.kind(),
        format!("TLS handshake failed: {tls_error}{hint}"),
    ))
}

/// An established rustls connection made by [`RustlsConnector`] (or to an https proxy).
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

/// Where a PEM item comes from: its `*_file` or the inline key of the same name.
#[derive(Clone, Copy)]
enum Pem<'a> {
    /// Read from this file.
    File(&'a Path),
    /// Given inline in the configuration.
    Inline(&'a str),
}

impl<'a> Pem<'a> {
    /// The source of one item, from the file key (`file`) or the inline one (`inline`): the
    /// file when both are set (the configuration refuses that), `None` when neither is.
    fn of(file: Option<&'a Path>, inline: Option<&'a str>) -> Option<Pem<'a>> {
        match (file, inline) {
            (Some(path), _) => Some(Pem::File(path)),
            (None, Some(text)) => Some(Pem::Inline(text)),
            (None, None) => None,
        }
    }

    /// The configuration key, given the file key's name (`ca_file` -> `tls_config.ca_file`,
    /// or `tls_config.ca` when inline).
    fn field(&self, file_key: &str) -> String {
        match self {
            Pem::File(_) => format!("tls_config.{file_key}"),
            Pem::Inline(_) => format!("tls_config.{}", file_key.trim_end_matches("_file")),
        }
    }

    /// The bytes: the file's contents or the inline text.
    fn bytes(&self, field: &str) -> Result<Vec<u8>> {
        match self {
            Pem::File(path) => read(path, field),
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }

    /// `prefix` for an error about the item: the path and ": " for a file; nothing inline
    /// (the field names it, and its text, possibly a key, is never quoted).
    fn shown(&self) -> String {
        match self {
            Pem::File(path) => format!("{}: ", path.display()),
            Pem::Inline(_) => String::new(),
        }
    }
}

/// The rustls client settings for `tls`: the process's default crypto provider (else ring),
/// the protocol `versions`, the trust roots (see the module documentation) or none with
/// `insecure_skip_verify`, and the client certificate. Errors name the field at fault.
fn client_config(
    tls: &TlsConfig,
    versions: &[&'static SupportedProtocolVersion],
    logger: &Logger,
) -> Result<Arc<ClientConfig>> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| invalid("tls_config", format!("TLS setup failed: {e}")))?;
    // Read even when verification is off, so a wrong path is reported all the same.
    let ca = match Pem::of(tls.ca_file.as_deref(), tls.ca.as_deref()) {
        Some(pem) => {
            let field = pem.field("ca_file");
            let certs = read_certs(pem, &field)?;
            Some((pem, field, certs))
        }
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
        if let Some((pem, field, certs)) = ca {
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(invalid(
                    &field,
                    format!("{}no usable CA certificate", pem.shown()),
                ));
            }
        }
        builder.with_root_certificates(roots)
    };
    let cert = Pem::of(tls.cert_file.as_deref(), tls.cert.as_deref());
    let key = Pem::of(
        tls.key_file.as_deref(),
        tls.key.as_ref().map(|k| k.expose()),
    );
    let config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let cert_field = cert.field("cert_file");
            let key_field = key.field("key_file");
            let chain = read_certs(cert, &cert_field)?;
            let key_pem = key.bytes(&key_field)?;
            // The PEM label tells PKCS#1, PKCS#8 and SEC1 keys apart.
            let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                invalid(
                    &key_field,
                    format!("{}{}", key.shown(), pem_error(e, "private key")),
                )
            })?;
            builder
                .with_client_auth_cert(chain, private_key)
                .map_err(|e| invalid(&key_field, format!("unusable with {cert_field}: {e}")))?
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

/// Reads every certificate of the PEM item named by `field`; fails when there is none.
fn read_certs(pem: Pem<'_>, field: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = pem.bytes(field)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                field,
                format!("{}{}", pem.shown(), pem_error(e, "certificate")),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            field,
            format!("{}no PEM certificate found", pem.shown()),
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
    fn min_and_max_version_choose_the_rustls_protocol_versions() {
        use TlsVersion::*;
        let names = |min, max| {
            protocol_versions(min, max)
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>()
        };
        let both = vec![
            rustls::ProtocolVersion::TLSv1_2,
            rustls::ProtocolVersion::TLSv1_3,
        ];
        assert_eq!(names(None, None), both);
        // TLS 1.0 and 1.1 as the minimum: 1.2 at least, rustls has nothing older.
        assert_eq!(names(Some(Tls10), None), both);
        assert_eq!(names(Some(Tls11), Some(Tls13)), both);
        assert_eq!(names(Some(Tls12), None), both);
        assert_eq!(
            names(Some(Tls13), None),
            vec![rustls::ProtocolVersion::TLSv1_3]
        );
        assert_eq!(
            names(None, Some(Tls12)),
            vec![rustls::ProtocolVersion::TLSv1_2]
        );
        assert_eq!(
            names(Some(Tls10), Some(Tls12)),
            vec![rustls::ProtocolVersion::TLSv1_2]
        );
        assert_eq!(
            names(Some(Tls13), Some(Tls13)),
            vec![rustls::ProtocolVersion::TLSv1_3]
        );
        let error = protocol_versions(None, Some(Tls11)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidConfig);
        assert!(
            error.message().contains("tls_config.max_version"),
            "{error}"
        );

        // The settings reach rustls: the version negotiated with a server that has both.
        let both_server = [&rustls::version::TLS12, &rustls::version::TLS13];
        let only_12 = [&rustls::version::TLS12];
        let only_13 = [&rustls::version::TLS13];
        let client = |min, max| {
            let tls = TlsConfig {
                min_version: min,
                max_version: max,
                insecure_skip_verify: true,
                ..TlsConfig::default()
            };
            build(&tls, &Logger::default()).unwrap()
        };
        use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
        assert_eq!(negotiate(&client(None, None), &both_server), Ok(TLSv1_3));
        assert_eq!(
            negotiate(&client(None, Some(Tls12)), &both_server),
            Ok(TLSv1_2)
        );
        assert_eq!(negotiate(&client(Some(Tls10), None), &only_12), Ok(TLSv1_2));
        assert_eq!(
            negotiate(&client(Some(Tls13), None), &both_server),
            Ok(TLSv1_3)
        );
        assert_eq!(
            negotiate(&client(Some(Tls13), None), &only_12),
            Err(rustls::Error::AlertReceived(
                AlertDescription::ProtocolVersion
            ))
        );
        assert!(negotiate(&client(None, Some(Tls12)), &only_13).is_err());
    }

    /// Runs a handshake in memory between `client` and a server (certificate for
    /// `server.test`) offering `versions`: the version agreed, or the client's error.
    fn negotiate(
        client: &TlsSettings,
        versions: &[&'static SupportedProtocolVersion],
    ) -> std::result::Result<rustls::ProtocolVersion, rustls::Error> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["server.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let name = ServerName::try_from("server.test").unwrap();
        let mut conn = ClientConnection::new(client.config.clone(), name).unwrap();
        for _ in 0..20 {
            let mut bytes = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut bytes).unwrap();
            }
            server.read_tls(&mut bytes.as_slice()).unwrap();
            // A refusal is sent to the client as an alert.
            let _ = server.process_new_packets();
            let mut bytes = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut bytes).unwrap();
            }
            conn.read_tls(&mut bytes.as_slice()).unwrap();
            conn.process_new_packets()?;
            if !conn.is_handshaking() {
                return Ok(conn.protocol_version().unwrap());
            }
        }
        panic!("no handshake in 20 rounds");
    }

    #[test]
    fn a_version_mismatch_says_what_was_offered() {
        let error = handshake_error(
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
            ),
            "only TLS 1.3 (tls_config.min_version: TLS13)",
        );
        let text = error.to_string();
        assert!(text.contains("TLS handshake failed"), "{text}");
        assert!(
            text.contains("no TLS version in common with the server: promrw offered only TLS 1.3 (tls_config.min_version: TLS13)"),
            "{text}"
        );
        // Other handshake failures have no such hint; timeouts stay timeouts.
        let error = handshake_error(
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(AlertDescription::BadCertificate),
            ),
            "TLS 1.2 and 1.3",
        );
        assert!(!error.to_string().contains("in common"), "{error}");
        let error = handshake_error(std::io::ErrorKind::TimedOut.into(), "TLS 1.2 and 1.3");
        assert!(
            matches!(error, ureq::Error::Io(_) | ureq::Error::Timeout(_)),
            "{error:?}"
        );
    }

    #[test]
    fn inline_pem_is_checked_like_the_files_and_never_quoted() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let good = TlsConfig {
            ca: Some(ca_pem("promrw unit inline CA")),
            cert: Some(cert.pem()),
            key: Some(crate::config::Secret::new(key.serialize_pem())),
            ..TlsConfig::default()
        };
        build(&good, &Logger::default()).expect("inline CA, certificate and key");
        let cases = [
            (
                TlsConfig {
                    ca: Some("not a certificate".to_string()),
                    ..TlsConfig::default()
                },
                "tls_config.ca: no PEM certificate found",
            ),
            (
                TlsConfig {
                    cert: Some(cert.pem()),
                    key: Some(crate::config::Secret::new(other_key.clone())),
                    ..TlsConfig::default()
                },
                "tls_config.key: unusable with tls_config.cert",
            ),
            (
                TlsConfig {
                    cert: Some(cert.pem()),
                    key: Some(crate::config::Secret::new("secret garbage")),
                    ..TlsConfig::default()
                },
                "tls_config.key: no PEM private key found",
            ),
        ];
        for (tls, wanted) in cases {
            let error = build(&tls, &Logger::default()).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidConfig);
            assert!(error.message().starts_with(wanted), "{error}");
            assert!(!error.message().contains("garbage"), "{error}");
            assert!(!error.message().contains("PRIVATE KEY"), "{error}");
        }
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
