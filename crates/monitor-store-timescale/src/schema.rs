//! Schema: migrations per mode, mode detection, native partitions and TimescaleDB policies.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use monitor_core::Timestamp;
use monitor_core::store::RetentionPolicy;
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection, PgConnection, Row, SqlSafeStr};

use crate::config::Mode;
use crate::error::{Error, Result};

/// The raw event tables, each a partitioned table or hypertable.
pub(crate) const RAW_TABLES: [&str; 3] = ["metrics", "performance_metrics", "coordination_events"];

/// Advisory lock taken (per transaction) around partition DDL and retention drops.
pub(crate) const PARTITION_LOCK: i64 = 0x6d6f_6e69_7470_0001;
/// Advisory lock taken by the rollup fold so that one server folds at a time.
pub(crate) const FOLD_LOCK: i64 = 0x6d6f_6e69_7470_0002;

const COMMON: &str = include_str!("../migrations/0001_common.sql");
const NATIVE_EVENTS: &str = include_str!("../migrations/native/0002_events.sql");
const TIMESCALE_EVENTS: &str = include_str!("../migrations/timescale/0002_events.sql");
const TIMESCALE_CAGGS: &str = include_str!("../migrations/timescale/0003_continuous_aggregates.sql");

pub(crate) const DETECT: &str = include_str!("../sql/timescale/detect.sql");
pub(crate) const DROP_CHUNKS: &str = include_str!("../sql/timescale/drop_chunks.sql");
const REMOVE_RETENTION_POLICY: &str = include_str!("../sql/timescale/remove_retention_policy.sql");
const ADD_RETENTION_POLICY: &str = include_str!("../sql/timescale/add_retention_policy.sql");
const ADD_COMPRESSION_POLICY: &str = include_str!("../sql/timescale/add_compression_policy.sql");
const ADD_REFRESH_POLICY: &str = include_str!("../sql/timescale/add_refresh_policy.sql");
pub(crate) const FAILED_JOBS: &str = include_str!("../sql/timescale/failed_jobs.sql");

