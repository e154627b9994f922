//! OTLP/HTTP ingest against a real server on loopback: Claude-Code-like metric, log and
//! span exports in binary protobuf (built with the `opentelemetry-proto` types) and in
//! OTLP JSON (written out as the OTLP JSON mapping prescribes), read back through
//! `/api/metrics/query`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{client, config, start};
use monitor_core::Timestamp;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use prost::Message;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
const EMAIL: &str = "dev@example.com";

fn now_nanos() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap()
}

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..KeyValue::default() }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Any::StringValue(value.into()))
}

/// Claude Code's resource, with `OTEL_RESOURCE_ATTRIBUTES=team.id=platform`.
fn resource() -> Resource {
    Resource {
        attributes: vec![
            s("service.name", "claude-code"),
            s("service.version", "2.1.240"),
            s("os.type", "linux"),
            s("team.id", "platform"),
        ],
        ..Resource::default()
    }
}

/// The standard attributes Claude Code puts on every point and record.
fn standard(session: &str) -> Vec<KeyValue> {
    vec![
        s("session.id", session),
        s("user.account_uuid", "acct-1"),
        s("user.email", EMAIL),
        s("organization.id", "org-1"),
        s("terminal.type", "vscode"),
    ]
}

fn sum_point(session: &str, extra: Vec<KeyValue>, start: u64, time: u64, value: Number) -> NumberDataPoint {
    let mut attributes = standard(session);
    attributes.extend(extra);
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        ..NumberDataPoint::default()
    }
}

fn sum(name: &str, unit: &str, temporality: AggregationTemporality, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Metric::default()
    }
}

fn metrics_request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "com.anthropic.claude_code".into(),
                    version: "2.1.240".into(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

/// A delta export of one minute of a session, as Claude Code sends it by default.
fn claude_metrics(session: &str, start: u64, time: u64) -> ExportMetricsServiceRequest {
    let model = || s("model", "claude-sonnet-4-5");
    let delta = AggregationTemporality::Delta;
    metrics_request(vec![
        sum(
            "claude_code.session.count",
            "count",
            delta,
            vec![sum_point(session, vec![s("start_type", "fresh")], start, time, Number::AsInt(1))],
        ),
        sum(
            "claude_code.token.usage",
            "tokens",
            delta,
            vec![
                sum_point(session, vec![s("type", "input"), model()], start, time, Number::AsInt(1200)),
                sum_point(session, vec![s("type", "output"), model()], start, time, Number::AsInt(340)),
                sum_point(session, vec![s("type", "cacheRead"), model()], start, time, Number::AsInt(50_000)),
                sum_point(
                    session,
                    vec![
                        s("type", "input"),
                        model(),
                        s("query_source", "subagent"),
                        s("agent.name", "Explore"),
                    ],
                    start,
                    time,
                    Number::AsInt(800),
                ),
            ],
        ),
        sum(
            "claude_code.cost.usage",
            "USD",
            delta,
            vec![sum_point(session, vec![model()], start, time, Number::AsDouble(0.125))],
        ),
        sum(
            "claude_code.active_time.total",
            "s",
            delta,
            vec![sum_point(session, vec![s("type", "cli")], start, time, Number::AsDouble(12.5))],
        ),
    ])
}

/// The OTLP JSON form of [`claude_metrics`], written out by hand: camelCase keys,
/// 64-bit integers as decimal strings, enums as integers.
fn claude_metrics_json(session: &str, start: u64, time: u64) -> Value {
    let attrs = |extra: Value| {
        let mut list = json!([
            {"key": "session.id", "value": {"stringValue": session}},
            {"key": "user.account_uuid", "value": {"stringValue": "acct-1"}},
            {"key": "user.email", "value": {"stringValue": EMAIL}},
            {"key": "organization.id", "value": {"stringValue": "org-1"}},
            {"key": "terminal.type", "value": {"stringValue": "vscode"}}
        ]);
        list.as_array_mut().unwrap().extend(extra.as_array().unwrap().iter().cloned());
        list
    };
    let point = |extra: Value, value: (&str, Value)| {
        let mut p = json!({"attributes": attrs(extra), "startTimeUnixNano": start.to_string(),
                           "timeUnixNano": time.to_string()});
        p[value.0] = value.1;
        p
    };
    let model = json!({"key": "model", "value": {"stringValue": "claude-sonnet-4-5"}});
    let kind = |t: &str| json!({"key": "type", "value": {"stringValue": t}});
    let delta_sum = |name: &str, unit: &str, points: Value| {
        json!({"name": name, "unit": unit,
               "sum": {"aggregationTemporality": 1, "isMonotonic": true, "dataPoints": points}})
    };
    json!({"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "claude-code"}},
            {"key": "service.version", "value": {"stringValue": "2.1.240"}},
            {"key": "os.type", "value": {"stringValue": "linux"}},
            {"key": "team.id", "value": {"stringValue": "platform"}}
        ]},
        "scopeMetrics": [{
            "scope": {"name": "com.anthropic.claude_code", "version": "2.1.240"},
            "metrics": [
                delta_sum("claude_code.session.count", "count", json!([
                    point(json!([{"key": "start_type", "value": {"stringValue": "fresh"}}]), ("asInt", json!("1")))
                ])),
                delta_sum("claude_code.token.usage", "tokens", json!([
                    point(json!([kind("input"), model]), ("asInt", json!("1200"))),
                    point(json!([kind("output"), model]), ("asInt", json!("340"))),
                    point(json!([kind("cacheRead"), model]), ("asInt", json!("50000"))),
                    point(json!([kind("input"), model,
                                 {"key": "query_source", "value": {"stringValue": "subagent"}},
                                 {"key": "agent.name", "value": {"stringValue": "Explore"}}]),
                          ("asInt", json!(800)))
                ])),
                delta_sum("claude_code.cost.usage", "USD", json!([
                    point(json!([model]), ("asDouble", json!(0.125)))
                ])),
                delta_sum("claude_code.active_time.total", "s", json!([
                    point(json!([kind("cli")]), ("asDouble", json!("12.5")))
                ]))
            ]
        }]
    }]})
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into()))
    }
}

