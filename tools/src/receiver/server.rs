//! The receiver's HTTP side: an HTTP/1.1 server with keep-alive (hyper 1 on a tokio runtime
//! that the [`Receiver`] owns). Every request is decoded and validated; a [`Handler`] then
//! decides the reply, which is how the test suite injects faults (5xx, 429 with `Retry-After`,
//! 4xx, slow answers) in front of the real validation.
//!
//! Threads and concurrency:
//! - Each connection is a task on the runtime's two I/O threads, which also read the request
//!   bodies. A connection idle between keep-alive requests is a parked task: it costs no thread
//!   and no worker, and any number of connections may be open, so a burst of new connections
//!   (a sender resharding to 10+ shards) is served at once whatever else is open. (The
//!   tiny_http server this replaced kept a thread per connection in a pool and was seen to
//!   leave new connections unserved behind idle keep-alive ones.)
//! - The work of a request (decode, handler, [`Reply::delay`], store, observer) holds one of
//!   `workers` permits of a semaphore, so at most `workers` requests are handled at once and
//!   later ones wait for a permit, their bodies read. Decode, handler, store and observer run on
//!   the runtime's blocking pool (`spawn_blocking`, at most `workers` threads); a delay is a
//!   timer on the runtime that keeps the permit, so a delayed request occupies its worker.
//! - [`Receiver::stop`] (or drop) shuts the runtime down: the listener and every connection,
//!   idle or not, are closed and its threads are joined; blocking work still running after
//!   [`SHUTDOWN_TIMEOUT`] (a handler that has not returned) is left to finish on its own thread.
//!
//! tokio and hyper are dependencies of this crate only; the `promrw` library has no async
//! runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// How long [`Receiver::stop`] waits for blocking work still running (a handler that has not
/// returned) before it leaves it behind.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// A running receiver. A 2.0 request that is stored gets the three [`WRITTEN_HEADERS`] with
/// [`StoreReport::written`]'s counts, unless the handler's reply sets any of them itself
/// (for injecting partial writes); 1.0 requests, ignored 2.0 requests and replies that store
/// nothing get none. Stopped (its connections closed and its threads joined) by
/// [`Receiver::stop`] or on drop.
pub struct Receiver {
    /// The runtime serving the connections; `None` once stopped.
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    store: Arc<SampleStore>,
    options: ReceiverOptions,
}

/// What every request's task shares.
struct Shared {
    store: Arc<SampleStore>,
    handler: Handler,
    observer: Option<Observer>,
    options: ReceiverOptions,
    /// `workers` permits: one per request being handled.
    permits: Arc<Semaphore>,
}

impl Receiver {
    /// Listens on `addr` (use port 0 for a free one), handling at most `workers` requests at
    /// once, speaking 1.0 and 2.0.
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
        let workers = workers.max(1);
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(workers)
            .thread_name("promrw-recv")
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            store: store.clone(),
            handler,
            observer,
            options,
            permits: Arc::new(Semaphore::new(workers)),
        });
        runtime.spawn(accept(listener, shared));
        Ok(Receiver {
            runtime: Some(runtime),
            addr,
            store,
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

    /// Stops listening, closes every connection and joins the threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Shuts the runtime down: its tasks (the listener and the connections) are dropped, its
    /// threads joined, waiting up to [`SHUTDOWN_TIMEOUT`] for blocking work.
    fn shutdown(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Accepts connections until the runtime shuts down, serving each on its own task.
async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or a connection reset before it was accepted:
                // try again shortly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(request, shared).await) }
            });
            // No timer is set, so hyper times nothing out: an idle keep-alive connection stays
            // open until the client closes it or the receiver stops.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request: read its body, wait for a worker, then decode, ask the handler, wait out its
/// delay, store and answer.
async fn respond(request: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let read = body.collect().await.map(|body| body.to_bytes());
    let Ok(permit) = shared.permits.clone().acquire_owned().await else {
        return internal_error();
    };
    let work = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || begin(&shared, parts, read, permit))
    };
    match work.await {
        Ok(Stage::Answered(response)) => response,
        Ok(Stage::Delayed {
            info,
            reply,
            permit,
        }) => {
            tokio::time::sleep(reply.delay).await;
            let work = tokio::task::spawn_blocking(move || {
                let response = finish(&shared, info, reply);
                drop(permit);
                response
            });
            work.await.unwrap_or_else(|_| internal_error())
        }
        // The handler (or the observer) panicked.
        Err(_) => internal_error(),
    }
}

