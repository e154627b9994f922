//! [`SqliteStore`]: opening, the write path, queries, retention, records and state.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use hashbrown::{HashMap, HashSet};
use monitor_core::event::{
    AgentType, CoordinationPayload, ErrorPayload, Event, EventType, Extra, Payload, PerformancePayload,
    QualityPayload, Source, rollup_field_index,
};
use monitor_core::query::{
    Aggregation, Aggregator, DataSource, Dimension, Filter, FilterOp, Query, QueryData, QueryMetadata,
    QueryResult, matches_all,
};
use monitor_core::rollup::{LEVELS, RollupCell, RollupKey};
use monitor_core::store::{EventRef, Record, RecordQuery, RetentionReport, Store, StoreInfo, WriteSummary};
use monitor_core::time::Timestamp;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Arguments, AssertSqlSafe, Connection, Row};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::accumulate::{CellMerger, Grouping};
use crate::cells::{CellIndex, PARALLEL_EVENTS, TABLES, level_slot, slot_step};
use crate::codec::{
    Delta, EVENT_READ_COLUMNS, FIELD_COLUMNS, MAX_CELL_ROWS, Statement, StatementTexts, cell_columns,
    chunk_sizes, decode_cell, decode_deltas, decode_event, decode_key, key_from_texts, push_cell, push_key,
};
use crate::config::{SqliteConfig, Synchronous};
use crate::error::{Error, Result, primary_code};

static MIGRATOR: Migrator = sqlx::migrate!();

/// Index of `seq` in a session read: after the [`EVENT_READ_COLUMNS`].
const SESSION_SEQ_COLUMN: usize = 16;

/// `PRAGMA application_id` of agent-monitor databases ("AMON").
pub const APPLICATION_ID: i64 = 0x414d_4f4e;

/// Raw rows deleted per retention transaction, so ingest interleaves with a long purge.
const RETENTION_CHUNK: u64 = 20_000;

/// WAL pages after which the writer checkpoints by itself (a backstop: normally the
/// background checkpointer keeps the WAL far shorter). 16,384 pages of 4 KiB = 64 MiB.
const WRITER_AUTOCHECKPOINT: u32 = 16_384;

/// Bytes the WAL file is truncated back to after a checkpoint has reset it.
const JOURNAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// How long the checkpointer lets commits gather before a checkpoint.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(100);

/// How often the writer folds held cells and session runs into the tables.
const FOLD_EVERY: Duration = Duration::from_secs(10);

/// Events written since the last fold after which the writer folds regardless of time:
/// bounds what a restart after a crash recounts (a few seconds' work).
const FOLD_AFTER_EVENTS: i64 = 1_000_000;

/// How often the writer moves the in-memory rollup window forward.
const FLOOR_CHECK_EVERY: Duration = Duration::from_secs(30);

const SQLITE_CORRUPT: i32 = 11;
const SQLITE_NOTADB: i32 = 26;

/// The writer's connection and what only the writer touches.
struct Writer {
    conn: SqliteConnection,
    texts: StatementTexts,
    floors_checked: Option<Instant>,
    folded_at: Instant,
    /// The `seq` the next inserted event gets (assigned here, so never reused).
    next_seq: i64,
    /// The `folded` mark: events up to this `seq` have their session runs stored and
    /// their rollups in the tables.
    folded_through: i64,
}

/// The background WAL checkpointer: wakes after commits and copies the WAL into the
/// database file on its own connection, so that the writer never pays for it.
struct Checkpointer {
    wake: Arc<Notify>,
    /// Cancels the task when the store is dropped.
    _stop: DropGuard,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn checkpoint_loop(mut conn: SqliteConnection, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = wake.notified() => {}
        }
        // Let commits gather: about one checkpoint per 100 ms under sustained ingest.
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(CHECKPOINT_DELAY) => {}
        }
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            Ok(_) => metrics::counter!("monitor_store_sqlite_checkpoints_total").increment(1),
            Err(error) => {
                metrics::counter!("monitor_store_sqlite_checkpoint_errors_total").increment(1);
                tracing::warn!(%error, "sqlite checkpoint failed; the writer's own checkpoint remains the backstop");
            }
        }
    }
    if let Err(error) = conn.close().await {
        tracing::debug!(%error, "closing the checkpoint connection");
    }
}

/// The durable embedded store: one SQLite file in WAL mode (see the crate docs).
pub struct SqliteStore {
    config: SqliteConfig,
    // tokio Mutex: the writer connection is held across awaits for a whole transaction.
    writer: tokio::sync::Mutex<Writer>,
    readers: SqlitePool,
    // std RwLock: never held across an await.
    cells: RwLock<CellIndex>,
    /// Committed events not yet in `session_runs` (std Mutex: never held across an await).
    sessions: std::sync::Mutex<crate::sessions::Tail>,
    checkpointer: Checkpointer,
    /// Held while open: the in-memory rollup cells are only right if this store is the
    /// file's one writer, so a second store on the same file is refused.
    _lock: std::fs::File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.config.path).finish_non_exhaustive()
    }
}

fn open_error(path: &Path, error: sqlx::Error) -> Error {
    match primary_code(&error) {
        Some(SQLITE_NOTADB | SQLITE_CORRUPT) => Error::NotADatabase { path: path.to_owned(), source: error },
        _ => Error::Open { path: path.to_owned(), source: Box::new(error) },
    }
}

/// The lock file beside the database: `monitor.db` → `monitor.db.lock`.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".lock");
    path.with_file_name(name)
}

fn take_lock(path: &Path) -> Result<std::fs::File> {
    let lock = lock_path(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock)
        .map_err(|e| Error::Open { path: path.to_owned(), source: Box::new(e) })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::InUse { path: path.to_owned(), lock }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::Open { path: path.to_owned(), source: Box::new(e) })
        }
    }
}

