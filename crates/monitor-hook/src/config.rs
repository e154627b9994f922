//! Configuration from the environment (Claude Code strips `OTEL_*` from hooks, so the
//! hook has its own `MONITOR_*` variables).

use std::path::PathBuf;
use std::time::Duration;

/// Where the server listens when `MONITOR_URL` is not set.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7070";
/// Per-request timeout when `MONITOR_HOOK_TIMEOUT_MS` is not set.
pub const DEFAULT_TIMEOUT_MS: u64 = 500;
/// Spool cap when `MONITOR_HOOK_SPOOL_MAX_MB` is not set.
pub const DEFAULT_SPOOL_MAX_MB: u64 = 50;

/// Everything the hook reads from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `MONITOR_URL`: base URL of monitor-server (`http://` only).
    pub url: String,
    /// `MONITOR_API_KEY`: sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// `MONITOR_PROJECT`: the `projectId` of every event; the basename of `cwd` when unset.
    pub project: Option<String>,
    /// `MONITOR_HOOK_CAPTURE_PROMPTS=1`: also send prompt text (off: lengths and counts only).
    pub capture_prompts: bool,
    /// `MONITOR_HOOK_DEBUG`: one summary line on stderr per call.
    pub debug: bool,
    /// `MONITOR_HOOK_TIMEOUT_MS`: budget of one request to the server (connect, send, answer).
    pub timeout: Duration,
    /// `MONITOR_HOOK_SPOOL_MAX_MB`: size above which new events are counted and dropped.
    pub spool_max_bytes: u64,
    /// The spool and state directory: `MONITOR_HOOK_STATE_DIR`, else
    /// `$XDG_STATE_HOME/agent-monitor`, else `~/.local/state/agent-monitor`.
    pub state_dir: Option<PathBuf>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let flag =
            |name: &str| get(name).is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "no" | "off"));
        let number =
            |name: &str, default: u64| get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(default);
        let state_dir = get("MONITOR_HOOK_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                get("XDG_STATE_HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .map(|p| p.join("agent-monitor"))
            })
            .or_else(|| get("HOME").map(|home| PathBuf::from(home).join(".local/state/agent-monitor")));
        Config {
            url: get("MONITOR_URL").unwrap_or_else(|| DEFAULT_URL.to_owned()),
            api_key: get("MONITOR_API_KEY"),
            project: get("MONITOR_PROJECT"),
            capture_prompts: flag("MONITOR_HOOK_CAPTURE_PROMPTS"),
            debug: flag("MONITOR_HOOK_DEBUG"),
            timeout: Duration::from_millis(number("MONITOR_HOOK_TIMEOUT_MS", DEFAULT_TIMEOUT_MS).max(1)),
            spool_max_bytes: number("MONITOR_HOOK_SPOOL_MAX_MB", DEFAULT_SPOOL_MAX_MB)
                .saturating_mul(1024 * 1024),
            state_dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[("HOME", "/home/u")]);
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(c.state_dir, Some(PathBuf::from("/home/u/.local/state/agent-monitor")));
        assert_eq!(c.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert!(!c.capture_prompts && !c.debug);

        let c = config(&[
            ("HOME", "/home/u"),
            ("XDG_STATE_HOME", "/xdg"),
            ("MONITOR_URL", "http://10.0.0.2:9000"),
            ("MONITOR_HOOK_CAPTURE_PROMPTS", "1"),
            ("MONITOR_HOOK_DEBUG", "0"),
            ("MONITOR_HOOK_SPOOL_MAX_MB", "2"),
        ]);
        assert_eq!(c.state_dir, Some(PathBuf::from("/xdg/agent-monitor")));
        assert_eq!(c.url, "http://10.0.0.2:9000");
        assert!(c.capture_prompts && !c.debug);
        assert_eq!(c.spool_max_bytes, 2 * 1024 * 1024);

        // A relative XDG_STATE_HOME is invalid per the XDG spec and ignored.
        let c = config(&[("HOME", "/home/u"), ("XDG_STATE_HOME", "rel")]);
        assert_eq!(c.state_dir, Some(PathBuf::from("/home/u/.local/state/agent-monitor")));
        assert_eq!(config(&[]).state_dir, None);
    }
}
