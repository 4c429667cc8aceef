//! `roster import` end to end: the real binary against the in-process sandbox.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use roster::sandbox::{Faults, SandboxConfig, TelecmiRecord};

/// `roster import INPUT --report INPUT.report.csv --rate 1000 EXTRA...` against the case's sandbox:
/// the run and the report's rows (none when it wrote no report).
fn import(case: &Case, input: &Path, extra: &[&str]) -> (Ran, Vec<Row>) {
    let report = report_path(input);
    let mut args = vec!["import", arg(input), "--report", arg(&report)];
    if !extra.contains(&"--rate") {
        args.extend_from_slice(&["--rate", "1000"]);
    }
    args.extend_from_slice(extra);
    let ran = case.run(&args);
    (ran, read_report(&report))
}

fn report_path(input: &Path) -> PathBuf {
    input.with_extension("report.csv")
}

/// Imports `users.csv`, add rows for extensions `from..from+count`, in add mode with `EXTRA...`.
fn import_adds(case: &Case, from: u32, count: u32, extra: &[&str]) -> (Ran, Vec<Row>) {
    let input = case.write("users.csv", add_rows(from, count));
    import(case, &input, &[&["--mode", "add"], extra].concat())
}

/// Imports `content` as the file `name` into an empty account in add mode; the run must succeed
/// with `rows` rows, every one `ok`. Returns the run and the users it created, by extension.
fn import_every_row(
    name: &str,
    content: impl AsRef<[u8]>,
    rows: usize,
) -> (Ran, HashMap<u32, TelecmiRecord>) {
    let case = Case::new();
    let input = case.write(name, content);
    let (ran, report) = import(&case, &input, &["--mode", "add"]);
    ran.assert_code(0);
    assert_eq!(outcomes(&report), vec!["ok"; rows]);
    (ran, by_extension(&case))
}

fn by_extension(case: &Case) -> HashMap<u32, TelecmiRecord> {
    case.sandbox()
        .telecmi_users()
        .into_iter()
        .map(|u| (u.extension, u))
        .collect()
}

#[test]
fn valid_and_invalid_rows_each_get_exactly_one_report_line() {
    let case = Case::new();
    let input = case.write(
        "mix.csv",
        "extension,name,phone_number,password\n\
         101,Asha Rao,919200000101,Secret101\n\
         102,Bad Phone,12345,Secret102\n\
         abc,Bad Extension,919200000103,Secret103\n\
         104,Dev Nair,+91 92000 00104,Secret104\n\
         105,,919200000105,Secret105\n\
         106,Eve Dutt,919200000106,Secret106\n\
         104,Again Dev,919200000107,Secret107\n",
    );
    let (ran, rows) = import(&case, &input, &["--mode", "add"]);
    ran.assert_code_because(1, "invalid rows make exit 1");

    let header = std::fs::read_to_string(report_path(&input)).unwrap();
    assert_eq!(
        header.lines().next().unwrap(),
        "row,extension,agent_id,action,outcome,http_status,attempts,message,source_row,requests"
    );
    assert_rows_numbered(&rows, 7);
    assert_eq!(
        outcomes(&rows),
        ["ok", "invalid", "invalid", "ok", "invalid", "ok", "invalid"]
    );

    for (index, column, value) in [
        (1, "column 3 (phone_number)", Some("\"12345\"")),
        (2, "column 1 (extension)", Some("\"abc\"")),
        (4, "column 2 (name)", None),
        (6, "column 1 (extension)", Some("duplicate of row 4")),
    ] {
        let row = &rows[index];
        assert_message_contains(row, column);
        if let Some(value) = value {
            assert_message_contains(row, value);
        }
        assert_eq!(row["action"], "none");
        assert_eq!(row["http_status"], "");
        assert_eq!(row["attempts"], "0");
    }
    assert_eq!(
        rows[2]["extension"], "abc",
        "the raw cell is reported as given"
    );

    for row in rows.iter().filter(|r| r["outcome"] == "ok") {
        assert_eq!(row["action"], "add");
        assert_eq!(row["http_status"], "200");
        assert_eq!(row["attempts"], "1");
        assert_eq!(row["agent_id"], agent_id(row["extension"].parse().unwrap()));
    }

    let users = by_extension(&case);
    let mut extensions: Vec<u32> = users.keys().copied().collect();
    extensions.sort();
    assert_eq!(extensions, [101, 104, 106], "exactly the valid rows");
    assert_eq!(
        users[&104].phone_number, "919200000104",
        "sent as E.164 digits without the +"
    );
    assert_eq!(users[&104].name, "Dev Nair");
}

#[test]
fn quoted_cells_bom_and_crlf_are_read_like_a_spreadsheet_does() {
    let case = Case::new();
    let input = case.write(
        "excel.csv",
        "\u{feff}Extension, Name ,Phone-Number,PASSWORD\r\n\
         201,\"Rao, Venkat\",919200000201,Secret201\r\n\
         202,\"Anita \"\"Annie\"\" Thomas\",919200000202,Secret202\r\n\
         203,\"Line\r\nBreak\",919200000203,Secret203\r\n\
         204,Plain Name,919200000204,\"pass,word\"\"1\"\r\n\
         205,Bell\u{7}Name,919200000205,Secret205\r\n",
    );
    let (ran, rows) = import(&case, &input, &["--mode", "add"]);
    ran.assert_code(1);
    assert_rows_numbered(&rows, 5);
    assert_eq!(outcomes(&rows), ["ok", "ok", "ok", "ok", "invalid"]);
    assert_message_contains(&rows[4], "control characters");

    let users = by_extension(&case);
    assert_eq!(users[&201].name, "Rao, Venkat");
    assert_eq!(
        users[&203].name, "Line Break",
        "a line break in a name folds into a space"
    );
    assert_eq!(users[&202].name, "Anita \"Annie\" Thomas");
    assert_eq!(users[&204].name, "Plain Name");
    assert_eq!(users[&204].password, "pass,word\"1");
    assert!(!users.contains_key(&205));
}

