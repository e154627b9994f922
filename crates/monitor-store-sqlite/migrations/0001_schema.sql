-- agent-monitor SQLite store, schema version 1.
--
-- Times are microseconds since the Unix epoch (UTC). Absent dimensions are NULL.

-- Raw events: one row per event id (the UNIQUE index makes ingest idempotent).
-- `payload` and `tags` are the wire JSON of those parts (tags NULL when there are none);
-- with the columns they rebuild the event exactly as written. The REAL columns hold the
-- rolled-up payload fields (`success` as 1/0) for filters-free aggregation and exactness.
CREATE TABLE events (
    seq                INTEGER PRIMARY KEY,
    id                 TEXT    NOT NULL,
    ts                 INTEGER NOT NULL,
    ingested_at        INTEGER NOT NULL,
    source             TEXT    NOT NULL,
    type               TEXT    NOT NULL,
    project_id         TEXT,
    session_id         TEXT,
    agent_type         TEXT,
    operation          TEXT,
    duration           REAL,
    memory_usage       REAL,
    cpu_usage          REAL,
    success            REAL,
    coordination_score REAL,
    latency_ms         REAL,
    score              REAL,
    payload            TEXT    NOT NULL,
    tags               TEXT
);
CREATE UNIQUE INDEX events_id ON events (id);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_session_ts ON events (session_id, ts) WHERE session_id IS NOT NULL;

-- Rollup keys: the rolled-up dimensions (source, type, project, agent type, operation),
-- numbered once so that rollup rows stay small.
CREATE TABLE rollup_keys (
    key_id     INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    type       TEXT NOT NULL,
    project_id TEXT,
    agent_type TEXT,
    operation  TEXT
);

-- Rollup cells of five minutes: per bucket start and key, the event count and, per rolled-up
-- payload field, count, sum, min, max and the encoded quantile sketch (NULL when no
-- event of the cell carries the field). Maintained in the same transaction as `events`.
CREATE TABLE rollup_5m (
    bucket INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    -- payload.duration
    duration_count INTEGER,
    duration_sum   REAL,
    duration_min   REAL,
    duration_max   REAL,
    duration_sketch BLOB,
    -- payload.memoryUsage
    memory_usage_count INTEGER,
    memory_usage_sum   REAL,
    memory_usage_min   REAL,
    memory_usage_max   REAL,
    memory_usage_sketch BLOB,
    -- payload.cpuUsage
    cpu_usage_count INTEGER,
    cpu_usage_sum   REAL,
    cpu_usage_min   REAL,
    cpu_usage_max   REAL,
    cpu_usage_sketch BLOB,
    -- payload.success
    success_count INTEGER,
    success_sum   REAL,
    success_min   REAL,
    success_max   REAL,
    success_sketch BLOB,
    -- payload.coordinationScore
    coordination_score_count INTEGER,
    coordination_score_sum   REAL,
    coordination_score_min   REAL,
    coordination_score_max   REAL,
    coordination_score_sketch BLOB,
    -- payload.latencyMs
    latency_ms_count INTEGER,
    latency_ms_sum   REAL,
    latency_ms_min   REAL,
    latency_ms_max   REAL,
    latency_ms_sketch BLOB,
    -- payload.score
    score_count INTEGER,
    score_sum   REAL,
    score_min   REAL,
    score_max   REAL,
    score_sketch BLOB,
    PRIMARY KEY (bucket, key_id)
) WITHOUT ROWID;

-- Rollup cells of five minutes with their dimensions spelled out, for people using the sqlite3 shell.
CREATE VIEW rollup_5m_view AS
SELECT k.source, k.type, k.project_id, k.agent_type, k.operation, r.*
FROM rollup_5m AS r JOIN rollup_keys AS k USING (key_id);

