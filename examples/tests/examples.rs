//! Runs the examples' logic end to end with real parts: the dual-agent runtime into a
//! `MemoryStore`, into a SQLite file and into a real monitor-server over HTTP, and
//! monitor-alerts embedded with a real HTTP webhook receiver.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use monitor_core::event::Payload;
use monitor_core::store::MemoryStore;
use monitor_core::{AgentType, Source, StoreRef, Timestamp};
use monitor_examples::dual_agent::{
    DualAgentConfig, MANAGER_ID, Report, RunSummary, ServerClient, Sink, coordination_score, report,
    run_and_report,
};
use monitor_examples::embedded_alerts::{EmbeddedAlertsConfig, run_embedded_alerts};
use monitor_store_sqlite::{SqliteConfig, SqliteStore};
use serde_json::json;

fn config(run_id: &str) -> DualAgentConfig {
    DualAgentConfig {
        workers: 3,
        tasks: 12,
        fail_every: 5,
        max_work_ms: 15,
        run_id: run_id.to_owned(),
        project_id: "examples-test".to_owned(),
    }
}

/// `tasks` tasks of which every 5th fails (12 tasks: task-005 and task-010).
fn assert_expected_counts(tasks: u64, summary: &RunSummary, report: &Report) {
    let (ok, failed) = (tasks - tasks / 5, tasks / 5);
    assert_eq!((summary.assigned, summary.completed, summary.failed), (tasks, ok, failed));
    assert_eq!(summary.per_worker.values().sum::<u64>(), tasks);
    let expected: BTreeMap<String, u64> =
        [("assign", tasks), ("accept", tasks), ("progress", tasks), ("complete", ok), ("fail", failed)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    assert_eq!(report.phase_counts(), expected);
    assert_eq!(report.workers.iter().map(|w| w.tasks).sum::<u64>(), tasks);
    assert_eq!(report.workers.iter().map(|w| w.succeeded).sum::<u64>(), ok);
    let per_worker: BTreeMap<String, u64> =
        report.workers.iter().map(|w| (w.worker.clone(), w.tasks)).collect();
    assert_eq!(per_worker, summary.per_worker, "the store agrees with what the manager saw");
    assert_eq!(report.errors, failed);
    let quality = report.avg_quality.expect("quality events");
    assert!((0.0..=1.0).contains(&quality), "{quality}");
    for row in &report.phases {
        let score = row.avg_score.expect("every phase is scored");
        assert!((0.0..=1.0).contains(&score), "{row:?}");
        assert!(row.avg_latency_ms.is_some_and(|v| v >= 0.0), "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_agent_gives_every_assigned_task_an_accept_and_one_outcome() {
    let config = config("run-memory");
    let store: StoreRef = Arc::new(MemoryStore::default());
    let sink = Sink::local(store).expect("collector starts");
    let (summary, report) = run_and_report(&config, &sink).await.expect("run");
    assert_expected_counts(12, &summary, &report);

    let events = sink.events(&config.run_id).await.expect("raw events");
    let mut phases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in &events {
        assert_eq!(event.source, Source::DualAgent);
        assert_eq!(event.project_id.as_deref(), Some("examples-test"));
        let Payload::Coordination(c) = &event.payload else { continue };
        let expected_agent = if c.phase == "assign" { AgentType::Manager } else { AgentType::Worker };
        assert_eq!(event.agent_type, Some(expected_agent), "{c:?}");
        assert_eq!(c.manager_id, MANAGER_ID);
        assert_eq!(event.tags.get("phase"), Some(&c.phase));
        assert_eq!(event.tags.get("worker"), Some(&c.worker_id));
        assert!(c.latency_ms.is_some_and(|v| v >= 0.0), "{c:?}");
        assert!(c.coordination_score.is_some_and(|v| (0.0..=1.0).contains(&v)), "{c:?}");
        phases.entry(c.task_id.clone().expect("task id")).or_default().push(c.phase.clone());
    }
    assert_eq!(phases.len(), 12, "{phases:?}");
    let mut failed = BTreeSet::new();
    for (task, seen) in &phases {
        let count = |p: &str| seen.iter().filter(|s| *s == p).count();
        assert_eq!((count("assign"), count("accept"), count("progress")), (1, 1, 1), "{task}: {seen:?}");
        assert_eq!(count("complete") + count("fail"), 1, "{task}: exactly one outcome, {seen:?}");
        if count("fail") == 1 {
            failed.insert(task.clone());
        }
    }
    assert_eq!(failed, BTreeSet::from(["task-005".to_owned(), "task-010".to_owned()]));
    // One worker handles a task from accept to outcome.
    for event in &events {
        if let Payload::Coordination(c) = &event.payload {
            let accept = events.iter().find_map(|e| match &e.payload {
                Payload::Coordination(a) if a.phase == "accept" && a.task_id == c.task_id => {
                    Some(&a.worker_id)
                }
                _ => None,
            });
            assert_eq!(accept, Some(&c.worker_id), "{c:?}");
        }
    }
    sink.close().await.expect("collector stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_agent_into_sqlite_is_still_there_after_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dual.db");
    let config = config("run-sqlite");
    let since = Timestamp::now();
    let store = Arc::new(SqliteStore::open(SqliteConfig::at(&path)).await.expect("open"));
    let sink = Sink::local(store.clone()).expect("collector starts");
    let (summary, first) = run_and_report(&config, &sink).await.expect("run");
    assert_expected_counts(12, &summary, &first);
    sink.close().await.expect("collector stops");
    drop(sink);
    let Ok(store) = Arc::try_unwrap(store) else { panic!("the collector still holds the store") };
    store.close().await.expect("close");

    let store = Arc::new(SqliteStore::open(SqliteConfig::at(&path)).await.expect("reopen"));
    let sink = Sink::local(store).expect("collector starts");
    let again = report(&config, &sink, since).await.expect("report after reopening");
    assert_eq!(again.phase_counts(), first.phase_counts());
    assert_eq!((again.errors, again.workers.len()), (first.errors, first.workers.len()));
    sink.close().await.expect("collector stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_agent_over_http_gets_the_same_counts_back_from_a_real_server() {
    let server = monitor_server::Running::start(monitor_server::Config {
        listen: "127.0.0.1:0".into(),
        store: "memory".into(),
        ..monitor_server::Config::default()
    })
    .await
    .expect("server starts");
    // 60 tasks are 372 events: batches of 200 are shipped while the run goes on, the
    // rest at the flush.
    let config = DualAgentConfig { tasks: 60, max_work_ms: 3, ..config("run-http") };
    let sink = Sink::Server(ServerClient::new(&server.url(), None).expect("client"));
    let (summary, report) = run_and_report(&config, &sink).await.expect("run");
    assert_expected_counts(60, &summary, &report);
    sink.close().await.expect("nothing left to ship");
    server.shutdown().await;
}

#[test]
fn the_score_is_the_share_of_time_spent_working() {
    assert_eq!(coordination_score(0.0, 0.0), 1.0);
    assert_eq!(coordination_score(0.0, 30.0), 1.0);
    assert_eq!(coordination_score(10.0, 10.0), 0.5);
    assert_eq!(coordination_score(30.0, 10.0), 0.25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_alerts_pages_the_webhook_exactly_once_with_the_rule_labels() {
    let config = EmbeddedAlertsConfig::default();
    let outcome = run_embedded_alerts(&config).await.expect("run");
    let labels =
        json!({"alertname": "LlmCallSlow", "operation": "llm:call", "severity": "high", "team": "agents"});

    assert_eq!(outcome.webhooks.len(), 1, "{:#?}", outcome.webhooks);
    let body = &outcome.webhooks[0];
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "embedded-example");
    assert_eq!(body["commonLabels"], labels);
    assert_eq!(body["groupLabels"], json!({"alertname": "LlmCallSlow", "operation": "llm:call"}));
    let alerts = body["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[0]["labels"], labels);
    assert_eq!(alerts[0]["annotations"]["summary"], "p95 of llm:call above 2000 ms");

    assert_eq!(outcome.active.len(), 1, "{:#?}", outcome.active);
    let alert = &outcome.active[0];
    assert_eq!(alert.rule_id, "llm-call-p95");
    assert_eq!(serde_json::to_value(&alert.labels).expect("labels"), labels);
    assert_eq!(alerts[0]["fingerprint"], alert.fingerprint());
    assert!(alert.value.is_some_and(|v| v > config.threshold_ms), "{alert:?}");
}
