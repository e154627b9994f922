//! The hook binary end to end: realistic Claude Code payloads on stdin, a real HTTP
//! receiver on loopback, the real spool on disk.

mod support;

use std::collections::HashSet;

use monitor_core::validate::{event_from_value, validate};
use monitor_core::{Limits, Timestamp};
use serde_json::{Value, json};
use support::{Env, Mode, Receiver, assert_silent_success, dead_addr};

const SESSION: &str = "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
const PROMPT_ID: &str = "550e8400-e29b-41d4-a716-446655440000";

/// The common fields of v2.1.240 plus fields this build has never heard of.
fn payload(event: &str, extra: Value) -> Vec<u8> {
    let mut base = json!({
        "session_id": SESSION,
        "prompt_id": PROMPT_ID,
        "transcript_path": format!("/home/dev/.claude/projects/-home-dev-work-my-proj/{SESSION}.jsonl"),
        "cwd": "/home/dev/work/my-proj",
        "permission_mode": "default",
        "effort": {"level": "high"},
        "hook_event_name": event,
        "scratchpad_dir": "/tmp/claude-scratch/abc",
        "future_field": {"nested": [1, 2, {"deep": true}]},
    });
    let (Value::Object(b), Value::Object(e)) = (&mut base, extra) else { panic!("objects") };
    b.extend(e);
    serde_json::to_vec(&base).expect("json")
}

/// Runs one hook call and returns the events the receiver got from it.
fn call(env: &Env, rx: &Receiver, stdin: &[u8]) -> Vec<Value> {
    let before = rx.received().len();
    let out = env.hook(stdin);
    assert_silent_success(&out);
    rx.received()[before..].to_vec()
}

fn kind_and_name(e: &Value) -> (String, String) {
    let kind = e["type"].as_str().expect("type").to_owned();
    let name = match kind.as_str() {
        "coordination" => e["payload"]["phase"].as_str(),
        _ => e["payload"]["operation"].as_str(),
    };
    (kind, name.expect("operation or phase").to_owned())
}

/// The server's own parser and rules accept the event.
fn assert_valid(e: &Value) {
    let parsed = event_from_value(e.clone()).unwrap_or_else(|err| panic!("{err:?} in {e}"));
    validate(&parsed, &Limits::default(), Timestamp::now()).unwrap_or_else(|err| panic!("{err:?} in {e}"));
    assert_eq!(e["source"], "claude-cli");
    assert!(e["id"].as_str().is_some_and(|id| id.len() == 36), "uuid id: {e}");
}

fn expect(env: &Env, rx: &Receiver, stdin: &[u8], want: &[(&str, &str)]) -> Vec<Value> {
    let events = call(env, rx, stdin);
    let got: Vec<(String, String)> = events.iter().map(kind_and_name).collect();
    let want: Vec<(String, String)> = want.iter().map(|(k, n)| ((*k).to_owned(), (*n).to_owned())).collect();
    assert_eq!(got, want, "events for {}", String::from_utf8_lossy(stdin));
    for e in &events {
        assert_valid(e);
    }
    events
}