#[test]
fn semicolon_delimiter_is_detected() {
    let (_, users) = import_every_row(
        "european.csv",
        "extension;name;phone_number;password\n\
         301;Müller, Hans;919200000301;Secret301\n\
         302;Dupont, Léa;919200000302;Secret302\n",
        2,
    );
    assert_eq!(users[&301].name, "Müller, Hans");
    assert_eq!(users[&302].name, "Dupont, Léa");
}

#[test]
fn tab_delimiter_is_detected() {
    let (_, users) = import_every_row(
        "tabs.tsv",
        "extension\tname\tphone_number\tpassword\n\
         401\tSam Lee; Jr, III\t919200000401\tSecret401\n",
        1,
    );
    assert_eq!(users[&401].name, "Sam Lee; Jr, III");
}

#[test]
fn utf16le_unicode_text_with_bom_is_read() {
    // Excel's "Unicode text": UTF-16LE with a BOM, tab-separated, CRLF.
    let text = "extension\tname\tphone_number\tpassword\r\n\
                501\tZoë Ødegård\t919200000501\tSecret501\r\n\
                502\tअनिल कुमार\t919200000502\tSecret502\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let (_, users) = import_every_row("unicode.txt", bytes, 2);
    assert_eq!(users[&501].name, "Zoë Ødegård");
    assert_eq!(users[&502].name, "अनिल कुमार");
    assert_eq!(users[&502].password, "Secret502");
}

#[test]
fn windows_1252_file_is_read_as_unicode_not_mangled() {
    let mut bytes = b"extension,name,phone_number,password\n".to_vec();
    bytes.extend_from_slice(b"601,Jos\xE9 Garc\xEDa,919200000601,Secret601\n");
    bytes.extend_from_slice(b"602,Fran\xE7oise \x80uro,919200000602,Secret602\n");
    let (ran, users) = import_every_row("ansi.csv", bytes, 2);
    assert_eq!(users[&601].name, "José García");
    assert_eq!(users[&602].name, "Françoise €uro");
    ran.assert_stderr_contains_because("Windows-1252", "the guess is announced");
}

#[test]
fn a_sheet_that_turns_windows_1252_past_its_head_is_read_so_and_said_once() {
    // The encoding is voted on at the first byte that is not ASCII.
    let bytes = ascii_past_the_head_then(611, b"621,Jos\xE9 Garc\xEDa,919200000621,Secret621,\n");
    let (ran, users) = import_every_row("late.csv", bytes, 11);
    assert_eq!(users[&621].name, "José García");
    assert_eq!(users[&611].name, "Agent 611");
    ran.assert_stderr_once(
        "reading it as Windows-1252",
        "the guess is said once, though the sheet is read twice",
    );
}

#[test]
fn validate_names_the_encoding_a_late_vote_found() {
    let case = Case::new();
    let sheet = case.write(
        "late.csv",
        ascii_past_the_head_then(611, b"621,Jos\xE9 Garc\xEDa,919200000621,Secret621,\n"),
    );
    let ran = case.run(&["validate", arg(&sheet), "--mode", "add", "--json"]);
    ran.assert_code(0)
        .assert_stderr_once("reading it as Windows-1252", "one reading, one guess");
    assert_eq!(ran.stdout_json()["encoding"], "windows-1252");
}

#[test]
fn non_ascii_names_arrive_byte_exact() {
    let case = Case::new();
    let names = [
        "Zoë Ødegård",
        "अनिल कुमार",
        "தமிழ் செல்வன்",
        "Łukasz Wójcik",
        "José Álvarez",
        "김민준",
        "Renée D'Souza",
    ];
    let mut text = String::from(HEADER);
    for (i, name) in names.iter().enumerate() {
        let ext = 701 + i;
        text.push_str(&format!("{ext},{name},919200000{ext},Secret{ext}\n"));
    }
    let input = case.write("names.csv", text);
    let (ran, rows) = import(&case, &input, &["--mode", "add"]);
    ran.assert_code(0);
    assert!(rows.iter().all(|r| r["outcome"] == "ok"));
    let users = case.sandbox().telecmi_users();
    assert_eq!(users.len(), names.len());
    for (i, name) in names.iter().enumerate() {
        let user = users
            .iter()
            .find(|u| u.extension == 701 + i as u32)
            .unwrap();
        assert_eq!(user.name.as_bytes(), name.as_bytes());
    }
}

#[test]
fn update_with_empty_cells_keeps_the_server_values() {
    let case = Case::new();
    let before = TelecmiRecord {
        start_time: Some(9),
        end_time: Some(18),
        sms_alert: true,
        ..telecmi_user(801, "Keep This Name", "919200000801", "KeepPass801")
    };
    case.insert_telecmi(before.clone());
    case.insert_telecmi(telecmi_user(
        802,
        "Already Right",
        "919200000802",
        "RightPass802",
    ));
    let input = case.write(
        "changes.csv",
        "extension,name,phone_number,password,start_time,end_time,sms_alert\n\
         801,,919300000801,,,,\n\
         802,Already Right,919200000802,,,,\n",
    );
    let (ran, rows) = import(&case, &input, &["--mode", "update"]);
    ran.assert_code(0);

    assert_eq!(rows[0]["outcome"], "ok");
    assert_eq!(rows[0]["action"], "update");
    assert_eq!(rows[1]["outcome"], "skipped");
    assert_eq!(rows[1]["action"], "none");
    assert_message_contains(&rows[1], "up to date");

    let users = by_extension(&case);
    assert_eq!(
        users[&801],
        TelecmiRecord {
            phone_number: "919300000801".into(),
            ..before
        },
        "only the phone changed"
    );
    assert_eq!(users[&802].password, "RightPass802");
    let stats = case.sandbox().stats();
    assert_eq!(
        stats.by_endpoint.get("/v2/user/update").copied(),
        Some(1),
        "the up-to-date row sends no update: {:?}",
        stats.by_endpoint
    );
}

