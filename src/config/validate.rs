//! Semantic validation of a [`Config`], shared by text configs and the builder. Every message
//! starts with the path of the field at fault.

use std::collections::HashSet;

use super::{Config, EndpointConfig, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Label, Labels};

/// Header names a user may not set: the protocol's own and the hop-by-hop ones (as Prometheus).
const RESERVED_HEADERS: [&str; 17] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "retry-attempt",
];

/// An `InvalidConfig` error for `field`.
fn invalid(field: &str, message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("{field}: {message}"))
}

/// Validates external labels given as a list; an empty list is allowed.
pub(super) fn external_labels(labels: Vec<Label>, field: &str) -> Result<Labels> {
    if labels.is_empty() {
        return Ok(Labels::default());
    }
    if let Some(empty) = labels.iter().find(|l| l.value.is_empty()) {
        return Err(invalid(
            &format!("{field}.{}", empty.name),
            "external label value must not be empty",
        ));
    }
    Labels::new(labels).map_err(|e| invalid(field, e.message()))
}

/// Validates `promrw.wal` (the parser checks what only the text can get wrong; these hold for
/// the builder too).
fn validate_wal(wal: &super::WalConfig) -> Result<()> {
    if wal.dir.as_os_str().is_empty() {
        return Err(invalid(
            "promrw.wal.dir",
            "is required: the directory of the durable queue",
        ));
    }
    if wal.max_bytes < super::MIN_WAL_MAX_BYTES {
        return Err(invalid(
            "promrw.wal.max_bytes",
            format!(
                "{} bytes is too small: the log needs at least 1MiB ({} bytes)",
                wal.max_bytes,
                super::MIN_WAL_MAX_BYTES
            ),
        ));
    }
    if wal.fsync == super::FsyncPolicy::Interval(std::time::Duration::ZERO) {
        return Err(invalid(
            "promrw.wal.fsync_interval",
            "must be greater than 0s",
        ));
    }
    if wal.max_age == Some(std::time::Duration::ZERO) {
        return Err(invalid(
            "promrw.wal.max_age",
            "0s means off: leave max_age out (or None in the builder)",
        ));
    }
    Ok(())
}

/// Validates the whole configuration.
pub(super) fn validate(config: &Config) -> Result<()> {
    if config.endpoints.is_empty() {
        return Err(invalid("remote_write", "at least one endpoint is required"));
    }
    let bytes = config.max_request_bytes;
    if !(super::MIN_MAX_REQUEST_BYTES..=super::MAX_MAX_REQUEST_BYTES).contains(&bytes) {
        return Err(invalid(
            "promrw.max_request_bytes",
            format!(
                "{bytes} is out of range: must be from {} (1 KiB) to {} (1 GiB) bytes",
                super::MIN_MAX_REQUEST_BYTES,
                super::MAX_MAX_REQUEST_BYTES
            ),
        ));
    }
    if let Some(wal) = &config.wal {
        validate_wal(wal)?;
    }
    let mut names = HashSet::new();
    for (index, endpoint) in config.endpoints.iter().enumerate() {
        let field = format!("remote_write[{index}]");
        validate_endpoint(&field, endpoint)?;
        let name = endpoint.remote_name();
        if !names.insert(name.clone()) {
            return Err(invalid(
                &format!("{field}.name"),
                format!("found multiple remote write configs with job name {name:?}"),
            ));
        }
    }
    Ok(())
}

