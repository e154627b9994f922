//! `GET|POST /api/metrics/query` (seed §10.1) with the result cache.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use monitor_core::query::DataSource;
use monitor_core::time::MICROS_PER_HOUR;
use monitor_core::{Aggregation, Dimension, Filter, FilterOp, Query, QueryResult, Timestamp};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params;
use crate::state::AppState;

/// A parsed query plus whether the cache may answer it.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// The query.
    pub query: Query,
    /// `cache=false` bypasses the cache.
    pub use_cache: bool,
}

/// Decodes `application/x-www-form-urlencoded` query-string pairs.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    serde_urlencoded_pairs(raw)
}

fn serde_urlencoded_pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => out.push(b),
                    None => return Err(ApiError::bad(format!("bad percent-encoding in `{text}`"))),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad("query string is not valid UTF-8"))
}

/// Parses the GET form: `start`, `end`, `aggregation`, `field`, `groupBy`, `limit`,
/// `cache`, and filters (`source=`, `type=`, `projectId=`, `sessionId=`, `agentType=`,
/// `operation=`, `tag.KEY=`; comma-separated values mean any of them).
pub fn parse_get(pairs: Vec<(String, String)>, allow_extra: &[&str]) -> Result<QueryRequest, ApiError> {
    let mut start = None;
    let mut end = None;
    let mut aggregation = Aggregation::Raw;
    let mut field = None;
    let mut group_by = Vec::new();
    let mut limit = None;
    let mut use_cache = true;
    let mut filters: Vec<Filter> = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "start" => start = Some(params::time("start", &value)?),
            "end" => end = Some(params::time("end", &value)?),
            "aggregation" => aggregation = value.parse().map_err(ApiError::from)?,
            "field" => field = (!value.is_empty()).then_some(value),
            "groupBy" => {
                for name in params::split_values(&value) {
                    group_by.push(name.parse::<Dimension>().map_err(ApiError::from)?);
                }
            }
            "limit" => limit = Some(params::positive("limit", &value)?),
            "cache" => use_cache = params::boolean("cache", &value)?,
            k if params::is_filter_key(k) => filters.push(params::filter(k, params::split_values(&value))?),
            k if allow_extra.contains(&k) => {}
            other => {
                return Err(ApiError::field(other, format!("unknown query parameter `{other}`")));
            }
        }
    }
    let end = end.unwrap_or_else(|| Timestamp::now().add_micros(1));
    let start = start.unwrap_or(end.add_micros(-MICROS_PER_HOUR));
    let query = Query { start, end, aggregation, field, group_by, filters, limit };
    query.validate()?;
    Ok(QueryRequest { query, use_cache })
}

/// The seed's `MetricsQueryRequest` body of `POST /api/metrics/query`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PostBody {
    time_range: Option<TimeRange>,
    #[serde(default)]
    filters: Vec<PostFilter>,
    aggregation: Option<Aggregation>,
    limit: Option<usize>,
    field: Option<String>,
    #[serde(default)]
    group_by: GroupBy,
    cache: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum GroupBy {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeRange {
    start: Value,
    end: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostFilter {
    field: String,
    op: Option<FilterOp>,
    value: Value,
}

fn time_value(name: &str, value: &Value) -> Result<Timestamp, ApiError> {
    match value {
        Value::String(s) => params::time(name, s),
        Value::Number(n) => n
            .as_f64()
            .and_then(|ms| Timestamp::from_millis_f64(ms).ok())
            .ok_or_else(|| ApiError::field(name, format!("{name}: not a time"))),
        _ => Err(ApiError::field(name, format!("{name}: expected an RFC 3339 string or epoch milliseconds"))),
    }
}

/// Parses the POST form.
pub fn parse_post(body: &[u8]) -> Result<QueryRequest, ApiError> {
    let body: PostBody =
        serde_json::from_slice(body).map_err(|e| ApiError::field("body", format!("invalid query: {e}")))?;
    let end = match body.time_range.as_ref() {
        Some(range) => time_value("timeRange.end", &range.end)?,
        None => Timestamp::now().add_micros(1),
    };
    let start = match body.time_range.as_ref() {
        Some(range) => time_value("timeRange.start", &range.start)?,
        None => end.add_micros(-MICROS_PER_HOUR),
    };
    let mut filters = Vec::new();
    for (i, f) in body.filters.into_iter().enumerate() {
        let values: Vec<String> = match f.value {
            Value::String(s) => vec![s],
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Ok(other.to_string()),
                })
                .collect::<Result<_, ApiError>>()?,
            Value::Null => return Err(ApiError::field(format!("filters[{i}].value"), "value is missing")),
            other => vec![other.to_string()],
        };
        let dimension: Dimension = f.field.parse().map_err(|_| {
            ApiError::field(format!("filters[{i}].field"), format!("unknown filter field `{}`", f.field))
        })?;
        params::check_values(&dimension, &values)?;
        let op = f.op.unwrap_or(if values.len() > 1 { FilterOp::In } else { FilterOp::Eq });
        filters.push(Filter { dimension, op, values });
    }
    let group_names = match body.group_by {
        GroupBy::None => Vec::new(),
        GroupBy::One(s) => params::split_values(&s),
        GroupBy::Many(v) => v,
    };
    let group_by = group_names
        .iter()
        .map(|n| n.parse::<Dimension>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::from)?;
    if body.limit == Some(0) {
        return Err(ApiError::field("limit", "limit: must be at least 1"));
    }
    let query = Query {
        start,
        end,
        aggregation: body.aggregation.unwrap_or(Aggregation::Raw),
        field: body.field.filter(|f| !f.is_empty()),
        group_by,
        filters,
        limit: body.limit,
    };
    query.validate()?;
    Ok(QueryRequest { query, use_cache: body.cache.unwrap_or(true) })
}

