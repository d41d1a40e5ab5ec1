//! The verifier against AWS's published test-suite vectors, and each of its checks.

use std::time::Duration;

use super::vectors::{self, Vector};
use super::*;

/// The cases the issue names (and their relatives): each must be in the copied suite.
const NAMED_CASES: [&str; 16] = [
    "get-vanilla",
    "get-vanilla-query",
    "get-vanilla-query-order-key-case",
    "get-vanilla-empty-query-key",
    "get-header-value-trim",
    "get-utf8",
    "get-unreserved",
    "post-vanilla",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-header-key-case",
    "get-vanilla-with-session-token",
    "get-slash-normalized",
    "get-slashes-normalized",
    "get-relative-normalized",
    "get-relative-relative-normalized",
];

/// The one case whose session token is sent but not signed: the verifier refuses it.
const TOKEN_NOT_SIGNED: &str = "post-sts-header-after";

/// What the verifier expects of vector `v`: its region and service, its time, its path rule.
fn expectations(v: &Vector) -> Expectations {
    Expectations {
        now: Some(v.context.time),
        normalize_path: v.context.normalize,
        ..Expectations::new(&v.context.region, &v.context.service)
    }
}

/// Verifies `request` with `v`'s credentials and expectations.
fn verify_as(v: &Vector, request: &ReceivedRequest) -> Result<VerifiedRequest, String> {
    let key = v.context.access_key_id.clone();
    let creds = v.context.credentials.clone();
    verify(
        request,
        move |id| (id == key).then(|| creds.clone()),
        &expectations(v),
    )
}

/// Sets header `name` (the first of that name) to `value`.
fn set_header(request: &mut ReceivedRequest, name: &str, value: &str) {
    let slot = request
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("no {name} header"));
    slot.1 = value.to_string();
}

/// The value of header `name`.
fn header(request: &ReceivedRequest, name: &str) -> String {
    request
        .header_values(name)
        .next()
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_string()
}

#[test]
fn sigv4_suite_has_the_named_cases_and_more() {
    let cases = vectors::cases();
    for name in NAMED_CASES.iter().chain(&[TOKEN_NOT_SIGNED]) {
        assert!(cases.iter().any(|c| c == name), "{name} missing: {cases:?}");
    }
    assert_eq!(cases.len(), 38, "{cases:?}");
}

#[test]
fn sigv4_every_vector_canonical_request_string_to_sign_and_signature() {
    for name in vectors::cases() {
        let v = vectors::load(&name);
        let auth = parse_authorization(&header(&v.request, "authorization"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The intermediate values, from the signed request and its SignedHeaders.
        let canonical = canonical_request(&v.request, &auth.signed_headers, v.context.normalize)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(canonical, v.canonical_request, "{name}: canonical request");
        let to_sign = string_to_sign(&header(&v.request, "x-amz-date"), &auth.scope(), &canonical);
        assert_eq!(to_sign, v.string_to_sign, "{name}: string to sign");
        let key = signing_key(
            &v.context.credentials.secret_access_key,
            &auth.date,
            &auth.region,
            &auth.service,
        );
        assert_eq!(signature(&key, &to_sign), v.signature, "{name}: signature");
        assert_eq!(auth.signature, v.signature, "{name}: Authorization header");

        // The whole verification.
        let verified = verify_as(&v, &v.request);
        if name == TOKEN_NOT_SIGNED {
            let reason = verified.expect_err(&name);
            assert!(
                reason.contains("x-amz-security-token is not among the signed headers"),
                "{name}: {reason}"
            );
            continue;
        }
        let verified = verified.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.canonical_request, v.canonical_request, "{name}");
        assert_eq!(verified.string_to_sign, v.string_to_sign, "{name}");
        assert_eq!(verified.signature, v.signature, "{name}");
        assert_eq!(verified.access_key_id, "AKIDEXAMPLE");
        assert_eq!(verified.scope, "20150830/us-east-1/service/aws4_request");
        assert_eq!(
            verified.session_token,
            v.context.credentials.session_token.is_some(),
            "{name}"
        );
    }
}

#[test]
fn sigv4_a_byte_of_the_body_changed_fails() {
    for name in vectors::cases() {
        let v = vectors::load(&name);
        if name == TOKEN_NOT_SIGNED {
            continue;
        }
        let mut request = v.request.clone();
        match request.body.first_mut() {
            Some(b) => *b ^= 1,
            None => request.body.push(b'x'),
        }
        let reason = verify_as(&v, &request).expect_err(&name);
        let expected = if v.context.sign_body {
            "x-amz-content-sha256"
        } else {
            "signature does not match"
        };
        assert!(reason.contains(expected), "{name}: {reason}");
    }
}

#[test]
fn sigv4_a_signed_header_value_changed_fails() {
    for name in vectors::cases() {
        let v = vectors::load(&name);
        if name == TOKEN_NOT_SIGNED {
            continue;
        }
        let auth = parse_authorization(&header(&v.request, "authorization")).unwrap();
        // The first signed header that is not a date, token or body hash (checked apart).
        let target = auth
            .signed_headers
            .iter()
            .find(|h| {
                !matches!(
                    h.as_str(),
                    "x-amz-date" | "x-amz-security-token" | "x-amz-content-sha256"
                )
            })
            .expect("a plain signed header");
        let mut request = v.request.clone();
        let slot = request
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(target))
            .unwrap();
        // One character changed: the last one that is not whitespace.
        let mut chars: Vec<char> = slot.1.chars().collect();
        let at = chars.iter().rposition(|c| !c.is_whitespace()).unwrap();
        chars[at] = if chars[at] == 'x' { 'y' } else { 'x' };
        slot.1 = chars.into_iter().collect();
        let reason = verify_as(&v, &request).expect_err(&name);
        assert!(
            reason.contains("signature does not match"),
            "{name} ({target}): {reason}"
        );
    }
}

