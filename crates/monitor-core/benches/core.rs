//! Hot-path benchmarks of monitor-core: `Collector::collect`, `MemoryStore` batch
//! writes, and a 5-minute aggregation over 24 h of 1,000,000 events.
//!
//! Run with: `cargo bench -p monitor-core --bench core`
//!
//! Instruction counts, independent of machine load: build with
//! `cargo bench -p monitor-core --bench core --no-run`, then run the printed executable
//! under `valgrind --tool=callgrind --toggle-collect='core::measured_*'` with
//! `CORE_BENCH_FIXED=collect|write|query` set. It then does a fixed amount of work
//! instead of timing (10,000 collects; 3 writes of 10,000 events; 10 of each query on
//! 1,000,000 events after a first, cold one), and only the `measured_*` functions are
//! counted.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use monitor_core::event::{Extra, PerformancePayload};
use monitor_core::store::{MemoryStore, Store};
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_MINUTE};
use monitor_core::{
    AgentType, Aggregation, Bus, Collector, CollectorConfig, Dimension, Event, EventRef, Filter, MetricEvent,
    OverflowPolicy, Payload, Query, Source, Timestamp,
};

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

fn sample_event(i: u64) -> MetricEvent {
    let op = OPERATIONS[usize::try_from(i % 20).unwrap_or(0)];
    #[allow(clippy::cast_precision_loss)]
    let duration = 20.0 + (i % 977) as f64;
    MetricEvent::performance(Source::ClaudeCli, op, duration)
        .with_project(format!("proj-{}", i % 10))
        .with_session(format!("sess-{}", i % 200))
        .with_agent_type(if i % 3 == 0 { AgentType::Manager } else { AgentType::Worker })
        .with_tag("host", "bench-1")
}

/// `n` events spread evenly over the 24 h before `end`.
fn day_of_events(n: u64, end: Timestamp) -> Vec<EventRef> {
    let spacing = MICROS_PER_DAY / i64::try_from(n).unwrap_or(1);
    (0..n)
        .map(|i| {
            let ts = end.add_micros(-MICROS_PER_DAY + i64::try_from(i).unwrap_or(0) * spacing);
            let op = OPERATIONS[usize::try_from(i % 20).unwrap_or(0)];
            #[allow(clippy::cast_precision_loss)]
            let duration = 20.0 + ((i * 7919) % 5000) as f64;
            Arc::new(Event {
                id: format!("e-{i}"),
                timestamp: ts,
                ingested_at: ts,
                source: Source::ClaudeCli,
                project_id: Some(format!("proj-{}", i % 10)),
                session_id: Some(format!("sess-{}", i % 200)),
                agent_type: Some(if i % 3 == 0 { AgentType::Manager } else { AgentType::Worker }),
                payload: Payload::Performance(PerformancePayload {
                    operation: op.into(),
                    duration,
                    memory_usage: Some(512.0),
                    cpu_usage: Some(12.5),
                    success: i % 50 != 0,
                    extra: Extra::new(),
                }),
                tags: Default::default(),
            })
        })
        .collect()
}

fn collect(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("collector");
    group.throughput(Throughput::Elements(1));
    // The drain task never runs inside the timed loop (current-thread runtime, no
    // awaits), so this measures exactly the agent's hot path: validate, enrich, redact,
    // buffer, publish.
    let collector = rt.block_on(async {
        let config = CollectorConfig {
            capacity: 1_000_000,
            overflow: OverflowPolicy::DropOldest,
            ..CollectorConfig::default()
        };
        Collector::start(Arc::new(MemoryStore::default()), Bus::default(), config).expect("collector")
    });
    let template = sample_event(7);
    group.bench_function("collect", |b| {
        b.iter_batched(|| template.clone(), |e| black_box(collector.collect(e)), BatchSize::SmallInput)
    });
    let _subscriber = collector.bus().subscribe(Default::default());
    group.bench_function("collect_with_subscriber", |b| {
        b.iter_batched(|| template.clone(), |e| black_box(collector.collect(e)), BatchSize::SmallInput)
    });
    group.finish();
}

