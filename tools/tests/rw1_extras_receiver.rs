//! The receiver's Remote Write 1.0 extensions: histograms (`TimeSeries.histograms`, validated
//! as 2.0's are), exemplars (`TimeSeries.exemplars`) and metadata (`WriteRequest.metadata`,
//! also in metadata-only requests), sent over HTTP to a receiver on 127.0.0.1 and stored
//! exactly, and `promrw sink --print-samples` printing them.

use std::net::SocketAddr;
use std::sync::Arc;

use prost::Message;

use promrw::wire::{proto, proto_v2};
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{
    ProtocolMode, ReceivedExemplar, ReceivedFamilyMetadata, Receiver, ReceiverOptions, SampleStore,
};

mod common;
use common::{SinkProcess, post_raw};

const V1_TYPE: &str = "application/x-protobuf";
const V2_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// A started receiver speaking both protocols, keeping samples.
fn receiver() -> Receiver {
    Receiver::start_with(
        "127.0.0.1:0",
        2,
        Arc::new(SampleStore::new(true)),
        validating_handler(),
        None,
        ReceiverOptions {
            protocol: ProtocolMode::Both,
        },
    )
    .expect("start receiver")
}

/// POSTs `raw` (compressed here) to `addr`; the status and body.
fn post(addr: SocketAddr, content_type: &str, version: &str, raw: &[u8]) -> (u16, String) {
    let response = post_raw(addr, content_type, version, raw);
    (response.status, response.body)
}

/// POSTs a 1.0 request.
fn post_v1(addr: SocketAddr, request: &proto::WriteRequest) -> (u16, String) {
    post(addr, V1_TYPE, "0.1.0", &request.encode_to_vec())
}

