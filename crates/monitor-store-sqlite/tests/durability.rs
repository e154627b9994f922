//! The store on real files: reopen durability, idempotency across reopen, corrupt and
//! foreign files, retention on disk, concurrent writers.

mod common;

use std::sync::Arc;

use monitor_core::store::conformance::{T0, dataset, reference};
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR};
use monitor_core::{Aggregation, EventRef, Query, Store};
use monitor_store_sqlite::{Error, SqliteConfig, SqliteStore};

fn whole(aggregation: Aggregation) -> Query {
    Query::new(T0.add_micros(-MICROS_PER_DAY), T0.add_micros(2 * MICROS_PER_DAY), aggregation)
}

/// Every level's buckets and counts, and the raw events, match the written events.
async fn assert_holds(store: &SqliteStore, events: &[EventRef]) {
    let raw = store.query(&whole(Aggregation::Raw).limit(100_000)).await.unwrap();
    assert_eq!(raw.metadata.total_points, events.len());
    let mut got: Vec<String> = raw.events().iter().map(|e| e.to_json()).collect();
    let mut expected: Vec<String> = events.iter().map(|e| e.to_json()).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "raw events read back exactly");
    for aggregation in [Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day] {
        let query = whole(aggregation).field("duration");
        let answer = store.query(&query).await.unwrap();
        let expected = reference(events, &query);
        assert_eq!(
            answer.points().iter().map(|p| (p.timestamp, p.count, p.sum, p.max)).collect::<Vec<_>>(),
            expected.iter().map(|p| (p.timestamp, p.count, p.sum, p.max)).collect::<Vec<_>>(),
            "{aggregation} rollup"
        );
    }
}

async fn reopen_keeps_everything(rollup_memory: i64) {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig { rollup_memory, ..SqliteConfig::at(dir.path().join("nested/dir/m.db")) };
    let events = dataset();
    {
        let store = SqliteStore::open(config.clone()).await.unwrap();
        store.write(&events[..400]).await.unwrap();
        store.write(&events[400..]).await.unwrap();
        store.put_state("alerts", "r1", Some(&serde_json::json!({"s": "firing"}))).await.unwrap();
        // Dropped without close(), as a crash would leave it (the WAL stays on disk).
    }
    let store = SqliteStore::open(config.clone()).await.unwrap();
    assert_holds(&store, &events).await;
    assert_eq!(store.load_state("alerts").await.unwrap().len(), 1);
    // Writes after the reopen stay idempotent: stored ids are not counted again.
    let again = store.write(&events[..100]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 100));
    let mut more = events.clone();
    let late = Arc::new(monitor_core::Event {
        id: "after-reopen".into(),
        timestamp: T0.add_micros(MICROS_PER_HOUR + 5),
        ..(*events[0]).clone()
    });
    let summary = store.write(&[late.clone(), events[1].clone()]).await.unwrap();
    assert_eq!((summary.inserted, summary.duplicates), (1, 1));
    more.push(late);
    assert_holds(&store, &more).await;
    drop(store);
    // Reopened with no rollups in memory: every level is read from the tables, so the
    // journal left by the unclosed store above must have been folded into them.
    let tables_only = SqliteConfig { rollup_memory: 0, ..config.clone() };
    let store = SqliteStore::open(tables_only).await.unwrap();
    assert_holds(&store, &more).await;
    store.close().await.unwrap();
    let store = SqliteStore::open(config).await.unwrap();
    assert_holds(&store, &more).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_raw_events_and_every_rollup_level_with_rollups_in_memory() {
    reopen_keeps_everything(100 * 365 * MICROS_PER_DAY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_raw_events_and_every_rollup_level_with_rollups_in_tables() {
    reopen_keeps_everything(0).await;
}

/// The memory window starts two hours into the dataset: five-minute and hour cells
/// before that are late (merged into the tables by the write, and noted in
/// `rollup_late`), day cells are held; a crash must leave neither counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_raw_events_and_every_rollup_level_with_late_and_held_cells_mixed() {
    let now = monitor_core::Timestamp::now();
    reopen_keeps_everything(now.as_micros() - T0.as_micros() - 2 * MICROS_PER_HOUR).await;
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let text = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    let error = SqliteStore::open(SqliteConfig::at(&path)).await.unwrap_err();
    assert!(matches!(error, Error::NotADatabase { .. }), "{error:?}");
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the file is left as it was");
}

#[tokio::test]
async fn a_store_with_a_clobbered_header_is_refused_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let store = SqliteStore::open(SqliteConfig::at(&path)).await.unwrap();
    store.write(&dataset()).await.unwrap();
    store.close().await.unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..100].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    let error = SqliteStore::open(SqliteConfig::at(&path)).await.unwrap_err();
    assert!(matches!(error, Error::NotADatabase { .. }), "{error:?}");
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    let core: monitor_core::Error = error.into();
    assert!(!core.is_retryable());
}

