//! Reading spreadsheets: encoding and delimiter sniffing, header mapping, streaming records.

pub mod decode;
pub mod header;
pub mod workbook;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use csv::ByteRecord;

pub use decode::TextEncoding;
pub use header::{Column, ColumnMap};
pub use workbook::{CellProblem, SheetChoice};

/// How far into a file we look to guess its encoding and delimiter.
const SNIFF_BYTES: usize = 64 * 1024;

/// Field delimiter choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// Pick `,`, `;` or tab from the header line.
    Auto,
    Byte(u8),
}

impl std::str::FromStr for Delimiter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Delimiter::Auto),
            "tab" | "\\t" | "\t" => Ok(Delimiter::Byte(b'\t')),
            "comma" => Ok(Delimiter::Byte(b',')),
            "semicolon" => Ok(Delimiter::Byte(b';')),
            s if s.len() == 1 && s.is_ascii() => Ok(Delimiter::Byte(s.as_bytes()[0])),
            _ => {
                Err("expected auto, a single ASCII character, tab, comma or semicolon".to_string())
            }
        }
    }
}

/// How much of a sheet roster holds at once. A file past these is refused with the place and the
/// flag that raises the cap, so no input, however damaged, can grow roster's memory unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One record (row), all its cells together.
    pub record_bytes: u64,
    /// One cell.
    pub field_bytes: u64,
    /// Columns of the header.
    pub columns: usize,
    /// A whole workbook file, which is loaded into memory to be read.
    pub workbook_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            record_bytes: 1 << 20,
            field_bytes: 64 << 10,
            columns: 10_000,
            workbook_bytes: 64 << 20,
        }
    }
}

/// Problems with the file as a whole: nothing can be sent (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is empty: expected a header row and data rows")]
    Empty { path: PathBuf },
    #[error("{path} looks like {kind}, not a CSV file or a workbook roster reads")]
    NotText { path: PathBuf, kind: &'static str },
    #[error("{path}: {problem}")]
    Header { path: PathBuf, problem: String },
    /// Past one of the [`Limits`]: `at` names the row or header, `flag` the way to raise it.
    #[error("{path}: {at}: {problem} (the limit is {limit} bytes; raise it with {flag} to read this file)")]
    TooLarge {
        path: PathBuf,
        at: String,
        problem: String,
        limit: u64,
        flag: &'static str,
    },
}

impl InputError {
    /// The same problem, naming the file `name` (a spooled copy by what was given).
    pub fn named(mut self, name: &Path) -> InputError {
        let (InputError::Io { path, .. }
        | InputError::Empty { path }
        | InputError::NotText { path, .. }
        | InputError::Header { path, .. }
        | InputError::TooLarge { path, .. }) = &mut self;
        name.clone_into(path);
        self
    }
}

/// The error a [`Bounded`] reader returns once a record outgrows its limit.
#[derive(Debug, thiserror::Error)]
#[error("record over the limit")]
struct RecordTooLarge;

/// A reader that refuses to hand the CSV parser more than `limit` bytes (plus the parser's own
/// buffer) past the start of the record being read, so that a file without line ends cannot
/// grow the record without bound.
struct Bounded {
    inner: Box<dyn Read + Send>,
    delivered: u64,
    record_start: std::sync::Arc<std::sync::atomic::AtomicU64>,
    limit: u64,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = self.record_start.load(std::sync::atomic::Ordering::Relaxed);
        if self.delivered.saturating_sub(start) > self.limit {
            return Err(io::Error::other(RecordTooLarge));
        }
        let n = self.inner.read(buf)?;
        self.delivered += n as u64;
        Ok(n)
    }
}

/// Whether a text file's encoding is voted on (see [`decode::Utf8Evidence`]), and when.
enum Vote {
    /// Chosen, or told by a BOM or by UTF-16's zero bytes.
    NotTaken,
    /// Over the whole file, before its header: the head has a byte that is not ASCII.
    Taken,
    /// At the first byte that is not ASCII, if any: the head has none.
    PutOff,
}

