//! The receiver's HTTP side: a tiny_http server on worker threads. Every request is decoded
//! and validated; a [`Handler`] then decides the reply, which is how the test suite injects
//! faults (5xx, 429 with `Retry-After`, 4xx, slow answers) in front of the real validation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::decode::{
    ContentKind, DecodedRequest, ProtocolMode, RequestError, WireProtocol, content_kind,
    decode_request_with,
};
use super::store::{SampleStore, StoreReport};

/// The response headers of an accepted 2.0 request.
pub const WRITTEN_HEADERS: [&str; 3] = [
    "X-Prometheus-Remote-Write-Samples-Written",
    "X-Prometheus-Remote-Write-Histograms-Written",
    "X-Prometheus-Remote-Write-Exemplars-Written",
];

/// Options of a [`Receiver`] beyond its address, store and handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverOptions {
    /// The protocols spoken (default: 1.0 and 2.0).
    pub protocol: ProtocolMode,
}

/// What the handler sees of a request.
#[derive(Debug)]
pub struct RequestInfo {
    /// Method and path.
    pub method: String,
    /// The request target: the path and any query, as sent.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// When the request was read.
    pub received_at: Instant,
    /// The body exactly as received (still compressed), for signature checks.
    pub body: Vec<u8>,
    /// The decoded request, or why it is invalid.
    pub decoded: Result<DecodedRequest, RequestError>,
}

impl RequestInfo {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Store the request's samples (only for valid requests answered with 2xx).
    pub store: bool,
}

impl Reply {
    /// A 204 that stores the samples.
    pub fn accept() -> Self {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
            store: true,
        }
    }

    /// A reply with `status` and `body` that stores nothing.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            store: false,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Delays the answer.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Decides the reply to each request; called on worker threads.
pub type Handler = Arc<dyn Fn(&RequestInfo) -> Reply + Send + Sync>;

/// Called after each request with its info, reply and store report (for printing summaries).
pub type Observer = Arc<dyn Fn(&RequestInfo, &Reply, Option<StoreReport>) + Send + Sync>;

/// The default handler: 204 for valid requests, the validation error's status otherwise.
pub fn validating_handler() -> Handler {
    Arc::new(|info: &RequestInfo| match &info.decoded {
        Ok(_) => Reply::accept(),
        Err(e) => Reply::status(e.status, e.message.clone()),
    })
}

/// A running receiver. A 2.0 request that is stored gets the three [`WRITTEN_HEADERS`] with
/// [`StoreReport::written`]'s counts, unless the handler's reply sets any of them itself
/// (for injecting partial writes); 1.0 requests, ignored 2.0 requests and replies that store
/// nothing get none. Stopped (and its threads joined) by [`Receiver::stop`] or on drop.
pub struct Receiver {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    store: Arc<SampleStore>,
    workers: Vec<JoinHandle<()>>,
    options: ReceiverOptions,
}

impl Receiver {
    /// Listens on `addr` (use port 0 for a free one) with `workers` threads, speaking 1.0
    /// and 2.0.
    pub fn start(
        addr: &str,
        workers: usize,
        store: Arc<SampleStore>,
        handler: Handler,
        observer: Option<Observer>,
    ) -> std::io::Result<Receiver> {
        Receiver::start_with(
            addr,
            workers,
            store,
            handler,
            observer,
            ReceiverOptions::default(),
        )
    }

    /// [`Receiver::start`] with `options` (e.g. a 1.0-only [`ProtocolMode`]).
    pub fn start_with(
        addr: &str,
        workers: usize,
        store: Arc<SampleStore>,
        handler: Handler,
        observer: Option<Observer>,
        options: ReceiverOptions,
    ) -> std::io::Result<Receiver> {
        let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("receiver is not listening on an IP address"))?;
        let server = Arc::new(server);
        let workers = (0..workers.max(1))
            .map(|i| {
                let server = server.clone();
                let store = store.clone();
                let handler = handler.clone();
                let observer = observer.clone();
                std::thread::Builder::new()
                    .name(format!("promrw-recv-{i}"))
                    .spawn(move || serve(&server, &store, &handler, observer.as_ref(), options))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Receiver {
            server,
            addr,
            store,
            workers,
            options,
        })
    }

    /// The options it was started with.
    pub fn options(&self) -> ReceiverOptions {
        self.options
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/api/v1/write`.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// What was received.
    pub fn store(&self) -> &Arc<SampleStore> {
        &self.store
    }

    /// Stops listening and joins the worker threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Unblocks and joins the workers.
    fn shutdown(&mut self) {
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Worker loop: read, decode, ask the handler, store, answer.
fn serve(
    server: &tiny_http::Server,
    store: &SampleStore,
    handler: &Handler,
    observer: Option<&Observer>,
    options: ReceiverOptions,
) {
    while let Ok(mut request) = server.recv() {
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
        let mut body = Vec::new();
        let read = std::io::Read::read_to_end(request.as_reader(), &mut body);
        let method = request.method().as_str().to_string();
        let decoded = match read {
            Err(e) => Err(RequestError {
                status: 400,
                message: format!("cannot read body: {e}"),
            }),
            Ok(_) if method != "POST" => Err(RequestError {
                status: 405,
                message: format!("method {method} not allowed; use POST"),
            }),
            Ok(_) => decode_request_with(
                |name| {
                    headers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                },
                &body,
                options.protocol,
            ),
        };
        if options.protocol == ProtocolMode::V1Refuse415
            && matches!(&decoded, Err(e) if e.status == 415)
            && headers
                .iter()
                .find(|(n, _)| n == "content-type")
                .and_then(|(_, v)| content_kind(v))
                == Some(ContentKind::V2)
        {
            store.note_v2_refused();
        }
        let info = RequestInfo {
            method,
            path: request.url().to_string(),
            headers,
            received_at: Instant::now(),
            body,
            decoded,
        };
        let mut reply = handler(&info);
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        let report = match (
            &info.decoded,
            reply.store && (200..300).contains(&reply.status),
        ) {
            (Ok(decoded), true) => Some(store.store(decoded)),
            _ => None,
        };
        if let (Ok(decoded), Some(report)) = (&info.decoded, &report)
            && decoded.protocol == WireProtocol::V2
            && !reply.headers.iter().any(|(name, _)| {
                WRITTEN_HEADERS
                    .iter()
                    .any(|written| written.eq_ignore_ascii_case(name))
            })
        {
            let (samples, histograms, exemplars) = report.written();
            for (name, count) in WRITTEN_HEADERS.iter().zip([samples, histograms, exemplars]) {
                reply.headers.push((name.to_string(), count.to_string()));
            }
        }
        if let Some(observer) = observer {
            observer(&info, &reply, report);
        }
        let mut response =
            tiny_http::Response::from_string(reply.body.clone()).with_status_code(reply.status);
        for (name, value) in &reply.headers {
            if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        // The request's memory (its body and decoded series) is freed before the sender can
        // see the answer, so a sender's test that measures memory after a flush does not
        // count a receiver still holding the last request.
        drop(info);
        let _ = request.respond(response);
    }
}
