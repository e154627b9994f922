//! The alert state machine end to end on a manual clock: conditions, `for`, keep-firing,
//! hysteresis, cooldown, absence, anomaly, the bus and the history.

mod common;

use std::collections::BTreeMap;

use common::*;
use monitor_alerts::{AlertRule, AlertStatus, Severity};
use monitor_core::bus::{BusMessage, Received, SubscriptionFilter};
use monitor_core::{Bus, Timestamp};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn statuses(requests: &[Captured]) -> Vec<String> {
    requests.iter().map(|r| r.body["status"].as_str().unwrap_or("?").to_owned()).collect()
}

#[tokio::test]
async fn threshold_fires_once_dedups_and_resolves_with_bus_and_history() {
    let hook = Hook::start().await;
    let r = rule(&format!(
        r#"{{"id":"slow-bash","name":"SlowBash","severity":"high","threshold":1000,
            "condition":{{"kind":"threshold","field":"duration","op":"gt","filters":{{"operation":"tool:Bash"}},"groupBy":["sessionId"]}},
            "annotations":{{"summary":"Bash took {{{{ $value }}}} ms in {{{{ $labels.sessionId }}}} (limit {{{{ $threshold }}}})"}},
            "channels":[{{"type":"webhook","config":{{"url":"{}"}}}}]}}"#,
        hook.url("/hook")
    ));
    let h = Harness::new(&[r]).await;
    let mut sub = h.bus.subscribe(SubscriptionFilter { no_events: true, ..SubscriptionFilter::default() });

    h.send(perf("tool:Read", 9000.0, "s-7", at(0))).await; // other operation: ignored
    h.send(perf("tool:Bash", 4210.0, "s-7", at(1))).await;
    let active = h.engine.active();
    assert_eq!(active.len(), 1);
    let alert = &active[0];
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.value, Some(4210.0));
    assert_eq!(alert.starts_at, at(1));
    assert_eq!(alert.severity, Severity::High);
    assert_eq!(
        alert.labels,
        labels(&[("alertname", "SlowBash"), ("sessionId", "s-7"), ("severity", "high")])
    );
    assert_eq!(alert.annotations["summary"], "Bash took 4210 ms in s-7 (limit 1000)");

    h.send(perf("tool:Bash", 5000.0, "s-7", at(10))).await; // still breaching: no new page
    h.send(perf("tool:Bash", 200.0, "s-7", at(20))).await; // recovers
    assert!(h.engine.active().is_empty());
    h.engine.wait_idle().await;
    let got = hook.wait_for(2).await;
    assert_eq!(statuses(&got), ["firing", "resolved"]);

    let Some(Received::Message(_, BusMessage::Alert(first))) = sub.try_recv() else {
        panic!("firing on the bus")
    };
    assert_eq!(first.status, AlertStatus::Firing);
    let Some(Received::Message(_, BusMessage::Alert(second))) = sub.try_recv() else {
        panic!("resolved on the bus")
    };
    assert_eq!(second.status, AlertStatus::Resolved);
    assert_eq!(second.ends_at, Some(at(20)));
    assert!(sub.try_recv().is_none(), "one firing and one resolved, nothing else");

    let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 100).await.unwrap();
    assert_eq!(history.len(), 1, "the resolved record replaces the firing one");
    assert_eq!(history[0].status, AlertStatus::Resolved);
    assert_eq!((history[0].starts_at, history[0].ends_at), (at(1), Some(at(20))));
    assert_eq!(history[0].value, Some(200.0), "the value it resolved at");
    h.engine.shutdown().await;
}

#[tokio::test]
async fn events_from_the_bus_are_evaluated() {
    let r = rule(
        r#"{"id":"slow","name":"Slow","severity":"low","threshold":100,
            "condition":{"kind":"threshold","field":"duration"}}"#,
    );
    let h = Harness::new(&[r]).await;
    let mut alerts = h.bus.subscribe(SubscriptionFilter { no_events: true, ..SubscriptionFilter::default() });
    h.clock.set(at(5));
    h.bus.publish_event(std::sync::Arc::new(perf("tool:Bash", 150.0, "s-1", at(5))));
    let received =
        tokio::time::timeout(std::time::Duration::from_secs(20), alerts.recv()).await.expect("an alert");
    let Some(Received::Message(_, BusMessage::Alert(alert))) = received else { panic!("{received:?}") };
    assert_eq!((alert.rule_id.as_str(), alert.value), ("slow", Some(150.0)));
    h.engine.shutdown().await;
}

