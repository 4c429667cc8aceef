//! Input sheets and the per-row report: row builders and report readers.

use std::collections::HashMap;
use std::path::Path;

/// A report line (or any CSV line), keyed by header.
pub type Row = HashMap<String, String>;

/// The header of a sheet with every column an add needs.
pub const HEADER: &str = "extension,name,phone_number,password\n";

/// Full add rows for extensions `from..from+count`: `EXT,Agent EXT,9192000EXT(5 digits),SecretEXT`.
pub fn add_rows(from: u32, count: u32) -> String {
    let mut text = String::from(HEADER);
    for ext in from..from + count {
        text.push_str(&format!("{ext},Agent {ext},9192000{ext:05},Secret{ext}\n"));
    }
    text
}

/// Parse a CSV file into header-keyed rows.
pub fn read_csv(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).expect("open csv");
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// The rows of the report at `path`; none when there is no report.
pub fn read_report(path: &Path) -> Vec<Row> {
    if path.exists() {
        read_csv(path)
    } else {
        Vec::new()
    }
}

pub fn outcomes(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r["outcome"].as_str()).collect()
}

/// How many rows have `outcome`.
pub fn count(rows: &[Row], outcome: &str) -> usize {
    rows.iter().filter(|r| r["outcome"] == outcome).count()
}

pub fn not_ok(rows: &[Row]) -> Vec<&Row> {
    rows.iter().filter(|r| r["outcome"] != "ok").collect()
}

/// Fails unless every report line is `ok`, showing the others.
#[track_caller]
pub fn assert_all_ok(rows: &[Row]) {
    let others = not_ok(rows);
    assert!(others.is_empty(), "every row ok, but: {others:?}");
}

/// Fails unless the report line's message contains `needle`, showing the line.
#[track_caller]
pub fn assert_message_contains(row: &Row, needle: &str) {
    assert!(row["message"].contains(needle), "{needle:?} in {row:?}");
}

#[track_caller]
pub fn assert_rows_numbered(rows: &[Row], count: usize) {
    let numbers: Vec<String> = rows.iter().map(|r| r["row"].clone()).collect();
    let expected: Vec<String> = (1..=count).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected, "one report line per data row, in order");
}

/// What a run of 100 rows stopped by a signal leaves: exit 3, and a report with a line for every
/// row, `ok` for each of the `created` users and `skipped`, never sent, for the rest.
#[track_caller]
pub fn assert_interrupted_run_is_fully_reported(code: Option<i32>, rows: &[Row], created: usize) {
    assert_eq!(code, Some(3), "an interrupted run exits 3");
    assert_rows_numbered(rows, 100);
    let ok = count(rows, "ok");
    assert_eq!(ok, created, "every user created is reported ok");
    assert!(ok < 100, "the run was cut short");
    for row in rows.iter().filter(|r| r["outcome"] != "ok") {
        assert_eq!(row["outcome"], "skipped", "{row:?}");
        assert_eq!(row["attempts"], "0", "{row:?}");
    }
}