/// An open spreadsheet, positioned after its header.
pub struct Sheet {
    path: PathBuf,
    source: Source,
    limits: Limits,
    header: ByteRecord,
    columns: ColumnMap,
    encoding: TextEncoding,
    delimiter: u8,
    rows_read: u64,
    /// What the cell types of the last record read make wrong (workbooks only).
    cell_problems: Vec<CellProblem>,
}

enum Source {
    Text {
        reader: csv::Reader<Bounded>,
        /// Where the record being read starts, for the [`Bounded`] reader under the parser.
        record_start: std::sync::Arc<std::sync::atomic::AtomicU64>,
        /// The verdict of the vote between UTF-8 and Windows-1252, when one was taken, until it
        /// is taken in (and a guess of Windows-1252 said) at the next record: a vote may be put
        /// off to the first byte that is not ASCII ([`decode::VotedAtFirstNonAscii`]).
        vote: Option<Arc<OnceLock<TextEncoding>>>,
    },
    Workbook(Box<workbook::WorkbookRows>),
}

/// Where a data record sits in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowPosition {
    /// 1-based data row (the first row after the header is 1).
    pub row: u64,
    /// The file's own 1-based number for the record: the line a CSV record starts on (past
    /// `row + 1` when cells hold newlines), or the row of a workbook's sheet as Excel shows it.
    pub source_row: u64,
    pub unit: SourceUnit,
}

/// What a [`RowPosition::source_row`] counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceUnit {
    #[default]
    Line,
    SheetRow,
}

impl std::fmt::Display for RowPosition {
    /// `row 17 (line 19)` or `row 17 (sheet row 18)`: the one form every message uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            SourceUnit::Line => "line",
            SourceUnit::SheetRow => "sheet row",
        };
        write!(f, "row {} ({unit} {})", self.row, self.source_row)
    }
}

impl Sheet {
    /// The sheet, naming itself `name` in the problems it reports from here on.
    pub fn named(mut self, name: &Path) -> Sheet {
        name.clone_into(&mut self.path);
        self
    }

    /// Open `path`, detect its encoding and delimiter, and read and map its header, within the
    /// default [`Limits`].
    pub fn open(
        path: &Path,
        delimiter: Delimiter,
        encoding: TextEncoding,
    ) -> Result<Sheet, InputError> {
        Sheet::open_within(
            path,
            delimiter,
            encoding,
            &SheetChoice::First,
            Limits::default(),
        )
    }

