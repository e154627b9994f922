//! The hook path: stdin → events → spool → server. Never fails, never prints to stdout.

use std::io::Read;
use std::time::Duration;

use crate::clock;
use crate::config::Config;
use crate::event::Event;
use crate::http::{self, Target};
use crate::input::HookInput;
use crate::mapping::{Context, map_hook};
use crate::spool::{LockMode, Spool};
use crate::state::State;

/// Largest hook input read (a `tool_response` can be big; beyond this the input is cut
/// and reported as unparsable rather than buffered without bound).
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;
/// Longest a hook call spends shipping a backlog (each request also has its timeout).
pub const SHIP_BUDGET: Duration = Duration::from_millis(1500);

/// What one hook call did (for the `MONITOR_HOOK_DEBUG` line and tests).
#[derive(Clone, Debug, Default)]
pub struct HookSummary {
    /// The hook event name, if the input had one.
    pub hook: Option<String>,
    /// Events derived from the input.
    pub events: usize,
    /// Whether they went to the spool (else they were sent directly, best effort).
    pub spooled: bool,
    /// Events the server acknowledged during this call (backlog included).
    pub shipped: usize,
    /// Events still waiting in the spool, in bytes.
    pub pending_bytes: u64,
    /// Problems met along the way.
    pub problems: Vec<String>,
}

impl std::fmt::Display for HookSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "monitor-hook: {} → {} events, {}, shipped {}, pending {} B",
            self.hook.as_deref().unwrap_or("?"),
            self.events,
            if self.spooled { "spooled" } else { "not spooled" },
            self.shipped,
            self.pending_bytes
        )?;
        for p in &self.problems {
            write!(f, "; {p}")?;
        }
        Ok(())
    }
}

/// Runs one hook call on `stdin` with `config`.
pub fn run_hook(stdin: impl Read, config: &Config) -> HookSummary {
    let mut summary = HookSummary::default();
    let bytes = match read_one_object(stdin, MAX_INPUT) {
        Ok(bytes) => bytes,
        Err((bytes, e)) => {
            summary.problems.push(format!("reading stdin: {e}"));
            bytes
        }
    };

    let now = clock::now_ms();
    let ctx = Context {
        now_ms: now,
        config,
        fallback_cwd: std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
    };
    let input = HookInput::parse(&bytes);
    let derive = |state: &mut State| -> Vec<Event> {
        match &input {
            Ok(input) => map_hook(input, &ctx, state),
            Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => Vec::new(),
            Err(e) => {
                let mut event = Event::error(
                    now,
                    "hook:input",
                    &format!("hook input is not a JSON object: {e}"),
                    Some("bad_input"),
                );
                event.project_id.clone_from(&config.project);
                vec![event]
            }
        }
    };
    if let Ok(input) = &input {
        summary.hook = input.str("hook_event_name");
    }

    let target = Target::parse(&config.url);
    let spool = match &config.state_dir {
        Some(dir) => {
            Spool::open(dir, config.spool_max_bytes).map_err(|e| format!("spool dir {}: {e}", dir.display()))
        }
        None => Err("no spool dir: neither HOME nor XDG_STATE_HOME is set".to_owned()),
    };
    let spool = match spool {
        Ok(spool) => {
            let mut derived = 0;
            match spool.record(now, |state| {
                let events = derive(state);
                derived = events.len();
                events
            }) {
                Ok(report) => {
                    summary.events = derived;
                    summary.spooled = report.written > 0 || derived == 0;
                    if report.dropped > 0 {
                        summary.problems.push(format!("spool full: {} events dropped", report.dropped));
                    }
                    Some(spool)
                }
                Err(e) => {
                    summary.problems.push(format!("spool: {e}"));
                    None
                }
            }
        }
        Err(e) => {
            summary.problems.push(e);
            None
        }
    };

    match spool {
        Some(spool) => {
            match spool.ship(&target, config.api_key.as_deref(), config.timeout, SHIP_BUDGET, LockMode::Try) {
                Ok(report) => {
                    summary.shipped = report.sent;
                    summary.pending_bytes = report.pending_bytes;
                    summary.problems.extend(report.skipped);
                    summary.problems.extend(report.error);
                }
                Err(e) => summary.problems.push(format!("ship: {e}")),
            }
        }
        None => {
            // No spool: send these events directly, once, without pairing state.
            let events = derive(&mut State::default());
            summary.events = events.len();
            if !events.is_empty() {
                summary.problems.push(send_direct(&events, &target, config));
            }
        }
    }
    summary
}