/// 1.0 labels from pairs.
fn labels(pairs: &[(&str, &str)]) -> Vec<proto::Label> {
    pairs
        .iter()
        .map(|(n, v)| proto::Label {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// An integer histogram: 1 in the zero bucket, 2 + 3 in two spans of positive buckets and
/// 1 in a negative one (7 observations).
fn int_histogram(timestamp: i64) -> proto::Histogram {
    proto::Histogram {
        count: Some(proto::HistogramCount::CountInt(7)),
        sum: 12.25,
        schema: 1,
        zero_threshold: 1e-128,
        zero_count: Some(proto::HistogramZeroCount::ZeroCountInt(1)),
        positive_spans: vec![
            proto::BucketSpan {
                offset: 0,
                length: 1,
            },
            proto::BucketSpan {
                offset: 2,
                length: 1,
            },
        ],
        positive_deltas: vec![2, 1],
        negative_spans: vec![proto::BucketSpan {
            offset: -1,
            length: 1,
        }],
        negative_deltas: vec![1],
        reset_hint: 2,
        timestamp,
        start_timestamp: timestamp - 500,
        ..proto::Histogram::default()
    }
}

/// A float histogram: 0.5 in the zero bucket, 1.25 and 2.25 in positive buckets.
fn float_histogram(timestamp: i64) -> proto::Histogram {
    proto::Histogram {
        count: Some(proto::HistogramCount::CountFloat(4.0)),
        sum: -3.5,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: Some(proto::HistogramZeroCount::ZeroCountFloat(0.5)),
        positive_spans: vec![proto::BucketSpan {
            offset: -2,
            length: 2,
        }],
        positive_counts: vec![1.25, 2.25],
        timestamp,
        ..proto::Histogram::default()
    }
}

/// A 1.0 exemplar.
fn exemplar(pairs: &[(&str, &str)], value: f64, timestamp: i64) -> proto::Exemplar {
    proto::Exemplar {
        labels: labels(pairs),
        value,
        timestamp,
    }
}

/// A 1.0 request: `mixed` with samples, integer histograms and exemplars; `floaty` with float
/// histograms only.
fn extras_request() -> proto::WriteRequest {
    proto::WriteRequest {
        timeseries: vec![
            proto::TimeSeries {
                labels: labels(&[("__name__", "mixed"), ("job", "a")]),
                samples: vec![
                    proto::Sample {
                        value: 1.5,
                        timestamp: 1000,
                    },
                    proto::Sample {
                        value: 2.5,
                        timestamp: 2000,
                    },
                ],
                exemplars: vec![
                    exemplar(&[("trace_id", "abc")], 0.25, 1500),
                    exemplar(&[], -1.0, 1600),
                ],
                histograms: vec![int_histogram(1000), int_histogram(3000)],
            },
            proto::TimeSeries {
                labels: labels(&[("__name__", "floaty")]),
                samples: vec![],
                exemplars: vec![],
                histograms: vec![float_histogram(500)],
            },
        ],
        metadata: vec![],
    }
}

/// The `(timestamp, histogram)` pairs the store should hold for `histograms`.
fn stamped(histograms: &[proto::Histogram]) -> Vec<(i64, proto_v2::Histogram)> {
    histograms
        .iter()
        .map(|h| (h.timestamp, h.clone()))
        .collect()
}

#[test]
fn histograms_and_exemplars_of_a_1_0_request_are_stored_exactly() {
    let receiver = receiver();
    let request = extras_request();
    let (status, body) = post_v1(receiver.addr(), &request);
    assert_eq!(status, 204, "{body}");
    let store = receiver.store();
    let mixed = [("__name__", "mixed"), ("job", "a")];
    assert_eq!(
        store.samples(&mixed).unwrap(),
        vec![(1000, 1.5f64.to_bits()), (2000, 2.5f64.to_bits())]
    );
    assert_eq!(
        store.histograms(&mixed).unwrap(),
        stamped(&request.timeseries[0].histograms)
    );
    assert_eq!(
        store.exemplars(&mixed).unwrap(),
        vec![
            ReceivedExemplar {
                labels: vec![("trace_id".into(), "abc".into())],
                value_bits: 0.25f64.to_bits(),
                timestamp: 1500,
            },
            ReceivedExemplar {
                labels: vec![],
                value_bits: (-1.0f64).to_bits(),
                timestamp: 1600,
            },
        ]
    );
    let floaty = [("__name__", "floaty")];
    assert_eq!(
        store.histograms(&floaty).unwrap(),
        stamped(&request.timeseries[1].histograms)
    );
    // A histogram-only series is not a float series.
    let float_series: Vec<_> = store.all_samples().into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        float_series,
        vec![vec![
            ("__name__".to_string(), "mixed".to_string()),
            ("job".to_string(), "a".to_string())
        ]]
    );
    let totals = store.totals();
    assert_eq!(
        (totals.accepted, totals.histograms, totals.exemplars),
        (2, 3, 2)
    );
    assert_eq!(totals.v2_requests, 0);

    // Histograms are a timeline of their own: 2500 is newer than the samples but older than
    // the last histogram (out of order); 3000 again is a duplicate; 4000 is accepted, as is
    // a sample at 2500 (the samples' timeline ends at 2000).
    let again = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: labels(&mixed),
            samples: vec![proto::Sample {
                value: 9.0,
                timestamp: 2500,
            }],
            exemplars: vec![],
            histograms: vec![int_histogram(2500)],
        }],
        metadata: vec![],
    };
    assert_eq!(post_v1(receiver.addr(), &again).0, 204);
    let mut dup = again.clone();
    dup.timeseries[0].samples.clear();
    dup.timeseries[0].histograms = vec![int_histogram(3000), int_histogram(4000)];
    assert_eq!(post_v1(receiver.addr(), &dup).0, 204);
    let totals = store.totals();
    assert_eq!(totals.accepted, 3);
    assert_eq!(
        (
            totals.histograms,
            totals.histogram_out_of_order,
            totals.histogram_duplicates
        ),
        (4, 1, 1)
    );
    assert_eq!(
        store.histograms(&mixed).unwrap(),
        stamped(&[
            int_histogram(1000),
            int_histogram(3000),
            int_histogram(4000)
        ])
    );
}

/// A change made to a valid request.
type Mutation = Box<dyn Fn(&mut proto::WriteRequest)>;

#[test]
fn an_invalid_1_0_histogram_is_a_400_naming_it() {
    let receiver = receiver();
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|r| {
                r.timeseries[1].histograms[0].zero_count =
                    Some(proto::HistogramZeroCount::ZeroCountInt(1))
            }),
            "timeseries[1]: histograms[0]: float histogram (count_float) with an integer zero count",
        ),
        (
            Box::new(|r| r.timeseries[0].histograms[1].positive_deltas = vec![2]),
            "timeseries[0]: histograms[1]",
        ),
        (
            Box::new(|r| r.timeseries[0].histograms[1].positive_counts = vec![1.0]),
            "timeseries[0]: histograms[1]: integer histogram (count_int) with float buckets",
        ),
        (
            Box::new(|r| r.timeseries[0].histograms[1].reset_hint = 9),
            "timeseries[0]: histograms[1]: reset_hint 9",
        ),
        (
            Box::new(|r| r.timeseries[0].histograms[1].timestamp = 1000),
            "timeseries[0]: histograms out of order (1000 then 1000)",
        ),
    ];
    for (mutate, expected) in cases {
        let mut request = extras_request();
        mutate(&mut request);
        let (status, body) = post_v1(receiver.addr(), &request);
        assert_eq!(status, 400, "{expected}: {body}");
        assert!(body.contains(expected), "want {expected:?} in {body:?}");
    }
    assert_eq!(receiver.store().totals().requests, 0);
    assert_eq!(receiver.store().series_count(), 0);
}

