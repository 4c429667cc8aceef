//! Workbooks (`.xlsx`, `.xlsm`, `.xls`, `.xlsb`, `.ods`) read with calamine, one sheet at a time.
//!
//! The rules, at the boundary where a typed cell becomes the text every other stage reads:
//! - the format is told by content (`PK` zip or `D0 CF 11 E0` compound file), the name only
//!   orders the zip formats tried;
//! - the first visible worksheet is read unless `--sheet NAME|INDEX` picks another;
//! - the header is the first non-empty row; blank rows are skipped as blank lines are in a CSV;
//! - a number holding an integer becomes its exact digits (919812300317.0 → `919812300317`), so
//!   a phone that Excel *shows* as `9.19812E+11` arrives whole;
//! - in a phone or extension column a fraction, or a number past the 15 significant digits a
//!   spreadsheet keeps, is a [`CellProblem`]: the digits are already lost;
//! - booleans become `true`/`false`; a formula gives its cached value;
//! - error cells (`#N/A`) and date or time cells in a column roster reads are problems: no
//!   roster field is a date, and a date's serial number is not what the admin typed.
//!
//! A sheet is loaded whole, so the file is refused past [`super::Limits::workbook_bytes`]; each
//! row is then held to the same record, cell and column caps as a CSV.

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Range, Reader, SheetType, SheetVisible, Sheets};
use csv::ByteRecord;

use super::header::Column;
use super::{ColumnMap, InputError};
use crate::export::record::neutralise_formula;

/// Which sheet of a workbook to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SheetChoice {
    /// The first visible worksheet.
    #[default]
    First,
    /// A sheet by name, or else by its 1-based place among the sheets.
    Named(String),
}

impl std::str::FromStr for SheetChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err("expected a sheet name or its number (1 is the first)".to_string());
        }
        Ok(SheetChoice::Named(s.to_string()))
    }
}

/// The two containers workbooks come in, told by their first bytes.
pub fn is_workbook(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}

/// Digits a spreadsheet keeps in a number; past them it has rounded what was typed.
const SIGNIFICANT_DIGITS: usize = 15;

/// A cell whose type makes its text wrong for its column, found while the type is still known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellProblem {
    /// 0-based column.
    pub column: usize,
    pub rule: String,
}

/// How strictly a column's cells are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not read by roster: any cell becomes text.
    Ignored,
    /// Phone numbers and extensions: whole numbers only.
    Digits,
    /// Every other column roster reads.
    Text,
}

/// The rows of one sheet, after its header.
pub struct WorkbookRows {
    range: Range<Data>,
    /// Index in `range` of the next row to read.
    next: usize,
    /// 1-based sheet row of `range`'s first row.
    first_sheet_row: u64,
    kinds: Vec<Kind>,
    pub header: ByteRecord,
    pub columns: ColumnMap,
    /// The sheet read.
    pub sheet_name: String,
    /// Bytes of the file, to place each row for the progress bar.
    file_bytes: u64,
}

/// One data row read from a sheet.
pub struct WorkbookRow {
    pub sheet_row: u64,
    /// How far through the file this row is, in bytes, for progress.
    pub byte: u64,
}

impl WorkbookRows {
    /// Open `bytes` (the whole file at `path`), pick the sheet and read its header.
    pub fn open(
        path: &Path,
        bytes: &[u8],
        choice: &SheetChoice,
        max_columns: usize,
    ) -> Result<WorkbookRows, InputError> {
        let mut book = open_book(path, bytes)?;
        let names = book.sheet_names();
        let listed = || {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let index = match choice {
            SheetChoice::First => book
                .sheets_metadata()
                .iter()
                .position(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible),
            SheetChoice::Named(name) => names.iter().position(|n| n == name).or_else(|| {
                name.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| (1..=names.len()).contains(&n))
                    .map(|n| n - 1)
            }),
        };
        let header_problem = |problem: String| InputError::Header {
            path: path.to_path_buf(),
            problem,
        };
        let Some(index) = index else {
            return Err(header_problem(match choice {
                SheetChoice::First => format!(
                    "the workbook has no visible worksheet (sheets: {}): pick one with --sheet",
                    listed()
                ),
                SheetChoice::Named(name) => format!(
                    "no sheet {name:?} (sheets: {}; --sheet takes a name or a number from 1)",
                    listed()
                ),
            }));
        };
        let sheet_name = &names[index];
        let range = book
            .worksheet_range_at(index)
            .expect("the index is one of the workbook's sheets")
            .map_err(|e| unreadable(path, e))?;
        let first_sheet_row = range.start().map_or(1, |(row, _)| u64::from(row) + 1);
        let file_bytes = bytes.len() as u64;
        let mut rows = WorkbookRows {
            range,
            next: 0,
            first_sheet_row,
            kinds: Vec::new(),
            header: ByteRecord::new(),
            columns: ColumnMap::default(),
            sheet_name: sheet_name.clone(),
            file_bytes,
        };
        let no_header = |why: &str| {
            header_problem(format!(
                "sheet {sheet_name:?}: {why} (sheets: {}; pick another with --sheet)",
                listed()
            ))
        };
        let mut problems = Vec::new();
        let mut header = ByteRecord::new();
        if rows.read_into(&mut header, &mut problems).is_none() {
            return Err(no_header(
                "the sheet is empty: expected a header row naming the columns",
            ));
        }
        if header.len() > max_columns {
            return Err(header_problem(format!(
                "the header has {} columns; roster reads sheets of at most {max_columns}",
                header.len()
            )));
        }
        let columns = ColumnMap::from_header(&header).map_err(|problem| no_header(&problem))?;
        rows.kinds = (0..header.len())
            .map(|index| match columns.column_at(index) {
                None => Kind::Ignored,
                Some(Column::PhoneNumber | Column::Extension) => Kind::Digits,
                Some(_) => Kind::Text,
            })
            .collect();
        rows.header = header;
        rows.columns = columns;
        Ok(rows)
    }

