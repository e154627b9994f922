//! Claude Code settings files: an order-preserving JSON value and the merge that
//! `install`/`uninstall` perform on the `hooks` section.
//!
//! serde_json's `Map` sorts keys unless its `preserve_order` feature is on, and that
//! feature would change map order for every crate of the workspace, so settings are
//! read into [`Json`], whose objects keep their keys in file order.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

use crate::mapping::TOOL_EVENTS;

/// A JSON value whose objects keep their key order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in file order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// A field of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A mutable field of an object.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(fields) => fields.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets a field of an object in place, or appends it. No-op on non-objects.
    pub fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(fields) = self {
            match fields.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => fields.push((key.to_owned(), value)),
            }
        }
    }

    /// Removes a field of an object.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        match self {
            Json::Object(fields) => {
                let index = fields.iter().position(|(k, _)| k == key)?;
                Some(fields.remove(index).1)
            }
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as f64, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// Parses JSON text; empty or blank text is an empty object (a fresh settings file).
    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(Json::Object(Vec::new()));
        }
        serde_json::from_str(text)
    }

    /// Pretty text with two-space indentation and a final newline, as Claude Code writes.
    pub fn to_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
                Number::from_f64(v).map(Json::Number).ok_or_else(|| E::custom("non-finite number"))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    fields.push((k, v));
                }
                Ok(Json::Object(fields))
            }
        }
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// Every hook event of Claude Code v2.1.240 (the notes' table), in lifecycle order.
pub const ALL_EVENTS: &[&str] = &[
    "Setup",
    "SessionStart",
    "InstructionsLoaded",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "MessageDisplay",
    "PreToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "Notification",
    "SubagentStart",
    "SubagentStop",
    "TaskCreated",
    "TaskCompleted",
    "Stop",
    "StopFailure",
    "TeammateIdle",
    "ConfigChange",
    "CwdChanged",
    "DirectoryAdded",
    "FileChanged",
    "WorktreeCreate",
    "WorktreeRemove",
    "PreCompact",
    "PostCompact",
    "Elicitation",
    "ElicitationResult",
    "SessionEnd",
];

/// Events `install` leaves alone, and why.
pub const EXCLUDED_EVENTS: &[(&str, &str)] = &[
    ("WorktreeCreate", "a WorktreeCreate hook replaces git worktree creation and must print the path"),
    ("WorktreeRemove", "the counterpart of WorktreeCreate; cleanup hooks belong to the VCS integration"),
    ("MessageDisplay", "fires for every streamed text chunk: a process per chunk for no useful metric"),
];

/// Events every Claude Code release since mid-2025 knows. Releases before 2.1.101
/// reject a whole settings file that names an event they do not know.
pub const BASE_EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Notification",
    "SubagentStop",
    "Stop",
    "PreCompact",
    "SessionEnd",
];

/// The first Claude Code release that ignores unknown hook event names.
pub const TOLERANT_VERSION: (u32, u32, u32) = (2, 1, 101);

/// The events `install` configures for a Claude Code version (`None`: unknown).
pub fn install_events(version: Option<(u32, u32, u32)>, all: bool) -> Vec<&'static str> {
    let tolerant = all || version.is_some_and(|v| v >= TOLERANT_VERSION);
    ALL_EVENTS
        .iter()
        .copied()
        .filter(|e| !EXCLUDED_EVENTS.iter().any(|(x, _)| x == e))
        .filter(|e| tolerant || BASE_EVENTS.contains(e))
        .collect()
}

/// Parses `2.1.240 (Claude Code)` or `v2.1.240` into a version triple.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')').find_map(|word| {
        let mut parts = word.trim_start_matches('v').split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next()?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
        Some((major, minor, patch))
    })
}

/// The program a command handler runs: the first shell word, unquoted.
pub fn command_program(command: &str) -> (String, &str) {
    let command = command.trim_start();
    for quote in ['\'', '"'] {
        if let Some(rest) = command.strip_prefix(quote)
            && let Some(end) = rest.find(quote)
        {
            return (rest[..end].to_owned(), rest[end + 1..].trim());
        }
    }
    let end = command.find(char::is_whitespace).unwrap_or(command.len());
    (command[..end].to_owned(), command[end..].trim())
}

/// Whether a handler is one `install` wrote: a command hook running a program named
/// `monitor-hook` with no arguments (or only `hook`/`emit`).
pub fn is_own_handler(handler: &Json) -> bool {
    if handler.get("type").and_then(Json::as_str) != Some("command") {
        return false;
    }
    let Some(command) = handler.get("command").and_then(Json::as_str) else { return false };
    let (program, rest) = command_program(command);
    let name = program.rsplit(['/', '\\']).next().unwrap_or("");
    let args_ok = match handler.get("args") {
        None | Some(Json::Null) => true,
        Some(Json::Array(a)) => a.iter().all(|x| matches!(x.as_str(), Some("hook" | "emit"))),
        Some(_) => false,
    };
    matches!(name, "monitor-hook" | "monitor-hook.exe") && matches!(rest, "" | "hook" | "emit") && args_ok
}

