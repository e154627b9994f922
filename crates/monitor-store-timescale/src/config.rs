//! Settings of a [`PgStore`](crate::PgStore) and the mode it runs in.

use std::fmt;
use std::time::Duration;

use monitor_core::store::RetentionPolicy;
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Settings of the PostgreSQL store (`[store.postgres]` in the server's TOML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgConfig {
    /// Connection URL, e.g. `postgres://monitor@db.internal/monitor?sslmode=require`.
    pub url: String,
    /// How long raw events and each rollup level are kept (raw 7 d, 5m 30 d, 1h 365 d, 1d 5 y).
    #[serde(default)]
    pub retention: RetentionPolicy,
    /// Most pooled connections (default 8).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// How long a call waits for a pooled connection before failing retryably (default 10s).
    #[serde(default = "default_acquire_timeout", with = "duration_text")]
    pub acquire_timeout: i64,
    /// Width of a raw partition in native mode (default 1d; whole hours dividing a day,
    /// or whole days). TimescaleDB modes always use 1-hour chunks.
    #[serde(default = "default_partition_interval", with = "duration_text")]
    pub partition_interval: i64,
    /// Partitions `maintain` creates ahead of now in native mode (default 2).
    #[serde(default = "default_partitions_ahead")]
    pub partitions_ahead: u32,
    /// Use TimescaleDB when the `timescaledb` extension is installed in the database
    /// (default true); false forces native partitioning.
    #[serde(default = "default_true")]
    pub timescaledb: bool,
}

const fn default_pool_size() -> u32 {
    8
}
const fn default_acquire_timeout() -> i64 {
    10_000_000
}
const fn default_partition_interval() -> i64 {
    MICROS_PER_DAY
}
const fn default_partitions_ahead() -> u32 {
    2
}
const fn default_true() -> bool {
    true
}

impl PgConfig {
    /// Defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            retention: RetentionPolicy::default(),
            pool_size: default_pool_size(),
            acquire_timeout: default_acquire_timeout(),
            partition_interval: default_partition_interval(),
            partitions_ahead: default_partitions_ahead(),
            timescaledb: true,
        }
    }

    /// Checks every setting; the error names the one at fault.
    pub fn validate(&self) -> Result<()> {
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(Error::Config("url: expected postgres://…".into()));
        }
        if self.pool_size == 0 {
            return Err(Error::Config("pool_size: must be at least 1".into()));
        }
        if self.acquire_timeout <= 0 {
            return Err(Error::Config("acquire_timeout: must be positive".into()));
        }
        let p = self.partition_interval;
        let fits = p > 0 && p % MICROS_PER_HOUR == 0 && (MICROS_PER_DAY % p == 0 || p % MICROS_PER_DAY == 0);
        if !fits || p > 31 * MICROS_PER_DAY {
            return Err(Error::Config(
                "partition_interval: whole hours dividing a day (1h, 2h, …, 12h) or 1d … 31d".into(),
            ));
        }
        Ok(())
    }

    /// The pool's acquire timeout.
    pub(crate) fn acquire_timeout(&self) -> Duration {
        Duration::from_micros(u64::try_from(self.acquire_timeout).unwrap_or(10_000_000))
    }
}

/// How the store runs on this database, detected at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// TimescaleDB under the Timescale License: hypertables, continuous aggregates,
    /// retention and compression policies.
    Timescale,
    /// TimescaleDB's Apache-2 build: hypertables and `drop_chunks`, the store's own rollups.
    TimescaleApache,
    /// Plain PostgreSQL: native range partitions, the store's own rollups, partition drops.
    Native,
}

impl Mode {
    /// The name reported in `StoreInfo::mode` and stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Timescale => "timescaledb",
            Mode::TimescaleApache => "timescaledb-apache",
            Mode::Native => "native-partitioning",
        }
    }

    /// Whether raw tables are hypertables.
    pub const fn uses_hypertables(self) -> bool {
        !matches!(self, Mode::Native)
    }

    /// Picks the mode from the installed extension version and `timescaledb.license`.
    pub fn detect(extension_version: Option<&str>, license: Option<&str>) -> Mode {
        match (extension_version, license) {
            (None, _) => Mode::Native,
            (Some(_), Some("apache")) => Mode::TimescaleApache,
            (Some(_), _) => Mode::Timescale,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

mod duration_text {
    use monitor_core::time::{format_duration, parse_duration};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(micros: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*micros))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).filter(|m| *m > 0).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a duration like 1d, 12h or 30s"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let config: PgConfig = serde_json::from_str(r#"{"url":"postgres://u@h/db"}"#).unwrap();
        assert_eq!(config, PgConfig::new("postgres://u@h/db"));
        config.validate().unwrap();
        let custom: PgConfig = serde_json::from_str(
            r#"{"url":"postgres://h/db","partition_interval":"6h","retention":{"raw":"3d"},"pool_size":2}"#,
        )
        .unwrap();
        assert_eq!(custom.partition_interval, 6 * MICROS_PER_HOUR);
        assert_eq!(custom.retention.raw, 3 * MICROS_PER_DAY);
        custom.validate().unwrap();
        assert!(serde_json::from_str::<PgConfig>(r#"{"url":"postgres://h/db","nope":1}"#).is_err());
        let mut bad = PgConfig::new("postgres://h/db");
        bad.partition_interval = 5 * MICROS_PER_HOUR;
        assert!(bad.validate().unwrap_err().to_string().contains("partition_interval"));
        assert!(PgConfig::new("mysql://h").validate().is_err());
    }

    #[test]
    fn mode_detection() {
        assert_eq!(Mode::detect(None, None), Mode::Native);
        assert_eq!(Mode::detect(None, Some("timescale")), Mode::Native);
        assert_eq!(Mode::detect(Some("2.17.2"), Some("apache")), Mode::TimescaleApache);
        assert_eq!(Mode::detect(Some("2.17.2"), Some("timescale")), Mode::Timescale);
        assert_eq!(Mode::detect(Some("2.17.2"), None), Mode::Timescale);
    }
}