#[test]
fn every_hook_event_maps_as_documented() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    let perf = "performance";

    let e = expect(
        &env,
        &rx,
        &payload(
            "SessionStart",
            json!({"source": "startup", "model": "claude-opus-4-5", "session_title": "t"}),
        ),
        &[(perf, "session:start")],
    );
    assert_eq!(e[0]["sessionId"], SESSION);
    assert_eq!(e[0]["projectId"], "my-proj");
    assert_eq!(e[0]["agentType"], "manager");
    assert_eq!(e[0]["tags"]["cwd"], "my-proj");
    assert_eq!(e[0]["tags"]["session_source"], "startup");
    assert_eq!(e[0]["tags"]["model"], "claude-opus-4-5");
    assert_eq!(e[0]["tags"]["prompt_id"], PROMPT_ID);
    assert_eq!(e[0]["tags"]["permission_mode"], "default");
    assert_eq!(e[0]["tags"]["hook_event_name"], "SessionStart");
    assert_eq!(e[0]["tags"]["effort"], "high");

    let e = expect(
        &env,
        &rx,
        &payload("UserPromptSubmit", json!({"prompt": "SECRET-PROMPT fix the failing test\nin src/lib.rs"})),
        &[(perf, "prompt:submit")],
    );
    assert_eq!(e[0]["payload"]["promptLength"], 48);
    assert_eq!(e[0]["payload"]["promptLines"], 2);
    assert_eq!(e[0]["payload"]["promptNumber"], 1);
    assert!(e[0]["payload"].get("prompt").is_none());

    let e = expect(
        &env,
        &rx,
        &payload(
            "UserPromptExpansion",
            json!({"expansion_type": "slash_command", "command_name": "review", "command_args": "", "command_source": "user", "prompt": "SECRET-PROMPT expanded"}),
        ),
        &[(perf, "prompt:expand")],
    );
    assert_eq!(e[0]["tags"]["command_name"], "review");

    // PreToolUse only remembers the start; its PostToolUse carries the duration.
    expect(
        &env,
        &rx,
        &payload(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo test", "description": "Run tests", "timeout": 120000}, "tool_use_id": "toolu_01"}),
        ),
        &[],
    );
    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_response": {"stdout": "ok", "stderr": "", "interrupted": false}, "tool_use_id": "toolu_01"}),
        ),
        &[(perf, "tool:Bash")],
    );
    assert_eq!(e[0]["payload"]["success"], true);
    assert!(e[0]["payload"].get("durationKnown").is_none(), "paired with PreToolUse");
    assert_eq!(e[0]["tags"]["tool_use_id"], "toolu_01");
    assert_eq!(e[0]["tags"]["tool_name"], "Bash");

    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolUse",
            json!({"tool_name": "Read", "tool_input": {"file_path": "/home/dev/work/my-proj/src/lib.rs"}, "tool_response": {"type": "text", "file": {"content": "x".repeat(200_000)}}, "tool_use_id": "toolu_02", "duration_ms": 42}),
        ),
        &[(perf, "tool:Read")],
    );
    assert_eq!(e[0]["payload"]["duration"], 42.0);

    expect(
        &env,
        &rx,
        &payload(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo build"}, "tool_use_id": "toolu_03"}),
        ),
        &[],
    );
    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolUseFailure",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo build"}, "tool_use_id": "toolu_03", "error": format!("Exit code 101\nerror[E0308]: mismatched types\n{}", "  --> src/lib.rs\n".repeat(5000)), "is_interrupt": false, "duration_ms": "1500"}),
        ),
        &[("error", "tool:Bash"), (perf, "tool:Bash")],
    );
    assert_eq!(e[0]["payload"]["code"], "exit:101");
    assert_eq!(e[0]["payload"]["message"], "Exit code 101: error[E0308]: mismatched types");
    assert_eq!(e[0]["payload"]["duration"], 1500.0);
    assert_eq!(e[1]["payload"]["success"], false);
    assert_eq!(e[1]["payload"]["duration"], 1500.0);

    // Interrupted, no duration and no PreToolUse: the error alone.
    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolUseFailure",
            json!({"tool_name": "Edit", "tool_input": {}, "tool_use_id": "toolu_04", "error": "Interrupted by user", "is_interrupt": true}),
        ),
        &[("error", "tool:Edit")],
    );
    assert_eq!(e[0]["payload"]["code"], "interrupted");

    expect(
        &env,
        &rx,
        &payload(
            "PermissionRequest",
            json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}, "permission_suggestions": []}),
        ),
        &[(perf, "permission:request")],
    );
    let e = expect(
        &env,
        &rx,
        &payload(
            "PermissionDenied",
            json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "tool_use_id": "toolu_05", "reason": "Auto mode classifier: destructive command\nmore detail"}),
        ),
        &[("error", "tool:Bash")],
    );
    assert_eq!(e[0]["payload"]["code"], "permission_denied");
    assert_eq!(e[0]["payload"]["message"], "Auto mode classifier: destructive command");

    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolBatch",
            json!({"tool_calls": [{"tool_name": "Read", "tool_input": {}, "tool_use_id": "a", "tool_response": "…"}, {"tool_name": "Grep", "tool_input": {}, "tool_use_id": "b", "tool_response": "…"}]}),
        ),
        &[(perf, "tool:batch")],
    );
    assert_eq!(e[0]["payload"]["toolCount"], 2);

    let e = expect(
        &env,
        &rx,
        &payload(
            "Notification",
            json!({"message": "NOTIFY-TEXT Claude needs your permission to use Bash", "title": "Claude Code", "notification_type": "permission_prompt"}),
        ),
        &[(perf, "notification:permission_prompt")],
    );
    assert_eq!(e[0]["tags"]["notification_type"], "permission_prompt");

    let e = expect(
        &env,
        &rx,
        &payload("SubagentStart", json!({"agent_id": "agent-7", "agent_type": "Explore"})),
        &[("coordination", "start")],
    );
    assert_eq!(e[0]["payload"]["managerId"], SESSION);
    assert_eq!(e[0]["payload"]["workerId"], "agent-7");
    assert_eq!(e[0]["agentType"], "worker");
    assert_eq!(e[0]["tags"]["agent_type"], "Explore");

    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolUse",
            json!({"agent_id": "agent-7", "agent_type": "Explore", "tool_name": "Grep", "tool_input": {"pattern": "fn main"}, "tool_response": {}, "tool_use_id": "toolu_06", "duration_ms": 7}),
        ),
        &[(perf, "tool:Grep")],
    );
    assert_eq!(e[0]["agentType"], "worker");
    assert_eq!(e[0]["tags"]["agent_id"], "agent-7");

    let e = expect(
        &env,
        &rx,
        &payload(
            "SubagentStop",
            json!({"agent_id": "agent-7", "agent_type": "Explore", "stop_hook_active": false, "agent_transcript_path": "/x.jsonl", "last_assistant_message": "found it", "background_tasks": [], "session_crons": []}),
        ),
        &[("coordination", "stop")],
    );
    assert!(e[0]["payload"]["latencyMs"].as_f64().is_some_and(|l| l >= 0.0), "paired with SubagentStart");

    // The Agent tool's foreground run telemetry.
    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolUse",
            json!({"tool_name": "Agent", "tool_input": {"subagent_type": "general-purpose", "description": "d", "prompt": "p"}, "tool_response": {"status": "completed", "agentId": "agent-8", "resolvedModel": "claude-sonnet-4-5", "totalTokens": 5120, "totalDurationMs": 9000, "totalToolUseCount": 6}, "tool_use_id": "toolu_07", "duration_ms": 9100}),
        ),
        &[(perf, "tool:Agent")],
    );
    assert_eq!(e[0]["payload"]["totalTokens"], 5120.0);
    assert_eq!(e[0]["payload"]["totalToolUseCount"], 6.0);
    assert_eq!(e[0]["tags"]["subagent_type"], "general-purpose");

    let e = expect(
        &env,
        &rx,
        &payload(
            "TaskCreated",
            json!({"task_id": "task-1", "task_subject": "TASK-SUBJECT write tests", "task_description": "d", "teammate_name": "researcher", "team_name": "session-a1b2"}),
        ),
        &[("coordination", "assign")],
    );
    assert_eq!(e[0]["payload"]["taskId"], "task-1");
    assert_eq!(e[0]["payload"]["workerId"], "researcher");
    let e = expect(
        &env,
        &rx,
        &payload(
            "TaskCompleted",
            json!({"task_id": "task-1", "task_subject": "TASK-SUBJECT write tests", "teammate_name": "researcher"}),
        ),
        &[("coordination", "complete")],
    );
    assert!(e[0]["payload"]["latencyMs"].as_f64().is_some(), "paired with TaskCreated");
    expect(
        &env,
        &rx,
        &payload("TeammateIdle", json!({"teammate_name": "researcher", "team_name": "session-a1b2"})),
        &[("coordination", "idle")],
    );

    expect(
        &env,
        &rx,
        &payload("PreCompact", json!({"trigger": "auto", "custom_instructions": ""})),
        &[(perf, "compact:auto:start")],
    );
    let e = expect(
        &env,
        &rx,
        &payload("PostCompact", json!({"trigger": "auto", "compact_summary": "Summary of the conversation"})),
        &[(perf, "compact:auto")],
    );
    assert!(e[0]["payload"].get("durationKnown").is_none(), "paired with PreCompact");
    assert_eq!(e[0]["payload"]["summaryLength"], 27);

    let e = expect(
        &env,
        &rx,
        &payload(
            "Stop",
            json!({"stop_hook_active": false, "last_assistant_message": "Done.", "background_tasks": [{"id": "t", "type": "shell", "status": "running"}], "session_crons": []}),
        ),
        &[(perf, "turn")],
    );
    assert!(e[0]["payload"].get("durationKnown").is_none(), "paired with UserPromptSubmit");
    assert_eq!(e[0]["payload"]["backgroundTasks"], 1);
    assert_eq!(e[0]["tags"]["stop_hook_active"], "false");

    let e = expect(
        &env,
        &rx,
        &payload(
            "StopFailure",
            json!({"error": "rate_limit", "error_details": "429 Too Many Requests", "last_assistant_message": "API Error: Rate limit reached"}),
        ),
        &[("error", "turn"), (perf, "turn")],
    );
    assert_eq!(e[0]["payload"]["code"], "rate_limit");
    assert_eq!(e[0]["payload"]["message"], "429 Too Many Requests");
    assert_eq!(e[1]["payload"]["success"], false);

    for (event, extra, op) in [
        ("Setup", json!({"trigger": "init"}), "setup:init"),
        (
            "InstructionsLoaded",
            json!({"file_path": "/home/dev/work/my-proj/CLAUDE.md", "memory_type": "Project", "load_reason": "session_start"}),
            "instructions:load",
        ),
        (
            "ConfigChange",
            json!({"source": "project_settings", "file_path": "/x/.claude/settings.json"}),
            "config:change",
        ),
        ("CwdChanged", json!({"old_cwd": "/a", "new_cwd": "/b"}), "cwd:change"),
        (
            "DirectoryAdded",
            json!({"directory": "/home/dev/other", "source": "slash_command"}),
            "directory:add",
        ),
        (
            "FileChanged",
            json!({"file_path": "/home/dev/work/my-proj/.envrc", "event": "change"}),
            "file:change",
        ),
        ("WorktreeCreate", json!({"name": "feature-auth"}), "worktree:create"),
        ("WorktreeRemove", json!({"worktree_path": "/x/.claude/worktrees/feature-auth"}), "worktree:remove"),
        (
            "Elicitation",
            json!({"mcp_server_name": "github", "message": "Please authenticate", "mode": "url", "url": "https://auth.example.com"}),
            "elicitation:request",
        ),
        (
            "ElicitationResult",
            json!({"mcp_server_name": "github", "action": "accept", "mode": "form", "content": {"user": "x"}}),
            "elicitation:result",
        ),
        ("PostModelSwitch", json!({"from_model": "a", "to_model": "b"}), "hook:PostModelSwitch"),
    ] {
        expect(&env, &rx, &payload(event, extra), &[(perf, op)]);
    }
    expect(
        &env,
        &rx,
        &payload(
            "MessageDisplay",
            json!({"turn_id": "t", "message_id": "m", "index": 0, "final": false, "delta": "Hel"}),
        ),
        &[],
    );
    expect(
        &env,
        &rx,
        &payload(
            "MessageDisplay",
            json!({"turn_id": "t", "message_id": "m", "index": 1, "final": true, "delta": "lo"}),
        ),
        &[(perf, "message:display")],
    );

    let e = expect(
        &env,
        &rx,
        &payload("SessionEnd", json!({"reason": "prompt_input_exit"})),
        &[(perf, "session:end")],
    );
    assert_eq!(e[0]["payload"]["promptCount"], 1);
    assert_eq!(e[0]["tags"]["reason"], "prompt_input_exit");
    assert!(e[0]["payload"]["duration"].as_f64().is_some());

    // What never leaves the machine without MONITOR_HOOK_CAPTURE_PROMPTS.
    let all: String = rx.requests().iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
    for secret in ["SECRET-PROMPT", "NOTIFY-TEXT", "TASK-SUBJECT", "/home/dev", "xxxxxxxx"] {
        assert!(!all.contains(secret), "{secret} was sent");
    }
    let received = rx.received();
    let unique: HashSet<&str> = received.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(received.len(), unique.len(), "every event has its own id");
}

