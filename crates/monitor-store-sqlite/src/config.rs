//! Settings of a [`SqliteStore`](crate::SqliteStore), as they sit in the server's TOML.

use std::path::PathBuf;

use monitor_core::store::RetentionPolicy;
use monitor_core::time::{MICROS_PER_DAY, format_duration, parse_duration};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// When a committed write reaches the disk (SQLite `PRAGMA synchronous` in WAL mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// The WAL is synced at checkpoints only: a committed write survives a crash or
    /// SIGKILL of the process, but the last commits may be lost if the machine loses power.
    #[default]
    Normal,
    /// The WAL is synced at every commit: a committed write also survives power loss.
    Full,
}

impl Synchronous {
    /// The pragma spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
        }
    }
}

/// Settings of the SQLite store.
///
/// ```toml
/// path = "monitor-data/monitor.db"
/// synchronous = "normal"
/// rollup_memory = "2d"
/// readers = 4
/// cache_mib = 32
/// [retention]
/// raw = "7d"
/// 5m = "30d"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// The database file (default `monitor-data/monitor.db`); it and its parent directory
    /// are created when missing. SQLite keeps `-wal` and `-shm` files beside it.
    pub path: PathBuf,
    /// How long raw events and each rollup level are kept.
    pub retention: RetentionPolicy,
    /// When commits reach the disk: `normal` (default; survives process crashes) or
    /// `full` (also survives power loss, slower).
    pub synchronous: Synchronous,
    /// Rollup cells whose bucket is younger than this (as of the wall clock) are also held
    /// in memory so that queries over recent data need no SQL (default `2d`; `0s` keeps
    /// none and answers every rollup read from the tables).
    #[serde(with = "duration_text")]
    pub rollup_memory: i64,
    /// Reader connections (default 4); the one writer connection is extra.
    pub readers: u32,
    /// SQLite page cache per connection, in MiB (default 32).
    pub cache_mib: u32,
}

const fn default_rollup_memory() -> i64 {
    2 * MICROS_PER_DAY
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            path: PathBuf::from("monitor-data/monitor.db"),
            retention: RetentionPolicy::default(),
            synchronous: Synchronous::Normal,
            rollup_memory: default_rollup_memory(),
            readers: 4,
            cache_mib: 32,
        }
    }
}

impl SqliteConfig {
    /// The default settings with the database at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        SqliteConfig { path: path.into(), ..SqliteConfig::default() }
    }

    /// Checks the settings; the error names the offending one.
    pub fn validate(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::Config("path: empty".into()));
        }
        if self.readers == 0 || self.readers > 64 {
            return Err(Error::Config(format!("readers: {} (expected 1..=64)", self.readers)));
        }
        if self.cache_mib > 65_536 {
            return Err(Error::Config(format!("cache_mib: {} (expected at most 65536)", self.cache_mib)));
        }
        if self.rollup_memory < 0 {
            return Err(Error::Config("rollup_memory: negative".into()));
        }
        Ok(())
    }
}

mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(micros: &i64, s: S) -> Result<S::Ok, S::Error> {
        if *micros == 0 {
            return s.serialize_str("0s");
        }
        s.serialize_str(&super::format_duration(*micros))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a duration like 2d, 12h or 0s")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml_with_defaults_and_rejects_unknown_fields() {
        let config: SqliteConfig = toml::from_str(
            "path = \"/var/lib/monitor/m.db\"\nsynchronous = \"full\"\nrollup_memory = \"12h\"\n[retention]\nraw = \"3d\"\n",
        )
        .unwrap();
        assert_eq!(config.path, PathBuf::from("/var/lib/monitor/m.db"));
        assert_eq!(config.synchronous, Synchronous::Full);
        assert_eq!(config.rollup_memory, 12 * monitor_core::time::MICROS_PER_HOUR);
        assert_eq!(config.retention.raw, 3 * MICROS_PER_DAY);
        assert_eq!(config.retention.five_minutes, RetentionPolicy::default().five_minutes);
        assert_eq!(config.readers, 4);
        config.validate().unwrap();
        assert!(toml::from_str::<SqliteConfig>("pth = \"x\"").is_err());
        assert!(toml::from_str::<SqliteConfig>("synchronous = \"off\"").is_err());
        let empty: SqliteConfig = toml::from_str("").unwrap();
        assert_eq!(empty, SqliteConfig::default());
        assert!(SqliteConfig { readers: 0, ..SqliteConfig::default() }.validate().is_err());
    }
}
