//! Rule evaluation: per-group condition state (sliding windows, detectors, last values)
//! and the pending → firing → resolved state machine with `for`, keep-firing, recovery
//! threshold, cooldown and repeat.
//!
//! Everything here is synchronous and clock-free: callers pass `now`. The engine calls
//! [`RuleRuntime::observe`] per event and [`RuleRuntime::tick`] on its timer.

use monitor_core::sketch::exact_quantile;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use monitor_core::alert::{Alert, AlertStatus, fingerprint};
use monitor_core::analytics::StreamingDetector;
use monitor_core::event::{Event, EventType, rollup_field_index};
use monitor_core::query::{Dimension, Filter, FilterOp, matches_all};
use monitor_core::time::{MICROS_PER_HOUR, Timestamp, format_duration};
use serde::{Deserialize, Serialize};

use crate::rule::{Aggregate, AlertRule, Checked, ConditionKind, Op, label_name};
use crate::template::{Values, format_value};

/// A validated rule with everything evaluation needs precomputed.
pub(crate) struct CompiledRule {
    pub(crate) rule: AlertRule,
    pub(crate) checked: Checked,
    kind: ConditionKind,
    field_index: Option<usize>,
    type_mask: u8,
    group_by: Vec<Dimension>,
    min_volume: usize,
    /// `p95 duration > 2000 over 5m`.
    pub(crate) condition_text: String,
    vars: BTreeMap<&'static str, String>,
}

const fn type_bit(t: EventType) -> u8 {
    1 << t.index()
}

impl CompiledRule {
    pub(crate) fn new(rule: AlertRule, checked: Checked) -> CompiledRule {
        let c = &rule.condition;
        let kind = c.kind;
        let field_index = c.field.as_deref().and_then(rollup_field_index);
        // Event types that can match: from a `type` filter, narrowed by the condition.
        let mut type_mask = EventType::ALL.iter().fold(0u8, |m, t| m | type_bit(*t));
        for filter in &checked.filters {
            if filter.dimension == Dimension::Type {
                let listed = EventType::ALL
                    .iter()
                    .filter(|t| filter.values.iter().any(|v| v == t.as_str()))
                    .fold(0u8, |m, t| m | type_bit(*t));
                type_mask &= if filter.op == FilterOp::Ne { !listed } else { listed };
            }
        }
        if kind == ConditionKind::ErrorRatio {
            type_mask &= type_bit(EventType::Error) | type_bit(EventType::Performance);
        }
        let window_text = format_duration(checked.window_us);
        let threshold = format_value(rule.threshold);
        let field = c.field.clone().unwrap_or_default();
        let op = c.op.symbol();
        let condition_text = match kind {
            ConditionKind::Threshold => format!("{field} {op} {threshold}"),
            ConditionKind::Window => {
                let agg = c.aggregate.map_or("", Aggregate::as_str);
                if field.is_empty() {
                    format!("{agg} {op} {threshold} over {window_text}")
                } else {
                    format!("{agg} {field} {op} {threshold} over {window_text}")
                }
            }
            ConditionKind::ErrorRatio => format!("error ratio {op} {threshold} over {window_text}"),
            ConditionKind::Anomaly => format!("{field} anomaly score beyond {threshold}"),
            ConditionKind::Absence => format!("no events for {window_text}"),
        };
        let mut vars = BTreeMap::new();
        vars.insert("threshold", threshold);
        vars.insert("name", rule.name.clone());
        vars.insert("ruleId", rule.id.clone());
        vars.insert("severity", rule.severity.as_str().to_owned());
        vars.insert("field", field);
        vars.insert("aggregate", c.aggregate.map_or(kind.as_str(), Aggregate::as_str).to_owned());
        vars.insert("window", window_text);
        CompiledRule {
            min_volume: usize::try_from(c.min_volume.unwrap_or(10)).unwrap_or(usize::MAX),
            group_by: c.group_by.clone(),
            kind,
            field_index,
            type_mask,
            condition_text,
            vars,
            checked,
            rule,
        }
    }