#[test]
fn old_clients_and_odd_inputs_still_map() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    // July 2025 shape: no cwd, no tool_use_id, no prompt_id, no permission_mode.
    let old = br#"{"session_id":"old-1","transcript_path":"/t.jsonl","hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_response":{"stdout":""}}"#;
    let e = expect(&env, &rx, old, &[("performance", "tool:Bash")]);
    assert_eq!(e[0]["payload"]["durationKnown"], false);
    // No cwd in the input: the hook's own working directory names the project.
    let dir_name = env.dir.path().file_name().and_then(|n| n.to_str()).expect("name").to_owned();
    assert_eq!(e[0]["projectId"], dir_name.as_str());

    // No hook_event_name at all, wrong types everywhere.
    let e = expect(
        &env,
        &rx,
        br#"{"session_id":42,"cwd":["x"],"duration_ms":"soon"}"#,
        &[("performance", "hook:unknown")],
    );
    assert_eq!(e[0]["sessionId"], "42");

    // MONITOR_PROJECT wins over cwd; prompts are captured when asked.
    let mut env2 = Env::new(&rx.url());
    env2.set("MONITOR_PROJECT", "billing");
    env2.set("MONITOR_HOOK_CAPTURE_PROMPTS", "1");
    let e = expect(
        &env2,
        &rx,
        &payload("UserPromptSubmit", json!({"prompt": "CAPTURED prompt"})),
        &[("performance", "prompt:submit")],
    );
    assert_eq!(e[0]["projectId"], "billing");
    assert_eq!(e[0]["tags"]["cwd"], "my-proj");
    assert_eq!(e[0]["payload"]["prompt"], "CAPTURED prompt");
}

