//! The event model: what agents send and what the platform stores.
//!
//! [`MetricEvent`] is an event as a client sends it (`id` and `timestamp` optional);
//! [`Event`] is the validated, enriched and redacted event that the collector hands to
//! stores and subscribers. Both serialize to the camelCase wire format of DESIGN.md.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// Free-form string labels attached to an event (`host`, `tool_use_id`, …).
pub type Tags = BTreeMap<String, String>;

/// Extra payload fields the model does not know; kept as sent.
pub type Extra = Map<String, Value>;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// A small dense index, for compact keys.
            pub const fn index(self) -> u8 {
                self as u8
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        expected: concat!($($text, " | "),+).trim_end_matches(" | "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(|e: UnknownValue| {
                    serde::de::Error::custom(format!("unknown value `{text}`, expected {}", e.expected))
                })
            }
        }
    };
}

/// A string that is not one of an enumeration's wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownValue {
    /// The accepted values, `|`-separated.
    pub expected: &'static str,
}

wire_enum! {
    /// Who emitted the event.
    Source {
        /// A Claude Code CLI session (hooks, OTLP).
        ClaudeCli = "claude-cli",
        /// A dual-agent manager/worker runtime.
        DualAgent = "dual-agent",
        /// The platform itself.
        System = "system",
    }
}

wire_enum! {
    /// What kind of measurement the event carries; selects the payload shape.
    EventType {
        /// An operation's timing and resource use.
        Performance = "performance",
        /// A failure.
        Error = "error",
        /// A manager/worker coordination step.
        Coordination = "coordination",
        /// A quality score.
        Quality = "quality",
    }
}

wire_enum! {
    /// The role of the agent that emitted the event.
    AgentType {
        /// The coordinating agent (the lead session).
        Manager = "manager",
        /// An agent doing delegated work (a subagent or teammate).
        Worker = "worker",
    }
}

/// Payload of a `performance` event.
#[derive(Clone, Debug, PartialEq)]
pub struct PerformancePayload {
    /// The operation measured, e.g. `tool:Bash` or `llm:call`.
    pub operation: String,
    /// Wall time in milliseconds.
    pub duration: f64,
    /// Resident memory in MB, when measured.
    pub memory_usage: Option<f64>,
    /// CPU use in percent, when measured.
    pub cpu_usage: Option<f64>,
    /// Whether the operation succeeded (default `true`).
    pub success: bool,
    /// Fields the model does not know, kept as sent.
    pub extra: Extra,
}

/// Payload of an `error` event.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorPayload {
    /// The operation that failed, when known.
    pub operation: Option<String>,
    /// What went wrong.
    pub message: String,
    /// A machine-readable code, when the emitter has one.
    pub code: Option<String>,
    /// Fields the model does not know, kept as sent.
    pub extra: Extra,
}

/// Payload of a `coordination` event between a manager and a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct CoordinationPayload {
    /// The coordinating agent.
    pub manager_id: String,
    /// The agent doing the work.
    pub worker_id: String,
    /// The step: assign, accept, progress, complete, fail, start, stop, …
    pub phase: String,
    /// The task being coordinated, when there is one.
    pub task_id: Option<String>,
    /// How well the hand-off went, 0..=1, when scored.
    pub coordination_score: Option<f64>,
    /// Hand-off latency in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// Fields the model does not know, kept as sent.
    pub extra: Extra,
}

/// Payload of a `quality` event.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityPayload {
    /// What was scored, e.g. `test_pass_rate`.
    pub metric: String,
    /// The score.
    pub score: f64,
    /// Fields the model does not know, kept as sent.
    pub extra: Extra,
}

/// The typed payload; its variant is the event's `type`.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// See [`PerformancePayload`].
    Performance(PerformancePayload),
    /// See [`ErrorPayload`].
    Error(ErrorPayload),
    /// See [`CoordinationPayload`].
    Coordination(CoordinationPayload),
    /// See [`QualityPayload`].
    Quality(QualityPayload),
}

/// Numeric payload fields that every store rolls up (5 min, 1 h, 1 d).
pub const ROLLUP_FIELDS: [&str; 7] =
    ["duration", "memoryUsage", "cpuUsage", "success", "coordinationScore", "latencyMs", "score"];