#[test]
fn upsert_updates_existing_users_and_adds_new_ones() {
    let case = Case::new();
    case.insert_telecmi(telecmi_user(901, "Old Name", "919200000901", "OldPass901"));
    let input = case.write(
        "upsert.csv",
        "extension,name,phone_number,password\n\
         901,New Name,919300000901,NewPass901\n\
         902,Fresh User,919200000902,Fresh902\n",
    );
    let (ran, rows) = import(&case, &input, &["--mode", "upsert"]);
    ran.assert_code(0);
    assert_eq!(outcomes(&rows), ["ok", "ok"]);
    assert_eq!(rows[0]["action"], "update");
    assert_eq!(rows[1]["action"], "add");
    let users = by_extension(&case);
    assert_eq!(users.len(), 2);
    assert_eq!(users[&901].name, "New Name");
    assert_eq!(users[&901].phone_number, "919300000901");
    assert_eq!(users[&901].password, "NewPass901");
    assert_eq!(users[&902].name, "Fresh User");
}

#[test]
fn add_of_an_existing_user_fails_with_the_provider_message() {
    let case = Case::new();
    let existing = telecmi_user(111, "Existing", "919200000111", "Exists111");
    case.insert_telecmi(existing.clone());
    let input = case.write(
        "add.csv",
        "extension,name,phone_number,password\n111,Someone Else,919200000999,Other999\n",
    );
    let (ran, rows) = import(&case, &input, &["--mode", "add"]);
    ran.assert_code(1);
    assert_eq!(rows[0]["outcome"], "failed");
    assert_eq!(rows[0]["action"], "add");
    assert_eq!(rows[0]["http_status"], "400");
    assert_message_contains(&rows[0], "User ID Already Exists");
    assert_eq!(
        by_extension(&case)[&111],
        existing,
        "the existing user is untouched"
    );
}

#[test]
fn failed_rows_file_holds_the_original_rows_and_feeds_straight_back() {
    let case = Case::new();
    case.insert_telecmi(telecmi_user(123, "Taken", "919200000123", "Taken123"));
    let original = "Extension;Full Name;Mobile;Password;Team\n\
         121;Good One;919200000121;Secret121;Inbound\n\
         122;\"Bad \"\"Phone\"\"; Name\";12345;Secret122;Out, bound\n\
         123;Clash Person;919200000123;Secret123;Inbound\n\
         124;Good Two;+91 92000 00124;Secret124;\n\
         125;Short Row\n";
    let input = case.write("sheet.csv", original);
    let failed = case.path("failed.csv");
    let (ran, rows) = import(&case, &input, &["--mode", "add", "--failed", arg(&failed)]);
    ran.assert_code(1);
    assert_eq!(
        outcomes(&rows),
        ["ok", "invalid", "failed", "ok", "invalid"]
    );

    let read = |path: &Path| -> (csv::ByteRecord, Vec<csv::ByteRecord>) {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .flexible(true)
            .from_path(path)
            .unwrap();
        let header = reader.byte_headers().unwrap().clone();
        let records = reader.byte_records().map(Result::unwrap).collect();
        (header, records)
    };
    let (original_header, original_rows) = read(&input);
    let (failed_header, failed_rows) = read(&failed);
    let mut wanted_header = original_header.clone();
    wanted_header.push_field(b"original_row");
    wanted_header.push_field(b"failure_reason");
    assert_eq!(
        failed_header, wanted_header,
        "the original header, then the added columns"
    );
    let width = original_header.len();
    for (failed_row, &i) in failed_rows.iter().zip(&[1, 2, 4]) {
        let cells: Vec<&[u8]> = failed_row.iter().collect();
        let original: Vec<&[u8]> = original_rows[i].iter().collect();
        assert_eq!(
            &cells[..original.len()],
            &original[..],
            "the failed or invalid row, cells untouched"
        );
        assert!(
            cells[original.len()..width].iter().all(|c| c.is_empty()),
            "a short row padded to the header"
        );
        assert_eq!(cells[width], (i + 1).to_string().as_bytes(), "its row");
        assert!(!cells[width + 1].is_empty(), "and why it failed");
    }
    assert_eq!(failed_rows.len(), 3);

    // Fix the sheet and the account, then feed the failed-rows file straight back.
    let mut fixed = csv::WriterBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_path(&failed)
        .unwrap();
    fixed.write_byte_record(&failed_header).unwrap();
    for record in &failed_rows {
        let mut cells: Vec<Vec<u8>> = record.iter().map(<[u8]>::to_vec).collect();
        match &cells[0][..] {
            b"122" => cells[2] = b"919200000122".to_vec(),
            b"125" => {
                cells[2] = b"919200000125".to_vec();
                cells[3] = b"Secret125".to_vec();
            }
            _ => {}
        }
        fixed.write_record(&cells).unwrap();
    }
    fixed.flush().unwrap();
    drop(fixed);
    assert!(case.sandbox().remove_telecmi(123));

    let (ran, rows) = import(&case, &failed, &["--mode", "add"]);
    ran.assert_code(0);
    assert_eq!(outcomes(&rows), ["ok", "ok", "ok"]);
    let users = by_extension(&case);
    assert_eq!(users[&122].name, "Bad \"Phone\"; Name");
    assert_eq!(users[&123].name, "Clash Person");
    assert_eq!(users.len(), 5);
}

#[test]
fn a_dry_run_with_credentials_reads_the_account_and_tells_what_the_real_run_does() {
    let case = Case::seeded(2, 0);
    let existing = case.sandbox().telecmi_users()[0].extension;
    let sheet = case.write(
        "s.csv",
        format!(
            "extension,name,phone_number,password\n\
             201,Asha Rao,919812300001,Secret#201\n\
             202,,919812300002,\n\
             {existing},,919812300009,\n"
        ),
    );
    let report = case.path("r.csv");
    let dry = case.run(&["import", arg(&sheet), "--dry-run", "--report", arg(&report)]);
    dry.assert_code(0);
    let stats = case.sandbox().stats();
    assert!(
        stats.by_endpoint.keys().all(|path| path.ends_with("/list")),
        "{stats:?}"
    );
    assert!(stats.requests > 0, "the account was read");
    let foreseen: Vec<String> = read_csv(&report)
        .iter()
        .map(|r| r["message"].clone())
        .collect();
    assert_eq!(
        foreseen,
        [
            "dry run: would add".to_string(),
            "dry run: would fail: no user 202_1111112 in the account; to create it the row needs name, password".to_string(),
            "dry run: would update".to_string(),
        ]
    );

    case.run(&["import", arg(&sheet), "--report", arg(&report)])
        .assert_code(1);
    let rows = read_csv(&report);
    assert_eq!(
        outcomes(&rows),
        ["ok", "failed", "ok"],
        "as the dry run said"
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["action"].as_str())
            .collect::<Vec<_>>(),
        ["add", "update", "update"]
    );
}

