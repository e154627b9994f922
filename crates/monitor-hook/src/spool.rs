//! The local spool: an append-only NDJSON file of events not yet acknowledged by the
//! server, plus the pairing state and the shipping cursor.
//!
//! Files in the state directory:
//! - `spool.ndjson`: one event per line, in hook order. Appended under `append.lock`.
//! - `ship.json`: `offset` (bytes of the spool already acknowledged) and backoff
//!   bookkeeping. Written only by the shipper, under `ship.lock`.
//! - `state.json`: pairing state (see [`crate::state`]), under `append.lock`.
//!
//! Why nothing is lost: an event is in the spool before the hook tries the network;
//! `offset` moves past a line only after a 2xx; small files are replaced by
//! write-then-rename, never rewritten in place. A crash between a 2xx and the `offset`
//! update resends those lines, and the server stores an id once, so a resend is
//! harmless. When the spool is fully shipped it is truncated: `offset` is reset to 0
//! *first*, so a crash in between again only resends.
//!
//! Why nothing is shipped twice by concurrent hooks: one shipper at a time holds
//! `ship.lock` (others skip shipping instead of waiting); appenders hold `append.lock`
//! only for the write itself and open the spool after taking it, so truncation and
//! compaction (done under both locks) never race a write.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::event::Event;
use crate::http::{self, HttpError, Target};
use crate::state::State;

/// Spool file name.
pub const SPOOL_FILE: &str = "spool.ndjson";
/// Shipping cursor file name.
pub const SHIP_FILE: &str = "ship.json";
/// Pairing state file name.
pub const STATE_FILE: &str = "state.json";
/// Most bytes sent in one request (the server's default limit is 16 MiB).
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Most events sent in one request.
pub const BATCH_LINES: usize = 5_000;
/// Most bytes of the first request after a failure.
const PROBE_BYTES: usize = 64 * 1024;
/// Most events of the first request after a failure.
const PROBE_LINES: usize = 200;
/// A shipped prefix larger than this (and than the unshipped rest) is compacted away.
const COMPACT_MIN: u64 = 8 * 1024 * 1024;
/// Longest backoff after repeated failures (seconds).
const MAX_BACKOFF_S: i64 = 60;

/// The shipper's persistent bookkeeping (`ship.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ShipState {
    /// Bytes at the start of the spool already acknowledged by the server.
    pub offset: u64,
    /// No shipping attempt before this time (ms), after a timeout or an overload answer.
    pub backoff_until_ms: i64,
    /// Failed attempts in a row.
    pub failures: u32,
    /// The last failure, for `doctor`.
    pub last_error: Option<String>,
    /// When the server last acknowledged a batch (ms).
    pub last_ok_ms: Option<i64>,
    /// Events the server refused as invalid (dropped: resending cannot fix them).
    pub rejected_total: u64,
}

/// How the shipper should behave when another process is shipping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Skip (the hook: never wait on another process).
    Try,
    /// Wait for it (`monitor-hook flush`), and ignore any backoff.
    Wait,
}

/// What one shipping pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Events acknowledged by the server in this pass.
    pub sent: usize,
    /// Requests made.
    pub requests: usize,
    /// Why nothing was tried, if so.
    pub skipped: Option<String>,
    /// The failure that ended the pass, if any.
    pub error: Option<String>,
    /// Bytes still waiting in the spool afterwards.
    pub pending_bytes: u64,
}

/// The outcome of recording one hook call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordReport {
    /// Events written to the spool.
    pub written: usize,
    /// Events dropped because the spool is over its cap.
    pub dropped: usize,
}

/// The spool in one state directory.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
}

