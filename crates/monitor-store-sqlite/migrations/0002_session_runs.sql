-- agent-monitor SQLite store, schema version 2: the session index as runs, and rollups
-- replayed from the events past a mark instead of a journal of deltas.
--
-- The per-row index on events (session_id, ts) had one hot leaf page per active session,
-- so each write dirtied and split a page per session; with a few hundred active sessions
-- it cost more than the rest of the insert. A session's events are now listed as runs of
-- their `seq`, one row per session per fold (see src/sessions.rs); the store rebuilds the
-- runs of events past the `sessions` mark when it opens (all of them, the first time).
DROP INDEX events_session_ts;

-- Per session and fold, its events' `seq` (ascending) and time as varint deltas (see
-- src/sessions.rs) and their time span; `last_seq` is the run's last `seq`.
CREATE TABLE session_runs (
    session_id TEXT    NOT NULL,
    last_seq   INTEGER NOT NULL,
    min_ts     INTEGER NOT NULL,
    max_ts     INTEGER NOT NULL,
    entries    BLOB    NOT NULL,
    PRIMARY KEY (session_id, last_seq)
) WITHOUT ROWID;

-- Progress marks, by name: `folded` is the last event `seq` whose session runs are stored
-- and whose rollups are in the rollup tables (written by each fold).
CREATE TABLE marks (
    name TEXT    PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;

-- Events past the mark whose rollups at some levels are in the tables already: late
-- events, whose cells lie before the in-memory window and are merged into the tables by
-- the write itself. One row per such write, keyed by its first `seq`: per event, the
-- `seq` (varint delta) and a byte with bit `slot` set for each level merged (5m = 1,
-- 1h = 2, 1d = 4). Emptied by each fold; read by the replay at open.
CREATE TABLE rollup_late (
    first_seq INTEGER PRIMARY KEY,
    entries   BLOB NOT NULL
);
