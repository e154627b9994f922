//! Rules as data: the example rules file, API management, read-only file rules, reloads
//! that are applied whole or not at all.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use monitor_alerts::{AlertEngine, AlertStatus, AlertsConfig, ConditionKind, Error};
use monitor_core::store::MemoryStore;
use monitor_core::{Bus, StoreRef, Timestamp};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/alerts-rules.toml")
}

async fn start_with_file(path: &Path) -> Result<(AlertEngine, StoreRef, monitor_alerts::ManualClock), Error> {
    let store: StoreRef = Arc::new(MemoryStore::default());
    let clock = monitor_alerts::ManualClock::new(T0);
    // Tests call `reload_rules_file` themselves; keep the background poll out of the way.
    let config = AlertsConfig {
        rules_file: Some(path.to_owned()),
        rules_poll_interval_ms: 3_600_000,
        ..test_config()
    };
    let engine =
        AlertEngine::start_with_clock(store.clone(), Bus::default(), config, Arc::new(clock.clone())).await?;
    Ok((engine, store, clock))
}

#[tokio::test]
async fn the_example_rules_file_loads_read_only() {
    let (engine, _, _) = start_with_file(&example()).await.unwrap();
    let rules = engine.rules();
    let summary: Vec<_> = rules.iter().map(|r| (r.id.as_str(), r.condition.kind, r.read_only)).collect();
    assert_eq!(
        summary,
        [
            ("tool-latency-p95", ConditionKind::Window, true),
            ("error-ratio", ConditionKind::ErrorRatio, true),
            ("session-silent", ConditionKind::Absence, true),
            ("llm-latency-anomaly", ConditionKind::Anomaly, true),
        ]
    );
    let mut edited = engine.rule("error-ratio").unwrap();
    edited.threshold = 0.5;
    assert!(matches!(engine.put_rule(edited).await, Err(Error::ReadOnly(id)) if id == "error-ratio"));
    assert!(matches!(engine.delete_rule("session-silent").await, Err(Error::ReadOnly(_))));
    engine.shutdown().await;
}

#[tokio::test]
async fn api_rules_are_validated_persisted_and_deleted() {
    let h = Harness::new(&[]).await;
    let mut bad = rule(
        r#"{"id":"r","name":"R","severity":"low","threshold":1,"condition":{"kind":"threshold","field":"duration"}}"#,
    );
    bad.condition.window = Some("forever".to_owned());
    let err = h.engine.put_rule(bad).await.unwrap_err();
    assert_eq!(err.field(), Some("condition.window"));
    assert!(matches!(err, Error::InvalidRule(_)));
    assert!(h.engine.rules().is_empty(), "nothing half-applied");

    let r = rule(
        r#"{"id":"r","name":"R","severity":"low","threshold":100,"condition":{"kind":"threshold","field":"duration"}}"#,
    );
    let saved = h.engine.put_rule(r.clone()).await.unwrap();
    assert_eq!(saved, r);
    assert_eq!(h.engine.rule("r"), Some(r.clone()));
    let stored = h.store.load_state(monitor_alerts::engine::RULES_NAMESPACE).await.unwrap();
    assert_eq!(stored.len(), 1);

    h.send(perf("tool:Bash", 500.0, "s", at(1))).await;
    assert_eq!(h.engine.active().len(), 1);
    // Editing only the threshold keeps the live alert.
    h.engine.put_rule(monitor_alerts::AlertRule { threshold: 200.0, ..r.clone() }).await.unwrap();
    h.engine.flush().await;
    assert_eq!(h.engine.active()[0].starts_at, at(1));
    // Renaming changes the alert's identity: the old one resolves.
    h.clock.set(at(2));
    h.engine.put_rule(monitor_alerts::AlertRule { name: "Renamed".to_owned(), ..r.clone() }).await.unwrap();
    h.engine.flush().await;
    let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 10).await.unwrap();
    let resolved: Vec<_> =
        history.iter().filter(|a| a.status == AlertStatus::Resolved).map(|a| a.name.as_str()).collect();
    assert_eq!(resolved, ["R"]);

    h.send(perf("tool:Bash", 500.0, "s", at(3))).await;
    assert_eq!(h.engine.active()[0].name, "Renamed");
    h.clock.set(at(4));
    assert!(h.engine.delete_rule("r").await.unwrap());
    h.engine.flush().await;
    assert!(h.engine.active().is_empty(), "deleting a rule resolves its alerts");
    assert!(!h.engine.delete_rule("r").await.unwrap(), "already gone");
    assert!(h.store.load_state(monitor_alerts::engine::RULES_NAMESPACE).await.unwrap().is_empty());
    assert!(h.store.load_state(monitor_alerts::engine::INSTANCES_NAMESPACE).await.unwrap().is_empty());
    h.engine.shutdown().await;
}

