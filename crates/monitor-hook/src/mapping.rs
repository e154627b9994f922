//! Hook input → events of the model. docs/hooks.md has the table this code implements.

use std::path::Path;

use crate::config::Config;
use crate::event::{Event, MAX_MESSAGE_LEN, truncate};
use crate::input::HookInput;
use crate::state::State;

/// The longest prompt text sent when `MONITOR_HOOK_CAPTURE_PROMPTS=1`.
pub const MAX_PROMPT_LEN: usize = 8 * 1024;

/// What a mapping needs besides the input and the state.
#[derive(Debug)]
pub struct Context<'c> {
    /// When the hook runs (ms since the epoch).
    pub now_ms: i64,
    /// The environment configuration.
    pub config: &'c Config,
    /// The hook process's working directory, for inputs without `cwd`.
    pub fallback_cwd: Option<String>,
}

/// Tool events: their matcher runs on the tool name.
pub const TOOL_EVENTS: &[&str] =
    &["PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "PermissionDenied"];

/// Maps one hook input to the events it stands for, updating the pairing `state`.
/// Unknown hook events map to a `performance` event `hook:<Name>`; nothing here fails.
pub fn map_hook(input: &HookInput<'_>, ctx: &Context<'_>, state: &mut State) -> Vec<Event> {
    let now = ctx.now_ms;
    let name = input.str("hook_event_name").unwrap_or_else(|| "unknown".to_owned());
    let session = input.str("session_id");
    let sid = session.as_deref().unwrap_or("unknown");
    let tool = input.str("tool_name").unwrap_or_else(|| "unknown".to_owned());
    let tool_op = format!("tool:{tool}");
    let agent_id = input.str("agent_id");
    let mut events = Vec::with_capacity(2);

    match name.as_str() {
        "PreToolUse" => {
            // No event: the PostToolUse/PostToolUseFailure that follows carries the
            // duration measured from here. Emitting both would double the hottest path.
            if let Some(id) = input.str("tool_use_id") {
                state.start_tool(&id, now);
            }
        }
        "PostToolUse" => {
            let duration = tool_duration(input, state, now);
            let mut event = Event::performance(now, &tool_op, duration.unwrap_or(0.0), true);
            if duration.is_none() {
                event.put("durationKnown", false);
            }
            if matches!(tool.as_str(), "Agent" | "Task") {
                agent_run_telemetry(input, &mut event);
            }
            events.push(event);
        }
        "PostToolUseFailure" => {
            let duration = tool_duration(input, state, now);
            let raw_error = input.str("error").unwrap_or_default();
            let interrupted = input.bool("is_interrupt") == Some(true);
            let (message, exit_code) = summarize_error(&raw_error);
            let code = if interrupted {
                Some("interrupted".to_owned())
            } else {
                Some(exit_code.map_or_else(|| "tool_error".to_owned(), |n| format!("exit:{n}")))
            };
            let mut error = Event::error(now, &tool_op, &message, code.as_deref());
            if let Some(ms) = duration {
                error.put("duration", ms);
            }
            events.push(error);
            if let Some(ms) = duration {
                events.push(Event::performance(now, &tool_op, ms, false));
            }
        }
        "PermissionRequest" => {
            events.push(Event::performance(now, "permission:request", 0.0, true));
        }
        "PermissionDenied" => {
            // The tool never runs, so its PreToolUse start is dropped here.
            if let Some(id) = input.str("tool_use_id") {
                state.finish_tool(&id);
            }
            let reason = input.str("reason").unwrap_or_else(|| "denied by auto mode".to_owned());
            events.push(Event::error(now, &tool_op, first_line(&reason), Some("permission_denied")));
        }
        "PostToolBatch" => {
            let mut event = Event::performance(now, "tool:batch", 0.0, true);
            if let Some(n) = input.array_len("tool_calls") {
                event.put("toolCount", n);
            }
            events.push(event);
        }
        "SessionStart" => {
            let s = state.session(sid, now);
            s.start = Some(now);
            let mut event = Event::performance(now, "session:start", 0.0, true);
            event.tag("session_source", input.str("source").as_deref());
            event.tag("model", input.str("model").as_deref());
            events.push(event);
        }
        "SessionEnd" => {
            let ended = state.end_session(sid);
            let duration = ended.as_ref().and_then(|s| s.start).map(|start| elapsed(start, now));
            let mut event = Event::performance(now, "session:end", duration.unwrap_or(0.0), true);
            if let Some(s) = &ended {
                event.put("promptCount", s.prompts);
            }
            event.tag("reason", input.str("reason").as_deref());
            events.push(event);
        }
        "UserPromptSubmit" => {
            let s = state.session(sid, now);
            s.turn = Some(now);
            s.prompts += 1;
            let number = s.prompts;
            let prompt = input.str("prompt").unwrap_or_default();
            let mut event = Event::performance(now, "prompt:submit", 0.0, true);
            prompt_stats(&mut event, &prompt, ctx.config.capture_prompts);
            event.put("promptNumber", number);
            events.push(event);
        }
        "UserPromptExpansion" => {
            let prompt = input.str("prompt").unwrap_or_default();
            let mut event = Event::performance(now, "prompt:expand", 0.0, true);
            prompt_stats(&mut event, &prompt, ctx.config.capture_prompts);
            event.tag("command_name", input.str("command_name").as_deref());
            event.tag("expansion_type", input.str("expansion_type").as_deref());
            event.tag("command_source", input.str("command_source").as_deref());
            events.push(event);
        }
        "Stop" => {
            let turn = state.sessions.get(sid).and_then(|s| s.turn);
            state.session(sid, now);
            let mut event = Event::performance(now, "turn", turn.map_or(0.0, |t| elapsed(t, now)), true);
            if turn.is_none() {
                event.put("durationKnown", false);
            }
            if let Some(active) = input.bool("stop_hook_active") {
                event.tag("stop_hook_active", Some(if active { "true" } else { "false" }));
            }
            if let Some(n) = input.array_len("background_tasks") {
                event.put("backgroundTasks", n);
            }
            events.push(event);
        }
        "StopFailure" => {
            let turn = state.sessions.get(sid).and_then(|s| s.turn);
            state.session(sid, now);
            let kind = input.str("error").unwrap_or_else(|| "unknown".to_owned());
            let details = input.str("error_details").or_else(|| input.str("last_assistant_message"));
            let message = details.as_deref().map_or(kind.as_str(), first_line);
            let mut error = Event::error(now, "turn", message, Some(&kind));
            if let Some(t) = turn {
                error.put("duration", elapsed(t, now));
            }
            events.push(error);
            if let Some(t) = turn {
                events.push(Event::performance(now, "turn", elapsed(t, now), false));
            }
        }
        "SubagentStart" => {
            let worker = agent_id.clone().unwrap_or_else(|| "unknown".to_owned());
            state.start_agent(&worker, now);
            events.push(Event::coordination(now, sid, &worker, "start", None));
        }
        "SubagentStop" => {
            let worker = agent_id.clone().unwrap_or_else(|| "unknown".to_owned());
            let start = state.finish_agent(&worker);
            let mut event = Event::coordination(now, sid, &worker, "stop", None);
            if let Some(start) = start {
                event.put("latencyMs", elapsed(start, now));
            }
            if let Some(n) = input.array_len("background_tasks") {
                event.put("backgroundTasks", n);
            }
            events.push(event);
        }
        "TaskCreated" | "TaskCompleted" => {
            let task = input.str("task_id");
            let worker =
                input.str("teammate_name").or_else(|| agent_id.clone()).unwrap_or_else(|| sid.to_owned());
            let created = name == "TaskCreated";
            let latency = match (&task, created) {
                (Some(id), true) => {
                    state.create_task(id, now);
                    None
                }
                (Some(id), false) => state.complete_task(id).map(|start| elapsed(start, now)),
                (None, _) => None,
            };
            let phase = if created { "assign" } else { "complete" };
            let mut event = Event::coordination(now, sid, &worker, phase, task.as_deref());
            if let Some(ms) = latency {
                event.put("latencyMs", ms);
            }
            event.tag("teammate_name", input.str("teammate_name").as_deref());
            if ctx.config.capture_prompts
                && let Some(subject) = input.str("task_subject")
            {
                event.put("taskSubject", truncate(&subject, MAX_MESSAGE_LEN));
            }
            events.push(event);
        }
        "TeammateIdle" => {
            let worker = input
                .str("teammate_name")
                .or_else(|| agent_id.clone())
                .unwrap_or_else(|| "unknown".to_owned());
            let mut event = Event::coordination(now, sid, &worker, "idle", None);
            event.tag("teammate_name", input.str("teammate_name").as_deref());
            events.push(event);
        }
        "PreCompact" => {
            state.session(sid, now).compact = Some(now);
            let trigger = input.str("trigger").unwrap_or_else(|| "auto".to_owned());
            events.push(Event::performance(now, &format!("compact:{trigger}:start"), 0.0, true));
        }
        "PostCompact" => {
            let started = state.session(sid, now).compact.take();
            let trigger = input.str("trigger").unwrap_or_else(|| "auto".to_owned());
            let duration = started.map(|t| elapsed(t, now));
            let mut event =
                Event::performance(now, &format!("compact:{trigger}"), duration.unwrap_or(0.0), true);
            if duration.is_none() {
                event.put("durationKnown", false);
            }
            if let Some(summary) = input.str("compact_summary") {
                event.put("summaryLength", summary.chars().count());
            }
            events.push(event);
        }
        "Notification" => {
            let kind = input.str("notification_type").unwrap_or_else(|| "notice".to_owned());
            let mut event = Event::performance(now, &format!("notification:{kind}"), 0.0, true);
            event.tag("notification_type", Some(&kind));
            events.push(event);
        }
        "MessageDisplay" => {
            // Fires per streamed chunk; only the final chunk is worth an event.
            if input.bool("final") == Some(true) {
                events.push(Event::performance(now, "message:display", 0.0, true));
            }
        }
        "Setup" => {
            let trigger = input.str("trigger").unwrap_or_else(|| "init".to_owned());
            events.push(Event::performance(now, &format!("setup:{trigger}"), 0.0, true));
        }
        "InstructionsLoaded" => {
            let mut event = Event::performance(now, "instructions:load", 0.0, true);
            event.tag("memory_type", input.str("memory_type").as_deref());
            event.tag("load_reason", input.str("load_reason").as_deref());
            events.push(event);
        }
        "ConfigChange" => {
            let mut event = Event::performance(now, "config:change", 0.0, true);
            event.tag("config_source", input.str("source").as_deref());
            events.push(event);
        }
        "CwdChanged" => events.push(Event::performance(now, "cwd:change", 0.0, true)),
        "DirectoryAdded" => {
            let mut event = Event::performance(now, "directory:add", 0.0, true);
            event.tag("directory_source", input.str("source").as_deref());
            events.push(event);
        }
        "FileChanged" => {
            let what = input.str("event").unwrap_or_else(|| "change".to_owned());
            events.push(Event::performance(now, &format!("file:{what}"), 0.0, true));
        }
        "WorktreeCreate" => events.push(Event::performance(now, "worktree:create", 0.0, true)),
        "WorktreeRemove" => events.push(Event::performance(now, "worktree:remove", 0.0, true)),
        "Elicitation" | "ElicitationResult" => {
            let op = if name == "Elicitation" { "elicitation:request" } else { "elicitation:result" };
            let mut event = Event::performance(now, op, 0.0, true);
            event.tag("mcp_server_name", input.str("mcp_server_name").as_deref());
            event.tag("mode", input.str("mode").as_deref());
            event.tag("action", input.str("action").as_deref());
            events.push(event);
        }
        other => {
            // A hook event this build does not know yet: still visible, never an error.
            let clean: String =
                other.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
            let clean = if clean.is_empty() { "unknown".to_owned() } else { clean };
            events.push(Event::performance(now, &format!("hook:{clean}"), 0.0, true));
        }
    }

    if !events.is_empty() {
        decorate(&mut events, input, ctx, &name, session.as_deref(), agent_id.as_deref());
    }
    events
}

/// Sets the identity fields and tags every event of one hook shares.
fn decorate(
    events: &mut [Event],
    input: &HookInput<'_>,
    ctx: &Context<'_>,
    name: &str,
    session: Option<&str>,
    agent_id: Option<&str>,
) {
    let cwd = input.str("cwd").or_else(|| ctx.fallback_cwd.clone());
    let cwd_name = cwd.as_deref().and_then(basename);
    let project = ctx.config.project.clone().or_else(|| cwd_name.clone());
    let effort = input.nested_str("effort", "level");
    let tool = if TOOL_EVENTS.contains(&name) { input.str("tool_name") } else { None };
    for event in events {
        event.project_id = project.as_deref().map(|p| truncate(p, crate::event::MAX_NAME_LEN).to_owned());
        event.session_id = session.map(|s| truncate(s, crate::event::MAX_NAME_LEN).to_owned());
        event.agent_type = Some(if agent_id.is_some() { "worker" } else { "manager" });
        event.tag("hook_event_name", Some(name));
        event.tag("cwd", cwd_name.as_deref());
        event.tag("tool_name", tool.as_deref());
        event.tag("tool_use_id", input.str("tool_use_id").as_deref());
        event.tag("prompt_id", input.str("prompt_id").as_deref());
        event.tag("agent_id", agent_id);
        event.tag("agent_type", input.str("agent_type").as_deref());
        event.tag("permission_mode", input.str("permission_mode").as_deref());
        event.tag("effort", effort.as_deref());
    }
}

/// The last path component of a `cwd` (never the full path: it names the user).
fn basename(path: &str) -> Option<String> {
    let trimmed = path.trim_end_matches(['/', '\\']);
    let name = Path::new(trimmed).file_name()?.to_string_lossy().into_owned();
    Some(name).filter(|n| !n.is_empty())
}

/// The tool's duration: `duration_ms` when sent, else paired with its PreToolUse.
/// The pairing entry is dropped either way so the state does not grow.
fn tool_duration(input: &HookInput<'_>, state: &mut State, now: i64) -> Option<f64> {
    let started = input.str("tool_use_id").and_then(|id| state.finish_tool(&id));
    input.num("duration_ms").filter(|d| *d >= 0.0).or_else(|| started.map(|t| elapsed(t, now)))
}

fn elapsed(start: i64, now: i64) -> f64 {
    // Millisecond counts of any real duration are far below 2^53: exact in f64.
    let ms = now.saturating_sub(start).max(0);
    f64::from(u32::try_from(ms).unwrap_or(u32::MAX))
}

/// The first non-empty line, trimmed.
pub fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

/// A one-line message for a tool error and the Bash exit code when it starts with
/// `Exit code N`. Tool output can be huge: only the first meaningful line is kept.
pub fn summarize_error(error: &str) -> (String, Option<i64>) {
    let mut lines = error.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return ("tool failed".to_owned(), None);
    };
    let exit = first
        .strip_prefix("Exit code")
        .map(str::trim)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<i64>().ok());
    let message = match (exit, lines.next()) {
        (Some(_), Some(next)) if first.split_whitespace().count() <= 3 => format!("{first}: {next}"),
        _ => first.to_owned(),
    };
    (truncate(&message, MAX_MESSAGE_LEN).to_owned(), exit)
}

