//! `install`, `uninstall` and `doctor` on real settings files with existing content.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Env, Receiver, dead_addr};

/// A settings file as people have them: other keys, other hooks, comments-free JSON.
const EXISTING: &str = r#"{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "permissions": {
    "allow": ["Bash(cargo test:*)", "Read(~/.zshrc)"],
    "deny": ["Read(./.env)"]
  },
  "statusLine": {"type": "command", "command": "~/.claude/statusline.sh"},
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "if": "Bash(rm *)", "command": "${CLAUDE_PROJECT_DIR}/.claude/hooks/block-rm.sh", "args": []}]}
    ],
    "Stop": [
      {"hooks": [{"type": "command", "command": "say done", "timeout": 10}, {"type": "http", "url": "http://localhost:8080/stop"}]}
    ]
  },
  "model": "opus",
  "zzz_custom": {"keep": [1, 2.5, true, null]}
}
"#;

fn run(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = env.command(args).output().expect("run monitor-hook");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keys(v: &Value) -> Vec<String> {
    // serde_json sorts keys, so order is checked on the text instead.
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn positions(text: &str, needles: &[&str]) -> Vec<usize> {
    needles.iter().map(|n| text.find(n).unwrap_or_else(|| panic!("{n} missing"))).collect()
}

fn backups(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().contains(".bak-")))
        .count()
}

#[test]
fn install_merges_without_breaking_and_is_idempotent() {
    let env = Env::new("http://127.0.0.1:9");
    let settings = env.dir.path().join("settings.json");
    std::fs::write(&settings, EXISTING).expect("write");
    let path = settings.display().to_string();

    let (code, out, err) = run(&env, &["install", "--settings", &path, "--claude-version", "2.1.240"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added 28 events"), "{out}");
    assert!(out.contains("skipped WorktreeCreate"), "{out}");
    assert_eq!(backups(env.dir.path()), 1, "the original is backed up");
    let text = std::fs::read_to_string(&settings).expect("read");
    let doc: Value = serde_json::from_str(&text).expect("still JSON");

    // Every other key survives, in its place.
    assert_eq!(
        positions(
            &text,
            &["\"$schema\"", "\"permissions\"", "\"statusLine\"", "\"hooks\"", "\"model\"", "\"zzz_custom\""]
        )
        .windows(2)
        .filter(|w| w[0] < w[1])
        .count(),
        5
    );
    let original: Value = serde_json::from_str(EXISTING).expect("json");
    for key in keys(&original).iter().filter(|k| *k != "hooks") {
        assert_eq!(doc[key], original[key], "{key} unchanged");
    }
    // The user's own hooks come first and are untouched; ours are appended.
    let pre = doc["hooks"]["PreToolUse"].as_array().expect("array");
    assert_eq!(pre[0], original["hooks"]["PreToolUse"][0]);
    assert_eq!(pre[1]["matcher"], "*");
    let ours = &pre[1]["hooks"][0];
    assert_eq!(ours["type"], "command");
    assert_eq!(ours["timeout"], 5, "seconds");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_monitor-hook")).expect("exe");
    assert_eq!(ours["command"], exe.display().to_string());
    assert_eq!(doc["hooks"]["Stop"][0], original["hooks"]["Stop"][0]);
    assert!(doc["hooks"]["SessionStart"][0].get("matcher").is_none(), "no matcher outside tool events");
    for skipped in ["WorktreeCreate", "WorktreeRemove", "MessageDisplay"] {
        assert!(doc["hooks"].get(skipped).is_none(), "{skipped} left alone");
    }
    assert_eq!(doc["hooks"].as_object().expect("hooks").len(), 28);

    // Twice changes nothing: same bytes, no new backup.
    let (code, out, _) = run(&env, &["install", "--settings", &path, "--claude-version", "2.1.240"]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(std::fs::read_to_string(&settings).expect("read"), text);
    assert_eq!(backups(env.dir.path()), 1);

    // Uninstall removes exactly what install added.
    let (code, out, err) = run(&env, &["uninstall", "--settings", &path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed monitor-hook from 28 events"), "{out}");
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).expect("read")).expect("json");
    assert_eq!(after, original);
    let (_, out, _) = run(&env, &["uninstall", "--settings", &path]);
    assert!(out.contains("nothing changed"), "{out}");
}

#[test]
fn install_fits_older_claude_code_and_fixes_moved_binaries() {
    let env = Env::new("http://127.0.0.1:9");
    let settings = env.dir.path().join("fresh/.claude/settings.json");
    let path = settings.display().to_string();
    let (code, _, _) = run(&env, &["install", "--settings", &path, "--claude-version", "2.1.240"]);
    assert_eq!(code, 0);
    // Releases before 2.1.101 reject a whole file naming an event they do not know:
    // installing for one shrinks the set to the long-standing events.
    let (code, out, _) = run(&env, &["install", "--settings", &path, "--claude-version", "2.1.90"]);
    assert_eq!(code, 0);
    assert!(out.contains("only the 9 long-standing events"), "{out}");
    assert!(out.contains("removed (not known to this Claude Code)"), "{out}");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).expect("created")).expect("json");
    assert_eq!(doc["hooks"].as_object().expect("hooks").len(), 9);
    assert!(doc["hooks"].get("StopFailure").is_none());

    // A handler pointing at an old location is updated in place, not duplicated.
    let text = std::fs::read_to_string(&settings).expect("read").replace(
        &std::fs::canonicalize(env!("CARGO_BIN_EXE_monitor-hook")).expect("exe").display().to_string(),
        "/old/place/monitor-hook",
    );
    std::fs::write(&settings, text).expect("write");
    let (code, out, _) =
        run(&env, &["install", "--settings", &path, "--claude-version", "2.1.90", "--timeout", "3"]);
    assert_eq!(code, 0);
    assert!(out.contains("updated 9"), "{out}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&settings).expect("read")).expect("json");
    assert_eq!(doc["hooks"]["Stop"].as_array().expect("stop").len(), 1);
    assert_eq!(doc["hooks"]["Stop"][0]["hooks"][0]["timeout"], 3);

    // Milliseconds by mistake are refused.
    let (code, _, err) = run(&env, &["install", "--settings", &path, "--timeout", "5000"]);
    assert_eq!(code, 1);
    assert!(err.contains("seconds"), "{err}");
}

#[test]
fn install_refuses_invalid_json_and_follows_symlinks() {
    let env = Env::new("http://127.0.0.1:9");
    let broken = env.dir.path().join("broken.json");
    std::fs::write(&broken, "{\"hooks\": {").expect("write");
    let (code, _, err) = run(&env, &["install", "--settings", &broken.display().to_string(), "--all-events"]);
    assert_eq!(code, 1);
    assert!(err.contains("not valid JSON"), "{err}");
    assert_eq!(std::fs::read_to_string(&broken).expect("read"), "{\"hooks\": {");

    let target = env.dir.path().join("dotfiles-settings.json");
    std::fs::write(&target, "{\"model\": \"sonnet\"}").expect("write");
    let link = env.dir.path().join("settings.json");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let (code, _, err) = run(&env, &["install", "--settings", &link.display().to_string(), "--all-events"]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink(), "the symlink stays");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&target).expect("read")).expect("json");
    assert_eq!(doc["model"], "sonnet");
    assert!(doc["hooks"]["PostToolUse"].is_array());
}

