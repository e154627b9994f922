//! The analytics endpoints against a real server.

mod common;

use common::{client, config, start};
use serde_json::{Value, json};

fn event(ts_ms: i64, op: &str, duration: f64) -> Value {
    json!({"source":"claude-cli","type":"performance","projectId":"p1","agentType":"worker","timestamp":ts_ms,
           "payload":{"operation":op,"duration":duration}})
}

#[tokio::test]
async fn anomalies_per_series_and_a_trend_with_forecast() {
    let server = start(config()).await;
    let base = server.url();
    let now = monitor_core::Timestamp::now().as_millis();
    let t0 = now - 3 * 3_600_000;
    // 120 steady Bash calls around 100 ms with one 5 s spike; Edit calls steady.
    let mut events = Vec::new();
    for i in 0..120i64 {
        let duration = if i == 100 { 5_000.0 } else { 100.0 + (i % 7) as f64 };
        events.push(event(t0 + i * 60_000, "tool:Bash", duration));
        events.push(event(t0 + i * 60_000 + 1, "tool:Edit", 40.0 + (i % 5) as f64));
    }
    let response = client().post(format!("{base}/api/events")).json(&events).send().await.unwrap();
    assert_eq!(response.status(), 202);

    let url = format!("{base}/api/analytics/anomalies?field=duration&start={}&end={}", t0 - 1, now + 1);
    let series: Value = client().get(&url).send().await.unwrap().json().await.unwrap();
    let series = series.as_array().unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    let bash = series.iter().find(|s| s["operation"] == "tool:Bash").unwrap();
    assert_eq!(bash["points"], 120);
    let anomalies = bash["anomalies"].as_array().unwrap();
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    assert_eq!(anomalies[0]["value"], 5000.0);
    assert_eq!(anomalies[0]["kind"], "spike");
    assert_eq!(anomalies[0]["method"], "robust");
    let edit = series.iter().find(|s| s["operation"] == "tool:Edit").unwrap();
    assert!(edit["anomalies"].as_array().unwrap().is_empty());

    // A steadily rising quality score: one point per 5 minutes, +0.01 each.
    let mut rising = Vec::new();
    for i in 0..24i64 {
        let ts = now - (24 - i) * 300_000;
        rising.push(json!({"source":"system","type":"quality","timestamp":ts,
                           "payload":{"metric":"test_pass_rate","score":0.5 + 0.01 * i as f64}}));
    }
    let response = client().post(format!("{base}/api/events")).json(&rising).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let trend: Value = client()
        .get(format!("{base}/api/analytics/trend?field=score&window=2h&aggregation=5m&type=quality"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(trend["direction"], "increasing", "{trend}");
    assert!((trend["slopePerStep"].as_f64().unwrap() - 0.01).abs() < 1e-9, "{trend}");
    assert!((trend["slopePerHour"].as_f64().unwrap() - 0.12).abs() < 1e-9);
    assert!((trend["rSquared"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(trend["forecast"].as_array().unwrap().len(), 5);

    let bad = client().get(format!("{base}/api/analytics/trend?stat=median")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let empty: Value = client()
        .get(format!("{base}/api/analytics/trend?field=duration&projectId=nobody"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty["insufficientData"], true);
    assert_eq!(empty["direction"], "flat");
    server.shutdown().await;
}
