//! The alert engine: holds the rules, evaluates events and timers, keeps alert state in
//! the store, publishes alerts on the bus and delivers notifications.
//!
//! Three background tasks: the **bus task** feeds every event to [`AlertEngine::observe`];
//! the **ticker** runs timers every `evaluation_interval_ms` and polls the rules file;
//! the **effects task** applies what evaluation decided, in order (persist the instance,
//! write the durable outbox entry and start one delivery task per channel, publish on the
//! bus, upsert the history record). Each delivery retries on its own, so one slow or
//! failing channel never holds up another.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use monitor_core::alert::{Alert, AlertStatus};
use monitor_core::bus::{BusMessage, Received, SubscriptionFilter};
use monitor_core::event::Event;
use monitor_core::query::{Aggregation, Dimension, FilterOp, Query};
use monitor_core::store::{Record, RecordQuery};
use monitor_core::time::{MICROS_PER_HOUR, Timestamp};
use monitor_core::{Bus, StoreRef};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::channels::{self, ChannelSpec, Notification, Outcome, Target};
use crate::clock::{Clock, SystemClock};
use crate::config::AlertsConfig;
use crate::error::{Error, Result};
use crate::eval::{CompiledRule, Output, RuleRuntime, StoredInstance};
use crate::rule::{AlertRule, ChannelConfig, ConditionKind, parse_rules_file};

/// State namespace of rules created over the API.
pub const RULES_NAMESPACE: &str = "alerts.rules";
/// State namespace of alert instances (pending timers, firing alerts, cooldowns,
/// absence clocks), keyed by fingerprint.
pub const INSTANCES_NAMESPACE: &str = "alerts.instances";
/// State namespace of deliveries not yet finished (the durable outbox).
pub const OUTBOX_NAMESPACE: &str = "alerts.outbox";
/// Record log of alerts, one record per firing episode (upserted when it resolves).
pub const HISTORY_LOG: &str = "alert-history";
/// Record log of delivery attempts.
pub const NOTIFICATION_LOG: &str = "alert-notifications";

struct RuleSet {
    rules: Vec<Arc<RuleRuntime>>,
    by_id: HashMap<String, usize>,
    /// For each operation some rule's filter names: the rules that may admit an event of
    /// that operation (those naming it and those without an operation filter), in rule
    /// order. Rules on other operations are never shown the event.
    by_operation: HashMap<String, Vec<usize>>,
    /// The rules without an operation filter: all an event of any other operation (or of
    /// none) may match.
    general: Vec<usize>,
}

impl RuleSet {
    fn new(rules: Vec<Arc<RuleRuntime>>) -> RuleSet {
        let by_id = rules.iter().enumerate().map(|(i, r)| (r.compiled.rule.id.clone(), i)).collect();
        let operations: Vec<Option<&[String]>> = rules
            .iter()
            .map(|runtime| {
                runtime
                    .compiled
                    .checked
                    .filters
                    .iter()
                    .find(|f| {
                        f.dimension == Dimension::Operation && matches!(f.op, FilterOp::Eq | FilterOp::In)
                    })
                    .map(|f| f.values.as_slice())
            })
            .collect();
        let general: Vec<usize> = (0..rules.len()).filter(|i| operations[*i].is_none()).collect();
        let mut by_operation: HashMap<String, Vec<usize>> = HashMap::new();
        for value in operations.iter().flatten().copied().flatten() {
            by_operation.entry(value.clone()).or_insert_with(|| {
                (0..rules.len())
                    .filter(|i| operations[*i].is_none_or(|values| values.contains(value)))
                    .collect()
            });
        }
        RuleSet { rules, by_id, by_operation, general }
    }

    fn get(&self, id: &str) -> Option<&Arc<RuleRuntime>> {
        self.by_id.get(id).map(|i| &self.rules[*i])
    }

    /// The rules that may admit `event`, in rule order.
    fn candidates<'s>(&'s self, event: &Event) -> impl Iterator<Item = &'s Arc<RuleRuntime>> + 's {
        let indices = event.operation().and_then(|op| self.by_operation.get(op)).unwrap_or(&self.general);
        indices.iter().map(|i| &self.rules[*i])
    }
}

enum Effect {
    Outputs { rule: Arc<CompiledRule>, outputs: Vec<Output> },
    Flush(oneshot::Sender<()>),
}

/// What the rules-file watcher last saw.
#[derive(Default)]
struct FileWatch {
    modified: Option<SystemTime>,
    len: u64,
    text: String,
}

