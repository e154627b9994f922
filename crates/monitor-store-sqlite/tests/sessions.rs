//! The session timeline (`session_events`) kept as runs of sequence numbers: whole and
//! in order across folds, a crash, a database without runs, late events and retention.

use std::sync::Arc;

use monitor_core::store::conformance::{T0, dataset};
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE};
use monitor_core::{Aggregation, Dimension, Event, EventRef, Filter, Query, Store};
use monitor_store_sqlite::{SqliteConfig, SqliteStore};
use sqlx::Connection;

const SESSIONS: [&str; 3] = ["sess-a", "sess-b", "sess-c"];

/// `n` events from `first` on, over three sessions (and every seventh without one), a
/// minute apart except that every fifth arrives late, half a day earlier.
fn events(prefix: &str, first: usize, n: usize) -> Vec<EventRef> {
    let template = dataset()[0].clone();
    (first..first + n)
        .map(|i| {
            let offset = i64::try_from(i).unwrap() * MICROS_PER_MINUTE + 17;
            let late = if i % 5 == 0 { MICROS_PER_DAY / 2 } else { 0 };
            Arc::new(Event {
                id: format!("{prefix}-{i}"),
                timestamp: T0.add_micros(offset - late),
                session_id: (i % 7 != 0).then(|| SESSIONS[i % 3].to_owned()),
                ..(*template).clone()
            })
        })
        .collect()
}

/// The ids `session_events` must give: the session's events newest first by time, ties
/// by write order, at most `limit`.
fn expected(written: &[EventRef], session: &str, limit: usize) -> Vec<String> {
    let mut of: Vec<(usize, &EventRef)> =
        written.iter().enumerate().filter(|(_, e)| e.session_id.as_deref() == Some(session)).collect();
    of.sort_by_key(|(i, e)| std::cmp::Reverse((e.timestamp, *i)));
    of.into_iter().take(limit).map(|(_, e)| e.id.clone()).collect()
}

async fn assert_timelines(store: &SqliteStore, written: &[EventRef], context: &str) {
    for session in SESSIONS {
        for limit in [0, 1, 7, 40, 10_000] {
            let got: Vec<String> =
                store.session_events(session, limit).await.unwrap().iter().map(|e| e.id.clone()).collect();
            assert_eq!(got, expected(written, session, limit), "{context}: {session}, limit {limit}");
        }
    }
    assert!(store.session_events("sess-none", 10).await.unwrap().is_empty(), "{context}");
    // Raw queries filtered by session read the session's events through its runs.
    let (start, end) = (T0.add_micros(-8 * MICROS_PER_HOUR), T0.add_micros(3 * MICROS_PER_HOUR));
    for sessions in [vec!["sess-b"], vec!["sess-a", "sess-c"]] {
        let filter = Filter {
            dimension: Dimension::SessionId,
            op: monitor_core::FilterOp::In,
            values: sessions.iter().map(|s| (*s).to_owned()).collect(),
        };
        let query = Query::new(start, end, Aggregation::Raw).filter(filter).limit(25);
        let answer = store.query(&query).await.unwrap();
        let mut of: Vec<(usize, &EventRef)> = written
            .iter()
            .enumerate()
            .filter(|(_, e)| e.session_id.as_deref().is_some_and(|s| sessions.contains(&s)))
            .filter(|(_, e)| e.timestamp >= start && e.timestamp < end)
            .collect();
        assert_eq!(answer.metadata.total_points, of.len(), "{context}: {sessions:?}");
        of.sort_by_key(|(i, e)| std::cmp::Reverse((e.timestamp, *i)));
        let expected: Vec<&str> = of.iter().take(25).map(|(_, e)| e.id.as_str()).collect();
        let got: Vec<&str> = answer.events().iter().map(|e| e.id.as_str()).collect();
        assert_eq!(got, expected, "{context}: {sessions:?}");
        // With another filter too, the rows are read by seq and filtered in SQL.
        let typed = query.filter(Filter::eq(Dimension::Type, "performance"));
        let answer = store.query(&typed).await.unwrap();
        assert_eq!(answer.metadata.total_points, of.len(), "{context}: {sessions:?} + type");
        let got: Vec<&str> = answer.events().iter().map(|e| e.id.as_str()).collect();
        assert_eq!(got, expected, "{context}: {sessions:?} + type");
    }
    let nobody =
        Query::new(start, end, Aggregation::Raw).filter(Filter::eq(Dimension::SessionId, "sess-none"));
    assert_eq!(store.query(&nobody).await.unwrap().metadata.total_points, 0);
}

