//! `monitor-bench`: the load generator and side-by-side benchmark of issue 9.
//!
//! ```text
//! monitor-bench generate --events 1000000 --seed 42 --out DIR
//! monitor-bench ingest   --url http://127.0.0.1:7070 --batch 10000 --senders 4 [--server-pid PID | --spawn-server CMD]
//! monitor-bench query    --url http://127.0.0.1:7070 --reps 50 --warmup 5
//! monitor-bench run      --stores memory,sqlite,postgres [--peer victoriametrics=CMD] [--peer influxdb=CMD]
//! ```
//!
//! `docs/benchmarks.md` explains each measurement; `scripts/bench-peers.sh` runs the
//! whole comparison from a clean clone.
//!
//! # Layout
//! - `workload`: the seeded event generator and its NDJSON, line-protocol and CSV renderings.
//! - `rng`: SplitMix64 and the distributions (log-normal, weighted choice).
//! - `target`: ours, InfluxDB and VictoriaMetrics behind one interface (ingest, counts, Q1–Q4).
//! - `truth`: the right answers to Q1–Q4, computed from the events.
//! - `drive`: concurrent senders, freshness polling, query timing.
//! - `spawn`: starting and stopping servers on free ports with temp data dirs.
//! - `run`: the whole sequence over stores, peers and (batch, senders) combinations.
//! - `report`: the markdown table with ratios; `stats`: percentiles; `procstat`: `/proc`.

mod drive;
mod latency;
mod procstat;
mod report;
mod rng;
mod run;
mod spawn;
mod stats;
mod target;
mod truth;
mod workload;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::report::SystemResult;
use crate::spawn::Instance;
use crate::target::{Kind, Target};
use crate::workload::{Format, Spec, TYPES, default_end_us, generate, render, type_counts};

#[derive(Debug, Parser)]
#[command(name = "monitor-bench", about = "Load generator and peer comparison for agent-monitor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The workload's parameters, shared by every subcommand.
#[derive(Debug, clap::Args)]
struct WorkloadArgs {
    /// Number of events, spread evenly over 24 h.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// RNG seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// End of the 24 h window (RFC 3339 or epoch ms) [default: the last full hour at
    /// least two minutes ago]. Give `ingest` and `query` the same value.
    #[arg(long)]
    end: Option<String>,
}

impl WorkloadArgs {
    fn spec(&self) -> Result<Spec> {
        let end_us = match &self.end {
            None => default_end_us(chrono::Utc::now().timestamp_micros()),
            Some(text) => parse_time_us(text)?,
        };
        if self.events == 0 {
            bail!("--events must be at least 1");
        }
        Ok(Spec { events: self.events, seed: self.seed, end_us })
    }
}

