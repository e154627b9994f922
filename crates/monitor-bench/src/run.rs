//! The whole comparison: for every store of ours and every peer, and every
//! (batch, senders) combination, a freshly started server is loaded with the workload;
//! the last one of each system is then queried. Ends with the raw `COPY` baseline.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::drive;
use crate::report::SystemResult;
use crate::spawn::Instance;
use crate::target::{Kind, Target, compare};
use crate::truth;
use crate::workload::{BenchEvent, CSV_COLUMNS, Format, Rendered, Spec, generate, render, type_counts};

/// What `run` does.
#[derive(Debug, Clone)]
pub(crate) struct RunConfig {
    /// Our stores to measure: `memory`, `sqlite`, `postgres`.
    pub(crate) stores: Vec<String>,
    /// Command template of our server; `{store}` is replaced by the store URL.
    pub(crate) server_cmd: String,
    /// Peers: kind and command template.
    pub(crate) peers: Vec<(Kind, String)>,
    /// (batch, senders) combinations.
    pub(crate) combos: Vec<(usize, usize)>,
    /// The workload.
    pub(crate) spec: Spec,
    /// Untimed query runs.
    pub(crate) warmup: usize,
    /// Timed query runs.
    pub(crate) reps: usize,
    /// Time budget of one query's timed runs.
    pub(crate) query_budget: std::time::Duration,
    /// Relative tolerance of avg/max when checking answers.
    pub(crate) tolerance: f64,
    /// Where to append the pids of started servers.
    pub(crate) pid_file: Option<PathBuf>,
    /// Base URL of a PostgreSQL server (for the `postgres` store and the COPY baseline).
    pub(crate) database_url: Option<String>,
}

/// The outcome: one result per system and the COPY baseline.
#[derive(Debug)]
pub(crate) struct RunResult {
    /// Ours first, then the peers.
    pub(crate) systems: Vec<SystemResult>,
    /// Raw COPY rows/s, when measured.
    pub(crate) copy_rate: Option<f64>,
}

fn store_label(store: &str) -> &str {
    match store {
        "memory" => "memory",
        "sqlite" => "SQLite",
        "postgres" => "PostgreSQL",
        other => other,
    }
}

fn peer_label(kind: Kind) -> &'static str {
    match kind {
        Kind::VictoriaMetrics => "VictoriaMetrics",
        Kind::InfluxDb => "InfluxDB",
        Kind::Ours => "ours",
    }
}