#[test]
fn pre_tool_use_start_gives_post_tool_use_its_duration() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    expect(
        &env,
        &rx,
        &payload(
            "PreToolUse",
            json!({"tool_name": "WebFetch", "tool_input": {}, "tool_use_id": "toolu_pair"}),
        ),
        &[],
    );
    // Move the remembered start 5 s into the past instead of sleeping.
    let state_path = env.state_dir().join("state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("json");
    let start = state["tools"]["toolu_pair"].as_i64().expect("start remembered");
    state["tools"]["toolu_pair"] = json!(start - 5_000);
    std::fs::write(&state_path, serde_json::to_vec(&state).expect("json")).expect("write");

    let e = expect(
        &env,
        &rx,
        &payload(
            "PostToolUse",
            json!({"tool_name": "WebFetch", "tool_input": {}, "tool_response": {}, "tool_use_id": "toolu_pair"}),
        ),
        &[("performance", "tool:WebFetch")],
    );
    assert!(e[0]["payload"]["duration"].as_f64().expect("duration") >= 5_000.0);
    let state: Value = serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("json");
    assert!(state["tools"].get("toolu_pair").is_none(), "pairing entry is dropped");

    // A second PostToolUse for the same id has nothing to pair with.
    let e = expect(
        &env,
        &rx,
        &payload("PostToolUse", json!({"tool_name": "WebFetch", "tool_use_id": "toolu_pair"})),
        &[("performance", "tool:WebFetch")],
    );
    assert_eq!(e[0]["payload"]["durationKnown"], false);
}

