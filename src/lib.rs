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
pub mod error;
pub mod execute;
pub mod exit;
pub mod export;
pub mod input;
pub mod model;
pub mod phone;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod report;
pub mod sandbox;
pub mod text;
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

/// Standard output for which a reader that closes the pipe early is normal
/// (`roster export -o - | head -1`): what is left to write is dropped, and the run ends with the
/// code its work earned, as ripgrep does.
pub struct PipeOut<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeOut<W> {
    pub fn new(inner: W) -> PipeOut<W> {
        PipeOut {
            inner,
            closed: false,
        }
    }

    fn closed_is_fine<T>(&mut self, result: std::io::Result<T>, done: T) -> std::io::Result<T> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for PipeOut<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let written = self.inner.write(buf);
        self.closed_is_fine(written, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.inner.flush();
        self.closed_is_fine(flushed, ())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then reports the reader gone.
    struct ClosingPipe {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for ClosingPipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.got.len() >= self.room {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room - self.got.len());
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_swallows_the_rest_and_other_errors_still_count() {
        let mut out = PipeOut::new(ClosingPipe {
            room: 4,
            got: Vec::new(),
        });
        out.write_all(b"agent_id,name\n101_1,Asha\n").unwrap();
        out.write_all(b"more").unwrap();
        out.flush().unwrap();
        assert_eq!(out.inner.got, b"agen");

        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        assert!(PipeOut::new(Full).write_all(b"x").is_err());
    }
}
