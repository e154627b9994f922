//! monitor-alerts embedded alone: no server, one process.
//!
//! A [`MemoryStore`], a [`Bus`] and a [`Collector`] carry the events; an [`AlertEngine`]
//! subscribes to the bus itself and evaluates one rule — p95 of `duration` of
//! `operation=llm:call` over a 5-minute window above a threshold — whose webhook channel
//! points at a small axum receiver this module starts on a free loopback port. Fast
//! calls come first, then slow ones until the p95 crosses the threshold; a slow call of
//! another operation shows that the filter holds. The receiver gets one Alertmanager v4
//! body, and the engine lists the alert as active.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use monitor_alerts::{Alert, AlertEngine, AlertRule, AlertsConfig};
use monitor_core::bus::{BusMessage, Received, SubscriptionFilter};
use monitor_core::store::MemoryStore;
use monitor_core::{AgentType, Bus, Collector, CollectorConfig, MetricEvent, Source, StoreRef};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What to run.
#[derive(Clone, Debug)]
pub struct EmbeddedAlertsConfig {
    /// The rule's threshold on p95 of `duration`, in ms.
    pub threshold_ms: f64,
    /// Fast `llm:call` events sent first (well under the threshold).
    pub fast_calls: usize,
    /// Slow `llm:call` events sent after them (well over the threshold).
    pub slow_calls: usize,
    /// Longest wait for the webhook; a guard against hanging, not a measurement.
    pub timeout: Duration,
}

impl Default for EmbeddedAlertsConfig {
    fn default() -> Self {
        EmbeddedAlertsConfig {
            threshold_ms: 2_000.0,
            fast_calls: 20,
            slow_calls: 3,
            timeout: Duration::from_secs(20),
        }
    }
}

/// What happened.
#[derive(Clone, Debug)]
pub struct EmbeddedAlertsOutcome {
    /// The rule as the engine stored it.
    pub rule: AlertRule,
    /// Every body the webhook receiver got, in arrival order.
    pub webhooks: Vec<Value>,
    /// The engine's active alerts after the run.
    pub active: Vec<Alert>,
    /// Events sent through the collector.
    pub events_sent: usize,
}

/// The rule of the example, with its webhook channel pointing at `webhook_url`.
pub fn llm_latency_rule(threshold_ms: f64, webhook_url: &str) -> Result<AlertRule> {
    let rule = AlertRule::from_value(json!({
        "id": "llm-call-p95",
        "name": "LlmCallSlow",
        "severity": "high",
        "threshold": threshold_ms,
        "condition": {
            "kind": "window", "field": "duration", "op": "gt", "aggregate": "p95", "window": "5m",
            "filters": {"type": "performance", "operation": "llm:call"},
            "groupBy": ["operation"]
        },
        "channels": [{"type": "webhook", "config": {"url": webhook_url, "receiver": "embedded-example"}}],
        "cooldown": 300,
        "labels": {"team": "agents"},
        "annotations": {
            "summary": "p95 of {{ $labels.operation }} above {{ $threshold }} ms",
            "description": "p95 = {{ $value }} ms over {{ $window }}"
        }
    }))
    .context("building the rule")?;
    rule.validate().context("validating the rule")?;
    Ok(rule)
}

#[derive(Clone)]
struct ReceiverState {
    bodies: Arc<Mutex<Vec<Value>>>,
    arrived: mpsc::UnboundedSender<()>,
}

/// A tiny HTTP server on 127.0.0.1 that keeps every JSON body POSTed to `/hook`.
struct Receiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
    arrived: mpsc::UnboundedReceiver<()>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Receiver {
    async fn start() -> Result<Receiver> {
        let (tx, arrived) = mpsc::unbounded_channel();
        let state = ReceiverState { bodies: Arc::default(), arrived: tx };
        let bodies = state.bodies.clone();
        let app = Router::new().route("/hook", post(receive)).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the webhook receiver")?;
        let addr = listener.local_addr().context("the receiver's address")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Receiver { addr, bodies, arrived, stop, task })
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the receiver task panicked")?.context("serving the receiver")
    }
}

async fn receive(State(state): State<ReceiverState>, Json(body): Json<Value>) -> StatusCode {
    state.bodies.lock().unwrap_or_else(|e| e.into_inner()).push(body);
    let _ = state.arrived.send(());
    StatusCode::OK
}

fn llm_call(duration_ms: f64) -> MetricEvent {
    MetricEvent::performance(Source::ClaudeCli, "llm:call", duration_ms)
        .with_project("embedded-demo")
        .with_session("sess-embedded")
        .with_agent_type(AgentType::Worker)
}

/// Runs the example: starts everything, sends events until the rule fires, waits for the
/// webhook, and shuts everything down.
pub async fn run_embedded_alerts(config: &EmbeddedAlertsConfig) -> Result<EmbeddedAlertsOutcome> {
    ensure!(config.slow_calls >= 2, "two slow calls are needed to lift p95 over the threshold");
    let mut receiver = Receiver::start().await?;
    let store: StoreRef = Arc::new(MemoryStore::default());
    let bus = Bus::default();
    let collector = Collector::start(store.clone(), bus.clone(), CollectorConfig::default())
        .context("starting the collector")?;
    let alerts = AlertsConfig { receiver: "embedded-example".to_owned(), ..AlertsConfig::default() };
    let engine = AlertEngine::start(store, bus.clone(), alerts).await.context("starting the alert engine")?;
    let rule = engine
        .put_rule(llm_latency_rule(config.threshold_ms, &receiver.url())?)
        .await
        .context("adding the rule")?;
    let mut firing = bus.subscribe(SubscriptionFilter { no_events: true, ..SubscriptionFilter::default() });

    // Fast calls between 300 and 870 ms: p95 stays below the threshold.
    let mut events = Vec::new();
    for i in 0..config.fast_calls {
        events.push(llm_call(300.0 + 30.0 * (i % 20) as f64));
    }
    // A slow call of another operation: the filter keeps it out of the rule.
    events.push(
        MetricEvent::performance(Source::ClaudeCli, "tool:Bash", 9_000.0).with_session("sess-embedded"),
    );
    // Slow calls: from the second on, p95 (linear interpolation) is above the threshold
    // and stays there, so the alert fires once and does not flap.
    for i in 0..config.slow_calls {
        events.push(llm_call(config.threshold_ms * 2.0 + 100.0 * i as f64));
    }
    let events_sent = events.len();
    for event in events {
        collector.collect_wait(event).await.context("collecting an event")?;
    }
    collector.flush().await.context("flushing the collector")?;

    let result = async {
        let wait = tokio::time::timeout(config.timeout, async {
            loop {
                match firing.recv().await {
                    Some(Received::Message(_, BusMessage::Alert(alert))) => return Some(alert),
                    Some(_) => continue,
                    None => return None,
                }
            }
        });
        match wait.await {
            Ok(Some(_)) => {}
            Ok(None) => bail!("the bus closed before an alert fired"),
            Err(_) => bail!("no alert fired within {:?}", config.timeout),
        }
        tokio::time::timeout(config.timeout, receiver.arrived.recv())
            .await
            .with_context(|| format!("no webhook within {:?}", config.timeout))?;
        // Every delivery decided so far has finished (delivered or given up).
        engine.wait_idle().await;
        Ok(())
    }
    .await;

    let active = engine.active();
    engine.shutdown().await;
    collector.shutdown().await.context("stopping the collector")?;
    let webhooks = receiver.bodies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    receiver.shutdown().await?;
    result?;
    Ok(EmbeddedAlertsOutcome { rule, webhooks, active, events_sent })
}
