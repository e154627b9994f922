//! monitor-alerts: the alert engine of agent-monitor, embeddable without the server.
//!
//! Rules are data ([`AlertRule`], JSON over the API, TOML/YAML/JSON in a rules file). The
//! [`AlertEngine`] evaluates them on every event from the [`monitor_core::Bus`] and on a
//! timer, runs each alert instance through pending → firing → resolved (with `for`,
//! keep-firing, a recovery threshold, cooldown and repeat), keeps that state in the
//! [`monitor_core::Store`] so a restart neither re-pages nor forgets a firing alert,
//! publishes firing and resolved alerts on the bus, stores them as history, and delivers
//! notifications to Slack, e-mail and Alertmanager-compatible webhooks.
//!
//! ```
//! use std::sync::Arc;
//! use monitor_alerts::{AlertEngine, AlertRule, AlertsConfig};
//! use monitor_core::{Bus, MetricEvent, Source, Timestamp};
//! use monitor_core::store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = AlertEngine::start(Arc::new(MemoryStore::default()), Bus::default(), AlertsConfig::default()).await?;
//! engine.put_rule(AlertRule::from_json(br#"{"id":"slow-bash","name":"SlowBash","severity":"high",
//!     "threshold":1000,"condition":{"kind":"threshold","field":"duration","filters":{"operation":"tool:Bash"}}}"#)?).await?;
//! let event = MetricEvent::performance(Source::ClaudeCli, "tool:Bash", 4210.0).into_event(Timestamp::now());
//! engine.observe(&event);
//! engine.flush().await;
//! assert_eq!(engine.active()[0].value, Some(4210.0));
//! engine.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`rule`]: the rule model, validation naming the field, rules files.
//! - [`config`]: [`AlertsConfig`] (evaluation, delivery retries, SMTP).
//! - [`engine`]: [`AlertEngine`]: tasks, persistence, rule management, deliveries.
//! - `eval`: windows, detectors and the per-instance state machine.
//! - [`channels`]: Slack, e-mail and webhook payloads and senders.
//! - [`template`]: annotation templates; [`clock`]: system and manual clocks.

pub mod channels;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
mod eval;
pub mod rule;
pub mod template;

pub use channels::Notification;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AlertsConfig, DeliveryConfig, SmtpConfig, SmtpTls};
pub use engine::AlertEngine;
pub use error::{Error, Result};
pub use monitor_core::alert::{Alert, AlertStatus, Severity};
pub use rule::{
    Aggregate, AlertRule, ChannelConfig, ChannelKind, Condition, ConditionKind, FilterOpValue, FilterValue,
    Op, RuleError, RulesFile, parse_rules_file,
};
