//! An independent AWS Signature Version 4 verifier for the test receivers: given a request as
//! it was received and the credentials of its access key, it recomputes the signature from
//! scratch, following AWS's published specification ("Create a signed AWS API request" in the
//! IAM user guide), and compares it with the one in the `Authorization` header.
//!
//! It is written with `hmac` and `sha2` only, never with the `aws-sigv4` crate the library
//! signs with, so that a mistake shared by the signer and its checker cannot pass unseen. The
//! test-suite vectors AWS publishes (`tools/tests/data/sigv4`, read by [`vectors`]) check it.
//!
//! The steps, as the specification gives them for services other than S3:
//!
//! 1. The canonical request:
//!    * the method;
//!    * the canonical URI: the path as it was sent (already percent-encoded once), optionally
//!      normalised (empty and `.` segments dropped, `..` segments resolved), and URI-encoded
//!      again, every byte but the unreserved characters and `/` as `%XY` (the "double
//!      encoding" of non-S3 services);
//!    * the canonical query string: each `name=value` pair percent-decoded, then encoded once
//!      (unreserved characters kept), sorted by name and then value;
//!    * the canonical headers: for each signed header, its lower-case name, `:`, and its
//!      values (each trimmed, runs of whitespace made one space) joined by `,`, one per line;
//!    * the signed headers, `;`-separated;
//!    * the hex SHA-256 of the body.
//! 2. The string to sign: `AWS4-HMAC-SHA256`, the `x-amz-date`, the credential scope
//!    `<date>/<region>/<service>/aws4_request` and the hex SHA-256 of the canonical request,
//!    one per line.
//! 3. The signing key: HMAC-SHA256 chained over the date, region, service and `aws4_request`,
//!    starting from `AWS4<secret key>`; the signature is the hex HMAC of the string to sign.
//!
//! [`verify`] also checks what a receiving service would: the `Authorization` header's form,
//! that the scope's date is the date of `x-amz-date`, the region and service, that `host` and
//! `x-amz-date` are signed, that `x-amz-security-token` is there, right and signed when the
//! credentials have a session token, and that `x-amz-date` is within a few minutes of now.
//! No reason it gives contains a secret key, session token or computed signature.

pub mod vectors;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The one algorithm of SigV4 with HMAC.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far `x-amz-date` may be from now, as AWS services allow.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// A request as it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The path as sent on the request line (percent-encoded as it was), without the query.
    pub path: String,
    /// The raw query string, without the `?` (empty when there is none).
    pub query: String,
    /// The headers in the order received, names as sent (they are compared without case).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// A request from its method, request target (`/path?query`), headers and body.
    pub fn new(
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> ReceivedRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        ReceivedRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body,
        }
    }

    /// The values of header `name` (any case), in the order received.
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of header `name` when it was sent exactly once; an error naming it otherwise.
    fn single_header<'a>(&'a self, name: &str) -> Result<Option<&'a str>, String> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(format!("more than one {name} header"));
        }
        Ok(first)
    }
}

/// The secret half of an access key, and the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl Credentials {
    /// Long-term credentials: a secret key without session token.
    pub fn new(secret_access_key: &str) -> Credentials {
        Credentials {
            secret_access_key: secret_access_key.to_string(),
            session_token: None,
        }
    }

    /// Temporary credentials: a secret key with a session token.
    pub fn with_session_token(secret_access_key: &str, session_token: &str) -> Credentials {
        Credentials {
            secret_access_key: secret_access_key.to_string(),
            session_token: Some(session_token.to_string()),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_access_key", &"<secret>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<secret>"),
            )
            .finish()
    }
}

/// What the verifier expects of a request besides a right signature.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The region of the credential scope, e.g. `us-east-1`.
    pub region: String,
    /// The service of the credential scope, e.g. `aps`.
    pub service: String,
    /// The time `x-amz-date` is compared with; `None` is the wall clock at each verification.
    pub now: Option<SystemTime>,
    /// How far `x-amz-date` may be from `now`; `None` skips the check.
    pub max_skew: Option<Duration>,
    /// Whether the path is normalised before it is encoded (AWS's rule for every service
    /// but S3, and the `aws-sigv4` crate's default).
    pub normalize_path: bool,
    /// Headers (lower-case) that must be among the signed ones, besides `host` and
    /// `x-amz-date` (always required).
    pub required_signed_headers: Vec<String>,
}

