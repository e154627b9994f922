//! The crate's error type and its mapping onto [`monitor_core::Error`].

use std::borrow::Cow;

/// Everything that can go wrong in the PostgreSQL store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database (or the connection to it) failed; see [`Error::is_retryable`].
    #[error("{context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed (including a database set up in another mode).
    #[error("schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be decoded into an event or rollup cell.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The configuration is invalid; the message names the setting.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SQLSTATE codes (or classes, as two-character prefixes) after which the same call may
/// succeed: connection loss, server shutdown or restart, resource exhaustion,
/// serialization failure, deadlock, lock and statement timeouts.
const RETRYABLE_STATES: [&str; 10] = [
    "08",    // connection exception
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "53",    // insufficient resources (too many connections, disk full, out of memory)
    "55P03", // lock_not_available
    "57014", // query_canceled (statement timeout)
    "57P01", // admin_shutdown
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now (starting up, in recovery)
    "58",    // system error (I/O)
];

/// Whether a driver error may go away on retry.
pub(crate) fn sqlx_is_retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| state_is_retryable(&code)),
        _ => false,
    }
}

fn state_is_retryable(code: &str) -> bool {
    RETRYABLE_STATES
        .iter()
        .any(|state| if state.len() == 2 { code.starts_with(state) } else { code == *state })
}

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sql_state(error: &sqlx::Error) -> Option<Cow<'_, str>> {
    match error {
        sqlx::Error::Database(db) => db.code(),
        _ => None,
    }
}

impl Error {
    /// Wraps a driver error with what the store was doing.
    pub(crate) fn db(context: &'static str) -> impl Fn(sqlx::Error) -> Error + Copy {
        move |source| Error::Database { context, source }
    }

    /// Whether the same call may succeed later (the collector's retry loop asks).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database { source, .. } => sqlx_is_retryable(source),
            Error::Migrate(sqlx::migrate::MigrateError::Execute(source)) => sqlx_is_retryable(source),
            Error::Migrate(_) | Error::Corrupt(_) | Error::Config(_) => false,
        }
    }
}

impl From<Error> for monitor_core::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Corrupt(message) => monitor_core::Error::Corrupt(message),
            Error::Config(message) => monitor_core::Error::Config(message),
            other => {
                let retryable = other.is_retryable();
                monitor_core::Error::store_from(format!("postgres: {other}"), retryable, other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sqlstates() {
        for code in ["08006", "08001", "40001", "40P01", "53300", "57P01", "57P03", "57014"] {
            assert!(state_is_retryable(code), "{code}");
        }
        for code in ["23505", "23514", "42601", "42P01", "22P02", "XX000"] {
            assert!(!state_is_retryable(code), "{code}");
        }
        assert!(Error::db("x")(sqlx::Error::PoolTimedOut).is_retryable());
        assert!(!Error::db("x")(sqlx::Error::RowNotFound).is_retryable());
        assert!(!Error::db("x")(sqlx::Error::PoolClosed).is_retryable());
        let core: monitor_core::Error = Error::db("x")(sqlx::Error::PoolTimedOut).into();
        assert!(core.is_retryable());
    }
}
