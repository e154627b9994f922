//! Rows ⇄ values: event rows, rollup cell rows, and the multi-row statement texts.

use std::collections::HashMap;
use std::sync::Arc;

use monitor_core::event::{Event, Payload, ROLLUP_FIELDS};
use monitor_core::rollup::{FieldStats, RollupCell, RollupKey};
use monitor_core::sketch::Sketch;
use monitor_core::time::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row};

use crate::error::{Error, Result};

/// Column of each of [`ROLLUP_FIELDS`], by index, in `events` and as a rollup prefix.
pub(crate) const FIELD_COLUMNS: [&str; ROLLUP_FIELDS.len()] =
    ["duration", "memory_usage", "cpu_usage", "success", "coordination_score", "latency_ms", "score"];

/// Columns written for each event, in order.
pub(crate) const EVENT_COLUMNS: &str = "id, ts, ingested_at, source, type, project_id, session_id, agent_type, \
     operation, duration, memory_usage, cpu_usage, success, coordination_score, latency_ms, score, payload, tags";
/// How many columns [`EVENT_COLUMNS`] names.
pub(crate) const EVENT_PARAMS: usize = 18;

/// Columns read to rebuild an event, in order (see [`decode_event`]).
pub(crate) const EVENT_READ_COLUMNS: &str = "id, ts, ingested_at, source, type, project_id, session_id, agent_type, \
     payload, tags, duration, memory_usage, cpu_usage, coordination_score, latency_ms, score";

/// Parameters per rollup row: bucket, key id, count, then five per field.
const CELL_PARAMS: usize = 3 + 5 * ROLLUP_FIELDS.len();

/// Most rollup rows per multi-row statement (SQLite allows 32,766 parameters).
pub(crate) const MAX_CELL_ROWS: usize = 256;

fn bind_err(e: sqlx::error::BoxDynError) -> Error {
    Error::sqlx("binding a parameter", sqlx::Error::Encode(e))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Rebuilds an event from [`EVENT_READ_COLUMNS`] starting at column `first`.
///
/// The parts are reassembled into the wire JSON shape and read by `Event`'s own
/// deserializer; the known numeric fields are then taken from their REAL columns, which
/// hold the exact `f64` (JSON float parsing is not always bit-exact).
pub(crate) fn decode_event(row: &SqliteRow, first: usize) -> Result<Event> {
    let read_err = |e| Error::sqlx("reading an event", e);
    let text =
        |i: usize| -> Result<Option<&str>> { row.try_get::<Option<&str>, _>(first + i).map_err(read_err) };
    let time = |i: usize| -> Result<Value> {
        let micros: i64 = row.try_get(first + i).map_err(read_err)?;
        Ok(Value::String(Timestamp::from_micros(micros).to_rfc3339()))
    };
    let corrupt =
        |what: &str, e: serde_json::Error| Error::Corrupt(format!("stored event {what} does not parse: {e}"));
    let mut object = Map::with_capacity(10);
    object.insert("id".into(), Value::String(text(0)?.unwrap_or_default().to_owned()));
    object.insert("timestamp".into(), time(1)?);
    object.insert("ingestedAt".into(), time(2)?);
    for (i, name) in [(3, "source"), (4, "type"), (5, "projectId"), (6, "sessionId"), (7, "agentType")] {
        if let Some(v) = text(i)? {
            object.insert(name.into(), Value::String(v.to_owned()));
        }
    }
    let payload: Value = serde_json::from_str(text(8)?.unwrap_or("{}")).map_err(|e| corrupt("payload", e))?;
    object.insert("payload".into(), payload);
    if let Some(tags) = text(9)? {
        object.insert("tags".into(), serde_json::from_str(tags).map_err(|e| corrupt("tags", e))?);
    }
    let mut event = Event::deserialize(Value::Object(object)).map_err(|e| corrupt("", e))?;
    let column =
        |i: usize| -> Result<Option<f64>> { row.try_get::<Option<f64>, _>(first + 10 + i).map_err(read_err) };
    match &mut event.payload {
        Payload::Performance(p) => {
            if let Some(v) = column(0)? {
                p.duration = v;
            }
            if let Some(v) = column(1)? {
                p.memory_usage = Some(v);
            }
            if let Some(v) = column(2)? {
                p.cpu_usage = Some(v);
            }
        }
        Payload::Coordination(p) => {
            if let Some(v) = column(3)? {
                p.coordination_score = Some(v);
            }
            if let Some(v) = column(4)? {
                p.latency_ms = Some(v);
            }
        }
        Payload::Quality(p) => {
            if let Some(v) = column(5)? {
                p.score = v;
            }
        }
        Payload::Error(_) => {}
    }
    Ok(event)
}

/// Columns of a rollup row after bucket and key id: count, then five per field.
pub(crate) fn cell_columns() -> String {
    let mut out = String::from("count");
    for f in FIELD_COLUMNS {
        out.push_str(&format!(", {f}_count, {f}_sum, {f}_min, {f}_max, {f}_sketch"));
    }
    out
}

/// Appends one rollup row's parameters.
pub(crate) fn push_cell(
    args: &mut SqliteArguments,
    bucket: Timestamp,
    key: u32,
    cell: &RollupCell,
) -> Result<()> {
    args.add(bucket.as_micros()).map_err(bind_err)?;
    args.add(i64::from(key)).map_err(bind_err)?;
    args.add(to_i64(cell.count)).map_err(bind_err)?;
    for slot in &cell.fields {
        match slot {
            Some(stats) => {
                args.add(to_i64(stats.count)).map_err(bind_err)?;
                args.add(stats.sum).map_err(bind_err)?;
                args.add(stats.min).map_err(bind_err)?;
                args.add(stats.max).map_err(bind_err)?;
                args.add(stats.sketch.encode()).map_err(bind_err)?;
            }
            None => {
                for _ in 0..4 {
                    args.add(None::<f64>).map_err(bind_err)?;
                }
                args.add(None::<Vec<u8>>).map_err(bind_err)?;
            }
        }
    }
    Ok(())
}

fn read_u64(row: &SqliteRow, index: usize) -> Result<u64> {
    let v: i64 = row.try_get(index).map_err(|e| Error::sqlx("reading a rollup row", e))?;
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("negative rollup count {v}")))
}

