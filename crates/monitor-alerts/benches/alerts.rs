//! Alert engine benches.
//!
//! Run with: `cargo bench -p monitor-alerts --bench alerts`
//!
//! - `engine/observe_100_rules`: cost of [`AlertEngine::observe`] per event with 100 rules of
//!   every kind (thresholds, p95/avg/max/count windows, error ratios, anomaly detectors,
//!   absence), events from 10 operations × 50 sessions × 5 projects at 100 events/s of
//!   simulated time, so 5-minute windows hold ~30,000 events in steady state. Only
//!   `observe` is timed: the ticker runs every second of simulated time (every 100
//!   events) outside the timing.
//! - `engine/tick_100_rules`: one run of the ticker over the same rules in the same steady
//!   state (window slides, timers, changed instances persisted): a cost per evaluation
//!   interval (1 s by default), not per event.
//! - `engine/observe_100_rules_all_match`: the same 100 rules with no filters, so every rule
//!   evaluates every event (the worst case).
//! - `notify/event_to_webhook`: an event published on the bus (what the collector does
//!   once it accepts an event) until a local webhook receiver has the Alertmanager POST.
//!   Also prints p50/p95/p99 of 200 such round trips.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use criterion::{Criterion, criterion_group, criterion_main};
use monitor_alerts::{AlertEngine, AlertRule, AlertsConfig, ManualClock};
use monitor_core::event::{ErrorPayload, Extra, Payload};
use monitor_core::store::MemoryStore;
use monitor_core::{AgentType, Bus, Event, MetricEvent, Source, Timestamp};
use tokio::sync::mpsc;

const T0: Timestamp = Timestamp(1_795_910_400_000_000);
const OPS: [&str; 10] = [
    "tool:Bash",
    "tool:Read",
    "tool:Edit",
    "tool:Write",
    "tool:Grep",
    "tool:Glob",
    "tool:WebFetch",
    "tool:Task",
    "llm:call",
    "tool:TodoWrite",
];

fn rules(filtered: bool) -> Vec<AlertRule> {
    let mut out = Vec::new();
    let filter = |i: usize| {
        if filtered {
            format!(r#","filters":{{"operation":"{}"}}"#, OPS[i % OPS.len()])
        } else {
            String::new()
        }
    };
    let mut push = |json: String| out.push(AlertRule::from_json(json.as_bytes()).expect("bench rule"));
    for i in 0..30 {
        push(format!(
            r#"{{"id":"t{i}","name":"T{i}","severity":"low","threshold":1e12,
                "condition":{{"kind":"threshold","field":"duration","groupBy":["sessionId"]{}}}}}"#,
            filter(i)
        ));
    }
    for (i, agg) in ["p95", "avg", "max", "count"].iter().cycle().take(30).enumerate() {
        push(format!(
            r#"{{"id":"w{i}","name":"W{i}","severity":"medium","threshold":1e12,
                "condition":{{"kind":"window","aggregate":"{agg}",{}"window":"5m","groupBy":["operation"]{}}}}}"#,
            if *agg == "count" { "" } else { r#""field":"duration","# },
            filter(i)
        ));
    }
    for i in 0..10 {
        push(format!(
            r#"{{"id":"e{i}","name":"E{i}","severity":"high","threshold":1.0,"condition":{{"kind":"errorRatio","window":"10m","groupBy":["projectId"]{}}}}}"#,
            filter(i)
        ));
    }
    for i in 0..10 {
        push(format!(
            r#"{{"id":"a{i}","name":"A{i}","severity":"medium","threshold":1000,
                "condition":{{"kind":"anomaly","field":"duration","groupBy":["agentType","operation"]{}}}}}"#,
            filter(i)
        ));
    }
    for i in 0..20 {
        push(format!(
            r#"{{"id":"s{i}","name":"S{i}","severity":"low","condition":{{"kind":"absence","window":"1h","groupBy":["sessionId"]{}}}}}"#,
            filter(i)
        ));
    }
    assert_eq!(out.len(), 100);
    out
}

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let op = OPS[i % OPS.len()];
            let payload_error = i % 17 == 0;
            let event = if payload_error {
                MetricEvent::new(
                    Source::ClaudeCli,
                    Payload::Error(ErrorPayload {
                        operation: Some(op.to_owned()),
                        message: "exit 1".to_owned(),
                        code: None,
                        extra: Extra::new(),
                    }),
                )
            } else {
                let ms = 50.0 + f64::from(u32::try_from((i * 7919) % 3000).unwrap_or(0));
                MetricEvent::performance(Source::ClaudeCli, op, ms)
            };
            event
                .with_project(format!("p{}", i % 5))
                .with_session(format!("s-{}", i % 50))
                .with_agent_type(if i % 3 == 0 { AgentType::Manager } else { AgentType::Worker })
                .into_event(T0)
        })
        .collect()
}

