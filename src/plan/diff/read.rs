//! Reading a roster export, CSV or JSONL, of either provider.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use super::{DiffError, Roster, RosterFormat};
use crate::export::record::ExportRecord;
use crate::input::decode::{decode_sample, sniff, Sniffed};
use crate::input::header::normalise;
use crate::model::{AccountUser, DirectoryUser};

/// Read a roster export; the format (CSV or JSONL) is detected from the content.
pub fn read_roster(path: &Path) -> Result<Roster, DiffError> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| DiffError::Io {
        path: label.clone(),
        source,
    })?;
    parse_roster(&bytes, &label)
}

/// Parse a roster export held in memory; `label` names it in errors.
pub fn parse_roster(bytes: &[u8], label: &str) -> Result<Roster, DiffError> {
    let format_error = |line: u64, problem: String| DiffError::Format {
        path: label.to_string(),
        line,
        problem,
    };
    let text = match sniff(bytes) {
        Sniffed::Binary(what) => {
            return Err(format_error(
                1,
                format!("not a roster export: this looks like {what}"),
            ))
        }
        Sniffed::Text { encoding, bom_len } => decode_sample(&bytes[bom_len..], encoding),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    match text.trim_start().chars().next() {
        None => Ok(Roster {
            key_column: String::new(),
            columns: Vec::new(),
            users: BTreeMap::new(),
            format: RosterFormat::Jsonl,
            source: label.to_string(),
        }),
        Some('{') => parse_jsonl(text, label),
        Some(_) => parse_csv(text, label),
    }
}

/// `id` for Smartflo, else `agent_id` for TeleCMI.
pub(super) fn key_column(columns: &[String], label: &str) -> Result<String, DiffError> {
    for key in ["id", "agent_id"] {
        if columns.iter().any(|c| c == key) {
            return Ok(key.to_string());
        }
    }
    Err(DiffError::Format {
        path: label.to_string(),
        line: 1,
        problem: format!(
            "no `id` (Smartflo) or `agent_id` (TeleCMI) column, so this is not a roster export \
             (columns: {})",
            columns.join(", ")
        ),
    })
}

/// A row's key: its key column, or for TeleCMI with an empty `agent_id` the extension (as the
/// export de-duplicates).
pub(super) fn row_key<'a>(row: &'a BTreeMap<String, String>, key_column: &str) -> &'a str {
    key_of(
        |column| row.get(column).map_or("", String::as_str),
        key_column,
    )
}

/// [`row_key`] of a row given as `column -> value` (`""` for a missing column).
pub(super) fn key_of<'a>(cell: impl Fn(&str) -> &'a str, key_column: &str) -> &'a str {
    let key = cell(key_column);
    if key.is_empty() && key_column == "agent_id" {
        cell("extension")
    } else {
        key
    }
}

/// Why a row's key cannot be used: empty, or seen before on line `first`.
pub(super) fn key_problem(key_column: &str, key: &str, first: Option<u64>) -> Option<String> {
    if key.is_empty() {
        Some(format!("empty {key_column}: every user needs one"))
    } else {
        first.map(|first| format!("duplicate {key_column} {key:?} (first on line {first})"))
    }
}

/// Collects users, refusing a key seen before.
struct Builder<'a> {
    label: &'a str,
    key_column: String,
    users: BTreeMap<String, BTreeMap<String, String>>,
    lines: HashMap<String, u64>,
}

impl Builder<'_> {
    fn push(&mut self, line: u64, row: BTreeMap<String, String>) -> Result<(), DiffError> {
        let key = row_key(&row, &self.key_column).to_string();
        if let Some(problem) = key_problem(&self.key_column, &key, self.lines.get(&key).copied()) {
            return Err(DiffError::Format {
                path: self.label.to_string(),
                line,
                problem,
            });
        }
        self.lines.insert(key.clone(), line);
        self.users.insert(key, row);
        Ok(())
    }
}

