//! The crate's error type.

use std::path::PathBuf;

use crate::rule::RuleError;

/// Everything that can go wrong in the alert engine.
///
/// The server maps kinds to HTTP status: [`Error::InvalidRule`] → 400 (with the field),
/// [`Error::NotFound`] → 404, [`Error::ReadOnly`] → 409, [`Error::Store`] → 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule broke a validation rule; the error names the JSON field.
    #[error("invalid rule: {0}")]
    InvalidRule(#[from] RuleError),
    /// No rule has this id.
    #[error("no alert rule with id `{0}`")]
    NotFound(String),
    /// The rule comes from the rules file and cannot be changed over the API.
    #[error("alert rule `{0}` comes from the rules file and is read-only; edit the file instead")]
    ReadOnly(String),
    /// The rules file could not be read or holds an invalid rule (named in the message).
    #[error("rules file {path}: {reason}")]
    RulesFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the rule and field where one is at fault.
        reason: String,
    },
    /// The engine configuration is invalid; the message names the setting.
    #[error("invalid alerts configuration: {0}")]
    Config(String),
    /// The store failed while reading or writing alert state, history or rules.
    #[error("alert store error: {0}")]
    Store(#[from] monitor_core::Error),
    /// Stored alert state could not be decoded.
    #[error("corrupt stored alert state `{key}`: {reason}")]
    Corrupt {
        /// The state key.
        key: String,
        /// The decoding error.
        reason: String,
    },
    /// The engine has shut down.
    #[error("alert engine is shut down")]
    Closed,
}

impl Error {
    /// Whether the same call may succeed if tried again (a store hiccup), as opposed to
    /// a caller mistake that never will.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::InvalidRule(_)
            | Error::NotFound(_)
            | Error::ReadOnly(_)
            | Error::RulesFile { .. }
            | Error::Config(_)
            | Error::Corrupt { .. }
            | Error::Closed => false,
        }
    }

    /// The JSON field at fault, for `{"error","field"}` answers.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidRule(e) => Some(&e.field),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