/// Validates one endpoint.
fn validate_endpoint(field: &str, e: &EndpointConfig) -> Result<()> {
    let identity = &e.identity_endpoints;
    for (key, url) in [
        ("aws_sts_url", &identity.aws_sts_url),
        ("azure_authority_host", &identity.azure_authority_host),
        ("azure_imds_url", &identity.azure_imds_url),
    ] {
        if let Some(url) = url {
            validate_url(&format!("promrw.identity_endpoints.{key}"), url)?;
        }
    }
    validate_url(&format!("{field}.url"), &e.url)?;
    if e.remote_timeout.is_zero() {
        return Err(invalid(
            &format!("{field}.remote_timeout"),
            "must be greater than 0",
        ));
    }
    if let Some(name) = &e.name
        && name.is_empty()
    {
        return Err(invalid(&format!("{field}.name"), "must not be empty"));
    }
    for (name, value) in &e.headers {
        let lower = name.to_ascii_lowercase();
        let header_field = format!("{field}.headers.{name}");
        if lower == "authorization" {
            return Err(invalid(
                &header_field,
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(invalid(
                &header_field,
                "is a reserved header and cannot be set",
            ));
        }
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(&header_field, "is not a valid HTTP header name"));
        }
        if http::HeaderValue::from_str(value).is_err() {
            // The value is a secret as often as not: never quote it.
            return Err(invalid(
                &header_field,
                "value is not a valid HTTP header value (it has control characters)",
            ));
        }
    }
    let q = &e.queue;
    let qf = format!("{field}.queue_config");
    for (key, value) in [
        ("capacity", q.capacity),
        ("min_shards", q.min_shards),
        ("max_shards", q.max_shards),
        ("max_samples_per_send", q.max_samples_per_send),
        ("max_buffered_samples", q.max_buffered_samples),
    ] {
        if value == 0 {
            return Err(invalid(&format!("{qf}.{key}"), "must be greater than 0"));
        }
    }
    if q.min_shards > q.max_shards {
        return Err(invalid(
            &format!("{qf}.min_shards"),
            format!(
                "min_shards ({}) must not exceed max_shards ({})",
                q.min_shards, q.max_shards
            ),
        ));
    }
    if q.max_backoff < q.min_backoff {
        return Err(invalid(
            &format!("{qf}.max_backoff"),
            "max_backoff must be greater than or equal to min_backoff",
        ));
    }
    if q.batch_send_deadline.is_zero() {
        return Err(invalid(
            &format!("{qf}.batch_send_deadline"),
            "must be greater than 0",
        ));
    }
    if q.shard_update_interval.is_zero() {
        return Err(invalid(
            &format!("{qf}.shard_update_interval"),
            "must be greater than 0",
        ));
    }
    if !(0.0..1.0).contains(&q.shard_tolerance) {
        return Err(invalid(
            &format!("{qf}.shard_tolerance"),
            format!("must be at least 0 and below 1, got {}", q.shard_tolerance),
        ));
    }
    let auth_methods: Vec<&str> = [
        ("basic_auth", e.basic_auth.is_some()),
        ("authorization", e.authorization.is_some()),
        ("oauth2", e.oauth2.is_some()),
        ("sigv4", e.sigv4.is_some()),
        ("azuread", e.azuread.is_some()),
        ("google_iam", e.google_iam.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| *name)
    .collect();
    if auth_methods.len() > 1 {
        return Err(invalid(
            field,
            format!(
                "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured. Currently configured: [{}]",
                auth_methods.join(" ")
            ),
        ));
    }
    if let Some(b) = &e.basic_auth {
        let bf = format!("{field}.basic_auth");
        if !b.username.is_empty() && b.username_file.is_some() {
            return Err(invalid(
                &bf,
                "at most one of basic_auth username & username_file must be configured",
            ));
        }
        if b.password.is_some() && b.password_file.is_some() {
            return Err(invalid(
                &bf,
                "at most one of basic_auth password & password_file must be configured",
            ));
        }
    }
    let managed = [
        ("sigv4", e.sigv4.as_ref().map(|c| c.check())),
        ("oauth2", e.oauth2.as_ref().map(|c| c.check())),
        ("azuread", e.azuread.as_ref().map(|c| c.check())),
    ];
    for (key, checked) in managed {
        if let Some(Err(message)) = checked {
            return Err(invalid(&format!("{field}.{key}"), message));
        }
    }
    if let Some(a) = &e.authorization {
        let af = format!("{field}.authorization");
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return Err(invalid(
                &af,
                "at most one of credentials and credentials_file must be configured",
            ));
        }
        if a.auth_type.eq_ignore_ascii_case("basic") {
            return Err(invalid(
                &format!("{af}.type"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ));
        }
        if a.auth_type.is_empty() || !a.auth_type.bytes().all(is_header_name_byte) {
            return Err(invalid(
                &format!("{af}.type"),
                "is not a valid authorization scheme",
            ));
        }
        if let Some(credentials) = &a.credentials
            && http::HeaderValue::from_str(credentials.expose()).is_err()
        {
            return Err(invalid(
                &format!("{af}.credentials"),
                "is not valid in an HTTP header (it has control characters)",
            ));
        }
    }
    if let Some(tenant) = &e.tenant {
        validate_tenant(&format!("{field}.tenant"), tenant, e)?;
    }
    validate_tls(&format!("{field}.tls_config"), &e.tls)?;
    validate_proxy(field, e)?;
    validate_http_headers(field, e)?;
    if let Some(proxy) = &e.proxy_url {
        validate_proxy_url(&format!("{field}.proxy_url"), proxy)?;
    }
    if let Some(oauth2) = &e.oauth2 {
        let of = format!("{field}.oauth2");
        if let Some(proxy) = oauth2.proxy_url.as_deref().filter(|p| !p.is_empty()) {
            validate_proxy_url(&format!("{of}.proxy_url"), proxy)?;
        }
        validate_connect_headers(
            &format!("{of}.proxy_connect_header"),
            oauth2.proxy_connect_header.iter(),
        )?;
    }
    Ok(())
}

/// A proxy URL: an http or https URL (SOCKS and other schemes are refused).
fn validate_proxy_url(field: &str, proxy: &str) -> Result<()> {
    if !(proxy.starts_with("http://") || proxy.starts_with("https://")) {
        return Err(invalid(
            field,
            format!(
                "unsupported proxy URL {:?}: only http:// and https:// proxies are supported",
                crate::redact::redact_url(proxy)
            ),
        ));
    }
    validate_url(field, proxy)
}

/// The `tenant` block: a valid label, a header promrw may set, a sendable default.
fn validate_tenant(field: &str, t: &super::TenantRouting, e: &EndpointConfig) -> Result<()> {
    if !crate::model::is_valid_label_name(&t.label) {
        return Err(invalid(
            &format!("{field}.label"),
            format!("{:?} is not a valid label name", t.label),
        ));
    }
    let lower = t.header.to_ascii_lowercase();
    if t.header.is_empty() || !t.header.bytes().all(is_header_name_byte) {
        return Err(invalid(
            &format!("{field}.header"),
            "is not a valid HTTP header name",
        ));
    }
    if lower == "authorization" || RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(invalid(
            &format!("{field}.header"),
            format!(
                "{} is a reserved header and cannot name the tenant",
                t.header
            ),
        ));
    }
    let elsewhere = e
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .chain(e.http_headers.iter().map(|h| h.name.as_str()))
        .any(|name| name.eq_ignore_ascii_case(&t.header));
    if elsewhere {
        return Err(invalid(
            &format!("{field}.header"),
            format!(
                "{} is also set in headers or http_headers: with tenant routing each request names its own tenant",
                t.header
            ),
        ));
    }
    if let Some(default) = &t.default
        && (default.is_empty() || !is_tenant_value(default))
    {
        return Err(invalid(
            &format!("{field}.default"),
            "must be a non-empty header value of visible ASCII characters",
        ));
    }
    Ok(())
}