struct Shared {
    store: StoreRef,
    bus: Bus,
    config: AlertsConfig,
    base_url: String,
    clock: Arc<dyn Clock>,
    /// std RwLock: read on every event, never held across an await.
    rules: RwLock<Arc<RuleSet>>,
    /// Serializes rule changes (API, file reload); held across store writes, hence tokio's.
    updates: tokio::sync::Mutex<FileWatch>,
    effects: mpsc::UnboundedSender<Effect>,
    http: reqwest::Client,
    deliveries: TaskTracker,
    delivery_cancel: CancellationToken,
    tasks_cancel: CancellationToken,
    effects_cancel: CancellationToken,
    /// std Mutex: only touched at start and shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    effects_task: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    seq: AtomicU64,
    /// Per (rule, channel, instance): the completion signal of the newest delivery, so the
    /// next one waits for it and a receiver never sees `resolved` before `firing`.
    /// std Mutex: held only to swap an entry.
    order: Mutex<HashMap<String, (u64, oneshot::Receiver<()>)>>,
}

/// The alert engine; cloning shares it.
#[derive(Clone)]
pub struct AlertEngine {
    shared: Arc<Shared>,
}

/// A delivery not yet finished, as kept in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    id: String,
    rule_id: String,
    channel_index: usize,
    channel: ChannelConfig,
    notification: Notification,
    attempts: u32,
}

impl AlertEngine {
    /// Starts the engine on the system clock: loads the rules file (an invalid file is an
    /// error naming the rule and field), restores API rules and alert state from the
    /// store, subscribes to the bus, resumes unfinished deliveries and spawns the
    /// evaluation and notification tasks. Needs a tokio runtime.
    pub async fn start(store: StoreRef, bus: Bus, config: AlertsConfig) -> Result<AlertEngine> {
        AlertEngine::start_with_clock(store, bus, config, Arc::new(SystemClock)).await
    }

    /// [`AlertEngine::start`] with a given clock (tests, simulations, backtests).
    pub async fn start_with_clock(
        store: StoreRef,
        bus: Bus,
        config: AlertsConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AlertEngine> {
        config.validate()?;
        let now = clock.now();
        let mut watch = FileWatch::default();
        let mut rules: Vec<AlertRule> = Vec::new();
        if let Some(path) = &config.rules_file {
            let (text, modified, len) = read_rules_file(path).await?;
            rules = parse_rules_file(path, &text)
                .map_err(|reason| Error::RulesFile { path: path.clone(), reason })?;
            for rule in &mut rules {
                rule.read_only = true;
            }
            watch = FileWatch { modified, len, text };
            tracing::info!(path = %path.display(), rules = rules.len(), "alert rules file loaded");
        }
        for (key, value) in store.load_state(RULES_NAMESPACE).await? {
            let rule = match AlertRule::from_value(value).and_then(|r| r.validate().map(|()| r)) {
                Ok(rule) => rule,
                Err(e) => {
                    tracing::warn!(key, error = %e, "skipping a stored alert rule that no longer validates");
                    continue;
                }
            };
            if rules.iter().any(|r| r.id == rule.id) {
                tracing::warn!(id = %rule.id, "a stored API rule has the id of a rules-file rule; the file's wins");
                continue;
            }
            rules.push(AlertRule { read_only: false, ..rule });
        }
        let http = channels::http_client(Duration::from_millis(config.delivery.timeout_ms))
            .map_err(Error::Config)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            store,
            bus,
            base_url: config.base_url(),
            config,
            clock,
            rules: RwLock::new(Arc::new(RuleSet::new(Vec::new()))),
            updates: tokio::sync::Mutex::new(watch),
            effects: tx,
            http,
            deliveries: TaskTracker::new(),
            delivery_cancel: CancellationToken::new(),
            tasks_cancel: CancellationToken::new(),
            effects_cancel: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            effects_task: Mutex::new(None),
            closed: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            order: Mutex::new(HashMap::new()),
        });
        let engine = AlertEngine { shared: shared.clone() };