/// Index of a field in [`ROLLUP_FIELDS`], if it is one.
pub fn rollup_field_index(name: &str) -> Option<usize> {
    ROLLUP_FIELDS.iter().position(|f| *f == name)
}

impl Payload {
    /// The event type this payload belongs to.
    pub const fn event_type(&self) -> EventType {
        match self {
            Payload::Performance(_) => EventType::Performance,
            Payload::Error(_) => EventType::Error,
            Payload::Coordination(_) => EventType::Coordination,
            Payload::Quality(_) => EventType::Quality,
        }
    }

    /// The `operation` dimension: set for performance and error events.
    pub fn operation(&self) -> Option<&str> {
        match self {
            Payload::Performance(p) => Some(&p.operation),
            Payload::Error(p) => p.operation.as_deref(),
            Payload::Coordination(_) | Payload::Quality(_) => None,
        }
    }

    /// The unknown fields kept from the wire.
    pub fn extra(&self) -> &Extra {
        match self {
            Payload::Performance(p) => &p.extra,
            Payload::Error(p) => &p.extra,
            Payload::Coordination(p) => &p.extra,
            Payload::Quality(p) => &p.extra,
        }
    }

    /// Mutable access to the unknown fields.
    pub fn extra_mut(&mut self) -> &mut Extra {
        match self {
            Payload::Performance(p) => &mut p.extra,
            Payload::Error(p) => &mut p.extra,
            Payload::Coordination(p) => &mut p.extra,
            Payload::Quality(p) => &mut p.extra,
        }
    }

    /// The value of a rollup field by its index in [`ROLLUP_FIELDS`].
    pub fn rollup_value(&self, index: usize) -> Option<f64> {
        match (self, index) {
            (Payload::Performance(p), 0) => Some(p.duration),
            (Payload::Performance(p), 1) => p.memory_usage,
            (Payload::Performance(p), 2) => p.cpu_usage,
            (Payload::Performance(p), 3) => Some(if p.success { 1.0 } else { 0.0 }),
            (Payload::Coordination(p), 4) => p.coordination_score,
            (Payload::Coordination(p), 5) => p.latency_ms,
            (Payload::Quality(p), 6) => Some(p.score),
            _ => None,
        }
    }

