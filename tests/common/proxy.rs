//! A recording CONNECT proxy on 127.0.0.1, for the token requests' proxy tests: it tunnels to
//! loopback only (`127.0.0.1`, `localhost`, `127.0.1` and `127.1` are taken to 127.0.0.1;
//! nothing is looked up, any other host is answered 502) and records every CONNECT with its
//! headers. `127.0.1` names loopback without looking like it to the `no_proxy` rules, so a
//! request to it goes through a proxy that `localhost` would bypass.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One CONNECT the proxy saw.
#[derive(Debug, Clone)]
pub struct Connect {
    /// `host:port`.
    pub target: String,
    /// The request's headers, in order (names lower-cased).
    pub headers: Vec<(String, String)>,
}

impl Connect {
    /// The values of header `name` (lower case), in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The proxy; stopped on drop (tunnels in use end when their peers close them).
pub struct RecordingProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Connect>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl RecordingProxy {
    /// Starts on a free port.
    pub fn start() -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Connect>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let seen = seen.clone();
                    std::thread::spawn(move || serve(stream, &seen));
                }
            })
        };
        RecordingProxy {
            addr,
            seen,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The CONNECT requests seen so far.
    pub fn seen(&self) -> Vec<Connect> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The loopback address a target `host:port` stands for here, if any.
fn loopback_target(host_port: &str) -> Option<SocketAddr> {
    let (host, port) = host_port.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let loopback = ["127.0.0.1", "localhost", "127.0.1", "127.1"].contains(&host);
    loopback.then(|| SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Serves one client connection: reads its CONNECT, records it, and tunnels it.
fn serve(client: TcpStream, seen: &Mutex<Vec<Connect>>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut client = client;
    if method != "CONNECT" {
        let _ = client.write_all(b"HTTP/1.1 405 CONNECT Only\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    seen.lock().unwrap().push(Connect {
        target: target.clone(),
        headers,
    });
    let Some(upstream) = loopback_target(&target).and_then(|a| TcpStream::connect(a).ok()) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let _ = upstream.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(mut to_upstream) = upstream.try_clone() else {
        return;
    };
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let mut from_upstream = upstream;
    let _ = std::io::copy(&mut from_upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = from_upstream.shutdown(Shutdown::Both);
    let _ = forward.join();
}
