//! A small fault proxy in front of a real receiver: forwards each Remote Write POST (body and
//! protocol headers) to the receiver and relays its status and body, or, when switched, answers
//! 503 or 429 with `Retry-After` itself. It records every request.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use promrw_tools::receiver::decode_request;

/// What the proxy does with the next requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward to the receiver and relay its answer.
    Forward,
    /// Answer this status itself (body "injected fault"), forwarding nothing.
    Status(u16),
    /// Answer this status with `Retry-After: <seconds>`, forwarding nothing.
    RetryAfter(u16, u64),
}

/// One request the proxy handled.
#[derive(Debug, Clone)]
pub struct ProxyRecord {
    /// When it arrived.
    pub at: Instant,
    /// The status answered to the sender.
    pub status: u16,
    /// Whether it was forwarded to the receiver.
    pub forwarded: bool,
    /// Samples in the request (0 if it could not be decoded).
    pub samples: usize,
    /// `__name__` of each series in the request.
    pub names: Vec<String>,
    /// The `Retry-Attempt` header, if any.
    pub retry_attempt: Option<String>,
    /// The body answered (the receiver's, when forwarded).
    pub body: String,
}

/// The proxy: a tiny_http server on 127.0.0.1 with a few worker threads. Stopped on drop.
pub struct FaultProxy {
    server: Arc<tiny_http::Server>,
    mode: Arc<Mutex<ProxyMode>>,
    records: Arc<Mutex<Vec<ProxyRecord>>>,
    workers: Vec<JoinHandle<()>>,
}

/// Headers copied from the sender's request to the receiver.
const FORWARDED_HEADERS: [&str; 5] = [
    "content-encoding",
    "content-type",
    "user-agent",
    "x-prometheus-remote-write-version",
    "retry-attempt",
];

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (a full write URL) on a free port.
    pub fn start(upstream: &str) -> FaultProxy {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("start proxy server"));
        let mode = Arc::new(Mutex::new(ProxyMode::Forward));
        let records: Arc<Mutex<Vec<ProxyRecord>>> = Arc::default();
        let workers = (0..4)
            .map(|_| {
                let server = server.clone();
                let mode = mode.clone();
                let records = records.clone();
                let upstream = upstream.to_string();
                std::thread::spawn(move || serve(&server, &upstream, &mode, &records))
            })
            .collect();
        FaultProxy {
            server,
            mode,
            records,
            workers,
        }
    }

    /// The write URL senders use.
    pub fn url(&self) -> String {
        let port = self
            .server
            .server_addr()
            .to_ip()
            .expect("proxy listens on IP")
            .port();
        format!("http://127.0.0.1:{port}/api/v1/write")
    }

    /// Switches what the proxy does from now on.
    pub fn set_mode(&self, mode: ProxyMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Every request so far.
    pub fn records(&self) -> Vec<ProxyRecord> {
        self.records.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// Worker loop.
fn serve(
    server: &tiny_http::Server,
    upstream: &str,
    mode: &Mutex<ProxyMode>,
    records: &Mutex<Vec<ProxyRecord>>,
) {
    let agent = super::query::agent(Duration::from_secs(10));
    while let Ok(mut request) = server.recv() {
        let at = Instant::now();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_string(),
                )
            })
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        let _ = request.as_reader().read_to_end(&mut body);
        let (samples, names) = match decode_request(header, &body) {
            Ok(decoded) => (
                decoded.samples,
                decoded
                    .series
                    .iter()
                    .map(|s| {
                        s.labels
                            .iter()
                            .find(|(n, _)| n == "__name__")
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    })
                    .collect(),
            ),
            Err(_) => (0, Vec::new()),
        };
        let current = mode.lock().unwrap().clone();
        let (status, answer, retry_after, forwarded) = match current {
            ProxyMode::Status(status) => (status, "injected fault".to_string(), None, false),
            ProxyMode::RetryAfter(status, secs) => {
                (status, "injected fault".to_string(), Some(secs), false)
            }
            ProxyMode::Forward => {
                let mut post = agent.post(upstream);
                for name in FORWARDED_HEADERS {
                    if let Some(value) = header(name) {
                        post = post.header(name, &value);
                    }
                }
                match post.send(&body[..]) {
                    Ok(mut response) => {
                        let mut text = String::new();
                        let _ = response.body_mut().as_reader().read_to_string(&mut text);
                        (response.status().as_u16(), text, None, true)
                    }
                    // The receiver is down: answer as a reverse proxy would.
                    Err(e) => (502, format!("upstream: {e}"), None, false),
                }
            }
        };
        records.lock().unwrap().push(ProxyRecord {
            at,
            status,
            forwarded,
            samples,
            names,
            retry_attempt: header("retry-attempt"),
            body: answer.clone(),
        });
        let mut response = tiny_http::Response::from_string(answer).with_status_code(status);
        if let Some(secs) = retry_after {
            let value = secs.to_string();
            response.add_header(
                tiny_http::Header::from_bytes(&b"Retry-After"[..], value.as_bytes())
                    .expect("header"),
            );
        }
        let _ = request.respond(response);
    }
}
