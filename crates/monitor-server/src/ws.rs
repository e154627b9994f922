//! `GET /api/ws`: ingest and subscribe on one WebSocket.
//!
//! Client → server: `{"op":"subscribe","filters":{…}}`, `{"op":"unsubscribe"}`,
//! `{"op":"ingest","events":[…]}`, each with an optional `"ref"` echoed in the answer.
//! Server → client: `{"kind":"ack",…}`, `{"kind":"event","seq":N,"data":{…}}`,
//! `{"kind":"alert","seq":N,"data":{…}}`, `{"kind":"error","error":"…"}`.

use axum::Extension;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use monitor_core::validate::event_from_value;
use monitor_core::{BusMessage, Received, Subscription, SubscriptionFilter};
use serde_json::{Value, json};

use crate::auth::{Caller, Need, permits};
use crate::error::ApiError;
use crate::ingest::ingest;
use crate::params;
use crate::query_api::query_pairs;
use crate::state::AppState;

/// Upgrades to a WebSocket session.
pub async fn upgrade(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    RawQuery(raw): RawQuery,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let caller = caller.and_then(|Extension(c)| c);
    for (key, _) in query_pairs(raw.as_deref())? {
        if key != "access_token" {
            return Err(ApiError::field(&key, format!("unknown parameter `{key}`")));
        }
    }
    let max = state.config.http.max_body_bytes;
    Ok(ws.max_message_size(max).on_upgrade(move |socket| session(state, socket, caller)))
}

async fn next_message(subscription: &mut Option<Subscription>) -> Option<Received> {
    match subscription {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn session(state: AppState, mut socket: WebSocket, caller: Caller) {
    metrics::counter!("monitor_stream_connections_total", "transport" => "ws").increment(1);
    let mut subscription: Option<Subscription> = None;
    let mut ping = tokio::time::interval(state.timeouts.keepalive);
    ping.tick().await;
    loop {
        let outgoing = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => handle(&state, &caller, text.as_str(), &mut subscription).await,
                Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                    Ok(text) => handle(&state, &caller, text, &mut subscription).await,
                    Err(_) => Some(error_json("message is not valid UTF-8", None)),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => None,
            },
            received = next_message(&mut subscription) => match received {
                Some(Received::Message(seq, message)) => Some(encode(seq, &message)),
                Some(Received::Lagged(skipped)) => Some(json!({
                    "kind": "error", "error": format!("lagged: {skipped} messages skipped"), "skipped": skipped
                })),
                None => break,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
                None
            }
            () = state.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        };
        if let Some(value) = outgoing
            && socket.send(Message::Text(Utf8Bytes::from(value.to_string()))).await.is_err()
        {
            break;
        }
    }
}

fn may(caller: &Caller, need: Need) -> bool {
    caller.as_ref().is_none_or(|p| permits(p.role, need))
}

fn encode(seq: u64, message: &BusMessage) -> Value {
    match message {
        BusMessage::Event(event) => json!({ "kind": "event", "seq": seq, "data": event.as_ref() }),
        BusMessage::Alert(alert) => json!({ "kind": "alert", "seq": seq, "data": alert.as_ref() }),
    }
}

fn error_json(message: &str, reference: Option<&Value>) -> Value {
    let mut v = json!({ "kind": "error", "error": message });
    if let Some(r) = reference {
        v["ref"] = r.clone();
    }
    v
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    text: &str,
    subscription: &mut Option<Subscription>,
) -> Option<Value> {
    let request: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(error_json(&format!("invalid JSON: {e}"), None)),
    };
    let reference = request.get("ref").cloned();
    let op = request.get("op").and_then(Value::as_str).unwrap_or("");
    let mut answer = match op {
        "subscribe" if !may(caller, Need::Read) => error_json("forbidden: this key may not subscribe", None),
        "ingest" if !may(caller, Need::Ingest) => error_json("forbidden: this key may not ingest", None),
        "subscribe" => {
            let filters = match request.get("filters") {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(value) => params::filters_from_json(value),
            };
            let filters = filters.and_then(|mut f| match caller {
                Some(principal) => principal.scope(&mut f).map(|()| f),
                None => Ok(f),
            });
            match filters {
                Ok(filters) => {
                    let wants = |key: &str| request.get(key).and_then(Value::as_bool).unwrap_or(true);
                    let filter = SubscriptionFilter {
                        filters,
                        no_events: !wants("events"),
                        no_alerts: !wants("alerts"),
                    };
                    *subscription = Some(state.bus.subscribe(filter));
                    json!({ "kind": "ack", "op": "subscribe" })
                }
                Err(e) => error_json(&e.to_string(), None),
            }
        }
        "unsubscribe" => {
            *subscription = None;
            json!({ "kind": "ack", "op": "unsubscribe" })
        }
        "ingest" => match request.get("events") {
            Some(Value::Array(items)) => {
                let parsed = items.iter().cloned().map(event_from_value).collect();
                match ingest(state, parsed, "ws", caller).await {
                    Ok(outcome) => json!({
                        "kind": if outcome.accepted == 0 { "error" } else { "ack" },
                        "op": "ingest",
                        "accepted": outcome.accepted,
                        "rejected": outcome.rejected,
                    }),
                    Err(e) => {
                        let mut v = error_json(&e.to_string(), None);
                        v["op"] = json!("ingest");
                        v["status"] = json!(e.status().as_u16());
                        v
                    }
                }
            }
            Some(object @ Value::Object(_)) => {
                match ingest(state, vec![event_from_value(object.clone())], "ws", caller).await {
                    Ok(outcome) => json!({
                        "kind": if outcome.accepted == 0 { "error" } else { "ack" },
                        "op": "ingest", "accepted": outcome.accepted, "rejected": outcome.rejected,
                    }),
                    Err(e) => error_json(&e.to_string(), None),
                }
            }
            _ => error_json("ingest needs `events`: an array of events", None),
        },
        "" => error_json("missing `op` (subscribe, unsubscribe or ingest)", None),
        other => error_json(&format!("unknown op `{other}` (subscribe, unsubscribe or ingest)"), None),
    };
    if let Some(r) = reference {
        answer["ref"] = r;
    }
    Some(answer)
}