#[test]
fn dry_run_sends_nothing_and_needs_no_credentials() {
    let case = Case::new();
    let report = case.path("dry.report.csv");
    let input = case.write("dry.csv", add_rows(100, 5));
    let mut command =
        roster_command(&["import", arg(&input), "--dry-run", "--report", arg(&report)]);
    // Pointed at the sandbox, so anything sent would be counted.
    command.env("ROSTER_BASE_URL", case.url());
    run(command).assert_code(0);
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 5);
    assert!(rows.iter().all(|r| r["outcome"] == "skipped"
        && r["action"] == "add"
        && r["message"].contains("dry run")));
    assert_eq!(case.sandbox().stats().requests, 0);
    assert!(case.sandbox().telecmi_users().is_empty());

    // An invalid row in a dry run: exit 1, still nothing sent.
    let bad = case.write(
        "dry-bad.csv",
        format!("{}106,Bad Phone,9.19E+11,Secret106\n", add_rows(100, 2)),
    );
    let mut command = roster_command(&[
        "import",
        arg(&bad),
        "--dry-run",
        "--mode",
        "add",
        "--report",
        arg(&report),
    ]);
    command.env("ROSTER_BASE_URL", case.url());
    run(command).assert_code(1);
    let rows = read_csv(&report);
    assert_eq!(outcomes(&rows), ["skipped", "skipped", "invalid"]);
    assert_message_contains(&rows[2], "scientific notation");
    assert_eq!(case.sandbox().stats().requests, 0);
}

#[test]
fn validate_prints_row_numbered_problems() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_file(
        dir.path(),
        "bad.csv",
        "extension,name,phone_number,password\n\
         131,Fine Person,919200000131,Secret131\n\
         132,\"Two\nLines\u{7}\",919200000132,Secret132\n\
         133,Short Phone,12345,Secret133\n\
         134,Fine Too,919200000134,Secret134\n",
    );
    let ran = run(roster_command(&["validate", arg(&bad), "--mode", "add"]));
    ran.assert_code(1);
    ran.assert_stderr_contains("row 2 (line 3): column 2 (name)");
    // Row 3 starts on line 5: row 2's cell spans two lines.
    ran.assert_stderr_contains("row 3 (line 5): column 3 (phone_number) value \"12345\"");
    ran.assert_stderr_lacks("row 1 ");
    ran.assert_stderr_lacks("row 4 ");
    ran.assert_stderr_contains("4 rows, 2 valid, 2 invalid");

    let good = write_file(dir.path(), "good.csv", add_rows(140, 3));
    let ran = run(roster_command(&["validate", arg(&good), "--mode", "add"]));
    ran.assert_code(0);
    ran.assert_stderr_contains("3 rows, 3 valid, 0 invalid");

    // --json: the same counts on stdout.
    let ran = run(roster_command(&[
        "validate",
        arg(&bad),
        "--mode",
        "add",
        "--json",
    ]));
    ran.assert_code(1);
    let summary = ran.stdout_json();
    assert_eq!(summary["rows"], 4);
    assert_eq!(summary["invalid"], 2);
}

#[test]
fn missing_secret_exits_2_naming_it_and_sends_nothing() {
    let case = Case::new();
    let input = case.write("users.csv", add_rows(150, 3));
    let report = report_path(&input);
    let mut command = case.roster(&["import", arg(&input), "--report", arg(&report)]);
    command.env_remove("TELECMI_SECRET");
    let ran = run(command);
    ran.assert_code(2);
    let errors: Vec<&str> = ran.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line: {}", ran.stderr);
    assert!(errors[0].contains("TELECMI_SECRET"), "{}", ran.stderr);
    assert_eq!(case.sandbox().stats().requests, 0);
    assert!(!report.exists(), "nothing started, no report");

    let mut command = case.roster(&["import", arg(&input), "--report", arg(&report)]);
    command.env_remove("TELECMI_APP_ID");
    let ran = run(command);
    ran.assert_code(2);
    ran.assert_stderr_contains("TELECMI_APP_ID");
    assert_eq!(case.sandbox().stats().requests, 0);
}

#[test]
fn wrong_secret_aborts_with_every_row_in_the_report() {
    let case = Case::new();
    let input = case.write("users.csv", add_rows(160, 30));
    let report = report_path(&input);
    let mut command = case.roster(&[
        "import",
        arg(&input),
        "--report",
        arg(&report),
        "--rate",
        "1000",
        "--concurrency",
        "4",
    ]);
    command.env("TELECMI_SECRET", "Wr0ng-Secret-987");
    let ran = run(command);
    ran.assert_code(3);
    assert!(
        ran.stderr.to_lowercase().contains("authentication"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("Wr0ng-Secret-987"));

    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 30);
    assert_eq!(count(&rows, "skipped"), 30, "{:?}", outcomes(&rows));
    for row in &rows {
        assert_eq!(row["attempts"], "0");
        assert_message_contains(row, "not sent");
        assert_message_contains(row, "authentication");
    }
    assert_eq!(
        case.sandbox().stats().requests,
        1,
        "the upsert's read of the account was refused, and nothing more was sent"
    );
    assert!(!std::fs::read_to_string(&report)
        .unwrap()
        .contains("Wr0ng-Secret-987"));
}

