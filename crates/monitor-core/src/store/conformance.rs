//! The store conformance suite: one `async fn` per behaviour, run unchanged against
//! every backend through [`store_conformance!`](crate::store_conformance).
//!
//! ```text
//! // crates/monitor-store-x/tests/conformance.rs
//! async fn fresh_store() -> monitor_core::StoreRef { /* a new, empty store */ }
//! monitor_core::store_conformance!(fresh_store);
//! ```
//!
//! Expected answers are computed in the test by brute force over the written events
//! (plain loops, sorting and linear-interpolated percentiles), independent of the
//! stores' rollup code. Percentiles read from rollups (`metadata.approximate`) must lie
//! within [`PERCENTILE_TOLERANCE`] of the exact value; everything else must match to
//! floating-point rounding.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::json;

use super::{EventRef, Record, RecordQuery, StoreRef};
use crate::event::{
    AgentType, CoordinationPayload, ErrorPayload, Event, Extra, Payload, PerformancePayload, QualityPayload,
    Source,
};
use crate::query::{AggPoint, Aggregation, Dimension, Filter, FilterOp, Query, matches_all};
use crate::sketch::exact_quantile;
use crate::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND, Timestamp};

/// Relative error allowed for percentiles answered from rollup sketches (1 % sketch
/// accuracy plus rank rounding on small buckets).
pub const PERCENTILE_TOLERANCE: f64 = 0.03;

/// Generates one `#[tokio::test]` per conformance behaviour, each calling `$factory()`
/// (an async fn returning a fresh, empty [`StoreRef`]).
#[macro_export]
macro_rules! store_conformance {
    ($factory:path) => {
        $crate::__store_conformance_tests!($factory;
            raw_round_trip_newest_first,
            idempotent_writes,
            aggregates_match_reference,
            group_by_and_filters,
            field_statistics_count_only_carriers,
            bucket_edges_and_unaligned_ranges,
            empty_ranges,
            late_data_updates_rollups,
            retention_drops_expired_levels,
            session_events_newest_first,
            records_and_state,
            concurrent_writers,
            percentiles_within_error
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ($factory:path; $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: $crate::store::StoreRef = $factory().await;
                $crate::store::conformance::$name(store).await;
            }
        )+
    };
}

/// Monday 2026-01-05T00:00:00Z, the start of the data set.
pub const T0: Timestamp = Timestamp(1_767_571_200_000_000);

const OPERATIONS: [&str; 3] = ["tool:Bash", "tool:Edit", "llm:call"];

fn at(offset_micros: i64) -> Timestamp {
    T0.add_micros(offset_micros)
}

fn base_event(id: String, ts: Timestamp, payload: Payload) -> Event {
    Event {
        id,
        timestamp: ts,
        ingested_at: ts,
        source: Source::ClaudeCli,
        project_id: None,
        session_id: None,
        agent_type: None,
        payload,
        tags: BTreeMap::new(),
    }
}

