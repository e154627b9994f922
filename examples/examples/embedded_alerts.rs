//! Run with: `cargo run -p monitor-examples --example embedded_alerts`
//!
//! monitor-alerts embedded without a server: a `MemoryStore`, a `Bus` and a `Collector`
//! feed an `AlertEngine` with one rule (p95 of `duration` for `operation=llm:call` over
//! 5 minutes above 2,000 ms) whose webhook channel points at a small HTTP receiver this
//! example starts on a free loopback port. It prints the Alertmanager v4 body the
//! receiver got and the active alert, then shuts everything down.

use anyhow::{Context, Result};
use monitor_examples::embedded_alerts::{EmbeddedAlertsConfig, run_embedded_alerts};

#[tokio::main]
async fn main() -> Result<()> {
    let config = EmbeddedAlertsConfig::default();
    let outcome = run_embedded_alerts(&config).await?;
    println!(
        "rule {} ({}): {} events sent, {} webhook(s) received",
        outcome.rule.id,
        outcome.rule.name,
        outcome.events_sent,
        outcome.webhooks.len()
    );
    for body in &outcome.webhooks {
        println!("\nwebhook body:\n{}", serde_json::to_string_pretty(body).context("printing the body")?);
    }
    println!("\nactive alerts:");
    for alert in &outcome.active {
        println!("{}", serde_json::to_string_pretty(alert).context("printing the alert")?);
    }
    Ok(())
}
