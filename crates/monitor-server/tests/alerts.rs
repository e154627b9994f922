//! Alerts through the real server: rules CRUD, an event that fires a rule, the alert on
//! SSE and WebSocket, active alerts and history, and the webhook receiving the
//! Alertmanager v4 body.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::{SseReader, client, config, perf, start};
use serde_json::{Value, json};

async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test]
async fn a_slow_tool_call_fires_a_rule_end_to_end() {
    let server = start(config()).await;
    let base = server.url();
    let (hook_url, received) = receiver().await;
    let rule = json!({
        "id": "slow-bash", "name": "SlowBash",
        "condition": {"kind": "threshold", "field": "duration", "op": "gt",
                      "filters": {"type": "performance", "operation": "tool:Bash"}, "groupBy": ["projectId"]},
        "threshold": 1000, "severity": "high", "cooldown": 60,
        "annotations": {"summary": "Bash took {{ $value }} ms"},
        "channels": [{"type": "webhook", "config": {"url": hook_url}, "enabled": true},
                     {"type": "dashboard", "config": {}, "enabled": true}]
    });
    let created = client().post(format!("{base}/api/alerts/rules")).json(&rule).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let again = client().post(format!("{base}/api/alerts/rules")).json(&rule).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let listed: Value =
        client().get(format!("{base}/api/alerts/rules")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["id"], "slow-bash");

    let mut bad = rule.clone();
    bad["condition"]["op"] = json!("bigger");
    bad["id"] = json!("bad");
    let response = client().post(format!("{base}/api/alerts/rules")).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "condition.op", "{body}");

    let mut sse = SseReader::open(&format!("{base}/api/metrics/stream?events=false"), None).await;
    let fast =
        client().post(format!("{base}/api/events")).json(&perf("p1", "s1", 50.0)).send().await.unwrap();
    assert_eq!(fast.status(), 202);
    let slow =
        client().post(format!("{base}/api/events")).json(&perf("p1", "s1", 4_200.0)).send().await.unwrap();
    assert_eq!(slow.status(), 202);

    let alert = sse.next(Duration::from_secs(10)).await.expect("the alert is streamed");
    assert_eq!(alert.event, "alert");
    let alert: Value = serde_json::from_str(&alert.data).unwrap();
    assert_eq!(alert["ruleId"], "slow-bash");
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["value"], 4200.0);
    assert_eq!(alert["labels"]["projectId"], "p1");
    assert_eq!(alert["annotations"]["summary"], "Bash took 4200 ms");

    let active: Value =
        client().get(format!("{base}/api/alerts")).send().await.unwrap().json().await.unwrap();
    assert_eq!(active.as_array().unwrap().len(), 1);
    assert_eq!(active[0]["severity"], "high");
    let history: Value =
        client().get(format!("{base}/api/alerts/history")).send().await.unwrap().json().await.unwrap();
    assert_eq!(history[0]["ruleId"], "slow-bash");

    let mut body = None;
    for _ in 0..100 {
        if let Some(b) = received.lock().unwrap().first().cloned() {
            body = Some(b);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = body.expect("the webhook received the alert");
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "SlowBash");

    let put = client().put(format!("{base}/api/alerts/rules/other")).json(&rule).send().await.unwrap();
    assert_eq!(put.status(), 400, "id must match the URL");
    let deleted = client().delete(format!("{base}/api/alerts/rules/slow-bash")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let missing = client().get(format!("{base}/api/alerts/rules/slow-bash")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    server.shutdown().await;
}
