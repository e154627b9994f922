//! Event ingest: `POST /api/events` (object or array), `POST /api/events/batch`
//! (NDJSON, parsed as it streams in), and the pipeline shared with the WebSocket.
//!
//! Every path ends in [`ingest`]: validate, enrich and redact each event, buffer the
//! good ones all together or not at all, then wait until the store has them before
//! answering `202` — so `202` means durable and visible. Overload answers `503` with
//! `Retry-After` and then nothing of the request was stored.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use monitor_core::validate::{ValidationError, event_from_slice};
use monitor_core::{EventRef, MetricEvent, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::auth::{AuditNote, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// One rejected event of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rejected {
    /// Position of the event in the request (NDJSON: counting non-blank lines).
    pub index: usize,
    /// Why it was rejected, naming the field.
    pub error: String,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The answer to an ingest request: `accepted + rejected.len()` = events sent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Events stored (an id already stored counts as accepted).
    pub accepted: usize,
    /// Events refused, with index and reason.
    pub rejected: Vec<Rejected>,
    /// Events refused because the key may not write their project.
    #[serde(skip)]
    pub forbidden: usize,
    /// Projects written, for the audit trail.
    #[serde(skip)]
    pub projects: std::collections::BTreeSet<String>,
}

impl IntoResponse for IngestOutcome {
    fn into_response(self) -> Response {
        let status = match (self.accepted, self.forbidden) {
            (0, f) if f > 0 && f == self.rejected.len() => StatusCode::FORBIDDEN,
            (0, _) => StatusCode::BAD_REQUEST,
            _ => StatusCode::ACCEPTED,
        };
        let note = AuditNote(format!(
            "accepted={} rejected={} projects={}",
            self.accepted,
            self.rejected.len(),
            self.projects.iter().cloned().collect::<Vec<_>>().join(",")
        ));
        let mut body = serde_json::to_value(&self).unwrap_or(Value::Null);
        if self.accepted == 0 {
            let reason = match self.rejected.as_slice() {
                [] => "no events in request".to_owned(),
                [only] => only.error.clone(),
                many => format!("all {} events were rejected; first: {}", many.len(), many[0].error),
            };
            body["error"] = Value::String(reason);
        }
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(note);
        response
    }
}

fn rejected(index: usize, error: &ValidationError) -> Rejected {
    let field = (error.field != "event").then(|| error.field.clone());
    Rejected { index, error: error.to_string(), field }
}

/// Runs parsed events through the pipeline and waits for durability.
pub async fn ingest(
    state: &AppState,
    parsed: Vec<Result<MetricEvent, ValidationError>>,
    transport: &'static str,
    caller: &Caller,
) -> Result<IngestOutcome, ApiError> {
    let mut admission = Admission::new(state, transport, caller);
    admission.good.reserve(parsed.len());
    for item in parsed {
        admission.push(item);
    }
    admission.finish().await
}

/// The events of one request on their way in: each parsed item is authorized and
/// prepared as soon as it is read (a streamed batch never holds a list of parsed
/// events, only the prepared ones), then all are admitted together by [`Self::finish`].
pub struct Admission<'a> {
    state: &'a AppState,
    transport: &'static str,
    caller: &'a Caller,
    now: Timestamp,
    outcome: IngestOutcome,
    good: Vec<EventRef>,
}

impl<'a> Admission<'a> {
    /// An empty admission for a request from `caller` over `transport`.
    pub fn new(state: &'a AppState, transport: &'static str, caller: &'a Caller) -> Self {
        Admission {
            state,
            transport,
            caller,
            now: Timestamp::now(),
            outcome: IngestOutcome::default(),
            good: Vec::new(),
        }
    }

    /// Takes the request's next item (its index: every earlier item was kept or rejected).
    pub fn push(&mut self, item: Result<MetricEvent, ValidationError>) {
        let index = self.good.len() + self.outcome.rejected.len();
        let item = match (item, self.caller) {
            (Ok(event), Some(principal)) => match authorize(event, principal) {
                Ok(event) => Ok(event),
                Err(error) => {
                    self.outcome.forbidden += 1;
                    Err(error)
                }
            },
            (item, _) => item,
        };
        match item.and_then(|event| self.state.collector.prepare(event, self.now)) {
            Ok(event) => {
                if let Some(p) = &event.project_id
                    && self.outcome.projects.len() < 64
                {
                    self.outcome.projects.insert(p.clone());
                }
                self.good.push(event)
            }
            Err(error) => self.outcome.rejected.push(rejected(index, &error)),
        }
    }