#[test]
fn server_down_then_up_ships_everything_in_order_exactly_once() {
    let addr = dead_addr();
    let env = Env::new(&format!("http://{addr}"));
    let n = 12;
    for i in 0..n {
        let out = env.hook(&payload(
            "PostToolUse",
            json!({"tool_name": "Bash", "tool_use_id": format!("toolu_{i:02}"), "duration_ms": i}),
        ));
        assert_silent_success(&out);
        assert_eq!(env.pending().len(), i + 1, "the spool grows while the server is down");
    }
    let spooled: Vec<String> =
        env.pending().iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();

    let rx = Receiver::start_on(addr, None);
    let out = env.hook(&payload("Stop", json!({"stop_hook_active": false})));
    assert_silent_success(&out);
    let got: Vec<String> = rx.received().iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(got.len(), n + 1, "the backlog and the new event, each once");
    assert_eq!(&got[..n], &spooled[..], "in spool order");
    let durations: Vec<f64> =
        rx.received()[..n].iter().map(|e| e["payload"]["duration"].as_f64().expect("d")).collect();
    assert_eq!(durations, (0..n).map(|i| i as f64).collect::<Vec<_>>());
    assert!(env.pending().is_empty());
    assert_eq!(
        std::fs::metadata(env.state_dir().join("spool.ndjson")).expect("spool").len(),
        0,
        "truncated once shipped"
    );

    // The next call ships only its own event.
    let out = env.hook(&payload("Stop", json!({})));
    assert_silent_success(&out);
    assert_eq!(rx.received().len(), n + 2);
    let unique: HashSet<String> =
        rx.received().iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(unique.len(), n + 2);
}

