//! The library's error, reported once at the edge.
//!
//! Each error's message leaves its cause out and hands it on through `source()`, so that
//! [`Chain`] can print every cause exactly once.

use std::fmt;

use crate::config::ConfigError;
use crate::export::ExportError;
use crate::input::InputError;
use crate::provider::ApiError;
use crate::report::ReportError;

/// What stopped a command. Whether it exits 2 or 3 depends on when it happened, not on its kind:
/// see [`crate::exit`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// A report or output file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A roster file to compare cannot be read.
    #[error(transparent)]
    Diff(#[from] crate::plan::diff::DiffError),
    /// The resume journal cannot be used (locked, missing, from another run) or written.
    #[error(transparent)]
    Journal(#[from] crate::execute::journal::JournalError),
    #[error(transparent)]
    Export(#[from] ExportError),
    /// `roster report` was given a JSON document that is no summary or plan.
    #[error(transparent)]
    Page(#[from] crate::report::html::pages::NotADocument),
    #[error("interrupted: {0}")]
    Interrupted(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// An error and its causes, outermost first, joined by `: `.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(inner) = cause {
            write!(f, ": {inner}")?;
            cause = inner.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn every_cause_is_printed_once() {
        let error = Error::from(ReportError {
            path: PathBuf::from("out/plan.json"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        });
        assert_eq!(
            Chain(&error).to_string(),
            "cannot write out/plan.json: No such file or directory"
        );
        let io = Error::Io {
            context: "cannot listen on 127.0.0.1:1".to_string(),
            source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address in use"),
        };
        assert_eq!(
            Chain(&io).to_string(),
            "cannot listen on 127.0.0.1:1: Address in use"
        );
    }
}
