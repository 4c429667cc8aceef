//! `roster diff OLD NEW`: compare two roster exports (CSV or JSONL, TeleCMI or Smartflo) by user id.
//!
//! Pure library code: reading, comparing and rendering; the command decides where the text goes.
//!
//! Rules:
//! - The format is taken from the content: first non-space character `{` is JSONL, anything else CSV
//!   (any delimiter and encoding `roster import` accepts, so a roster re-saved by a spreadsheet still reads).
//! - The provider is taken from the columns: an `id` column is a Smartflo roster (keyed by `id`),
//!   otherwise `agent_id` keys a TeleCMI roster (an empty `agent_id` falls back to the extension, as
//!   the export's own de-duplication does). Two rosters of different providers are not compared.
//! - Only columns present in both files are compared, as trimmed text (JSON `101` equals CSV `101`,
//!   `true` equals `true`, `null` equals an empty cell). Derived columns are skipped when their source
//!   is compared: `first_name`/`last_name` (from `name`) and `agent_status_name` (from `agent_status`).
//! - Phone numbers (`phone_number`, Smartflo's `follow_me_number`) compare by the one phone rule
//!   ([`crate::phone`]) under the run's default region: `+91 98123 00001` and `919812300001` are no
//!   change. The report shows both texts as the files hold them.
//! - Passwords are never carried into a diff: a change says only "password changed", and only when
//!   both files hold a password (an export without `--include-passwords` has an empty column, which
//!   says nothing). Added and removed rows leave the password out.
//! - A CSV export guards formula-like text with a leading `'`; when a CSV roster is compared with a
//!   JSONL one, the JSONL text is guarded the same way first, so the same roster shows no changes.
//!
//! The stages live apart: `read` turns a file into a [`Roster`], `compare` two rosters into a
//! [`Diff`], and `render` any [`ChangeReport`] into a table, CSV or JSON. `stream` is the path the
//! commands take: two CSV exports are compared in memory that does not grow with the users who
//! did not change, and anything else (JSONL, other encodings) goes through [`read_roster`] and
//! [`diff`], which hold both rosters whole.

mod compare;
mod read;
mod render;
mod stream;

use std::collections::BTreeMap;
use std::io;

use serde::{Serialize, Serializer};

pub use compare::diff;
pub use read::{parse_roster, read_roster};
pub use render::{ChangeReport, Entry, Json, Listed, Part};
pub use stream::{compare_paths, index, Changes, OldRoster, RosterFile};

/// The password column: compared only as "changed", never shown.
const PASSWORD: &str = "password";
/// Columns holding phone numbers, compared as numbers.
const PHONES: [&str; 2] = ["phone_number", "follow_me_number"];
/// Columns derived from another column: `(derived, source)`, skipped when the source is compared.
const DERIVED: [(&str, &str); 3] = [
    ("first_name", "name"),
    ("last_name", "name"),
    ("agent_status_name", "agent_status"),
];
/// Values longer than this many characters are cut in the terminal table.
const TABLE_WIDTH: usize = 40;

/// Why two rosters could not be compared (nothing is written; the command exits 2).
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: line {line}: {problem}")]
    Format {
        path: String,
        line: u64,
        problem: String,
    },
    #[error("{0}")]
    Mismatch(String),
}

/// How a roster file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RosterFormat {
    Csv,
    Jsonl,
}

/// A roster export read back: every user by key, every value as text (`""` for null or empty).
#[derive(Debug, Clone)]
pub struct Roster {
    /// `id` (Smartflo) or `agent_id` (TeleCMI); empty for an empty JSONL file (no users, no columns).
    pub key_column: String,
    /// Column names (normalised like import headers), in file order (JSONL: the export's order).
    pub columns: Vec<String>,
    pub users: BTreeMap<String, BTreeMap<String, String>>,
    pub format: RosterFormat,
    /// The file it came from, for messages.
    pub source: String,
}

impl Roster {
    /// `Smartflo` or `TeleCMI`, from the key column.
    pub fn provider(&self) -> &'static str {
        provider_name(&self.key_column)
    }
}

/// `Smartflo` or `TeleCMI`, from a roster's key column.
fn provider_name(key_column: &str) -> &'static str {
    match key_column {
        "id" => "Smartflo",
        "agent_id" => "TeleCMI",
        _ => "empty",
    }
}

/// One field of a changed user. `old`/`new` are `None` for a password: only the change is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A user in both rosters whose compared fields differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedUser {
    pub key: String,
    pub name: String,
    pub changes: Vec<Change>,
}

/// A user who joined or left, by key and name: what a summary keeps of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