/// The reference data set: 600 performance events over 5 hours (every 30 s), 30 errors,
/// 20 coordination and 10 quality events, with projects, sessions, agents and tags.
pub fn dataset() -> Vec<EventRef> {
    let mut events = Vec::new();
    for i in 0..600i64 {
        let mut extra = Extra::new();
        extra.insert("exitCode".into(), json!(i % 3));
        extra.insert("toolInput".into(), json!({"command": format!("ls -la /tmp/{i}"), "n": [i, i + 1]}));
        let mut e = base_event(
            format!("perf-{i:04}"),
            at(i * 30 * MICROS_PER_SECOND),
            Payload::Performance(PerformancePayload {
                operation: OPERATIONS[usize::try_from(i % 3).unwrap_or(0)].into(),
                duration: f64::from(u32::try_from(i % 100).unwrap_or(0)) + 1.5,
                memory_usage: (i % 2 == 0).then_some(256.0 + f64::from(u32::try_from(i % 10).unwrap_or(0))),
                cpu_usage: Some(10.0),
                success: i % 7 != 0,
                extra,
            }),
        );
        e.project_id = Some(if i % 2 == 0 { "proj-a" } else { "proj-b" }.into());
        e.session_id = Some(format!("sess-{}", i % 4));
        e.agent_type = Some(if i % 5 == 0 { AgentType::Manager } else { AgentType::Worker });
        e.tags.insert("host".into(), format!("h{}", i % 2));
        events.push(Arc::new(e));
    }
    for j in 0..30i64 {
        let mut e = base_event(
            format!("err-{j:03}"),
            at(j * 10 * MICROS_PER_MINUTE + 15 * MICROS_PER_SECOND),
            Payload::Error(ErrorPayload {
                operation: Some("tool:Bash".into()),
                message: format!("exit code {j}"),
                code: Some("E1".into()),
                extra: Extra::new(),
            }),
        );
        e.project_id = Some("proj-a".into());
        e.session_id = Some(format!("sess-{}", j % 4));
        events.push(Arc::new(e));
    }
    for j in 0..20i64 {
        let mut e = base_event(
            format!("coord-{j:03}"),
            at(j * 13 * MICROS_PER_MINUTE),
            Payload::Coordination(CoordinationPayload {
                manager_id: "mgr-1".into(),
                worker_id: format!("wrk-{}", j % 3),
                phase: ["assign", "accept", "complete"][usize::try_from(j % 3).unwrap_or(0)].into(),
                task_id: Some(format!("task-{j}")),
                coordination_score: Some(0.5 + f64::from(u32::try_from(j).unwrap_or(0)) / 100.0),
                latency_ms: Some(f64::from(u32::try_from(j).unwrap_or(0)) * 10.0),
                extra: Extra::new(),
            }),
        );
        e.source = Source::DualAgent;
        e.project_id = Some("proj-b".into());
        e.agent_type = Some(AgentType::Manager);
        events.push(Arc::new(e));
    }
    for j in 0..10i64 {
        let mut e = base_event(
            format!("qual-{j:03}"),
            at(j * 29 * MICROS_PER_MINUTE),
            Payload::Quality(QualityPayload {
                metric: "test_pass_rate".into(),
                score: f64::from(u32::try_from(j).unwrap_or(0)) / 10.0,
                extra: Extra::new(),
            }),
        );
        e.source = Source::System;
        events.push(Arc::new(e));
    }
    events
}

/// The expected answer, by brute force.
pub fn reference(events: &[EventRef], query: &Query) -> Vec<AggPoint> {
    let step = query.aggregation.step_micros().unwrap_or(1);
    type Buckets = BTreeMap<(Timestamp, Vec<Option<String>>), (u64, Vec<f64>)>;
    let mut groups = Buckets::new();
    for e in events {
        if e.timestamp < query.start || e.timestamp >= query.end || !matches_all(&query.filters, e) {
            continue;
        }
        let value = match &query.field {
            Some(f) => match e.payload.numeric_field(f) {
                Some(v) => Some(v),
                None => continue,
            },
            None => None,
        };
        let key: Vec<Option<String>> =
            query.group_by.iter().map(|d| d.value_of(e).map(str::to_owned)).collect();
        let slot = groups.entry((e.timestamp.floor_to(step), key)).or_default();
        slot.0 += 1;
        slot.1.extend(value);
    }
    groups
        .into_iter()
        .map(|((timestamp, key), (count, mut values))| {
            values.sort_by(f64::total_cmp);
            let has = !values.is_empty();
            let sum: f64 = values.iter().sum();
            #[allow(clippy::cast_precision_loss)]
            let avg = has.then(|| sum / values.len() as f64);
            AggPoint {
                timestamp,
                count,
                sum: has.then_some(sum),
                avg,
                min: values.first().copied(),
                max: values.last().copied(),
                p50: exact_quantile(&values, 0.5),
                p95: exact_quantile(&values, 0.95),
                p99: exact_quantile(&values, 0.99),
                group: query.group_by.iter().map(Dimension::name).zip(key).collect(),
            }
        })
        .collect()
}

fn close(a: Option<f64>, b: Option<f64>, tolerance: f64) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= tolerance * x.abs().max(y.abs()).max(1e-9) + 1e-9,
        _ => false,
    }
}