impl Expectations {
    /// Region and service as given, the wall clock, ±5 minutes, the path normalised, no
    /// further required signed headers.
    pub fn new(region: &str, service: &str) -> Expectations {
        Expectations {
            region: region.to_string(),
            service: service.to_string(),
            now: None,
            max_skew: Some(DEFAULT_MAX_SKEW),
            normalize_path: true,
            required_signed_headers: Vec::new(),
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// The access key id of `Credential`.
    pub access_key_id: String,
    /// The scope's date, `YYYYMMDD`.
    pub date: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service.
    pub service: String,
    /// `SignedHeaders`, in the order given.
    pub signed_headers: Vec<String>,
    /// `Signature`, as given.
    pub signature: String,
}

impl AuthorizationHeader {
    /// The credential scope, `<date>/<region>/<service>/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What a verified request was signed with, and the values recomputed on the way.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The access key id.
    pub access_key_id: String,
    /// `x-amz-date`.
    pub amz_date: String,
    /// The credential scope.
    pub scope: String,
    /// The signed headers.
    pub signed_headers: Vec<String>,
    /// Whether the request carried a (right, signed) session token.
    pub session_token: bool,
    /// The canonical request recomputed (it holds the session token, when there is one:
    /// `Debug` leaves it out).
    pub canonical_request: String,
    /// The string to sign recomputed.
    pub string_to_sign: String,
    /// The signature, which matched the recomputed one.
    pub signature: String,
}

impl fmt::Debug for VerifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedRequest")
            .field("access_key_id", &self.access_key_id)
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("signed_headers", &self.signed_headers)
            .field("session_token", &self.session_token)
            .field("string_to_sign", &self.string_to_sign)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// Parses an `Authorization` header value of the form
/// `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=<h1;h2>, Signature=<64 lower-case hex digits>`.
pub fn parse_authorization(value: &str) -> Result<AuthorizationHeader, String> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            let scheme = value.split(' ').next().unwrap_or("");
            format!("Authorization scheme is {scheme:?}, not {ALGORITHM}")
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("Authorization component {part:?} is not key=value"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(format!("Authorization has an unknown component {key:?}")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("Authorization has {key} twice"));
        }
    }
    let credential = credential.ok_or("Authorization has no Credential")?;
    let signed = signed.ok_or("Authorization has no SignedHeaders")?;
    let signature = signature.ok_or("Authorization has no Signature")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = scope[..] else {
        return Err(format!(
            "Credential {credential:?} is not <key>/<date>/<region>/<service>/aws4_request"
        ));
    };
    if terminator != "aws4_request" {
        return Err(format!(
            "Credential scope ends in {terminator:?}, not aws4_request"
        ));
    }
    if key.is_empty() || region.is_empty() || service.is_empty() {
        return Err(format!("Credential {credential:?} has an empty part"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("Credential scope date {date:?} is not YYYYMMDD"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(format!("SignedHeaders {signed:?} has an empty name"));
    }
    if let Some(h) = signed_headers
        .iter()
        .find(|h| h.to_ascii_lowercase() != **h)
    {
        return Err(format!("SignedHeaders has {h:?}, not in lower case"));
    }
    if signed_headers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "SignedHeaders {signed:?} is not sorted without repeats"
        ));
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("Signature is not 64 lower-case hex digits".to_string());
    }
    Ok(AuthorizationHeader {
        access_key_id: key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_string(),
    })
}

/// Whether `b` is an unreserved character of RFC 3986 (`A-Z a-z 0-9 - . _ ~`).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// URI-encodes `bytes` as SigV4 does: unreserved characters (and `/` when `keep_slash`) as
/// they are, every other byte as `%XY` with upper-case hex digits.
pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XY` escapes; a `%` not followed by two hex digits stays as it is, and `+` is a
/// plus (RFC 3986), not a space.
pub fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The value of one hex digit.
fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Normalises a path as SigV4 does for services other than S3: empty and `.` segments are
/// dropped, `..` removes the segment before it, and a trailing `/` (or a last `.` or `..`
/// segment) leaves the result ending in `/`. `//example//` becomes `/example/`.
pub fn normalize_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut kept: Vec<&str> = Vec::new();
    for segment in &segments {
        match *segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    let mut out = format!("/{}", kept.join("/"));
    let trailing = matches!(segments.last(), Some(&"") | Some(&".") | Some(&".."));
    if trailing && out != "/" {
        out.push('/');
    }
    out
}

