-- Tables shared by every mode: bookkeeping, records, state and the rollup levels.

CREATE TABLE monitor_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Native-mode raw partitions (start inclusive, end exclusive), kept by the store so that
-- retention and on-demand creation never parse partition bounds from the catalog.
CREATE TABLE monitor_partitions (
    parent     text        NOT NULL,
    name       text        NOT NULL,
    range_from timestamptz NOT NULL,
    range_to   timestamptz NOT NULL,
    PRIMARY KEY (parent, name)
);

-- Named logs: alert history, notification log, audit log.
CREATE TABLE monitor_records (
    log  text        NOT NULL,
    id   text        NOT NULL,
    time timestamptz NOT NULL,
    body jsonb       NOT NULL,
    PRIMARY KEY (log, id)
);
CREATE INDEX monitor_records_newest ON monitor_records (log, time DESC, id DESC);

-- Small JSON documents (alert state, rule sets).
CREATE TABLE monitor_state (
    namespace text  NOT NULL,
    key       text  NOT NULL,
    value     jsonb NOT NULL,
    PRIMARY KEY (namespace, key)
);

-- Rollup cells written by ingest transactions and not yet folded into the levels below:
-- 5-minute buckets, full key. Append-only (no index, no conflicts between writers);
-- `maintain` deletes what it folds. Queries add these rows to the levels ("real-time").
-- f0..f6 are the statistics of monitor-core's ROLLUP_FIELDS (duration, memoryUsage,
-- cpuUsage, success, coordinationScore, latencyMs, score): count, sum, min, max and the
-- quantile sketch, encoded by the store; NULL where no event had the field.
CREATE TABLE rollup_pending (
    bucket     timestamptz NOT NULL,
    source     text        NOT NULL,
    type       text        NOT NULL,
    project_id text,
    agent_type text,
    operation  text,
    events     bigint      NOT NULL,
    f0 bytea, f1 bytea, f2 bytea, f3 bytea, f4 bytea, f5 bytea, f6 bytea
);
-- Every fold deletes what it read; vacuum it often so queries never scan dead rows.
ALTER TABLE rollup_pending SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0);

-- One row per (bucket, grain, key). `grain` says which key columns are kept:
-- 0 = source, type, project, agent type, operation; 1 = type; 2 = type, project, operation.
-- Coarse grains let unfiltered and per-project dashboards read few rows.
CREATE TABLE rollup_5m (
    bucket     timestamptz NOT NULL,
    grain      smallint    NOT NULL,
    source     text,
    type       text        NOT NULL,
    project_id text,
    agent_type text,
    operation  text,
    events     bigint      NOT NULL,
    f0 bytea, f1 bytea, f2 bytea, f3 bytea, f4 bytea, f5 bytea, f6 bytea
);
CREATE INDEX rollup_5m_grain_bucket ON rollup_5m (grain, bucket);
CREATE INDEX rollup_5m_grain_project ON rollup_5m (grain, project_id, bucket);
CREATE INDEX rollup_5m_bucket ON rollup_5m (bucket);

CREATE TABLE rollup_1h (LIKE rollup_5m INCLUDING ALL);
CREATE TABLE rollup_1d (LIKE rollup_5m INCLUDING ALL);
