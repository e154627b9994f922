//! PII and secret redaction, applied to every event before it is stored or broadcast.
//!
//! Built-in rules catch e-mail addresses, bearer tokens, `sk-…` API keys, GitHub
//! tokens (`ghp_…`, `github_pat_…`), AWS access key ids (`AKIA…`), Slack tokens and PEM
//! private keys anywhere in a string. Values under sensitive field names (`password`,
//! `token`, `apiKey`, … plus configured names) are replaced whole. Configured extra
//! regular expressions are replaced with `[REDACTED]`.

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{Event, Payload};

/// What the redactor removes beyond its built-in rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Turn redaction off entirely (not recommended; for trusted test rigs only).
    pub disabled: bool,
    /// Extra field names (payload keys, nested keys, tag keys) whose values are replaced
    /// whole. Matched case-insensitively, ignoring `_` and `-`.
    pub field_names: Vec<String>,
    /// Extra regular expressions whose matches are replaced with `[REDACTED]`.
    pub patterns: Vec<String>,
}

/// Field names redacted by default (normalised: lowercase, no `_` or `-`).
const DEFAULT_FIELD_NAMES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "accesstoken",
    "refreshtoken",
    "privatekey",
    "clientsecret",
    "cookie",
    "sessiontoken",
];

const BUILTIN: &str = concat!(
    r"(?P<pem>-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)",
    r"|(?P<bearer>\b[Bb][Ee][Aa][Rr][Ee][Rr]\s+[A-Za-z0-9\-._~+/]{8,}=*)",
    r"|(?P<sk>\bsk-[A-Za-z0-9_\-]{16,})",
    r"|(?P<gh>\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}))",
    r"|(?P<aws>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)",
    r"|(?P<slack>\bxox[abposr]-[A-Za-z0-9\-]{10,})",
    r"|(?P<email>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})",
);

/// The text that replaces a whole sensitive value.
pub const REDACTED: &str = "[REDACTED]";

/// A compiled redactor; cheap to share (`Clone` shares the compiled patterns).
#[derive(Clone, Debug)]
pub struct Redactor {
    builtin: Option<Regex>,
    extra: Vec<Regex>,
    field_names: Vec<String>,
}

/// A configured pattern that is not a valid regular expression.
#[derive(Debug, thiserror::Error)]
#[error("redaction pattern `{pattern}` is invalid: {source}")]
pub struct PatternError {
    /// The pattern as configured.
    pub pattern: String,
    /// Why it failed to compile.
    #[source]
    pub source: regex::Error,
}

fn normalise(name: &str) -> String {
    name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Whether `text` holds something any built-in rule could match: an `@`, `bearer` in
/// any case, `sk-`, `gh?_`, `github_pat_`, `AKIA`, `ASIA`, `xox` or `-----BEGIN`. One
/// pass over the bytes; a `false` lets almost every string skip the regex. Every
/// built-in rule's match contains one of these, so this never hides a secret.
fn may_hold_secret(text: &str) -> bool {
    /// Bytes that can start one of the prefixes above.
    const STARTS: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        let starts = b"@bBsgAx-";
        while i < starts.len() {
            table[starts[i] as usize] = true;
            i += 1;
        }
        table
    };
    let bytes = text.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        if !STARTS[usize::from(byte)] {
            continue;
        }
        let rest = &bytes[i..];
        let hit = match byte {
            b'@' => true,
            b'b' | b'B' => rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"bearer"),
            b's' => rest.starts_with(b"sk-"),
            b'g' => {
                (rest.len() >= 4 && rest[1] == b'h' && rest[3] == b'_') || rest.starts_with(b"github_pat_")
            }
            b'A' => rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA"),
            b'x' => rest.starts_with(b"xox"),
            b'-' => rest.starts_with(b"-----BEGIN"),
            _ => false,
        };
        if hit {
            return true;
        }
    }
    false
}

impl Default for Redactor {
    fn default() -> Self {
        // The built-in pattern is a constant known to compile; an empty config has no
        // user patterns, so this cannot fail.
        Redactor::new(&RedactionConfig::default()).unwrap_or(Redactor {
            builtin: None,
            extra: Vec::new(),
            field_names: Vec::new(),
        })
    }
}

impl Redactor {
    /// Compiles the built-in rules plus the configuration.
    pub fn new(config: &RedactionConfig) -> Result<Self, PatternError> {
        if config.disabled {
            return Ok(Redactor { builtin: None, extra: Vec::new(), field_names: Vec::new() });
        }
        let builtin =
            Regex::new(BUILTIN).map_err(|source| PatternError { pattern: "built-in".into(), source })?;
        let extra = config
            .patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|source| PatternError { pattern: p.clone(), source }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut field_names: Vec<String> = DEFAULT_FIELD_NAMES.iter().map(|s| (*s).to_owned()).collect();
        field_names.extend(config.field_names.iter().map(|n| normalise(n)));
        Ok(Redactor { builtin: Some(builtin), extra, field_names })
    }

