//! `redrive dlq …`: the dead-letter workflow from a shell, against a Redrive server (or SQS
//! itself, for what the SQS API can do) by URL. The user's page is docs/cli.md.
//!
//! Layout: `args` (what clap parses), `client` (the SDK and the extension's JSON calls),
//! `queue` (a name, URL or ARN resolved), `filter` (the filter flags, sent or applied here),
//! `output` (tables, JSON, the progress bar), `error` (what fails, and its exit code), and one
//! module of `commands` per group of subcommands.

pub mod args;
mod client;
mod commands;
mod error;
mod filter;
mod output;
mod queue;
mod receive;

use std::io::Write;
use std::process::ExitCode;

pub use args::Command;

/// Runs a command to its end; the exit code is what docs/cli.md promises.
pub fn run(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "redrive: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let Command::Dlq(dlq) = command;
    match runtime.block_on(commands::run(dlq)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "redrive dlq: {e}");
            e.exit_code()
        }
    }
}
