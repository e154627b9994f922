-- Raw events on plain PostgreSQL: three sibling tables range-partitioned by time.
-- INHERITS cannot be combined with partitioning (or hypertables), so each table carries
-- the shared columns itself and `metrics_all` stands in for the seed's parent table.
-- Error and quality events live in `metrics`; performance and coordination events in
-- their typed tables. `value` is the payload as sent (unknown fields included), so
-- events read back exactly; the typed columns serve SQL users and rollups.

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
) PARTITION BY RANGE (time);

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
) PARTITION BY RANGE (time);

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
) PARTITION BY RANGE (time);

CREATE INDEX metrics_time ON metrics (time DESC);
CREATE INDEX performance_metrics_time ON performance_metrics (time DESC);
CREATE INDEX coordination_events_time ON coordination_events (time DESC);
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
