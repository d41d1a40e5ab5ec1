//! Remote Write 2.0 and the 1.0 extras end to end: a sender configured for 2.0 sends float
//! samples, integer and float native histograms, exemplars and metadata to the validating
//! receiver (127.0.0.1, a free port), which reads every one back exactly; against the
//! receiver acting as a 1.0-only one (415, or 2xx without the Written headers) the sender
//! falls back to 1.0 once, for good, and delivers everything exactly once; 1.0 endpoints send
//! histograms and exemplars only with their flags (else dropped and counted), never histograms
//! with custom buckets, and metadata in metadata requests; partial writes reported by the
//! Written headers are counted as failed; in WAL mode the fallback outlives the sender.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CollectLogs, TempDir, now_ms};
use promrw::{
    BucketSpan, Config, Exemplar, Histogram, HistogramCounts, Label, Labels, Metadata, MetricType,
    ResetHint, SampleOptions, Sender,
};
use promrw_tools::receiver::decode_v2::histogram_from_proto;
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{
    Handler, ProtocolMode, Receiver, ReceiverOptions, Reply, RequestInfo, SampleStore,
};

/// A receiver in `mode` keeping samples, answering with `handler`.
fn receiver_with(mode: ProtocolMode, handler: Handler) -> Receiver {
    Receiver::start_with(
        "127.0.0.1:0",
        2,
        Arc::new(SampleStore::new(true)),
        handler,
        None,
        ReceiverOptions { protocol: mode },
    )
    .expect("start receiver")
}

/// A validating receiver in `mode`.
fn receiver(mode: ProtocolMode) -> Receiver {
    receiver_with(mode, validating_handler())
}

/// A sender for one endpoint at `url` with `extra` endpoint lines (4 spaces), logging into
/// the returned list.
fn sender_logging(url: &str, extra: &str, top: &str) -> (Sender, Arc<Mutex<Vec<String>>>) {
    let text = format!("{top}{}", common::yaml(url, "", extra));
    let mut config = Config::from_text(&text).expect("valid config");
    let logs = Arc::new(Mutex::new(Vec::new()));
    config.set_logger(Arc::new(CollectLogs(logs.clone())), promrw::LogLevel::Info);
    (Sender::new(config).expect("sender starts"), logs)
}

const V2: &str = "    protobuf_message: io.prometheus.write.v2.Request\n    send_exemplars: true\n";

/// An integer histogram with positive and negative buckets.
fn integer_histogram(i: u64) -> Histogram {
    Histogram {
        schema: 3,
        zero_threshold: 1e-128,
        sum: 17.5 + i as f64,
        counts: HistogramCounts::Integer {
            count: 13 + i,
            zero_count: 1,
            positive_deltas: vec![2, 1, -1, i as i64],
            negative_deltas: vec![3],
        },
        positive_spans: vec![
            BucketSpan {
                offset: -2,
                length: 2,
            },
            BucketSpan {
                offset: 3,
                length: 2,
            },
        ],
        negative_spans: vec![BucketSpan {
            offset: 0,
            length: 1,
        }],
        reset_hint: ResetHint::No,
        custom_values: vec![],
    }
}

/// A float histogram.
fn float_histogram(i: u64) -> Histogram {
    Histogram {
        schema: -2,
        zero_threshold: 0.001,
        sum: -3.25,
        counts: HistogramCounts::Float {
            count: 7.5 + i as f64,
            zero_count: 0.5,
            positive_counts: vec![1.5, 0.0, 2.0 + i as f64],
            negative_counts: vec![3.5],
        },
        positive_spans: vec![BucketSpan {
            offset: 1,
            length: 3,
        }],
        negative_spans: vec![BucketSpan {
            offset: -1,
            length: 1,
        }],
        reset_hint: ResetHint::Gauge,
        custom_values: vec![],
    }
}

/// A histogram with custom buckets (schema -53).
fn custom_buckets_histogram() -> Histogram {
    Histogram {
        schema: -53,
        zero_threshold: 0.0,
        sum: 12.0,
        counts: HistogramCounts::Integer {
            count: 6,
            zero_count: 0,
            positive_deltas: vec![1, 2, -1],
            negative_deltas: vec![],
        },
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: 3,
        }],
        negative_spans: vec![],
        reset_hint: ResetHint::Unknown,
        custom_values: vec![0.1, 1.0, 10.0],
    }
}

fn exemplar(trace: &str, value: f64, ts: Option<i64>) -> Exemplar {
    Exemplar::new(vec![Label::new("trace_id", trace)], value, ts).expect("valid exemplar")
}

