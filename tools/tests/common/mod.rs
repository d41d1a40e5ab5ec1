//! Helpers shared by the tools' integration tests: a `promrw sink` child process, a raw
//! remote-write POST and a temporary directory.
// Each test crate uses part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// A response: status, headers (names lower case), body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs `raw` (snappy-compressed here) to `addr`'s `/api/v1/write` with `content_type` and
/// the remote-write `version` header, on a connection of its own.
pub fn post_raw(addr: SocketAddr, content_type: &str, version: &str, raw: &[u8]) -> Response {
    let body = snap::raw::Encoder::new().compress_vec(raw).unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: {version}\r\nUser-Agent: promrw-tools-test/1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A `promrw sink` child process on 127.0.0.1, killed (by its handle) and reaped on drop.
/// Its stdout is read on a thread into a channel, so it never writes to a closed pipe.
pub struct SinkProcess {
    child: std::process::Child,
    /// Its stdin, when started by [`SinkProcess::start_with_stdin`].
    stdin: Option<std::process::ChildStdin>,
    lines: Receiver<String>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl SinkProcess {
    /// Starts `promrw sink --listen 127.0.0.1:0` with `args` and waits for its
    /// "listening on" line.
    pub fn start(args: &[&str]) -> SinkProcess {
        SinkProcess::spawn(args, Stdio::null())
    }

    /// [`SinkProcess::start`] with its stdin a pipe, written by [`SinkProcess::send_line`]
    /// (for `--control-stdin`).
    pub fn start_with_stdin(args: &[&str]) -> SinkProcess {
        SinkProcess::spawn(args, Stdio::piped())
    }

    /// Starts the child with `stdin` and waits for its "listening on" line.
    fn spawn(args: &[&str], stdin: Stdio) -> SinkProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_promrw"))
            .args(["sink", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start promrw sink");
        let stdin = child.stdin.take();
        let (lines_tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sink = SinkProcess {
            child,
            stdin,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let listening = sink.next_line();
        sink.addr = listening
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix("/api/v1/write"))
            .unwrap_or_else(|| panic!("{listening}"))
            .parse()
            .unwrap();
        sink
    }

    /// The sink's write URL.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Writes `line` and a newline to the sink's stdin (started by
    /// [`SinkProcess::start_with_stdin`]).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("started with a stdin pipe");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The sink's next stdout line (within 10 s).
    pub fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a line")
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed (with its contents) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory `promrw-<prefix>-<pid>-<n>` under the system's temp dir.
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "promrw-{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// Writes `text` to `name` in the directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
