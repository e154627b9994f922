//! Test support: a small HTTP receiver on loopback that answers like monitor-server's
//! `POST /api/events/batch` (`202 {"accepted":N,"rejected":[]}`, idempotent on id) and
//! records what it got, plus helpers to run the real `monitor-hook` binary.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How the receiver answers batches.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Store and answer 202.
    Accept,
    /// Answer this status with an error body, store nothing.
    Status(u16),
    /// Store, then close the connection without answering (a lost response).
    StoreThenHangUp,
    /// Accept this many more batches, then answer 503.
    AcceptFirst(usize),
}

#[derive(Default)]
struct Shared {
    requests: Vec<Request>,
    /// Events stored, in arrival order, each id once (the server is idempotent on id).
    stored: Vec<Value>,
    seen: HashSet<String>,
    /// Every event of every request that was acknowledged (duplicates included).
    acknowledged: Vec<Value>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    mode: Arc<Mutex<Mode>>,
    key: Option<String>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().expect("addr"), None)
    }

    pub fn start_with_key(key: &str) -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().expect("addr"), Some(key.to_owned()))
    }

    pub fn start_on(addr: SocketAddr, key: Option<String>) -> Receiver {
        let listener = TcpListener::bind(addr).expect("bind receiver");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mode = Arc::new(Mutex::new(Mode::Accept));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (shared, mode, stop, key) = (shared.clone(), mode.clone(), stop.clone(), key.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = serve(stream, &shared, &mode, key.as_deref());
                    }
                }
            })
        };
        Receiver { addr, shared, mode, key, stop, handle: Some(handle) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().expect("shared").requests.clone()
    }

    /// Every event line received, duplicates included, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.path == "/api/events/batch")
            .flat_map(|r| parse_lines(&r.body))
            .collect()
    }

    /// What an idempotent server stored: each id once, in arrival order.
    pub fn stored(&self) -> Vec<Value> {
        self.shared.lock().expect("shared").stored.clone()
    }

    /// Events of acknowledged requests, duplicates included: a double ship shows here.
    pub fn acknowledged(&self) -> Vec<Value> {
        self.shared.lock().expect("shared").acknowledged.clone()
    }

    /// Stops listening; the port is closed afterwards (the server is "down").
    pub fn stop(mut self) -> SocketAddr {
        self.shutdown();
        self.addr
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn parse_lines(body: &[u8]) -> Vec<Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| serde_json::from_slice(l).expect("each NDJSON line is JSON"))
        .collect()
}

fn serve(
    stream: TcpStream,
    shared: &Mutex<Shared>,
    mode: &Mutex<Mode>,
    key: Option<&str>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let request = Request { method: method.clone(), path: path.clone(), headers, body };
    let authorized = key.is_none_or(|k| request.header("authorization") == Some(&format!("Bearer {k}")));
    shared.lock().expect("shared").requests.push(request.clone());
    let mut stream = stream;
    let (status, body) = match (method.as_str(), path.as_str()) {
        ("GET", "/healthz") => (200, "ok".to_owned()),
        _ if !authorized => (401, r#"{"error":"missing or invalid API key"}"#.to_owned()),
        ("POST", "/api/events/batch") => {
            let mode = {
                let mut guard = mode.lock().expect("mode");
                match *guard {
                    Mode::AcceptFirst(0) => Mode::Status(503),
                    Mode::AcceptFirst(n) => {
                        *guard = Mode::AcceptFirst(n - 1);
                        Mode::Accept
                    }
                    ref other => other.clone(),
                }
            };
            let events = parse_lines(&request.body);
            match mode {
                Mode::Status(code) => (code, r#"{"error":"unavailable"}"#.to_owned()),
                Mode::Accept | Mode::StoreThenHangUp | Mode::AcceptFirst(_) => {
                    {
                        let mut s = shared.lock().expect("shared");
                        if mode != Mode::StoreThenHangUp {
                            s.acknowledged.extend(events.iter().cloned());
                        }
                        for e in &events {
                            let id = e["id"].as_str().unwrap_or_default().to_owned();
                            if s.seen.insert(id) {
                                s.stored.push(e.clone());
                            }
                        }
                    }
                    if mode == Mode::StoreThenHangUp {
                        return Ok(());
                    }
                    let code = if events.is_empty() { 400 } else { 202 };
                    (code, format!(r#"{{"accepted":{},"rejected":[]}}"#, events.len()))
                }
            }
        }
        _ => (404, r#"{"error":"not found"}"#.to_owned()),
    };
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        503 => "Service Unavailable",
        _ => "Other",
    };
    let retry = if status == 503 { "Retry-After: 1\r\n" } else { "" };
    // One write: several small ones would meet Nagle and delayed ACKs (40 ms stalls).
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.set_nodelay(true)?;
    stream.write_all(answer.as_bytes())?;
    stream.flush()
}

/// A free loopback port with nothing listening on it.
pub fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// A hermetic environment for the binary: its own HOME and state dir.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new(url: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let vars = vec![
            ("HOME".to_owned(), home.display().to_string()),
            ("XDG_STATE_HOME".to_owned(), dir.path().join("state").display().to_string()),
            ("MONITOR_URL".to_owned(), url.to_owned()),
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
        ];
        Env { dir, vars }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_owned(), value.to_owned()));
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/agent-monitor")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_monitor-hook"));
        cmd.env_clear().envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))).args(args);
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// Runs the hook with `stdin` and returns its output.
    pub fn hook(&self, stdin: &[u8]) -> Output {
        run_with_stdin(self.command(&[]), stdin)
    }

    /// Unshipped spool lines.
    pub fn pending(&self) -> Vec<Value> {
        let spool = self.state_dir().join("spool.ndjson");
        let bytes = std::fs::read(&spool).unwrap_or_default();
        let offset = std::fs::read(self.state_dir().join("ship.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["offset"].as_u64())
            .unwrap_or(0);
        let offset = usize::try_from(offset).expect("offset").min(bytes.len());
        parse_lines(&bytes[offset..])
    }
}

pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn monitor-hook");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

/// Asserts the hook contract: exit 0 and nothing on stdout.
pub fn assert_silent_success(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "exit code; stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "stdout must stay empty, got {:?}", String::from_utf8_lossy(&out.stdout));
}
