//! Engine configuration: the `[alerts]` section of the server's TOML file.
//!
//! ```toml
//! rules_file = "alerts-rules.toml"
//! external_url = "https://monitor.example.com"
//! evaluation_interval_ms = 1000
//!
//! [delivery]
//! max_attempts = 6
//!
//! [smtp]
//! host = "smtp.example.com"
//! port = 587
//! tls = "starttls"
//! username = "alerts"
//! password_env = "MONITOR_SMTP_PASSWORD"
//! from = "agent-monitor <alerts@example.com>"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Alert engine settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// A TOML, YAML or JSON rules file loaded at start and reloaded when it changes; its
    /// rules are read-only over the API. None: only API rules.
    pub rules_file: Option<PathBuf>,
    /// The server's public base URL, for links in notifications (`externalURL`,
    /// `generatorURL`, Slack and e-mail links). Default `http://127.0.0.1:7070`.
    pub external_url: String,
    /// How often timers run (milliseconds): `for`, keep-firing, absence, window slides,
    /// cooldown ends, repeats. Per-event conditions are evaluated on the event itself.
    /// Default 1000.
    pub evaluation_interval_ms: u64,
    /// How often the rules file's modification time is checked (milliseconds). Default 2000.
    pub rules_poll_interval_ms: u64,
    /// The `receiver` name in webhook bodies. Default `agent-monitor`.
    pub receiver: String,
    /// Most alert instances (groups) per rule; events of further groups are not
    /// evaluated and counted in `monitor_alerts_groups_dropped_total`. Default 10,000.
    pub max_groups_per_rule: usize,
    /// Most samples a window holds per group; the oldest go first. Default 100,000.
    pub max_window_samples: usize,
    /// Notification delivery: retries, backoff, timeouts.
    pub delivery: DeliveryConfig,
    /// The SMTP server e-mail channels send through.
    pub smtp: SmtpConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            rules_file: None,
            external_url: "http://127.0.0.1:7070".to_owned(),
            evaluation_interval_ms: 1_000,
            rules_poll_interval_ms: 2_000,
            receiver: "agent-monitor".to_owned(),
            max_groups_per_rule: 10_000,
            max_window_samples: 100_000,
            delivery: DeliveryConfig::default(),
            smtp: SmtpConfig::default(),
        }
    }
}

impl AlertsConfig {
    /// Checks every setting; the error names it.
    pub fn validate(&self) -> Result<()> {
        let fail = |what: &str| Err(Error::Config(what.to_owned()));
        if !(self.external_url.starts_with("http://") || self.external_url.starts_with("https://")) {
            return fail("external_url must start with http:// or https://");
        }
        if self.evaluation_interval_ms == 0 || self.evaluation_interval_ms > 60_000 {
            return fail("evaluation_interval_ms must be 1..=60000");
        }
        if self.rules_poll_interval_ms == 0 {
            return fail("rules_poll_interval_ms must be at least 1");
        }
        if self.max_groups_per_rule == 0 || self.max_window_samples == 0 {
            return fail("max_groups_per_rule and max_window_samples must be at least 1");
        }
        let d = &self.delivery;
        if d.max_attempts == 0 || d.max_attempts > 100 {
            return fail("delivery.max_attempts must be 1..=100");
        }
        if d.initial_backoff_ms == 0 || d.max_backoff_ms < d.initial_backoff_ms {
            return fail("delivery.initial_backoff_ms must be > 0 and <= delivery.max_backoff_ms");
        }
        if d.timeout_ms == 0 {
            return fail("delivery.timeout_ms must be > 0");
        }
        if self.smtp.host.is_empty() {
            return fail("smtp.host must not be empty");
        }
        if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return fail("smtp.from must be an e-mail address");
        }
        Ok(())
    }

    /// `external_url` without a trailing `/`.
    pub fn base_url(&self) -> String {
        self.external_url.trim_end_matches('/').to_owned()
    }
}

/// Retries of one delivery (one notification to one channel).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before giving up, the first included. Default 6.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time (ms). Default 500.
    pub initial_backoff_ms: u64,
    /// Longest wait between attempts (ms), also the cap on a `Retry-After`. Default 30,000.
    pub max_backoff_ms: u64,
    /// Time limit of one attempt (ms). Default 10,000.
    pub timeout_ms: u64,
    /// On shutdown, how long in-flight deliveries may still run (ms); what is left is
    /// resent at the next start from the durable outbox. Default 5,000.
    pub shutdown_grace_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 6,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            timeout_ms: 10_000,
            shutdown_grace_ms: 5_000,
        }
    }
}

impl DeliveryConfig {
    /// The wait after failed attempt number `attempt` (1-based): `initial × 2^(attempt-1)`,
    /// capped, or the receiver's `Retry-After` (capped too) when it is longer.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ms = self.initial_backoff_ms.saturating_mul(1u64 << exp).min(self.max_backoff_ms);
        let backoff = Duration::from_millis(ms);
        match retry_after {
            Some(after) => after.min(Duration::from_millis(self.max_backoff_ms)).max(backoff),
            None => backoff,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay).
    None,
    /// STARTTLS when the server offers it, plain otherwise.
    Opportunistic,
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The SMTP server e-mail channels use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Server host name. Default `localhost`.
    pub host: String,
    /// Server port. Default 587.
    pub port: u16,
    /// none | opportunistic | starttls | tls. Default starttls.
    pub tls: SmtpTls,
    /// Login user, if the server needs one.
    pub username: Option<String>,
    /// The environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// Default sender. Default `agent-monitor <alerts@localhost>`.
    pub from: String,
    /// The name sent in `EHLO` (default `localhost`).
    pub hello_name: Option<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".to_owned(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password_env: None,
            from: "agent-monitor <alerts@localhost>".to_owned(),
            hello_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_unknown_keys_are_refused() {
        AlertsConfig::default().validate().unwrap();
        let parsed: AlertsConfig =
            toml::from_str("external_url = \"https://m.example\"\n[smtp]\nport = 25\ntls = \"none\"\n")
                .unwrap();
        assert_eq!(parsed.smtp.port, 25);
        assert_eq!(parsed.delivery, DeliveryConfig::default());
        assert!(toml::from_str::<AlertsConfig>("rules = 1").is_err());
    }

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let d =
            DeliveryConfig { initial_backoff_ms: 100, max_backoff_ms: 1_000, ..DeliveryConfig::default() };
        assert_eq!(d.backoff(1, None), Duration::from_millis(100));
        assert_eq!(d.backoff(3, None), Duration::from_millis(400));
        assert_eq!(d.backoff(10, None), Duration::from_millis(1_000));
        assert_eq!(d.backoff(1, Some(Duration::from_millis(700))), Duration::from_millis(700));
        assert_eq!(d.backoff(1, Some(Duration::from_secs(60))), Duration::from_millis(1_000));
    }
}