#[tokio::test]
async fn for_keeps_an_alert_pending_and_a_recovery_cancels_it() {
    let r = rule(
        r#"{"id":"slow","name":"Slow","severity":"medium","threshold":1000,
            "condition":{"kind":"threshold","field":"duration","for":"1m","groupBy":["sessionId"]}}"#,
    );
    let h = Harness::new(&[r]).await;
    h.send(perf("tool:Bash", 3000.0, "s-1", at(0))).await;
    assert!(h.engine.active().is_empty(), "pending, not firing");
    h.tick_at(59).await;
    assert!(h.engine.active().is_empty());
    h.tick_at(60).await;
    let active = h.engine.active();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].starts_at, at(60));

    h.send(perf("tool:Bash", 3000.0, "s-2", at(100))).await;
    h.send(perf("tool:Bash", 10.0, "s-2", at(130))).await; // back to normal inside `for`
    h.tick_at(200).await;
    let active = h.engine.active();
    assert_eq!(active.len(), 1, "s-2 never fired: {active:?}");
    assert_eq!(active[0].labels["sessionId"], "s-1");
    let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 10).await.unwrap();
    assert_eq!(history.len(), 1, "pending instances leave no history");
    h.engine.shutdown().await;
}

#[tokio::test]
async fn keep_firing_for_holds_the_alert_after_the_condition_clears() {
    let r = rule(
        r#"{"id":"slow","name":"Slow","severity":"medium","threshold":1000,"keepFiringFor":"2m",
            "condition":{"kind":"threshold","field":"duration"}}"#,
    );
    let h = Harness::new(&[r]).await;
    h.send(perf("tool:Bash", 3000.0, "s-1", at(0))).await;
    h.send(perf("tool:Bash", 10.0, "s-1", at(10))).await;
    assert_eq!(h.engine.active().len(), 1, "recovering, still firing");
    h.tick_at(119).await;
    assert_eq!(h.engine.active().len(), 1);
    h.tick_at(120).await;
    assert!(h.engine.active().is_empty());
    let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 10).await.unwrap();
    assert_eq!(history[0].ends_at, Some(at(120)));
    h.engine.shutdown().await;
}

#[tokio::test]
async fn a_recovery_threshold_stops_a_flapping_metric_from_paging_repeatedly() {
    let with = rule(
        r#"{"id":"hyst","name":"Hyst","severity":"high","threshold":1000,"recoveryThreshold":800,
            "condition":{"kind":"threshold","field":"duration"}}"#,
    );
    let without = rule(
        r#"{"id":"plain","name":"Plain","severity":"high","threshold":1000,
            "condition":{"kind":"threshold","field":"duration"}}"#,
    );
    let h = Harness::new(&[with, without]).await;
    for (i, ms) in [1200.0, 900.0, 1100.0, 950.0, 700.0, 1050.0].into_iter().enumerate() {
        h.send(perf("tool:Bash", ms, "s-1", at(i64::try_from(i).unwrap() * 10))).await;
    }
    let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 100).await.unwrap();
    let episodes = |id: &str| history.iter().filter(|a| a.rule_id == id).count();
    // Without hysteresis: fires at 1200, 1100, 1050. With it: at 1200 (held through 900,
    // 1100, 950; resolved at 700) and 1050.
    assert_eq!(episodes("plain"), 3);
    assert_eq!(episodes("hyst"), 2);
    let resolved_at: Vec<_> =
        history.iter().filter(|a| a.rule_id == "hyst").map(|a| (a.starts_at, a.ends_at)).collect();
    assert_eq!(resolved_at, [(at(50), None), (at(0), Some(at(40)))]);
    h.engine.shutdown().await;
}

