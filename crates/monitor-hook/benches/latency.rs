//! Wall time of one `monitor-hook` call as Claude Code sees it (spawn, stdin, exit),
//! over 1,000 calls each with the server up and down.
//!
//! Run with: `cargo bench -p monitor-hook --bench latency`
//! (`HOOK_BENCH_CALLS=N` changes the number of calls per scenario.)

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Env, Receiver, dead_addr, run_with_stdin};

fn payload(i: usize) -> Vec<u8> {
    // A typical PostToolUse: a Bash call with a few KB of output.
    serde_json::to_vec(&json!({
        "session_id": "9f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "prompt_id": "550e8400-e29b-41d4-a716-446655440000",
        "transcript_path": "/home/dev/.claude/projects/p/9f1c2e4a.jsonl",
        "cwd": "/home/dev/work/my-proj",
        "permission_mode": "default",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "cargo test", "description": "Run tests"},
        "tool_response": {"stdout": "test result: ok. ".repeat(200), "stderr": "", "interrupted": false},
        "tool_use_id": format!("toolu_{i:06}"),
        "duration_ms": 1234,
    }))
    .expect("json")
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    // Nearest-rank percentile: the smallest value with at least p% of calls at or below it.
    let rank = (sorted.len() * p).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn scenario(name: &str, env: &Env, calls: usize) {
    scenario_of(name, calls, || env.command(&[]));
}

fn scenario_of(name: &str, calls: usize, command: impl Fn() -> std::process::Command) {
    for i in 0..20 {
        run_with_stdin(command(), &payload(i));
    }
    let mut times = Vec::with_capacity(calls);
    let cpu_before = children_cpu_ms();
    for i in 0..calls {
        let input = payload(i);
        let start = Instant::now();
        let out = run_with_stdin(command(), &input);
        times.push(start.elapsed());
        assert_eq!(out.status.code(), Some(0));
        assert!(out.stdout.is_empty());
    }
    let cpu = children_cpu_ms().zip(cpu_before).map(|(after, before)| (after - before) / calls as f64);
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<12} calls={calls} min={:.2} ms p50={:.2} ms p95={:.2} ms p99={:.2} ms max={:.2} ms cpu/call={}",
        ms(times[0]),
        ms(percentile(&times, 50)),
        ms(percentile(&times, 95)),
        ms(percentile(&times, 99)),
        ms(times[times.len() - 1]),
        cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2} ms"))
    );
}

/// CPU time (user + system) of all waited-for children so far, from /proc (Linux).
fn children_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    // Fields 16 and 17 of stat(5), cutime and cstime, in clock ticks.
    let ticks: f64 = fields.get(13)?.parse::<f64>().ok()? + fields.get(14)?.parse::<f64>().ok()?;
    let hz = std::process::Command::new("getconf").arg("CLK_TCK").output().ok()?;
    let hz: f64 = String::from_utf8_lossy(&hz.stdout).trim().parse().ok()?;
    Some(ticks * 1000.0 / hz)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not need.
    let calls = std::env::var("HOOK_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    println!("payload {} B, binary {}", payload(0).len(), env!("CARGO_BIN_EXE_monitor-hook"));

    // The floor on this machine right now: spawning a process that reads stdin and exits.
    scenario_of("baseline", calls, || {
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", "exec cat >/dev/null"]);
        cmd
    });

    let rx = Receiver::start();
    let up = Env::new(&rx.url());
    scenario("server up", &up, calls);
    assert!(up.pending().is_empty(), "everything shipped");
    assert_eq!(rx.stored().len(), calls + 20);

    let down = Env::new(&format!("http://{}", dead_addr()));
    scenario("server down", &down, calls);
    assert_eq!(down.pending().len(), calls + 20, "everything spooled");

    // The first call after an outage ships the whole backlog.
    let rx2 = Receiver::start();
    let mut back = down;
    back.set("MONITOR_URL", &rx2.url());
    let start = Instant::now();
    let out = run_with_stdin(back.command(&[]), &payload(0));
    println!(
        "catch-up     one call shipping {} spooled events: {:.2} ms",
        calls + 21,
        start.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(rx2.stored().len(), calls + 21);
}
