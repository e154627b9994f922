//! OTLP attributes: typed values, coercion of numbers and booleans sent as strings, and
//! the event fields every signal derives from them (session, project, agent type, tags).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use monitor_core::event::Extra;
use monitor_core::{AgentType, Limits, MetricEvent, Payload, Tags, Timestamp};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as AnyValueMessage, KeyValue};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Attribute keys never stored anywhere: personal data and content (prompt and response
/// text, tool input, raw API bodies). Any key ending in `email` is dropped as well.
pub const DROPPED: &[&str] = &[
    "user.email",
    "prompt",
    "response",
    "tool_parameters",
    "tool_input",
    "tool_output",
    "tool_content",
    "content",
    "body",
    "body_ref",
    "error",
];

/// Keys that become event fields or are per-record noise, so they are not tags.
const NOT_TAGS: &[&str] =
    &["session.id", "event.timestamp", "event.sequence", "otel.scope.name", "metric", "metric.name"];

/// Tags kept first when an item has more attributes than an event may carry tags.
const PRIORITY_TAGS: &[&str] = &[
    "event.name",
    "prompt.id",
    "tool_use_id",
    "model",
    "type",
    "tool_name",
    "query_source",
    "agent.name",
    "user.account_uuid",
    "user.account_id",
    "user.id",
    "organization.id",
    "request_id",
    "decision",
    "source",
    "team.id",
    "service.name",
    "trace_id",
    "span_id",
    "parent_span_id",
];

/// Attributes that name the project, most specific first.
const PROJECT_KEYS: &[&str] = &["project.id", "project_id", "project.name", "project"];

/// Attributes holding a working directory; the project is its last path component.
const CWD_KEYS: &[&str] = &["cwd", "process.cwd", "workspace.path", "process.working_directory"];

/// Tags set by the mapping itself after the attribute tags (`metric`, `metric.name`).
const RESERVED_TAGS: usize = 2;

/// Longest attribute value kept as a tag; longer values are content, not labels.
const MAX_TAG_VALUE: usize = 256;

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// `stringValue`.
    Str(String),
    /// `boolValue`.
    Bool(bool),
    /// `intValue`.
    Int(i64),
    /// `doubleValue`.
    Double(f64),
    /// An array, key-value list or bytes value, as JSON.
    Other(Value),
}

impl Attr {
    fn from_any(value: &AnyValue) -> Attr {
        match value {
            AnyValue::StringValue(s) => Attr::Str(s.clone()),
            AnyValue::BoolValue(b) => Attr::Bool(*b),
            AnyValue::IntValue(i) => Attr::Int(*i),
            AnyValue::DoubleValue(d) => Attr::Double(*d),
            other => Attr::Other(any_to_json(other)),
        }
    }

    /// The value as text, for scalars.
    pub fn text(&self) -> Option<String> {
        match self {
            Attr::Str(s) => Some(s.clone()),
            Attr::Bool(b) => Some(b.to_string()),
            Attr::Int(i) => Some(i.to_string()),
            Attr::Double(d) => Some(d.to_string()),
            Attr::Other(_) => None,
        }
    }

    /// The value as a number: integers, doubles, and strings holding a finite number.
    pub fn number(&self) -> Option<f64> {
        match self {
            Attr::Int(i) => Some(*i as f64),
            Attr::Double(d) => Some(*d),
            Attr::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            Attr::Bool(_) | Attr::Other(_) => None,
        }
    }

    /// The value as a JSON number: integers stay integers (also when sent as strings).
    pub fn json_number(&self) -> Option<serde_json::Number> {
        match self {
            Attr::Int(i) => Some((*i).into()),
            Attr::Str(s) => match s.trim().parse::<i64>() {
                Ok(i) => Some(i.into()),
                Err(_) => self.number().and_then(serde_json::Number::from_f64),
            },
            _ => self.number().and_then(serde_json::Number::from_f64),
        }
    }

    /// The value as a boolean: `true`/`false` in any case, or the integers 1 and 0.
    pub fn flag(&self) -> Option<bool> {
        match self {
            Attr::Bool(b) => Some(*b),
            Attr::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
            Attr::Int(i) => Some(*i != 0),
            Attr::Double(_) | Attr::Other(_) => None,
        }
    }
}