/// The migrations for `mode`. Version 2 differs between native and TimescaleDB layouts,
/// so a database set up in one refuses to start in the other (a checksum mismatch)
/// instead of silently mixing them.
pub(crate) fn migrator(mode: Mode) -> Migrator {
    let migration = |version, name: &'static str, sql: &'static str| {
        Migration::new(version, Cow::Borrowed(name), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let mut list = vec![migration(1, "common", COMMON)];
    match mode {
        Mode::Native => list.push(migration(2, "events", NATIVE_EVENTS)),
        Mode::TimescaleApache => list.push(migration(2, "events", TIMESCALE_EVENTS)),
        Mode::Timescale => {
            list.push(migration(2, "events", TIMESCALE_EVENTS));
            list.push(migration(3, "continuous aggregates", TIMESCALE_CAGGS));
        }
    }
    let mut migrator = Migrator::with_migrations(list);
    // A TSL database later opened by an Apache build keeps its aggregates: not an error.
    migrator.set_ignore_missing(true);
    migrator
}

/// Detects the mode from the installed extension and its license.
pub(crate) async fn detect_mode(conn: &mut PgConnection, allow_timescale: bool) -> Result<Mode> {
    if !allow_timescale {
        return Ok(Mode::Native);
    }
    let row = sqlx::query(DETECT).fetch_one(&mut *conn).await.map_err(Error::db("detecting timescaledb"))?;
    let version: Option<String> = row.try_get("version").map_err(Error::db("detecting timescaledb"))?;
    let license: Option<String> = row.try_get("license").map_err(Error::db("detecting timescaledb"))?;
    Ok(Mode::detect(version.as_deref(), license.as_deref()))
}

/// Applies the migrations on a dedicated connection (sqlx holds a session advisory lock
/// while migrating, so two servers starting at once apply them one after the other; a
/// dedicated connection never returns a held lock to the pool after a failure).
pub(crate) async fn migrate(url: &str, mode: Mode) -> Result<()> {
    let mut conn = PgConnection::connect(url).await.map_err(Error::db("connecting to migrate"))?;
    let outcome = migrator(mode).run(&mut conn).await;
    let _ = conn.close().await;
    outcome?;
    Ok(())
}

/// Installs the TimescaleDB (TSL) policies for the configured retention: retention on
/// raw hypertables and aggregates, compression after a day, aggregate refresh.
pub(crate) async fn install_timescale_policies(
    conn: &mut PgConnection,
    retention: &RetentionPolicy,
) -> Result<()> {
    let err = Error::db("installing timescaledb policies");
    let targets: [(&str, i64); 6] = [
        ("metrics", retention.raw),
        ("performance_metrics", retention.raw),
        ("coordination_events", retention.raw),
        ("performance_5m", retention.five_minutes),
        ("performance_1h", retention.hour),
        ("performance_1d", retention.day),
    ];
    for (table, keep) in targets {
        sqlx::query(REMOVE_RETENTION_POLICY).bind(table).execute(&mut *conn).await.map_err(err)?;
        sqlx::query(ADD_RETENTION_POLICY).bind(table).bind(keep).execute(&mut *conn).await.map_err(err)?;
    }
    for table in RAW_TABLES {
        sqlx::query(ADD_COMPRESSION_POLICY).bind(table).execute(&mut *conn).await.map_err(err)?;
    }
    // Refresh windows stay well inside raw retention (2-3 d < 7 d): refreshing a range
    // whose raw chunks were dropped would delete aggregated rows.
    let policies: [(&str, i64, i64, i64); 3] = [
        ("performance_5m", 2 * MICROS_PER_DAY, 10 * MICROS_PER_MINUTE, MICROS_PER_MINUTE),
        ("performance_1h", 3 * MICROS_PER_DAY, MICROS_PER_HOUR, 15 * MICROS_PER_MINUTE),
        ("performance_1d", 3 * MICROS_PER_DAY, MICROS_PER_DAY, MICROS_PER_HOUR),
    ];
    for (view, start, end, every) in policies {
        sqlx::query(ADD_REFRESH_POLICY)
            .bind(view)
            .bind(start)
            .bind(end)
            .bind(every)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
    }
    Ok(())
}

/// A native partition's time range `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionRange {
    pub(crate) from: Timestamp,
    pub(crate) to: Timestamp,
}

/// Converts to chrono for binding, clamped to what PostgreSQL and chrono both represent.
pub(crate) fn to_datetime(t: Timestamp) -> DateTime<Utc> {
    // Years -4000 … 200000: inside both chrono's and PostgreSQL's timestamptz range.
    const LOW: i64 = -188_395_009_600_000_000;
    const HIGH: i64 = 6_249_223_209_600_000_000;
    let micros = t.as_micros().clamp(LOW, HIGH);
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

/// Converts a decoded `timestamptz`.
pub(crate) fn from_datetime(t: DateTime<Utc>) -> Timestamp {
    Timestamp(t.timestamp_micros())
}

/// The partitions recorded in `monitor_partitions` for `metrics` (all raw tables share ranges).
pub(crate) async fn load_partitions(conn: &mut PgConnection) -> Result<Vec<PartitionRange>> {
    let rows = sqlx::query(
        "SELECT range_from, range_to FROM monitor_partitions WHERE parent = 'metrics' ORDER BY range_from",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::db("listing partitions"))?;
    rows.iter()
        .map(|row| {
            Ok(PartitionRange {
                from: from_datetime(row.try_get(0).map_err(Error::db("listing partitions"))?),
                to: from_datetime(row.try_get(1).map_err(Error::db("listing partitions"))?),
            })
        })
        .collect()
}

/// Whether `t` falls in one of the sorted, non-overlapping `ranges`.
pub(crate) fn covered(ranges: &[PartitionRange], t: Timestamp) -> bool {
    let at = ranges.partition_point(|r| r.from <= t);
    at > 0 && t < ranges[at - 1].to
}

/// Creates the partitions (for all raw tables) that hold `times`, one `interval` wide and
/// clipped to their neighbours, under the partition advisory lock. Returns the ranges
/// now present and how many were created.
pub(crate) async fn ensure_partitions(
    conn: &mut PgConnection,
    interval: i64,
    times: &[Timestamp],
) -> Result<(Vec<PartitionRange>, usize)> {
    let err = Error::db("creating partitions");
    let mut tx = conn.begin().await.map_err(err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PARTITION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    let mut ranges = load_partitions(&mut tx).await?;
    let mut created = 0;
    for &t in times {
        if covered(&ranges, t) {
            continue;
        }
        let mut from = t.floor_to(interval);
        let mut to = from.add_micros(interval);
        let at = ranges.partition_point(|r| r.from <= t);
        if at > 0 {
            from = from.max(ranges[at - 1].to);
        }
        if let Some(next) = ranges.get(at) {
            to = to.min(next.from);
        }
        let name_suffix = to_datetime(from).format("%Y%m%d%H%M").to_string();
        for parent in RAW_TABLES {
            let name = format!("{parent}_p{name_suffix}");
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {parent} FOR VALUES FROM ('{}') TO ('{}')",
                to_datetime(from).to_rfc3339(),
                to_datetime(to).to_rfc3339()
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl)).execute(&mut *tx).await.map_err(err)?;
            sqlx::query(
                "INSERT INTO monitor_partitions (parent, name, range_from, range_to) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(parent)
            .bind(&name)
            .bind(to_datetime(from))
            .bind(to_datetime(to))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        ranges.insert(at, PartitionRange { from, to });
        created += 1;
    }
    tx.commit().await.map_err(err)?;
    Ok((ranges, created))
}

/// Drops the native partitions wholly older than `cutoff`; returns how many ranges went.
pub(crate) async fn drop_partitions_before(conn: &mut PgConnection, cutoff: Timestamp) -> Result<u64> {
    let err = Error::db("dropping partitions");
    let mut tx = conn.begin().await.map_err(err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PARTITION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    let rows = sqlx::query("DELETE FROM monitor_partitions WHERE range_to <= $1 RETURNING parent, name")
        .bind(to_datetime(cutoff))
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
    let mut dropped = 0;
    for row in &rows {
        let parent: String = row.try_get(0).map_err(err)?;
        let name: String = row.try_get(1).map_err(err)?;
        // Names come from our own bookkeeping table, written by ensure_partitions.
        let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(Error::Corrupt(format!("partition name `{name}`")));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if parent == "metrics" {
            dropped += 1;
        }
    }
    tx.commit().await.map_err(err)?;
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_and_clamping() {
        let r = |a, b| PartitionRange { from: Timestamp(a), to: Timestamp(b) };
        let ranges = [r(0, 10), r(20, 30)];
        assert!(covered(&ranges, Timestamp(0)));
        assert!(!covered(&ranges, Timestamp(10)));
        assert!(covered(&ranges, Timestamp(29)));
        assert!(!covered(&ranges, Timestamp(-1)));
        assert!(!covered(&ranges, Timestamp(30)));
        assert_eq!(
            from_datetime(to_datetime(Timestamp(1_767_571_200_000_123))),
            Timestamp(1_767_571_200_000_123)
        );
        assert!(to_datetime(Timestamp::MIN) < to_datetime(Timestamp(0)));
        assert!(to_datetime(Timestamp::MAX) > to_datetime(Timestamp(0)));
    }
}
