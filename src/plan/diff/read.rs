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
fn key_column(columns: &[String], label: &str) -> Result<String, DiffError> {
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
    let key = row.get(key_column).map_or("", String::as_str);
    if key.is_empty() && key_column == "agent_id" {
        row.get("extension").map_or("", String::as_str)
    } else {
        key
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
        let problem = if key.is_empty() {
            Some(format!("empty {}: every user needs one", self.key_column))
        } else {
            self.lines.get(&key).map(|first| {
                format!(
                    "duplicate {} {key:?} (first on line {first})",
                    self.key_column
                )
            })
        };
        if let Some(problem) = problem {
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
        .map_err(|e| format_error(1, format!("unreadable header: {e}")))?
        .clone();
    let columns: Vec<String> = header.iter().map(normalise).collect();
    for (i, column) in columns.iter().enumerate() {
        if column.is_empty() {
            return Err(format_error(1, format!("header cell {} is empty", i + 1)));
        }
        if columns[..i].contains(column) {
            return Err(format_error(1, format!("column `{column}` appears twice")));
        }
    }
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
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if record
            .iter()
            .skip(columns.len())
            .any(|c| !c.trim().is_empty())
        {
            return Err(format_error(
                line,
                format!(
                    "{} cells but the header has {} columns",
                    record.len(),
                    columns.len()
                ),
            ));
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
