//! Reading spreadsheets: encoding and delimiter sniffing, header mapping, streaming records.

pub mod decode;
pub mod header;

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

pub use decode::TextEncoding;
pub use header::{Column, ColumnMap};

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
    #[error("{path} looks like {kind}, not a CSV file: save it as \"CSV UTF-8\" and try again")]
    NotText { path: PathBuf, kind: &'static str },
    #[error("{path}: {problem}")]
    Header { path: PathBuf, problem: String },
}

/// An open spreadsheet, positioned after its header.
pub struct Sheet {
    path: PathBuf,
    reader: csv::Reader<Box<dyn Read + Send>>,
    header: ByteRecord,
    columns: ColumnMap,
    encoding: TextEncoding,
    delimiter: u8,
    rows_read: u64,
}

/// Where a data record sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPosition {
    /// 1-based data row (the first row after the header is 1).
    pub row: u64,
    /// 1-based line the record starts on (differs from `row + 1` when cells hold newlines).
    pub line: u64,
}

impl Sheet {
    /// Open `path`, detect its encoding and delimiter, and read and map its header.
    pub fn open(
        path: &Path,
        delimiter: Delimiter,
        encoding: TextEncoding,
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
        let (encoding, bom_len) = match decode::sniff(&head) {
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
                    let evidence = decode::Utf8Evidence::of(&head, &mut file).map_err(io_error)?;
                    file.seek(io::SeekFrom::Start(head.len() as u64))
                        .map_err(io_error)?;
                    (evidence.verdict(), 0)
                }
                TextEncoding::Auto => (found, bom_len),
                chosen => (chosen, if found == chosen { bom_len } else { 0 }),
            },
        };
        let sample = decode::decode_sample(&head[bom_len..], encoding);
        let delimiter = match delimiter {
            Delimiter::Byte(b) => b,
            Delimiter::Auto => sniff_delimiter(&sample),
        };
        let body: Box<dyn Read + Send> =
            Box::new(io::Cursor::new(head.split_off(bom_len)).chain(file));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(decode::utf8_reader(body, encoding));
        let mut header = ByteRecord::new();
        let has_header = reader
            .read_byte_record(&mut header)
            .map_err(|e| csv_io(path, e))?;
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
            reader,
            header,
            columns,
            encoding,
            delimiter,
            rows_read: 0,
        })
    }

    /// The header exactly as the file has it.
    pub fn header(&self) -> &ByteRecord {
        &self.header
    }

    pub fn columns(&self) -> &ColumnMap {
        &self.columns
    }

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
        loop {
            if !self
                .reader
                .read_byte_record(record)
                .map_err(|e| csv_io(&self.path, e))?
            {
                return Ok(None);
            }
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            self.rows_read += 1;
            let line = record.position().map_or(0, |p| p.line());
            return Ok(Some(RowPosition {
                row: self.rows_read,
                line,
            }));
        }
    }
}

fn csv_io(path: &Path, error: csv::Error) -> InputError {
    let source = match error.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    };
    InputError::Io {
        path: path.to_path_buf(),
        source,
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

    #[test]
    fn parses_delimiter_choices() {
        assert_eq!("auto".parse::<Delimiter>(), Ok(Delimiter::Auto));
        assert_eq!("tab".parse::<Delimiter>(), Ok(Delimiter::Byte(b'\t')));
        assert_eq!(";".parse::<Delimiter>(), Ok(Delimiter::Byte(b';')));
        assert!("ab".parse::<Delimiter>().is_err());
    }
}