async fn post(url: &str, content_type: &str, body: Vec<u8>) -> Answer {
    post_with(url, &[("content-type", content_type)], body).await
}

async fn post_with(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut request = client().post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    Answer { status, content_type, body: response.bytes().await.unwrap().to_vec() }
}

async fn query(base: &str, params: &str) -> Value {
    let url = format!("{base}/api/metrics/query?start=0&cache=false&{params}");
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Raw events of a session, newest first.
async fn events(base: &str, session: &str) -> Vec<Value> {
    query(base, &format!("sessionId={session}&limit=1000")).await["data"].as_array().unwrap().clone()
}

/// Sum of `score` per session for a quality metric, summed over buckets.
async fn score_per_session(base: &str, metric: &str) -> BTreeMap<String, f64> {
    let answer =
        query(base, &format!("aggregation=1h&field=score&groupBy=sessionId&tag.metric={metric}")).await;
    let mut sums = BTreeMap::new();
    for point in answer["data"].as_array().unwrap() {
        let session = point["group"]["sessionId"].as_str().unwrap().to_owned();
        *sums.entry(session).or_insert(0.0) += point["sum"].as_f64().unwrap();
    }
    sums
}

fn find(events: &[Value], predicate: impl Fn(&Value) -> bool) -> &Value {
    events.iter().find(|e| predicate(e)).unwrap_or_else(|| panic!("no such event in {events:#?}"))
}

#[tokio::test]
async fn claude_code_metrics_in_both_encodings_are_queryable_per_session() {
    let server = start(config()).await;
    let base = server.url();
    let time = now_nanos();
    let start = time - 60_000_000_000;

    let answer =
        post(&format!("{base}/v1/metrics"), PROTOBUF, claude_metrics("sess-pb", start, time).encode_to_vec())
            .await;
    assert_eq!((answer.status, answer.content_type.as_str()), (200, PROTOBUF));
    let response = ExportMetricsServiceResponse::decode(answer.body.as_slice()).unwrap();
    assert_eq!(response.partial_success, None, "full success leaves partial_success unset");

    let body = claude_metrics_json("sess-json", start, time).to_string().into_bytes();
    let answer = post(&format!("{base}/v1/metrics"), JSON, body).await;
    assert_eq!((answer.status, answer.content_type.as_str(), answer.json()), (200, JSON, json!({})));

    let input = score_per_session(&base, "claude_code.token.usage.input").await;
    let expected: BTreeMap<String, f64> = [("sess-json".into(), 2000.0), ("sess-pb".into(), 2000.0)].into();
    assert_eq!(input, expected, "main agent 1200 + subagent 800 per session");
    let cost = score_per_session(&base, "claude_code.cost.usage").await;
    assert_eq!(cost, [("sess-json".into(), 0.125), ("sess-pb".into(), 0.125)].into());
    let active = score_per_session(&base, "claude_code.active_time.total.cli").await;
    assert_eq!(
        active,
        [("sess-json".into(), 12.5), ("sess-pb".into(), 12.5)].into(),
        "doubles sent as strings"
    );

    // All token types of one session, grouped by type through the `metric.name` tag.
    let by_type = query(
        &base,
        "aggregation=1d&field=score&groupBy=tag.type&tag.metric.name=claude_code.token.usage&sessionId=sess-pb",
    )
    .await;
    let mut types = BTreeMap::new();
    for point in by_type["data"].as_array().unwrap() {
        *types.entry(point["group"]["tag.type"].as_str().unwrap().to_owned()).or_insert(0.0) +=
            point["sum"].as_f64().unwrap();
    }
    assert_eq!(
        types,
        [("cacheRead".into(), 50_000.0), ("input".into(), 2000.0), ("output".into(), 340.0)].into()
    );

    for session in ["sess-pb", "sess-json"] {
        let stored = events(&base, session).await;
        assert_eq!(stored.len(), 7, "{session}: one event per data point");
        let subagent = find(&stored, |e| {
            e["payload"]["metric"] == "claude_code.token.usage.input" && e["agentType"] == "worker"
        });
        assert_eq!(subagent["payload"]["score"], 800.0);
        assert_eq!(subagent["tags"]["agent.name"], "Explore");
        let main = find(&stored, |e| {
            e["payload"]["metric"] == "claude_code.token.usage.input" && e["agentType"] == "manager"
        });
        assert_eq!(main["source"], "claude-cli");
        assert_eq!(main["type"], "quality");
        assert_eq!(main["payload"]["unit"], "tokens");
        for (key, value) in [
            ("model", "claude-sonnet-4-5"),
            ("type", "input"),
            ("user.account_uuid", "acct-1"),
            ("team.id", "platform"),
            ("service.name", "claude-code"),
        ] {
            assert_eq!(main["tags"][key], value, "{session}: tag {key}");
        }
        let expected = Timestamp::from_micros(i64::try_from(time / 1_000).unwrap()).to_rfc3339();
        assert_eq!(main["timestamp"], expected, "the point's time is the event's time");
        let text = serde_json::to_string(&stored).unwrap();
        assert!(
            !text.contains(EMAIL) && !text.contains("user.email"),
            "{session}: user.email stored: {text}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cumulative_sums_become_deltas_across_exports() {
    let server = start(config()).await;
    let base = server.url();
    let url = format!("{base}/v1/metrics");
    // Any OTLP request starts the receiver; series that begin after it count whole.
    let empty = ExportLogsServiceRequest::default().encode_to_vec();
    assert_eq!(post(&format!("{base}/v1/logs"), PROTOBUF, empty).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let begun = now_nanos();
    let before = begun - 3_600_000_000_000; // a series already running before the receiver
    let cumulative = AggregationTemporality::Cumulative;
    let export = |t: u64, fresh: i64, old: i64| {
        metrics_request(vec![sum(
            "claude_code.token.usage",
            "tokens",
            cumulative,
            vec![
                sum_point("sess-new", vec![s("type", "output")], begun, t, Number::AsInt(fresh)),
                sum_point("sess-old", vec![s("type", "output")], before, t, Number::AsInt(old)),
            ],
        )])
    };
    // Close together so that all are in the past when queried (the range ends now).
    let (t1, t2, t3) = (begun + 1_000, begun + 2_000, begun + 3_000);
    let answer = post(&url, PROTOBUF, export(t1, 100, 1000).encode_to_vec()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(ExportMetricsServiceResponse::decode(answer.body.as_slice()).unwrap().partial_success, None);
    assert_eq!(post(&url, PROTOBUF, export(t2, 250, 1300).encode_to_vec()).await.status, 200);
    // A retried export (same points again) adds nothing.
    assert_eq!(post(&url, PROTOBUF, export(t2, 250, 1300).encode_to_vec()).await.status, 200);

    // The third export comes as JSON, with the value as a JSON number.
    let json_export = json!({"resourceMetrics": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "claude-code"}},
            {"key": "service.version", "value": {"stringValue": "2.1.240"}},
            {"key": "os.type", "value": {"stringValue": "linux"}},
            {"key": "team.id", "value": {"stringValue": "platform"}}]},
        "scopeMetrics": [{"metrics": [{"name": "claude_code.token.usage", "unit": "tokens",
            "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": [{
                "attributes": [
                    {"key": "session.id", "value": {"stringValue": "sess-new"}},
                    {"key": "user.account_uuid", "value": {"stringValue": "acct-1"}},
                    {"key": "user.email", "value": {"stringValue": EMAIL}},
                    {"key": "organization.id", "value": {"stringValue": "org-1"}},
                    {"key": "terminal.type", "value": {"stringValue": "vscode"}},
                    {"key": "type", "value": {"stringValue": "output"}}],
                "startTimeUnixNano": begun.to_string(), "timeUnixNano": t3.to_string(), "asInt": 400}]}}]}]}]});
    let answer = post(&url, JSON, json_export.to_string().into_bytes()).await;
    assert_eq!((answer.status, answer.json()), (200, json!({})));

    let totals = score_per_session(&base, "claude_code.token.usage.output").await;
    assert_eq!(
        totals,
        [("sess-new".into(), 400.0), ("sess-old".into(), 300.0)].into(),
        "a new series counts whole (100 + 150 + 150); one begun before the receiver starts from its first point"
    );
    let new_events = events(&base, "sess-new").await;
    let scores: Vec<f64> = new_events.iter().rev().map(|e| e["payload"]["score"].as_f64().unwrap()).collect();
    assert_eq!(scores, vec![100.0, 150.0, 150.0]);
    assert!(new_events.iter().all(|e| e["payload"]["temporality"] == "cumulative"));
    server.shutdown().await;
}

