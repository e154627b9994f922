//! A dual-agent (manager/worker) runtime that monitors itself with monitor-core.
//!
//! One manager task hands tasks to several worker tasks over bounded tokio channels (one
//! per worker, so a busy worker pushes back on the manager) and collects their outcomes
//! on a results channel. Every step of a hand-off is a `coordination` event:
//!
//! | phase | emitted by | `latencyMs` |
//! |---|---|---|
//! | `assign` | manager | how long the manager waited to hand the task over |
//! | `accept` | worker | queue wait: assignment → the worker picked it up |
//! | `progress` | worker | work so far (halfway through) |
//! | `complete` / `fail` | worker | assignment → outcome |
//!
//! `coordinationScore` is the share of a task's time spent working rather than waiting:
//! `work / (wait + work)`, with the task's estimated work time before the real one is
//! known (assign, accept). 1.0 is a perfect hand-off; a task that queued as long as it
//! worked scores 0.5. Workers also emit a `performance` event per task (work duration,
//! success), a `quality` event (the score of what they produced) and an `error` event
//! when a task fails. Coordination events carry the tags `phase` and `worker`, and every
//! worker event the tag `worker`, so the store can group by them (`tag.phase`).
//!
//! Events go to a [`Sink`]: in-process through a [`Collector`] into a [`monitor_core::Store`]
//! (`MemoryStore`, or `SqliteStore` with `--sqlite`), or to a running monitor-server
//! (`POST /api/events/batch`, NDJSON). [`report`] then reads the run back with 1-minute
//! aggregations from the same place.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use monitor_core::event::{CoordinationPayload, ErrorPayload, Extra, QualityPayload, new_event_id};
use monitor_core::{
    AgentType, AggPoint, Aggregation, Collector, Dimension, Event, Filter, FilterOp, MetricEvent, Payload,
    Query, Source, StoreRef, Timestamp,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The id of the manager agent.
pub const MANAGER_ID: &str = "manager-1";

/// Events sent to a server per `POST /api/events/batch`.
const SHIP_BATCH: usize = 200;

/// The steps of a hand-off, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The manager hands a task to a worker.
    Assign,
    /// The worker picks it up.
    Accept,
    /// The worker is halfway through.
    Progress,
    /// The worker finished it.
    Complete,
    /// The worker gave up on it.
    Fail,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [Phase::Assign, Phase::Accept, Phase::Progress, Phase::Complete, Phase::Fail];

    /// The wire spelling (the payload's `phase` and the `phase` tag).
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Assign => "assign",
            Phase::Accept => "accept",
            Phase::Progress => "progress",
            Phase::Complete => "complete",
            Phase::Fail => "fail",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct DualAgentConfig {
    /// Worker tasks (at least 1).
    pub workers: usize,
    /// Tasks the manager hands out.
    pub tasks: usize,
    /// Every n-th task fails (0: none fails).
    pub fail_every: usize,
    /// Longest simulated work per task, in ms (at least 1).
    pub max_work_ms: u64,
    /// The run's session id; every event carries it.
    pub run_id: String,
    /// The project every event belongs to.
    pub project_id: String,
}

impl Default for DualAgentConfig {
    fn default() -> Self {
        DualAgentConfig {
            workers: 3,
            tasks: 12,
            fail_every: 5,
            max_work_ms: 40,
            // The random tail of a UUIDv7: distinct per run.
            run_id: format!("dual-{}", &new_event_id()[24..]),
            project_id: "dual-agent-demo".to_owned(),
        }
    }
}

/// A unit of work.
#[derive(Clone, Debug)]
struct Task {
    id: String,
    kind: &'static str,
    work: Duration,
    fails: bool,
    quality: f64,
}

impl Task {
    /// Task `n` of a run: deterministic kind, work time, outcome and quality.
    fn nth(n: u64, config: &DualAgentConfig) -> Task {
        const KINDS: [&str; 3] = ["build", "test", "review"];
        let kind = KINDS[usize::try_from(n % 3).unwrap_or(0)];
        let work_ms = 1 + (n * 37 + 11) % config.max_work_ms.max(1);
        let fails =
            config.fail_every > 0 && (n + 1) % u64::try_from(config.fail_every).unwrap_or(u64::MAX) == 0;
        let quality = if fails { 0.0 } else { 0.7 + 0.03 * f64::from(u32::try_from(n % 10).unwrap_or(0)) };
        Task { id: format!("task-{:03}", n + 1), kind, work: Duration::from_millis(work_ms), fails, quality }
    }
}

/// A task on its way to a worker.
struct Assignment {
    task: Task,
    assigned_at: Instant,
}

/// What a worker reports back to the manager.
struct Outcome {
    worker: String,
    ok: bool,
}

/// What the manager saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    /// Tasks handed out.
    pub assigned: u64,
    /// Tasks reported complete.
    pub completed: u64,
    /// Tasks reported failed.
    pub failed: u64,
    /// Tasks handled per worker id.
    pub per_worker: BTreeMap<String, u64>,
    /// Wall time of the run in ms.
    pub elapsed_ms: f64,
}