fn parse_time_us(text: &str) -> Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return ms.checked_mul(1000).context("--end is out of range");
    }
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--end `{text}` is neither RFC 3339 nor epoch milliseconds"))?;
    Ok(t.timestamp_micros())
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes the workload as events.ndjson, events.lp (line protocol), events.csv and manifest.json.
    Generate {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Posts the workload to a running (or spawned) monitor-server and measures ingest.
    Ingest {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        url: String,
        /// Events per request.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Concurrent senders.
        #[arg(long, default_value_t = 4)]
        senders: usize,
        /// The server's pid, for CPU seconds and peak RSS.
        #[arg(long, conflicts_with = "spawn_server")]
        server_pid: Option<u32>,
        /// Start the server with this shell command first (and stop it after); `{port}`
        /// and `{dir}` are replaced by a free port and a temp data dir.
        #[arg(long)]
        spawn_server: Option<String>,
    },
    /// Times Q1–Q4 against a server that holds the workload and checks the answers.
    Query {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        url: String,
        /// Timed repetitions of each query.
        #[arg(long, default_value_t = 50)]
        reps: usize,
        /// Untimed repetitions first.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Relative tolerance of avg/max when checking answers.
        #[arg(long, default_value_t = 1e-6)]
        tolerance: f64,
    },
    /// Single-event POST latency at a steady rate and SSE freshness after the 202.
    Latency {
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        url: String,
        /// Single-event POSTs per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
        /// How long to post.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
    /// The whole comparison against freshly started servers; prints one markdown table.
    Run {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Our stores: memory, sqlite, postgres (postgres needs DATABASE_URL).
        #[arg(long, value_delimiter = ',', default_value = "memory,sqlite,postgres")]
        stores: Vec<String>,
        /// The monitor-server binary.
        #[arg(long, default_value = "target/release/monitor-server")]
        server_bin: PathBuf,
        /// Our server's command template (`{bin}`, `{store}`, `{port}`, `{dir}`).
        #[arg(long, default_value = "{bin} --listen 127.0.0.1:{port} --store {store} --data-dir {dir}")]
        server_cmd: String,
        /// A peer as KIND=COMMAND (kind: victoriametrics or influxdb; `{port}`, `{port2}`,
        /// `{dir}` in the command); repeatable.
        #[arg(long = "peer")]
        peers: Vec<String>,
        /// (batch × senders) combinations; queries run on the last one's server.
        #[arg(long, value_delimiter = ',', default_value = "1000x1,1000x4,10000x1,10000x4")]
        combos: Vec<String>,
        /// Timed repetitions of each query.
        #[arg(long, default_value_t = 50)]
        reps: usize,
        /// Untimed repetitions first.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Relative tolerance of avg/max when checking answers.
        #[arg(long, default_value_t = 1e-6)]
        tolerance: f64,
        /// Seconds one query's timed runs may take before repetitions stop early (at
        /// least 5 are kept; the table shows n then).
        #[arg(long, default_value_t = 60)]
        query_budget_secs: u64,
        /// PostgreSQL server for the postgres store and the raw COPY baseline.
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        /// Append the pid of every started server here (for a wrapper's cleanup trap).
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Also write the table to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// An HTTP client builder. The workspace builds reqwest without a bundled TLS provider
/// (the alert engine brings its own), so install ring as the process default first.
pub(crate) fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

fn parse_combo(text: &str) -> Result<(usize, usize)> {
    let (b, s) = text.split_once('x').with_context(|| format!("combo `{text}` is not BATCHxSENDERS"))?;
    let batch: usize = b.trim().parse().with_context(|| format!("bad batch size in `{text}`"))?;
    let senders: usize = s.trim().parse().with_context(|| format!("bad sender count in `{text}`"))?;
    if batch == 0 || senders == 0 {
        bail!("combo `{text}`: batch and senders must be at least 1");
    }
    Ok((batch, senders))
}

fn parse_peer(text: &str) -> Result<(Kind, String)> {
    let (kind, cmd) = text.split_once('=').with_context(|| format!("peer `{text}` is not KIND=COMMAND"))?;
    Ok((Kind::parse_peer(kind.trim())?, cmd.to_owned()))
}

fn generate_files(workload: &WorkloadArgs, out: &PathBuf) -> Result<()> {
    let spec = workload.spec()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let events = generate(&spec);
    for (format, name) in
        [(Format::Ndjson, "events.ndjson"), (Format::LineProtocol, "events.lp"), (Format::Csv, "events.csv")]
    {
        let path = out.join(name);
        std::fs::write(&path, render(&spec, &events, format).bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let counts = type_counts(&events);
    let manifest = serde_json::json!({
        "events": spec.events,
        "seed": spec.seed,
        "start": workload::rfc3339(spec.start_us()),
        "end": workload::rfc3339(spec.end_us),
        "types": TYPES.iter().zip(counts).map(|(t, c)| (t.to_string(), serde_json::Value::from(c))).collect::<serde_json::Map<_, _>>(),
        "csvColumns": workload::CSV_COLUMNS,
    });
    let path = out.join("manifest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).context("encoding the manifest")?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", serde_json::to_string_pretty(&manifest).unwrap_or_default());
    Ok(())
}

async fn ingest_command(
    workload: &WorkloadArgs,
    url: &str,
    batch: usize,
    senders: usize,
    server_pid: Option<u32>,
    spawn_server: Option<&str>,
) -> Result<()> {
    let spec = workload.spec()?;
    let events = generate(&spec);
    let expected = type_counts(&events);
    let rendered = render(&spec, &events, Format::Ndjson);
    let instance = match spawn_server {
        Some(cmd) => Some(Instance::start(cmd, Kind::Ours.health_path(), Some(url), None).await?),
        None => None,
    };
    let base = instance.as_ref().map_or(url, |i| i.url.as_str()).to_owned();
    let pid = instance.as_ref().map(|i| i.pid).or(server_pid);
    let target = Target::new(Kind::Ours, &base, spec)?;
    eprintln!(
        "posting {} events ({} … {}) to {base} in batches of {batch} with {senders} sender(s)",
        spec.events,
        workload::rfc3339(spec.start_us()),
        workload::rfc3339(spec.end_us)
    );
    let outcome = drive::ingest(&target, rendered.batches(batch), senders, expected, pid).await;
    if let Some(instance) = instance {
        if outcome.is_err() {
            eprintln!("server output:\n{}", instance.log_tail());
        }
        instance.stop().await?;
    }
    let run = outcome?;
    let mut result = SystemResult::new("ours", Kind::Ours);
    let verified = run.verified;
    println!(
        "events {} | {:.0} events/s | {:.2} s | retries {} | queryable after {} | server CPU {} | peak RSS {} | counts {:?} (sent {:?}) | load {}",
        run.events,
        run.events_per_sec(),
        run.elapsed.as_secs_f64(),
        run.retries,
        run.queryable_after.map_or("never".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0)),
        run.cpu_secs.map_or("—".to_owned(), |c| format!("{c:.2} s")),
        run.peak_rss_mib.map_or("—".to_owned(), |m| format!("{m:.0} MiB")),
        run.counts,
        expected,
        run.load
    );
    result.ingests.push(run);
    println!("\n{}", report::markdown(&[result], &[(batch, senders)], 0, None));
    if !verified {
        bail!("the stored per-type counts never matched what was sent");
    }
    Ok(())
}

async fn query_command(
    workload: &WorkloadArgs,
    url: &str,
    reps: usize,
    warmup: usize,
    tolerance: f64,
) -> Result<()> {
    let spec = workload.spec()?;
    let events = generate(&spec);
    let target = Target::new(Kind::Ours, url, spec)?;
    let result = run::query_only(&target, &events, warmup, reps, tolerance).await?;
    println!("{}", report::markdown(&[result], &[], reps, None));
    println!("load average: {}", procstat::load_average());
    Ok(())
}

async fn main_inner(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate { workload, out } => generate_files(&workload, &out),
        Command::Ingest { workload, url, batch, senders, server_pid, spawn_server } => {
            ingest_command(&workload, &url, batch, senders, server_pid, spawn_server.as_deref()).await
        }
        Command::Latency { url, rate, seconds } => latency::run(&url, rate, seconds).await,
        Command::Query { workload, url, reps, warmup, tolerance } => {
            query_command(&workload, &url, reps, warmup, tolerance).await
        }
        Command::Run {
            workload,
            stores,
            server_bin,
            server_cmd,
            peers,
            combos,
            reps,
            warmup,
            tolerance,
            query_budget_secs,
            database_url,
            pid_file,
            out,
        } => {
            let stores: Vec<String> =
                stores.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
            if !stores.is_empty() && !server_bin.exists() {
                bail!(
                    "{} not found: build it with `cargo build --release -p monitor-server` or pass --server-bin",
                    server_bin.display()
                );
            }
            let combos = combos.iter().map(|c| parse_combo(c)).collect::<Result<Vec<_>>>()?;
            let config = run::RunConfig {
                stores,
                server_cmd: server_cmd.replace("{bin}", &server_bin.display().to_string()),
                peers: peers.iter().map(|p| parse_peer(p)).collect::<Result<Vec<_>>>()?,
                combos: combos.clone(),
                spec: workload.spec()?,
                warmup,
                reps,
                query_budget: std::time::Duration::from_secs(query_budget_secs),
                tolerance,
                pid_file,
                database_url,
            };
            let result = run::run(&config).await?;
            let mut table = report::markdown(&result.systems, &combos, reps, result.copy_rate);
            table.push_str(&format!(
                "\n{} events, seed {}, window ending {}; {} warm-up + {} timed runs per query; load average at the end: {}.\n",
                config.spec.events,
                config.spec.seed,
                workload::rfc3339(config.spec.end_us),
                warmup,
                reps,
                procstat::load_average()
            ));
            println!("{table}");
            if let Some(path) = out {
                std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // On Ctrl-C or SIGTERM the run future is dropped: every started server is killed
    // (kill_on_drop) and its temp dir removed before we exit.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = main_inner(cli) => r,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        _ = term.recv() => bail!("terminated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combos_peers_and_times() {
        assert_eq!(parse_combo("10000x4").unwrap(), (10_000, 4));
        assert!(parse_combo("0x4").is_err());
        assert!(parse_combo("1000").is_err());
        let (kind, cmd) =
            parse_peer("victoriametrics=victoria-metrics -httpListenAddr=127.0.0.1:{port}").unwrap();
        assert_eq!(kind, Kind::VictoriaMetrics);
        assert!(cmd.contains("{port}"));
        assert!(parse_peer("mysql=x").is_err());
        assert_eq!(parse_time_us("1768478400000").unwrap(), 1_768_478_400_000_000);
        assert_eq!(parse_time_us("2026-01-15T12:00:00Z").unwrap(), 1_768_478_400_000_000);
        assert!(parse_time_us("yesterday").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
