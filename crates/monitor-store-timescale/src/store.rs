//! [`PgStore`]: connecting, ingest, maintenance, retention, records and state.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use monitor_core::Timestamp;
use monitor_core::event::{Event, Payload, ROLLUP_FIELDS};
use monitor_core::query::{Aggregation, Query, QueryResult};
use monitor_core::rollup::{LEVELS, RollupCell, RollupKey};
use monitor_core::store::{EventRef, Record, RecordQuery, RetentionReport, Store, StoreInfo, WriteSummary};
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Row};

use crate::cells::{self, CELL_COLUMNS, CellMap, Grain, StoredKey};
use crate::config::{Mode, PgConfig};
use crate::copy::CopyBuffer;
use crate::error::{Error, Result, sql_state};
use crate::schema::{self, FOLD_LOCK, PartitionRange, RAW_TABLES, from_datetime, to_datetime};

/// Columns every raw table has, in `COPY` order.
const COMMON_COLUMNS: &str =
    "time, metric_id, ingested_at, source, type, project_id, session_id, agent_type, operation, value, tags";
const PERFORMANCE_COLUMNS: &str = "time, metric_id, ingested_at, source, type, project_id, session_id, \
     agent_type, operation, value, tags, duration_ms, memory_mb, cpu_percent, success";
const COORDINATION_COLUMNS: &str = "time, metric_id, ingested_at, source, type, project_id, session_id, \
     agent_type, operation, value, tags, manager_id, worker_id, phase, task_id, coordination_score, latency_ms";

/// The rollup table of a level.
pub(crate) fn rollup_table(level: Aggregation) -> &'static str {
    match level {
        Aggregation::Hour => "rollup_1h",
        Aggregation::Day => "rollup_1d",
        _ => "rollup_5m",
    }
}

/// What a [`PgStore::maintain`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// Native partitions created ahead of time (per raw table set).
    pub partitions_created: usize,
    /// Pending rollup rows folded into the 5m, 1h and 1d levels.
    pub cells_folded: usize,
}

/// The PostgreSQL / TimescaleDB store.
pub struct PgStore {
    pool: PgPool,
    config: PgConfig,
    mode: Mode,
    location: String,
    /// Native partitions known to exist, sorted (std Mutex: never held across an await).
    partitions: Mutex<Vec<PartitionRange>>,
}

/// The URL without its password, for logs and `info()`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "postgres".into() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let path = path.split('?').next().unwrap_or_default();
    format!("{scheme}://{authority}{path}")
}

impl PgStore {
    /// Connects, detects the mode, applies migrations (idempotent; concurrent starts are
    /// serialised by an advisory lock) and, in TSL mode, installs the policies.
    pub async fn connect(config: PgConfig) -> Result<PgStore> {
        config.validate()?;
        let mut conn =
            PgConnection::connect(&config.url).await.map_err(Error::db("connecting to postgres"))?;
        let detected = schema::detect_mode(&mut conn, config.timescaledb).await?;
        let err = Error::db("reading the stored layout");
        let has_meta: bool = sqlx::query_scalar("SELECT to_regclass('monitor_meta') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .map_err(err)?;
        let stored: Option<String> = if has_meta {
            sqlx::query_scalar("SELECT value FROM monitor_meta WHERE key = 'layout'")
                .fetch_optional(&mut conn)
                .await
                .map_err(err)?
        } else {
            None
        };
        let mode = match (stored.as_deref(), detected) {
            // Tables were created partitioned: they stay so even if TimescaleDB appears later.
            (Some("native"), _) => Mode::Native,
            (Some("hypertable"), Mode::Native) => {
                return Err(Error::Config(
                    "the database holds hypertables but the timescaledb extension is not available".into(),
                ));
            }
            (_, mode) => mode,
        };
        if mode != detected {
            tracing::warn!(%detected, %mode, "database was set up in another layout; keeping it");
        }
        let _ = conn.close().await;
        schema::migrate(&config.url, mode).await?;
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(config.acquire_timeout())
            .test_before_acquire(true)
            .connect(&config.url)
            .await
            .map_err(Error::db("opening the connection pool"))?;
        let layout = if mode.uses_hypertables() { "hypertable" } else { "native" };
        sqlx::query("INSERT INTO monitor_meta (key, value) VALUES ('layout', $1) ON CONFLICT DO NOTHING")
            .bind(layout)
            .execute(&pool)
            .await
            .map_err(Error::db("recording the layout"))?;
        let mut conn = pool.acquire().await.map_err(Error::db("acquiring a connection"))?;
        if mode == Mode::Timescale {
            schema::install_timescale_policies(&mut conn, &config.retention).await?;
        }
        let partitions =
            if mode == Mode::Native { schema::load_partitions(&mut conn).await? } else { Vec::new() };
        drop(conn);
        let location = redact_url(&config.url);
        tracing::info!(%mode, %location, "postgres store ready");
        Ok(PgStore { pool, config, mode, location, partitions: Mutex::new(partitions) })
    }

    /// The mode detected at start.
    pub const fn mode(&self) -> Mode {
        self.mode
    }

    /// The connection pool (for tools and tests that need plain SQL).
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The settings in force.
    pub const fn config(&self) -> &PgConfig {
        &self.config
    }

    pub(crate) async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        self.pool.acquire().await.map_err(Error::db("acquiring a connection"))
    }