#[test]
fn user_limit_refusal_stops_further_adds() {
    let case = Case::with_user_limit(3);
    // One worker, so "after the first refusal" is well defined: rows 1-3 are created, row 4 is refused
    // by the account, and rows 5-6 must not be sent at all.
    let (ran, rows) = import_adds(&case, 170, 6, &["--concurrency", "1"]);
    ran.assert_code(1);
    assert_eq!(
        outcomes(&rows),
        ["ok", "ok", "ok", "failed", "failed", "failed"]
    );
    for row in &rows[3..] {
        assert_message_contains(row, "User limit reached");
    }
    assert_eq!(rows[3]["http_status"], "400");
    assert_eq!(rows[3]["attempts"], "1");
    for row in &rows[4..] {
        assert_eq!(row["attempts"], "0", "not sent: {:?}", row["message"]);
    }
    let adds = case.sandbox().stats().by_endpoint["/v2/user/add"];
    assert_eq!(adds, 4, "3 creations and the one refusal");
    assert_eq!(case.sandbox().telecmi_users().len(), 3);
}

#[test]
fn user_limit_with_concurrent_workers_sends_at_most_the_in_flight_adds() {
    let case = Case::with_user_limit(3);
    let (ran, rows) = import_adds(&case, 180, 12, &["--concurrency", "2"]);
    ran.assert_code(1);
    let ok = count(&rows, "ok");
    assert_eq!(ok, 3);
    assert!(rows
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .all(|r| r["message"].contains("User limit reached")));
    // 3 creations, the first refusal, and at most one more add that was already in flight
    // (concurrency 2) when the refusal came back.
    let adds = case.sandbox().stats().by_endpoint["/v2/user/add"];
    assert!((4..=5).contains(&adds), "{adds} adds sent for 12 rows");
}

