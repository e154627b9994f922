//! Helpers shared by the server's integration tests: start a real server on a free
//! loopback port and talk to it with real HTTP, SSE and WebSocket clients.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures_util::StreamExt;
use monitor_server::{Config, Running};
use serde_json::{Value, json};

/// A memory-store config listening on a free loopback port.
pub fn config() -> Config {
    Config { listen: "127.0.0.1:0".into(), store: "memory".into(), ..Config::default() }
}

/// Starts a server with `config`.
pub async fn start(config: Config) -> Running {
    Running::start(config).await.expect("server starts")
}

/// A performance event for `project`/`session`.
pub fn perf(project: &str, session: &str, duration: f64) -> Value {
    json!({"source":"claude-cli","type":"performance","projectId":project,"sessionId":session,"agentType":"worker",
           "payload":{"operation":"tool:Bash","duration":duration,"success":true},"tags":{"host":"h1"}})
}

/// An HTTP client.
pub fn client() -> reqwest::Client {
    // reqwest is built without a bundled TLS provider (the alert engine brings its own);
    // tests speak plain HTTP but the builder still wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// A minimal SSE reader over a streaming HTTP response.
pub struct SseReader {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    /// Opens `url` with optional `Last-Event-ID`.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> SseReader {
        let mut request = client().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), 200, "stream status");
        assert!(
            response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"),
            "content type"
        );
        SseReader { stream: response.bytes_stream().boxed(), buffer: String::new() }
    }

    /// The next event (comments skipped), or `None` when nothing arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut sse = Sse { event: "message".into(), id: None, data: String::new() };
                let mut any = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        sse.event = v.trim().into();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        sse.id = Some(v.trim().into());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        sse.data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    return Some(sse);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }
}
