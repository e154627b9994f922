//! Ingest and query speed of the PostgreSQL store against raw `COPY` of the same rows.
//!
//! Run with: `scripts/with-postgres.sh cargo bench -p monitor-store-timescale --bench pg`
//! (`BENCH_EVENTS=200000` for a shorter run; `BENCH_BATCH` for the batch size, default 10000).
//!
//! Workload (issue 9, deterministic): events spread evenly over 24 h, ~85 % performance,
//! ~6 % error, ~5 % coordination, ~4 % quality; 10 projects, 200 sessions, 20 operations,
//! log-normal durations with rare spikes, manager/worker agents.
//!
//! Ingest: each batch is written by `PgStore::write` into one fresh database and, in the
//! same loop, `COPY`ed as pre-encoded binary rows into the same tables of another fresh
//! database (no staging, no rollups): both see the same server state over time. Then
//! `maintain()` folds the pending rollup rows and Q1–Q4 run 50 times each after warm-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use monitor_core::event::{CoordinationPayload, ErrorPayload, Extra, PerformancePayload, QualityPayload};
use monitor_core::query::{Aggregation, Dimension, Filter, Query};
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR};
use monitor_core::{AgentType, Event, EventRef, Payload, Source, Store, Timestamp};
use monitor_store_timescale::store::encode_for_copy;
use monitor_store_timescale::{PgConfig, PgStore};
use sqlx::{Connection, PgConnection};

const OPERATIONS: [&str; 20] = [
    "tool:Bash",
    "tool:Edit",
    "tool:Read",
    "tool:Write",
    "tool:Grep",
    "tool:Glob",
    "tool:Task",
    "tool:WebFetch",
    "tool:WebSearch",
    "tool:TodoWrite",
    "tool:NotebookEdit",
    "tool:MultiEdit",
    "tool:LS",
    "llm:call",
    "llm:stream",
    "mcp:github",
    "mcp:slack",
    "mcp:jira",
    "hook:pre",
    "hook:post",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        u
    }
    fn below(&mut self, n: u64) -> usize {
        usize::try_from(self.next() % n).unwrap_or(0)
    }
}

/// Day 2026-11-02 (a bucket-aligned start), `n` events over 24 hours.
fn workload(n: usize) -> (Timestamp, Vec<EventRef>) {
    let start = Timestamp::parse("2026-11-02T00:00:00Z").unwrap_or_default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let step = MICROS_PER_DAY / i64::try_from(n.max(1)).unwrap_or(1);
    let events = (0..n)
        .map(|i| {
            let at = start.add_micros(i64::try_from(i).unwrap_or(0) * step);
            let kind = rng.below(100);
            let op = OPERATIONS[rng.below(20)];
            let payload = if kind < 85 {
                let (u1, u2) = (rng.unit().max(1e-12), rng.unit());
                let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                let spike = if rng.below(1000) == 0 { 30.0 } else { 1.0 };
                Payload::Performance(PerformancePayload {
                    operation: op.into(),
                    duration: ((5.0 + 0.9 * normal).exp() * spike * 1000.0).round() / 1000.0,
                    memory_usage: Some(200.0 + f64::from(u32::try_from(rng.below(300)).unwrap_or(0))),
                    cpu_usage: Some(f64::from(u32::try_from(rng.below(100)).unwrap_or(0))),
                    success: rng.below(20) != 0,
                    extra: Extra::new(),
                })
            } else if kind < 91 {
                Payload::Error(ErrorPayload {
                    operation: Some(op.into()),
                    message: "command exited with status 1".into(),
                    code: Some("E_EXIT".into()),
                    extra: Extra::new(),
                })
            } else if kind < 96 {
                Payload::Coordination(CoordinationPayload {
                    manager_id: format!("mgr-{}", rng.below(10)),
                    worker_id: format!("wrk-{}", rng.below(40)),
                    phase: ["assign", "accept", "progress", "complete"][rng.below(4)].into(),
                    task_id: Some(format!("task-{}", rng.below(5000))),
                    coordination_score: Some(rng.unit()),
                    latency_ms: Some((rng.unit() * 500.0).round()),
                    extra: Extra::new(),
                })
            } else {
                Payload::Quality(QualityPayload {
                    metric: "test_pass_rate".into(),
                    score: rng.unit(),
                    extra: Extra::new(),
                })
            };
            let session = rng.below(200);
            Arc::new(Event {
                id: format!("{:016x}-{i:08}", rng.next()),
                timestamp: at,
                ingested_at: at,
                source: if matches!(payload, Payload::Coordination(_)) {
                    Source::DualAgent
                } else {
                    Source::ClaudeCli
                },
                project_id: Some(format!("proj-{}", session % 10)),
                session_id: Some(format!("sess-{session}")),
                agent_type: Some(if rng.below(4) == 0 { AgentType::Manager } else { AgentType::Worker }),
                payload,
                tags: [("host".to_owned(), format!("h{}", rng.below(8)))].into_iter().collect(),
            })
        })
        .collect();
    (start, events)
}