fn observe(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("engine");
    for (name, filtered) in [("observe_100_rules", true), ("observe_100_rules_all_match", false)] {
        let clock = ManualClock::new(T0);
        let config = AlertsConfig { evaluation_interval_ms: 60_000, ..AlertsConfig::default() };
        let engine = rt.block_on(async {
            let engine = AlertEngine::start_with_clock(
                Arc::new(MemoryStore::default()),
                Bus::default(),
                config,
                Arc::new(clock.clone()),
            )
            .await
            .expect("engine");
            for rule in rules(filtered) {
                engine.put_rule(rule).await.expect("rule");
            }
            engine
        });
        let mut events = events(10_000);
        let mut n: i64 = 0;
        // Feeds `count` events at 100/s of simulated time, running the ticker every
        // simulated second as the server does; returns the time spent in `observe` and
        // in `tick`, and how many ticks ran.
        let mut feed = |count: u64| {
            let (mut observing, mut ticking, mut ticks) = (Duration::ZERO, Duration::ZERO, 0u32);
            for _ in 0..count {
                let i = usize::try_from(n).unwrap_or(0) % events.len();
                let ts = T0.add_micros(n * 10_000);
                events[i].timestamp = ts;
                clock.set(ts);
                let started = Instant::now();
                engine.observe(&events[i]);
                observing += started.elapsed();
                if n % 100 == 0 {
                    let started = Instant::now();
                    engine.tick();
                    ticking += started.elapsed();
                    ticks += 1;
                }
                n += 1;
            }
            (observing, ticking, ticks)
        };
        // Warm to steady state: 5-minute windows full at 100 events/s.
        feed(40_000);
        group.bench_function(name, |b| b.iter_custom(|iters| feed(iters).0));
        if filtered {
            group.bench_function("tick_100_rules", |b| {
                b.iter_custom(|iters| {
                    let (mut spent, mut done) = (Duration::ZERO, 0u64);
                    while done < iters {
                        let (_, ticking, ticks) = feed(100);
                        spent += ticking;
                        done += u64::from(ticks);
                    }
                    // Each pass of 100 events holds exactly one tick.
                    spent
                })
            });
        }
        rt.block_on(engine.shutdown());
    }
    group.finish();
}

fn notify(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let (bus, url) = rt.block_on(async {
        let app = Router::new().route(
            "/hook",
            post(move || {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(());
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (Bus::default(), format!("http://{addr}/hook"))
    });
    let engine = rt.block_on(async {
        let engine =
            AlertEngine::start(Arc::new(MemoryStore::default()), bus.clone(), AlertsConfig::default())
                .await
                .expect("engine");
        let rule = format!(
            r#"{{"id":"slow","name":"Slow","severity":"high","threshold":1000,
                "condition":{{"kind":"threshold","field":"duration","groupBy":["sessionId"]}},
                "channels":[{{"type":"webhook","config":{{"url":"{url}","sendResolved":false}}}}]}}"#
        );
        engine.put_rule(AlertRule::from_json(rule.as_bytes()).expect("rule")).await.expect("put");
        engine
    });
    let mut session = 0u64;
    let mut round_trip = |rx: &mut mpsc::UnboundedReceiver<()>| {
        session += 1;
        let s = format!("s-{}", session % 1_000);
        let slow = MetricEvent::performance(Source::ClaudeCli, "tool:Bash", 5_000.0).with_session(s.clone());
        let start = Instant::now();
        bus.publish_event(Arc::new(slow.into_event(Timestamp::now())));
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("notified")
        });
        let elapsed = start.elapsed();
        // Resolve the group (no notification: sendResolved is off) so it can fire again.
        let ok = MetricEvent::performance(Source::ClaudeCli, "tool:Bash", 1.0).with_session(s);
        engine.observe(&ok.into_event(Timestamp::now()));
        elapsed
    };
    let mut samples: Vec<Duration> = (0..200).map(|_| round_trip(&mut rx)).collect();
    samples.sort();
    let pick = |q: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[i]
    };
    eprintln!(
        "event → webhook round trips (n = {}): p50 {:?}  p95 {:?}  p99 {:?}  max {:?}",
        samples.len(),
        pick(0.50),
        pick(0.95),
        pick(0.99),
        samples[samples.len() - 1]
    );
    c.bench_function("notify/event_to_webhook", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| round_trip(&mut rx)).sum());
    });
    rt.block_on(engine.shutdown());
}

criterion_group!(benches, observe, notify);
criterion_main!(benches);