-- Rollup cells of one hour: per bucket start and key, the event count and, per rolled-up
-- payload field, count, sum, min, max and the encoded quantile sketch (NULL when no
-- event of the cell carries the field). Maintained in the same transaction as `events`.
CREATE TABLE rollup_1h (
    bucket INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    -- payload.duration
    duration_count INTEGER,
    duration_sum   REAL,
    duration_min   REAL,
    duration_max   REAL,
    duration_sketch BLOB,
    -- payload.memoryUsage
    memory_usage_count INTEGER,
    memory_usage_sum   REAL,
    memory_usage_min   REAL,
    memory_usage_max   REAL,
    memory_usage_sketch BLOB,
    -- payload.cpuUsage
    cpu_usage_count INTEGER,
    cpu_usage_sum   REAL,
    cpu_usage_min   REAL,
    cpu_usage_max   REAL,
    cpu_usage_sketch BLOB,
    -- payload.success
    success_count INTEGER,
    success_sum   REAL,
    success_min   REAL,
    success_max   REAL,
    success_sketch BLOB,
    -- payload.coordinationScore
    coordination_score_count INTEGER,
    coordination_score_sum   REAL,
    coordination_score_min   REAL,
    coordination_score_max   REAL,
    coordination_score_sketch BLOB,
    -- payload.latencyMs
    latency_ms_count INTEGER,
    latency_ms_sum   REAL,
    latency_ms_min   REAL,
    latency_ms_max   REAL,
    latency_ms_sketch BLOB,
    -- payload.score
    score_count INTEGER,
    score_sum   REAL,
    score_min   REAL,
    score_max   REAL,
    score_sketch BLOB,
    PRIMARY KEY (bucket, key_id)
) WITHOUT ROWID;

-- Rollup cells of one hour with their dimensions spelled out, for people using the sqlite3 shell.
CREATE VIEW rollup_1h_view AS
SELECT k.source, k.type, k.project_id, k.agent_type, k.operation, r.*
FROM rollup_1h AS r JOIN rollup_keys AS k USING (key_id);

-- Rollup cells of one day: per bucket start and key, the event count and, per rolled-up
-- payload field, count, sum, min, max and the encoded quantile sketch (NULL when no
-- event of the cell carries the field). Maintained in the same transaction as `events`.
CREATE TABLE rollup_1d (
    bucket INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    -- payload.duration
    duration_count INTEGER,
    duration_sum   REAL,
    duration_min   REAL,
    duration_max   REAL,
    duration_sketch BLOB,
    -- payload.memoryUsage
    memory_usage_count INTEGER,
    memory_usage_sum   REAL,
    memory_usage_min   REAL,
    memory_usage_max   REAL,
    memory_usage_sketch BLOB,
    -- payload.cpuUsage
    cpu_usage_count INTEGER,
    cpu_usage_sum   REAL,
    cpu_usage_min   REAL,
    cpu_usage_max   REAL,
    cpu_usage_sketch BLOB,
    -- payload.success
    success_count INTEGER,
    success_sum   REAL,
    success_min   REAL,
    success_max   REAL,
    success_sketch BLOB,
    -- payload.coordinationScore
    coordination_score_count INTEGER,
    coordination_score_sum   REAL,
    coordination_score_min   REAL,
    coordination_score_max   REAL,
    coordination_score_sketch BLOB,
    -- payload.latencyMs
    latency_ms_count INTEGER,
    latency_ms_sum   REAL,
    latency_ms_min   REAL,
    latency_ms_max   REAL,
    latency_ms_sketch BLOB,
    -- payload.score
    score_count INTEGER,
    score_sum   REAL,
    score_min   REAL,
    score_max   REAL,
    score_sketch BLOB,
    PRIMARY KEY (bucket, key_id)
) WITHOUT ROWID;

-- Rollup cells of one day with their dimensions spelled out, for people using the sqlite3 shell.
CREATE VIEW rollup_1d_view AS
SELECT k.source, k.type, k.project_id, k.agent_type, k.operation, r.*
FROM rollup_1d AS r JOIN rollup_keys AS k USING (key_id);

-- Rollup deltas not yet folded into the rollup tables: one row per write transaction,
-- holding that write's contribution to every cell it touched. Written in the same
-- transaction as the events, so rollup tables + journal always equal the events
-- actually inserted; folded into the tables every few seconds and at close/open.
CREATE TABLE rollup_journal (
    seq    INTEGER PRIMARY KEY,
    deltas BLOB NOT NULL
);

-- Named logs (alert history, notification log, audit): upsert by (log, id).
CREATE TABLE records (
    log  TEXT    NOT NULL,
    id   TEXT    NOT NULL,
    time INTEGER NOT NULL,
    body TEXT    NOT NULL,
    PRIMARY KEY (log, id)
) WITHOUT ROWID;
CREATE INDEX records_log_time ON records (log, time);

-- Small JSON documents by namespace and key (alert states, settings).
CREATE TABLE state (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
