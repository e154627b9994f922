//! The in-memory store: hour partitions of raw events, rollups maintained on write.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::RwLock;
use std::time::Instant;

use async_trait::async_trait;
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashMap, HashSet, HashTable};
use serde_json::Value;

use super::{
    EventRef, Record, RecordQuery, RetentionPolicy, RetentionReport, Store, StoreInfo, WriteSummary,
};
use crate::error::{Error, Result};
use crate::event::{Event, rollup_field_index};
use crate::query::{
    Aggregation, Aggregator, DataSource, Dimension, FilterOp, Query, QueryData, QueryMetadata, QueryResult,
    Segment, matches_all,
};
use crate::rollup::{Grain, LEVELS, RollupIndex};
use crate::time::{MICROS_PER_HOUR, Timestamp};

/// Settings of a [`MemoryStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStoreConfig {
    /// How long each level is kept.
    pub retention: RetentionPolicy,
    /// Most raw events held; beyond it the oldest hour partitions are evicted (rollups
    /// keep their counts). Bounds memory for long-running embedders.
    pub max_events: usize,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig { retention: RetentionPolicy::default(), max_events: 20_000_000 }
    }
}

/// Raw events of one hour, kept sorted by (timestamp, insertion order).
#[derive(Default)]
struct Partition {
    events: Vec<EventRef>,
}

impl Partition {
    fn insert(&mut self, event: EventRef) {
        let ts = event.timestamp;
        if self.events.last().is_none_or(|last| last.timestamp <= ts) {
            self.events.push(event);
        } else {
            let at = self.events.partition_point(|e| e.timestamp <= ts);
            self.events.insert(at, event);
        }
    }

    /// Events with timestamps in `[start, end)`.
    fn range(&self, start: Timestamp, end: Timestamp) -> &[EventRef] {
        let lo = self.events.partition_point(|e| e.timestamp < start);
        let hi = self.events.partition_point(|e| e.timestamp < end);
        &self.events[lo..hi.max(lo)]
    }
}

#[derive(Default)]
struct Inner {
    partitions: BTreeMap<Timestamp, Partition>,
    /// Every held event with the hash of its id, for idempotency. The hash is kept so
    /// growing the table never reads the events again (each read is a cache miss).
    ids: HashTable<(u64, EventRef)>,
    id_hasher: DefaultHashBuilder,
    /// session → (timestamp, sequence) → event.
    sessions: HashMap<String, BTreeMap<(Timestamp, u64), EventRef>>,
    rollups: RollupIndex,
    records: HashMap<String, HashMap<String, Record>>,
    state: HashMap<String, BTreeMap<String, Value>>,
    next_seq: u64,
    evicted: u64,
}

impl Inner {
    fn remove_partition(&mut self, key: Timestamp) -> u64 {
        let Some(partition) = self.partitions.remove(&key) else { return 0 };
        let mut sessions: HashSet<&str> = HashSet::new();
        for event in &partition.events {
            let hash = self.id_hasher.hash_one(event.id.as_str());
            if let Ok(entry) = self.ids.find_entry(hash, |(h, e)| *h == hash && e.id == event.id) {
                entry.remove();
            }
            if let Some(session) = &event.session_id {
                sessions.insert(session);
            }
        }
        // A session's events of this hour are exactly its index entries in the hour.
        let end = key.add_micros(MICROS_PER_HOUR);
        for session in sessions {
            if let Some(index) = self.sessions.get_mut(session) {
                let mut from_hour = index.split_off(&(key, 0));
                let mut after_hour = from_hour.split_off(&(end, 0));
                index.append(&mut after_hour);
                if index.is_empty() {
                    self.sessions.remove(session);
                }
            }
        }
        partition.events.len() as u64
    }
}

/// A fast, bounded, non-durable [`Store`] for tests and in-process embedding.
pub struct MemoryStore {
    config: MemoryStoreConfig,
    // std RwLock: never held across an await.
    inner: RwLock<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(MemoryStoreConfig::default())
    }
}