fn record(session: &str, name: &str, time: u64, attributes: Vec<KeyValue>) -> LogRecord {
    let mut all = standard(session);
    all.push(s("event.name", name));
    all.push(s("event.timestamp", "2026-01-01T00:00:00.000Z"));
    all.push(kv("event.sequence", Any::IntValue(7)));
    all.push(s("prompt.id", "prompt-1"));
    all.extend(attributes);
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        body: Some(AnyValue { value: Some(Any::StringValue(format!("claude_code.{name}"))) }),
        attributes: all,
        ..LogRecord::default()
    }
}

fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource()),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "com.anthropic.claude_code.events".into(),
                    version: "2.1.240".into(),
                    ..InstrumentationScope::default()
                }),
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// One prompt's events as Claude Code logs them (types as seen on the wire: tokens as
/// ints, cost as double, `success` and sometimes `duration_ms` as strings).
fn claude_logs(session: &str, time: u64) -> ExportLogsServiceRequest {
    logs_request(vec![
        record(
            session,
            "user_prompt",
            time,
            vec![
                kv("prompt_length", Any::IntValue(42)),
                s("prompt", "please fix the bug, my key is hunter2"),
            ],
        ),
        record(
            session,
            "api_request",
            time + 1_000,
            vec![
                s("model", "claude-sonnet-4-5"),
                kv("cost_usd", Any::DoubleValue(0.0421)),
                kv("duration_ms", Any::IntValue(2300)),
                kv("input_tokens", Any::IntValue(1200)),
                kv("output_tokens", Any::IntValue(340)),
                kv("cache_read_tokens", Any::IntValue(50_000)),
                kv("cache_creation_tokens", Any::IntValue(0)),
                s("request_id", "req_1"),
                s("query_source", "main"),
            ],
        ),
        record(
            session,
            "tool_decision",
            time + 2_000,
            vec![
                s("tool_name", "Bash"),
                s("tool_use_id", "toolu_1"),
                s("decision", "accept"),
                s("source", "config"),
            ],
        ),
        record(
            session,
            "tool_result",
            time + 3_000,
            vec![
                s("tool_name", "Bash"),
                s("tool_use_id", "toolu_1"),
                s("success", "false"),
                s("duration_ms", "42"),
                s("error_type", "exit_code"),
                kv("tool_result_size_bytes", Any::IntValue(512)),
                s("tool_parameters", "{\"command\":\"cat ~/.ssh/id_rsa\"}"),
            ],
        ),
        record(
            session,
            "api_error",
            time + 4_000,
            vec![
                s("model", "claude-sonnet-4-5"),
                s("error", "Overloaded"),
                s("status_code", "529"),
                kv("duration_ms", Any::IntValue(900)),
                kv("attempt", Any::IntValue(2)),
            ],
        ),
        record(session, "plugin_loaded", time + 5_000, vec![s("plugin.name", "lint")]),
    ])
}