        let mut runtimes = Vec::with_capacity(rules.len());
        for rule in rules {
            let checked = rule.check()?;
            runtimes.push(Arc::new(RuleRuntime::new(Arc::new(CompiledRule::new(rule, checked)), now)));
        }
        let set = RuleSet::new(runtimes);
        let mut orphans = Vec::new();
        for (key, value) in shared.store.load_state(INSTANCES_NAMESPACE).await? {
            let stored: StoredInstance = match serde_json::from_value(value) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(key, error = %e, "dropping undecodable alert state");
                    orphans.push(key);
                    continue;
                }
            };
            let Some(runtime) = set.get(&stored.rule_id) else {
                orphans.push(key);
                continue;
            };
            let labels = runtime.compiled.rule.instance_labels(&stored.group);
            if monitor_core::alert::fingerprint(&runtime.compiled.rule.id, &labels) != key {
                tracing::info!(key, rule = %stored.rule_id, "dropping alert state of an earlier version of its rule");
                orphans.push(key);
                continue;
            }
            runtime.restore(stored);
        }
        for key in orphans {
            shared.store.put_state(INSTANCES_NAMESPACE, &key, None).await?;
        }
        for runtime in &set.rules {
            engine.warm(runtime, now).await;
        }
        metrics::gauge!("monitor_alerts_rules").set(count_f64(set.rules.len()));
        *shared.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);

        let effects = tokio::spawn(effects_loop(shared.clone(), rx));
        *shared.effects_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(effects);
        let subscription =
            shared.bus.subscribe(SubscriptionFilter { no_alerts: true, ..SubscriptionFilter::default() });
        let bus_task = tokio::spawn(bus_loop(engine.clone(), subscription));
        let ticker = tokio::spawn(ticker_loop(engine.clone()));
        shared.tasks.lock().unwrap_or_else(|e| e.into_inner()).extend([bus_task, ticker]);

        let outbox = shared.store.load_state(OUTBOX_NAMESPACE).await?;
        for (key, value) in outbox {
            match serde_json::from_value::<Delivery>(value) {
                Ok(delivery) => {
                    tracing::info!(id = %delivery.id, "resuming an unfinished alert delivery");
                    spawn_delivery(&shared, delivery);
                }
                Err(e) => {
                    tracing::warn!(key, error = %e, "dropping an undecodable outbox entry");
                    shared.store.put_state(OUTBOX_NAMESPACE, &key, None).await?;
                }
            }
        }
        engine.tick();
        Ok(engine)
    }

    /// Evaluates one event against every rule. Cheap and synchronous: the bus task calls
    /// it for each published event (do not call it too for events that go on the bus).
    pub fn observe(&self, event: &Event) {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            return;
        }
        let now = shared.clock.now();
        let set = shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        let caps = (shared.config.max_groups_per_rule, shared.config.max_window_samples);
        let mut out = Vec::new();
        for runtime in set.candidates(event) {
            runtime.observe(event, now, caps, true, &mut out);
            if !out.is_empty() {
                self.emit(&runtime.compiled, std::mem::take(&mut out));
            }
        }
    }

    /// Runs the timers now (`for`, keep-firing, window slides, absence, deferred and
    /// repeated notifications). The ticker calls it every `evaluation_interval_ms`; tests
    /// on a [`crate::ManualClock`] call it after moving the clock.
    pub fn tick(&self) {
        let now = self.shared.clock.now();
        let set = self.shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = Vec::new();
        for runtime in &set.rules {
            runtime.tick(now, &mut out);
            if !out.is_empty() {
                self.emit(&runtime.compiled, std::mem::take(&mut out));
            }
        }
    }

    fn emit(&self, rule: &Arc<CompiledRule>, outputs: Vec<Output>) {
        // Fails only after shutdown, when nothing is to be applied any more.
        let _ = self.shared.effects.send(Effect::Outputs { rule: rule.clone(), outputs });
    }

    /// Waits until everything decided so far is applied: instances persisted, history
    /// written, alerts published and their deliveries started.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared.effects.send(Effect::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// [`AlertEngine::flush`], then waits for every delivery in flight to finish
    /// (delivered, failed or out of attempts).
    pub async fn wait_idle(&self) {
        self.flush().await;
        let tracker = &self.shared.deliveries;
        tracker.close();
        tracker.wait().await;
        if !self.shared.closed.load(Ordering::Relaxed) {
            tracker.reopen();
        }
    }

    /// Every rule: the file's first (in file order), then the API's.
    pub fn rules(&self) -> Vec<AlertRule> {
        let set = self.shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        set.rules.iter().map(|r| r.compiled.rule.clone()).collect()
    }

    /// One rule by id.
    pub fn rule(&self, id: &str) -> Option<AlertRule> {
        let set = self.shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        set.get(id).map(|r| r.compiled.rule.clone())
    }

    /// Creates or replaces a rule (API): validated, persisted, applied at once. A rule
    /// from the rules file is read-only ([`Error::ReadOnly`]). Editing only threshold,
    /// channels, annotations, timings keeps the rule's live alerts; changing its
    /// condition, name, severity or labels resolves them and starts afresh.
    pub async fn put_rule(&self, rule: AlertRule) -> Result<AlertRule> {
        self.ensure_open()?;
        let rule = AlertRule { read_only: false, ..rule };
        let checked = rule.check()?;
        let _guard = self.shared.updates.lock().await;
        let current = self.shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        if current.get(&rule.id).is_some_and(|r| r.compiled.rule.read_only) {
            return Err(Error::ReadOnly(rule.id));
        }
        let value = serde_json::to_value(&rule)
            .map_err(|e| Error::Corrupt { key: rule.id.clone(), reason: e.to_string() })?;
        self.shared.store.put_state(RULES_NAMESPACE, &rule.id, Some(&value)).await?;
        let mut next: Vec<(AlertRule, Option<crate::rule::Checked>)> =
            current.rules.iter().map(|r| (r.compiled.rule.clone(), None)).collect();
        match next.iter_mut().find(|(r, _)| r.id == rule.id) {
            Some(slot) => *slot = (rule.clone(), Some(checked)),
            None => next.push((rule.clone(), Some(checked))),
        }
        self.install(&current, next).await?;
        tracing::info!(id = %rule.id, "alert rule saved");
        Ok(rule)
    }

    /// Deletes an API rule, resolving its active alerts; `false` when there was none.
    /// A rule from the rules file is read-only ([`Error::ReadOnly`]).
    pub async fn delete_rule(&self, id: &str) -> Result<bool> {
        self.ensure_open()?;
        let _guard = self.shared.updates.lock().await;
        let current = self.shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(existing) = current.get(id) else { return Ok(false) };
        if existing.compiled.rule.read_only {
            return Err(Error::ReadOnly(id.to_owned()));
        }
        self.shared.store.put_state(RULES_NAMESPACE, id, None).await?;
        let next = current
            .rules
            .iter()
            .filter(|r| r.compiled.rule.id != id)
            .map(|r| (r.compiled.rule.clone(), None))
            .collect();
        self.install(&current, next).await?;
        tracing::info!(id, "alert rule deleted");
        Ok(true)
    }

    /// Alerts firing now, newest first.
    pub fn active(&self) -> Vec<Alert> {
        let set = self.shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut alerts = Vec::new();
        for runtime in &set.rules {
            runtime.firing(&mut alerts);
        }
        alerts.sort_by(|a, b| b.starts_at.cmp(&a.starts_at).then_with(|| a.rule_id.cmp(&b.rule_id)));
        alerts
    }

    /// Alerts that started in `[start, end)`, firing and resolved, newest first (one
    /// record per firing episode: resolving replaces the firing record).
    pub async fn history(&self, start: Timestamp, end: Timestamp, limit: usize) -> Result<Vec<Alert>> {
        let records = self.shared.store.read_records(HISTORY_LOG, RecordQuery { start, end, limit }).await?;
        Ok(records
            .into_iter()
            .filter_map(|r| match serde_json::from_value::<Alert>(r.body) {
                Ok(alert) => Some(alert),
                Err(e) => {
                    tracing::warn!(id = %r.id, error = %e, "skipping an undecodable alert history record");
                    None
                }
            })
            .collect())
    }

    /// Delivery attempts in `[start, end)`, newest first: one JSON object per attempt
    /// (`deliveryId`, `ruleId`, `fingerprint`, `status`, `channel`, `attempt`, `outcome`
    /// delivered | retrying | failed | gave_up, `detail`, `elapsedMs`).
    pub async fn notifications(&self, start: Timestamp, end: Timestamp, limit: usize) -> Result<Vec<Value>> {
        let records =
            self.shared.store.read_records(NOTIFICATION_LOG, RecordQuery { start, end, limit }).await?;
        Ok(records.into_iter().map(|r| r.body).collect())
    }

    /// Stops the engine: no more evaluation, instance state flushed to the store,
    /// deliveries in flight given `delivery.shutdown_grace_ms` to finish (the rest stay in
    /// the outbox and are resent at the next start). Idempotent.
    pub async fn shutdown(&self) {
        let shared = &*self.shared;
        if shared.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        shared.tasks_cancel.cancel();
        let tasks: Vec<_> = shared.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        let now = shared.clock.now();
        let set = shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = Vec::new();
        for runtime in &set.rules {
            runtime.flush(now, &mut out);
            if !out.is_empty() {
                self.emit(&runtime.compiled, std::mem::take(&mut out));
            }
        }
        self.flush().await;
        shared.deliveries.close();
        let grace = Duration::from_millis(shared.config.delivery.shutdown_grace_ms);
        if tokio::time::timeout(grace, shared.deliveries.wait()).await.is_err() {
            tracing::warn!("alert deliveries still running at shutdown; they resume at the next start");
            shared.delivery_cancel.cancel();
            shared.deliveries.wait().await;
        }
        shared.effects_cancel.cancel();
        let effects = shared.effects_task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = effects {
            let _ = task.await;
        }
        tracing::info!("alert engine stopped");
    }

    fn ensure_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::Relaxed) { Err(Error::Closed) } else { Ok(()) }
    }

    /// Replaces the rule set with `next` (rules with `Some(checked)` are new or changed).
    /// A rule whose identity and condition are unchanged keeps its live state; others
    /// start afresh (warmed from the store), and the alerts of rules that went away or
    /// changed identity resolve.
    async fn install(
        &self,
        current: &RuleSet,
        next: Vec<(AlertRule, Option<crate::rule::Checked>)>,
    ) -> Result<()> {
        let now = self.shared.clock.now();
        let mut runtimes = Vec::with_capacity(next.len());
        let mut fresh = Vec::new();
        let mut kept = Vec::new();
        for (rule, checked) in next {
            let old = current.get(&rule.id);
            match (checked, old) {
                (None, Some(old)) => {
                    runtimes.push(old.clone());
                    kept.push(rule.id.clone());
                }
                (checked, old) => {
                    let checked = match checked {
                        Some(c) => c,
                        None => rule.check()?,
                    };
                    let same_identity = old.is_some_and(|o| same_identity(&o.compiled.rule, &rule));
                    let runtime = Arc::new(RuleRuntime::new(Arc::new(CompiledRule::new(rule, checked)), now));
                    if let (true, Some(old)) = (same_identity, old) {
                        runtime.adopt(old);
                        kept.push(runtime.compiled.rule.id.clone());
                    } else {
                        fresh.push(runtime.clone());
                    }
                    runtimes.push(runtime);
                }
            }
        }
        for runtime in &fresh {
            self.warm(runtime, now).await;
        }
        let set = Arc::new(RuleSet::new(runtimes));
        *self.shared.rules.write().unwrap_or_else(|e| e.into_inner()) = set.clone();
        metrics::gauge!("monitor_alerts_rules").set(count_f64(set.rules.len()));
        // Rules that went away or changed identity: resolve what they had active.
        for old in &current.rules {
            if !kept.contains(&old.compiled.rule.id) {
                let mut out = Vec::new();
                old.resolve_all(now, &mut out);
                if !out.is_empty() {
                    self.emit(&old.compiled, out);
                }
            }
        }
        self.tick();
        Ok(())
    }

    /// Fills a new rule's windows, last values and detectors from the events the store
    /// already holds, so a restart or a new rule does not start blind (absence rules
    /// start counting silence from now instead: old sessions must not page).
    async fn warm(&self, runtime: &RuleRuntime, now: Timestamp) {
        let rule = &runtime.compiled;
        let span = match rule.kind() {
            ConditionKind::Threshold | ConditionKind::Window | ConditionKind::ErrorRatio => {
                rule.checked.window_us
            }
            ConditionKind::Anomaly => 24 * MICROS_PER_HOUR,
            ConditionKind::Absence => return,
        };
        let limit = self.shared.config.max_window_samples.min(100_000);
        let mut query = Query::new(now.add_micros(-span), now.add_micros(1), Aggregation::Raw).limit(limit);
        for filter in rule.filters() {
            query = query.filter(filter.clone());
        }
        match self.shared.store.query(&query).await {
            Ok(result) => {
                let caps = (self.shared.config.max_groups_per_rule, self.shared.config.max_window_samples);
                let mut sink = Vec::new();
                for event in result.events().iter().rev() {
                    runtime.observe(event, now, caps, false, &mut sink);
                }
                tracing::debug!(rule = %rule.rule.id, events = result.events().len(), "alert rule warmed from the store");
            }
            Err(e) => {
                tracing::warn!(rule = %rule.rule.id, error = %e, "could not warm an alert rule from the store")
            }
        }
    }

    /// Re-reads the rules file if it changed; an invalid file is rejected whole (logged,
    /// counted in `monitor_alerts_rules_reloads_total{outcome="rejected"}`) and the
    /// rules in force stay.
    pub async fn reload_rules_file(&self) -> Result<bool> {
        let Some(path) = self.shared.config.rules_file.clone() else { return Ok(false) };
        let mut watch = self.shared.updates.lock().await;
        let (modified, len) = match tokio::fs::metadata(&path).await {
            Ok(meta) => (meta.modified().ok(), meta.len()),
            Err(e) => {
                return Err(Error::RulesFile { path, reason: e.to_string() });
            }
        };
        if modified == watch.modified && len == watch.len {
            return Ok(false);
        }
        let (text, modified, len) = read_rules_file(&path).await?;
        watch.modified = modified;
        watch.len = len;
        if text == watch.text {
            return Ok(false);
        }
        watch.text.clone_from(&text);
        let mut file_rules = match parse_rules_file(&path, &text) {
            Ok(rules) => rules,
            Err(reason) => {
                metrics::counter!("monitor_alerts_rules_reloads_total", "outcome" => "rejected").increment(1);
                tracing::error!(path = %path.display(), %reason, "rejected the changed rules file; the rules in force stay");
                return Err(Error::RulesFile { path, reason });
            }
        };
        for rule in &mut file_rules {
            rule.read_only = true;
        }
        let current = self.shared.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut next: Vec<(AlertRule, Option<crate::rule::Checked>)> = Vec::new();
        for rule in file_rules {
            let unchanged = current.get(&rule.id).is_some_and(|r| r.compiled.rule == rule);
            let checked = if unchanged { None } else { Some(rule.check()?) };
            next.push((rule, checked));
        }
        for runtime in &current.rules {
            let rule = &runtime.compiled.rule;
            if !rule.read_only && !next.iter().any(|(r, _)| r.id == rule.id) {
                next.push((rule.clone(), None));
            }
        }
        let count = next.iter().filter(|(r, _)| r.read_only).count();
        self.install(&current, next).await?;
        metrics::counter!("monitor_alerts_rules_reloads_total", "outcome" => "applied").increment(1);
        tracing::info!(path = %path.display(), rules = count, "alert rules file reloaded");
        Ok(true)
    }

    fn notification(
        &self,
        rule: &CompiledRule,
        alert: Alert,
        fingerprint: String,
        group: BTreeMap<String, String>,
    ) -> Notification {
        let mut group_labels = group;
        group_labels.insert("alertname".to_owned(), alert.name.clone());
        Notification {
            alert,
            fingerprint,
            group_labels,
            threshold: rule.rule.threshold,
            condition_text: rule.condition_text.clone(),
            external_url: self.shared.base_url.clone(),
            receiver: self.shared.config.receiver.clone(),
        }
    }
}

