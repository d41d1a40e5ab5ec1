//! Remote Write 2.0 against the real receivers of `.ci/receivers.sh`, neither of which speaks
//! 2.0: Prometheus 2.42 (started with `--enable-feature=native-histograms,exemplar-storage`)
//! and VictoriaMetrics 1.79 answer a 2.0 request with a 2xx and no Written headers (they read
//! it as an empty 1.0 request). A sender configured for 2.0 must see that, fall back to 1.0
//! and deliver everything as 1.0: float samples, integer and float native histograms and
//! exemplars are read back exactly through Prometheus's query APIs, the samples through
//! VictoriaMetrics's export API.

mod real_receivers;

use std::collections::BTreeMap;
use std::time::Duration;

use promrw::{
    BucketSpan, Config, Exemplar, Histogram, HistogramCounts, Label, Labels, ResetHint,
    SampleOptions, Sender,
};
use real_receivers::query::{self, Shown};
use real_receivers::{Kind, RealReceiver, now_ms, skip};

/// A sender for `url` configured for Remote Write 2.0 with exemplars.
fn v2_sender(url: &str) -> Sender {
    let text = format!(
        "remote_write:\n  - url: {url}\n    name: rw2\n    protobuf_message: io.prometheus.write.v2.Request\n    send_exemplars: true\n    queue_config:\n      batch_send_deadline: 50ms\n      min_backoff: 10ms\n      max_backoff: 200ms\n"
    );
    Sender::new(Config::from_text(&text).expect("valid config")).expect("sender starts")
}

/// An integer histogram of schema 0 (bucket `i` is `(2^(i-1), 2^i]`, exact in every
/// notation) with positive and negative buckets and a zero bucket.
fn integer_histogram(i: u64) -> Histogram {
    Histogram {
        schema: 0,
        zero_threshold: 0.001,
        sum: 40.5 + i as f64,
        counts: HistogramCounts::Integer {
            count: 13 + i,
            zero_count: 1,
            positive_deltas: vec![2, 1, -1, i as i64],
            negative_deltas: vec![3],
        },
        positive_spans: vec![
            BucketSpan {
                offset: -1,
                length: 2,
            },
            BucketSpan {
                offset: 2,
                length: 2,
            },
        ],
        negative_spans: vec![BucketSpan {
            offset: 1,
            length: 1,
        }],
        reset_hint: ResetHint::No,
        custom_values: vec![],
    }
}

/// A float histogram of schema 0.
fn float_histogram(i: u64) -> Histogram {
    Histogram {
        schema: 0,
        zero_threshold: 0.001,
        sum: 9.75,
        counts: HistogramCounts::Float {
            count: 7.5 + i as f64,
            zero_count: 0.5,
            positive_counts: vec![1.5, 2.0 + i as f64],
            negative_counts: vec![3.5],
        },
        positive_spans: vec![BucketSpan {
            offset: 2,
            length: 2,
        }],
        negative_spans: vec![BucketSpan {
            offset: 0,
            length: 1,
        }],
        reset_hint: ResetHint::Gauge,
        custom_values: vec![],
    }
}

