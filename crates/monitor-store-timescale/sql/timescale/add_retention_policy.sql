-- TSL: $2 is the retention in microseconds. One policy per hypertable or aggregate.
SELECT add_retention_policy($1::regclass, drop_after => $2::bigint * INTERVAL '1 microsecond',
                            if_not_exists => true)