fn same_identity(old: &AlertRule, new: &AlertRule) -> bool {
    old.condition == new.condition
        && old.name == new.name
        && old.severity == new.severity
        && old.labels == new.labels
}

#[allow(clippy::cast_precision_loss)]
fn count_f64(n: usize) -> f64 {
    n as f64
}

async fn read_rules_file(path: &Path) -> Result<(String, Option<SystemTime>, u64)> {
    let fail = |e: std::io::Error| Error::RulesFile { path: PathBuf::from(path), reason: e.to_string() };
    let meta = tokio::fs::metadata(path).await.map_err(fail)?;
    let text = tokio::fs::read_to_string(path).await.map_err(fail)?;
    Ok((text, meta.modified().ok(), meta.len()))
}

async fn bus_loop(engine: AlertEngine, mut subscription: monitor_core::bus::Subscription) {
    let cancel = engine.shared.tasks_cancel.clone();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            received = subscription.recv() => match received {
                Some(Received::Message(_, BusMessage::Event(event))) => engine.observe(&event),
                Some(Received::Message(_, BusMessage::Alert(_))) => {}
                Some(Received::Lagged(skipped)) => {
                    metrics::counter!("monitor_alerts_events_missed_total").increment(skipped);
                    tracing::warn!(skipped, "alert engine fell behind the bus; these events were not evaluated");
                }
                None => break,
            }
        }
    }
}