/// Asserts an answer equals the reference (percentiles within tolerance if approximate).
pub async fn assert_matches_reference(store: &StoreRef, events: &[EventRef], query: &Query) {
    let answer = store.query(query).await.unwrap_or_else(|e| panic!("query {query:?} failed: {e}"));
    let expected = reference(events, query);
    let got = answer.points();
    assert_eq!(answer.metadata.aggregation, query.aggregation);
    assert_eq!(answer.metadata.total_points, expected.len(), "totalPoints for {query:?}");
    assert_eq!(
        got.iter().map(|p| (p.timestamp, p.group.clone(), p.count)).collect::<Vec<_>>(),
        expected.iter().map(|p| (p.timestamp, p.group.clone(), p.count)).collect::<Vec<_>>(),
        "buckets, groups and counts for {query:?}"
    );
    let pct_tol = if answer.metadata.approximate { PERCENTILE_TOLERANCE } else { 1e-9 };
    for (g, e) in got.iter().zip(&expected) {
        let ctx =
            format!("bucket {} group {:?} of {query:?}: got {g:?}, expected {e:?}", g.timestamp, g.group);
        assert!(close(g.sum, e.sum, 1e-9), "sum: {ctx}");
        assert!(close(g.avg, e.avg, 1e-9), "avg: {ctx}");
        assert!(close(g.min, e.min, 1e-9), "min: {ctx}");
        assert!(close(g.max, e.max, 1e-9), "max: {ctx}");
        assert!(close(g.p50, e.p50, pct_tol), "p50: {ctx}");
        assert!(close(g.p95, e.p95, pct_tol), "p95: {ctx}");
        assert!(close(g.p99, e.p99, pct_tol), "p99: {ctx}");
    }
}

async fn write_all(store: &StoreRef, events: &[EventRef]) {
    store.write(events).await.unwrap_or_else(|e| panic!("write failed: {e}"));
}

fn whole_range(aggregation: Aggregation) -> Query {
    Query::new(at(-MICROS_PER_DAY), at(2 * MICROS_PER_DAY), aggregation)
}

/// Raw answers hold the stored events unchanged, newest first, limited, with the total.
pub async fn raw_round_trip_newest_first(store: StoreRef) {
    let events = dataset();
    write_all(&store, &events).await;
    let answer = store.query(&whole_range(Aggregation::Raw).limit(10_000)).await.unwrap();
    let got = answer.events();
    assert_eq!(got.len(), events.len());
    assert_eq!(answer.metadata.total_points, events.len());
    assert!(got.windows(2).all(|w| w[0].timestamp >= w[1].timestamp), "raw answers come newest first");
    let by_id: HashMap<&str, &EventRef> = events.iter().map(|e| (e.id.as_str(), e)).collect();
    for e in got {
        let original = by_id.get(e.id.as_str()).unwrap_or_else(|| panic!("unknown id {}", e.id));
        assert_eq!(e.to_json(), original.to_json(), "stored event differs");
    }
    let limited = store.query(&whole_range(Aggregation::Raw).limit(7)).await.unwrap();
    assert_eq!(limited.events().len(), 7);
    assert_eq!(limited.metadata.total_points, events.len());
    assert_eq!(limited.events()[0].timestamp, got[0].timestamp);
    let default_limit = store.query(&whole_range(Aggregation::Raw)).await.unwrap();
    assert_eq!(default_limit.events().len(), 660.min(crate::query::DEFAULT_RAW_LIMIT));
    let filtered = store
        .query(&whole_range(Aggregation::Raw).filter(Filter::eq(Dimension::Type, "error")).limit(1000))
        .await
        .unwrap();
    assert_eq!(filtered.events().len(), 30);
    assert!(filtered.events().iter().all(|e| e.event_type().as_str() == "error"));
}

/// Writing the same ids again (across or within batches) stores nothing new.
pub async fn idempotent_writes(store: StoreRef) {
    let events = dataset();
    let first = store.write(&events).await.unwrap();
    assert_eq!(first.inserted, events.len());
    let again = store.write(&events[..100]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 100));
    let fresh = Arc::new(base_event("fresh-1".into(), at(MICROS_PER_MINUTE), events[0].payload.clone()));
    let mixed = vec![fresh.clone(), fresh, events[5].clone()];
    let summary = store.write(&mixed).await.unwrap();
    assert_eq!((summary.inserted, summary.duplicates), (1, 2));
    let count = store.query(&whole_range(Aggregation::Hour)).await.unwrap();
    let total: u64 = count.points().iter().map(|p| p.count).sum();
    assert_eq!(total, events.len() as u64 + 1, "rollups count each id once");
    let raw = store.query(&whole_range(Aggregation::Raw).limit(10_000)).await.unwrap();
    assert_eq!(raw.events().len(), events.len() + 1);
}