#[tokio::test]
async fn cooldown_defers_a_refire_and_drops_it_if_it_resolves_first() {
    let hook = Hook::start().await;
    let r = rule(&format!(
        r#"{{"id":"cool","name":"Cool","severity":"high","threshold":1000,"cooldown":300,
            "condition":{{"kind":"threshold","field":"duration"}},
            "channels":[{{"type":"webhook","config":{{"url":"{}"}}}}]}}"#,
        hook.url("/hook")
    ));
    let h = Harness::new(&[r]).await;
    h.send(perf("tool:Bash", 2000.0, "s", at(0))).await; // fires, notified
    h.send(perf("tool:Bash", 10.0, "s", at(10))).await; // resolves, notified
    h.send(perf("tool:Bash", 2000.0, "s", at(20))).await; // fires inside the cooldown: deferred
    h.send(perf("tool:Bash", 2000.0, "s", at(200))).await;
    h.engine.wait_idle().await;
    assert_eq!(hook.requests().len(), 2, "the re-fire waits for the cooldown");
    assert_eq!(h.engine.active().len(), 1, "but it is firing (bus, history, /api/alerts)");
    h.tick_at(300).await; // cooldown over, still firing: notify now
    h.send(perf("tool:Bash", 10.0, "s", at(310))).await;
    h.send(perf("tool:Bash", 2000.0, "s", at(320))).await; // deferred again
    h.send(perf("tool:Bash", 10.0, "s", at(330))).await; // resolved before it was ever sent
    h.engine.wait_idle().await;
    let got = hook.wait_for(4).await;
    assert_eq!(statuses(&got), ["firing", "resolved", "firing", "resolved"]);
    assert_eq!(got[2].body["alerts"][0]["startsAt"], at(20).to_rfc3339());
    let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 100).await.unwrap();
    assert_eq!(history.len(), 3, "three episodes recorded");
    h.engine.shutdown().await;
}

#[tokio::test]
async fn repeat_interval_resends_while_firing() {
    let hook = Hook::start().await;
    let r = rule(&format!(
        r#"{{"id":"rep","name":"Rep","severity":"high","threshold":1000,"repeatInterval":"1h",
            "condition":{{"kind":"window","aggregate":"count","op":"gte","window":"1d"}},
            "channels":[{{"type":"webhook","config":{{"url":"{}"}}}}]}}"#,
        hook.url("/hook")
    ));
    let h = Harness::new(&[AlertRule { threshold: 1.0, ..r }]).await;
    h.send(perf("tool:Bash", 1.0, "s", at(0))).await;
    h.tick_at(3599).await;
    h.tick_at(3600).await;
    h.tick_at(3700).await;
    h.engine.wait_idle().await;
    assert_eq!(statuses(&hook.wait_for(2).await), ["firing", "firing"]);
    h.engine.shutdown().await;
}

#[tokio::test]
async fn window_p95_and_count_per_group_slide_out() {
    let p95 = rule(
        r#"{"id":"p95","name":"ToolLatencyHigh","severity":"high","threshold":1000,
            "condition":{"kind":"window","field":"duration","aggregate":"p95","window":"5m",
                         "filters":{"type":"performance"},"groupBy":["operation"]}}"#,
    );
    let count = rule(
        r#"{"id":"busy","name":"Busy","severity":"low","threshold":5,
            "condition":{"kind":"window","aggregate":"count","window":"1m","filters":{"operation":"tool:Bash"}}}"#,
    );
    let h = Harness::new(&[p95, count]).await;
    for i in 0..10 {
        h.send(perf("tool:Bash", 100.0, "s", at(i))).await;
    }
    // Ten events in a minute: count > 5 fired at the sixth; an active alert shows the
    // latest value, its annotations the triggering one.
    let busy: Vec<_> = h.engine.active().into_iter().filter(|a| a.rule_id == "busy").collect();
    assert_eq!((busy.len(), busy[0].starts_at, busy[0].value), (1, at(5), Some(10.0)));
    assert_eq!(busy[0].annotations["description"], "value 6 (count > 5 over 1m)");
    h.send(perf("tool:Bash", 5000.0, "s", at(10))).await;
    h.send(perf("tool:Read", 5000.0, "s", at(11))).await;
    let mut p95s: Vec<_> = h.engine.active().into_iter().filter(|a| a.rule_id == "p95").collect();
    p95s.sort_by(|a, b| a.labels["operation"].cmp(&b.labels["operation"]));
    // Bash: ten 100s and one 5000: rank 0.95 × 10 = 9.5 → 100 + 0.5 × 4900 = 2550.
    assert_eq!(p95s[0].labels["operation"], "tool:Bash");
    assert_eq!(p95s[0].value, Some(2550.0));
    assert_eq!((p95s[1].labels["operation"].as_str(), p95s[1].value), ("tool:Read", Some(5000.0)));
    h.tick_at(310).await; // Bash events at 0..9 left the window: p95 = 5000
    assert_eq!(h.engine.active().iter().filter(|a| a.rule_id == "p95").count(), 2);
    h.tick_at(311).await; // the 5000 at t=10 left too: Bash has no data and resolves
    let left: Vec<_> = h.engine.active().into_iter().filter(|a| a.rule_id == "p95").collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].labels["operation"], "tool:Read");
    h.tick_at(312).await;
    assert!(h.engine.active().is_empty(), "{:?}", h.engine.active());
    h.engine.shutdown().await;
}

