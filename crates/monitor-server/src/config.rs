//! Server configuration: defaults < TOML file < `MONITOR_*` environment < flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use monitor_core::CollectorConfig;
use monitor_core::store::RetentionPolicy;
use serde::{Deserialize, Serialize};

/// Command-line flags; each also reads its `MONITOR_*` environment variable.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "monitor-server", version, about = "agent-monitor reference server")]
pub struct Cli {
    /// Address to listen on [default: 127.0.0.1:7070].
    #[arg(long, env = "MONITOR_LISTEN")]
    pub listen: Option<String>,
    /// Store: `memory`, `sqlite://PATH` or `postgres://…` [default: a SQLite file in the data dir].
    #[arg(long, env = "MONITOR_STORE")]
    pub store: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "MONITOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite file and other state [default: ./monitor-data].
    #[arg(long, env = "MONITOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// How long shutdown may take to drain, e.g. `30s`.
    #[arg(long, env = "MONITOR_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "MONITOR_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// PEM certificate chain; with `--tls-key`, serve HTTPS (TLS 1.3 only).
    #[arg(long, env = "MONITOR_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "MONITOR_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

/// Everything the server can be told; see `examples/monitor.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// `memory`, `sqlite://PATH` or `postgres://…`; empty means `sqlite://<data_dir>/monitor.db`.
    pub store: String,
    /// Directory for the SQLite file and other local state.
    pub data_dir: PathBuf,
    /// How long a graceful shutdown may take to drain in-flight work, e.g. `30s`.
    pub shutdown_timeout: String,
    /// `text` (default) or `json` log lines.
    pub log_format: String,
    /// HTTP limits and timeouts.
    pub http: HttpConfig,
    /// How long each level of data is kept.
    pub retention: RetentionPolicy,
    /// How often retention (and store maintenance) runs, e.g. `1m`.
    pub maintenance_interval: String,
    /// The ingest buffer, validation limits and redaction rules.
    pub collector: CollectorConfig,
    /// Live streams (SSE, WebSocket).
    pub stream: StreamConfig,
    /// The query result cache.
    pub query: QueryConfig,
    /// API keys, roles, project access and rate limits.
    pub auth: crate::auth::AuthConfig,
    /// HTTPS (TLS 1.3 only) when a certificate and key are given.
    pub tls: TlsConfig,
    /// SQLite store settings (its `path` and `retention` come from `store` and `retention`).
    pub sqlite: monitor_store_sqlite::SqliteConfig,
    /// The alert engine: rules file, external URL, delivery and SMTP settings.
    pub alerts: monitor_alerts::AlertsConfig,
    /// PostgreSQL store settings (its `url` and `retention` come from `store` and
    /// `retention` when those are set).
    pub postgres: Option<monitor_store_timescale::PgConfig>,
}

/// `[tls]`: certificate and key files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:7070".into(),
            store: String::new(),
            data_dir: PathBuf::from("./monitor-data"),
            shutdown_timeout: "30s".into(),
            log_format: "text".into(),
            http: HttpConfig::default(),
            retention: RetentionPolicy::default(),
            maintenance_interval: "1m".into(),
            collector: CollectorConfig::default(),
            stream: StreamConfig::default(),
            query: QueryConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            tls: TlsConfig::default(),
            alerts: monitor_alerts::AlertsConfig::default(),
            sqlite: monitor_store_sqlite::SqliteConfig::default(),
            postgres: None,
        }
    }
}

/// HTTP limits and timeouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body in bytes (a 10,000-event batch must fit); larger gets 413.
    pub max_body_bytes: usize,
    /// Time allowed to send the request headers (slow clients are cut off), e.g. `10s`.
    pub header_timeout: String,
    /// Time allowed for a whole non-streaming request, body included, e.g. `60s`.
    pub request_timeout: String,
    /// Longest an ingest request waits for its events to be stored before answering 503.
    pub ingest_timeout: String,
    /// Most requests served at once; beyond it requests get 503 with Retry-After.
    pub max_concurrent_requests: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 16 * 1024 * 1024,
            header_timeout: "10s".into(),
            request_timeout: "60s".into(),
            ingest_timeout: "30s".into(),
            max_concurrent_requests: 2_048,
        }
    }
}

/// Live stream settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Interval of SSE keep-alive comments and WebSocket pings, e.g. `15s`.
    pub keepalive: String,
    /// Recent messages kept for `Last-Event-ID` resume.
    pub history: usize,
    /// Messages a subscriber may fall behind before it is told it lagged.
    pub subscriber_buffer: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig { keepalive: "15s".into(), history: 10_000, subscriber_buffer: 16_384 }
    }
}

