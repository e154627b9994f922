//! Channels against real receivers on loopback: the exact Alertmanager v4 webhook body,
//! the exact Slack message (and its 429 handling), the exact e-mail, and `allSettled`
//! delivery where a slow or failing channel holds up nobody.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use monitor_alerts::AlertsConfig;
use monitor_core::Timestamp;
use monitor_core::alert::fingerprint;
use serde_json::json;
use tokio::sync::Semaphore;

const RULE: &str = r#"{"id":"r-42","name":"ToolLatencyHigh","severity":"high","threshold":2000,
    "condition":{"kind":"threshold","field":"duration","filters":{"type":"performance"},"groupBy":["projectId","sessionId"]},
    "labels":{"team":"agents"},
    "annotations":{"summary":"tool latency above {{ $threshold }} ms",
                   "description":"{{ $field }} = {{ $value }} ms (threshold {{ $threshold }} ms)"},
    "channels":CHANNELS}"#;

fn rule_with(channels: serde_json::Value) -> monitor_alerts::AlertRule {
    rule(&RULE.replace("CHANNELS", &channels.to_string()))
}

fn expected_labels() -> BTreeMap<String, String> {
    [
        ("alertname", "ToolLatencyHigh"),
        ("projectId", "p1"),
        ("sessionId", "s-7"),
        ("severity", "high"),
        ("team", "agents"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[tokio::test]
async fn webhook_posts_exactly_the_alertmanager_v4_body() {
    let hook = Hook::start().await;
    let r = rule_with(json!([{"type":"webhook","config":{
        "url": hook.url("/alerts"), "receiver": "agents-oncall", "headers": {"Authorization": "Bearer t0ken"}}}]));
    let h = Harness::new(&[r]).await;
    h.send(perf("tool:Bash", 4210.0, "s-7", at(1))).await;
    h.send(perf("tool:Bash", 300.0, "s-7", at(5))).await;
    let got = hook.wait_for(2).await;
    let fp = fingerprint("r-42", &expected_labels());
    let labels = json!({"alertname":"ToolLatencyHigh","projectId":"p1","sessionId":"s-7","severity":"high","team":"agents"});
    let annotations = json!({"summary":"tool latency above 2000 ms","description":"duration = 4210 ms (threshold 2000 ms)"});
    let body = |status: &str, ends_at: &str| {
        json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"ToolLatencyHigh\", projectId=\"p1\", sessionId=\"s-7\"}",
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "agents-oncall",
            "groupLabels": {"alertname": "ToolLatencyHigh", "projectId": "p1", "sessionId": "s-7"},
            "commonLabels": labels,
            "commonAnnotations": annotations,
            "externalURL": "http://monitor.test:7070",
            "alerts": [{
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2026-11-29T00:00:01.000Z",
                "endsAt": ends_at,
                "generatorURL": "http://monitor.test:7070/api/alerts/rules/r-42",
                "fingerprint": fp,
            }]
        })
    };
    assert_eq!(got[0].path, "/alerts");
    assert_eq!(got[0].body, body("firing", "0001-01-01T00:00:00Z"));
    assert_eq!(got[1].body, body("resolved", "2026-11-29T00:00:05.000Z"));
    assert_eq!(got[0].headers["authorization"], "Bearer t0ken");
    assert_eq!(
        got[0].headers["idempotency-key"].to_str().unwrap(),
        format!("{fp}:{}:firing", at(1).as_micros())
    );
    assert_eq!(
        got[1].headers["idempotency-key"].to_str().unwrap(),
        format!("{fp}:{}:resolved", at(1).as_micros())
    );
    h.engine.shutdown().await;
}

#[tokio::test]
async fn slack_gets_the_severity_coloured_message_and_no_resolve_by_default() {
    let slack = Hook::start().await;
    let r = rule_with(json!([{"type":"slack","config":{"url": slack.url("/services/T0/B0/x")}}]));
    let h = Harness::new(&[r]).await;
    h.send(perf("tool:Bash", 4210.0, "s-7", at(1))).await;
    h.send(perf("tool:Bash", 300.0, "s-7", at(5))).await;
    h.engine.wait_idle().await;
    let got = slack.wait_for(1).await;
    assert_eq!(got.len(), 1, "Slack's sendResolved defaults to false, as Alertmanager's");
    let expected = json!({
        "text": "[FIRING] ToolLatencyHigh (high) — duration > 2000 · value 4210 · project p1 · session s-7",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "FIRING · ToolLatencyHigh"}}],
        "attachments": [{
            "color": "#F2711C",
            "fallback": "[FIRING] ToolLatencyHigh (high) duration > 2000 · value 4210",
            "blocks": [
                {"type": "section",
                 "text": {"type": "mrkdwn", "text": "*tool latency above 2000 ms*\nduration = 4210 ms (threshold 2000 ms)"},
                 "fields": [
                     {"type": "mrkdwn", "text": "*Severity*\nhigh"},
                     {"type": "mrkdwn", "text": "*Rule*\n`r-42` ToolLatencyHigh"},
                     {"type": "mrkdwn", "text": "*Value / threshold*\n4210 / 2000"},
                     {"type": "mrkdwn", "text": "*Scope*\nproject p1 · session s-7"}
                 ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text":
                    "started 2026-11-29T00:00:01.000Z · <http://monitor.test:7070/api/alerts/rules/r-42|rule> · <http://monitor.test:7070/api/alerts|active alerts> · <http://monitor.test:7070/api/metrics/query?sessionId=s-7|session events>"}]}
            ]
        }]
    });
    assert_eq!(got[0].body, expected);
    h.engine.shutdown().await;
}