#[tokio::test]
async fn error_ratio_waits_for_minimum_volume() {
    let r = rule(
        r#"{"id":"errors","name":"ErrorRatioHigh","severity":"critical","threshold":0.5,
            "condition":{"kind":"errorRatio","window":"5m","minVolume":10,"groupBy":["projectId"]},
            "annotations":{"summary":"{{ $labels.projectId }} error ratio {{ $value }}"}}"#,
    );
    let h = Harness::new(&[r]).await;
    let mut t = 0;
    let mut next = || {
        t += 1;
        at(t)
    };
    for _ in 0..3 {
        h.send(error("tool:Bash", "s", next())).await;
    }
    assert!(h.engine.active().is_empty(), "3 of 3 failed, but 3 events are below the volume guard");
    for _ in 0..4 {
        h.send(perf("tool:Bash", 10.0, "s", next())).await;
    }
    for _ in 0..2 {
        h.send(error("tool:Bash", "s", next())).await;
    }
    assert!(h.engine.active().is_empty(), "5 of 9: still below 10 events");
    h.send(error("tool:Bash", "s", next())).await;
    let active = h.engine.active();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].value, Some(0.6));
    assert_eq!(active[0].annotations["summary"], "p1 error ratio 0.6");
    h.send(perf("tool:Bash", 10.0, "s", next())).await;
    h.send(perf("tool:Bash", 10.0, "s", next())).await; // 6 of 12 = 0.5, not above
    assert!(h.engine.active().is_empty());
    h.engine.shutdown().await;
}

#[tokio::test]
async fn absence_fires_on_silence_per_session_and_forgets_ended_sessions() {
    let quiet = rule(
        r#"{"id":"quiet","name":"NoEvents","severity":"high",
            "condition":{"kind":"absence","window":"10m"}}"#,
    );
    let silent = rule(
        r#"{"id":"silent","name":"SessionSilent","severity":"medium",
            "condition":{"kind":"absence","window":"10m","expireAfter":"1h","groupBy":["sessionId"]}}"#,
    );
    let h = Harness::new(&[quiet, silent]).await;
    h.tick_at(599).await;
    assert!(h.engine.active().is_empty());
    h.tick_at(600).await; // nothing at all since the rule was installed at T0
    let active = h.engine.active();
    assert_eq!(active.len(), 1);
    assert_eq!((active[0].rule_id.as_str(), active[0].value), ("quiet", Some(600.0)));
    h.send(perf("tool:Bash", 1.0, "s-1", at(601))).await;
    h.send(perf("tool:Bash", 1.0, "s-2", at(602))).await;
    assert!(h.engine.active().is_empty(), "an event ends the silence");
    h.send(perf("tool:Bash", 1.0, "s-2", at(1000))).await;
    h.tick_at(1201).await;
    let active = h.engine.active();
    let sessions: Vec<_> =
        active.iter().filter(|a| a.rule_id == "silent").map(|a| a.labels["sessionId"].clone()).collect();
    assert_eq!(sessions, ["s-1"]);
    h.tick_at(1600).await;
    let mut sessions: Vec<_> = h
        .engine
        .active()
        .iter()
        .filter(|a| a.rule_id == "silent")
        .map(|a| a.labels["sessionId"].clone())
        .collect();
    sessions.sort();
    assert_eq!(sessions, ["s-1", "s-2"]);
    h.tick_at(601 + 3600).await; // s-1 silent for an hour: the session ended, forget it
    let sessions: Vec<_> = h
        .engine
        .active()
        .iter()
        .filter(|a| a.rule_id == "silent")
        .map(|a| a.labels["sessionId"].clone())
        .collect();
    assert_eq!(sessions, ["s-2"]);
    h.engine.shutdown().await;
}

