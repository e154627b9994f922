//! PostgreSQL-specific behaviour: mode detection, partitions, retention, rollup folding
//! with late data, concurrent writers and folds, concurrent migrations, and the pool
//! surviving a server restart.

mod common;

use std::sync::Arc;

use monitor_core::event::{Extra, PerformancePayload};
use monitor_core::query::{Aggregation, Dimension, Query};
use monitor_core::store::conformance::{T0, assert_matches_reference, dataset};
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE};
use monitor_core::{Event, EventRef, Payload, Source, Store, StoreRef, Timestamp};
use monitor_store_timescale::{Mode, PgConfig, PgStore};

fn perf(id: String, at: Timestamp, duration: f64) -> EventRef {
    Arc::new(Event {
        id,
        timestamp: at,
        ingested_at: at,
        source: Source::ClaudeCli,
        project_id: Some("proj-late".into()),
        session_id: Some("sess-late".into()),
        agent_type: None,
        payload: Payload::Performance(PerformancePayload {
            operation: "tool:Bash".into(),
            duration,
            memory_usage: None,
            cpu_usage: None,
            success: true,
            extra: Extra::new(),
        }),
        tags: Default::default(),
    })
}

async fn count(store: &PgStore, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn whole(aggregation: Aggregation) -> Query {
    Query::new(T0.add_micros(-MICROS_PER_DAY), T0.add_micros(2 * MICROS_PER_DAY), aggregation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_postgres_runs_native_and_reports_it() {
    let Some(db) = common::TestDb::create().await else { return };
    let store = db.store().await;
    assert_eq!(store.mode(), Mode::Native);
    let info = store.info();
    assert_eq!((info.kind, info.mode.as_str()), ("postgres", "native-partitioning"));
    assert!(info.location.ends_with(&format!("/{}", db.name)), "{}", info.location);
    store.health().await.unwrap();
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_created_ahead_and_on_demand() {
    let Some(db) = common::TestDb::create().await else { return };
    let store = db.store().await;
    let now = Timestamp::now();
    let report = store.maintain(now).await.unwrap();
    assert_eq!(report.partitions_created, 3, "today and two days ahead");
    assert_eq!(store.maintain(now).await.unwrap().partitions_created, 0, "idempotent");
    let attached =
        count(&store, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'performance_metrics'::regclass")
            .await;
    assert_eq!(attached, 3);

    // Data for a day with no partition (backfill) still lands.
    let old = Timestamp::parse("2020-02-29T23:59:59.999999Z").unwrap();
    let summary = store.write(&[perf("old-1".into(), old, 12.5)]).await.unwrap();
    assert_eq!(summary.inserted, 1);
    let ranges = count(&store, "SELECT count(*) FROM monitor_partitions WHERE parent = 'metrics'").await;
    assert_eq!(ranges, 4);
    let exists =
        count(&store, "SELECT count(*) FROM pg_class WHERE relname = 'performance_metrics_p202002290000'")
            .await;
    assert_eq!(exists, 1, "a one-day partition named by its start");
    let answer = store.query(&Query::new(old, old.add_micros(1), Aggregation::Raw)).await.unwrap();
    assert_eq!(answer.events().len(), 1);

    // A partition removed behind the store's back (another server's retention) is
    // recreated on the next write instead of failing it.
    sqlx::raw_sql("DROP TABLE metrics_p202002290000, performance_metrics_p202002290000, coordination_events_p202002290000; \
                   DELETE FROM monitor_partitions WHERE name LIKE '%p202002290000'")
        .execute(store.pool())
        .await
        .unwrap();
    let again = store.write(&[perf("old-2".into(), old, 1.0)]).await.unwrap();
    assert_eq!(again.inserted, 1);
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_whole_partitions() {
    let Some(db) = common::TestDb::create().await else { return };
    let store = db.store().await;
    let events: Vec<EventRef> = (0..4)
        .map(|d| perf(format!("day-{d}"), T0.add_micros(d * MICROS_PER_DAY + MICROS_PER_HOUR), 10.0))
        .collect();
    store.write(&events).await.unwrap();
    let partitions = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'performance_metrics'::regclass";
    assert_eq!(count(&store, partitions).await, 4);
    // Cutoff = T0 + 2d: days 0 and 1 end at or before it; day 2 holds younger data.
    let report = store.apply_retention(T0.add_micros(9 * MICROS_PER_DAY)).await.unwrap();
    assert_eq!(report.raw_removed, 2, "two daily partitions dropped");
    assert_eq!(count(&store, partitions).await, 2);
    assert_eq!(count(&store, "SELECT count(*) FROM performance_metrics").await, 2);
    let gone =
        count(&store, "SELECT count(*) FROM pg_class WHERE relname = 'performance_metrics_p202601050000'");
    assert_eq!(gone.await, 0);
    // Rollups still count all four days.
    let daily =
        store.query(&Query::new(T0, T0.add_micros(4 * MICROS_PER_DAY), Aggregation::Day)).await.unwrap();
    assert_eq!(daily.points().iter().map(|p| p.count).sum::<u64>(), 4);
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_data_is_visible_before_and_after_the_fold() {
    let Some(db) = common::TestDb::create().await else { return };
    let store = db.store().await;
    let shared: StoreRef = Arc::new(db.store().await);
    let mut events = dataset();
    store.write(&events).await.unwrap();
    let folded = store.maintain(Timestamp::now()).await.unwrap();
    assert!(folded.cells_folded > 0);
    assert_eq!(count(&store, "SELECT count(*) FROM rollup_pending").await, 0);
    let rows_before = count(&store, "SELECT count(*) FROM rollup_1h").await;

    // Late events into buckets that are already folded.
    let late: Vec<EventRef> = (0..7)
        .map(|i| {
            perf(
                format!("late-{i}"),
                T0.add_micros(i * 3 * MICROS_PER_MINUTE + 11),
                7_000.0 + 10.0 * (i as f64),
            )
        })
        .collect();
    store.write(&late).await.unwrap();
    events.extend(late);
    assert!(count(&store, "SELECT count(*) FROM rollup_pending").await > 0);
    let queries = [
        whole(Aggregation::FiveMinutes).field("duration"),
        whole(Aggregation::Hour).field("duration").group(Dimension::ProjectId),
        whole(Aggregation::Day).field("duration").group(Dimension::Operation),
        whole(Aggregation::Hour).group(Dimension::Source).group(Dimension::AgentType),
    ];
    for query in &queries {
        assert_matches_reference(&shared, &events, query).await; // pending cells merged in
    }
    store.maintain(Timestamp::now()).await.unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM rollup_pending").await, 0);
    for query in &queries {
        assert_matches_reference(&shared, &events, query).await; // folded into the levels
    }
    // Folding merged into existing rows: one row per (bucket, grain, key), no duplicates.
    let dupes = count(
        &store,
        "SELECT count(*) FROM (SELECT 1 FROM rollup_1h GROUP BY bucket, grain, source, type, project_id, \
         agent_type, operation HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(dupes, 0);
    let rows_after = count(&store, "SELECT count(*) FROM rollup_1h").await;
    assert_eq!(rows_after, rows_before + 2, "a new (project, key) at full and project grains in one hour");
    drop(store);
    drop(shared);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_folds_count_each_event_once() {
    let Some(db) = common::TestDb::create().await else { return };
    let store = Arc::new(db.store().await);
    let second = Arc::new(db.store().await); // a second "server" on the same database
    let events = dataset();
    let mut tasks = Vec::new();
    for w in 0..4usize {
        let target = if w % 2 == 0 { store.clone() } else { second.clone() };
        let mine: Vec<EventRef> =
            events.iter().enumerate().filter(|(i, _)| (i + w) % 4 < 3).map(|(_, e)| e.clone()).collect();
        tasks.push(tokio::spawn(async move {
            for chunk in mine.chunks(23) {
                target.write(chunk).await.unwrap();
            }
        }));
    }
    for s in [store.clone(), second.clone()] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                s.maintain(T0).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    store.maintain(T0).await.unwrap();
    let shared: StoreRef = store.clone();
    for aggregation in [Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day] {
        assert_matches_reference(&shared, &events, &whole(aggregation).field("duration")).await;
        assert_matches_reference(&shared, &events, &whole(aggregation).group(Dimension::Type)).await;
    }
    let stored = count(&store, "SELECT count(*) FROM metrics_all").await;
    assert_eq!(usize::try_from(stored).unwrap(), events.len());
    drop((store, second, shared));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_migrate_the_same_database_at_once() {
    let Some(db) = common::TestDb::create().await else { return };
    let (a, b, c) = tokio::join!(
        PgStore::connect(db.config()),
        PgStore::connect(db.config()),
        PgStore::connect(db.config())
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(count(&a, "SELECT count(*) FROM _sqlx_migrations WHERE success").await, 2);
    a.write(&dataset()[..10]).await.unwrap();
    let again = b.write(&dataset()[..10]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 10));
    drop((a, b, c));
    // Restarting on a migrated database applies nothing and keeps the data.
    let d = db.store().await;
    assert_eq!(count(&d, "SELECT count(*) FROM metrics_all").await, 10);
    drop(d);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_a_retryable_error() {
    // Nothing listens on port 1 of loopback.
    let mut config = PgConfig::new("postgres://postgres@127.0.0.1:1/none");
    config.acquire_timeout = 1_000_000;
    let error = PgStore::connect(config).await.err().expect("connect must fail");
    assert!(error.is_retryable(), "{error}");
    let core: monitor_core::Error = error.into();
    assert!(core.is_retryable());
}

/// A private cluster for the restart test, so restarting it never disturbs other tests.
struct PrivateCluster {
    dir: std::path::PathBuf,
    bin: String,
    run_as: Vec<String>,
    url: String,
}

impl PrivateCluster {
    async fn command(&self, program: &str, args: &[&str]) -> std::process::Output {
        let mut parts: Vec<String> = self.run_as.clone();
        parts.push(format!("{}/{program}", self.bin));
        parts.extend(args.iter().map(|a| (*a).to_owned()));
        tokio::process::Command::new(&parts[0])
            .args(&parts[1..])
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {program}: {e}"))
    }

    async fn start() -> Option<PrivateCluster> {
        common::database_url()?;
        let Ok(bin) = std::env::var("MONITOR_PG_BIN") else {
            eprintln!(
                "MONITOR_PG_BIN is not set (not run by scripts/with-postgres.sh): cannot restart a server"
            );
            return None;
        };
        let run_as: Vec<String> = std::env::var("MONITOR_PG_RUN_AS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let dir = std::env::temp_dir().join(format!("monitor-pg-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if !run_as.is_empty() {
            let _ = tokio::process::Command::new("chown").arg("postgres:postgres").arg(&dir).status().await;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let data = dir.join("data");
        let cluster = PrivateCluster {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir: dir.clone(),
            bin,
            run_as,
        };
        let data_s = data.to_string_lossy().into_owned();
        let init =
            cluster.command("initdb", &["-D", &data_s, "-U", "postgres", "--auth=trust", "--no-sync"]).await;
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\n",
            dir.display()
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        let log = dir.join("log").to_string_lossy().into_owned();
        let start = cluster.command("pg_ctl", &["-D", &data_s, "-l", &log, "-w", "start"]).await;
        assert!(start.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&start.stderr));
        Some(cluster)
    }

    async fn restart(&self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        // `-l`: the new postmaster must not inherit (and hold open) our output pipe.
        let log = self.dir.join("log").to_string_lossy().into_owned();
        let out = self.command("pg_ctl", &["-D", &data, "-l", &log, "restart", "-w", "-m", "fast"]).await;
        assert!(out.status.success(), "pg_ctl restart: {}", String::from_utf8_lossy(&out.stderr));
    }

    async fn stop(self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = self.command("pg_ctl", &["-D", &data, "stop", "-m", "immediate"]).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_survives_a_server_restart() {
    let Some(cluster) = PrivateCluster::start().await else { return };
    let store = PgStore::connect(PgConfig::new(&cluster.url)).await.unwrap();
    let events = dataset();
    store.write(&events[..300]).await.unwrap();
    cluster.restart().await;
    // Every pooled connection died with the server. A call may fail once while the pool
    // notices; it must fail retryably, and the next calls must work.
    let mut failures = 0;
    let summary = loop {
        match store.write(&events[300..]).await {
            Ok(summary) => break summary,
            Err(e) => {
                assert!(e.is_retryable(), "errors after a restart are retryable: {e}");
                failures += 1;
                assert!(failures < 5, "the pool did not recover: {e}");
            }
        }
    };
    assert_eq!(summary.inserted, events.len() - 300);
    let raw = store.query(&whole(Aggregation::Raw).limit(10_000)).await.unwrap();
    assert_eq!(raw.events().len(), events.len());
    store.health().await.unwrap();
    drop(store);
    cluster.stop().await;
}
