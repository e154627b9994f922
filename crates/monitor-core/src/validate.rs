//! Parsing and validation of incoming events, with errors that name the field at fault.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{
    AgentType, CoordinationPayload, ErrorPayload, EventType, Extra, MetricEvent, Payload, PerformancePayload,
    QualityPayload, Source, Tags,
};
use crate::time::Timestamp;

/// An event that failed parsing or validation: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The offending field as a dotted path (`payload.duration`, `tags.host`), or `event`.
    pub field: String,
    /// What is wrong with it, in lowercase words.
    pub reason: String,
}

impl ValidationError {
    /// An error for `field` with `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError { field: field.into(), reason: reason.into() }
    }
}

/// Size limits applied to every event; generous for agents, tight enough to stop abuse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Limits {
    /// Longest id, project, session, operation or other short string, in bytes.
    pub max_name_len: usize,
    /// Longest free text (error message, extra string values), in bytes.
    pub max_text_len: usize,
    /// Most tags on one event.
    pub max_tags: usize,
    /// Longest tag key, in bytes.
    pub max_tag_key_len: usize,
    /// Longest tag value, in bytes.
    pub max_tag_value_len: usize,
    /// Most unknown payload fields kept on one event.
    pub max_extra_fields: usize,
    /// Deepest nesting of an unknown payload field's value.
    pub max_depth: usize,
    /// How far ahead of server time a timestamp may be, in seconds.
    pub max_future_secs: i64,
}

impl Limits {
    /// The defaults: 256-byte names, 16 KiB text, 64 tags, depth 8, 1 day of clock skew.
    pub const fn new() -> Self {
        Limits {
            max_name_len: 256,
            max_text_len: 16 * 1024,
            max_tags: 64,
            max_tag_key_len: 128,
            max_tag_value_len: 1024,
            max_extra_fields: 64,
            max_depth: 8,
            max_future_secs: 86_400,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

/// Events before this time are refused as absurd (2000-01-01T00:00:00Z).
pub const EARLIEST_TIMESTAMP: Timestamp = Timestamp(946_684_800_000_000);

type VResult<T> = Result<T, ValidationError>;

/// Parses one event from JSON bytes (shape only; see [`validate`] for the rules).
///
/// Well-formed events take a typed fast path that builds no JSON tree for the envelope;
/// anything the fast path does not accept is parsed again by [`event_from_value`], which
/// either accepts it (e.g. numeric tag values) or names the field at fault.
pub fn event_from_slice(bytes: &[u8]) -> VResult<MetricEvent> {
    if let Ok(wire) = serde_json::from_slice::<WireEvent>(bytes)
        && let Ok(event) = wire.into_event()
    {
        return Ok(event);
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ValidationError::new("event", format!("invalid JSON: {e}")))?;
    event_from_value(value)
}

/// The envelope of a well-formed event, deserialized without a JSON tree.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireEvent {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    timestamp: Option<Timestamp>,
    source: Source,
    #[serde(rename = "type")]
    kind: EventType,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    agent_type: Option<AgentType>,
    payload: Map<String, Value>,
    #[serde(default)]
    tags: Option<Tags>,
    #[serde(default, rename = "ingestedAt")]
    _ingested_at: serde::de::IgnoredAny,
}

impl WireEvent {
    fn into_event(self) -> VResult<MetricEvent> {
        Ok(MetricEvent {
            id: self.id,
            timestamp: self.timestamp,
            source: self.source,
            project_id: self.project_id,
            session_id: self.session_id,
            agent_type: self.agent_type,
            payload: payload_from_map(self.kind, self.payload)?,
            tags: self.tags.unwrap_or_default(),
        })
    }
}

/// Parses one event from a JSON value (shape only; see [`validate`] for the rules).
pub fn event_from_value(value: Value) -> VResult<MetricEvent> {
    let Value::Object(mut object) = value else {
        return Err(ValidationError::new("event", format!("expected an object, got {}", kind(&value))));
    };
    let event_type: EventType = required_enum(&mut object, "type", "type")?;
    let source: Source = required_enum(&mut object, "source", "source")?;
    let id = optional_string(&mut object, "id", "id")?;
    let timestamp = match object.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            Timestamp::parse(&text)
                .map_err(|e| ValidationError::new("timestamp", format!("`{text}` is {e}")))?,
        ),
        Some(Value::Number(n)) => {
            let millis = n.as_f64().unwrap_or(f64::NAN);
            Some(
                Timestamp::from_millis_f64(millis)
                    .map_err(|e| ValidationError::new("timestamp", e.to_string()))?,
            )
        }
        Some(other) => {
            return Err(ValidationError::new(
                "timestamp",
                format!("expected an RFC 3339 string or epoch milliseconds, got {}", kind(&other)),
            ));
        }
    };
    let project_id = optional_string(&mut object, "projectId", "projectId")?;
    let session_id = optional_string(&mut object, "sessionId", "sessionId")?;
    let agent_type: Option<AgentType> = match object.remove("agentType") {
        None | Some(Value::Null) => None,
        Some(v) => Some(enum_value(v, "agentType")?),
    };
    let tags = match object.remove("tags") {
        None | Some(Value::Null) => Tags::new(),
        Some(Value::Object(map)) => tags_from_map(map)?,
        Some(other) => {
            return Err(ValidationError::new("tags", format!("expected an object, got {}", kind(&other))));
        }
    };
    let payload = match object.remove("payload") {
        None | Some(Value::Null) => return Err(ValidationError::new("payload", "missing")),
        Some(Value::Object(map)) => payload_from_map(event_type, map)?,
        Some(other) => {
            return Err(ValidationError::new("payload", format!("expected an object, got {}", kind(&other))));
        }
    };
    // Echoed stored events carry the server's ingest time; it is reassigned on ingest.
    object.remove("ingestedAt");
    if let Some(unknown) = object.keys().next() {
        return Err(ValidationError::new(
            unknown.clone(),
            "unknown field (expected id, timestamp, source, type, projectId, sessionId, agentType, payload, tags)",
        ));
    }
    Ok(MetricEvent { id, timestamp, source, project_id, session_id, agent_type, payload, tags })
}

