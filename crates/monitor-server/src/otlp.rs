//! OTLP/HTTP ingest (`/v1/metrics`, `/v1/logs`, `/v1/traces`): work in progress.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `POST /v1/metrics`.
pub async fn post_metrics(State(_state): State<AppState>) -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `POST /v1/logs`.
pub async fn post_logs(State(_state): State<AppState>) -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// `POST /v1/traces`.
pub async fn post_traces(State(_state): State<AppState>) -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
