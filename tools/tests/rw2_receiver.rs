//! The receiver's Remote Write 2.0 side: requests built with prost (`promrw::wire::proto_v2`)
//! and snappy, sent over HTTP to a receiver on 127.0.0.1 (accepted with the Written headers
//! and stored exactly; the 1.0-only modes), and the validation matrix through the decode layer.

use std::sync::Arc;

use prost::Message;

use promrw::wire::{proto, proto_v2};
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{
    ProtocolMode, ReceivedExemplar, ReceivedMetadata, Receiver, ReceiverOptions, SampleStore,
    WireProtocol, decode_request,
};

mod common;
use common::{Response, SinkProcess, post_raw};

const V2_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// A started receiver in `mode` keeping samples.
fn receiver(mode: ProtocolMode) -> Receiver {
    Receiver::start_with(
        "127.0.0.1:0",
        2,
        Arc::new(SampleStore::new(true)),
        validating_handler(),
        None,
        ReceiverOptions { protocol: mode },
    )
    .expect("start receiver")
}

/// POSTs `body` (compressed here) with `content_type` and `version`.
fn post(receiver: &Receiver, content_type: &str, version: &str, raw: &[u8]) -> Response {
    post_raw(receiver.addr(), content_type, version, raw)
}

/// An integer histogram with 3 observations in two positive buckets.
fn int_histogram(timestamp: i64) -> proto_v2::Histogram {
    proto_v2::Histogram {
        count: Some(proto_v2::HistogramCount::CountInt(3)),
        sum: 4.5,
        schema: 0,
        zero_threshold: 1e-128,
        zero_count: Some(proto_v2::HistogramZeroCount::ZeroCountInt(0)),
        positive_spans: vec![proto_v2::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![1, 1],
        timestamp,
        ..proto_v2::Histogram::default()
    }
}

/// Symbols of the requests below.
fn symbols() -> Vec<String> {
    [
        "",
        "__name__",
        "up",
        "job",
        "a",
        "lat",
        "trace_id",
        "abc",
        "help text",
        "seconds",
        "ünï",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A valid request: a float series with an exemplar and metadata, and a histogram series.
fn valid_request() -> proto_v2::Request {
    proto_v2::Request {
        symbols: symbols(),
        timeseries: vec![
            proto_v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 10],
                samples: vec![
                    proto_v2::Sample {
                        value: 1.5,
                        timestamp: 1000,
                        start_timestamp: 0,
                    },
                    proto_v2::Sample {
                        value: f64::from_bits(promrw::STALE_NAN_BITS),
                        timestamp: 2000,
                        start_timestamp: 0,
                    },
                ],
                histograms: vec![],
                exemplars: vec![proto_v2::Exemplar {
                    labels_refs: vec![6, 7],
                    value: 0.25,
                    timestamp: 1000,
                }],
                metadata: Some(proto_v2::Metadata {
                    r#type: 2,
                    help_ref: 8,
                    unit_ref: 0,
                }),
            },
            proto_v2::TimeSeries {
                labels_refs: vec![1, 5, 3, 4],
                samples: vec![],
                histograms: vec![int_histogram(1000), int_histogram(2000)],
                exemplars: vec![],
                metadata: Some(proto_v2::Metadata {
                    r#type: 3,
                    help_ref: 0,
                    unit_ref: 9,
                }),
            },
        ],
    }
}

#[test]
fn a_valid_2_0_request_is_stored_exactly_and_answered_with_the_written_headers() {
    let receiver = receiver(ProtocolMode::Both);
    let request = valid_request();
    let response = post(&receiver, V2_TYPE, "2.0.0", &request.encode_to_vec());
    assert_eq!(response.status, 204, "{}", response.body);
    assert_eq!(
        response.header("x-prometheus-remote-write-samples-written"),
        Some("2")
    );
    assert_eq!(
        response.header("x-prometheus-remote-write-histograms-written"),
        Some("2")
    );
    assert_eq!(
        response.header("x-prometheus-remote-write-exemplars-written"),
        Some("1")
    );
    let store = receiver.store();
    let up = [("__name__", "up"), ("job", "ünï")];
    assert_eq!(
        store.samples(&up).unwrap(),
        vec![(1000, 1.5f64.to_bits()), (2000, promrw::STALE_NAN_BITS)]
    );
    assert_eq!(
        store.exemplars(&up).unwrap(),
        vec![ReceivedExemplar {
            labels: vec![("trace_id".into(), "abc".into())],
            value_bits: 0.25f64.to_bits(),
            timestamp: 1000,
        }]
    );
    assert_eq!(
        store.metadata(&up).unwrap(),
        ReceivedMetadata {
            metric_type: 2,
            help: "help text".into(),
            unit: String::new(),
        }
    );
    let lat = [("__name__", "lat"), ("job", "a")];
    assert_eq!(
        store.histograms(&lat).unwrap(),
        vec![(1000, int_histogram(1000)), (2000, int_histogram(2000))]
    );
    assert_eq!(store.metadata(&lat).unwrap().unit, "seconds");
    // The histogram-only series is not among the float series.
    assert_eq!(store.all_samples().len(), 1);
    assert_eq!(store.all_histograms().len(), 1);
    let totals = store.totals();
    assert_eq!(
        (
            totals.requests,
            totals.v2_requests,
            totals.accepted,
            totals.histograms,
            totals.exemplars,
            totals.metadata
        ),
        (1, 1, 2, 2, 1, 2)
    );

    // Sent again: exactly-once accounting sees duplicates, which are still written.
    let response = post(&receiver, V2_TYPE, "2.0.0", &request.encode_to_vec());
    assert_eq!(response.status, 204);
    assert_eq!(
        response.header("x-prometheus-remote-write-histograms-written"),
        Some("2")
    );
    let totals = store.totals();
    assert_eq!(
        (
            totals.accepted,
            totals.duplicates,
            totals.histograms,
            totals.histogram_duplicates,
            totals.exemplar_duplicates
        ),
        (2, 2, 2, 2, 1)
    );
    assert_eq!(store.histograms(&lat).unwrap().len(), 2);
    receiver.stop();
}

#[test]
fn content_type_parameters_and_version_are_checked() {
    let receiver = receiver(ProtocolMode::Both);
    let raw = valid_request().encode_to_vec();
    for content_type in [
        "application/x-protobuf; proto=io.prometheus.write.v2.Request",
        "Application/X-Protobuf;PROTO=\"io.prometheus.write.v2.Request\"",
    ] {
        let response = post(&receiver, content_type, "2.0.0", &raw);
        assert_eq!(response.status, 204, "{content_type}: {}", response.body);
    }
    let response = post(
        &receiver,
        "application/x-protobuf;proto=io.prometheus.write.v3.Request",
        "2.0.0",
        &raw,
    );
    assert_eq!(response.status, 415);
    assert!(
        response.body.contains("io.prometheus.write.v3.Request"),
        "{}",
        response.body
    );
    let response = post(&receiver, V2_TYPE, "0.1.0", &raw);
    assert_eq!(response.status, 400);
    assert!(response.body.contains("2.x"), "{}", response.body);
    receiver.stop();
}

/// A 1.0 request of one sample.
fn v1_request() -> Vec<u8> {
    proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: vec![proto::Label {
                name: "__name__".into(),
                value: "v1".into(),
            }],
            samples: vec![proto::Sample {
                value: 2.0,
                timestamp: 7,
            }],
            exemplars: vec![],
            histograms: vec![],
        }],
        metadata: vec![],
    }
    .encode_to_vec()
}