/// The OTLP JSON form of [`claude_logs`], written by hand.
fn claude_logs_json(session: &str, time: u64) -> Value {
    let string = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let int = |k: &str, v: i64| json!({"key": k, "value": {"intValue": v.to_string()}});
    let record = |name: &str, offset: u64, extra: Vec<Value>| {
        let mut attributes = vec![
            string("session.id", session),
            string("user.account_uuid", "acct-1"),
            string("user.email", EMAIL),
            string("organization.id", "org-1"),
            string("terminal.type", "vscode"),
            string("event.name", name),
            string("event.timestamp", "2026-01-01T00:00:00.000Z"),
            int("event.sequence", 7),
            string("prompt.id", "prompt-1"),
        ];
        attributes.extend(extra);
        json!({"timeUnixNano": (time + offset).to_string(), "observedTimeUnixNano": (time + offset).to_string(),
               "body": {"stringValue": format!("claude_code.{name}")}, "attributes": attributes,
               "traceId": "", "spanId": ""})
    };
    json!({"resourceLogs": [{
        "resource": {"attributes": [string("service.name", "claude-code"), string("service.version", "2.1.240"),
                                    string("os.type", "linux"), string("team.id", "platform")]},
        "scopeLogs": [{
            "scope": {"name": "com.anthropic.claude_code.events", "version": "2.1.240"},
            "logRecords": [
                record("user_prompt", 0, vec![int("prompt_length", 42),
                    string("prompt", "please fix the bug, my key is hunter2")]),
                record("api_request", 1_000, vec![string("model", "claude-sonnet-4-5"),
                    json!({"key": "cost_usd", "value": {"doubleValue": 0.0421}}),
                    int("duration_ms", 2300), int("input_tokens", 1200), int("output_tokens", 340),
                    int("cache_read_tokens", 50_000), int("cache_creation_tokens", 0),
                    string("request_id", "req_1"), string("query_source", "main")]),
                record("tool_decision", 2_000, vec![string("tool_name", "Bash"), string("tool_use_id", "toolu_1"),
                    string("decision", "accept"), string("source", "config")]),
                record("tool_result", 3_000, vec![string("tool_name", "Bash"), string("tool_use_id", "toolu_1"),
                    string("success", "false"), string("duration_ms", "42"), string("error_type", "exit_code"),
                    int("tool_result_size_bytes", 512),
                    string("tool_parameters", "{\"command\":\"cat ~/.ssh/id_rsa\"}")]),
                record("api_error", 4_000, vec![string("model", "claude-sonnet-4-5"), string("error", "Overloaded"),
                    string("status_code", "529"), int("duration_ms", 900), int("attempt", 2)]),
                record("plugin_loaded", 5_000, vec![string("plugin.name", "lint")])
            ]
        }]
    }]})
}

