//! What happened to every row: the results CSV, the failed-rows CSV, the JSON summary and the
//! human summary.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use std::borrow::Cow;

use csv::ByteRecord;
use serde::Serialize;

use crate::export::atomic::AtomicFile;
use crate::export::record::{neutralise_formula, without_formula_guard};
use crate::model::{Outcome, Status};

pub mod summary;

pub const RESULT_COLUMNS: [&str; 8] = [
    "row",
    "extension",
    "agent_id",
    "action",
    "outcome",
    "http_status",
    "attempts",
    "message",
];

/// How many distinct reasons the summary keeps before lumping the rest together.
const MAX_REASONS: usize = 200;
const EXAMPLE_ROWS: usize = 5;

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct ReportError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn report_error(path: &Path) -> impl Fn(csv::Error) -> ReportError + '_ {
    move |e| ReportError {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    }
}

/// Open `path` for writing from scratch, locked for as long as the file is open: a second run
/// writing the same report is refused instead of emptying it under the first.
fn create_locked(path: &Path, mode: u32) -> Result<File, ReportError> {
    let error = |source| ReportError {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let file = options.open(path).map_err(error)?;
    // The mode given to `open` applies only to a new file: an old failed-rows file keeps its own
    // until told, and is about to hold passwords. (A public report is left as its owner set it.)
    #[cfg(unix)]
    if mode & 0o077 == 0 {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(error)?;
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(error(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another roster run is writing this file right now",
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(error(e)),
    }
    file.set_len(0).map_err(error)?;
    Ok(file)
}

/// One line per input row, in row order, written as results arrive.
pub struct ResultsWriter {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
}

impl ResultsWriter {
    pub fn create(path: &Path) -> Result<ResultsWriter, ReportError> {
        let file = create_locked(path, 0o644)?;
        let mut writer = csv::Writer::from_writer(BufWriter::new(file));
        writer
            .write_record(RESULT_COLUMNS)
            .map_err(report_error(path))?;
        Ok(ResultsWriter {
            path: path.to_path_buf(),
            writer,
        })
    }

    pub fn write(&mut self, outcome: &Outcome) -> Result<(), ReportError> {
        let row = outcome.row.to_string();
        let http_status = outcome
            .http_status
            .map(|s| s.to_string())
            .unwrap_or_default();
        let attempts = outcome.attempts.to_string();
        self.writer
            .write_record([
                row.as_str(),
                &outcome.extension,
                &outcome.agent_id,
                outcome.action.as_str(),
                outcome.status.as_str(),
                &http_status,
                &attempts,
                &outcome.message,
            ])
            .map_err(report_error(&self.path))
    }

    pub fn flush(&mut self) -> Result<(), ReportError> {
        self.writer.flush().map_err(|source| ReportError {
            path: self.path.clone(),
            source,
        })
    }
}

/// The original rows (header and cells untouched) of every failed or invalid row, ready to fix and re-run.
pub struct FailedRowsWriter {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
}

impl FailedRowsWriter {
    pub fn create(
        path: &Path,
        header: &ByteRecord,
        delimiter: u8,
    ) -> Result<FailedRowsWriter, ReportError> {
        // The rows carry the sheet's passwords: readable by the owner only, from creation on.
        let file = create_locked(path, 0o600)?;
        let mut writer = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_writer(BufWriter::new(file));
        writer
            .write_byte_record(header)
            .map_err(report_error(path))?;
        Ok(FailedRowsWriter {
            path: path.to_path_buf(),
            writer,
        })
    }

    /// Write `record` with every cell guarded against formulas the way an export is: the cell
    /// imports back as the same value, and a spreadsheet that opens the file runs nothing.
    pub fn write(&mut self, record: &ByteRecord) -> Result<(), ReportError> {
        let cells = record.iter().map(|cell| match std::str::from_utf8(cell) {
            Ok(text) => Cow::Owned(neutralise_formula(without_formula_guard(text)).into_bytes()),
            Err(_) => Cow::Borrowed(cell),
        });
        self.writer
            .write_record(cells)
            .map_err(report_error(&self.path))
    }

    pub fn flush(&mut self) -> Result<(), ReportError> {
        self.writer.flush().map_err(|source| ReportError {
            path: self.path.clone(),
            source,
        })
    }
}

/// Counts per outcome and per reason, with example rows.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: BTreeMap<Status, u64>,
    pub actions: BTreeMap<&'static str, u64>,
    reasons: HashMap<String, Reason>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Reason {
    pub message: String,
    pub outcome: &'static str,
    pub count: u64,
    pub example_rows: Vec<u64>,
}

impl Tally {
    /// Count `outcome`; `reason` is its message with row-specific values left out, so that rows
    /// failing for the same cause group together.
    pub fn record(&mut self, outcome: &Outcome, reason: Option<&str>) {
        *self.counts.entry(outcome.status).or_default() += 1;
        if outcome.status != Status::Skipped || outcome.action != crate::model::Action::None {
            *self.actions.entry(outcome.action.as_str()).or_default() += 1;
        }
        let Some(reason) = reason else { return };
        let key = if self.reasons.len() >= MAX_REASONS && !self.reasons.contains_key(reason) {
            "(other reasons)"
        } else {
            reason
        };
        let entry = self
            .reasons
            .entry(key.to_string())
            .or_insert_with(|| Reason {
                message: key.to_string(),
                outcome: outcome.status.as_str(),
                ..Reason::default()
            });
        entry.count += 1;
        if entry.example_rows.len() < EXAMPLE_ROWS {
            entry.example_rows.push(outcome.row);
        }
    }

    pub fn count(&self, status: Status) -> u64 {
        self.counts.get(&status).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Reasons, most frequent first.
    pub fn top_reasons(&self) -> Vec<Reason> {
        let mut reasons: Vec<Reason> = self.reasons.values().cloned().collect();
        reasons.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.message.cmp(&b.message))
        });
        reasons
    }
}

/// Fail now, before anything is sent, when `path` could not be written at the end of the run: its
/// directory must take a new file, and a file already there must be writable and not a directory.
pub fn check_can_create(path: &Path) -> Result<(), ReportError> {
    let error = |source| ReportError {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        return Err(error(io::Error::other("it is a directory")));
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(error)?;
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // A file of our own beside it, made and removed at once: the plain OS error if it cannot be.
    let probe = dir.join(format!(".roster-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(error)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A JSON document written when a run ends, reserved when it starts: its directory is tried and
/// its lock held from the first moment, so a mistake shows before anything is sent and two runs
/// sharing one `--summary` cannot both finish. Whole or absent, like every atomic output.
pub struct ReservedJson {
    path: PathBuf,
    file: AtomicFile,
}

impl ReservedJson {
    pub fn reserve(path: &Path) -> Result<ReservedJson, ReportError> {
        let file = AtomicFile::create(path, false).map_err(|source| ReportError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ReservedJson {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `value` as pretty JSON, put in place.
    pub fn write<T: Serialize>(mut self, value: &T) -> Result<(), ReportError> {
        let out = self.file.writer();
        let written = serde_json::to_writer_pretty(&mut *out, value)
            .map_err(io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| self.file.commit());
        written.map_err(|source| ReportError {
            path: self.path,
            source,
        })
    }
}

/// Write `value` as pretty JSON to `path` through a temporary file, so the document is whole or absent.
pub fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    ReservedJson::reserve(path)?.write(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_failed_rows_file_is_private_even_over_a_public_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failed.csv");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let header = ByteRecord::from(vec!["extension", "name", "password"]);
        let mut failed = FailedRowsWriter::create(&path, &header, b',').unwrap();
        failed
            .write(&ByteRecord::from(vec!["101", "-1+1", "'=dmin-1"]))
            .unwrap();
        failed.flush().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "extension,name,password\n101,'-1+1,'=dmin-1\n",
            "formulas guarded, an existing guard kept as it was"
        );
    }

    #[test]
    fn outputs_that_cannot_be_created_are_found_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_can_create(&dir.path().join("plan.json")).is_ok());
        let missing = dir.path().join("no/such/dir/plan.json");
        let err = check_can_create(&missing).unwrap_err();
        assert_eq!(err.path, missing);
        assert!(
            check_can_create(dir.path()).is_err(),
            "a directory is no file"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the check leaves nothing behind"
        );
    }
}
