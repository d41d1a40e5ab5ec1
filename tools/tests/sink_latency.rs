//! `promrw sink --latency-ms`: every request is answered late, each on its own worker, so
//! concurrent requests overlap their sleeps.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;

use promrw::wire::proto;

/// The sink, killed (by its handle) and reaped on drop.
struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
    let body = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nUser-Agent: sink-latency-test/1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn sink_latency_delays_each_request_and_overlaps_concurrent_ones() {
    let mut sink = Sink(
        Command::new(env!("CARGO_BIN_EXE_promrw"))
            .args([
                "sink",
                "--listen",
                "127.0.0.1:0",
                "--quiet",
                "--latency-ms",
                "150",
                "--workers",
                "4",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start promrw sink"),
    );
    let stdout = sink.0.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut listening = String::new();
    reader.read_line(&mut listening).unwrap();
    // Keep reading (the sink prints invalid requests) so it never writes to a closed pipe.
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { break };
            eprintln!("sink: {line}");
        }
    });
    let addr: SocketAddr = listening
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/api/v1/write"))
        .unwrap_or_else(|| panic!("{listening}"))
        .parse()
        .unwrap();

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