impl Spool {
    /// Opens (creating, mode 0700) the state directory.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(Spool { dir: dir.to_path_buf(), max_bytes })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn lock_file(&self, name: &str) -> io::Result<File> {
        OpenOptions::new().create(true).truncate(false).write(true).open(self.path(name))
    }

    /// Under the append lock: loads the pairing state, lets `derive` turn the hook into
    /// events, appends them to the spool and saves the state.
    pub fn record(
        &self,
        now: i64,
        derive: impl FnOnce(&mut State) -> Vec<Event>,
    ) -> io::Result<RecordReport> {
        let lock = self.lock_file("append.lock")?;
        lock.lock()?;
        let mut state = match fs::read(self.path(STATE_FILE)) {
            Ok(bytes) => State::from_slice(&bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e),
        };
        let mut events = derive(&mut state);
        let mut report = RecordReport::default();
        if !events.is_empty() {
            let mut spool =
                OpenOptions::new().create(true).append(true).read(true).open(self.path(SPOOL_FILE))?;
            let len = spool.metadata()?.len();
            if state.dropped > 0 {
                let mut notice = Event::error(
                    now,
                    "hook:spool",
                    &format!(
                        "{} events dropped: the spool was over {} MB",
                        state.dropped,
                        self.max_bytes >> 20
                    ),
                    Some("spool_full"),
                );
                notice.project_id.clone_from(&events[0].project_id);
                notice.put("dropped", state.dropped);
                events.insert(0, notice);
            }
            let mut lines = String::new();
            for event in &events {
                lines.push_str(&event.to_line());
            }
            if len.saturating_add(lines.len() as u64) > self.max_bytes {
                let new = events.len() - usize::from(state.dropped > 0);
                state.dropped = state.dropped.saturating_add(new as u64);
                state.dirty = true;
                report.dropped = new;
            } else {
                // A writer killed mid-line leaves a torn last line; end it so the new
                // events stay on lines of their own (the server rejects only the torn one).
                let mut last = [0u8; 1];
                if len > 0 && spool.read_at(&mut last, len - 1).is_ok() && last[0] != b'\n' {
                    lines.insert(0, '\n');
                }
                spool.write_all(lines.as_bytes())?;
                if state.dropped > 0 {
                    state.dropped = 0;
                    state.dirty = true;
                }
                report.written = events.len();
            }
        }
        state.prune(now);
        if state.dirty {
            write_atomic(&self.path(STATE_FILE), &state.to_vec())?;
        }
        Ok(report)
    }

    /// Reads `ship.json` (defaults when missing or unreadable).
    pub fn ship_state(&self) -> ShipState {
        fs::read(self.path(SHIP_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Bytes in the spool file and how many of them are not yet acknowledged.
    pub fn sizes(&self) -> (u64, u64) {
        let len = fs::metadata(self.path(SPOOL_FILE)).map(|m| m.len()).unwrap_or(0);
        let offset = self.ship_state().offset;
        (len, if offset > len { len } else { len - offset })
    }

    /// The unshipped part of the spool (for `doctor` and tests).
    pub fn pending(&self) -> io::Result<Vec<u8>> {
        let mut file = match File::open(self.path(SPOOL_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let offset = self.ship_state().offset;
        file.seek(SeekFrom::Start(if offset > len { 0 } else { offset }))?;
        let mut out = Vec::new();
        file.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Ships the spool to `target` in batches, in order, until it is empty, a request
    /// fails or `budget` is spent.
    pub fn ship(
        &self,
        target: &Result<Target, String>,
        api_key: Option<&str>,
        timeout: Duration,
        budget: Duration,
        mode: LockMode,
    ) -> io::Result<ShipReport> {
        let started = Instant::now();
        let mut report = ShipReport::default();
        let lock = self.lock_file("ship.lock")?;
        match mode {
            LockMode::Wait => lock.lock()?,
            LockMode::Try => match lock.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    report.skipped = Some("another hook is shipping".to_owned());
                    return Ok(report);
                }
                Err(TryLockError::Error(e)) => return Err(e),
            },
        }
        let mut ship = self.ship_state();
        // ship.json is rewritten once at the end of the pass, and only if needed: a crash
        // before that resends what this pass shipped, which the server deduplicates.
        let on_disk = ship.clone();
        let now = clock::now_ms();
        if mode == LockMode::Try && now < ship.backoff_until_ms {
            report.skipped = Some(format!("backing off for {} ms", ship.backoff_until_ms - now));
            report.pending_bytes = self.sizes().1;
            return Ok(report);
        }
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                report.error = Some(e.clone());
                note_failure(&mut ship, e, 0);
                report.pending_bytes = self.finish(&mut ship, &on_disk)?;
                return Ok(report);
            }
        };
        let auth = api_key.map(|k| format!("Bearer {k}"));
        let mut headers = vec![("Content-Type", "application/x-ndjson")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        // After a failure the first request is a small probe, so that a call made while
        // the server is still down does not read megabytes of backlog for nothing.
        let (mut max_bytes, mut max_lines) =
            if ship.failures > 0 { (PROBE_BYTES, PROBE_LINES) } else { (BATCH_BYTES, BATCH_LINES) };
        loop {
            let (batch, len) = self.read_batch(ship.offset, max_bytes, max_lines)?;
            if ship.offset > len {
                // The spool was replaced behind our back: resend it all (ids dedupe).
                ship.offset = 0;
                continue;
            }
            let Some(batch) = batch else { break };
            let lines = batch.iter().filter(|b| **b == b'\n').count();
            report.requests += 1;
            let answer = http::request(target, "POST", "/api/events/batch", &headers, &batch, timeout);
            let now = clock::now_ms();
            match answer {
                Ok(resp) if (200..300).contains(&resp.status) => {
                    ship.offset += batch.len() as u64;
                    ship.failures = 0;
                    ship.backoff_until_ms = 0;
                    ship.last_error = None;
                    ship.last_ok_ms = Some(now);
                    ship.rejected_total += rejected_count(&resp.body);
                    report.sent += lines;
                    (max_bytes, max_lines) = (BATCH_BYTES, BATCH_LINES);
                }
                Ok(resp) if resp.status == 400 && is_ingest_answer(&resp.body) => {
                    // Every event of the batch is invalid: resending cannot help.
                    ship.offset += batch.len() as u64;
                    ship.rejected_total += lines as u64;
                    ship.last_error =
                        Some(format!("server rejected {lines} events: {}", body_text(&resp.body)));
                }
                Ok(resp) if resp.status == 413 && lines > 1 => {
                    max_lines = (lines / 2).max(1);
                    max_bytes = (batch.len() / 2).max(1);
                    continue;
                }
                Ok(resp) if resp.status == 413 => {
                    ship.offset += batch.len() as u64;
                    ship.rejected_total += 1;
                    ship.last_error = Some("server refused an event as too large".to_owned());
                }
                Ok(resp) => {
                    let message = format!("HTTP {}: {}", resp.status, body_text(&resp.body));
                    let wait_s = match resp.status {
                        401 | 403 => MAX_BACKOFF_S,
                        429 | 503 => resp.retry_after.map_or(5, |s| i64::try_from(s).unwrap_or(300).min(300)),
                        _ => backoff_s(ship.failures),
                    };
                    note_failure(&mut ship, &message, wait_s);
                    report.error = Some(message);
                    break;
                }
                Err(e) => {
                    // Refused or reset fails in microseconds: retry on the very next hook
                    // call. Only a timeout costs every call its full wait, so only it backs off.
                    let wait_s = if matches!(e, HttpError::Timeout) { backoff_s(ship.failures) } else { 0 };
                    let message = e.to_string();
                    note_failure(&mut ship, &message, wait_s);
                    report.error = Some(message);
                    break;
                }
            }
            if started.elapsed() >= budget {
                break;
            }
        }
        report.pending_bytes = self.finish(&mut ship, &on_disk)?;
        Ok(report)
    }

    /// The next batch after `offset`: whole lines only, at most `max_bytes` (unless
    /// one line is longer) and `max_lines`. `None` when no complete line is waiting.
    fn read_batch(
        &self,
        offset: u64,
        max_bytes: usize,
        max_lines: usize,
    ) -> io::Result<(Option<Vec<u8>>, u64)> {
        let file = match File::open(self.path(SPOOL_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, 0)),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if offset >= len {
            return Ok((None, len));
        }
        let available = usize::try_from(len - offset).unwrap_or(usize::MAX);
        let mut want = available.min(max_bytes);
        loop {
            let mut buf = vec![0u8; want];
            file.read_exact_at(&mut buf, offset)?;
            let mut cut = None;
            let mut seen = 0;
            for (i, b) in buf.iter().enumerate() {
                if *b == b'\n' {
                    seen += 1;
                    cut = Some(i + 1);
                    if seen == max_lines {
                        break;
                    }
                }
            }
            match cut {
                Some(end) => {
                    buf.truncate(end);
                    return Ok((Some(buf), len));
                }
                // One line longer than a batch: read on to its end.
                None if want < available => want = available.min(want.saturating_mul(2)),
                // A line still being written (or torn): wait for the next call.
                None => return Ok((None, len)),
            }
        }
    }

    /// Ends a shipping pass: after a full ship truncates the spool, after a long
    /// partial one drops the shipped prefix (both under the append lock, cursor reset
    /// first), and saves `ship.json` when it changed. Returns the bytes still waiting.
    fn finish(&self, ship: &mut ShipState, on_disk: &ShipState) -> io::Result<u64> {
        let path = self.path(SPOOL_FILE);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let full = ship.offset > 0 && ship.offset >= len;
        let compact = ship.offset >= COMPACT_MIN && ship.offset * 2 > len;
        if !full && !compact {
            if needs_write(ship, on_disk) {
                write_atomic(&self.path(SHIP_FILE), &to_json(ship))?;
            }
            return Ok(len.saturating_sub(ship.offset));
        }
        let lock = self.lock_file("append.lock")?;
        lock.lock()?;
        let len_now = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let offset = ship.offset;
        if len_now == offset {
            ship.offset = 0;
            if needs_write(ship, on_disk) {
                write_atomic(&self.path(SHIP_FILE), &to_json(ship))?;
            }
            OpenOptions::new().write(true).open(&path)?.set_len(0)?;
            return Ok(0);
        }
        if len_now > offset && offset >= COMPACT_MIN {
            let mut rest = Vec::new();
            let mut file = File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            file.read_to_end(&mut rest)?;
            let tmp = self.path("spool.ndjson.tmp");
            fs::write(&tmp, &rest)?;
            ship.offset = 0;
            write_atomic(&self.path(SHIP_FILE), &to_json(ship))?;
            fs::rename(&tmp, &path)?;
            return Ok(rest.len() as u64);
        }
        if needs_write(ship, on_disk) {
            write_atomic(&self.path(SHIP_FILE), &to_json(ship))?;
        }
        Ok(len_now.saturating_sub(ship.offset))
    }
}

/// Records a failed attempt; `wait_s` > 0 sets a backoff.
fn note_failure(ship: &mut ShipState, message: &str, wait_s: i64) {
    ship.failures = ship.failures.saturating_add(1);
    ship.backoff_until_ms = if wait_s > 0 { clock::now_ms() + wait_s * 1000 } else { 0 };
    ship.last_error = Some(message.to_owned());
}

/// Whether `ship.json` must be rewritten: not for a bare failure counter past 8 (the
/// server is down and every call fails the same way) nor for a fresher success time
/// within a minute (every call succeeds).
fn needs_write(ship: &ShipState, on_disk: &ShipState) -> bool {
    let ok_moved = match (ship.last_ok_ms, on_disk.last_ok_ms) {
        (Some(now), Some(before)) => now - before > 60_000,
        (a, b) => a != b,
    };
    ship.offset != on_disk.offset
        || ship.backoff_until_ms != on_disk.backoff_until_ms
        || ship.last_error != on_disk.last_error
        || ship.rejected_total != on_disk.rejected_total
        || (ship.failures != on_disk.failures && ship.failures < 8)
        || ok_moved
}

fn backoff_s(failures: u32) -> i64 {
    (1i64 << failures.min(6)).min(MAX_BACKOFF_S)
}

fn to_json(ship: &ShipState) -> Vec<u8> {
    serde_json::to_vec(ship).unwrap_or_default()
}

/// The server's ingest answer: `{"accepted":N,"rejected":[…]}`.
#[derive(Deserialize)]
struct IngestAnswer {
    accepted: u64,
    #[serde(default)]
    rejected: Vec<serde_json::Value>,
}

fn is_ingest_answer(body: &[u8]) -> bool {
    serde_json::from_slice::<IngestAnswer>(body).is_ok_and(|a| a.accepted == 0)
}

fn rejected_count(body: &[u8]) -> u64 {
    serde_json::from_slice::<IngestAnswer>(body).map_or(0, |a| a.rejected.len() as u64)
}

fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    crate::event::truncate(text.trim(), 200).to_owned()
}

/// Replaces `path` with `bytes` so that a reader sees the old or the new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}