#[tokio::test]
async fn slack_429_retry_after_is_honoured_and_every_attempt_recorded() {
    let slack = Hook::start_with(200, vec![Reply { status: 429, retry_after: Some(1) }], None).await;
    let r = rule_with(json!([{"type":"slack","config":{"url": slack.url("/s"), "sendResolved": true}}]));
    let h = Harness::new(&[r]).await;
    h.send(perf("tool:Bash", 4210.0, "s-7", at(1))).await;
    let got = slack.wait_for(2).await;
    // Backoff alone would wait 20 ms; Slack asked for 1 s.
    assert!(got[1].at.duration_since(got[0].at) >= std::time::Duration::from_secs(1));
    assert_eq!(got[0].body, got[1].body);
    h.engine.wait_idle().await;
    let log = h.engine.notifications(Timestamp::MIN, Timestamp::MAX, 10).await.unwrap();
    let attempts: Vec<_> = log
        .iter()
        .map(|r| {
            (r["attempt"].as_u64().unwrap(), r["outcome"].as_str().unwrap(), r["detail"].as_str().unwrap())
        })
        .collect();
    assert_eq!(attempts, [(2, "delivered", "http 200"), (1, "retrying", "http 429 too many requests")]);
    assert_eq!(log[0]["channel"], "slack");
    assert_eq!(log[0]["status"], "firing");
    h.engine.shutdown().await;
}

