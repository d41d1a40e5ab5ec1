//! `promrw check-config FILE`: validates a configuration file as `Sender::new` would (parsing,
//! validation, and each endpoint's TLS files and proxy URL, by building its transport, which
//! opens no connection) and prints the endpoints it would send to, with secrets hidden.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use promrw::LogLevel;
use promrw::config::{EndpointConfig, format_duration};
use promrw::log::{Logger, StderrSink};
use promrw::redact::redact_url_and_query;
use promrw::transport::Transport;
use promrw::transport::auth::AuthSource;
use promrw::{Config, OverflowPolicy};

/// Exit status for a configuration that is not valid (clap uses 2 for usage errors too, but
/// prints its own usage text; 1 is left to other failures).
const INVALID: u8 = 2;

/// Arguments of `promrw check-config`.
#[derive(clap::Args)]
pub struct CheckConfigArgs {
    /// The configuration file: the `remote_write` block in YAML or JSON.
    file: PathBuf,
}

/// Checks the file, prints the endpoints (exit 0) or `error: <message>` to stderr (exit 2).
pub fn run(args: CheckConfigArgs) -> ExitCode {
    let config = match Config::from_file(&args.file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(INVALID);
        }
    };
    if let Err(error) = config.check_supported() {
        eprintln!("error: {error}");
        return ExitCode::from(INVALID);
    }
    if !config.ignored_prometheus_keys.is_empty() {
        eprintln!(
            "info: Prometheus keys accepted and ignored by promrw: {}",
            config.ignored_prometheus_keys.join(", ")
        );
    }
    // What `Sender::new` does beyond parsing: build a transport per endpoint (it reads the
    // TLS files and the system's CA store, and parses the proxy URL; it does not connect).
    // Problems reading the system's CA store are warnings on stderr: they do not fail a
    // sender either.
    let logger = Logger::new(Arc::new(StderrSink), LogLevel::Warn);
    for (index, endpoint) in config.endpoints.iter().enumerate() {
        if let Err(error) = Transport::with_logger(endpoint, &logger) {
            eprintln!("error: {error}");
            eprintln!(
                "(in remote_write[{index}], remote_name {})",
                endpoint.remote_name()
            );
            return ExitCode::from(INVALID);
        }
    }
    print!("{}", describe(&config, &args.file));
    // Credential files are read at every request, so an unreadable one does not fail the
    // sender's start; say so here, since every request would fail until it is readable.
    for (index, endpoint) in config.endpoints.iter().enumerate() {
        let auth = AuthSource::new(
            endpoint.basic_auth.as_ref(),
            endpoint.authorization.as_ref(),
        );
        if let Err(message) = auth.header_value() {
            eprintln!(
                "warning: remote_write[{index}]: {message} (it is read at every request; \
                 requests fail until it is readable)"
            );
        }
    }
    ExitCode::SUCCESS
}

/// The report printed for a valid configuration.
fn describe(config: &Config, file: &std::path::Path) -> String {
    let mut out = String::new();
    let count = config.endpoints.len();
    let _ = writeln!(
        out,
        "{}: valid, {count} endpoint{}",
        file.display(),
        if count == 1 { "" } else { "s" }
    );
    for (index, endpoint) in config.endpoints.iter().enumerate() {
        describe_endpoint(&mut out, index, endpoint);
    }
    let labels = config.external_labels.as_slice();
    if !labels.is_empty() {
        let shown: Vec<String> = labels
            .iter()
            .map(|l| format!("{}={:?}", l.name, l.value))
            .collect();
        let _ = writeln!(out, "external_labels: {}", shown.join(", "));
    }
    let _ = writeln!(
        out,
        "flush_deadline: {}",
        format_duration(config.flush_deadline)
    );
    let _ = writeln!(
        out,
        "max_request_bytes: {} (uncompressed, per request)",
        config.max_request_bytes
    );
    if let Some(wal) = &config.wal {
        let fsync = match wal.fsync {
            promrw::config::FsyncPolicy::Always => "always".to_string(),
            promrw::config::FsyncPolicy::Never => "never".to_string(),
            promrw::config::FsyncPolicy::Interval(every) => {
                format!("interval {}", format_duration(every))
            }
        };
        let _ = writeln!(
            out,
            "wal: dir {}, fsync {fsync}, max_bytes {}, max_age {}, full {} (not supported yet: \
             a sender refuses promrw.wal)",
            wal.dir.display(),
            wal.max_bytes,
            wal.max_age.map_or("off".to_string(), format_duration),
            match wal.full {
                promrw::config::FullPolicy::DropOldest => "drop_oldest",
                promrw::config::FullPolicy::Fail => "fail",
            }
        );
    }
    out
}