async fn ticker_loop(engine: AlertEngine) {
    let shared = engine.shared.clone();
    let mut eval = tokio::time::interval(Duration::from_millis(shared.config.evaluation_interval_ms));
    eval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The file was just loaded at start: the first poll is one interval away.
    let poll_every = Duration::from_millis(shared.config.rules_poll_interval_ms);
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + poll_every, poll_every);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watching = shared.config.rules_file.is_some();
    loop {
        tokio::select! {
            () = shared.tasks_cancel.cancelled() => break,
            _ = eval.tick() => engine.tick(),
            _ = poll.tick(), if watching => {
                // Errors are logged where they happen; the old rules stay in force.
                let _ = engine.reload_rules_file().await;
            }
        }
    }
}

async fn effects_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Effect>) {
    let engine = AlertEngine { shared: shared.clone() };
    loop {
        tokio::select! {
            biased;
            effect = rx.recv() => match effect {
                Some(effect) => apply(&engine, effect).await,
                None => break,
            },
            () = shared.effects_cancel.cancelled() => {
                while let Ok(effect) = rx.try_recv() {
                    apply(&engine, effect).await;
                }
                break;
            }
        }
    }
}

async fn apply(engine: &AlertEngine, effect: Effect) {
    let shared = &engine.shared;
    match effect {
        Effect::Flush(done) => {
            let _ = done.send(());
        }
        Effect::Outputs { rule, outputs } => {
            for output in outputs {
                match output {
                    Output::Persist { fingerprint, doc } => {
                        let value = doc.map(|d| serde_json::to_value(d).unwrap_or(Value::Null));
                        if let Err(e) =
                            shared.store.put_state(INSTANCES_NAMESPACE, &fingerprint, value.as_ref()).await
                        {
                            store_error("persist alert state", &e);
                        }
                    }
                    Output::Transition { alert, fingerprint, group, notify } => {
                        if notify {
                            let n = engine.notification(&rule, alert.clone(), fingerprint.clone(), group);
                            start_deliveries(shared, &rule, n).await;
                        }
                        shared.bus.publish_alert(alert.clone());
                        let record = Record {
                            id: format!("{fingerprint}:{}", alert.starts_at.as_micros()),
                            time: alert.starts_at,
                            body: serde_json::to_value(&alert).unwrap_or(Value::Null),
                        };
                        if let Err(e) = shared.store.put_records(HISTORY_LOG, &[record]).await {
                            store_error("write alert history", &e);
                        }
                        let active = engine.active().len();
                        metrics::gauge!("monitor_alerts_active").set(count_f64(active));
                    }
                    Output::Notify { alert, fingerprint, group } => {
                        let n = engine.notification(&rule, alert, fingerprint, group);
                        start_deliveries(shared, &rule, n).await;
                    }
                }
            }
        }
    }
}

