//! Security against a real server: the role × endpoint matrix, cross-project leakage on
//! every read path, forged/expired/malformed keys, rate limits, the audit trail,
//! secure-by-default binding, redaction on every ingest path, and TLS 1.3 only.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{SseReader, client, config, perf};
use futures_util::{SinkExt, StreamExt};
use monitor_server::auth::{AuthConfig, KeyConfig, RateLimits, Role, hash_key};
use monitor_server::{Config, Running};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "admin-key-0123456789";
const WRITER: &str = "writer-key-0123456789";
const WRITER_A: &str = "writer-a-key-0123456789";
const READER_A: &str = "reader-a-key-0123456789";
const READER_ALL: &str = "reader-all-key-0123456789";
const EXPIRED: &str = "expired-key-0123456789";

fn key(id: &str, raw: &str, role: Role, projects: &[&str]) -> KeyConfig {
    KeyConfig {
        id: id.into(),
        hash: hash_key(raw),
        role,
        projects: projects.iter().map(|s| (*s).to_owned()).collect(),
        expires_at: None,
        tags: [("key".to_owned(), id.to_owned())].into(),
    }
}

fn secured() -> Config {
    let mut expired = key("expired", EXPIRED, Role::Admin, &["*"]);
    expired.expires_at = Some("2021-01-01T00:00:00Z".into());
    let mut cfg = config();
    cfg.auth = AuthConfig {
        keys: vec![
            key("admin", ADMIN, Role::Admin, &["*"]),
            key("writer", WRITER, Role::Writer, &["*"]),
            key("writer-a", WRITER_A, Role::Writer, &["proj-a"]),
            key("reader-a", READER_A, Role::Reader, &["proj-a"]),
            key("reader-all", READER_ALL, Role::Reader, &["*"]),
            expired,
        ],
        rate_limits: RateLimits::default(),
    };
    cfg.data_dir = std::env::temp_dir().join(format!("monitor-sec-{}", std::process::id()));
    cfg
}

