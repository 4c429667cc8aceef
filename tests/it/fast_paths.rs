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

/// A night's exports of `users` users: the old sorted by extension, the new rising in strides
/// (as a file sorted by team, then extension, rises), every 50th user gone, every 70th with a new
/// number, and some joined.
fn strided_exports(users: u64) -> (String, String) {
    let header = "agent_id,extension,name,phone_number\n";
    let row = |i: u64, phone: u64| {
        let extension = 100_000 + i;
        format!("{extension}_1111112,{extension},Agent {i},+9198{phone:08}\n")
    };
    let old: String = std::iter::once(header.to_string())
        .chain((0..users).map(|i| row(i, i)))
        .collect();
    let total = users + users / 100;
    let stride = (1..)
        .map(|k| 7_919 * k + 1)
        .find(|s| gcd(*s, total) == 1)
        .unwrap();
    let new: String = std::iter::once(header.to_string())
        .chain(
            (0..total)
                .map(|j| j * stride % total)
                .filter(|i| *i >= users || i % 50 != 0)
                .map(|i| row(i, if i % 70 == 0 { i + 1 } else { i })),
        )
        .collect();
    (old, new)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The merge meets the new file's first fall only after most of the old file; it gives up on
/// the way, and the index way gives the whole file diff's report.
#[test]
fn a_new_file_rising_in_strides_gets_the_whole_file_diffs_report() {
    let (old, new) = strided_exports(100_000);
    let dir = tempfile::tempdir().unwrap();
    let (old_path, new_path) = (dir.path().join("old.csv"), dir.path().join("new.csv"));
    std::fs::write(&old_path, old).unwrap();
    std::fs::write(&new_path, new).unwrap();
    let phones = PhoneRule::default();
    let simple = diff::diff(
        &diff::read_roster(&old_path).unwrap(),
        &diff::read_roster(&new_path).unwrap(),
        &phones,
    );
    let streamed = diff::compare_paths(&old_path, &new_path, &phones).unwrap();
    assert!(
        matches!(streamed, diff::Changes::Streamed(_)),
        "streamed, not held whole"
    );
    let counts = streamed.counts();
    let gone = (0..100_000).filter(|i| i % 50 == 0).count();
    let renumbered = (0..100_000).filter(|i| i % 70 == 0 && i % 50 != 0).count();
    assert_eq!(
        (counts.removed, counts.changed),
        (gone, renumbered),
        "{counts:?}"
    );
    assert_eq!(rendered(Ok(streamed)), rendered(simple));
}

/// Sorted exports long enough that the new file is read ahead in many batches: clean, the merge
/// streams them; with a fault far past the first batch (a key out of order, a repeated key, a
/// NUL byte, a blank row, a broken quote), the report or error is the whole-file diff's.
#[test]
fn a_merge_reading_ahead_in_batches_reports_what_the_whole_file_diff_reports() {
    let header = "agent_id,extension,name,phone_number\n";
    let row = |i: u64, phone: u64| {
        let extension = 100_000 + i;
        format!("{extension}_1111112,{extension},Agent {i},+9198{phone:08}\n")
    };
    let old: String = std::iter::once(header.to_string())
        .chain((0..6_000).map(|i| row(i, i)))
        .collect();
    let new: Vec<String> = (0..6_100)
        .filter(|i| *i >= 6_000 || i % 50 != 0)
        .map(|i| row(i, if i % 70 == 0 { i + 1 } else { i }))
        .collect();
    type Damage = fn(&mut Vec<String>);
    let faults: [(&str, Damage); 6] = [
        ("none", |_| {}),
        ("out of order", |rows| rows.swap(2_500, 2_501)),
        ("repeated key", |rows| rows[3_000] = rows[2_999].clone()),
        ("NUL byte", |rows| rows[4_000].insert(3, '\0')),
        ("blank row", |rows| rows.insert(1_500, ",,,\n".into())),
        ("broken quote", |rows| rows[5_000].insert(0, '"')),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (old_path, new_path) = (dir.path().join("old.csv"), dir.path().join("new.csv"));
    std::fs::write(&old_path, &old).unwrap();
    let phones = PhoneRule::default();
    for (fault, damage) in faults {
        let mut rows = new.clone();
        damage(&mut rows);
        std::fs::write(&new_path, header.to_string() + &rows.concat()).unwrap();
        let simple = rendered(
            diff::read_roster(&new_path)
                .and_then(|new| diff::diff(&diff::read_roster(&old_path).unwrap(), &new, &phones)),
        );
        let streamed = diff::compare_paths(&old_path, &new_path, &phones);
        if fault == "none" {
            let counts = streamed.as_ref().unwrap().counts();
            assert!(matches!(streamed, Ok(diff::Changes::Streamed(_))), "merged");
            assert_eq!(
                (counts.added, counts.removed, counts.changed),
                (100, 120, 68),
                "{counts:?}"
            );
        }
        assert_eq!(rendered(streamed), simple, "{fault}");
    }
}

/// A key repeated far into a file out of key order (the hash way finds it among sorted hashes,
/// by byte offset) is reported at its own line and its first one, as the whole-file diff
/// reports it.
#[test]
fn a_repeated_key_deep_in_an_unsorted_file_is_reported_at_its_own_line() {
    let (old, new) = strided_exports(1_000);
    let mut lines: Vec<&str> = new.lines().collect();
    // Line 500 repeats line 10's user: far past what a read-on after a seek covers.
    lines[499] = lines[9];
    let new = lines.join("\n") + "\n";
    let dir = tempfile::tempdir().unwrap();
    let (old_path, new_path) = (dir.path().join("old.csv"), dir.path().join("new.csv"));
    std::fs::write(&old_path, old).unwrap();
    std::fs::write(&new_path, new).unwrap();
    let phones = PhoneRule::default();
    let simple = rendered(
        diff::read_roster(&new_path)
            .and_then(|new| diff::diff(&diff::read_roster(&old_path).unwrap(), &new, &phones)),
    );
    assert!(
        simple.contains("line 500") && simple.contains("first on line 10"),
        "{simple}"
    );
    assert_eq!(
        rendered(diff::compare_paths(&old_path, &new_path, &phones)),
        simple
    );
}

/// A sheet of `rows` rows made from `seed`: extensions from a pool smaller than the sheet, so
/// that rows repeat one far apart; now and then a broken extension, name, phone number, password
/// or shift; numbers with and without their country code.
fn onboarding_sheet(seed: u64, rows: usize) -> String {
    let mut state = seed | 1;
    let mut next = move |below: u64| {
        // xorshift64: the same sheet for the same seed, on every machine.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let mut sheet = String::from("extension,name,phone_number,password,start_time,end_time\n");
    for i in 0..rows {
        let extension = match next(100) {
            0 => "12a".to_string(),
            1 => String::new(),
            _ => (10 + next(3_000)).to_string(),
        };
        let name = if next(50) == 0 {
            String::new()
        } else {
            format!("Agent {i}")
        };
        let phone = match next(20) {
            0 => "12".to_string(),
            1 => format!("98123 {:05}", next(100_000)),
            2 => format!("919812{:06}", next(1_000_000)),
            3 => "+91 98123".to_string(),
            _ => format!("+91 98{:08}", next(100_000_000)),
        };
        let password = match next(50) {
            0 => "abc",
            1 => "",
            _ => "Welcome@1",
        };
        let shift = match next(30) {
            0 => "25,9",
            1 => ",",
            2 => "18,9",
            _ => "9,18",
        };
        sheet.push_str(&format!("{extension},{name},{phone},{password},{shift}\n"));
    }
    sheet
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, ..ProptestConfig::default() })]

    /// `roster validate` reads rows in batches and checks them on every core; checked one by one
    /// in order, the same rows have the same problems, duplicates included. Ten batches a sheet,
    /// so that a batch checked on one core is often done before an earlier one on another.
    #[test]
    fn validate_on_every_core_finds_what_a_row_by_row_check_finds(seed in any::<u64>(), extra in 0usize..3_000) {
        use roster::input::ColumnMap;
        use roster::model::Mode;
        use roster::validate::{describe, Rules, Validator};

        let sheet = onboarding_sheet(seed, 40_000 + extra);
        let mut reader = csv::Reader::from_reader(sheet.as_bytes());
        let columns = ColumnMap::from_header(reader.byte_headers().unwrap()).unwrap();
        let rules = Rules { mode: Mode::Add, extension_digits: (2, 6), min_password_len: 6, phones: PhoneRule::default() };
        let mut validator = Validator::new(rules, columns).unwrap();
        let mut expected = Vec::new();
        let mut rows = 0;
        for (index, record) in reader.byte_records().enumerate() {
            let row = index as u64 + 1;
            rows += 1;
            if let Err(problems) = validator.check(row, &record.unwrap()) {
                expected.push(format!("row {row} (line {}): {}", row + 1, describe(&problems)));
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let path = crate::common::write_file(dir.path(), "agents.csv", &sheet);
        let ran = crate::common::run(crate::common::roster_command(&[
            "validate", crate::common::arg(&path), "--mode", "add", "--json", "--show", "1000000",
        ]));
        let found: Vec<&str> = ran.stderr.lines().filter(|line| line.starts_with("row ")).collect();
        prop_assert_eq!(&found, &expected);
        prop_assert!(expected.iter().any(|line| line.contains("duplicate of row")), "the sheet repeats extensions");
        let summary = ran.stdout_json();
        prop_assert_eq!(summary["rows"].as_u64(), Some(rows));
        prop_assert_eq!(summary["invalid"].as_u64(), Some(expected.len() as u64));
        prop_assert_eq!(summary["unplaced_phones"].as_u64(), Some(validator.unplaced_phones()));
        prop_assert!(validator.unplaced_phones() > 0, "some numbers go out without a country");
    }
}
