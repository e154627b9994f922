//! The `monitor-server` binary: parse flags, load configuration, serve until SIGTERM or
//! Ctrl-C, then drain.

use anyhow::Context;

// A profile of ingest into SQLite spent a quarter of its time in glibc malloc/free
// (many small per-event allocations freed across threads); mimalloc handles that pattern
// much better.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser;
use monitor_server::{Cli, Config, Running};
use tracing_subscriber::EnvFilter;

fn init_logs(format: &str) {
    let filter = EnvFilter::try_from_env("MONITOR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli).context("invalid configuration")?;
    init_logs(&config.log_format);
    monitor_server::health::prometheus();
    let running = Running::start(config).await.context("cannot start monitor-server")?;
    let info = running.state.store.info();
    tracing::info!(
        listen = %running.addr,
        store = info.kind,
        mode = %info.mode,
        location = %info.location,
        "monitor-server listening on http://{}",
        running.addr
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests and draining the collector");
    let budget = running.state.timeouts.shutdown;
    if tokio::time::timeout(budget * 2, running.shutdown()).await.is_err() {
        anyhow::bail!("shutdown did not finish within {budget:?}; buffered events may not be stored");
    }
    tracing::info!("stopped");
    Ok(())
}
