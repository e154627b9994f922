-- Raw events on TimescaleDB (Apache or TSL build): the same three sibling tables as the
-- native schema, made hypertables with 1-hour chunks. A hypertable can neither have nor
-- be an inheritance parent (TimescaleDB refuses both), hence sibling tables and the
-- `metrics_all` view. create_hypertable also creates the (time DESC) index.
-- The pre-2.13 signature is used on purpose: it exists in every 2.x release.

CREATE TABLE metrics (
    time        timestamptz NOT NULL,
    metric_id   text        NOT NULL,
    ingested_at timestamptz NOT NULL,
    source      text        NOT NULL,
    type        text        NOT NULL,
    project_id  text,
    session_id  text,
    agent_type  text,
    operation   text,
    value       jsonb       NOT NULL,
    tags        jsonb       NOT NULL,
    PRIMARY KEY (metric_id, time)
);

CREATE TABLE performance_metrics (
    time        timestamptz NOT NULL,
    metric_id   text        NOT NULL,
    ingested_at timestamptz NOT NULL,
    source      text        NOT NULL,
    type        text        NOT NULL,
    project_id  text,
    session_id  text,
    agent_type  text,
    operation   text,
    value       jsonb       NOT NULL,
    tags        jsonb       NOT NULL,
    duration_ms double precision NOT NULL,
    memory_mb   double precision,
    cpu_percent double precision,
    success     boolean     NOT NULL,
    PRIMARY KEY (metric_id, time)
);

CREATE TABLE coordination_events (
    time        timestamptz NOT NULL,
    metric_id   text        NOT NULL,
    ingested_at timestamptz NOT NULL,
    source      text        NOT NULL,
    type        text        NOT NULL,
    project_id  text,
    session_id  text,
    agent_type  text,
    operation   text,
    value       jsonb       NOT NULL,
    tags        jsonb       NOT NULL,
    manager_id  text        NOT NULL,
    worker_id   text        NOT NULL,
    phase       text        NOT NULL,
    task_id     text,
    coordination_score double precision,
    latency_ms  double precision,
    PRIMARY KEY (metric_id, time)
);

SELECT created FROM create_hypertable('metrics', 'time',
    chunk_time_interval => INTERVAL '1 hour', if_not_exists => TRUE);
SELECT created FROM create_hypertable('performance_metrics', 'time',
    chunk_time_interval => INTERVAL '1 hour', if_not_exists => TRUE);
SELECT created FROM create_hypertable('coordination_events', 'time',
    chunk_time_interval => INTERVAL '1 hour', if_not_exists => TRUE);

CREATE INDEX metrics_session ON metrics (session_id, time DESC);
CREATE INDEX performance_metrics_session ON performance_metrics (session_id, time DESC);
CREATE INDEX coordination_events_session ON coordination_events (session_id, time DESC);

CREATE VIEW metrics_all AS
    SELECT time, metric_id, ingested_at, source, type, project_id, session_id, agent_type, operation, value, tags
      FROM metrics
    UNION ALL
    SELECT time, metric_id, ingested_at, source, type, project_id, session_id, agent_type, operation, value, tags
      FROM performance_metrics
    UNION ALL
    SELECT time, metric_id, ingested_at, source, type, project_id, session_id, agent_type, operation, value, tags
      FROM coordination_events;