#[test]
fn a_1_0_request_is_unchanged_in_every_mode() {
    for mode in [
        ProtocolMode::Both,
        ProtocolMode::V1Refuse415,
        ProtocolMode::V1Ignore,
    ] {
        let receiver = receiver(mode);
        for content_type in [
            "application/x-protobuf",
            "application/x-protobuf;proto=prometheus.WriteRequest",
        ] {
            let response = post(&receiver, content_type, "0.1.0", &v1_request());
            assert_eq!(response.status, 204, "{mode:?}: {}", response.body);
            assert!(
                response
                    .headers
                    .iter()
                    .all(|(n, _)| !n.ends_with("-written")),
                "{mode:?}: {:?}",
                response.headers
            );
        }
        assert_eq!(
            receiver.store().samples(&[("__name__", "v1")]).unwrap(),
            vec![(7, 2.0f64.to_bits())]
        );
        assert_eq!(receiver.store().totals().duplicates, 1);
        receiver.stop();
    }
}

#[test]
fn the_1_0_415_mode_refuses_2_0_requests() {
    let receiver = receiver(ProtocolMode::V1Refuse415);
    let response = post(
        &receiver,
        V2_TYPE,
        "2.0.0",
        &valid_request().encode_to_vec(),
    );
    assert_eq!(response.status, 415);
    assert!(response.body.contains(V2_TYPE), "{}", response.body);
    let totals = receiver.store().totals();
    assert_eq!((totals.v2_refused, totals.requests), (1, 0));
    assert_eq!(receiver.store().series_count(), 0);
    receiver.stop();
}

