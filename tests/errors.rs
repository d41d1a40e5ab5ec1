//! Clear errors for bad labels, out-of-order appends and bad configuration.

mod common;

use std::time::Duration;

use common::{FaultReceiver, now_ms, sender, yaml};
use promrw::{Config, ErrorKind, Labels};

#[test]
fn bad_labels_are_refused_with_a_message_naming_the_problem() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(&receiver.url(), "", ""));
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("__name__", "9lives")], "invalid metric name \"9lives\""),
        (
            &[("__name__", "ok"), ("bad-name", "v")],
            "invalid label name \"bad-name\"",
        ),
        (
            &[("__name__", "ok"), ("a", "1"), ("a", "2")],
            "duplicate label name \"a\"",
        ),
        (&[("__name__", "ok"), ("", "v")], "empty label name"),
        (&[("job", "")], "label set is empty"),
    ];
    for (labels, expected) in cases {
        let err = sender.series_from_pairs(labels).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidLabels, "{labels:?}");
        assert!(
            err.message().contains(expected),
            "{err} should contain {expected}"
        );
    }
    // Empty values mean "absent" and are removed; the rest is sorted in byte order.
    let labels =
        Labels::from_pairs(&[("zone", ""), ("b", "1"), ("__name__", "m"), ("A", "2")]).unwrap();
    let names: Vec<&str> = labels.as_slice().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["A", "__name__", "b"]);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn out_of_order_and_duplicate_timestamps_are_refused_and_counted() {
    let receiver = FaultReceiver::start();
    let sender = sender(&yaml(&receiver.url(), "", ""));
    let r = sender
        .series_from_pairs(&[("__name__", "ooo"), ("job", "api"), ("zone", "a\"b")])
        .unwrap();
    let t = now_ms();
    sender.append(r, t, 1.0).unwrap();
    let equal = sender.append(r, t, 2.0).unwrap_err();
    assert_eq!(equal.kind(), ErrorKind::OutOfOrder);
    // The message names the series by its labels and its last accepted timestamp.
    assert_eq!(
        equal.message(),
        format!(
            "series ooo{{job=\"api\", zone=\"a\\\"b\"}}: timestamp {t} is not after its last accepted timestamp {t}"
        ),
    );
    assert_eq!(
        sender.append(r, t - 1, 2.0).unwrap_err().kind(),
        ErrorKind::OutOfOrder
    );
    assert_eq!(
        sender.append_stale(r, t - 5).unwrap_err().kind(),
        ErrorKind::OutOfOrder
    );
    sender.append(r, t + 1, 3.0).unwrap();
    let stats = sender.stats();
    assert_eq!(stats.rejected_out_of_order, 3);
    assert_eq!(stats.samples_appended, 2);
    assert!(
        sender
            .metrics_text()
            .contains("promrw_appends_rejected_total{reason=\"out_of_order\"} 3")
    );
    // Batches stop at the first refusal and say which sample it was.
    let batch = [
        promrw::Sample {
            series: r,
            timestamp_ms: t + 2,
            value: 1.0,
        },
        promrw::Sample {
            series: r,
            timestamp_ms: t + 2,
            value: 1.0,
        },
        promrw::Sample {
            series: r,
            timestamp_ms: t + 3,
            value: 1.0,
        },
    ];
    let (accepted, result) = sender.append_batch(&batch);
    assert_eq!(accepted, 1);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfOrder);
    assert!(err.message().starts_with("sample 1:"), "{err}");
    assert_eq!(
        sender
            .append(promrw::SeriesRef(12345), t, 1.0)
            .unwrap_err()
            .kind(),
        ErrorKind::UnknownSeries
    );
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.store().totals().accepted, 3);
    sender.close(Duration::from_secs(5)).unwrap();
}

/// Asserts that `text` is refused as invalid config with a message containing `expected`.
fn refused(text: &str, expected: &str) {
    let err = Config::from_text(text).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{text}");
    assert!(
        err.message().contains(expected),
        "{err:?} should contain {expected:?}"
    );
}

