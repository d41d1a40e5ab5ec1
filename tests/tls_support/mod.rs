//! Support for the TLS tests: a throw-away PKI made with rcgen (a CA, a server certificate for
//! `promrw.test` only, a client certificate) written to a temporary directory, and a small
//! HTTPS Remote Write receiver on 127.0.0.1 built on rustls, answering HTTP/1.1 with
//! keep-alive, which decodes every request with promrw's receiver code.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use promrw_tools::receiver::{SampleStore, decode_request};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

/// The only name in the server certificate.
pub const SERVER_NAME: &str = "promrw.test";

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty, uniquely named directory.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("promrw-tls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA with a server and a client certificate, as PEM files and as DER for the server.
pub struct Pki {
    /// Holds the PEM files.
    pub dir: TempDir,
    /// The CA certificate.
    pub ca_file: PathBuf,
    /// The client certificate (signed by the CA).
    pub client_cert_file: PathBuf,
    /// The client certificate's key.
    pub client_key_file: PathBuf,
    /// A key that belongs to no certificate here.
    pub stray_key_file: PathBuf,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
    proxy_der: CertificateDer<'static>,
    proxy_key_der: Vec<u8>,
}

impl Pki {
    /// Generates the CA, the server certificate (DNS name `promrw.test` only, no IP address)
    /// and the client certificate, and writes the PEM files under a new temporary directory.
    pub fn generate(tag: &str) -> Pki {
        let dir = TempDir::new(tag);

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "promrw test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let mut server_params =
            CertificateParams::new(vec![SERVER_NAME.to_string()]).expect("server params");
        server_params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAME);
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let client_key = KeyPair::generate().expect("client key");
        let mut client_params = CertificateParams::new(Vec::new()).expect("client params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "promrw client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .expect("client certificate");

        let proxy_key = KeyPair::generate().expect("proxy key");
        let mut proxy_params =
            CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("proxy params");
        proxy_params
            .distinguished_name
            .push(DnType::CommonName, "promrw test proxy");
        proxy_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let proxy_cert = proxy_params
            .signed_by(&proxy_key, &issuer)
            .expect("proxy certificate");

        let stray_key = KeyPair::generate().expect("stray key");

        Pki {
            ca_file: dir.write("ca.pem", &ca_cert.pem()),
            client_cert_file: dir.write("client.pem", &client_cert.pem()),
            client_key_file: dir.write("client-key.pem", &client_key.serialize_pem()),
            stray_key_file: dir.write("stray-key.pem", &stray_key.serialize_pem()),
            ca_der: ca_cert.der().clone(),
            server_der: server_cert.der().clone(),
            server_key_der: server_key.serialize_der(),
            proxy_der: proxy_cert.der().clone(),
            proxy_key_der: proxy_key.serialize_der(),
            dir,
        }
    }

    /// Server settings presenting the `promrw.test` certificate; with `require_client_cert`,
    /// clients must show a certificate signed by the CA.
    pub fn server_config(&self, require_client_cert: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = if require_client_cert {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der.clone()).expect("CA as client root");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let config = builder
            .with_single_cert(vec![self.server_der.clone()], key)
            .expect("server certificate and key");
        Arc::new(config)
    }

    /// Server settings for an https proxy on 127.0.0.1: a certificate for the IP address
    /// 127.0.0.1 only (not `promrw.test`), signed by the CA.
    pub fn proxy_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.proxy_key_der.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.proxy_der.clone()], key)
            .expect("proxy certificate and key");
        Arc::new(config)
    }
}

/// What the HTTPS receiver shared with its connection threads.
#[derive(Default)]
struct Shared {
    store: SampleStore,
    stop: AtomicBool,
    handshakes_ok: AtomicU64,
    handshakes_failed: AtomicU64,
    requests: AtomicU64,
    server_names: Mutex<Vec<Option<String>>>,
}

