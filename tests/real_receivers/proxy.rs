//! A small fault proxy in front of a real receiver: forwards each Remote Write POST (body and
//! protocol headers) to the receiver and relays its status and body, or, when switched, answers
//! 503 or 429 with `Retry-After` itself. It records every request.
//!
//! It can also check each request's credentials first ([`ProxyAuth`]): a bearer token a
//! predicate accepts, or a SigV4 signature verified by `promrw_tools::sigv4_verify` (an
//! implementation independent of the library's signer). A request whose credentials are wrong
//! is answered 401 with a body naming the reason, and never forwarded.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use promrw_tools::receiver::decode_request;
use promrw_tools::sigv4_verify::{
    self, Credentials, Expectations, ReceivedRequest, VerifiedRequest,
};

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

/// A bearer-token predicate: `Ok` accepts the token, `Err` gives the reason it is refused.
pub type TokenCheck = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The region SigV4 requests must be signed for.
pub const SIGV4_REGION: &str = "us-east-1";
/// The service SigV4 requests must be signed for (Amazon Managed Service for Prometheus).
pub const SIGV4_SERVICE: &str = "aps";

/// The credentials the proxy requires before it does anything else with a request.
#[derive(Clone)]
pub enum ProxyAuth {
    /// None: every request goes on to the mode.
    None,
    /// `Authorization: Bearer <token>` with a token the predicate accepts.
    Bearer(TokenCheck),
    /// A valid SigV4 signature (region [`SIGV4_REGION`], service [`SIGV4_SERVICE`], x-amz-date
    /// within 5 minutes) by `access_key_id` with `credentials`, with `required_signed`
    /// (lower-case names) among the signed headers besides `host` and `x-amz-date`.
    SigV4 {
        /// The one access key id accepted.
        access_key_id: String,
        /// Its secret key (and session token).
        credentials: Credentials,
        /// Headers that must be signed too.
        required_signed: Vec<String>,
    },
}

/// What the proxy's credential check made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    /// The proxy checks no credentials.
    NotChecked,
    /// The credentials were right.
    Accepted,
    /// Refused with 401; the reason (also the body answered).
    Refused(String),
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
    /// The credential check.
    pub auth: AuthCheck,
    /// With SigV4, what the accepted signature was made with (date, signed headers,
    /// signature).
    pub sigv4: Option<VerifiedRequest>,
}

/// The proxy: a tiny_http server on 127.0.0.1 with a few worker threads. Stopped on drop.
pub struct FaultProxy {
    server: Arc<tiny_http::Server>,
    state: Arc<State>,
    workers: Vec<JoinHandle<()>>,
}

/// What the workers share.
struct State {
    upstream: String,
    auth: ProxyAuth,
    mode: Mutex<ProxyMode>,
    /// Modes for the next requests whose credentials are right, before `mode` again.
    script: Mutex<VecDeque<ProxyMode>>,
    records: Mutex<Vec<ProxyRecord>>,
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
        FaultProxy::start_with_auth(upstream, ProxyAuth::None)
    }

    /// Like [`FaultProxy::start`], refusing with 401 every request whose credentials `auth`
    /// does not accept.
    pub fn start_with_auth(upstream: &str, auth: ProxyAuth) -> FaultProxy {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("start proxy server"));
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            auth,
            mode: Mutex::new(ProxyMode::Forward),
            script: Mutex::default(),
            records: Mutex::default(),
        });
        let workers = (0..4)
            .map(|_| {
                let server = server.clone();
                let state = state.clone();
                std::thread::spawn(move || serve(&server, &state))
            })
            .collect();
        FaultProxy {
            server,
            state,
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
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Answers the next requests whose credentials are right with `modes`, one each, before
    /// the current mode applies again.
    pub fn script(&self, modes: impl IntoIterator<Item = ProxyMode>) {
        self.state.script.lock().unwrap().extend(modes);
    }

    /// Every request so far.
    pub fn records(&self) -> Vec<ProxyRecord> {
        self.state.records.lock().unwrap().clone()
    }

    /// How many requests had the right credentials.
    pub fn accepted(&self) -> usize {
        self.records()
            .iter()
            .filter(|r| r.auth == AuthCheck::Accepted)
            .count()
    }

    /// The reasons of the requests refused for their credentials, in order.
    pub fn refusals(&self) -> Vec<String> {
        self.records()
            .into_iter()
            .filter_map(|r| match r.auth {
                AuthCheck::Refused(reason) => Some(reason),
                _ => None,
            })
            .collect()
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

/// The check of `auth` on a request: `Ok` with what a SigV4 signature was made with, or
/// the reason the credentials are refused.
pub fn check_auth(
    auth: &ProxyAuth,
    request: &ReceivedRequest,
) -> Result<Option<VerifiedRequest>, String> {
    match auth {
        ProxyAuth::None => Ok(None),
        ProxyAuth::Bearer(accepts) => {
            let mut values = request.header_values("authorization");
            let value = values.next().ok_or("no Authorization header")?;
            if values.next().is_some() {
                return Err("more than one Authorization header".to_string());
            }
            let token = value
                .strip_prefix("Bearer ")
                .ok_or("Authorization is not a Bearer token")?;
            accepts(token).map(|()| None)
        }
        ProxyAuth::SigV4 {
            access_key_id,
            credentials,
            required_signed,
        } => {
            let mut expect = Expectations::new(SIGV4_REGION, SIGV4_SERVICE);
            expect.required_signed_headers = required_signed.clone();
            sigv4_verify::verify(
                request,
                |id| (id == access_key_id).then(|| credentials.clone()),
                &expect,
            )
            .map(Some)
        }
    }
}

/// Worker loop.
fn serve(server: &tiny_http::Server, state: &State) {
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
        let received = ReceivedRequest::new(
            request.method().as_str(),
            request.url(),
            headers.clone(),
            body.clone(),
        );
        let (auth, sigv4) = match (&state.auth, check_auth(&state.auth, &received)) {
            (ProxyAuth::None, _) => (AuthCheck::NotChecked, None),
            (_, Ok(verified)) => (AuthCheck::Accepted, verified),
            (_, Err(reason)) => (AuthCheck::Refused(reason), None),
        };
        let current = match &auth {
            AuthCheck::Refused(reason) => Err(reason.clone()),
            _ => Ok(state
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| state.mode.lock().unwrap().clone())),
        };
        let (status, answer, retry_after, forwarded) = match current {
            Err(reason) => (401, reason, None, false),
            Ok(ProxyMode::Status(status)) => (status, "injected fault".to_string(), None, false),
            Ok(ProxyMode::RetryAfter(status, secs)) => {
                (status, "injected fault".to_string(), Some(secs), false)
            }
            Ok(ProxyMode::Forward) => {
                let mut post = agent.post(&state.upstream);
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
        state.records.lock().unwrap().push(ProxyRecord {
            at,
            status,
            forwarded,
            samples,
            names,
            retry_attempt: header("retry-attempt"),
            body: answer.clone(),
            auth,
            sigv4,
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