#[test]
fn the_1_0_ignore_mode_answers_2xx_without_written_headers_and_stores_nothing() {
    let receiver = receiver(ProtocolMode::V1Ignore);
    let response = post(
        &receiver,
        V2_TYPE,
        "2.0.0",
        &valid_request().encode_to_vec(),
    );
    assert_eq!(response.status, 204, "{}", response.body);
    assert!(
        response
            .headers
            .iter()
            .all(|(n, _)| !n.ends_with("-written")),
        "{:?}",
        response.headers
    );
    let totals = receiver.store().totals();
    assert_eq!(
        (totals.v2_ignored, totals.v2_requests, totals.accepted),
        (1, 0, 0)
    );
    assert_eq!(receiver.store().series_count(), 0);
    receiver.stop();
}

/// Headers of a 2.0 request.
fn v2_headers(name: &str) -> Option<String> {
    match name {
        "content-encoding" => Some("snappy".into()),
        "content-type" => Some(V2_TYPE.into()),
        "x-prometheus-remote-write-version" => Some("2.0.0".into()),
        "user-agent" => Some("t/1".into()),
        _ => None,
    }
}

/// Decodes `request` through the decode layer.
fn decode(
    request: &proto_v2::Request,
) -> Result<promrw_tools::receiver::DecodedRequest, promrw_tools::receiver::RequestError> {
    let body = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap();
    decode_request(v2_headers, &body)
}

