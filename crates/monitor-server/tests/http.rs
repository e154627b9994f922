//! The HTTP contract against a real server on loopback: ingest answers, visibility after
//! `202`, every bad-input case, overload, the query cache, health and metrics.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{client, config, perf, start};
use serde_json::{Value, json};

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = client().post(url).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn accepted_events_are_visible_at_every_level_right_after_202() {
    let server = start(config()).await;
    let base = server.url();
    let (status, body) = post(&format!("{base}/api/events"), perf("p1", "s1", 120.0).to_string()).await;
    assert_eq!((status, body), (202, json!({"accepted": 1, "rejected": []})));
    let batch = json!([perf("p1", "s1", 80.0), perf("p2", "s2", 40.0)]);
    let (status, body) = post(&format!("{base}/api/events"), batch.to_string()).await;
    assert_eq!((status, body["accepted"].clone()), (202, json!(2)));
    let ndjson = format!("{}\n\n{}\n", perf("p1", "s3", 10.0), perf("p3", "s3", 30.0));
    let (status, body) = post(&format!("{base}/api/events/batch"), ndjson).await;
    assert_eq!((status, body["accepted"].clone()), (202, json!(2)));

    for aggregation in ["raw", "1m", "5m", "1h", "1d"] {
        let url =
            format!("{base}/api/metrics/query?aggregation={aggregation}&field=duration&cache=false&start=0");
        let answer: Value = client().get(url).send().await.unwrap().json().await.unwrap();
        let count: u64 = if aggregation == "raw" {
            answer["data"].as_array().unwrap().len() as u64
        } else {
            answer["data"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap()).sum()
        };
        assert_eq!(count, 5, "{aggregation}: {answer}");
        assert_eq!(answer["metadata"]["aggregation"], aggregation);
    }
    let grouped: Value = client()
        .get(format!(
            "{base}/api/metrics/query?aggregation=1h&field=duration&groupBy=projectId&projectId=p1,p2&start=0"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let groups: Vec<(String, u64)> = grouped["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["group"]["projectId"].as_str().unwrap().to_owned(), p["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(groups, vec![("p1".to_owned(), 3), ("p2".to_owned(), 1)]);
    let sum: f64 = grouped["data"][0]["sum"].as_f64().unwrap();
    assert_eq!(sum, 210.0);

    let post_query = json!({"timeRange": {"start": 0, "end": "2100-01-01T00:00:00Z"},
        "filters": [{"field": "projectId", "op": "ne", "value": "p1"}], "aggregation": "raw", "limit": 10});
    let answer: Value = client()
        .post(format!("{base}/api/metrics/query"))
        .json(&post_query)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let projects: Vec<&str> =
        answer["data"].as_array().unwrap().iter().map(|e| e["projectId"].as_str().unwrap()).collect();
    assert_eq!(projects.len(), 2);
    assert!(projects.iter().all(|p| *p != "p1"));
    server.shutdown().await;
}

#[tokio::test]
async fn client_ids_make_retries_idempotent() {
    let server = start(config()).await;
    let base = server.url();
    let mut event = perf("p1", "s1", 5.0);
    event["id"] = json!("client-id-1");
    for _ in 0..3 {
        let (status, body) = post(&format!("{base}/api/events"), event.to_string()).await;
        assert_eq!(
            (status, body["accepted"].clone()),
            (202, json!(1)),
            "an id already stored counts as accepted"
        );
    }
    let answer: Value = client()
        .get(format!("{base}/api/metrics/query?start=0&limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 1);
    assert_eq!(answer["data"][0]["id"], "client-id-1");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer_and_loses_nothing_good() {
    let mut cfg = config();
    cfg.http.max_body_bytes = 4096;
    let server = start(cfg).await;
    let base = server.url();
    let events = format!("{base}/api/events");
    let batch = format!("{base}/api/events/batch");

    let (status, body) = post(&events, "{\"source\":").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().starts_with("invalid JSON"), "{body}");
    assert_eq!(body["field"], "body");

    let (status, body) = post(&events, "42").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("expected an event object"), "{body}");

    let mut wrong_type = perf("p", "s", 1.0);
    wrong_type["payload"]["duration"] = json!("fast");
    let mut unknown = perf("p", "s", 1.0);
    unknown["colour"] = json!("red");
    let (status, body) = post(&events, json!([wrong_type, unknown, perf("p", "s", 1.0)]).to_string()).await;
    assert_eq!(status, 202);
    assert_eq!(body["accepted"], 1);
    assert_eq!(
        body["rejected"][0],
        json!({"index": 0, "field": "payload.duration",
        "error": "payload.duration: expected a number, got a string"})
    );
    assert_eq!(body["rejected"][1]["index"], 1);
    assert_eq!(body["rejected"][1]["field"], "colour");

    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    let mut nested = perf("p", "s", 1.0);
    nested["payload"]["deep"] = deep;
    let (status, body) = post(&events, nested.to_string()).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("nested deeper"), "{body}");

    let mut lines = Vec::new();
    lines.extend_from_slice(perf("p", "s", 2.0).to_string().as_bytes());
    lines.extend_from_slice(b"\n{\"source\":\"claude-cli\",\"type\":\"performance\",\"payload\":{\"operation\":\"x\xff\",\"duration\":1}}\n");
    lines.extend_from_slice(b"\nnot json\n");
    lines.extend_from_slice(perf("p", "s", 3.0).to_string().as_bytes());
    let (status, body) = post(&batch, lines).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    let rejected: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["error"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].0, 1);
    assert!(rejected[0].1.contains("UTF-8"), "{rejected:?}");
    assert_eq!(rejected[1].0, 2);
    assert!(rejected[1].1.contains("invalid JSON"));

    let (status, body) =
        post(&events, vec![b'{'; 0].into_iter().chain(b"\xff\xfe".iter().copied()).collect::<Vec<u8>>())
            .await;
    assert_eq!(status, 400, "{body}");

    let big = Value::Array(vec![perf("p", "s", 1.0); 60]).to_string();
    assert!(big.len() > 4096);
    let (status, body) = post(&events, big.clone()).await;
    assert_eq!(status, 413);
    assert!(body["error"].as_str().unwrap().contains("4096"), "{body}");
    let (status, _) = post(&batch, big).await;
    assert_eq!(status, 413);

    let (status, body) = post(&events, "[]").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "no events in request");

    let answer: Value = client()
        .get(format!("{base}/api/metrics/query?start=0&limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 3, "exactly the good events were stored");

    let bad_query = client().get(format!("{base}/api/metrics/query?aggregation=2m")).send().await.unwrap();
    assert_eq!(bad_query.status(), 400);
    let body: Value = bad_query.json().await.unwrap();
    assert_eq!(body["field"], "aggregation");
    server.shutdown().await;
}

#[tokio::test]
async fn slow_loris_clients_are_cut_off() {
    let mut cfg = config();
    cfg.http.header_timeout = "300ms".into();
    let server = start(cfg).await;
    let addr = server.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(b"POST /api/events HTTP/1.1\r\nHost: x\r\n").unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 512];
        // The server must close (or answer and close) instead of waiting forever for
        // the rest of the headers.
        match stream.read(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                n == 0 || text.starts_with("HTTP/1.1 408")
            }
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    })
    .await
    .unwrap();
    assert!(closed, "the server cut the slow client off");
    let health = client().get(format!("{}/healthz", server.url())).send().await.unwrap();
    assert_eq!(health.status(), 200, "and kept serving others");
    server.shutdown().await;
}