    /// [`Sheet::open`] within `limits`; `sheet` picks the sheet of a workbook.
    pub fn open_within(
        path: &Path,
        delimiter: Delimiter,
        encoding: TextEncoding,
        sheet: &SheetChoice,
        limits: Limits,
    ) -> Result<Sheet, InputError> {
        let io_error = |source| InputError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io_error)?;
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        (&mut file)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(io_error)?;
        if head.is_empty() {
            return Err(InputError::Empty {
                path: path.to_path_buf(),
            });
        }
        if workbook::is_workbook(&head) {
            return Sheet::open_workbook(path, head, file, sheet, limits);
        }
        let (encoding, bom_len, vote) = match decode::sniff(&head) {
            decode::Sniffed::Binary(kind) => {
                return Err(InputError::NotText {
                    path: path.to_path_buf(),
                    kind,
                })
            }
            decode::Sniffed::Text {
                encoding: found,
                bom_len,
            } => match encoding {
                // No BOM and not UTF-16: the whole file decides between UTF-8 and Windows-1252.
                TextEncoding::Auto
                    if bom_len == 0
                        && found != TextEncoding::Utf16Le
                        && found != TextEncoding::Utf16Be =>
                {
                    if head.is_ascii() {
                        (TextEncoding::Utf8, 0, Vote::PutOff)
                    } else {
                        let evidence =
                            decode::Utf8Evidence::of_file(&head, &file, head.len() as u64)
                                .map_err(io_error)?;
                        (evidence.verdict(), 0, Vote::Taken)
                    }
                }
                TextEncoding::Auto => (found, bom_len, Vote::NotTaken),
                chosen => (
                    chosen,
                    if found == chosen { bom_len } else { 0 },
                    Vote::NotTaken,
                ),
            },
        };
        let sample = decode::decode_sample(&head[bom_len..], encoding);
        let delimiter = match delimiter {
            Delimiter::Byte(b) => b,
            Delimiter::Auto => sniff_delimiter(&sample),
        };
        let head = head.split_off(bom_len);
        let body = |file| -> Box<dyn Read + Send> { Box::new(io::Cursor::new(head).chain(file)) };
        let (inner, vote) = match vote {
            Vote::PutOff => {
                let ahead = file.try_clone().map_err(io_error)?;
                let (reader, verdict) = decode::VotedAtFirstNonAscii::new(body(file), ahead);
                (Box::new(reader) as Box<dyn Read + Send>, Some(verdict))
            }
            // Taken in at the first record, as a vote put off is.
            Vote::Taken => (
                decode::utf8_reader(body(file), encoding),
                Some(Arc::new(OnceLock::from(encoding))),
            ),
            Vote::NotTaken => (decode::utf8_reader(body(file), encoding), None),
        };
        let record_start = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let bounded = Bounded {
            inner,
            delivered: 0,
            record_start: std::sync::Arc::clone(&record_start),
            limit: limits.record_bytes,
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(PARSER_BUFFER)
            .from_reader(bounded);
        let mut header = ByteRecord::new();
        let has_header = reader
            .read_byte_record(&mut header)
            .map_err(|e| read_error(path, e, &"the header row", limits))?;
        check_size(path, &header, &"the header row", limits)?;
        if header.len() > limits.columns {
            return Err(InputError::Header {
                path: path.to_path_buf(),
                problem: format!(
                    "the header has {} columns; roster reads sheets of at most {}",
                    header.len(),
                    limits.columns
                ),
            });
        }
        record_start.store(
            reader.position().byte(),
            std::sync::atomic::Ordering::Relaxed,
        );
        if !has_header
            || header
                .iter()
                .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
        {
            return Err(InputError::Header {
                path: path.to_path_buf(),
                problem: "the first line is empty: expected a header row naming the columns"
                    .to_string(),
            });
        }
        let columns = ColumnMap::from_header(&header).map_err(|problem| InputError::Header {
            path: path.to_path_buf(),
            problem,
        })?;
        Ok(Sheet {
            path: path.to_path_buf(),
            source: Source::Text {
                reader,
                record_start,
                vote,
            },
            limits,
            header,
            columns,
            encoding,
            delimiter,
            rows_read: 0,
            cell_problems: Vec::new(),
        })
    }

    /// A workbook: loaded whole (within [`Limits::workbook_bytes`]), the chosen sheet read.
    fn open_workbook(
        path: &Path,
        mut bytes: Vec<u8>,
        mut rest: File,
        sheet: &SheetChoice,
        limits: Limits,
    ) -> Result<Sheet, InputError> {
        let io_error = |source| InputError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = rest.metadata().map_err(io_error)?.len();
        if size > limits.workbook_bytes {
            return Err(InputError::TooLarge {
                path: path.to_path_buf(),
                at: "the workbook".to_string(),
                problem: format!("a file of {size} bytes, read into memory whole"),
                limit: limits.workbook_bytes,
                flag: "--max-workbook-bytes",
            });
        }
        (&mut rest)
            .take(limits.workbook_bytes + 1 - bytes.len() as u64)
            .read_to_end(&mut bytes)
            .map_err(io_error)?;
        let rows = workbook::WorkbookRows::open(path, &bytes, sheet, limits.columns)?;
        check_size(path, &rows.header, &"the header row", limits)?;
        Ok(Sheet {
            path: path.to_path_buf(),
            limits,
            header: rows.header.clone(),
            columns: rows.columns.clone(),
            source: Source::Workbook(Box::new(rows)),
            encoding: TextEncoding::Utf8,
            delimiter: b',',
            rows_read: 0,
            cell_problems: Vec::new(),
        })
    }

