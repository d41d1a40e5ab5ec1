//! Redirects: a 307/308 re-POSTs the same body to `Location` (credentials and configured
//! headers only to the configured origin); a 301/302/303, or any 3xx with
//! `follow_redirects: false`, fails the batch for good with a message saying to fix the URL.

mod common;

use std::time::Duration;

use common::{Fault, FaultReceiver, Seen, now_ms, yaml};
use promrw::{ErrorKind, Sender};

/// A sender for `url` with a header and a bearer token, and `follow` as follow_redirects.
fn sender(url: &str, follow: bool) -> Sender {
    common::sender(&yaml(
        url,
        "",
        &format!(
            "    follow_redirects: {follow}\n    headers:\n      X-Api-Key: key-123\n    authorization:\n      credentials: token-456\n"
        ),
    ))
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn append_three(sender: &Sender) {
    let r = sender.series_from_pairs(&[("__name__", "moved")]).unwrap();
    let t = now_ms();
    for i in 0..3 {
        sender.append(r, t + i, 1.0).unwrap();
    }
}

#[test]
fn a_307_or_308_re_posts_the_same_body_with_credentials_on_the_same_origin() {
    for status in [307, 308] {
        let receiver = FaultReceiver::start();
        receiver.push_faults([Fault::Redirect(status, "/elsewhere/write".to_string())]);
        let sender = sender(&receiver.url(), true);
        append_three(&sender);
        sender.flush(Duration::from_secs(10)).unwrap();
        let seen = receiver.seen();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].status, status);
        assert_eq!(
            (seen[1].method.as_str(), seen[1].path.as_str()),
            ("POST", "/elsewhere/write")
        );
        assert_eq!(seen[1].samples, 3, "the same body");
        assert_eq!(header(&seen[1], "x-api-key"), Some("key-123"));
        assert_eq!(header(&seen[1], "authorization"), Some("Bearer token-456"));
        assert_eq!(sender.stats().endpoints[0].samples_acked, 3);
        sender.close(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn a_307_to_another_origin_gets_neither_credentials_nor_configured_headers() {
    let other = FaultReceiver::start();
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Redirect(307, other.url())]);
    let sender = sender(&receiver.url(), true);
    append_three(&sender);
    sender.flush(Duration::from_secs(10)).unwrap();
    let there = other.seen();
    assert_eq!(there.len(), 1, "{there:?}");
    assert_eq!(there[0].samples, 3);
    assert_eq!(header(&there[0], "x-api-key"), None, "{there:?}");
    assert_eq!(header(&there[0], "authorization"), None, "{there:?}");
    assert_eq!(header(&there[0], "content-encoding"), Some("snappy"));
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_301_302_or_303_fails_the_batch_and_says_to_fix_the_url() {
    for status in [301, 302, 303] {
        let receiver = FaultReceiver::start();
        receiver.push_faults([Fault::Redirect(status, "/new".to_string())]);
        let sender = sender(&receiver.url(), true);
        append_three(&sender);
        let error = sender.flush(Duration::from_secs(10)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::SamplesLost, "{error}");
        assert!(error.message().contains("fix the url"), "{error}");
        let seen = receiver.seen();
        assert_eq!(seen.len(), 1, "no bodyless GET follows: {seen:?}");
        assert_eq!(sender.stats().endpoints[0].samples_failed, 3);
        assert_eq!(sender.stats().endpoints[0].samples_acked, 0);
        let _ = sender.close(Duration::from_secs(5));
    }
}

#[test]
fn with_follow_redirects_false_every_3xx_fails_the_batch() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Redirect(307, "/elsewhere".to_string())]);
    let sender = sender(&receiver.url(), false);
    append_three(&sender);
    let error = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SamplesLost, "{error}");
    assert!(
        error.message().contains("follow_redirects is false"),
        "{error}"
    );
    assert_eq!(receiver.seen().len(), 1);
    let _ = sender.close(Duration::from_secs(5));
}

#[test]
fn a_redirect_loop_ends_after_ten_hops() {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..20).map(|_| Fault::Redirect(308, "/again".to_string())));
    let sender = sender(&receiver.url(), true);
    append_three(&sender);
    let error = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SamplesLost, "{error}");
    assert!(
        error.message().contains("more than 10 redirects"),
        "{error}"
    );
    assert_eq!(receiver.seen().len(), 11);
    let _ = sender.close(Duration::from_secs(5));
}