/// Reads one field's statistics from five columns starting at `first`; `None` when NULL.
pub(crate) fn decode_stats(row: &SqliteRow, first: usize) -> Result<Option<FieldStats>> {
    let count: Option<i64> = row.try_get(first).map_err(|e| Error::sqlx("reading a rollup row", e))?;
    let Some(count) = count else { return Ok(None) };
    let get = |i: usize| -> Result<f64> {
        row.try_get::<f64, _>(first + i).map_err(|e| Error::sqlx("reading a rollup row", e))
    };
    let blob: &[u8] = row.try_get(first + 4).map_err(|e| Error::sqlx("reading a rollup row", e))?;
    let sketch =
        Sketch::decode(blob).ok_or_else(|| Error::Corrupt("rollup sketch does not decode".into()))?;
    Ok(Some(FieldStats {
        count: u64::try_from(count).map_err(|_| Error::Corrupt(format!("negative rollup count {count}")))?,
        sum: get(1)?,
        min: get(2)?,
        max: get(3)?,
        sketch,
    }))
}

/// Reads a whole cell: count at column `first`, then the fields (see [`cell_columns`]).
pub(crate) fn decode_cell(row: &SqliteRow, first: usize) -> Result<RollupCell> {
    let mut cell = RollupCell { count: read_u64(row, first)?, ..RollupCell::default() };
    for (index, slot) in cell.fields.iter_mut().enumerate() {
        *slot = decode_stats(row, first + 1 + 5 * index)?.map(Box::new);
    }
    Ok(cell)
}

/// Reads a rollup key from five columns (source, type, project, agent type, operation).
pub(crate) fn decode_key(row: &SqliteRow, first: usize) -> Result<RollupKey> {
    let text = |i: usize| -> Result<Option<String>> {
        row.try_get::<Option<String>, _>(first + i).map_err(|e| Error::sqlx("reading a rollup key", e))
    };
    key_from_texts(text(0)?.unwrap_or_default(), text(1)?.unwrap_or_default(), text(2)?, text(3)?, text(4)?)
}

