//! `monitor-hook doctor`: checks the whole setup and says what to fix.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::clock;
use crate::config::Config;
use crate::http::{self, Target};
use crate::settings::{self, Json, TOLERANT_VERSION};
use crate::spool::{SPOOL_FILE, STATE_FILE, Spool};
use crate::state::State;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken: events will not arrive.
    Fail,
}

/// The doctor's findings, in order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `(level, text)` per finding.
    pub findings: Vec<(Level, String)>,
}

impl Report {
    fn push(&mut self, level: Level, text: impl Into<String>) {
        self.findings.push((level, text.into()));
    }

    /// Whether any finding is a failure.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|(l, _)| *l == Level::Fail)
    }

    /// The readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (level, text) in &self.findings {
            let tag = match level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            let _ = writeln!(out, "[{tag}] {text}");
        }
        let (warn, fail) = self.findings.iter().fold((0, 0), |(w, f), (l, _)| match l {
            Level::Warn => (w + 1, f),
            Level::Fail => (w, f + 1),
            Level::Ok => (w, f),
        });
        let _ = writeln!(out, "{} checks: {fail} failed, {warn} warnings", self.findings.len());
        out
    }
}

/// What the doctor looks at.
#[derive(Clone, Debug)]
pub struct DoctorInput {
    /// The hook's configuration.
    pub config: Config,
    /// This binary.
    pub exe: Option<PathBuf>,
    /// Settings files to inspect (missing ones are skipped).
    pub settings: Vec<PathBuf>,
    /// `claude --version`, when known.
    pub claude_version: Option<(u32, u32, u32)>,
    /// `OTEL_*` variables seen in this shell.
    pub otel_vars: Vec<(String, String)>,
}

/// Runs every check.
pub fn diagnose(input: &DoctorInput) -> Report {
    let mut r = Report::default();
    check_binary(&mut r, input.exe.as_deref());
    check_settings(&mut r, input);
    check_server(&mut r, &input.config);
    check_spool(&mut r, &input.config);
    check_otel(&mut r, &input.otel_vars);
    r
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

fn check_binary(r: &mut Report, exe: Option<&Path>) {
    match exe {
        Some(path) if is_executable(path) => {
            r.push(Level::Ok, format!("binary {} is executable", path.display()))
        }
        Some(path) => r.push(Level::Fail, format!("binary {} is missing or not executable", path.display())),
        None => r.push(Level::Warn, "cannot tell where this binary is"),
    }
}

fn check_settings(r: &mut Report, input: &DoctorInput) {
    let wanted = settings::install_events(input.claude_version, false);
    let mut installed_anywhere = false;
    match input.claude_version {
        Some(v) => r.push(Level::Ok, format!("Claude Code {}.{}.{}", v.0, v.1, v.2)),
        None => {
            r.push(Level::Warn, "`claude --version` did not answer: cannot check which hook events it knows")
        }
    }
    let mut seen = Vec::new();
    for path in &input.settings {
        // The user file and the project file are one file when run from $HOME.
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(_) => continue,
        };
        let doc = match Json::parse(&text) {
            Ok(doc) => doc,
            Err(e) => {
                r.push(
                    Level::Fail,
                    format!("{} is not valid JSON ({e}): Claude Code skips the whole file", path.display()),
                );
                continue;
            }
        };
        if doc.get("disableAllHooks") == Some(&Json::Bool(true)) {
            r.push(Level::Warn, format!("{} sets disableAllHooks: no hook runs", path.display()));
        }
        let Some(Json::Object(events)) = doc.get("hooks") else { continue };
        let mut present = Vec::new();
        for (event, groups) in events {
            let Json::Array(groups) = groups else {
                r.push(Level::Fail, format!("{}: hooks.{event} is not an array", path.display()));
                continue;
            };
            let handlers = groups.iter().filter_map(|g| match g.get("hooks") {
                Some(Json::Array(h)) => Some(h),
                _ => None,
            });
            for handler in handlers.flatten().filter(|h| settings::is_own_handler(h)) {
                present.push(event.clone());
                check_handler(r, path, event, handler);
            }
            if let Some(v) = input.claude_version
                && v < TOLERANT_VERSION
                && !settings::BASE_EVENTS.contains(&event.as_str())
            {
                r.push(
                    Level::Warn,
                    format!(
                        "{}: `{event}` may be unknown to Claude Code {}.{}.{}, which then skips the whole file; \
                         run `monitor-hook install` again to fit this version",
                        path.display(),
                        v.0,
                        v.1,
                        v.2
                    ),
                );
            }
        }
        if present.is_empty() {
            continue;
        }
        installed_anywhere = true;
        let missing: Vec<&str> = wanted.iter().copied().filter(|e| !present.iter().any(|p| p == e)).collect();
        if missing.is_empty() {
            r.push(
                Level::Ok,
                format!("{}: monitor-hook runs on all {} events", path.display(), present.len()),
            );
        } else {
            r.push(
                Level::Warn,
                format!(
                    "{}: monitor-hook on {} events, missing {}",
                    path.display(),
                    present.len(),
                    missing.join(", ")
                ),
            );
        }
    }
    if !installed_anywhere {
        let names: Vec<String> = input.settings.iter().map(|p| p.display().to_string()).collect();
        r.push(
            Level::Fail,
            format!("monitor-hook is not configured in {}; run `monitor-hook install`", names.join(", ")),
        );
    }
}