/// An `AnyValue` as JSON (arrays, lists and bytes only; used for canonical keys).
pub fn any_to_json(value: &AnyValue) -> Value {
    let of = |v: &AnyValueMessage| v.value.as_ref().map_or(Value::Null, any_to_json);
    match value {
        AnyValue::StringValue(s) => Value::String(s.clone()),
        AnyValue::BoolValue(b) => Value::Bool(*b),
        AnyValue::IntValue(i) => Value::from(*i),
        AnyValue::DoubleValue(d) => Value::from(*d),
        AnyValue::ArrayValue(a) => Value::Array(a.values.iter().map(of).collect()),
        AnyValue::KvlistValue(l) => Value::Object(
            l.values.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, of))).collect(),
        ),
        AnyValue::BytesValue(b) => Value::String(b.iter().fold(String::new(), |mut s, byte| {
            let _ = write!(s, "{byte:02x}");
            s
        })),
        // A dictionary index (profiles only): meaningless without the dictionary.
        AnyValue::StringValueStrindex(_) => Value::Null,
    }
}

/// A set of attributes, item attributes overriding resource attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs(pub BTreeMap<String, Attr>);

impl Attrs {
    /// The attributes of an OTLP key-value list (later duplicates win; valueless keys
    /// are skipped).
    pub fn from_kvs(kvs: &[KeyValue]) -> Attrs {
        let mut attrs = Attrs::default();
        attrs.extend(kvs);
        attrs
    }

    /// Adds or overrides with `kvs`.
    pub fn extend(&mut self, kvs: &[KeyValue]) {
        for kv in kvs {
            if let Some(value) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                self.0.insert(kv.key.clone(), Attr::from_any(value));
            }
        }
    }

    /// These attributes overridden by `kvs`.
    pub fn with(&self, kvs: &[KeyValue]) -> Attrs {
        let mut attrs = self.clone();
        attrs.extend(kvs);
        attrs
    }

    /// One attribute.
    pub fn get(&self, key: &str) -> Option<&Attr> {
        self.0.get(key)
    }

    /// A non-empty scalar attribute as text.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Attr::text).filter(|s| !s.trim().is_empty())
    }

    /// A numeric attribute, coerced from a string when needed.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Attr::number)
    }

    /// A boolean attribute, coerced from a string when needed.
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Attr::flag)
    }

    /// A canonical text form (sorted keys) identifying a series or record.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.0 {
            let _ = write!(out, "{key}\u{1f}{value:?}\u{1e}");
        }
        out
    }

    /// The project: a `project.id`-like attribute, else the last path component of a
    /// working-directory attribute, else none.
    pub fn project(&self) -> Option<String> {
        if let Some(project) = PROJECT_KEYS.iter().find_map(|k| self.text(k)) {
            return Some(project);
        }
        let cwd = CWD_KEYS.iter().find_map(|k| self.text(k))?;
        cwd.split(['/', '\\']).rfind(|part| !part.is_empty()).map(str::to_owned)
    }

    /// `worker` for a subagent (`query_source=subagent`, an `agent.name`, or a
    /// `parent_agent_id`), else `manager`.
    pub fn agent_type(&self) -> AgentType {
        let subagent = self.text("query_source").is_some_and(|s| s == "subagent")
            || self.text("agent.name").is_some()
            || self.text("parent_agent_id").is_some();
        if subagent { AgentType::Worker } else { AgentType::Manager }
    }

    /// Tags for an event: scalar attributes except personal data, content, and the
    /// keys in `consumed` (already mapped into the payload), within the tag limits
    /// (leaving room for the `metric` and `metric.name` tags).
    pub fn tags(&self, consumed: &[&str], limits: &Limits) -> Tags {
        let keep = |key: &str, value: &str| {
            !key.is_empty()
                && key.len() <= limits.max_tag_key_len
                && value.len() <= MAX_TAG_VALUE.min(limits.max_tag_value_len)
                && !is_dropped(key)
                && !NOT_TAGS.contains(&key)
                && !consumed.contains(&key)
        };
        let mut tags = Tags::new();
        let ordered = PRIORITY_TAGS
            .iter()
            .filter_map(|k| self.0.get_key_value(*k))
            .chain(self.0.iter().filter(|(k, _)| !PRIORITY_TAGS.contains(&k.as_str())));
        for (key, value) in ordered {
            if tags.len() + RESERVED_TAGS >= limits.max_tags {
                break;
            }
            if let Some(text) = value.text()
                && keep(key, &text)
            {
                tags.insert(key.clone(), text);
            }
        }
        tags
    }

    /// Copies numeric attributes into payload fields: `(attribute, payload field)`.
    pub fn numbers_into(&self, extra: &mut Extra, fields: &[(&str, &str)]) {
        for (key, field) in fields {
            if let Some(n) = self.get(key).and_then(Attr::json_number) {
                extra.insert((*field).to_owned(), Value::Number(n));
            }
        }
    }
}