/// Where a request stands after [`begin`].
enum Stage {
    /// Answered without delay.
    Answered(Response<Full<Bytes>>),
    /// The handler asked for [`Reply::delay`]: wait it out holding the worker's permit, then
    /// [`finish`].
    Delayed {
        info: RequestInfo,
        reply: Reply,
        permit: OwnedSemaphorePermit,
    },
}

/// On a worker (blocking thread, holding `permit`): decode the request and ask the handler;
/// finish at once unless the reply is delayed. The permit is released when the work is done,
/// even if the task awaiting it was dropped.
fn begin(
    shared: &Shared,
    parts: hyper::http::request::Parts,
    read: Result<Bytes, hyper::Error>,
    permit: OwnedSemaphorePermit,
) -> Stage {
    let options = shared.options;
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let method = parts.method.as_str().to_string();
    let (body, decoded) = match read {
        Err(e) => (
            Vec::new(),
            Err(RequestError {
                status: 400,
                message: format!("cannot read body: {e}"),
            }),
        ),
        Ok(body) if method != "POST" => (
            Vec::from(body),
            Err(RequestError {
                status: 405,
                message: format!("method {method} not allowed; use POST"),
            }),
        ),
        Ok(body) => {
            let decoded = decode_request_with(
                |name| {
                    headers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                },
                &body,
                options.protocol,
            );
            (Vec::from(body), decoded)
        }
    };
    if options.protocol == ProtocolMode::V1Refuse415
        && matches!(&decoded, Err(e) if e.status == 415)
        && headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .and_then(|(_, v)| content_kind(v))
            == Some(ContentKind::V2)
    {
        shared.store.note_v2_refused();
    }
    let info = RequestInfo {
        method,
        path: parts.uri.to_string(),
        headers,
        received_at: Instant::now(),
        body,
        decoded,
    };
    let reply = (shared.handler)(&info);
    if reply.delay.is_zero() {
        let response = finish(shared, info, reply);
        drop(permit);
        Stage::Answered(response)
    } else {
        Stage::Delayed {
            info,
            reply,
            permit,
        }
    }
}

/// On a worker: store the request as the reply says, call the observer and build the answer.
fn finish(shared: &Shared, info: RequestInfo, mut reply: Reply) -> Response<Full<Bytes>> {
    let report = match (
        &info.decoded,
        reply.store && (200..300).contains(&reply.status),
    ) {
        (Ok(decoded), true) => Some(shared.store.store(decoded)),
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
    if let Some(observer) = &shared.observer {
        observer(&info, &reply, report);
    }
    let response = build_response(&reply);
    // The request's memory (its body and decoded series) is freed before the sender can
    // see the answer, so a sender's test that measures memory after a flush does not
    // count a receiver still holding the last request.
    drop(info);
    response
}

/// The HTTP answer of `reply`: its status and body (text/plain unless it sets a content type)
/// and its headers, skipping those that are not valid HTTP and those the server owns
/// (framing and connection management: `Content-Length`, `Transfer-Encoding`, `Connection`,
/// `Trailer`, `Upgrade`), as the tiny_http server this replaced did.
fn build_response(reply: &Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body.clone())));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if !reply.body.is_empty() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=UTF-8"),
        );
    }
    for (name, value) in &reply.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        if [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
            header::TRAILER,
            header::UPGRADE,
        ]
        .contains(&name)
        {
            continue;
        }
        if name == header::CONTENT_TYPE {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
    response
}

/// 500, for a request whose handling panicked.
fn internal_error() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"receiver error")));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