fn store_write(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("memory_store");
    let batch = day_of_events(10_000, Timestamp::now());
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("write_batch_10k", |b| {
        b.to_async(&rt).iter_batched(
            MemoryStore::default,
            |store| {
                let batch = &batch;
                // The store is returned so that criterion drops it outside the timing:
                // freeing 10,000 events is not part of writing them.
                async move {
                    black_box(store.write(batch).await.expect("write"));
                    store
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The three aggregated queries: 5-minute duration statistics over 24 h, the same for
/// one project grouped by operation, and an hourly count of errors.
fn queries(end: Timestamp) -> [Query; 3] {
    let q1 = Query::new(end.add_micros(-MICROS_PER_DAY), end, Aggregation::FiveMinutes).field("duration");
    let q2 = q1.clone().filter(Filter::eq(Dimension::ProjectId, "proj-3")).group(Dimension::Operation);
    let q3 = Query::new(end.add_micros(-MICROS_PER_DAY), end, Aggregation::Hour)
        .filter(Filter::eq(Dimension::Type, "error"));
    [q1, q2, q3]
}

fn aggregate(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let end = Timestamp::now().floor_to(5 * MICROS_PER_MINUTE);
    let store = MemoryStore::default();
    let events = day_of_events(1_000_000, end);
    rt.block_on(async {
        for chunk in events.chunks(10_000) {
            store.write(chunk).await.expect("write");
        }
    });
    drop(events);
    let mut group = c.benchmark_group("memory_store_query_1m_events");
    let [q1, q2, q3] = queries(end);
    group.bench_function("5m_avg_max_24h", |b| {
        b.to_async(&rt).iter(|| async { black_box(store.query(&q1).await) })
    });
    group.bench_function("5m_one_project_by_operation", |b| {
        b.to_async(&rt).iter(|| async { black_box(store.query(&q2).await) })
    });
    group.bench_function("1h_error_count", |b| {
        b.to_async(&rt).iter(|| async { black_box(store.query(&q3).await) })
    });
    group.bench_function("session_last_100", |b| {
        b.to_async(&rt).iter(|| async { black_box(store.session_events("sess-42", 100).await) })
    });
    group.finish();
}

#[inline(never)]
fn measured_collect(collector: &Collector, events: Vec<MetricEvent>) {
    for event in events {
        let _ = black_box(collector.collect(event));
    }
}

#[inline(never)]
fn measured_write(rt: &tokio::runtime::Runtime, store: &MemoryStore, batch: &[EventRef]) {
    black_box(rt.block_on(store.write(batch)).expect("write"));
}

#[inline(never)]
fn measured_first_query(rt: &tokio::runtime::Runtime, store: &MemoryStore, query: &Query) {
    black_box(rt.block_on(store.query(query)).expect("query"));
}

fn ten_queries(rt: &tokio::runtime::Runtime, store: &MemoryStore, query: &Query, label: &str) {
    // The label keeps the compiler from folding the identical measured functions.
    black_box(label);
    for _ in 0..10 {
        black_box(rt.block_on(store.query(query)).expect("query"));
    }
}

#[inline(never)]
fn measured_q1(rt: &tokio::runtime::Runtime, store: &MemoryStore, query: &Query) {
    ten_queries(rt, store, query, "q1");
}

#[inline(never)]
fn measured_q2(rt: &tokio::runtime::Runtime, store: &MemoryStore, query: &Query) {
    ten_queries(rt, store, query, "q2");
}

#[inline(never)]
fn measured_q3(rt: &tokio::runtime::Runtime, store: &MemoryStore, query: &Query) {
    ten_queries(rt, store, query, "q3");
}

#[inline(never)]
fn measured_session(rt: &tokio::runtime::Runtime, store: &MemoryStore) {
    for _ in 0..10 {
        black_box(rt.block_on(store.session_events("sess-42", 100)).expect("session"));
    }
}

/// The fixed-work mode for instruction counting (see the module docs).
fn fixed(which: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match which {
        "collect" => {
            let collector = rt.block_on(async {
                let config = CollectorConfig {
                    capacity: 1_000_000,
                    overflow: OverflowPolicy::DropOldest,
                    ..CollectorConfig::default()
                };
                Collector::start(Arc::new(MemoryStore::default()), Bus::default(), config).expect("collector")
            });
            let template = sample_event(7);
            measured_collect(&collector, vec![template.clone(); 10_000]);
        }
        "write" => {
            let batch = day_of_events(10_000, Timestamp::now());
            for _ in 0..3 {
                let store = MemoryStore::default();
                measured_write(&rt, &store, &batch);
            }
        }
        "query" => {
            let end = Timestamp::now().floor_to(5 * MICROS_PER_MINUTE);
            let store = MemoryStore::default();
            let events = day_of_events(1_000_000, end);
            for chunk in events.chunks(10_000) {
                rt.block_on(store.write(chunk)).expect("write");
            }
            drop(events);
            let [q1, q2, q3] = queries(end);
            measured_first_query(&rt, &store, &q1);
            measured_q1(&rt, &store, &q1);
            measured_q2(&rt, &store, &q2);
            measured_q3(&rt, &store, &q3);
            measured_session(&rt, &store);
        }
        other => panic!("CORE_BENCH_FIXED={other}: expected collect, write or query"),
    }
}

/// Sketch inserts, the innermost step of every rollup update: 10,000 log-normal
/// durations (the workload's shape) into a sketch that already holds a day of them.
fn sketch_add(c: &mut Criterion) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        #[allow(clippy::cast_precision_loss)]
        let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
        unit.max(1e-12)
    };
    let mut durations = || {
        let (u1, u2) = (uniform(), uniform());
        (4.5 + 0.9 * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()).exp()
    };
    let mut day = monitor_core::sketch::Sketch::default();
    for _ in 0..100_000 {
        day.add(durations());
    }
    let values: Vec<f64> = (0..10_000).map(|_| durations()).collect();
    let mut group = c.benchmark_group("sketch");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("add_10k_lognormal", |b| {
        b.iter_batched_ref(
            || day.clone(),
            |sketch| {
                for value in &values {
                    sketch.add(*value);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, collect, store_write, aggregate, sketch_add);

fn main() {
    if let Ok(which) = std::env::var("CORE_BENCH_FIXED") {
        fixed(&which);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