#[test]
fn bad_config_is_refused_naming_the_field() {
    let url = "http://127.0.0.1:9/api/v1/write";
    refused(
        &format!("remote_write:\n  - url: {url}\n    queue_config:\n      capacityy: 5\n"),
        "remote_write[0].queue_config.capacityy: unknown field `capacityy`",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    remote_timout: 5s\n"),
        "remote_write[0].remote_timout: unknown field `remote_timout`",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\nscrape_config: []\n"),
        "unknown field `scrape_config`",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    remote_timeout: 5 seconds\n"),
        "remote_write[0].remote_timeout: not a valid duration string",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    queue_config: {{capacity: 0}}\n"),
        "remote_write[0].queue_config.capacity: must be greater than 0",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    queue_config: {{capacity: -1}}\n"),
        "remote_write[0].queue_config.capacity",
    );
    refused(
        &format!(
            "remote_write:\n  - url: {url}\n    queue_config: {{min_shards: 5, max_shards: 2}}\n"
        ),
        "min_shards (5) must not exceed max_shards (2)",
    );
    refused(
        &format!(
            "remote_write:\n  - url: {url}\n    queue_config: {{min_backoff: 10s, max_backoff: 1s}}\n"
        ),
        "max_backoff must be greater than or equal to min_backoff",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    queue_config: {{overflow: sometimes}}\n"),
        "remote_write[0].queue_config.overflow: unknown variant `sometimes`",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    headers:\n      Content-Type: text/plain\n"),
        "remote_write[0].headers.Content-Type: is a reserved header",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    headers:\n      authorization: x\n"),
        "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
    );
    refused(
        &format!(
            "remote_write:\n  - url: {url}\n    basic_auth: {{username: u, password: p}}\n    authorization: {{credentials: c}}\n"
        ),
        "remote_write[0]: at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured. Currently configured: [basic_auth authorization]",
    );
    refused(
        "remote_write:\n  - name: x\n",
        "remote_write[0].url: url for remote_write is empty",
    );
    refused(
        "remote_write:\n  - url: ftp://example/\n",
        "must start with http:// or https://",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    name: a\n  - url: {url}\n    name: a\n"),
        "remote_write[1].name: found multiple remote write configs",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\nexternal_labels:\n  bad-name: x\n"),
        "external_labels",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    proxy_url: socks5://127.0.0.1:1080\n"),
        "only http:// and https:// proxies",
    );
    // Values the HTTP client could never send are refused when the config is read, naming the
    // field (and never quoting a header value, which may be a secret).
    refused(
        &format!("remote_write:\n  - url: {url}\n    headers:\n      X-Api-Key: \"a\\x01b\"\n"),
        "remote_write[0].headers.X-Api-Key: value is not a valid HTTP header value",
    );
    refused(
        "remote_write:\n  - url: http://127.0.0.1:99999/w\n",
        "remote_write[0].url: \"http://127.0.0.1:99999/w\" is not a valid URL",
    );
    refused(
        "remote_write:\n  - url: http://127.0.0.1:0/w\n",
        "remote_write[0].url: \"http://127.0.0.1:0/w\": port 0 is not usable",
    );
    refused(
        "remote_write:\n  - url: http://b\u{fc}cher.example/w\n",
        "remote_write[0].url: \"http://b\u{fc}cher.example/w\" contains non-ASCII characters",
    );
    refused(
        &format!("remote_write:\n  - url: {url}\n    proxy_url: http://127.0.0.1:70000\n"),
        "remote_write[0].proxy_url: \"http://127.0.0.1:70000\" is not a valid URL",
    );
    refused(
        &format!(
            "remote_write:\n  - url: {url}\n    authorization: {{credentials: \"tok\\nen\"}}\n"
        ),
        "remote_write[0].authorization.credentials: is not valid in an HTTP header",
    );
    refused("remote_write: []\n", "at least one endpoint");
    refused("remote_write: [\n", "remote_write");
    refused(
        &format!(
            "{{\"remote_write\": [{{\"url\": \"{url}\", \"queue_config\": {{\"max_shard\": 1}}}}]}}"
        ),
        "remote_write[0].queue_config.max_shard: unknown field `max_shard`",
    );
}

#[test]
fn good_config_gets_prometheus_defaults_and_accepts_json() {
    let text = "remote_write:\n  - url: http://127.0.0.1:9/w\n    remote_timeout: 1m30s\n    queue_config:\n      sample_age_limit: 100ms\n      overflow: drop_newest\n";
    let config = Config::from_text(text).unwrap();
    let e = &config.endpoints[0];
    assert_eq!(e.remote_timeout, Duration::from_secs(90));
    assert_eq!(e.queue.capacity, 10_000);
    assert_eq!(e.queue.max_samples_per_send, 2_000);
    assert_eq!(e.queue.min_shards, 1);
    assert_eq!(e.queue.max_shards, 50);
    assert_eq!(e.queue.batch_send_deadline, Duration::from_secs(5));
    assert_eq!(e.queue.min_backoff, Duration::from_millis(30));
    assert_eq!(e.queue.max_backoff, Duration::from_secs(5));
    assert!(e.queue.retry_on_http_429);
    assert_eq!(e.queue.sample_age_limit, Duration::from_millis(100));
    assert_eq!(e.queue.overflow, promrw::OverflowPolicy::DropNewest);
    assert!(e.follow_redirects);
    assert_eq!(e.remote_name().len(), 6, "default name is a short hash");
    let json = Config::from_text("{\"remote_write\": [{\"url\": \"http://127.0.0.1:9/w\", \"name\": \"j\"}], \"external_labels\": {\"dc\": \"x\"}}").unwrap();
    assert_eq!(json.endpoints[0].name.as_deref(), Some("j"));
    assert_eq!(json.external_labels.get("dc"), Some("x"));
    let built = Config::builder()
        .endpoint(promrw::EndpointConfig::new("http://127.0.0.1:9/w").name("b"))
        .external_label("dc", "y")
        .build()
        .unwrap();
    assert_eq!(built.endpoints[0].remote_name(), "b");
    let bad = Config::builder()
        .endpoint(promrw::EndpointConfig::new("http://127.0.0.1:9/w").header("User-Agent", "me"))
        .build()
        .unwrap_err();
    assert!(
        bad.message().contains("remote_write[0].headers.User-Agent"),
        "{bad}"
    );
}

