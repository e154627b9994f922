//! Notification channels: Slack incoming webhook, e-mail over SMTP, a generic webhook in
//! the Alertmanager v4 shape, and the dashboard (bus + history, nothing to send).
//!
//! Each delivery is one [`Notification`] to one channel; the engine runs every delivery
//! as its own task (`allSettled`: a failing or slow channel never delays the others) and
//! retries it with bounded exponential backoff ([`crate::DeliveryConfig`]).
//!
//! # Layout
//! - [`slack`]: the Block Kit message with a severity-coloured attachment (notes §1.6).
//! - [`webhook`]: the Alertmanager v4 webhook body (notes §1.2).
//! - [`email`]: subject and plain-text body, sent with lettre.

use std::collections::BTreeMap;
use std::time::Duration;

use monitor_core::alert::{Alert, AlertStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rule::{ChannelConfig, ChannelKind, RuleError};

pub mod email;
pub mod slack;
pub mod webhook;

/// Everything a channel needs to describe one alert transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The alert as firing or resolved.
    pub alert: Alert,
    /// The instance's fingerprint (rule id + labels).
    pub fingerprint: String,
    /// The labels that tell this instance apart (`alertname` and the group's dimensions).
    pub group_labels: BTreeMap<String, String>,
    /// The rule's threshold.
    pub threshold: f64,
    /// A short description of what is compared, e.g. `p95 duration > 2000 over 5m`.
    pub condition_text: String,
    /// The server's public base URL, without a trailing `/`.
    pub external_url: String,
    /// The receiver name reported in webhook bodies.
    pub receiver: String,
}

impl Notification {
    /// `{external_url}/api/alerts/rules/{ruleId}`: where the rule can be read.
    pub fn generator_url(&self) -> String {
        format!("{}/api/alerts/rules/{}", self.external_url, self.alert.rule_id)
    }

    /// `FIRING` or `RESOLVED`.
    pub fn status_word(&self) -> &'static str {
        match self.alert.status {
            AlertStatus::Firing => "FIRING",
            AlertStatus::Resolved => "RESOLVED",
        }
    }

    /// The group's dimensions in words: `project p1 · session s-7`.
    pub fn scope_text(&self) -> String {
        self.scope_text_with(" · ")
    }

    /// [`Notification::scope_text`] with another separator.
    pub fn scope_text_with(&self, separator: &str) -> String {
        self.group_labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| {
                let name = match k.as_str() {
                    "projectId" => "project",
                    "sessionId" => "session",
                    "agentType" => "agent",
                    other => other,
                };
                format!("{name} {v}")
            })
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// The value against the threshold: `4210 > 2000`, or just the value when no
    /// threshold applies.
    pub fn value_text(&self) -> String {
        match self.alert.value {
            Some(v) => crate::template::format_value(v),
            None => "no value".to_owned(),
        }
    }
}

/// A parsed channel configuration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ChannelSpec {
    pub(crate) kind: ChannelKind,
    pub(crate) enabled: bool,
    pub(crate) send_resolved: bool,
    pub(crate) target: Target,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Target {
    Slack(slack::SlackConfig),
    Email(email::EmailConfig),
    Webhook(webhook::WebhookConfig),
    Dashboard,
}

fn config_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> RuleError {
    let path = err.path().to_string();
    let inner = err.into_inner().to_string();
    let field = if path == "." {
        // serde names a missing field only in the message: "missing field `url`".
        inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map_or_else(|| "config".to_owned(), |name| format!("config.{name}"))
    } else {
        format!("config.{path}")
    };
    RuleError::new(field, inner)
}

fn parse_config<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, RuleError> {
    serde_path_to_error::deserialize(value.clone()).map_err(config_error)
}

/// Parses and checks a channel's `config` for its `type`.
pub(crate) fn parse_channel(channel: &ChannelConfig) -> Result<ChannelSpec, RuleError> {
    if !channel.config.is_object() {
        return Err(RuleError::new("config", "must be an object"));
    }
    let (target, send_resolved) = match channel.kind {
        ChannelKind::Slack => {
            let config: slack::SlackConfig = parse_config(&channel.config)?;
            check_url(&config.url)?;
            let send = config.send_resolved.unwrap_or(false);
            (Target::Slack(config), send)
        }
        ChannelKind::Webhook => {
            let config: webhook::WebhookConfig = parse_config(&channel.config)?;
            check_url(&config.url)?;
            for name in config.headers.keys() {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(RuleError::new(
                        format!("config.headers.{name}"),
                        "is not a valid HTTP header name",
                    ));
                }
            }
            let send = config.send_resolved.unwrap_or(true);
            (Target::Webhook(config), send)
        }
        ChannelKind::Email => {
            let config: email::EmailConfig = parse_config(&channel.config)?;
            config.check()?;
            let send = config.send_resolved.unwrap_or(true);
            (Target::Email(config), send)
        }
        ChannelKind::Dashboard => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Nothing {}
            let _: Nothing = parse_config(&channel.config)?;
            (Target::Dashboard, true)
        }
    };
    Ok(ChannelSpec { kind: channel.kind, enabled: channel.enabled, send_resolved, target })
}

fn check_url(url: &str) -> Result<(), RuleError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| RuleError::new("config.url", format!("`{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(RuleError::new("config.url", format!("`{url}`: must be an http or https URL")));
    }
    Ok(())
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The receiver accepted it.
    Delivered { detail: String },
    /// Worth trying again, after `after` when the receiver said so (429 `Retry-After`).
    Retry { error: String, after: Option<Duration> },
    /// Trying again will not help (a 4xx other than 408/429, a bad address).
    Fail { error: String },
}

/// What an HTTP answer means for delivery.
pub(crate) fn http_outcome(response: &reqwest::Response) -> Outcome {
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        return Outcome::Delivered { detail: format!("http {code}") };
    }
    if code == 429 {
        let after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Outcome::Retry { error: "http 429 too many requests".to_owned(), after };
    }
    if code == 408 || status.is_server_error() {
        return Outcome::Retry { error: format!("http {code}"), after: None };
    }
    Outcome::Fail { error: format!("http {code}") }
}

/// What a failed request means for delivery: connection problems and timeouts are
/// worth retrying.
pub(crate) fn request_error_outcome(err: &reqwest::Error) -> Outcome {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "request"
    };
    Outcome::Retry { error: format!("{kind} error: {err}"), after: None }
}

/// Builds the HTTP client for Slack and webhooks: rustls with the ring provider and the
/// Mozilla roots, so no process-wide crypto provider has to be installed.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("agent-monitor-alerts/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_resolved_defaults_follow_alertmanager() {
        let parse = |kind: ChannelKind, config: Value| {
            parse_channel(&ChannelConfig { kind, config, enabled: true }).unwrap().send_resolved
        };
        assert!(!parse(ChannelKind::Slack, serde_json::json!({"url": "https://hooks.example/x"})));
        assert!(parse(ChannelKind::Webhook, serde_json::json!({"url": "https://hooks.example/x"})));
        assert!(parse(ChannelKind::Slack, serde_json::json!({"url": "https://h/x", "sendResolved": true})));
        let err = parse_channel(&ChannelConfig {
            kind: ChannelKind::Webhook,
            config: serde_json::json!({"url": "http://h/x", "colour": 1}),
            enabled: true,
        })
        .unwrap_err();
        assert!(err.reason.contains("colour"), "{err}");
    }

    #[test]
    fn builds_an_http_client_without_a_global_crypto_provider() {
        http_client(Duration::from_secs(1)).unwrap();
    }
}