fn floors(config: &SqliteConfig, now: Timestamp) -> [Timestamp; 3] {
    std::array::from_fn(|slot| {
        if config.rollup_memory == 0 {
            Timestamp::MAX
        } else {
            now.add_micros(-config.rollup_memory).floor_to(slot_step(slot))
        }
    })
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `config.path`, applies the schema
    /// migrations and loads the recent rollup cells into memory.
    ///
    /// A file that is not a SQLite database, is corrupt, or belongs to another
    /// application gives an error naming the path; nothing is repaired or overwritten.
    pub async fn open(config: SqliteConfig) -> Result<SqliteStore> {
        config.validate()?;
        let path = config.path.clone();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Open { path: path.clone(), source: Box::new(e) })?;
        }
        if path.is_dir() {
            return Err(Error::Open { path: path.clone(), source: "is a directory".into() });
        }
        let lock = take_lock(&path)?;
        let cache_kib = i64::from(config.cache_mib) * 1024;
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(false)
            .synchronous(match config.synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .pragma("cache_size", format!("-{cache_kib}"))
            .pragma("temp_store", "memory")
            .pragma("mmap_size", "268435456");
        // The checkpointer keeps the WAL short; the writer checkpoints itself only as a
        // backstop when the WAL passes WRITER_AUTOCHECKPOINT pages.
        let writer_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT.to_string())
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string());
        let mut conn =
            SqliteConnection::connect_with(&writer_options).await.map_err(|e| open_error(&path, e))?;
        check_application(&mut conn, &path).await?;
        MIGRATOR.run(&mut conn).await.map_err(|source| match source {
            sqlx::migrate::MigrateError::Execute(e) => open_error(&path, e),
            source => Error::Migrate { path: path.clone(), source },
        })?;
        replay_journal(&mut conn).await?;
        let folded_through = replay_after_mark(&mut conn).await?;
        let cells = load_cells(&mut conn, &config).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(config.readers)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(|e| open_error(&path, e))?;
        let checkpoint_conn =
            SqliteConnection::connect_with(&base).await.map_err(|e| open_error(&path, e))?;
        let wake = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let task = tokio::spawn(checkpoint_loop(checkpoint_conn, wake.clone(), stop.clone()));
        let checkpointer = Checkpointer { wake, _stop: stop.clone().drop_guard(), stop, task };
        let held = cells.cells();
        tracing::info!(
            path = %path.display(),
            synchronous = config.synchronous.as_str(),
            rollup_keys = cells.key_count(),
            cells_5m = held[0],
            cells_1h = held[1],
            cells_1d = held[2],
            "sqlite store open"
        );
        Ok(SqliteStore {
            config,
            writer: tokio::sync::Mutex::new(Writer {
                conn,
                texts: StatementTexts::default(),
                floors_checked: Some(Instant::now()),
                folded_at: Instant::now(),
                next_seq: folded_through + 1,
                folded_through,
            }),
            readers,
            cells: RwLock::new(cells),
            sessions: std::sync::Mutex::new(crate::sessions::Tail::default()),
            checkpointer,
            _lock: lock,
        })
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.config
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// Rollup cells held in memory at 5 min, 1 h and 1 d.
    pub fn rollup_cells_in_memory(&self) -> [usize; 3] {
        self.cells.read().map(|c| c.cells()).unwrap_or_default()
    }

    /// Stops the checkpointer and closes every connection; the last one checkpoints and
    /// removes the WAL file. (Dropping the store also closes everything, in the background.)
    pub async fn close(self) -> Result<()> {
        {
            let mut writer = self.writer.lock().await;
            self.fold(&mut writer).await?;
        }
        let SqliteStore { writer, readers, checkpointer, .. } = self;
        checkpointer.stop.cancel();
        if let Err(error) = checkpointer.task.await {
            tracing::warn!(%error, "sqlite checkpointer ended abnormally");
        }
        readers.close().await;
        writer.into_inner().conn.close().await.map_err(|e| Error::sqlx("closing", e))
    }

    fn cells_read(&self) -> Result<std::sync::RwLockReadGuard<'_, CellIndex>> {
        self.cells.read().map_err(|_| Error::Corrupt("rollup index lock poisoned".into()))
    }

    fn cells_write(&self) -> Result<std::sync::RwLockWriteGuard<'_, CellIndex>> {
        self.cells.write().map_err(|_| Error::Corrupt("rollup index lock poisoned".into()))
    }

    fn sessions_lock(&self) -> Result<std::sync::MutexGuard<'_, crate::sessions::Tail>> {
        self.sessions.lock().map_err(|_| Error::Corrupt("session tail lock poisoned".into()))
    }

    /// Moves the in-memory window forward (writer held, so no write is mid-flight),
    /// folding first so that no unfolded held cell falls below a floor.
    async fn raise_floors(&self, writer: &mut Writer) -> Result<()> {
        if writer.floors_checked.is_some_and(|at| at.elapsed() < FLOOR_CHECK_EVERY) {
            return Ok(());
        }
        writer.floors_checked = Some(Instant::now());
        let target = floors(&self.config, Timestamp::now());
        if !self.cells_read()?.floors_below(&target) {
            return Ok(());
        }
        self.fold(writer).await?;
        let mut cells = self.cells_write()?;
        for (slot, floor) in target.into_iter().enumerate() {
            cells.raise_floor(slot, floor);
        }
        Ok(())
    }

    /// Writes the held value of every cell changed since the last fold into the rollup
    /// tables, stores the session runs of the events written since, empties
    /// `rollup_late` and moves the `folded` mark to the last event written, in one
    /// transaction (writer held).
    async fn fold(&self, writer: &mut Writer) -> Result<()> {
        let through = writer.next_seq - 1;
        // Every write moves `next_seq` (and only writes dirty cells or fill the tail),
        // so nothing written since the last fold means nothing to fold.
        if writer.folded_through == through {
            writer.folded_at = Instant::now();
            return Ok(());
        }
        let started = Instant::now();
        let rows = self.cells_read()?.dirty_cells();
        // Copied out: the tail's guard does not cross an await.
        let runs: Vec<(String, crate::sessions::Run)> =
            self.sessions_lock()?.rows().into_iter().map(|(s, r)| (s.to_owned(), r.clone())).collect();
        let Writer { conn, texts, .. } = writer;
        let mut tx =
            conn.begin_with("BEGIN IMMEDIATE").await.map_err(|e| Error::sqlx("beginning a fold", e))?;
        let mut written = 0usize;
        for (slot, level_rows) in rows.iter().enumerate() {
            let mut offset = 0;
            for count in chunk_sizes(level_rows.len(), MAX_CELL_ROWS) {
                let mut args = SqliteArguments::default();
                for (bucket, key, cell) in &level_rows[offset..offset + count] {
                    push_cell(&mut args, *bucket, *key, cell)?;
                }
                offset += count;
                written += count;
                sqlx::query_with(AssertSqlSafe(texts.get(Statement::Cells(slot), count)), args)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::sqlx("folding rollups", e))?;
            }
        }
        sqlx::query("DELETE FROM rollup_late")
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::sqlx("folding rollups", e))?;
        let runs: Vec<(&str, &crate::sessions::Run)> = runs.iter().map(|(s, r)| (s.as_str(), r)).collect();
        crate::sessions::write_runs(&mut tx, &runs).await?;
        crate::sessions::write_mark(&mut tx, crate::sessions::FOLDED, through).await?;
        tx.commit().await.map_err(|e| Error::sqlx("committing a fold", e))?;
        // Nothing was written meanwhile (the writer is held): what was folded is forgotten.
        self.cells_write()?.clear_dirty();
        self.sessions_lock()?.clear();
        writer.folded_through = through;
        writer.folded_at = Instant::now();
        metrics::histogram!("monitor_store_sqlite_fold_seconds").record(started.elapsed().as_secs_f64());
        tracing::trace!(cells = written, sessions = runs.len(), "sqlite rollup fold");
        Ok(())
    }

    async fn write_events(&self, events: &[EventRef]) -> Result<WriteSummary> {
        let started = Instant::now();
        let mut seen = HashSet::with_capacity(events.len());
        let unique: Vec<&Event> =
            events.iter().map(|e| &**e).filter(|e| seen.insert(e.id.as_str())).collect();
        let mut summary = WriteSummary { inserted: 0, duplicates: events.len() - unique.len() };
        if unique.is_empty() {
            return Ok(summary);
        }
        let mut guard = self.writer.lock().await;
        self.raise_floors(&mut guard).await?;
        let unfolded = guard.next_seq - 1 - guard.folded_through;
        if unfolded >= FOLD_AFTER_EVENTS || guard.folded_at.elapsed() >= FOLD_EVERY {
            self.fold(&mut guard).await?;
        }
        let Writer { conn, texts, next_seq, .. } = &mut *guard;
        let first_seq = *next_seq;
        // Optimistic first: insert every event with OR IGNORE, and when SQLite inserted
        // them all (the usual case: retries and replays are rare) no id was stored before.
        // Otherwise roll back and insert again knowing which ids are stored already, so
        // that the rollups count only the events that are new.
        let mut known: Option<HashSet<String>> = None;
        let (mut tx, fresh, keys) = loop {
            let fresh: Vec<&Event> = match &known {
                None => unique.clone(),
                Some(stored) => unique.iter().copied().filter(|e| !stored.contains(e.id.as_str())).collect(),
            };
            let mut tx =
                conn.begin_with("BEGIN IMMEDIATE").await.map_err(|e| Error::sqlx("beginning a write", e))?;
            if fresh.is_empty() {
                break (tx, fresh, None);
            }
            let (inserted, keys) = self.insert_events(&mut tx, &fresh, first_seq).await?;
            if inserted == fresh.len() as u64 {
                break (tx, fresh, Some(keys));
            }
            tx.rollback().await.map_err(|e| Error::sqlx("ending a write", e))?;
            if known.is_some() {
                return Err(Error::Corrupt(format!(
                    "{} of {} events were not inserted although their ids are not stored",
                    fresh.len() as u64 - inserted,
                    fresh.len()
                )));
            }
            known = Some(stored_ids(&mut *conn, &unique).await?);
        };
        summary.duplicates += events.len() - summary.duplicates - fresh.len();
        summary.inserted = fresh.len();
        let Some(BatchKeys { new_keys, event_keys }) = keys else {
            tx.rollback().await.map_err(|e| Error::sqlx("ending a write", e))?;
            return Ok(summary);
        };
        if !new_keys.is_empty() {
            let first = {
                let cells = self.cells_read()?;
                u32::try_from(cells.key_count()).unwrap_or(u32::MAX)
            };
            let mut args = SqliteArguments::default();
            for (i, key) in new_keys.iter().enumerate() {
                push_key(&mut args, first + u32::try_from(i).unwrap_or(u32::MAX), key)?;
            }
            sqlx::query_with(AssertSqlSafe(texts.get(Statement::Keys, new_keys.len())), args)
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::sqlx("inserting rollup keys", e))?;
        }
        // Held cells (at or after the level's floor) take the events after the commit and
        // reach the tables at the next fold; after a crash, the replay at open recounts
        // the events past the `folded` mark. Cells before the floor (late data) are merged
        // into their table rows right here, and `rollup_late` says so to the replay.
        let (late_deltas, late_entries) = {
            let cells = self.cells_read()?;
            late_parts(&cells, &fresh, &event_keys, first_seq)
        };
        if !late_entries.is_empty() {
            merge_into_tables(&mut tx, texts, &late_deltas).await?;
            sqlx::query("INSERT INTO rollup_late (first_seq, entries) VALUES (?1, ?2)")
                .bind(first_seq)
                .bind(crate::sessions::encode_late(&late_entries))
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::sqlx("writing late rollups", e))?;
        }
        tx.commit().await.map_err(|e| Error::sqlx("committing a write", e))?;
        self.checkpointer.wake.notify_one();
        *next_seq = first_seq + i64::try_from(fresh.len()).unwrap_or(i64::MAX);
        {
            let mut tail = self.sessions_lock()?;
            for (seq, event) in (first_seq..).zip(&fresh) {
                if let Some(session) = &event.session_id {
                    tail.push(session, seq, event.timestamp.as_micros());
                }
            }
        }

        // Committed: now the in-memory copy follows, event by event (an in-place
        // increment each); the lock is released every few thousand events so that
        // queries interleave.
        self.cells_write()?.push_keys(new_keys);
        for (events, keys) in fresh.chunks(4_096).zip(event_keys.chunks(4_096)) {
            self.cells_write()?.add_events(events, keys);
        }
        drop(guard);
        metrics::counter!("monitor_store_sqlite_events_inserted_total").increment(summary.inserted as u64);
        metrics::counter!("monitor_store_sqlite_events_duplicate_total").increment(summary.duplicates as u64);
        metrics::histogram!("monitor_store_sqlite_write_seconds").record(started.elapsed().as_secs_f64());
        tracing::trace!(inserted = summary.inserted, duplicates = summary.duplicates, "sqlite write");
        Ok(summary)
    }

    /// Inserts `fresh` (ids unique within it) into `events` with `INSERT OR IGNORE`
    /// straight on the writer's handle (see [`crate::direct`]), from `seq` `first_seq`
    /// on, and returns how many rows SQLite inserted and the events' rollup key ids. A
    /// batch of at least [`PARALLEL_EVENTS`] has its key ids found on a second thread
    /// while this one inserts.
    async fn insert_events(
        &self,
        conn: &mut SqliteConnection,
        fresh: &[&Event],
        first_seq: i64,
    ) -> Result<(u64, BatchKeys)> {
        let mut handle = conn.lock_handle().await.map_err(|e| Error::sqlx("locking the writer", e))?;
        let raw = handle.as_raw_handle();
        let cells = self.cells_read()?;
        if fresh.len() < PARALLEL_EVENTS {
            let keys = batch_keys(&cells, fresh);
            return Ok((crate::direct::insert_events(raw, fresh, first_seq)?, keys));
        }
        std::thread::scope(|scope| {
            let keys = scope.spawn(|| batch_keys(&cells, fresh));
            let inserted = crate::direct::insert_events(raw, fresh, first_seq);
            let keys = keys.join().map_err(|_| Error::Corrupt("finding rollup keys panicked".into()))?;
            Ok((inserted?, keys))
        })
    }

    /// The latest `limit` events of a session, newest first (by time, then `seq`): the
    /// newest `limit` entries of its runs (which carry each event's time), read newest
    /// run first until the next run ends before the oldest entry kept, then those events
    /// by `seq`. An entry whose event retention removed is older than every event still
    /// stored, so leaving it out leaves the answer right.
    async fn read_session(&self, session_id: &str, limit: usize) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let read_err = |e| Error::sqlx("reading session runs", e);
        let mut seen = HashSet::new();
        let mut kept: Vec<(i64, i64)> = Vec::new();
        // The tail first: a fold between the two reads leaves its runs in the table.
        // Reading it ahead of its turn only adds candidates; the stored runs then come
        // newest first, so the stop below stays right.
        let tail = self.sessions_lock()?.run(session_id);
        if let Some(tail) = tail {
            crate::sessions::keep_newest(&tail.entries, limit, &mut seen, &mut kept);
        }
        {
            let mut runs = sqlx::query(
                "SELECT max_ts, entries FROM session_runs WHERE session_id = ?1 ORDER BY max_ts DESC",
            )
            .bind(session_id)
            .fetch(&self.readers);
            while let Some(row) = runs.try_next().await.map_err(read_err)? {
                let max_ts: i64 = row.try_get(0).map_err(read_err)?;
                if kept.len() >= limit && kept.last().is_some_and(|(ts, _)| max_ts < *ts) {
                    break;
                }
                let entries = crate::sessions::decode_entries(row.try_get::<&[u8], _>(1).map_err(read_err)?)?;
                crate::sessions::keep_newest(&entries, limit, &mut seen, &mut kept);
            }
        }
        if kept.is_empty() {
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = kept.iter().map(|(_, seq)| *seq).collect();
        self.events_by_seq(&seqs).await
    }

    /// The stored events among `seqs`, in the order given (a `seq` is never reused, so
    /// each names one event for good; one removed by retention is left out).
    async fn events_by_seq(&self, seqs: &[i64]) -> Result<Vec<Event>> {
        let read_err = |e| Error::sqlx("reading events by seq", e);
        let sql = format!(
            "SELECT {EVENT_READ_COLUMNS}, seq FROM events WHERE seq IN (SELECT value FROM json_each(?1))"
        );
        let list = serde_json::to_string(seqs).map_err(|e| Error::Corrupt(e.to_string()))?;
        let rows =
            sqlx::query(AssertSqlSafe(sql)).bind(list).fetch_all(&self.readers).await.map_err(read_err)?;
        let mut found: HashMap<i64, Event> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get(SESSION_SEQ_COLUMN).map_err(read_err)?;
            found.insert(seq, decode_event(row, 0)?);
        }
        Ok(seqs.iter().filter_map(|seq| found.remove(seq)).collect())
    }

    async fn run_query(&self, query: &Query) -> Result<QueryResult> {
        let started = Instant::now();
        let (data, total, source, approximate) = match Aggregator::new(query) {
            None => {
                let (events, total) = self.raw_events(query).await?;
                (QueryData::Raw(events), total, DataSource::Raw, false)
            }
            Some(mut aggregator) => {
                let field_index = query.field.as_deref().and_then(rollup_field_index);
                for segment in query.plan() {
                    match segment.level.and_then(level_slot) {
                        None => {
                            self.aggregate_raw(query, segment.start, segment.end, &mut aggregator).await?
                        }
                        Some(slot) => {
                            // Buckets at or after the floor come from memory, older ones from SQL.
                            let sql_end = {
                                let cells = self.cells_read()?;
                                let floor = cells.floor(slot).max(segment.start);
                                cells.aggregate(
                                    slot,
                                    floor,
                                    segment.end,
                                    query,
                                    field_index,
                                    &mut aggregator,
                                );
                                floor.min(segment.end)
                            };
                            if segment.start < sql_end {
                                self.aggregate_stored_cells(
                                    slot,
                                    segment.start,
                                    sql_end,
                                    query,
                                    field_index,
                                    &mut aggregator,
                                )
                                .await?;
                            }
                        }
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
        let elapsed = started.elapsed();
        metrics::histogram!("monitor_store_sqlite_query_seconds").record(elapsed.as_secs_f64());
        Ok(QueryResult {
            data,
            metadata: QueryMetadata {
                total_points: total,
                aggregation: query.aggregation,
                cache_hit: false,
                query_time: elapsed.as_secs_f64() * 1000.0,
                source,
                approximate,
            },
        })
    }

    /// A raw read filtered by sessions alone, answered from their runs: the runs list
    /// exactly the stored events (retention prunes them as it deletes), so the total is
    /// the number of entries in range and only the newest `limit` events are read.
    async fn raw_session_events(&self, sessions: &[String], query: &Query) -> Result<(Vec<Event>, usize)> {
        let mut entries = self.session_entries(sessions, query.start, query.end).await?;
        let total = entries.len();
        entries.sort_unstable_by_key(|&(seq, ts)| std::cmp::Reverse((ts, seq)));
        entries.truncate(query.raw_limit());
        if entries.is_empty() {
            return Ok((Vec::new(), total));
        }
        let seqs: Vec<i64> = entries.iter().map(|(seq, _)| *seq).collect();
        Ok((self.events_by_seq(&seqs).await?, total))
    }

    /// The WHERE clause of a raw read, `None` when no event can match. A query for
    /// given sessions reads just their events, by `seq` from their runs (the rowid
    /// lookups replace a scan of the time range: `events` has no session index).
    async fn condition(
        &self,
        start: Timestamp,
        end: Timestamp,
        filters: &[Filter],
    ) -> Result<Option<(String, Vec<Param>)>> {
        let (mut condition, mut params) = where_clause(start, end, filters);
        if let Some(sessions) = session_filter(filters) {
            let seqs: Vec<i64> =
                self.session_entries(sessions, start, end).await?.into_iter().map(|(seq, _)| seq).collect();
            if seqs.is_empty() {
                return Ok(None);
            }
            // `+ts`: the time range is checked on the rows found, not used as an index.
            condition = condition.replacen("ts >= ? AND ts < ?", "+ts >= ? AND +ts < ?", 1);
            condition.push_str(" AND seq IN (SELECT value FROM json_each(?))");
            params
                .push(Param::Text(serde_json::to_string(&seqs).map_err(|e| Error::Corrupt(e.to_string()))?));
        }
        Ok(Some((condition, params)))
    }

    /// `(seq, time)` of every event of `sessions` timed in `[start, end)`, by `seq`:
    /// from the tail first, then the stored runs.
    async fn session_entries(
        &self,
        sessions: &[String],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<(i64, i64)>> {
        let (lo, hi) = (start.as_micros(), end.as_micros());
        let in_range = |&(_, ts): &(i64, i64)| ts >= lo && ts < hi;
        let mut seqs: Vec<(i64, i64)> = Vec::new();
        {
            let tail = self.sessions_lock()?;
            for session in sessions {
                if let Some(entries) = tail.entries(session) {
                    seqs.extend(entries.iter().filter(|e| in_range(e)));
                }
            }
        }
        let read_err = |e| Error::sqlx("reading session runs", e);
        for session in sessions {
            let rows = sqlx::query(
                "SELECT entries FROM session_runs WHERE session_id = ?1 AND max_ts >= ?2 AND min_ts < ?3",
            )
            .bind(session)
            .bind(lo)
            .bind(hi)
            .fetch_all(&self.readers)
            .await
            .map_err(read_err)?;
            for row in &rows {
                let entries = crate::sessions::decode_entries(row.try_get::<&[u8], _>(0).map_err(read_err)?)?;
                seqs.extend(entries.iter().filter(|e| in_range(e)));
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        Ok(seqs)
    }

    async fn raw_events(&self, query: &Query) -> Result<(Vec<Event>, usize)> {
        if let Some(sessions) = session_filter(&query.filters).filter(|_| query.filters.len() == 1) {
            return self.raw_session_events(sessions, query).await;
        }
        let mut conn = self.readers.acquire().await.map_err(|e| Error::sqlx("acquiring a reader", e))?;
        let mut tx = conn.begin().await.map_err(|e| Error::sqlx("beginning a read", e))?;
        let Some((condition, params)) = self.condition(query.start, query.end, &query.filters).await? else {
            return Ok((Vec::new(), 0));
        };
        let count_sql = format!("SELECT COUNT(*) FROM events WHERE {condition}");
        let total: i64 = sqlx::query_scalar_with(AssertSqlSafe(count_sql), arguments(&params)?)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| Error::sqlx("counting events", e))?;
        let total = usize::try_from(total).unwrap_or(0);
        if total == 0 {
            return Ok((Vec::new(), 0));
        }
        let limit = i64::try_from(query.raw_limit()).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {EVENT_READ_COLUMNS} FROM events WHERE {condition} ORDER BY ts DESC, seq DESC LIMIT {limit}"
        );
        let rows = sqlx::query_with(AssertSqlSafe(sql), arguments(&params)?)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| Error::sqlx("reading events", e))?;
        let events = rows.iter().map(|row| decode_event(row, 0)).collect::<Result<Vec<_>>>()?;
        tx.commit().await.map_err(|e| Error::sqlx("ending a read", e))?;
        Ok((events, total))
    }

    async fn aggregate_raw(
        &self,
        query: &Query,
        start: Timestamp,
        end: Timestamp,
        aggregator: &mut Aggregator,
    ) -> Result<()> {
        let Some((condition, params)) = self.condition(start, end, &query.filters).await? else {
            return Ok(());
        };
        let mut conn = self.readers.acquire().await.map_err(|e| Error::sqlx("acquiring a reader", e))?;
        let field_index = query.field.as_deref().and_then(rollup_field_index);
        let by_columns = query.field.is_none() || field_index.is_some();
        let by_columns = by_columns
            && query.filters.iter().all(|f| !matches!(f.dimension, Dimension::Tag(_)))
            && query.group_by.iter().all(|d| !matches!(d, Dimension::Tag(_)));
        if by_columns {
            // Everything needed is in columns and the WHERE clause applies every filter:
            // SQLite groups the rows by bucket and grouped dimensions and hands over one
            // row per group with its count and the field's values (17 significant digits),
            // instead of one row per event (sqlx passes each row through a channel).
            let step = aggregator.step();
            let bucket = format!("(ts - (((ts % {step}) + {step}) % {step}))");
            let dims = GroupColumns::of(&query.group_by);
            let (values, carriers) = match field_index {
                Some(i) => {
                    let column = FIELD_COLUMNS[i];
                    (
                        format!("group_concat(printf('%!.17g', {column}), ',')"),
                        format!(" AND {column} IS NOT NULL"),
                    )
                }
                None => ("NULL".to_owned(), String::new()),
            };
            let sql = format!(
                "SELECT {bucket} AS b, COUNT(*), {values}, {columns} FROM events WHERE {condition}{carriers} \
                 GROUP BY b, {columns}",
                columns = dims.columns.join(", ")
            );
            let rows = sqlx::query_with(AssertSqlSafe(sql), arguments(&params)?)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| Error::sqlx("aggregating events", e))?;
            for row in &rows {
                feed_group_row(row, &dims, field_index, aggregator)?;
            }
            return Ok(());
        }
        let sql = format!("SELECT {EVENT_READ_COLUMNS} FROM events WHERE {condition}");
        let mut rows = sqlx::query_with(AssertSqlSafe(sql), arguments(&params)?).fetch(&mut *conn);
        while let Some(row) = rows.try_next().await.map_err(|e| Error::sqlx("reading events", e))? {
            let event = decode_event(&row, 0)?;
            if matches_all(&query.filters, &event) {
                aggregator.add_event(&event);
            }
        }
        Ok(())
    }

    async fn aggregate_stored_cells(
        &self,
        slot: usize,
        start: Timestamp,
        end: Timestamp,
        query: &Query,
        field_index: Option<usize>,
        aggregator: &mut Aggregator,
    ) -> Result<()> {
        let columns = match field_index {
            Some(i) => {
                let f = FIELD_COLUMNS[i];
                format!("bucket, key_id, count, {f}_count, {f}_sum, {f}_min, {f}_max, {f}_sketch")
            }
            None => "bucket, key_id, count".to_owned(),
        };
        let sql = format!("SELECT {columns} FROM {} WHERE bucket >= ?1 AND bucket < ?2", TABLES[slot]);
        let rows: Vec<SqliteRow> = sqlx::query(AssertSqlSafe(sql))
            .bind(start.as_micros())
            .bind(end.as_micros())
            .fetch_all(&self.readers)
            .await
            .map_err(|e| Error::sqlx("reading rollups", e))?;
        let cells = self.cells_read()?;
        let grouping = Grouping::new(cells.keys(), &query.filters, &query.group_by);
        let mut merger = CellMerger::new(&grouping, field_index.is_some());
        let read_err = |e| Error::sqlx("reading rollups", e);
        for row in &rows {
            let bucket = Timestamp::from_micros(row.try_get(0).map_err(read_err)?);
            let key_id: i64 = row.try_get(1).map_err(read_err)?;
            let key_id =
                u32::try_from(key_id).map_err(|_| Error::Corrupt("rollup key id out of range".into()))?;
            if cells.key(key_id).is_none() {
                return Err(Error::Corrupt(format!("rollup row refers to unknown key {key_id}")));
            }
            let count: i64 = row.try_get(2).map_err(read_err)?;
            let count = u64::try_from(count).map_err(|_| Error::Corrupt("negative rollup count".into()))?;
            let stats = match field_index {
                Some(_) => match row.try_get::<Option<i64>, _>(3).map_err(read_err)? {
                    Some(n) => Some((
                        u64::try_from(n).map_err(|_| Error::Corrupt("negative rollup count".into()))?,
                        row.try_get::<f64, _>(4).map_err(read_err)?,
                        row.try_get::<f64, _>(5).map_err(read_err)?,
                        row.try_get::<f64, _>(6).map_err(read_err)?,
                        row.try_get::<&[u8], _>(7).map_err(read_err)?,
                    )),
                    None => None,
                },
                None => None,
            };
            merger
                .add(bucket, key_id, count, stats, cells.keys(), aggregator)
                .ok_or_else(|| Error::Corrupt("rollup sketch does not decode".into()))?;
        }
        merger.flush(cells.keys(), aggregator);
        Ok(())
    }

    async fn retention(&self, now: Timestamp) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        {
            let mut writer = self.writer.lock().await;
            self.fold(&mut writer).await?;
        }
        let raw_cutoff = self.config.retention.cutoff(Aggregation::Raw, now);
        loop {
            let mut writer = self.writer.lock().await;
            // Only folded events go: the replay at open recounts the others from their rows.
            let folded = writer.folded_through;
            let removed = sqlx::query(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ts < ?1 AND seq <= ?3 LIMIT ?2)",
            )
            .bind(raw_cutoff.as_micros())
            .bind(i64::try_from(RETENTION_CHUNK).unwrap_or(i64::MAX))
            .bind(folded)
            .execute(&mut writer.conn)
            .await
            .map_err(|e| Error::sqlx("deleting expired events", e))?
            .rows_affected();
            drop(writer);
            report.raw_removed += removed;
            if removed < RETENTION_CHUNK {
                let mut writer = self.writer.lock().await;
                crate::sessions::prune_before(&mut writer.conn, raw_cutoff.as_micros()).await?;
                break;
            }
            tokio::task::yield_now().await;
        }
        let mut writer = self.writer.lock().await;
        // Writes since the fold above may have touched cells about to go.
        self.fold(&mut writer).await?;
        for (slot, level) in LEVELS.into_iter().enumerate() {
            let cutoff = self.config.retention.cutoff(level, now);
            let step = slot_step(slot);
            // Only whole buckets older than the cutoff go: those with start + step <= cutoff.
            let boundary = cutoff.add_micros(-step).floor_to(step).add_micros(step);
            let sql = format!("DELETE FROM {} WHERE bucket < ?1", TABLES[slot]);
            report.rollup_removed += sqlx::query(AssertSqlSafe(sql))
                .bind(boundary.as_micros())
                .execute(&mut writer.conn)
                .await
                .map_err(|e| Error::sqlx("deleting expired rollups", e))?
                .rows_affected();
            self.cells_write()?.drop_before(slot, boundary);
        }
        drop(writer);
        tracing::debug!(raw = report.raw_removed, rollup = report.rollup_removed, "sqlite retention");
        Ok(report)
    }
}

