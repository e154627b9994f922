//! The alert notice: what the alert engine publishes on the bus and stores as history,
//! in the wire shape of DESIGN.md (`/api/alerts`, SSE `event: alert`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Needs attention soon.
    Medium,
    /// Needs attention now.
    High,
    /// Page someone.
    Critical,
}

impl Severity {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!("unknown severity `{s}` (expected low | medium | high | critical)")),
        }
    }
}

/// Whether an alert is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds (after its `for` duration).
    Firing,
    /// The condition stopped holding.
    Resolved,
}

/// One alert instance: a rule firing (or resolved) for one group of labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The rule that fired.
    pub rule_id: String,
    /// The rule's name.
    pub name: String,
    /// The rule's severity.
    pub severity: Severity,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// When it started firing.
    pub starts_at: Timestamp,
    /// When it resolved; `None` while firing.
    pub ends_at: Option<Timestamp>,
    /// The value that triggered (or last held) the condition.
    pub value: Option<f64>,
    /// Identity labels: `alertname`, `severity` and the group's dimensions.
    pub labels: BTreeMap<String, String>,
    /// Templated human text: `summary`, `description`, …
    pub annotations: BTreeMap<String, String>,
}

impl Alert {
    /// A stable fingerprint of the rule id and labels: the alert instance's identity.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.rule_id, &self.labels)
    }
}

/// FNV-1a over the rule id and sorted labels, as 16 hex digits (stable across runs).
pub fn fingerprint(rule_id: &str, labels: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    feed(rule_id.as_bytes());
    for (k, v) in labels {
        feed(k.as_bytes());
        feed(v.as_bytes());
    }
    format!("{hash:016x}")
}