#[test]
fn a_lost_answer_is_resent_and_stored_once() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    rx.set_mode(Mode::StoreThenHangUp);
    assert_silent_success(&env.hook(&payload("SessionStart", json!({"source": "startup"}))));
    assert_eq!(env.pending().len(), 1, "no 2xx seen: the event stays spooled");
    rx.set_mode(Mode::Accept);
    assert_silent_success(&env.hook(&payload("UserPromptSubmit", json!({"prompt": "hi"}))));
    assert!(env.pending().is_empty());
    let received = rx.received();
    assert_eq!(received.len(), 3, "the unanswered event was sent again");
    assert_eq!(received[0]["id"], received[1]["id"]);
    let stored: Vec<String> = rx.stored().iter().map(|e| kind_and_name(e).1).collect();
    assert_eq!(stored, ["session:start", "prompt:submit"], "an idempotent server stores each once");
}

#[test]
fn overload_answers_keep_the_spool_and_back_off() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    rx.set_mode(Mode::Status(503));
    assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    assert_eq!(env.pending().len(), 1);
    let ship: Value =
        serde_json::from_slice(&std::fs::read(env.state_dir().join("ship.json")).expect("ship"))
            .expect("json");
    assert!(ship["backoffUntilMs"].as_i64().expect("backoff") > 0, "Retry-After is honoured");
    let requests = rx.requests().len();
    assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    assert_eq!(rx.requests().len(), requests, "no request during the backoff");
    assert_eq!(env.pending().len(), 2);
    // `flush` ignores the backoff and waits for the server.
    rx.set_mode(Mode::Accept);
    let out = env.command(&["flush"]).output().expect("flush");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("shipped 2 events"));
    assert!(env.pending().is_empty());
}