/// Every aggregation level matches the brute-force reference.
pub async fn aggregates_match_reference(store: StoreRef) {
    let events = dataset();
    write_all(&store, &events).await;
    for aggregation in [Aggregation::Minute, Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day] {
        for field in [None, Some("duration"), Some("memoryUsage"), Some("latencyMs"), Some("score")] {
            let mut query = whole_range(aggregation);
            query.field = field.map(str::to_owned);
            assert_matches_reference(&store, &events, &query).await;
        }
    }
    let limited =
        store.query(&whole_range(Aggregation::FiveMinutes).field("duration").limit(3)).await.unwrap();
    assert_eq!(limited.points().len(), 3);
    assert_eq!(
        limited.metadata.total_points,
        reference(&events, &whole_range(Aggregation::FiveMinutes).field("duration")).len()
    );
}

/// Group-by and eq/ne/in filters, on rolled-up and raw-only dimensions.
pub async fn group_by_and_filters(store: StoreRef) {
    let events = dataset();
    write_all(&store, &events).await;
    let performance = Filter::eq(Dimension::Type, "performance");
    let queries = [
        whole_range(Aggregation::FiveMinutes)
            .field("duration")
            .filter(performance.clone())
            .group(Dimension::Operation),
        whole_range(Aggregation::Hour)
            .field("duration")
            .group(Dimension::ProjectId)
            .group(Dimension::Operation),
        whole_range(Aggregation::Hour)
            .group(Dimension::Type)
            .group(Dimension::Source)
            .group(Dimension::AgentType),
        whole_range(Aggregation::Hour).field("duration").filter(Filter {
            dimension: Dimension::ProjectId,
            op: FilterOp::Ne,
            values: vec!["proj-a".into()],
        }),
        whole_range(Aggregation::FiveMinutes).filter(Filter {
            dimension: Dimension::Operation,
            op: FilterOp::In,
            values: vec!["tool:Edit".into(), "llm:call".into()],
        }),
        // Not rolled up: answered from raw events.
        whole_range(Aggregation::Hour).field("duration").group(Dimension::SessionId),
        whole_range(Aggregation::Hour)
            .filter(Filter::eq(Dimension::Tag("host".into()), "h1"))
            .group(Dimension::Tag("host".into())),
        whole_range(Aggregation::Minute).field("duration").filter(Filter::eq(Dimension::SessionId, "sess-2")),
        whole_range(Aggregation::Day).field("success").group(Dimension::Operation),
        // Filtered and grouped by `type` alone (stores may answer these from per-type totals).
        whole_range(Aggregation::FiveMinutes).field("duration").filter(performance.clone()),
        whole_range(Aggregation::Hour).filter(Filter::eq(Dimension::Type, "error")),
        whole_range(Aggregation::Hour).group(Dimension::Type),
        whole_range(Aggregation::Day)
            .filter(Filter {
                dimension: Dimension::Type,
                op: FilterOp::In,
                values: vec!["error".into(), "quality".into()],
            })
            .group(Dimension::Type),
        whole_range(Aggregation::Hour).field("score").filter(Filter {
            dimension: Dimension::Type,
            op: FilterOp::Ne,
            values: vec!["performance".into()],
        }),
    ];
    for query in &queries {
        assert_matches_reference(&store, &events, query).await;
    }
    let grouped = store.query(&queries[0]).await.unwrap();
    assert!(grouped.points().iter().all(|p| p.group.contains_key("operation")));
    let answer = store
        .query(
            &whole_range(Aggregation::Raw)
                .filter(Filter::eq(Dimension::ProjectId, "proj-b"))
                .filter(Filter::eq(Dimension::Operation, "tool:Bash"))
                .limit(1000),
        )
        .await
        .unwrap();
    assert_eq!(answer.events().len(), 100);
}

