//! Alert rules CRUD, active alerts and history (DESIGN.md "HTTP contract").

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use monitor_alerts::{AlertRule, Error as AlertError};
use monitor_core::{Alert, Timestamp};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params;
use crate::query_api::query_pairs;
use crate::state::AppState;

impl From<AlertError> for ApiError {
    fn from(error: AlertError) -> Self {
        match error {
            AlertError::InvalidRule(e) => ApiError::field(e.field.clone(), e.to_string()),
            AlertError::NotFound(id) => ApiError::NotFound(format!("no alert rule with id `{id}`")),
            AlertError::ReadOnly(_) => ApiError::Conflict(error.to_string()),
            AlertError::Store(e) => ApiError::from(e),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Whether a scoped caller may see this alert: its `projectId` label must be one of the
/// key's projects (alerts without one span projects and are hidden from scoped keys).
fn visible(caller: &Caller, alert: &Alert) -> bool {
    match caller {
        Some(principal) => principal.allows_project(alert.labels.get("projectId").map(String::as_str)),
        None => true,
    }
}

fn caller_of(caller: Option<Extension<Caller>>) -> Caller {
    caller.and_then(|Extension(c)| c)
}

/// `GET /api/alerts`: firing alerts, newest first.
pub async fn active(State(state): State<AppState>, caller: Option<Extension<Caller>>) -> Json<Vec<Alert>> {
    let caller = caller_of(caller);
    Json(state.alerts.active().into_iter().filter(|a| visible(&caller, a)).collect())
}

/// `GET /api/alerts/history?start=&end=&limit=`: firing and resolved alerts, newest first.
pub async fn history(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let (mut start, mut end, mut limit) = (Timestamp::MIN, Timestamp::MAX, 1_000usize);
    for (key, value) in query_pairs(raw.as_deref())? {
        match key.as_str() {
            "start" => start = params::time("start", &value)?,
            "end" => end = params::time("end", &value)?,
            "limit" => limit = params::positive("limit", &value)?,
            "access_token" => {}
            other => return Err(ApiError::field(other, format!("unknown parameter `{other}`"))),
        }
    }
    let caller = caller_of(caller);
    let alerts = state.alerts.history(start, end, limit).await?;
    Ok(Json(alerts.into_iter().filter(|a| visible(&caller, a)).collect()))
}

/// `GET /api/alerts/rules`.
pub async fn list_rules(State(state): State<AppState>) -> Json<Vec<AlertRule>> {
    Json(state.alerts.rules())
}

/// `GET /api/alerts/rules/{id}`.
pub async fn get_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlertRule>, ApiError> {
    state
        .alerts
        .rule(&id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no alert rule with id `{id}`")))
}

/// `POST /api/alerts/rules`: creates a rule (409 when the id exists).
pub async fn create_rule(State(state): State<AppState>, body: bytes::Bytes) -> Result<Response, ApiError> {
    let rule = AlertRule::from_json(&body).map_err(|e| ApiError::field(e.field.clone(), e.to_string()))?;
    if state.alerts.rule(&rule.id).is_some() {
        return Err(ApiError::Conflict(format!(
            "an alert rule with id `{}` exists; PUT to replace it",
            rule.id
        )));
    }
    let saved = state.alerts.put_rule(rule).await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// `PUT /api/alerts/rules/{id}`: creates or replaces a rule.
pub async fn put_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: bytes::Bytes,
) -> Result<Json<AlertRule>, ApiError> {
    let rule = AlertRule::from_json(&body).map_err(|e| ApiError::field(e.field.clone(), e.to_string()))?;
    if rule.id != id {
        return Err(ApiError::field("id", format!("id: `{}` does not match the URL's `{id}`", rule.id)));
    }
    Ok(Json(state.alerts.put_rule(rule).await?))
}

/// `DELETE /api/alerts/rules/{id}`.
pub async fn delete_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.alerts.delete_rule(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no alert rule with id `{id}`")))
    }
}
