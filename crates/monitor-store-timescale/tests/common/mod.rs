//! Test support: a fresh database per test on the server named by `DATABASE_URL`.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};

use monitor_store_timescale::{PgConfig, PgStore};
use sqlx::{Connection, PgConnection};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database created for one test and dropped by [`TestDb::drop_db`].
pub struct TestDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

/// The server's URL, or `None` (after saying why) when `DATABASE_URL` is unset.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "DATABASE_URL is not set: PostgreSQL tests need a server; run them with \
                 `scripts/with-postgres.sh cargo test -p monitor-store-timescale`"
            );
            None
        }
    }
}

impl TestDb {
    /// Creates a uniquely named database; panics (fails the test) when the server named by
    /// `DATABASE_URL` cannot be reached. `None` only when `DATABASE_URL` is unset.
    pub async fn create() -> Option<TestDb> {
        let admin_url = database_url()?;
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("DATABASE_URL is set but the server is unreachable: {e}"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("t_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(TestDb { admin_url, name, url })
    }

    /// The default configuration for this database.
    pub fn config(&self) -> PgConfig {
        let mut config = PgConfig::new(&self.url);
        config.pool_size = 6;
        config
    }

    /// A connected store.
    pub async fn store(&self) -> PgStore {
        PgStore::connect(self.config()).await.unwrap_or_else(|e| panic!("connecting the store: {e}"))
    }

    /// Drops the database (closing any connections still open).
    pub async fn drop_db(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
            let _ = admin.close().await;
        }
    }
}
