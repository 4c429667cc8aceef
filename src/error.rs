//! The library's error, reported once at the edge.

use crate::config::ConfigError;
use crate::export::ExportError;
use crate::input::InputError;
use crate::provider::ApiError;
use crate::report::ReportError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// A report or output file could not be created before anything was sent.
    #[error(transparent)]
    Setup(ReportError),
    /// A report file failed part-way through a run.
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A roster file to compare cannot be read: nothing sent.
    #[error(transparent)]
    Diff(#[from] crate::plan::diff::DiffError),
    /// The resume journal cannot be used (locked, missing, from another run): nothing sent.
    #[error(transparent)]
    Journal(#[from] crate::execute::journal::JournalError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("interrupted: {0}")]
    Interrupted(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}