/// Whether an attribute is never stored.
pub fn is_dropped(key: &str) -> bool {
    DROPPED.contains(&key) || key.to_ascii_lowercase().ends_with("email")
}

/// An OTLP time in nanoseconds as a timestamp; `None` for 0 (unset) or out of range.
pub fn timestamp(nanos: u64) -> Option<Timestamp> {
    if nanos == 0 {
        return None;
    }
    i64::try_from(nanos / 1_000).ok().map(Timestamp::from_micros)
}

/// A content-derived event id: the same record sent again gets the same id, so a
/// retried export is stored once.
pub fn event_id(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut id = String::with_capacity(37);
    id.push_str("otlp-");
    for byte in digest.iter().take(16) {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

/// Sets session, project, agent type, tags, timestamp and id on `event`. A `quality`
/// event also gets its metric as the `metric` tag, so it can be filtered and grouped
/// (`tag.metric=claude_code.token.usage.input`).
pub fn finish(
    mut event: MetricEvent,
    attrs: &Attrs,
    consumed: &[&str],
    limits: &Limits,
    time: Option<Timestamp>,
    id: String,
) -> MetricEvent {
    event.session_id = attrs.text("session.id");
    event.project_id = attrs.project();
    event.agent_type = Some(attrs.agent_type());
    event.tags = attrs.tags(consumed, limits);
    if let Payload::Quality(quality) = &event.payload {
        event.tags.insert("metric".into(), quality.metric.clone());
    }
    event.timestamp = time;
    event.id = Some(id);
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue as Any;

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue { key: key.into(), value: Some(Any { value: Some(value) }), ..KeyValue::default() }
    }

    #[test]
    fn numbers_and_flags_are_coerced_from_strings() {
        let attrs = Attrs::from_kvs(&[
            kv("d", AnyValue::StringValue(" 42.5 ".into())),
            kv("i", AnyValue::IntValue(7)),
            kv("s", AnyValue::StringValue("true".into())),
            kv("bad", AnyValue::StringValue("NaN".into())),
        ]);
        assert_eq!(attrs.number("d"), Some(42.5));
        assert_eq!(attrs.number("i"), Some(7.0));
        assert_eq!(attrs.flag("s"), Some(true));
        assert_eq!(attrs.number("bad"), None);
        assert_eq!(attrs.number("missing"), None);
    }

    #[test]
    fn project_from_id_or_working_directory() {
        let attrs = Attrs::from_kvs(&[kv("cwd", AnyValue::StringValue("/home/a/code/my-app/".into()))]);
        assert_eq!(attrs.project().as_deref(), Some("my-app"));
        let attrs = attrs.with(&[kv("project.id", AnyValue::StringValue("p1".into()))]);
        assert_eq!(attrs.project().as_deref(), Some("p1"));
        assert_eq!(Attrs::default().project(), None);
    }

    #[test]
    fn tags_never_hold_email_or_content() {
        let attrs = Attrs::from_kvs(&[
            kv("user.email", AnyValue::StringValue("a@b.example".into())),
            kv("prompt", AnyValue::StringValue("secret plan".into())),
            kv("model", AnyValue::StringValue("m".into())),
            kv("duration_ms", AnyValue::IntValue(5)),
            kv("session.id", AnyValue::StringValue("s".into())),
        ]);
        let tags = attrs.tags(&["duration_ms"], &Limits::default());
        assert_eq!(tags.into_iter().collect::<Vec<_>>(), vec![("model".to_owned(), "m".to_owned())]);
    }

    #[test]
    fn ids_depend_on_every_part() {
        assert_eq!(event_id(&[b"a", b"bc"]), event_id(&[b"a", b"bc"]));
        assert_ne!(event_id(&[b"a", b"bc"]), event_id(&[b"ab", b"c"]));
        assert_eq!(event_id(&[b"x"]).len(), 37);
    }
}
