//! Shared server state: the store, collector, bus, query cache and settings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use monitor_core::store::MemoryStoreConfig;
use monitor_core::{Bus, Collector, Query, QueryResult, StoreRef, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, StoreUrl, duration};

/// Durations parsed once from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Header read timeout.
    pub header: Duration,
    /// Whole-request timeout for non-streaming routes.
    pub request: Duration,
    /// How long ingest waits for durability.
    pub ingest: Duration,
    /// Keep-alive interval of live streams.
    pub keepalive: Duration,
    /// Graceful shutdown budget.
    pub shutdown: Duration,
    /// Retention and maintenance interval.
    pub maintenance: Duration,
}

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The shared parts.
pub struct Inner {
    /// The configuration the server runs with.
    pub config: Config,
    /// Parsed durations.
    pub timeouts: Timeouts,
    /// Where events live.
    pub store: StoreRef,
    /// The ingest pipeline.
    pub collector: Collector,
    /// Realtime fan-out.
    pub bus: Bus,
    /// Recent query answers.
    pub cache: QueryCache,
    /// Set once start-up recovery is done; `/readyz` reports it.
    pub ready: AtomicBool,
    /// Cancelled when the server shuts down; long-lived streams end on it.
    pub shutdown: CancellationToken,
    /// Keys, roles and rate limits.
    pub auth: crate::auth::Auth,
    /// The audit trail (records nothing when authentication is off).
    pub audit: crate::audit::Audit,
    /// The alert engine (evaluates every event on the bus).
    pub alerts: monitor_alerts::AlertEngine,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is wrong.
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(String),
    /// Something else failed at start.
    #[error("{0}")]
    Other(String),
}

impl AppState {
    /// Opens the store and starts the pipeline. Call inside a tokio runtime.
    pub async fn start(config: Config) -> Result<AppState, StartError> {
        config.validate()?;
        let opened = open_store(&config).await?;
        let state = AppState::with_store(config, opened.store).await?;
        if let Some(maintain) = opened.maintain {
            state.spawn_upkeep(maintain);
        }
        Ok(state)
    }

    fn spawn_upkeep(&self, maintain: Maintain) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.timeouts.maintenance);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = state.shutdown.cancelled() => break,
                }
                if let Err(error) = maintain(Timestamp::now()).await {
                    tracing::warn!(%error, "store maintenance failed");
                }
            }
        });
    }

    /// Starts the pipeline on an already opened store.
    pub async fn with_store(config: Config, store: StoreRef) -> Result<AppState, StartError> {
        let timeouts = Timeouts {
            header: duration("http.header_timeout", &config.http.header_timeout)?,
            request: duration("http.request_timeout", &config.http.request_timeout)?,
            ingest: duration("http.ingest_timeout", &config.http.ingest_timeout)?,
            keepalive: duration("stream.keepalive", &config.stream.keepalive)?,
            shutdown: duration("shutdown_timeout", &config.shutdown_timeout)?,
            maintenance: duration("maintenance_interval", &config.maintenance_interval)?,
        };
        // Counters recorded before the recorder exists are lost, so install it first.
        crate::health::prometheus();
        let bus = Bus::with_history(config.stream.subscriber_buffer, config.stream.history);
        let collector = Collector::start(store.clone(), bus.clone(), config.collector.clone())
            .map_err(|e| StartError::Other(e.to_string()))?;
        let cache = QueryCache::new(config.query.cache_entries);
        let stored_keys = store
            .load_state(crate::auth::KEYS_NAMESPACE)
            .await
            .map_err(|e| StartError::Store(format!("cannot load API keys: {e}")))?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value::<crate::auth::KeyConfig>(v).ok())
            .collect();
        let auth = crate::auth::Auth::new(&config.auth, stored_keys).map_err(StartError::Other)?;
        let addr = config.listen_addr()?;
        if !auth.enabled() && !addr.ip().is_loopback() {
            return Err(StartError::Other(format!(
                "refusing to listen on {addr} without API keys: anyone on the network could read and write. \
                 Add a key to the config file, e.g.\n\n  [[auth.keys]]\n  id = \"admin\"\n  hash = \"sha256:<output of: printf %s YOUR-KEY | sha256sum>\"\n  role = \"admin\"\n  projects = [\"*\"]\n\nor listen on 127.0.0.1"
            )));
        }
        let shutdown = CancellationToken::new();
        let audit = if auth.enabled() {
            crate::audit::Audit::start(store.clone(), config.data_dir.join("audit.log"), shutdown.clone())
        } else {
            crate::audit::Audit::disabled()
        };
        let alerts = monitor_alerts::AlertEngine::start(store.clone(), bus.clone(), config.alerts.clone())
            .await
            .map_err(|e| StartError::Other(format!("cannot start the alert engine: {e}")))?;
        let state = AppState {
            inner: Arc::new(Inner {
                config,
                timeouts,
                store,
                collector,
                bus,
                cache,
                ready: AtomicBool::new(false),
                shutdown,
                auth,
                audit,
                alerts,
            }),
        };
        state.spawn_maintenance();
        state.ready.store(true, Ordering::Release);
        Ok(state)
    }

    fn spawn_maintenance(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.timeouts.maintenance);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = state.shutdown.cancelled() => break,
                }
                match state.store.apply_retention(Timestamp::now()).await {
                    Ok(report) if report.raw_removed + report.rollup_removed > 0 => {
                        state.cache.clear();
                        tracing::info!(
                            raw = report.raw_removed,
                            rollups = report.rollup_removed,
                            "retention removed data"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "retention failed"),
                }
            }
        });
    }

    /// Stops accepting work, ends live streams and drains the collector to the store.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.ready.store(false, Ordering::Release);
        if let Err(error) = self.collector.shutdown().await {
            tracing::error!(%error, "collector did not drain cleanly");
        }
        self.alerts.shutdown().await;
    }
}