    /// Whether the sheet is a workbook's (else a text file).
    pub fn is_workbook(&self) -> bool {
        matches!(self.source, Source::Workbook(_))
    }

    /// The workbook's sheet being read; `Sheet1` for a text file, as a spreadsheet names it.
    pub fn sheet_name(&self) -> &str {
        match &self.source {
            Source::Workbook(rows) => &rows.sheet_name,
            Source::Text { .. } => "Sheet1",
        }
    }

    /// What the cell types of the last record read make wrong: a workbook's number that lost
    /// digits, an error cell, a date. Always empty for a text file.
    pub fn cell_problems(&self) -> &[CellProblem] {
        &self.cell_problems
    }

    /// The header exactly as the file has it.
    pub fn header(&self) -> &ByteRecord {
        &self.header
    }

    pub fn columns(&self) -> &ColumnMap {
        &self.columns
    }

    /// The encoding of the records read so far: UTF-8 while a vote put off to the first byte
    /// that is not ASCII has found nothing else (a sheet read to its end has found it).
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Read the next data record into `record` (reused to avoid allocating per row).
    /// Blank lines are skipped, as every spreadsheet program does.
    pub fn next_record(
        &mut self,
        record: &mut ByteRecord,
    ) -> Result<Option<RowPosition>, InputError> {
        let at = RowNumber(self.rows_read + 1);
        let (source_row, unit) = match &mut self.source {
            Source::Text {
                reader,
                record_start,
                vote,
            } => loop {
                let more = reader
                    .read_byte_record(record)
                    .map_err(|e| read_error(&self.path, e, &at, self.limits))?;
                record_start.store(
                    reader.position().byte(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                if let Some(&found) = vote.as_ref().and_then(|vote| vote.get()) {
                    *vote = None;
                    self.encoding = found;
                    // Said under the name messages use, once the sheet has it.
                    if found == TextEncoding::Windows1252 {
                        tracing::warn!(
                            "{} is not UTF-8; reading it as Windows-1252 (pass --encoding to choose another)",
                            self.path.display()
                        );
                    }
                }
                if !more {
                    return Ok(None);
                }
                if record.len() == 1 && record[0].is_empty() {
                    continue;
                }
                break (record.position().map_or(0, |p| p.line()), SourceUnit::Line);
            },
            Source::Workbook(rows) => {
                let Some(read) = rows.read_into(record, &mut self.cell_problems) else {
                    return Ok(None);
                };
                let mut position = csv::Position::new();
                position.set_byte(read.byte);
                record.set_position(Some(position));
                (read.sheet_row, SourceUnit::SheetRow)
            }
        };
        check_size(&self.path, record, &at, self.limits)?;
        self.rows_read += 1;
        Ok(Some(RowPosition {
            row: self.rows_read,
            source_row,
            unit,
        }))
    }
}

/// What the CSV parser reads ahead of the record it is on: the slack on top of the record limit.
const PARSER_BUFFER: usize = 256 * 1024;

/// "row N" in a message, written only when there is one to write.
struct RowNumber(u64);

impl fmt::Display for RowNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.0)
    }
}

fn read_error(path: &Path, error: csv::Error, at: &dyn fmt::Display, limits: Limits) -> InputError {
    let source = match error.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    };
    if source
        .get_ref()
        .is_some_and(|inner| inner.is::<RecordTooLarge>())
    {
        let problem = "the record is still going at the limit (a huge cell, a missing line end, or an unclosed quote?)";
        return record_too_large(path, at, limits, problem.to_string());
    }
    InputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn record_too_large(
    path: &Path,
    at: &dyn fmt::Display,
    limits: Limits,
    problem: String,
) -> InputError {
    InputError::TooLarge {
        path: path.to_path_buf(),
        at: at.to_string(),
        problem,
        limit: limits.record_bytes,
        flag: "--max-record-bytes",
    }
}

