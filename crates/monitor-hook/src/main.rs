//! The `monitor-hook` binary; see the library docs and docs/hooks.md.

use std::io::IsTerminal;
use std::process::exit;

use monitor_hook::{cli, config::Config, hook};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    let code = match args.first().map(String::as_str) {
        None | Some("hook" | "emit") => run_hook(),
        Some("install") => cli::install(rest),
        Some("uninstall") => cli::uninstall(rest),
        Some("doctor") => cli::doctor(rest),
        Some("flush") => cli::flush(rest),
        Some("-h" | "--help" | "help") => {
            print!("{}", cli::USAGE);
            0
        }
        Some("-V" | "--version") => {
            println!("monitor-hook {}", env!("CARGO_PKG_VERSION"));
            0
        }
        // A hook entry with arguments this build does not know must still behave as
        // a hook (exit 0, no stdout); from a terminal, show the usage instead.
        Some(_) if !std::io::stdin().is_terminal() => run_hook(),
        Some(other) => {
            eprintln!("monitor-hook: unknown command `{other}`\n\n{}", cli::USAGE);
            2
        }
    };
    exit(code);
}

/// The hook: whatever happens inside, exit 0 and print nothing on stdout.
fn run_hook() -> i32 {
    let config = Config::from_env();
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("monitor-hook reads a Claude Code hook JSON on stdin; see `monitor-hook --help`");
        return 0;
    }
    let debug = config.debug;
    // A panic must not print a backtrace that Claude Code would show as a hook error.
    std::panic::set_hook(Box::new(move |info| {
        if debug {
            eprintln!("monitor-hook: internal error: {info}");
        }
    }));
    let result = std::panic::catch_unwind(|| hook::run_hook(stdin.lock(), &config));
    if debug && let Ok(summary) = result {
        eprintln!("{summary}");
    }
    0
}