/// The ids among `events` that `events` holds already: one indexed probe per id.
async fn stored_ids(conn: &mut SqliteConnection, events: &[&Event]) -> Result<HashSet<String>> {
    let ids = serde_json::to_string(&events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
        .map_err(|e| Error::Corrupt(format!("event ids do not encode: {e}")))?;
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| Error::sqlx("checking event ids", e))?;
    Ok(stored.into_iter().collect())
}

/// Borrowed rollup dimensions of an event, to group a batch without allocating per event.
type BorrowedKey<'a> = (Source, EventType, Option<&'a str>, Option<AgentType>, Option<&'a str>);

/// The rollup dimensions of an event, borrowed.
fn borrowed_key(event: &Event) -> BorrowedKey<'_> {
    (event.source, event.event_type(), event.project_id.as_deref(), event.agent_type, event.operation())
}

/// The rollup key id of each event of a batch, assigning the next ids (after the
/// index's current keys) to keys seen for the first time.
fn batch_keys(cells: &CellIndex, events: &[&Event]) -> BatchKeys {
    let base = u32::try_from(cells.key_count()).unwrap_or(u32::MAX);
    let mut new_keys: Vec<RollupKey> = Vec::new();
    let mut ids: HashMap<BorrowedKey<'_>, u32> = HashMap::new();
    let event_keys = events
        .iter()
        .map(|event| {
            let borrowed = borrowed_key(event);
            *ids.entry(borrowed).or_insert_with(|| {
                let key = RollupKey {
                    source: borrowed.0,
                    event_type: borrowed.1,
                    project_id: borrowed.2.map(str::to_owned),
                    agent_type: borrowed.3,
                    operation: borrowed.4.map(str::to_owned),
                };
                cells.key_id(&key).unwrap_or_else(|| {
                    let id = base + u32::try_from(new_keys.len()).unwrap_or(u32::MAX);
                    new_keys.push(key);
                    id
                })
            })
        })
        .collect();
    BatchKeys { new_keys, event_keys }
}

