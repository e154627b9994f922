//! Log records (Claude Code's events) to events.
//!
//! The event name comes from the `event.name` attribute, the record's `event_name`
//! field, or a `claude_code.*` string body; the `claude_code.` prefix is optional.
//! A record with none of these is not an event and is refused.
//!
//! | event | our event |
//! |---|---|
//! | `api_request` | `performance` `llm:<model>`, `duration_ms`, extra `costUsd`, `inputTokens`, `outputTokens`, `cacheReadTokens`, `cacheCreationTokens` |
//! | `api_error` | `error` `llm:<model>`, message `error`, code `status_code`, extra `durationMs`, `attempt` |
//! | `api_retries_exhausted` | `error` `llm:<model>`, extra `totalAttempts`, `totalRetryDurationMs` |
//! | `api_refusal` | `error` `llm:<model>`, code `category` |
//! | `tool_result` | `performance` `tool:<tool_name>`, `duration_ms`, `success`, extra sizes |
//! | `tool_decision` | `quality` `claude_code.tool_decision`, score 1 accept / 0 reject |
//! | `user_prompt` | `quality` `claude_code.user_prompt.length`, score `prompt_length` |
//! | `assistant_response` | `quality` `claude_code.assistant_response.length` |
//! | `compaction` | `performance` `compaction`, extra `preTokens`, `postTokens` |
//! | `subagent_completed` | `performance` `agent:<agent_type>` (worker) |
//! | `hook_execution_complete` | `performance` `hook:<hook_event>`, `total_duration_ms` |
//! | `mcp_server_connection` | `performance` `mcp:connect`, `duration_ms` |
//! | `internal_error` | `error` `internal`, message `error_name`, code `error_code` |
//! | anything else | `quality` `<event name>`, score 1 (one occurrence) |

use monitor_core::event::{ErrorPayload, Extra, PerformancePayload, QualityPayload};
use monitor_core::{AgentType, Limits, MetricEvent, Payload, Source, Timestamp};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use super::Mapped;
use super::attrs::{Attrs, event_id, finish, timestamp};

/// The prefix of Claude Code's event names.
const PREFIX: &str = "claude_code.";

/// Numeric attributes of an LLM call and the payload fields they go to.
pub const LLM_NUMBERS: &[(&str, &str)] = &[
    ("cost_usd", "costUsd"),
    ("input_tokens", "inputTokens"),
    ("output_tokens", "outputTokens"),
    ("cache_read_tokens", "cacheReadTokens"),
    ("cache_creation_tokens", "cacheCreationTokens"),
    ("ttft_ms", "ttftMs"),
];

/// The event name of a record: `(full name, name without the claude_code. prefix)`.
fn event_name(record: &LogRecord, attrs: &Attrs) -> Option<(String, String)> {
    let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(AnyValue::StringValue(s)) if s.starts_with(PREFIX) && !s.contains(char::is_whitespace) => {
            Some(s.clone())
        }
        _ => None,
    };
    let field = Some(record.event_name.trim().to_owned()).filter(|s| !s.is_empty());
    let name = attrs.text("event.name").or(field).or(body)?;
    let bare = name.strip_prefix(PREFIX).unwrap_or(&name).to_owned();
    let full =
        if name.starts_with(PREFIX) || !is_claude_code(attrs) { name } else { format!("{PREFIX}{name}") };
    Some((full, bare))
}

/// Whether the attributes say the sender is Claude Code.
fn is_claude_code(attrs: &Attrs) -> bool {
    attrs.text("service.name").is_some_and(|s| s.starts_with("claude-code"))
        || attrs.text("otel.scope.name").is_some_and(|s| s.starts_with("com.anthropic.claude_code"))
}

fn record_time(record: &LogRecord, attrs: &Attrs) -> Option<Timestamp> {
    timestamp(record.time_unix_nano)
        .or_else(|| attrs.text("event.timestamp").and_then(|t| Timestamp::parse(&t).ok()))
        .or_else(|| timestamp(record.observed_time_unix_nano))
}

fn llm_operation(attrs: &Attrs) -> String {
    attrs.text("model").map_or_else(|| "llm:call".to_owned(), |m| format!("llm:{m}"))
}