fn store_error(what: &str, e: &monitor_core::Error) {
    metrics::counter!("monitor_alerts_store_errors_total").increment(1);
    tracing::error!(error = %e, "could not {what}");
}

/// One durable outbox entry and one task per channel that wants this notification.
async fn start_deliveries(shared: &Arc<Shared>, rule: &CompiledRule, n: Notification) {
    let status = n.alert.status;
    let now = shared.clock.now();
    for (index, (spec, channel)) in rule.checked.channels.iter().zip(&rule.rule.channels).enumerate() {
        if !spec.enabled
            || spec.target == Target::Dashboard
            || (status == AlertStatus::Resolved && !spec.send_resolved)
        {
            continue;
        }
        let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
        let word = if status == AlertStatus::Firing { "firing" } else { "resolved" };
        let delivery = Delivery {
            id: format!(
                "{}:{}:{word}:{index}:{}-{seq}",
                n.fingerprint,
                n.alert.starts_at.as_micros(),
                now.as_micros()
            ),
            rule_id: rule.rule.id.clone(),
            channel_index: index,
            channel: channel.clone(),
            notification: n.clone(),
            attempts: 0,
        };
        let value = serde_json::to_value(&delivery).unwrap_or(Value::Null);
        if let Err(e) = shared.store.put_state(OUTBOX_NAMESPACE, &delivery.id, Some(&value)).await {
            store_error("queue an alert delivery", &e);
        }
        spawn_delivery(shared, delivery);
    }
}