fn check_handler(r: &mut Report, path: &Path, event: &str, handler: &Json) {
    let command = handler.get("command").and_then(Json::as_str).unwrap_or("");
    let (program, _) = settings::command_program(command);
    let program_path = Path::new(&program);
    if program_path.is_absolute() && !is_executable(program_path) {
        r.push(
            Level::Fail,
            format!(
                "{}: {event} runs {program}, which is missing or not executable (exit 127 on every event)",
                path.display()
            ),
        );
    } else if !program_path.is_absolute() {
        r.push(
            Level::Warn,
            format!(
                "{}: {event} runs `{program}` through PATH; an absolute path avoids exit-127 errors",
                path.display()
            ),
        );
    }
    match handler.get("timeout").and_then(Json::as_f64) {
        None => r.push(
            Level::Warn,
            format!("{}: {event} has no timeout (Claude Code waits up to 600 s); use 5", path.display()),
        ),
        Some(t) if t > 60.0 => r.push(
            Level::Warn,
            format!(
                "{}: {event} timeout {t} looks like milliseconds; Claude Code reads seconds",
                path.display()
            ),
        ),
        Some(_) => {}
    }
    if handler.get("async") == Some(&Json::Bool(true)) {
        r.push(
            Level::Warn,
            format!(
                "{}: {event} is async; -p runs kill async hooks at exit (events may be late)",
                path.display()
            ),
        );
    }
}