    /// Periodic upkeep, called by the server every minute (besides `apply_retention`):
    /// creates native partitions ahead of `now` and folds pending rollup rows into the
    /// 5m, 1h and 1d levels. Safe to run from several servers at once.
    pub async fn maintain(&self, now: Timestamp) -> Result<MaintainReport> {
        let mut report = MaintainReport::default();
        if self.mode == Mode::Native {
            let interval = self.config.partition_interval;
            let ahead = i64::from(self.config.partitions_ahead);
            let times: Vec<Timestamp> = (0..=ahead).map(|i| now.add_micros(i * interval)).collect();
            report.partitions_created = self.ensure_partitions(&times, false).await?;
        }
        report.cells_folded = self.fold().await?;
        Ok(report)
    }

    /// Makes sure partitions exist for `times`; returns how many were created.
    async fn ensure_partitions(&self, times: &[Timestamp], reload: bool) -> Result<usize> {
        let missing: Vec<Timestamp> = {
            let known =
                self.partitions.lock().map_err(|_| Error::Corrupt("partition cache poisoned".into()))?;
            let mut missing: Vec<Timestamp> =
                times.iter().copied().filter(|t| reload || !schema::covered(&known, *t)).collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn().await?;
        let (ranges, created) =
            schema::ensure_partitions(&mut conn, self.config.partition_interval, &missing).await?;
        if let Ok(mut known) = self.partitions.lock() {
            *known = ranges;
        }
        if created > 0 {
            metrics::counter!("monitor_store_postgres_partitions_created_total").increment(created as u64);
        }
        Ok(created)
    }

    async fn write_batch(&self, events: &[EventRef]) -> Result<WriteSummary> {
        let mut seen = HashSet::with_capacity(events.len());
        let unique: Vec<&Event> =
            events.iter().filter(|e| seen.insert(e.id.as_str())).map(|e| &**e).collect();
        let mut summary = WriteSummary { inserted: 0, duplicates: events.len() - unique.len() };
        if unique.is_empty() {
            return Ok(summary);
        }
        if self.mode == Mode::Native {
            let times: Vec<Timestamp> = unique.iter().map(|e| e.timestamp).collect();
            self.ensure_partitions(&times, false).await?;
        }
        let batch = EncodedBatch::new(&unique);
        let mut attempt = 0;
        let inserted = loop {
            attempt += 1;
            match self.copy_direct(&batch, &unique).await {
                Ok(()) => break unique.len(),
                Err(e) if state_of(&e).as_deref() == Some("23505") => {
                    // Some ids are stored already: insert through a staging table with
                    // ON CONFLICT DO NOTHING and roll up only what was new.
                    metrics::counter!("monitor_store_postgres_conflict_fallbacks_total").increment(1);
                    break self.copy_staged(&batch, &unique).await?;
                }
                Err(e)
                    if state_of(&e).as_deref() == Some("23514")
                        && attempt == 1
                        && self.mode == Mode::Native =>
                {
                    // No partition for some row: another server may have dropped one we
                    // thought existed. Re-read the partitions, create, retry once.
                    let times: Vec<Timestamp> = unique.iter().map(|e| e.timestamp).collect();
                    self.ensure_partitions(&times, true).await?;
                }
                Err(e) => return Err(e),
            }
        };
        summary.inserted = inserted;
        summary.duplicates += unique.len() - inserted;
        metrics::counter!("monitor_store_postgres_events_inserted_total").increment(inserted as u64);
        Ok(summary)
    }

    /// The fast path: `COPY` straight into the tables. A duplicate id fails the whole
    /// transaction with a unique violation (23505), and the caller falls back.
    async fn copy_direct(&self, batch: &EncodedBatch, events: &[&Event]) -> Result<()> {
        let err = Error::db("writing events");
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(err)?;
        for (table, columns, bytes) in batch.tables() {
            copy_in(&mut tx, &format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)"), bytes).await?;
        }
        let pending = pending_rows(events.iter().copied());
        copy_in(
            &mut tx,
            &format!("COPY rollup_pending (bucket, {CELL_COLUMNS}) FROM STDIN (FORMAT binary)"),
            &pending,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing events"))?;
        Ok(())
    }

    /// The idempotent path: `COPY` into per-connection staging tables, then
    /// `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING metric_id`.
    async fn copy_staged(&self, batch: &EncodedBatch, events: &[&Event]) -> Result<usize> {
        let err = Error::db("writing events through staging");
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(err)?;
        let mut inserted: HashSet<String> = HashSet::new();
        for (table, columns, bytes) in batch.tables() {
            let stage = format!("monitor_stage_{table}");
            let ddl = format!(
                "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl)).execute(&mut *tx).await.map_err(err)?;
            copy_in(&mut tx, &format!("COPY {stage} ({columns}) FROM STDIN (FORMAT binary)"), bytes).await?;
            let insert = format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} ON CONFLICT DO NOTHING RETURNING metric_id"
            );
            let ids: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(insert)).fetch_all(&mut *tx).await.map_err(err)?;
            inserted.extend(ids);
        }
        let pending = pending_rows(events.iter().copied().filter(|e| inserted.contains(&e.id)));
        copy_in(
            &mut tx,
            &format!("COPY rollup_pending (bucket, {CELL_COLUMNS}) FROM STDIN (FORMAT binary)"),
            &pending,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing events"))?;
        Ok(inserted.len())
    }

    /// Folds pending rollup rows into every level: merged with the stored cells of the
    /// same buckets, never recomputed from raw data (which retention may have dropped).
    /// One server folds at a time (advisory lock); writers never wait for it.
    pub(crate) async fn fold(&self) -> Result<usize> {
        let err = Error::db("folding rollups");
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(err)?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(FOLD_LOCK)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        if !locked {
            return Ok(0);
        }
        // Rows committed after this statement's snapshot stay pending for the next fold.
        let rows = sqlx::query(
            "DELETE FROM rollup_pending RETURNING bucket, NULL::smallint AS grain, source, type, project_id, \
             agent_type, operation, events, f0, f1, f2, f3, f4, f5, f6",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        let folded = rows.len();
        if folded == 0 {
            tx.commit().await.map_err(err)?;
            return Ok(0);
        }
        let mut pending = CellMap::new();
        for row in &rows {
            let (bucket, _, key, cell) = decode_rollup_row(row)?;
            cells::merge_into(&mut pending, bucket, key, &cell);
        }
        for level in LEVELS {
            let step = level.step_micros().unwrap_or(1);
            let mut merged: HashMap<(Grain, Timestamp, StoredKey), RollupCell> = HashMap::new();
            for ((bucket, key), cell) in &pending {
                let bucket = bucket.floor_to(step);
                for grain in Grain::ALL {
                    let entry = merged.entry((grain, bucket, grain.project(key))).or_default();
                    entry.merge(cell);
                }
            }
            let mut buckets: Vec<_> = merged.keys().map(|(_, b, _)| to_datetime(*b)).collect();
            buckets.sort_unstable();
            buckets.dedup();
            let table = rollup_table(level);
            let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE bucket = ANY($1) RETURNING bucket, grain, {CELL_COLUMNS}"
            )))
            .bind(&buckets)
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
            for row in &existing {
                let (bucket, grain, key, cell) = decode_rollup_row(row)?;
                let grain = match grain {
                    Some(0) => Grain::Full,
                    Some(1) => Grain::Type,
                    Some(2) => Grain::ProjectOperation,
                    other => return Err(Error::Corrupt(format!("rollup grain {other:?}"))),
                };
                merged.entry((grain, bucket, key)).or_default().merge(&cell);
            }
            // Written in (grain, bucket, key) order so that a query's rows share pages.
            let mut rows: Vec<_> = merged.into_iter().collect();
            rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut copy = CopyBuffer::new(rows.len() * 96);
            for ((grain, bucket, key), cell) in &rows {
                cells::copy_cell(&mut copy, *bucket, Some(*grain), key, cell);
            }
            let statement =
                format!("COPY {table} (bucket, grain, {CELL_COLUMNS}) FROM STDIN (FORMAT binary)");
            copy_in(&mut tx, &statement, &copy.finish()).await?;
        }
        tx.commit().await.map_err(err)?;
        drop(conn);
        if folded >= 1_000 {
            // Queries scan the pending table; don't leave them thousands of dead rows.
            sqlx::query("VACUUM (ANALYZE) rollup_pending").execute(&self.pool).await.map_err(err)?;
        }
        if folded >= 20_000 {
            // A bulk fold changes the levels a lot; without fresh statistics the planner
            // reads a whole grain instead of one project's rows.
            sqlx::query("ANALYZE rollup_5m, rollup_1h, rollup_1d").execute(&self.pool).await.map_err(err)?;
        }
        metrics::counter!("monitor_store_postgres_rollup_rows_folded_total").increment(folded as u64);
        Ok(folded)
    }

    async fn retention(&self, now: Timestamp) -> Result<RetentionReport> {
        let err = Error::db("applying retention");
        let mut report = RetentionReport::default();
        // Pending cells first, so rollups hold everything before raw data goes.
        self.fold().await?;
        let retention = self.config.retention;
        let raw_cutoff = retention.cutoff(Aggregation::Raw, now);
        let mut conn = self.conn().await?;
        if self.mode == Mode::Native {
            report.raw_removed = schema::drop_partitions_before(&mut conn, raw_cutoff).await?;
            let ranges = schema::load_partitions(&mut conn).await?;
            if let Ok(mut known) = self.partitions.lock() {
                *known = ranges;
            }
        } else {
            for table in RAW_TABLES {
                let dropped: i64 = sqlx::query_scalar(schema::DROP_CHUNKS)
                    .bind(table)
                    .bind(to_datetime(raw_cutoff))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(err)?;
                report.raw_removed += u64::try_from(dropped).unwrap_or(0);
            }
        }
        for level in LEVELS {
            let step = level.step_micros().unwrap_or(1);
            let cutoff = retention.cutoff(level, now);
            // Only whole buckets older than the cutoff go.
            let boundary = cutoff.add_micros(-step).floor_to(step).add_micros(step);
            let table = rollup_table(level);
            let done = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE bucket < $1")))
                .bind(to_datetime(boundary))
                .execute(&mut *conn)
                .await
                .map_err(err)?;
            report.rollup_removed += done.rows_affected();
        }
        Ok(report)
    }
}

