//! monitor-hook: the Claude Code `command` hook of agent-monitor.
//!
//! Claude Code runs `monitor-hook` (no arguments) for every hook event with one JSON
//! object on stdin. The hook maps it to events of the model (`performance`, `error`,
//! `coordination`), appends them to a local spool, and ships the spool to
//! monitor-server's `POST /api/events/batch`. It prints nothing on stdout and always
//! exits 0, whatever happens. `install`, `uninstall`, `doctor` and `flush` manage the
//! setup. docs/hooks.md is the user guide and has the full mapping table.
//!
//! # Layout
//! - [`hook`]: the hook path end to end; [`mapping`]: hook input → events;
//!   [`input`]: lenient access to the stdin JSON; [`event`]: the wire events.
//! - [`spool`]: the crash-safe, lock-protected spool and shipper; [`state`]: pairing
//!   state (PreToolUse → PostToolUse and friends); [`http`]: a minimal HTTP/1.1 client.
//! - [`settings`]: order-preserving JSON and the settings-file merge behind
//!   `install`/`uninstall`; [`doctor`]: the setup check; [`cli`]: the subcommands.
//! - [`config`]: `MONITOR_*` environment; [`clock`]: timestamps and UUIDv7 ids.

pub mod cli;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod event;
pub mod hook;
pub mod http;
pub mod input;
pub mod mapping;
pub mod settings;
pub mod spool;
pub mod state;