/// What one run appends.
struct Appended {
    floats: Vec<(i64, f64)>,
    histograms: Vec<(i64, Histogram)>,
    float_histograms: Vec<(i64, Histogram)>,
    exemplars: Vec<(String, f64, i64)>,
}

/// Appends to `requests_total` (floats with start timestamps, every other one with an
/// exemplar), `latency` (integer histograms, each with an exemplar) and `ratio` (float
/// histograms), `rounds` of each, and sets their metadata.
fn append_all(sender: &Sender, rounds: usize) -> Appended {
    let t0 = now_ms() - 60_000;
    let counter = sender
        .series(Labels::from_pairs(&[("__name__", "requests_total"), ("job", "rw2")]).unwrap())
        .unwrap();
    let latency = sender
        .series(Labels::from_pairs(&[("__name__", "latency"), ("job", "rw2")]).unwrap())
        .unwrap();
    let ratio = sender
        .series(Labels::from_pairs(&[("__name__", "ratio"), ("job", "rw2")]).unwrap())
        .unwrap();
    sender
        .set_metadata(
            counter,
            Metadata {
                kind: MetricType::Counter,
                help: "Requests served.".into(),
                unit: "".into(),
            },
        )
        .unwrap();
    sender
        .set_metadata(
            latency,
            Metadata {
                kind: MetricType::Histogram,
                help: "Request latency.".into(),
                unit: "seconds".into(),
            },
        )
        .unwrap();
    let mut appended = Appended {
        floats: vec![],
        histograms: vec![],
        float_histograms: vec![],
        exemplars: vec![],
    };
    for i in 0..rounds {
        let ts = t0 + i as i64 * 1000;
        let value = i as f64 * 1.5;
        let mut options = SampleOptions::with_start(t0 - 5000);
        if i % 2 == 0 {
            let trace = format!("t{i}");
            options.exemplar = Some(exemplar(&trace, value, Some(ts - 1)));
            appended.exemplars.push((trace, value, ts - 1));
        }
        sender.append_with(counter, ts, value, &options).unwrap();
        appended.floats.push((ts, value));
        let trace = format!("h{i}");
        let options = SampleOptions::with_exemplar(exemplar(&trace, 0.25, None));
        appended.exemplars.push((trace, 0.25, ts));
        let h = integer_histogram(i as u64);
        sender.append_histogram(latency, ts, &h, &options).unwrap();
        appended.histograms.push((ts, h));
        let f = float_histogram(i as u64);
        sender
            .append_histogram(ratio, ts, &f, &SampleOptions::default())
            .unwrap();
        appended.float_histograms.push((ts, f));
    }
    appended
}

/// Checks that the store holds exactly what was appended.
fn assert_read_back(store: &SampleStore, appended: &Appended) {
    let counter = [("__name__", "requests_total"), ("job", "rw2")];
    let latency = [("__name__", "latency"), ("job", "rw2")];
    let ratio = [("__name__", "ratio"), ("job", "rw2")];
    let floats: Vec<(i64, u64)> = appended
        .floats
        .iter()
        .map(|(t, v)| (*t, v.to_bits()))
        .collect();
    assert_eq!(store.samples(&counter).expect("counter samples"), floats);
    for (labels, expected) in [
        (&latency, &appended.histograms),
        (&ratio, &appended.float_histograms),
    ] {
        let got = store.histograms(labels).expect("histograms stored");
        let got: Vec<(i64, Histogram)> = got
            .iter()
            .map(|(t, h)| (*t, histogram_from_proto(h).expect("valid histogram")))
            .collect();
        assert_eq!(&got, expected, "{labels:?}");
    }
    let mut exemplars: Vec<(String, u64, i64)> = store
        .exemplars(&counter)
        .unwrap_or_default()
        .into_iter()
        .chain(store.exemplars(&latency).unwrap_or_default())
        .map(|e| (e.labels[0].1.clone(), e.value_bits, e.timestamp))
        .collect();
    exemplars.sort();
    let mut expected: Vec<(String, u64, i64)> = appended
        .exemplars
        .iter()
        .map(|(t, v, ts)| (t.clone(), v.to_bits(), *ts))
        .collect();
    expected.sort();
    assert_eq!(exemplars, expected);
    let totals = store.totals();
    assert_eq!(
        totals.duplicates + totals.histogram_duplicates,
        0,
        "{totals:?}"
    );
    assert_eq!(totals.out_of_order + totals.histogram_out_of_order, 0);
}