impl MemoryStore {
    /// A new empty store.
    pub fn new(config: MemoryStoreConfig) -> Self {
        MemoryStore { config, inner: RwLock::new(Inner::default()) }
    }

    /// How many raw events are held.
    pub fn len(&self) -> usize {
        self.read().map(|inner| inner.ids.len()).unwrap_or(0)
    }

    /// Whether no raw events are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raw events evicted by the `max_events` bound so far.
    pub fn evicted(&self) -> u64 {
        self.read().map(|inner| inner.evicted).unwrap_or(0)
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>> {
        self.inner.read().map_err(|_| Error::store("memory store lock poisoned", false))
    }

    fn write_lock(&self) -> Result<std::sync::RwLockWriteGuard<'_, Inner>> {
        self.inner.write().map_err(|_| Error::store("memory store lock poisoned", false))
    }

    fn write_sync(&self, events: &[EventRef]) -> Result<WriteSummary> {
        let mut inner = self.write_lock()?;
        let mut summary = WriteSummary::default();
        let inner = &mut *inner;
        inner.ids.reserve(events.len(), |(hash, _)| *hash);
        for event in events {
            let hash = inner.id_hasher.hash_one(event.id.as_str());
            match inner.ids.entry(hash, |(h, e)| *h == hash && e.id == event.id, |(h, _)| *h) {
                Entry::Occupied(_) => {
                    summary.duplicates += 1;
                    continue;
                }
                Entry::Vacant(slot) => {
                    slot.insert((hash, event.clone()));
                }
            }
            inner.rollups.add(event);
            if let Some(session) = &event.session_id {
                let seq = inner.next_seq;
                inner.next_seq += 1;
                inner
                    .sessions
                    .entry_ref(session.as_str())
                    .or_default()
                    .insert((event.timestamp, seq), event.clone());
            }
            let partition_key = event.timestamp.floor_to(MICROS_PER_HOUR);
            inner.partitions.entry(partition_key).or_default().insert(event.clone());
            summary.inserted += 1;
        }
        while inner.ids.len() > self.config.max_events {
            let Some(oldest) = inner.partitions.keys().next().copied() else { break };
            let removed = inner.remove_partition(oldest);
            inner.evicted += removed;
            metrics::counter!("monitor_store_memory_evicted_events_total").increment(removed);
        }
        Ok(summary)
    }

    /// Refolds and projects the rollups `segments` read at `grain`, if needed, so the
    /// read that follows finds them ready (a write meanwhile only makes it slower).
    fn prepare_rollups(&self, segments: &[Segment], grain: Grain) -> Result<()> {
        let ready = |rollups: &RollupIndex| {
            segments.iter().all(|s| s.level.is_none_or(|l| rollups.is_fresh(l, s.start, s.end, grain)))
        };
        if ready(&self.read()?.rollups) {
            return Ok(());
        }
        let mut inner = self.write_lock()?;
        for segment in segments {
            if let Some(level) = segment.level {
                inner.rollups.refresh_range(level, segment.start, segment.end, grain);
            }
        }
        Ok(())
    }

    fn query_sync(&self, query: &Query) -> Result<QueryResult> {
        query.validate()?;
        let started = Instant::now();
        let grain = Grain::for_query(&query.filters, &query.group_by);
        let segments = if query.aggregation.step_micros().is_some() { query.plan() } else { Vec::new() };
        self.prepare_rollups(&segments, grain)?;
        let inner = self.read()?;
        let (data, total, source, approximate) = match Aggregator::new(query) {
            None => {
                let (events, total) = raw_events(&inner, query);
                (QueryData::Raw(events), total, DataSource::Raw, false)
            }
            Some(mut aggregator) => {
                let field_index = query.field.as_deref().and_then(rollup_field_index);
                for segment in segments {
                    match segment.level {
                        None => for_each_raw(&inner, query, segment.start, segment.end, |e| {
                            aggregator.add_event(e)
                        }),
                        Some(level) => inner.rollups.scan_grain(
                            level,
                            segment.start,
                            segment.end,
                            &query.filters,
                            grain,
                            |bucket, key, cell| {
                                aggregator.add_cell(
                                    bucket,
                                    key,
                                    cell.count,
                                    field_index.and_then(|i| cell.field(i)),
                                );
                            },
                        ),
                    }
                }
                let approximate = aggregator.used_rollups() && query.field.is_some();
                let source = if aggregator.used_rollups() { DataSource::Rollup } else { DataSource::Raw };
                let mut points = aggregator.finish();
                let total = points.len();
                if let Some(limit) = query.limit {
                    points.truncate(limit);
                }
                (QueryData::Aggregated(points), total, source, approximate)
            }
        };
        Ok(QueryResult {
            data,
            metadata: QueryMetadata {
                total_points: total,
                aggregation: query.aggregation,
                cache_hit: false,
                query_time: started.elapsed().as_secs_f64() * 1000.0,
                source,
                approximate,
            },
        })
    }
}

