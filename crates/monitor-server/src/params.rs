//! Shared parsing of filters and times from query strings and JSON.

use monitor_core::event::{AgentType, EventType, Source};
use monitor_core::{Dimension, Filter, FilterOp, Timestamp};
use serde_json::Value;

use crate::error::ApiError;

/// Whether a query-string key names a filter dimension (`projectId`, `tag.host`, …).
pub fn is_filter_key(key: &str) -> bool {
    matches!(key, "source" | "type" | "projectId" | "sessionId" | "agentType" | "operation")
        || key.strip_prefix("tag.").is_some_and(|k| !k.is_empty())
}

/// Builds a filter from a key and its values (one value: `eq`, several: `in`), checking
/// enumerated values so a typo is a 400 rather than an empty answer.
pub fn filter(key: &str, values: Vec<String>) -> Result<Filter, ApiError> {
    let dimension: Dimension =
        key.parse().map_err(|_| ApiError::field(key, format!("unknown filter `{key}`")))?;
    if values.is_empty() || values.iter().any(String::is_empty) {
        return Err(ApiError::field(key, format!("{key}: empty value")));
    }
    check_values(&dimension, &values)?;
    let op = if values.len() == 1 { FilterOp::Eq } else { FilterOp::In };
    Ok(Filter { dimension, op, values })
}

/// Rejects unknown values of enumerated dimensions.
pub fn check_values(dimension: &Dimension, values: &[String]) -> Result<(), ApiError> {
    let name = dimension.name();
    for value in values {
        let known = match dimension {
            Dimension::Source => value.parse::<Source>().map(|_| ()).map_err(|e| e.expected),
            Dimension::Type => value.parse::<EventType>().map(|_| ()).map_err(|e| e.expected),
            Dimension::AgentType => value.parse::<AgentType>().map(|_| ()).map_err(|e| e.expected),
            _ => Ok(()),
        };
        if let Err(expected) = known {
            return Err(ApiError::field(
                &name,
                format!("{name}: unknown value `{value}` (expected {expected})"),
            ));
        }
    }
    Ok(())
}

/// Splits a comma-separated query-string value.
pub fn split_values(value: &str) -> Vec<String> {
    value.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
}

/// Parses filters from a JSON object `{"projectId":"p","type":["error","quality"]}`.
pub fn filters_from_json(value: &Value) -> Result<Vec<Filter>, ApiError> {
    let Some(map) = value.as_object() else {
        return Err(ApiError::field("filters", "filters: expected an object"));
    };
    map.iter()
        .map(|(key, value)| {
            let values = match value {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| ApiError::field(key, format!("{key}: expected strings")))
                    })
                    .collect::<Result<_, _>>()?,
                Value::Number(n) => vec![n.to_string()],
                Value::Bool(b) => vec![b.to_string()],
                _ => {
                    return Err(ApiError::field(
                        key,
                        format!("{key}: expected a string or an array of strings"),
                    ));
                }
            };
            filter(key, values)
        })
        .collect()
}

/// Parses a time parameter: RFC 3339 or epoch milliseconds.
pub fn time(name: &str, value: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(value).map_err(|_| {
        ApiError::field(name, format!("{name}: `{value}` is not an RFC 3339 time or epoch milliseconds"))
    })
}

/// Parses a positive integer parameter.
pub fn positive(name: &str, value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::field(name, format!("{name}: `{value}` is not a positive integer"))),
    }
}

/// Parses a boolean parameter (`true`/`false`/`1`/`0`).
pub fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::field(name, format!("{name}: `{value}` is not true or false"))),
    }
}