fn prompt_stats(event: &mut Event, prompt: &str, capture: bool) {
    event.put("promptLength", prompt.chars().count());
    event.put("promptLines", if prompt.is_empty() { 0 } else { prompt.lines().count() });
    if capture {
        event.put("prompt", truncate(prompt, MAX_PROMPT_LEN));
    }
}

/// The Agent (formerly Task) tool reports run telemetry for foreground runs.
fn agent_run_telemetry(input: &HookInput<'_>, event: &mut Event) {
    if let Some(subagent) = input.object("tool_input").and_then(|i| i.str("subagent_type")) {
        event.tag("subagent_type", Some(&subagent));
    }
    let Some(response) = input.object("tool_response") else { return };
    if let Some(status) = response.str("status") {
        event.put("agentStatus", truncate(&status, 64));
    }
    for (from, to) in [
        ("totalTokens", "totalTokens"),
        ("totalDurationMs", "agentDurationMs"),
        ("totalToolUseCount", "totalToolUseCount"),
    ] {
        if let Some(n) = response.num(from) {
            event.put(to, n);
        }
    }
    if let Some(model) = response.str("resolvedModel") {
        event.tag("model", Some(&model));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_bash_errors() {
        assert_eq!(
            summarize_error("Exit code 2\nerror: could not compile\nmore"),
            ("Exit code 2: error: could not compile".to_owned(), Some(2))
        );
        assert_eq!(summarize_error("Exit code 127"), ("Exit code 127".to_owned(), Some(127)));
        assert_eq!(
            summarize_error("\n  File not found: x.rs\nstack"),
            ("File not found: x.rs".to_owned(), None)
        );
        assert_eq!(summarize_error(""), ("tool failed".to_owned(), None));
        let long = "x".repeat(10_000);
        assert_eq!(summarize_error(&long).0.len(), MAX_MESSAGE_LEN);
    }

    #[test]
    fn basenames() {
        assert_eq!(basename("/home/u/proj/").as_deref(), Some("proj"));
        assert_eq!(basename("/home/u/proj").as_deref(), Some("proj"));
        assert_eq!(basename("/"), None);
    }
}