/// True when `value` can name a tenant in a header: visible ASCII, no spaces at the ends.
pub(crate) fn is_tenant_value(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

/// Prometheus's rules for `tls_config`.
fn validate_tls(field: &str, t: &super::TlsConfig) -> Result<()> {
    if t.ca.is_some() && t.ca_file.is_some() {
        return Err(invalid(
            field,
            "at most one of ca & ca_file must be configured",
        ));
    }
    if t.cert.is_some() && t.cert_file.is_some() {
        return Err(invalid(
            field,
            "at most one of cert & cert_file must be configured",
        ));
    }
    if t.key.is_some() && t.key_file.is_some() {
        return Err(invalid(
            field,
            "at most one of key and key_file must be configured",
        ));
    }
    let cert = t.cert.is_some() || t.cert_file.is_some();
    let key = t.key.is_some() || t.key_file.is_some();
    if cert && !key {
        return Err(invalid(
            field,
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ));
    }
    if key && !cert {
        return Err(invalid(
            field,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ));
    }
    if let (Some(min), Some(max)) = (t.min_version, t.max_version)
        && max < min
    {
        return Err(invalid(
            field,
            "tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified",
        ));
    }
    Ok(())
}

/// Prometheus's rules for the proxy keys.
fn validate_proxy(field: &str, e: &EndpointConfig) -> Result<()> {
    let p = &e.proxy;
    if !p.connect_headers.is_empty() && !p.from_environment && e.proxy_url.is_none() {
        return Err(invalid(
            &format!("{field}.proxy_connect_header"),
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ));
    }
    if p.from_environment && e.proxy_url.is_some() {
        return Err(invalid(
            &format!("{field}.proxy_from_environment"),
            "if proxy_from_environment is configured, proxy_url must not be configured",
        ));
    }
    if p.from_environment && p.no_proxy.is_some() {
        return Err(invalid(
            &format!("{field}.proxy_from_environment"),
            "if proxy_from_environment is configured, no_proxy must not be configured",
        ));
    }
    if p.no_proxy.is_some() && e.proxy_url.is_none() {
        return Err(invalid(
            &format!("{field}.no_proxy"),
            "if no_proxy is configured, proxy_url must also be configured",
        ));
    }
    validate_connect_headers(
        &format!("{field}.proxy_connect_header"),
        p.connect_headers
            .iter()
            .map(|(name, values)| (name, values)),
    )
}

/// `proxy_connect_header` (named `field`): valid header names and values.
fn validate_connect_headers<'a>(
    field: &str,
    headers: impl Iterator<Item = (&'a String, &'a Vec<Secret>)>,
) -> Result<()> {
    for (name, values) in headers {
        let hf = format!("{field}.{name}");
        if name.is_empty() || !name.bytes().all(is_header_name_byte) {
            return Err(invalid(&hf, "is not a valid HTTP header name"));
        }
        if values
            .iter()
            .any(|v| http::HeaderValue::from_str(v.expose()).is_err())
        {
            return Err(invalid(
                &hf,
                "value is not a valid HTTP header value (it has control characters)",
            ));
        }
    }
    Ok(())
}