#[test]
fn sigv4_a_changed_date_fails() {
    for name in vectors::cases() {
        let v = vectors::load(&name);
        if name == TOKEN_NOT_SIGNED {
            continue;
        }
        // A second later: the scope still fits, the signature does not.
        let mut request = v.request.clone();
        set_header(&mut request, "x-amz-date", "20150830T123601Z");
        let reason = verify_as(&v, &request).expect_err(&name);
        assert!(
            reason.contains("signature does not match"),
            "{name}: {reason}"
        );
        // A day later: the scope's date is not the date's.
        set_header(&mut request, "x-amz-date", "20150831T123600Z");
        let reason = verify_as(&v, &request).expect_err(&name);
        assert!(
            reason.contains("credential scope date 20150830 is not the date of x-amz-date"),
            "{name}: {reason}"
        );
    }
}

#[test]
fn sigv4_normalised_and_unnormalised_paths_differ() {
    // The suite signs `//example//` both ways; each verifies only under its own rule.
    let normalized = vectors::load("get-slashes-normalized");
    let unnormalized = vectors::load("get-slashes-unnormalized");
    assert_eq!(normalized.request.path, "//example//");
    assert!(verify_as(&normalized, &normalized.request).is_ok());
    assert!(verify_as(&unnormalized, &unnormalized.request).is_ok());
    let mut other_rule = expectations(&normalized);
    other_rule.normalize_path = false;
    let key = normalized.context.credentials.clone();
    let reason = verify(&normalized.request, |_| Some(key.clone()), &other_rule).unwrap_err();
    assert!(reason.contains("signature does not match"), "{reason}");
}

#[test]
fn sigv4_paths_are_encoded_twice_and_queries_once() {
    // A path is signed as sent, percent-encoded once more (AWS's rule for non-S3 services).
    assert_eq!(
        canonical_uri("/example%20space/", true),
        "/example%2520space/"
    );
    assert_eq!(canonical_uri("/example space/", false), "/example%20space/");
    assert_eq!(canonical_uri("/%E1%88%B4", false), "/%25E1%2588%25B4");
    assert_eq!(canonical_uri("", true), "/");
    assert_eq!(canonical_uri("/api/v1/write", true), "/api/v1/write");
    // A query is decoded, then encoded once.
    assert_eq!(
        canonical_query("b=%7e&a=x%20y&a=a+b&c"),
        "a=a%2Bb&a=x%20y&b=~&c="
    );
    assert_eq!(canonical_query(""), "");
    assert_eq!(normalize_path("/a/./b/../c/"), "/a/c/");
    assert_eq!(normalize_path("/a/b/.."), "/a/");
    assert_eq!(normalize_path("/.."), "/");
}