fn state_of(error: &Error) -> Option<String> {
    match error {
        Error::Database { source, .. } => sql_state(source).map(|s| s.into_owned()),
        _ => None,
    }
}

/// Runs one `COPY … FROM STDIN` with `bytes`.
async fn copy_in(conn: &mut PgConnection, statement: &str, bytes: &[u8]) -> Result<()> {
    let err = Error::db("copying rows");
    let mut copy = conn.copy_in_raw(statement).await.map_err(err)?;
    if let Err(e) = copy.send(bytes).await {
        let _ = copy.abort("send failed").await;
        return Err(err(e));
    }
    copy.finish().await.map_err(err)?;
    Ok(())
}

/// Decodes `bucket, grain, source, type, project_id, agent_type, operation, events, f0..f6`.
pub(crate) fn decode_rollup_row(
    row: &sqlx::postgres::PgRow,
) -> Result<(Timestamp, Option<i16>, StoredKey, RollupCell)> {
    let err = Error::db("reading rollup rows");
    let bucket = from_datetime(row.try_get(0).map_err(err)?);
    let grain: Option<i16> = row.try_get(1).map_err(err)?;
    let source: Option<String> = row.try_get(2).map_err(err)?;
    let event_type: String = row.try_get(3).map_err(err)?;
    let agent: Option<String> = row.try_get(5).map_err(err)?;
    let key = StoredKey::parse(
        source.as_deref(),
        &event_type,
        row.try_get(4).map_err(err)?,
        agent.as_deref(),
        row.try_get(6).map_err(err)?,
    )?;
    let events: i64 = row.try_get(7).map_err(err)?;
    let mut fields: [Option<Vec<u8>>; ROLLUP_FIELDS.len()] = Default::default();
    for (i, slot) in fields.iter_mut().enumerate() {
        *slot = row.try_get(8 + i).map_err(err)?;
    }
    Ok((bucket, grain, key, cells::decode_cell(events, fields)?))
}

