//! Run with: `cargo run -p monitor-examples --example dual_agent [-- --workers 3 --tasks 12 --sqlite PATH | --server URL]`
//!
//! A manager assigns tasks to several workers over tokio channels; every hand-off phase
//! (assign, accept, progress, complete, fail) is a `coordination` event with its latency
//! and a coordination score, and workers report `performance` and `quality`. Events go
//! through monitor-core's `Collector` into a `MemoryStore` (default), a SQLite file
//! (`--sqlite PATH`) or a running monitor-server (`--server http://127.0.0.1:7070`,
//! `--api-key KEY` when it has keys). At the end the run is read back from there with
//! 1-minute aggregations and printed.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use monitor_core::StoreRef;
use monitor_core::store::MemoryStore;
use monitor_examples::dual_agent::{DualAgentConfig, ServerClient, Sink, run_and_report};
use monitor_store_sqlite::{SqliteConfig, SqliteStore};

const USAGE: &str = "usage: dual_agent [--workers N] [--tasks N] [--fail-every N] [--max-work-ms N] \
                     [--sqlite PATH | --server URL [--api-key KEY]]";

enum Target {
    Memory,
    Sqlite(PathBuf),
    Server { url: String, api_key: Option<String> },
}

fn parse_args() -> Result<(DualAgentConfig, Target)> {
    let mut config = DualAgentConfig::default();
    let (mut sqlite, mut server, mut api_key) = (None, None, std::env::var("MONITOR_API_KEY").ok());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || value.parse::<usize>().with_context(|| format!("{flag}: `{value}` is not a number"));
        match flag.as_str() {
            "--workers" => config.workers = number()?,
            "--tasks" => config.tasks = number()?,
            "--fail-every" => config.fail_every = number()?,
            "--max-work-ms" => {
                config.max_work_ms = value.parse().with_context(|| format!("{flag}: `{value}`"))?
            }
            "--sqlite" => sqlite = Some(PathBuf::from(value)),
            "--server" => server = Some(value),
            "--api-key" => api_key = Some(value),
            _ => bail!("unknown flag `{flag}`\n{USAGE}"),
        }
    }
    let target = match (sqlite, server) {
        (Some(_), Some(_)) => bail!("--sqlite and --server exclude each other"),
        (Some(path), None) => Target::Sqlite(path),
        (None, Some(url)) => Target::Server { url, api_key },
        (None, None) => Target::Memory,
    };
    Ok((config, target))
}

#[tokio::main]
async fn main() -> Result<()> {
    let (config, target) = parse_args()?;
    let (sink, sqlite, place) = match target {
        Target::Memory => {
            let store: StoreRef = Arc::new(MemoryStore::default());
            (Sink::local(store)?, None, "an in-process MemoryStore".to_owned())
        }
        Target::Sqlite(path) => {
            let store = Arc::new(
                SqliteStore::open(SqliteConfig::at(&path))
                    .await
                    .with_context(|| format!("opening {}", path.display()))?,
            );
            let place = format!("SQLite file {}", path.display());
            (Sink::local(store.clone())?, Some(store), place)
        }
        Target::Server { url, api_key } => {
            let place = format!("monitor-server at {url}");
            (Sink::Server(ServerClient::new(&url, api_key)?), None, place)
        }
    };
    println!(
        "dual-agent run {}: {} tasks on {} workers, events to {place}",
        config.run_id, config.tasks, config.workers
    );
    let (summary, report) = run_and_report(&config, &sink).await?;
    sink.close().await?;
    print!("{}", report.render(&summary));
    drop(sink);
    if let Some(store) = sqlite {
        // The collector has stopped, so this is the last reference; close checkpoints
        // the WAL into the file.
        match Arc::try_unwrap(store) {
            Ok(store) => store.close().await.context("closing the SQLite store")?,
            Err(_) => eprintln!("the SQLite store is still shared; it closes in the background"),
        }
    }
    Ok(())
}
