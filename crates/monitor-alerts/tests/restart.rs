//! A restart neither re-pages nor forgets: firing alerts, pending timers, cooldowns,
//! windows and unfinished deliveries survive through the store.

mod common;

use std::sync::Arc;

use common::*;
use monitor_alerts::AlertStatus;
use monitor_core::store::MemoryStore;
use monitor_core::{StoreRef, Timestamp};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_crash_neither_repages_nor_forgets_firing_and_pending_alerts() {
    // The receiver lives on its own runtime; the first engine's runtime is dropped
    // mid-flight, which ends its tasks as a crash would.
    let receivers = tokio::runtime::Runtime::new().unwrap();
    let hook = receivers.block_on(Hook::start());
    let rules = vec![
        rule(&format!(
            r#"{{"id":"slow","name":"Slow","severity":"high","threshold":1000,
                "condition":{{"kind":"threshold","field":"duration","window":"1h","groupBy":["sessionId"]}},
                "channels":[{{"type":"webhook","config":{{"url":"{}"}}}}]}}"#,
            hook.url("/hook")
        )),
        rule(&format!(
            r#"{{"id":"pending","name":"SlowForAMinute","severity":"low","threshold":1000,
                "condition":{{"kind":"threshold","field":"duration","for":"1m","window":"1h"}},
                "channels":[{{"type":"webhook","config":{{"url":"{}"}}}}]}}"#,
            hook.url("/hook")
        )),
        rule(
            r#"{"id":"p95","name":"P95","severity":"low","threshold":1000,
                "condition":{"kind":"window","field":"duration","aggregate":"max","window":"10m"}}"#,
        ),
    ];
    let store: StoreRef = Arc::new(MemoryStore::default());
    let clock = monitor_alerts::ManualClock::new(T0);

    let first = runtime();
    first.block_on(async {
        let h = Harness::on(store.clone(), clock.clone(), &rules, test_config()).await;
        let event = perf("tool:Bash", 4000.0, "s-1", at(10));
        // The collector writes events to the store too; the window rule warms from it.
        store.write(&[Arc::new(event.clone())]).await.unwrap();
        h.send(event).await;
        h.engine.wait_idle().await;
        assert_eq!(h.engine.active().len(), 2, "slow and p95 fire, pending waits");
        // No shutdown: the runtime goes away with the engine's tasks in it.
    });
    drop(first);
    let pages = receivers.block_on(hook.wait_for(1));
    assert_eq!(pages.len(), 1);

    let second = runtime();
    second.block_on(async {
        clock.set(at(40));
        let h = Harness::on(store.clone(), clock.clone(), &[], test_config()).await;
        let mut active = h.engine.active();
        active.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        let ids: Vec<_> = active.iter().map(|a| (a.rule_id.as_str(), a.starts_at)).collect();
        assert_eq!(ids, [("p95", at(10)), ("slow", at(10))], "firing alerts remembered with their start");
        h.tick_at(69).await;
        assert_eq!(h.engine.active().len(), 2, "pending keeps its original start: not yet");
        h.tick_at(70).await;
        assert_eq!(
            h.engine.active().len(),
            3,
            "pending since 10 s fires at 70 s, not 60 s after the restart"
        );
        h.send(perf("tool:Bash", 10.0, "s-1", at(80))).await;
        h.engine.wait_idle().await;
        let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 10).await.unwrap();
        let slow: Vec<_> = history.iter().filter(|a| a.rule_id == "slow").collect();
        assert_eq!((slow.len(), slow[0].status, slow[0].ends_at), (1, AlertStatus::Resolved, Some(at(80))));
        h.engine.shutdown().await;
    });
    let got = receivers.block_on(hook.wait_for(4));
    let mut seen: Vec<_> = got
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.body["alerts"][0]["labels"]["alertname"].as_str().unwrap(),
                r.body["status"].as_str().unwrap()
            )
        })
        .collect();
    // The first page went out before the crash; after it, deliveries of different alert
    // instances run independently, but each instance's firing precedes its resolve.
    assert_eq!(seen[0], "Slow firing");
    let position = |text: &str| seen.iter().position(|s| s == text);
    assert!(position("Slow firing") < position("Slow resolved"));
    assert!(position("SlowForAMinute firing") < position("SlowForAMinute resolved"));
    seen.sort();
    assert_eq!(
        seen,
        ["Slow firing", "Slow resolved", "SlowForAMinute firing", "SlowForAMinute resolved"],
        "one page per alert across the restart, and the resolves after it"
    );
}