#[tokio::test]
async fn anomaly_on_llm_call_duration_fires_and_clears() {
    let r = rule(
        r#"{"id":"llm","name":"LlmLatencyAnomaly","severity":"medium","threshold":4,
            "condition":{"kind":"anomaly","field":"duration","method":"robust","window":"10m",
                         "filters":{"operation":"llm:call"},"groupBy":["agentType","operation"]},
            "annotations":{"description":"took {{ $value }} ms, expected {{ $expected }} ms (score {{ $score }})"}}"#,
    );
    let h = Harness::new(&[r]).await;
    for i in 0..60 {
        let ms = 1000.0 + f64::from(i % 7) * 20.0;
        h.send(perf("llm:call", ms, "s", at(i64::from(i)))).await;
    }
    assert!(h.engine.active().is_empty(), "steady latency is not an anomaly");
    h.send(perf("llm:call", 20_000.0, "s", at(60))).await;
    let active = h.engine.active();
    assert_eq!(active.len(), 1);
    let alert = &active[0];
    assert_eq!(alert.value, Some(20_000.0));
    assert_eq!(alert.labels["agentType"], "worker");
    assert_eq!(alert.labels["operation"], "llm:call");
    let description = &alert.annotations["description"];
    assert!(description.starts_with("took 20000 ms, expected 10"), "{description}");
    h.tick_at(60 + 599).await;
    assert_eq!(h.engine.active().len(), 1);
    h.tick_at(60 + 600).await;
    assert!(h.engine.active().is_empty());
    h.engine.shutdown().await;
}

#[tokio::test]
async fn a_disabled_rule_resolves_and_stops_evaluating() {
    let r = rule(
        r#"{"id":"slow","name":"Slow","severity":"low","threshold":100,
            "condition":{"kind":"threshold","field":"duration"}}"#,
    );
    let h = Harness::new(std::slice::from_ref(&r)).await;
    h.send(perf("tool:Bash", 500.0, "s", at(0))).await;
    assert_eq!(h.engine.active().len(), 1);
    h.clock.set(at(5));
    h.engine.put_rule(AlertRule { enabled: false, ..r }).await.unwrap();
    h.engine.flush().await;
    assert!(h.engine.active().is_empty());
    h.send(perf("tool:Bash", 500.0, "s", at(10))).await;
    assert!(h.engine.active().is_empty());
    let history = h.engine.history(Timestamp::MIN, Timestamp::MAX, 10).await.unwrap();
    assert_eq!((history.len(), history[0].ends_at), (1, Some(at(5))));
    h.engine.shutdown().await;
}

#[tokio::test]
async fn groups_beyond_the_cap_are_not_evaluated() {
    let r = rule(
        r#"{"id":"slow","name":"Slow","severity":"low","threshold":100,
            "condition":{"kind":"threshold","field":"duration","groupBy":["sessionId"]}}"#,
    );
    let config = monitor_alerts::AlertsConfig { max_groups_per_rule: 2, ..test_config() };
    let h = Harness::with_config(&[r], config).await;
    for s in ["s-1", "s-2", "s-3"] {
        h.send(perf("tool:Bash", 500.0, s, at(0))).await;
    }
    assert_eq!(h.engine.active().len(), 2);
    h.engine.shutdown().await;
}

#[tokio::test]
async fn history_is_newest_first_and_bounded_by_range_and_limit() {
    let r = rule(
        r#"{"id":"slow","name":"Slow","severity":"low","threshold":100,
            "condition":{"kind":"threshold","field":"duration","groupBy":["sessionId"]}}"#,
    );
    let h = Harness::new(&[r]).await;
    for i in 0..5 {
        h.send(perf("tool:Bash", 500.0, &format!("s-{i}"), at(i * 10))).await;
    }
    h.send(perf("tool:Bash", 1.0, "s-0", at(60))).await;
    let all = h.engine.history(Timestamp::MIN, Timestamp::MAX, 100).await.unwrap();
    let starts: Vec<_> = all.iter().map(|a| a.starts_at).collect();
    assert_eq!(starts, [at(40), at(30), at(20), at(10), at(0)]);
    assert_eq!(all[4].status, AlertStatus::Resolved);
    let some = h.engine.history(at(10), at(40), 1).await.unwrap();
    assert_eq!(some.iter().map(|a| a.starts_at).collect::<Vec<_>>(), [at(30)]);
    h.engine.shutdown().await;
}