/// The buckets of a schema-0 histogram as Prometheus's API lists the non-empty ones:
/// `(boundary rule, lower, upper, count)` sorted by lower bound.
fn expected_buckets(h: &Histogram) -> Vec<(u64, f64, f64, f64)> {
    assert_eq!(h.schema, 0, "bounds computed for schema 0 only");
    let (zero, positive, negative): (f64, Vec<f64>, Vec<f64>) = match &h.counts {
        HistogramCounts::Integer {
            zero_count,
            positive_deltas,
            negative_deltas,
            ..
        } => {
            let absolute = |deltas: &[i64]| {
                let mut running = 0i64;
                deltas
                    .iter()
                    .map(|d| {
                        running += d;
                        running as f64
                    })
                    .collect::<Vec<f64>>()
            };
            (
                *zero_count as f64,
                absolute(positive_deltas),
                absolute(negative_deltas),
            )
        }
        HistogramCounts::Float {
            zero_count,
            positive_counts,
            negative_counts,
            ..
        } => (
            *zero_count,
            positive_counts.clone(),
            negative_counts.clone(),
        ),
    };
    let indices = |spans: &[BucketSpan]| {
        let mut out = Vec::new();
        let mut index = 0i32;
        for span in spans {
            index += span.offset;
            for _ in 0..span.length {
                out.push(index);
                index += 1;
            }
        }
        out
    };
    let mut buckets = Vec::new();
    for (index, count) in indices(&h.positive_spans).into_iter().zip(positive) {
        let upper = 2f64.powi(index);
        buckets.push((0, upper / 2.0, upper, count));
    }
    for (index, count) in indices(&h.negative_spans).into_iter().zip(negative) {
        let upper = 2f64.powi(index);
        buckets.push((1, -upper, -upper / 2.0, count));
    }
    if zero > 0.0 {
        buckets.push((3, -h.zero_threshold, h.zero_threshold, zero));
    }
    buckets.retain(|b| b.3 != 0.0);
    buckets.sort_by(|a, b| a.1.total_cmp(&b.1));
    buckets
}

