//! AWS's published SigV4 test-suite vectors, as copied into `tools/tests/data/sigv4` (see the
//! README there): each case's context (credentials, region, service, time, options), the
//! request before and after signing, the canonical request, the string to sign and the
//! signature. For the verifier's tests and for the library's own signer tests.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Credentials, ReceivedRequest, parse_amz_date};

/// What a case is signed with (`context.json`).
#[derive(Debug, Clone)]
pub struct Context {
    /// The access key id (`AKIDEXAMPLE`).
    pub access_key_id: String,
    /// The secret key and, for the session-token cases, the token.
    pub credentials: Credentials,
    /// The region (`us-east-1`).
    pub region: String,
    /// The service (`service`).
    pub service: String,
    /// The signing time as `x-amz-date` (`20150830T123600Z`).
    pub amz_date: String,
    /// The signing time.
    pub time: SystemTime,
    /// Whether the path is normalised before encoding.
    pub normalize: bool,
    /// Whether the signer adds `x-amz-content-sha256` with the body's hash.
    pub sign_body: bool,
    /// Whether the session token is sent without being signed (`post-sts-header-after`).
    pub omit_session_token: bool,
}

/// One test-suite case.
#[derive(Debug, Clone)]
pub struct Vector {
    /// The case's name (its directory).
    pub name: String,
    /// What it is signed with.
    pub context: Context,
    /// The request before signing (`request.txt`).
    pub unsigned: ReceivedRequest,
    /// The signed request (`header-signed-request.txt`), as a receiver gets it.
    pub request: ReceivedRequest,
    /// The canonical request (`header-canonical-request.txt`).
    pub canonical_request: String,
    /// The string to sign (`header-string-to-sign.txt`).
    pub string_to_sign: String,
    /// The signature, hex (`header-signature.txt`).
    pub signature: String,
}

/// The directory holding the cases: `tools/tests/data/sigv4`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4")
}

/// The names of every case, sorted.
pub fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap_or_else(|e| panic!("{}: {e}", dir().display()))
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry
                .file_type()
                .ok()?
                .is_dir()
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// Reads case `name`; panics naming the file that is missing or malformed.
pub fn load(name: &str) -> Vector {
    let base = dir().join(name);
    let read = |file: &str| -> Vec<u8> {
        std::fs::read(base.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", base.join(file).display()))
    };
    let text = |file: &str| -> String {
        String::from_utf8(read(file)).unwrap_or_else(|e| panic!("{name}/{file} is not UTF-8: {e}"))
    };
    Vector {
        name: name.to_string(),
        context: parse_context(&text("context.json"))
            .unwrap_or_else(|e| panic!("{name}/context.json: {e}")),
        unsigned: parse_http(&read("request.txt"))
            .unwrap_or_else(|e| panic!("{name}/request.txt: {e}")),
        request: parse_http(&read("header-signed-request.txt"))
            .unwrap_or_else(|e| panic!("{name}/header-signed-request.txt: {e}")),
        canonical_request: text("header-canonical-request.txt"),
        string_to_sign: text("header-string-to-sign.txt"),
        signature: text("header-signature.txt").trim().to_string(),
    }
}

/// Parses a `context.json`.
pub fn parse_context(text: &str) -> Result<Context, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let string = |value: &serde_json::Value, what: &str| -> Result<String, String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{what} is not a string"))
    };
    let flag = |key: &str| json[key].as_bool().unwrap_or(false);
    let creds = &json["credentials"];
    let secret = string(&creds["secret_access_key"], "credentials.secret_access_key")?;
    let credentials = match creds.get("token") {
        Some(token) => {
            Credentials::with_session_token(&secret, &string(token, "credentials.token")?)
        }
        None => Credentials::new(&secret),
    };
    // "2015-08-30T12:36:00Z" -> "20150830T123600Z"
    let timestamp = string(&json["timestamp"], "timestamp")?;
    let amz_date: String = timestamp
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    Ok(Context {
        access_key_id: string(&creds["access_key_id"], "credentials.access_key_id")?,
        credentials,
        region: string(&json["region"], "region")?,
        service: string(&json["service"], "service")?,
        time: parse_amz_date(&amz_date)?,
        amz_date,
        normalize: flag("normalize"),
        sign_body: flag("sign_body"),
        omit_session_token: flag("omit_session_token"),
    })
}

/// Parses a raw HTTP/1.1 request as the suite writes them: the request line (the target may
/// hold spaces and raw UTF-8: the method ends at the first space, the version starts after
/// the last), header lines `Name:value` (a line starting with whitespace continues the one
/// before, joined with a space), a blank line, and the body. Lines end in `\n` or `\r\n`.
pub fn parse_http(raw: &[u8]) -> Result<ReceivedRequest, String> {
    let (head, body) = match find(raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match find(raw, b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => (raw, &[][..]),
        },
    };
    let head = std::str::from_utf8(head).map_err(|e| format!("head is not UTF-8: {e}"))?;
    let mut lines = head.lines();
    let request_line = lines.next().ok_or("empty request")?;
    let (method, rest) = request_line
        .split_once(' ')
        .ok_or_else(|| format!("request line {request_line:?} has no target"))?;
    let target = match rest.rsplit_once(' ') {
        Some((target, version)) if version.starts_with("HTTP/") => target,
        _ => rest,
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers
                .last_mut()
                .ok_or_else(|| format!("continuation line {line:?} before any header"))?;
            value.push(' ');
            value.push_str(line);
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line {line:?} has no colon"))?;
        headers.push((name.to_string(), value.to_string()));
    }
    Ok(ReceivedRequest::new(method, target, headers, body.to_vec()))
}

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