#[tokio::test]
async fn the_engine_runs_timers_on_its_own() {
    // Paused tokio time drives the ticker; the engine reads the same time through a clock
    // that follows tokio's, so nothing here sleeps for real.
    tokio::time::pause();
    struct TokioClock(tokio::time::Instant);
    impl monitor_alerts::Clock for TokioClock {
        fn now(&self) -> Timestamp {
            let elapsed = i64::try_from(self.0.elapsed().as_micros()).unwrap();
            T0.add_micros(elapsed)
        }
    }
    let r = rule(
        r#"{"id":"quiet","name":"NoEvents","severity":"high","condition":{"kind":"absence","window":"30s"}}"#,
    );
    let config = monitor_alerts::AlertsConfig { evaluation_interval_ms: 1_000, ..test_config() };
    let clock = std::sync::Arc::new(TokioClock(tokio::time::Instant::now()));
    let engine = monitor_alerts::AlertEngine::start_with_clock(
        std::sync::Arc::new(monitor_core::store::MemoryStore::default()),
        Bus::default(),
        config,
        clock,
    )
    .await
    .unwrap();
    engine.put_rule(r).await.unwrap();
    let p95 = rule(
        r#"{"id":"p95","name":"P95","severity":"high","threshold":1000,
            "condition":{"kind":"window","field":"duration","aggregate":"p95","window":"1m"}}"#,
    );
    engine.put_rule(p95).await.unwrap();
    engine.observe(&perf("tool:Bash", 5000.0, "s", T0));
    engine.flush().await;
    assert_eq!(engine.active().len(), 1, "per-event conditions need no timer");
    tokio::time::sleep(std::time::Duration::from_secs(29)).await;
    engine.flush().await;
    assert_eq!(engine.active().len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    engine.flush().await;
    let ids: Vec<_> = engine.active().into_iter().map(|a| a.rule_id).collect();
    assert_eq!(ids, ["quiet", "p95"], "absence fired by the ticker within one evaluation interval");
    engine.shutdown().await;
}

#[tokio::test]
async fn rules_see_only_events_of_their_operations_and_unfiltered_rules_see_all() {
    // The engine shows an event only to rules whose operation filter admits it (an index
    // by operation) plus the rules without one; each must still get exactly its events.
    let rules = [
        rule(
            r#"{"id":"edit-or-bash","name":"EditOrBash","severity":"low","threshold":100,
                "condition":{"kind":"threshold","field":"duration","filters":{"operation":["tool:Edit","tool:Bash"]}}}"#,
        ),
        rule(
            r#"{"id":"read","name":"Read","severity":"low","threshold":100,
                "condition":{"kind":"threshold","field":"duration","filters":{"operation":"tool:Read"}}}"#,
        ),
        rule(
            r#"{"id":"not-bash","name":"NotBash","severity":"low","threshold":100,
                "condition":{"kind":"threshold","field":"duration","filters":{"operation":{"ne":"tool:Bash"}}}}"#,
        ),
        rule(
            r#"{"id":"any","name":"Any","severity":"low","threshold":100,
                "condition":{"kind":"threshold","field":"duration"}}"#,
        ),
    ];
    let h = Harness::new(&rules).await;
    let firing = |h: &Harness| {
        let mut ids: Vec<String> = h.engine.active().into_iter().map(|a| a.rule_id).collect();
        ids.sort();
        ids
    };
    h.send(perf("tool:Bash", 500.0, "s-1", at(1))).await;
    assert_eq!(firing(&h), ["any", "edit-or-bash"]);
    h.send(perf("tool:Read", 500.0, "s-1", at(2))).await;
    assert_eq!(firing(&h), ["any", "edit-or-bash", "not-bash", "read"]);
    // Below the threshold for each rule that sees it: those resolve, the others stay.
    h.send(perf("tool:Edit", 5.0, "s-1", at(3))).await;
    assert_eq!(firing(&h), ["read"]);
    h.engine.shutdown().await;
}