fn check_logs(session: &str, stored: &[Value]) {
    assert_eq!(stored.len(), 6, "{session}: one event per record: {stored:#?}");
    let request =
        find(stored, |e| e["payload"]["operation"] == "llm:claude-sonnet-4-5" && e["type"] == "performance");
    assert_eq!(request["payload"]["duration"], 2300.0);
    assert_eq!(request["payload"]["success"], true);
    assert_eq!(request["payload"]["costUsd"], 0.0421);
    assert_eq!(request["payload"]["inputTokens"], 1200.0);
    assert_eq!(request["payload"]["outputTokens"], 340.0);
    assert_eq!(request["payload"]["cacheReadTokens"], 50_000.0);
    assert_eq!(request["payload"]["cacheCreationTokens"], 0.0);
    assert_eq!(request["tags"]["request_id"], "req_1");
    assert_eq!(request["agentType"], "manager");
    assert!(request["tags"].get("cost_usd").is_none(), "numbers mapped to the payload are not tags");

    let tool = find(stored, |e| e["payload"]["operation"] == "tool:Bash");
    assert_eq!(tool["type"], "performance");
    assert_eq!(tool["payload"]["duration"], 42.0, "duration_ms sent as a string");
    assert_eq!(tool["payload"]["success"], false, "success sent as the string \"false\"");
    assert_eq!(tool["payload"]["toolResultSizeBytes"], 512.0);
    assert_eq!(tool["tags"]["tool_use_id"], "toolu_1");
    assert_eq!(tool["tags"]["error_type"], "exit_code");

    let error = find(stored, |e| e["type"] == "error");
    assert_eq!(error["payload"]["operation"], "llm:claude-sonnet-4-5");
    assert_eq!(error["payload"]["message"], "Overloaded");
    assert_eq!(error["payload"]["code"], "529");
    assert_eq!(error["payload"]["attempt"], 2.0);

    let decision = find(stored, |e| e["payload"]["metric"] == "claude_code.tool_decision");
    assert_eq!(decision["payload"]["score"], 1.0);
    let prompt = find(stored, |e| e["payload"]["metric"] == "claude_code.user_prompt.length");
    assert_eq!(prompt["payload"]["score"], 42.0);
    let plugin = find(stored, |e| e["payload"]["metric"] == "claude_code.plugin_loaded");
    assert_eq!(plugin["tags"]["plugin.name"], "lint");

    for event in stored {
        assert_eq!(event["source"], "claude-cli");
        assert_eq!(event["sessionId"], session);
        assert_eq!(event["tags"]["prompt.id"], "prompt-1", "every event joins on prompt.id");
        assert_eq!(event["tags"]["team.id"], "platform");
    }
    let text = serde_json::to_string(stored).unwrap();
    for secret in [EMAIL, "user.email", "hunter2", "id_rsa", "event.sequence"] {
        assert!(!text.contains(secret), "{session}: `{secret}` stored: {text}");
    }
}