    pub(crate) fn filters(&self) -> &[Filter] {
        &self.checked.filters
    }

    pub(crate) fn kind(&self) -> ConditionKind {
        self.kind
    }

    /// Whether the event could count for this rule at all (type and filters).
    #[inline]
    fn admits(&self, event: &Event) -> bool {
        self.rule.enabled
            && self.type_mask & type_bit(event.event_type()) != 0
            && matches_all(&self.checked.filters, event)
    }

    fn field_value(&self, event: &Event) -> Option<f64> {
        match self.field_index {
            Some(i) => event.payload.rollup_value(i),
            None => event.payload.numeric_field(self.rule.condition.field.as_deref()?),
        }
        .filter(|v| v.is_finite())
    }

    /// Whether `value` makes the condition hold, given whether the alert is firing
    /// (the recovery threshold applies only then).
    fn test(&self, value: f64, firing: bool) -> bool {
        let op: Op = self.rule.condition.op;
        match (firing, self.rule.recovery_threshold) {
            (true, Some(recovery)) => !op.recovered(value, recovery),
            _ => op.holds(value, self.rule.threshold),
        }
    }

    fn group_labels(&self, event: &Event) -> BTreeMap<String, String> {
        self.group_by
            .iter()
            .filter_map(|d| d.value_of(event).map(|v| (label_name(d), v.to_owned())))
            .collect()
    }

    /// The labels of the rule's instances that carry no group (ungrouped rules).
    pub(crate) fn render_annotations(
        &self,
        labels: &BTreeMap<String, String>,
        value: Option<f64>,
        extra: &[(&'static str, String)],
    ) -> BTreeMap<String, String> {
        let mut vars = self.vars.clone();
        for (k, v) in extra {
            vars.insert(k, v.clone());
        }
        let values = Values { value, labels, vars: &vars };
        let mut out: BTreeMap<String, String> =
            self.checked.annotations.iter().map(|(k, t)| (k.clone(), t.render(&values))).collect();
        let shown = value.map_or_else(|| "none".to_owned(), format_value);
        out.entry("summary".to_owned())
            .or_insert_with(|| format!("{}: {}", self.rule.name, self.condition_text));
        out.entry("description".to_owned()).or_insert_with(|| match self.kind {
            ConditionKind::Absence => format!("no matching event for {}s (limit {})", shown, vars["window"]),
            ConditionKind::Anomaly => format!(
                "{} = {shown} (expected {}, score {})",
                vars["field"],
                vars.get("expected").map_or("?", String::as_str),
                vars.get("score").map_or("?", String::as_str)
            ),
            _ => format!("value {shown} ({})", self.condition_text),
        });
        out
    }
}

/// Whether an instance is quiet, waiting out `for`, or firing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Phase {
    #[default]
    Inactive,
    Pending,
    Firing,
}

/// The durable part of an alert instance (what a restart must not forget).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Instance {
    pub(crate) phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pending_since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) starts_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_held: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
    /// The current firing episode's notification went out (or was queued).
    #[serde(default)]
    pub(crate) notified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_notified: Option<Timestamp>,
    /// The last firing notification, for the cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_fire_notice: Option<Timestamp>,
    /// The last matching event (threshold staleness, absence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_event: Option<Timestamp>,
    /// The last anomaly (anomaly conditions hold for `window` after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) anomaly_at: Option<Timestamp>,
}

/// An instance as stored under `alerts.instances/<fingerprint>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredInstance {
    pub(crate) rule_id: String,
    pub(crate) group: BTreeMap<String, String>,
    pub(crate) instance: Instance,
}