/// With a field, counts and statistics cover only events carrying it.
pub async fn field_statistics_count_only_carriers(store: StoreRef) {
    let events = dataset();
    write_all(&store, &events).await;
    let answer = store.query(&whole_range(Aggregation::Day).field("latencyMs")).await.unwrap();
    assert_eq!(answer.points().len(), 1);
    let point = &answer.points()[0];
    assert_eq!(point.count, 20);
    assert_eq!(point.sum, Some(1900.0));
    assert_eq!(point.min, Some(0.0));
    assert_eq!(point.max, Some(190.0));
    let all = store.query(&whole_range(Aggregation::Day)).await.unwrap();
    assert_eq!(all.points()[0].count, 660);
    assert_eq!(all.points()[0].avg, None, "without a field there are no statistics");
    let none = store.query(&whole_range(Aggregation::Hour).field("noSuchField")).await.unwrap();
    assert!(none.points().is_empty());
    let extra = store.query(&whole_range(Aggregation::Day).field("exitCode")).await.unwrap();
    assert_eq!(extra.points()[0].count, 600);
    assert_eq!(extra.points()[0].sum, Some(600.0));
}

/// Buckets are `[t, t+step)`, labelled by `t`; the range is `[start, end)` even when it
/// does not align with buckets.
pub async fn bucket_edges_and_unaligned_ranges(store: StoreRef) {
    let noon = at(12 * MICROS_PER_HOUR);
    let times = [
        noon,
        noon.add_micros(4 * MICROS_PER_MINUTE + 59 * MICROS_PER_SECOND + 999_000),
        noon.add_micros(5 * MICROS_PER_MINUTE),
        noon.add_micros(2 * MICROS_PER_MINUTE),
        noon.add_micros(MICROS_PER_HOUR - 1),
        noon.add_micros(MICROS_PER_HOUR),
    ];
    let events: Vec<EventRef> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let payload = Payload::Performance(PerformancePayload {
                operation: "tool:Read".into(),
                duration: f64::from(u32::try_from(i).unwrap_or(0)) * 10.0,
                memory_usage: None,
                cpu_usage: None,
                success: true,
                extra: Extra::new(),
            });
            Arc::new(base_event(format!("edge-{i}"), *t, payload))
        })
        .collect();
    write_all(&store, &events).await;
    let five =
        Query::new(noon, noon.add_micros(5 * MICROS_PER_MINUTE), Aggregation::FiveMinutes).field("duration");
    let answer = store.query(&five).await.unwrap();
    assert_eq!(answer.points().len(), 1);
    assert_eq!(answer.points()[0].timestamp, noon);
    assert_eq!(answer.points()[0].count, 3, "end is exclusive; 12:05 belongs to the next bucket");
    let unaligned = [
        Query::new(
            noon.add_micros(MICROS_PER_MINUTE),
            noon.add_micros(90 * MICROS_PER_MINUTE),
            Aggregation::FiveMinutes,
        ),
        Query::new(
            noon.add_micros(3 * MICROS_PER_MINUTE),
            noon.add_micros(MICROS_PER_HOUR),
            Aggregation::Hour,
        ),
        Query::new(
            noon.add_micros(-MICROS_PER_HOUR),
            noon.add_micros(MICROS_PER_HOUR + 1),
            Aggregation::Hour,
        ),
        Query::new(noon.add_micros(MICROS_PER_MINUTE), noon.add_micros(MICROS_PER_DAY), Aggregation::Day),
    ];
    for query in unaligned {
        assert_matches_reference(&store, &events, &query.field("duration")).await;
    }
}

/// Ranges without data answer no points, at every level.
pub async fn empty_ranges(store: StoreRef) {
    for aggregation in Aggregation::ALL {
        let query = Query::new(at(-10 * MICROS_PER_DAY), at(-9 * MICROS_PER_DAY), aggregation);
        let answer = store.query(&query).await.unwrap();
        assert!(answer.data.is_empty(), "empty store, {aggregation}");
        assert_eq!(answer.metadata.total_points, 0);
    }
    write_all(&store, &dataset()).await;
    for aggregation in Aggregation::ALL {
        let query =
            Query::new(at(-10 * MICROS_PER_DAY), at(-9 * MICROS_PER_DAY), aggregation).field("duration");
        let answer = store.query(&query).await.unwrap();
        assert!(answer.data.is_empty(), "range before the data, {aggregation}");
    }
    let bad = store.query(&Query::new(at(10), at(5), Aggregation::Raw)).await;
    assert!(bad.is_err(), "end before start is an error");
}

