//! Seed §12.2 "real-time streaming validation" against a real server: events posted
//! over HTTP reach SSE and WebSocket subscribers whose filters match and no others;
//! SSE resumes after a reconnect with `Last-Event-ID`.

mod common;

use std::time::Duration;

use common::{SseReader, client, config, perf, start};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(500);

async fn post_event(base: &str, event: &Value) {
    let response = client().post(format!("{base}/api/events")).json(event).send().await.unwrap();
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn sse_subscribers_get_exactly_the_matching_events() {
    let server = start(config()).await;
    let base = server.url();
    let mut p1 = SseReader::open(&format!("{base}/api/metrics/stream?projectId=p1"), None).await;
    let mut p2 =
        SseReader::open(&format!("{base}/api/metrics/stream?projectId=p2&type=performance"), None).await;
    let mut all = SseReader::open(&format!("{base}/api/metrics/stream"), None).await;

    post_event(&base, &perf("p1", "s1", 11.0)).await;
    post_event(&base, &perf("p2", "s2", 22.0)).await;

    let got = p1.next(WAIT).await.expect("p1 subscriber gets the p1 event");
    assert_eq!(got.event, "metric");
    let event: Value = serde_json::from_str(&got.data).unwrap();
    assert_eq!(event["projectId"], "p1");
    assert_eq!(event["payload"]["duration"], 11.0);
    assert!(got.id.is_some());

    let got = p2.next(WAIT).await.expect("p2 subscriber gets the p2 event");
    let event: Value = serde_json::from_str(&got.data).unwrap();
    assert_eq!(event["projectId"], "p2", "and not the p1 event posted before it");

    let first = all.next(WAIT).await.unwrap();
    let second = all.next(WAIT).await.unwrap();
    assert!(first.id.unwrap().parse::<u64>().unwrap() < second.id.unwrap().parse::<u64>().unwrap());

    assert!(p1.next(QUIET).await.is_none(), "nothing else for p1");
    server.shutdown().await;
}

#[tokio::test]
async fn sse_resumes_from_last_event_id_without_gap_or_repeat() {
    let server = start(config()).await;
    let base = server.url();
    let url = format!("{base}/api/metrics/stream?sessionId=resume");
    let mut reader = SseReader::open(&url, None).await;
    post_event(&base, &perf("p", "resume", 1.0)).await;
    let first = reader.next(WAIT).await.unwrap();
    let last_id = first.id.clone().unwrap();
    drop(reader);

    for d in [2.0, 3.0, 4.0] {
        post_event(&base, &perf("p", "resume", d)).await;
    }
    post_event(&base, &perf("p", "other-session", 99.0)).await;

    let mut resumed = SseReader::open(&url, Some(&last_id)).await;
    let mut durations = Vec::new();
    for _ in 0..3 {
        let sse = resumed.next(WAIT).await.expect("missed events are replayed");
        let event: Value = serde_json::from_str(&sse.data).unwrap();
        durations.push(event["payload"]["duration"].as_f64().unwrap());
    }
    assert_eq!(durations, vec![2.0, 3.0, 4.0]);
    post_event(&base, &perf("p", "resume", 5.0)).await;
    let live = resumed.next(WAIT).await.unwrap();
    let event: Value = serde_json::from_str(&live.data).unwrap();
    assert_eq!(event["payload"]["duration"], 5.0, "then continues live");

    // An id from an earlier run of the server (ids restart at 1) cannot be resumed: the
    // stream starts live instead of skipping everything up to that id.
    let mut fresh = SseReader::open(&url, Some("999999")).await;
    post_event(&base, &perf("p", "resume", 6.0)).await;
    let first = fresh.next(WAIT).await.expect("live events arrive");
    let event: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(event["payload"]["duration"], 6.0);
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_ingests_and_subscribes_on_one_socket() {
    let server = start(config()).await;
    let base = server.url();
    let ws_url = format!("ws://{}/api/ws", server.addr);
    let (mut matching, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let (mut other, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();

    let subscribe =
        |project: &str| json!({"op": "subscribe", "filters": {"projectId": project}, "ref": 1}).to_string();
    matching.send(Message::Text(subscribe("p1").into())).await.unwrap();
    other.send(Message::Text(subscribe("p9").into())).await.unwrap();
    let ack = read_json(&mut matching).await.unwrap();
    assert_eq!(ack, json!({"kind": "ack", "op": "subscribe", "ref": 1}));
    assert_eq!(read_json(&mut other).await.unwrap()["kind"], "ack");

    let ingest =
        json!({"op": "ingest", "ref": "batch-1", "events": [perf("p1", "s1", 7.0), {"source": "nope"}]});
    matching.send(Message::Text(ingest.to_string().into())).await.unwrap();
    let mut saw_ack = false;
    let mut saw_event = false;
    while !(saw_ack && saw_event) {
        let message = read_json(&mut matching).await.expect("ack and event arrive");
        match message["kind"].as_str().unwrap() {
            "ack" => {
                assert_eq!(message["op"], "ingest");
                assert_eq!(message["ref"], "batch-1");
                assert_eq!(message["accepted"], 1);
                assert_eq!(message["rejected"][0]["index"], 1);
                saw_ack = true;
            }
            "event" => {
                assert_eq!(message["data"]["projectId"], "p1");
                assert!(message["seq"].as_u64().is_some());
                saw_event = true;
            }
            other => panic!("unexpected {other}: {message}"),
        }
    }
    post_event(&base, &perf("p1", "s1", 8.0)).await;
    let from_http = read_json(&mut matching).await.unwrap();
    assert_eq!(from_http["data"]["payload"]["duration"], 8.0, "HTTP ingest reaches WebSocket subscribers");
    assert!(
        tokio::time::timeout(QUIET, read_json(&mut other)).await.is_err(),
        "the p9 subscriber gets nothing"
    );

    matching.send(Message::Text("{\"op\":\"dance\"}".into())).await.unwrap();
    let error = read_json(&mut matching).await.unwrap();
    assert_eq!(error["kind"], "error");
    assert!(error["error"].as_str().unwrap().contains("unknown op"));
    server.shutdown().await;
}

async fn read_json(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Option<Value> {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}