fn payload_from_map(event_type: EventType, mut map: Map<String, Value>) -> VResult<Payload> {
    let payload = match event_type {
        EventType::Performance => Payload::Performance(PerformancePayload {
            operation: required_string(&mut map, "operation", "payload.operation")?,
            duration: required_number(&mut map, "duration", "payload.duration")?,
            memory_usage: optional_number(&mut map, "memoryUsage", "payload.memoryUsage")?,
            cpu_usage: optional_number(&mut map, "cpuUsage", "payload.cpuUsage")?,
            success: match map.remove("success") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => b,
                Some(other) => {
                    return Err(ValidationError::new(
                        "payload.success",
                        format!("expected a boolean, got {}", kind(&other)),
                    ));
                }
            },
            extra: Extra::new(),
        }),
        EventType::Error => Payload::Error(ErrorPayload {
            operation: optional_string(&mut map, "operation", "payload.operation")?,
            message: required_string(&mut map, "message", "payload.message")?,
            code: match map.remove("code") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    return Err(ValidationError::new(
                        "payload.code",
                        format!("expected a string or number, got {}", kind(&other)),
                    ));
                }
            },
            extra: Extra::new(),
        }),
        EventType::Coordination => Payload::Coordination(CoordinationPayload {
            manager_id: required_string(&mut map, "managerId", "payload.managerId")?,
            worker_id: required_string(&mut map, "workerId", "payload.workerId")?,
            phase: required_string(&mut map, "phase", "payload.phase")?,
            task_id: optional_string(&mut map, "taskId", "payload.taskId")?,
            coordination_score: optional_number(&mut map, "coordinationScore", "payload.coordinationScore")?,
            latency_ms: optional_number(&mut map, "latencyMs", "payload.latencyMs")?,
            extra: Extra::new(),
        }),
        EventType::Quality => Payload::Quality(QualityPayload {
            metric: required_string(&mut map, "metric", "payload.metric")?,
            score: required_number(&mut map, "score", "payload.score")?,
            extra: Extra::new(),
        }),
    };
    let mut payload = payload;
    *payload.extra_mut() = map;
    Ok(payload)
}