/// The record and each of its cells within the limits.
fn check_size(
    path: &Path,
    record: &ByteRecord,
    at: &dyn fmt::Display,
    limits: Limits,
) -> Result<(), InputError> {
    let size = record.as_slice().len() as u64;
    if size > limits.record_bytes {
        let problem = format!("a record of {size} bytes");
        return Err(record_too_large(path, at, limits, problem));
    }
    if size <= limits.field_bytes {
        return Ok(());
    }
    match record
        .iter()
        .position(|cell| cell.len() as u64 > limits.field_bytes)
    {
        None => Ok(()),
        Some(column) => Err(InputError::TooLarge {
            path: path.to_path_buf(),
            at: format!("{at}, column {}", column + 1),
            problem: format!("a cell of {} bytes", record[column].len()),
            limit: limits.field_bytes,
            flag: "--max-field-bytes",
        }),
    }
}

/// The delimiter among `,` `;` and tab that splits the header line into the most fields,
/// counting only those outside quotes. Comma wins ties.
pub fn sniff_delimiter(sample: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in sample.bytes() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                for (delimiter, count) in counts.iter_mut() {
                    if byte == *delimiter {
                        *count += 1;
                    }
                }
            }
            _ => {}
        }
    }
    counts
        .iter()
        .max_by_key(|(delimiter, count)| (*count, *delimiter == b','))
        .map(|(delimiter, _)| *delimiter)
        .unwrap_or(b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_delimiter_from_the_header_line() {
        assert_eq!(sniff_delimiter("extension;name;phone\n1,2;3"), b';');
        assert_eq!(sniff_delimiter("extension\tname\tphone"), b'\t');
        assert_eq!(sniff_delimiter("\"a;b\",c,d\n"), b',');
        assert_eq!(sniff_delimiter("extension"), b',');
    }

    fn sheet(content: &[u8], limits: Limits) -> Result<Vec<u64>, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, content).unwrap();
        let mut sheet = Sheet::open_within(
            &path,
            Delimiter::Auto,
            TextEncoding::Auto,
            &SheetChoice::First,
            limits,
        )?;
        let mut record = ByteRecord::new();
        let mut rows = Vec::new();
        while let Some(position) = sheet.next_record(&mut record)? {
            rows.push(position.row);
        }
        Ok(rows)
    }

    #[test]
    fn every_cap_names_the_place_and_the_flag() {
        let limits = Limits {
            record_bytes: 64,
            field_bytes: 16,
            columns: 4,
            ..Limits::default()
        };
        let ok = b"extension,name\n101,Asha Rao\n102,Bo Lin\n";
        assert_eq!(sheet(ok, limits).unwrap(), [1, 2]);

        let cell = format!("extension,name\n101,Asha\n102,{}\n", "x".repeat(17));
        let err = sheet(cell.as_bytes(), limits).unwrap_err().to_string();
        assert!(err.contains("row 2, column 2: a cell of 17 bytes"), "{err}");
        assert!(err.contains("--max-field-bytes"), "{err}");

        let endless = format!("extension,name\n101,\"{}", "x,".repeat(100_000));
        let err = sheet(endless.as_bytes(), limits).unwrap_err().to_string();
        assert!(err.contains("row 1: the record is still going"), "{err}");
        assert!(err.contains("--max-record-bytes"), "{err}");

        let err = sheet(b"a,b,c,d,e\n1,2,3,4,5\n", limits).unwrap_err();
        assert!(err.to_string().contains("5 columns"), "{err}");
    }

    #[test]
    fn parses_delimiter_choices() {
        assert_eq!("auto".parse::<Delimiter>(), Ok(Delimiter::Auto));
        assert_eq!("tab".parse::<Delimiter>(), Ok(Delimiter::Byte(b'\t')));
        assert_eq!(";".parse::<Delimiter>(), Ok(Delimiter::Byte(b';')));
        assert!("ab".parse::<Delimiter>().is_err());
    }
}