/// A rollup key from its stored texts (source, type, project, agent type, operation).
pub(crate) fn key_from_texts(
    source: String,
    event_type: String,
    project_id: Option<String>,
    agent_type: Option<String>,
    operation: Option<String>,
) -> Result<RollupKey> {
    let corrupt =
        |what: &str, value: &str| Error::Corrupt(format!("rollup key has unknown {what} `{value}`"));
    Ok(RollupKey {
        source: source.parse().map_err(|_| corrupt("source", &source))?,
        event_type: event_type.parse().map_err(|_| corrupt("type", &event_type))?,
        project_id,
        agent_type: match agent_type {
            Some(a) => Some(a.parse().map_err(|_| corrupt("agent type", &a))?),
            None => None,
        },
        operation,
    })
}

/// Appends one rollup key's parameters (key id, then the five dimensions).
pub(crate) fn push_key(args: &mut SqliteArguments, id: u32, key: &RollupKey) -> Result<()> {
    args.add(i64::from(id)).map_err(bind_err)?;
    args.add(key.source.as_str()).map_err(bind_err)?;
    args.add(key.event_type.as_str()).map_err(bind_err)?;
    args.add(key.project_id.as_deref()).map_err(bind_err)?;
    args.add(key.agent_type.map(|a| a.as_str())).map_err(bind_err)?;
    args.add(key.operation.as_deref()).map_err(bind_err)?;
    Ok(())
}

/// A zigzag-encoded signed integer (small magnitudes give small varints).
pub(crate) fn zigzag(v: i64) -> u64 {
    #[allow(clippy::cast_sign_loss)]
    let encoded = ((v << 1) ^ (v >> 63)) as u64;
    encoded
}

/// The inverse of [`zigzag`].
pub(crate) fn unzigzag(v: u64) -> i64 {
    #[allow(clippy::cast_possible_wrap)]
    let decoded = ((v >> 1) as i64) ^ -((v & 1) as i64);
    decoded
}

/// Appends a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[allow(clippy::cast_possible_truncation)]
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

/// Reads a LEB128 varint; `None` when truncated.
pub(crate) fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn get_f64(bytes: &mut &[u8]) -> Option<f64> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    *bytes = rest;
    Some(f64::from_le_bytes(*head))
}

/// One rollup delta: level slot, bucket, key id and the cell to add.
pub(crate) type Delta = (usize, Timestamp, u32, RollupCell);

/// Encodes a write's rollup deltas into one journal blob: per delta the slot, the
/// zigzag bucket, the key id and the cell (count; a field mask; per field present its
/// count, sum, min and max as little-endian f64 and its encoded sketch). Schema 1 wrote
/// these to `rollup_journal`; now only the replay of such a journal at open reads them
/// (and tests write them).
#[cfg(test)]
pub(crate) fn encode_deltas<'a>(
    deltas: impl Iterator<Item = (usize, Timestamp, u32, &'a RollupCell)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (slot, bucket, key, cell) in deltas {
        put_varint(&mut out, slot as u64);
        put_varint(&mut out, zigzag(bucket.as_micros()));
        put_varint(&mut out, u64::from(key));
        put_varint(&mut out, cell.count);
        let mask =
            cell.fields.iter().enumerate().fold(0u64, |m, (i, f)| if f.is_some() { m | (1 << i) } else { m });
        put_varint(&mut out, mask);
        for stats in cell.fields.iter().flatten() {
            put_varint(&mut out, stats.count);
            for v in [stats.sum, stats.min, stats.max] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            let sketch = stats.sketch.encode();
            put_varint(&mut out, sketch.len() as u64);
            out.extend_from_slice(&sketch);
        }
    }
    out
}