/// Quotes a path for `sh -c` when it needs it.
pub fn shell_quote(path: &str) -> String {
    let plain = !path.is_empty()
        && path.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | '+' | '@' | '%' | ':' | ',' | '=')
        });
    if plain { path.to_owned() } else { format!("'{}'", path.replace('\'', r"'\''")) }
}

/// What a merge changed, per event name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Events that got a new handler.
    pub added: Vec<String>,
    /// Events whose handler was rewritten (another path or timeout, duplicates).
    pub updated: Vec<String>,
    /// Events already as wanted.
    pub unchanged: Vec<String>,
    /// Events a handler was removed from.
    pub removed: Vec<String>,
}

impl Changes {
    /// Whether the file needs writing.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }
}

fn handler(command: &str, timeout: u64) -> Json {
    Json::Object(vec![
        ("type".to_owned(), Json::String("command".to_owned())),
        ("command".to_owned(), Json::String(command.to_owned())),
        ("timeout".to_owned(), Json::Number(timeout.into())),
    ])
}

/// Adds (or fixes) this hook's handler for each of `events` in a settings document,
/// leaving every other key, event, group and handler as it was and where it was.
pub fn install_into(doc: &mut Json, command: &str, timeout: u64, events: &[&str]) -> Result<Changes, String> {
    if !matches!(doc, Json::Object(_)) {
        return Err("the settings file is not a JSON object".to_owned());
    }
    if doc.get("hooks").is_none() {
        doc.set("hooks", Json::Object(Vec::new()));
    }
    let Some(hooks @ Json::Object(_)) = doc.get_mut("hooks") else {
        return Err("`hooks` in the settings file is not an object".to_owned());
    };
    let mut changes = Changes::default();
    for &event in events {
        if hooks.get(event).is_none() {
            hooks.set(event, Json::Array(Vec::new()));
        }
        let Some(Json::Array(groups)) = hooks.get_mut(event) else {
            return Err(format!("`hooks.{event}` in the settings file is not an array"));
        };
        let mut found = false;
        let mut updated = false;
        for group in groups.iter_mut() {
            let Some(Json::Array(handlers)) = group.get_mut("hooks") else { continue };
            let mut index = 0;
            while index < handlers.len() {
                if !is_own_handler(&handlers[index]) {
                    index += 1;
                    continue;
                }
                if found {
                    // A second copy of our handler in one event: drop it.
                    handlers.remove(index);
                    updated = true;
                    continue;
                }
                found = true;
                let h = &mut handlers[index];
                if h.get("command").and_then(Json::as_str) != Some(command) {
                    h.set("command", Json::String(command.to_owned()));
                    updated = true;
                }
                if h.get("timeout").and_then(Json::as_f64) != Some(timeout as f64) {
                    h.set("timeout", Json::Number(timeout.into()));
                    updated = true;
                }
                index += 1;
            }
        }
        if !found {
            let mut group = Vec::new();
            if TOOL_EVENTS.contains(&event) {
                group.push(("matcher".to_owned(), Json::String("*".to_owned())));
            }
            group.push(("hooks".to_owned(), Json::Array(vec![handler(command, timeout)])));
            groups.push(Json::Object(group));
            changes.added.push(event.to_owned());
        } else if updated {
            changes.updated.push(event.to_owned());
        } else {
            changes.unchanged.push(event.to_owned());
        }
    }
    // Known events outside the wanted set lose this hook's handler, so that installing
    // for an older Claude Code shrinks the set. Excluded and unknown events added by
    // hand are left alone.
    let stale = |e: &str| {
        ALL_EVENTS.contains(&e) && !events.contains(&e) && !EXCLUDED_EVENTS.iter().any(|(x, _)| *x == e)
    };
    changes.removed = remove_own(doc, stale);
    Ok(changes)
}

/// Removes this hook's handlers from every event; groups and events left empty by
/// that removal go too, everything else stays.
pub fn uninstall_from(doc: &mut Json) -> Changes {
    Changes { removed: remove_own(doc, |_| true), ..Changes::default() }
}

/// Removes this hook's handlers from the events `which` selects; returns those events.
fn remove_own(doc: &mut Json, which: impl Fn(&str) -> bool) -> Vec<String> {
    let mut removed_from = Vec::new();
    let Some(Json::Object(events)) = doc.get_mut("hooks") else { return removed_from };
    for (event, value) in events.iter_mut() {
        if !which(event) {
            continue;
        }
        let Json::Array(groups) = value else { continue };
        let mut removed = false;
        groups.retain_mut(|group| {
            let Some(Json::Array(handlers)) = group.get_mut("hooks") else { return true };
            let before = handlers.len();
            handlers.retain(|h| !is_own_handler(h));
            let gone = before != handlers.len();
            removed |= gone;
            !(gone && handlers.is_empty())
        });
        if removed {
            removed_from.push(event.clone());
        }
    }
    events.retain(|(event, value)| {
        !(removed_from.contains(event) && matches!(value, Json::Array(g) if g.is_empty()))
    });
    if !removed_from.is_empty() && events.is_empty() {
        doc.remove("hooks");
    }
    removed_from
}