/// Query result cache settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Answers kept in the cache (0 turns it off).
    pub cache_entries: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig { cache_entries: 256 }
    }
}

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    /// The setting at fault.
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

fn bad(setting: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting: setting.into(), reason: reason.into() }
}

/// Parses a duration setting such as `30s`.
pub fn duration(setting: &str, text: &str) -> Result<Duration, ConfigError> {
    let micros = monitor_core::time::parse_duration(text)
        .ok_or_else(|| bad(setting, format!("`{text}` is not a duration like 500ms, 30s, 5m or 1h")))?;
    Ok(Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
}

impl Config {
    /// Loads the file (if any) and applies environment and flags over it.
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = &cli.listen {
            config.listen = v.clone();
        }
        if let Some(v) = &cli.store {
            config.store = v.clone();
        }
        if let Some(v) = &cli.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = &cli.shutdown_timeout {
            config.shutdown_timeout = v.clone();
        }
        if let Some(v) = &cli.log_format {
            config.log_format = v.clone();
        }
        if let Some(v) = &cli.tls_cert {
            config.tls.cert = Some(v.clone());
        }
        if let Some(v) = &cli.tls_key {
            config.tls.key = Some(v.clone());
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad("config", format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| bad("config", format!("{}: {e}", path.display())))
    }

    /// Checks every setting and says which one is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        duration("shutdown_timeout", &self.shutdown_timeout)?;
        duration("maintenance_interval", &self.maintenance_interval)?;
        duration("http.header_timeout", &self.http.header_timeout)?;
        duration("http.request_timeout", &self.http.request_timeout)?;
        duration("http.ingest_timeout", &self.http.ingest_timeout)?;
        duration("stream.keepalive", &self.stream.keepalive)?;
        if self.http.max_body_bytes < 1024 {
            return Err(bad("http.max_body_bytes", "must be at least 1024"));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(bad("log_format", "must be `text` or `json`"));
        }
        self.store_url()?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(bad("tls", "give both a certificate (--tls-cert) and a key (--tls-key)"));
        }
        if self.collector.capacity == 0 || self.collector.batch_size == 0 {
            return Err(bad("collector", "capacity and batch_size must be at least 1"));
        }
        Ok(())
    }

    /// The listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| bad("listen", format!("`{}` is not an address like 127.0.0.1:7070", self.listen)))
    }

    /// The store URL with the default applied.
    pub fn store_url(&self) -> Result<StoreUrl, ConfigError> {
        let text = self.store.trim();
        if text.is_empty() {
            if let Some(pg) = &self.postgres {
                return Ok(StoreUrl::Postgres(pg.url.clone()));
            }
            return Ok(StoreUrl::Sqlite(self.data_dir.join("monitor.db")));
        }
        if text == "memory" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("store", "sqlite:// needs a path, e.g. sqlite://./monitor-data/monitor.db"));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(text.to_owned()));
        }
        Err(bad("store", format!("`{text}` is not `memory`, `sqlite://PATH` or `postgres://…`")))
    }
}

/// Which store to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The in-memory store.
    Memory,
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL/TimescaleDB URL.
    Postgres(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_file_then_env_or_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("monitor.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nstore = \"memory\"\n[http]\nmax_body_bytes = 2048\n",
        )
        .unwrap();
        let cli =
            Cli { config: Some(file.clone()), listen: Some("127.0.0.1:9100".into()), ..Default::default() };
        let config = Config::load(&cli).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9100", "flag/env beats the file");
        assert_eq!(config.store_url().unwrap(), StoreUrl::Memory, "file beats defaults");
        assert_eq!(config.http.max_body_bytes, 2048);
        assert_eq!(
            Config::default().store_url().unwrap(),
            StoreUrl::Sqlite(PathBuf::from("./monitor-data/monitor.db"))
        );
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nbogus = 1\n").unwrap();
        let err = Config::load(&Cli { config: Some(file), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let bad = Config { store: "mysql://x".into(), ..Default::default() };
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/monitor.toml");
        let shipped = Config::from_file(&example).unwrap();
        shipped.validate().unwrap();
        assert_eq!(shipped.collector.redaction.field_names, vec!["customerId"]);
        let defaults_only: Config = toml::from_str(
            &std::fs::read_to_string(&example)
                .unwrap()
                .replace("field_names = [\"customerId\"]", "field_names = []")
                .replace("patterns = ['INV-\\d{6}']", "patterns = []"),
        )
        .unwrap();
        assert_eq!(defaults_only, Config::default(), "the example file documents the defaults");
        assert_eq!(bad.validate().unwrap_err().setting, "store");
    }
}
