//! Workbooks out, with rust_xlsxwriter: one sheet, the header bold and frozen under an
//! autofilter, columns as wide as their text (within bounds).
//!
//! Identifiers (phone numbers, extensions, agent ids) are given as [`Cell::Text`] by the
//! callers, so that Excel never shows `919812300317` as `9.19812E+11` or drops a leading zero.
//! Text cells are never formulas in a workbook, so they need no formula guard: they hold the
//! value itself.

use std::io;

use rust_xlsxwriter::{ColNum, Format, RowNum, Workbook, Worksheet, XlsxError};

/// Rows a worksheet holds, the header included.
pub const MAX_ROWS: u64 = 1_048_576;
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;

/// One cell's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Empty,
    Text(&'a str),
    /// Text made for the cell (a number given as text).
    Owned(String),
    Number(f64),
    Bool(bool),
}

/// A worksheet being filled, row by row.
pub struct XlsxSheet {
    sheet: Worksheet,
    /// Rows written, the header included.
    rows: RowNum,
    /// Widest cell of each column, in characters.
    widths: Vec<usize>,
}

fn xlsx_error(error: XlsxError) -> io::Error {
    io::Error::other(error)
}

impl XlsxSheet {
    /// A sheet named `name` (or Excel's default when the name is not one Excel allows).
    pub fn new(name: &str, header: &[&str]) -> io::Result<XlsxSheet> {
        let mut sheet = Worksheet::new();
        if sheet.set_name(name).is_err() {
            tracing::warn!(
                "{name:?} cannot name an Excel sheet; the sheet keeps Excel's default name"
            );
        }
        let bold = Format::new().set_bold();
        for (column, title) in header.iter().enumerate() {
            sheet
                .write_string_with_format(0, column as ColNum, *title, &bold)
                .map_err(xlsx_error)?;
        }
        Ok(XlsxSheet {
            sheet,
            rows: 1,
            widths: header.iter().map(|t| t.chars().count()).collect(),
        })
    }

    /// Data rows written so far.
    pub fn data_rows(&self) -> u64 {
        u64::from(self.rows) - 1
    }

    /// Append one row; fails past [`MAX_ROWS`].
    pub fn push(&mut self, cells: &[Cell<'_>]) -> io::Result<()> {
        let row = self.rows;
        if u64::from(row) >= MAX_ROWS {
            return Err(io::Error::other(format!(
                "a worksheet holds at most {MAX_ROWS} rows"
            )));
        }
        if self.widths.len() < cells.len() {
            self.widths.resize(cells.len(), 0);
        }
        for (column, cell) in cells.iter().enumerate() {
            let at = column as ColNum;
            let width = match cell {
                Cell::Empty => 0,
                Cell::Text(text) => write_text(&mut self.sheet, row, at, text)?,
                Cell::Owned(text) => write_text(&mut self.sheet, row, at, text)?,
                Cell::Number(number) => {
                    self.sheet
                        .write_number(row, at, *number)
                        .map_err(xlsx_error)?;
                    number.to_string().len()
                }
                Cell::Bool(value) => {
                    self.sheet
                        .write_boolean(row, at, *value)
                        .map_err(xlsx_error)?;
                    5
                }
            };
            self.widths[column] = self.widths[column].max(width);
        }
        self.rows += 1;
        Ok(())
    }

    /// The finished workbook file.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        let last_column = self.widths.len().saturating_sub(1) as ColNum;
        for (column, width) in self.widths.iter().enumerate() {
            let width = (width + 2).clamp(MIN_WIDTH, MAX_WIDTH);
            self.sheet
                .set_column_width(column as ColNum, width as f64)
                .map_err(xlsx_error)?;
        }
        self.sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
        self.sheet
            .autofilter(0, 0, self.rows - 1, last_column)
            .map_err(xlsx_error)?;
        let mut book = Workbook::new();
        book.push_worksheet(self.sheet);
        book.save_to_buffer().map_err(xlsx_error)
    }
}

/// Write a text cell; its width is its longest line's.
fn write_text(sheet: &mut Worksheet, row: RowNum, at: ColNum, text: &str) -> io::Result<usize> {
    sheet.write_string(row, at, text).map_err(xlsx_error)?;
    Ok(text.lines().map(|l| l.chars().count()).max().unwrap_or(0))
}

/// Whether `path` names a workbook to write (`.xlsx`), rather than a CSV.
pub fn is_xlsx_path(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}
