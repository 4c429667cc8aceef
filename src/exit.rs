//! The one place where outcomes and errors become exit codes (see the contract).

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(into = "u8")]
pub enum Exit {
    /// Everything done: every row ok, or skipped as already in the wanted state.
    Success = 0,
    /// The run finished, but at least one row failed or was invalid.
    RowsFailed = 1,
    /// Nothing was sent: bad usage, config, credentials or input file.
    NothingSent = 2,
    /// Aborted part-way: authentication rejected, provider unreachable, interrupted.
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

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_)
            | Error::Config(_)
            | Error::Input(_)
            | Error::Setup(_)
            | Error::Journal(_)
            | Error::Diff(_) => Exit::NothingSent,
            Error::Report(_)
            | Error::Api(_)
            | Error::Export(_)
            | Error::Interrupted(_)
            | Error::Io { .. } => Exit::Aborted,
        }
    }
}