/// The rollup key ids of a batch.
struct BatchKeys {
    /// Keys seen for the first time, in the order of their new ids.
    new_keys: Vec<RollupKey>,
    /// The key id of each event, by position in the batch.
    event_keys: Vec<u32>,
}

/// The parts of a batch (events from `seq` `first_seq` on) whose cells lie before the
/// in-memory window: their deltas, and per such event its `seq` and a mask of the levels
/// concerned (bit `slot`).
fn late_parts(
    cells: &CellIndex,
    events: &[&Event],
    keys: &[u32],
    first_seq: i64,
) -> (Vec<Delta>, Vec<(i64, u8)>) {
    let mut deltas: HashMap<(usize, Timestamp, u32), RollupCell> = HashMap::new();
    let mut entries = Vec::new();
    for ((seq, event), key) in (first_seq..).zip(events).zip(keys) {
        let mut mask = 0u8;
        for slot in 0..LEVELS.len() {
            let bucket = event.timestamp.floor_to(slot_step(slot));
            if bucket < cells.floor(slot) {
                mask |= 1 << slot;
                deltas.entry((slot, bucket, *key)).or_default().add(event);
            }
        }
        if mask != 0 {
            entries.push((seq, mask));
        }
    }
    (deltas.into_iter().map(|((slot, bucket, key), cell)| (slot, bucket, key, cell)).collect(), entries)
}