/// Prometheus's rules for `http_headers`: no reserved header, valid names and values.
fn validate_http_headers(field: &str, e: &EndpointConfig) -> Result<()> {
    for header in &e.http_headers {
        let hf = format!("{field}.http_headers.{}", header.name);
        let lower = header.name.to_ascii_lowercase();
        if lower == "authorization" || RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(invalid(
                &hf,
                format!("setting header {:?} is not allowed", header.name),
            ));
        }
        if header.name.is_empty() || !header.name.bytes().all(is_header_name_byte) {
            return Err(invalid(&hf, "is not a valid HTTP header name"));
        }
        let inline = header
            .values
            .iter()
            .map(String::as_str)
            .chain(header.secrets.iter().map(|s| s.expose()));
        for value in inline {
            if http::HeaderValue::from_str(value).is_err() {
                return Err(invalid(
                    &hf,
                    "value is not a valid HTTP header value (it has control characters)",
                ));
            }
        }
        if e.headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(&header.name))
        {
            return Err(invalid(
                &hf,
                "is also set in headers: give each header in one of headers and http_headers",
            ));
        }
    }
    Ok(())
}

/// What `Sender::new` refuses although the configuration is valid: keys promrw parses and
/// validates but does not implement (yet). Each error names the key.
pub(crate) fn refuse_unsupported(config: &Config) -> Result<()> {
    for (index, e) in config.endpoints.iter().enumerate() {
        let field = format!("remote_write[{index}]");
        let not_yet = |key: &str, what: &str| {
            Err(invalid(
                &format!("{field}.{key}"),
                format!("{what} is not supported yet"),
            ))
        };
        if let Some(oauth2) = &e.oauth2 {
            let jwt_keys = [
                (
                    "grant_type",
                    oauth2
                        .grant_type
                        .as_deref()
                        .is_some_and(|g| g != "client_credentials"),
                ),
                (
                    "client_certificate_key",
                    oauth2.client_certificate_key.is_some(),
                ),
                (
                    "client_certificate_key_file",
                    oauth2.client_certificate_key_file.is_some(),
                ),
                (
                    "client_certificate_key_id",
                    oauth2.client_certificate_key_id.is_some(),
                ),
                ("signature_algorithm", oauth2.signature_algorithm.is_some()),
                ("iss", oauth2.iss.is_some()),
                ("audience", oauth2.audience.is_some()),
                ("claims", !oauth2.claims.is_empty()),
            ];
            if let Some((key, _)) = jwt_keys.iter().find(|(_, set)| *set) {
                return not_yet(&format!("oauth2.{key}"), "the JWT bearer grant");
            }
        }
        if e.azuread.as_ref().is_some_and(|a| a.certificate.is_some()) {
            return not_yet(
                "azuread.certificate",
                "Azure AD client certificate authentication",
            );
        }
        if e.google_iam.is_some() {
            return Err(invalid(
                &format!("{field}.google_iam"),
                "is not supported: Google Cloud does not accept remote write (Prometheus reserves the key)",
            ));
        }
        if e.enable_http2 {
            return Err(invalid(
                &format!("{field}.enable_http2"),
                "HTTP/2 is not supported: promrw speaks HTTP/1.1 (Prometheus's default for remote write); leave it false",
            ));
        }
        if e.tls
            .max_version
            .is_some_and(|v| v < super::TlsVersion::Tls12)
        {
            return Err(invalid(
                &format!("{field}.tls_config.max_version"),
                "TLS 1.0 and 1.1 are not supported: promrw negotiates TLS 1.2 or 1.3",
            ));
        }
    }
    Ok(())
}