/// A CSV roster's header as column names, refusing empty and repeated names.
pub(super) fn header_columns(
    header: &csv::StringRecord,
    label: &str,
) -> Result<Vec<String>, DiffError> {
    let columns: Vec<String> = header.iter().map(normalise).collect();
    for (i, column) in columns.iter().enumerate() {
        let problem = if column.is_empty() {
            format!("header cell {} is empty", i + 1)
        } else if columns[..i].contains(column) {
            format!("column `{column}` appears twice")
        } else {
            continue;
        };
        return Err(DiffError::Format {
            path: label.to_string(),
            line: 1,
            problem,
        });
    }
    Ok(columns)
}

/// True for a CSV row of empty cells (skipped); an error for one with cells past the header.
pub(super) fn is_blank(
    record: &csv::StringRecord,
    columns: usize,
    label: &str,
) -> Result<bool, DiffError> {
    if record.iter().all(|cell| cell.trim().is_empty()) {
        return Ok(true);
    }
    if record.iter().skip(columns).any(|c| !c.trim().is_empty()) {
        return Err(DiffError::Format {
            path: label.to_string(),
            line: record.position().map_or(0, |p| p.line()),
            problem: format!(
                "{} cells but the header has {columns} columns",
                record.len()
            ),
        });
    }
    Ok(false)
}

fn parse_csv(text: &str, label: &str) -> Result<Roster, DiffError> {
    let format_error = |line: u64, problem: String| DiffError::Format {
        path: label.to_string(),
        line,
        problem,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(crate::input::sniff_delimiter(text))
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format_error(1, format!("unreadable header: {e}")))?;
    let columns = header_columns(header, label)?;
    let mut builder = Builder {
        label,
        key_column: key_column(&columns, label)?,
        users: BTreeMap::new(),
        lines: HashMap::new(),
    };
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format_error(line, format!("unreadable CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if is_blank(&record, columns.len(), label)? {
            continue;
        }
        let row = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), record.get(i).unwrap_or("").trim().to_string()))
            .collect();
        builder.push(line, row)?;
    }
    Ok(Roster {
        key_column: builder.key_column,
        columns,
        users: builder.users,
        format: RosterFormat::Csv,
        source: label.to_string(),
    })
}

/// A JSON value as the text a CSV export would hold (before the formula guard).
fn json_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.trim().to_string(),
        other => other.to_string(),
    }
}

fn parse_jsonl(text: &str, label: &str) -> Result<Roster, DiffError> {
    let mut rows = Vec::new();
    let mut seen_columns: Vec<String> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                return Err(DiffError::Format {
                    path: label.to_string(),
                    line: number,
                    problem: "not a JSON object (a JSONL roster has one object per line)".into(),
                })
            }
            Err(e) => {
                return Err(DiffError::Format {
                    path: label.to_string(),
                    line: number,
                    problem: format!("not valid JSON: {e}"),
                })
            }
        };
        let row: BTreeMap<String, String> = object
            .iter()
            .map(|(k, v)| (normalise(k), json_text(v)))
            .collect();
        for column in row.keys() {
            if !seen_columns.contains(column) {
                seen_columns.push(column.clone());
            }
        }
        rows.push((number, row));
    }
    // serde_json's map is sorted: put the export's own column order back, then anything else.
    let canonical = if seen_columns.iter().any(|c| c == "id") {
        DirectoryUser::COLUMNS
    } else {
        AccountUser::COLUMNS
    };
    let mut columns: Vec<String> = canonical
        .iter()
        .filter(|c| seen_columns.iter().any(|s| s == *c))
        .map(|c| c.to_string())
        .collect();
    for column in seen_columns {
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    let mut builder = Builder {
        label,
        key_column: key_column(&columns, label)?,
        users: BTreeMap::new(),
        lines: HashMap::new(),
    };
    for (line, mut row) in rows {
        for column in &columns {
            row.entry(column.clone()).or_default();
        }
        builder.push(line, row)?;
    }
    Ok(Roster {
        key_column: builder.key_column,
        columns,
        users: builder.users,
        format: RosterFormat::Jsonl,
        source: label.to_string(),
    })
}