/// A 1.0 metadata entry.
fn metadata(family: &str, metric_type: i32, help: &str, unit: &str) -> proto::MetricMetadata {
    proto::MetricMetadata {
        r#type: metric_type,
        metric_family_name: family.into(),
        help: help.into(),
        unit: unit.into(),
    }
}

#[test]
fn metadata_only_1_0_requests_are_stored_per_family() {
    let receiver = receiver();
    let store = receiver.store();
    let request = proto::WriteRequest {
        timeseries: vec![],
        metadata: vec![
            metadata("http_requests_total", 1, "Requests \"served\".", ""),
            metadata("latency_seconds", 4, "Latency.", "seconds"),
        ],
    };
    let (status, body) = post_v1(receiver.addr(), &request);
    assert_eq!(status, 204, "{body}");
    let update = proto::WriteRequest {
        timeseries: vec![],
        metadata: vec![metadata("latency_seconds", 7, "Now a stateset.", "")],
    };
    assert_eq!(post_v1(receiver.addr(), &update).0, 204);
    assert_eq!(
        store.family_metadata("http_requests_total"),
        Some(ReceivedFamilyMetadata {
            family: "http_requests_total".into(),
            metric_type: 1,
            help: "Requests \"served\".".into(),
            unit: String::new(),
        })
    );
    let latest = ReceivedFamilyMetadata {
        family: "latency_seconds".into(),
        metric_type: 7,
        help: "Now a stateset.".into(),
        unit: String::new(),
    };
    assert_eq!(
        store.family_metadata("latency_seconds"),
        Some(latest.clone())
    );
    assert_eq!(store.family_metadata("absent"), None);
    assert_eq!(
        store
            .all_family_metadata()
            .into_iter()
            .map(|m| m.family)
            .collect::<Vec<_>>(),
        ["http_requests_total", "latency_seconds"]
    );
    let totals = store.totals();
    assert_eq!((totals.requests, totals.family_metadata), (2, 3));
    assert_eq!(store.series_count(), 0);

    for (bad, expected) in [
        (
            metadata("", 1, "", ""),
            "metadata[1]: metric_family_name is empty",
        ),
        (
            metadata("x", 8, "", ""),
            "metadata[1] (\"x\"): type 8 is not a MetricType",
        ),
        (metadata("x", -1, "", ""), "type -1 is not a MetricType"),
    ] {
        let request = proto::WriteRequest {
            timeseries: vec![],
            metadata: vec![metadata("ok_total", 1, "", ""), bad],
        };
        let (status, body) = post_v1(receiver.addr(), &request);
        assert_eq!(status, 400, "{expected}: {body}");
        assert!(body.contains(expected), "want {expected:?} in {body:?}");
    }
    assert_eq!(store.family_metadata("ok_total"), None);
    assert_eq!(store.totals().family_metadata, 3);
}

