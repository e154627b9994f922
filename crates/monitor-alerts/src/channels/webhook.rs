//! The generic webhook: POSTs the Alertmanager v4 webhook body (notes §1.2), so receivers
//! written for Alertmanager work unchanged.
//!
//! One notification carries one alert instance: `groupLabels` are `alertname` and the
//! rule's group dimensions, `commonLabels`/`commonAnnotations` the alert's own. A firing
//! alert's `endsAt` is Go's zero time, as Alertmanager sends it. Each request carries an
//! `Idempotency-Key` header (`fingerprint:startsAt:status`) so a receiver can drop the
//! rare duplicate of an at-least-once retry.

use std::collections::BTreeMap;

use monitor_core::alert::AlertStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Notification, Outcome, http_outcome, request_error_outcome};

/// Go's zero `time.Time`, Alertmanager's `endsAt` for a firing alert.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A webhook channel's `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// Send resolved notifications too (default true, as Alertmanager's webhook).
    #[serde(default)]
    pub send_resolved: Option<bool>,
    /// Extra request headers (an `Authorization` for the receiver, …).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The `receiver` name in the body (default: the engine's `receiver`).
    #[serde(default)]
    pub receiver: Option<String>,
}

/// Alertmanager's group key for a route with no matchers: `{}:{name="value", …}`.
pub fn group_key(group_labels: &BTreeMap<String, String>) -> String {
    let inner = group_labels
        .iter()
        .map(|(k, v)| format!("{k}={}", Value::String(v.clone())))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{{}}:{{{inner}}}")
}

/// The v4 webhook body for one notification.
pub fn payload(n: &Notification, receiver: &str) -> Value {
    let alert = &n.alert;
    let status = match alert.status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    };
    let ends_at = alert.ends_at.map_or_else(|| ZERO_TIME.to_owned(), |t| t.to_rfc3339());
    json!({
        "version": "4",
        "groupKey": group_key(&n.group_labels),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": n.group_labels,
        "commonLabels": alert.labels,
        "commonAnnotations": alert.annotations,
        "externalURL": n.external_url,
        "alerts": [{
            "status": status,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": alert.starts_at.to_rfc3339(),
            "endsAt": ends_at,
            "generatorURL": n.generator_url(),
            "fingerprint": n.fingerprint,
        }],
    })
}

/// The `Idempotency-Key` header value of a notification.
pub fn idempotency_key(n: &Notification) -> String {
    let status = match n.alert.status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    };
    format!("{}:{}:{status}", n.fingerprint, n.alert.starts_at.as_micros())
}

pub(crate) async fn send(client: &reqwest::Client, config: &WebhookConfig, n: &Notification) -> Outcome {
    let receiver = config.receiver.as_deref().unwrap_or(&n.receiver);
    let mut request =
        client.post(&config.url).json(&payload(n, receiver)).header("Idempotency-Key", idempotency_key(n));
    for (name, value) in &config.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    match request.send().await {
        Ok(response) => http_outcome(&response),
        Err(err) => request_error_outcome(&err),
    }
}