/// Decodes [`encode_deltas`] output.
pub(crate) fn decode_deltas(mut bytes: &[u8]) -> Result<Vec<Delta>> {
    let corrupt = || Error::Corrupt("rollup journal entry does not decode".into());
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let slot = usize::try_from(get_varint(&mut bytes).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        if slot >= 3 {
            return Err(corrupt());
        }
        let bucket = Timestamp::from_micros(unzigzag(get_varint(&mut bytes).ok_or_else(corrupt)?));
        let key = u32::try_from(get_varint(&mut bytes).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        let mut cell =
            RollupCell { count: get_varint(&mut bytes).ok_or_else(corrupt)?, ..RollupCell::default() };
        let mask = get_varint(&mut bytes).ok_or_else(corrupt)?;
        for (index, slot) in cell.fields.iter_mut().enumerate() {
            if mask & (1 << index) == 0 {
                continue;
            }
            let count = get_varint(&mut bytes).ok_or_else(corrupt)?;
            let sum = get_f64(&mut bytes).ok_or_else(corrupt)?;
            let min = get_f64(&mut bytes).ok_or_else(corrupt)?;
            let max = get_f64(&mut bytes).ok_or_else(corrupt)?;
            let len = usize::try_from(get_varint(&mut bytes).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
            if len > bytes.len() {
                return Err(corrupt());
            }
            let (sketch, rest) = bytes.split_at(len);
            bytes = rest;
            let sketch = Sketch::decode(sketch).ok_or_else(corrupt)?;
            *slot = Some(Box::new(FieldStats { count, sum, min, max, sketch }));
        }
        out.push((slot, bucket, key, cell));
    }
    Ok(out)
}

/// Splits `n` rows into statement sizes: full chunks of `max`, then powers of two, so
/// that only a handful of distinct statements are ever prepared.
pub(crate) fn chunk_sizes(mut n: usize, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    while n > 0 {
        let take = if n >= max { max } else { 1 << (usize::BITS - 1 - n.leading_zeros()) };
        out.push(take);
        n -= take;
    }
    out
}

/// Which multi-row statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Statement {
    /// Upsert rollup rows of a level slot.
    Cells(usize),
    /// Insert rollup keys.
    Keys,
}

/// Multi-row statement texts, built once per (statement, rows).
#[derive(Default)]
pub(crate) struct StatementTexts {
    texts: HashMap<(Statement, usize), Arc<str>>,
}

impl StatementTexts {
    /// The text of `statement` with `rows` rows of values.
    pub(crate) fn get(&mut self, statement: Statement, rows: usize) -> Arc<str> {
        self.texts
            .entry((statement, rows))
            .or_insert_with(|| {
                let (head, params) = match statement {
                    Statement::Cells(slot) => (
                        format!(
                            "INSERT OR REPLACE INTO {} (bucket, key_id, {}) VALUES ",
                            crate::cells::TABLES[slot],
                            cell_columns()
                        ),
                        CELL_PARAMS,
                    ),
                    Statement::Keys => (
                        "INSERT INTO rollup_keys (key_id, source, type, project_id, agent_type, operation) VALUES "
                            .to_owned(),
                        6,
                    ),
                };
                let row = format!("({})", vec!["?"; params].join(","));
                let mut sql = head;
                sql.push_str(&vec![row; rows].join(","));
                Arc::from(sql)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_deltas_round_trip() {
        let mut a = RollupCell { count: 3, ..RollupCell::default() };
        let mut stats = FieldStats::default();
        for v in [1.5, -2.0, 300.25] {
            stats.add(v);
        }
        a.fields[0] = Some(Box::new(stats.clone()));
        a.fields[6] = Some(Box::new(stats));
        let b = RollupCell { count: 7, ..RollupCell::default() };
        let t = Timestamp::from_micros(-5);
        let blob =
            encode_deltas([(0, t, 3, &a), (2, Timestamp::from_micros(1 << 50), 70_000, &b)].into_iter());
        let back = decode_deltas(&blob).unwrap();
        assert_eq!(back, vec![(0, t, 3, a), (2, Timestamp::from_micros(1 << 50), 70_000, b)]);
        assert!(decode_deltas(&blob[..blob.len() - 1]).is_err());
    }

    #[test]
    fn chunk_sizes_cover_exactly() {
        assert_eq!(chunk_sizes(0, 512), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1, 512), vec![1]);
        assert_eq!(chunk_sizes(1300, 512), vec![512, 512, 256, 16, 4]);
        for n in 0..3000 {
            assert_eq!(chunk_sizes(n, 512).iter().sum::<usize>(), n);
        }
    }
}
