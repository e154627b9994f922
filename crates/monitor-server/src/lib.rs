//! monitor-server: the agent-monitor reference server.
//!
//! One binary exposing the platform over HTTP: event ingest (JSON, NDJSON, WebSocket),
//! live streams (SSE, WebSocket), queries, health and Prometheus metrics, and the
//! embedded dashboard. [`router`] builds the axum app for a [`AppState`]; [`serve`]
//! runs it on a listener with header timeouts and graceful shutdown.
//!
//! # Layout
//! - [`config`]: the TOML/env/flag configuration; [`state`]: shared state and the cache.
//! - [`ingest`], [`otlp`], [`query_api`], [`analytics_api`], [`stream`], [`ws`], [`health`], [`assets`]: the routes.
//! - [`error`]: `ApiError`, the one place mapping errors to HTTP status.

pub mod alerts_api;
pub mod analytics_api;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod health;
pub mod ingest;
pub mod otlp;
pub mod params;
pub mod query_api;
pub mod state;
pub mod stream;
pub mod ws;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower::{BoxError, ServiceBuilder};

pub use config::{Cli, Config};
pub use error::ApiError;
pub use state::AppState;

/// Builds the application for `state`.
pub fn router(state: AppState) -> Router {
    let timeouts = state.timeouts;
    let max_concurrent = state.config.http.max_concurrent_requests;
    // Request/response routes get a whole-request timeout; live streams do not.
    let bounded = Router::new()
        .route("/api/audit", get(audit::get_audit))
        .route("/api/auth/keys", get(auth::list_keys).post(auth::create_key))
        .route("/api/auth/keys/{id}", axum::routing::delete(auth::delete_key))
        .route("/api/events", post(ingest::post_events))
        .route("/api/events/batch", post(ingest::post_batch))
        .route("/api/metrics/query", get(query_api::get_query).post(query_api::post_query))
        .route("/metrics", get(health::metrics_text))
        .route("/api/alerts", get(alerts_api::active))
        .route("/api/alerts/history", get(alerts_api::history))
        .route("/api/alerts/rules", get(alerts_api::list_rules).post(alerts_api::create_rule))
        .route(
            "/api/alerts/rules/{id}",
            get(alerts_api::get_rule).put(alerts_api::put_rule).delete(alerts_api::delete_rule),
        )
        .route("/api/analytics/anomalies", get(analytics_api::anomalies))
        .route("/api/analytics/trend", get(analytics_api::trend_endpoint))
        .route("/v1/metrics", post(otlp::post_metrics))
        .route("/v1/logs", post(otlp::post_logs))
        .route("/v1/traces", post(otlp::post_traces))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeouts.request,
        ));
    let streaming =
        Router::new().route("/api/metrics/stream", get(stream::sse)).route("/api/ws", get(ws::upgrade));
    Router::new()
        .merge(bounded)
        .merge(streaming)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(assets::dashboard)
        // Everything under /api, /v1 and /metrics needs a key once keys exist.
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::middleware))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(max_concurrent),
        )
        .with_state(state)
}

async fn overloaded(error: BoxError) -> axum::response::Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!("monitor_http_overload_total").increment(1);
        return ApiError::Unavailable {
            message: "server is overloaded; retry shortly".into(),
            retry_after: 1,
        }
        .into_response();
    }
    ApiError::Internal(error.to_string()).into_response()
}

/// Loads a TLS 1.3-only acceptor from PEM files.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("bad TLS key {}: {e}", key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` is
/// cancelled, then lets in-flight requests finish for up to `drain` before returning.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    shutdown: tokio_util::sync::CancellationToken,
    drain: Duration,
) {
    let graceful = std::sync::Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let builder = std::sync::Arc::new(builder);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
        let (builder, graceful) = (builder.clone(), graceful.clone());
        match tls.clone() {
            None => {
                let connection =
                    builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = watched.await {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            metrics::counter!("monitor_tls_handshake_failures_total").increment(1);
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    if let Err(error) = graceful.watch(connection).await {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    let graceful = std::sync::Arc::try_unwrap(graceful).ok();
    if let Some(graceful) = graceful
        && tokio::time::timeout(drain, graceful.shutdown()).await.is_err()
    {
        tracing::warn!("in-flight requests did not finish within the shutdown timeout");
    }
}

/// A server running in this process (tests, embedding): its address and state.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its shared state.
    pub state: AppState,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts a server for `config` on `config.listen` (port 0 picks a free port).
    pub async fn start(config: Config) -> Result<Running, state::StartError> {
        let state = AppState::start(config).await?;
        Running::with_state(state).await
    }

    /// Starts a server for an existing state.
    pub async fn with_state(state: AppState) -> Result<Running, state::StartError> {
        let addr = state.config.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| state::StartError::Other(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| state::StartError::Other(e.to_string()))?;
        let tls = match (&state.config.tls.cert, &state.config.tls.key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key).map_err(state::StartError::Other)?),
            _ => None,
        };
        let app = router(state.clone());
        let shutdown = state.shutdown.clone();
        let (header, drain) = (state.timeouts.header, state.timeouts.shutdown);
        let task = tokio::spawn(serve(listener, app, tls, header, shutdown, drain));
        Ok(Running { addr, state, task })
    }

    /// The base URL, e.g. `http://127.0.0.1:43121` (`https://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.state.config.tls.cert.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Graceful shutdown: stop accepting, finish requests, drain the collector.
    pub async fn shutdown(self) {
        self.state.shutdown.cancel();
        let _ = self.task.await;
        self.state.shutdown().await;
    }
}