/// The canonical URI of a path as it was sent: normalised when asked, then URI-encoded again
/// (`/` kept). An empty path is `/`.
pub fn canonical_uri(path: &str, normalize: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if normalize {
        uri_encode(normalize_path(path).as_bytes(), true)
    } else {
        uri_encode(path.as_bytes(), true)
    }
}

/// The canonical query string of a raw query: every `name=value` pair (a pair without `=` has
/// an empty value) decoded, encoded once, sorted by name and then value, joined by `&`.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(name), false),
                uri_encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as SigV4 signs it: trimmed, each run of whitespace made one space.
pub fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical headers block: one `name:value1,value2` line (ending in a newline) for each
/// of `signed` (lower-case, in order), its values taken from `headers` in the order received.
/// An error names a signed header the request does not have.
pub fn canonical_headers(
    headers: &[(String, String)],
    signed: &[String],
) -> Result<String, String> {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_header_value(v))
            .collect();
        if values.is_empty() {
            return Err(format!("signed header {name} is not in the request"));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical request of `request` with the headers `signed` (lower-case, sorted): method,
/// canonical URI, canonical query, canonical headers, a blank line... as the specification
/// lays it out, with the hex SHA-256 of the body last.
pub fn canonical_request(
    request: &ReceivedRequest,
    signed: &[String],
    normalize_path: bool,
) -> Result<String, String> {
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(&request.path, normalize_path),
        canonical_query(&request.query),
        canonical_headers(&request.headers, signed)?,
        signed.join(";"),
        sha256_hex(&request.body)
    ))
}

/// The string to sign: the algorithm, `amz_date`, `scope` and the hex SHA-256 of
/// `canonical_request`, one per line.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// HMAC-SHA256 of `data` with `key`.
fn hmac(key: &[u8], data: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac
}

/// The signing key: HMAC-SHA256 chained over `date` (`YYYYMMDD`), `region`, `service` and
/// `aws4_request`, from the key `AWS4<secret>`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes()).finalize().into_bytes().to_vec();
    }
    key.try_into().expect("SHA-256 is 32 bytes")
}