fn performance(operation: String, duration: f64, success: bool, extra: Extra) -> Payload {
    Payload::Performance(PerformancePayload {
        operation,
        duration,
        memory_usage: None,
        cpu_usage: None,
        success,
        extra,
    })
}

fn error(operation: String, message: String, code: Option<String>, extra: Extra) -> Payload {
    Payload::Error(ErrorPayload { operation: Some(operation), message, code, extra })
}

fn quality(metric: String, score: f64) -> Payload {
    Payload::Quality(QualityPayload { metric, score, extra: Extra::new() })
}

/// The payload of an event and the attributes it consumed (not repeated as tags).
fn payload(full: &str, bare: &str, attrs: &Attrs) -> Result<(Payload, &'static [&'static str]), String> {
    let mut extra = Extra::new();
    let duration = |key: &str| attrs.number(key).unwrap_or(0.0);
    Ok(match bare {
        "api_request" => {
            attrs.numbers_into(&mut extra, LLM_NUMBERS);
            if !extra.contains_key("costUsd")
                && let Some(micros) = attrs.number("cost_usd_micros")
                && let Some(n) = serde_json::Number::from_f64(micros / 1e6)
            {
                extra.insert("costUsd".into(), n.into());
            }
            let consumed: &[&str] = &[
                "duration_ms",
                "cost_usd",
                "cost_usd_micros",
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_creation_tokens",
                "ttft_ms",
            ];
            (performance(llm_operation(attrs), duration("duration_ms"), true, extra), consumed)
        }
        "api_error" => {
            attrs.numbers_into(&mut extra, &[("duration_ms", "durationMs"), ("attempt", "attempt")]);
            let message = attrs.text("error").unwrap_or_else(|| "api error".into());
            (
                error(llm_operation(attrs), message, attrs.text("status_code"), extra),
                &["duration_ms", "attempt", "status_code"],
            )
        }
        "api_retries_exhausted" => {
            attrs.numbers_into(
                &mut extra,
                &[("total_attempts", "totalAttempts"), ("total_retry_duration_ms", "totalRetryDurationMs")],
            );
            let message = attrs.text("error").unwrap_or_else(|| "api retries exhausted".into());
            (
                error(llm_operation(attrs), message, attrs.text("status_code"), extra),
                &["total_attempts", "total_retry_duration_ms", "status_code"],
            )
        }
        "api_refusal" => {
            (error(llm_operation(attrs), "api refusal".into(), attrs.text("category"), extra), &["category"])
        }
        "tool_result" => {
            attrs.numbers_into(
                &mut extra,
                &[
                    ("tool_input_size_bytes", "toolInputSizeBytes"),
                    ("tool_result_size_bytes", "toolResultSizeBytes"),
                ],
            );
            let tool = attrs.text("tool_name").unwrap_or_else(|| "unknown".into());
            let success = attrs.flag("success").unwrap_or(true);
            (
                performance(format!("tool:{tool}"), duration("duration_ms"), success, extra),
                &["duration_ms", "success", "tool_input_size_bytes", "tool_result_size_bytes"],
            )
        }
        "tool_decision" => {
            let accepted = attrs.text("decision").is_some_and(|d| d.eq_ignore_ascii_case("accept"));
            (quality(full.to_owned(), if accepted { 1.0 } else { 0.0 }), &[])
        }
        "user_prompt" | "assistant_response" => {
            let (length_key, text_key) = if bare == "user_prompt" {
                ("prompt_length", "prompt")
            } else {
                ("response_length", "response")
            };
            // Only the length is kept, never the text; without a length attribute the
            // text's length (when the sender logs it) is used, then discarded.
            let length = attrs
                .number(length_key)
                .or_else(|| attrs.text(text_key).map(|t| t.chars().count() as f64))
                .ok_or_else(|| format!("{full}: no {length_key} attribute"))?;
            (quality(format!("{full}.length"), length), &["prompt_length", "response_length"])
        }
        "compaction" => {
            attrs.numbers_into(&mut extra, &[("pre_tokens", "preTokens"), ("post_tokens", "postTokens")]);
            let success = attrs.flag("success").unwrap_or(true);
            (
                performance("compaction".into(), duration("duration_ms"), success, extra),
                &["duration_ms", "success", "pre_tokens", "post_tokens"],
            )
        }
        "subagent_completed" => {
            attrs.numbers_into(
                &mut extra,
                &[("total_tokens", "totalTokens"), ("total_tool_uses", "totalToolUses")],
            );
            let agent = attrs.text("agent_type").unwrap_or_else(|| "subagent".into());
            (
                performance(format!("agent:{agent}"), duration("duration_ms"), true, extra),
                &["duration_ms", "total_tokens", "total_tool_uses"],
            )
        }
        "hook_execution_complete" => {
            attrs.numbers_into(
                &mut extra,
                &[
                    ("num_hooks", "numHooks"),
                    ("num_success", "numSuccess"),
                    ("num_blocking", "numBlocking"),
                    ("num_non_blocking_error", "numNonBlockingError"),
                    ("num_cancelled", "numCancelled"),
                ],
            );
            let failed = attrs.number("num_non_blocking_error").unwrap_or(0.0) > 0.0
                || attrs.number("num_cancelled").unwrap_or(0.0) > 0.0;
            let hook = attrs.text("hook_event").unwrap_or_else(|| "unknown".into());
            (
                performance(format!("hook:{hook}"), duration("total_duration_ms"), !failed, extra),
                &[
                    "total_duration_ms",
                    "num_hooks",
                    "num_success",
                    "num_blocking",
                    "num_non_blocking_error",
                    "num_cancelled",
                ],
            )
        }
        "mcp_server_connection" => {
            let status = attrs.text("status").unwrap_or_default().to_ascii_lowercase();
            let failed = status.contains("fail") || status.contains("error");
            (performance("mcp:connect".into(), duration("duration_ms"), !failed, extra), &["duration_ms"])
        }
        "internal_error" => {
            let message = attrs.text("error_name").unwrap_or_else(|| "internal error".into());
            (
                error("internal".into(), message, attrs.text("error_code"), extra),
                &["error_name", "error_code"],
            )
        }
        _ => (quality(full.to_owned(), 1.0), &[]),
    })
}