/// Where events go and where the report is read from.
#[derive(Clone)]
pub enum Sink {
    /// In-process: a collector draining into a store.
    Local {
        /// The collector events go through (validate, enrich, redact, buffer, bus).
        collector: Collector,
        /// The store it drains to and reports are read from.
        store: StoreRef,
    },
    /// A running monitor-server.
    Server(ServerClient),
}

impl Sink {
    /// An in-process sink: a collector (default settings, a fresh bus) over `store`.
    pub fn local(store: StoreRef) -> Result<Sink> {
        let collector = Collector::start(store.clone(), monitor_core::Bus::default(), Default::default())
            .context("starting the collector")?;
        Ok(Sink::Local { collector, store })
    }

    async fn emit(&self, event: MetricEvent) -> Result<()> {
        match self {
            Sink::Local { collector, .. } => {
                collector.collect_wait(event).await.context("collecting an event")?;
                Ok(())
            }
            Sink::Server(server) => server.push(event).await,
        }
    }

    /// Makes every event emitted so far durable and queryable.
    pub async fn flush(&self) -> Result<()> {
        match self {
            Sink::Local { collector, .. } => collector.flush().await.context("flushing the collector"),
            Sink::Server(server) => server.ship().await.map(|_| ()),
        }
    }

    /// Flushes and stops the collector (a no-op for a server beyond shipping).
    pub async fn close(&self) -> Result<()> {
        match self {
            Sink::Local { collector, .. } => collector.shutdown().await.context("stopping the collector"),
            Sink::Server(server) => server.ship().await.map(|_| ()),
        }
    }

    async fn aggregate(&self, query: &Query) -> Result<Vec<AggPoint>> {
        match self {
            Sink::Local { store, .. } => {
                Ok(store.query(query).await.context("querying the store")?.points().to_vec())
            }
            Sink::Server(server) => server.aggregate(query).await,
        }
    }

    /// The run's raw events, newest first (in-process sinks only).
    pub async fn events(&self, run_id: &str) -> Result<Vec<Event>> {
        let Sink::Local { store, .. } = self else {
            bail!("raw events are read from in-process stores only")
        };
        let query = Query::new(Timestamp::MIN, Timestamp::MAX, Aggregation::Raw)
            .filter(Filter::eq(Dimension::SessionId, run_id))
            .limit(1_000_000);
        Ok(store.query(&query).await.context("querying raw events")?.events().to_vec())
    }
}

/// An HTTP client for monitor-server: ships events as NDJSON and runs queries.
#[derive(Clone)]
pub struct ServerClient {
    client: reqwest::Client,
    base: reqwest::Url,
    api_key: Option<String>,
    pending: Arc<Mutex<Vec<MetricEvent>>>,
}

/// A reqwest client for plain HTTP.
///
/// The workspace builds reqwest without a bundled TLS provider (the alert engine brings
/// its own), and reqwest's builder wants a process-wide one even for `http://`.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    // Err means another provider is installed already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(timeout).build().context("building the HTTP client")
}

