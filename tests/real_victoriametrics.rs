//! Proof against a real single-node VictoriaMetrics 1.79 started by the
//! test on 127.0.0.1: exact round trip, stale markers, outages, 503 and 429 answers, rejections.
//! See `docs/COMPATIBILITY.md`; the receiver comes from `.ci/receivers.sh`.

mod real_receivers;

use real_receivers::Kind::VictoriaMetrics;
use real_receivers::proxy::ProxyMode;
use real_receivers::scenarios;

#[test]
fn round_trip_of_1000_series_x_300_samples_is_exact() {
    scenarios::round_trip(VictoriaMetrics, "real_victoriametrics::round_trip");
}

#[test]
fn a_stale_marker_ends_the_series() {
    scenarios::stale_markers(VictoriaMetrics, "real_victoriametrics::stale_markers");
}

#[test]
fn a_15s_outage_and_restart_loses_and_duplicates_nothing() {
    scenarios::outage(VictoriaMetrics, "real_victoriametrics::outage");
}

#[test]
fn answers_503_are_retried_until_everything_arrives_once() {
    scenarios::throttled(
        VictoriaMetrics,
        "real_victoriametrics::503",
        ProxyMode::Status(503),
    );
}

#[test]
fn answers_429_with_retry_after_are_waited_out() {
    scenarios::throttled(
        VictoriaMetrics,
        "real_victoriametrics::429",
        ProxyMode::RetryAfter(429, 1),
    );
}

#[test]
fn refused_samples_are_dropped_counted_logged_and_never_retried() {
    scenarios::rejections_victoriametrics("real_victoriametrics::rejections");
}

#[test]
fn precision_of_values_needing_more_than_12_decimal_digits() {
    scenarios::precision(VictoriaMetrics, "real_victoriametrics::precision");
}
