//! Rendering a change report: the headline, the terminal table, the CSV report, JSON and the
//! change file. Everything here walks the report one entry at a time ([`ChangeReport::visit`]),
//! so a report of a million changes is written without being held: the table reads it twice
//! (widths, then lines), the rest once.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use super::compare::display_name;
use super::read::row_key;
use super::{ChangedUser, Counts, Member, TABLE_WIDTH};
use crate::export::record::neutralise_formula;

/// One of the three lists of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Added,
    Removed,
    Changed,
}

/// An entry of a list: a whole row (added or removed, without the password) or a changed user.
pub enum Entry<'a> {
    Row(&'a BTreeMap<String, String>),
    User(&'a ChangedUser),
}

/// Call `f` with the first `limit` entries of `part`, and read no further: a spilled list of a
/// million changes is not read back to list a thousand.
fn visit_first<R: ChangeReport + ?Sized>(
    report: &R,
    part: Part,
    limit: usize,
    f: &mut dyn FnMut(Entry<'_>),
) -> io::Result<()> {
    #[derive(Debug, thiserror::Error)]
    #[error("enough entries")]
    struct Enough;
    let mut seen = 0;
    let visited = report.visit(part, &mut |entry| {
        if seen == limit {
            return Err(io::Error::other(Enough));
        }
        seen += 1;
        f(entry);
        Ok(())
    });
    match visited {
        Err(stop) if stop.get_ref().is_some_and(|inner| inner.is::<Enough>()) => Ok(()),
        other => other,
    }
}

/// The heads of a report's three lists.
#[derive(Debug, Default, serde::Serialize)]
pub struct Listed {
    pub joined: Vec<Member>,
    pub left: Vec<Member>,
    pub changed: Vec<ChangedUser>,
}

/// A change report, held in memory or spilled to disk, and everything that renders one.
pub trait ChangeReport {
    fn counts(&self) -> Counts;
    /// `id` (Smartflo) or `agent_id` (TeleCMI).
    fn key_column(&self) -> &str;
    /// How many users changed each field, most changed first (ties in column order).
    fn field_counts(&self) -> Vec<(String, usize)>;
    /// Call `f` with each entry of `part`, in key order.
    fn visit(&self, part: Part, f: &mut dyn FnMut(Entry<'_>) -> io::Result<()>) -> io::Result<()>;

    /// The first `limit` users who joined, who left and who changed: what a summary lists.
    fn first(&self, limit: usize) -> io::Result<Listed> {
        let key_column = self.key_column().to_string();
        let mut listed = Listed::default();
        for (part, members) in [
            (Part::Added, &mut listed.joined),
            (Part::Removed, &mut listed.left),
        ] {
            visit_first(self, part, limit, &mut |entry| {
                if let Entry::Row(row) = entry {
                    members.push(Member {
                        key: row_key(row, &key_column).to_string(),
                        name: display_name(row).unwrap_or_default(),
                    });
                }
            })?;
        }
        visit_first(self, Part::Changed, limit, &mut |entry| {
            if let Entry::User(user) = entry {
                listed.changed.push(user.clone());
            }
        })?;
        Ok(listed)
    }

    /// Nothing joined, left or changed.
    fn is_empty(&self) -> bool {
        let counts = self.counts();
        counts.added + counts.removed + counts.changed == 0
    }

    /// One line for a cron mail: `3 joined, 1 left, 2 changed (2 phone_number, 1 name)`, or `no changes`.
    fn headline(&self) -> String {
        if self.is_empty() {
            return "no changes".to_string();
        }
        let counts = self.counts();
        let mut parts = Vec::new();
        if counts.added > 0 {
            parts.push(format!("{} joined", counts.added));
        }
        if counts.removed > 0 {
            parts.push(format!("{} left", counts.removed));
        }
        if counts.changed > 0 {
            let fields: Vec<String> = self
                .field_counts()
                .iter()
                .map(|(field, n)| format!("{n} {field}"))
                .collect();
            parts.push(format!(
                "{} changed ({})",
                counts.changed,
                fields.join(", ")
            ));
        }
        parts.join(", ")
    }

    /// Write the change report to `path`, whole or not at all: JSON when the name ends in `.json`,
    /// a workbook when it ends in `.xlsx`, else CSV.
    fn write_file(&self, path: &Path) -> io::Result<()> {
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let workbook = crate::export::xlsx::is_xlsx_path(path);
        crate::export::atomic::write_atomically(path, false, |out| {
            if json {
                serde_json::to_writer_pretty(&mut *out, &Json(self)).map_err(io::Error::other)?;
                writeln!(out)
            } else if workbook {
                out.write_all(&to_xlsx(self)?)
            } else {
                self.write_csv(out)
            }
        })
    }

    /// The report as CSV: `change,key,name,field,old,new`, one line per added or removed user and per
    /// changed field. Password lines leave old and new empty. Formula-like text gets a leading `'`.
    fn write_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(DIFF_COLUMNS)?;
        visit_lines(self, &mut |line| {
            writer.write_record([
                line.change,
                &neutralise_formula(line.key),
                &neutralise_formula(&line.name),
                line.field,
                &neutralise_formula(line.old.unwrap_or("")),
                &neutralise_formula(line.new.unwrap_or("")),
            ])?;
            Ok(())
        })?;
        writer.flush()
    }

    /// The report as an aligned terminal table (long values cut with `…`, control characters shown
    /// as `?`, passwords as `(hidden)`), or the line `no changes`.
    fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.is_empty() {
            return writeln!(out, "no changes");
        }
        let header = DIFF_COLUMNS.map(str::to_string);
        let mut widths = header.clone().map(|h| h.chars().count());
        visit_lines(self, &mut |line| {
            for (width, value) in widths.iter_mut().zip(table_cells(&line)) {
                *width = (*width).max(value.chars().count());
            }
            Ok(())
        })?;
        write_table_row(out, &header, &widths)?;
        visit_lines(self, &mut |line| {
            write_table_row(out, &table_cells(&line), &widths)
        })
    }
}

/// A report as the JSON contract: `{"counts": {...}, "key_column": ..., "added": [...],
/// "removed": [...], "changed": [...]}`, each list written as it is read.
pub struct Json<'a, R: ?Sized>(pub &'a R);

impl<R: ChangeReport + ?Sized> Serialize for Json<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut report = serializer.serialize_struct("Diff", 5)?;
        report.serialize_field("counts", &self.0.counts())?;
        report.serialize_field("key_column", self.0.key_column())?;
        report.serialize_field("added", &List(self.0, Part::Added))?;
        report.serialize_field("removed", &List(self.0, Part::Removed))?;
        report.serialize_field("changed", &List(self.0, Part::Changed))?;
        report.end()
    }
}

