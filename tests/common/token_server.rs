//! A fake OAuth 2.0 token endpoint on 127.0.0.1 for the `oauth2` tests (`tests/oauth2.rs`,
//! `tests/real_auth.rs`): it checks the client-credentials request (client `id`, secret
//! `s3cr3t`, by HTTP basic authentication or in the form) and issues `tok-1`, `tok-2`, ...,
//! remembering when each was issued so that a receiver can refuse unknown and expired tokens.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;

/// How the fake token server answers.
#[derive(Clone, Copy, Debug)]
pub struct TokenServerBehaviour {
    /// `expires_in` of every token (0: none given, the token never expires).
    pub expires_in: u64,
    /// The first this many requests are answered 503.
    pub down_for: usize,
    /// Answer 401 to HTTP basic client authentication (credentials must be in the form).
    pub refuse_basic: bool,
}

/// One token request as the server saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The form fields.
    pub form: Vec<(String, String)>,
    /// `id:secret` of HTTP basic authentication, if used.
    pub basic: Option<String>,
}

/// A check of a bearer token: `Ok`, or the reason it is refused.
pub type TokenCheck = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// A token the server issued, and until when it is valid (`None`: for ever).
#[derive(Debug, Clone)]
struct Issued {
    token: String,
    valid_until: Option<Instant>,
}

/// The fake token endpoint. Stopped on drop.
pub struct TokenServer {
    server: Arc<tiny_http::Server>,
    /// Its token URL, `http://127.0.0.1:PORT/oauth2/token`.
    pub url: String,
    issued: Arc<Mutex<Vec<Issued>>>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Starts on a free port.
    pub fn start(behaviour: TokenServerBehaviour) -> TokenServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("token server"));
        let url = format!("http://{}/oauth2/token", server.server_addr());
        let issued: Arc<Mutex<Vec<Issued>>> = Arc::default();
        let requests: Arc<Mutex<Vec<TokenRequest>>> = Arc::default();
        let thread = {
            let (server, issued, requests) = (server.clone(), issued.clone(), requests.clone());
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let basic = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .and_then(|h| h.value.as_str().strip_prefix("Basic ").map(str::to_owned))
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                    let (status, answer) = answer(behaviour, &body, basic, &issued, &requests);
                    let response = tiny_http::Response::from_string(answer)
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .unwrap(),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        TokenServer {
            server,
            url,
            issued,
            requests,
            thread: Some(thread),
        }
    }

    /// Every token issued, in order.
    pub fn issued(&self) -> Vec<String> {
        let issued = self.issued.lock().unwrap();
        issued.iter().map(|i| i.token.clone()).collect()
    }

    /// Every token request, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// A check a receiver can hold: `Ok` for a token this server issued that has not expired
    /// (`expires_in` after it was issued), else the reason (`unknown token`, `expired token`).
    pub fn checker(&self) -> TokenCheck {
        let issued = self.issued.clone();
        Arc::new(move |token: &str| {
            let issued = issued.lock().unwrap();
            let found = issued
                .iter()
                .find(|i| i.token == token)
                .ok_or("unknown token")?;
            match found.valid_until {
                Some(until) if Instant::now() >= until => Err("expired token".to_string()),
                _ => Ok(()),
            }
        })
    }
}

/// The answer to one token request (status and JSON body); records it, and the token issued.
fn answer(
    behaviour: TokenServerBehaviour,
    body: &str,
    basic: Option<String>,
    issued: &Mutex<Vec<Issued>>,
    requests: &Mutex<Vec<TokenRequest>>,
) -> (u16, String) {
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let seen = {
        let mut all = requests.lock().unwrap();
        all.push(TokenRequest {
            form: form.clone(),
            basic: basic.clone(),
        });
        all.len()
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if seen <= behaviour.down_for {
        return (503, "{\"error\":\"temporarily_unavailable\"}".to_string());
    }
    if behaviour.refuse_basic && basic.is_some() {
        return (401, "{\"error\":\"invalid_client\"}".to_string());
    }
    let authenticated = match &basic {
        Some(pair) => pair == "id:s3cr3t",
        None => field("client_id") == Some("id") && field("client_secret") == Some("s3cr3t"),
    };
    if field("grant_type") != Some("client_credentials") || !authenticated {
        return (400, "{\"error\":\"invalid_request\"}".to_string());
    }
    let mut issued = issued.lock().unwrap();
    let token = format!("tok-{}", issued.len() + 1);
    issued.push(Issued {
        token: token.clone(),
        valid_until: (behaviour.expires_in > 0)
            .then(|| Instant::now() + Duration::from_secs(behaviour.expires_in)),
    });
    (
        200,
        format!(
            "{{\"access_token\":\"{token}\",\"token_type\":\"bearer\",\"expires_in\":{}}}",
            behaviour.expires_in
        ),
    )
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
