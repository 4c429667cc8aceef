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
use crate::export::xlsx;
use crate::model::{Outcome, Status};

pub mod html;
pub mod latency;
pub mod summary;

pub const RESULT_COLUMNS: [&str; 10] = [
    "row",
    "extension",
    "agent_id",
    "action",
    "outcome",
    "http_status",
    "attempts",
    "message",
    // The file's own number for the row: its line in a CSV, its row in a workbook's sheet.
    "source_row",
    "requests",
];

/// How many distinct reasons the summary keeps before lumping the rest together.
const MAX_REASONS: usize = 200;
const EXAMPLE_ROWS: usize = 5;
/// Entries a summary keeps of each of its lists (failed rows, joined users, a plan's users): what
/// an HTML page shows; the page says how many more there are and which file holds them all.
pub const LIST_KEPT: usize = 1_000;

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
    held_by_another_run(&file).map_err(error)?;
    file.set_len(0).map_err(error)?;
    Ok(file)
}

/// Takes `file`'s lock, or says that another run holds it.
fn held_by_another_run(file: &File) -> io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "another roster run is writing this file right now",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
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

    pub fn write(&mut self, outcome: &Outcome, source_row: u64) -> Result<(), ReportError> {
        let row = outcome.row.to_string();
        let source_row = source_row.to_string();
        let http_status = outcome
            .http_status
            .map(|s| s.to_string())
            .unwrap_or_default();
        let attempts = outcome.attempts.to_string();
        let requests = outcome.requests.to_string();
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
                &source_row,
                &requests,
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

/// Columns the failed-rows file adds after the input's own, and that import reads past: the
/// row's number in the file that was run (the results report's `row`) and why it failed.
pub const FAILED_ROW_COLUMNS: [&str; 2] = ["original_row", "failure_reason"];

/// The original rows of every failed or invalid row, ready to fix and re-run: the input's header
/// and cells, then [`FAILED_ROW_COLUMNS`]. A CSV, or a workbook when the path ends in `.xlsx`.
pub struct FailedRowsWriter {
    path: PathBuf,
    /// Input columns left out: an earlier failed-rows file's own added columns, replaced.
    dropped: Vec<usize>,
    /// Cells in the input's header: a short row is padded to it, so that the added columns
    /// stay under their names.
    width: usize,
    format: FailedFormat,
}

enum FailedFormat {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    /// Rows are held until the end: a worksheet is written whole, and one that would outgrow
    /// [`xlsx::MAX_ROWS`] turns into a CSV instead.
    Xlsx {
        file: File,
        sheet_name: String,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

impl FailedRowsWriter {
    /// `sheet_name` names the workbook's sheet (the input's, when it was a workbook).
    pub fn create(
        path: &Path,
        header: &ByteRecord,
        delimiter: u8,
        sheet_name: &str,
    ) -> Result<FailedRowsWriter, ReportError> {
        // The rows carry the sheet's passwords: readable by the owner only, from creation on.
        let file = create_locked(path, 0o600)?;
        let dropped: Vec<usize> = header
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                std::str::from_utf8(name).is_ok_and(|name| {
                    FAILED_ROW_COLUMNS.contains(&crate::input::header::normalise(name).as_str())
                })
            })
            .map(|(index, _)| index)
            .collect();
        let width = header.len();
        let header = kept_cells(
            &dropped,
            width,
            header,
            FAILED_ROW_COLUMNS.map(Cow::Borrowed),
        );
        let format = if xlsx::is_xlsx_path(path) {
            FailedFormat::Xlsx {
                file,
                sheet_name: sheet_name.to_string(),
                header: header
                    .iter()
                    .map(|cell| String::from_utf8_lossy(cell).into_owned())
                    .collect(),
                rows: Vec::new(),
            }
        } else {
            let mut csv = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .flexible(true)
                .from_writer(BufWriter::new(file));
            csv.write_record(&header).map_err(report_error(path))?;
            FailedFormat::Csv(Box::new(csv))
        };
        Ok(FailedRowsWriter {
            path: path.to_path_buf(),
            dropped,
            width,
            format,
        })
    }

    /// Write the failed `record`, data row `row` of the input, and `reason`. In a CSV every cell
    /// is guarded against formulas the way an export is: the cell imports back as the same value,
    /// and a spreadsheet that opens the file runs nothing. A workbook holds the values themselves.
    pub fn write(
        &mut self,
        record: &ByteRecord,
        row: u64,
        reason: &str,
    ) -> Result<(), ReportError> {
        let added = [row.to_string().into(), reason.into()];
        let cells = kept_cells(&self.dropped, self.width, record, added);
        let value = |cell: &[u8]| match std::str::from_utf8(cell) {
            Ok(text) => Ok(without_formula_guard(text).to_string()),
            Err(_) => Err(cell.to_vec()),
        };
        match &mut self.format {
            FailedFormat::Csv(writer) => {
                let guarded = cells.iter().map(|cell| match value(cell) {
                    Ok(text) => neutralise_formula(&text).into_bytes(),
                    Err(bytes) => bytes,
                });
                writer
                    .write_record(guarded)
                    .map_err(report_error(&self.path))
            }
            FailedFormat::Xlsx { rows, .. } => {
                rows.push(
                    cells
                        .iter()
                        .map(|cell| {
                            value(cell).unwrap_or_else(|b| String::from_utf8_lossy(&b).into_owned())
                        })
                        .collect(),
                );
                if rows.len() as u64 >= xlsx::MAX_ROWS {
                    self.fall_back_to_csv()?;
                }
                Ok(())
            }
        }
    }

    /// Past the rows a worksheet holds: the same rows as a CSV beside the workbook's name.
    fn fall_back_to_csv(&mut self) -> Result<(), ReportError> {
        let FailedFormat::Xlsx { header, rows, .. } = &mut self.format else {
            return Ok(());
        };
        let (header, rows) = (std::mem::take(header), std::mem::take(rows));
        let csv_path = self.path.with_extension("csv");
        tracing::warn!(
            "more failed rows than a worksheet holds ({} rows): writing {} instead of {}",
            xlsx::MAX_ROWS,
            csv_path.display(),
            self.path.display()
        );
        let _ = std::fs::remove_file(&self.path);
        let file = create_locked(&csv_path, 0o600)?;
        let mut writer = csv::Writer::from_writer(BufWriter::new(file));
        for row in std::iter::once(&header).chain(&rows) {
            writer
                .write_record(row.iter().map(|cell| neutralise_formula(cell)))
                .map_err(report_error(&csv_path))?;
        }
        self.path = csv_path;
        self.format = FailedFormat::Csv(Box::new(writer));
        Ok(())
    }

    /// Flush a CSV; write a workbook whole. Returns the file written, which is a CSV beside the
    /// path asked for when the rows outgrew a worksheet.
    pub fn finish(&mut self) -> Result<PathBuf, ReportError> {
        let error = |source| ReportError {
            path: self.path.clone(),
            source,
        };
        match &mut self.format {
            FailedFormat::Csv(writer) => writer.flush().map_err(error)?,
            FailedFormat::Xlsx {
                file,
                sheet_name,
                header,
                rows,
            } => {
                let titles: Vec<&str> = header.iter().map(String::as_str).collect();
                let mut sheet = xlsx::XlsxSheet::new(sheet_name, &titles).map_err(error)?;
                for row in rows.iter() {
                    let cells: Vec<xlsx::Cell<'_>> =
                        row.iter().map(|cell| xlsx::Cell::Text(cell)).collect();
                    sheet.push(&cells).map_err(error)?;
                }
                let bytes = sheet.finish().map_err(error)?;
                file.write_all(&bytes).map_err(error)?;
                file.sync_all().map_err(error)?;
            }
        }
        Ok(self.path.clone())
    }
}

/// The cells of `record`, padded to `width`, but the `dropped` ones, and then `added`.
fn kept_cells(
    dropped: &[usize],
    width: usize,
    record: &ByteRecord,
    added: [Cow<'_, str>; 2],
) -> Vec<Vec<u8>> {
    let padding = width.saturating_sub(record.len());
    record
        .iter()
        .chain(std::iter::repeat_n(&b""[..], padding))
        .enumerate()
        .filter(|(index, _)| !dropped.contains(index))
        .map(|(_, cell)| cell.to_vec())
        .chain(added.into_iter().map(|cell| cell.into_owned().into_bytes()))
        .collect()
}

/// Counts per outcome and per reason, with example rows.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: BTreeMap<Status, u64>,
    pub actions: BTreeMap<&'static str, u64>,
    reasons: HashMap<String, Reason>,
    /// The first [`LIST_KEPT`] rows that failed or were invalid, in the order they finished.
    pub failures: Vec<FailedRow>,
}

/// A row that failed or was invalid, as the results report has it (no cell of the sheet, so
/// never a password).
#[derive(Debug, Clone, Serialize)]
pub struct FailedRow {
    pub row: u64,
    pub extension: String,
    pub agent_id: String,
    pub action: &'static str,
    pub outcome: &'static str,
    pub http_status: Option<u16>,
    pub message: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Reason {
    pub message: String,
    pub outcome: &'static str,
    pub count: u64,
    pub example_rows: Vec<u64>,
}

impl Reason {
    fn note(&mut self, row: u64) {
        self.count += 1;
        if self.example_rows.len() < EXAMPLE_ROWS {
            self.example_rows.push(row);
        }
    }
}

impl Tally {
    /// Count `outcome`; `reason` is its message with row-specific values left out, so that rows
    /// failing for the same cause group together.
    pub fn record(&mut self, outcome: &Outcome, reason: Option<&str>) {
        *self.counts.entry(outcome.status).or_default() += 1;
        if matches!(outcome.status, Status::Failed | Status::Invalid) && self.keeps_more_failures()
        {
            self.failures.push(FailedRow {
                row: outcome.row,
                extension: outcome.extension.clone(),
                agent_id: outcome.agent_id.clone(),
                action: outcome.action.as_str(),
                outcome: outcome.status.as_str(),
                http_status: outcome.http_status,
                message: outcome.message.clone(),
            });
        }
        if outcome.status != Status::Skipped || outcome.action != crate::model::Action::None {
            *self.actions.entry(outcome.action.as_str()).or_default() += 1;
        }
        let Some(reason) = reason else { return };
        let key = if self.reasons.len() >= MAX_REASONS && !self.reasons.contains_key(reason) {
            "(other reasons)"
        } else {
            reason
        };
        // Looked up by text first: most rows repeat a reason already counted, and a key is
        // made only for a new one.
        match self.reasons.get_mut(key) {
            Some(counted) => counted.note(outcome.row),
            None => {
                let mut first = Reason {
                    message: key.to_string(),
                    outcome: outcome.status.as_str(),
                    ..Reason::default()
                };
                first.note(outcome.row);
                self.reasons.insert(key.to_string(), first);
            }
        }
    }

    /// True while a failed or invalid row recorded next would join [`Tally::failures`]; after
    /// that, the tally never reads a row's message.
    pub fn keeps_more_failures(&self) -> bool {
        self.failures.len() < LIST_KEPT
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
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(error)?;
        // Released at once: the run takes its own lock when it opens the file, but a run already
        // holding it shows here, before anything is sent, instead of after an account walk.
        held_by_another_run(&file).map_err(error)?;
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

/// A document written when a run ends (its JSON summary, its HTML page), reserved when it starts:
/// its directory is tried and its lock held from the first moment, so a mistake shows before
/// anything is sent and two runs sharing one `--summary` cannot both finish. Whole or absent, like
/// every atomic output.
pub struct ReservedOutput {
    path: PathBuf,
    file: AtomicFile,
}

impl ReservedOutput {
    pub fn reserve(path: &Path) -> Result<ReservedOutput, ReportError> {
        let file = AtomicFile::create(path, false).map_err(|source| ReportError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ReservedOutput {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `value` as JSON with an entry to a line ([`Sections`]), put in place.
    pub fn write<T: Serialize>(mut self, value: &T) -> Result<(), ReportError> {
        let out = self.file.writer();
        let written = value
            .serialize(&mut serde_json::Serializer::with_formatter(
                &mut *out,
                Sections::default(),
            ))
            .map_err(io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| self.file.commit());
        written.map_err(|source| ReportError {
            path: self.path,
            source,
        })
    }
}

impl ReservedOutput {
    /// The HTML page `html` (see [`html`]) put in place instead of a JSON document.
    pub fn write_html(mut self, html: &str) -> Result<(), ReportError> {
        let out = self.file.writer();
        let written = out
            .write_all(html.as_bytes())
            .and_then(|()| self.file.commit());
        written.map_err(|source| ReportError {
            path: self.path,
            source,
        })
    }
}

/// JSON laid out as pretty JSON down to a document's sections (its top-level fields and their
/// lists), with each entry of a section on one line: a plan of a million users is a million
/// lines, not seven million, about half the bytes, and a user is one line to find with `grep`.
#[derive(Default)]
struct Sections {
    depth: usize,
    /// The container being closed holds something.
    has_value: bool,
}

impl Sections {
    /// Containers this deep or shallower are laid out a member to a line.
    const LINED: usize = 2;

    fn next_member<W: ?Sized + Write>(&self, out: &mut W, first: bool) -> io::Result<()> {
        if self.depth > Self::LINED {
            return out.write_all(if first { b"" } else { b", " });
        }
        out.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(out, self.depth)
    }

    fn open<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        out.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.depth < Self::LINED && self.has_value {
            out.write_all(b"\n")?;
            self.indent(out, self.depth)?;
        }
        out.write_all(bracket)
    }

    fn indent<W: ?Sized + Write>(&self, out: &mut W, depth: usize) -> io::Result<()> {
        (0..depth).try_for_each(|_| out.write_all(b"  "))
    }
}

impl serde_json::ser::Formatter for Sections {
    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.next_member(out, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.next_member(out, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Write `value` as JSON ([`Sections`]) to `path` through a temporary file, so the document is whole or absent.
pub fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    ReservedOutput::reserve(path)?.write(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_pretty_down_to_its_sections_with_an_entry_to_a_line() {
        #[derive(Serialize)]
        struct Entry {
            name: &'static str,
            tags: Vec<u8>,
        }
        #[derive(Serialize)]
        struct Plan {
            counts: BTreeMap<&'static str, u8>,
            create: Vec<Entry>,
            update: Vec<Entry>,
            note: &'static str,
        }
        let plan = Plan {
            counts: BTreeMap::from([("create", 2), ("update", 0)]),
            create: vec![
                Entry {
                    name: "Asha \"A\" Rao",
                    tags: vec![1, 2],
                },
                Entry {
                    name: "Ben",
                    tags: vec![],
                },
            ],
            update: vec![],
            note: "x",
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_json_atomically(&path, &plan).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            r#"{
  "counts": {
    "create": 2,
    "update": 0
  },
  "create": [
    {"name": "Asha \"A\" Rao", "tags": [1, 2]},
    {"name": "Ben", "tags": []}
  ],
  "update": [],
  "note": "x"
}
"#
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            serde_json::to_value(&plan).unwrap()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_rows_file_is_private_even_over_a_public_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failed.csv");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let header = ByteRecord::from(vec!["extension", "name", "password"]);
        let mut failed = FailedRowsWriter::create(&path, &header, b',', "Sheet1").unwrap();
        failed
            .write(
                &ByteRecord::from(vec!["101", "-1+1", "'=dmin-1"]),
                4,
                "=bad",
            )
            .unwrap();
        failed.finish().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "extension,name,password,original_row,failure_reason\n101,'-1+1,'=dmin-1,4,'=bad\n",
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
