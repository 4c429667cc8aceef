//! Rendering a diff: the headline, the terminal table, the CSV report and the change file.

use std::io::{self, Write};
use std::path::Path;

use super::compare::display_name;
use super::read::row_key;
use super::{Diff, Member, TABLE_WIDTH};
use crate::export::record::neutralise_formula;

/// One line of the report: change, key, name, field, old, new (`None` for a hidden password).
struct Line<'a> {
    change: &'static str,
    key: &'a str,
    name: String,
    field: &'a str,
    old: Option<&'a str>,
    new: Option<&'a str>,
}

/// The columns of the change report, in CSV and workbook alike.
const DIFF_COLUMNS: [&str; 6] = ["change", "key", "name", "field", "old", "new"];

impl Diff {
    /// Write the change report to `path`, whole or not at all: JSON when the name ends in `.json`,
    /// a workbook when it ends in `.xlsx`, else CSV.
    pub fn write_file(&self, path: &Path) -> io::Result<()> {
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let workbook = crate::export::xlsx::is_xlsx_path(path);
        crate::export::atomic::write_atomically(path, false, |out| {
            if json {
                serde_json::to_writer_pretty(&mut *out, self).map_err(io::Error::other)?;
                writeln!(out)
            } else if workbook {
                out.write_all(&self.to_xlsx()?)
            } else {
                self.write_csv(out)
            }
        })
    }

    /// The CSV report's columns and lines as one worksheet; every cell is text (keys are
    /// extensions and agent ids, values phone numbers), and a workbook needs no formula guard.
    fn to_xlsx(&self) -> io::Result<Vec<u8>> {
        use crate::export::xlsx::{Cell, XlsxSheet};
        let mut sheet = XlsxSheet::new("Changes", &DIFF_COLUMNS)?;
        for line in self.lines() {
            let change = line.change.to_string();
            sheet.push(&[
                Cell::Text(&change),
                Cell::Text(line.key),
                Cell::Text(&line.name),
                Cell::Text(line.field),
                Cell::Text(line.old.unwrap_or("")),
                Cell::Text(line.new.unwrap_or("")),
            ])?;
        }
        sheet.finish()
    }

    /// Nothing joined, left or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// How many users changed each field, most changed first (ties in column order).
    pub fn field_counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = self
            .field_order
            .iter()
            .map(|field| {
                let n = self
                    .changed
                    .iter()
                    .filter(|u| u.changes.iter().any(|c| &c.field == field))
                    .count();
                (field.clone(), n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n)); // stable: ties keep column order
        counts
    }

    /// One line for a cron mail: `3 joined, 1 left, 2 changed (2 phone_number, 1 name)`, or `no changes`.
    /// The first `limit` users who joined and the first `limit` who left.
    pub fn members(&self, limit: usize) -> (Vec<Member>, Vec<Member>) {
        let of = |rows: &[std::collections::BTreeMap<String, String>]| {
            rows.iter()
                .take(limit)
                .map(|row| Member {
                    key: row_key(row, &self.key_column).to_string(),
                    name: display_name(row).unwrap_or_default(),
                })
                .collect()
        };
        (of(&self.added), of(&self.removed))
    }

    pub fn headline(&self) -> String {
        if self.is_empty() {
            return "no changes".to_string();
        }
        let mut parts = Vec::new();
        if self.counts.added > 0 {
            parts.push(format!("{} joined", self.counts.added));
        }
        if self.counts.removed > 0 {
            parts.push(format!("{} left", self.counts.removed));
        }
        if self.counts.changed > 0 {
            let fields: Vec<String> = self
                .field_counts()
                .iter()
                .map(|(field, n)| format!("{n} {field}"))
                .collect();
            parts.push(format!(
                "{} changed ({})",
                self.counts.changed,
                fields.join(", ")
            ));
        }
        parts.join(", ")
    }

    fn lines(&self) -> Vec<Line<'_>> {
        let mut lines = Vec::new();
        for (change, rows) in [("added", &self.added), ("removed", &self.removed)] {
            for row in rows.iter() {
                lines.push(Line {
                    change,
                    key: row_key(row, &self.key_column),
                    name: display_name(row).unwrap_or_default(),
                    field: "",
                    old: Some(""),
                    new: Some(""),
                });
            }
        }
        for user in &self.changed {
            for change in &user.changes {
                lines.push(Line {
                    change: "changed",
                    key: &user.key,
                    name: user.name.clone(),
                    field: &change.field,
                    old: change.old.as_deref(),
                    new: change.new.as_deref(),
                });
            }
        }
        lines
    }

    /// The report as CSV: `change,key,name,field,old,new`, one line per added or removed user and per
    /// changed field. Password lines leave old and new empty. Formula-like text gets a leading `'`.
    pub fn write_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(DIFF_COLUMNS)?;
        for line in self.lines() {
            writer.write_record([
                line.change.to_string(),
                neutralise_formula(line.key),
                neutralise_formula(&line.name),
                line.field.to_string(),
                neutralise_formula(line.old.unwrap_or("")),
                neutralise_formula(line.new.unwrap_or("")),
            ])?;
        }
        writer.flush()
    }

    /// The report as an aligned terminal table (long values cut with `…`, control characters shown
    /// as `?`, passwords as `(hidden)`), or the line `no changes`.
    pub fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        let lines = self.lines();
        if lines.is_empty() {
            return writeln!(out, "no changes");
        }
        let mut rows: Vec<[String; 6]> =
            vec![["change", "key", "name", "field", "old", "new"].map(|h| h.to_string())];
        for line in &lines {
            let shown = |value: Option<&str>| match value {
                Some(text) => cell(text),
                None => "(hidden)".to_string(),
            };
            rows.push([
                line.change.to_string(),
                cell(line.key),
                cell(&line.name),
                cell(line.field),
                shown(line.old),
                shown(line.new),
            ]);
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (width, value) in widths.iter_mut().zip(row.iter()) {
                *width = (*width).max(value.chars().count());
            }
        }
        for row in &rows {
            let mut text = String::new();
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(value);
                if i + 1 < row.len() {
                    let pad = widths[i] - value.chars().count();
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// A value fit for one terminal cell: no control characters, at most `TABLE_WIDTH` characters.
fn cell(value: &str) -> String {
    let clean: String = value
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    crate::text::clip(&clean, TABLE_WIDTH)
}
