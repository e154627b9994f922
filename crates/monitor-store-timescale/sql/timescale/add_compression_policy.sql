-- TSL: compress chunks older than a day (2.18+ also spells this add_columnstore_policy).
SELECT add_compression_policy($1::regclass, compress_after => INTERVAL '1 day', if_not_exists => true)
