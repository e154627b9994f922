//! monitor-store-sqlite: the durable embedded store, the server's default.
//!
//! [`SqliteStore`] implements [`monitor_core::Store`] on one SQLite file in WAL mode
//! through sqlx (SQLite bundled, so nothing needs installing). Writes go through one
//! writer connection in batched transactions with multi-row statements; reads use a pool
//! of reader connections that never block the writer. Rollups at 5 min, 1 h and 1 d are
//! kept in memory for recent buckets (so dashboards' aggregations need no SQL at all)
//! and folded into their tables every few seconds; after a crash they are recounted
//! from the raw rows written since the last fold.
//!
//! ```no_run
//! use monitor_store_sqlite::{SqliteConfig, SqliteStore};
//! # async fn run() -> Result<(), monitor_store_sqlite::Error> {
//! let store = SqliteStore::open(SqliteConfig::at("monitor-data/monitor.db")).await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/storage.md` ("SQLite") for the file layout, durability settings, schema and figures.
//!
//! # Layout
//! - [`config`]: [`SqliteConfig`] and [`Synchronous`], as they sit in the server's TOML.
//! - [`error`]: [`Error`] and whether an error is retryable.
//! - `store`: [`SqliteStore`]: open, write path, queries, retention, records, state.
//! - `accumulate`: merging many rollup cells per bucket and group at once.
//! - `cells`: the in-memory copy of recent rollup cells and the key dictionary.
//! - `codec`: rows ⇄ events and rollup cells, multi-row statement texts.
//! - `direct`: the event insert on the writer's own SQLite handle.
//! - `sessions`: the session index as runs of event sequence numbers, and the marks.
//! - `migrations/`: the schema, embedded with `sqlx::migrate!`.

mod accumulate;
mod cells;
mod codec;
pub mod config;
mod direct;
pub mod error;
mod sessions;
mod store;

pub use config::{SqliteConfig, Synchronous};
pub use error::{Error, Result};
pub use store::{APPLICATION_ID, SqliteStore};
