//! Spans to `performance` events: `operation` is the span name, `duration` is end −
//! start in milliseconds, `success` is false only for status `ERROR`. The trace, span
//! and parent span ids go to tags (hex), so Claude Code's `claude_code.tool` spans join
//! the hook and log events on `tool_use_id`, and LLM numbers (tokens, cost, `ttft_ms`)
//! to extra payload fields as for `api_request` log events.

use std::fmt::Write as _;

use monitor_core::event::{Extra, PerformancePayload};
use monitor_core::{Limits, MetricEvent, Payload, Source};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::Mapped;
use super::attrs::{Attrs, event_id, finish, timestamp};
use super::logs::LLM_NUMBERS;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Maps an export request: one [`Mapped`] per span.
pub fn map_request(request: &ExportTraceServiceRequest, limits: &Limits) -> Vec<Mapped> {
    let mut mapped = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource =
            resource_spans.resource.as_ref().map(|r| Attrs::from_kvs(&r.attributes)).unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                mapped.push(map_span(span, &resource, limits));
            }
        }
    }
    mapped
}

fn map_span(span: &Span, resource: &Attrs, limits: &Limits) -> Mapped {
    let name = span.name.trim();
    if name.is_empty() {
        return Mapped::Reject("span without a name".into());
    }
    if span.start_time_unix_nano == 0 || span.end_time_unix_nano < span.start_time_unix_nano {
        return Mapped::Reject(format!("{name}: span has no start time or ends before it starts"));
    }
    let duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6;
    let success = span.status.as_ref().is_none_or(|s| s.code != StatusCode::Error as i32);
    let mut attrs = resource.with(&span.attributes);
    let mut extra = Extra::new();
    attrs.numbers_into(&mut extra, LLM_NUMBERS);
    if !success && let Some(status) = span.status.as_ref().filter(|s| !s.message.is_empty()) {
        extra.insert("statusMessage".into(), status.message.clone().into());
    }
    for (key, bytes) in
        [("trace_id", &span.trace_id), ("span_id", &span.span_id), ("parent_span_id", &span.parent_span_id)]
    {
        if !bytes.is_empty() {
            attrs.0.insert(key.into(), super::attrs::Attr::Str(hex(bytes)));
        }
    }
    let payload = Payload::Performance(PerformancePayload {
        operation: name.to_owned(),
        duration: duration_ms,
        memory_usage: None,
        cpu_usage: None,
        success,
        extra,
    });
    let consumed: Vec<&str> = LLM_NUMBERS.iter().map(|(key, _)| *key).collect();
    let id = if span.trace_id.is_empty() || span.span_id.is_empty() {
        event_id(&[
            b"span",
            name.as_bytes(),
            &span.start_time_unix_nano.to_le_bytes(),
            attrs.canonical().as_bytes(),
        ])
    } else {
        event_id(&[b"span", &span.trace_id, &span.span_id])
    };
    let event = MetricEvent::new(Source::ClaudeCli, payload);
    Mapped::Event(Box::new(finish(
        event,
        &attrs,
        &consumed,
        limits,
        timestamp(span.start_time_unix_nano),
        id,
    )))
}
