//! What the caller learns: flush and close report loss (SamplesLost, FlushReport), timeouts
//! name what is pending and each endpoint's last error, stats outlive close, and the logs name
//! series (400 bodies, suspect timestamps) and every request at DEBUG.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CollectLogs, Fault, FaultReceiver, now_ms, yaml};
use promrw::{Config, ErrorKind, LogLevel, Sender};

/// A sender logging at `level` into the returned vector.
fn logged_sender(text: &str, level: LogLevel) -> (Sender, Arc<Mutex<Vec<String>>>) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::from_text(text).unwrap();
    config.set_logger(Arc::new(CollectLogs(logs.clone())), level);
    (Sender::new(config).unwrap(), logs)
}

fn lines(logs: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    logs.lock().unwrap().clone()
}

#[test]
fn flush_reports_each_rejecting_status_with_its_counts_then_recovers() {
    for (status, body) in [
        (404, "404 page not found"),
        (401, "authentication required"),
        (400, "out of order sample"),
    ] {
        let receiver = FaultReceiver::start();
        receiver.push_faults([Fault::Status(status, body)]);
        let sender = common::sender(&yaml(&receiver.url(), "", ""));
        let r = sender.series_from_pairs(&[("__name__", "lost")]).unwrap();
        let t = now_ms();
        for i in 0..7 {
            sender.append(r, t + i, 1.0).unwrap();
        }
        let error = sender.flush(Duration::from_secs(10)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::SamplesLost, "{status}: {error}");
        assert!(error.message().contains("7 failed"), "{error}");
        assert!(error.message().contains(body), "{error}");
        assert_eq!(
            sender.stats().endpoints[0].highest_sent_ms,
            0,
            "a rejected batch does not advance the highest sent timestamp"
        );
        let report = sender.last_report();
        assert_eq!(report.operation, "flush");
        assert!(!report.timed_out);
        assert_eq!(report.lost().failed, 7);
        assert_eq!(report.samples_pending(), 0);
        let last = report.last_error().unwrap();
        assert_eq!(last.status, Some(status));
        assert!(last.message.contains(body), "{last:?}");
        // The next batch is accepted: nothing new lost, flush succeeds.
        sender.append(r, t + 10, 1.0).unwrap();
        sender.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(sender.last_report().lost().total(), 0);
        assert_eq!(sender.stats().endpoints[0].highest_sent_ms, t + 10);
        sender.close(Duration::from_secs(5)).unwrap();
        // Stats stay readable after close, with the final counts.
        let stats = sender.stats();
        let endpoint = &stats.endpoints[0];
        assert_eq!((endpoint.samples_failed, endpoint.samples_acked), (7, 1));
        assert_eq!(endpoint.shards, 0);
        assert!(
            sender
                .metrics_text()
                .contains("prometheus_remote_storage_samples_failed_total{remote_name=\"test\"")
        );
    }
}

#[test]
fn close_reports_what_was_lost_since_the_previous_flush() {
    let receiver = FaultReceiver::start();
    let sender = common::sender(&yaml(&receiver.url(), "", ""));
    let r = sender.series_from_pairs(&[("__name__", "late")]).unwrap();
    let t = now_ms();
    sender.append(r, t, 1.0).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    receiver.push_faults([Fault::Status(404, "gone")]);
    sender.append(r, t + 1, 1.0).unwrap();
    sender.append(r, t + 2, 1.0).unwrap();
    let error = sender.close(Duration::from_secs(10)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SamplesLost, "{error}");
    assert!(
        error.message().starts_with("close: 2 samples lost"),
        "{error}"
    );
    assert_eq!(sender.last_report().operation, "close");
    assert_eq!(sender.last_report().lost().failed, 2);
    assert_eq!(
        sender.close(Duration::from_secs(1)).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        sender.flush(Duration::from_secs(1)).unwrap_err().kind(),
        ErrorKind::Closed
    );
}

