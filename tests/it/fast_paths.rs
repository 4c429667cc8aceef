//! The fast paths held to the simple ones on generated files: the streaming diff of two CSV
//! exports gives the report, byte for byte, that reading both rosters whole and comparing them
//! gives, or the same error.

use proptest::prelude::*;
use roster::phone::PhoneRule;
use roster::plan::diff::{self, ChangeReport, RosterFile};

use crate::common::TELECMI_COLUMNS as COLUMNS;

/// Cell values drawn from small pools, so that the two files share many and differ in some.
fn value(column: &'static str) -> BoxedStrategy<String> {
    match column {
        "name" | "first_name" | "last_name" => prop::sample::select(vec![
            "Asha Rao",
            " Asha Rao ",
            "\"Kumar, Ravi \"\"RK\"\"\"",
            "\"two\nlines\"",
            "=Sales Desk",
            "Zoë Ødegård",
            "",
        ])
        .prop_map(str::to_string)
        .boxed(),
        "phone_number" => prop::sample::select(vec![
            "+919200000001",
            "919200000001",
            "(+91) 92000-00001",
            "092000 00001",
            "+919200000002",
            "12",
            "",
        ])
        .prop_map(str::to_string)
        .boxed(),
        "password" => prop::sample::select(vec!["", "Secret1", "Secret2"])
            .prop_map(str::to_string)
            .boxed(),
        _ => "[0-9]{0,2}".boxed(),
    }
}

/// One user: a key from a small pool (so keys repeat across files, and now and then in one),
/// and a value per column.
fn user() -> impl Strategy<Value = (u32, Vec<String>)> {
    let cells: Vec<BoxedStrategy<String>> = COLUMNS.iter().map(|c| value(c)).collect();
    (0u32..40, cells)
}

/// A roster file: some of the columns in some order, users sorted by key or not, now and then a
/// blank row, a BOM, a semicolon, an empty or repeated key, a stray byte or a NUL.
fn roster() -> impl Strategy<Value = Vec<u8>> {
    // Always a key column (else both paths refuse the file at once), anywhere.
    let header = prop::sample::subsequence(COLUMNS[1..].to_vec(), 0..COLUMNS.len())
        .prop_map(|mut columns| {
            columns.push(COLUMNS[0]);
            columns
        })
        .prop_shuffle();
    (
        header,
        prop::collection::vec(user(), 0..30),
        any::<bool>(),
        prop::sample::select(vec![b',', b';']),
        any::<bool>(),
        0u8..24,
    )
        .prop_map(|(header, mut users, sorted, delimiter, bom, damage)| {
            let mut seen = std::collections::HashSet::new();
            users.retain(|(key, _)| seen.insert(*key));
            if sorted {
                users.sort_by_key(|(key, _)| *key);
            }
            if damage == 6 && !users.is_empty() {
                users.push(users[0].clone());
            }
            let mut out = if bom {
                vec![0xEF, 0xBB, 0xBF]
            } else {
                Vec::new()
            };
            let delimiter = delimiter as char;
            out.extend(header.join(&delimiter.to_string()).into_bytes());
            for (n, (key, cells)) in users.iter().enumerate() {
                out.push(b'\n');
                let row: Vec<String> = header
                    .iter()
                    .map(|column| match *column {
                        "agent_id" if damage == 1 && n == 0 => String::new(),
                        "agent_id" => format!("{}_1111112", 100 + key),
                        "extension" => (100 + key).to_string(),
                        column => {
                            let i = COLUMNS.iter().position(|c| *c == column).unwrap();
                            cells[i].clone()
                        }
                    })
                    .collect();
                out.extend(row.join(&delimiter.to_string()).into_bytes());
                match (damage, n) {
                    (2, 1) => out.extend(b"\n"),
                    (3, 2) => out.push(0xE9),
                    (4, 2) => out.push(0),
                    (5, 0) => out.extend(format!("{delimiter}extra").into_bytes()),
                    _ => {}
                }
            }
            out.push(b'\n');
            out
        })
}

/// Everything a report renders, or the error.
fn rendered(report: Result<impl ChangeReport + serde::Serialize, diff::DiffError>) -> String {
    match report {
        Err(error) => format!("error: {error}"),
        Ok(report) => {
            let mut csv = Vec::new();
            report.write_csv(&mut csv).unwrap();
            let mut table = Vec::new();
            report.write_table(&mut table).unwrap();
            format!(
                "{}\n{}\n{}\n{}",
                report.headline(),
                serde_json::to_string_pretty(&report).unwrap(),
                String::from_utf8(csv).unwrap(),
                String::from_utf8(table).unwrap()
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_streaming_diff_reports_what_the_whole_file_diff_reports(old in roster(), new in roster(), india in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let (old_path, new_path) = (dir.path().join("old.csv"), dir.path().join("new.csv"));
        std::fs::write(&old_path, &old).unwrap();
        std::fs::write(&new_path, &new).unwrap();
        let phones = PhoneRule::new(india.then(|| "IN".parse().unwrap()));
        let simple = diff::read_roster(&old_path)
            .and_then(|old| Ok((old, diff::read_roster(&new_path)?)))
            .and_then(|(old, new)| diff::diff(&old, &new, &phones));
        let simple = rendered(simple);
        // `roster diff`: a merge first when it can.
        let command = diff::compare_paths(&old_path, &new_path, &phones);
        prop_assert_eq!(rendered(command), simple.clone());
        // `export --diff-against`: the old file read before the walk.
        let export = RosterFile::open(&old_path)
            .and_then(diff::index)
            .and_then(|old| old.compare(RosterFile::open(&new_path)?, &phones));
        prop_assert_eq!(rendered(export), simple);
    }
}
