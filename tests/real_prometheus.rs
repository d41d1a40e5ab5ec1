//! Proof against a real Prometheus 2.42 (`--web.enable-remote-write-receiver`) started by the
//! test on 127.0.0.1: exact round trip, stale markers, outages, 503 and 429 answers, rejections.
//! See `docs/COMPATIBILITY.md`; the receiver comes from `.ci/receivers.sh`.

mod real_receivers;

use real_receivers::Kind::Prometheus;
use real_receivers::proxy::ProxyMode;
use real_receivers::scenarios;

#[test]
fn round_trip_of_1000_series_x_300_samples_is_exact() {
    scenarios::round_trip(Prometheus, "real_prometheus::round_trip");
}

#[test]
fn a_stale_marker_ends_the_series() {
    scenarios::stale_markers(Prometheus, "real_prometheus::stale_markers");
}

#[test]
fn a_15s_outage_and_restart_loses_and_duplicates_nothing() {
    scenarios::outage(Prometheus, "real_prometheus::outage");
}

#[test]
fn answers_503_are_retried_until_everything_arrives_once() {
    scenarios::throttled(Prometheus, "real_prometheus::503", ProxyMode::Status(503));
}

#[test]
fn answers_429_with_retry_after_are_waited_out() {
    scenarios::throttled(
        Prometheus,
        "real_prometheus::429",
        ProxyMode::RetryAfter(429, 1),
    );
}

#[test]
fn refused_samples_are_dropped_counted_logged_and_never_retried() {
    scenarios::rejections_prometheus("real_prometheus::rejections");
}

#[test]
fn precision_of_values_needing_more_than_12_decimal_digits() {
    scenarios::precision(Prometheus, "real_prometheus::precision");
}