#[test]
fn sigv4_dates_round_trip() {
    for date in ["20150830T123600Z", "19700101T000000Z", "20240229T235959Z"] {
        assert_eq!(format_amz_date(parse_amz_date(date).unwrap()), date);
    }
    assert_eq!(
        parse_amz_date("20150830T123600Z").unwrap(),
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    );
    for bad in [
        "2015-08-30T12:36:00Z",
        "20150830T123600",
        "20151330T123600Z",
        "",
    ] {
        assert!(parse_amz_date(bad).is_err(), "{bad}");
    }
}

/// get-vanilla with a change made by `edit` to its signed request, verified with the
/// vector's credentials and `expect` edited by `expect_edit`: the reason it is refused.
fn refusal(
    edit: impl FnOnce(&mut ReceivedRequest),
    expect_edit: impl FnOnce(&mut Expectations),
) -> String {
    let v = vectors::load("get-vanilla");
    let mut request = v.request.clone();
    edit(&mut request);
    let mut expect = expectations(&v);
    expect_edit(&mut expect);
    let creds = v.context.credentials.clone();
    verify(
        &request,
        |id| (id == "AKIDEXAMPLE").then(|| creds.clone()),
        &expect,
    )
    .expect_err("refused")
}

#[test]
fn sigv4_each_check_names_what_failed() {
    let cases: Vec<(String, &str)> = vec![
        (
            refusal(|_| {}, |e| e.region = "eu-west-1".into()),
            "credential scope region \"us-east-1\", expected \"eu-west-1\"",
        ),
        (
            refusal(|_| {}, |e| e.service = "aps".into()),
            "credential scope service \"service\", expected \"aps\"",
        ),
        (
            refusal(
                |_| {},
                |e| e.now = e.now.map(|t| t + Duration::from_secs(301)),
            ),
            "x-amz-date 20150830T123600Z is 301 s from now, more than the 300 s allowed",
        ),
        (
            refusal(
                |_| {},
                |e| e.required_signed_headers = vec!["content-type".into()],
            ),
            "content-type is not among the signed headers",
        ),
        (
            refusal(|r| r.headers.retain(|(n, _)| n != "Authorization"), |_| {}),
            "no Authorization header",
        ),
        (
            refusal(|r| r.headers.retain(|(n, _)| n != "X-Amz-Date"), |_| {}),
            "no x-amz-date header",
        ),
        (
            refusal(
                |r| {
                    let auth = header(r, "authorization").replace("AKIDEXAMPLE", "AKIDOTHER");
                    set_header(r, "authorization", &auth);
                },
                |_| {},
            ),
            "unknown access key id \"AKIDOTHER\"",
        ),
        (
            refusal(
                |r| {
                    let auth = header(r, "authorization").replace("host;x-amz-date", "x-amz-date");
                    set_header(r, "authorization", &auth);
                },
                |_| {},
            ),
            "host is not among the signed headers",
        ),
        (
            refusal(
                |r| {
                    let auth = header(r, "authorization")
                        .replace("host;x-amz-date", "host;my-header;x-amz-date");
                    set_header(r, "authorization", &auth);
                },
                |_| {},
            ),
            "signed header my-header is not in the request",
        ),
        (
            refusal(
                |r| {
                    r.headers
                        .push(("X-Amz-Security-Token".into(), "stolen".into()));
                },
                |_| {},
            ),
            "an x-amz-security-token, but the credentials of AKIDEXAMPLE have none",
        ),
        (
            refusal(|r| set_header(r, "authorization", "Bearer abc"), |_| {}),
            "Authorization scheme is \"Bearer\", not AWS4-HMAC-SHA256",
        ),
        (
            refusal(
                |r| {
                    let auth = header(r, "authorization").replace("/aws4_request", "/aws5_request");
                    set_header(r, "authorization", &auth);
                },
                |_| {},
            ),
            "Credential scope ends in \"aws5_request\", not aws4_request",
        ),
        (
            refusal(
                |r| {
                    let auth =
                        header(r, "authorization").replace("host;x-amz-date", "x-amz-date;host");
                    set_header(r, "authorization", &auth);
                },
                |_| {},
            ),
            "is not sorted without repeats",
        ),
        (
            refusal(
                |r| {
                    let auth = header(r, "authorization");
                    let cut = &auth[..auth.len() - 1];
                    set_header(r, "authorization", cut);
                },
                |_| {},
            ),
            "Signature is not 64 lower-case hex digits",
        ),
        (
            refusal(
                |r| {
                    let auth = header(r, "authorization");
                    r.headers.push(("authorization".into(), auth));
                },
                |_| {},
            ),
            "more than one authorization header",
        ),
    ];
    for (reason, expected) in cases {
        assert!(
            reason.contains(expected),
            "{reason:?} should name {expected:?}"
        );
    }
}

