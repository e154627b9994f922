//! The server's one error type and the one place mapping error kinds to HTTP status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an HTTP client as `{"error":"…","field":"…"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; `field` names the part at fault when there is one.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The parameter or field at fault.
        field: Option<String>,
    },
    /// No credentials, or credentials that are not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing here.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. a provisioned rule).
    #[error("{0}")]
    Conflict(String),
    /// The body is over the size limit.
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The client is sending too fast; retry after the given seconds.
    #[error("rate limit exceeded; retry after {0} s")]
    TooManyRequests(u64),
    /// The server cannot take the work now; nothing was stored; retry after the seconds.
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
        /// Seconds for `Retry-After`.
        retry_after: u64,
    },
    /// Something failed inside; the details go to the log, not to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming a field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), field: Some(field.into()) }
    }

    /// A 400 without a field.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), field: None }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<monitor_core::Error> for ApiError {
    fn from(error: monitor_core::Error) -> Self {
        match error {
            monitor_core::Error::Validation(v) => ApiError::field(v.field.clone(), v.to_string()),
            monitor_core::Error::Query(q) => ApiError::field(q.field.clone(), q.to_string()),
            monitor_core::Error::BufferFull => ApiError::Unavailable {
                message: "ingest buffer is full; nothing was stored".into(),
                retry_after: 1,
            },
            monitor_core::Error::Store { retryable: true, message, .. } => {
                tracing::warn!(%message, "store unavailable");
                ApiError::Unavailable { message: "store is unavailable; retry later".into(), retry_after: 5 }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<monitor_core::query::QueryError> for ApiError {
    fn from(error: monitor_core::query::QueryError) -> Self {
        ApiError::field(error.field.clone(), error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                json!({ "error": "internal error" })
            }
            ApiError::BadRequest { message, field: Some(field) } => {
                json!({ "error": message, "field": field })
            }
            other => json!({ "error": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        let retry = match &self {
            ApiError::TooManyRequests(s) => Some(*s),
            ApiError::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        if let Some(seconds) = retry {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