/// Writes `batch` and records it (the store keeps write order within a batch).
async fn write(store: &SqliteStore, written: &mut Vec<EventRef>, batch: Vec<EventRef>) {
    let summary = store.write(&batch).await.unwrap();
    assert_eq!(summary.inserted, batch.len());
    written.extend(batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timelines_stay_whole_across_folds_crashes_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::at(dir.path().join("m.db"));
    let mut written = Vec::new();
    {
        let store = SqliteStore::open(config.clone()).await.unwrap();
        for (k, size) in [10, 90, 1, 300].into_iter().enumerate() {
            let first = written.len();
            write(&store, &mut written, events(&format!("w{k}"), first, size)).await;
            // Nothing folded yet: the timeline comes from the in-memory tail.
            assert_timelines(&store, &written, "before any fold").await;
        }
        store.close().await.unwrap();
    }
    {
        // Closed: every run is stored; writes after the reopen go to the tail again.
        let store = SqliteStore::open(config.clone()).await.unwrap();
        assert_timelines(&store, &written, "after close").await;
        let first = written.len();
        write(&store, &mut written, events("after-close", first, 200)).await;
        assert_timelines(&store, &written, "stored runs and tail").await;
        // Dropped without close(), as a crash leaves it: the tail is lost from memory.
    }
    let store = SqliteStore::open(config.clone()).await.unwrap();
    assert_timelines(&store, &written, "after a crash").await;
    // A replayed batch changes nothing.
    let again = store.write(&written[..50]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 50));
    assert_timelines(&store, &written, "after a replay").await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_runs_gets_them_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::at(dir.path().join("m.db"));
    let mut written = Vec::new();
    let store = SqliteStore::open(config.clone()).await.unwrap();
    write(&store, &mut written, events("old", 0, 500)).await;
    store.close().await.unwrap();
    // What a database from before session runs holds: events and no runs or mark.
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", config.path.display())).await.unwrap();
    sqlx::query("DELETE FROM session_runs").execute(&mut conn).await.unwrap();
    sqlx::query("DELETE FROM marks").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let store = SqliteStore::open(config).await.unwrap();
    assert_timelines(&store, &written, "rebuilt").await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_are_not_reused_when_retention_takes_the_newest_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::at(dir.path().join("m.db"));
    let store = SqliteStore::open(config.clone()).await.unwrap();
    let mut written = Vec::new();
    write(&store, &mut written, events("kept", 0, 100)).await;
    // The newest rows are the oldest events: retention removes them, and with them the
    // highest sequence numbers.
    let mut ancient = events("ancient", 100, 50);
    for event in &mut ancient {
        Arc::make_mut(event).timestamp = T0.add_micros(-30 * MICROS_PER_DAY);
    }
    store.write(&ancient).await.unwrap();
    let report = store.apply_retention(T0.add_micros(-MICROS_PER_DAY)).await.unwrap();
    assert_eq!(report.raw_removed, 50);
    store.close().await.unwrap();

    {
        let store = SqliteStore::open(config.clone()).await.unwrap();
        write(&store, &mut written, events("fresh", 150, 100)).await;
        // Crash before a fold: the fresh events' runs are rebuilt from their sequence
        // numbers, which must lie past the mark.
    }
    let store = SqliteStore::open(config).await.unwrap();
    assert_timelines(&store, &written, "after retention and a crash").await;
    // The runs no longer list the removed events: a range over them counts none.
    let everything =
        Query::new(T0.add_micros(-40 * MICROS_PER_DAY), T0.add_micros(MICROS_PER_DAY), Aggregation::Raw);
    for session in SESSIONS {
        let stored = written.iter().filter(|e| e.session_id.as_deref() == Some(session)).count();
        let answer =
            store.query(&everything.clone().filter(Filter::eq(Dimension::SessionId, session))).await.unwrap();
        assert_eq!(answer.metadata.total_points, stored, "{session}");
    }
    store.close().await.unwrap();
}