/// An HTTPS Remote Write receiver on 127.0.0.1. Every request is decoded and validated
/// (`204` when valid, else the decoder's status) and its samples stored. Stopped on drop.
pub struct HttpsReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpsReceiver {
    /// Starts on a free port with `config`.
    pub fn start(config: Arc<ServerConfig>) -> HttpsReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            store: SampleStore::new(true),
            ..Shared::default()
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    let config = config.clone();
                    std::thread::spawn(move || serve(stream, config, &shared));
                }
            })
        };
        HttpsReceiver {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The Remote Write URL with the IP address as host (which the certificate does not name).
    pub fn url(&self) -> String {
        format!("https://{}/api/v1/write", self.addr)
    }

    /// Samples stored.
    pub fn accepted(&self) -> u64 {
        self.shared.store.totals().accepted
    }

    /// The sample store.
    pub fn store(&self) -> &SampleStore {
        &self.shared.store
    }

    /// Requests answered (valid or not).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Completed TLS handshakes.
    pub fn handshakes_ok(&self) -> u64 {
        self.shared.handshakes_ok.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed (e.g. the client refused the certificate, or showed none).
    pub fn handshakes_failed(&self) -> u64 {
        self.shared.handshakes_failed.load(Ordering::SeqCst)
    }

    /// The SNI names sent in completed handshakes (`None` when the client sent none).
    pub fn server_names(&self) -> Vec<Option<String>> {
        self.shared.server_names.lock().unwrap().clone()
    }
}

impl Drop for HttpsReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one connection: handshake, then requests until the client closes or misbehaves.
fn serve(stream: TcpStream, config: Arc<ServerConfig>, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, stream);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            if !shared.stop.load(Ordering::SeqCst) {
                shared.handshakes_failed.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
    }
    shared.handshakes_ok.fetch_add(1, Ordering::SeqCst);
    let name = tls.conn.server_name().map(str::to_string);
    shared.server_names.lock().unwrap().push(name);
    let mut reader = BufReader::new(tls);
    while let Some((headers, body)) = read_request(&mut reader) {
        let decoded = decode_request(|name| headers.get(name).cloned(), &body);
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let (status, text) = match decoded {
            Ok(request) => {
                shared.store.store(&request);
                (204, String::new())
            }
            Err(error) => (error.status, error.message),
        };
        let response = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{text}",
            if status == 204 { "No Content" } else { "Error" },
            if status == 204 { 0 } else { text.len() },
        );
        let tls = reader.get_mut();
        if tls
            .write_all(response.as_bytes())
            .and_then(|()| tls.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Reads one request with a `Content-Length` body: its headers (lower-case names) and body.
/// `None` at end of stream or on anything unexpected.
fn read_request(reader: &mut impl BufRead) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 || !line.starts_with("POST ") {
        return None;
    }
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

/// An HTTP CONNECT proxy on 127.0.0.1, plain or (with a server config) https, that tunnels
/// to any address and counts the tunnels it opened. Its threads end with their connections.
pub struct ConnectProxy {
    addr: SocketAddr,
    tunnels: Arc<AtomicU64>,
    tls: bool,
}

impl ConnectProxy {
    /// Starts on a free port; with `tls`, clients must speak TLS to the proxy itself.
    pub fn start(tls: Option<Arc<ServerConfig>>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let tunnels = Arc::new(AtomicU64::new(0));
        let is_tls = tls.is_some();
        {
            let tunnels = tunnels.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let tunnels = tunnels.clone();
                    let tls = tls.clone();
                    std::thread::spawn(move || {
                        // Short reads so one thread can relay both ways.
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(5)));
                        match tls.map(ServerConnection::new) {
                            None => tunnel(stream, &tunnels),
                            Some(Ok(conn)) => tunnel(StreamOwned::new(conn, stream), &tunnels),
                            Some(Err(_)) => {}
                        }
                    });
                }
            });
        }
        ConnectProxy {
            addr,
            tunnels,
            tls: is_tls,
        }
    }

    /// The proxy URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> u64 {
        self.tunnels.load(Ordering::SeqCst)
    }
}

/// Whether an I/O error is only a read timeout.
fn timed_out(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Reads a CONNECT request from `client`, connects to its target and relays bytes both ways
/// until either side closes or stays idle for 5 s.
fn tunnel(mut client: impl Read + Write, tunnels: &AtomicU64) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let mut idle = 0;
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(0) => return,
            Ok(_) => head.push(byte[0]),
            Err(e) if timed_out(&e) && idle < 1000 => idle += 1,
            Err(_) => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
    else {
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(target) else {
        return;
    };
    let _ = upstream.set_read_timeout(Some(Duration::from_millis(5)));
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .and_then(|()| client.flush())
        .is_err()
    {
        return;
    }
    tunnels.fetch_add(1, Ordering::SeqCst);
    let mut buf = vec![0u8; 16 * 1024];
    let mut idle = 0;
    while idle < 1000 {
        let mut moved = false;
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if upstream.write_all(&buf[..n]).is_err() {
                    return;
                }
                moved = true;
            }
            Err(e) if timed_out(&e) => {}
            Err(_) => return,
        }
        match upstream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if client
                    .write_all(&buf[..n])
                    .and_then(|()| client.flush())
                    .is_err()
                {
                    return;
                }
                moved = true;
            }
            Err(e) if timed_out(&e) => {}
            Err(_) => return,
        }
        idle = if moved { 0 } else { idle + 1 };
    }
}
