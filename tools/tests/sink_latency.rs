//! `promrw sink --latency-ms`: every request is answered late, each on its own worker, so
//! concurrent requests overlap their sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prost::Message;

use promrw::wire::proto;

mod common;
use common::{SinkProcess, post_raw};

/// POSTs a valid one-sample 1.0 request; its status.
fn post(addr: SocketAddr, n: i64) -> u16 {
    let request = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: vec![
                proto::Label {
                    name: "__name__".to_string(),
                    value: "latency_test".to_string(),
                },
                proto::Label {
                    name: "n".to_string(),
                    value: n.to_string(),
                },
            ],
            samples: vec![proto::Sample {
                value: 1.0,
                timestamp: 1_700_000_000_000 + n,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    post_raw(
        addr,
        "application/x-protobuf",
        "0.1.0",
        &request.encode_to_vec(),
    )
    .status
}

#[test]
fn sink_latency_delays_each_request_and_overlaps_concurrent_ones() {
    let sink = SinkProcess::start(&["--quiet", "--latency-ms", "150", "--workers", "4"]);
    let addr = sink.addr;

    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|n| {
            std::thread::spawn(move || {
                let begun = Instant::now();
                let status = post(addr, n);
                (status, begun.elapsed())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let total = started.elapsed();
    for (status, took) in &results {
        assert_eq!(*status, 204);
        assert!(*took >= Duration::from_millis(150), "{took:?}");
    }
    assert!(
        total < Duration::from_millis(450),
        "{total:?} for 4 requests"
    );
    drop(sink);
}