/// Periodic store-specific upkeep (PostgreSQL: partitions ahead, rollup folding).
pub type Maintain =
    Arc<dyn Fn(Timestamp) -> futures_util::future::BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// An opened store and its upkeep task, if it has one.
pub struct OpenedStore {
    /// The store.
    pub store: StoreRef,
    /// Called every maintenance interval besides retention.
    pub maintain: Option<Maintain>,
}

/// Opens the store the configuration names.
pub async fn open_store(config: &Config) -> Result<OpenedStore, StartError> {
    match config.store_url()? {
        StoreUrl::Memory => Ok(OpenedStore {
            store: Arc::new(monitor_core::store::MemoryStore::new(MemoryStoreConfig {
                retention: config.retention,
                ..MemoryStoreConfig::default()
            })),
            maintain: None,
        }),
        StoreUrl::Sqlite(path) => {
            let sqlite = monitor_store_sqlite::SqliteConfig {
                path,
                retention: config.retention,
                ..config.sqlite.clone()
            };
            let store = monitor_store_sqlite::SqliteStore::open(sqlite)
                .await
                .map_err(|e| StartError::Store(e.to_string()))?;
            Ok(OpenedStore { store: Arc::new(store), maintain: None })
        }
        StoreUrl::Postgres(url) => {
            let base = config
                .postgres
                .clone()
                .unwrap_or_else(|| monitor_store_timescale::PgConfig::new(url.clone()));
            let pg = monitor_store_timescale::PgConfig { url, retention: config.retention, ..base };
            let store = Arc::new(
                monitor_store_timescale::PgStore::connect(pg)
                    .await
                    .map_err(|e| StartError::Store(e.to_string()))?,
            );
            let upkeep = store.clone();
            let maintain: Maintain = Arc::new(move |now| {
                let store = upkeep.clone();
                Box::pin(async move { store.maintain(now).await.map(|_| ()).map_err(|e| e.to_string()) })
            });
            Ok(OpenedStore { store, maintain: Some(maintain) })
        }
    }
}

struct CacheEntry {
    result: Arc<QueryResult>,
    start: Timestamp,
    end: Timestamp,
    used: u64,
}

/// A small LRU cache of query answers. A write invalidates every cached answer whose
/// range covers the written events' times, and an answer computed while a write landed
/// is not cached, so a cached answer is never stale.
pub struct QueryCache {
    capacity: usize,
    entries: Mutex<HashMap<String, CacheEntry>>,
    generation: AtomicU64,
    clock: AtomicU64,
}

impl QueryCache {
    /// A cache holding up to `capacity` answers (0 disables it).
    pub fn new(capacity: usize) -> Self {
        QueryCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            clock: AtomicU64::new(0),
        }
    }

    /// The cache key of a query.
    pub fn key(query: &Query) -> String {
        format!("{query:?}")
    }

    /// The current write generation; pass it back to [`QueryCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A cached answer.
    pub fn get(&self, key: &str) -> Option<Arc<QueryResult>> {
        if self.capacity == 0 {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(key)?;
        entry.used = self.clock.fetch_add(1, Ordering::Relaxed);
        Some(entry.result.clone())
    }

    /// Caches an answer computed at write generation `generation` (dropped if a write
    /// happened since).
    pub fn put(&self, key: String, query: &Query, result: Arc<QueryResult>, generation: u64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.capacity
            && !entries.contains_key(&key)
            && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        entries.insert(key, CacheEntry { result, start: query.start, end: query.end, used });
    }

    /// Drops answers whose range overlaps `[min, max]` (the written events' times).
    pub fn invalidate(&self, min: Timestamp, max: Timestamp) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| e.end <= min || e.start > max);
    }

    /// Drops everything (after retention).
    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}