#[tokio::test]
async fn an_invalid_rules_file_fails_start_naming_the_rule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    let text =
        std::fs::read_to_string(example()).unwrap().replace("aggregate = \"p95\"", "aggregate = \"p42\"");
    std::fs::write(&path, text).unwrap();
    let Err(err) = start_with_file(&path).await else { panic!("an invalid file must not start") };
    let message = err.to_string();
    assert!(message.contains("rules[0].condition.aggregate: unknown variant `p42`"), "{message}");

    let text = std::fs::read_to_string(example()).unwrap().replace("minVolume = 20", "minVolume = 0");
    std::fs::write(&path, text).unwrap();
    let Err(err) = start_with_file(&path).await else { panic!("an invalid file must not start") };
    assert!(
        err.to_string().ends_with("rules[1] (id `error-ratio`): condition.minVolume: must be at least 1"),
        "{err}"
    );
}

#[tokio::test]
async fn a_changed_rules_file_is_applied_whole_or_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    let original = std::fs::read_to_string(example()).unwrap();
    std::fs::write(&path, &original).unwrap();
    let (engine, _, _) = start_with_file(&path).await.unwrap();
    assert_eq!(engine.rules().len(), 4);
    assert!(!engine.reload_rules_file().await.unwrap(), "unchanged");

    // Invalid change: one good edit and one bad rule. Nothing of it applies.
    let broken = original
        .replace("threshold = 0.2", "threshold = 0.3")
        .replace("window = \"15m\"", "window = \"15 minutes\"");
    std::fs::write(&path, &broken).unwrap();
    let err = engine.reload_rules_file().await.unwrap_err();
    assert!(err.to_string().contains("rules[2] (id `session-silent`): condition.window"), "{err}");
    assert_eq!(engine.rule("error-ratio").unwrap().threshold, 0.2, "old rules stay");
    assert_eq!(engine.rules().len(), 4);

    // Valid change: a new threshold, a rule removed.
    let start = original.find("# A live agent session").unwrap();
    let end = original.find("# An LLM call").unwrap();
    let fixed =
        format!("{}{}", &original[..start], &original[end..]).replace("threshold = 0.2", "threshold = 0.3");
    std::fs::write(&path, fixed).unwrap();
    assert!(engine.reload_rules_file().await.unwrap());
    assert_eq!(engine.rule("error-ratio").unwrap().threshold, 0.3);
    assert!(engine.rule("session-silent").is_none());
    assert_eq!(engine.rules().len(), 3);
    engine.shutdown().await;
}

#[tokio::test]
async fn file_rules_win_over_stored_api_rules_with_the_same_id() {
    let store: StoreRef = Arc::new(MemoryStore::default());
    let shadow = serde_json::json!({"id":"error-ratio","name":"Mine","severity":"low",
        "condition":{"kind":"absence","window":"1m"}});
    store.put_state(monitor_alerts::engine::RULES_NAMESPACE, "error-ratio", Some(&shadow)).await.unwrap();
    let config = AlertsConfig { rules_file: Some(example()), ..test_config() };
    let engine = AlertEngine::start(store, Bus::default(), config).await.unwrap();
    assert_eq!(engine.rule("error-ratio").unwrap().name, "AgentErrorRatioHigh");
    assert_eq!(engine.rules().len(), 4);
    engine.shutdown().await;
}