fn check_server(r: &mut Report, config: &Config) {
    let target = match Target::parse(&config.url) {
        Ok(t) => t,
        Err(e) => {
            r.push(Level::Fail, format!("MONITOR_URL: {e}"));
            return;
        }
    };
    let timeout = config.timeout.max(std::time::Duration::from_secs(2));
    match http::request(&target, "GET", "/healthz", &[], b"", timeout) {
        Ok(resp) if (200..300).contains(&resp.status) => {
            r.push(Level::Ok, format!("server at {} is up", config.url))
        }
        Ok(resp) => r.push(
            Level::Warn,
            format!("server at {} answers /healthz with HTTP {}", config.url, resp.status),
        ),
        Err(e) => {
            r.push(
                Level::Fail,
                format!("server at {} unreachable ({e}); events wait in the spool", config.url),
            );
            return;
        }
    }
    let auth = config.api_key.as_ref().map(|k| format!("Bearer {k}"));
    let mut headers = vec![("Content-Type", "application/x-ndjson")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    // An empty batch stores nothing; its status says whether the key may write.
    match http::request(&target, "POST", "/api/events/batch", &headers, b"", timeout) {
        Ok(resp) if resp.status == 401 => r.push(
            Level::Fail,
            if config.api_key.is_some() {
                "the server refuses MONITOR_API_KEY (401)"
            } else {
                "the server needs a key: set MONITOR_API_KEY (401)"
            },
        ),
        Ok(resp) if resp.status == 403 => r.push(Level::Fail, "MONITOR_API_KEY may not write events (403)"),
        Ok(resp) if resp.status == 404 => r.push(
            Level::Fail,
            "the server has no /api/events/batch (404): is MONITOR_URL the monitor-server?",
        ),
        Ok(_) => r.push(
            Level::Ok,
            if config.api_key.is_some() {
                "the server accepts MONITOR_API_KEY for ingest"
            } else {
                "the server accepts ingest without a key"
            },
        ),
        Err(e) => r.push(Level::Warn, format!("ingest check failed: {e}")),
    }
}

fn check_spool(r: &mut Report, config: &Config) {
    let Some(dir) = &config.state_dir else {
        r.push(Level::Fail, "no spool directory: set HOME or XDG_STATE_HOME");
        return;
    };
    let spool = match Spool::open(dir, config.spool_max_bytes) {
        Ok(s) => s,
        Err(e) => {
            r.push(Level::Fail, format!("spool directory {} is not writable: {e}", dir.display()));
            return;
        }
    };
    let (len, pending) = spool.sizes();
    let waiting = spool.pending().unwrap_or_default();
    let lines = waiting.iter().filter(|b| **b == b'\n').count();
    let oldest = waiting
        .split(|b| *b == b'\n')
        .find(|l| !l.is_empty())
        .and_then(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .and_then(|v| v.get("timestamp").and_then(|t| t.as_str()).and_then(clock::parse_rfc3339));
    let ship = spool.ship_state();
    let level = if pending > config.spool_max_bytes / 2 { Level::Warn } else { Level::Ok };
    let mut text = format!(
        "spool {}: {lines} events ({pending} B) waiting, file {len} B, cap {} MB",
        dir.join(SPOOL_FILE).display(),
        config.spool_max_bytes >> 20
    );
    if let Some(ts) = oldest {
        let _ = write!(text, ", oldest {} s old", (clock::now_ms() - ts).max(0) / 1000);
    }
    r.push(level, text);
    if let Some(e) = &ship.last_error {
        r.push(Level::Warn, format!("last shipping error: {e} ({} failures in a row)", ship.failures));
    }
    if ship.rejected_total > 0 {
        r.push(Level::Warn, format!("the server rejected {} events as invalid so far", ship.rejected_total));
    }
    let dropped = std::fs::read(dir.join(STATE_FILE)).map(|b| State::from_slice(&b).dropped).unwrap_or(0);
    if dropped > 0 {
        r.push(Level::Warn, format!("{dropped} events dropped because the spool was full"));
    }
}

fn check_otel(r: &mut Report, vars: &[(String, String)]) {
    let mut text = "Claude Code strips OTEL_* variables from hooks: monitor-hook uses MONITOR_URL, not the OTLP exporter settings".to_owned();
    if let Some((_, endpoint)) = vars.iter().find(|(k, _)| k == "OTEL_EXPORTER_OTLP_ENDPOINT") {
        let _ = write!(text, "; Claude Code itself exports OTLP to {endpoint}");
    } else if !vars.iter().any(|(k, v)| k == "CLAUDE_CODE_ENABLE_TELEMETRY" && v == "1") {
        text.push_str("; for token and cost metrics also enable Claude Code's OTLP export (docs/hooks.md)");
    }
    r.push(Level::Ok, text);
}
