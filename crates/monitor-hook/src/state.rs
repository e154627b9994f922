//! Pairing state kept between hook calls: start times of tools, subagents, tasks,
//! turns, compactions and sessions, so that the closing hook can report a duration.
//!
//! The file is small JSON, read and rewritten (write-then-rename, so never torn) under
//! the spool's append lock. Entries whose closing hook never came (a crashed session, a
//! denied tool) age out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How long an unpaired PreToolUse start is kept (a tool waiting on a permission prompt
/// can take a while; anything older is a tool that never finished).
pub const TOOL_TTL_MS: i64 = 6 * 3600 * 1000;
/// How long subagent, task and session entries are kept.
pub const LONG_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// Most entries kept per map; the oldest go first beyond it.
pub const MAX_ENTRIES: usize = 10_000;

/// What one session remembers between hooks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionState {
    /// When SessionStart fired (ms).
    pub start: Option<i64>,
    /// When the current turn's UserPromptSubmit fired (ms).
    pub turn: Option<i64>,
    /// Prompts submitted so far.
    pub prompts: u64,
    /// When the running compaction's PreCompact fired (ms).
    pub compact: Option<i64>,
    /// Last hook of this session (ms), for ageing out.
    pub seen: i64,
}

/// The whole pairing state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// `tool_use_id` → PreToolUse time (ms).
    pub tools: BTreeMap<String, i64>,
    /// `agent_id` → SubagentStart time (ms).
    pub agents: BTreeMap<String, i64>,
    /// `task_id` → TaskCreated time (ms).
    pub tasks: BTreeMap<String, i64>,
    /// `session_id` → session memory.
    pub sessions: BTreeMap<String, SessionState>,
    /// Events not spooled because the spool was full, not yet reported.
    pub dropped: u64,
    /// Whether anything changed since loading (not stored).
    #[serde(skip)]
    pub dirty: bool,
}

impl State {
    /// Parses the stored state; an unreadable file starts afresh (it only holds pairings).
    pub fn from_slice(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// The stored form.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Remembers when a tool started.
    pub fn start_tool(&mut self, id: &str, now: i64) {
        self.tools.insert(id.to_owned(), now);
        self.dirty = true;
    }

    /// Forgets a tool and returns when it started.
    pub fn finish_tool(&mut self, id: &str) -> Option<i64> {
        let start = self.tools.remove(id);
        self.dirty |= start.is_some();
        start
    }

    /// Remembers when a subagent started.
    pub fn start_agent(&mut self, id: &str, now: i64) {
        self.agents.insert(id.to_owned(), now);
        self.dirty = true;
    }

    /// Forgets a subagent and returns when it started.
    pub fn finish_agent(&mut self, id: &str) -> Option<i64> {
        let start = self.agents.remove(id);
        self.dirty |= start.is_some();
        start
    }

    /// Remembers when a task was created (a re-created id restarts the clock).
    pub fn create_task(&mut self, id: &str, now: i64) {
        self.tasks.insert(id.to_owned(), now);
        self.dirty = true;
    }

    /// Forgets a task and returns when it was created.
    pub fn complete_task(&mut self, id: &str) -> Option<i64> {
        let start = self.tasks.remove(id);
        self.dirty |= start.is_some();
        start
    }

    /// The session's memory, created on first use and marked as seen now.
    pub fn session(&mut self, id: &str, now: i64) -> &mut SessionState {
        self.dirty = true;
        let entry = self.sessions.entry(id.to_owned()).or_default();
        entry.seen = now;
        entry
    }

    /// Forgets a session (SessionEnd) and returns what it remembered.
    pub fn end_session(&mut self, id: &str) -> Option<SessionState> {
        let ended = self.sessions.remove(id);
        self.dirty |= ended.is_some();
        ended
    }

    /// Drops entries whose closing hook never came.
    pub fn prune(&mut self, now: i64) {
        let before = (self.tools.len(), self.agents.len(), self.tasks.len(), self.sessions.len());
        prune_map(&mut self.tools, now - TOOL_TTL_MS, |t| *t);
        prune_map(&mut self.agents, now - LONG_TTL_MS, |t| *t);
        prune_map(&mut self.tasks, now - LONG_TTL_MS, |t| *t);
        prune_map(&mut self.sessions, now - LONG_TTL_MS, |s| s.seen);
        let after = (self.tools.len(), self.agents.len(), self.tasks.len(), self.sessions.len());
        self.dirty |= before != after;
    }
}

fn prune_map<V>(map: &mut BTreeMap<String, V>, cutoff: i64, time: impl Fn(&V) -> i64) {
    map.retain(|_, v| time(v) >= cutoff);
    if map.len() > MAX_ENTRIES {
        let mut times: Vec<i64> = map.values().map(&time).collect();
        times.sort_unstable();
        let keep_from = times[times.len() - MAX_ENTRIES];
        map.retain(|_, v| time(v) >= keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_prunes() {
        let mut s = State::default();
        s.start_tool("a", 1_000);
        s.start_tool("old", 0);
        assert_eq!(s.finish_tool("a"), Some(1_000));
        assert_eq!(s.finish_tool("a"), None);
        s.prune(TOOL_TTL_MS + 1);
        assert!(s.tools.is_empty());
        let bytes = s.to_vec();
        assert_eq!(State::from_slice(&bytes).tools.len(), 0);
        assert_eq!(State::from_slice(b"garbage"), State::default());
    }

    #[test]
    fn caps_entries() {
        let mut s = State::default();
        for i in 0..(MAX_ENTRIES + 10) {
            s.start_tool(&format!("t{i}"), i64::try_from(i).unwrap_or(0) + 1_000_000);
        }
        s.prune(1_000_000);
        assert_eq!(s.tools.len(), MAX_ENTRIES);
        assert!(!s.tools.contains_key("t0"));
    }
}
