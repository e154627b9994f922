-- agent-monitor SQLite store, schema version 2: the session index as runs.
--
-- The per-row index on events (session_id, ts) had one hot leaf page per active session,
-- so each write dirtied and split a page per session; with a few hundred active sessions
-- it cost more than the rest of the insert. A session's events are now listed as runs of
-- their `seq`, one row per session per fold (see src/sessions.rs); the store rebuilds the
-- runs of events past the `sessions` mark when it opens (all of them, the first time).
DROP INDEX events_session_ts;

-- Per session and fold, the `seq` of its events (ascending, varint deltas) and their
-- time span; `last_seq` is the run's last `seq`.
CREATE TABLE session_runs (
    session_id TEXT    NOT NULL,
    last_seq   INTEGER NOT NULL,
    min_ts     INTEGER NOT NULL,
    max_ts     INTEGER NOT NULL,
    seqs       BLOB    NOT NULL,
    PRIMARY KEY (session_id, last_seq)
) WITHOUT ROWID;

-- Progress marks of background work, by name: `sessions` is the last event `seq` whose
-- session runs are stored.
CREATE TABLE marks (
    name TEXT    PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;