fn with_database(url: &str, name: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    format!("{}/{name}", &base[..path])
}

async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(admin_url).await.context("connecting to DATABASE_URL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .context("dropping the bench database")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .context("creating the bench database")?;
    Ok(with_database(admin_url, name))
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.95), at(0.99))
}

async fn time_query<F, Fut>(label: &str, reps: usize, mut run: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    for _ in 0..5 {
        run().await?;
    }
    let mut samples = Vec::with_capacity(reps);
    let mut points = 0;
    for _ in 0..reps {
        let started = Instant::now();
        points = run().await?;
        samples.push(started.elapsed());
    }
    let (p50, p95, p99) = percentiles(samples);
    println!("{label:<58} points {points:>6}  p50 {p50:>8.2} ms  p95 {p95:>8.2} ms  p99 {p99:>8.2} ms");
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Ok(admin_url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "DATABASE_URL is not set; run with scripts/with-postgres.sh cargo bench -p monitor-store-timescale"
        );
        return Ok(());
    };
    let n: usize = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let batch: usize = std::env::var("BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let (start, events) = workload(n);
    println!("workload: {n} events over 24 h, batches of {batch}");

    let copy_url = fresh_database(&admin_url, "bench_raw_copy").await?;
    let store_url = fresh_database(&admin_url, "bench_store").await?;
    let schema_only = PgStore::connect(PgConfig::new(&copy_url)).await.context("schema for raw COPY")?;
    let store = PgStore::connect(PgConfig::new(&store_url)).await.context("connecting the store")?;
    // Partitions for the whole day exist on both sides before timing.
    schema_only.maintain(start).await?;
    store.maintain(start).await?;
    let mut copy_conn = PgConnection::connect(&copy_url).await?;

    let (mut copy_time, mut store_time) = (Duration::ZERO, Duration::ZERO);
    for chunk in events.chunks(batch) {
        let encoded = encode_for_copy(chunk);
        let started = Instant::now();
        let mut tx = copy_conn.begin().await?;
        for (table, columns, bytes) in &encoded {
            let mut copy =
                tx.copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)")).await?;
            copy.send(bytes.as_slice()).await?;
            copy.finish().await?;
        }
        tx.commit().await?;
        copy_time += started.elapsed();

        let started = Instant::now();
        let summary = store.write(chunk).await?;
        store_time += started.elapsed();
        anyhow::ensure!(summary.inserted == chunk.len(), "every event is new");
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "raw COPY (pre-encoded, no staging/rollups): {:>9.0} events/s ({:.2} s)",
        rate(copy_time),
        copy_time.as_secs_f64()
    );
    println!(
        "PgStore::write (encode + COPY + rollup cells): {:>9.0} events/s ({:.2} s) = {:.1} % of raw COPY",
        rate(store_time),
        store_time.as_secs_f64(),
        100.0 * copy_time.as_secs_f64() / store_time.as_secs_f64()
    );

    let end = start.add_micros(MICROS_PER_DAY);
    let q1 = Query::new(start, end, Aggregation::FiveMinutes).field("duration");
    let q2 = Query::new(start, end, Aggregation::FiveMinutes)
        .field("duration")
        .filter(Filter::eq(Dimension::ProjectId, "proj-3"))
        .group(Dimension::Operation);
    let q3 = Query::new(start, end, Aggregation::Hour).filter(Filter::eq(Dimension::Type, "error"));
    let store = Arc::new(store);

    let s = store.clone();
    let q = q1.clone();
    time_query("Q1 before fold (pending cells unioned)", 5, move || {
        let (s, q) = (s.clone(), q.clone());
        async move { Ok(s.query(&q).await?.points().len()) }
    })
    .await?;

    let started = Instant::now();
    let report = store.maintain(start.add_micros(MICROS_PER_HOUR)).await?;
    println!(
        "maintain (fold {} pending rows): {:.2} s",
        report.cells_folded,
        started.elapsed().as_secs_f64()
    );

    let reps = 50;
    for (label, query) in [
        ("Q1 5m avg/max duration, 24 h", q1),
        ("Q2 5m duration of one project by operation, 24 h", q2),
        ("Q3 error count per hour, 24 h", q3),
    ] {
        let s = store.clone();
        time_query(label, reps, move || {
            let (s, q) = (s.clone(), query.clone());
            async move { Ok(s.query(&q).await?.points().len()) }
        })
        .await?;
    }
    let s = store.clone();
    time_query("Q4 last 100 events of a session", reps, move || {
        let s = s.clone();
        async move { Ok(s.session_events("sess-42", 100).await?.len()) }
    })
    .await?;
    let s = store.clone();
    time_query("raw: newest 100 of 24 h with total", 10, move || {
        let s = s.clone();
        async move { Ok(s.query(&Query::new(start, end, Aggregation::Raw).limit(100)).await?.events().len()) }
    })
    .await?;
    Ok(())
}
