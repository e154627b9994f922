//! The crate's error type.

use crate::query::QueryError;
use crate::validate::ValidationError;

/// Everything that can go wrong in monitor-core and in the stores built on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An event broke a validation rule; the error names the field.
    #[error("invalid event: {0}")]
    Validation(#[from] ValidationError),
    /// A query is malformed; the error names the parameter.
    #[error("invalid query: {0}")]
    Query(#[from] QueryError),
    /// The collector's buffer is full and its policy is to refuse new events.
    #[error("collector buffer is full")]
    BufferFull,
    /// The collector or bus has shut down.
    #[error("collector is shut down")]
    Closed,
    /// A store backend failed. `retryable` says whether the same call may succeed later
    /// (a lost connection, a locked database) or never will (a constraint violation).
    #[error("store error: {message}")]
    Store {
        /// What failed, for logs.
        message: String,
        /// Whether trying again may succeed.
        retryable: bool,
        /// The backend's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Configuration is invalid; the message names the setting.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// A store error without an underlying cause.
    pub fn store(message: impl Into<String>, retryable: bool) -> Self {
        Error::Store { message: message.into(), retryable, source: None }
    }

    /// A store error wrapping the backend's error.
    pub fn store_from(
        message: impl Into<String>,
        retryable: bool,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Store { message: message.into(), retryable, source: Some(Box::new(source)) }
    }

    /// Whether the same call may succeed if tried again; the collector's retry loop asks.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store { retryable, .. } => *retryable,
            Error::BufferFull => true,
            Error::Validation(_) | Error::Query(_) | Error::Closed | Error::Corrupt(_) | Error::Config(_) => {
                false
            }
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
