//! The session index: which events belong to each session, kept as runs of event
//! sequence numbers instead of a per-row B-tree on `events`.
//!
//! An index on `events (session_id, ts)` has one hot leaf page per active session, so
//! every write dirtied (and often split) a page per session: with 200 active sessions it
//! cost more than the rest of the insert together. Here the writer notes each committed
//! event's `seq` and time in memory (the tail); the fold writes the tail as one
//! `session_runs` row per session (varint-encoded) and moves the `marks` row
//! `folded` to the last `seq` it covers, in the fold's transaction. After a crash the
//! store rebuilds the runs of events past that mark when it opens (`replay_after_mark`
//! in the store). Readers take the tail of a session first and the stored runs after,
//! so an event folded in between is seen twice (and counted once), never missed.

use hashbrown::{HashMap, HashSet};
use sqlx::{Row, SqliteConnection};

use crate::codec::{get_varint, put_varint, unzigzag, zigzag};
use crate::error::{Error, Result};

/// The `marks` row holding the last `seq` whose session runs are stored and whose
/// rollups are in the tables.
pub(crate) const FOLDED: &str = "folded";

/// One session's events by (`seq`, time in µs), with their time span.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    /// `seq` ascending.
    pub(crate) entries: Vec<(i64, i64)>,
    /// Smallest event time (µs).
    pub(crate) min_ts: i64,
    /// Largest event time (µs).
    pub(crate) max_ts: i64,
}

impl Run {
    pub(crate) fn new() -> Self {
        Run { entries: Vec::new(), min_ts: i64::MAX, max_ts: i64::MIN }
    }

    pub(crate) fn push(&mut self, seq: i64, ts: i64) {
        self.entries.push((seq, ts));
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
    }
}

/// Committed events not yet in `session_runs`, by session.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    runs: HashMap<Box<str>, Run>,
}

impl Tail {
    /// Notes a committed event of `session` (seqs ascending across calls).
    pub(crate) fn push(&mut self, session: &str, seq: i64, ts: i64) {
        match self.runs.get_mut(session) {
            Some(run) => run.push(seq, ts),
            None => {
                let mut run = Run::new();
                run.push(seq, ts);
                self.runs.insert(session.into(), run);
            }
        }
    }

    /// The unfolded entries of a session.
    pub(crate) fn entries(&self, session: &str) -> Option<&[(i64, i64)]> {
        self.runs.get(session).map(|run| run.entries.as_slice())
    }

    /// The unfolded run of a session.
    pub(crate) fn run(&self, session: &str) -> Option<Run> {
        self.runs.get(session).cloned()
    }

    /// Forgets everything noted (after a fold committed it).
    pub(crate) fn clear(&mut self) {
        self.runs.clear();
    }

    /// The rows a fold writes: (session, run) sorted by session.
    pub(crate) fn rows(&self) -> Vec<(&str, &Run)> {
        let mut rows: Vec<(&str, &Run)> = self.runs.iter().map(|(s, r)| (&**s, r)).collect();
        rows.sort_unstable_by_key(|(s, _)| *s);
        rows
    }
}

/// Run entries as varints: per entry the `seq` delta (ascending) and the zigzag time
/// delta (times need not ascend: late events).
pub(crate) fn encode_entries(entries: &[(i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 5 + 2);
    let (mut seq0, mut ts0) = (0i64, 0i64);
    for &(seq, ts) in entries {
        put_varint(&mut out, u64::try_from(seq - seq0).unwrap_or(0));
        put_varint(&mut out, zigzag(ts.wrapping_sub(ts0)));
        (seq0, ts0) = (seq, ts);
    }
    out
}

/// Decodes [`encode_entries`] output.
pub(crate) fn decode_entries(mut bytes: &[u8]) -> Result<Vec<(i64, i64)>> {
    let corrupt = || Error::Corrupt("a session run does not decode".into());
    let mut entries = Vec::with_capacity(bytes.len() / 4);
    let (mut seq, mut ts) = (0i64, 0i64);
    while !bytes.is_empty() {
        let delta = get_varint(&mut bytes).and_then(|d| i64::try_from(d).ok()).ok_or_else(corrupt)?;
        seq = seq.checked_add(delta).ok_or_else(corrupt)?;
        ts = ts.wrapping_add(unzigzag(get_varint(&mut bytes).ok_or_else(corrupt)?));
        entries.push((seq, ts));
    }
    Ok(entries)
}

/// Writes `rows` as session runs, inside the caller's transaction.
pub(crate) async fn write_runs(conn: &mut SqliteConnection, rows: &[(&str, &Run)]) -> Result<()> {
    for (session, run) in rows {
        if let Some(&(last, _)) = run.entries.last() {
            put_run(conn, session, last, run).await?;
        }
    }
    Ok(())
}

/// Stores (or replaces) the run keyed by (`session`, `last_seq`).
async fn put_run(conn: &mut SqliteConnection, session: &str, last_seq: i64, run: &Run) -> Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO session_runs (session_id, last_seq, min_ts, max_ts, entries) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(session)
    .bind(last_seq)
    .bind(run.min_ts)
    .bind(run.max_ts)
    .bind(encode_entries(&run.entries))
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::sqlx("writing session runs", e))?;
    Ok(())
}

/// The `seq` of a mark, `None` when it was never written.
pub(crate) async fn read_mark(conn: &mut SqliteConnection, name: &str) -> Result<Option<i64>> {
    sqlx::query_scalar("SELECT seq FROM marks WHERE name = ?1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| Error::sqlx("reading a mark", e))
}

/// Sets a mark, inside the caller's transaction.
pub(crate) async fn write_mark(conn: &mut SqliteConnection, name: &str, seq: i64) -> Result<()> {
    sqlx::query("INSERT OR REPLACE INTO marks (name, seq) VALUES (?1, ?2)")
        .bind(name)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::sqlx("writing a mark", e))?;
    Ok(())
}

