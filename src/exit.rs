//! The one place where outcomes and errors become exit codes (see the contract).
//!
//! An error's code follows the phase the run was in when it stopped, not the error's kind:
//! - 2, nothing was sent: the run stopped before it tried its first request. Every local check
//!   (flags, config, credentials, the whole input sheet, output paths, journal, locks) runs in
//!   this phase;
//! - 3, aborted part-way: the run had tried at least one request (authentication rejected,
//!   provider unreachable, an incomplete export, an interruption, a local write failing mid-run).
//!
//! The phase is kept by [`Contact`], which every HTTP core of the run marks before its first try
//! (and which also keeps the latencies of the tries, for the run's report).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::Chain;
use crate::report::latency::{Latency, LatencyRecorder};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(into = "u8")]
pub enum Exit {
    /// Everything done: every row ok, or skipped as already in the wanted state.
    Success = 0,
    /// The run finished, but at least one row failed or was invalid.
    RowsFailed = 1,
    /// Nothing was sent: the run stopped before its first request.
    NothingSent = 2,
    /// Aborted part-way: the run stopped after talking to the provider.
    Aborted = 3,
}

impl From<Exit> for u8 {
    fn from(exit: Exit) -> u8 {
        exit as u8
    }
}

impl Exit {
    pub fn code(self) -> u8 {
        self.into()
    }
}

/// When a run stopped, relative to its first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No request tried yet.
    Local,
    /// At least one request tried, answered or not.
    Contacted,
}

impl Phase {
    /// The exit code of a run that stopped on an error in this phase.
    pub fn exit(self) -> Exit {
        match self {
            Phase::Local => Exit::NothingSent,
            Phase::Contacted => Exit::Aborted,
        }
    }
}

/// The run's contact with the provider, shared by every HTTP core of the run: whether it has
/// tried a request yet, and how long the answers took (for the run's summary and HTML page).
#[derive(Debug, Clone, Default)]
pub struct Contact(Arc<Contacts>);

#[derive(Debug, Default)]
struct Contacts {
    tried: AtomicBool,
    latency: LatencyRecorder,
}

impl Contact {
    /// Called before every try: from here on, a failure is "aborted part-way".
    pub fn mark(&self) {
        self.0.tried.store(true, Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        if self.0.tried.load(Ordering::Relaxed) {
            Phase::Contacted
        } else {
            Phase::Local
        }
    }

    /// `request` (one try, from handing it to the client to its answer), with its latency
    /// recorded. The HTTP core wraps each try in it.
    pub async fn timed<T>(&self, request: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let answer = request.await;
        self.0.latency.record(started.elapsed());
        answer
    }

    /// The latencies of the run's requests so far; `None` before the first answer.
    pub fn latency(&self) -> Option<Latency> {
        self.0.latency.summary()
    }
}

/// A command that stopped on an error, with the code it exits with.
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    pub exit: Exit,
}

impl Failure {
    pub fn new(error: Error, phase: Phase) -> Failure {
        Failure {
            error,
            exit: phase.exit(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Chain(&self.error).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use crate::export::ExportError;
    use crate::input::InputError;
    use crate::provider::ApiError;
    use crate::report::ReportError;
    use std::path::PathBuf;

    fn io() -> std::io::Error {
        std::io::Error::other("disk full")
    }

    /// One of every kind of error the commands return.
    fn every_kind() -> Vec<Error> {
        vec![
            Error::Usage("bad flag".into()),
            Error::Config(ConfigError::Flag("--rate".into())),
            Error::Input(InputError::Empty {
                path: PathBuf::from("s.csv"),
            }),
            Error::Report(ReportError {
                path: PathBuf::from("plan.json"),
                source: io(),
            }),
            Error::Api(ApiError::Unreachable {
                message: "refused".into(),
            }),
            Error::Diff(crate::plan::diff::DiffError::Mismatch("x".into())),
            Error::Journal(crate::execute::journal::JournalError::Missing(
                PathBuf::from("j"),
            )),
            Error::Export(ExportError::Write {
                path: "out".into(),
                source: io(),
            }),
            Error::Interrupted("signal".into()),
            Error::Io {
                context: "cannot listen".into(),
                source: io(),
            },
        ]
    }

    #[test]
    fn the_phase_decides_the_code_whatever_the_kind() {
        for error in every_kind() {
            assert_eq!(
                Failure::new(error, Phase::Local).exit.code(),
                2,
                "before the first request nothing was sent"
            );
        }
        for error in every_kind() {
            assert_eq!(
                Failure::new(error, Phase::Contacted).exit.code(),
                3,
                "after the first request the run aborted part-way"
            );
        }
    }

    #[test]
    fn contact_moves_the_phase_once_for_every_clone() {
        let contact = Contact::default();
        let http_side = contact.clone();
        assert_eq!(contact.phase(), Phase::Local);
        http_side.mark();
        assert_eq!(contact.phase(), Phase::Contacted);
    }
}