    /// The next non-empty row as text, with the problems its cell types have; `None` at the end.
    pub fn read_into(
        &mut self,
        record: &mut ByteRecord,
        problems: &mut Vec<CellProblem>,
    ) -> Option<WorkbookRow> {
        let (height, range_width) = self.range.get_size();
        while self.next < height {
            let index = self.next;
            self.next += 1;
            let cells: Vec<&Data> = (0..range_width)
                .map(|column| self.range.get((index, column)).unwrap_or(&Data::Empty))
                .collect();
            let Some(last) = cells.iter().rposition(|c| !is_blank(c)) else {
                continue;
            };
            // Cells past the header that hold nothing are not cells of the row; any that hold
            // something make it as ragged as a stray delimiter would in a CSV.
            let width = (last + 1).max(self.kinds.len().min(cells.len()));
            record.clear();
            problems.clear();
            for (column, cell) in cells[..width].iter().enumerate() {
                let cell: &Data = cell;
                let kind = self.kinds.get(column).copied().unwrap_or(Kind::Ignored);
                let (text, rule) = cell_text(cell, kind);
                record.push_field(text.as_bytes());
                if let Some(rule) = rule {
                    problems.push(CellProblem { column, rule });
                }
            }
            return Some(WorkbookRow {
                sheet_row: self.first_sheet_row + index as u64,
                byte: self.file_bytes * self.next as u64 / height as u64,
            });
        }
        None
    }
}

fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(text) => text.is_empty(),
        _ => false,
    }
}