/// The signature: hex HMAC-SHA256 of `string_to_sign` with `signing_key`.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(
        hmac(signing_key, string_to_sign.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `x-amz-date` (`YYYYMMDDTHHMMSSZ`, UTC).
pub fn parse_amz_date(value: &str) -> Result<SystemTime, String> {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = value.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let bad = || format!("x-amz-date {value:?} is not YYYYMMDDTHHMMSSZ");
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let (year, month, day) = (
        digits(0..4).ok_or_else(bad)?,
        digits(4..6).ok_or_else(bad)?,
        digits(6..8).ok_or_else(bad)?,
    );
    let (hour, minute, second) = (
        digits(9..11).ok_or_else(bad)?,
        digits(11..13).ok_or_else(bad)?,
        digits(13..15).ok_or_else(bad)?,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || year < 1970
    {
        return Err(bad());
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let secs = days as u64 * 86_400 + hour * 3600 + minute * 60 + second;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

/// `t` as `x-amz-date` (`YYYYMMDDTHHMMSSZ`).
pub fn format_amz_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .expect("time after 1970")
        .as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Verifies the SigV4 signature of `request`: `credentials` gives the secret key (and
/// session token) of an access key id, `None` for an unknown one. Returns what the request
/// was signed with, or the reason it is refused, naming what failed.
pub fn verify(
    request: &ReceivedRequest,
    credentials: impl Fn(&str) -> Option<Credentials>,
    expect: &Expectations,
) -> Result<VerifiedRequest, String> {
    let authorization = request
        .single_header("authorization")?
        .ok_or("no Authorization header")?;
    let auth = parse_authorization(authorization)?;
    let amz_date = request
        .single_header("x-amz-date")?
        .ok_or("no x-amz-date header")?;
    let signed_at = parse_amz_date(amz_date)?;
    if amz_date[..8] != auth.date {
        return Err(format!(
            "credential scope date {} is not the date of x-amz-date {amz_date}",
            auth.date
        ));
    }
    if auth.region != expect.region {
        return Err(format!(
            "credential scope region {:?}, expected {:?}",
            auth.region, expect.region
        ));
    }
    if auth.service != expect.service {
        return Err(format!(
            "credential scope service {:?}, expected {:?}",
            auth.service, expect.service
        ));
    }
    let required = ["host", "x-amz-date"]
        .into_iter()
        .chain(expect.required_signed_headers.iter().map(String::as_str));
    for name in required {
        if !auth.signed_headers.iter().any(|h| h == name) {
            return Err(format!("{name} is not among the signed headers"));
        }
    }
    if let Some(max_skew) = expect.max_skew {
        let now = expect.now.unwrap_or_else(SystemTime::now);
        let skew = match now.duration_since(signed_at) {
            Ok(behind) => behind,
            Err(ahead) => ahead.duration(),
        };
        if skew > max_skew {
            return Err(format!(
                "x-amz-date {amz_date} is {} s from now, more than the {} s allowed",
                skew.as_secs(),
                max_skew.as_secs()
            ));
        }
    }
    let creds = credentials(&auth.access_key_id)
        .ok_or_else(|| format!("unknown access key id {:?}", auth.access_key_id))?;
    let token = request.single_header("x-amz-security-token")?;
    match (&creds.session_token, token) {
        (Some(_), None) => {
            return Err(format!(
                "no x-amz-security-token, but the credentials of {} are temporary",
                auth.access_key_id
            ));
        }
        (None, Some(_)) => {
            return Err(format!(
                "an x-amz-security-token, but the credentials of {} have none",
                auth.access_key_id
            ));
        }
        (Some(expected), Some(sent)) => {
            if !constant_time_eq(expected.as_bytes(), sent.trim().as_bytes()) {
                return Err(format!(
                    "x-amz-security-token is not the session token of {}",
                    auth.access_key_id
                ));
            }
            if !auth
                .signed_headers
                .iter()
                .any(|h| h == "x-amz-security-token")
            {
                return Err("x-amz-security-token is not among the signed headers".to_string());
            }
        }
        (None, None) => {}
    }
    let body_hash = sha256_hex(&request.body);
    if let Some(content_sha) = request.single_header("x-amz-content-sha256")?
        && content_sha.trim() != body_hash
    {
        return Err(format!(
            "x-amz-content-sha256 {:?} is not the SHA-256 of the body",
            content_sha.trim()
        ));
    }
    let canonical = canonical_request(request, &auth.signed_headers, expect.normalize_path)?;
    let scope = auth.scope();
    let to_sign = string_to_sign(amz_date, &scope, &canonical);
    let key = signing_key(
        &creds.secret_access_key,
        &auth.date,
        &auth.region,
        &auth.service,
    );
    let sent = hex::decode(&auth.signature).map_err(|e| format!("Signature: {e}"))?;
    // `verify_slice` compares in constant time.
    if hmac(&key, to_sign.as_bytes()).verify_slice(&sent).is_err() {
        return Err(format!(
            "signature does not match the one recomputed from the request (string to sign: \
             {to_sign:?})"
        ));
    }
    Ok(VerifiedRequest {
        access_key_id: auth.access_key_id,
        amz_date: amz_date.to_string(),
        scope,
        signed_headers: auth.signed_headers,
        session_token: token.is_some(),
        canonical_request: canonical,
        string_to_sign: to_sign,
        signature: auth.signature,
    })
}

/// Signs `request` as a client would, for tests of the checks built on [`verify`]: adds
/// `x-amz-date` (`amz_date`) and, with a session token, `x-amz-security-token`, then an
/// `Authorization` header signing every header of the request. Any earlier `Authorization`,
/// `x-amz-date` or `x-amz-security-token` is replaced.
pub fn sign(
    request: &mut ReceivedRequest,
    access_key_id: &str,
    credentials: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) {
    request.headers.retain(|(n, _)| {
        !["authorization", "x-amz-date", "x-amz-security-token"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
    });
    request
        .headers
        .push(("X-Amz-Date".to_string(), amz_date.to_string()));
    if let Some(token) = &credentials.session_token {
        request
            .headers
            .push(("X-Amz-Security-Token".to_string(), token.clone()));
    }
    let mut signed: Vec<String> = request
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    signed.sort();
    signed.dedup();
    let canonical = canonical_request(request, &signed, true).expect("every header is there");
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = string_to_sign(amz_date, &scope, &canonical);
    let key = signing_key(&credentials.secret_access_key, date, region, service);
    let value = format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={}, Signature={}",
        signed.join(";"),
        signature(&key, &to_sign)
    );
    request.headers.push(("Authorization".to_string(), value));
}

#[cfg(test)]
mod tests;