/// The 5-minute, full-key cells of `events`, as `COPY` rows for `rollup_pending`.
fn pending_rows<'e>(events: impl Iterator<Item = &'e Event>) -> Vec<u8> {
    let step = Aggregation::FiveMinutes.step_micros().unwrap_or(1);
    let mut cells: HashMap<(Timestamp, RollupKey), RollupCell> = HashMap::new();
    for event in events {
        cells.entry((event.timestamp.floor_to(step), RollupKey::of(event))).or_default().add(event);
    }
    let mut copy = CopyBuffer::new(cells.len() * 96);
    for ((bucket, key), cell) in &cells {
        cells::copy_cell(&mut copy, *bucket, None, &StoredKey::full(key), cell);
    }
    copy.finish()
}

/// A batch encoded once as binary `COPY` data per raw table (reused on retry).
struct EncodedBatch {
    metrics: Option<Vec<u8>>,
    performance: Option<Vec<u8>>,
    coordination: Option<Vec<u8>>,
}

fn common_fields(copy: &mut CopyBuffer, event: &Event) {
    copy.start_row();
    copy.timestamp(event.timestamp);
    copy.text(&event.id);
    copy.timestamp(event.ingested_at);
    copy.text(event.source.as_str());
    copy.text(event.event_type().as_str());
    copy.opt_text(event.project_id.as_deref());
    copy.opt_text(event.session_id.as_deref());
    copy.opt_text(event.agent_type.map(|a| a.as_str()));
    copy.opt_text(event.operation());
    copy.jsonb(&event.payload);
    copy.jsonb(&event.tags);
}