/// A number Prometheus's API writes as a string.
fn number(value: &serde_json::Value) -> f64 {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a number as a string: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// Prometheus's histogram object as `(count, sum, buckets)` like [`expected_buckets`].
type ShownHistogram = (f64, f64, Vec<(u64, f64, f64, f64)>);

fn shown_histogram(value: &serde_json::Value) -> ShownHistogram {
    let mut buckets: Vec<(u64, f64, f64, f64)> = value["buckets"]
        .as_array()
        .map(|b| b.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|b| {
            (
                b[0].as_u64().expect("boundary rule"),
                number(&b[1]),
                number(&b[2]),
                number(&b[3]),
            )
        })
        .collect();
    buckets.sort_by(|a, b| a.1.total_cmp(&b.1));
    (number(&value["count"]), number(&value["sum"]), buckets)
}

/// Every raw histogram of `selector` in the 10 minutes before `at_ms`, by timestamp.
fn prometheus_histograms(
    receiver: &RealReceiver,
    selector: &str,
    at_ms: i64,
) -> Vec<(i64, ShownHistogram)> {
    let url = format!("{}/api/v1/query", receiver.base_url());
    let (status, body) = query::get(
        &url,
        &[
            ("query", &format!("{selector}[10m]")),
            ("time", &query::seconds(at_ms)),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let result = json["data"]["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "one series for {selector}: {body}");
    result[0]["histograms"]
        .as_array()
        .unwrap_or_else(|| panic!("histograms of {selector}: {body}"))
        .iter()
        .map(|p| {
            let ms = (p[0].as_f64().expect("timestamp") * 1000.0).round() as i64;
            (ms, shown_histogram(&p[1]))
        })
        .collect()
}

/// Every exemplar of `selector` in `[start_ms, end_ms]`: `(trace_id, value, ms)`.
fn prometheus_exemplars(
    receiver: &RealReceiver,
    selector: &str,
    start_ms: i64,
    end_ms: i64,
) -> Vec<(String, f64, i64)> {
    let url = format!("{}/api/v1/query_exemplars", receiver.base_url());
    let (status, body) = query::get(
        &url,
        &[
            ("query", selector),
            ("start", &query::seconds(start_ms)),
            ("end", &query::seconds(end_ms)),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut out = Vec::new();
    for series in json["data"].as_array().expect("data") {
        for e in series["exemplars"].as_array().expect("exemplars") {
            out.push((
                e["labels"]["trace_id"]
                    .as_str()
                    .expect("trace_id")
                    .to_string(),
                number(&e["value"]),
                (e["timestamp"].as_f64().expect("timestamp") * 1000.0).round() as i64,
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn prometheus_2_42_gets_everything_as_1_0_after_the_fallback_read_back_exactly() {
    if skip("real_rw2::prometheus") {
        return;
    }
    let receiver = RealReceiver::start_with(
        Kind::Prometheus,
        &["--enable-feature=native-histograms,exemplar-storage"],
    );
    let sender = v2_sender(&receiver.write_url());
    let job = format!("rw2-{}", std::process::id());
    let series = |name: &str| {
        sender
            .series(Labels::from_pairs(&[("__name__", name), ("job", &job)]).unwrap())
            .unwrap()
    };
    let (counter, latency, ratio) = (
        series("rw2_requests_total"),
        series("rw2_latency"),
        series("rw2_ratio"),
    );
    let t0 = now_ms() - 120_000;
    let rounds = 30;
    let mut floats = Vec::new();
    let mut histograms = Vec::new();
    let mut float_histograms = Vec::new();
    let mut exemplars = Vec::new();
    for i in 0..rounds {
        let ts = t0 + i * 1000;
        let value = 0.5 + i as f64;
        let trace = format!("trace-{i:03}");
        let options = SampleOptions {
            start_timestamp_ms: t0 - 1000,
            exemplar: Some(
                Exemplar::new(vec![Label::new("trace_id", &trace)], value, Some(ts)).unwrap(),
            ),
        };
        sender.append_with(counter, ts, value, &options).unwrap();
        floats.push((ts, value));
        exemplars.push((trace, value, ts));
        let h = integer_histogram(i as u64);
        sender
            .append_histogram(latency, ts, &h, &SampleOptions::default())
            .unwrap();
        histograms.push((ts, h));
        let f = float_histogram(i as u64);
        sender
            .append_histogram(ratio, ts, &f, &SampleOptions::default())
            .unwrap();
        float_histograms.push((ts, f));
    }
    sender
        .flush(Duration::from_secs(30))
        .expect("everything acknowledged");
    let stats = sender.stats();
    let endpoint = &stats.endpoints[0];
    assert_eq!(endpoint.remote_write_protocol, "1.0", "fell back");
    assert_eq!(endpoint.samples_failed + endpoint.histograms.failed, 0);
    let end = t0 + rounds * 1000;
    let raw = query::prometheus_raw(
        &receiver,
        &format!("rw2_requests_total{{job=\"{job}\"}}"),
        "10m",
        end,
    );
    assert_eq!(raw.len(), 1, "one counter series");
    let got: Vec<(i64, u64)> = raw[0]
        .samples
        .iter()
        .map(|(t, v)| match v {
            Shown::Num(v) => (*t, v.to_bits()),
            _ => panic!("a number"),
        })
        .collect();
    let want: Vec<(i64, u64)> = floats.iter().map(|(t, v)| (*t, v.to_bits())).collect();
    assert_eq!(got, want, "float samples exactly once");
    for (name, appended) in [
        ("rw2_latency", &histograms),
        ("rw2_ratio", &float_histograms),
    ] {
        let got = prometheus_histograms(&receiver, &format!("{name}{{job=\"{job}\"}}"), end);
        let want: Vec<(i64, ShownHistogram)> = appended
            .iter()
            .map(|(t, h)| {
                let count = match &h.counts {
                    HistogramCounts::Integer { count, .. } => *count as f64,
                    HistogramCounts::Float { count, .. } => *count,
                };
                (*t, (count, h.sum, expected_buckets(h)))
            })
            .collect();
        assert_eq!(got, want, "{name}: every histogram exactly once");
    }
    let got = prometheus_exemplars(
        &receiver,
        &format!("rw2_requests_total{{job=\"{job}\"}}"),
        t0 - 1000,
        end,
    );
    assert_eq!(got, exemplars, "exemplars exactly");
    // Nothing is duplicated by the fallback: every series holds exactly what was appended
    // (checked above), and Prometheus reported no out-of-order or duplicate rejections.
    let by_trace: BTreeMap<&str, usize> = got.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.0.as_str()).or_default() += 1;
        m
    });
    assert!(by_trace.values().all(|n| *n == 1));
    sender.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn victoriametrics_1_79_gets_the_samples_as_1_0_after_the_fallback_read_back_exactly() {
    if skip("real_rw2::victoriametrics") {
        return;
    }
    let receiver = RealReceiver::start(Kind::VictoriaMetrics);
    let sender = v2_sender(&receiver.write_url());
    let job = format!("rw2-{}", std::process::id());
    let series: Vec<_> = (0..50)
        .map(|i| {
            sender
                .series(
                    Labels::from_pairs(&[
                        ("__name__", "rw2_vm"),
                        ("job", &job),
                        ("i", &i.to_string()),
                    ])
                    .unwrap(),
                )
                .unwrap()
        })
        .collect();
    let t0 = now_ms() - 120_000;
    for round in 0..40i64 {
        for (i, s) in series.iter().enumerate() {
            let value = (round * 100 + i as i64) as f64 / 8.0;
            sender
                .append_with_start(*s, t0 + round * 1000, t0 - 1, value)
                .unwrap();
        }
    }
    sender.flush(Duration::from_secs(30)).expect("acknowledged");
    let endpoint = &sender.stats().endpoints[0];
    assert_eq!(endpoint.remote_write_protocol, "1.0", "fell back");
    assert_eq!(endpoint.samples_acked, 2000);
    let got = query::read_back(
        &receiver,
        &format!("rw2_vm{{job=\"{job}\"}}"),
        t0,
        t0 + 40_000,
    );
    assert_eq!(got.len(), 50, "every series");
    for s in &got {
        let i: i64 = s.labels["i"].parse().unwrap();
        let want: Vec<(i64, u64)> = (0..40i64)
            .map(|round| {
                (
                    t0 + round * 1000,
                    ((round * 100 + i) as f64 / 8.0).to_bits(),
                )
            })
            .collect();
        let have: Vec<(i64, u64)> = s
            .samples
            .iter()
            .map(|(t, v)| match v {
                Shown::Num(v) => (*t, v.to_bits()),
                _ => panic!("a number"),
            })
            .collect();
        assert_eq!(have, want, "series i={i} exactly once");
    }
    sender.close(Duration::from_secs(10)).unwrap();
}

/// Prometheus 2.42 accepts 1.0 metadata requests (2xx), which is all it does with them: its
/// `/api/v1/metadata` shows the metadata of scraped targets only, so remote-written
/// metadata cannot be read back from it (docs/COMPATIBILITY.md). The sink reads it back
/// (tests/rw2.rs).
#[test]
fn prometheus_2_42_accepts_1_0_metadata_requests() {
    if skip("real_rw2::prometheus_metadata") {
        return;
    }
    let receiver = RealReceiver::start(Kind::Prometheus);
    let text = format!(
        "remote_write:\n  - url: {}\n    metadata_config:\n      send_interval: 200ms\n",
        receiver.write_url()
    );
    let sender = Sender::new(Config::from_text(&text).unwrap()).unwrap();
    let series = sender
        .series(Labels::from_pairs(&[("__name__", "rw2_probe_total")]).unwrap())
        .unwrap();
    sender
        .set_metadata(
            series,
            promrw::Metadata {
                kind: promrw::MetricType::Counter,
                help: "Probe.".into(),
                unit: String::new(),
            },
        )
        .unwrap();
    sender.append(series, now_ms(), 1.0).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sender.stats().endpoints[0].metadata.total == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let metadata = sender.stats().endpoints[0].metadata;
    assert!(metadata.total >= 1, "{metadata:?}");
    assert_eq!((metadata.failed, metadata.retried), (0, 0), "{metadata:?}");
    sender.close(Duration::from_secs(10)).unwrap();
}
