-- Background jobs whose last run failed (surfaced by health()).
SELECT count(*) FROM timescaledb_information.job_stats WHERE last_run_status = 'Failed'