impl EncodedBatch {
    fn new(events: &[&Event]) -> Self {
        let mut metrics = CopyBuffer::new(0);
        let mut performance = CopyBuffer::new(events.len() * 320);
        let mut coordination = CopyBuffer::new(0);
        for event in events {
            match &event.payload {
                Payload::Performance(p) => {
                    common_fields(&mut performance, event);
                    performance.float8(p.duration);
                    performance.opt_float8(p.memory_usage);
                    performance.opt_float8(p.cpu_usage);
                    performance.boolean(p.success);
                }
                Payload::Coordination(p) => {
                    common_fields(&mut coordination, event);
                    coordination.text(&p.manager_id);
                    coordination.text(&p.worker_id);
                    coordination.text(&p.phase);
                    coordination.opt_text(p.task_id.as_deref());
                    coordination.opt_float8(p.coordination_score);
                    coordination.opt_float8(p.latency_ms);
                }
                Payload::Error(_) | Payload::Quality(_) => common_fields(&mut metrics, event),
            }
        }
        let done = |c: CopyBuffer| (c.rows() > 0).then(|| c.finish());
        EncodedBatch {
            metrics: done(metrics),
            performance: done(performance),
            coordination: done(coordination),
        }
    }

    fn tables(&self) -> impl Iterator<Item = (&'static str, &'static str, &[u8])> {
        [
            ("metrics", COMMON_COLUMNS, self.metrics.as_deref()),
            ("performance_metrics", PERFORMANCE_COLUMNS, self.performance.as_deref()),
            ("coordination_events", COORDINATION_COLUMNS, self.coordination.as_deref()),
        ]
        .into_iter()
        .filter_map(|(t, c, b)| b.map(|b| (t, c, b)))
    }
}

/// Encodes events exactly as the store's ingest does, for benchmarks comparing against a
/// plain `COPY`: `(table, columns, binary COPY bytes)` per raw table with rows.
#[doc(hidden)]
pub fn encode_for_copy(events: &[EventRef]) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let refs: Vec<&Event> = events.iter().map(|e| &**e).collect();
    let batch = EncodedBatch::new(&refs);
    batch.tables().map(|(t, c, b)| (t, c, b.to_vec())).collect()
}