/// The change report held in memory; serialises to the contract's `{"counts": {...}, ...}`.
#[derive(Debug, Clone)]
pub struct Diff {
    pub counts: Counts,
    pub key_column: String,
    /// New users, whole rows without the password, in key order.
    pub added: Vec<BTreeMap<String, String>>,
    /// Users gone, whole rows (from the old roster) without the password, in key order.
    pub removed: Vec<BTreeMap<String, String>>,
    pub changed: Vec<ChangedUser>,
    /// Changed fields in the order they were compared, for the headline.
    field_order: Vec<String>,
}

impl ChangeReport for Diff {
    fn counts(&self) -> Counts {
        self.counts
    }

    fn key_column(&self) -> &str {
        &self.key_column
    }

    fn field_counts(&self) -> Vec<(String, usize)> {
        let counts: Vec<usize> = self
            .field_order
            .iter()
            .map(|field| {
                self.changed
                    .iter()
                    .filter(|u| u.changes.iter().any(|c| &c.field == field))
                    .count()
            })
            .collect();
        render::rank_fields(&self.field_order, &counts)
    }

    fn visit(&self, part: Part, f: &mut dyn FnMut(Entry<'_>) -> io::Result<()>) -> io::Result<()> {
        match part {
            Part::Added => self.added.iter().try_for_each(|row| f(Entry::Row(row))),
            Part::Removed => self.removed.iter().try_for_each(|row| f(Entry::Row(row))),
            Part::Changed => self
                .changed
                .iter()
                .try_for_each(|user| f(Entry::User(user))),
        }
    }
}

impl Serialize for Diff {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Json(self).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::compare::natural_cmp;
    use super::*;
    use crate::phone::PhoneRule;
    use serde_json::Value;
    use std::cmp::Ordering;
    use std::path::PathBuf;

    const TELECMI_HEADER: &str =
        "agent_id,extension,name,first_name,last_name,phone_number,password,start_time,end_time,sms_alert";

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn roster(text: &str) -> Roster {
        let dir = tempfile::tempdir().unwrap();
        read_roster(&write(&dir, "roster", text)).unwrap()
    }