/// Maps an export request: one [`Mapped`] per log record.
pub fn map_request(request: &ExportLogsServiceRequest, limits: &Limits) -> Vec<Mapped> {
    let mut mapped = Vec::new();
    for resource_logs in &request.resource_logs {
        let resource =
            resource_logs.resource.as_ref().map(|r| Attrs::from_kvs(&r.attributes)).unwrap_or_default();
        let resource_key = resource.canonical();
        for scope_logs in &resource_logs.scope_logs {
            let mut scoped = resource.clone();
            if let Some(scope) = scope_logs.scope.as_ref().filter(|s| !s.name.is_empty()) {
                scoped.0.insert("otel.scope.name".into(), super::attrs::Attr::Str(scope.name.clone()));
            }
            for record in &scope_logs.log_records {
                mapped.push(map_record(record, &scoped, &resource_key, limits));
            }
        }
    }
    mapped
}

fn map_record(record: &LogRecord, scoped: &Attrs, resource_key: &str, limits: &Limits) -> Mapped {
    let attrs = scoped.with(&record.attributes);
    let Some((full, bare)) = event_name(record, &attrs) else {
        return Mapped::Reject(
            "log record is not an event: no event.name attribute, event_name or claude_code.* body".into(),
        );
    };
    let (payload, consumed) = match payload(&full, &bare, &attrs) {
        Ok(found) => found,
        Err(reason) => return Mapped::Reject(reason),
    };
    let id = event_id(&[b"log", resource_key.as_bytes(), &record.encode_to_vec()]);
    let mut event = finish(
        MetricEvent::new(Source::ClaudeCli, payload),
        &attrs,
        consumed,
        limits,
        record_time(record, &attrs),
        id,
    );
    if bare == "subagent_completed" {
        event.agent_type = Some(AgentType::Worker);
    }
    Mapped::Event(Box::new(event))
}