/// One list of a report, serialised as it is visited.
struct List<'a, R: ?Sized>(&'a R, Part);

impl<R: ChangeReport + ?Sized> Serialize for List<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        // The visitor speaks io::Error; keep the serializer's own error to return it unchanged.
        let mut failed = None;
        let visited = self.0.visit(self.1, &mut |entry| {
            match entry {
                Entry::Row(row) => seq.serialize_element(row),
                Entry::User(user) => seq.serialize_element(user),
            }
            .map_err(|e| {
                failed = Some(e);
                io::Error::other("the JSON writer failed")
            })
        });
        if let Some(error) = failed {
            return Err(error);
        }
        visited.map_err(S::Error::custom)?;
        seq.end()
    }
}

/// Fields by how many users changed them, most first; ties keep `order`, the column order.
pub(super) fn rank_fields(order: &[String], counts: &[usize]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = order
        .iter()
        .zip(counts)
        .map(|(field, n)| (field.clone(), *n))
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n)); // stable: ties keep column order
    counts
}

/// One line of the report: change, key, name, field, old, new (`None` for a hidden password).
struct Line<'a> {
    change: &'static str,
    key: &'a str,
    name: String,
    field: &'a str,
    old: Option<&'a str>,
    new: Option<&'a str>,
}

/// The columns of the change report, in CSV, workbook and table alike.
const DIFF_COLUMNS: [&str; 6] = ["change", "key", "name", "field", "old", "new"];

/// Every line of the report in order: added users, removed users, then one per changed field.
fn visit_lines<R: ChangeReport + ?Sized>(
    report: &R,
    f: &mut dyn FnMut(Line<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let key_column = report.key_column();
    for (part, change) in [(Part::Added, "added"), (Part::Removed, "removed")] {
        report.visit(part, &mut |entry| match entry {
            Entry::Row(row) => f(Line {
                change,
                key: row_key(row, key_column),
                name: display_name(row).unwrap_or_default(),
                field: "",
                old: Some(""),
                new: Some(""),
            }),
            Entry::User(_) => Ok(()),
        })?;
    }
    report.visit(Part::Changed, &mut |entry| match entry {
        Entry::User(user) => user.changes.iter().try_for_each(|change| {
            f(Line {
                change: "changed",
                key: &user.key,
                name: user.name.clone(),
                field: &change.field,
                old: change.old.as_deref(),
                new: change.new.as_deref(),
            })
        }),
        Entry::Row(_) => Ok(()),
    })
}

/// The CSV report's columns and lines as one worksheet; every cell is text (keys are
/// extensions and agent ids, values phone numbers), and a workbook needs no formula guard.
fn to_xlsx<R: ChangeReport + ?Sized>(report: &R) -> io::Result<Vec<u8>> {
    use crate::export::xlsx::{Cell, XlsxSheet};
    let mut sheet = XlsxSheet::new("Changes", &DIFF_COLUMNS)?;
    visit_lines(report, &mut |line| {
        sheet.push(&[
            Cell::Text(line.change),
            Cell::Text(line.key),
            Cell::Text(&line.name),
            Cell::Text(line.field),
            Cell::Text(line.old.unwrap_or("")),
            Cell::Text(line.new.unwrap_or("")),
        ])
    })?;
    sheet.finish()
}

/// A line as the table shows it.
fn table_cells(line: &Line<'_>) -> [String; 6] {
    let shown = |value: Option<&str>| match value {
        Some(text) => cell(text),
        None => "(hidden)".to_string(),
    };
    [
        line.change.to_string(),
        cell(line.key),
        cell(&line.name),
        cell(line.field),
        shown(line.old),
        shown(line.new),
    ]
}

fn write_table_row(out: &mut dyn Write, row: &[String; 6], widths: &[usize; 6]) -> io::Result<()> {
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
    writeln!(out, "{}", text.trim_end())
}

/// A value fit for one terminal cell: no control characters, at most `TABLE_WIDTH` characters.
fn cell(value: &str) -> String {
    let clean: String = value
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    crate::text::clip(&clean, TABLE_WIDTH)
}
