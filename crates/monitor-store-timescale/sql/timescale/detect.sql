-- Which TimescaleDB (if any) this database runs: extension version and license.
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS version,
       current_setting('timescaledb.license', true) AS license
