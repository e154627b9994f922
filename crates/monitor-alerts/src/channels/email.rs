//! E-mail over SMTP with lettre: subject `[FIRING] name (severity): summary`, a plain-text
//! body with the value, threshold, labels and links (ASCII unless the rule's own text is
//! not, so it travels as 7bit and reads as written). The SMTP server (host, port,
//! none | starttls | tls, credentials) is engine configuration ([`crate::SmtpConfig`]);
//! a rule's channel only says who gets the mail, so rules carry no secrets.

use std::fmt::Write as _;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::{Notification, Outcome};
use crate::config::{SmtpConfig, SmtpTls};
use crate::rule::RuleError;

/// One address or several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Addresses {
    /// One address.
    One(String),
    /// Several addresses.
    Many(Vec<String>),
}

impl Addresses {
    /// The addresses as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Addresses::One(a) => vec![a.clone()],
            Addresses::Many(list) => list.clone(),
        }
    }
}

/// An e-mail channel's `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients: `"ops@example.com"` or a list; `"Name <addr>"` is accepted.
    pub to: Addresses,
    /// Sender (default: the engine's `smtp.from`).
    #[serde(default)]
    pub from: Option<String>,
    /// Send resolved notifications too (default true).
    #[serde(default)]
    pub send_resolved: Option<bool>,
}

impl EmailConfig {
    pub(crate) fn check(&self) -> Result<(), RuleError> {
        let to = self.to.to_vec();
        if to.is_empty() {
            return Err(RuleError::new("config.to", "needs at least one address"));
        }
        for address in &to {
            address.parse::<Mailbox>().map_err(|e| {
                RuleError::new("config.to", format!("`{address}` is not an e-mail address: {e}"))
            })?;
        }
        if let Some(from) = &self.from {
            from.parse::<Mailbox>().map_err(|e| {
                RuleError::new("config.from", format!("`{from}` is not an e-mail address: {e}"))
            })?;
        }
        Ok(())
    }
}

/// The subject and plain-text body of a notification.
pub fn render(n: &Notification) -> (String, String) {
    let alert = &n.alert;
    let word = n.status_word();
    let summary = alert.annotations.get("summary").cloned().unwrap_or_else(|| n.condition_text.clone());
    let subject = format!("[{word}] {} ({}): {summary}", alert.name, alert.severity);
    let mut body = String::new();
    let _ = writeln!(body, "{word}: {}\n", alert.name);
    let _ = writeln!(body, "{summary}");
    if let Some(description) = alert.annotations.get("description") {
        let _ = writeln!(body, "{description}");
    }
    let _ = writeln!(body);
    let _ = writeln!(body, "Severity:  {}", alert.severity);
    let _ = writeln!(body, "Rule:      {} ({})", alert.rule_id, alert.name);
    let _ = writeln!(body, "Condition: {}", n.condition_text);
    let _ = writeln!(
        body,
        "Value:     {} (threshold {})",
        n.value_text(),
        crate::template::format_value(n.threshold)
    );
    let scope = n.scope_text_with(", ");
    if !scope.is_empty() {
        let _ = writeln!(body, "Scope:     {scope}");
    }
    let _ = writeln!(body, "Started:   {}", alert.starts_at.to_rfc3339());
    if let Some(ends) = alert.ends_at {
        let _ = writeln!(body, "Resolved:  {}", ends.to_rfc3339());
    }
    let labels = alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(body, "Labels:    {labels}");
    for (key, value) in &alert.annotations {
        if key != "summary" && key != "description" {
            let _ = writeln!(body, "{key}: {value}");
        }
    }
    let _ = writeln!(body);
    let _ = writeln!(body, "Rule URL:      {}", n.generator_url());
    let _ = writeln!(body, "Active alerts: {}/api/alerts", n.external_url);
    let _ = writeln!(body, "Fingerprint:   {}", n.fingerprint);
    (subject, body)
}

fn transport(smtp: &SmtpConfig, timeout: Duration) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls | SmtpTls::Tls => {
            let params = TlsParameters::new(smtp.host.clone()).map_err(|e| format!("smtp tls: {e}"))?;
            if smtp.tls == SmtpTls::Tls { Tls::Wrapper(params) } else { Tls::Required(params) }
        }
        SmtpTls::Opportunistic => {
            let params = TlsParameters::new(smtp.host.clone()).map_err(|e| format!("smtp tls: {e}"))?;
            Tls::Opportunistic(params)
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(name) = &smtp.hello_name {
        builder = builder.hello_name(ClientId::Domain(name.clone()));
    }
    if let Some(user) = &smtp.username {
        let password = match &smtp.password_env {
            Some(var) => {
                std::env::var(var).map_err(|_| format!("smtp password variable `{var}` is not set"))?
            }
            None => String::new(),
        };
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// 7bit when the text allows it (ASCII without NUL, lines within RFC 5322's 998
/// characters), so the mail reads as written; otherwise lettre's choice of
/// quoted-printable or base64. (lettre alone switches to quoted-printable past 76
/// characters, which breaks long label lines with `=` soft breaks.)
fn encode_body(text: String) -> Body {
    let plain = text.is_ascii()
        && !text.contains('\0')
        && !text.contains('\r')
        && text.lines().all(|l| l.len() <= 998);
    if plain {
        let crlf = text.replace('\n', "\r\n");
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text)
    }
}

pub(crate) async fn send(
    smtp: &SmtpConfig,
    config: &EmailConfig,
    n: &Notification,
    timeout: Duration,
) -> Outcome {
    let from = config.from.as_deref().unwrap_or(&smtp.from);
    let Ok(from) = from.parse::<Mailbox>() else {
        return Outcome::Fail { error: format!("sender `{from}` is not an e-mail address") };
    };
    let (subject, body) = render(n);
    let mut builder = Message::builder().from(from).subject(subject).header(ContentType::TEXT_PLAIN);
    for to in config.to.to_vec() {
        match to.parse::<Mailbox>() {
            Ok(mailbox) => builder = builder.to(mailbox),
            Err(e) => return Outcome::Fail { error: format!("recipient `{to}`: {e}") },
        }
    }
    let body = encode_body(body);
    let message = match builder.body(body) {
        Ok(m) => m,
        Err(e) => return Outcome::Fail { error: format!("message: {e}") },
    };
    let mailer = match transport(smtp, timeout) {
        Ok(m) => m,
        Err(error) => return Outcome::Fail { error },
    };
    match mailer.send(message).await {
        Ok(response) => Outcome::Delivered { detail: format!("smtp {}", response.code()) },
        Err(e) if e.is_permanent() => Outcome::Fail { error: format!("smtp permanent error: {e}") },
        Err(e) => Outcome::Retry { error: format!("smtp error: {e}"), after: None },
    }
}