#[tokio::test]
async fn claude_code_events_in_both_encodings_map_and_join() {
    let server = start(config()).await;
    let base = server.url();
    let url = format!("{base}/v1/logs");
    let time = now_nanos();

    let answer = post(&url, PROTOBUF, claude_logs("sess-pb", time).encode_to_vec()).await;
    assert_eq!((answer.status, answer.content_type.as_str()), (200, PROTOBUF));
    assert_eq!(ExportLogsServiceResponse::decode(answer.body.as_slice()).unwrap().partial_success, None);
    let answer = post(&url, JSON, claude_logs_json("sess-json", time).to_string().into_bytes()).await;
    assert_eq!((answer.status, answer.content_type.as_str(), answer.json()), (200, JSON, json!({})));

    let pb = events(&base, "sess-pb").await;
    check_logs("sess-pb", &pb);
    let js = events(&base, "sess-json").await;
    check_logs("sess-json", &js);

    // The tool call joins across the decision and the result on tool_use_id.
    let joined = query(&base, "tag.tool_use_id=toolu_1&sessionId=sess-pb").await;
    let mut kinds: Vec<&str> =
        joined["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, vec!["performance", "quality"]);
    // Cost per session from the api_request events (an extra payload field).
    let cost = query(&base, "aggregation=1h&field=costUsd&groupBy=sessionId&type=performance").await;
    let sessions: Vec<(&str, f64)> = cost["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["group"]["sessionId"].as_str().unwrap(), p["sum"].as_f64().unwrap()))
        .collect();
    assert_eq!(sessions, vec![("sess-json", 0.0421), ("sess-pb", 0.0421)]);

    // An exporter retrying the same export stores nothing twice.
    let answer = post(&url, PROTOBUF, claude_logs("sess-pb", time).encode_to_vec()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(events(&base, "sess-pb").await.len(), 6);
    server.shutdown().await;
}

#[tokio::test]
async fn unmappable_items_get_partial_success() {
    let server = start(config()).await;
    let base = server.url();
    let time = now_nanos();

    let mut plain = record("sess-p", "x", time, vec![]);
    plain.attributes.retain(|kv| kv.key != "event.name");
    plain.body = Some(AnyValue { value: Some(Any::StringValue("GET /index.html 200".into())) });
    let ancient = record("sess-p", "api_request", 1_000_000_000, vec![]);
    let good = record("sess-p", "api_request", time, vec![s("model", "m")]);
    let request = logs_request(vec![plain, good, ancient]);
    let answer = post(&format!("{base}/v1/logs"), PROTOBUF, request.encode_to_vec()).await;
    assert_eq!(answer.status, 200);
    let partial = ExportLogsServiceResponse::decode(answer.body.as_slice()).unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 2);
    assert!(partial.error_message.starts_with("2 of 3 log records rejected"), "{}", partial.error_message);
    assert!(partial.error_message.contains("not an event"), "{}", partial.error_message);
    assert!(partial.error_message.contains("before 2000-01-01"), "{}", partial.error_message);
    assert_eq!(events(&base, "sess-p").await.len(), 1, "the good record is stored");

    // JSON: a point without a value, and one whose double is "NaN", next to a good one.
    let metrics = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "claude_code.commit.count", "sum": {"aggregationTemporality": 1, "isMonotonic": true,
         "dataPoints": [
            {"attributes": [{"key": "session.id", "value": {"stringValue": "sess-m"}}],
             "timeUnixNano": time.to_string(), "asInt": "2"},
            {"attributes": [{"key": "session.id", "value": {"stringValue": "sess-m"}}],
             "timeUnixNano": time.to_string()},
            {"attributes": [{"key": "session.id", "value": {"stringValue": "sess-m"}}],
             "timeUnixNano": time.to_string(), "asDouble": "NaN"}]}}]}]}]});
    let answer = post(&format!("{base}/v1/metrics"), JSON, metrics.to_string().into_bytes()).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["partialSuccess"]["rejectedDataPoints"], "2", "int64 as a decimal string: {body}");
    assert!(body["partialSuccess"]["errorMessage"].as_str().unwrap().contains("has no value"), "{body}");
    let stored = events(&base, "sess-m").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["payload"]["score"], 2.0);
    assert_eq!(stored[0]["projectId"], Value::Null, "no project attribute, no project");
    server.shutdown().await;
}

