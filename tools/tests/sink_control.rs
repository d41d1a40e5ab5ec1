//! `promrw sink --control-stdin`: commands on stdin change the status and the latency of the
//! answers while the sink serves, and each is acknowledged on stdout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prost::Message;

use promrw::wire::proto;

mod common;
use common::{SinkProcess, post_raw};

/// POSTs a valid one-sample 1.0 request for timestamp offset `n`; its status and how long the
/// answer took.
fn post(addr: SocketAddr, n: i64) -> (u16, Duration) {
    let request = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: vec![proto::Label {
                name: "__name__".to_string(),
                value: "control_test".to_string(),
            }],
            samples: vec![proto::Sample {
                value: n as f64,
                timestamp: 1_700_000_000_000 + n,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let started = Instant::now();
    let status = post_raw(
        addr,
        "application/x-protobuf",
        "0.1.0",
        &request.encode_to_vec(),
    )
    .status;
    (status, started.elapsed())
}

/// Sends `command` and returns the sink's answer line.
fn command(sink: &mut SinkProcess, command: &str) -> String {
    sink.send_line(command);
    sink.next_line()
}

#[test]
fn sink_control_switches_status_and_latency_while_serving() {
    let mut sink = SinkProcess::start_with_stdin(&["--quiet", "--control-stdin"]);
    let addr = sink.addr;

    let (status, _) = post(addr, 0);
    assert_eq!(status, 204);

    assert_eq!(command(&mut sink, "status 503"), "control ok status 503");
    let (status, _) = post(addr, 1);
    assert_eq!(status, 503);

    assert_eq!(command(&mut sink, "status ok"), "control ok status ok");
    let (status, _) = post(addr, 2);
    assert_eq!(status, 204);

    assert_eq!(command(&mut sink, "latency 300"), "control ok latency 300");
    let (status, took) = post(addr, 3);
    assert_eq!(status, 204);
    assert!(took >= Duration::from_millis(300), "{took:?}");

    assert_eq!(command(&mut sink, "latency 0"), "control ok latency 0");
    let (status, took) = post(addr, 4);
    assert_eq!(status, 204);
    assert!(took < Duration::from_millis(300), "{took:?}");

    // A bad line is refused and changes nothing.
    let answer = command(&mut sink, "status 302");
    assert!(answer.starts_with("control error "), "{answer}");
    let (status, _) = post(addr, 5);
    assert_eq!(status, 204);

    // The 503-answered request was not stored; a repeated timestamp is a duplicate.
    let (status, _) = post(addr, 5);
    assert_eq!(status, 204);
    assert_eq!(
        command(&mut sink, "totals"),
        "control ok totals requests=6 samples=5 duplicates=1 out_of_order=0 series=1"
    );
}

#[test]
fn sink_control_starts_from_reject_with() {
    let mut sink =
        SinkProcess::start_with_stdin(&["--quiet", "--control-stdin", "--reject-with", "503"]);
    let (status, _) = post(sink.addr, 0);
    assert_eq!(status, 503);
    assert_eq!(command(&mut sink, "status 200"), "control ok status 200");
    let (status, _) = post(sink.addr, 0);
    assert_eq!(status, 204);
}