#[test]
fn doctor_reports_a_good_setup_and_the_usual_mistakes() {
    let rx = Receiver::start();
    let env = Env::new(&rx.url());
    let settings = env.dir.path().join("settings.json");
    let path = settings.display().to_string();
    let (code, _, _) = run(&env, &["install", "--settings", &path, "--claude-version", "2.1.240"]);
    assert_eq!(code, 0);
    assert_eq!(env.hook(br#"{"session_id":"s","hook_event_name":"Stop"}"#).status.code(), Some(0));

    let (code, out, _) = run(&env, &["doctor", "--settings", &path, "--claude-version", "2.1.240"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is executable"), "{out}");
    assert!(out.contains("runs on all 28 events"), "{out}");
    assert!(out.contains("is up"), "{out}");
    assert!(out.contains("accepts ingest without a key"), "{out}");
    assert!(out.contains("0 events (0 B) waiting"), "{out}");
    assert!(out.contains("strips OTEL_*"), "{out}");

    // Milliseconds as timeout, a missing binary, the server down with a backlog.
    let text = std::fs::read_to_string(&settings).expect("read");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_monitor-hook")).expect("exe").display().to_string();
    let text =
        text.replacen("\"timeout\": 5", "\"timeout\": 5000", 1).replacen(&exe, "/nowhere/monitor-hook", 1);
    std::fs::write(&settings, text).expect("write");
    let mut down = Env::new(&format!("http://{}", dead_addr()));
    down.vars = env.vars.clone();
    down.set("MONITOR_URL", &format!("http://{}", dead_addr()));
    assert_eq!(down.hook(br#"{"session_id":"s","hook_event_name":"Stop"}"#).status.code(), Some(0));
    let (code, out, _) = run(&down, &["doctor", "--settings", &path, "--claude-version", "2.1.240"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("looks like milliseconds"), "{out}");
    assert!(out.contains("/nowhere/monitor-hook, which is missing"), "{out}");
    assert!(out.contains("unreachable"), "{out}");
    assert!(out.contains("1 events"), "{out}");
    assert!(out.contains("connection refused"), "{out}");

    // An older Claude Code and a wrong key.
    let keyed = Receiver::start_with_key("right");
    let mut env2 = Env::new(&keyed.url());
    env2.set("MONITOR_API_KEY", "wrong");
    let (code, out, _) = run(&env2, &["doctor", "--settings", &path, "--claude-version", "2.1.50"]);
    assert_eq!(code, 1);
    assert!(out.contains("refuses MONITOR_API_KEY"), "{out}");
    assert!(out.contains("which then skips the whole file"), "{out}");
}
