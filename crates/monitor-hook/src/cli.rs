//! The subcommands other than the hook itself: `install`, `uninstall`, `doctor`,
//! `flush`. They may print; the hook path may not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::Config;
use crate::doctor::{self, DoctorInput};
use crate::http::Target;
use crate::settings::{self, EXCLUDED_EVENTS};
use crate::spool::{LockMode, Spool};

/// Usage text for `--help`.
pub const USAGE: &str = "\
monitor-hook: Claude Code hook for agent-monitor

USAGE:
  monitor-hook                 the hook: reads one hook JSON on stdin, spools and ships
                               the derived events; prints nothing, always exits 0
  monitor-hook install [--settings PATH | --scope user|project|local]
                       [--timeout SECS] [--command PATH] [--claude-version X.Y.Z] [--all-events]
  monitor-hook uninstall [--settings PATH | --scope user|project|local]
  monitor-hook doctor [--settings PATH]
  monitor-hook flush           ship the spool now, waiting for the server
  monitor-hook --version

ENVIRONMENT:
  MONITOR_URL (http://127.0.0.1:7070), MONITOR_API_KEY, MONITOR_PROJECT,
  MONITOR_HOOK_CAPTURE_PROMPTS=1, MONITOR_HOOK_DEBUG=1, MONITOR_HOOK_TIMEOUT_MS (500),
  MONITOR_HOOK_SPOOL_MAX_MB (50), MONITOR_HOOK_STATE_DIR
  ($XDG_STATE_HOME/agent-monitor, else ~/.local/state/agent-monitor)
";

/// Handler timeout `install` writes, in seconds (Claude Code reads seconds).
pub const DEFAULT_HANDLER_TIMEOUT_S: u64 = 5;

#[derive(Default)]
struct Options {
    settings: Option<PathBuf>,
    scope: Option<String>,
    timeout: Option<u64>,
    command: Option<String>,
    claude_version: Option<String>,
    all_events: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value =
            || inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| format!("{name} needs a value"));
        match name {
            "--settings" => o.settings = Some(PathBuf::from(value()?)),
            "--scope" => o.scope = Some(value()?),
            "--timeout" => {
                o.timeout = Some(value()?.parse().map_err(|_| "--timeout takes whole seconds".to_owned())?)
            }
            "--command" => o.command = Some(value()?),
            "--claude-version" => o.claude_version = Some(value()?),
            "--all-events" => o.all_events = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

fn claude_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude"))
}

fn settings_path(o: &Options) -> Result<PathBuf, String> {
    if let Some(path) = &o.settings {
        return Ok(path.clone());
    }
    match o.scope.as_deref().unwrap_or("user") {
        "user" => claude_dir()
            .map(|d| d.join("settings.json"))
            .ok_or_else(|| "HOME is not set; pass --settings".to_owned()),
        "project" => Ok(PathBuf::from(".claude/settings.json")),
        "local" => Ok(PathBuf::from(".claude/settings.local.json")),
        other => Err(format!("unknown scope `{other}` (user, project or local)")),
    }
}

/// `claude --version`, if `claude` is on PATH.
pub fn detect_claude_version() -> Option<(u32, u32, u32)> {
    let out =
        Command::new("claude").arg("--version").stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    settings::parse_version(&String::from_utf8_lossy(&out.stdout))
}

fn own_command(o: &Options) -> Result<String, String> {
    if let Some(c) = &o.command {
        let path = Path::new(c);
        if !path.is_absolute() {
            return Err("--command must be an absolute path".to_owned());
        }
        return Ok(settings::shell_quote(c));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    Ok(settings::shell_quote(&exe.to_string_lossy()))
}

/// `monitor-hook install`.
pub fn install(args: &[String]) -> i32 {
    let run = || -> Result<(), String> {
        let o = parse_options(args)?;
        let path = settings_path(&o)?;
        let command = own_command(&o)?;
        let timeout = o.timeout.unwrap_or(DEFAULT_HANDLER_TIMEOUT_S);
        if timeout == 0 || timeout > 60 {
            return Err(format!(
                "--timeout {timeout}: give seconds, 1 to 60 (Claude Code reads seconds, not ms)"
            ));
        }
        let version = match &o.claude_version {
            Some(v) => Some(settings::parse_version(v).ok_or_else(|| format!("cannot read version `{v}`"))?),
            None => detect_claude_version(),
        };
        let events = settings::install_events(version, o.all_events);
        let edit = settings::edit_file(&path, |doc| settings::install_into(doc, &command, timeout, &events))?;
        println!("settings: {}", edit.path.display());
        println!("command:  {command} (timeout {timeout} s)");
        let c = &edit.changes;
        println!(
            "added {} events, updated {}, already there {}",
            c.added.len(),
            c.updated.len(),
            c.unchanged.len()
        );
        if !c.added.is_empty() {
            println!("  added: {}", c.added.join(", "));
        }
        if !c.updated.is_empty() {
            println!("  updated: {}", c.updated.join(", "));
        }
        if !c.removed.is_empty() {
            println!("  removed (not known to this Claude Code): {}", c.removed.join(", "));
        }
        match &edit.backup {
            Some(b) => println!("backup: {}", b.display()),
            None if !c.changed() => println!("nothing to change"),
            None => {}
        }
        match version {
            Some((a, b, p)) if events.len() < settings::ALL_EVENTS.len() - EXCLUDED_EVENTS.len() => println!(
                "note: Claude Code {a}.{b}.{p} rejects settings files naming hook events it does not know, so only \
                 the {} long-standing events were configured; run install again after upgrading",
                events.len()
            ),
            None if !o.all_events => println!(
                "note: `claude --version` did not answer, so only the {} long-standing events were configured \
                 (older releases reject unknown event names); pass --claude-version X.Y.Z or --all-events for all",
                events.len()
            ),
            _ => {}
        }
        for (event, why) in EXCLUDED_EVENTS {
            println!("skipped {event}: {why}");
        }
        Ok(())
    };
    report(run())
}

/// `monitor-hook uninstall`.
pub fn uninstall(args: &[String]) -> i32 {
    let run = || -> Result<(), String> {
        let o = parse_options(args)?;
        let path = settings_path(&o)?;
        if !path.exists() {
            println!("{} does not exist: nothing to remove", path.display());
            return Ok(());
        }
        let edit = settings::edit_file(&path, |doc| Ok(settings::uninstall_from(doc)))?;
        println!("settings: {}", edit.path.display());
        if edit.changes.removed.is_empty() {
            println!("no monitor-hook entries found: nothing changed");
        } else {
            println!(
                "removed monitor-hook from {} events: {}",
                edit.changes.removed.len(),
                edit.changes.removed.join(", ")
            );
        }
        if let Some(b) = &edit.backup {
            println!("backup: {}", b.display());
        }
        Ok(())
    };
    report(run())
}

/// `monitor-hook doctor`.
pub fn doctor(args: &[String]) -> i32 {
    let o = match parse_options(args) {
        Ok(o) => o,
        Err(e) => return report(Err(e)),
    };
    let settings = match &o.settings {
        Some(p) => vec![p.clone()],
        None => {
            let mut v = Vec::new();
            if let Some(d) = claude_dir() {
                v.push(d.join("settings.json"));
            }
            v.push(PathBuf::from(".claude/settings.json"));
            v.push(PathBuf::from(".claude/settings.local.json"));
            v
        }
    };
    let claude_version = match &o.claude_version {
        Some(v) => settings::parse_version(v),
        None => detect_claude_version(),
    };
    let input = DoctorInput {
        config: Config::from_env(),
        exe: std::env::current_exe().ok(),
        settings,
        claude_version,
        otel_vars: std::env::vars()
            .filter(|(k, _)| k.starts_with("OTEL_") || k.starts_with("CLAUDE_CODE_"))
            .collect(),
    };
    let result = doctor::diagnose(&input);
    print!("{}", result.render());
    i32::from(result.failed())
}

/// `monitor-hook flush`: ships the whole spool now.
pub fn flush(_args: &[String]) -> i32 {
    let config = Config::from_env();
    let run = || -> Result<(), String> {
        let dir = config.state_dir.clone().ok_or("no spool directory: set HOME or XDG_STATE_HOME")?;
        let spool =
            Spool::open(&dir, config.spool_max_bytes).map_err(|e| format!("{}: {e}", dir.display()))?;
        let target = Target::parse(&config.url);
        let report = spool
            .ship(
                &target,
                config.api_key.as_deref(),
                config.timeout.max(Duration::from_secs(5)),
                Duration::from_secs(120),
                LockMode::Wait,
            )
            .map_err(|e| e.to_string())?;
        println!(
            "shipped {} events in {} requests; {} B still waiting",
            report.sent, report.requests, report.pending_bytes
        );
        match report.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    };
    report(run())
}

fn report(result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("monitor-hook: {e}");
            1
        }
    }
}
