//! Shared test parts: real HTTP and SMTP receivers on loopback, event builders, engines
//! on a manual clock.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use monitor_alerts::{
    AlertEngine, AlertRule, AlertsConfig, DeliveryConfig, ManualClock, SmtpConfig, SmtpTls,
};
use monitor_core::event::{ErrorPayload, Extra, Payload};
use monitor_core::store::MemoryStore;
use monitor_core::{AgentType, Bus, Event, MetricEvent, Source, StoreRef, Timestamp};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

/// 2026-11-29T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_795_910_400_000_000);

pub fn at(secs: i64) -> Timestamp {
    T0.add_micros(secs * 1_000_000)
}

/// A performance event of project p1 from a worker.
pub fn perf(op: &str, ms: f64, session: &str, time: Timestamp) -> Event {
    MetricEvent::performance(Source::ClaudeCli, op, ms)
        .with_project("p1")
        .with_session(session)
        .with_agent_type(AgentType::Worker)
        .with_timestamp(time)
        .into_event(time)
}

/// An error event of project p1.
pub fn error(op: &str, session: &str, time: Timestamp) -> Event {
    MetricEvent::new(
        Source::ClaudeCli,
        Payload::Error(ErrorPayload {
            operation: Some(op.to_owned()),
            message: "exit code 1".to_owned(),
            code: None,
            extra: Extra::new(),
        }),
    )
    .with_project("p1")
    .with_session(session)
    .with_timestamp(time)
    .into_event(time)
}

pub fn rule(json: &str) -> AlertRule {
    let rule = AlertRule::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}: {json}"));
    rule.validate().unwrap_or_else(|e| panic!("{e}: {json}"));
    rule
}

/// Fast retries for tests; a ticker that stays out of the way (tests call `tick`).
pub fn test_config() -> AlertsConfig {
    AlertsConfig {
        external_url: "http://monitor.test:7070".to_owned(),
        evaluation_interval_ms: 60_000,
        delivery: DeliveryConfig {
            max_attempts: 3,
            initial_backoff_ms: 20,
            max_backoff_ms: 2_000,
            timeout_ms: 5_000,
            shutdown_grace_ms: 2_000,
        },
        ..AlertsConfig::default()
    }
}

pub struct Harness {
    pub store: StoreRef,
    pub bus: Bus,
    pub clock: ManualClock,
    pub engine: AlertEngine,
}

impl Harness {
    pub async fn new(rules: &[AlertRule]) -> Harness {
        Harness::with_config(rules, test_config()).await
    }

    pub async fn with_config(rules: &[AlertRule], config: AlertsConfig) -> Harness {
        let store: StoreRef = Arc::new(MemoryStore::default());
        let clock = ManualClock::new(T0);
        Harness::on(store, clock, rules, config).await
    }

    /// An engine on an existing store and clock (a restart).
    pub async fn on(
        store: StoreRef,
        clock: ManualClock,
        rules: &[AlertRule],
        config: AlertsConfig,
    ) -> Harness {
        let bus = Bus::default();
        let engine =
            AlertEngine::start_with_clock(store.clone(), bus.clone(), config, Arc::new(clock.clone()))
                .await
                .expect("engine starts");
        for r in rules {
            engine.put_rule(r.clone()).await.expect("rule accepted");
        }
        Harness { store, bus, clock, engine }
    }

    /// Sets the clock to `secs` after T0 and feeds the event.
    pub async fn send(&self, event: Event) {
        self.clock.set(event.timestamp);
        self.engine.observe(&event);
        self.engine.flush().await;
    }

    /// Sets the clock to `secs` after T0 and runs the timers.
    pub async fn tick_at(&self, secs: i64) {
        self.clock.set(at(secs));
        self.engine.tick();
        self.engine.flush().await;
    }
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Captured {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

/// What the receiver answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
}

#[derive(Clone)]
struct HookState {
    requests: Arc<Mutex<Vec<Captured>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    default_status: u16,
    arrived: Arc<Notify>,
    gate: Option<Arc<Semaphore>>,
}

/// A real HTTP server on 127.0.0.1 that records every POST.
pub struct Hook {
    pub addr: SocketAddr,
    state: HookState,
}

impl Hook {
    pub async fn start() -> Hook {
        Hook::start_with(200, Vec::new(), None).await
    }

    /// Answers `replies` in order, then `default_status`; holds every answer until the
    /// gate has a permit when one is given (a slow receiver).
    pub async fn start_with(default_status: u16, replies: Vec<Reply>, gate: Option<Arc<Semaphore>>) -> Hook {
        let state = HookState {
            requests: Arc::default(),
            replies: Arc::new(Mutex::new(replies.into())),
            default_status,
            arrived: Arc::new(Notify::new()),
            gate,
        };
        let app = Router::new().fallback(capture).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hook { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (a guard of 20 s against hanging, not a measurement).
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.state.arrived.notified();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "expected {n} requests, got {}: {got:?}", got.len());
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

async fn capture(
    State(state): State<HookState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.requests.lock().unwrap().push(Captured {
        path: uri.path().to_owned(),
        headers,
        body,
        at: Instant::now(),
    });
    state.arrived.notify_waiters();
    if let Some(gate) = &state.gate {
        let _permit = gate.acquire().await;
    }
    let reply = state.replies.lock().unwrap().pop_front();
    let reply = reply.unwrap_or(Reply { status: state.default_status, retry_after: None });
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut response = (status, "ok").into_response();
    if let Some(after) = reply.retry_after {
        response.headers_mut().insert("retry-after", after.to_string().parse().unwrap());
    }
    response
}

/// One message an SMTP sink accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server on loopback speaking enough of RFC 5321 for lettre.
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let (m, a) = (mails.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (m, a) = (m.clone(), a.clone());
                tokio::spawn(async move {
                    let _ = smtp_session(socket, m, a).await;
                });
            }
        });
        SmtpSink { port, mails, arrived }
    }

    pub fn config(&self) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            tls: SmtpTls::None,
            from: "agent-monitor <alerts@monitor.test>".to_owned(),
            ..SmtpConfig::default()
        }
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.arrived.notified();
            let got = self.mails.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "expected {n} mails, got {}", got.len());
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

async fn smtp_session(
    socket: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write.write_all(b"250-sink.test\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_owned();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
            }
            // The CRLF before the terminating `.` belongs to the terminator (RFC 5321 4.1.1.4).
            if data.ends_with("\r\n") {
                data.truncate(data.len() - 2);
            }
            mails.lock().unwrap().push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            arrived.notify_waiters();
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 OK\r\n").await?;
        }
    }
}
