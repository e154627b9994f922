//! Hot paths of the SQLite store: batch writes (1,000 and 10,000 events) and the four
//! queries of issue 9 over 1,000,000 events spread evenly over 24 h.
//!
//! Run with: `cargo bench -p monitor-store-sqlite --bench sqlite`
//! (the query group builds its 1,000,000-event file once, in setup, under the system
//! temp dir; pass a filter such as `sqlite_query` to run one group).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use monitor_core::event::{CoordinationPayload, ErrorPayload, Extra, PerformancePayload, QualityPayload};
use monitor_core::store::Store;
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_MINUTE};
use monitor_core::{
    AgentType, Aggregation, Dimension, Event, EventRef, Filter, Payload, Query, Source, Timestamp,
};
use monitor_store_sqlite::{SqliteConfig, SqliteStore};

const OPERATIONS: [&str; 20] = [
    "tool:Bash",
    "tool:Edit",
    "tool:Read",
    "tool:Write",
    "tool:Grep",
    "tool:Glob",
    "tool:WebFetch",
    "tool:Task",
    "tool:TodoWrite",
    "tool:MultiEdit",
    "llm:call",
    "llm:stream",
    "mcp:github",
    "mcp:linear",
    "tool:NotebookEdit",
    "tool:LS",
    "tool:WebSearch",
    "tool:Agent",
    "hook:PreToolUse",
    "hook:PostToolUse",
];

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[usize::try_from(rng.below(items.len() as u64)).unwrap_or(0)]
}

/// The issue-9 workload: `n` events from `start`, `spacing` µs apart, ~85 % performance,
/// ~6 % error, ~5 % coordination, ~4 % quality; 10 projects, 200 sessions, 20 operations,
/// log-normal durations with rare spikes, manager/worker agents, ids `{prefix}-{i}`.
fn workload(prefix: &str, n: u64, start: Timestamp, spacing: i64, seed: u64) -> Vec<EventRef> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let ts = start.add_micros(i64::try_from(i).unwrap_or(0) * spacing);
            let roll = rng.below(100);
            let operation = pick(&mut rng, &OPERATIONS).to_owned();
            let payload = match roll {
                0..85 => {
                    let (u1, u2) = (rng.unit().max(1e-12), rng.unit());
                    let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                    let spike = if rng.below(1000) == 0 { 30.0 } else { 1.0 };
                    Payload::Performance(PerformancePayload {
                        operation,
                        duration: (4.5 + 0.9 * normal).exp() * spike,
                        memory_usage: Some(200.0 + rng.unit() * 600.0),
                        cpu_usage: Some(rng.unit() * 100.0),
                        success: rng.below(50) != 0,
                        extra: Extra::new(),
                    })
                }
                85..91 => Payload::Error(ErrorPayload {
                    operation: Some(operation),
                    message: "command exited with status 1".into(),
                    code: Some("E_EXIT".into()),
                    extra: Extra::new(),
                }),
                91..96 => Payload::Coordination(CoordinationPayload {
                    manager_id: "mgr-1".into(),
                    worker_id: format!("wrk-{}", rng.below(8)),
                    phase: pick(&mut rng, &["assign", "accept", "progress", "complete"]).into(),
                    task_id: Some(format!("task-{}", rng.below(10_000))),
                    coordination_score: Some(rng.unit()),
                    latency_ms: Some(rng.unit() * 500.0),
                    extra: Extra::new(),
                }),
                _ => Payload::Quality(QualityPayload {
                    metric: "test_pass_rate".into(),
                    score: rng.unit(),
                    extra: Extra::new(),
                }),
            };
            let source = if matches!(payload, Payload::Coordination(_)) {
                Source::DualAgent
            } else {
                Source::ClaudeCli
            };
            let mut tags = monitor_core::Tags::new();
            tags.insert("host".into(), format!("host-{}", rng.below(4)));
            Arc::new(Event {
                id: format!("{prefix}-{i:08}"),
                timestamp: ts,
                ingested_at: ts,
                source,
                project_id: Some(format!("proj-{}", rng.below(10))),
                session_id: Some(format!("sess-{}", rng.below(200))),
                agent_type: Some(if rng.below(4) == 0 { AgentType::Manager } else { AgentType::Worker }),
                payload,
                tags,
            })
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of this process so far, all threads, in seconds.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks of 1/100 s.
    #[allow(clippy::cast_precision_loss)]
    let seconds = (ticks(11) + ticks(12)) as f64 / 100.0;
    seconds
}

