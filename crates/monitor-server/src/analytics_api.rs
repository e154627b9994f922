//! `GET /api/analytics/anomalies` and `GET /api/analytics/trend` (DESIGN.md).

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use monitor_core::analytics::{AnomalyConfig, Method, SeriesAnomalies, TrendConfig, detect_in_events, trend};
use monitor_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR, parse_duration};
use monitor_core::{AggPoint, Aggregation, Filter, Query, Timestamp};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params;
use crate::query_api::query_pairs;
use crate::state::AppState;

/// Most raw events one anomaly request examines.
const MAX_EVENTS: usize = 200_000;

fn scoped(caller: Option<Extension<Caller>>, filters: &mut Vec<Filter>) -> Result<(), ApiError> {
    if let Some(Extension(Some(principal))) = caller {
        principal.scope(filters)?;
    }
    Ok(())
}

/// `GET /api/analytics/anomalies?<filters>&field=duration&start=&end=&method=&window=&threshold=`:
/// anomalies per (agent type, operation) series of the raw events in the range (default
/// the last 24 h). Durations default to the robust log-scale detector; other fields to
/// the rolling z-score.
pub async fn anomalies(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<SeriesAnomalies>>, ApiError> {
    let mut field = "duration".to_owned();
    let (mut start, mut end) = (None, None);
    let mut method: Option<Method> = None;
    let (mut window, mut threshold, mut min_points) = (None, None, None);
    let mut filters = Vec::new();
    for (key, value) in query_pairs(raw.as_deref())? {
        match key.as_str() {
            "field" => field = value,
            "start" => start = Some(params::time("start", &value)?),
            "end" => end = Some(params::time("end", &value)?),
            "method" => {
                method = Some(serde_json::from_value(Value::String(value.clone())).map_err(|_| {
                    ApiError::field("method", format!("method: `{value}` is not zscore, robust or ewma"))
                })?)
            }
            "window" => window = Some(params::positive("window", &value)?),
            "minPoints" => min_points = Some(params::positive("minPoints", &value)?),
            "threshold" => {
                threshold = Some(value.parse::<f64>().ok().filter(|t| t.is_finite() && *t > 0.0).ok_or_else(
                    || ApiError::field("threshold", format!("threshold: `{value}` is not a positive number")),
                )?)
            }
            "access_token" => {}
            k if params::is_filter_key(k) => filters.push(params::filter(k, params::split_values(&value))?),
            other => return Err(ApiError::field(other, format!("unknown parameter `{other}`"))),
        }
    }
    scoped(caller, &mut filters)?;
    let end = end.unwrap_or_else(|| Timestamp::now().add_micros(1));
    let start = start.unwrap_or(end.add_micros(-MICROS_PER_DAY));
    let mut config = match method {
        None if field == "duration" || field == "latencyMs" => AnomalyConfig::for_latency(),
        None => AnomalyConfig::default(),
        Some(m) => AnomalyConfig::for_method(m),
    };
    if let Some(w) = window {
        config.window = w;
        config.min_points = config.min_points.min(w);
    }
    if let Some(m) = min_points {
        config.min_points = m;
    }
    if let Some(t) = threshold {
        config.threshold = t;
    }
    config.validate().map_err(|e| ApiError::bad(e.to_string()))?;
    let query = Query {
        start,
        end,
        aggregation: Aggregation::Raw,
        field: None,
        group_by: Vec::new(),
        filters,
        limit: Some(MAX_EVENTS),
    };
    query.validate()?;
    let answer = state.store.query(&query).await?;
    Ok(Json(detect_in_events(answer.events(), &field, &config)))
}

/// `GET /api/analytics/trend?<filters>&field=duration&window=6h&aggregation=&stat=avg`:
/// a least-squares trend over the bucket statistics of the last `window` (a duration
/// such as `6h`, or a number of buckets), with a 5-step forecast.
pub async fn trend_endpoint(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut field = Some("duration".to_owned());
    let mut window_text = "6h".to_owned();
    let mut aggregation: Option<Aggregation> = None;
    let mut stat = "avg".to_owned();
    let mut end = None;
    let mut horizon = 5usize;
    let mut filters = Vec::new();
    for (key, value) in query_pairs(raw.as_deref())? {
        match key.as_str() {
            "field" => field = (!value.is_empty()).then_some(value),
            "window" => window_text = value,
            "aggregation" => aggregation = Some(value.parse().map_err(ApiError::from)?),
            "stat" => stat = value,
            "end" => end = Some(params::time("end", &value)?),
            "horizon" => horizon = params::positive("horizon", &value)?,
            "access_token" => {}
            k if params::is_filter_key(k) => filters.push(params::filter(k, params::split_values(&value))?),
            other => return Err(ApiError::field(other, format!("unknown parameter `{other}`"))),
        }
    }
    if !matches!(stat.as_str(), "avg" | "sum" | "min" | "max" | "count" | "p50" | "p95" | "p99") {
        return Err(ApiError::field(
            "stat",
            format!("stat: `{stat}` is not avg, sum, min, max, count, p50, p95 or p99"),
        ));
    }
    if stat == "count" {
        field = None;
    }
    scoped(caller, &mut filters)?;
    let end = end.unwrap_or_else(|| Timestamp::now().add_micros(1));
    // A bare number is a count of buckets; otherwise a duration.
    let (span, aggregation) = match window_text.parse::<i64>() {
        Ok(buckets) if buckets > 0 => {
            let aggregation = aggregation.unwrap_or(Aggregation::FiveMinutes);
            let step = aggregation
                .step_micros()
                .ok_or_else(|| ApiError::field("aggregation", "trend needs buckets, not raw"))?;
            (step.saturating_mul(buckets), aggregation)
        }
        _ => {
            let span = parse_duration(&window_text).filter(|s| *s > 0).ok_or_else(|| {
                ApiError::field("window", format!("window: `{window_text}` is not a duration or a count"))
            })?;
            let aggregation = aggregation.unwrap_or(if span <= 6 * MICROS_PER_HOUR {
                Aggregation::FiveMinutes
            } else if span <= 7 * MICROS_PER_DAY {
                Aggregation::Hour
            } else {
                Aggregation::Day
            });
            (span, aggregation)
        }
    };
    if aggregation == Aggregation::Raw {
        return Err(ApiError::field("aggregation", "trend needs buckets (1m, 5m, 1h or 1d), not raw"));
    }
    let query = Query {
        start: end.add_micros(-span),
        end,
        aggregation,
        field: field.clone(),
        group_by: Vec::new(),
        filters,
        limit: None,
    };
    query.validate()?;
    let answer = state.store.query(&query).await?;
    let series: Vec<(Timestamp, f64)> =
        answer.points().iter().filter_map(|p| statistic(p, &stat).map(|v| (p.timestamp, v))).collect();
    let config = TrendConfig { last_n: 0, horizon, ..TrendConfig::default() };
    config.validate().map_err(|e| ApiError::bad(e.to_string()))?;
    let fitted = trend(&series, &config);
    let mut body = match &fitted {
        Some(t) => serde_json::to_value(t).map_err(|e| ApiError::Internal(e.to_string()))?,
        None => json!({
            "points": series.len(), "slopePerStep": 0.0, "slopePerHour": 0.0, "intercept": series.first().map_or(0.0, |p| p.1),
            "rSquared": 0.0, "direction": "flat", "forecast": [], "insufficientData": true,
        }),
    };
    body["field"] = json!(field);
    body["stat"] = json!(stat);
    body["aggregation"] = json!(aggregation);
    body["series"] = series.iter().map(|(t, v)| json!({"timestamp": t, "value": v})).collect();
    Ok(Json(body))
}

fn statistic(point: &AggPoint, stat: &str) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    match stat {
        "count" => Some(point.count as f64),
        "sum" => point.sum,
        "min" => point.min,
        "max" => point.max,
        "p50" => point.p50,
        "p95" => point.p95,
        "p99" => point.p99,
        _ => point.avg,
    }
}
