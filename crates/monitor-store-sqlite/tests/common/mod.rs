//! Shared test helpers: a store on a fresh temporary file that removes itself.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use async_trait::async_trait;
use monitor_core::store::{Record, RecordQuery, RetentionReport, StoreInfo, WriteSummary};
use monitor_core::{Event, EventRef, Query, QueryResult, Store, StoreRef, Timestamp};
use monitor_store_sqlite::{SqliteConfig, SqliteStore};
use serde_json::Value;

/// A [`SqliteStore`] on a file in its own temporary directory, removed on drop.
pub struct TempStore {
    pub store: SqliteStore,
    // Dropped after `store` (fields drop in order), so the files go last.
    pub dir: tempfile::TempDir,
}

/// A fresh store in a new temporary directory, configured by `tweak`.
pub async fn temp_store(tweak: impl FnOnce(&mut SqliteConfig)) -> TempStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = SqliteConfig::at(dir.path().join("data").join("monitor.db"));
    tweak(&mut config);
    let store = SqliteStore::open(config).await.expect("open store");
    TempStore { store, dir }
}

/// Rollup cells of every age held in memory.
pub async fn in_memory_rollups() -> StoreRef {
    Arc::new(temp_store(|c| c.rollup_memory = 100 * 365 * monitor_core::time::MICROS_PER_DAY).await)
}

/// No rollup cells held in memory: every rollup read and merge goes through the tables.
pub async fn table_rollups() -> StoreRef {
    Arc::new(temp_store(|c| c.rollup_memory = 0).await)
}

#[async_trait]
impl Store for TempStore {
    fn info(&self) -> StoreInfo {
        self.store.info()
    }
    async fn write(&self, events: &[EventRef]) -> monitor_core::Result<WriteSummary> {
        self.store.write(events).await
    }
    async fn query(&self, query: &Query) -> monitor_core::Result<QueryResult> {
        self.store.query(query).await
    }
    async fn apply_retention(&self, now: Timestamp) -> monitor_core::Result<RetentionReport> {
        self.store.apply_retention(now).await
    }
    async fn health(&self) -> monitor_core::Result<()> {
        self.store.health().await
    }
    async fn put_records(&self, log: &str, records: &[Record]) -> monitor_core::Result<()> {
        self.store.put_records(log, records).await
    }
    async fn read_records(&self, log: &str, query: RecordQuery) -> monitor_core::Result<Vec<Record>> {
        self.store.read_records(log, query).await
    }
    async fn put_state(&self, namespace: &str, key: &str, value: Option<&Value>) -> monitor_core::Result<()> {
        self.store.put_state(namespace, key, value).await
    }
    async fn load_state(&self, namespace: &str) -> monitor_core::Result<Vec<(String, Value)>> {
        self.store.load_state(namespace).await
    }
    async fn session_events(&self, session_id: &str, limit: usize) -> monitor_core::Result<Vec<Event>> {
        self.store.session_events(session_id, limit).await
    }
}
