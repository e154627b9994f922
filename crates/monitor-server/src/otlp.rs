//! OTLP/HTTP ingest: `POST /v1/metrics`, `POST /v1/logs` and `POST /v1/traces`, in
//! `application/x-protobuf` and `application/json`, optionally gzip-compressed.
//!
//! Each request is decoded into the `opentelemetry-proto` messages, every data point,
//! log record or span is mapped to one [`MetricEvent`] (or refused with a reason), and
//! the events go through the same [`crate::ingest::ingest`] pipeline as `/api/events`:
//! validated, enriched, redacted and stored durably before the answer.
//!
//! Answers follow the OTLP/HTTP specification: `200` with an `Export*ServiceResponse`
//! in the request's encoding, with `partial_success` counting what was refused and why;
//! `400` for a body that cannot be decoded, `413` over the body limit (also after
//! decompression), `415` for another content type or encoding, `429`/`503` with
//! `Retry-After` under overload. Every 4xx/5xx body is a `google.rpc.Status`.
//!
//! Event ids are derived from the content (a hash of the resource, the series and the
//! record), so an exporter that retries after a `503` stores nothing twice.
//!
//! # Layout
//! - [`attrs`]: attribute values, coercion of numbers sent as strings, and the fields
//!   shared by every signal (session, project, agent type, tags).
//! - [`metrics`]: data points to `quality` events; cumulative sums to deltas.
//! - [`logs`]: Claude Code events (`claude_code.api_request`, …) to events.
//! - [`traces`]: spans to `performance` events.
//!
//! The mapping is documented in `docs/otlp.md`.

pub mod attrs;
pub mod logs;
pub mod metrics;
pub mod traces;

use std::io::Read;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use monitor_core::validate::ValidationError;
use monitor_core::{MetricEvent, Store};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::{Value, json};

use crate::auth::{AuditNote, Caller};
use crate::error::ApiError;
use crate::ingest::ingest;
use crate::state::AppState;

/// How many refusal reasons an `error_message` quotes before summarising the rest.
const QUOTED_REASONS: usize = 3;

/// The two OTLP/HTTP payload encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`: binary protobuf.
    Protobuf,
    /// `application/json`: the OTLP JSON mapping of the same messages.
    Json,
}

impl Encoding {
    /// The encoding a request's `Content-Type` names, ignoring parameters such as
    /// `charset`; `None` for anything else.
    pub fn from_headers(headers: &HeaderMap) -> Option<Encoding> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let media = value.split(';').next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of an answer in this encoding.
    pub const fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// What became of one data point, log record or span.
#[derive(Debug)]
pub enum Mapped {
    /// It maps to this event.
    Event(Box<MetricEvent>),
    /// It was understood and needs no event (a cumulative baseline, a repeated point).
    Skip,
    /// It cannot be mapped; the reason goes into `partial_success.error_message`.
    Reject(String),
}

/// The per-server receiver state: the last cumulative point of every series.
#[derive(Debug, Default)]
pub struct Receiver {
    /// Cumulative-to-delta state; a plain mutex, never held across an `.await`.
    pub cumulative: Mutex<metrics::Cumulative>,
}

/// Receivers by store: a server's OTLP state lives as long as its store. Keyed by the
/// store's allocation, held weakly, so a dropped server's entry is purged and its
/// address cannot be reused while the entry exists.
static RECEIVERS: LazyLock<Mutex<Vec<ReceiverEntry>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// A server's store (held weakly) and its receiver state.
type ReceiverEntry = (Weak<dyn Store>, Arc<Receiver>);

/// The OTLP receiver state of the server that owns `state`.
pub fn receiver(state: &AppState) -> Arc<Receiver> {
    let weak = Arc::downgrade(&state.store);
    let mut receivers = RECEIVERS.lock().unwrap_or_else(|e| e.into_inner());
    receivers.retain(|(store, _)| store.strong_count() > 0);
    if let Some((_, found)) = receivers.iter().find(|(store, _)| Weak::ptr_eq(store, &weak)) {
        return found.clone();
    }
    let created = Arc::new(Receiver::default());
    receivers.push((weak, created.clone()));
    created
}

/// Why an OTLP request failed.
#[derive(Debug)]
pub enum Failure {
    /// An error of the shared pipeline (bad body, size, overload, …).
    Api(ApiError),
    /// A `Content-Type` or `Content-Encoding` this receiver does not take (`415`).
    Unsupported(String),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::Api(error)
    }
}

/// An OTLP failure answer: the HTTP status of the failure with a `google.rpc.Status`
/// body in the request's encoding (JSON when the encoding is unknown).
#[derive(Debug)]
pub struct OtlpError {
    /// What went wrong.
    pub failure: Failure,
    /// The encoding of the answer.
    pub encoding: Encoding,
}