/// The columns a grouped raw aggregation groups by: always `type` (it decides where the
/// field's value sits in the payload), then the grouped dimensions.
struct GroupColumns {
    columns: Vec<&'static str>,
}

impl GroupColumns {
    fn of(group_by: &[Dimension]) -> Self {
        let mut columns = vec!["type"];
        for dimension in group_by {
            let column = match dimension {
                Dimension::Source => "source",
                Dimension::Type => "type",
                Dimension::ProjectId => "project_id",
                Dimension::SessionId => "session_id",
                Dimension::AgentType => "agent_type",
                Dimension::Operation => "operation",
                Dimension::Tag(_) => continue,
            };
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        GroupColumns { columns }
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| *c == column)
    }
}

/// Feeds one row of `SELECT bucket, COUNT(*), values, <group columns>` to the aggregator
/// as stand-in events (one per value, or `count` of them without a field).
fn feed_group_row(
    row: &SqliteRow,
    dims: &GroupColumns,
    field: Option<usize>,
    aggregator: &mut Aggregator,
) -> Result<()> {
    let read_err = |e| Error::sqlx("aggregating events", e);
    let corrupt = |what: &str| Error::Corrupt(format!("stored event has an unknown {what}"));
    let text = |column: &str| -> Result<Option<&str>> {
        match dims.position(column) {
            Some(i) => row.try_get::<Option<&str>, _>(3 + i).map_err(read_err),
            None => Ok(None),
        }
    };
    let bucket = Timestamp::from_micros(row.try_get(0).map_err(read_err)?);
    let count: i64 = row.try_get(1).map_err(read_err)?;
    let event_type: EventType = text("type")?.unwrap_or_default().parse().map_err(|_| corrupt("type"))?;
    let source: Source = match text("source")? {
        Some(s) => s.parse().map_err(|_| corrupt("source"))?,
        None => Source::System,
    };
    let agent_type = match text("agent_type")? {
        Some(a) => Some(a.parse::<AgentType>().map_err(|_| corrupt("agent type"))?),
        None => None,
    };
    let mut event = Event {
        id: String::new(),
        timestamp: bucket,
        ingested_at: bucket,
        source,
        project_id: text("project_id")?.map(str::to_owned),
        session_id: text("session_id")?.map(str::to_owned),
        agent_type,
        payload: stand_in_payload(event_type, text("operation")?.map(str::to_owned), None, None),
        tags: Default::default(),
    };
    match field {
        None => {
            for _ in 0..count {
                aggregator.add_event(&event);
            }
        }
        Some(index) => {
            let values: Option<&str> = row.try_get(2).map_err(read_err)?;
            for value in values.unwrap_or_default().split(',').filter(|v| !v.is_empty()) {
                let value: f64 = value.parse().map_err(|_| corrupt("numeric value"))?;
                let operation = event.payload.operation().map(str::to_owned);
                event.payload = stand_in_payload(event_type, operation, Some(index), Some(value));
                aggregator.add_event(&event);
            }
        }
    }
    Ok(())
}

