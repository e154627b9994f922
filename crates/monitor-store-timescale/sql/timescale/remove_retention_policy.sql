-- TSL: replace a retention policy so that a changed setting takes effect.
SELECT remove_retention_policy($1::regclass, if_exists => true)