#[test]
fn concurrent_hooks_neither_corrupt_nor_double_ship() {
    let rx = Receiver::start();
    let addr = rx.addr;
    let env = Env::new(&rx.url());
    let run_many = |env: &Env, from: usize, to: usize| {
        std::thread::scope(|s| {
            for i in from..to {
                s.spawn(move || {
                    let out = env.hook(&payload(
                        "PostToolUse",
                        json!({"tool_name": "Read", "tool_use_id": format!("toolu_c{i}"), "duration_ms": i}),
                    ));
                    assert_silent_success(&out);
                });
            }
        });
    };
    // Server down: 16 parallel hooks spool.
    let rx_addr = rx.stop();
    assert_eq!(rx_addr, addr);
    run_many(&env, 0, 16);
    let pending = env.pending();
    assert_eq!(pending.len(), 16, "every parallel event is a whole line");
    // Server up: 16 more in parallel ship the backlog and themselves.
    let rx = Receiver::start_on(addr, None);
    run_many(&env, 16, 32);
    let out = env.command(&["flush"]).output().expect("flush");
    assert_eq!(out.status.code(), Some(0));
    let received = rx.received();
    let ids: Vec<String> = received.iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 32, "each event sent exactly once");
    assert_eq!(unique.len(), 32);
    let pending_ids: Vec<&str> = pending.iter().map(|e| e["id"].as_str().expect("id")).collect();
    let first: Vec<&str> = ids.iter().take(16).map(String::as_str).collect();
    assert_eq!(first, pending_ids, "the backlog goes first, in spool order");
    assert!(env.pending().is_empty());
}

#[test]
fn garbage_and_failures_never_break_the_contract() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    for stdin in
        [&b""[..], b"   \n", b"not json at all", b"[1,2,3]", b"{\"truncated\":", &[0xff, 0xfe, 0x00][..]]
    {
        assert_silent_success(&env.hook(stdin));
    }
    let bad = rx.received();
    assert_eq!(bad.len(), 4, "empty input is nothing; garbage is reported once per call");
    assert!(bad.iter().all(|e| e["payload"]["code"] == "bad_input"));

    // An unwritable spool: the events go out directly.
    let mut env2 = Env::new(&rx.url());
    let file = env2.dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("file");
    env2.set("MONITOR_HOOK_STATE_DIR", &file.join("sub").display().to_string());
    let before = rx.received().len();
    assert_silent_success(&env2.hook(&payload("Stop", json!({}))));
    assert_eq!(rx.received().len(), before + 1);

    // ... and with the server down too, still exit 0 and silence.
    env2.set("MONITOR_URL", &format!("http://{}", dead_addr()));
    assert_silent_success(&env2.hook(&payload("Stop", json!({}))));
    // An https or nonsense URL keeps events in the spool.
    let mut env3 = Env::new("https://monitor.example.com");
    env3.set("MONITOR_HOOK_DEBUG", "1");
    let out = env3.hook(&payload("Stop", json!({})));
    assert_silent_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("https is not supported"), "debug line on stderr");
    assert_eq!(env3.pending().len(), 1);
    // Unknown arguments from a hook entry still behave as the hook.
    let out = support::run_with_stdin(env.command(&["--some-future-flag"]), &payload("Stop", json!({})));
    assert_silent_success(&out);
}

#[test]
fn the_api_key_is_sent_and_a_refusal_keeps_the_spool() {
    let rx = Receiver::start_with_key("sk-test-key");
    let mut env = Env::new(&rx.url());
    assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    assert!(rx.stored().is_empty());
    assert_eq!(env.pending().len(), 1, "401 keeps the events");
    env.set("MONITOR_API_KEY", "sk-test-key");
    let out = env.command(&["flush"]).output().expect("flush");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rx.stored().len(), 1);
    let last = rx.requests().last().cloned().expect("request");
    assert_eq!(last.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(last.header("content-type"), Some("application/x-ndjson"));
}