    fn csv_text(diff: &Diff) -> String {
        let mut out = Vec::new();
        diff.write_csv(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn table_text(diff: &Diff) -> String {
        let mut out = Vec::new();
        diff.write_table(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_summary_lists_the_first_entries_of_each_list_and_no_more() {
        let old = roster(&format!("{TELECMI_HEADER}\n"));
        let mut today = format!("{TELECMI_HEADER}\n");
        for extension in 201..=205 {
            today.push_str(&format!(
                "{extension}_1,{extension},Agent {extension},Agent,{extension},919200000{extension},,,,false\n"
            ));
        }
        let report = diff(&old, &roster(&today), &PhoneRule::default()).unwrap();
        let first = report.first(2).unwrap();
        let keys: Vec<&str> = first.joined.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["201_1", "202_1"]);
        assert_eq!(first.joined[0].name, "Agent 201");
        assert!(first.left.is_empty() && first.changed.is_empty());
        assert_eq!(report.first(10).unwrap().joined.len(), 5);
    }

    /// Yesterday: 101, 102, 103. Today: 102 left, 103 changed phone and password, 104 joined.
    fn old_and_new() -> (Roster, Roster) {
        let old = roster(&format!(
            "{TELECMI_HEADER}\n\
             101_1111112,101,Asha Rao,Asha,Rao,+919200000001,oldpass101,9,18,true\n\
             102_1111112,102,Ravi Kumar,Ravi,Kumar,+919200000002,oldpass102,9,18,false\n\
             103_1111112,103,Meera Iyer,Meera,Iyer,+919200000003,SecretOld1,10,19,true\n"
        ));
        let new = roster(&format!(
            "{TELECMI_HEADER}\n\
             101_1111112,101,Asha Rao,Asha,Rao,+919200000001,oldpass101,9,18,true\n\
             103_1111112,103,Meera Iyer,Meera,Iyer,+919200000099,SecretNew2,10,19,true\n\
             104_1111112,104,Zoë Das,Zoë,Das,+919200000004,newpass104,9,18,\n"
        ));
        (old, new)
    }

    #[test]
    fn counts_added_removed_and_changed_users() {
        let (old, new) = old_and_new();
        assert_eq!(old.key_column, "agent_id");
        let diff = diff(&old, &new, &PhoneRule::default()).unwrap();
        assert_eq!(
            diff.counts,
            Counts {
                added: 1,
                removed: 1,
                changed: 1,
                unchanged: 1
            }
        );
        assert_eq!(diff.added[0]["agent_id"], "104_1111112");
        assert!(!diff.added[0].contains_key("password"));
        assert_eq!(diff.removed[0]["name"], "Ravi Kumar");
        assert!(!diff.removed[0].contains_key("password"));
        let meera = &diff.changed[0];
        assert_eq!(
            (meera.key.as_str(), meera.name.as_str()),
            ("103_1111112", "Meera Iyer")
        );
        assert_eq!(
            meera.changes,
            vec![
                Change {
                    field: "phone_number".into(),
                    old: Some("+919200000003".into()),
                    new: Some("+919200000099".into()),
                },
                Change {
                    field: "password".into(),
                    old: None,
                    new: None,
                },
            ]
        );
        let json = serde_json::to_value(&diff).unwrap();
        assert_eq!(json["counts"]["added"], 1);
        assert_eq!(json["counts"]["removed"], 1);
        assert_eq!(json["counts"]["changed"], 1);
        assert_eq!(json["changed"][0]["changes"][1]["old"], Value::Null);
        assert!(!json.to_string().contains("Secret"));
    }

    #[test]
    fn headline_tells_joined_left_and_changed_fields() {
        let (old, new) = old_and_new();
        assert_eq!(
            diff(&old, &new, &PhoneRule::default()).unwrap().headline(),
            "1 joined, 1 left, 1 changed (1 phone_number, 1 password)"
        );
        let same = diff(&old, &old, &PhoneRule::default()).unwrap();
        assert!(same.is_empty());
        assert_eq!(same.headline(), "no changes");
        assert_eq!(table_text(&same), "no changes\n");
        // Most changed field first; a renamed user is one `name` change, not first/last name too.
        let two = roster(&format!(
            "{TELECMI_HEADER}\n\
             101_1111112,101,Asha R. Menon,Asha R.,Menon,+919200000011,,9,18,true\n\
             102_1111112,102,Ravi Kumar,Ravi,Kumar,+919200000012,,9,18,false\n\
             103_1111112,103,Meera Iyer,Meera,Iyer,+919200000003,,10,19,true\n"
        ));
        let d = diff(&old, &two, &PhoneRule::default()).unwrap();
        assert_eq!(d.headline(), "2 changed (2 phone_number, 1 name)");
    }

    #[test]
    fn phone_numbers_written_differently_are_no_change() {
        let (old, _) = old_and_new();
        let rewritten = roster(&format!(
            "{TELECMI_HEADER}\n\
             101_1111112,101,Asha Rao,Asha,Rao,919200000001,oldpass101,9,18,true\n\
             102_1111112,102,Ravi Kumar,Ravi,Kumar,(+91) 92000-00002,oldpass102,9,18,false\n\
             103_1111112,103,Meera Iyer,Meera,Iyer,092000 00003,SecretOld1,10,19,true\n"
        ));
        let india = PhoneRule::new(Some("IN".parse().unwrap()));
        assert_eq!(
            diff(&old, &rewritten, &india).unwrap().headline(),
            "no changes"
        );
        assert_eq!(
            diff(&old, &rewritten, &PhoneRule::default())
                .unwrap()
                .headline(),
            "1 changed (1 phone_number)",
            "without a region the national form is not known to be the same number"
        );
    }

    #[test]
    fn password_changes_are_told_but_never_shown() {
        let (old, new) = old_and_new();
        let d = diff(&old, &new, &PhoneRule::default()).unwrap();
        let text = csv_text(&d);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["change", "key", "name", "field", "old", "new"]
        );
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(
            rows,
            vec![
                vec!["added", "104_1111112", "Zoë Das", "", "", ""],
                vec!["removed", "102_1111112", "Ravi Kumar", "", "", ""],
                vec![
                    "changed",
                    "103_1111112",
                    "Meera Iyer",
                    "phone_number",
                    "+919200000003",
                    "+919200000099"
                ],
                vec!["changed", "103_1111112", "Meera Iyer", "password", "", ""],
            ]
        );
        let table = table_text(&d);
        for text in [&text, &table] {
            for secret in ["SecretOld1", "SecretNew2", "newpass104", "oldpass102"] {
                assert!(!text.contains(secret), "{secret} leaked into {text}");
            }
        }
        assert!(table.contains("(hidden)"));
    }

    #[test]
    fn a_password_missing_from_one_export_is_not_a_change() {
        let (old, _) = old_and_new();
        // The same users exported without --include-passwords: an empty column says nothing.
        let without = roster(&format!(
            "{TELECMI_HEADER}\n\
             101_1111112,101,Asha Rao,Asha,Rao,+919200000001,,9,18,true\n\
             102_1111112,102,Ravi Kumar,Ravi,Kumar,+919200000002,,9,18,false\n\
             103_1111112,103,Meera Iyer,Meera,Iyer,+919200000003,,10,19,true\n"
        ));
        assert!(diff(&old, &without, &PhoneRule::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_same_roster_as_csv_and_jsonl_has_no_changes() {
        let csv = roster(&format!(
            "{TELECMI_HEADER}\n\
             101_1111112,101,'=Sales Desk,'=Sales,Desk, +919200000001 ,, 9,18,true\n\
             102_1111112,102,\"Kumar, Ravi \"\"RK\"\"\",\"Kumar,\",\"Ravi \"\"RK\"\"\",,,,,false\n"
        ));
        let jsonl = roster(concat!(
            r#"{"agent_id":"101_1111112","end_time":18,"extension":101,"first_name":"=Sales","last_name":"Desk","name":"=Sales Desk","password":null,"phone_number":"+919200000001","sms_alert":true,"start_time":9}"#,
            "\n",
            r#"{"agent_id":"102_1111112","end_time":null,"extension":102,"first_name":"Kumar,","last_name":"Ravi \"RK\"","name":"Kumar, Ravi \"RK\"","password":null,"phone_number":null,"sms_alert":false,"start_time":null}"#,
            "\n"
        ));
        assert_eq!(csv.format, RosterFormat::Csv);
        assert_eq!(jsonl.format, RosterFormat::Jsonl);
        assert_eq!(jsonl.key_column, "agent_id");
        assert_eq!(
            jsonl.columns, csv.columns,
            "JSONL columns back in export order"
        );
        assert_eq!(jsonl.users["101_1111112"]["extension"], "101");
        assert_eq!(jsonl.users["101_1111112"]["sms_alert"], "true");
        assert!(diff(&csv, &jsonl, &PhoneRule::default())
            .unwrap()
            .is_empty());
        assert!(diff(&jsonl, &csv, &PhoneRule::default())
            .unwrap()
            .is_empty());
        // ...and a real difference across formats still shows.
        let mut moved = jsonl.clone();
        moved
            .users
            .get_mut("101_1111112")
            .unwrap()
            .insert("start_time".into(), "10".into());
        let d = diff(&csv, &moved, &PhoneRule::default()).unwrap();
        assert_eq!(d.headline(), "1 changed (1 start_time)");
    }

    #[test]
    fn smartflo_rosters_are_keyed_by_id() {
        let header = "id,name,login_id,extension,agent_id,agent_name,agent_status,agent_status_name,follow_me_number,user_status,role_id,role_name";
        let old = roster(&format!(
            "{header}\n\
             9,Asha,asha@x.in,0601,060001,Asha,0,enabled,+919200000001,1,2,Agent\n\
             10,Ravi,ravi@x.in,,,,,,,1,2,Agent\n"
        ));
        let new = roster(&format!(
            "{header}\n\
             9,Asha,asha@x.in,0602,060002,Asha,2,disabled,+919200000001,1,2,Agent\n\
             10,Ravi,ravi@x.in,,,,,,,1,2,Agent\n\
             11,Meera,meera@x.in,,,,,,,1,2,Agent\n"
        ));
        assert_eq!(old.key_column, "id");
        assert_eq!(old.provider(), "Smartflo");
        let d = diff(&old, &new, &PhoneRule::default()).unwrap();
        // A new agent_id on user 9 is a change, not a leaver plus a joiner.
        assert_eq!(
            (d.counts.added, d.counts.removed, d.counts.changed),
            (1, 0, 1)
        );
        let fields: Vec<&str> = d.changed[0]
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert_eq!(fields, ["extension", "agent_id", "agent_status"]);
        assert_eq!(d.key_column, "id");
        // Numeric ids sort as numbers in the report.
        let added = roster(&format!("{header}\n10,Ravi,ravi@x.in,,,,,,,1,2,Agent\n"));
        let d = diff(&added, &new, &PhoneRule::default()).unwrap();
        let keys: Vec<&str> = d.added.iter().map(|r| r["id"].as_str()).collect();
        assert_eq!(keys, ["9", "11"]);
    }

    #[test]
    fn a_duplicate_key_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "dup.csv",
            &format!(
                "{TELECMI_HEADER}\n\
                 101_1,101,\"Two\nLines\",,,,,,,\n\
                 102_1,102,B,,,,,,,\n\
                 101_1,101,C,,,,,,,\n"
            ),
        );
        let err = read_roster(&path).unwrap_err();
        match &err {
            DiffError::Format { line, problem, .. } => {
                assert_eq!(*line, 5);
                assert!(
                    problem.contains("101_1") && problem.contains("line 2"),
                    "{problem}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("dup.csv: line 5"));

        let path = write(
            &dir,
            "dup.jsonl",
            "{\"id\":7,\"name\":\"A\"}\n\n{\"id\":7,\"name\":\"B\"}\n",
        );
        match read_roster(&path).unwrap_err() {
            DiffError::Format { line, .. } => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rosters_of_different_providers_are_not_compared() {
        let telecmi = roster(&format!("{TELECMI_HEADER}\n101_1,101,A,,,,,,,\n"));
        let smartflo = roster("{\"id\":1,\"name\":\"A\",\"agent_id\":\"101_1\"}\n");
        let err = diff(&telecmi, &smartflo, &PhoneRule::default()).unwrap_err();
        assert!(matches!(err, DiffError::Mismatch(_)));
        assert!(err.to_string().contains("Smartflo"), "{err}");
        assert!(err.to_string().contains("TeleCMI"), "{err}");
    }

    #[test]
    fn a_file_without_a_key_column_or_unreadable_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sheet = write(&dir, "users.csv", "extension,name\n101,A\n");
        assert!(matches!(
            read_roster(&sheet),
            Err(DiffError::Format { line: 1, .. })
        ));
        let broken = write(&dir, "broken.jsonl", "{\"agent_id\":\"1\"}\n{nope\n");
        assert!(matches!(
            read_roster(&broken),
            Err(DiffError::Format { line: 2, .. })
        ));
        assert!(matches!(
            read_roster(&dir.path().join("missing.csv")),
            Err(DiffError::Io { .. })
        ));
    }

    #[test]
    fn an_empty_jsonl_export_means_everyone_joined() {
        let empty = roster("");
        let (old, _) = old_and_new();
        let d = diff(&empty, &old, &PhoneRule::default()).unwrap();
        assert_eq!((d.counts.added, d.counts.removed), (3, 0));
        assert_eq!(d.headline(), "3 joined");
    }

    #[test]
    fn quoting_and_non_ascii_survive_the_csv_report() {
        let old = roster(&format!(
            "{TELECMI_HEADER}\n\
             201_1,201,\"Zoë, \"\"Zed\"\" Ångström\",,,+919200000201,,,,\n\
             202_1,202,शर्मा,,,+919200000202,,,,\n"
        ));
        let new = roster(&format!(
            "\u{feff}{TELECMI_HEADER}\n\
             201_1,201,\"Zoë, \"\"Zed\"\" Ångström\",,,+919200000299,,,,\n\
             202_1,202,\"शर्मा\nJr\",,,+919200000202,,,,\n\
             203_1,203,=cmd|' /C calc'!A0,,,,,,,\n"
        ));
        let d = diff(&old, &new, &PhoneRule::default()).unwrap();
        let text = csv_text(&d);
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(&rows[0][2], "'=cmd|' /C calc'!A0", "formula guarded");
        assert_eq!(&rows[1][2], "Zoë, \"Zed\" Ångström");
        assert_eq!(&rows[1][5], "+919200000299");
        assert_eq!(&rows[2][4], "शर्मा");
        assert_eq!(&rows[2][5], "शर्मा\nJr");

        // The table is aligned by characters, keeps non-ASCII, cuts long values, hides newlines.
        let table = table_text(&d);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        let at = |line: &str, word: &str| line[..line.find(word).unwrap()].chars().count();
        assert_eq!(at(lines[0], "field"), at(lines[2], "phone_number"));
        assert_eq!(at(lines[0], "field"), at(lines[3], "name"));
        assert!(lines[3].contains("शर्मा?Jr"), "{table}");
        assert!(lines[2].contains("Zoë, \"Zed\" Ångström"));

        let long = format!("{TELECMI_HEADER}\n301_1,301,{},,,,,,,\n", "x".repeat(100));
        let d = diff(
            &roster(&format!("{TELECMI_HEADER}\n")),
            &roster(&long),
            &PhoneRule::default(),
        )
        .unwrap();
        let table = table_text(&d);
        assert!(table.contains(&format!("{}…", "x".repeat(TABLE_WIDTH - 1))));
        assert!(!table.contains(&"x".repeat(TABLE_WIDTH)));
    }

    #[test]
    fn keys_sort_naturally() {
        assert_eq!(natural_cmp("9", "10"), Ordering::Less);
        assert_eq!(natural_cmp("101_2", "101_10"), Ordering::Less);
        assert_eq!(natural_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(natural_cmp("007", "7"), Ordering::Greater);
    }
}
