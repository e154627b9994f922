-- Retention on hypertables (Apache and TSL): drop chunks wholly older than the cutoff.
SELECT count(*) FROM drop_chunks($1::regclass, older_than => $2::timestamptz)
