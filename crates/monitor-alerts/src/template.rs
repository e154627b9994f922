//! Annotation templates: `{{ $value }}`, `{{ $threshold }}`, `{{ $labels.NAME }}` and a few
//! more, filled with the values that triggered the alert (Prometheus-style, notes §1.1).
//!
//! Only variable substitution: no functions or pipelines. Unknown variables are rejected
//! when the rule is validated, so rendering never fails.

use std::collections::BTreeMap;

/// The variables a template may use, besides `$labels.NAME`.
pub const VARIABLES: [&str; 10] =
    ["value", "threshold", "name", "ruleId", "severity", "field", "aggregate", "window", "score", "expected"];

/// A parsed template: literal text and variables.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Var(String),
    Label(String),
}

/// The values a template is filled with.
pub(crate) struct Values<'a> {
    pub(crate) value: Option<f64>,
    pub(crate) labels: &'a BTreeMap<String, String>,
    pub(crate) vars: &'a BTreeMap<&'static str, String>,
}

impl Template {
    /// Parses `text`; the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err("`{{` without a closing `}}`".to_owned());
            };
            let inner = after[..close].trim();
            let Some(var) = inner.strip_prefix('$') else {
                return Err(format!(
                    "`{{{{ {inner} }}}}` is not a variable (expected `$value`, `$labels.NAME`, …)"
                ));
            };
            if let Some(label) = var.strip_prefix("labels.") {
                if label.is_empty() {
                    return Err("`$labels.` needs a label name".to_owned());
                }
                parts.push(Part::Label(label.to_owned()));
            } else if VARIABLES.contains(&var) {
                parts.push(Part::Var(var.to_owned()));
            } else {
                return Err(format!(
                    "unknown template variable `${var}` (expected one of ${}, or $labels.NAME)",
                    VARIABLES.join(", $")
                ));
            }
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Fills the template in.
    pub(crate) fn render(&self, values: &Values<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Label(name) => out.push_str(values.labels.get(name).map_or("", String::as_str)),
                Part::Var(var) if var == "value" => {
                    out.push_str(&values.value.map_or_else(String::new, format_value));
                }
                Part::Var(var) => out.push_str(values.vars.get(var.as_str()).map_or("", String::as_str)),
            }
        }
        out
    }
}

/// Formats a number for people: integers without a fraction, others with at most
/// three significant decimals (`4210`, `0.25`, `12.346`).
pub fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_values_labels_and_variables() {
        let t = Template::parse(
            "p95 {{ $value }} ms > {{$threshold}} in {{ $labels.sessionId }}{{ $labels.none }}!",
        )
        .unwrap();
        let labels = BTreeMap::from([("sessionId".to_owned(), "s-7".to_owned())]);
        let vars = BTreeMap::from([("threshold", "2000".to_owned())]);
        let out = t.render(&Values { value: Some(4210.0), labels: &labels, vars: &vars });
        assert_eq!(out, "p95 4210 ms > 2000 in s-7!");
    }

    #[test]
    fn rejects_unknown_variables_and_unclosed_braces() {
        assert!(Template::parse("{{ $nope }}").unwrap_err().contains("unknown template variable `$nope`"));
        assert!(Template::parse("{{ value }}").is_err());
        assert!(Template::parse("a {{ $value").is_err());
    }

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(format_value(4210.0), "4210");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(12.34567), "12.346");
        assert_eq!(format_value(-0.0001), "0");
    }
}