/// One endpoint's lines.
fn describe_endpoint(out: &mut String, index: usize, e: &EndpointConfig) {
    let q = &e.queue;
    let _ = writeln!(out, "remote_write[{index}]:");
    let _ = writeln!(out, "  remote_name: {}", e.remote_name());
    let _ = writeln!(out, "  url: {}", redact_url_and_query(&e.url));
    let _ = writeln!(
        out,
        "  remote_timeout: {}",
        format_duration(e.remote_timeout)
    );
    let _ = writeln!(
        out,
        "  shards: min {}, max {}, updated every {} (tolerance {})",
        q.min_shards,
        q.max_shards,
        format_duration(q.shard_update_interval),
        q.shard_tolerance
    );
    let _ = writeln!(out, "  capacity: {} samples per shard", q.capacity);
    let _ = writeln!(
        out,
        "  max_buffered_samples: {} across the shards",
        q.max_buffered_samples
    );
    let _ = writeln!(out, "  max_samples_per_send: {}", q.max_samples_per_send);
    let _ = writeln!(
        out,
        "  batch_send_deadline: {}",
        format_duration(q.batch_send_deadline)
    );
    let overflow = match q.overflow {
        OverflowPolicy::Block => {
            format!("block (block_timeout {})", format_duration(q.block_timeout))
        }
        policy => policy.as_str().to_string(),
    };
    let _ = writeln!(out, "  overflow: {overflow}");
    let _ = writeln!(
        out,
        "  retry: backoff {}..{}, retry_on_http_429 {}, sample_age_limit {}",
        format_duration(q.min_backoff),
        format_duration(q.max_backoff),
        q.retry_on_http_429,
        if q.sample_age_limit.is_zero() {
            "off".to_string()
        } else {
            format_duration(q.sample_age_limit)
        }
    );
    let _ = writeln!(out, "  auth: {}", auth(e));
    let _ = writeln!(out, "  tls: {}", tls(e));
    let proxy = e
        .proxy_url
        .as_deref()
        .map_or_else(|| "none".to_string(), redact_url_and_query);
    let _ = writeln!(out, "  proxy: {proxy}");
    if !e.headers.is_empty() {
        // Names only: header values often carry tokens.
        let names: Vec<&str> = e.headers.iter().map(|(name, _)| name.as_str()).collect();
        let _ = writeln!(out, "  headers: {} (values hidden)", names.join(", "));
    }
    let _ = writeln!(out, "  follow_redirects: {}", e.follow_redirects);
}

/// The authentication kind and where its secret comes from (never the secret).
fn auth(e: &EndpointConfig) -> String {
    if let Some(b) = &e.basic_auth {
        let password = match (&b.password, &b.password_file) {
            (_, Some(file)) => format!("password_file {}", file.display()),
            (Some(_), None) => "password inline (hidden)".to_string(),
            (None, None) => "no password".to_string(),
        };
        return format!("basic (username {:?}, {password})", b.username);
    }
    if let Some(a) = &e.authorization {
        let credentials = match (&a.credentials, &a.credentials_file) {
            (_, Some(file)) => format!("credentials_file {}", file.display()),
            (Some(_), None) => "credentials inline (hidden)".to_string(),
            (None, None) => "no credentials".to_string(),
        };
        let kind = if a.auth_type.eq_ignore_ascii_case("bearer") {
            "bearer".to_string()
        } else {
            format!("authorization type {}", a.auth_type)
        };
        return format!("{kind} ({credentials})");
    }
    "none".to_string()
}

/// The TLS settings that are set, or what applies without any.
fn tls(e: &EndpointConfig) -> String {
    let t = &e.tls;
    let mut parts = Vec::new();
    if let Some(ca) = &t.ca_file {
        parts.push(format!(
            "ca_file {} (with the built-in web roots and the system CA store)",
            ca.display()
        ));
    }
    if let Some(cert) = &t.cert_file {
        parts.push(format!("cert_file {}", cert.display()));
    }
    if let Some(key) = &t.key_file {
        parts.push(format!("key_file {}", key.display()));
    }
    if let Some(name) = &t.server_name {
        parts.push(format!("server_name {name}"));
    }
    if t.insecure_skip_verify {
        parts.push("insecure_skip_verify (server certificate NOT verified)".to_string());
    }
    if parts.is_empty() && e.url.starts_with("http://") {
        "none (http)".to_string()
    } else if parts.is_empty() {
        "default (built-in web roots and the system CA store, verified)".to_string()
    } else {
        parts.join(", ")
    }
}