fn spawn_delivery(shared: &Arc<Shared>, delivery: Delivery) {
    match channels::parse_channel(&delivery.channel) {
        Ok(spec) => {
            let key = format!(
                "{}:{}:{}",
                delivery.rule_id, delivery.channel_index, delivery.notification.fingerprint
            );
            let generation = shared.seq.fetch_add(1, Ordering::Relaxed);
            let (done, turn) = oneshot::channel::<()>();
            let previous = shared
                .order
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), (generation, turn))
                .map(|(_, rx)| rx);
            let shared = shared.clone();
            shared.deliveries.clone().spawn(async move {
                if let Some(previous) = previous {
                    tokio::select! {
                        _ = previous => {}
                        () = shared.delivery_cancel.cancelled() => return,
                    }
                }
                run_delivery(shared.clone(), delivery, spec).await;
                drop(done);
                let mut order = shared.order.lock().unwrap_or_else(|e| e.into_inner());
                if order.get(&key).is_some_and(|(g, _)| *g == generation) {
                    order.remove(&key);
                }
            });
        }
        Err(e) => {
            tracing::error!(id = %delivery.id, error = %e, "dropping a delivery whose channel no longer parses");
            let shared = shared.clone();
            shared.deliveries.clone().spawn(async move {
                let _ = shared.store.put_state(OUTBOX_NAMESPACE, &delivery.id, None).await;
            });
        }
    }
}