/// The result of editing a settings file.
#[derive(Clone, Debug)]
pub struct FileEdit {
    /// The file written (symlinks resolved).
    pub path: PathBuf,
    /// What changed.
    pub changes: Changes,
    /// Where the previous content was saved, when the file existed and changed.
    pub backup: Option<PathBuf>,
}

/// Reads a settings file (missing: empty), applies `edit`, and when something changed
/// backs the old file up next to it and replaces it atomically.
pub fn edit_file(
    path: &Path,
    edit: impl FnOnce(&mut Json) -> Result<Changes, String>,
) -> Result<FileEdit, String> {
    // Dotfile managers often symlink settings.json: edit the file it points to.
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (text, existed) = match fs::read_to_string(&path) {
        Ok(text) => (text, true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (String::new(), false),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut doc = Json::parse(&text).map_err(|e| {
        format!("{} is not valid JSON ({e}); fix it first, nothing was changed", path.display())
    })?;
    let changes = edit(&mut doc)?;
    if !changes.changed() {
        return Ok(FileEdit { path, changes, backup: None });
    }
    let backup = if existed {
        let stamp = crate::clock::rfc3339(crate::clock::now_ms()).replace([':', '-'], "");
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".bak-{}", &stamp[..15]));
        let backup = PathBuf::from(name);
        fs::copy(&path, &backup).map_err(|e| format!("cannot back up to {}: {e}", backup.display()))?;
        Some(backup)
    } else {
        None
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".monitor-hook.tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, doc.to_pretty()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    if let Ok(meta) = fs::metadata(&path) {
        let _ = fs::set_permissions(&tmp, meta.permissions());
    }
    fs::rename(&tmp, &path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    Ok(FileEdit { path, changes, backup })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_values() {
        let text = r#"{"zeta":1,"alpha":{"b":2.5,"a":[true,null,"x"]},"big":18446744073709551615,"neg":-3}"#;
        let doc = Json::parse(text).expect("json");
        let compact = serde_json::to_string(&doc).expect("ser");
        assert_eq!(compact, text);
        assert_eq!(Json::parse("  \n").expect("blank"), Json::Object(vec![]));
    }

    #[test]
    fn recognises_own_handlers() {
        let own = |c: &str| is_own_handler(&handler(c, 5));
        assert!(own("/usr/local/bin/monitor-hook"));
        assert!(own("'/home/a b/bin/monitor-hook'"));
        assert!(own("monitor-hook emit"));
        assert!(!own("/usr/bin/monitor-hook-other"));
        assert!(!own("monitor-hook doctor"));
        assert!(!own("bash -c monitor-hook"));
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(shell_quote("/usr/bin/monitor-hook"), "/usr/bin/monitor-hook");
    }

    #[test]
    fn refuses_shapes_it_cannot_merge_into() {
        let mut not_object = Json::parse("[1]").expect("json");
        assert!(install_into(&mut not_object, "/x/monitor-hook", 5, &["Stop"]).is_err());
        let mut bad_hooks = Json::parse(r#"{"hooks": []}"#).expect("json");
        assert!(install_into(&mut bad_hooks, "/x/monitor-hook", 5, &["Stop"]).is_err());
        let mut bad_event = Json::parse(r#"{"hooks": {"Stop": {}}}"#).expect("json");
        assert!(install_into(&mut bad_event, "/x/monitor-hook", 5, &["Stop"]).is_err());
        // A group shared with another handler keeps that handler on uninstall.
        let mut shared = Json::parse(
            r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say hi"},
                {"type": "command", "command": "/x/monitor-hook", "timeout": 5}]}]}}"#,
        )
        .expect("json");
        let changes = uninstall_from(&mut shared);
        assert_eq!(changes.removed, ["Stop"]);
        let expected = r#"{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"say hi"}]}]}}"#;
        assert_eq!(serde_json::to_string(&shared).expect("ser"), expected);
    }

    #[test]
    fn versions_gate_events() {
        assert_eq!(parse_version("2.1.240 (Claude Code)"), Some((2, 1, 240)));
        assert_eq!(parse_version("v1.0.51"), Some((1, 0, 51)));
        assert_eq!(parse_version("claude"), None);
        let old = install_events(Some((2, 1, 100)), false);
        assert_eq!(old.len(), BASE_EVENTS.len());
        let new = install_events(Some((2, 1, 101)), false);
        assert_eq!(new.len(), ALL_EVENTS.len() - EXCLUDED_EVENTS.len());
        assert!(!new.contains(&"WorktreeCreate"));
        assert_eq!(install_events(None, true), new);
    }
}