/// A sliding window of samples with the running state its aggregate needs.
struct Window {
    samples: VecDeque<(i64, f64, u64)>,
    seq: u64,
    sum: f64,
    /// Monotonic deque for max (decreasing) or min (increasing): (seq, value).
    extreme: VecDeque<(u64, f64)>,
    /// The values in order, for percentiles: O(log n) search plus a memmove per insert
    /// and eviction, O(1) per evaluation.
    sorted: Vec<f64>,
}

impl Window {
    fn new() -> Self {
        Window { samples: VecDeque::new(), seq: 0, sum: 0.0, extreme: VecDeque::new(), sorted: Vec::new() }
    }

    fn push(&mut self, aggregate: Option<Aggregate>, t: i64, v: f64, cap: usize) {
        let t = self.samples.back().map_or(t, |(last, _, _)| t.max(*last));
        self.seq += 1;
        self.samples.push_back((t, v, self.seq));
        self.sum += v;
        match aggregate {
            Some(Aggregate::Max) => {
                while self.extreme.back().is_some_and(|(_, x)| *x <= v) {
                    self.extreme.pop_back();
                }
                self.extreme.push_back((self.seq, v));
            }
            Some(Aggregate::Min) => {
                while self.extreme.back().is_some_and(|(_, x)| *x >= v) {
                    self.extreme.pop_back();
                }
                self.extreme.push_back((self.seq, v));
            }
            Some(a) if a.quantile().is_some() => {
                let at = self.sorted.partition_point(|x| *x < v);
                self.sorted.insert(at, v);
            }
            _ => {}
        }
        while self.samples.len() > cap {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some((_, v, seq)) = self.samples.pop_front() else { return };
        self.sum -= v;
        if self.samples.is_empty() {
            self.sum = 0.0;
        }
        if self.extreme.front().is_some_and(|(s, _)| *s == seq) {
            self.extreme.pop_front();
        }
        if !self.sorted.is_empty() {
            let at = self.sorted.partition_point(|x| *x < v);
            if at < self.sorted.len() {
                self.sorted.remove(at);
            }
        }
    }

    fn evict(&mut self, cutoff: i64) {
        while self.samples.front().is_some_and(|(t, _, _)| *t < cutoff) {
            self.pop_front();
        }
    }

    fn len(&self) -> usize {
        self.samples.len()
    }

    #[allow(clippy::cast_precision_loss)]
    fn aggregate(&self, aggregate: Aggregate, window_us: i64) -> Option<f64> {
        let n = self.samples.len();
        match aggregate {
            Aggregate::Count => Some(n as f64),
            Aggregate::Rate => Some(n as f64 / (window_us as f64 / 1e6)),
            _ if n == 0 => None,
            Aggregate::Sum => Some(self.sum),
            Aggregate::Avg => Some(self.sum / n as f64),
            Aggregate::Max | Aggregate::Min => self.extreme.front().map(|(_, v)| *v),
            Aggregate::P50 | Aggregate::P95 | Aggregate::P99 => {
                exact_quantile(&self.sorted, aggregate.quantile().unwrap_or(0.5))
            }
        }
    }
}

/// One group of a rule: its condition state and its alert instance.
pub(crate) struct Group {
    pub(crate) group: BTreeMap<String, String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) fingerprint: String,
    window: Option<Window>,
    last_value: Option<f64>,
    detector: Option<Box<StreamingDetector>>,
    anomaly_vars: Vec<(&'static str, String)>,
    pub(crate) inst: Instance,
    /// Changed since last persisted.
    pub(crate) dirty: bool,
    /// A document exists in the store for it.
    pub(crate) persisted: bool,
}

impl Group {
    fn new(rule: &CompiledRule, group: BTreeMap<String, String>) -> Group {
        let labels = rule.rule.instance_labels(&group);
        let fingerprint = fingerprint(&rule.rule.id, &labels);
        Group {
            window: matches!(rule.kind, ConditionKind::Window | ConditionKind::ErrorRatio).then(Window::new),
            detector: rule.checked.detector.map(|c| Box::new(StreamingDetector::new(c))),
            group,
            labels,
            fingerprint,
            last_value: None,
            anomaly_vars: Vec::new(),
            inst: Instance::default(),
            dirty: false,
            persisted: false,
        }
    }