#[test]
fn sigv4_a_wrong_secret_or_session_token_fails() {
    let v = vectors::load("get-vanilla-with-session-token");
    let token = v.context.credentials.session_token.clone().unwrap();
    let expect = expectations(&v);
    let wrong_secret = Credentials::with_session_token("not-the-secret", &token);
    let reason = verify(&v.request, |_| Some(wrong_secret.clone()), &expect).unwrap_err();
    assert!(reason.contains("signature does not match"), "{reason}");
    let secret = &v.context.credentials.secret_access_key;
    let other_token = Credentials::with_session_token(secret, "another-token");
    let reason = verify(&v.request, |_| Some(other_token.clone()), &expect).unwrap_err();
    assert!(
        reason.contains("x-amz-security-token is not the session token of AKIDEXAMPLE"),
        "{reason}"
    );
    assert!(
        !reason.contains(&token) && !reason.contains("another-token"),
        "{reason}"
    );
    let mut no_token = v.request.clone();
    no_token
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-security-token"));
    let right = v.context.credentials.clone();
    let reason = verify(&no_token, |_| Some(right.clone()), &expect).unwrap_err();
    assert!(
        reason
            .contains("no x-amz-security-token, but the credentials of AKIDEXAMPLE are temporary"),
        "{reason}"
    );
}

#[test]
fn sigv4_sign_then_verify_and_the_secret_is_never_in_a_reason() {
    // The test signer signs the unsigned requests of the suite as the suite did.
    for name in [
        "get-vanilla",
        "get-vanilla-with-session-token",
        "post-vanilla-query",
    ] {
        let v = vectors::load(name);
        let mut request = v.unsigned.clone();
        sign(
            &mut request,
            &v.context.access_key_id,
            &v.context.credentials,
            &v.context.region,
            &v.context.service,
            &v.context.amz_date,
        );
        let verified = verify_as(&v, &request).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.signature, v.signature, "{name}");
    }
    // Today's date, a body and the aps scope.
    let creds = Credentials::new("s3cr3t-key");
    let mut request = ReceivedRequest::new(
        "POST",
        "/api/v1/write",
        vec![
            ("Host".into(), "127.0.0.1:9090".into()),
            ("Content-Type".into(), "application/x-protobuf".into()),
        ],
        b"payload".to_vec(),
    );
    sign(
        &mut request,
        "AKIDTEST",
        &creds,
        "us-east-1",
        "aps",
        &format_amz_date(SystemTime::now()),
    );
    let mut expect = Expectations::new("us-east-1", "aps");
    expect.required_signed_headers = vec!["content-type".into()];
    let verified = verify(&request, |_| Some(creds.clone()), &expect).unwrap();
    assert_eq!(
        verified.signed_headers,
        ["content-type", "host", "x-amz-date"]
    );
    let wrong = Credentials::new("another-key");
    let reason = verify(&request, |_| Some(wrong.clone()), &expect).unwrap_err();
    assert!(!reason.contains("s3cr3t-key") && !reason.contains("another-key"));
    let shown = format!("{verified:?} {creds:?}");
    assert!(!shown.contains("s3cr3t-key"), "{shown}");
}