impl ServerClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:7070`).
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<ServerClient> {
        let base = reqwest::Url::parse(base_url).with_context(|| format!("server URL `{base_url}`"))?;
        ensure!(base.scheme() == "http", "server URL `{base_url}`: only plain http:// is supported");
        Ok(ServerClient {
            client: http_client(Duration::from_secs(30))?,
            base,
            api_key,
            pending: Arc::default(),
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url> {
        self.base.join(path).with_context(|| format!("joining `{path}` to {}", self.base))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Buffers an event; ships a batch once [`SHIP_BATCH`] are waiting.
    async fn push(&self, event: MetricEvent) -> Result<()> {
        // The client sets the id, so a retried batch is never stored twice.
        let event = if event.id.is_none() { event.with_id(new_event_id()) } else { event };
        let batch = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.push(event);
            if pending.len() < SHIP_BATCH {
                return Ok(());
            }
            std::mem::take(&mut *pending)
        };
        self.post_batch(&batch).await.map(|_| ())
    }

    /// Ships every buffered event; returns how many the server accepted.
    pub async fn ship(&self) -> Result<u64> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return Ok(0);
        }
        self.post_batch(&batch).await
    }

    /// `POST /api/events/batch`, retrying overload answers and connection errors.
    async fn post_batch(&self, events: &[MetricEvent]) -> Result<u64> {
        let mut body = String::new();
        for event in events {
            body.push_str(&serde_json::to_string(event).context("encoding an event")?);
            body.push('\n');
        }
        let url = self.url("/api/events/batch")?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let request = self
                .authorized(self.client.post(url.clone()))
                .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
                .body(body.clone());
            let retry_in = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let answer: Value =
                        serde_json::from_slice(&response.bytes().await.context("reading the ingest answer")?)
                            .context("decoding the ingest answer")?;
                    let rejected = answer["rejected"].as_array().map_or(0, Vec::len);
                    ensure!(rejected == 0, "the server rejected {rejected} events: {answer}");
                    return answer["accepted"].as_u64().context("ingest answer without `accepted`");
                }
                Ok(response) if matches!(response.status().as_u16(), 429 | 503) => {
                    let after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    after.map_or_else(|| backoff(attempt), |secs| Duration::from_secs(secs.min(10)))
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    bail!("POST {url}: {status}: {text}");
                }
                Err(e) if e.is_connect() || e.is_timeout() => {
                    if attempt >= 4 {
                        return Err(e).with_context(|| format!("POST {url}"));
                    }
                    backoff(attempt)
                }
                Err(e) => return Err(e).with_context(|| format!("POST {url}")),
            };
            ensure!(attempt < 4, "POST {url}: still overloaded after {attempt} attempts");
            tokio::time::sleep(retry_in).await;
        }
    }

    /// `GET /api/metrics/query` for an aggregated query (eq and in filters).
    pub async fn aggregate(&self, query: &Query) -> Result<Vec<AggPoint>> {
        let mut url = self.url("/api/metrics/query")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("start", &query.start.to_rfc3339())
                .append_pair("end", &query.end.to_rfc3339())
                .append_pair("aggregation", query.aggregation.as_str());
            if let Some(field) = &query.field {
                pairs.append_pair("field", field);
            }
            if !query.group_by.is_empty() {
                let names: Vec<String> = query.group_by.iter().map(Dimension::name).collect();
                pairs.append_pair("groupBy", &names.join(","));
            }
            for filter in &query.filters {
                ensure!(filter.op != FilterOp::Ne, "`ne` filters are not sent over the query string");
                pairs.append_pair(&filter.dimension.name(), &filter.values.join(","));
            }
        }
        let response = self
            .authorized(self.client.get(url.clone()))
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| format!("reading GET {url}"))?;
        ensure!(status.is_success(), "GET {url}: {status}: {}", String::from_utf8_lossy(&bytes));
        let mut answer: Value = serde_json::from_slice(&bytes).context("decoding the query answer")?;
        serde_json::from_value(answer["data"].take()).context("decoding the query answer's points")
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5)))
}

/// Milliseconds, to the microsecond.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1_000.0
}

/// Share of time spent working rather than waiting, rounded to 3 decimals.
pub fn coordination_score(wait_ms: f64, work_ms: f64) -> f64 {
    let total = wait_ms + work_ms;
    if total <= 0.0 {
        return 1.0;
    }
    (work_ms / total * 1_000.0).round() / 1_000.0
}

/// One coordination step to report.
struct Step<'a> {
    phase: Phase,
    worker: &'a str,
    task: &'a Task,
    at: Timestamp,
    latency: Duration,
    score: f64,
    extra: Extra,
}

/// Builds and sends the run's events.
#[derive(Clone)]
struct Emitter {
    sink: Sink,
    config: Arc<DualAgentConfig>,
}

impl Emitter {
    fn event(&self, payload: Payload, agent: AgentType, at: Timestamp) -> MetricEvent {
        MetricEvent::new(Source::DualAgent, payload)
            .with_project(self.config.project_id.as_str())
            .with_session(self.config.run_id.as_str())
            .with_agent_type(agent)
            .with_timestamp(at)
    }

    async fn coordination(&self, step: Step<'_>) -> Result<()> {
        let agent = if step.phase == Phase::Assign { AgentType::Manager } else { AgentType::Worker };
        let payload = Payload::Coordination(CoordinationPayload {
            manager_id: MANAGER_ID.to_owned(),
            worker_id: step.worker.to_owned(),
            phase: step.phase.as_str().to_owned(),
            task_id: Some(step.task.id.clone()),
            coordination_score: Some(step.score),
            latency_ms: Some(millis(step.latency)),
            extra: step.extra,
        });
        let event = self
            .event(payload, agent, step.at)
            .with_tag("phase", step.phase.as_str())
            .with_tag("worker", step.worker)
            .with_tag("taskKind", step.task.kind);
        self.sink.emit(event).await
    }

    async fn outcome(&self, worker: &str, task: &Task, work: Duration) -> Result<()> {
        let now = Timestamp::now();
        let operation = format!("task:{}", task.kind);
        let mut performance = MetricEvent::performance(Source::DualAgent, operation.as_str(), millis(work));
        if let Payload::Performance(p) = &mut performance.payload {
            p.success = !task.fails;
        }
        let performance = performance
            .with_timestamp(now)
            .with_project(self.config.project_id.as_str())
            .with_session(self.config.run_id.as_str())
            .with_agent_type(AgentType::Worker)
            .with_tag("worker", worker);
        self.sink.emit(performance).await?;
        let quality = Payload::Quality(QualityPayload {
            metric: "task_quality".to_owned(),
            score: task.quality,
            extra: Extra::new(),
        });
        self.sink.emit(self.event(quality, AgentType::Worker, now).with_tag("worker", worker)).await?;
        if task.fails {
            let error = Payload::Error(ErrorPayload {
                operation: Some(operation),
                message: format!("{} gave up on {}", worker, task.id),
                code: Some("TASK_FAILED".to_owned()),
                extra: Extra::new(),
            });
            self.sink.emit(self.event(error, AgentType::Worker, now).with_tag("worker", worker)).await?;
        }
        Ok(())
    }
}

/// Runs the manager and its workers until every task is complete or failed; returns what
/// the manager saw. Events are emitted to `sink` as they happen (call [`Sink::flush`]
/// before reading them back).
pub async fn run_dual_agent(config: &DualAgentConfig, sink: &Sink) -> Result<RunSummary> {
    ensure!(config.workers >= 1, "at least one worker is needed");
    ensure!(config.max_work_ms >= 1, "max_work_ms must be at least 1");
    let started = Instant::now();
    let emitter = Emitter { sink: sink.clone(), config: Arc::new(config.clone()) };
    let (results_tx, mut results_rx) = mpsc::channel::<Result<Outcome>>(config.tasks.max(1));
    let mut queues = Vec::with_capacity(config.workers);
    let mut workers = Vec::with_capacity(config.workers);
    for w in 1..=config.workers {
        // Room for one queued task: a worker that is busy with one and has one waiting
        // makes the manager wait, which `assign` latency shows.
        let (tx, rx) = mpsc::channel::<Assignment>(1);
        queues.push((format!("worker-{w}"), tx));
        workers.push(tokio::spawn(worker(format!("worker-{w}"), rx, emitter.clone(), results_tx.clone())));
    }
    drop(results_tx);

    let mut summary = RunSummary::default();
    for (i, n) in (0..config.tasks).zip(0u64..) {
        let task = Task::nth(n, config);
        let at = Timestamp::now();
        let handoff = Instant::now();
        // The first worker (from a round-robin start) with room gets it; when all are
        // full the manager waits for the round-robin one.
        let mut assignment = Some(Assignment { task: task.clone(), assigned_at: handoff });
        let mut worker = None;
        for k in 0..queues.len() {
            let Some(a) = assignment.take() else { break };
            let (name, tx) = &queues[(i + k) % queues.len()];
            match tx.try_send(a) {
                Ok(()) => worker = Some(name.clone()),
                Err(mpsc::error::TrySendError::Full(back)) => assignment = Some(back),
                Err(mpsc::error::TrySendError::Closed(_)) => bail!("{name} stopped early"),
            }
        }
        if let Some(a) = assignment {
            let (name, tx) = &queues[i % queues.len()];
            tx.send(a).await.map_err(|_| anyhow!("{name} stopped early"))?;
            worker = Some(name.clone());
        }
        let worker = worker.context("no worker took the task")?;
        let latency = handoff.elapsed();
        let score = coordination_score(millis(latency), millis(task.work));
        let step = Step {
            phase: Phase::Assign,
            worker: &worker,
            task: &task,
            at,
            latency,
            score,
            extra: Extra::new(),
        };
        emitter.coordination(step).await?;
        summary.assigned += 1;
    }
    drop(queues);

    while let Some(outcome) = results_rx.recv().await {
        let outcome = outcome?;
        if outcome.ok {
            summary.completed += 1;
        } else {
            summary.failed += 1;
        }
        *summary.per_worker.entry(outcome.worker).or_default() += 1;
    }
    for handle in workers {
        handle.await.context("a worker panicked")?;
    }
    ensure!(
        summary.completed + summary.failed == summary.assigned,
        "{} tasks assigned but {} reported",
        summary.assigned,
        summary.completed + summary.failed
    );
    summary.elapsed_ms = millis(started.elapsed());
    Ok(summary)
}

async fn worker(
    name: String,
    mut queue: mpsc::Receiver<Assignment>,
    emitter: Emitter,
    results: mpsc::Sender<Result<Outcome>>,
) {
    while let Some(assignment) = queue.recv().await {
        let outcome = work(&name, assignment, &emitter).await;
        if results.send(outcome).await.is_err() {
            return;
        }
    }
}

async fn work(name: &str, assignment: Assignment, emitter: &Emitter) -> Result<Outcome> {
    let Assignment { task, assigned_at } = assignment;
    let wait = assigned_at.elapsed();
    let (wait_ms, estimate_ms) = (millis(wait), millis(task.work));
    let accepted = Step {
        phase: Phase::Accept,
        worker: name,
        task: &task,
        at: Timestamp::now(),
        latency: wait,
        score: coordination_score(wait_ms, estimate_ms),
        extra: Extra::new(),
    };
    emitter.coordination(accepted).await?;

    let began = Instant::now();
    tokio::time::sleep(task.work / 2).await;
    let so_far = began.elapsed();
    let mut extra = Extra::new();
    extra.insert("percent".to_owned(), json!(50));
    let progress = Step {
        phase: Phase::Progress,
        worker: name,
        task: &task,
        at: Timestamp::now(),
        latency: so_far,
        score: coordination_score(wait_ms, millis(so_far)),
        extra,
    };
    emitter.coordination(progress).await?;
    tokio::time::sleep(task.work - task.work / 2).await;
    let worked = began.elapsed();

    let mut extra = Extra::new();
    extra.insert("queueWaitMs".to_owned(), json!(wait_ms));
    extra.insert("workMs".to_owned(), json!(millis(worked)));
    let done = Step {
        phase: if task.fails { Phase::Fail } else { Phase::Complete },
        worker: name,
        task: &task,
        at: Timestamp::now(),
        latency: assigned_at.elapsed(),
        score: coordination_score(wait_ms, millis(worked)),
        extra,
    };
    emitter.coordination(done).await?;
    emitter.outcome(name, &task, worked).await?;
    Ok(Outcome { worker: name.to_owned(), ok: !task.fails })
}

/// Coordination latency of one phase in one 1-minute bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseRow {
    /// Bucket start.
    pub bucket: Timestamp,
    /// The phase.
    pub phase: String,
    /// Events of that phase in the bucket.
    pub count: u64,
    /// Mean `latencyMs`.
    pub avg_latency_ms: Option<f64>,
    /// 95th percentile of `latencyMs`.
    pub p95_latency_ms: Option<f64>,
    /// Mean `coordinationScore`.
    pub avg_score: Option<f64>,
}

/// One worker's tasks, from its `performance` events.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerRow {
    /// The worker id.
    pub worker: String,
    /// Tasks it finished or gave up.
    pub tasks: u64,
    /// Of those, the successful ones.
    pub succeeded: u64,
    /// Mean work time in ms.
    pub avg_work_ms: Option<f64>,
}

/// The run as the store (or server) answers about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Coordination latency by 1-minute bucket and phase.
    pub phases: Vec<PhaseRow>,
    /// Per-worker task counts.
    pub workers: Vec<WorkerRow>,
    /// `error` events.
    pub errors: u64,
    /// Mean quality score.
    pub avg_quality: Option<f64>,
}

impl Report {
    /// Coordination events per phase, over all buckets.
    pub fn phase_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for row in &self.phases {
            *counts.entry(row.phase.clone()).or_default() += row.count;
        }
        counts
    }

    /// The report as text.
    pub fn render(&self, summary: &RunSummary) -> String {
        let f = |v: Option<f64>, digits: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} tasks: {} completed, {} failed in {:.0} ms",
            summary.assigned, summary.completed, summary.failed, summary.elapsed_ms
        );
        let _ = writeln!(out, "\ncoordination latency by phase (1m buckets, from the store):");
        let _ = writeln!(
            out,
            "  {:<24}  {:<8}  {:>5}  {:>8}  {:>8}  {:>9}",
            "bucket", "phase", "count", "avg ms", "p95 ms", "avg score"
        );
        let mut phases = self.phases.clone();
        let order = |p: &str| Phase::ALL.iter().position(|x| x.as_str() == p).unwrap_or(Phase::ALL.len());
        phases.sort_by(|a, b| a.bucket.cmp(&b.bucket).then_with(|| order(&a.phase).cmp(&order(&b.phase))));
        for row in &phases {
            let _ = writeln!(
                out,
                "  {:<24}  {:<8}  {:>5}  {:>8}  {:>8}  {:>9}",
                row.bucket.to_rfc3339(),
                row.phase,
                row.count,
                f(row.avg_latency_ms, 1),
                f(row.p95_latency_ms, 1),
                f(row.avg_score, 3)
            );
        }
        let _ = writeln!(out, "\nworkers:");
        let _ = writeln!(out, "  {:<10}  {:>5}  {:>5}  {:>11}", "worker", "tasks", "ok", "avg work ms");
        for row in &self.workers {
            let _ = writeln!(
                out,
                "  {:<10}  {:>5}  {:>5}  {:>11}",
                row.worker,
                row.tasks,
                row.succeeded,
                f(row.avg_work_ms, 1)
            );
        }
        let _ = writeln!(out, "\nerrors: {}   mean quality: {}", self.errors, f(self.avg_quality, 3));
        out
    }
}

/// Sums count and field sum per value of `key` over every bucket.
fn totals_by(points: &[AggPoint], key: &str) -> BTreeMap<String, (u64, f64)> {
    let mut totals: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for point in points {
        let group = point.group.get(key).cloned().flatten().unwrap_or_else(|| "(none)".to_owned());
        let entry = totals.entry(group).or_default();
        entry.0 += point.count;
        entry.1 += point.sum.unwrap_or(0.0);
    }
    totals
}

fn mean(count: u64, sum: f64) -> Option<f64> {
    (count > 0).then(|| sum / count as f64)
}

/// A sum of 0/1 values (`success`) as a count.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "rounded, clamped at 0, far below 2^53"
)]
fn whole(value: f64) -> u64 {
    value.round().max(0.0) as u64
}

/// Reads the run `config.run_id` back from the sink with 1-minute aggregations: latency
/// and score by phase, tasks per worker, errors and quality.
pub async fn report(config: &DualAgentConfig, sink: &Sink, since: Timestamp) -> Result<Report> {
    let (start, end) = (since.add_micros(-60_000_000), Timestamp::now().add_micros(60_000_000));
    let of = |kind: &str| {
        Query::new(start, end, Aggregation::Minute)
            .filter(Filter::eq(Dimension::Source, Source::DualAgent.as_str()))
            .filter(Filter::eq(Dimension::SessionId, config.run_id.as_str()))
            .filter(Filter::eq(Dimension::Type, kind))
    };
    let phase = Dimension::Tag("phase".to_owned());
    let worker = Dimension::Tag("worker".to_owned());

    let latency = sink.aggregate(&of("coordination").field("latencyMs").group(phase.clone())).await?;
    let scores = sink.aggregate(&of("coordination").field("coordinationScore").group(phase)).await?;
    let score_of = |bucket: Timestamp, name: &Option<String>| {
        scores
            .iter()
            .find(|p| p.timestamp == bucket && p.group.get("tag.phase") == Some(name))
            .and_then(|p| p.avg)
    };
    let phases = latency
        .iter()
        .map(|p| {
            let name = p.group.get("tag.phase").cloned().flatten();
            PhaseRow {
                bucket: p.timestamp,
                avg_score: score_of(p.timestamp, &name),
                phase: name.unwrap_or_else(|| "(none)".to_owned()),
                count: p.count,
                avg_latency_ms: p.avg,
                p95_latency_ms: p.p95,
            }
        })
        .collect();

    let success = totals_by(
        &sink.aggregate(&of("performance").field("success").group(worker.clone())).await?,
        "tag.worker",
    );
    let duration =
        totals_by(&sink.aggregate(&of("performance").field("duration").group(worker)).await?, "tag.worker");
    let workers = success
        .iter()
        .map(|(name, (tasks, ok))| WorkerRow {
            worker: name.clone(),
            tasks: *tasks,
            // `success` is 1.0 or 0.0 per event, so its sum is a whole number.
            succeeded: whole(*ok),
            avg_work_ms: duration.get(name).and_then(|(n, sum)| mean(*n, *sum)),
        })
        .collect();

    let errors = sink.aggregate(&of("error")).await?.iter().map(|p| p.count).sum();
    let quality = sink.aggregate(&of("quality").field("score")).await?;
    let (n, sum) = quality.iter().fold((0, 0.0), |(n, s), p| (n + p.count, s + p.sum.unwrap_or(0.0)));
    Ok(Report { phases, workers, errors, avg_quality: mean(n, sum) })
}

/// Runs the runtime against `sink`, flushes, and reads the report back.
pub async fn run_and_report(config: &DualAgentConfig, sink: &Sink) -> Result<(RunSummary, Report)> {
    let since = Timestamp::now();
    let summary = run_dual_agent(config, sink).await?;
    sink.flush().await?;
    let report = report(config, sink, since).await?;
    Ok((summary, report))
}
