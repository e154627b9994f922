//! Live streams: SSE at `GET /api/metrics/stream` and the shared message encoding.

use std::convert::Infallible;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use monitor_core::bus::Resume;
use monitor_core::{BusMessage, Filter, Received, Subscription, SubscriptionFilter};
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params;
use crate::query_api::query_pairs;
use crate::state::AppState;

/// The JSON text and SSE event name of a bus message.
pub fn encode(message: &BusMessage) -> (&'static str, String) {
    match message {
        BusMessage::Event(event) => ("metric", event.to_json()),
        BusMessage::Alert(alert) => ("alert", serde_json::to_string(alert.as_ref()).unwrap_or_default()),
    }
}

/// Parses stream filters from a query string; `events=false` or `alerts=false` leave a
/// kind out. `extra` names parameters handled elsewhere (e.g. `access_token`).
pub fn subscription_filter(
    pairs: Vec<(String, String)>,
    extra: &[&str],
) -> Result<(SubscriptionFilter, Option<u64>), ApiError> {
    let mut filter = SubscriptionFilter::default();
    let mut last_id = None;
    for (key, value) in pairs {
        match key.as_str() {
            "events" => filter.no_events = !params::boolean("events", &value)?,
            "alerts" => filter.no_alerts = !params::boolean("alerts", &value)?,
            "lastEventId" => last_id = Some(parse_id(&value)?),
            k if params::is_filter_key(k) => {
                let f: Filter = params::filter(k, params::split_values(&value))?;
                filter.filters.push(f);
            }
            k if extra.contains(&k) => {}
            other => return Err(ApiError::field(other, format!("unknown stream parameter `{other}`"))),
        }
    }
    Ok((filter, last_id))
}

fn parse_id(value: &str) -> Result<u64, ApiError> {
    value.trim().parse().map_err(|_| {
        ApiError::field("Last-Event-ID", format!("`{value}` is not an event id from this server"))
    })
}

struct StreamState {
    pending: std::vec::IntoIter<(u64, BusMessage)>,
    notice: Option<SseEvent>,
    subscription: Subscription,
    last_sent: u64,
    shutdown: tokio_util::sync::CancellationToken,
}

/// `GET /api/metrics/stream`: server-sent events `metric` and `alert` with `id:` set to
/// the bus sequence number; `Last-Event-ID` (header or `lastEventId`) resumes from the
/// recent-message ring, and a `lagged` event says how many were missed.
pub async fn sse(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let (mut filter, mut last_id) = subscription_filter(query_pairs(raw.as_deref())?, &["access_token"])?;
    if let Some(Extension(Some(principal))) = caller {
        principal.scope(&mut filter.filters)?;
    }
    if let Some(header) = headers.get("last-event-id") {
        let text = header.to_str().map_err(|_| ApiError::field("Last-Event-ID", "not ASCII"))?;
        last_id = Some(parse_id(text)?);
    }
    // An id beyond anything this process published comes from an earlier run of the
    // server (ids restart at 1): resume is impossible, so start live.
    if last_id.is_some_and(|id| id > state.bus.last_seq()) {
        last_id = None;
    }
    let (pending, notice, subscription) = match last_id {
        Some(after) => {
            let Resume { replay, missed, subscription } = state.bus.resume(after, filter);
            let notice = (missed > 0).then(|| lag_event(missed));
            (replay, notice, subscription)
        }
        None => (Vec::new(), None, state.bus.subscribe(filter)),
    };
    metrics::counter!("monitor_stream_connections_total", "transport" => "sse").increment(1);
    let initial = StreamState {
        pending: pending.into_iter(),
        notice,
        subscription,
        last_sent: last_id.unwrap_or(0),
        shutdown: state.shutdown.clone(),
    };
    let stream = futures_util::stream::unfold(initial, |mut s| async move {
        if let Some(notice) = s.notice.take() {
            return Some((Ok(notice), s));
        }
        if let Some((seq, message)) = s.pending.next() {
            s.last_sent = seq;
            return Some((Ok(sse_event(seq, &message)), s));
        }
        loop {
            let received = tokio::select! {
                r = s.subscription.recv() => r,
                () = s.shutdown.cancelled() => None,
            };
            match received? {
                Received::Message(seq, message) => {
                    if seq <= s.last_sent {
                        continue;
                    }
                    s.last_sent = seq;
                    return Some((Ok(sse_event(seq, &message)), s));
                }
                Received::Lagged(skipped) => return Some((Ok(lag_event(skipped)), s)),
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.timeouts.keepalive).text("keep-alive")))
}

fn sse_event(seq: u64, message: &BusMessage) -> SseEvent {
    let (name, data) = encode(message);
    SseEvent::default().event(name).id(seq.to_string()).data(data)
}

fn lag_event(skipped: u64) -> SseEvent {
    SseEvent::default().event("lagged").data(json!({ "skipped": skipped }).to_string())
}