    /// Whether values under this key are replaced whole.
    pub fn is_sensitive_field(&self, name: &str) -> bool {
        if self.field_names.is_empty() {
            return false;
        }
        // Short ASCII names (nearly all keys) are normalised on the stack: no
        // allocation per key on the per-event path.
        let mut buf = [0u8; 64];
        if name.is_ascii() && name.len() <= buf.len() {
            let mut len = 0;
            for &byte in name.as_bytes() {
                if byte != b'_' && byte != b'-' {
                    buf[len] = byte.to_ascii_lowercase();
                    len += 1;
                }
            }
            let key = &buf[..len];
            return self.field_names.iter().any(|known| known.as_bytes() == key);
        }
        let normalised = normalise(name);
        self.field_names.contains(&normalised)
    }

    /// Redacts secrets inside one string, in place. Returns whether anything changed.
    pub fn redact_text(&self, text: &mut String) -> bool {
        let mut changed = false;
        if let Some(builtin) = &self.builtin
            && may_hold_secret(text)
            && builtin.is_match(text)
        {
            let replaced = builtin.replace_all(text, |caps: &Captures<'_>| replacement(caps));
            *text = replaced.into_owned();
            changed = true;
        }
        for pattern in &self.extra {
            if pattern.is_match(text) {
                *text = pattern.replace_all(text, REDACTED).into_owned();
                changed = true;
            }
        }
        changed
    }

    /// Redacts a JSON value recursively: sensitive keys whole, secrets inside strings.
    pub fn redact_value(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) => self.redact_text(s),
            Value::Array(items) => items.iter_mut().fold(false, |acc, v| self.redact_value(v) | acc),
            Value::Object(map) => {
                let mut changed = false;
                for (key, v) in map.iter_mut() {
                    if self.is_sensitive_field(key) && !v.is_null() {
                        *v = Value::String(REDACTED.to_owned());
                        changed = true;
                    } else {
                        changed |= self.redact_value(v);
                    }
                }
                changed
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }

    /// Redacts everything a person or tool wrote in an event. Returns whether anything
    /// changed.
    pub fn redact_event(&self, event: &mut Event) -> bool {
        if self.builtin.is_none() {
            return false;
        }
        let mut changed = false;
        for id in [&mut event.project_id, &mut event.session_id].into_iter().flatten() {
            changed |= self.redact_text(id);
        }
        changed |= self.redact_payload(&mut event.payload);
        for (key, value) in event.tags.iter_mut() {
            if self.is_sensitive_field(key) {
                *value = REDACTED.to_owned();
                changed = true;
            } else {
                changed |= self.redact_text(value);
            }
        }
        if changed {
            metrics::counter!("monitor_core_redacted_events_total").increment(1);
        }
        changed
    }

    fn redact_payload(&self, payload: &mut Payload) -> bool {
        let mut changed = false;
        payload.for_each_text_mut(|_, text| changed |= self.redact_text(text));
        for (key, value) in payload.extra_mut().iter_mut() {
            if self.is_sensitive_field(key) && !value.is_null() {
                *value = Value::String(REDACTED.to_owned());
                changed = true;
            } else {
                changed |= self.redact_value(value);
            }
        }
        changed
    }
}

fn replacement(caps: &Captures<'_>) -> &'static str {
    if caps.name("pem").is_some() {
        "[REDACTED:private-key]"
    } else if caps.name("bearer").is_some() {
        "Bearer [REDACTED]"
    } else if caps.name("sk").is_some() {
        "[REDACTED:api-key]"
    } else if caps.name("gh").is_some() {
        "[REDACTED:github-token]"
    } else if caps.name("aws").is_some() {
        "[REDACTED:aws-key]"
    } else if caps.name("slack").is_some() {
        "[REDACTED:slack-token]"
    } else {
        "[REDACTED:email]"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MetricEvent, Source};
    use crate::time::Timestamp;
    use serde_json::json;

    fn event(v: Value) -> Event {
        let e: MetricEvent = serde_json::from_value(v).unwrap();
        e.into_event(Timestamp(1))
    }

    #[test]
    fn bash_command_with_token_and_path_with_email() {
        let mut e = event(json!({
            "source":"claude-cli","type":"performance","sessionId":"s1",
            "payload":{"operation":"tool:Bash","duration":40.0,
              "tool_input":{"command":"curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def' https://api.example.com && export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuv && git push https://ghp_0123456789abcdefghijABCDEFGHIJ@github.com/x/y",
                "description":"push"},
              "file_path":"/home/jane.doe@example.com/repo/src/main.rs",
              "aws":"key AKIAIOSFODNN7EXAMPLE here",
              "password":"hunter2",
              "pem":"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"},
            "tags":{"user":"bob@corp.io","apiKey":"12345"}
        }));
        assert!(Redactor::default().redact_event(&mut e));
        let text = e.to_json();
        for secret in [
            "eyJhbGci",
            "sk-proj",
            "ghp_0123",
            "jane.doe",
            "AKIAIOSFODNN7EXAMPLE",
            "hunter2",
            "MIIEow",
            "bob@corp",
            "12345",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        let extra = e.payload.extra();
        assert_eq!(
            extra["tool_input"]["command"],
            json!(
                "curl -H 'Authorization: Bearer [REDACTED]' https://api.example.com && export OPENAI_API_KEY=[REDACTED:api-key] && git push https://[REDACTED:github-token]@github.com/x/y"
            )
        );
        assert_eq!(extra["file_path"], json!("/home/[REDACTED:email]/repo/src/main.rs"));
        assert_eq!(extra["tool_input"]["description"], json!("push"));
        assert_eq!(extra["password"], json!(REDACTED));
        assert_eq!(extra["pem"], json!("[REDACTED:private-key]"));
        assert_eq!(e.tags["apiKey"], REDACTED);
    }

    #[test]
    fn prefilter_passes_every_builtin_match() {
        let builtin = Regex::new(BUILTIN).unwrap();
        for text in [
            "mail jane.doe@example.com now",
            "Authorization: BeArEr abcdefgh12345678",
            "key=sk-proj-abcdefghijklmnopqrstuv",
            "https://ghp_0123456789abcdefghijABCDEFGHIJ@github.com",
            "gho_0123456789abcdefghijABCDEFGHIJ",
            "github_pat_0123456789abcdefghijABCDEFGHIJ",
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAIOSFODNN7EXAMPLE",
            "xoxb-1234567890-abcdef",
            "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
        ] {
            assert!(builtin.is_match(text), "{text}");
            assert!(may_hold_secret(text), "prefilter missed {text}");
        }
        for text in ["proj-7", "sess-42", "tool:Bash", "cargo test -p monitor-core", "Beare", "sk", "AKI", ""]
        {
            assert!(!may_hold_secret(text), "{text}");
        }
        // Exhaustive check on short strings built from the rules' building blocks: the
        // prefilter is a superset of the regex.
        let parts = ["@", "b", "B", "earer", " ", "sk-", "g", "h", "p", "_", "ithub_pat_", "AKIA", "ASIA"];
        let tails = ["", "a.io", "abcdefghijklmnopqrstuvwxyz0123", "IOSFODNN7EXAMPLE", "xox", "b-0123456789"];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for tail in tails {
                        let text = format!("x{a}{b}{c}{tail}");
                        if builtin.is_match(&text) {
                            assert!(may_hold_secret(&text), "prefilter missed {text}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} matching strings generated");
    }

    #[test]
    fn sensitive_field_names_ignore_case_and_separators() {
        let r = Redactor::default();
        let long = format!("{}password", "_".repeat(80));
        for name in ["password", "PassWord", "api_key", "API-KEY", "client_Secret", "Cookie", &long] {
            assert!(r.is_sensitive_field(name), "{name}");
        }
        for name in ["host", "passwords", "api", "", "session", "PASSWÖRD"] {
            assert!(!r.is_sensitive_field(name), "{name}");
        }
        let config = RedactionConfig { field_names: vec!["Kennwört".into()], ..Default::default() };
        let r = Redactor::new(&config).unwrap();
        assert!(r.is_sensitive_field("KENN_WÖRT"));
        assert!(!r.is_sensitive_field("kennwort"));
    }

    #[test]
    fn leaves_ordinary_text_alone_and_honours_config() {
        let r = Redactor::new(&RedactionConfig {
            disabled: false,
            field_names: vec!["customer-ref".into()],
            patterns: vec![r"INV-\d{6}".into()],
        })
        .unwrap();
        let mut s = "cargo test -p monitor-core -- --skip slow; task-list ok".to_owned();
        assert!(!r.redact_text(&mut s));
        let mut s = "invoice INV-123456 sent".to_owned();
        assert!(r.redact_text(&mut s));
        assert_eq!(s, "invoice [REDACTED] sent");
        assert!(r.is_sensitive_field("Customer_Ref"));
        let mut e =
            event(json!({"source":"system","type":"error","payload":{"message":"m","customerRef":"c-1"}}));
        assert!(r.redact_event(&mut e));
        assert_eq!(e.payload.extra()["customerRef"], json!(REDACTED));
        assert!(
            Redactor::new(&RedactionConfig { patterns: vec!["(".into()], ..Default::default() }).is_err()
        );
        let _ = Source::System;
    }
}
