//! monitor-core: the event model and pipeline of agent-monitor.
//!
//! Agents (Claude Code sessions, manager/worker runtimes) emit [`MetricEvent`]s. The
//! [`Collector`] validates, enriches, redacts and buffers them, publishes them on the
//! realtime [`Bus`], and drains them to a [`Store`] in batches. Stores answer
//! [`Query`]s from raw events and from 5-minute, hourly and daily rollups.
//!
//! ```
//! use std::sync::Arc;
//! use monitor_core::{Bus, Collector, CollectorConfig, MetricEvent, Source, Query, Aggregation, Timestamp};
//! use monitor_core::store::{MemoryStore, Store};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> monitor_core::Result<()> {
//! let store = Arc::new(MemoryStore::default());
//! let collector = Collector::start(store.clone(), Bus::default(), CollectorConfig::default())?;
//! collector.collect(MetricEvent::performance(Source::ClaudeCli, "tool:Bash", 42.0).with_session("s-1"))?;
//! collector.flush().await?;
//! let now = Timestamp::now();
//! let answer = store.query(&Query::new(now.add_micros(-60_000_000), now.add_micros(1), Aggregation::Raw)).await?;
//! assert_eq!(answer.events().len(), 1);
//! collector.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`event`]: the wire model; [`validate`]: parsing and rules; [`redact`]: PII removal.
//! - [`collector`]: the buffered pipeline; [`bus`]: realtime fan-out.
//! - [`store`]: the `Store` trait, `MemoryStore`, and the conformance suite (`testing`).
//! - [`query`], [`rollup`], [`sketch`]: the query model and the aggregation math.
//! - [`alert`]: the alert notice shared with monitor-alerts; [`time`]: timestamps.

pub mod alert;
pub mod analytics;
pub mod bus;
pub mod collector;
pub mod error;
pub mod event;
pub mod query;
pub mod redact;
pub mod rollup;
pub mod sketch;
pub mod store;
pub mod time;
pub mod validate;

pub use alert::{Alert, AlertStatus, Severity};
pub use bus::{Bus, BusMessage, Received, Subscription, SubscriptionFilter};
pub use collector::{Collector, CollectorConfig, OverflowPolicy, Receipt};
pub use error::{Error, Result};
pub use event::{AgentType, Event, EventType, MetricEvent, Payload, Source, Tags};
pub use query::{
    AggPoint, Aggregation, Dimension, Filter, FilterOp, Query, QueryData, QueryMetadata, QueryResult,
};
pub use store::{EventRef, Store, StoreRef};
pub use time::Timestamp;
pub use validate::{Limits, ValidationError};