#[test]
fn sink_print_samples_prints_histograms_exemplars_and_metadata() {
    let sink = SinkProcess::start(&["--per-request", "--print-samples"]);
    let next = || sink.next_line();
    let addr = sink.addr;

    let mut request = extras_request();
    request.timeseries[0].labels = labels(&[("__name__", "mixed"), ("say", "a \"b\" }")]);
    request.metadata = vec![metadata("mixed", 1, "Help with \"quotes\"\n.", "bytes")];
    let (status, body) = post_v1(addr, &request);
    assert_eq!(status, 204, "{body}");
    let summary = next();
    assert!(
        summary.contains("protocol=1.0 series=2 samples=2 histograms=3 exemplars=2 ")
            && summary.ends_with(" family_metadata=1"),
        "{summary}"
    );
    let mixed = r#"{__name__="mixed",say="a \"b\" }"}"#;
    let int_json = serde_json::json!({
        "schema": 1,
        "zero_threshold_bits": format!("{:016x}", 1e-128f64.to_bits()),
        "sum_bits": format!("{:016x}", 12.25f64.to_bits()),
        "count_int": 7,
        "zero_count_int": 1,
        "positive_spans": [[0, 1], [2, 1]],
        "negative_spans": [[-1, 1]],
        "positive_deltas": [2, 1],
        "negative_deltas": [1],
        "positive_counts_bits": [],
        "negative_counts_bits": [],
        "reset_hint": 2,
        "custom_values_bits": [],
        "start_timestamp": 500,
    });
    let mut int_json_3000 = int_json.clone();
    int_json_3000["start_timestamp"] = serde_json::json!(2500);
    let float_json = serde_json::json!({
        "schema": 0,
        "zero_threshold_bits": format!("{:016x}", 0.001f64.to_bits()),
        "sum_bits": format!("{:016x}", (-3.5f64).to_bits()),
        "count_float_bits": format!("{:016x}", 4.0f64.to_bits()),
        "zero_count_float_bits": format!("{:016x}", 0.5f64.to_bits()),
        "positive_spans": [[-2, 2]],
        "negative_spans": [],
        "positive_deltas": [],
        "negative_deltas": [],
        "positive_counts_bits": [
            format!("{:016x}", 1.25f64.to_bits()),
            format!("{:016x}", 2.25f64.to_bits()),
        ],
        "negative_counts_bits": [],
        "reset_hint": 0,
        "custom_values_bits": [],
        "start_timestamp": 0,
    });
    let printed: Vec<String> = (0..8).map(|_| next()).collect();
    let expected_plain = [
        format!("sample {mixed} 1000 {:016x}", 1.5f64.to_bits()),
        format!("sample {mixed} 2000 {:016x}", 2.5f64.to_bits()),
    ];
    assert_eq!(printed[..2], expected_plain);
    // The histogram lines: labels, timestamp, then JSON (compared as JSON: key order is not
    // part of the format).
    let histogram = |line: &str, prefix: &str, json: &serde_json::Value| {
        let rest = line
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("want {prefix:?} in {line:?}"));
        assert!(!rest.contains('\n') && !rest.contains(' '), "{rest}");
        let value: serde_json::Value = serde_json::from_str(rest).expect(rest);
        assert_eq!(&value, json, "{line}");
    };
    histogram(&printed[2], &format!("histogram {mixed} 1000 "), &int_json);
    histogram(
        &printed[3],
        &format!("histogram {mixed} 3000 "),
        &int_json_3000,
    );
    assert_eq!(
        printed[4..6],
        [
            format!(
                "exemplar {mixed} {{trace_id=\"abc\"}} 1500 {:016x}",
                0.25f64.to_bits()
            ),
            format!("exemplar {mixed} {{}} 1600 {:016x}", (-1.0f64).to_bits()),
        ]
    );
    histogram(
        &printed[6],
        "histogram {__name__=\"floaty\"} 500 ",
        &float_json,
    );
    assert_eq!(
        printed[7],
        r#"metadata mixed 1 "Help with \"quotes\"\n." "bytes""#
    );
    // A metadata-only request prints only its metadata lines.
    let only = proto::WriteRequest {
        timeseries: vec![],
        metadata: vec![metadata("up", 3, "", ""), metadata("down", 0, "d", "")],
    };
    assert_eq!(post_v1(addr, &only).0, 204);
    let summary = next();
    assert!(
        summary.contains("protocol=1.0 series=0 samples=0 histograms=0 exemplars=0 ")
            && summary.ends_with(" family_metadata=2"),
        "{summary}"
    );
    assert_eq!(next(), r#"metadata up 3 "" """#);
    assert_eq!(next(), r#"metadata down 0 "d" """#);
    // A 2.0 series' metadata, printed each time it is sent.
    let v2 = proto_v2::Request {
        symbols: ["", "__name__", "up", "Up or not.", "trace_id", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        timeseries: vec![proto_v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![proto_v2::Sample {
                value: 1.0,
                timestamp: 10,
                start_timestamp: 0,
            }],
            histograms: vec![],
            exemplars: vec![proto_v2::Exemplar {
                labels_refs: vec![4, 5],
                value: 1.0,
                timestamp: 10,
            }],
            metadata: Some(proto_v2::Metadata {
                r#type: 2,
                help_ref: 3,
                unit_ref: 0,
            }),
        }],
    };
    for _ in 0..2 {
        let (status, body) = post(addr, V2_TYPE, "2.0.0", &v2.encode_to_vec());
        assert_eq!(status, 204, "{body}");
        let summary = next();
        assert!(
            summary.contains("protocol=2.0 series=1 samples=1 histograms=0 exemplars=1 ")
                && summary.ends_with(" family_metadata=0"),
            "{summary}"
        );
        assert_eq!(
            next(),
            format!("sample {{__name__=\"up\"}} 10 {:016x}", 1.0f64.to_bits())
        );
        assert_eq!(
            next(),
            format!(
                "exemplar {{__name__=\"up\"}} {{trace_id=\"x\"}} 10 {:016x}",
                1.0f64.to_bits()
            )
        );
        assert_eq!(
            next(),
            r#"series_metadata {__name__="up"} 2 "Up or not." """#
        );
    }
}
