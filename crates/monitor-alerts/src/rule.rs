//! Alert rules as data: the JSON/TOML/YAML shape of DESIGN.md, validation that names the
//! field at fault, and the rules file.
//!
//! ```
//! use monitor_alerts::AlertRule;
//!
//! let rule = AlertRule::from_json(br#"{
//!   "id": "tool-latency", "name": "ToolLatencyHigh",
//!   "condition": {"kind": "window", "field": "duration", "op": "gt", "aggregate": "p95",
//!                 "window": "5m", "for": "1m", "filters": {"type": "performance"},
//!                 "groupBy": ["operation"]},
//!   "threshold": 2000, "severity": "high",
//!   "channels": [{"type": "webhook", "config": {"url": "http://127.0.0.1:9093/hook"}}],
//!   "cooldown": 60
//! }"#).unwrap();
//! assert_eq!(rule.condition.window.as_deref(), Some("5m"));
//!
//! let bad = AlertRule::from_json(br#"{"id":"x","name":"X","threshold":1,"severity":"high",
//!   "condition":{"kind":"window","field":"duration","aggregate":"p95"}}"#).unwrap();
//! let err = bad.validate().unwrap_err();
//! assert_eq!(err.field, "condition.window");
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use monitor_core::alert::Severity;
use monitor_core::analytics::{AnomalyConfig, Method};
use monitor_core::event::{AgentType, EventType, Source};
use monitor_core::query::{Dimension, Filter, FilterOp};
use monitor_core::time::{MICROS_PER_HOUR, parse_duration};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channels::{ChannelSpec, parse_channel};
use crate::template::Template;

/// A rule that is wrong: which JSON field (dotted path, `channels[0].config.url`), and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RuleError {
    /// The offending field, as a dotted JSON path.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl RuleError {
    /// An error for `field` with `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RuleError { field: field.into(), reason: reason.into() }
    }
}

/// An alert rule (DESIGN.md "HTTP contract"; seed `AlertRule`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertRule {
    /// Stable identifier: letters, digits, `-`, `_`, `.`, `:`; at most 128 characters.
    pub id: String,
    /// Human name; becomes the `alertname` label.
    pub name: String,
    /// What has to hold for the rule to fire.
    pub condition: Condition,
    /// The value the condition compares with (a ratio in `0..=1` for `errorRatio`, the
    /// score limit for `anomaly`; unused by `absence`).
    #[serde(default)]
    pub threshold: f64,
    /// low | medium | high | critical; becomes the `severity` label.
    pub severity: Severity,
    /// Where notifications go; every alert also reaches the bus and the history.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    /// Seconds: at most one firing notification per alert instance in this time. A
    /// re-fire inside it is recorded (bus, history) and its notification deferred until the
    /// cooldown ends, and dropped if it resolved meanwhile.
    #[serde(default)]
    pub cooldown: u64,
    /// Extra identity labels (static; `alertname`, `severity` and the group's dimensions
    /// are added by the engine).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Templated text (`summary`, `description`, …); `{{ $value }}`, `{{ $threshold }}`,
    /// `{{ $labels.NAME }}` are filled in. Defaults for `summary` and `description` are
    /// generated when missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Keep firing this long after the condition last held (Prometheus
    /// `keep_firing_for`), e.g. `"2m"`.
    #[serde(default = "zero_duration")]
    pub keep_firing_for: String,
    /// Hysteresis: once firing, the alert resolves only when the value crosses this
    /// (for `gt`/`gte`: drops to or below it; for `lt`/`lte`: rises to or above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<f64>,
    /// Re-send the firing notification this often while the alert keeps firing
    /// (Alertmanager `repeat_interval`); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    /// A disabled rule is kept but not evaluated; its active alerts resolve.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Set by the engine: whether the rule comes from the rules file (read-only over the
    /// API). Ignored on input.
    #[serde(default)]
    pub read_only: bool,
}

fn zero_duration() -> String {
    "0s".to_owned()
}

const fn yes() -> bool {
    true
}