impl IntoResponse for OtlpError {
    fn into_response(self) -> Response {
        let (status, message, retry) = match &self.failure {
            Failure::Unsupported(message) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, message.clone(), None),
            Failure::Api(ApiError::Internal(detail)) => {
                tracing::error!(%detail, "otlp request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_owned(), None)
            }
            Failure::Api(error) => {
                let retry = match error {
                    ApiError::TooManyRequests(s) => Some(*s),
                    ApiError::Unavailable { retry_after, .. } => Some(*retry_after),
                    _ => None,
                };
                (error.status(), error.to_string(), retry)
            }
        };
        let code = grpc_code(status);
        let body = match self.encoding {
            Encoding::Protobuf => {
                let mut buf = Vec::with_capacity(message.len() + 8);
                prost::encoding::int32::encode(1, &code, &mut buf);
                prost::encoding::string::encode(2, &message, &mut buf);
                buf
            }
            Encoding::Json => json!({ "code": code, "message": message }).to_string().into_bytes(),
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.encoding.content_type()));
        if let Some(seconds) = retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if matches!(self.failure, Failure::Api(ApiError::Unauthorized(_))) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The `google.rpc.Code` closest to an HTTP status (informative only; OTLP clients go
/// by the HTTP status).
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 413 | 415 => 3,
        401 => 16,
        403 => 7,
        404 => 5,
        409 => 6,
        429 => 8,
        503 => 14,
        _ => 13,
    }
}

/// Reads, decompresses and checks the request body against `max_body_bytes`.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Failure> {
    let limit = state.config.http.max_body_bytes;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
            while let Some(e) = source {
                if e.is::<http_body_util::LengthLimitError>() {
                    return Err(ApiError::PayloadTooLarge(limit).into());
                }
                source = e.source();
            }
            return Err(ApiError::bad(format!("could not read request body: {error}")).into());
        }
    };
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => return Ok(bytes.to_vec()),
        Some(value) => value.to_str().unwrap_or_default().trim().to_ascii_lowercase(),
    };
    match encoding.as_str() {
        "" | "identity" => Ok(bytes.to_vec()),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit));
            let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            flate2::read::GzDecoder::new(bytes.as_ref())
                .take(cap)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad(format!("invalid gzip body: {e}")))?;
            if out.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit).into());
            }
            Ok(out)
        }
        other => Err(Failure::Unsupported(format!(
            "unsupported Content-Encoding `{other}`: send the body uncompressed or gzip-compressed"
        ))),
    }
}