    /// Whether the instance has anything a restart must keep.
    fn worth_keeping(&self, rule: &CompiledRule, now: i64) -> bool {
        self.inst.phase != Phase::Inactive
            || rule.kind == ConditionKind::Absence
            || self.inst.last_fire_notice.is_some_and(|t| now - t.as_micros() < rule.checked.cooldown_us)
    }

    pub(crate) fn stored(&self, rule_id: &str) -> StoredInstance {
        StoredInstance { rule_id: rule_id.to_owned(), group: self.group.clone(), instance: self.inst.clone() }
    }
}

/// What evaluation asks the engine to do.
pub(crate) enum Output {
    /// The instance fired or resolved: publish, record history, and notify channels when
    /// `notify`.
    Transition { alert: Alert, fingerprint: String, group: BTreeMap<String, String>, notify: bool },
    /// A deferred or repeated firing notification (no state change to publish).
    Notify { alert: Alert, fingerprint: String, group: BTreeMap<String, String> },
    /// Store (`Some`) or delete (`None`) the instance document.
    Persist { fingerprint: String, doc: Option<StoredInstance> },
}

/// The groups of one rule.
#[derive(Default)]
pub(crate) struct RuleState {
    /// By group key; hashbrown's default hasher (foldhash) instead of SipHash, since this
    /// lookup runs for every matching rule on every event.
    pub(crate) groups: hashbrown::HashMap<String, Group>,
    dropped: u64,
    /// Reused for multi-dimension group keys, so a lookup allocates nothing.
    key: String,
}

/// A rule and its live state; the engine holds one per rule.
pub(crate) struct RuleRuntime {
    pub(crate) compiled: Arc<CompiledRule>,
    state: Mutex<RuleState>,
}

fn group_key(rule: &CompiledRule, event: &Event, buf: &mut String) {
    buf.clear();
    for (i, d) in rule.group_by.iter().enumerate() {
        if i > 0 {
            buf.push('\u{1f}');
        }
        buf.push_str(d.value_of(event).unwrap_or(""));
    }
}

/// The group key of stored group labels (same layout as [`group_key`]).
fn key_of_labels(rule: &CompiledRule, group: &BTreeMap<String, String>) -> String {
    rule.group_by
        .iter()
        .map(|d| group.get(&label_name(d)).map_or("", String::as_str))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

impl RuleRuntime {
    pub(crate) fn new(compiled: Arc<CompiledRule>, started: Timestamp) -> RuleRuntime {
        let runtime = RuleRuntime { compiled, state: Mutex::new(RuleState::default()) };
        // An ungrouped absence rule counts silence from when it was installed.
        if runtime.compiled.kind == ConditionKind::Absence && runtime.compiled.group_by.is_empty() {
            let mut state = runtime.lock();
            let mut group = Group::new(&runtime.compiled, BTreeMap::new());
            group.inst.last_event = Some(started);
            group.dirty = true;
            state.groups.insert(String::new(), group);
        }
        runtime
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, RuleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves another runtime's state into this one (a rule edited without changing its
    /// identity or condition).
    pub(crate) fn adopt(&self, other: &RuleRuntime) {
        let mut theirs = other.lock();
        let mut mine = self.lock();
        *mine = std::mem::take(&mut *theirs);
    }

    /// Restores a stored instance.
    pub(crate) fn restore(&self, stored: StoredInstance) {
        let rule = &self.compiled;
        let key = key_of_labels(rule, &stored.group);
        let mut state = self.lock();
        let group = state.groups.entry(key).or_insert_with(|| Group::new(rule, stored.group.clone()));
        group.last_value = stored.instance.value;
        group.inst = stored.instance;
        group.persisted = true;
    }

    /// Feeds one event: updates the group's condition state and, when `evaluate`,
    /// runs the state machine (warm-up from the store passes `false`).
    pub(crate) fn observe(
        &self,
        event: &Event,
        now: Timestamp,
        cap: (usize, usize),
        evaluate: bool,
        out: &mut Vec<Output>,
    ) {
        let rule = &*self.compiled;
        if !rule.admits(event) {
            return;
        }
        let value = match rule.kind {
            ConditionKind::Threshold | ConditionKind::Anomaly => match rule.field_value(event) {
                Some(v) => v,
                None => return,
            },
            ConditionKind::Window => match rule.rule.condition.aggregate {
                Some(a) if a.counts_events() => 1.0,
                _ => match rule.field_value(event) {
                    Some(v) => v,
                    None => return,
                },
            },
            ConditionKind::ErrorRatio => {
                if event.event_type() == EventType::Error {
                    1.0
                } else {
                    0.0
                }
            }
            ConditionKind::Absence => 0.0,
        };
        let (max_groups, max_samples) = cap;
        let now_us = now.as_micros();
        let t = event.timestamp.as_micros().min(now_us);
        if matches!(rule.kind, ConditionKind::Window | ConditionKind::ErrorRatio)
            && t < now_us - rule.checked.window_us
        {
            return;
        }
        let mut guard = self.lock();
        let RuleState { groups, dropped, key } = &mut *guard;
        let lookup: &str = match rule.group_by.as_slice() {
            [] => "",
            [one] => one.value_of(event).unwrap_or(""),
            _ => {
                group_key(rule, event, key);
                key.as_str()
            }
        };
        if !groups.contains_key(lookup) {
            if groups.len() >= max_groups {
                *dropped += 1;
                metrics::counter!("monitor_alerts_groups_dropped_total").increment(1);
                if *dropped == 1 || *dropped % 10_000 == 0 {
                    tracing::warn!(rule = %rule.rule.id, groups = max_groups, dropped = *dropped, "alert rule has too many groups; new groups are not evaluated");
                }
                return;
            }
            groups.insert(lookup.to_owned(), Group::new(rule, rule.group_labels(event)));
        }
        let Some(group) = groups.get_mut(lookup) else { return };
        let event_time = Timestamp(t);
        match rule.kind {
            ConditionKind::Threshold => {
                group.last_value = Some(value);
                group.inst.last_event = Some(group.inst.last_event.map_or(event_time, |l| l.max(event_time)));
                if group.inst.phase != Phase::Inactive {
                    group.dirty = true;
                }
            }
            ConditionKind::Window | ConditionKind::ErrorRatio => {
                if let Some(window) = group.window.as_mut() {
                    window.push(rule.rule.condition.aggregate, t, value, max_samples);
                }
            }
            ConditionKind::Anomaly => {
                let found = group.detector.as_mut().and_then(|d| d.observe(event.timestamp, value));
                group.inst.last_event = Some(event_time);
                if let Some(anomaly) = found
                    && evaluate
                {
                    group.last_value = Some(anomaly.value);
                    group.inst.anomaly_at = Some(event_time);
                    group.anomaly_vars = vec![
                        ("score", format_value(anomaly.score)),
                        ("expected", format_value(anomaly.expected)),
                    ];
                    group.dirty = true;
                }
            }
            ConditionKind::Absence => {
                group.inst.last_event = Some(group.inst.last_event.map_or(event_time, |l| l.max(event_time)));
                group.dirty = true;
            }
        }
        if evaluate {
            step(rule, group, now_us, out);
        }
    }

    /// Runs timers for every group: `for`, keep-firing, window slides, absence, deferred
    /// and repeated notifications; persists changed instances; forgets idle groups.
    pub(crate) fn tick(&self, now: Timestamp, out: &mut Vec<Output>) {
        let rule = &*self.compiled;
        let now_us = now.as_micros();
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut forget = Vec::new();
        for (key, group) in &mut state.groups {
            if rule.rule.enabled {
                step(rule, group, now_us, out);
            } else if group.inst.phase == Phase::Firing {
                resolve(rule, group, now_us, out);
            } else if group.inst.phase == Phase::Pending {
                group.inst.phase = Phase::Inactive;
                group.inst.pending_since = None;
                group.dirty = true;
            }
            let idle_for = group.inst.last_event.map_or(i64::MAX, |t| now_us - t.as_micros());
            let stale = match rule.kind {
                ConditionKind::Absence => rule.checked.expire_us.is_some_and(|e| idle_for >= e),
                ConditionKind::Anomaly => idle_for >= 24 * MICROS_PER_HOUR,
                ConditionKind::Threshold => idle_for >= rule.checked.window_us,
                ConditionKind::Window | ConditionKind::ErrorRatio => {
                    group.window.as_ref().is_none_or(|w| w.len() == 0)
                }
            };
            if stale && rule.kind == ConditionKind::Absence {
                // An ended session: stop expecting events from it.
                if group.inst.phase == Phase::Firing {
                    resolve(rule, group, now_us, out);
                }
                forget.push(key.clone());
                continue;
            }
            if stale && group.inst.phase == Phase::Inactive && !group.worth_keeping(rule, now_us) {
                forget.push(key.clone());
                continue;
            }
            if group.dirty {
                persist(rule, group, now_us, out);
            }
        }
        for key in forget {
            if let Some(group) = state.groups.remove(&key)
                && group.persisted
            {
                out.push(Output::Persist { fingerprint: group.fingerprint, doc: None });
            }
        }
    }

    /// Resolves every active instance (the rule is being removed or replaced).
    pub(crate) fn resolve_all(&self, now: Timestamp, out: &mut Vec<Output>) {
        let rule = &*self.compiled;
        let mut state = self.lock();
        for group in state.groups.values_mut() {
            if group.inst.phase == Phase::Firing {
                resolve(rule, group, now.as_micros(), out);
            }
            if group.persisted {
                out.push(Output::Persist { fingerprint: group.fingerprint.clone(), doc: None });
                group.persisted = false;
            }
        }
        state.groups.clear();
    }

    /// The firing instances, as alerts.
    pub(crate) fn firing(&self, into: &mut Vec<Alert>) {
        let rule = &*self.compiled;
        let state = self.lock();
        for group in state.groups.values() {
            if group.inst.phase == Phase::Firing {
                into.push(alert(rule, group, AlertStatus::Firing, None));
            }
        }
    }

    /// Persists every changed instance (shutdown).
    pub(crate) fn flush(&self, now: Timestamp, out: &mut Vec<Output>) {
        let rule = &*self.compiled;
        let mut state = self.lock();
        for group in state.groups.values_mut() {
            if group.dirty {
                persist(rule, group, now.as_micros(), out);
            }
        }
    }
}

fn persist(rule: &CompiledRule, group: &mut Group, now: i64, out: &mut Vec<Output>) {
    group.dirty = false;
    if group.worth_keeping(rule, now) {
        group.persisted = true;
        out.push(Output::Persist {
            fingerprint: group.fingerprint.clone(),
            doc: Some(group.stored(&rule.rule.id)),
        });
    } else if group.persisted {
        group.persisted = false;
        out.push(Output::Persist { fingerprint: group.fingerprint.clone(), doc: None });
    }
}

fn alert(rule: &CompiledRule, group: &Group, status: AlertStatus, ends_at: Option<Timestamp>) -> Alert {
    Alert {
        rule_id: rule.rule.id.clone(),
        name: rule.rule.name.clone(),
        severity: rule.rule.severity,
        status,
        starts_at: group.inst.starts_at.unwrap_or_default(),
        ends_at,
        value: group.inst.value,
        labels: group.labels.clone(),
        annotations: group.inst.annotations.clone(),
    }
}

/// The condition's truth and value for a group at `now`.
#[allow(clippy::cast_precision_loss)]
fn condition(rule: &CompiledRule, group: &mut Group, now: i64) -> (bool, Option<f64>) {
    let firing = group.inst.phase == Phase::Firing;
    let window_us = rule.checked.window_us;
    match rule.kind {
        ConditionKind::Threshold => {
            let fresh = group.inst.last_event.is_some_and(|t| now - t.as_micros() < window_us);
            let value = group.last_value;
            (fresh && value.is_some_and(|v| rule.test(v, firing)), value)
        }
        ConditionKind::Window => {
            let aggregate = rule.rule.condition.aggregate;
            let Some(window) = group.window.as_mut() else { return (false, None) };
            window.evict(now - window_us);
            let value = aggregate.and_then(|a| window.aggregate(a, window_us));
            (value.is_some_and(|v| rule.test(v, firing)), value)
        }
        ConditionKind::ErrorRatio => {
            let Some(window) = group.window.as_mut() else { return (false, None) };
            window.evict(now - window_us);
            let n = window.len();
            if n == 0 {
                return (false, None);
            }
            let ratio = window.sum / n as f64;
            (n >= rule.min_volume && rule.test(ratio, firing), Some(ratio))
        }
        ConditionKind::Anomaly => {
            let holds = group.inst.anomaly_at.is_some_and(|t| now - t.as_micros() < window_us);
            (holds, group.last_value)
        }
        ConditionKind::Absence => {
            let Some(last) = group.inst.last_event else { return (false, None) };
            let silent = now - last.as_micros();
            (silent >= window_us, Some((silent / 1_000_000) as f64))
        }
    }
}

/// One evaluation of the state machine.
fn step(rule: &CompiledRule, group: &mut Group, now: i64, out: &mut Vec<Output>) {
    let (holds, value) = condition(rule, group, now);
    let c = &rule.checked;
    match group.inst.phase {
        Phase::Inactive => {
            if holds {
                group.inst.value = value;
                if c.for_us == 0 {
                    fire(rule, group, now, out);
                } else {
                    group.inst.phase = Phase::Pending;
                    group.inst.pending_since = Some(Timestamp(now));
                    group.dirty = true;
                    persist(rule, group, now, out);
                }
            }
        }
        Phase::Pending => {
            if !holds {
                group.inst.phase = Phase::Inactive;
                group.inst.pending_since = None;
                group.dirty = true;
                persist(rule, group, now, out);
            } else {
                group.inst.value = value;
                if group.inst.pending_since.is_none_or(|t| now - t.as_micros() >= c.for_us) {
                    fire(rule, group, now, out);
                }
            }
        }
        Phase::Firing => {
            if holds {
                group.inst.last_held = Some(Timestamp(now));
                group.inst.value = value.or(group.inst.value);
            } else {
                let held = group.inst.last_held.map_or(now, Timestamp::as_micros);
                if c.keep_firing_us == 0 || now - held >= c.keep_firing_us {
                    if value.is_some() {
                        group.inst.value = value;
                    }
                    resolve(rule, group, now, out);
                    return;
                }
            }
            let inst = &group.inst;
            let cooled = inst.last_fire_notice.is_none_or(|t| now - t.as_micros() >= c.cooldown_us);
            if !inst.notified && cooled {
                notify_firing(rule, group, now, out);
            } else if let Some(repeat) = c.repeat_us
                && inst.notified
                && inst.last_notified.is_some_and(|t| now - t.as_micros() >= repeat)
            {
                notify_firing(rule, group, now, out);
            }
        }
    }
}

fn fire(rule: &CompiledRule, group: &mut Group, now: i64, out: &mut Vec<Output>) {
    let at = Timestamp(now);
    let inst = &mut group.inst;
    inst.phase = Phase::Firing;
    inst.pending_since = None;
    inst.starts_at = Some(at);
    inst.last_held = Some(at);
    let cooled = inst.last_fire_notice.is_none_or(|t| now - t.as_micros() >= rule.checked.cooldown_us);
    inst.notified = cooled;
    if cooled {
        inst.last_fire_notice = Some(at);
        inst.last_notified = Some(at);
    }
    let value = inst.value;
    group.inst.annotations = rule.render_annotations(&group.labels, value, &group.anomaly_vars);
    group.dirty = true;
    persist(rule, group, now, out);
    metrics::counter!("monitor_alerts_transitions_total", "status" => "firing").increment(1);
    tracing::info!(rule = %rule.rule.id, fingerprint = %group.fingerprint, value = ?value, notify = cooled, "alert firing");
    out.push(Output::Transition {
        alert: alert(rule, group, AlertStatus::Firing, None),
        fingerprint: group.fingerprint.clone(),
        group: group.group.clone(),
        notify: cooled,
    });
}

fn notify_firing(rule: &CompiledRule, group: &mut Group, now: i64, out: &mut Vec<Output>) {
    let at = Timestamp(now);
    group.inst.notified = true;
    group.inst.last_fire_notice = Some(at);
    group.inst.last_notified = Some(at);
    group.dirty = true;
    persist(rule, group, now, out);
    out.push(Output::Notify {
        alert: alert(rule, group, AlertStatus::Firing, None),
        fingerprint: group.fingerprint.clone(),
        group: group.group.clone(),
    });
}

fn resolve(rule: &CompiledRule, group: &mut Group, now: i64, out: &mut Vec<Output>) {
    let notify = group.inst.notified;
    let resolved = alert(rule, group, AlertStatus::Resolved, Some(Timestamp(now)));
    let inst = &mut group.inst;
    inst.phase = Phase::Inactive;
    inst.pending_since = None;
    inst.starts_at = None;
    inst.last_held = None;
    inst.notified = false;
    inst.annotations.clear();
    group.dirty = true;
    persist(rule, group, now, out);
    metrics::counter!("monitor_alerts_transitions_total", "status" => "resolved").increment(1);
    tracing::info!(rule = %rule.rule.id, fingerprint = %group.fingerprint, notify, "alert resolved");
    out.push(Output::Transition {
        alert: resolved,
        fingerprint: group.fingerprint.clone(),
        group: group.group.clone(),
        notify,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_aggregates_slide_and_match_exact_quantiles() {
        let mut w = Window::new();
        let agg = Some(Aggregate::P95);
        for (i, v) in [5.0, 1.0, 9.0, 3.0, 7.0].into_iter().enumerate() {
            w.push(agg, i64::try_from(i).unwrap() * 10, v, 100);
        }
        // Sorted 1 3 5 7 9: p95 at rank 0.95 * 4 = 3.8 → 7 + 0.8 * 2 = 8.6.
        assert!((w.aggregate(Aggregate::P95, 100).unwrap() - 8.6).abs() < 1e-9);
        w.evict(25); // drops t=0 (5), t=10 (1), t=20 (9)
        assert_eq!(w.len(), 2);
        // Sorted 3 7: 3 + 0.95 * 4 = 6.8.
        assert!((w.aggregate(Aggregate::P95, 100).unwrap() - 6.8).abs() < 1e-9);

        let mut m = Window::new();
        for (t, v) in [(0, 4.0), (1, 8.0), (2, 2.0), (3, 6.0)] {
            m.push(Some(Aggregate::Max), t, v, 100);
        }
        assert_eq!(m.aggregate(Aggregate::Max, 10), Some(8.0));
        m.evict(2);
        assert_eq!(m.aggregate(Aggregate::Max, 10), Some(6.0));
        assert_eq!(m.aggregate(Aggregate::Avg, 10), Some(4.0));
        assert_eq!(m.aggregate(Aggregate::Rate, 4_000_000), Some(0.5));
        m.push(Some(Aggregate::Max), 10, 1.0, 2);
        assert_eq!(m.len(), 2, "the cap drops the oldest");
    }
}