#[tokio::test]
async fn spans_become_performance_events() {
    let server = start(config()).await;
    let base = server.url();
    let time = now_nanos();
    let span =
        |name: &str, span_id: u8, parent: Option<u8>, duration_ns: u64, error: bool, attrs: Vec<KeyValue>| {
            let mut attributes = standard("sess-t");
            attributes.extend(attrs);
            Span {
                trace_id: vec![0xab; 16],
                span_id: vec![span_id; 8],
                parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
                name: name.into(),
                kind: 1,
                start_time_unix_nano: time,
                end_time_unix_nano: time + duration_ns,
                attributes,
                status: error
                    .then(|| Status { message: "exit 1".into(), code: status::StatusCode::Error as i32 }),
                ..Span::default()
            }
        };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span("claude_code.interaction", 1, None, 9_000_000_000, false, vec![]),
                    span(
                        "claude_code.llm_request",
                        2,
                        Some(1),
                        2_500_000_000,
                        false,
                        vec![kv("input_tokens", Any::IntValue(10)), s("ttft_ms", "300")],
                    ),
                    span(
                        "claude_code.tool",
                        3,
                        Some(1),
                        42_000_000,
                        true,
                        vec![
                            s("tool_name", "Bash"),
                            s("tool_use_id", "toolu_9"),
                            s("parent_agent_id", "agent-1"),
                        ],
                    ),
                    Span { name: "broken".into(), ..Span::default() },
                ],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let answer = post(&format!("{base}/v1/traces"), PROTOBUF, request.encode_to_vec()).await;
    assert_eq!(answer.status, 200);
    let partial =
        ExportTraceServiceResponse::decode(answer.body.as_slice()).unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);

    let stored = events(&base, "sess-t").await;
    assert_eq!(stored.len(), 3);
    let llm = find(&stored, |e| e["payload"]["operation"] == "claude_code.llm_request");
    assert_eq!(llm["payload"]["duration"], 2500.0);
    assert_eq!(llm["payload"]["inputTokens"], 10.0);
    assert_eq!(llm["payload"]["ttftMs"], 300.0);
    assert_eq!(llm["tags"]["trace_id"], "ab".repeat(16));
    assert_eq!(llm["tags"]["parent_span_id"], "01".repeat(8));
    let tool = find(&stored, |e| e["payload"]["operation"] == "claude_code.tool");
    assert_eq!(
        (tool["payload"]["duration"].as_f64(), tool["payload"]["success"].as_bool()),
        (Some(42.0), Some(false))
    );
    assert_eq!(tool["tags"]["tool_use_id"], "toolu_9");
    assert_eq!(tool["agentType"], "worker");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_answered_as_the_spec_says() {
    let mut cfg = config();
    cfg.http.max_body_bytes = 64 * 1024;
    let server = start(cfg).await;
    let base = server.url();
    let metrics = format!("{base}/v1/metrics");

    // Garbage protobuf: 400 with a google.rpc.Status in protobuf.
    let answer = post(&metrics, PROTOBUF, vec![0xff, 0xff, 0xff, 0x01, 0x02]).await;
    assert_eq!((answer.status, answer.content_type.as_str()), (400, PROTOBUF));
    let message = status_message(&answer.body);
    assert!(message.starts_with("invalid OTLP protobuf"), "{message}");

    // Invalid JSON and JSON of the wrong shape: 400 with a JSON Status.
    let answer = post(&format!("{base}/v1/logs"), JSON, b"{\"resourceLogs\":".to_vec()).await;
    assert_eq!((answer.status, answer.content_type.as_str()), (400, JSON));
    assert!(answer.json()["message"].as_str().unwrap().starts_with("invalid JSON"), "{:?}", answer.json());
    let answer = post(&format!("{base}/v1/logs"), JSON, b"{\"resourceLogs\":7}".to_vec()).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["message"].as_str().unwrap().starts_with("invalid OTLP JSON"));

    // Wrong or missing content type: 415.
    for headers in [vec![("content-type", "text/plain")], vec![]] {
        let answer = post_with(&metrics, &headers, b"{}".to_vec()).await;
        assert_eq!(answer.status, 415);
        assert!(answer.json()["message"].as_str().unwrap().contains("application/x-protobuf"));
    }
    // An unsupported compression: 415; gzip works.
    let body = claude_metrics("sess-gz", now_nanos() - 1_000, now_nanos()).encode_to_vec();
    let answer =
        post_with(&metrics, &[("content-type", PROTOBUF), ("content-encoding", "br")], body.clone()).await;
    assert_eq!(answer.status, 415);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let answer = post_with(
        &metrics,
        &[("content-type", PROTOBUF), ("content-encoding", "gzip")],
        gz.finish().unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(events(&base, "sess-gz").await.len(), 7);

    // Over the body limit, also when only the decompressed body is: 413.
    let big = vec![b' '; 65 * 1024];
    assert_eq!(post(&metrics, JSON, big.clone()).await.status, 413);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&big).unwrap();
    let small = gz.finish().unwrap();
    assert!(small.len() < 1024);
    let answer = post_with(&metrics, &[("content-type", JSON), ("content-encoding", "gzip")], small).await;
    assert_eq!(answer.status, 413);

    // An empty export is a success.
    let answer = post(&metrics, JSON, b"{}".to_vec()).await;
    assert_eq!((answer.status, answer.json()), (200, json!({})));
    server.shutdown().await;
}