#[test]
fn a_2_0_endpoint_delivers_samples_histograms_exemplars_and_metadata_exactly() {
    let receiver = receiver(ProtocolMode::Both);
    let (sender, _logs) = sender_logging(&receiver.url(), V2, "");
    let appended = append_all(&sender, 20);
    sender.flush(Duration::from_secs(10)).expect("flushed");
    let store = receiver.store();
    assert_read_back(store, &appended);
    assert!(store.totals().v2_requests > 0);
    assert_eq!(
        store.totals().requests,
        store.totals().v2_requests,
        "only 2.0"
    );
    let metadata = store
        .metadata(&[("__name__", "latency"), ("job", "rw2")])
        .expect("metadata sent with the series");
    assert_eq!(
        (
            metadata.metric_type,
            metadata.help.as_str(),
            metadata.unit.as_str()
        ),
        (3, "Request latency.", "seconds")
    );
    let counter = store
        .metadata(&[("__name__", "requests_total"), ("job", "rw2")])
        .expect("counter metadata");
    assert_eq!(
        (counter.metric_type, counter.help.as_str()),
        (1, "Requests served.")
    );
    let stats = &sender.stats().endpoints[0];
    assert_eq!(stats.remote_write_protocol, "2.0");
    assert_eq!(stats.samples_acked, 20);
    assert_eq!(stats.histograms.acked, 40);
    assert_eq!(stats.exemplars.acked, 30);
    assert_eq!(stats.samples_failed + stats.histograms.failed, 0);
    let text = sender.metrics_text();
    assert!(
        text.contains("prometheus_remote_storage_histograms_total{remote_name=\"test\""),
        "{text}"
    );
    assert!(text.contains("protocol=\"2.0\"} 1"), "{text}");
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}

/// The fallback against the receiver in `mode`: everything arrives once, as 1.0; the change
/// is logged once and shown in the metric.
fn falls_back_against(mode: ProtocolMode) {
    let receiver = receiver(mode);
    let (sender, logs) = sender_logging(&receiver.url(), V2, "");
    let appended = append_all(&sender, 20);
    sender.flush(Duration::from_secs(10)).expect("flushed");
    assert_read_back(receiver.store(), &appended);
    let totals = receiver.store().totals();
    match mode {
        ProtocolMode::V1Refuse415 => assert!(totals.v2_refused >= 1, "{totals:?}"),
        _ => assert!(totals.v2_ignored >= 1, "{totals:?}"),
    }
    let stats = &sender.stats().endpoints[0];
    assert_eq!(stats.remote_write_protocol, "1.0");
    assert_eq!(
        stats.samples_failed + stats.histograms.failed,
        0,
        "{stats:?}"
    );
    assert_eq!(stats.samples_acked, 20);
    assert_eq!(stats.histograms.acked, 40);
    let text = sender.metrics_text();
    assert!(text.contains("protocol=\"1.0\"} 1"), "{text}");
    assert!(text.contains("protocol=\"2.0\"} 0"), "{text}");
    // Later requests go as 1.0 at once.
    let v2_before = totals.v2_refused + totals.v2_ignored;
    let series = sender
        .series(Labels::from_pairs(&[("__name__", "later"), ("job", "rw2")]).unwrap())
        .unwrap();
    sender.append(series, now_ms(), 1.0).unwrap();
    sender.flush(Duration::from_secs(10)).expect("flushed");
    let after = receiver.store().totals();
    assert_eq!(
        after.v2_refused + after.v2_ignored,
        v2_before,
        "no more 2.0"
    );
    assert_eq!(
        receiver
            .store()
            .samples(&[("__name__", "later"), ("job", "rw2")])
            .map(|s| s.len()),
        Some(1)
    );
    let warnings: Vec<String> = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("speaks only Remote Write 1.0"))
        .cloned()
        .collect();
    assert_eq!(warnings.len(), 1, "logged once: {warnings:?}");
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}

#[test]
fn a_2_0_endpoint_falls_back_to_1_0_on_415_and_loses_nothing() {
    falls_back_against(ProtocolMode::V1Refuse415);
}

#[test]
fn a_2_0_endpoint_falls_back_to_1_0_on_a_2xx_without_written_headers() {
    falls_back_against(ProtocolMode::V1Ignore);
}