/// A payload of `event_type` carrying `operation` and, for rolled-up field `field`, `value`.
fn stand_in_payload(
    event_type: EventType,
    operation: Option<String>,
    field: Option<usize>,
    value: Option<f64>,
) -> Payload {
    let only = |index: usize| if field == Some(index) { value } else { None };
    match event_type {
        EventType::Performance => Payload::Performance(PerformancePayload {
            operation: operation.unwrap_or_default(),
            duration: only(0).unwrap_or(0.0),
            memory_usage: only(1),
            cpu_usage: only(2),
            success: only(3).is_none_or(|v| v != 0.0),
            extra: Extra::new(),
        }),
        EventType::Error => Payload::Error(ErrorPayload {
            operation,
            message: String::new(),
            code: None,
            extra: Extra::new(),
        }),
        EventType::Coordination => Payload::Coordination(CoordinationPayload {
            manager_id: String::new(),
            worker_id: String::new(),
            phase: String::new(),
            task_id: None,
            coordination_score: only(4),
            latency_ms: only(5),
            extra: Extra::new(),
        }),
        EventType::Quality => Payload::Quality(QualityPayload {
            metric: String::new(),
            score: only(6).unwrap_or(0.0),
            extra: Extra::new(),
        }),
    }
}

/// A bound parameter of a dynamic WHERE clause.
enum Param {
    Int(i64),
    Text(String),
}

fn arguments(params: &[Param]) -> Result<SqliteArguments> {
    let mut args = SqliteArguments::default();
    for p in params {
        let added = match p {
            Param::Int(v) => args.add(*v),
            Param::Text(v) => args.add(v.clone()),
        };
        added.map_err(|e| Error::sqlx("binding a parameter", sqlx::Error::Encode(e)))?;
    }
    Ok(args)
}

/// The WHERE clause of a time range and filters, with its parameters in order.
fn where_clause(start: Timestamp, end: Timestamp, filters: &[Filter]) -> (String, Vec<Param>) {
    let mut sql = String::from("ts >= ? AND ts < ?");
    let mut params = vec![Param::Int(start.as_micros()), Param::Int(end.as_micros())];
    for filter in filters {
        let placeholders = vec!["?"; filter.values.len()].join(", ");
        let column = match &filter.dimension {
            Dimension::Source => Some("source"),
            Dimension::Type => Some("type"),
            Dimension::ProjectId => Some("project_id"),
            Dimension::SessionId => Some("session_id"),
            Dimension::AgentType => Some("agent_type"),
            Dimension::Operation => Some("operation"),
            Dimension::Tag(_) => None,
        };
        match (column, &filter.dimension) {
            (Some(column), _) => {
                sql.push_str(&match filter.op {
                    FilterOp::Eq | FilterOp::In => format!(" AND {column} IN ({placeholders})"),
                    FilterOp::Ne => format!(" AND ({column} IS NULL OR {column} NOT IN ({placeholders}))"),
                });
            }
            (None, Dimension::Tag(key)) => {
                let exists = format!(
                    "EXISTS (SELECT 1 FROM json_each(tags) WHERE key = ? AND value IN ({placeholders}))"
                );
                sql.push_str(&match filter.op {
                    FilterOp::Eq | FilterOp::In => format!(" AND {exists}"),
                    FilterOp::Ne => format!(" AND NOT {exists}"),
                });
                params.push(Param::Text(key.clone()));
            }
            (None, _) => {}
        }
        params.extend(filter.values.iter().cloned().map(Param::Text));
    }
    (sql, params)
}

/// The sessions a query is limited to (an `=` or `in` filter on `sessionId`).
fn session_filter(filters: &[Filter]) -> Option<&[String]> {
    filters
        .iter()
        .find(|f| f.dimension == Dimension::SessionId && matches!(f.op, FilterOp::Eq | FilterOp::In))
        .map(|f| f.values.as_slice())
}

/// Adds deltas to their rollup table rows (read, merge, upsert) inside `tx`.
async fn merge_into_tables(
    conn: &mut SqliteConnection,
    texts: &mut StatementTexts,
    deltas: &[Delta],
) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let mut merged: HashMap<(usize, Timestamp, u32), RollupCell> = HashMap::new();
    for (slot, bucket, key, delta) in deltas {
        merged.entry((*slot, *bucket, *key)).or_default().merge(delta);
    }
    let mut by_slot: [HashMap<(Timestamp, u32), RollupCell>; 3] = Default::default();
    for ((slot, bucket, key), delta) in merged {
        by_slot[slot].insert((bucket, key), delta);
    }
    let mut rows: [Vec<(Timestamp, u32, RollupCell)>; 3] = Default::default();
    for (slot, deltas) in by_slot.into_iter().enumerate() {
        let (Some(first), Some(last)) = (deltas.keys().map(|k| k.0).min(), deltas.keys().map(|k| k.0).max())
        else {
            continue;
        };
        let buckets: HashSet<Timestamp> = deltas.keys().map(|k| k.0).collect();
        let span = (last.as_micros() - first.as_micros()) / slot_step(slot) + 1;
        let mut deltas = deltas;
        if deltas.len() >= BULK_MERGE_CELLS && i64::try_from(buckets.len()).unwrap_or(0) * 2 >= span {
            // Many cells over densely covered buckets (a replay): one range scan reads
            // the stored rows instead of a lookup per cell.
            let sql = format!(
                "SELECT bucket, key_id, {} FROM {} WHERE bucket >= ?1 AND bucket <= ?2",
                cell_columns(),
                TABLES[slot]
            );
            let mut stored = sqlx::query(AssertSqlSafe(sql))
                .bind(first.as_micros())
                .bind(last.as_micros())
                .fetch(&mut *conn);
            let read_err = |e| Error::sqlx("reading rollup rows", e);
            while let Some(row) = stored.try_next().await.map_err(read_err)? {
                let bucket = Timestamp::from_micros(row.try_get(0).map_err(read_err)?);
                let key = u32::try_from(row.try_get::<i64, _>(1).map_err(read_err)?)
                    .map_err(|_| Error::Corrupt("rollup key id out of range".into()))?;
                if let Some(delta) = deltas.get_mut(&(bucket, key)) {
                    // Merging is commutative: the stored cell goes into the delta.
                    delta.merge(&decode_cell(&row, 2)?);
                }
            }
            rows[slot] = deltas.drain().map(|((bucket, key), cell)| (bucket, key, cell)).collect();
            continue;
        }
        for ((bucket, key), delta) in deltas.drain() {
            let sql =
                format!("SELECT {} FROM {} WHERE bucket = ?1 AND key_id = ?2", cell_columns(), TABLES[slot]);
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(bucket.as_micros())
                .bind(i64::from(key))
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| Error::sqlx("reading a rollup row", e))?;
            let mut full = match row {
                Some(row) => decode_cell(&row, 0)?,
                None => RollupCell::default(),
            };
            full.merge(&delta);
            rows[slot].push((bucket, key, full));
        }
    }
    for (slot, level_rows) in rows.iter().enumerate() {
        let mut offset = 0;
        for count in chunk_sizes(level_rows.len(), MAX_CELL_ROWS) {
            let mut args = SqliteArguments::default();
            for (bucket, key, cell) in &level_rows[offset..offset + count] {
                push_cell(&mut args, *bucket, *key, cell)?;
            }
            offset += count;
            sqlx::query_with(AssertSqlSafe(texts.get(Statement::Cells(slot), count)), args)
                .execute(&mut *conn)
                .await
                .map_err(|e| Error::sqlx("writing rollups", e))?;
        }
    }
    Ok(())
}

/// Folds a schema-1 `rollup_journal` left by a store that was not closed (a crash, a
/// kill) into the rollup tables, before they are loaded.
async fn replay_journal(conn: &mut SqliteConnection) -> Result<()> {
    let rows = sqlx::query("SELECT deltas FROM rollup_journal ORDER BY seq")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| Error::sqlx("reading the rollup journal", e))?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut deltas = Vec::new();
    for row in &rows {
        let blob: &[u8] = row.try_get(0).map_err(|e| Error::sqlx("reading the rollup journal", e))?;
        deltas.extend(decode_deltas(blob)?);
    }
    let mut texts = StatementTexts::default();
    let mut tx =
        conn.begin_with("BEGIN IMMEDIATE").await.map_err(|e| Error::sqlx("beginning a replay", e))?;
    merge_into_tables(&mut tx, &mut texts, &deltas).await?;
    sqlx::query("DELETE FROM rollup_journal")
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::sqlx("replaying the rollup journal", e))?;
    tx.commit().await.map_err(|e| Error::sqlx("committing a replay", e))?;
    tracing::info!(entries = rows.len(), cells = deltas.len(), "sqlite rollup journal replayed");
    Ok(())
}