/// Per-event late masks as a `rollup_late` entry: `seq` varint deltas (ascending) and
/// a mask byte each.
pub(crate) fn encode_late(entries: &[(i64, u8)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 3);
    let mut previous = 0i64;
    for &(seq, mask) in entries {
        put_varint(&mut out, u64::try_from(seq - previous).unwrap_or(0));
        out.push(mask);
        previous = seq;
    }
    out
}

/// Decodes [`encode_late`] output into `into`.
pub(crate) fn decode_late(mut bytes: &[u8], into: &mut HashMap<i64, u8>) -> Result<()> {
    let corrupt = || Error::Corrupt("a rollup_late entry does not decode".into());
    let mut previous = 0i64;
    while !bytes.is_empty() {
        let delta = get_varint(&mut bytes).and_then(|d| i64::try_from(d).ok()).ok_or_else(corrupt)?;
        let (&mask, rest) = bytes.split_first().ok_or_else(corrupt)?;
        bytes = rest;
        previous = previous.checked_add(delta).ok_or_else(corrupt)?;
        *into.entry(previous).or_default() |= mask;
    }
    Ok(())
}

/// Removes the entries of events older than `cutoff` (µs) from the stored runs, dropping
/// runs left empty, in one transaction: after retention removed those events (all of
/// them folded, so all in runs), the runs list exactly the stored events again.
pub(crate) async fn prune_before(conn: &mut SqliteConnection, cutoff: i64) -> Result<()> {
    let prune_err = |e| Error::sqlx("pruning session runs", e);
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(prune_err)?;
    sqlx::query("DELETE FROM session_runs WHERE max_ts < ?1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(prune_err)?;
    let straddling = sqlx::query("SELECT session_id, last_seq, entries FROM session_runs WHERE min_ts < ?1")
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(prune_err)?;
    for row in &straddling {
        let session: &str = row.try_get(0).map_err(prune_err)?;
        let last_seq: i64 = row.try_get(1).map_err(prune_err)?;
        let mut run = Run::new();
        for (seq, ts) in decode_entries(row.try_get::<&[u8], _>(2).map_err(prune_err)?)? {
            if ts >= cutoff {
                run.push(seq, ts);
            }
        }
        // Non-empty: the run's newest event is not older than the cutoff. Kept under its
        // key, whichever entries went.
        put_run(&mut tx, session, last_seq, &run).await?;
    }
    tx.commit().await.map_err(prune_err)?;
    Ok(())
}

/// Adds the entries of a run not `seen` before to `kept` as (time, `seq`), keeping the
/// newest `limit` (by time, then `seq`), newest first.
pub(crate) fn keep_newest(
    entries: &[(i64, i64)],
    limit: usize,
    seen: &mut HashSet<i64>,
    kept: &mut Vec<(i64, i64)>,
) {
    kept.extend(entries.iter().filter(|(seq, _)| seen.insert(*seq)).map(|&(seq, ts)| (ts, seq)));
    kept.sort_unstable_by_key(|entry| std::cmp::Reverse(*entry));
    kept.truncate(limit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let entries = vec![
            (1, 1_767_571_200_000_000),
            (2, 1_767_571_200_000_001),
            (300, 1_700_000_000_000_000),
            (1_000_000, 1_767_571_300_000_000),
            (i64::from(u32::MAX) * 4, -5),
        ];
        assert_eq!(decode_entries(&encode_entries(&entries)).unwrap(), entries);
        assert_eq!(decode_entries(&encode_entries(&[])).unwrap(), Vec::<(i64, i64)>::new());
        assert!(decode_entries(&[0x80]).is_err(), "a truncated varint is an error");
        assert!(decode_entries(&[0x05]).is_err(), "a seq without its time");
    }

    #[test]
    fn keep_newest_keeps_the_newest_by_time_then_seq_and_skips_seen() {
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        keep_newest(&[(1, 10), (2, 30), (3, 20)], 2, &mut seen, &mut kept);
        assert_eq!(kept, [(30, 2), (20, 3)]);
        keep_newest(&[(2, 30), (4, 20), (5, 5)], 2, &mut seen, &mut kept);
        assert_eq!(kept, [(30, 2), (20, 4)], "seq 2 again is not counted twice; ties by seq");
    }

    #[test]
    fn late_entries_round_trip() {
        let entries = [(5, 1u8), (6, 7), (900, 3)];
        let mut decoded = HashMap::new();
        decode_late(&encode_late(&entries), &mut decoded).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!((decoded[&5], decoded[&6], decoded[&900]), (1, 7, 3));
        assert!(decode_late(&[5], &mut decoded).is_err(), "a seq without its mask");
    }

    #[test]
    fn tail_groups_by_session_and_sorts_rows() {
        let mut tail = Tail::default();
        tail.push("b", 1, 50);
        tail.push("a", 2, 10);
        tail.push("b", 3, 40);
        let rows = tail.rows();
        assert_eq!(rows.iter().map(|(s, _)| *s).collect::<Vec<_>>(), ["a", "b"]);
        let b = tail.run("b").unwrap();
        assert_eq!((b.entries.as_slice(), b.min_ts, b.max_ts), (&[(1, 50), (3, 40)][..], 40, 50));
        tail.clear();
        assert!(tail.rows().is_empty() && tail.run("b").is_none());
    }
}