#[test]
fn the_validation_matrix() {
    let ok = decode(&valid_request()).unwrap();
    assert_eq!(ok.protocol, WireProtocol::V2);
    assert_eq!(
        (ok.samples, ok.histograms, ok.exemplars, ok.metadata),
        (2, 2, 1, 2)
    );
    type Edit = fn(&mut proto_v2::Request);
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("no symbols", |r| r.symbols.clear(), "symbols is empty"),
        (
            "symbol 0 not empty",
            |r| r.symbols[0] = "x".into(),
            "symbols[0] must be the empty string",
        ),
        (
            "label ref out of range",
            |r| r.timeseries[0].labels_refs[1] = 99,
            "series label value ref 99 out of range",
        ),
        (
            "odd labels_refs",
            |r| r.timeseries[0].labels_refs.pop().map(drop).unwrap_or(()),
            "odd length 3",
        ),
        (
            "empty name",
            |r| r.timeseries[0].labels_refs[0] = 0,
            "empty label name",
        ),
        (
            "empty value",
            |r| r.timeseries[0].labels_refs[3] = 0,
            "label \"job\" has an empty value",
        ),
        (
            "unsorted",
            |r| r.timeseries[0].labels_refs = vec![3, 10, 1, 2],
            "labels not sorted or duplicated",
        ),
        (
            "duplicate",
            |r| r.timeseries[0].labels_refs = vec![1, 2, 1, 2],
            "labels not sorted or duplicated",
        ),
        (
            "no __name__",
            |r| r.timeseries[0].labels_refs = vec![3, 4],
            "no __name__ label",
        ),
        (
            "no labels",
            |r| r.timeseries[0].labels_refs.clear(),
            "series has no labels",
        ),
        (
            "samples and histograms",
            |r| r.timeseries[0].histograms = vec![int_histogram(5)],
            "both samples (2) and histograms (1)",
        ),
        (
            "neither",
            |r| r.timeseries[0].samples.clear(),
            "neither samples nor histograms",
        ),
        (
            "samples out of order",
            |r| r.timeseries[0].samples[1].timestamp = 1000,
            "samples out of order (1000 then 1000)",
        ),
        (
            "histograms out of order",
            |r| r.timeseries[1].histograms[1].timestamp = 500,
            "histograms out of order (1000 then 500)",
        ),
        (
            "histogram count mismatch",
            |r| r.timeseries[1].histograms[0].count = Some(proto_v2::HistogramCount::CountInt(9)),
            "timeseries[1]: histograms[0]: ",
        ),
        (
            "histogram invalid schema",
            |r| r.timeseries[1].histograms[0].schema = 9,
            "invalid schema",
        ),
        (
            "histogram mixed int and float",
            |r| r.timeseries[1].histograms[0].positive_counts = vec![1.0],
            "integer histogram (count_int) with float buckets",
        ),
        (
            "histogram float zero count on an integer histogram",
            |r| {
                r.timeseries[1].histograms[0].zero_count =
                    Some(proto_v2::HistogramZeroCount::ZeroCountFloat(0.0))
            },
            "with a float zero count",
        ),
        (
            "histogram bad reset hint",
            |r| r.timeseries[1].histograms[0].reset_hint = 4,
            "reset_hint 4",
        ),
        (
            "exemplar ref out of range",
            |r| r.timeseries[0].exemplars[0].labels_refs[0] = 11,
            "exemplars[0] label name ref 11 out of range",
        ),
        (
            "exemplar odd refs",
            |r| r.timeseries[0].exemplars[0].labels_refs.push(1),
            "exemplars[0] labels_refs has odd length",
        ),
        (
            "help ref out of range",
            |r| r.timeseries[0].metadata.as_mut().unwrap().help_ref = 50,
            "metadata help ref 50 out of range",
        ),
        (
            "unit ref out of range",
            |r| r.timeseries[1].metadata.as_mut().unwrap().unit_ref = 11,
            "metadata unit ref 11 out of range",
        ),
        (
            "metadata type",
            |r| r.timeseries[0].metadata.as_mut().unwrap().r#type = 8,
            "metadata type 8",
        ),
    ];
    for (what, edit, message) in cases {
        let mut request = valid_request();
        edit(&mut request);
        let err = decode(&request).expect_err(what);
        assert_eq!(err.status, 400, "{what}: {err:?}");
        assert!(
            err.message.contains(message),
            "{what}: {:?} does not contain {message:?}",
            err.message
        );
    }
    // A float histogram is valid, and so is a stale one.
    let mut request = valid_request();
    request.timeseries[1].histograms[0] = proto_v2::Histogram {
        count: Some(proto_v2::HistogramCount::CountFloat(2.0)),
        zero_count: Some(proto_v2::HistogramZeroCount::ZeroCountFloat(0.0)),
        positive_spans: vec![proto_v2::BucketSpan {
            offset: 1,
            length: 1,
        }],
        positive_counts: vec![2.0],
        timestamp: 1000,
        ..proto_v2::Histogram::default()
    };
    request.timeseries[1].histograms[1].sum = f64::from_bits(promrw::STALE_NAN_BITS);
    request.timeseries[1].histograms[1].count = Some(proto_v2::HistogramCount::CountInt(99));
    decode(&request).unwrap();
}

#[test]
fn promrw_sink_protocol_flag() {
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_promrw"))
        .args(["sink", "--protocol", "3.0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown protocol mode"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    for (mode, v2_status) in [("1.0-415", 415), ("1.0-ignore", 204), ("both", 204)] {
        let sink = SinkProcess::start(&["--per-request", "--protocol", mode]);
        let next = || sink.next_line();
        let addr = sink.addr;
        if mode != "both" {
            assert_eq!(next(), format!("protocol {mode}"));
        }
        let response = post_raw(addr, V2_TYPE, "2.0.0", &valid_request().encode_to_vec());
        assert_eq!(response.status, v2_status, "{mode}: {}", response.body);
        assert_eq!(
            response
                .header("x-prometheus-remote-write-samples-written")
                .is_some(),
            mode == "both",
            "{mode}: {:?}",
            response.headers
        );
        let line = next();
        let expected = match mode {
            "1.0-415" => "-> 415",
            "1.0-ignore" => "protocol=2.0-ignored series=0",
            _ => "protocol=2.0 series=2 samples=2 histograms=2 exemplars=1",
        };
        assert!(line.contains(expected), "{mode}: {line}");
        let response = post_raw(addr, "application/x-protobuf", "0.1.0", &v1_request());
        assert_eq!(response.status, 204, "{mode}: {}", response.body);
        let line = next();
        assert!(
            line.contains("protocol=1.0 series=1 samples=1"),
            "{mode}: {line}"
        );
    }
}