/// Rewrites doubles sent as JSON strings (`"asDouble":"1.5"`, allowed by the protobuf
/// JSON mapping) into numbers; drops non-finite ones (`"NaN"`), which leaves the point
/// without a value so that it is refused on its own instead of failing the request.
fn normalise_json(value: &mut Value) {
    const DOUBLES: &[&str] =
        &["asDouble", "doubleValue", "sum", "min", "max", "value", "quantile", "zeroThreshold"];
    match value {
        Value::Object(map) => {
            let mut drop = Vec::new();
            for (key, item) in map.iter_mut() {
                if let Value::String(text) = item
                    && DOUBLES.contains(&key.as_str())
                {
                    match text.trim().parse::<f64>() {
                        Ok(number) if number.is_finite() => {
                            if let Some(n) = serde_json::Number::from_f64(number) {
                                *item = Value::Number(n);
                            }
                        }
                        _ => drop.push(key.clone()),
                    }
                } else {
                    normalise_json(item);
                }
            }
            for key in drop {
                map.remove(&key);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_json),
        _ => {}
    }
}

fn decode<T>(encoding: Encoding, bytes: &[u8]) -> Result<T, ApiError>
where
    T: Message + Default + serde::de::DeserializeOwned,
{
    match encoding {
        Encoding::Protobuf => {
            T::decode(bytes).map_err(|e| ApiError::field("body", format!("invalid OTLP protobuf: {e}")))
        }
        Encoding::Json => {
            let mut value: Value = serde_json::from_slice(bytes)
                .map_err(|e| ApiError::field("body", format!("invalid JSON: {e}")))?;
            if !value.is_object() {
                return Err(ApiError::field("body", "expected an OTLP export request object"));
            }
            normalise_json(&mut value);
            serde_json::from_value(value)
                .map_err(|e| ApiError::field("body", format!("invalid OTLP JSON: {e}")))
        }
    }
}

/// The outcome of one export: how many items were sent and why some were refused.
#[derive(Debug, Default)]
struct Summary {
    total: usize,
    reasons: Vec<String>,
    accepted: usize,
    projects: Vec<String>,
}

impl Summary {
    fn rejected(&self) -> i64 {
        i64::try_from(self.reasons.len()).unwrap_or(i64::MAX)
    }

    fn message(&self, noun: &str) -> String {
        if self.reasons.is_empty() {
            return String::new();
        }
        let mut quoted: Vec<&str> = Vec::new();
        for reason in &self.reasons {
            if !quoted.contains(&reason.as_str()) && quoted.len() < QUOTED_REASONS {
                quoted.push(reason);
            }
        }
        let mut message =
            format!("{} of {} {noun} rejected: {}", self.reasons.len(), self.total, quoted.join("; "));
        let distinct = {
            let mut all: Vec<&String> = self.reasons.iter().collect();
            all.sort();
            all.dedup();
            all.len()
        };
        if distinct > quoted.len() {
            message.push_str(&format!("; and {} other reasons", distinct - quoted.len()));
        }
        message
    }
}

/// Sends mapped items through the ingest pipeline.
async fn store(state: &AppState, mapped: Vec<Mapped>, caller: &Caller) -> Result<Summary, ApiError> {
    let mut summary = Summary { total: mapped.len(), ..Summary::default() };
    let mut events: Vec<Result<MetricEvent, ValidationError>> = Vec::with_capacity(mapped.len());
    for item in mapped {
        match item {
            Mapped::Event(event) => events.push(Ok(*event)),
            Mapped::Skip => {}
            Mapped::Reject(reason) => summary.reasons.push(reason),
        }
    }
    ::metrics::counter!("monitor_otlp_items_unmapped_total").increment(summary.reasons.len() as u64);
    if events.is_empty() {
        return Ok(summary);
    }
    let outcome = ingest(state, events, "otlp", caller).await?;
    if outcome.accepted == 0 && outcome.forbidden > 0 && outcome.forbidden == summary.total {
        return Err(ApiError::Forbidden(format!(
            "this key may not write the projects of these events; first: {}",
            outcome.rejected.first().map_or("", |r| r.error.as_str())
        )));
    }
    summary.accepted = outcome.accepted;
    summary.projects = outcome.projects.into_iter().collect();
    summary.reasons.extend(outcome.rejected.into_iter().map(|r| r.error));
    Ok(summary)
}

fn respond(encoding: Encoding, summary: &Summary, protobuf: Vec<u8>, json: Value) -> Response {
    let body = match encoding {
        Encoding::Protobuf => protobuf,
        Encoding::Json => json.to_string().into_bytes(),
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()));
    response.extensions_mut().insert(AuditNote(format!(
        "accepted={} rejected={} projects={}",
        summary.accepted,
        summary.reasons.len(),
        summary.projects.join(",")
    )));
    response
}

/// The JSON answer: `{}` on full success, else `partialSuccess` with the count as a
/// decimal string (int64 in the OTLP JSON mapping).
fn json_answer(count_field: &str, summary: &Summary, noun: &str) -> Value {
    if summary.reasons.is_empty() {
        return json!({});
    }
    json!({ "partialSuccess": {
        count_field: summary.rejected().to_string(),
        "errorMessage": summary.message(noun),
    }})
}

/// Checks the content type; the error answer is JSON since the encoding is unknown.
fn negotiate(headers: &HeaderMap) -> Result<Encoding, OtlpError> {
    Encoding::from_headers(headers).ok_or_else(|| {
        let got = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none");
        OtlpError {
            failure: Failure::Unsupported(format!(
                "unsupported Content-Type `{got}`: OTLP/HTTP takes application/x-protobuf or application/json"
            )),
            encoding: Encoding::Json,
        }
    })
}

/// `POST /v1/metrics`: an `ExportMetricsServiceRequest`; every number data point,
/// histogram and summary becomes a `quality` event (see `docs/otlp.md`).
pub async fn post_metrics(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = caller.and_then(|Extension(c)| c);
    let encoding = match negotiate(&headers) {
        Ok(encoding) => encoding,
        Err(error) => return error.into_response(),
    };
    match export_metrics(&state, &caller, &headers, body, encoding).await {
        Ok(response) => response,
        Err(failure) => OtlpError { failure, encoding }.into_response(),
    }
}