fn tags_from_map(map: Map<String, Value>) -> VResult<Tags> {
    let mut tags = Tags::new();
    for (key, value) in map {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(ValidationError::new(
                    format!("tags.{key}"),
                    format!("expected a string, number or boolean, got {}", kind(&other)),
                ));
            }
        };
        tags.insert(key, text);
    }
    Ok(tags)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn enum_value<T: std::str::FromStr<Err = crate::event::UnknownValue>>(
    value: Value,
    field: &str,
) -> VResult<T> {
    match value {
        Value::String(text) => text.parse().map_err(|e: crate::event::UnknownValue| {
            ValidationError::new(field, format!("unknown value `{text}` (expected {})", e.expected))
        }),
        other => Err(ValidationError::new(field, format!("expected a string, got {}", kind(&other)))),
    }
}

fn required_enum<T: std::str::FromStr<Err = crate::event::UnknownValue>>(
    map: &mut Map<String, Value>,
    key: &str,
    field: &str,
) -> VResult<T> {
    match map.remove(key) {
        None | Some(Value::Null) => Err(ValidationError::new(field, "missing")),
        Some(v) => enum_value(v, field),
    }
}

fn required_string(map: &mut Map<String, Value>, key: &str, field: &str) -> VResult<String> {
    optional_string(map, key, field)?.ok_or_else(|| ValidationError::new(field, "missing"))
}

fn optional_string(map: &mut Map<String, Value>, key: &str, field: &str) -> VResult<Option<String>> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ValidationError::new(field, format!("expected a string, got {}", kind(&other)))),
    }
}

fn required_number(map: &mut Map<String, Value>, key: &str, field: &str) -> VResult<f64> {
    optional_number(map, key, field)?.ok_or_else(|| ValidationError::new(field, "missing"))
}

fn optional_number(map: &mut Map<String, Value>, key: &str, field: &str) -> VResult<Option<f64>> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(ValidationError::new(field, "not a finite number")),
        },
        Some(other) => Err(ValidationError::new(field, format!("expected a number, got {}", kind(&other)))),
    }
}

/// Checks an event against the rules: finite, non-negative measurements, sane time,
/// bounded strings and tags. `now` is the server time used for the future-skew check.
pub fn validate(event: &MetricEvent, limits: &Limits, now: Timestamp) -> VResult<()> {
    if let Some(id) = &event.id {
        check_name(id, "id", limits)?;
        if id.is_empty() {
            return Err(ValidationError::new("id", "empty"));
        }
    }
    if let Some(ts) = event.timestamp {
        if ts < EARLIEST_TIMESTAMP {
            return Err(ValidationError::new("timestamp", format!("{ts} is before 2000-01-01")));
        }
        let horizon = now.add_micros(limits.max_future_secs.saturating_mul(1_000_000));
        if ts > horizon {
            return Err(ValidationError::new(
                "timestamp",
                format!("{ts} is more than {} s in the future", limits.max_future_secs),
            ));
        }
    }
    if let Some(p) = &event.project_id {
        check_name(p, "projectId", limits)?;
    }
    if let Some(s) = &event.session_id {
        check_name(s, "sessionId", limits)?;
    }
    if event.tags.len() > limits.max_tags {
        return Err(ValidationError::new(
            "tags",
            format!("{} tags, at most {} allowed", event.tags.len(), limits.max_tags),
        ));
    }
    for (key, value) in &event.tags {
        if key.is_empty() || key.len() > limits.max_tag_key_len {
            return Err(ValidationError::new(
                format!("tags.{}", truncate(key, 64)),
                format!("key must be 1..={} bytes", limits.max_tag_key_len),
            ));
        }
        if value.len() > limits.max_tag_value_len {
            return Err(ValidationError::new(
                format!("tags.{key}"),
                format!("{} bytes, at most {} allowed", value.len(), limits.max_tag_value_len),
            ));
        }
    }
    match &event.payload {
        Payload::Performance(p) => {
            check_name(&p.operation, "payload.operation", limits)?;
            non_negative(p.duration, "payload.duration")?;
            if let Some(v) = p.memory_usage {
                non_negative(v, "payload.memoryUsage")?;
            }
            if let Some(v) = p.cpu_usage {
                non_negative(v, "payload.cpuUsage")?;
            }
        }
        Payload::Error(p) => {
            if let Some(op) = &p.operation {
                check_name(op, "payload.operation", limits)?;
            }
            check_text(&p.message, "payload.message", limits)?;
            if let Some(code) = &p.code {
                check_name(code, "payload.code", limits)?;
            }
        }
        Payload::Coordination(p) => {
            check_name(&p.manager_id, "payload.managerId", limits)?;
            check_name(&p.worker_id, "payload.workerId", limits)?;
            check_name(&p.phase, "payload.phase", limits)?;
            if let Some(task) = &p.task_id {
                check_name(task, "payload.taskId", limits)?;
            }
            if let Some(v) = p.coordination_score {
                finite(v, "payload.coordinationScore")?;
            }
            if let Some(v) = p.latency_ms {
                non_negative(v, "payload.latencyMs")?;
            }
        }
        Payload::Quality(p) => {
            check_name(&p.metric, "payload.metric", limits)?;
            finite(p.score, "payload.score")?;
        }
    }
    let extra = event.payload.extra();
    if extra.len() > limits.max_extra_fields {
        return Err(ValidationError::new(
            "payload",
            format!("{} unknown fields, at most {} allowed", extra.len(), limits.max_extra_fields),
        ));
    }
    for (key, value) in extra {
        check_extra(value, &format!("payload.{key}"), limits, 1)?;
    }
    Ok(())
}