/// Answers a query through the cache.
pub async fn run(state: &AppState, request: &QueryRequest) -> Result<QueryResult, ApiError> {
    let started = Instant::now();
    let key = crate::state::QueryCache::key(&request.query);
    if request.use_cache
        && let Some(hit) = state.cache.get(&key)
    {
        let mut result = (*hit).clone();
        result.metadata.cache_hit = true;
        result.metadata.query_time = started.elapsed().as_secs_f64() * 1000.0;
        record(&result, started);
        return Ok(result);
    }
    let generation = state.cache.generation();
    let mut result = state.store.query(&request.query).await?;
    result.metadata.cache_hit = false;
    result.metadata.query_time = started.elapsed().as_secs_f64() * 1000.0;
    state.cache.put(key, &request.query, Arc::new(result.clone()), generation);
    record(&result, started);
    Ok(result)
}

fn record(result: &QueryResult, started: Instant) {
    let source = match result.metadata.source {
        DataSource::Raw => "raw",
        DataSource::Rollup => "rollup",
    };
    metrics::histogram!(
        "monitor_query_duration_seconds",
        "aggregation" => result.metadata.aggregation.as_str(),
        "cache" => if result.metadata.cache_hit { "hit" } else { "miss" },
        "source" => source
    )
    .record(started.elapsed().as_secs_f64());
}

/// `GET /api/metrics/query`.
pub async fn get_query(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut request = parse_get(query_pairs(raw.as_deref())?, &["access_token"])?;
    if let Some(Extension(Some(principal))) = caller {
        principal.scope(&mut request.query.filters)?;
    }
    Ok(Json(run(&state, &request).await?).into_response())
}

/// `POST /api/metrics/query`.
pub async fn post_query(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let mut request = parse_post(&body)?;
    if let Some(Extension(Some(principal))) = caller {
        principal.scope(&mut request.query.filters)?;
    }
    Ok(Json(run(&state, &request).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get_parameters() {
        let pairs = query_pairs(Some(
            "start=2026-11-28T00:00:00Z&end=1795867200000&aggregation=5m&field=duration&groupBy=operation,tag.host&type=performance&operation=tool%3ABash,tool%3AEdit&tag.host=h1&limit=5&cache=false",
        ))
        .unwrap();
        let r = parse_get(pairs, &[]).unwrap();
        assert_eq!(r.query.aggregation, Aggregation::FiveMinutes);
        assert_eq!(r.query.group_by, vec![Dimension::Operation, Dimension::Tag("host".into())]);
        assert_eq!(r.query.filters.len(), 3);
        assert_eq!(r.query.filters[1].op, FilterOp::In);
        assert_eq!(r.query.filters[1].values, vec!["tool:Bash", "tool:Edit"]);
        assert!(!r.use_cache);
        assert_eq!(r.query.limit, Some(5));
        let err = parse_get(query_pairs(Some("colour=red")).unwrap(), &[]).unwrap_err();
        assert!(err.to_string().contains("colour"));
        let err = parse_get(query_pairs(Some("type=perf")).unwrap(), &[]).unwrap_err();
        assert!(err.to_string().contains("unknown value `perf`"), "{err}");
        let err = parse_get(query_pairs(Some("aggregation=2m")).unwrap(), &[]).unwrap_err();
        assert!(err.to_string().contains("2m"));
        let err =
            parse_get(query_pairs(Some("start=2026-11-28T01:00:00Z&end=2026-11-28T00:00:00Z")).unwrap(), &[])
                .unwrap_err();
        assert!(err.to_string().contains("after start"));
    }

    #[test]
    fn parses_post_body() {
        let r = parse_post(
            br#"{"timeRange":{"start":"2026-11-28T00:00:00Z","end":"2026-11-28T06:00:00Z"},
                 "filters":[{"field":"projectId","op":"ne","value":"p1"},{"field":"operation","op":"in","value":["a","b"]}],
                 "aggregation":"1h","limit":10,"field":"duration","groupBy":["operation"]}"#,
        )
        .unwrap();
        assert_eq!(r.query.aggregation, Aggregation::Hour);
        assert_eq!(r.query.filters[0].op, FilterOp::Ne);
        assert_eq!(r.query.filters[1].values, vec!["a", "b"]);
        assert!(parse_post(br#"{"timeRange":{"start":"x","end":"y"}}"#).is_err());
        let err = parse_post(br#"{"aggregation":"5m","colour":1}"#).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