#[test]
fn an_error_body_under_http_200_is_a_failure() {
    let server = ScriptedServer::fixed(
        200,
        r#"{"code":404,"status":"error","msg":"Weird provider failure"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path(), "users.csv", add_rows(190, 3));
    let report = report_path(&input);
    let command = server.roster(&import_args(
        &input,
        "add",
        &report,
        &["--rate", "0", "--concurrency", "1"],
    ));
    run(command).assert_code(1);
    let rows = read_csv(&report);
    assert_eq!(outcomes(&rows), ["failed", "failed", "failed"]);
    for row in &rows {
        assert_message_contains(row, "Weird provider failure");
        assert_eq!(row["http_status"], "404", "the body's code");
    }
    assert_eq!(server.requests(), 3, "a refusal is not retried");
}

#[test]
fn max_attempts_applies_to_each_request_of_a_row() {
    // The read succeeds at once; the update gets one 500 and then succeeds.
    let mut updates = 0;
    let server = ScriptedServer::start(move |path, _| {
        if path.ends_with("/v3/user/get") {
            let agent = r#"{"code":200,"status":"success","agent":{"agent_id":"281_1111112","first_name":"Old","last_name":"Name","extension":281,"password":"Secret281","phone":"919200000281","followme":false}}"#;
            return (200, agent.to_string());
        }
        if path.ends_with("/v3/user/list") {
            // An account too large to walk for one row: the row reads its user with get.
            return (
                200,
                r#"{"code":200,"status":"success","count":100000,"agents":[]}"#.to_string(),
            );
        }
        updates += 1;
        if updates == 1 {
            (
                500,
                r#"{"code":500,"status":"error","msg":"Sorry, something goes wrong !"}"#
                    .to_string(),
            )
        } else {
            (
                200,
                r#"{"code":200,"status":"success","msg":"Saved successfully"}"#.to_string(),
            )
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "phones.csv",
        "extension,phone_number\n281,919300000281\n",
    );
    let report = report_path(&input);
    let command = server.roster(&import_args(
        &input,
        "update",
        &report,
        &["--rate", "0", "--max-attempts", "2"],
    ));
    let ran = run(command);
    let rows = read_csv(&report);
    assert_eq!(rows[0]["outcome"], "ok", "{:?}", rows[0]);
    assert_eq!(
        (rows[0]["attempts"].as_str(), rows[0]["requests"].as_str()),
        ("2", "3"),
        "two tries of the update, and a read"
    );
    ran.assert_code(0);
}

#[test]
fn rate_limit_is_respected_at_the_server() {
    let case = Case::new();
    let input = case.write("users.csv", add_rows(200, 40));
    let report = report_path(&input);
    let started = Instant::now();
    let ran = case.run(&import_args(
        &input,
        "add",
        &report,
        &["--rate", "20", "--concurrency", "8"],
    ));
    let elapsed = started.elapsed();
    ran.assert_code(0);
    let stats = case.sandbox().stats();
    assert_eq!(stats.requests, 40);
    let worst = max_in_window(&stats.arrivals, Duration::from_secs(1));
    assert!(
        worst <= 20 + 1,
        "{worst} requests in one second at --rate 20 (burst 1)"
    );
    // 40 requests evenly spaced at 20/s span at least 39 intervals of 50 ms.
    let span = *stats.arrivals.iter().max().unwrap() - *stats.arrivals.iter().min().unwrap();
    assert!(
        span >= Duration::from_millis(1850),
        "arrivals span {span:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(1900),
        "run took {elapsed:?}"
    );
}

#[test]
fn rate_limit_counts_reads_and_retries_too() {
    let case = Case::with_faults(Faults {
        error_rate: 0.15,
        ..Default::default()
    });
    let mut text = String::from("extension,phone_number\n");
    for ext in 220..232 {
        case.insert_telecmi(telecmi_user(
            ext,
            "Phone Change",
            &format!("919200000{ext}"),
            &format!("Secret{ext}"),
        ));
        text.push_str(&format!("{ext},919300000{ext}\n"));
    }
    let input = case.write("phones.csv", text);
    // The account is read (one walk), then each row is an update, some retried after a 500.
    let (ran, rows) = import(
        &case,
        &input,
        &["--mode", "update", "--rate", "20", "--concurrency", "8"],
    );
    ran.assert_code(0);
    assert!(rows.iter().all(|r| r["outcome"] == "ok"));
    let stats = case.sandbox().stats();
    assert!(stats.requests >= 12 + 2, "{}", stats.requests);
    let worst = max_in_window(&stats.arrivals, Duration::from_secs(1));
    assert!(
        worst <= 20 + 1,
        "{worst} requests in one second at --rate 20"
    );
    let users = by_extension(&case);
    assert!((220..232).all(|ext| users[&ext].phone_number == format!("919300000{ext}")));
}

#[test]
fn concurrency_is_respected_at_the_server() {
    let case = Case::with_latency(Duration::from_millis(50));
    let (ran, rows) = import_adds(&case, 250, 18, &["--concurrency", "3", "--rate", "0"]);
    ran.assert_code(0);
    assert_eq!(rows.len(), 18);
    let in_flight = case.sandbox().stats().max_in_flight;
    assert!(
        in_flight <= 3,
        "{in_flight} requests in flight at --concurrency 3"
    );
    assert!(in_flight >= 2, "requests really overlapped: {in_flight}");
}

#[test]
fn no_secret_or_password_in_any_output() {
    const APP_SECRET: &str = "S3cr3t-XYZ";
    const PASSWORD: &str = "Pw-7f3Kq9Zt";
    const SHORT_PASSWORD: &str = "Zq9!x";
    const SERVER_PASSWORD: &str = "SrvPw-44Lm8";
    let case = Case::start(SandboxConfig {
        secret: APP_SECRET.into(),
        // Some 500s, so that retries and lost outcomes are logged too.
        faults: Faults {
            error_rate: 0.1,
            ..Default::default()
        },
        ..Default::default()
    });
    for ext in [272, 273] {
        case.insert_telecmi(telecmi_user(
            ext,
            "Exists Already",
            &format!("919200000{ext}"),
            SERVER_PASSWORD,
        ));
    }
    // An unknown column, so that a warning is logged as well.
    let input = case.write(
        "users.csv",
        format!(
            "extension,name,phone_number,password,Team\n\
             271,New Person,919200000271,{PASSWORD},A\n\
             272,Exists Already,919300000272,{PASSWORD},A\n\
             273,,919300000273,,A\n\
             274,Bad Phone,12345,{PASSWORD},A\n\
             275,Short Password,919200000275,{SHORT_PASSWORD},A\n\
             276,,919200000276,,A\n"
        ),
    );
    let report = case.path("report.csv");
    let summary = case.path("summary.json");
    let failed = case.path("failed.csv");
    // The flags' most verbose JSON logs, then everything every crate logs (RUST_LOG=trace).
    for (verbosity, rust_log) in [
        (&["-vv", "--log-format", "json"][..], None),
        (&[][..], Some("trace")),
    ] {
        let mut args = verbosity.to_vec();
        args.extend_from_slice(&import_args(
            &input,
            "upsert",
            &report,
            &[
                "--summary",
                arg(&summary),
                "--failed",
                arg(&failed),
                "--json",
                "--rate",
                "0",
            ],
        ));
        let mut command = case.roster(&args);
        command.env("TELECMI_SECRET", APP_SECRET);
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let ran = run(command);
        ran.assert_code(1);
        let rows = read_csv(&report);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[3]["outcome"], "invalid");
        assert_eq!(rows[4]["outcome"], "invalid");
        assert_eq!(rows[5]["outcome"], "failed", "no such user: {:?}", rows[5]);
        ran.assert_stderr_contains_because("Team", "the warning is logged");

        let outputs = [
            ("stdout", ran.stdout.clone()),
            ("stderr", ran.stderr.clone()),
            ("report", std::fs::read_to_string(&report).unwrap()),
            ("summary", std::fs::read_to_string(&summary).unwrap()),
        ];
        for (what, text) in &outputs {
            for secret in [APP_SECRET, PASSWORD, SHORT_PASSWORD, SERVER_PASSWORD] {
                assert!(
                    !text.contains(secret),
                    "{secret} appears in {what} ({args:?}, RUST_LOG={rust_log:?}):\n{text}"
                );
            }
        }
        // The failed-rows file is the user's own input: its passwords are expected, the app secret
        // and the account's passwords are not.
        let failed_text = std::fs::read_to_string(&failed).unwrap();
        assert!(!failed_text.contains(APP_SECRET));
        assert!(!failed_text.contains(SERVER_PASSWORD));
    }
}

#[test]
fn lost_add_responses_never_create_a_user_twice() {
    let case = Case::with_faults(Faults {
        lost_add_rate: 0.3,
        ..Default::default()
    });
    let (ran, rows) = import_adds(&case, 300, 60, &["--rate", "0", "--concurrency", "4"]);
    ran.assert_code(0);
    assert_rows_numbered(&rows, 60);
    assert!(
        rows.iter().all(|r| r["outcome"] == "ok"),
        "{:?}",
        rows.iter()
            .filter(|r| r["outcome"] != "ok")
            .collect::<Vec<_>>()
    );
    let users = case.sandbox().telecmi_users();
    let extensions: Vec<u32> = users.iter().map(|u| u.extension).collect();
    assert_eq!(extensions, (300..360).collect::<Vec<u32>>());
    for user in &users {
        assert_eq!(user.name, format!("Agent {}", user.extension));
    }
    let stats = case.sandbox().stats();
    assert_eq!(stats.adds_committed, 60, "each user created exactly once");
    assert!(
        stats.by_endpoint.get("/v3/user/get").copied().unwrap_or(0) >= 1,
        "some responses were lost and read back: {:?}",
        stats.by_endpoint
    );
    assert!(rows.iter().any(|r| r["message"].contains("lost response")));
}

#[test]
fn lost_add_responses_with_sms_alert_are_confirmed_not_failed() {
    let case = Case::with_faults(Faults {
        lost_add_rate: 1.0,
        ..Default::default()
    });
    let input = case.write(
        "users.csv",
        "extension,name,phone_number,password,sms_alert\n\
         361,Alert On,919200000361,Secret361,yes\n\
         362,Alert Off,919200000362,Secret362,no\n",
    );
    let (ran, rows) = import(&case, &input, &["--mode", "add", "--concurrency", "1"]);
    assert_eq!(
        outcomes(&rows),
        ["ok", "ok"],
        "created with exactly these details: {rows:?}"
    );
    ran.assert_code(0);
    assert_eq!(case.sandbox().stats().adds_committed, 2);
}

/// `/v3/user/get` reports no `notify`, but the list walk does: an update run that reads the
/// account with the walk knows each user's sms_alert, so a row is skipped exactly when it matches.
#[test]
fn up_to_date_rows_are_skipped_sms_alert_included() {
    let case = Case::new();
    for (extension, sms_alert) in [(363, true), (364, true), (365, false)] {
        case.insert_telecmi(TelecmiRecord {
            sms_alert,
            ..telecmi_user(
                extension,
                "Same Same",
                &format!("919200000{extension}"),
                "Secret363",
            )
        });
    }
    let input = case.write(
        "users.csv",
        "extension,phone_number,sms_alert\n363,919200000363,\n364,919200000364,yes\n365,919200000365,yes\n",
    );
    let (ran, rows) = import(&case, &input, &["--mode", "update"]);
    ran.assert_code(0);
    let done: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["outcome"].as_str(), r["action"].as_str()))
        .collect();
    assert_eq!(
        done,
        [("skipped", "none"), ("skipped", "none"), ("ok", "update")]
    );
    let stats = case.sandbox().stats();
    assert_eq!(stats.by_endpoint.get("/v2/user/update"), Some(&1));
    assert_eq!(
        stats.by_endpoint.get("/v3/user/get"),
        None,
        "the walk read them all"
    );
    assert!(case.sandbox().telecmi_users().iter().all(|u| u.sms_alert));
}

