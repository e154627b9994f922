//! The audit trail: every authenticated read and write and every denied attempt — who,
//! what, which projects, when, outcome — stored through the Store (log `audit`), or
//! appended to `<data_dir>/audit.log` when the store refuses the write.

use std::io::Write;
use std::path::PathBuf;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::Method;
use monitor_core::store::{Record, RecordQuery};
use monitor_core::{StoreRef, Timestamp};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::params;
use crate::query_api::query_pairs;
use crate::state::AppState;

/// The Store log holding audit records.
pub const AUDIT_LOG: &str = "audit";

/// Queues audit records and writes them in batches off the request path.
pub struct Audit {
    tx: Option<mpsc::Sender<Record>>,
}

impl Audit {
    /// An audit trail that records nothing (authentication off).
    pub fn disabled() -> Audit {
        Audit { tx: None }
    }

    /// Starts the writer task.
    pub fn start(store: StoreRef, fallback: PathBuf, shutdown: tokio_util::sync::CancellationToken) -> Audit {
        let (tx, rx) = mpsc::channel(65_536);
        tokio::spawn(writer(store, fallback, rx, shutdown));
        Audit { tx: Some(tx) }
    }

    /// Records one request's outcome.
    pub fn record(
        &self,
        principal: Option<&Principal>,
        method: &Method,
        path: &str,
        detail: Option<String>,
        status: u16,
        reason: Option<String>,
    ) {
        let Some(tx) = &self.tx else { return };
        let now = Timestamp::now();
        let body = json!({
            "time": now,
            "who": principal.map(|p| p.key_id.as_str()),
            "role": principal.map(|p| p.role),
            "action": format!("{method} {path}"),
            "projects": principal.map(|p| p.projects.clone().map_or_else(|| json!("*"), |l| json!(l))),
            "detail": detail,
            "outcome": status,
            "allowed": status < 400,
            "reason": reason,
        });
        let record = Record { id: uuid_like(now), time: now, body };
        if tx.try_send(record).is_err() {
            metrics::counter!("monitor_audit_dropped_total").increment(1);
            tracing::error!("audit queue full; an audit record was not written");
        }
    }
}

fn uuid_like(now: Timestamp) -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    format!("{:016x}-{}", now.as_micros(), bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

async fn writer(
    store: StoreRef,
    fallback: PathBuf,
    mut rx: mpsc::Receiver<Record>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut batch = Vec::with_capacity(1024);
    loop {
        let first = tokio::select! {
            r = rx.recv() => r,
            () = shutdown.cancelled() => { rx.close(); rx.recv().await }
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if let Err(error) = store.put_records(AUDIT_LOG, &batch).await {
            tracing::warn!(%error, "store refused audit records; appending to {}", fallback.display());
            append_file(&fallback, &batch);
        }
        metrics::counter!("monitor_audit_records_total").increment(batch.len() as u64);
        batch.clear();
    }
}

fn append_file(path: &PathBuf, records: &[Record]) {
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        for r in records {
            writeln!(file, "{}", r.body)?;
        }
        file.sync_data()
    })();
    if let Err(error) = result {
        tracing::error!(%error, "cannot write the audit fallback file");
    }
}

/// `GET /api/audit?start=&end=&limit=` (admin): audit records, newest first.
pub async fn get_audit(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let mut query = RecordQuery::default();
    for (key, value) in query_pairs(raw.as_deref())? {
        match key.as_str() {
            "start" => query.start = params::time("start", &value)?,
            "end" => query.end = params::time("end", &value)?,
            "limit" => query.limit = params::positive("limit", &value)?,
            "access_token" => {}
            other => return Err(ApiError::field(other, format!("unknown parameter `{other}`"))),
        }
    }
    let records = state.store.read_records(AUDIT_LOG, query).await?;
    Ok(Json(records.into_iter().map(|r| r.body).collect()))
}