#[tokio::test]
async fn api_rules_and_cooldowns_survive_a_graceful_restart() {
    let hook = Hook::start().await;
    let r = rule(&format!(
        r#"{{"id":"cool","name":"Cool","severity":"high","threshold":1000,"cooldown":600,
            "condition":{{"kind":"threshold","field":"duration","window":"1h"}},
            "channels":[{{"type":"webhook","config":{{"url":"{}"}}}}]}}"#,
        hook.url("/hook")
    ));
    let h = Harness::new(&[r]).await;
    h.send(perf("tool:Bash", 2000.0, "s", at(0))).await;
    h.send(perf("tool:Bash", 10.0, "s", at(10))).await;
    h.engine.wait_idle().await;
    h.engine.shutdown().await;
    assert_eq!(hook.wait_for(2).await.len(), 2);

    let again = Harness::on(h.store.clone(), h.clock.clone(), &[], test_config()).await;
    let rules = again.engine.rules();
    assert_eq!(rules.len(), 1, "the API rule is back");
    assert!(!rules[0].read_only);
    again.send(perf("tool:Bash", 2000.0, "s", at(100))).await; // inside the cooldown
    again.engine.wait_idle().await;
    assert_eq!(again.engine.active().len(), 1);
    assert_eq!(hook.requests().len(), 2, "the cooldown survived the restart: no page yet");
    again.tick_at(600).await;
    again.engine.wait_idle().await;
    assert_eq!(hook.wait_for(3).await.len(), 3);
    again.engine.shutdown().await;
}

#[tokio::test]
async fn an_unfinished_delivery_is_resent_after_a_restart() {
    // The receiver is down (503) until the restart; the first engine shuts down with the
    // delivery still retrying, leaving it in the outbox.
    let hook = Hook::start_with(503, Vec::new(), None).await;
    let r = rule(&format!(
        r#"{{"id":"slow","name":"Slow","severity":"high","threshold":1000,
            "condition":{{"kind":"threshold","field":"duration"}},
            "channels":[{{"type":"webhook","config":{{"url":"{}"}}}}]}}"#,
        hook.url("/down")
    ));
    let mut config = test_config();
    config.delivery.max_attempts = 50;
    config.delivery.initial_backoff_ms = 60_000;
    config.delivery.max_backoff_ms = 60_000;
    config.delivery.shutdown_grace_ms = 10;
    let h = Harness::with_config(&[r], config).await;
    h.send(perf("tool:Bash", 2000.0, "s", at(0))).await;
    hook.wait_for(1).await;
    h.engine.shutdown().await;
    let outbox = h.store.load_state(monitor_alerts::engine::OUTBOX_NAMESPACE).await.unwrap();
    assert_eq!(outbox.len(), 1, "kept for the next start");

    let up = Hook::start().await;
    let url = hook.url("/down");
    // The same receiver address now answers 200: point the stored delivery at a live one.
    let (key, mut value) = outbox.into_iter().next().unwrap();
    value["channel"]["config"]["url"] = serde_json::json!(up.url("/up"));
    h.store.put_state(monitor_alerts::engine::OUTBOX_NAMESPACE, &key, Some(&value)).await.unwrap();
    assert_ne!(url, up.url("/up"));

    let again = Harness::on(h.store.clone(), h.clock.clone(), &[], test_config()).await;
    let got = up.wait_for(1).await;
    assert_eq!(got[0].body["status"], "firing");
    again.engine.wait_idle().await;
    assert!(again.store.load_state(monitor_alerts::engine::OUTBOX_NAMESPACE).await.unwrap().is_empty());
    let log = again.engine.notifications(Timestamp::MIN, Timestamp::MAX, 10).await.unwrap();
    let outcomes: Vec<_> =
        log.iter().map(|r| (r["attempt"].as_u64().unwrap(), r["outcome"].as_str().unwrap())).collect();
    assert_eq!(
        outcomes,
        [(2, "delivered"), (1, "retrying")],
        "newest first, attempts counted across the restart"
    );
    again.engine.shutdown().await;
}