fn write(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt.block_on(SqliteStore::open(SqliteConfig::at(dir.path().join("write.db")))).expect("open");
    let mut group = c.benchmark_group("sqlite_write");
    group.sample_size(20);
    for size in [1_000u64, 10_000] {
        group.throughput(Throughput::Elements(size));
        let mut round = 0u64;
        // Live ingest: each batch holds the next `size` events, 100 µs apart, ending near now.
        let mut clock = Timestamp::now().add_micros(-MICROS_PER_DAY);
        group.bench_function(format!("batch_{size}"), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    round += 1;
                    let batch = workload(&format!("w{size}-{round}"), size, clock, 100, round);
                    clock = clock.add_micros(i64::try_from(size).unwrap_or(0) * 100);
                    batch
                },
                |batch| {
                    let store = &store;
                    async move { black_box(store.write(&batch).await.expect("write")) }
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    // The same writes timed by hand with their CPU time, which a loaded machine distorts
    // less than wall time: batches are built first, then written back to back.
    for (size, batches) in [(1_000u64, 100u64), (10_000, 20)] {
        let clock = Timestamp::now().add_micros(-MICROS_PER_DAY / 2);
        let pool: Vec<Vec<EventRef>> = (0..batches)
            .map(|b| {
                let start = clock.add_micros(i64::try_from(b * size).unwrap_or(0) * 100);
                workload(&format!("m{size}-{b}"), size, start, 100, b + 7)
            })
            .collect();
        let (began, cpu) = (Instant::now(), cpu_seconds());
        rt.block_on(async {
            for batch in &pool {
                store.write(batch).await.expect("write");
            }
        });
        let (secs, cpu) = (began.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        #[allow(clippy::cast_precision_loss)]
        let events = (size * batches) as f64;
        eprintln!(
            "manual: {batches} batches of {size}: {:.0} events/s wall, {:.0} events per CPU-second (all threads)",
            events / secs,
            events / cpu
        );
    }
    rt.block_on(store.close()).expect("close");
}

fn queries(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    // MONITOR_BENCH_DB=FILE keeps the 1,000,000-event file between runs (for profiling);
    // it is rebuilt when older than an hour, so that its 24 h stay inside the memory window.
    let kept = std::env::var_os("MONITOR_BENCH_DB").map(std::path::PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| dir.path().join("queries.db"));
    let fresh = kept.is_some()
        && std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() < 3600));
    let end_file = path.with_extension("end");
    let end = match std::fs::read_to_string(&end_file).ok().and_then(|t| t.trim().parse::<i64>().ok()) {
        Some(end) if fresh => Timestamp::from_micros(end),
        _ => Timestamp::now().floor_to(5 * MICROS_PER_MINUTE),
    };
    let start = end.add_micros(-MICROS_PER_DAY);
    if !fresh {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
        let store = rt.block_on(SqliteStore::open(SqliteConfig::at(&path))).expect("open");
        let events = workload("q", 1_000_000, start, MICROS_PER_DAY / 1_000_000, 42);
        let (began, cpu) = (Instant::now(), cpu_seconds());
        rt.block_on(async {
            for chunk in events.chunks(10_000) {
                store.write(chunk).await.expect("write");
            }
        });
        let (secs, cpu) = (began.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        eprintln!(
            "setup: wrote 1,000,000 events in 10,000-event batches in {secs:.2} s wall ({:.0} events/s), \
             {cpu:.2} s CPU on all threads ({:.0} events per CPU-second)",
            1e6 / secs,
            1e6 / cpu
        );
        rt.block_on(store.close()).expect("close");
        std::fs::write(&end_file, end.as_micros().to_string()).expect("write end time");
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!("setup: database file {:.1} MiB", size as f64 / 1_048_576.0);

    let q1 = Query::new(start, end, Aggregation::FiveMinutes).field("duration");
    let q2 = q1.clone().filter(Filter::eq(Dimension::ProjectId, "proj-3")).group(Dimension::Operation);
    let q3 = Query::new(start, end, Aggregation::Hour).filter(Filter::eq(Dimension::Type, "error"));
    // The same as Q1 over a range that does not fall on bucket edges: 2 × 2.5 min of raw edges.
    let q1_edges = Query::new(
        start.add_micros(150 * 1_000_000),
        end.add_micros(-150 * 1_000_000),
        Aggregation::FiveMinutes,
    )
    .field("duration");

    for (label, rollup_memory) in [("memory", SqliteConfig::default().rollup_memory), ("tables", 0)] {
        let before = rss_kib();
        let began = Instant::now();
        let store = rt
            .block_on(SqliteStore::open(SqliteConfig { rollup_memory, ..SqliteConfig::at(&path) }))
            .expect("open");
        let cells = store.rollup_cells_in_memory();
        eprintln!(
            "setup ({label}): opened in {:.0} ms; rollup cells in memory 5m/1h/1d = {:?}; RSS grew {} MiB",
            began.elapsed().as_secs_f64() * 1000.0,
            cells,
            rss_kib().saturating_sub(before) / 1024
        );
        let mut group = c.benchmark_group(format!("sqlite_query_1m_events_rollups_in_{label}"));
        // Rollups read from the tables take seconds per query: fewer samples there.
        group.sample_size(if rollup_memory == 0 { 10 } else { 50 });
        for (name, query) in [
            ("q1_5m_avg_max_24h", &q1),
            ("q1_unaligned_24h", &q1_edges),
            ("q2_5m_project_by_operation", &q2),
            ("q3_1h_error_count", &q3),
        ] {
            group.bench_function(name, |b| {
                b.to_async(&rt).iter(|| async { black_box(store.query(query).await.expect("query")) })
            });
        }
        group.bench_function("q4_session_last_100", |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(store.session_events("sess-42", 100).await.expect("query")) })
        });
        group.finish();
        // Percentiles as issue 9 reports them: repetitions after the warm-up above.
        let reps = if rollup_memory == 0 { 10 } else { 50 };
        let named: [(&str, &Query); 4] = [("q1", &q1), ("q1_unaligned", &q1_edges), ("q2", &q2), ("q3", &q3)];
        for (name, query) in named {
            let times = repeat(&rt, reps, || async { drop(store.query(query).await.expect("query")) });
            eprintln!("manual ({label}): {name} {}", percentiles(times));
        }
        let times =
            repeat(&rt, reps, || async { drop(store.session_events("sess-42", 100).await.expect("query")) });
        eprintln!("manual ({label}): q4 {}", percentiles(times));
        rt.block_on(store.close()).expect("close");
    }
}

fn repeat<F: std::future::Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    reps: usize,
    mut call: impl FnMut() -> F,
) -> Vec<f64> {
    (0..reps)
        .map(|_| {
            let began = Instant::now();
            rt.block_on(call());
            began.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let index = ((ms.len() - 1) as f64 * q).round() as usize;
        ms[index]
    };
    format!("p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms ({} runs)", at(0.5), at(0.95), at(0.99), ms.len())
}

criterion_group!(benches, write, queries);
criterion_main!(benches);
