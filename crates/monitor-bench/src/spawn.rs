//! Starting and stopping the servers under test: each on a free loopback port with its
//! own temporary data directory, stopped (SIGTERM, then SIGKILL) and removed afterwards.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a server may take to answer its health check.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to drain after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1 (the OS picks it; it is released for the server to take).
pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("reading the bound port")?.port())
}

/// A running server started by us.
#[derive(Debug)]
pub(crate) struct Instance {
    /// Its base URL.
    pub(crate) url: String,
    /// Its process id.
    pub(crate) pid: u32,
    child: tokio::process::Child,
    log: PathBuf,
    /// Kept only to be removed on drop, after the process is gone.
    _dir: tempfile::TempDir,
}

/// Fills a command template: `{port}` (HTTP), `{port2}` (a second free port), `{dir}`
/// (the instance's data directory).
pub(crate) fn fill_template(template: &str, port: u16, port2: u16, dir: &Path) -> String {
    template
        .replace("{port}", &port.to_string())
        .replace("{port2}", &port2.to_string())
        .replace("{dir}", &dir.display().to_string())
}

impl Instance {
    /// Starts `template` (a shell command, see [`fill_template`]) and waits until
    /// `health_path` answers 2xx. `url` overrides the base URL when the template has no
    /// `{port}`. The pid is appended to `pid_file` so a wrapper script can clean up
    /// after a crash of this tool.
    pub(crate) async fn start(
        template: &str,
        health_path: &str,
        url: Option<&str>,
        pid_file: Option<&Path>,
    ) -> Result<Instance> {
        let dir =
            tempfile::Builder::new().prefix("monitor-bench-").tempdir().context("creating a data dir")?;
        let (port, port2) = (free_port()?, free_port()?);
        let command = fill_template(template, port, port2, dir.path());
        let url = match url {
            Some(u) if !template.contains("{port}") => u.trim_end_matches('/').to_owned(),
            _ => format!("http://127.0.0.1:{port}"),
        };
        // `exec` makes the shell become the server, so the pid we measure is the server's.
        let script = if command.trim_start().starts_with("exec ") {
            command.clone()
        } else {
            format!("exec {command}")
        };
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log handle")?;
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            // A startup error should read as one line in the report, not a backtrace.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting `{command}`"))?;
        let pid = child.id().context("the server exited at once")?;
        if let Some(path) = pid_file {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            writeln!(f, "{pid}").with_context(|| format!("writing {}", path.display()))?;
        }
        let mut instance = Instance { url, pid, child, log, _dir: dir };
        instance.wait_ready(health_path, &command).await?;
        Ok(instance)
    }

    async fn wait_ready(&mut self, health_path: &str, command: &str) -> Result<()> {
        let client = crate::http_client()
            .timeout(Duration::from_secs(2))
            .build()
            .context("building the HTTP client")?;
        let health = format!("{}{health_path}", self.url);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().context("polling the server")? {
                bail!("`{command}` exited with {status} before it was ready:\n{}", self.log_tail());
            }
            if let Ok(resp) = client.get(&health).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("`{command}` not ready at {health} after {READY_TIMEOUT:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of the server's output.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// SIGTERM, wait for a clean exit (our server drains), SIGKILL after the timeout.
    pub(crate) async fn stop(mut self) -> Result<()> {
        if self.child.try_wait().context("polling the server")?.is_none() {
            // No libc here (`unsafe` is forbidden): kill(1) sends the signal.
            let _ =
                tokio::process::Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
            if tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await.is_err() {
                self.child.kill().await.context("killing the server")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_get_ports_and_dir() {
        let t = "victoria-metrics -httpListenAddr=127.0.0.1:{port} -storageDataPath={dir}/vm x={port2}";
        assert_eq!(
            fill_template(t, 8428, 9000, Path::new("/tmp/x")),
            "victoria-metrics -httpListenAddr=127.0.0.1:8428 -storageDataPath=/tmp/x/vm x=9000"
        );
    }

    #[test]
    fn free_ports_are_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_server_that_dies_reports_its_output() {
        let err =
            Instance::start("echo 'store not available' >&2; exit 3", "/", None, None).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("store not available"), "{text}");
    }
}