    /// Admits the prepared events all or none and waits until they are durable.
    pub async fn finish(self) -> Result<IngestOutcome, ApiError> {
        let Admission { state, transport, caller, mut outcome, good, .. } = self;
        metrics::counter!("monitor_ingest_events_rejected_total", "transport" => transport)
            .increment(outcome.rejected.len() as u64);
        if good.is_empty() {
            return Ok(outcome);
        }
        if let Some(principal) = caller {
            state.auth.charge(&principal.key_id, true, good.len() as f64)?;
        }
        if state.shutdown.is_cancelled() {
            return Err(ApiError::Unavailable {
                message: "server is shutting down; nothing was stored".into(),
                retry_after: 5,
            });
        }
        if state.collector.store_failing() {
            return Err(ApiError::Unavailable {
                message: "store is not accepting writes right now; nothing was stored".into(),
                retry_after: 5,
            });
        }
        let (min, max) = good
            .iter()
            .fold((Timestamp::MAX, Timestamp::MIN), |(lo, hi), e| (lo.min(e.timestamp), hi.max(e.timestamp)));
        let count = good.len();
        let seq = state.collector.submit(good).map_err(|error| match error {
            monitor_core::Error::BufferFull => {
                metrics::counter!("monitor_ingest_overload_total", "transport" => transport).increment(1);
                ApiError::Unavailable {
                    message: "ingest buffer is full; nothing was stored".into(),
                    retry_after: 1,
                }
            }
            monitor_core::Error::Closed => ApiError::Unavailable {
                message: "server is shutting down; nothing was stored".into(),
                retry_after: 5,
            },
            other => ApiError::from(other),
        })?;
        match tokio::time::timeout(state.timeouts.ingest, state.collector.durable(seq)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(ApiError::Unavailable {
                    message: "server is shutting down".into(),
                    retry_after: 5,
                });
            }
            Err(_) => {
                // Accepted into the buffer but not yet stored: the drain task keeps retrying.
                // A client that retries with the same ids stores nothing twice.
                return Err(ApiError::Unavailable {
                    message: "store did not confirm the write in time; events stay queued and will be stored"
                        .into(),
                    retry_after: 5,
                });
            }
        }
        state.cache.invalidate(min, max);
        outcome.accepted = count;
        metrics::counter!("monitor_ingest_events_accepted_total", "transport" => transport)
            .increment(count as u64);
        Ok(outcome)
    }
}

/// Applies a writer key's project scope and tags: an event for another project is
/// refused; an event without a project gets the key's project when it has exactly one.
fn authorize(
    mut event: MetricEvent,
    principal: &crate::auth::Principal,
) -> Result<MetricEvent, ValidationError> {
    if let Some(allowed) = &principal.projects
        && event.project_id.is_none()
        && let [only] = allowed.as_slice()
    {
        event.project_id = Some(only.clone());
    }
    if !principal.allows_project(event.project_id.as_deref()) {
        let project = event.project_id.as_deref().unwrap_or("(none)");
        return Err(ValidationError::new(
            "projectId",
            format!("forbidden: key `{}` may not write project `{project}`", principal.key_id),
        ));
    }
    for (key, value) in &principal.tags {
        event.tags.insert(key.clone(), value.clone());
    }
    Ok(event)
}

async fn read_limited(state: &AppState, body: Body) -> Result<bytes::Bytes, ApiError> {
    let limit = state.config.http.max_body_bytes;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => Err(body_error(error, limit)),
    }
}

fn body_error(error: Box<dyn std::error::Error + Send + Sync>, limit: usize) -> ApiError {
    if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
        return ApiError::PayloadTooLarge(limit);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return ApiError::PayloadTooLarge(limit);
        }
        if e.to_string().contains("timed out") {
            return ApiError::BadRequest { message: "request body timed out".into(), field: None };
        }
        source = e.source();
    }
    ApiError::bad(format!("could not read request body: {error}"))
}

/// `POST /api/events`: one event object or a JSON array of them.
pub async fn post_events(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> Result<IngestOutcome, ApiError> {
    let caller = caller.and_then(|Extension(c)| c);
    let bytes = read_limited(&state, body).await?;
    let parsed = parse_json_body(&bytes)?;
    ingest(&state, parsed, "http", &caller).await
}

/// Splits a JSON body (one event or an array) into per-event parse results without
/// building a JSON tree of the whole body.
pub fn parse_json_body(bytes: &[u8]) -> Result<Vec<Result<MetricEvent, ValidationError>>, ApiError> {
    let invalid = |e: serde_json::Error| ApiError::field("body", format!("invalid JSON: {e}"));
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(bytes).map_err(invalid)?;
            Ok(items.into_iter().map(|raw| event_from_slice(raw.get().as_bytes())).collect())
        }
        Some(b'{') => {
            // Validate the JSON as a whole first so a broken body is a 400, not a rejected event.
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(invalid)?;
            Ok(vec![event_from_slice(bytes)])
        }
        _ => {
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(invalid)?;
            Err(ApiError::field("body", "expected an event object or an array of events"))
        }
    }
}

/// `POST /api/events/batch`: NDJSON, one event per line, blank lines ignored. Lines are
/// parsed as the body streams in, so the raw body is never held whole.
pub async fn post_batch(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> Result<IngestOutcome, ApiError> {
    let caller = caller.and_then(|Extension(c)| c);
    let limit = state.config.http.max_body_bytes;
    let mut stream = http_body_util::Limited::new(body, limit).into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut admission = Admission::new(&state, "ndjson", &caller);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| body_error(e, limit))?;
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(offset) = memchr_newline(&pending[start..]) {
            if let Some(item) = parse_line(&pending[start..start + offset]) {
                admission.push(item);
            }
            start += offset + 1;
        }
        pending.drain(..start);
    }
    if let Some(item) = parse_line(&pending) {
        admission.push(item);
    }
    admission.finish().await
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

/// One NDJSON line as an event; `None` for a blank line.
fn parse_line(line: &[u8]) -> Option<Result<MetricEvent, ValidationError>> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return None;
    }
    if std::str::from_utf8(line).is_err() {
        return Some(Err(ValidationError::new("event", "line is not valid UTF-8")));
    }
    Some(event_from_slice(line))
}