async fn send(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method.parse().unwrap(), url);
    if let Some(k) = key {
        request = request.bearer_auth(k);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn seed(base: &str) {
    let events = json!([perf("proj-a", "sa", 10.0), perf("proj-b", "sb", 20.0), perf("proj-b", "sb", 30.0)]);
    let (status, body) = send("POST", &format!("{base}/api/events"), Some(WRITER), Some(events)).await;
    assert_eq!((status, body["accepted"].clone()), (202, json!(3)), "{body}");
}

#[tokio::test]
async fn role_by_endpoint_matrix() {
    let server = Running::start(secured()).await.unwrap();
    let base = server.url();
    seed(&base).await;
    let rule = json!({"id":"r1","name":"slow","condition":{"kind":"threshold","field":"duration","op":"gt"},
                      "threshold":1000,"severity":"high","channels":[],"cooldown":60});
    // (method, path, body, [admin, writer, reader]) expected allow (true) or 403.
    let cases: Vec<(&str, String, Option<Value>, [bool; 3])> = vec![
        ("POST", "/api/events".into(), Some(perf("proj-a", "s", 1.0)), [true, true, false]),
        ("POST", "/api/metrics/query".into(), Some(json!({"aggregation":"raw"})), [true, false, true]),
        ("GET", "/api/metrics/query?start=0".into(), None, [true, false, true]),
        ("GET", "/api/audit".into(), None, [true, false, false]),
        ("GET", "/api/auth/keys".into(), None, [true, false, false]),
        ("GET", "/metrics".into(), None, [true, false, true]),
        ("GET", "/api/alerts".into(), None, [true, false, true]),
        ("POST", "/api/alerts/rules".into(), Some(rule), [true, false, false]),
    ];
    for (method, path, body, expect) in cases {
        for (k, allowed) in [ADMIN, WRITER, READER_ALL].into_iter().zip(expect) {
            let (status, answer) = send(method, &format!("{base}{path}"), Some(k), body.clone()).await;
            if allowed {
                assert!(status != 401 && status != 403, "{method} {path} with {k}: {status} {answer}");
            } else {
                assert_eq!(status, 403, "{method} {path} with {k}: {answer}");
                assert!(answer["error"].as_str().unwrap().contains("may not"), "{answer}");
            }
        }
        let (status, _) = send(method, &format!("{base}{path}"), None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path} without a key");
    }
    for open in ["/healthz", "/readyz", "/"] {
        let (status, _) = send("GET", &format!("{base}{open}"), None, None).await;
        assert_eq!(status, 200, "{open} needs no key");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn forged_expired_and_malformed_keys_are_401() {
    let server = Running::start(secured()).await.unwrap();
    let base = server.url();
    let url = format!("{base}/api/metrics/query?start=0");
    for header in [
        "Bearer not-a-key".to_owned(),
        format!("Bearer {EXPIRED}"),
        format!("Basic {READER_ALL}"),
        "Bearer".to_owned(),
        format!("Bearer {}", hash_key(READER_ALL)),
        format!("Bearer {}x", READER_ALL),
    ] {
        let response = client().get(&url).header("authorization", &header).send().await.unwrap();
        assert_eq!(response.status(), 401, "{header}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        if header.contains(EXPIRED) {
            assert!(body["error"].as_str().unwrap().contains("expired"), "{body}");
        }
    }
    let ok = client().get(&url).bearer_auth(READER_ALL).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_reader_of_project_a_never_sees_project_b() {
    let server = Running::start(secured()).await.unwrap();
    let base = server.url();

    let mut sse = SseReader::open(&format!("{base}/api/metrics/stream?access_token={READER_A}"), None).await;
    let ws_url = format!("ws://{}/api/ws?access_token={READER_A}", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    ws.send(Message::Text(json!({"op":"subscribe"}).to_string().into())).await.unwrap();
    let ack = next_ws(&mut ws).await.unwrap();
    assert_eq!(ack["kind"], "ack");

    seed(&base).await;

    // Query: unfiltered is scoped; aggregated group-by shows only proj-a.
    let (status, raw) = send("GET", &format!("{base}/api/metrics/query?start=0"), Some(READER_A), None).await;
    assert_eq!(status, 200);
    let projects: Vec<&str> =
        raw["data"].as_array().unwrap().iter().map(|e| e["projectId"].as_str().unwrap()).collect();
    assert_eq!(projects, vec!["proj-a"]);
    let (_, grouped) = send(
        "GET",
        &format!("{base}/api/metrics/query?start=0&aggregation=1h&groupBy=projectId"),
        Some(READER_A),
        None,
    )
    .await;
    assert_eq!(grouped["data"].as_array().unwrap().len(), 1);
    assert_eq!(grouped["data"][0]["group"]["projectId"], "proj-a");
    let (status, _) =
        send("GET", &format!("{base}/api/metrics/query?start=0&projectId=proj-b"), Some(READER_A), None)
            .await;
    assert_eq!(status, 403, "naming another project is 403");
    let (status, _) = send(
        "GET",
        &format!("{base}/api/metrics/query?start=0&projectId=proj-a,proj-b"),
        Some(READER_A),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let body = json!({"aggregation":"raw","filters":[{"field":"projectId","op":"ne","value":"proj-a"}]});
    let (status, answer) =
        send("POST", &format!("{base}/api/metrics/query"), Some(READER_A), Some(body)).await;
    assert_eq!(status, 200);
    assert!(answer["data"].as_array().unwrap().is_empty(), "ne cannot widen the scope: {answer}");
    let (status, _) =
        send("GET", &format!("{base}/api/metrics/stream?projectId=proj-b"), Some(READER_A), None).await;
    assert_eq!(status, 403);

    // SSE and WebSocket: only the proj-a event arrives.
    let first = sse.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&first.data).unwrap()["projectId"], "proj-a");
    assert!(sse.next(Duration::from_millis(500)).await.is_none(), "no proj-b events on SSE");
    let event = next_ws(&mut ws).await.unwrap();
    assert_eq!(event["data"]["projectId"], "proj-a");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), next_ws(&mut ws)).await.is_err(),
        "no proj-b events on the WebSocket"
    );
    ws.send(Message::Text(json!({"op":"subscribe","filters":{"projectId":"proj-b"}}).to_string().into()))
        .await
        .unwrap();
    let refused = next_ws(&mut ws).await.unwrap();
    assert_eq!(refused["kind"], "error");
    ws.send(Message::Text(json!({"op":"ingest","events":[perf("proj-a","s",1.0)]}).to_string().into()))
        .await
        .unwrap();
    let refused = next_ws(&mut ws).await.unwrap();
    assert!(refused["error"].as_str().unwrap().contains("forbidden"), "a reader may not ingest: {refused}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_writer_only_writes_its_projects_and_its_tags_are_added() {
    let server = Running::start(secured()).await.unwrap();
    let base = server.url();
    let events = json!([perf("proj-a", "s", 1.0), perf("proj-b", "s", 2.0)]);
    let (status, body) = send("POST", &format!("{base}/api/events"), Some(WRITER_A), Some(events)).await;
    assert_eq!(status, 202);
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert!(body["rejected"][0]["error"].as_str().unwrap().contains("forbidden"));
    let (status, _) =
        send("POST", &format!("{base}/api/events"), Some(WRITER_A), Some(perf("proj-b", "s", 3.0))).await;
    assert_eq!(status, 403, "nothing accepted because of the project: 403");
    let mut no_project = perf("x", "s", 4.0);
    no_project.as_object_mut().unwrap().remove("projectId");
    let (status, _) = send("POST", &format!("{base}/api/events"), Some(WRITER_A), Some(no_project)).await;
    assert_eq!(status, 202, "a single-project key fills in its project");
    let (_, raw) = send("GET", &format!("{base}/api/metrics/query?start=0"), Some(ADMIN), None).await;
    let events = raw["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["projectId"] == "proj-a" && e["tags"]["key"] == "writer-a"));
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limits_answer_429_and_recover() {
    let mut cfg = secured();
    cfg.auth.rate_limits = RateLimits {
        ingest_events_per_second: 5.0,
        ingest_burst: 5.0,
        queries_per_second: 2.0,
        query_burst: 2.0,
    };
    let server = Running::start(cfg).await.unwrap();
    let base = server.url();
    let url = format!("{base}/api/metrics/query?start=0");
    for _ in 0..2 {
        assert_eq!(send("GET", &url, Some(READER_ALL), None).await.0, 200);
    }
    let response = client().get(&url).bearer_auth(READER_ALL).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(send("GET", &url, Some(READER_A), None).await.0, 200, "limits are per key");
    let six = Value::Array(vec![perf("proj-a", "s", 1.0); 6]);
    let (status, _) = send("POST", &format!("{base}/api/events"), Some(WRITER), Some(six)).await;
    assert_eq!(status, 429, "a batch larger than the remaining ingest budget");
    let (_, raw) = send("GET", &format!("{base}/api/metrics/query?start=0"), Some(ADMIN), None).await;
    assert!(raw["data"].as_array().unwrap().is_empty(), "a 429 stores nothing");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(send("GET", &url, Some(READER_ALL), None).await.0, 200, "tokens refill");
    let text = client()
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("monitor_auth_rate_limited_total"), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn audit_log_records_reads_writes_and_denials() {
    let server = Running::start(secured()).await.unwrap();
    let base = server.url();
    seed(&base).await;
    send("GET", &format!("{base}/api/metrics/query?start=0"), Some(READER_A), None).await;
    send("GET", &format!("{base}/api/audit"), Some(READER_A), None).await;
    send("GET", &format!("{base}/api/metrics/query"), Some("forged-key"), None).await;
    let mut records = Vec::new();
    for _ in 0..50 {
        let (status, body) = send("GET", &format!("{base}/api/audit?limit=100"), Some(ADMIN), None).await;
        assert_eq!(status, 200);
        records = body.as_array().unwrap().clone();
        if records.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let find = |who: Value, action: &str, outcome: u64| {
        records.iter().any(|r| r["who"] == who && r["action"] == action && r["outcome"] == outcome)
    };
    assert!(find(json!("writer"), "POST /api/events", 202), "{records:#?}");
    assert!(find(json!("reader-a"), "GET /api/metrics/query", 200));
    assert!(find(json!("reader-a"), "GET /api/audit", 403), "denied attempts are recorded");
    assert!(find(Value::Null, "GET /api/metrics/query", 401), "unknown keys are recorded");
    let write = records.iter().find(|r| r["action"] == "POST /api/events").unwrap();
    assert!(write["detail"].as_str().unwrap().contains("proj-a,proj-b"), "{write}");
    let reader = records.iter().find(|r| r["who"] == "reader-a").unwrap();
    assert_eq!(reader["projects"], json!(["proj-a"]));
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(READER_A) && !text.contains(WRITER), "keys are never recorded");
    server.shutdown().await;
}

#[tokio::test]
async fn admin_creates_and_revokes_keys() {
    let server = Running::start(secured()).await.unwrap();
    let base = server.url();
    let (status, created) = send(
        "POST",
        &format!("{base}/api/auth/keys"),
        Some(ADMIN),
        Some(json!({"id":"ci","role":"reader","projects":["proj-b"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let new_key = created["key"].as_str().unwrap().to_owned();
    let (status, _) = send("GET", &format!("{base}/api/metrics/query?start=0"), Some(&new_key), None).await;
    assert_eq!(status, 200);
    let (_, list) = send("GET", &format!("{base}/api/auth/keys"), Some(ADMIN), None).await;
    assert!(list.as_array().unwrap().iter().any(|k| k["id"] == "ci" && k.get("key").is_none()));
    assert!(!list.to_string().contains(&new_key));
    let (status, _) = send("DELETE", &format!("{base}/api/auth/keys/admin"), Some(ADMIN), None).await;
    assert_eq!(status, 409, "configured keys are read-only over the API");
    let (status, _) = send("DELETE", &format!("{base}/api/auth/keys/ci"), Some(ADMIN), None).await;
    assert_eq!(status, 204);
    let (status, _) = send("GET", &format!("{base}/api/metrics/query?start=0"), Some(&new_key), None).await;
    assert_eq!(status, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn refuses_a_public_address_without_keys() {
    let mut cfg = config();
    cfg.listen = "0.0.0.0:0".into();
    let error = match Running::start(cfg).await {
        Ok(_) => panic!("must refuse to start"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("without API keys") && error.contains("[[auth.keys]]"), "{error}");
    let mut cfg = secured();
    cfg.listen = "0.0.0.0:0".into();
    let server = Running::start(cfg).await.expect("with keys a public address is fine");
    server.shutdown().await;
}

#[tokio::test]
async fn secrets_in_a_bash_command_never_reach_storage_or_streams() {
    let server = Running::start(config()).await.unwrap();
    let base = server.url();
    let secret = "sk-ant-api03-SECRETSECRETSECRETSECRET";
    let mut sse = SseReader::open(&format!("{base}/api/metrics/stream"), None).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", server.addr)).await.unwrap();
    ws.send(Message::Text(json!({"op":"subscribe"}).to_string().into())).await.unwrap();
    next_ws(&mut ws).await.unwrap();
    let mut event = perf("p", "s", 5.0);
    event["payload"]["command"] =
        json!(format!("ANTHROPIC_API_KEY={secret} claude -p 'mail bob@example.com'"));
    let batch = format!("{event}\n");
    for (path, body) in [("/api/events", event.to_string()), ("/api/events/batch", batch)] {
        let response = client().post(format!("{base}{path}")).body(body).send().await.unwrap();
        assert_eq!(response.status(), 202);
    }
    ws.send(Message::Text(json!({"op":"ingest","events":[event]}).to_string().into())).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(sse.next(Duration::from_secs(10)).await.unwrap().data);
    }
    for _ in 0..4 {
        seen.push(next_ws(&mut ws).await.unwrap().to_string());
    }
    let stored =
        client().get(format!("{base}/api/metrics/query?start=0")).send().await.unwrap().text().await.unwrap();
    seen.push(stored);
    for text in &seen {
        assert!(!text.contains(secret) && !text.contains("bob@example.com"), "leaked: {text}");
    }
    assert!(seen.last().unwrap().contains("[REDACTED:api-key]"));
    server.shutdown().await;
}

#[tokio::test]
async fn tls_13_is_served_and_tls_12_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let mut cfg = config();
    cfg.tls.cert = Some(cert_path);
    cfg.tls.key = Some(key_path);
    let server = Running::start(cfg).await.unwrap();
    assert!(server.url().starts_with("https://"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_for = |versions: &[&'static rustls::SupportedProtocolVersion]| {
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut tls =
        client_for(&[&rustls::version::TLS13]).connect(name.clone(), tcp).await.expect("TLS 1.3 handshake");
    assert_eq!(tls.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let refused = client_for(&[&rustls::version::TLS12]).connect(name, tcp).await;
    assert!(refused.is_err(), "a TLS 1.2-only client is refused");
    server.shutdown().await;
}

async fn next_ws(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}