/// What a rule tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// threshold | window | errorRatio | anomaly | absence.
    pub kind: ConditionKind,
    /// The payload field (`duration`, `score`, a numeric extra field, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// How the value compares with the threshold (default `gt`).
    #[serde(default)]
    pub op: Op,
    /// For `window`: avg | max | min | sum | p50 | p95 | p99 | count | rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<Aggregate>,
    /// A duration (`"5m"`): the sliding window (`window`, `errorRatio`), the silence that
    /// fires (`absence`), how long an anomaly or a breaching event keeps the condition
    /// true (`anomaly`, `threshold`; default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// How long the condition must hold before the alert fires (pending until then).
    #[serde(rename = "for", default = "zero_duration")]
    pub for_duration: String,
    /// Which events count: dimension → value (`eq`), `[values]` (`in`) or `{"ne": value}`.
    /// Dimensions: source, type, projectId, sessionId, agentType, operation, tag.KEY.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<String, FilterValue>,
    /// One alert instance per distinct value of these dimensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<Dimension>,
    /// For `errorRatio`: fewer events than this in the window never fire (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_volume: Option<u64>,
    /// For `anomaly`: detector settings (`method`, `window`, `minPoints`, `logScale`, …);
    /// `threshold` comes from the rule. Default: robust log-scale for `duration` and
    /// `latencyMs`, z-score otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<AnomalyConfig>,
    /// For `anomaly`: shorthand for `detector.method` (zscore | robust | ewma).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// For grouped `absence`: forget a group (resolving its alert) after this long without
    /// events, so ended sessions stop alerting (default 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after: Option<String>,
}

/// The kinds of condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConditionKind {
    /// Each matching event's `field` compared with the threshold.
    Threshold,
    /// An aggregate of `field` over a sliding window compared with the threshold.
    Window,
    /// errors / (errors + performance events) over a window compared with the threshold.
    ErrorRatio,
    /// A streaming anomaly detector flags a matching event's `field`.
    Anomaly,
    /// No matching event for `window`.
    Absence,
}

impl ConditionKind {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionKind::Threshold => "threshold",
            ConditionKind::Window => "window",
            ConditionKind::ErrorRatio => "errorRatio",
            ConditionKind::Anomaly => "anomaly",
            ConditionKind::Absence => "absence",
        }
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// value > threshold
    #[default]
    Gt,
    /// value >= threshold
    Gte,
    /// value < threshold
    Lt,
    /// value <= threshold
    Lte,
}

impl Op {
    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Gte => value >= threshold,
            Op::Lt => value < threshold,
            Op::Lte => value <= threshold,
        }
    }

    /// Whether `value` has crossed back over a recovery threshold (`<=` for gt/gte,
    /// `>=` for lt/lte).
    pub fn recovered(self, value: f64, recovery: f64) -> bool {
        match self {
            Op::Gt | Op::Gte => value <= recovery,
            Op::Lt | Op::Lte => value >= recovery,
        }
    }

    /// The symbol, for messages.
    pub const fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
        }
    }
}

/// A window aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// Mean of the field.
    Avg,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Sum of the field.
    Sum,
    /// Median.
    P50,
    /// 95th percentile (linear interpolation, as the query API).
    P95,
    /// 99th percentile.
    P99,
    /// Number of matching events.
    Count,
    /// Matching events per second over the window.
    Rate,
}

impl Aggregate {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Aggregate::Avg => "avg",
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Sum => "sum",
            Aggregate::P50 => "p50",
            Aggregate::P95 => "p95",
            Aggregate::P99 => "p99",
            Aggregate::Count => "count",
            Aggregate::Rate => "rate",
        }
    }

    /// Whether the aggregate counts events rather than reading a field.
    pub const fn counts_events(self) -> bool {
        matches!(self, Aggregate::Count | Aggregate::Rate)
    }

    /// The quantile, for percentile aggregates.
    pub const fn quantile(self) -> Option<f64> {
        match self {
            Aggregate::P50 => Some(0.5),
            Aggregate::P95 => Some(0.95),
            Aggregate::P99 => Some(0.99),
            _ => None,
        }
    }
}

/// A filter's value: one (`eq`), several (`in`), or `{"ne": value}` / `{"in": [...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterValue {
    /// Equal to this.
    Eq(String),
    /// Equal to any of these.
    In(Vec<String>),
    /// An explicit operator.
    Op(FilterOpValue),
}

/// `{"ne": "x"}`, `{"eq": "x"}` or `{"in": ["a", "b"]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum FilterOpValue {
    /// Equal.
    Eq(String),
    /// Not equal (events without the dimension match).
    Ne(String),
    /// Any of.
    In(Vec<String>),
}