#[test]
fn a_1_0_endpoint_drops_and_counts_histograms_and_exemplars_without_its_flags() {
    let receiver = receiver(ProtocolMode::Both);
    let (sender, logs) = sender_logging(&receiver.url(), "", "");
    let appended = append_all(&sender, 10);
    sender.flush(Duration::from_secs(10)).expect("nothing lost");
    let store = receiver.store();
    let floats: Vec<(i64, u64)> = appended
        .floats
        .iter()
        .map(|(t, v)| (*t, v.to_bits()))
        .collect();
    assert_eq!(
        store.samples(&[("__name__", "requests_total"), ("job", "rw2")]),
        Some(floats)
    );
    assert_eq!(store.totals().histograms, 0);
    assert_eq!(store.totals().exemplars, 0);
    let stats = &sender.stats().endpoints[0];
    use promrw::metrics::ExtraDropReason as R;
    assert_eq!(stats.histograms.dropped(R::NativeHistogramsDisabled), 20);
    // The counter's 5 exemplars and the histograms' 10 (dropped with them).
    assert_eq!(stats.exemplars.dropped(R::ExemplarsDisabled), 5);
    assert_eq!(stats.exemplars.dropped(R::NativeHistogramsDisabled), 10);
    let text = sender.metrics_text();
    assert!(
        text.contains("prometheus_remote_storage_histograms_dropped_total{reason=\"native_histograms_disabled\",remote_name=\"test\""),
        "{text}"
    );
    let logged = logs.lock().unwrap().join("\n");
    assert!(logged.contains("send_native_histograms"), "{logged}");
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}

#[test]
fn a_1_0_endpoint_with_its_flags_sends_histograms_and_exemplars_but_not_custom_buckets() {
    let receiver = receiver(ProtocolMode::Both);
    let flags = "    send_native_histograms: true\n    send_exemplars: true\n";
    let (sender, _logs) = sender_logging(&receiver.url(), flags, "");
    let appended = append_all(&sender, 10);
    let nhcb = sender
        .series(Labels::from_pairs(&[("__name__", "nhcb"), ("job", "rw2")]).unwrap())
        .unwrap();
    sender
        .append_histogram(
            nhcb,
            now_ms(),
            &custom_buckets_histogram(),
            &SampleOptions::default(),
        )
        .unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_read_back(receiver.store(), &appended);
    assert_eq!(receiver.store().totals().v2_requests, 0, "1.0 only");
    assert!(
        receiver
            .store()
            .histograms(&[("__name__", "nhcb"), ("job", "rw2")])
            .is_none()
    );
    let stats = &sender.stats().endpoints[0];
    use promrw::metrics::ExtraDropReason as R;
    assert_eq!(stats.histograms.dropped(R::NhcbInRw1NotSupported), 1);
    assert_eq!(stats.histograms.acked, 20);
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}