/// Cells of one level from which [`merge_into_tables`] reads the stored rows with one
/// range scan (when their buckets cover the range densely) instead of one lookup each.
const BULK_MERGE_CELLS: usize = 256;

/// Events read per statement by [`replay_after_mark`].
const REPLAY_CHUNK: i64 = 20_000;

/// Brings the tables up to every stored event, before anything is read: the events
/// past the `folded` mark (written after the last fold by a store that was not closed)
/// get their session runs, and their rollups are merged into the tables except the
/// levels `rollup_late` says are there already. A file without the mark (made before
/// schema 2: its rollups are whole once [`replay_journal`] ran) gets the runs of all its
/// events. Returns the mark, now past every stored event.
async fn replay_after_mark(conn: &mut SqliteConnection) -> Result<i64> {
    let read_err = |e| Error::sqlx("replaying events past the fold", e);
    let started = Instant::now();
    let mark = crate::sessions::read_mark(conn, crate::sessions::FOLDED).await?;
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT max(seq) FROM events").fetch_one(&mut *conn).await.map_err(read_err)?;
    if let Some(mark) = mark.filter(|m| newest.unwrap_or(0) <= *m) {
        // Closed cleanly (or nothing written since the last fold): nothing to recount,
        // and `rollup_late` only ever lists events past the mark.
        return Ok(mark);
    }
    let mut late: HashMap<i64, u8> = HashMap::new();
    for row in sqlx::query("SELECT entries FROM rollup_late").fetch_all(&mut *conn).await.map_err(read_err)? {
        let entries: &[u8] = row.try_get(0).map_err(read_err)?;
        crate::sessions::decode_late(entries, &mut late)?;
    }
    let mut keys: HashMap<RollupKey, u32> = HashMap::new();
    for row in sqlx::query("SELECT key_id, source, type, project_id, agent_type, operation FROM rollup_keys")
        .fetch_all(&mut *conn)
        .await
        .map_err(read_err)?
    {
        let id: i64 = row.try_get(0).map_err(read_err)?;
        let id = u32::try_from(id).map_err(|_| Error::Corrupt("rollup key id out of range".into()))?;
        keys.insert(decode_key(&row, 1)?, id);
    }
    let key_count = keys.len();
    let mut new_keys: Vec<RollupKey> = Vec::new();
    let mut deltas: HashMap<(usize, Timestamp, u32), RollupCell> = HashMap::new();
    let mut tail = crate::sessions::Tail::default();
    // Key texts as stored → id, so that each row's key is parsed once per distinct key.
    let mut by_texts: HashMap<crate::direct::KeyTexts, u32> = HashMap::new();
    let from = mark.unwrap_or(0);
    let mut after = from;
    loop {
        let rows = {
            let mut handle = conn.lock_handle().await.map_err(read_err)?;
            crate::direct::events_after(handle.as_raw_handle(), after, REPLAY_CHUNK)?
        };
        let fetched = rows.len();
        for row in rows {
            let crate::direct::ReplayRow { seq, ts, key, session, values } = row;
            after = seq;
            if let Some(session) = &session {
                tail.push(session, seq, ts);
            }
            if mark.is_none() {
                continue;
            }
            let id = match by_texts.get(&key) {
                Some(id) => *id,
                None => {
                    let (source, event_type, project, agent, operation) = key.clone();
                    let parsed = key_from_texts(source, event_type, project, agent, operation)?;
                    let id = match keys.get(&parsed) {
                        Some(id) => *id,
                        None => {
                            let id = u32::try_from(key_count + new_keys.len()).unwrap_or(u32::MAX);
                            keys.insert(parsed.clone(), id);
                            new_keys.push(parsed);
                            id
                        }
                    };
                    by_texts.insert(key, id);
                    id
                }
            };
            let merged = late.get(&seq).copied().unwrap_or(0);
            for slot in 0..LEVELS.len() {
                if merged & (1 << slot) == 0 {
                    let bucket = Timestamp::from_micros(ts).floor_to(slot_step(slot));
                    deltas.entry((slot, bucket, id)).or_default().add_values(&values);
                }
            }
        }
        if i64::try_from(fetched).unwrap_or(0) < REPLAY_CHUNK {
            break;
        }
    }
    if mark.is_some() && after == from && late.is_empty() {
        return Ok(from);
    }
    let read_for = started.elapsed();
    let mut texts = StatementTexts::default();
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(read_err)?;
    if !new_keys.is_empty() {
        let mut args = SqliteArguments::default();
        for (i, key) in new_keys.iter().enumerate() {
            push_key(&mut args, u32::try_from(key_count + i).unwrap_or(u32::MAX), key)?;
        }
        sqlx::query_with(AssertSqlSafe(texts.get(Statement::Keys, new_keys.len())), args)
            .execute(&mut *tx)
            .await
            .map_err(read_err)?;
    }
    let deltas: Vec<Delta> =
        deltas.into_iter().map(|((slot, bucket, key), cell)| (slot, bucket, key, cell)).collect();
    merge_into_tables(&mut tx, &mut texts, &deltas).await?;
    crate::sessions::write_runs(&mut tx, &tail.rows()).await?;
    sqlx::query("DELETE FROM rollup_late").execute(&mut *tx).await.map_err(read_err)?;
    crate::sessions::write_mark(&mut tx, crate::sessions::FOLDED, after).await?;
    tx.commit().await.map_err(read_err)?;
    tracing::info!(
        from,
        through = after,
        cells = deltas.len(),
        read_ms = read_for.as_millis(),
        total_ms = started.elapsed().as_millis(),
        "sqlite events past the fold replayed"
    );
    Ok(after)
}

async fn check_application(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    let found: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| open_error(path, e))?;
    if found == APPLICATION_ID {
        return Ok(());
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 5",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| open_error(path, e))?;
    if found != 0 || !tables.is_empty() {
        return Err(Error::ForeignDatabase { path: path.to_owned(), found, tables: tables.join(", ") });
    }
    sqlx::query(AssertSqlSafe(format!("PRAGMA application_id = {APPLICATION_ID}")))
        .execute(&mut *conn)
        .await
        .map_err(|e| open_error(path, e))?;
    Ok(())
}