#[test]
fn a_full_spool_drops_new_events_and_reports_how_many() {
    let addr = dead_addr();
    let mut env = Env::new(&format!("http://{addr}"));
    env.set("MONITOR_HOOK_SPOOL_MAX_MB", "0");
    for _ in 0..3 {
        assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    }
    assert!(env.pending().is_empty(), "over the cap nothing is written");
    env.set("MONITOR_HOOK_SPOOL_MAX_MB", "50");
    let rx = Receiver::start_on(addr, None);
    assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    let got = rx.received();
    assert_eq!(got.len(), 2, "a notice, then the new event");
    assert_eq!(got[0]["payload"]["code"], "spool_full");
    assert_eq!(got[0]["payload"]["dropped"], 3);
    assert_valid(&got[0]);
}

#[test]
fn the_hook_returns_while_the_client_keeps_stdin_open() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    let mut cmd = env.command(&[]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, &payload("Stop", json!({}))).expect("write");
    // stdin stays open: the hook must stop at the end of the object, not wait for EOF.
    let guard = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(std::time::Instant::now() < guard, "the hook waited for EOF");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    drop(stdin);
    assert_eq!(status.code(), Some(0));
    assert_eq!(rx.stored().len(), 1);
}

#[test]
fn a_torn_line_left_by_a_killed_writer_costs_only_itself() {
    let addr = dead_addr();
    let env = Env::new(&format!("http://{addr}"));
    assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    let spool = env.state_dir().join("spool.ndjson");
    // A writer killed mid-line: half an event without its newline.
    let mut bytes = std::fs::read(&spool).expect("spool");
    bytes.extend_from_slice(br#"{"id":"torn","timestamp":"2026-"#);
    std::fs::write(&spool, &bytes).expect("write");
    assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    let text = std::fs::read_to_string(&spool).expect("spool");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "the torn fragment is closed off on its own line");
    assert!(serde_json::from_str::<Value>(lines[0]).is_ok());
    assert!(serde_json::from_str::<Value>(lines[1]).is_err());
    assert!(serde_json::from_str::<Value>(lines[2]).is_ok());
}

#[test]
fn a_long_backlog_is_shipped_in_batches_and_compacted_without_loss() {
    let addr = dead_addr();
    let env = Env::new(&format!("http://{addr}"));
    assert_silent_success(&env.hook(&payload("Stop", json!({}))));
    // Grow the spool to ~10 MB of valid events (as after a long outage).
    let spool = env.state_dir().join("spool.ndjson");
    let line = std::fs::read_to_string(&spool).expect("spool");
    let template: Value = serde_json::from_str(line.trim()).expect("event");
    let mut text = String::new();
    let mut i = 0u64;
    while text.len() < 10 * 1024 * 1024 {
        let mut e = template.clone();
        e["id"] = json!(format!("00000000-0000-7000-8000-{i:012}"));
        text.push_str(&serde_json::to_string(&e).expect("json"));
        text.push('\n');
        i += 1;
    }
    std::fs::write(&spool, &text).expect("write");
    let total = usize::try_from(i).expect("count");

    // The server takes five batches, then says it is overloaded.
    let rx = Receiver::start_on(addr, None);
    rx.set_mode(Mode::AcceptFirst(5));
    let out = env.command(&["flush"]).output().expect("flush");
    assert_eq!(out.status.code(), Some(1), "flush reports the 503");
    let shipped = rx.stored().len();
    assert!(shipped > 0 && shipped < total);
    let size = std::fs::metadata(&spool).expect("spool").len();
    assert!(size < 10 * 1024 * 1024 / 2, "the shipped prefix was dropped: {size} B left");
    assert_eq!(env.pending().len(), total - shipped);

    rx.set_mode(Mode::Accept);
    let out = env.command(&["flush"]).output().expect("flush");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The refused batch was sent again; everything acknowledged was sent once.
    let ids: Vec<String> =
        rx.acknowledged().iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    let expected: Vec<String> = (0..i).map(|n| format!("00000000-0000-7000-8000-{n:012}")).collect();
    assert_eq!(ids.len(), expected.len(), "every event once");
    let first_difference = ids.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "in order");
    assert!(env.pending().is_empty());
}
