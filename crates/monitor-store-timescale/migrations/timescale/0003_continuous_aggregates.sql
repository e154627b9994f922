-- TimescaleDB under the Timescale License only (continuous aggregates and compression
-- are TSL features). Written against the TimescaleDB 2.x docs; not run on CI, which has
-- plain PostgreSQL. `WITH NO DATA` keeps this migration transactional (creating a
-- continuous aggregate WITH DATA refuses to run in a transaction block); the refresh
-- policies added at start fill them.
--
-- These aggregates serve SQL users and dashboards reading PostgreSQL directly. The
-- store's own answers come from rollup_5m/1h/1d in every mode, because percentiles need
-- mergeable sketches, which continuous aggregates cannot hold without the Toolkit.

CREATE MATERIALIZED VIEW performance_5m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '5 minutes', time) AS bucket, project_id, agent_type, operation,
       count(*) AS n,
       sum(duration_ms) AS sum_ms,
       sum(duration_ms * duration_ms) AS sumsq_ms,
       min(duration_ms) AS min_ms,
       max(duration_ms) AS max_ms,
       count(*) FILTER (WHERE NOT success) AS failures
  FROM performance_metrics
 GROUP BY 1, 2, 3, 4
WITH NO DATA;

-- Hierarchical (TimescaleDB >= 2.9): re-aggregates only mergeable partials.
CREATE MATERIALIZED VIEW performance_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, project_id, agent_type, operation,
       sum(n) AS n, sum(sum_ms) AS sum_ms, sum(sumsq_ms) AS sumsq_ms,
       min(min_ms) AS min_ms, max(max_ms) AS max_ms, sum(failures) AS failures
  FROM performance_5m
 GROUP BY 1, 2, 3, 4
WITH NO DATA;

CREATE MATERIALIZED VIEW performance_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, project_id, agent_type, operation,
       sum(n) AS n, sum(sum_ms) AS sum_ms, sum(sumsq_ms) AS sumsq_ms,
       min(min_ms) AS min_ms, max(max_ms) AS max_ms, sum(failures) AS failures
  FROM performance_1h
 GROUP BY 1, 2, 3, 4
WITH NO DATA;

-- Compression of old chunks (old option names, accepted from 2.0 through 2.2x).
ALTER TABLE metrics SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'type', timescaledb.compress_orderby = 'time DESC');
ALTER TABLE performance_metrics SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'project_id', timescaledb.compress_orderby = 'time DESC');
ALTER TABLE coordination_events SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'project_id', timescaledb.compress_orderby = 'time DESC');
