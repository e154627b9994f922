//! Slack incoming webhook (notes §1.6): a top-level `text` (what mobile notifications
//! show), a header block, and a severity-coloured attachment whose body is Block Kit.
//! Colours: critical `#D40E0D`, high `#F2711C`, medium `#ECB22E`, low `#439FE0`,
//! resolved `good`. Slack answers `429` with `Retry-After` above ~1 message/s; the engine
//! waits that long before the next attempt.

use monitor_core::alert::{AlertStatus, Severity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Notification, Outcome, http_outcome, request_error_outcome};

/// A Slack channel's `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL.
    pub url: String,
    /// Send resolved notifications too (default false, as Alertmanager's Slack).
    #[serde(default)]
    pub send_resolved: Option<bool>,
    /// Override the webhook's channel (legacy webhooks only).
    #[serde(default)]
    pub channel: Option<String>,
    /// Override the poster's name (legacy webhooks only).
    #[serde(default)]
    pub username: Option<String>,
}

/// The attachment colour of a notification.
pub fn colour(n: &Notification) -> &'static str {
    if n.alert.status == AlertStatus::Resolved {
        return "good";
    }
    match n.alert.severity {
        Severity::Critical => "#D40E0D",
        Severity::High => "#F2711C",
        Severity::Medium => "#ECB22E",
        Severity::Low => "#439FE0",
    }
}

/// The message body for one notification.
pub fn message(n: &Notification, config: &SlackConfig) -> Value {
    let alert = &n.alert;
    let word = n.status_word();
    let scope = n.scope_text();
    let value = n.value_text();
    let mut text =
        format!("[{word}] {} ({}) — {} · value {value}", alert.name, alert.severity, n.condition_text);
    if !scope.is_empty() {
        text.push_str(" · ");
        text.push_str(&scope);
    }
    let summary = alert.annotations.get("summary").cloned().unwrap_or_else(|| alert.name.clone());
    let mut body = format!("*{}*", escape(&summary));
    if let Some(description) = alert.annotations.get("description") {
        body.push('\n');
        body.push_str(&escape(description));
    }
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Severity*\n{}", alert.severity)}),
        json!({"type": "mrkdwn", "text": format!("*Rule*\n`{}` {}", alert.rule_id, escape(&alert.name))}),
        json!({"type": "mrkdwn", "text": format!("*Value / threshold*\n{value} / {}", crate::template::format_value(n.threshold))}),
    ];
    if !scope.is_empty() {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Scope*\n{}", escape(&scope))}));
    }
    let mut context = format!("started {}", alert.starts_at.to_rfc3339());
    if let Some(ends) = alert.ends_at {
        context.push_str(&format!(" · resolved {}", ends.to_rfc3339()));
    }
    context.push_str(&format!(
        " · <{}|rule> · <{}/api/alerts|active alerts>",
        n.generator_url(),
        n.external_url
    ));
    if let Some(session) = alert.labels.get("sessionId") {
        context.push_str(&format!(
            " · <{}/api/metrics/query?sessionId={session}|session events>",
            n.external_url
        ));
    }
    let mut message = json!({
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": format!("{word} · {}", alert.name)}}
        ],
        "attachments": [{
            "color": colour(n),
            "fallback": format!("[{word}] {} ({}) {} · value {value}", alert.name, alert.severity, n.condition_text),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": body}, "fields": fields},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}
            ]
        }]
    });
    if let Some(object) = message.as_object_mut() {
        if let Some(channel) = &config.channel {
            object.insert("channel".to_owned(), Value::String(channel.clone()));
        }
        if let Some(username) = &config.username {
            object.insert("username".to_owned(), Value::String(username.clone()));
        }
    }
    message
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` only.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub(crate) async fn send(client: &reqwest::Client, config: &SlackConfig, n: &Notification) -> Outcome {
    match client.post(&config.url).json(&message(n, config)).send().await {
        Ok(response) => http_outcome(&response),
        Err(err) => request_error_outcome(&err),
    }
}