#[test]
fn a_1_0_endpoint_sends_metadata_requests_every_send_interval() {
    let receiver = receiver(ProtocolMode::Both);
    let (sender, _logs) = sender_logging(
        &receiver.url(),
        "    metadata_config:\n      send_interval: 200ms\n      max_samples_per_send: 1\n",
        "",
    );
    append_all(&sender, 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let store = receiver.store();
    while store.totals().family_metadata < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Two families, one per request, at least two rounds.
    assert!(store.totals().family_metadata >= 4, "{:?}", store.totals());
    let requests = store.family_metadata("requests").expect("counter family");
    assert_eq!(
        (requests.metric_type, requests.help.as_str()),
        (1, "Requests served.")
    );
    let latency = store.family_metadata("latency").expect("histogram family");
    assert_eq!(
        (
            latency.metric_type,
            latency.help.as_str(),
            latency.unit.as_str()
        ),
        (3, "Request latency.", "seconds")
    );
    let stats = &sender.stats().endpoints[0];
    assert!(stats.metadata.total >= 4, "{:?}", stats.metadata);
    assert_eq!(stats.metadata.failed, 0);
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}

#[test]
fn a_2_0_endpoint_sends_no_metadata_requests() {
    let receiver = receiver(ProtocolMode::Both);
    let (sender, _logs) = sender_logging(
        &receiver.url(),
        &format!("{V2}    metadata_config:\n      send_interval: 100ms\n"),
        "",
    );
    append_all(&sender, 2);
    sender.flush(Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(receiver.store().totals().family_metadata, 0);
    assert!(
        receiver.store().totals().metadata > 0,
        "sent with the series"
    );
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}

#[test]
fn a_partial_write_reported_by_the_written_headers_is_counted_as_failed() {
    // Every request is stored, but the answer says one sample and no histogram was written.
    let handler: Handler = Arc::new(|info: &RequestInfo| match &info.decoded {
        Ok(_) => Reply::accept()
            .with_header("X-Prometheus-Remote-Write-Samples-Written", "1")
            .with_header("X-Prometheus-Remote-Write-Histograms-Written", "0")
            .with_header("X-Prometheus-Remote-Write-Exemplars-Written", "0"),
        Err(e) => Reply::status(e.status, e.message.clone()),
    });
    let receiver = receiver_with(ProtocolMode::Both, handler);
    let (sender, logs) = sender_logging(&receiver.url(), V2, "");
    let series = sender
        .series(Labels::from_pairs(&[("__name__", "partial")]).unwrap())
        .unwrap();
    let t0 = now_ms();
    for i in 0..5 {
        sender.append(series, t0 + i, i as f64).unwrap();
    }
    sender
        .append_histogram(
            series,
            t0 + 10,
            &integer_histogram(1),
            &SampleOptions::default(),
        )
        .unwrap();
    let err = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.kind(), promrw::ErrorKind::SamplesLost, "{err}");
    let stats = &sender.stats().endpoints[0];
    assert_eq!(
        (stats.samples_acked, stats.samples_failed),
        (1, 4),
        "{stats:?}"
    );
    assert_eq!((stats.histograms.acked, stats.histograms.failed), (0, 1));
    assert_eq!(
        stats.remote_write_protocol, "2.0",
        "a 2xx with headers is 2.0"
    );
    let logged = logs.lock().unwrap().join("\n");
    assert!(logged.contains("wrote only part of a request"), "{logged}");
    sender.close(Duration::from_secs(5)).ok();
    receiver.stop();
}

#[test]
fn in_wal_mode_the_fallback_is_remembered_by_the_next_sender() {
    let receiver = receiver(ProtocolMode::V1Refuse415);
    let dir = TempDir::new("rw2-fallback");
    let top = format!("promrw:\n  wal:\n    dir: {}\n", dir.path().display());
    let labels = Labels::from_pairs(&[("__name__", "walled")]).unwrap();
    let t0 = now_ms();
    {
        let (sender, _logs) = sender_logging(&receiver.url(), V2, &top);
        let series = sender.series(labels.clone()).unwrap();
        sender.append(series, t0, 1.0).unwrap();
        sender.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(sender.stats().endpoints[0].remote_write_protocol, "1.0");
        sender.close(Duration::from_secs(5)).unwrap();
    }
    let refused = receiver.store().totals().v2_refused;
    assert_eq!(refused, 1);
    let (sender, logs) = sender_logging(&receiver.url(), V2, &top);
    assert_eq!(sender.stats().endpoints[0].remote_write_protocol, "1.0");
    let series = sender.series(labels).unwrap();
    sender.append(series, t0 + 1, 2.0).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        receiver.store().totals().v2_refused,
        refused,
        "no 2.0 tried"
    );
    assert_eq!(
        receiver
            .store()
            .samples(&[("__name__", "walled")])
            .map(|s| s.len()),
        Some(2)
    );
    let logged = logs.lock().unwrap().join("\n");
    assert!(logged.contains("an earlier sender found"), "{logged}");
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}

#[test]
fn invalid_histograms_exemplars_and_start_timestamps_are_refused_naming_the_problem() {
    let receiver = receiver(ProtocolMode::Both);
    let (sender, _logs) = sender_logging(&receiver.url(), V2, "");
    let series = sender
        .series(Labels::from_pairs(&[("__name__", "bad")]).unwrap())
        .unwrap();
    let t = now_ms();
    let mut h = integer_histogram(0);
    h.positive_spans[0].length = 5;
    let err = sender
        .append_histogram(series, t, &h, &SampleOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), promrw::ErrorKind::InvalidArgument);
    assert!(err.message().contains("histogram"), "{err}");
    let err = sender.append_with_start(series, t, t + 1, 1.0).unwrap_err();
    assert!(err.message().contains("start timestamp"), "{err}");
    let long = "x".repeat(200);
    let err = Exemplar::new(vec![Label::new("trace_id", long)], 1.0, None).unwrap_err();
    assert!(err.message().contains("128"), "{err}");
    // Nothing was accepted: the series' next sample may have the same timestamp.
    sender.append(series, t, 1.0).unwrap();
    let err = sender
        .append_histogram(series, t, &integer_histogram(0), &SampleOptions::default())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        promrw::ErrorKind::OutOfOrder,
        "one timeline per series"
    );
    sender.close(Duration::from_secs(5)).unwrap();
    receiver.stop();
}