fn session_filter(query: &Query) -> Option<&str> {
    query.filters.iter().find_map(|f| match (&f.dimension, f.op, f.values.as_slice()) {
        (Dimension::SessionId, FilterOp::Eq, [value]) => Some(value.as_str()),
        _ => None,
    })
}

fn for_each_raw(
    inner: &Inner,
    query: &Query,
    start: Timestamp,
    end: Timestamp,
    mut visit: impl FnMut(&Event),
) {
    if let Some(session) = session_filter(query) {
        if let Some(index) = inner.sessions.get(session) {
            for event in index.range((start, 0)..(end, 0)).map(|(_, e)| e) {
                if matches_all(&query.filters, event) {
                    visit(event);
                }
            }
        }
        return;
    }
    let first = start.floor_to(MICROS_PER_HOUR);
    for partition in inner.partitions.range(first..end).map(|(_, p)| p) {
        for event in partition.range(start, end) {
            if matches_all(&query.filters, event) {
                visit(event);
            }
        }
    }
}

fn raw_events<'a>(inner: &'a Inner, query: &Query) -> (Vec<Event>, usize) {
    let limit = query.raw_limit();
    let mut newest: Vec<&EventRef> = Vec::new();
    let mut total = 0usize;
    let mut keep = |event: &'a EventRef| {
        total += 1;
        if newest.len() < limit {
            newest.push(event);
        }
    };
    // Walk newest to oldest so the first `limit` matches are the answer.
    if let Some(session) = session_filter(query) {
        if let Some(index) = inner.sessions.get(session) {
            for event in index.range((query.start, 0)..(query.end, 0)).rev().map(|(_, e)| e) {
                if matches_all(&query.filters, event) {
                    keep(event);
                }
            }
        }
    } else {
        let first = query.start.floor_to(MICROS_PER_HOUR);
        for partition in inner.partitions.range(first..query.end).rev().map(|(_, p)| p) {
            for event in partition.range(query.start, query.end).iter().rev() {
                if matches_all(&query.filters, event) {
                    keep(event);
                }
            }
        }
    }
    let events = newest.into_iter().map(|e| (**e).clone()).collect();
    (events, total)
}

#[async_trait]
impl Store for MemoryStore {
    fn info(&self) -> StoreInfo {
        StoreInfo { kind: "memory", mode: "in-memory".into(), location: "memory".into() }
    }

    async fn write(&self, events: &[EventRef]) -> Result<WriteSummary> {
        self.write_sync(events)
    }

    async fn query(&self, query: &Query) -> Result<QueryResult> {
        self.query_sync(query)
    }

    async fn apply_retention(&self, now: Timestamp) -> Result<RetentionReport> {
        let mut inner = self.write_lock()?;
        let mut report = RetentionReport::default();
        let raw_cutoff = self.config.retention.cutoff(Aggregation::Raw, now);
        // A partition goes once all of its hour is older than the cutoff.
        let doomed: Vec<Timestamp> = inner
            .partitions
            .keys()
            .copied()
            .take_while(|start| start.add_micros(MICROS_PER_HOUR) <= raw_cutoff)
            .collect();
        for key in doomed {
            report.raw_removed += inner.remove_partition(key);
        }
        for level in LEVELS {
            let cutoff = self.config.retention.cutoff(level, now);
            let step = level.step_micros().unwrap_or(1);
            // Only whole buckets older than the cutoff go: those with start + step <= cutoff.
            let boundary = cutoff.add_micros(-step).floor_to(step).add_micros(step);
            report.rollup_removed += inner.rollups.drop_before(level, boundary);
        }
        Ok(report)
    }