/// `url` with its database name replaced by `db`.
pub(crate) fn with_database(url: &str, db: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").context("DATABASE_URL has no scheme")? + 3;
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

async fn psql(url: &str, args: &[&str]) -> Result<()> {
    let output = tokio::process::Command::new("psql")
        .arg(url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .output()
        .await
        .context("running psql (is the PostgreSQL client installed?)")?;
    if !output.status.success() {
        bail!("psql {args:?}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// A fresh, empty database named `db` on the server of `base`; returns its URL.
async fn fresh_database(base: &str, db: &str) -> Result<String> {
    psql(base, &["-c", &format!("DROP DATABASE IF EXISTS {db}"), "-c", &format!("CREATE DATABASE {db}")])
        .await?;
    with_database(base, db)
}

fn log(msg: &str) {
    eprintln!("[monitor-bench {:>7.1}s load {}] {msg}", uptime_secs(), crate::procstat::load_average());
}

fn uptime_secs() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

struct Workload {
    events: Vec<BenchEvent>,
    expected: [u64; 4],
    ndjson: Option<Rendered>,
    lp: Option<Rendered>,
}

impl Workload {
    fn rendered(&mut self, spec: &Spec, format: Format) -> &Rendered {
        let slot = if format == Format::Ndjson { &mut self.ndjson } else { &mut self.lp };
        slot.get_or_insert_with(|| render(spec, &self.events, format))
    }
}

/// Runs the comparison.
pub(crate) async fn run(config: &RunConfig) -> Result<RunResult> {
    log(&format!("generating {} events (seed {})", config.spec.events, config.spec.seed));
    let events = generate(&config.spec);
    let expected = type_counts(&events);
    let mut workload = Workload { events, expected, ndjson: None, lp: None };
    let mut systems = Vec::new();
    let mut systems_to_run: Vec<(String, Kind, Option<String>, String)> = Vec::new();
    for store in &config.stores {
        systems_to_run.push((
            store_label(store).to_owned(),
            Kind::Ours,
            Some(store.clone()),
            config.server_cmd.clone(),
        ));
    }
    for (kind, template) in &config.peers {
        systems_to_run.push((peer_label(*kind).to_owned(), *kind, None, template.clone()));
    }
    for (name, kind, store, template) in systems_to_run {
        let mut result = SystemResult::new(&name, kind);
        if let Err(e) = measure(config, &mut workload, &mut result, store.as_deref(), &template).await {
            log(&format!("{name}: {e:#}"));
            result.errors.push(format!("{e:#}"));
        }
        for t in &result.queries {
            let want = truth::expected(&workload.events, t.query);
            result.agreement.push((t.query, compare(&want, &t.answer, config.tolerance)));
        }
        systems.push(result);
    }
    let copy_rate = if config.stores.iter().any(|s| s == "postgres") {
        match copy_baseline(config, &workload.events).await {
            Ok(rate) => Some(rate),
            Err(e) => {
                log(&format!("raw COPY baseline: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    Ok(RunResult { systems, copy_rate })
}

async fn measure(
    config: &RunConfig,
    workload: &mut Workload,
    result: &mut SystemResult,
    store: Option<&str>,
    template: &str,
) -> Result<()> {
    let kind = result.kind;
    let rendered = workload.rendered(&config.spec, kind.format()).clone();
    for (k, &(batch, senders)) in config.combos.iter().enumerate() {
        let last = k + 1 == config.combos.len();
        let mut database = None;
        let template = match store {
            None => template.to_owned(),
            Some("memory") => template.replace("{store}", "memory"),
            Some("sqlite") => template.replace("{store}", "sqlite://{dir}/monitor.db"),
            Some("postgres") => {
                let base = config.database_url.as_deref().context(
                    "DATABASE_URL is not set: run under scripts/with-postgres.sh or give --database-url",
                )?;
                let db = format!("monitor_bench_{k}");
                let url = fresh_database(base, &db).await?;
                database = Some((base.to_owned(), db));
                template.replace("{store}", &url)
            }
            Some(other) => bail!("unknown store `{other}`: expected memory, sqlite or postgres"),
        };
        log(&format!("{}: starting for batch {batch} × {senders} sender(s)", result.name));
        let instance = Instance::start(&template, kind.health_path(), None, config.pid_file.as_deref())
            .await
            .with_context(|| format!("{} did not start", result.name))?;
        let outcome =
            measure_instance(config, workload, result, &instance, &rendered, batch, senders, last).await;
        let stopped = instance.stop().await;
        if let Some((base, db)) = database {
            // Best effort: the throwaway cluster goes away anyway.
            let _ = psql(&base, &["-c", &format!("DROP DATABASE IF EXISTS {db}")]).await;
        }
        outcome?;
        stopped?;
    }
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "one call site; a struct would only rename them")]
async fn measure_instance(
    config: &RunConfig,
    workload: &Workload,
    result: &mut SystemResult,
    instance: &Instance,
    rendered: &Rendered,
    batch: usize,
    senders: usize,
    last: bool,
) -> Result<()> {
    let target = Target::new(result.kind, &instance.url, config.spec)?;
    target.prepare().await?;
    let run = drive::ingest(&target, rendered.batches(batch), senders, workload.expected, Some(instance.pid))
        .await
        .with_context(|| {
            format!("ingest, batch {batch} × {senders}; server output:\n{}", instance.log_tail())
        })?;
    log(&format!(
        "{}: batch {batch} × {senders}: {:.0} events/s, queryable after {:?}, CPU {:.1} s, peak RSS {:.0} MiB, counts {:?}{}",
        result.name,
        run.events_per_sec(),
        run.queryable_after,
        run.cpu_secs.unwrap_or(f64::NAN),
        run.peak_rss_mib.unwrap_or(f64::NAN),
        run.counts,
        if run.verified { "" } else { " — COUNTS DO NOT MATCH" }
    ));
    if !run.verified {
        result.errors.push(format!(
            "batch {batch} × {senders}: stored counts {:?} never matched the {:?} sent",
            run.counts, workload.expected
        ));
    }
    result.ingests.push(run);
    if last {
        log(&format!(
            "{}: timing queries ({} warm-up + {} reps, cache off)",
            result.name, config.warmup, config.reps
        ));
        result.queries =
            drive::time_queries(&target, config.warmup, config.reps, false, config.query_budget).await?;
        if result.kind.has_result_cache() {
            log(&format!("{}: timing queries, cache on", result.name));
            result.cached =
                drive::time_queries(&target, config.warmup, config.reps, true, config.query_budget).await?;
        }
        for t in &result.queries {
            log(&format!(
                "{}: {} p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms",
                result.name,
                t.query.label(),
                t.latency.p50,
                t.latency.p95,
                t.latency.p99
            ));
        }
    }
    Ok(())
}

/// Times `psql \copy` of the workload as CSV into one table with a primary key —
/// what a store's bulk path cannot beat, measured on the same server in the same run.
async fn copy_baseline(config: &RunConfig, events: &[BenchEvent]) -> Result<f64> {
    let base = config.database_url.as_deref().context("DATABASE_URL is not set")?;
    let dir =
        tempfile::Builder::new().prefix("monitor-bench-copy-").tempdir().context("creating a temp dir")?;
    let csv_path = dir.path().join("events.csv");
    let csv = render(&config.spec, events, Format::Csv);
    tokio::fs::write(&csv_path, csv.bytes())
        .await
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let url = fresh_database(base, "monitor_bench_copy").await?;
    psql(
        &url,
        &[
            "-c",
            "CREATE TABLE bench_copy (id text PRIMARY KEY, ts timestamptz NOT NULL, source text NOT NULL, \
             type text NOT NULL, project_id text, session_id text, agent_type text, operation text, \
             duration double precision, payload jsonb NOT NULL)",
        ],
    )
    .await?;
    log("raw COPY baseline: loading the same rows with psql \\copy");
    let started = Instant::now();
    psql(
        &url,
        &[
            "-c",
            &format!("\\copy bench_copy ({CSV_COLUMNS}) FROM '{}' WITH (FORMAT csv)", csv_path.display()),
        ],
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let _ = psql(base, &["-c", "DROP DATABASE IF EXISTS monitor_bench_copy"]).await;
    let rate = events.len() as f64 / secs.max(1e-9);
    log(&format!("raw COPY baseline: {rate:.0} rows/s"));
    Ok(rate)
}

/// Times the queries of an already loaded server and checks the answers.
pub(crate) async fn query_only(
    target: &Target,
    events: &[BenchEvent],
    warmup: usize,
    reps: usize,
    tolerance: f64,
) -> Result<SystemResult> {
    let mut result = SystemResult::new("ours", target.kind);
    result.queries = drive::time_queries(target, warmup, reps, false, std::time::Duration::MAX).await?;
    if target.kind.has_result_cache() {
        result.cached = drive::time_queries(target, warmup, reps, true, std::time::Duration::MAX).await?;
    }
    for t in &result.queries {
        result.agreement.push((t.query, compare(&truth::expected(events, t.query), &t.answer, tolerance)));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_get_their_name_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "y").unwrap(),
            "postgres://u:p@h/y?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h:1", "z").unwrap(), "postgresql://h:1/z");
        assert!(with_database("nonsense", "z").is_err());
    }
}
