//! The storage seam: one object-safe trait for every backend, and the in-memory store.
//!
//! # Layout
//! - [`Store`]: the trait (events, queries, retention, records, state).
//! - [`MemoryStore`]: time-partitioned, bounded, rollups on write.
//! - `conformance` (feature `testing`): the suite every backend passes unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::event::Event;
use crate::query::{Aggregation, Dimension, Filter, Query, QueryResult};
use crate::time::{MICROS_PER_DAY, Timestamp, format_duration, parse_duration};

mod memory;
pub use memory::{MemoryStore, MemoryStoreConfig};

#[cfg(feature = "testing")]
pub mod conformance;

/// A shared, type-erased store, as the server and collector hold it.
pub type StoreRef = Arc<dyn Store>;

/// A validated event shared between the buffer, the bus and the store without copying.
pub type EventRef = Arc<Event>;

/// How long each level of data is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RetentionPolicy {
    /// Raw events (default 7 d).
    #[serde(with = "duration_text", default = "default_raw")]
    pub raw: i64,
    /// 5-minute rollups (default 30 d).
    #[serde(with = "duration_text", default = "default_5m", rename = "5m")]
    pub five_minutes: i64,
    /// Hourly rollups (default 365 d).
    #[serde(with = "duration_text", default = "default_1h", rename = "1h")]
    pub hour: i64,
    /// Daily rollups (default 5 y = 1,825 d).
    #[serde(with = "duration_text", default = "default_1d", rename = "1d")]
    pub day: i64,
}

const fn default_raw() -> i64 {
    7 * MICROS_PER_DAY
}
const fn default_5m() -> i64 {
    30 * MICROS_PER_DAY
}
const fn default_1h() -> i64 {
    365 * MICROS_PER_DAY
}
const fn default_1d() -> i64 {
    5 * 365 * MICROS_PER_DAY
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            raw: default_raw(),
            five_minutes: default_5m(),
            hour: default_1h(),
            day: default_1d(),
        }
    }
}

impl RetentionPolicy {
    /// How long data of `level` is kept, in microseconds (raw and 1m share raw's).
    pub const fn for_level(&self, level: Aggregation) -> i64 {
        match level {
            Aggregation::Raw | Aggregation::Minute => self.raw,
            Aggregation::FiveMinutes => self.five_minutes,
            Aggregation::Hour => self.hour,
            Aggregation::Day => self.day,
        }
    }

    /// Data of `level` strictly older than this is dropped at `now`.
    pub const fn cutoff(&self, level: Aggregation, now: Timestamp) -> Timestamp {
        now.add_micros(-self.for_level(level))
    }
}

mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(micros: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*micros))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).filter(|m| *m > 0).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a duration like 7d, 12h or 30m"))
        })
    }
}

/// What a store is and how it runs, for the startup line and `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoreInfo {
    /// `memory`, `sqlite` or `postgres`.
    pub kind: &'static str,
    /// How it runs, e.g. `in-memory`, `wal`, `timescaledb`, `native-partitioning`.
    pub mode: String,
    /// Where its data lives, with secrets removed.
    pub location: String,
}

/// What a write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WriteSummary {
    /// Events stored now.
    pub inserted: usize,
    /// Events skipped because their id was already stored (or repeated in the batch).
    pub duplicates: usize,
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Raw events removed (or partitions, where the store drops whole partitions).
    pub raw_removed: u64,
    /// Rollup cells or rows removed across all levels.
    pub rollup_removed: u64,
}

/// A record in a named log (alert history, notification log, audit log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique within its log; writing an existing id replaces that record.
    pub id: String,
    /// When it happened; logs are read newest first by this time.
    pub time: Timestamp,
    /// The record itself.
    pub body: Value,
}

/// Which records to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordQuery {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Most records returned (newest first).
    pub limit: usize,
}

impl Default for RecordQuery {
    fn default() -> Self {
        RecordQuery { start: Timestamp::MIN, end: Timestamp::MAX, limit: 1_000 }
    }
}

/// A storage backend for events, rollups, logs and small state documents.
///
/// Every method is safe to call concurrently. `write` is idempotent on event id: an
/// id already stored is not stored again. After `write` returns, a `query` at any
/// aggregation sees the events. Implementations pass `conformance` unchanged.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// What this store is, for logs and health endpoints.
    fn info(&self) -> StoreInfo;

    /// Stores a batch durably, updating rollups; skips ids already stored.
    async fn write(&self, events: &[EventRef]) -> Result<WriteSummary>;

    /// Answers a query (DESIGN.md "HTTP contract").
    async fn query(&self, query: &Query) -> Result<QueryResult>;

    /// Drops data older than the retention policy allows, as of `now`.
    async fn apply_retention(&self, now: Timestamp) -> Result<RetentionReport>;

    /// Succeeds when the backend is reachable and ready.
    async fn health(&self) -> Result<()>;

    /// Upserts records into the named log.
    async fn put_records(&self, log: &str, records: &[Record]) -> Result<()>;

    /// Reads records of the named log in `[start, end)`, newest first.
    async fn read_records(&self, log: &str, query: RecordQuery) -> Result<Vec<Record>>;

    /// Sets (`Some`) or deletes (`None`) a small JSON document under `namespace/key`.
    async fn put_state(&self, namespace: &str, key: &str, value: Option<&Value>) -> Result<()>;

    /// All documents of a namespace, sorted by key.
    async fn load_state(&self, namespace: &str) -> Result<Vec<(String, Value)>>;

    /// The latest events of a session, newest first.
    async fn session_events(&self, session_id: &str, limit: usize) -> Result<Vec<Event>> {
        let query = Query::new(Timestamp::MIN, Timestamp::MAX, Aggregation::Raw)
            .filter(Filter::eq(Dimension::SessionId, session_id))
            .limit(limit.max(1));
        let result = self.query(&query).await?;
        Ok(result.events().to_vec())
    }
}