#[tokio::test]
async fn email_goes_through_a_real_smtp_server() {
    let sink = SmtpSink::start().await;
    let r = rule_with(
        json!([{"type":"email","config":{"to": ["oncall@example.com", "Lead <lead@example.com>"]}}]),
    );
    let config = AlertsConfig { smtp: sink.config(), ..test_config() };
    let h = Harness::with_config(&[r], config).await;
    h.send(perf("tool:Bash", 4210.0, "s-7", at(1))).await;
    h.send(perf("tool:Bash", 300.0, "s-7", at(5))).await;
    let mails = sink.wait_for(2).await;
    let mail = &mails[0];
    assert_eq!(mail.from, "<alerts@monitor.test>");
    assert_eq!(mail.to, ["<oncall@example.com>", "<lead@example.com>"]);
    let text = mail.data.replace("\r\n", "\n");
    let (headers, body) = text.split_once("\n\n").unwrap();
    let headers: Vec<&str> = headers.lines().collect();
    for expected in [
        "From: agent-monitor <alerts@monitor.test>",
        "To: oncall@example.com, Lead <lead@example.com>",
        "Subject: [FIRING] ToolLatencyHigh (high): tool latency above 2000 ms",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
    ] {
        assert!(headers.contains(&expected), "missing `{expected}` in {headers:?}");
    }
    let fp = fingerprint("r-42", &expected_labels());
    let expected_body = format!(
        "FIRING: ToolLatencyHigh

tool latency above 2000 ms
duration = 4210 ms (threshold 2000 ms)

Severity:  high
Rule:      r-42 (ToolLatencyHigh)
Condition: duration > 2000
Value:     4210 (threshold 2000)
Scope:     project p1, session s-7
Started:   2026-11-29T00:00:01.000Z
Labels:    alertname=ToolLatencyHigh, projectId=p1, sessionId=s-7, severity=high, team=agents

Rule URL:      http://monitor.test:7070/api/alerts/rules/r-42
Active alerts: http://monitor.test:7070/api/alerts
Fingerprint:   {fp}
"
    );
    assert_eq!(body, expected_body);
    let resolved = mails[1].data.replace("\r\n", "\n");
    assert!(
        resolved.contains("Subject: [RESOLVED] ToolLatencyHigh (high): tool latency above 2000 ms\n"),
        "{resolved}"
    );
    assert!(resolved.contains("\nValue:     300 (threshold 2000)\n"), "{resolved}");
    assert!(resolved.contains("\nResolved:  2026-11-29T00:00:05.000Z\n"), "{resolved}");
    h.engine.shutdown().await;
}

#[tokio::test]
async fn a_slow_or_failing_channel_never_holds_up_the_others() {
    let gate = Arc::new(Semaphore::new(0));
    let slow = Hook::start_with(200, Vec::new(), Some(gate.clone())).await;
    let failing = Hook::start_with(500, Vec::new(), None).await;
    let healthy = Hook::start().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}/nobody")
    };
    let sink = SmtpSink::start().await;
    let r = rule_with(json!([
        {"type":"webhook","config":{"url": slow.url("/slow")}},
        {"type":"webhook","config":{"url": failing.url("/failing")}},
        {"type":"webhook","config":{"url": dead}},
        {"type":"webhook","config":{"url": healthy.url("/healthy")}, "enabled": true},
        {"type":"webhook","config":{"url": healthy.url("/disabled")}, "enabled": false},
        {"type":"email","config":{"to": "oncall@example.com"}},
        {"type":"dashboard"}
    ]));
    let config = AlertsConfig { smtp: sink.config(), ..test_config() };
    let h = Harness::with_config(&[r], config).await;
    h.send(perf("tool:Bash", 4210.0, "s-7", at(1))).await;

    // The slow receiver still holds its request: everyone else is done regardless.
    assert_eq!(healthy.wait_for(1).await[0].path, "/healthy");
    assert_eq!(sink.wait_for(1).await.len(), 1);
    assert_eq!(failing.wait_for(3).await.len(), 3, "three attempts, then it gives up");
    assert_eq!(slow.wait_for(1).await.len(), 1);
    gate.add_permits(100);
    h.engine.wait_idle().await;
    assert_eq!(healthy.requests().len(), 1, "the disabled channel got nothing");

    let log = h.engine.notifications(Timestamp::MIN, Timestamp::MAX, 100).await.unwrap();
    let mut per_channel: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for record in log.iter().rev() {
        per_channel
            .entry(record["channelIndex"].as_u64().unwrap())
            .or_default()
            .push(record["outcome"].as_str().unwrap().to_owned());
    }
    let expected: BTreeMap<u64, Vec<String>> = [
        (0, vec!["delivered"]),
        (1, vec!["retrying", "retrying", "gave_up"]),
        (2, vec!["retrying", "retrying", "gave_up"]),
        (3, vec!["delivered"]),
        (5, vec!["delivered"]),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(per_channel, expected);
    let dead_detail =
        log.iter().find(|r| r["channelIndex"] == 2).unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(dead_detail.starts_with("connect error"), "{dead_detail}");
    assert!(h.store.load_state(monitor_alerts::engine::OUTBOX_NAMESPACE).await.unwrap().is_empty());
    h.engine.shutdown().await;
}