    async fn health(&self) -> Result<()> {
        self.read().map(|_| ())
    }

    async fn put_records(&self, log: &str, records: &[Record]) -> Result<()> {
        let mut inner = self.write_lock()?;
        let log = inner.records.entry(log.to_owned()).or_default();
        for record in records {
            log.insert(record.id.clone(), record.clone());
        }
        Ok(())
    }

    async fn read_records(&self, log: &str, query: RecordQuery) -> Result<Vec<Record>> {
        let inner = self.read()?;
        let Some(log) = inner.records.get(log) else { return Ok(Vec::new()) };
        let mut records: Vec<Record> =
            log.values().filter(|r| r.time >= query.start && r.time < query.end).cloned().collect();
        records.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
        records.truncate(query.limit);
        Ok(records)
    }

    async fn put_state(&self, namespace: &str, key: &str, value: Option<&Value>) -> Result<()> {
        let mut inner = self.write_lock()?;
        let space = inner.state.entry(namespace.to_owned()).or_default();
        match value {
            Some(v) => {
                space.insert(key.to_owned(), v.clone());
            }
            None => {
                space.remove(key);
            }
        }
        Ok(())
    }

    async fn load_state(&self, namespace: &str) -> Result<Vec<(String, Value)>> {
        let inner = self.read()?;
        Ok(inner
            .state
            .get(namespace)
            .map(|space| space.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn session_events(&self, session_id: &str, limit: usize) -> Result<Vec<Event>> {
        let inner = self.read()?;
        Ok(inner
            .sessions
            .get(session_id)
            .map(|index| index.values().rev().take(limit).map(|e| (**e).clone()).collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{Extra, Payload, PerformancePayload, Source};

    fn event(i: i64) -> EventRef {
        let at = Timestamp(i * MICROS_PER_HOUR / 50);
        Arc::new(Event {
            id: format!("e{i}"),
            timestamp: at,
            ingested_at: at,
            source: Source::ClaudeCli,
            project_id: None,
            session_id: Some(format!("s{}", i % 3)),
            agent_type: None,
            payload: Payload::Performance(PerformancePayload {
                operation: "tool:Bash".into(),
                duration: 1.0,
                memory_usage: None,
                cpu_usage: None,
                success: true,
                extra: Extra::new(),
            }),
            tags: Default::default(),
        })
    }

    #[tokio::test]
    async fn eviction_drops_whole_oldest_hours_from_ids_and_sessions_only() {
        let store = MemoryStore::new(MemoryStoreConfig { max_events: 100, ..MemoryStoreConfig::default() });
        let events: Vec<EventRef> = (0..150).map(event).collect();
        let summary = store.write(&events).await.unwrap();
        assert_eq!((summary.inserted, summary.duplicates), (150, 0));
        assert_eq!((store.len(), store.evicted()), (100, 50));
        let summary = store.write(&events[100..]).await.unwrap();
        assert_eq!((summary.inserted, summary.duplicates), (0, 50), "held ids stay deduplicated");
        for session in ["s0", "s1", "s2"] {
            let held = store.session_events(session, 1_000).await.unwrap();
            let expected: Vec<String> = events[50..]
                .iter()
                .rev()
                .filter(|e| e.session_id.as_deref() == Some(session))
                .map(|e| e.id.clone())
                .collect();
            assert_eq!(held.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), expected, "{session}");
        }
        let query = Query::new(Timestamp(0), Timestamp(3 * MICROS_PER_HOUR), Aggregation::Hour);
        let answer = store.query(&query).await.unwrap();
        assert_eq!(answer.points().iter().map(|p| p.count).sum::<u64>(), 150, "rollups keep evicted events");
    }
}