fn check_extra(value: &Value, field: &str, limits: &Limits, depth: usize) -> VResult<()> {
    if depth > limits.max_depth {
        return Err(ValidationError::new(field, format!("nested deeper than {} levels", limits.max_depth)));
    }
    match value {
        Value::String(s) => check_text(s, field, limits),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(()),
            _ => Err(ValidationError::new(field, "not a finite number")),
        },
        Value::Array(items) => {
            if items.len() > limits.max_extra_fields * 16 {
                return Err(ValidationError::new(field, "array too long"));
            }
            items.iter().try_for_each(|v| check_extra(v, field, limits, depth + 1))
        }
        Value::Object(map) => {
            if map.len() > limits.max_extra_fields {
                return Err(ValidationError::new(field, "object has too many fields"));
            }
            map.values().try_for_each(|v| check_extra(v, field, limits, depth + 1))
        }
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

fn check_name(value: &str, field: &str, limits: &Limits) -> VResult<()> {
    if value.len() > limits.max_name_len {
        return Err(ValidationError::new(
            field,
            format!("{} bytes, at most {} allowed", value.len(), limits.max_name_len),
        ));
    }
    Ok(())
}

fn check_text(value: &str, field: &str, limits: &Limits) -> VResult<()> {
    if value.len() > limits.max_text_len {
        return Err(ValidationError::new(
            field,
            format!("{} bytes, at most {} allowed", value.len(), limits.max_text_len),
        ));
    }
    Ok(())
}

fn finite(value: f64, field: &str) -> VResult<()> {
    if value.is_finite() { Ok(()) } else { Err(ValidationError::new(field, "not a finite number")) }
}

fn non_negative(value: f64, field: &str) -> VResult<()> {
    finite(value, field)?;
    if value < 0.0 {
        return Err(ValidationError::new(field, format!("{value} is negative")));
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> VResult<MetricEvent> {
        let e = event_from_value(v)?;
        validate(&e, &Limits::default(), Timestamp::parse("2026-11-28T12:00:00Z").unwrap())?;
        Ok(e)
    }

    fn perf() -> Value {
        json!({"source":"claude-cli","type":"performance","projectId":"p","sessionId":"s",
               "agentType":"worker","timestamp":"2026-11-28T11:00:00.123Z",
               "payload":{"operation":"tool:Bash","duration":12.5,"success":true,"exitCode":0,"nested":{"a":[1,2]}},
               "tags":{"host":"h1"}})
    }

    #[test]
    fn round_trips_wire_format_keeping_unknown_payload_fields() {
        let e = parse(perf()).unwrap();
        assert_eq!(e.payload.extra().get("exitCode"), Some(&json!(0)));
        let back = serde_json::to_value(&e).unwrap();
        let mut expected = perf();
        expected["payload"]["success"] = json!(true);
        assert_eq!(back, expected);
        let again: MetricEvent = serde_json::from_value(back).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn errors_name_the_field_and_reason() {
        let cases = [
            ("type", None, "missing"),
            ("source", Some(json!("cursor")), "unknown value `cursor`"),
            ("payload.duration", Some(json!(-1.0)), "negative"),
            ("timestamp", Some(json!("not a time")), "not an RFC 3339"),
            ("timestamp", Some(json!("2030-01-01T00:00:00Z")), "in the future"),
            ("timestamp", Some(json!("1999-01-01T00:00:00Z")), "before 2000"),
            ("projectId", Some(json!("x".repeat(300))), "at most 256"),
            ("tags", None, "tags"),
        ];
        for (field, value, reason) in cases {
            let mut v = perf();
            match (field, value) {
                ("type", _) => {
                    v.as_object_mut().unwrap().remove("type");
                }
                ("payload.duration", Some(x)) => v["payload"]["duration"] = x,
                ("tags", _) => {
                    let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
                    v["tags"] = Value::Object(many);
                }
                (f, Some(x)) => v[f] = x,
                _ => unreachable!(),
            }
            let err = parse(v).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.reason.contains(reason) || field == "tags", "{field}: {err}");
        }
    }

    #[test]
    fn rejects_non_finite_numbers_and_deep_nesting_and_unknown_fields() {
        let e = MetricEvent::performance(Source::System, "x", f64::NAN);
        let err = validate(&e, &Limits::default(), Timestamp::now()).unwrap_err();
        assert_eq!(err.field, "payload.duration");
        assert!(err.reason.contains("finite"));

        let mut deep = json!(1);
        for _ in 0..20 {
            deep = json!({ "d": deep });
        }
        let mut v = perf();
        v["payload"]["deep"] = deep;
        assert_eq!(parse(v).unwrap_err().field, "payload.deep");

        let mut v = perf();
        v["colour"] = json!("red");
        let err = parse(v).unwrap_err();
        assert_eq!(err.field, "colour");
        assert!(err.reason.contains("unknown field"));

        let err = event_from_slice(b"{not json").unwrap_err();
        assert_eq!(err.field, "event");
        assert!(err.reason.starts_with("invalid JSON"));
        let err = event_from_slice(
            br#"{"source":"system","type":"quality","payload":{"metric":"m","score":"high"}}"#,
        )
        .unwrap_err();
        assert_eq!(err, ValidationError::new("payload.score", "expected a number, got a string"));
    }

    #[test]
    fn epoch_millis_timestamps_and_defaults() {
        let e = event_from_value(json!({"source":"system","type":"error","timestamp":1795867200123u64,
            "payload":{"message":"boom","code":42}}))
        .unwrap();
        assert_eq!(e.timestamp, Some(Timestamp::parse("2026-11-28T12:00:00.123Z").unwrap()));
        let Payload::Error(p) = &e.payload else { panic!() };
        assert_eq!(p.code.as_deref(), Some("42"));
        let enriched = e.into_event(Timestamp(5));
        assert_eq!(enriched.ingested_at, Timestamp(5));
        assert_eq!(enriched.id.len(), 36);
    }

    #[test]
    fn fast_path_agrees_with_the_tree_path() {
        let inputs = [
            perf(),
            json!({"source":"system","type":"quality","timestamp":1795867200123u64,"payload":{"metric":"m","score":1},"tags":{"n":5,"b":true}}),
            json!({"source":"dual-agent","type":"coordination","agentType":null,"ingestedAt":"2026-01-01T00:00:00Z",
                   "payload":{"managerId":"m","workerId":"w","phase":"assign","latencyMs":3,"extra":{"x":[1,{"y":null}]}}}),
            json!({"source":"claude-cli","type":"error","payload":{"message":"boom","code":7}}),
        ];
        for input in inputs {
            let bytes = serde_json::to_vec(&input).unwrap();
            assert_eq!(event_from_slice(&bytes), event_from_value(input.clone()), "{input}");
        }
        let bad = [
            json!({"source":"claude-cli","type":"performance","payload":{"operation":"x","duration":"slow"}}),
            json!({"source":"claude-cli","type":"performance","colour":1,"payload":{"operation":"x","duration":1}}),
            json!({"source":"nope","type":"performance","payload":{"operation":"x","duration":1}}),
        ];
        for input in bad {
            let bytes = serde_json::to_vec(&input).unwrap();
            assert_eq!(
                event_from_slice(&bytes).unwrap_err(),
                event_from_value(input.clone()).unwrap_err(),
                "{input}"
            );
        }
    }
}