#[test]
fn passwords_never_appear_in_metrics_or_errors() {
    let receiver = FaultReceiver::start();
    let url = receiver.url().replace("http://", "http://alice:hunter2@");
    let sender = sender(&yaml(&url, "", ""));
    let text = sender.metrics_text();
    assert!(!text.contains("hunter2"));
    assert!(
        text.contains("url=\"http://alice:xxxxx@127.0.0.1"),
        "{text}"
    );
    assert!(
        !format!(
            "{:?}",
            Config::from_text(
                &yaml(
                    &url,
                    "",
                    "    basic_auth: {username: u, password: topsecret}\n"
                )
                .replace(&url, &receiver.url())
            )
            .unwrap()
        )
        .contains("topsecret")
    );
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_ref_from_another_sender_is_unknown() {
    let receiver = FaultReceiver::start();
    let a = sender(&yaml(&receiver.url(), "", ""));
    let b = sender(&yaml(&receiver.url(), "", ""));
    let in_a = a.series_from_pairs(&[("__name__", "mine")]).unwrap();
    let in_b = b.series_from_pairs(&[("__name__", "mine")]).unwrap();
    let t = now_ms();
    assert_eq!(
        b.append(in_a, t, 1.0).unwrap_err().kind(),
        ErrorKind::UnknownSeries
    );
    assert_eq!(
        a.append(in_b, t, 1.0).unwrap_err().kind(),
        ErrorKind::UnknownSeries
    );
    a.append(in_a, t, 1.0).unwrap();
    b.append(in_b, t, 1.0).unwrap();
    assert_eq!(
        b.release(in_a).unwrap_err().kind(),
        ErrorKind::UnknownSeries
    );
    a.close(Duration::from_secs(5)).unwrap();
    b.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn series_and_label_limits_refuse_with_the_limit_named() {
    let receiver = FaultReceiver::start();
    let text = format!(
        "{}promrw:\n  max_series: 2\n  label_limit: 3\n  label_name_length_limit: 10\n  label_value_length_limit: 8\n",
        yaml(&receiver.url(), "", "")
    );
    let config = Config::from_text(&text).unwrap();
    assert_eq!(config.limits.max_series, 2);
    let sender = promrw::Sender::new(config).unwrap();
    let too_many = sender
        .series_from_pairs(&[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")])
        .unwrap_err();
    assert_eq!(too_many.kind(), ErrorKind::InvalidLabels);
    assert!(
        too_many
            .message()
            .contains("has 4 labels, more than promrw.label_limit (3)"),
        "{too_many}"
    );
    let long_name = sender
        .series_from_pairs(&[("__name__", "m"), ("a_very_long_name", "1")])
        .unwrap_err();
    assert!(
        long_name.message().contains(
            "\"a_very_long_name\" is 16 bytes, more than promrw.label_name_length_limit (10)"
        ),
        "{long_name}"
    );
    let long_value = sender
        .series_from_pairs(&[("__name__", "m"), ("a", "123456789")])
        .unwrap_err();
    assert!(
        long_value
            .message()
            .contains("more than promrw.label_value_length_limit (8)"),
        "{long_value}"
    );
    let first = sender.series_from_pairs(&[("__name__", "one")]).unwrap();
    sender.series_from_pairs(&[("__name__", "two")]).unwrap();
    assert_eq!(
        sender.series_from_pairs(&[("__name__", "one")]).unwrap(),
        first,
        "a registered series is found again at the limit"
    );
    let over = sender
        .series_from_pairs(&[("__name__", "three")])
        .unwrap_err();
    assert!(over.message().contains("promrw.max_series"), "{over}");
    sender.release(first).unwrap();
    sender.series_from_pairs(&[("__name__", "three")]).unwrap();
    refused(
        &format!(
            "{}promrw:\n  max_series: -1\n",
            yaml(&receiver.url(), "", "")
        ),
        "promrw.max_series",
    );
    sender.close(Duration::from_secs(5)).unwrap();
}
