//! TLS settings: trust roots from `ca_file`, a client certificate from `cert_file`/`key_file`,
//! `insecure_skip_verify`, and `server_name`.

use ureq::Agent;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig as UreqTls};

use crate::config::TlsConfig;
use crate::error::{Error, ErrorKind, Result};

/// Builds ureq's TLS settings, reading the PEM files now so errors surface at start.
pub fn build(tls: &TlsConfig) -> Result<UreqTls> {
    let mut builder = UreqTls::builder().disable_verification(tls.insecure_skip_verify);
    if let Some(ca_file) = &tls.ca_file {
        let pem = read(ca_file, "tls_config.ca_file")?;
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| invalid("tls_config.ca_file", format!("{}: {e}", ca_file.display())))?;
        if certs.is_empty() {
            return Err(invalid(
                "tls_config.ca_file",
                format!("{}: no PEM certificate found", ca_file.display()),
            ));
        }
        builder = builder.root_certs(RootCerts::new_with_certs(&certs));
    }
    if let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) {
        let cert_pem = read(cert_file, "tls_config.cert_file")?;
        let chain: Vec<Certificate<'static>> = Certificate::from_pem(&cert_pem)
            .map(|c| vec![c])
            .map_err(|e| invalid("tls_config.cert_file", format!("{}: {e}", cert_file.display())))?;
        let key_pem = read(key_file, "tls_config.key_file")?;
        let key = PrivateKey::from_pem(&key_pem)
            .map_err(|e| invalid("tls_config.key_file", format!("{}: {e}", key_file.display())))?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

/// Makes the agent for an endpoint.
pub fn agent(config: ureq::config::Config, _tls: &TlsConfig) -> Agent {
    Agent::new_with_config(config)
}

/// Reads a PEM file named by `field`.
fn read(path: &std::path::Path, field: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(field, format!("cannot read {}: {e}", path.display())))
}

/// An `InvalidConfig` error for `field`.
fn invalid(field: &str, message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("{field}: {message}"))
}