/// Events arriving late for old buckets show up in every rollup level.
pub async fn late_data_updates_rollups(store: StoreRef) {
    let mut events = dataset();
    write_all(&store, &events).await;
    for aggregation in [Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day] {
        assert_matches_reference(&store, &events, &whole_range(aggregation).field("duration")).await;
    }
    let late: Vec<EventRef> = (0..5)
        .map(|i| {
            let payload = Payload::Performance(PerformancePayload {
                operation: "tool:Bash".into(),
                duration: 5_000.0 + f64::from(i),
                memory_usage: None,
                cpu_usage: None,
                success: false,
                extra: Extra::new(),
            });
            Arc::new(base_event(format!("late-{i}"), at(i64::from(i) * MICROS_PER_MINUTE + 7), payload))
        })
        .collect();
    write_all(&store, &late).await;
    events.extend(late);
    for aggregation in [Aggregation::Minute, Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day] {
        assert_matches_reference(&store, &events, &whole_range(aggregation).field("duration")).await;
    }
}

/// Retention drops raw events after 7 d, 5-minute rollups after 30 d, hourly after
/// 365 d and daily after 5 y (the defaults), and nothing younger.
pub async fn retention_drops_expired_levels(store: StoreRef) {
    let events = dataset();
    write_all(&store, &events).await;
    let recent = Arc::new(base_event("recent".into(), at(3 * MICROS_PER_DAY), events[0].payload.clone()));
    write_all(&store, std::slice::from_ref(&recent)).await;
    let day_range = |aggregation| Query::new(at(-MICROS_PER_DAY), at(2 * MICROS_PER_DAY), aggregation);
    let counts = |answer: &crate::query::QueryResult| answer.points().iter().map(|p| p.count).sum::<u64>();

    store.apply_retention(at(9 * MICROS_PER_DAY)).await.unwrap();
    let raw = store.query(&day_range(Aggregation::Raw)).await.unwrap();
    assert!(raw.events().is_empty(), "raw events older than 7 d are gone");
    let minute = store.query(&day_range(Aggregation::Minute)).await.unwrap();
    assert!(minute.points().is_empty(), "1m is computed from raw events");
    let five = store.query(&day_range(Aggregation::FiveMinutes).field("duration")).await.unwrap();
    assert_eq!(five.points().iter().map(|p| p.count).sum::<u64>(), 600, "5-minute rollups outlive raw data");
    let kept = store
        .query(&Query::new(at(2 * MICROS_PER_DAY), at(4 * MICROS_PER_DAY), Aggregation::Raw))
        .await
        .unwrap();
    assert_eq!(kept.events().len(), 1, "raw events younger than 7 d stay");

    store.apply_retention(at(32 * MICROS_PER_DAY)).await.unwrap();
    assert_eq!(
        counts(&store.query(&day_range(Aggregation::FiveMinutes)).await.unwrap()),
        0,
        "5m gone after 30 d"
    );
    assert_eq!(counts(&store.query(&day_range(Aggregation::Hour)).await.unwrap()), 660, "1h kept");

    store.apply_retention(at(367 * MICROS_PER_DAY)).await.unwrap();
    assert_eq!(counts(&store.query(&day_range(Aggregation::Hour)).await.unwrap()), 0, "1h gone after 365 d");
    assert_eq!(counts(&store.query(&day_range(Aggregation::Day)).await.unwrap()), 660, "1d kept");

    store.apply_retention(at((5 * 365 + 2) * MICROS_PER_DAY)).await.unwrap();
    assert_eq!(counts(&store.query(&day_range(Aggregation::Day)).await.unwrap()), 0, "1d gone after 5 y");
}