#[test]
fn a_flush_timeout_names_what_is_pending_and_the_last_error() {
    let receiver = FaultReceiver::start();
    receiver.push_faults((0..1000).map(|_| Fault::Status(503, "overloaded, try later")));
    let sender = common::sender(&yaml(&receiver.url(), "", ""));
    let r = sender.series_from_pairs(&[("__name__", "stuck")]).unwrap();
    let t = now_ms();
    for i in 0..4 {
        sender.append(r, t + i, 1.0).unwrap();
    }
    let error = sender.flush(Duration::from_millis(400)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let message = error.message();
    assert!(
        message.starts_with("flush timed out with 4 samples pending"),
        "{message}"
    );
    assert!(message.contains("remote_name=test"), "{message}");
    assert!(
        message.contains("last error: server returned HTTP status 503: overloaded, try later"),
        "{message}"
    );
    let report = sender.last_report();
    assert!(report.timed_out);
    assert_eq!(report.samples_pending(), 4);
    assert_eq!(report.last_error().unwrap().status, Some(503));
    receiver.clear_faults();
    sender.flush(Duration::from_secs(10)).unwrap();
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_400_log_names_the_series_the_body_names() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Status(
        400,
        "label name \"a\" is not unique: invalid sample for series http_requests{a=\"1\", a=\"2\"}",
    )]);
    let (sender, logs) = logged_sender(&yaml(&receiver.url(), "", ""), LogLevel::Warn);
    let r = sender
        .series_from_pairs(&[("__name__", "http_requests"), ("a", "1")])
        .unwrap();
    sender.append(r, now_ms(), 1.0).unwrap();
    assert_eq!(
        sender.flush(Duration::from_secs(10)).unwrap_err().kind(),
        ErrorKind::SamplesLost
    );
    let logged = lines(&logs);
    assert!(
        logged.iter().any(|l| l.starts_with("error: ")
            && l.contains("HTTP 400")
            && l.contains("the receiver names series http_requests{a=\"1\", a=\"2\"}")),
        "{logged:?}"
    );
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_timestamp_in_seconds_or_microseconds_is_accepted_counted_and_logged_once() {
    let receiver = FaultReceiver::start();
    let (sender, logs) = logged_sender(&yaml(&receiver.url(), "", ""), LogLevel::Warn);
    let seconds = sender
        .series_from_pairs(&[("__name__", "in_seconds"), ("job", "a")])
        .unwrap();
    let micros = sender
        .series_from_pairs(&[("__name__", "in_micros")])
        .unwrap();
    let now_s = now_ms() / 1000;
    sender.append(seconds, now_s, 1.0).unwrap();
    sender.append(seconds, now_s + 1, 1.0).unwrap();
    sender.append(micros, now_ms() * 1000, 1.0).unwrap();
    // Milliseconds an hour ahead are plausible (clock skew) and not counted.
    let fine = sender.series_from_pairs(&[("__name__", "fine")]).unwrap();
    sender.append(fine, now_ms() + 3_600_000, 1.0).unwrap();
    let stats = sender.stats();
    assert_eq!(stats.suspect_timestamps_before_2001, 2);
    assert_eq!(stats.suspect_timestamps_future, 1);
    assert_eq!(stats.samples_appended, 4, "suspect samples are accepted");
    let text = sender.metrics_text();
    assert!(
        text.contains("promrw_samples_suspect_timestamp_total{reason=\"before_2001\"} 2"),
        "{text}"
    );
    let warnings: Vec<_> = lines(&logs)
        .into_iter()
        .filter(|l| l.contains("promrw expects milliseconds"))
        .collect();
    assert_eq!(warnings.len(), 1, "logged once per sender: {warnings:?}");
    assert!(
        warnings[0].starts_with("warn: series in_seconds{job=\"a\"}: timestamp"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("is it in seconds?"), "{warnings:?}");
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn every_request_is_logged_at_debug_with_its_size_status_and_duration() {
    let receiver = FaultReceiver::start();
    receiver.push_faults([Fault::Status(503, "busy")]);
    let (sender, logs) = logged_sender(&yaml(&receiver.url(), "", ""), LogLevel::Debug);
    let r = sender.series_from_pairs(&[("__name__", "dbg")]).unwrap();
    let t = now_ms();
    for i in 0..3 {
        sender.append(r, t + i, 1.0).unwrap();
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    let requests: Vec<_> = lines(&logs)
        .into_iter()
        .filter(|l| l.starts_with("debug: ") && l.contains(": request of 3 samples, "))
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[0].contains("remote_name=test") && requests[0].contains("HTTP 503, will retry"),
        "{requests:?}"
    );
    assert!(
        requests[1].contains("(retry 1)") && requests[1].contains("accepted in "),
        "{requests:?}"
    );
    sender.close(Duration::from_secs(5)).unwrap();
    // At info level no request line is delivered.
    let (quiet, quiet_logs) = logged_sender(&yaml(&receiver.url(), "", ""), LogLevel::Info);
    let r = quiet.series_from_pairs(&[("__name__", "dbg")]).unwrap();
    quiet.append(r, now_ms(), 1.0).unwrap();
    quiet.flush(Duration::from_secs(10)).unwrap();
    quiet.close(Duration::from_secs(5)).unwrap();
    assert!(
        !lines(&quiet_logs).iter().any(|l| l.contains("request of")),
        "{:?}",
        lines(&quiet_logs)
    );
}