async fn load_cells(conn: &mut SqliteConnection, config: &SqliteConfig) -> Result<CellIndex> {
    let rows = sqlx::query(
        "SELECT key_id, source, type, project_id, agent_type, operation FROM rollup_keys ORDER BY key_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| Error::sqlx("loading rollup keys", e))?;
    let mut keys = Vec::with_capacity(rows.len());
    for (expected, row) in rows.iter().enumerate() {
        let id: i64 = row.try_get(0).map_err(|e| Error::sqlx("loading rollup keys", e))?;
        if usize::try_from(id).ok() != Some(expected) {
            return Err(Error::Corrupt(format!("rollup key ids are not dense: {id} at position {expected}")));
        }
        keys.push(decode_key(row, 1)?);
    }
    let floor = floors(config, Timestamp::now());
    let mut cells = CellIndex::new(keys, floor);
    for slot in 0..3 {
        if floor[slot] == Timestamp::MAX {
            continue;
        }
        let sql =
            format!("SELECT bucket, key_id, {} FROM {} WHERE bucket >= ?1", cell_columns(), TABLES[slot]);
        let mut rows = sqlx::query(AssertSqlSafe(sql)).bind(floor[slot].as_micros()).fetch(&mut *conn);
        let mut loaded = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(|e| Error::sqlx("loading rollups", e))? {
            let bucket: i64 = row.try_get(0).map_err(|e| Error::sqlx("loading rollups", e))?;
            let key: i64 = row.try_get(1).map_err(|e| Error::sqlx("loading rollups", e))?;
            let key = u32::try_from(key).map_err(|_| Error::Corrupt("rollup key id out of range".into()))?;
            loaded.push((Timestamp::from_micros(bucket), key, decode_cell(&row, 2)?));
        }
        drop(rows);
        for (bucket, key, cell) in loaded {
            cells.load(slot, bucket, key, cell);
        }
    }
    Ok(cells)
}

#[async_trait]
impl Store for SqliteStore {
    fn info(&self) -> StoreInfo {
        StoreInfo {
            kind: "sqlite",
            mode: format!("wal, synchronous={}", self.config.synchronous.as_str()),
            location: self.config.path.display().to_string(),
        }
    }

    async fn write(&self, events: &[EventRef]) -> monitor_core::Result<WriteSummary> {
        Ok(self.write_events(events).await?)
    }

    async fn query(&self, query: &Query) -> monitor_core::Result<QueryResult> {
        query.validate()?;
        Ok(self.run_query(query).await?)
    }

    async fn apply_retention(&self, now: Timestamp) -> monitor_core::Result<RetentionReport> {
        Ok(self.retention(now).await?)
    }

    async fn health(&self) -> monitor_core::Result<()> {
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&self.readers)
            .await
            .map_err(|e| Error::sqlx("checking health", e))?;
        if one == 1 { Ok(()) } else { Err(Error::Corrupt("SELECT 1 did not answer 1".into()).into()) }
    }

    async fn put_records(&self, log: &str, records: &[Record]) -> monitor_core::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer.lock().await;
        let mut tx = writer
            .conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| Error::sqlx("beginning a write", e))?;
        for record in records {
            sqlx::query("INSERT OR REPLACE INTO records (log, id, time, body) VALUES (?1, ?2, ?3, ?4)")
                .bind(log)
                .bind(record.id.as_str())
                .bind(record.time.as_micros())
                .bind(record.body.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::sqlx("writing records", e))?;
        }
        tx.commit().await.map_err(|e| Error::sqlx("committing records", e))?;
        Ok(())
    }

    async fn read_records(&self, log: &str, query: RecordQuery) -> monitor_core::Result<Vec<Record>> {
        let rows = sqlx::query(
            "SELECT id, time, body FROM records WHERE log = ?1 AND time >= ?2 AND time < ?3 \
             ORDER BY time DESC, id DESC LIMIT ?4",
        )
        .bind(log)
        .bind(query.start.as_micros())
        .bind(query.end.as_micros())
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await
        .map_err(|e| Error::sqlx("reading records", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let get_err = |e| Error::sqlx("reading records", e);
            let body: &str = row.try_get(2).map_err(get_err)?;
            out.push(Record {
                id: row.try_get(0).map_err(get_err)?,
                time: Timestamp::from_micros(row.try_get(1).map_err(get_err)?),
                body: serde_json::from_str(body)
                    .map_err(|e| Error::Corrupt(format!("stored record does not parse: {e}")))?,
            });
        }
        Ok(out)
    }

    async fn put_state(&self, namespace: &str, key: &str, value: Option<&Value>) -> monitor_core::Result<()> {
        let mut writer = self.writer.lock().await;
        let result = match value {
            Some(value) => {
                sqlx::query("INSERT OR REPLACE INTO state (namespace, key, value) VALUES (?1, ?2, ?3)")
                    .bind(namespace)
                    .bind(key)
                    .bind(value.to_string())
                    .execute(&mut writer.conn)
                    .await
            }
            None => {
                sqlx::query("DELETE FROM state WHERE namespace = ?1 AND key = ?2")
                    .bind(namespace)
                    .bind(key)
                    .execute(&mut writer.conn)
                    .await
            }
        };
        result.map_err(|e| Error::sqlx("writing state", e))?;
        Ok(())
    }

    async fn load_state(&self, namespace: &str) -> monitor_core::Result<Vec<(String, Value)>> {
        let rows = sqlx::query("SELECT key, value FROM state WHERE namespace = ?1 ORDER BY key")
            .bind(namespace)
            .fetch_all(&self.readers)
            .await
            .map_err(|e| Error::sqlx("reading state", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get(0).map_err(|e| Error::sqlx("reading state", e))?;
            let value: &str = row.try_get(1).map_err(|e| Error::sqlx("reading state", e))?;
            let value = Value::from_str(value)
                .map_err(|e| Error::Corrupt(format!("stored state does not parse: {e}")))?;
            out.push((key, value));
        }
        Ok(out)
    }

    async fn session_events(&self, session_id: &str, limit: usize) -> monitor_core::Result<Vec<Event>> {
        Ok(self.read_session(session_id, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use monitor_core::store::conformance::{T0, dataset, reference};
    use monitor_core::time::MICROS_PER_DAY;

    use super::*;

    /// Rows read back from a rollup table: (bucket, key) → (count, duration sum).
    async fn table(conn: &mut SqliteConnection, slot: usize) -> HashMap<(i64, i64), (i64, f64)> {
        let sql = format!("SELECT bucket, key_id, count, duration_sum FROM {}", TABLES[slot]);
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get::<Option<f64>, _>(3).unwrap_or(0.0))))
            .collect()
    }

    /// Both ways of reading the stored rows (a lookup per cell; one range scan for many
    /// cells over dense buckets) add deltas to what is stored.
    #[tokio::test]
    async fn merging_into_tables_adds_to_stored_rows_cell_by_cell_and_in_bulk() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig::at(dir.path().join("m.db"));
        SqliteStore::open(config.clone()).await.unwrap().close().await.unwrap();
        let options = SqliteConnectOptions::new().filename(&config.path);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let mut texts = StatementTexts::default();
        let event = dataset()[0].clone();
        let cell = |n: usize| {
            let mut cell = RollupCell::default();
            for _ in 0..n {
                cell.add(&event);
            }
            cell
        };
        let step = slot_step(0);
        let at = |i: i64| T0.add_micros(i * step);
        // A few cells, one lookup each: stored as given.
        let few: Vec<Delta> = (0..10).map(|i| (0, at(i), 1, cell(1))).collect();
        merge_into_tables(&mut conn, &mut texts, &few).await.unwrap();
        // Many cells over 100 consecutive buckets × 4 keys, overlapping the first ten.
        let many: Vec<Delta> =
            (0..100).flat_map(|i| (0..4).map(move |k| (i, k))).map(|(i, k)| (0, at(i), k, cell(2))).collect();
        assert!(many.len() >= BULK_MERGE_CELLS);
        merge_into_tables(&mut conn, &mut texts, &many).await.unwrap();
        let rows = table(&mut conn, 0).await;
        assert_eq!(rows.len(), 400);
        let duration = event.payload.rollup_value(0).unwrap();
        for i in 0..100 {
            for k in 0..4 {
                let expected = if k == 1 && i < 10 { 3 } else { 2 };
                let (count, sum) = rows[&(at(i).as_micros(), k)];
                assert_eq!(count, expected, "bucket {i} key {k}");
                assert!((sum - duration * f64::from(u32::try_from(expected).unwrap())).abs() < 1e-9);
            }
        }
        conn.close().await.unwrap();
    }

    /// A file of schema 1 left by a crash: rollups partly in `rollup_journal`, no
    /// `folded` mark. Opening it folds the journal once and counts no event again.
    #[tokio::test]
    async fn a_schema_one_journal_is_folded_and_no_event_counted_twice() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig { rollup_memory: 0, ..SqliteConfig::at(dir.path().join("m.db")) };
        let events = dataset();
        let store = SqliteStore::open(config.clone()).await.unwrap();
        store.write(&events).await.unwrap();
        store.close().await.unwrap();

        let options = SqliteConnectOptions::new().filename(&config.path);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let sql = format!("SELECT bucket, key_id, {} FROM rollup_5m", cell_columns());
        let mut deltas = Vec::new();
        for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap() {
            let bucket = Timestamp::from_micros(row.try_get(0).unwrap());
            let key = u32::try_from(row.try_get::<i64, _>(1).unwrap()).unwrap();
            deltas.push((0usize, bucket, key, decode_cell(&row, 2).unwrap()));
        }
        assert!(!deltas.is_empty());
        let blob = crate::codec::encode_deltas(deltas.iter().map(|(s, b, k, c)| (*s, *b, *k, c)));
        sqlx::query("DELETE FROM rollup_5m").execute(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO rollup_journal (deltas) VALUES (?1)")
            .bind(blob)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("DELETE FROM marks").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();

        let store = SqliteStore::open(config).await.unwrap();
        for aggregation in [Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day] {
            let query =
                Query::new(T0.add_micros(-MICROS_PER_DAY), T0.add_micros(2 * MICROS_PER_DAY), aggregation)
                    .field("duration");
            let answer = store.query(&query).await.unwrap();
            let expected = reference(&events, &query);
            assert_eq!(
                answer.points().iter().map(|p| (p.timestamp, p.count, p.sum)).collect::<Vec<_>>(),
                expected.iter().map(|p| (p.timestamp, p.count, p.sum)).collect::<Vec<_>>(),
                "{aggregation}"
            );
        }
        store.close().await.unwrap();
    }
}