/// Checks that `url` is an absolute http(s) URL with a host.
fn validate_url(field: &str, url: &str) -> Result<()> {
    if url.is_empty() {
        return Err(invalid(field, "url for remote_write is empty"));
    }
    let shown = crate::redact::redact_url(url);
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            invalid(
                field,
                format!("{shown:?} must start with http:// or https://"),
            )
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() {
        return Err(invalid(field, format!("{shown:?} has no host")));
    }
    if url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(invalid(
            field,
            format!("{shown:?} contains whitespace or control characters"),
        ));
    }
    if !url.is_ascii() {
        return Err(invalid(
            field,
            format!(
                "{shown:?} contains non-ASCII characters: write an internationalised host in its \
                 punycode form (xn--...) and percent-encode the path"
            ),
        ));
    }
    // The HTTP client's own URI rules: what passes here can be sent.
    let uri = http::Uri::try_from(url)
        .map_err(|e| invalid(field, format!("{shown:?} is not a valid URL: {e}")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| invalid(field, format!("{shown:?} has no host")))?;
    // The part after the host (an IPv6 literal is bracketed, so look past its `]`).
    let hostport = authority.as_str().rsplit('@').next().unwrap_or("");
    let after_host = &hostport[hostport.rfind(']').map_or(0, |i| i + 1)..];
    if let Some((_, port)) = after_host.rsplit_once(':') {
        match port.parse::<u16>() {
            Ok(0) => return Err(invalid(field, format!("{shown:?}: port 0 is not usable"))),
            Ok(_) => {}
            Err(_) if port.is_empty() => {}
            Err(_) => {
                return Err(invalid(
                    field,
                    format!("{shown:?} is not a valid URL: port {port:?} is not 1-65535"),
                ));
            }
        }
    }
    Ok(())
}

/// True for bytes allowed in an HTTP header name (RFC 9110 token).
fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
