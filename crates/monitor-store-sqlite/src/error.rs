//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong opening or using a [`SqliteStore`](crate::SqliteStore).
///
/// Store methods return [`monitor_core::Error`]; this converts into it with the right
/// `retryable` flag (see [`Error::is_retryable`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the setting.
    #[error("invalid sqlite store configuration: {0}")]
    Config(String),
    /// The data directory or the database file could not be created or opened.
    #[error("cannot open sqlite store {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another store (in this or another process) has the file open; one file has one owner.
    #[error("{} is in use by another agent-monitor store (lock file {} is held)", path.display(), lock.display())]
    InUse {
        /// The database file.
        path: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
    },
    /// The file exists but is not a SQLite database, or SQLite found it corrupt.
    #[error("{} is not a usable SQLite database (not SQLite, or corrupt): {source}", path.display())]
    NotADatabase {
        /// The database file.
        path: PathBuf,
        /// SQLite's own error.
        #[source]
        source: sqlx::Error,
    },
    /// The file is a SQLite database that belongs to another application.
    #[error(
        "{} is a SQLite database of another application (application_id {found:#x}, tables {tables}); refusing to use it",
        path.display()
    )]
    ForeignDatabase {
        /// The database file.
        path: PathBuf,
        /// The `application_id` found in the file header.
        found: i64,
        /// Some of the tables found, for the message.
        tables: String,
    },
    /// Applying the schema migrations failed (for example a file written by a newer version).
    #[error("cannot migrate sqlite store {}: {source}", path.display())]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed.
    #[error("sqlite {context}: {source}")]
    Sqlx {
        /// What the store was doing.
        context: &'static str,
        /// SQLite's error.
        #[source]
        source: sqlx::Error,
    },
    /// A statement run directly on the writer's handle failed.
    #[error("sqlite {context}: {source}")]
    Direct {
        /// What the store was doing.
        context: &'static str,
        /// The rusqlite error.
        #[source]
        source: rusqlite::Error,
    },
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// Wraps a statement error with what the store was doing.
    pub(crate) fn sqlx(context: &'static str, source: sqlx::Error) -> Self {
        Error::Sqlx { context, source }
    }

    /// Whether the same call may succeed later: a busy or locked database, an I/O error,
    /// a full disk or a lost worker may; a constraint violation, corruption or bad
    /// configuration never will.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Sqlx { source, .. } => is_retryable_sqlx(source),
            Error::Direct { source, .. } => match source {
                rusqlite::Error::SqliteFailure(failure, _) => is_retryable_code(failure.extended_code & 0xff),
                _ => false,
            },
            Error::Open { .. }
            | Error::Config(_)
            | Error::InUse { .. }
            | Error::NotADatabase { .. }
            | Error::ForeignDatabase { .. }
            | Error::Migrate { .. }
            | Error::Corrupt(_) => false,
        }
    }
}

/// SQLite primary result codes that may clear up by themselves.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_NOMEM: i32 = 7;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_PROTOCOL: i32 = 15;

/// The SQLite primary result code of a database error (the low byte of the extended code).
pub(crate) fn primary_code(error: &sqlx::Error) -> Option<i32> {
    match error {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff),
        _ => None,
    }
}

/// Whether a sqlx error is transient (see [`Error::is_retryable`]).
pub(crate) fn is_retryable_sqlx(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(_) => primary_code(error).is_some_and(is_retryable_code),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Whether a primary SQLite result code names a passing condition (busy, locked, out of
/// memory, I/O, disk full, cannot open, lock protocol) worth retrying.
fn is_retryable_code(code: i32) -> bool {
    matches!(
        code,
        SQLITE_BUSY
            | SQLITE_LOCKED
            | SQLITE_NOMEM
            | SQLITE_IOERR
            | SQLITE_FULL
            | SQLITE_CANTOPEN
            | SQLITE_PROTOCOL
    )
}

impl From<Error> for monitor_core::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Config(message) => monitor_core::Error::Config(message),
            Error::Corrupt(message) => monitor_core::Error::Corrupt(message),
            other => {
                let retryable = other.is_retryable();
                monitor_core::Error::store_from(other.to_string(), retryable, other)
            }
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{Connection, SqliteConnection};

    use super::*;

    async fn connect(path: &std::path::Path) -> SqliteConnection {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::ZERO);
        SqliteConnection::connect_with(&options).await.unwrap()
    }

    #[tokio::test]
    async fn busy_is_retryable_and_constraint_violations_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let mut a = connect(&path).await;
        let mut b = connect(&path).await;
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY)").execute(&mut a).await.unwrap();
        sqlx::query("INSERT INTO t VALUES ('x')").execute(&mut a).await.unwrap();

        // A real SQLITE_BUSY: another connection holds the write lock.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut a).await.unwrap();
        let busy = sqlx::query("BEGIN IMMEDIATE").execute(&mut b).await.unwrap_err();
        assert_eq!(primary_code(&busy), Some(SQLITE_BUSY));
        let busy = Error::sqlx("writing", busy);
        assert!(busy.is_retryable());
        let core: monitor_core::Error = busy.into();
        assert!(core.is_retryable(), "{core}");
        sqlx::query("COMMIT").execute(&mut a).await.unwrap();

        // A real constraint violation never succeeds on retry.
        let unique = sqlx::query("INSERT INTO t VALUES ('x')").execute(&mut b).await.unwrap_err();
        let unique = Error::sqlx("writing", unique);
        assert!(!unique.is_retryable());
        let core: monitor_core::Error = unique.into();
        assert!(!core.is_retryable(), "{core}");
    }

    #[test]
    fn direct_busy_is_retryable_and_constraint_violations_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let a = rusqlite::Connection::open(&path).unwrap();
        let b = rusqlite::Connection::open(&path).unwrap();
        b.busy_timeout(std::time::Duration::ZERO).unwrap();
        a.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY); INSERT INTO t VALUES ('x');").unwrap();

        a.execute_batch("BEGIN IMMEDIATE").unwrap();
        let busy = b.execute_batch("BEGIN IMMEDIATE").unwrap_err();
        let busy = Error::Direct { context: "inserting events", source: busy };
        assert!(busy.is_retryable(), "{busy}");
        let core: monitor_core::Error = busy.into();
        assert!(core.is_retryable(), "{core}");
        a.execute_batch("COMMIT").unwrap();

        let unique = b.execute("INSERT INTO t VALUES ('x')", []).unwrap_err();
        let unique = Error::Direct { context: "inserting events", source: unique };
        assert!(!unique.is_retryable(), "{unique}");
    }
}
