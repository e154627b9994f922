//! The events the hook emits, in the wire format of DESIGN.md "Event model".

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock;

/// Longest id, operation, code, worker or task id the server accepts (bytes).
pub const MAX_NAME_LEN: usize = 256;
/// Longest error message the hook sends (the server takes 16 KiB; tool output is long).
pub const MAX_MESSAGE_LEN: usize = 1024;
/// Longest tag value the server accepts (bytes).
pub const MAX_TAG_VALUE_LEN: usize = 1024;

/// The `type` of an event, which fixes its payload shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `{operation, duration, success}`.
    Performance,
    /// `{operation, message, code}`.
    Error,
    /// `{managerId, workerId, phase, taskId, latencyMs}`.
    Coordination,
}

/// One event as sent to `POST /api/events/batch` (one JSON line each).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Assigned when the hook runs, so a resend is never stored twice.
    pub id: String,
    /// When the hook ran, RFC 3339 UTC.
    pub timestamp: String,
    /// Always `claude-cli`.
    pub source: &'static str,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// `MONITOR_PROJECT` or the basename of the hook's `cwd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Claude Code's `session_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `worker` inside a subagent (`agent_id` present), else `manager`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<&'static str>,
    /// The typed payload plus extra fields.
    pub payload: Map<String, Value>,
    /// String labels (`tool_use_id`, `prompt_id`, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Event {
    /// An event of `kind` at `now_ms` with a fresh id and an empty payload.
    pub fn new(kind: Kind, now_ms: i64) -> Self {
        Event {
            id: clock::uuid_v7(now_ms),
            timestamp: clock::rfc3339(now_ms),
            source: "claude-cli",
            kind,
            project_id: None,
            session_id: None,
            agent_type: None,
            payload: Map::new(),
            tags: BTreeMap::new(),
        }
    }

    /// A `performance` event.
    pub fn performance(now_ms: i64, operation: &str, duration_ms: f64, success: bool) -> Self {
        let mut event = Event::new(Kind::Performance, now_ms);
        event.put("operation", truncate(operation, MAX_NAME_LEN));
        event.put("duration", finite_non_negative(duration_ms));
        event.put("success", success);
        event
    }

    /// An `error` event.
    pub fn error(now_ms: i64, operation: &str, message: &str, code: Option<&str>) -> Self {
        let mut event = Event::new(Kind::Error, now_ms);
        event.put("operation", truncate(operation, MAX_NAME_LEN));
        let message = if message.trim().is_empty() { "unknown error" } else { message };
        event.put("message", truncate(message, MAX_MESSAGE_LEN));
        if let Some(code) = code.filter(|c| !c.is_empty()) {
            event.put("code", truncate(code, MAX_NAME_LEN));
        }
        event
    }

    /// A `coordination` event.
    pub fn coordination(now_ms: i64, manager: &str, worker: &str, phase: &str, task: Option<&str>) -> Self {
        let mut event = Event::new(Kind::Coordination, now_ms);
        event.put("managerId", truncate(nonempty(manager), MAX_NAME_LEN));
        event.put("workerId", truncate(nonempty(worker), MAX_NAME_LEN));
        event.put("phase", truncate(phase, MAX_NAME_LEN));
        if let Some(task) = task.filter(|t| !t.is_empty()) {
            event.put("taskId", truncate(task, MAX_NAME_LEN));
        }
        event
    }

    /// Sets a payload field.
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.payload.insert(key.to_owned(), value.into());
    }

    /// Sets a tag, truncated to what the server accepts; empty values are skipped.
    pub fn tag(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.tags.insert(key.to_owned(), truncate(value, MAX_TAG_VALUE_LEN).to_owned());
        }
    }

    /// The payload's `operation`, if any.
    pub fn operation(&self) -> Option<&str> {
        self.payload.get("operation").and_then(Value::as_str)
    }

    /// One NDJSON line (with its trailing newline).
    pub fn to_line(&self) -> String {
        // Serializing a struct of strings, numbers and maps cannot fail.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

fn nonempty(text: &str) -> &str {
    if text.is_empty() { "unknown" } else { text }
}

fn finite_non_negative(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 { value } else { 0.0 }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub fn truncate(text: &str, max: usize) -> &str {
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

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn serializes_the_wire_shape() {
        let mut e = Event::performance(0, "tool:Bash", 12.5, true);
        e.session_id = Some("s".into());
        e.tag("tool_use_id", Some("toolu_1"));
        e.tag("empty", Some(""));
        let v: Value = serde_json::from_str(&e.to_line()).expect("json");
        assert_eq!(v["type"], "performance");
        assert_eq!(v["source"], "claude-cli");
        assert_eq!(v["sessionId"], "s");
        assert_eq!(v["payload"]["duration"], 12.5);
        assert_eq!(v["tags"]["tool_use_id"], "toolu_1");
        assert!(v["tags"].get("empty").is_none());
        assert!(v.get("projectId").is_none());
        assert_eq!(Event::performance(0, "x", f64::NAN, true).payload["duration"], 0.0);
    }
}