/// `session_events` gives a session's latest events, newest first.
pub async fn session_events_newest_first(store: StoreRef) {
    let events = dataset();
    write_all(&store, &events).await;
    let got = store.session_events("sess-1", 5).await.unwrap();
    let mut expected: Vec<&EventRef> =
        events.iter().filter(|e| e.session_id.as_deref() == Some("sess-1")).collect();
    expected.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    assert_eq!(
        got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        expected[..5].iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
    assert!(store.session_events("no-such-session", 5).await.unwrap().is_empty());
}

/// Records upsert by id and read newest first; state documents set, list and delete.
pub async fn records_and_state(store: StoreRef) {
    let record =
        |id: &str, minute: i64, body| Record { id: id.into(), time: at(minute * MICROS_PER_MINUTE), body };
    store
        .put_records(
            "alert-history",
            &[
                record("a", 1, json!({"status": "firing"})),
                record("b", 2, json!({"n": 2})),
                record("c", 3, json!({"n": 3})),
            ],
        )
        .await
        .unwrap();
    store.put_records("alert-history", &[record("a", 4, json!({"status": "resolved"}))]).await.unwrap();
    store.put_records("audit", &[record("z", 1, json!({}))]).await.unwrap();
    let all = store.read_records("alert-history", RecordQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "c", "b"]);
    assert_eq!(all[0].body, json!({"status": "resolved"}));
    let window = RecordQuery { start: at(2 * MICROS_PER_MINUTE), end: at(4 * MICROS_PER_MINUTE), limit: 1 };
    let some = store.read_records("alert-history", window).await.unwrap();
    assert_eq!(some.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["c"]);
    assert!(store.read_records("nothing", RecordQuery::default()).await.unwrap().is_empty());

    store.put_state("alerts", "rule-1/x", Some(&json!({"state": "pending"}))).await.unwrap();
    store.put_state("alerts", "rule-0", Some(&json!(1))).await.unwrap();
    store.put_state("alerts", "rule-1/x", Some(&json!({"state": "firing"}))).await.unwrap();
    store.put_state("other", "k", Some(&json!(true))).await.unwrap();
    let state = store.load_state("alerts").await.unwrap();
    assert_eq!(
        state,
        vec![("rule-0".to_owned(), json!(1)), ("rule-1/x".to_owned(), json!({"state": "firing"}))]
    );
    store.put_state("alerts", "rule-0", None).await.unwrap();
    assert_eq!(store.load_state("alerts").await.unwrap().len(), 1);
}

/// Concurrent writers with overlapping batches store every id exactly once.
pub async fn concurrent_writers(store: StoreRef) {
    let events = dataset();
    let mut tasks = Vec::new();
    for w in 0..4usize {
        let store = store.clone();
        // Each writer covers half the data set, overlapping the others.
        let mine: Vec<EventRef> =
            events.iter().enumerate().filter(|(i, _)| (i + w) % 4 < 2).map(|(_, e)| e.clone()).collect();
        tasks.push(tokio::spawn(async move {
            for chunk in mine.chunks(37) {
                store.write(chunk).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_matches_reference(&store, &events, &whole_range(Aggregation::Hour).field("duration")).await;
    let raw = store.query(&whole_range(Aggregation::Raw).limit(10_000)).await.unwrap();
    assert_eq!(raw.events().len(), events.len());
}

/// Percentiles over many values: exact from raw, within tolerance from rollups.
pub async fn percentiles_within_error(store: StoreRef) {
    // A deterministic heavy-tailed latency series (log-normal-like, with rare spikes).
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        #[allow(clippy::cast_precision_loss)]
        let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
        unit
    };
    let events: Vec<EventRef> = (0..5_000i64)
        .map(|i| {
            let (u1, u2) = (next().max(1e-12), next());
            let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let spike = if i % 997 == 0 { 40.0 } else { 1.0 };
            let duration = (4.0 + 0.8 * normal).exp() * spike;
            let payload = Payload::Performance(PerformancePayload {
                operation: "llm:call".into(),
                duration,
                memory_usage: None,
                cpu_usage: None,
                success: true,
                extra: Extra::new(),
            });
            Arc::new(base_event(format!("p-{i}"), at(i * 700_000), payload))
        })
        .collect();
    for chunk in events.chunks(1_000) {
        write_all(&store, chunk).await;
    }
    for aggregation in [Aggregation::Minute, Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day] {
        assert_matches_reference(&store, &events, &whole_range(aggregation).field("duration")).await;
    }
}
