//! The event insert, run straight on the writer connection's SQLite handle.
//!
//! sqlx copies every text argument into its own buffer, hands the batch to its worker
//! thread, and binds it there (SQLite copies it once more); for the raw-event insert,
//! the store's largest statement, that was about a third of the writer's CPU. Here the
//! handle is locked out of sqlx's worker ([`sqlx::sqlite::LockedSqliteHandle`]) and one
//! prepared single-row statement is stepped per event with values borrowed from the
//! event. The statement runs inside the transaction the store opened through sqlx.

use std::ptr::NonNull;

use monitor_core::event::{Event, ROLLUP_FIELDS};
use rusqlite::ffi::sqlite3;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::codec::{EVENT_COLUMNS, EVENT_PARAMS, FIELD_COLUMNS};
use crate::error::{Error, Result};

/// Runs `f` with a rusqlite view of a SQLite handle that sqlx has locked for the caller.
#[allow(unsafe_code)]
fn with_handle<R>(
    handle: NonNull<sqlite3>,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R>,
) -> rusqlite::Result<R> {
    // SAFETY: `handle` comes from `LockedSqliteHandle::as_raw_handle`, whose lock the caller
    // holds across this call, so sqlx's worker thread makes no call on the connection
    // meanwhile; the handle is open for as long as the lock exists. `from_handle` does not
    // take ownership: dropping the view leaves the connection open, and the statements
    // prepared through it are finalized before it drops (they borrow it).
    let connection = unsafe { rusqlite::Connection::from_handle(handle.as_ptr()) }?;
    f(&connection)
}

/// Inserts `events` (ids unique among them) into `events` with `INSERT OR IGNORE` on the
/// locked writer handle, inside the transaction already open on it, the first with `seq`
/// `first_seq` and each next one the next; returns how many rows SQLite inserted (fewer
/// than `events.len()` when some ids were stored before, and then the caller rolls back).
pub(crate) fn insert_events(handle: NonNull<sqlite3>, events: &[&Event], first_seq: i64) -> Result<u64> {
    let direct = |context| move |source| Error::Direct { context, source };
    let sql = format!(
        "INSERT OR IGNORE INTO events ({EVENT_COLUMNS}, seq) VALUES ({})",
        (1..=EVENT_PARAMS + 1).map(|i| format!("?{i}")).collect::<Vec<_>>().join(",")
    );
    // Encoding buffers reused across events: JSON is written here and bound borrowed.
    let mut payload = Vec::with_capacity(256);
    let mut tags = Vec::with_capacity(64);
    with_handle(handle, |connection| {
        let mut statement = connection.prepare(&sql)?;
        let mut inserted = 0u64;
        for (seq, event) in (first_seq..).zip(events) {
            payload.clear();
            serde_json::to_writer(&mut payload, &event.payload).map_err(encode_failure)?;
            tags.clear();
            if !event.tags.is_empty() {
                serde_json::to_writer(&mut tags, &event.tags).map_err(encode_failure)?;
            }
            statement.raw_bind_parameter(1, event.id.as_str())?;
            statement.raw_bind_parameter(2, event.timestamp.as_micros())?;
            statement.raw_bind_parameter(3, event.ingested_at.as_micros())?;
            statement.raw_bind_parameter(4, event.source.as_str())?;
            statement.raw_bind_parameter(5, event.event_type().as_str())?;
            statement.raw_bind_parameter(6, event.project_id.as_deref())?;
            statement.raw_bind_parameter(7, event.session_id.as_deref())?;
            statement.raw_bind_parameter(8, event.agent_type.map(|a| a.as_str()))?;
            statement.raw_bind_parameter(9, event.operation())?;
            for index in 0..ROLLUP_FIELDS.len() {
                statement.raw_bind_parameter(10 + index, event.payload.rollup_value(index))?;
            }
            // serde_json writes UTF-8: the bytes bind as TEXT without a second check.
            statement.raw_bind_parameter(17, ToSqlOutput::Borrowed(ValueRef::Text(&payload)))?;
            if tags.is_empty() {
                statement.raw_bind_parameter(18, rusqlite::types::Null)?;
            } else {
                statement.raw_bind_parameter(18, ToSqlOutput::Borrowed(ValueRef::Text(&tags)))?;
            }
            statement.raw_bind_parameter(EVENT_PARAMS + 1, seq)?;
            inserted += statement.raw_execute()? as u64;
        }
        Ok(inserted)
    })
    .map_err(direct("inserting events"))
}

/// A rollup key's stored texts: source, type, project, agent type, operation.
pub(crate) type KeyTexts = (String, String, Option<String>, Option<String>, Option<String>);

/// One stored event as the replay after a crash reads it: no payload JSON, the rolled-up
/// values from their REAL columns.
pub(crate) struct ReplayRow {
    pub(crate) seq: i64,
    /// µs since the epoch.
    pub(crate) ts: i64,
    pub(crate) key: KeyTexts,
    pub(crate) session: Option<String>,
    /// By index of [`ROLLUP_FIELDS`].
    pub(crate) values: [Option<f64>; ROLLUP_FIELDS.len()],
}

/// Reads up to `limit` events with `seq` past `after`, in `seq` order, on a locked
/// handle (sqlx's row decoding cost ~8 µs per row here; this is a fraction of it).
pub(crate) fn events_after(handle: NonNull<sqlite3>, after: i64, limit: i64) -> Result<Vec<ReplayRow>> {
    let sql = format!(
        "SELECT seq, ts, source, type, project_id, agent_type, operation, session_id, {} \
         FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        FIELD_COLUMNS.join(", ")
    );
    with_handle(handle, |connection| {
        let mut statement = connection.prepare(&sql)?;
        let mut rows = statement.query((after, limit))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = [None; ROLLUP_FIELDS.len()];
            for (i, value) in values.iter_mut().enumerate() {
                *value = row.get(8 + i)?;
            }
            out.push(ReplayRow {
                seq: row.get(0)?,
                ts: row.get(1)?,
                key: (row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?),
                session: row.get(7)?,
                values,
            });
        }
        Ok(out)
    })
    .map_err(|source| Error::Direct { context: "reading events past the fold", source })
}

/// A payload or tags that do not encode as JSON (cannot happen for validated events).
fn encode_failure(error: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(error))
}
