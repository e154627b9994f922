//! monitor-examples: the logic behind the runnable examples of agent-monitor.
//!
//! The example binaries in `examples/examples/` parse flags and print; what they run
//! lives here so that `tests/examples.rs` runs exactly the same code.
//!
//! - `cargo run -p monitor-examples --example dual_agent` — a manager/worker runtime
//!   that links monitor-core in-process and reports its own coordination.
//! - `cargo run -p monitor-examples --example embedded_alerts` — monitor-alerts embedded
//!   alone, paging a local webhook receiver.
//!
//! See `docs/examples.md` for the run commands and sample output.
//!
//! # Layout
//! - [`dual_agent`]: the runtime, its event sinks (collector + store, or a server over
//!   HTTP) and the report read back from the store.
//! - [`embedded_alerts`]: collector, bus and alert engine with one p95 rule and a
//!   webhook channel pointing at a receiver it starts itself.

pub mod dual_agent;
pub mod embedded_alerts;
