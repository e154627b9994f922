//! monitor-store-timescale: the PostgreSQL [`Store`](monitor_core::Store) of agent-monitor.
//!
//! [`PgStore::connect`] detects how the database can run ([`Mode`]): TimescaleDB with
//! its Timescale-licensed features, TimescaleDB's Apache-2 build, or plain PostgreSQL
//! ≥ 14 with native range partitioning. Events go to three sibling tables
//! (`metrics`, `performance_metrics`, `coordination_events`, viewed together as
//! `metrics_all`) with binary `COPY`; rollups at 5 min, 1 h and 1 d carry mergeable
//! statistics and quantile sketches, so answers are the same in every mode.
//! `docs/storage.md` describes the schema, the modes and the measured speed.
//!
//! ```no_run
//! use monitor_store_timescale::{PgConfig, PgStore};
//! use monitor_core::Store;
//!
//! # async fn run() -> Result<(), monitor_store_timescale::Error> {
//! let store = PgStore::connect(PgConfig::new("postgres://monitor@localhost/monitor")).await?;
//! println!("{} in {} mode", store.info().kind, store.mode());
//! store.maintain(monitor_core::Timestamp::now()).await?; // the server calls this every minute
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`PgConfig`] and [`Mode`].
//! - [`store`]: [`PgStore`]: connecting, migrations, ingest, maintenance, retention.
//! - `query`: answering queries from raw tables and rollups.
//! - `schema`: migrations, mode detection, native partitions, TimescaleDB policies.
//! - `cells`: stored rollup cells and grains; `copy`: binary `COPY` encoding.
//! - [`error`]: [`Error`] and its mapping to `monitor_core::Error`.

mod cells;
pub mod config;
mod copy;
pub mod error;
mod query;
mod schema;
pub mod store;

pub use config::{Mode, PgConfig};
pub use error::{Error, Result};
pub use store::{MaintainReport, PgStore};