async fn send_once(shared: &Shared, spec: &ChannelSpec, n: &Notification) -> Outcome {
    let timeout = Duration::from_millis(shared.config.delivery.timeout_ms);
    let attempt = async {
        match &spec.target {
            Target::Slack(config) => channels::slack::send(&shared.http, config, n).await,
            Target::Webhook(config) => channels::webhook::send(&shared.http, config, n).await,
            Target::Email(config) => channels::email::send(&shared.config.smtp, config, n, timeout).await,
            Target::Dashboard => Outcome::Delivered { detail: "bus".to_owned() },
        }
    };
    // The clients have their own timeouts; this bounds anything they miss.
    match tokio::time::timeout(timeout + Duration::from_secs(1), attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Retry { error: "timed out".to_owned(), after: None },
    }
}

/// Sends one notification to one channel, retrying with backoff; every attempt is
/// recorded in the notification log. Cancellation (shutdown) leaves the outbox entry for
/// the next start.
async fn run_delivery(shared: Arc<Shared>, mut delivery: Delivery, spec: ChannelSpec) {
    let channel = spec.kind.as_str();
    let config = &shared.config.delivery;
    loop {
        delivery.attempts += 1;
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = send_once(&shared, &spec, &delivery.notification) => outcome,
            () = shared.delivery_cancel.cancelled() => return,
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let last = delivery.attempts >= config.max_attempts;
        let (label, detail, retry_after) = match &outcome {
            Outcome::Delivered { detail } => ("delivered", detail.clone(), None),
            Outcome::Fail { error } => ("failed", error.clone(), None),
            Outcome::Retry { error, .. } if last => ("gave_up", error.clone(), None),
            Outcome::Retry { error, after } => ("retrying", error.clone(), *after),
        };
        metrics::counter!("monitor_alerts_notifications_total", "channel" => channel, "outcome" => label)
            .increment(1);
        let n = &delivery.notification;
        let record = Record {
            id: format!("{}#{}", delivery.id, delivery.attempts),
            time: shared.clock.now(),
            body: json!({
                "deliveryId": delivery.id,
                "ruleId": delivery.rule_id,
                "fingerprint": n.fingerprint,
                "status": n.alert.status,
                "channel": channel,
                "channelIndex": delivery.channel_index,
                "attempt": delivery.attempts,
                "outcome": label,
                "detail": detail,
                "elapsedMs": (elapsed_ms * 1000.0).round() / 1000.0,
            }),
        };
        if let Err(e) = shared.store.put_records(NOTIFICATION_LOG, &[record]).await {
            store_error("record a delivery attempt", &e);
        }
        match label {
            "delivered" => {
                tracing::info!(id = %delivery.id, channel, attempt = delivery.attempts, "alert notification delivered");
            }
            "retrying" => {
                tracing::warn!(id = %delivery.id, channel, attempt = delivery.attempts, error = %detail, "alert notification failed; retrying");
                let value = serde_json::to_value(&delivery).unwrap_or(Value::Null);
                if let Err(e) = shared.store.put_state(OUTBOX_NAMESPACE, &delivery.id, Some(&value)).await {
                    store_error("update an alert delivery", &e);
                }
                let wait = config.backoff(delivery.attempts, retry_after);
                tokio::select! {
                    () = tokio::time::sleep(wait) => continue,
                    () = shared.delivery_cancel.cancelled() => return,
                }
            }
            _ => {
                tracing::error!(id = %delivery.id, channel, attempt = delivery.attempts, error = %detail, "alert notification not delivered");
            }
        }
        if let Err(e) = shared.store.put_state(OUTBOX_NAMESPACE, &delivery.id, None).await {
            store_error("finish an alert delivery", &e);
        }
        return;
    }
}