#[test]
fn json_summary_on_stdout_and_in_a_file() {
    let case = Case::new();
    case.insert_telecmi(telecmi_user(402, "Taken", "919200000402", "Taken402"));
    let input = case.write(
        "users.csv",
        "extension,name,phone_number,password\n\
         401,One,919200000401,Secret401\n\
         402,Two,919200000402,Secret402\n\
         403,Three,123,Secret403\n\
         404,Four,919200000404,Secret404\n",
    );
    let summary_path = case.path("summary.json");
    let (ran, rows) = import(
        &case,
        &input,
        &["--mode", "add", "--json", "--summary", arg(&summary_path)],
    );
    ran.assert_code(1);
    assert_eq!(rows.len(), 4);
    let printed = ran.stdout_json();
    let written = read_json(&summary_path);
    assert_eq!(
        printed, written,
        "--json and --summary write the same summary"
    );

    let counts = &printed["counts"];
    assert_eq!(counts["ok"], 2);
    assert_eq!(counts["failed"], 1);
    assert_eq!(counts["invalid"], 1);
    assert_eq!(counts["skipped"], 0);
    assert_eq!(
        printed["requests"].as_u64(),
        Some(case.sandbox().stats().requests),
        "requests as counted by the server"
    );
    assert_eq!(printed["retries"], 0);
    assert!(printed["achieved_rate"].as_f64().unwrap() >= 0.0);
    assert!(printed["duration_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn max_failures_stops_a_clearly_wrong_sheet() {
    let case = Case::new();
    for ext in 500..520 {
        case.insert_telecmi(telecmi_user(
            ext,
            "Already There",
            "919200000500",
            "Present500",
        ));
    }
    let (ran, rows) = import_adds(
        &case,
        500,
        20,
        &[
            "--max-failures",
            "3",
            "--concurrency",
            "1",
            // Spaced requests, so the stop is judged before many more rows go out.
            "--rate",
            "50",
            "--json",
        ],
    );
    ran.assert_code(3);
    assert_rows_numbered(&rows, 20);
    let failed = count(&rows, "failed");
    let skipped = count(&rows, "skipped");
    assert_eq!(failed + skipped, 20);
    // The limit is judged by the report writer as results arrive, so a row or two may already be on
    // their way when it trips.
    assert!(
        (3..=6).contains(&failed),
        "{failed} rows sent before the stop"
    );
    assert!(rows[..failed].iter().all(|r| r["outcome"] == "failed"));
    assert!(rows[failed..].iter().all(|r| r["outcome"] == "skipped"
        && r["attempts"] == "0"
        && r["message"].contains("aborted")));
    let adds = case.sandbox().stats().by_endpoint["/v2/user/add"];
    assert_eq!(adds as usize, failed, "skipped rows were not sent");
    let summary = ran.stdout_json();
    assert!(summary["aborted"]
        .as_str()
        .unwrap()
        .contains("--max-failures"));
}

/// Starts a slow import of 100 rows, sends `signal` once the sandbox has seen a few requests, and
/// returns the exit code, the report rows and the number of users the sandbox holds.
fn interrupted_import(signal: &str) -> (Option<i32>, Vec<Row>, usize) {
    let case = Case::new();
    let input = case.write("users.csv", add_rows(600, 100));
    let report = report_path(&input);
    let mut child = case.spawn(&import_args(&input, "add", &report, &["--rate", "20"]));
    let started = Instant::now();
    case.wait_for_requests(5, "the import to start");
    send_signal(&child, signal);
    let status = wait_at_most(
        &mut child,
        Duration::from_secs(15).saturating_sub(started.elapsed()),
        &format!("the import stopped by {signal}, 15 s after its start,"),
    );
    (
        status.code(),
        read_report(&report),
        case.sandbox().telecmi_users().len(),
    )
}

#[test]
fn ctrl_c_stops_the_run_and_the_report_still_covers_every_row() {
    let (code, rows, created) = interrupted_import("-INT");
    assert_interrupted_run_is_fully_reported(code, &rows, created);
}

#[test]
fn sigterm_stops_the_run_and_the_report_still_covers_every_row() {
    let (code, rows, created) = interrupted_import("-TERM");
    assert_interrupted_run_is_fully_reported(code, &rows, created);
}

/// Runs `import FILE --report R` for a file that must be refused as a whole.
fn refused(case: &Case, name: &str, content: &[u8], extra: &[&str]) -> Ran {
    let input = case.write(name, content);
    let (ran, rows) = import(case, &input, extra);
    ran.assert_code(2);
    assert!(rows.is_empty(), "{name}: no report for a refused file");
    assert_eq!(case.sandbox().stats().requests, 0, "{name}: nothing sent");
    ran
}

#[test]
fn an_empty_file_is_refused() {
    let case = Case::new();
    let ran = refused(&case, "empty.csv", b"", &[]);
    ran.assert_stderr_contains("empty");
}

#[test]
fn a_header_only_file_is_an_empty_successful_run() {
    let case = Case::new();
    let input = case.write("header.csv", HEADER);
    let (ran, rows) = import(&case, &input, &["--mode", "add", "--json"]);
    ran.assert_code(0);
    assert!(rows.is_empty());
    assert_eq!(
        std::fs::read_to_string(report_path(&input)).unwrap(),
        "row,extension,agent_id,action,outcome,http_status,attempts,message,source_row,requests\n",
        "a report with its header and no rows"
    );
    let summary = ran.stdout_json();
    assert_eq!(summary["rows"], 0);
    assert_eq!(case.sandbox().stats().requests, 0);
}

#[test]
fn a_file_without_a_header_is_refused() {
    let case = Case::new();
    let ran = refused(
        &case,
        "noheader.csv",
        b"101,Asha Rao,919200000101,Secret101\n102,Bo Lin,919200000102,Secret102\n",
        &[],
    );
    ran.assert_stderr_contains("no header row");
    ran.assert_stderr_contains_because("101", "shows what it found");
}

#[test]
fn a_missing_required_column_is_refused_by_name() {
    let case = Case::new();
    let ran = refused(
        &case,
        "nopassword.csv",
        b"extension,name,phone_number\n101,Asha Rao,919200000101\n",
        &["--mode", "add"],
    );
    ran.assert_stderr_contains("password");
    ran.assert_stderr_contains("missing required column");
}

#[test]
fn a_damaged_workbook_is_refused() {
    let case = Case::new();
    let mut xlsx = b"PK\x03\x04\x14\x00\x06\x00".to_vec();
    xlsx.extend_from_slice(&[0u8; 64]);
    xlsx.extend_from_slice(b"[Content_Types].xml");
    let ran = refused(&case, "agents.xlsx", &xlsx, &[]);
    ran.assert_stderr_contains("cannot read the workbook");
    ran.assert_stderr_contains_because("damaged", "says what may be wrong");
}

mod library {
    //! The CSV path without the binary: any cell text, read back through `Sheet` and `Validator`.

    use proptest::prelude::*;
    use roster::input::{Column, Delimiter, Sheet, TextEncoding};
    use roster::model::Mode;
    use roster::validate::{Rules, Validator};

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 ]{0,12}",
            "[ a-z,;\"'\t\r\n=+@éØअनिल😀]{0,16}",
            ".{0,20}",
            "\\PC{0,24}",
        ]
    }

    fn extension_cell(index: usize) -> impl Strategy<Value = String> {
        prop_oneof![
            3 => Just((1000 + index).to_string()),
            1 => cell(),
        ]
    }

    fn sheet_rows() -> impl Strategy<Value = Vec<(String, String, String)>> {
        (0usize..12).prop_flat_map(|n| {
            (0..n)
                .map(|i| (extension_cell(i), cell(), cell()))
                .collect::<Vec<_>>()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn any_cells_read_back_exactly_and_never_panic(rows in sheet_rows()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sheet.csv");
            let mut writer = csv::Writer::from_path(&path).unwrap();
            writer.write_record(["extension", "name", "phone_number", "tag"]).unwrap();
            for (i, (extension, name, phone)) in rows.iter().enumerate() {
                writer.write_record([extension, name, phone, &format!("t{i}")]).unwrap();
            }
            writer.flush().unwrap();
            drop(writer);

            let mut sheet = Sheet::open(&path, Delimiter::Auto, TextEncoding::Auto).unwrap();
            prop_assert_eq!(sheet.delimiter(), b',');
            let rules = Rules { mode: Mode::Update, ..Rules::default() };
            let mut validator = Validator::new(rules, sheet.columns().clone()).unwrap();
            prop_assert_eq!(sheet.columns().index(Column::Name), Some(1));

            let mut record = csv::ByteRecord::new();
            let mut seen = 0usize;
            while let Some(position) = sheet.next_record(&mut record).unwrap() {
                let (extension, name, phone) = &rows[seen];
                prop_assert_eq!(position.row, seen as u64 + 1);
                prop_assert_eq!(record.len(), 4);
                prop_assert_eq!(&record[0], extension.as_bytes());
                prop_assert_eq!(&record[1], name.as_bytes());
                prop_assert_eq!(&record[2], phone.as_bytes());
                let tag = format!("t{seen}");
                prop_assert_eq!(&record[3], tag.as_bytes());
                let verdict = validator.check(position.row, &record);
                let trimmed = name.trim();
                match verdict {
                    Ok(user) => {
                        // The two changes: the `'` an export puts before a formula-like cell comes
                        // off, and line breaks and tabs fold with the spaces around them.
                        let unguarded = roster::export::record::without_formula_guard(trimmed);
                        let folded = unguarded.split_whitespace().collect::<Vec<_>>().join(" ");
                        let expected = (!trimmed.is_empty()).then_some(folded);
                        prop_assert_eq!(user.name.as_deref(), expected.as_deref(), "names come back as written");
                        prop_assert_eq!(user.extension.to_string(), extension.trim());
                    }
                    Err(problems) => {
                        prop_assert!(!problems.is_empty());
                        let name_is_fine = trimmed.chars().count() <= 100
                            && !trimmed.chars().any(|c| c.is_control() && !c.is_whitespace())
                            && !trimmed.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'));
                        if name_is_fine {
                            prop_assert!(
                                problems.iter().all(|p| p.column.map(|c| c.1) != Some("name")),
                                "a clean name {:?} was refused: {:?}", name, problems
                            );
                        }
                    }
                }
                seen += 1;
            }
            prop_assert_eq!(seen, rows.len(), "every data row seen exactly once");
        }
    }
}