/// The `message` of a protobuf `google.rpc.Status` (field 2).
fn status_message(body: &[u8]) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    RpcStatus::decode(body).unwrap().message
}

#[tokio::test]
async fn api_keys_guard_otlp_and_scope_projects() {
    use monitor_server::auth::{AuthConfig, KeyConfig, RateLimits, Role, hash_key};
    const WRITER_A: &str = "otlp-writer-a-0123456789";
    const READER: &str = "otlp-reader-0123456789";
    let key = |id: &str, raw: &str, role: Role| KeyConfig {
        id: id.into(),
        hash: hash_key(raw),
        role,
        projects: vec!["proj-a".into()],
        expires_at: None,
        tags: [("key".to_owned(), id.to_owned())].into(),
    };
    let mut cfg = config();
    cfg.auth = AuthConfig {
        keys: vec![key("writer-a", WRITER_A, Role::Writer), key("reader", READER, Role::Reader)],
        rate_limits: RateLimits::default(),
    };
    cfg.data_dir = std::env::temp_dir().join(format!("monitor-otlp-auth-{}", std::process::id()));
    let server = start(cfg).await;
    let url = format!("{}/v1/logs", server.url());
    let export = |project: &str| {
        let mut request = claude_logs("sess-k", now_nanos());
        let resource = request.resource_logs[0].resource.as_mut().unwrap();
        resource.attributes.push(s("project.id", project));
        request.encode_to_vec()
    };
    let bearer = |k: &str| format!("Bearer {k}");

    assert_eq!(post(&url, PROTOBUF, export("proj-a")).await.status, 401, "no key");
    let reader = bearer(READER);
    let answer =
        post_with(&url, &[("content-type", PROTOBUF), ("authorization", &reader)], export("proj-a")).await;
    assert_eq!(answer.status, 403, "a reader may not write");
    let writer = bearer(WRITER_A);
    let answer =
        post_with(&url, &[("content-type", PROTOBUF), ("authorization", &writer)], export("proj-b")).await;
    assert_eq!(answer.status, 403, "another project's events");
    assert!(status_message(&answer.body).contains("may not write"));
    let answer =
        post_with(&url, &[("content-type", PROTOBUF), ("authorization", &writer)], export("proj-a")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(ExportLogsServiceResponse::decode(answer.body.as_slice()).unwrap().partial_success, None);

    let response = client()
        .get(format!("{}/api/metrics/query?start=0&sessionId=sess-k&limit=100", server.url()))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    let stored: Value = response.json().await.unwrap();
    let stored = stored["data"].as_array().unwrap();
    assert_eq!(stored.len(), 6);
    assert!(stored.iter().all(|e| e["projectId"] == "proj-a" && e["tags"]["key"] == "writer-a"));
    server.shutdown().await;
}