#[tokio::test]
async fn a_sqlite_database_of_another_application_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY)").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let error = SqliteStore::open(SqliteConfig::at(&path)).await.unwrap_err();
    assert!(matches!(error, Error::ForeignDatabase { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()) && message.contains("invoices"), "{message}");
}

#[tokio::test]
async fn a_directory_in_place_of_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = SqliteStore::open(SqliteConfig::at(dir.path())).await.unwrap_err();
    assert!(error.to_string().contains(&dir.path().display().to_string()), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_rows_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::at(dir.path().join("m.db"));
    let events = dataset();
    let store = SqliteStore::open(config.clone()).await.unwrap();
    store.write(&events).await.unwrap();
    let report = store.apply_retention(T0.add_micros(9 * MICROS_PER_DAY)).await.unwrap();
    assert_eq!(report.raw_removed, events.len() as u64);
    store.close().await.unwrap();

    // What is on disk after a reopen: raw rows gone, rollups kept.
    let store = SqliteStore::open(config.clone()).await.unwrap();
    assert!(store.query(&whole(Aggregation::Raw)).await.unwrap().events().is_empty());
    let five = store.query(&whole(Aggregation::FiveMinutes)).await.unwrap();
    assert_eq!(five.points().iter().map(|p| p.count).sum::<u64>(), events.len() as u64);
    store.apply_retention(T0.add_micros(32 * MICROS_PER_DAY)).await.unwrap();
    store.close().await.unwrap();

    let store = SqliteStore::open(config).await.unwrap();
    assert!(store.query(&whole(Aggregation::FiveMinutes)).await.unwrap().points().is_empty());
    let hours = store.query(&whole(Aggregation::Hour)).await.unwrap();
    assert_eq!(hours.points().iter().map(|p| p.count).sum::<u64>(), events.len() as u64);
    // Events written again after their raw rows expired are new rows, counted again.
    let summary = store.write(&events[..10]).await.unwrap();
    assert_eq!(summary.inserted, 10);
}

#[tokio::test]
async fn a_second_store_on_the_same_file_is_refused_until_the_first_is_gone() {
    // The in-memory rollup cells are right only for the file's one writer.
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::at(dir.path().join("m.db"));
    let first = SqliteStore::open(config.clone()).await.unwrap();
    let error = SqliteStore::open(config.clone()).await.unwrap_err();
    assert!(matches!(error, Error::InUse { .. }), "{error:?}");
    assert!(error.to_string().contains("m.db"), "{error}");
    drop(first);
    let again = SqliteStore::open(config).await.unwrap();
    again.health().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_readers_through_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(SqliteConfig::at(dir.path().join("m.db"))).await.unwrap());
    let events = dataset();
    let mut tasks = Vec::new();
    for w in 0..4usize {
        let store = store.clone();
        // Overlapping halves: every id is written by two writers.
        let mine: Vec<EventRef> =
            events.iter().enumerate().filter(|(i, _)| (i + w) % 4 < 2).map(|(_, e)| e.clone()).collect();
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0;
            for chunk in mine.chunks(17) {
                inserted += store.write(chunk).await.unwrap().inserted;
                // Readers run beside the writer (WAL): they never fail or block it.
                store.query(&whole(Aggregation::Hour).field("duration")).await.unwrap();
            }
            inserted
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        inserted += task.await.unwrap();
    }
    assert_eq!(inserted, events.len(), "each id inserted exactly once");
    assert_holds(&store, &events).await;
}
