//! Collector and bus behaviour: durability through slow and failing stores, overflow
//! policies, redaction before broadcast, and lagging subscribers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use monitor_core::store::{
    MemoryStore, Record, RecordQuery, RetentionReport, Store, StoreInfo, WriteSummary,
};
use monitor_core::{
    Aggregation, Bus, BusMessage, Collector, CollectorConfig, Error, EventRef, MetricEvent, OverflowPolicy,
    Query, QueryResult, Received, Result, Source, SubscriptionFilter, Timestamp,
};
use serde_json::Value;

/// A real `MemoryStore` behind a layer that delays writes and can fail the first N.
struct Flaky {
    inner: MemoryStore,
    delay: Duration,
    fail_first: usize,
    calls: AtomicUsize,
    written: AtomicUsize,
}

impl Flaky {
    fn new(delay: Duration, fail_first: usize) -> Self {
        Flaky {
            inner: MemoryStore::default(),
            delay,
            fail_first,
            calls: AtomicUsize::new(0),
            written: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Store for Flaky {
    fn info(&self) -> StoreInfo {
        self.inner.info()
    }
    async fn write(&self, events: &[EventRef]) -> Result<WriteSummary> {
        tokio::time::sleep(self.delay).await;
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.fail_first {
            return Err(Error::store("database is restarting", true));
        }
        self.written.fetch_add(events.len(), Ordering::SeqCst);
        self.inner.write(events).await
    }
    async fn query(&self, query: &Query) -> Result<QueryResult> {
        self.inner.query(query).await
    }
    async fn apply_retention(&self, now: Timestamp) -> Result<RetentionReport> {
        self.inner.apply_retention(now).await
    }
    async fn health(&self) -> Result<()> {
        self.inner.health().await
    }
    async fn put_records(&self, log: &str, records: &[Record]) -> Result<()> {
        self.inner.put_records(log, records).await
    }
    async fn read_records(&self, log: &str, query: RecordQuery) -> Result<Vec<Record>> {
        self.inner.read_records(log, query).await
    }
    async fn put_state(&self, namespace: &str, key: &str, value: Option<&Value>) -> Result<()> {
        self.inner.put_state(namespace, key, value).await
    }
    async fn load_state(&self, namespace: &str) -> Result<Vec<(String, Value)>> {
        self.inner.load_state(namespace).await
    }
}

fn event(i: usize) -> MetricEvent {
    MetricEvent::performance(Source::DualAgent, "task:run", 10.0).with_id(format!("ev-{i}")).with_session("s")
}

async fn stored_ids(store: &dyn Store) -> Vec<String> {
    let q = Query::new(Timestamp::MIN, Timestamp::MAX, Aggregation::Raw).limit(1_000_000);
    let mut ids: Vec<String> = store.query(&q).await.unwrap().events().iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids
}

fn expected_ids(n: usize) -> Vec<String> {
    let mut ids: Vec<String> = (0..n).map(|i| format!("ev-{i}")).collect();
    ids.sort();
    ids
}

#[tokio::test(start_paused = true)]
async fn slow_store_loses_nothing_on_flush_and_shutdown() {
    let store = Arc::new(Flaky::new(Duration::from_millis(250), 0));
    let config = CollectorConfig { batch_size: 64, ..Default::default() };
    let collector = Collector::start(store.clone(), Bus::default(), config).unwrap();
    for i in 0..1_000 {
        collector.collect(event(i)).unwrap();
    }
    collector.flush().await.unwrap();
    assert_eq!(stored_ids(store.as_ref()).await, expected_ids(1_000));
    for i in 1_000..1_500 {
        collector.collect(event(i)).unwrap();
    }
    collector.shutdown().await.unwrap();
    assert_eq!(stored_ids(store.as_ref()).await, expected_ids(1_500), "shutdown drains the buffer");
    assert!(matches!(collector.collect(event(9)), Err(Error::Closed)));
}

#[tokio::test(start_paused = true)]
async fn failing_store_is_retried_with_backoff_until_it_recovers() {
    let store = Arc::new(Flaky::new(Duration::from_millis(5), 6));
    let collector = Collector::start(store.clone(), Bus::default(), CollectorConfig::default()).unwrap();
    for i in 0..300 {
        collector.collect(event(i)).unwrap();
    }
    let started = tokio::time::Instant::now();
    collector.flush().await.unwrap();
    assert_eq!(store.calls.load(Ordering::SeqCst), 7, "six failures, then success");
    // Backoff 50, 100, 200, 400, 800, 1600 ms (paused clock: exact).
    assert!(started.elapsed() >= Duration::from_millis(3150));
    assert_eq!(stored_ids(store.as_ref()).await, expected_ids(300));
    assert_eq!(store.written.load(Ordering::SeqCst), 300, "nothing written twice");
    assert!(!collector.store_failing());
    collector.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn overflow_policies() {
    // Error: refuse when full.
    let store = Arc::new(Flaky::new(Duration::from_secs(3600), 0));
    let config = CollectorConfig {
        capacity: 10,
        batch_size: 1_000,
        overflow: OverflowPolicy::Error,
        ..Default::default()
    };
    let collector = Collector::start(store.clone(), Bus::default(), config).unwrap();
    for i in 0..10 {
        collector.collect(event(i)).unwrap();
    }
    assert!(matches!(collector.collect(event(10)), Err(Error::BufferFull)));

    // DropOldest: make room, count drops, keep the newest.
    let store = Arc::new(MemoryStore::default());
    let config = CollectorConfig {
        capacity: 10,
        batch_size: 1_000,
        overflow: OverflowPolicy::DropOldest,
        ..Default::default()
    };
    let collector = Collector::start(store.clone(), Bus::default(), config).unwrap();
    for i in 0..25 {
        collector.collect(event(i)).unwrap();
    }
    assert_eq!(collector.dropped(), 15);
    collector.flush().await.unwrap();
    let ids = stored_ids(store.as_ref()).await;
    let mut newest: Vec<String> = (15..25).map(|i| format!("ev-{i}")).collect();
    newest.sort();
    assert_eq!(ids, newest);

    // Wait: the async path waits for room instead of failing.
    let store = Arc::new(MemoryStore::default());
    let config =
        CollectorConfig { capacity: 10, batch_size: 5, overflow: OverflowPolicy::Wait, ..Default::default() };
    let collector = Collector::start(store.clone(), Bus::default(), config).unwrap();
    for i in 0..100 {
        collector.collect_wait(event(i)).await.unwrap();
    }
    collector.flush().await.unwrap();
    assert_eq!(stored_ids(store.as_ref()).await, expected_ids(100));
    assert_eq!(collector.dropped(), 0);
}

#[tokio::test]
async fn validation_errors_name_the_field_and_redaction_precedes_broadcast() {
    let store = Arc::new(MemoryStore::default());
    let bus = Bus::default();
    let mut sub = bus.subscribe(SubscriptionFilter::default());
    let collector = Collector::start(store.clone(), bus, CollectorConfig::default()).unwrap();
    let err = collector.collect(MetricEvent::performance(Source::ClaudeCli, "x", -5.0)).unwrap_err();
    match err {
        Error::Validation(v) => assert_eq!(v.field, "payload.duration"),
        other => panic!("unexpected {other}"),
    }
    let secret = MetricEvent::performance(Source::ClaudeCli, "tool:Bash", 1.0)
        .with_tag("cmd", "curl -H 'Authorization: Bearer abcdefghijklmnop' https://x");
    let receipt = collector.collect(secret).unwrap();
    let Some(Received::Message(_, BusMessage::Event(e))) = sub.recv().await else { panic!("no event") };
    assert_eq!(e.id, receipt.id);
    assert!(!e.to_json().contains("abcdefghijklmnop"), "broadcast copy is redacted");
    collector.flush().await.unwrap();
    let stored = store.query(&Query::new(Timestamp::MIN, Timestamp::MAX, Aggregation::Raw)).await.unwrap();
    assert!(!stored.events()[0].to_json().contains("abcdefghijklmnop"), "stored copy is redacted");
    collector.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_subscriber_lags_alone() {
    let bus = Bus::new(64);
    let mut slow = bus.subscribe(SubscriptionFilter::default());
    let mut fast = bus.subscribe(SubscriptionFilter {
        filters: vec![monitor_core::Filter::eq(monitor_core::Dimension::SessionId, "s")],
        ..Default::default()
    });
    let store = Arc::new(MemoryStore::default());
    let collector = Collector::start(store.clone(), bus.clone(), CollectorConfig::default()).unwrap();
    let mut fast_seen = 0;
    for i in 0..1_000 {
        collector.collect(event(i)).unwrap();
        // The fast subscriber keeps up; the slow one reads nothing meanwhile.
        while let Some(Received::Message(..)) = fast.try_recv() {
            fast_seen += 1;
        }
    }
    assert_eq!(fast_seen, 1_000, "a slow subscriber never slows the others");
    match slow.recv().await {
        Some(Received::Lagged(skipped)) => assert_eq!(skipped, 1_000 - 64),
        other => panic!("expected a lag notice, got {other:?}"),
    }
    let mut rest = 0;
    while let Some(Received::Message(..)) = slow.try_recv() {
        rest += 1;
    }
    assert_eq!(rest, 64, "after the notice it continues from the oldest message held");
    collector.flush().await.unwrap();
    assert_eq!(store.len(), 1_000, "ingest was not slowed or dropped");
}

#[tokio::test]
async fn resume_replays_without_gap_or_repeat() {
    let bus = Bus::with_history(128, 100);
    let event_ref = |i: usize| Arc::new(event(i).into_event(Timestamp::now()));
    for i in 0..150 {
        bus.publish_event(event_ref(i));
    }
    let resume = bus.resume(120, SubscriptionFilter::default());
    assert_eq!(resume.replay.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (121..=150).collect::<Vec<u64>>());
    assert_eq!(resume.missed, 0);
    let mut sub = resume.subscription;
    bus.publish_event(event_ref(151));
    match sub.recv().await {
        Some(Received::Message(seq, _)) => assert_eq!(seq, 151),
        other => panic!("unexpected {other:?}"),
    }
    let old = bus.resume(10, SubscriptionFilter::default());
    assert_eq!(old.missed, 41, "messages 11..=51 are no longer held");
    assert_eq!(old.replay.first().map(|(s, _)| *s), Some(52));
}