/// Try the formats a file with these first bytes can be, the one its name says first, and keep
/// the first one's error when none opens it.
fn open_book<'b>(path: &Path, bytes: &'b [u8]) -> Result<Sheets<Cursor<&'b [u8]>>, InputError> {
    use calamine::{open_workbook_from_rs as open, Ods, Xls, Xlsb, Xlsx};
    let cursor = || Cursor::new(bytes);
    if !bytes.starts_with(b"PK") {
        return open::<Xls<_>, _>(cursor())
            .map(Sheets::Xls)
            .map_err(|e| unreadable(path, e));
    }
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let mut order = [0, 1, 2];
    match extension.as_deref() {
        Some("xlsb") => order = [1, 0, 2],
        Some("ods") => order = [2, 0, 1],
        _ => {}
    }
    let mut first_error = None;
    for format in order {
        let opened = match format {
            0 => open::<Xlsx<_>, _>(cursor())
                .map(Sheets::Xlsx)
                .map_err(calamine::Error::Xlsx),
            1 => open::<Xlsb<_>, _>(cursor())
                .map(Sheets::Xlsb)
                .map_err(calamine::Error::Xlsb),
            _ => open::<Ods<_>, _>(cursor())
                .map(Sheets::Ods)
                .map_err(calamine::Error::Ods),
        };
        match opened {
            Ok(book) => return Ok(book),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(unreadable(
        path,
        first_error.expect("at least one format was tried"),
    ))
}

fn unreadable(path: &Path, error: impl std::fmt::Display) -> InputError {
    InputError::Header {
        path: path.to_path_buf(),
        problem: format!(
            "cannot read the workbook ({error}); is it damaged or password-protected?"
        ),
    }
}

/// The text a cell stands for in a column of `kind`, and what is wrong with it there.
fn cell_text(cell: &Data, kind: Kind) -> (String, Option<String>) {
    let read = kind != Kind::Ignored;
    let digits = kind == Kind::Digits;
    match cell {
        Data::Empty => (String::new(), None),
        // The rest of roster reads cells as a CSV holds them, formula guard and all; a workbook's
        // text is the value itself, so it gets the guard that reading will take off again.
        Data::String(text) => (neutralise_formula(text), None),
        Data::Int(number) => (number.to_string(), None),
        Data::Bool(value) => (value.to_string(), None),
        Data::Float(number) => float_text(*number, digits),
        Data::Error(error) => (
            error.to_string(),
            read.then(|| format!("an error cell ({error}): fix the formula or type the value")),
        ),
        Data::DateTime(date) => (
            date.as_f64().to_string(),
            read.then(|| {
                "a date or time cell: format the column as Text and type the value again"
                    .to_string()
            }),
        ),
        Data::DateTimeIso(text) | Data::DurationIso(text) => (
            text.clone(),
            read.then(|| {
                "a date or time cell: format the column as Text and type the value again"
                    .to_string()
            }),
        ),
    }
}

/// An integer as its exact digits; in a column of `digits`, refused when it is not a whole
/// number or has more digits than the spreadsheet kept.
fn float_text(number: f64, digits: bool) -> (String, Option<String>) {
    if !number.is_finite() || number.fract() != 0.0 {
        let rule = digits.then(|| {
            "a number with a fraction, not a whole number: format the column as Text and type the digits again".to_string()
        });
        return (number.to_string(), rule);
    }
    let text = format!("{number:.0}");
    // Past 15 digits the spreadsheet has put zeros where the digits were: 9198123003171234
    // is stored as 9198123003171230, so every digit counts, trailing zeros too.
    let rule = (digits && text.trim_start_matches('-').len() > SIGNIFICANT_DIGITS).then(|| {
        format!("a number of more than {SIGNIFICANT_DIGITS} digits, which the spreadsheet has already rounded: format the column as Text and type the digits again")
    });
    (text, rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_their_exact_digits() {
        assert_eq!(
            float_text(919812300317.0, true),
            ("919812300317".to_string(), None)
        );
        assert_eq!(float_text(201.0, true), ("201".to_string(), None));
        assert_eq!(float_text(-5.0, false), ("-5".to_string(), None));
        assert_eq!(float_text(2.5, false), ("2.5".to_string(), None));
    }

    #[test]
    fn fractions_and_rounded_numbers_are_refused_in_digit_columns() {
        let (text, rule) = float_text(9198123.5, true);
        assert_eq!(text, "9198123.5");
        assert!(rule.unwrap().contains("fraction"));
        let (text, rule) = float_text(1234567890123456.0, true);
        assert_eq!(text, "1234567890123456");
        assert!(rule.unwrap().contains("more than 15 digits"));
        assert_eq!(
            float_text(1234567890123456.0, false).1,
            None,
            "other columns keep any number"
        );
        assert!(
            float_text(9198123003171230.0, true).1.is_some(),
            "the zero a spreadsheet put in place of the 16th digit is no digit"
        );
        assert_eq!(float_text(919812300317000.0, true).1, None);
    }

    #[test]
    fn text_that_looks_like_a_formula_reads_back_as_itself() {
        use crate::export::record::without_formula_guard;
        for value in ["=1+1", "'=1+1", "@Sam", "-x", "Asha"] {
            let (text, _) = cell_text(&Data::String(value.into()), Kind::Text);
            assert_eq!(without_formula_guard(&text), value);
        }
    }

    #[test]
    fn cell_types_become_text_or_problems() {
        assert_eq!(cell_text(&Data::Bool(true), Kind::Text).0, "true");
        assert_eq!(cell_text(&Data::Int(105), Kind::Digits).0, "105");
        let (text, rule) = cell_text(&Data::Error(calamine::CellErrorType::NA), Kind::Text);
        assert_eq!(text, "#N/A");
        assert!(rule.unwrap().contains("error cell (#N/A)"));
        assert_eq!(
            cell_text(&Data::Error(calamine::CellErrorType::NA), Kind::Ignored).1,
            None,
            "a column roster does not read cannot make a row invalid"
        );
        let (_, rule) = cell_text(&Data::DateTimeIso("2024-01-02".into()), Kind::Digits);
        assert!(rule.unwrap().contains("date"));
    }

    #[test]
    fn a_sheet_is_chosen_by_name_or_number() {
        assert_eq!(
            "Staff".parse::<SheetChoice>(),
            Ok(SheetChoice::Named("Staff".into()))
        );
        assert!("".parse::<SheetChoice>().is_err());
    }
}