#[async_trait]
impl Store for PgStore {
    fn info(&self) -> StoreInfo {
        StoreInfo { kind: "postgres", mode: self.mode.as_str().to_owned(), location: self.location.clone() }
    }

    async fn write(&self, events: &[EventRef]) -> monitor_core::Result<WriteSummary> {
        Ok(self.write_batch(events).await?)
    }

    async fn query(&self, query: &Query) -> monitor_core::Result<QueryResult> {
        crate::query::run(self, query).await
    }

    async fn apply_retention(&self, now: Timestamp) -> monitor_core::Result<RetentionReport> {
        Ok(self.retention(now).await?)
    }

    async fn health(&self) -> monitor_core::Result<()> {
        let mut conn = self.conn().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await.map_err(Error::db("health check"))?;
        if self.mode == Mode::Timescale {
            let failed: i64 = sqlx::query_scalar(schema::FAILED_JOBS)
                .fetch_one(&mut *conn)
                .await
                .map_err(Error::db("reading timescaledb job stats"))?;
            if failed > 0 {
                tracing::warn!(failed, "timescaledb background jobs failing");
            }
        }
        Ok(())
    }

    async fn put_records(&self, log: &str, records: &[Record]) -> monitor_core::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let times: Vec<_> = records.iter().map(|r| to_datetime(r.time)).collect();
        let bodies: Vec<String> = records.iter().map(|r| r.body.to_string()).collect();
        sqlx::query(
            "INSERT INTO monitor_records (log, id, time, body) \
             SELECT $1, id, time, body::jsonb FROM UNNEST($2::text[], $3::timestamptz[], $4::text[]) AS r(id, time, body) \
             ON CONFLICT (log, id) DO UPDATE SET time = EXCLUDED.time, body = EXCLUDED.body",
        )
        .bind(log)
        .bind(&ids)
        .bind(&times)
        .bind(&bodies)
        .execute(&self.pool)
        .await
        .map_err(Error::db("writing records"))?;
        Ok(())
    }

    async fn read_records(&self, log: &str, query: RecordQuery) -> monitor_core::Result<Vec<Record>> {
        let err = Error::db("reading records");
        let rows = sqlx::query(
            "SELECT id, time, body::text FROM monitor_records WHERE log = $1 AND time >= $2 AND time < $3 \
             ORDER BY time DESC, id COLLATE \"C\" DESC LIMIT $4",
        )
        .bind(log)
        .bind(to_datetime(query.start))
        .bind(to_datetime(query.end))
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let body: String = row.try_get(2).map_err(err)?;
            out.push(Record {
                id: row.try_get(0).map_err(err)?,
                time: from_datetime(row.try_get(1).map_err(err)?),
                body: serde_json::from_str(&body).map_err(|e| Error::Corrupt(format!("record body: {e}")))?,
            });
        }
        Ok(out)
    }

    async fn put_state(&self, namespace: &str, key: &str, value: Option<&Value>) -> monitor_core::Result<()> {
        let err = Error::db("writing state");
        match value {
            Some(value) => {
                sqlx::query(
                    "INSERT INTO monitor_state (namespace, key, value) VALUES ($1, $2, $3::jsonb) \
                     ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(namespace)
                .bind(key)
                .bind(value.to_string())
                .execute(&self.pool)
                .await
                .map_err(err)?;
            }
            None => {
                sqlx::query("DELETE FROM monitor_state WHERE namespace = $1 AND key = $2")
                    .bind(namespace)
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(err)?;
            }
        }
        Ok(())
    }

    async fn load_state(&self, namespace: &str) -> monitor_core::Result<Vec<(String, Value)>> {
        let err = Error::db("reading state");
        let rows = sqlx::query(
            "SELECT key, value::text FROM monitor_state WHERE namespace = $1 ORDER BY key COLLATE \"C\"",
        )
        .bind(namespace)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let text: String = row.try_get(1).map_err(err)?;
            let value =
                serde_json::from_str(&text).map_err(|e| Error::Corrupt(format!("state value: {e}")))?;
            out.push((row.try_get(0).map_err(err)?, value));
        }
        Ok(out)
    }

    async fn session_events(&self, session_id: &str, limit: usize) -> monitor_core::Result<Vec<Event>> {
        Ok(crate::query::session_events(self, session_id, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db?sslmode=require"), "postgres://u@h:5432/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("nonsense"), "postgres");
    }
}
