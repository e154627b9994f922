//! Seed §12.2 "Hook → Storage → Dashboard": the real `monitor-hook` binary, fed realistic
//! Claude Code hook payloads, against the real monitor-server. The derived events are
//! found through the query API and on an SSE stream; with the server down the spool
//! keeps everything and the next call ships it once, in order.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use monitor_server::{Config, Running};
use serde_json::{Value, json};
use support::{Env, assert_silent_success};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

async fn server_on(port: u16) -> Running {
    let config = Config { listen: format!("127.0.0.1:{port}"), store: "memory".into(), ..Config::default() };
    Running::start(config).await.expect("server starts")
}

fn session_payloads(session: &str) -> Vec<Value> {
    let common = |event: &str| {
        json!({"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": "/home/dev/shop-api",
               "hook_event_name": event, "permission_mode": "default"})
    };
    let mut out = Vec::new();
    let mut start = common("SessionStart");
    start["source"] = json!("startup");
    start["model"] = json!("claude-sonnet-4-5");
    out.push(start);
    let mut prompt = common("UserPromptSubmit");
    prompt["prompt"] =
        json!("fix the flaky test in orders_test.rs, my token is sk-ant-api03-XXXXXXXXXXXXXXXXXXXX");
    prompt["prompt_id"] = json!("p-1");
    out.push(prompt);
    let mut pre = common("PreToolUse");
    pre["tool_name"] = json!("Bash");
    pre["tool_use_id"] = json!("toolu_1");
    pre["tool_input"] = json!({"command": "cargo test -p orders"});
    out.push(pre);
    let mut post = common("PostToolUse");
    post["tool_name"] = json!("Bash");
    post["tool_use_id"] = json!("toolu_1");
    post["tool_input"] = json!({"command": "cargo test -p orders"});
    post["tool_response"] = json!({"stdout": "ok", "stderr": "", "interrupted": false});
    post["duration_ms"] = json!(1834);
    out.push(post);
    let mut fail = common("PostToolUseFailure");
    fail["tool_name"] = json!("Bash");
    fail["tool_use_id"] = json!("toolu_2");
    fail["tool_input"] = json!({"command": "cargo build"});
    fail["error"] = json!("Exit code 101\nerror[E0308]: mismatched types");
    fail["duration_ms"] = json!(912);
    out.push(fail);
    let mut sub_start = common("SubagentStart");
    sub_start["agent_id"] = json!("agent-7");
    sub_start["agent_type"] = json!("code-reviewer");
    out.push(sub_start);
    let mut sub_stop = common("SubagentStop");
    sub_stop["agent_id"] = json!("agent-7");
    sub_stop["agent_type"] = json!("code-reviewer");
    sub_stop["stop_hook_active"] = json!(false);
    out.push(sub_stop);
    out.push(common("Stop"));
    let mut end = common("SessionEnd");
    end["reason"] = json!("prompt_input_exit");
    out.push(end);
    out
}

async fn session_events(base: &str, session: &str) -> Vec<Value> {
    let answer: Value = client()
        .get(format!("{base}/api/metrics/query?start=0&sessionId={session}&limit=1000&cache=false"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut events = answer["data"].as_array().unwrap().clone();
    events.reverse(); // oldest first
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_events_reach_storage_and_the_live_stream() {
    let server = server_on(0).await;
    let base = server.url();
    let response =
        client().get(format!("{base}/api/metrics/stream?sessionId=sess-e2e")).send().await.unwrap();
    let mut stream = response.bytes_stream();
    let env = Env::new(&base);
    for payload in session_payloads("sess-e2e") {
        let out = env.hook(payload.to_string().as_bytes());
        assert_silent_success(&out);
    }
    let events = session_events(&base, "sess-e2e").await;
    let summary: Vec<(String, Option<String>)> = events
        .iter()
        .map(|e| {
            (e["type"].as_str().unwrap().to_owned(), e["payload"]["operation"].as_str().map(str::to_owned))
        })
        .collect();
    assert!(summary.contains(&("performance".into(), Some("tool:Bash".into()))), "{summary:?}");
    assert!(summary.contains(&("error".into(), Some("tool:Bash".into()))), "{summary:?}");
    assert!(summary.iter().any(|(t, _)| t == "coordination"), "{summary:?}");
    let bash = events
        .iter()
        .find(|e| e["payload"]["operation"] == "tool:Bash" && e["type"] == "performance")
        .unwrap();
    assert_eq!(bash["payload"]["duration"], 1834.0);
    assert_eq!(bash["source"], "claude-cli");
    assert_eq!(bash["projectId"], "shop-api");
    assert_eq!(bash["tags"]["tool_use_id"], "toolu_1");
    let failure = events.iter().find(|e| e["type"] == "error").unwrap();
    assert!(failure["payload"]["message"].as_str().unwrap().contains("Exit code 101"));
    let coordination = events.iter().filter(|e| e["type"] == "coordination").collect::<Vec<_>>();
    assert_eq!(coordination.len(), 2);
    assert_eq!(coordination[0]["payload"]["managerId"], "sess-e2e");
    assert_eq!(coordination[0]["payload"]["workerId"], "agent-7");
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains("sk-ant-api03") && !all.contains("flaky test"), "prompt text never stored: {all}");

    // The same events arrived live on SSE.
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while text.matches("event: metric").count() < events.len() {
        let chunk =
            tokio::time::timeout_at(deadline, stream.next()).await.expect("events stream").unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("tool:Bash") && text.contains("agent-7"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_keeps_everything_while_the_server_is_down_and_ships_it_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let env = Env::new(&base);
    let payloads = session_payloads("sess-spool");
    for payload in &payloads[..5] {
        assert_silent_success(&env.hook(payload.to_string().as_bytes()));
    }
    let pending = env.pending();
    assert!(pending.len() >= 4, "events wait in the spool: {pending:?}");
    let spooled_ids: Vec<String> = pending.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();

    let server = server_on(port).await;
    for payload in &payloads[5..] {
        assert_silent_success(&env.hook(payload.to_string().as_bytes()));
    }
    let events = session_events(&base, "sess-spool").await;
    let ids: Vec<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(&ids[..spooled_ids.len()], spooled_ids.as_slice(), "spooled events arrive first, in order");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "nothing stored twice");
    assert!(env.pending().is_empty(), "the spool is drained");
    // A resend of the whole session (a lost answer) stores nothing new.
    let flush = env.command(&["flush"]).output().unwrap();
    assert!(flush.status.success());
    assert_eq!(session_events(&base, "sess-spool").await.len(), ids.len());
    server.shutdown().await;
}
