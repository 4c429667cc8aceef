//! roster: keep TeleCMI and Tata Smartflo user rosters in step with spreadsheets.
//!
//! The pipeline: [`crate::input`] (read the sheet) → [`crate::validate`] → [`crate::execute`]
//! (rate-limited, concurrent calls through [`crate::provider`]) → [`crate::report`];
//! [`crate::export`] walks a provider's roster; [`crate::plan`] holds sync, migrate and diff;
//! [`crate::sandbox`] is the built-in fake of both APIs. The subcommands (`commands/`, one file
//! each) tie the stages together; [`run`] is the binary's entry point, and the tests drive the
//! binary itself against an in-process sandbox.

pub mod cli;
mod commands;
pub mod config;
mod error;
pub mod execute;
pub mod exit;
pub mod export;
pub mod input;
pub mod model;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod report;
pub mod sandbox;
pub mod validate;

use std::io::Write;

pub use commands::run;
pub use error::Error;
pub use exit::Exit;

/// Where a command's own output goes: data on `out`, human summaries on `err`.
pub struct Console<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub err: &'a mut (dyn Write + Send),
}

/// Set up logging on stderr: text or JSON lines, level from `-v`/`-q` (or `RUST_LOG`), colour only on a
/// terminal and never with `NO_COLOR`.
pub fn init_logging(global: &cli::GlobalArgs) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;

    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("roster={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter)
        .with_target(false);
    let result = match global.log_format {
        cli::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        cli::LogFormat::Text => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            builder.with_ansi(colour).without_time().try_init()
        }
    };
    // Already initialised (a test calling twice) is fine.
    let _ = result;
}