#[tokio::test]
async fn overload_answers_503_with_retry_after_and_stores_nothing_of_that_request() {
    let mut cfg = config();
    cfg.collector.capacity = 5;
    let server = start(cfg).await;
    let base = server.url();
    let too_many = Value::Array(vec![perf("p", "s", 1.0); 8]).to_string();
    let response = client().post(format!("{base}/api/events")).body(too_many).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("nothing was stored"), "{body}");
    let answer: Value =
        client().get(format!("{base}/api/metrics/query?start=0")).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 0);
    let ok = Value::Array(vec![perf("p", "s", 1.0); 5]).to_string();
    let (status, _) = post(&format!("{base}/api/events"), ok).await;
    assert_eq!(status, 202, "a request that fits is accepted");
    server.shutdown().await;
}

#[tokio::test]
async fn query_cache_hits_and_is_invalidated_by_writes() {
    let server = start(config()).await;
    let base = server.url();
    post(&format!("{base}/api/events"), perf("p1", "s1", 10.0).to_string()).await;
    let url = format!("{base}/api/metrics/query?aggregation=5m&field=duration&start=0&end=4102444800000");
    let get =
        |url: String| async move { client().get(url).send().await.unwrap().json::<Value>().await.unwrap() };
    let first = get(url.clone()).await;
    assert_eq!(first["metadata"]["cacheHit"], false);
    let second = get(url.clone()).await;
    assert_eq!(second["metadata"]["cacheHit"], true);
    assert_eq!(second["data"], first["data"]);
    let bypass = get(format!("{url}&cache=false")).await;
    assert_eq!(bypass["metadata"]["cacheHit"], false);
    post(&format!("{base}/api/events"), perf("p1", "s1", 30.0).to_string()).await;
    let third = get(url.clone()).await;
    assert_eq!(third["metadata"]["cacheHit"], false, "a write in the range invalidates");
    assert_eq!(third["data"][0]["count"], 2, "and the answer is fresh");
    assert_eq!(third["data"][0]["sum"], 40.0);
    server.shutdown().await;
}

#[tokio::test]
async fn health_readiness_and_prometheus_metrics() {
    let server = start(config()).await;
    let base = server.url();
    let health: Value = client().get(format!("{base}/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready: Value = client().get(format!("{base}/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"]["kind"], "memory");
    monitor_server::health::prometheus();
    post(&format!("{base}/api/events"), perf("p1", "s1", 10.0).to_string()).await;
    post(&format!("{base}/api/events"), "{}").await;
    client().get(format!("{base}/api/metrics/query?start=0")).send().await.unwrap();
    let text = client().get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "monitor_ingest_events_accepted_total",
        "monitor_ingest_events_rejected_total",
        "monitor_collector_queue_depth",
        "monitor_query_duration_seconds_bucket",
        "monitor_stream_subscribers",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    let unknown = client().get(format!("{base}/api/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    server.shutdown().await;
}