async fn export_metrics(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Response, Failure> {
    let bytes = read_body(state, headers, body).await?;
    let request: ExportMetricsServiceRequest = decode(encoding, &bytes)?;
    let receiver = receiver(state);
    let limits = &state.config.collector.limits;
    let (mapped, pending) = {
        let mut cumulative = receiver.cumulative.lock().unwrap_or_else(|e| e.into_inner());
        metrics::map_request(&request, &mut cumulative, limits)
    };
    let summary = match store(state, mapped, caller).await {
        Ok(summary) => summary,
        Err(error) => {
            // Nothing of the request was stored: forget its cumulative points so that the
            // retry computes the same deltas (and ids) again.
            receiver.cumulative.lock().unwrap_or_else(|e| e.into_inner()).rollback(pending);
            return Err(error.into());
        }
    };
    let partial = (!summary.reasons.is_empty()).then(|| ExportMetricsPartialSuccess {
        rejected_data_points: summary.rejected(),
        error_message: summary.message("data points"),
    });
    let protobuf = ExportMetricsServiceResponse { partial_success: partial }.encode_to_vec();
    Ok(respond(encoding, &summary, protobuf, json_answer("rejectedDataPoints", &summary, "data points")))
}

/// `POST /v1/logs`: an `ExportLogsServiceRequest`; Claude Code's events become
/// `performance`, `error` and `quality` events (see `docs/otlp.md`).
pub async fn post_logs(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = caller.and_then(|Extension(c)| c);
    let encoding = match negotiate(&headers) {
        Ok(encoding) => encoding,
        Err(error) => return error.into_response(),
    };
    match export_logs(&state, &caller, &headers, body, encoding).await {
        Ok(response) => response,
        Err(failure) => OtlpError { failure, encoding }.into_response(),
    }
}

async fn export_logs(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Response, Failure> {
    let bytes = read_body(state, headers, body).await?;
    let request: ExportLogsServiceRequest = decode(encoding, &bytes)?;
    // Starts the receiver's clock early: cumulative series begun after it count whole.
    let _ = receiver(state);
    let mapped = logs::map_request(&request, &state.config.collector.limits);
    let summary = store(state, mapped, caller).await?;
    let partial = (!summary.reasons.is_empty()).then(|| ExportLogsPartialSuccess {
        rejected_log_records: summary.rejected(),
        error_message: summary.message("log records"),
    });
    let protobuf = ExportLogsServiceResponse { partial_success: partial }.encode_to_vec();
    Ok(respond(encoding, &summary, protobuf, json_answer("rejectedLogRecords", &summary, "log records")))
}

/// `POST /v1/traces`: an `ExportTraceServiceRequest`; every span becomes a
/// `performance` event named after the span (see `docs/otlp.md`).
pub async fn post_traces(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = caller.and_then(|Extension(c)| c);
    let encoding = match negotiate(&headers) {
        Ok(encoding) => encoding,
        Err(error) => return error.into_response(),
    };
    match export_traces(&state, &caller, &headers, body, encoding).await {
        Ok(response) => response,
        Err(failure) => OtlpError { failure, encoding }.into_response(),
    }
}

async fn export_traces(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Response, Failure> {
    let bytes = read_body(state, headers, body).await?;
    let request: ExportTraceServiceRequest = decode(encoding, &bytes)?;
    // Starts the receiver's clock early: cumulative series begun after it count whole.
    let _ = receiver(state);
    let mapped = traces::map_request(&request, &state.config.collector.limits);
    let summary = store(state, mapped, caller).await?;
    let partial = (!summary.reasons.is_empty()).then(|| ExportTracePartialSuccess {
        rejected_spans: summary.rejected(),
        error_message: summary.message("spans"),
    });
    let protobuf = ExportTraceServiceResponse { partial_success: partial }.encode_to_vec();
    Ok(respond(encoding, &summary, protobuf, json_answer("rejectedSpans", &summary, "spans")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_sent_as_strings_become_numbers_and_non_finite_ones_are_dropped() {
        let mut value = json!({"dataPoints": [{"asDouble": "1.5"}, {"asDouble": "NaN"}, {"asInt": "7"}],
            "attributes": [{"key": "k", "value": {"doubleValue": "2"}}]});
        normalise_json(&mut value);
        assert_eq!(
            value,
            json!({"dataPoints": [{"asDouble": 1.5}, {}, {"asInt": "7"}],
                "attributes": [{"key": "k", "value": {"doubleValue": 2.0}}]})
        );
    }

    #[test]
    fn error_message_quotes_distinct_reasons() {
        let summary = Summary {
            total: 9,
            reasons: vec!["a".into(), "a".into(), "b".into(), "c".into(), "d".into()],
            ..Summary::default()
        };
        assert_eq!(summary.message("spans"), "5 of 9 spans rejected: a; b; c; and 1 other reasons");
        assert_eq!(summary.rejected(), 5);
    }

    #[test]
    fn overload_answers_carry_retry_after_and_a_status_in_the_request_encoding() {
        let unavailable = ApiError::Unavailable { message: "ingest buffer is full".into(), retry_after: 2 };
        let response =
            OtlpError { failure: Failure::Api(unavailable), encoding: Encoding::Protobuf }.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/x-protobuf");
        let response =
            OtlpError { failure: Failure::Api(ApiError::TooManyRequests(3)), encoding: Encoding::Json }
                .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let response = OtlpError {
            failure: Failure::Api(ApiError::Internal("disk on fire".into())),
            encoding: Encoding::Json,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        assert_eq!(Encoding::from_headers(&headers), Some(Encoding::Json));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(Encoding::from_headers(&headers), None);
    }
}
