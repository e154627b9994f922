//! `/healthz`, `/readyz` and Prometheus `/metrics`.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::state::AppState;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            let builder = PrometheusBuilder::new().set_buckets(&buckets).ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "cannot install the Prometheus recorder; /metrics will be empty");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: start-up recovery is done and the store answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let info = state.store.info();
    if !state.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "starting", "store": info })))
            .into_response();
    }
    match state.store.health().await {
        Ok(()) if !state.collector.store_failing() => {
            Json(json!({ "status": "ready", "store": info })).into_response()
        }
        Ok(()) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "store": info, "error": "store writes are failing" })),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "store": info, "error": "store unreachable" })),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    metrics::gauge!("monitor_collector_queue_depth").set(state.collector.queue_depth() as f64);
    metrics::gauge!("monitor_collector_queue_capacity").set(state.collector.capacity() as f64);
    metrics::gauge!("monitor_stream_subscribers").set(state.bus.subscriber_count() as f64);
    metrics::gauge!("monitor_collector_dropped_events").set(state.collector.dropped() as f64);
    let body = prometheus().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
