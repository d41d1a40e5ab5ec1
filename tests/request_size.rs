//! `promrw.max_request_bytes`: a batch over the cap goes out as several requests, in order,
//! each under the cap; a sample too large to send alone is counted and logged.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CollectLogs, Fault, FaultReceiver, now_ms, yaml};
use promrw::{Config, ErrorKind, LogLevel, Sender};

/// A sender capped at `cap` bytes per request, one shard, batches of up to 2000 samples sent
/// only when full or flushed (so one batch holds everything appended).
fn capped_sender(url: &str, cap: usize, logs: &Arc<Mutex<Vec<String>>>) -> Sender {
    let text = format!(
        "{}promrw:\n  max_request_bytes: {cap}\n",
        yaml(
            url,
            "      max_samples_per_send: 2000\n      capacity: 10000\n",
            ""
        )
        .replace("batch_send_deadline: 50ms", "batch_send_deadline: 1h")
    );
    let mut config = Config::from_text(&text).expect("valid config");
    assert_eq!(config.max_request_bytes, cap);
    config.set_logger(Arc::new(CollectLogs(logs.clone())), LogLevel::Debug);
    Sender::new(config).expect("sender starts")
}

#[test]
fn a_batch_over_max_request_bytes_arrives_as_several_requests_each_under_it_in_order() {
    let receiver = FaultReceiver::start();
    // The first request is answered 503: that part alone is retried.
    receiver.push_faults([Fault::Status(503, "busy")]);
    let logs = Arc::default();
    let cap = 4096;
    let sender = capped_sender(&receiver.url(), cap, &logs);
    let refs: Vec<_> = (0..20)
        .map(|i| {
            sender
                .series_from_pairs(&[
                    ("__name__", format!("split_{i:02}").as_str()),
                    ("pad", "x".repeat(100).as_str()),
                ])
                .unwrap()
        })
        .collect();
    let t0 = now_ms();
    for step in 0..100 {
        for r in &refs {
            sender.append(*r, t0 + step, step as f64).unwrap();
        }
    }
    sender.flush(Duration::from_secs(20)).unwrap();
    let seen = receiver.seen();
    let accepted: Vec<_> = seen.iter().filter(|s| s.status == 204).collect();
    assert!(
        accepted.len() >= 9,
        "2000 samples of 18 bytes cannot fit in fewer than 9 requests of 4 KiB: {}",
        accepted.len()
    );
    assert!(seen.iter().all(|s| s.invalid.is_none()));
    for request in &seen {
        assert!(
            request.raw_bytes <= cap,
            "a request of {} bytes > {cap}",
            request.raw_bytes
        );
    }
    let mut per_series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for request in &accepted {
        for (name, ts, _) in &request.contents {
            per_series.entry(name.clone()).or_default().push(*ts);
        }
    }
    assert_eq!(per_series.len(), 20);
    for (name, ts) in &per_series {
        let expected: Vec<i64> = (0..100).map(|s| t0 + s).collect();
        assert_eq!(ts, &expected, "{name}: every sample exactly once, in order");
    }
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_acked, 2000);
    assert_eq!(stats.endpoints[0].samples_failed, 0);
    assert_eq!(stats.endpoints[0].samples_pending, 0);
    let logged = logs.lock().unwrap().clone();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("split into") && l.contains("max_request_bytes (4096 bytes)")),
        "the split is logged at debug: {logged:?}"
    );
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_sample_too_large_alone_is_dropped_counted_and_logged_and_the_rest_sent() {
    let receiver = FaultReceiver::start();
    let logs: Arc<Mutex<Vec<String>>> = Arc::default();
    let sender = capped_sender(&receiver.url(), 1024, &logs);
    let small = sender.series_from_pairs(&[("__name__", "small")]).unwrap();
    let huge = sender
        .series_from_pairs(&[("__name__", "huge"), ("pad", "y".repeat(2000).as_str())])
        .unwrap();
    let t = now_ms();
    sender.append(small, t, 1.0).unwrap();
    sender.append(huge, t, 2.0).unwrap();
    sender.append(small, t + 1, 3.0).unwrap();
    let err = sender.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SamplesLost, "{err}");
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].samples_acked, 2);
    assert_eq!(stats.endpoints[0].samples_failed, 1);
    assert_eq!(stats.endpoints[0].samples_too_large, 1);
    assert_eq!(stats.endpoints[0].samples_pending, 0);
    assert_eq!(
        common::endpoint_metric(&sender, "promrw_samples_too_large_total"),
        1
    );
    let report = sender.last_report();
    let last = report.endpoints[0].last_error.as_ref().expect("why");
    assert!(last.message.contains("max_request_bytes"), "{last:?}");
    let logged = logs.lock().unwrap().clone();
    assert!(
        logged.iter().any(|l| l.starts_with("error:")
            && l.contains("1 samples not sent")
            && l.contains("huge{pad=\"yyy")
            && l.contains("(2029 bytes of labels)")
            && l.len() < 600),
        "{logged:?}"
    );
    let names: Vec<String> = receiver
        .seen()
        .iter()
        .flat_map(|s| s.contents.iter().map(|(n, _, _)| n.clone()))
        .collect();
    assert_eq!(names, ["small", "small"]);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn max_request_bytes_is_validated() {
    let base = yaml("http://127.0.0.1:9/api/v1/write", "", "");
    assert_eq!(
        Config::from_text(&base).unwrap().max_request_bytes,
        32 << 20,
        "32 MiB by default, as VictoriaMetrics's -maxInsertRequestSize"
    );
    for bad in ["0", "1023", "1073741825"] {
        let err =
            Config::from_text(&format!("{base}promrw:\n  max_request_bytes: {bad}\n")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.message().starts_with("promrw.max_request_bytes: ")
                && err
                    .message()
                    .contains("must be from 1024 (1 KiB) to 1073741824 (1 GiB)"),
            "{err}"
        );
    }
    let err =
        Config::from_text(&format!("{base}promrw:\n  max_request_bytes: 1MiB\n")).unwrap_err();
    assert!(err.message().contains("promrw.max_request_bytes"), "{err}");
    let built = Config::builder()
        .endpoint(promrw::EndpointConfig::new(
            "http://127.0.0.1:9/api/v1/write",
        ))
        .max_request_bytes(100)
        .build()
        .unwrap_err();
    assert!(
        built.message().contains("promrw.max_request_bytes"),
        "{built}"
    );
}
