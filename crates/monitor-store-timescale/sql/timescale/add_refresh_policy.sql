-- TSL: refresh window [now - $2, now - $3) every $4 (all microseconds). The window must
-- cover two buckets and stay well inside raw retention, or a refresh over dropped chunks
-- would delete aggregated rows.
SELECT add_continuous_aggregate_policy($1::regclass,
    start_offset      => $2::bigint * INTERVAL '1 microsecond',
    end_offset        => $3::bigint * INTERVAL '1 microsecond',
    schedule_interval => $4::bigint * INTERVAL '1 microsecond',
    if_not_exists     => true)