/// A notification channel of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelConfig {
    /// slack | email | webhook | dashboard.
    #[serde(rename = "type")]
    pub kind: ChannelKind,
    /// The channel's settings (see docs/alerts.md): `{"url"}` for slack and webhook,
    /// `{"to"}` for email, nothing for dashboard; `sendResolved` for each.
    #[serde(default = "empty_object")]
    pub config: Value,
    /// A disabled channel is skipped.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// The kinds of channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Slack incoming webhook.
    Slack,
    /// E-mail over SMTP.
    Email,
    /// Generic JSON webhook in the Alertmanager v4 shape.
    Webhook,
    /// The dashboard: the bus and the stored history (every alert goes there anyway).
    Dashboard,
}

impl ChannelKind {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Dashboard => "dashboard",
        }
    }
}

/// A rules file: `[[rules]]` tables (TOML), a `rules:` list (YAML) or `{"rules": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// The rules.
    #[serde(default)]
    pub rules: Vec<AlertRule>,
}

fn path_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> RuleError {
    let path = err.path().to_string();
    let field = if path == "." { String::new() } else { path };
    RuleError::new(field, err.into_inner().to_string())
}

impl AlertRule {
    /// Parses a rule from JSON; a malformed field is named in the error (`condition.op`).
    /// The rule still needs [`AlertRule::validate`].
    pub fn from_json(bytes: &[u8]) -> Result<AlertRule, RuleError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(path_error)
    }

    /// Parses a rule from a JSON value (naming the field at fault, like [`AlertRule::from_json`]).
    pub fn from_value(value: Value) -> Result<AlertRule, RuleError> {
        serde_path_to_error::deserialize(value).map_err(path_error)
    }

    /// Checks every field; the error names the first one at fault.
    pub fn validate(&self) -> Result<(), RuleError> {
        self.check().map(|_| ())
    }

    /// Validates and precomputes what evaluation needs.
    pub(crate) fn check(&self) -> Result<Checked, RuleError> {
        validate_id(&self.id)?;
        if self.name.trim().is_empty() {
            return Err(RuleError::new("name", "must not be empty"));
        }
        if self.name.len() > 200 {
            return Err(RuleError::new("name", "must be at most 200 characters"));
        }
        if !self.threshold.is_finite() {
            return Err(RuleError::new("threshold", "must be a finite number"));
        }
        let c = &self.condition;
        let kind = c.kind;
        let window = c.window.as_deref().map(|w| duration("condition.window", w)).transpose()?;
        if window == Some(0) {
            return Err(RuleError::new("condition.window", "must be longer than 0s"));
        }
        let for_us = duration("condition.for", &c.for_duration)?;
        let keep_firing_us = duration("keepFiringFor", &self.keep_firing_for)?;
        let repeat_us = self.repeat_interval.as_deref().map(|r| duration("repeatInterval", r)).transpose()?;
        if repeat_us == Some(0) {
            return Err(RuleError::new("repeatInterval", "must be longer than 0s (or left out)"));
        }
        let default_window = 5 * 60 * 1_000_000;
        let needs = |what: &str, present: bool, why: &str| {
            if present { Ok(()) } else { Err(RuleError::new(format!("condition.{what}"), why.to_owned())) }
        };
        let forbid = |what: &str, present: bool| {
            if present {
                Err(RuleError::new(
                    format!("condition.{what}"),
                    format!("is not used by a `{}` condition; remove it", kind.as_str()),
                ))
            } else {
                Ok(())
            }
        };
        forbid("minVolume", c.min_volume.is_some() && kind != ConditionKind::ErrorRatio)?;
        forbid("detector", c.detector.is_some() && kind != ConditionKind::Anomaly)?;
        forbid("method", c.method.is_some() && kind != ConditionKind::Anomaly)?;
        forbid("expireAfter", c.expire_after.is_some() && kind != ConditionKind::Absence)?;
        forbid("aggregate", c.aggregate.is_some() && kind != ConditionKind::Window)?;
        let window_us = match kind {
            ConditionKind::Threshold | ConditionKind::Anomaly => {
                needs(
                    "field",
                    c.field.is_some(),
                    "a threshold or anomaly condition needs the payload field to test",
                )?;
                window.unwrap_or(default_window)
            }
            ConditionKind::Window => {
                let Some(aggregate) = c.aggregate else {
                    return Err(RuleError::new(
                        "condition.aggregate",
                        "a window condition needs avg | max | min | sum | p50 | p95 | p99 | count | rate",
                    ));
                };
                if aggregate.counts_events() {
                    forbid("field", c.field.is_some()).map_err(|e| {
                        RuleError::new(e.field, format!("`{}` counts events; remove it", aggregate.as_str()))
                    })?;
                } else {
                    needs(
                        "field",
                        c.field.is_some(),
                        "this aggregate needs the payload field it aggregates",
                    )?;
                }
                window.ok_or_else(|| {
                    RuleError::new("condition.window", "a window condition needs a window such as \"5m\"")
                })?
            }
            ConditionKind::ErrorRatio => {
                forbid("field", c.field.is_some())?;
                if !(0.0..=1.0).contains(&self.threshold) {
                    return Err(RuleError::new(
                        "threshold",
                        "an error ratio threshold is a fraction in 0..=1",
                    ));
                }
                if c.filters.contains_key("type") {
                    return Err(RuleError::new(
                        "condition.filters.type",
                        "an error ratio counts error and performance events itself; remove the type filter",
                    ));
                }
                if c.min_volume == Some(0) {
                    return Err(RuleError::new("condition.minVolume", "must be at least 1"));
                }
                window.ok_or_else(|| {
                    RuleError::new("condition.window", "an error ratio needs a window such as \"5m\"")
                })?
            }
            ConditionKind::Absence => {
                forbid("field", c.field.is_some())?;
                window.ok_or_else(|| {
                    RuleError::new(
                        "condition.window",
                        "an absence condition needs the silence that fires, such as \"10m\"",
                    )
                })?
            }
        };
        if let Some(field) = &c.field
            && (field.is_empty() || field.len() > 100)
        {
            return Err(RuleError::new("condition.field", "must be 1 to 100 characters"));
        }
        if self.recovery_threshold.is_some()
            && matches!(kind, ConditionKind::Anomaly | ConditionKind::Absence)
        {
            return Err(RuleError::new(
                "recoveryThreshold",
                format!("is not used by a `{}` condition; remove it", kind.as_str()),
            ));
        }
        if let Some(recovery) = self.recovery_threshold {
            if !recovery.is_finite() {
                return Err(RuleError::new("recoveryThreshold", "must be a finite number"));
            }
            let on_recovery_side = match c.op {
                Op::Gt | Op::Gte => recovery <= self.threshold,
                Op::Lt | Op::Lte => recovery >= self.threshold,
            };
            if !on_recovery_side {
                return Err(RuleError::new(
                    "recoveryThreshold",
                    format!(
                        "must be on the recovery side of the threshold ({} {} for op `{}`)",
                        if matches!(c.op, Op::Gt | Op::Gte) { "<=" } else { ">=" },
                        crate::template::format_value(self.threshold),
                        serde_json::to_value(c.op)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        let expire_us =
            c.expire_after.as_deref().map(|e| duration("condition.expireAfter", e)).transpose()?;
        let detector = if kind == ConditionKind::Anomaly {
            if self.threshold <= 0.0 {
                return Err(RuleError::new(
                    "threshold",
                    "an anomaly threshold is the score limit and must be > 0",
                ));
            }
            let latency = matches!(c.field.as_deref(), Some("duration" | "latencyMs"));
            let mut config = c.detector.unwrap_or(if latency {
                AnomalyConfig::for_latency()
            } else {
                AnomalyConfig::default()
            });
            if let Some(method) = c.method {
                config.method = method;
            }
            config.threshold = self.threshold;
            config.validate().map_err(|e| RuleError::new("condition.detector", e.to_string()))?;
            Some(config)
        } else {
            None
        };
        let filters = compile_filters(&c.filters)?;
        if c.group_by.len() > 4 {
            return Err(RuleError::new("condition.groupBy", "at most 4 dimensions"));
        }
        for (i, dim) in c.group_by.iter().enumerate() {
            if c.group_by[..i].contains(dim) {
                return Err(RuleError::new(
                    format!("condition.groupBy[{i}]"),
                    format!("`{dim}` is listed twice"),
                ));
            }
        }
        for (key, value) in &self.labels {
            if !valid_label_name(key) {
                return Err(RuleError::new(
                    format!("labels.{key}"),
                    "a label name is a letter or `_` followed by letters, digits or `_`",
                ));
            }
            if matches!(key.as_str(), "alertname" | "severity") {
                return Err(RuleError::new(
                    format!("labels.{key}"),
                    "is set by the engine from the rule's name and severity",
                ));
            }
            if c.group_by.iter().any(|d| label_name(d) == *key) {
                return Err(RuleError::new(format!("labels.{key}"), "clashes with a groupBy dimension"));
            }
            if value.contains("{{") {
                return Err(RuleError::new(
                    format!("labels.{key}"),
                    "labels identify an alert and cannot be templated; put values in annotations",
                ));
            }
        }
        let mut annotations = BTreeMap::new();
        for (key, text) in &self.annotations {
            let template = Template::parse(text)
                .map_err(|reason| RuleError::new(format!("annotations.{key}"), reason))?;
            annotations.insert(key.clone(), template);
        }
        let mut channels = Vec::with_capacity(self.channels.len());
        for (i, channel) in self.channels.iter().enumerate() {
            channels.push(parse_channel(channel).map_err(|e| {
                RuleError::new(
                    if e.field.is_empty() {
                        format!("channels[{i}]")
                    } else {
                        format!("channels[{i}].{}", e.field)
                    },
                    e.reason,
                )
            })?);
        }
        Ok(Checked {
            window_us,
            for_us,
            keep_firing_us,
            repeat_us,
            cooldown_us: i64::try_from(self.cooldown.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            expire_us: if kind == ConditionKind::Absence && !c.group_by.is_empty() {
                Some(expire_us.unwrap_or(24 * MICROS_PER_HOUR))
            } else {
                expire_us
            },
            filters,
            detector,
            annotations,
            channels,
        })
    }

    /// Identity labels of an alert instance: the rule's labels, `alertname`, `severity`
    /// and the group's dimensions (never the value).
    pub(crate) fn instance_labels(&self, group: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert("alertname".to_owned(), self.name.clone());
        labels.insert("severity".to_owned(), self.severity.as_str().to_owned());
        for (k, v) in group {
            labels.insert(k.clone(), v.clone());
        }
        labels
    }
}

/// What validation precomputes for evaluation.
pub(crate) struct Checked {
    pub(crate) window_us: i64,
    pub(crate) for_us: i64,
    pub(crate) keep_firing_us: i64,
    pub(crate) repeat_us: Option<i64>,
    pub(crate) cooldown_us: i64,
    pub(crate) expire_us: Option<i64>,
    pub(crate) filters: Vec<Filter>,
    pub(crate) detector: Option<AnomalyConfig>,
    pub(crate) annotations: BTreeMap<String, Template>,
    pub(crate) channels: Vec<ChannelSpec>,
}

/// The label name of a group dimension: its wire name (`sessionId`, `tag.host`).
pub(crate) fn label_name(dimension: &Dimension) -> String {
    dimension.name()
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn validate_id(id: &str) -> Result<(), RuleError> {
    if id.is_empty() || id.len() > 128 {
        return Err(RuleError::new("id", "must be 1 to 128 characters"));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) {
        return Err(RuleError::new("id", "may hold only letters, digits, `-`, `_`, `.` and `:`"));
    }
    Ok(())
}

fn duration(field: &str, text: &str) -> Result<i64, RuleError> {
    if text.trim() == "0" {
        return Ok(0);
    }
    parse_duration(text)
        .ok_or_else(|| RuleError::new(field, format!("`{text}` is not a duration such as 30s, 5m, 1h or 7d")))
}

fn compile_filters(filters: &BTreeMap<String, FilterValue>) -> Result<Vec<Filter>, RuleError> {
    let mut out = Vec::with_capacity(filters.len());
    for (name, value) in filters {
        let field = format!("condition.filters.{name}");
        let dimension: Dimension = name.parse().map_err(|e: monitor_core::query::QueryError| {
            RuleError::new(field.clone(), e.reason.replace("groupBy", "filter"))
        })?;
        let (op, values) = match value {
            FilterValue::Eq(v) | FilterValue::Op(FilterOpValue::Eq(v)) => (FilterOp::Eq, vec![v.clone()]),
            FilterValue::Op(FilterOpValue::Ne(v)) => (FilterOp::Ne, vec![v.clone()]),
            FilterValue::In(vs) | FilterValue::Op(FilterOpValue::In(vs)) => (FilterOp::In, vs.clone()),
        };
        if values.is_empty() {
            return Err(RuleError::new(field, "needs at least one value"));
        }
        for v in &values {
            let known = match dimension {
                Dimension::Type => v.parse::<EventType>().map_err(|e| e.expected).err(),
                Dimension::Source => v.parse::<Source>().map_err(|e| e.expected).err(),
                Dimension::AgentType => v.parse::<AgentType>().map_err(|e| e.expected).err(),
                _ => None,
            };
            if let Some(expected) = known {
                return Err(RuleError::new(field, format!("unknown value `{v}` (expected {expected})")));
            }
        }
        out.push(Filter { dimension, op, values });
    }
    Ok(out)
}

/// Parses a rules file by its extension: `.toml`, `.yaml`/`.yml` or `.json`. Every rule
/// is validated; the error names the rule (by index and id) and the field.
pub fn parse_rules_file(path: &Path, text: &str) -> Result<Vec<AlertRule>, String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let file: RulesFile = match ext.as_str() {
        "toml" => {
            let de = toml::Deserializer::parse(text).map_err(|e| e.to_string())?;
            serde_path_to_error::deserialize(de).map_err(|e| describe_parse_error(e, text))?
        }
        "yaml" | "yml" => {
            let de = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| describe_parse_error(e, text))?
        }
        "json" => {
            let de = &mut serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| describe_parse_error(e, text))?
        }
        other => {
            return Err(format!("unknown rules file type `.{other}` (expected .toml, .yaml, .yml or .json)"));
        }
    };
    let mut seen = BTreeMap::new();
    for (i, rule) in file.rules.iter().enumerate() {
        rule.validate().map_err(|e| format!("rules[{i}] (id `{}`): {}: {}", rule.id, e.field, e.reason))?;
        if let Some(first) = seen.insert(rule.id.clone(), i) {
            return Err(format!("rules[{i}] (id `{}`): id: already used by rules[{first}]", rule.id));
        }
    }
    Ok(file.rules)
}

fn describe_parse_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>, _text: &str) -> String {
    let path = err.path().to_string();
    let inner = err.into_inner().to_string();
    // TOML errors come as `TOML parse error at line L, column C`, a snippet, then the
    // reason: keep the reason and the position on one line.
    let lines: Vec<&str> = inner.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let reason = match lines.as_slice() {
        [first, .., last] if first.contains(" at line ") => {
            let position = first.split(" at ").nth(1).unwrap_or("");
            format!("{last} (at {position})")
        }
        [first, ..] => (*first).to_owned(),
        [] => inner.clone(),
    };
    format!("{path}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> AlertRule {
        AlertRule::from_json(json.as_bytes()).unwrap()
    }

    const BASE: &str = r#"{"id":"r1","name":"R","threshold":1000,"severity":"high",
        "condition":{"kind":"threshold","field":"duration","op":"gt"}}"#;

    #[test]
    fn accepts_the_design_shape_and_round_trips() {
        let r = rule(
            r#"{"id":"r-42","name":"ToolLatencyHigh","condition":{"kind":"window","field":"duration","op":"gt",
            "aggregate":"p95","window":"5m","for":"0s","filters":{"type":"performance","operation":"tool:Bash"},
            "groupBy":["sessionId"]},"threshold":1000,"severity":"high",
            "channels":[{"type":"webhook","config":{"url":"http://127.0.0.1:1/x"},"enabled":true}],"cooldown":60}"#,
        );
        r.validate().unwrap();
        let back: AlertRule = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.condition.group_by, vec![Dimension::SessionId]);
    }

    #[test]
    fn parse_errors_name_the_field() {
        let e = AlertRule::from_json(
            br#"{"id":"r","name":"R","severity":"high","condition":{"kind":"threshold","op":"bigger"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "condition.op");
        let e = AlertRule::from_json(
            br#"{"id":"r","name":"R","severity":"urgent","condition":{"kind":"absence"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "severity");
        let e = AlertRule::from_json(
            br#"{"id":"r","name":"R","severity":"low","condition":{"kind":"absence"},"bogus":1}"#,
        )
        .unwrap_err();
        assert!(e.reason.contains("bogus"), "{e}");
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (r#""id":"has space""#, "id"),
            (r#""channels":[{"type":"webhook","config":{}}]"#, "channels[0].config.url"),
            (r#""channels":[{"type":"slack","config":{"url":"ftp://x"}}]"#, "channels[0].config.url"),
            (r#""channels":[{"type":"email","config":{"to":"not-an-address"}}]"#, "channels[0].config.to"),
            (r#""labels":{"alertname":"x"}"#, "labels.alertname"),
            (r#""labels":{"v":"{{ $value }}"}"#, "labels.v"),
            (r#""annotations":{"summary":"{{ $nope }}"}"#, "annotations.summary"),
            (r#""keepFiringFor":"soon""#, "keepFiringFor"),
            (r#""recoveryThreshold":2000"#, "recoveryThreshold"),
        ];
        for (extra, field) in cases {
            let mut value: Value = serde_json::from_str(BASE).unwrap();
            let patch: Value = serde_json::from_str(&format!("{{{extra}}}")).unwrap();
            for (k, v) in patch.as_object().unwrap() {
                value[k] = v.clone();
            }
            let err = AlertRule::from_value(value).unwrap().validate().unwrap_err();
            assert_eq!(err.field, field, "{extra}: {err}");
        }
        let conditions = [
            (r#"{"kind":"window","field":"duration","aggregate":"avg"}"#, "condition.window"),
            (r#"{"kind":"window","field":"duration","window":"5m"}"#, "condition.aggregate"),
            (r#"{"kind":"window","field":"duration","aggregate":"count","window":"5m"}"#, "condition.field"),
            (r#"{"kind":"threshold"}"#, "condition.field"),
            (r#"{"kind":"absence"}"#, "condition.window"),
            (r#"{"kind":"errorRatio","window":"5m","filters":{"type":"error"}}"#, "condition.filters.type"),
            (
                r#"{"kind":"threshold","field":"duration","filters":{"type":"perf"}}"#,
                "condition.filters.type",
            ),
            (
                r#"{"kind":"threshold","field":"duration","filters":{"colour":"red"}}"#,
                "condition.filters.colour",
            ),
            (r#"{"kind":"threshold","field":"duration","for":"5 minutes"}"#, "condition.for"),
            (
                r#"{"kind":"threshold","field":"duration","groupBy":["sessionId","sessionId"]}"#,
                "condition.groupBy[1]",
            ),
            (r#"{"kind":"threshold","field":"duration","minVolume":5}"#, "condition.minVolume"),
        ];
        for (condition, field) in conditions {
            let json = format!(
                r#"{{"id":"r","name":"R","threshold":0.5,"severity":"low","condition":{condition}}}"#
            );
            let err = rule(&json).validate().unwrap_err();
            assert_eq!(err.field, field, "{condition}: {err}");
        }
        let ratio = r#"{"id":"r","name":"R","threshold":5,"severity":"low","condition":{"kind":"errorRatio","window":"5m"}}"#;
        assert_eq!(rule(ratio).validate().unwrap_err().field, "threshold");
    }

    #[test]
    fn rules_files_in_toml_yaml_and_json_name_the_rule_and_field() {
        let toml = r#"
[[rules]]
id = "a"
name = "A"
threshold = 1
severity = "low"
condition = { kind = "threshold", field = "duration" }

[[rules]]
id = "b"
name = "B"
threshold = 1
severity = "low"
[rules.condition]
kind = "window"
field = "duration"
aggregate = "p95"
"#;
        let err = parse_rules_file(Path::new("r.toml"), toml).unwrap_err();
        assert_eq!(
            err,
            "rules[1] (id `b`): condition.window: a window condition needs a window such as \"5m\""
        );
        let yaml = "rules:\n  - id: a\n    name: A\n    threshold: 1\n    severity: low\n    condition:\n      kind: absence\n      window: 10m\n";
        assert_eq!(parse_rules_file(Path::new("r.yaml"), yaml).unwrap().len(), 1);
        let bad_yaml =
            "rules:\n  - id: a\n    name: A\n    severity: extreme\n    condition:\n      kind: absence\n";
        let err = parse_rules_file(Path::new("r.yml"), bad_yaml).unwrap_err();
        assert!(err.starts_with("rules[0].severity: "), "{err}");
        let dup = r#"{"rules":[{"id":"a","name":"A","severity":"low","condition":{"kind":"absence","window":"1m"}},
                               {"id":"a","name":"B","severity":"low","condition":{"kind":"absence","window":"1m"}}]}"#;
        assert!(parse_rules_file(Path::new("r.json"), dup).unwrap_err().contains("already used by rules[0]"));
    }
}