/// Reads stdin up to the end of the first JSON object, or to EOF when the input does
/// not start with `{`, or up to `max` bytes. Stopping at the object's closing brace
/// means a client that keeps the pipe open cannot make the hook wait for EOF.
pub fn read_one_object(mut reader: impl Read, max: u64) -> Result<Vec<u8>, (Vec<u8>, std::io::Error)> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut scan = ObjectScan::default();
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((bytes, e)),
        };
        let start = bytes.len();
        bytes.extend_from_slice(&chunk[..n]);
        if scan.feed(&bytes[start..]) || bytes.len() >= max {
            return Ok(bytes);
        }
    }
}

/// Finds where the first top-level JSON object ends, fed in pieces.
#[derive(Default)]
struct ObjectScan {
    started: bool,
    not_object: bool,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ObjectScan {
    /// Feeds more bytes; true once the first object is complete.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if self.not_object {
                return false;
            }
            if !self.started {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' => {
                        self.started = true;
                        self.depth = 1;
                        continue;
                    }
                    _ => {
                        self.not_object = true;
                        return false;
                    }
                }
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return true;
                    }
                }
                _ => {}
            }
        }
        false
    }
}

fn send_direct(events: &[Event], target: &Result<Target, String>, config: &Config) -> String {
    let target = match target {
        Ok(t) => t,
        Err(e) => return format!("not sent: {e}"),
    };
    let body: String = events.iter().map(Event::to_line).collect();
    let auth = config.api_key.as_ref().map(|k| format!("Bearer {k}"));
    let mut headers = vec![("Content-Type", "application/x-ndjson")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    match http::request(target, "POST", "/api/events/batch", &headers, body.as_bytes(), config.timeout) {
        Ok(resp) if (200..300).contains(&resp.status) => format!("sent directly ({} events)", events.len()),
        Ok(resp) => format!("direct send failed: HTTP {}", resp.status),
        Err(e) => format!("direct send failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its data in small pieces and then blocks forever,
    /// like a pipe the writer keeps open (simulated by an error the test would see).
    struct OpenPipe {
        data: Vec<u8>,
        at: usize,
    }

    impl Read for OpenPipe {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at >= self.data.len() {
                return Err(std::io::Error::other("read past the object: would block"));
            }
            let n = buf.len().min(3).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn stops_at_the_end_of_the_first_object() {
        let text = br#"  {"a":"x}{\"y","b":[1,{"c":"]"}],"d":{}}"#;
        let pipe = OpenPipe { data: text.to_vec(), at: 0 };
        let bytes = read_one_object(pipe, 1 << 20).expect("stops without reading past the object");
        assert_eq!(bytes, text);
        assert!(HookInput::parse(&bytes).is_ok());
    }

    #[test]
    fn reads_non_objects_to_the_end_and_caps_size() {
        assert_eq!(read_one_object(&b"[1,2] tail"[..], 1 << 20).expect("eof"), b"[1,2] tail");
        assert_eq!(read_one_object(&b"{\"a\":"[..], 1 << 20).expect("eof"), b"{\"a\":");
        let big = vec![b'{'; 200_000];
        assert!(read_one_object(&big[..], 100_000).expect("capped").len() < 200_000);
    }
}