    /// A numeric payload field by wire name: a known field or a numeric extra field.
    pub fn numeric_field(&self, name: &str) -> Option<f64> {
        if let Some(index) = rollup_field_index(name) {
            return self.rollup_value(index);
        }
        match self.extra().get(name)? {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// Calls `f` on every string value a person or tool wrote (for redaction).
    pub fn for_each_text_mut(&mut self, mut f: impl FnMut(Option<&str>, &mut String)) {
        match self {
            Payload::Performance(p) => f(Some("operation"), &mut p.operation),
            Payload::Error(p) => {
                if let Some(op) = p.operation.as_mut() {
                    f(Some("operation"), op);
                }
                f(Some("message"), &mut p.message);
                if let Some(code) = p.code.as_mut() {
                    f(Some("code"), code);
                }
            }
            Payload::Coordination(p) => {
                f(Some("managerId"), &mut p.manager_id);
                f(Some("workerId"), &mut p.worker_id);
                f(Some("phase"), &mut p.phase);
                if let Some(task) = p.task_id.as_mut() {
                    f(Some("taskId"), task);
                }
            }
            Payload::Quality(p) => f(Some("metric"), &mut p.metric),
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let extra = self.extra();
        let mut map = serializer.serialize_map(None)?;
        match self {
            Payload::Performance(p) => {
                map.serialize_entry("operation", &p.operation)?;
                map.serialize_entry("duration", &p.duration)?;
                if let Some(v) = p.memory_usage {
                    map.serialize_entry("memoryUsage", &v)?;
                }
                if let Some(v) = p.cpu_usage {
                    map.serialize_entry("cpuUsage", &v)?;
                }
                map.serialize_entry("success", &p.success)?;
            }
            Payload::Error(p) => {
                if let Some(v) = &p.operation {
                    map.serialize_entry("operation", v)?;
                }
                map.serialize_entry("message", &p.message)?;
                if let Some(v) = &p.code {
                    map.serialize_entry("code", v)?;
                }
            }
            Payload::Coordination(p) => {
                map.serialize_entry("managerId", &p.manager_id)?;
                map.serialize_entry("workerId", &p.worker_id)?;
                map.serialize_entry("phase", &p.phase)?;
                if let Some(v) = &p.task_id {
                    map.serialize_entry("taskId", v)?;
                }
                if let Some(v) = p.coordination_score {
                    map.serialize_entry("coordinationScore", &v)?;
                }
                if let Some(v) = p.latency_ms {
                    map.serialize_entry("latencyMs", &v)?;
                }
            }
            Payload::Quality(p) => {
                map.serialize_entry("metric", &p.metric)?;
                map.serialize_entry("score", &p.score)?;
            }
        }
        for (key, value) in extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// An event as a client sends it; `id` and `timestamp` may be missing.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricEvent {
    /// Client-chosen id; makes retries idempotent. Assigned by enrichment when absent.
    pub id: Option<String>,
    /// When it happened. Ingest time when absent.
    pub timestamp: Option<Timestamp>,
    /// Who emitted it.
    pub source: Source,
    /// The project the agent works on.
    pub project_id: Option<String>,
    /// The agent session.
    pub session_id: Option<String>,
    /// Manager or worker.
    pub agent_type: Option<AgentType>,
    /// The typed measurement.
    pub payload: Payload,
    /// String labels.
    pub tags: Tags,
}

impl MetricEvent {
    /// A new event with only the required parts set.
    pub fn new(source: Source, payload: Payload) -> Self {
        MetricEvent {
            id: None,
            timestamp: None,
            source,
            project_id: None,
            session_id: None,
            agent_type: None,
            payload,
            tags: Tags::new(),
        }
    }

    /// A `performance` event for `operation` that took `duration_ms`.
    pub fn performance(source: Source, operation: impl Into<String>, duration_ms: f64) -> Self {
        MetricEvent::new(
            source,
            Payload::Performance(PerformancePayload {
                operation: operation.into(),
                duration: duration_ms,
                memory_usage: None,
                cpu_usage: None,
                success: true,
                extra: Extra::new(),
            }),
        )
    }

    /// Sets the project (builder style).
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project_id = Some(project.into());
        self
    }

    /// Sets the session (builder style).
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session_id = Some(session.into());
        self
    }

    /// Sets the agent type (builder style).
    pub fn with_agent_type(mut self, agent: AgentType) -> Self {
        self.agent_type = Some(agent);
        self
    }

    /// Sets the timestamp (builder style).
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the id (builder style).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Adds a tag (builder style).
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// The event type, from the payload.
    pub const fn event_type(&self) -> EventType {
        self.payload.event_type()
    }

    /// Completes the event with an id and timestamp where missing.
    pub fn into_event(self, now: Timestamp) -> Event {
        Event {
            id: self.id.unwrap_or_else(|| new_event_id_at(now)),
            timestamp: self.timestamp.unwrap_or(now),
            ingested_at: now,
            source: self.source,
            project_id: self.project_id,
            session_id: self.session_id,
            agent_type: self.agent_type,
            payload: self.payload,
            tags: self.tags,
        }
    }
}

/// A new time-ordered event id (UUID version 7: sortable by creation time).
pub fn new_event_id() -> String {
    new_event_id_at(Timestamp::now())
}

/// The last id stamp handed out: milliseconds since the epoch `<< 16 |` a counter.
static LAST_ID_STAMP: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static ID_RANDOM: Cell<u64> = Cell::new({
        // std seeds every `RandomState` from the OS once per thread: a free random seed.
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    });
}

/// splitmix64 over a per-thread state: the random bits of ids.
fn id_random() -> u64 {
    ID_RANDOM.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A new UUID version 7 id for an event created at `now`.
///
/// The 48-bit millisecond timestamp is followed by a 16-bit counter (in `rand_a` and
/// the top of `rand_b`, as RFC 9562 §6.2 method 1 allows), so ids made in this process
/// sort in creation order even within one millisecond; 58 random bits keep processes
/// apart. Built by hand because `Uuid::now_v7` reads the clock again and
/// `to_string` goes through the formatter, together most of an event's enrichment.
pub fn new_event_id_at(now: Timestamp) -> String {
    let millis = u64::try_from(now.as_millis()).unwrap_or(0) & ((1 << 48) - 1);
    let mut last = LAST_ID_STAMP.load(Ordering::Relaxed);
    let stamp = loop {
        let next = (millis << 16).max(last + 1);
        match LAST_ID_STAMP.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    let (millis, counter) = (u128::from(stamp >> 16), u128::from(stamp & 0xffff));
    let value = (millis << 80)
        | (0x7 << 76)
        | ((counter >> 4) << 64)
        | (0b10 << 62)
        | ((counter & 0xf) << 58)
        | u128::from(id_random() >> 6);
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::from_u128(value).hyphenated().encode_lower(&mut text).to_owned()
}

/// A validated, enriched and redacted event, as stored and streamed.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Unique id; stores keep one event per id.
    pub id: String,
    /// When it happened.
    pub timestamp: Timestamp,
    /// When the platform accepted it.
    pub ingested_at: Timestamp,
    /// Who emitted it.
    pub source: Source,
    /// The project the agent works on.
    pub project_id: Option<String>,
    /// The agent session.
    pub session_id: Option<String>,
    /// Manager or worker.
    pub agent_type: Option<AgentType>,
    /// The typed measurement.
    pub payload: Payload,
    /// String labels.
    pub tags: Tags,
}

impl Event {
    /// The event type, from the payload.
    pub const fn event_type(&self) -> EventType {
        self.payload.event_type()
    }

    /// The `operation` dimension.
    pub fn operation(&self) -> Option<&str> {
        self.payload.operation()
    }

    /// Serializes to the wire JSON text.
    pub fn to_json(&self) -> String {
        // Serializing plain data to a String cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("ingestedAt", &self.ingested_at)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", &self.event_type())?;
        if let Some(v) = &self.project_id {
            map.serialize_entry("projectId", v)?;
        }
        if let Some(v) = &self.session_id {
            map.serialize_entry("sessionId", v)?;
        }
        if let Some(v) = &self.agent_type {
            map.serialize_entry("agentType", v)?;
        }
        map.serialize_entry("payload", &self.payload)?;
        map.serialize_entry("tags", &self.tags)?;
        map.end()
    }
}

impl Serialize for MetricEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(v) = &self.id {
            map.serialize_entry("id", v)?;
        }
        if let Some(v) = &self.timestamp {
            map.serialize_entry("timestamp", v)?;
        }
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", &self.event_type())?;
        if let Some(v) = &self.project_id {
            map.serialize_entry("projectId", v)?;
        }
        if let Some(v) = &self.session_id {
            map.serialize_entry("sessionId", v)?;
        }
        if let Some(v) = &self.agent_type {
            map.serialize_entry("agentType", v)?;
        }
        map.serialize_entry("payload", &self.payload)?;
        if !self.tags.is_empty() {
            map.serialize_entry("tags", &self.tags)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for MetricEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        crate::validate::event_from_value(value).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        let ingested = value
            .as_object_mut()
            .and_then(|m| m.remove("ingestedAt"))
            .map(serde_json::from_value::<Timestamp>)
            .transpose()
            .map_err(serde::de::Error::custom)?;
        let event = crate::validate::event_from_value(value).map_err(serde::de::Error::custom)?;
        let (Some(id), Some(timestamp)) = (event.id.clone(), event.timestamp) else {
            return Err(serde::de::Error::custom("a stored event needs `id` and `timestamp`"));
        };
        let mut event = event.into_event(ingested.unwrap_or(timestamp));
        event.id = id;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v7_in_creation_order() {
        let now = Timestamp::from_millis(1_750_000_000_123);
        let ids: Vec<String> = (0..5_000).map(|_| new_event_id_at(now)).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
        }
        let first = uuid::Uuid::parse_str(&ids[0]).unwrap();
        assert_eq!(first.get_version_num(), 7);
        assert_eq!(first.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = first.get_timestamp().unwrap().to_unix();
        assert!(secs * 1_000 + u64::from(nanos / 1_000_000) >= 1_750_000_000_123);
        // A clock that steps back never makes an id sort before an earlier one.
        let earlier = new_event_id_at(Timestamp::from_millis(1_700_000_000_000));
        assert!(earlier > ids[ids.len() - 1]);
        let later = uuid::Uuid::parse_str(&new_event_id_at(Timestamp::now())).unwrap();
        assert_eq!(later.get_version_num(), 7);
    }
}
