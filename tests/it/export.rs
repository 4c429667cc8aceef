//! `roster export` end to end: the real binary against the in-process sandbox.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use roster::sandbox::{Faults, SandboxConfig};

const SMARTFLO_COLUMNS: [&str; 11] = [
    "id",
    "name",
    "login_id",
    "extension",
    "agent_id",
    "agent_name",
    "agent_status",
    "follow_me_number",
    "user_status",
    "role_id",
    "role_name",
];

/// `roster export --provider P -o OUT --rate 1000 EXTRA...`.
fn export_command(case: &Case, provider: &str, output: &Path, extra: &[&str]) -> Command {
    let mut args = export_args(provider, output, extra);
    if !extra.contains(&"--rate") {
        args.extend_from_slice(&["--rate", "1000"]);
    }
    case.roster(&args)
}

/// Runs `roster export --provider P -o OUT --rate 1000 EXTRA...`.
fn export(case: &Case, provider: &str, output: &Path, extra: &[&str]) -> Ran {
    run(export_command(case, provider, output, extra))
}

fn header_of(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader.headers().unwrap().iter().map(String::from).collect()
}

fn column<'a>(rows: &'a [Row], name: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[name].as_str()).collect()
}

/// The agent ids the account holds.
fn agent_ids(case: &Case) -> HashSet<String> {
    case.sandbox()
        .telecmi_users()
        .iter()
        .map(|u| agent_id(u.extension))
        .collect()
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn telecmi_multi_page_export_has_every_user_once_in_the_contract_columns() {
    let case = Case::seeded(250, 0);
    let out = exported(&case, "telecmi", "telecmi.csv", &["--page-size", "40"]);

    let header = header_of(&out);
    assert_eq!(
        &header[..TELECMI_COLUMNS.len()],
        TELECMI_COLUMNS,
        "the contract's columns, in order"
    );
    let rows = read_csv(&out);
    assert_eq!(rows.len(), 250);
    let ids: HashSet<&str> = column(&rows, "agent_id").into_iter().collect();
    assert_eq!(ids.len(), 250, "no duplicates");
    let expected = agent_ids(&case);
    assert_eq!(
        ids,
        expected.iter().map(String::as_str).collect::<HashSet<_>>()
    );
    assert!(
        rows.iter().all(|r| r["password"].is_empty()),
        "no passwords unless asked"
    );

    // Field values follow the account, non-ASCII and quoted names included.
    let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r["agent_id"].as_str(), r)).collect();
    for user in case.sandbox().telecmi_users() {
        let row = by_id[agent_id(user.extension).as_str()];
        assert_eq!(row["name"], user.name);
        assert_eq!(row["extension"], user.extension.to_string());
        assert_eq!(row["phone_number"], user.phone_number);
        assert_eq!(row["sms_alert"], user.sms_alert.to_string());
        assert_eq!(
            row["start_time"],
            user.start_time.map(|h| h.to_string()).unwrap_or_default()
        );
    }
    let lists = case.sandbox().stats().by_endpoint["/v3/user/list"];
    assert!(
        (7..=8).contains(&lists),
        "250 users in pages of 40: {lists} list calls"
    );
}

#[test]
fn a_server_that_caps_the_page_size_still_gives_every_user() {
    let case = Case::start(SandboxConfig {
        seed_telecmi: 250,
        faults: Faults {
            list_limit_cap: Some(25),
            ..Default::default()
        },
        ..Default::default()
    });
    let out = exported(&case, "telecmi", "telecmi.csv", &["--page-size", "100"]);
    let rows = read_csv(&out);
    let ids: HashSet<&str> = column(&rows, "agent_id").into_iter().collect();
    assert_eq!(rows.len(), 250);
    assert_eq!(ids.len(), 250);
    assert!(case.sandbox().stats().by_endpoint["/v3/user/list"] >= 10);
}

#[cfg(unix)]
#[test]
fn passwords_only_when_asked_and_then_mode_0600() {
    let case = Case::seeded(30, 0);
    let with = exported(&case, "telecmi", "with.csv", &["--include-passwords"]);
    assert_eq!(mode_of(&with), 0o600);
    let rows = read_csv(&with);
    let passwords: HashMap<String, String> = case
        .sandbox()
        .telecmi_users()
        .into_iter()
        .map(|u| (agent_id(u.extension), u.password))
        .collect();
    assert_eq!(rows.len(), 30);
    for row in &rows {
        assert_eq!(row["password"], passwords[&row["agent_id"]]);
    }

    let without = exported(&case, "telecmi", "without.csv", &[]);
    assert_eq!(mode_of(&without), 0o644);
    assert!(read_csv(&without).iter().all(|r| r["password"].is_empty()));
    let text = std::fs::read_to_string(&without).unwrap();
    for password in passwords.values() {
        assert!(!text.contains(password.as_str()));
    }

    // Replacing a plain export with a private one must not keep the wider mode.
    export(&case, "telecmi", &without, &["--include-passwords"]).assert_code(0);
    assert_eq!(mode_of(&without), 0o600);
}

#[test]
fn smartflo_cursor_walk_with_null_extensions_and_filters() {
    let case = Case::seeded(0, 95);
    let out = exported(&case, "smartflo", "smartflo.csv", &["--page-size", "10"]);
    let header = header_of(&out);
    let mut last = 0;
    for name in SMARTFLO_COLUMNS {
        let at = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name} in {header:?}"));
        assert!(
            at >= last,
            "{name} out of the contract's order in {header:?}"
        );
        last = at;
    }
    let rows = read_csv(&out);
    let users = case.sandbox().smartflo_users();
    assert_eq!(rows.len(), 95);
    let ids: Vec<String> = column(&rows, "id").into_iter().map(String::from).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 95, "every id once");
    let expected: HashSet<String> = users.iter().map(|u| u.id.to_string()).collect();
    assert_eq!(
        ids.iter().cloned().collect::<HashSet<_>>(),
        expected,
        "exactly the account's users"
    );
    let no_extension = rows.iter().filter(|r| r["extension"].is_empty()).count();
    let expected_no_extension = users.iter().filter(|u| u.extension.is_none()).count();
    assert!(
        expected_no_extension > 0,
        "the seed has users without extension"
    );
    assert_eq!(no_extension, expected_no_extension);
    assert!(case.sandbox().stats().by_endpoint["/v1/users"] >= 10);

    let filtered = case.path("no-extension.csv");
    export(
        &case,
        "smartflo",
        &filtered,
        &[
            "--page-size",
            "10",
            "--filter",
            "is_extension_created=false",
        ],
    )
    .assert_code(0);
    let rows = read_csv(&filtered);
    assert_eq!(rows.len(), expected_no_extension);
    assert!(rows.iter().all(|r| r["extension"].is_empty()));
    let expected: HashSet<String> = users
        .iter()
        .filter(|u| u.extension.is_none())
        .map(|u| u.id.to_string())
        .collect();
    assert_eq!(
        column(&rows, "id")
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>(),
        expected
    );
}

#[test]
fn jsonl_has_one_object_per_line_with_the_csv_field_names() {
    let case = Case::seeded(45, 25);
    let csv_out = exported(&case, "telecmi", "telecmi.csv", &[]);
    let csv_header = header_of(&csv_out);

    // TeleCMI JSONL on stdout.
    let ran = case.run(&[
        "export",
        "--provider",
        "telecmi",
        "--format",
        "jsonl",
        "--output",
        "-",
        "--rate",
        "1000",
        "--page-size",
        "20",
    ]);
    ran.assert_code(0);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 45, "one line per user, nothing else on stdout");
    let mut ids = HashSet::new();
    for line in &lines {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        let keys: Vec<&String> = object.keys().collect();
        let mut expected: Vec<&String> = csv_header.iter().collect();
        expected.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, expected, "same field names as the CSV");
        assert!(object["extension"].is_u64(), "typed values: {line}");
        assert!(object["password"].is_null());
        ids.insert(object["agent_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 45);

    // Smartflo JSONL to a file: nulls stay nulls.
    let out = exported(&case, "smartflo", "smartflo.jsonl", &["--format", "jsonl"]);
    let text = std::fs::read_to_string(&out).unwrap();
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 25);
    for object in &objects {
        for name in SMARTFLO_COLUMNS {
            assert!(object.get(name).is_some(), "{name} in {object}");
        }
    }
    assert!(objects.iter().any(|o| o["extension"].is_null()));

    // CSV on stdout too (the default output).
    let ran = case.run(&["export", "--provider", "telecmi", "--rate", "1000"]);
    ran.assert_code(0);
    assert_eq!(
        ran.stdout.as_bytes(),
        std::fs::read(&csv_out).unwrap().as_slice(),
        "stdout gets exactly what the file gets"
    );
}

#[test]
fn summary_reports_users_pages_and_a_stable_digest() {
    let case = Case::seeded(120, 0);
    let summarise = |name: &str| -> serde_json::Value {
        let out = case.path(name);
        export(&case, "telecmi", &out, &["--page-size", "50", "--json"])
            .assert_code(0)
            .stdout_json()
    };
    let first = summarise("a.csv");
    assert_eq!(first["users"], 120);
    assert_eq!(first["pages"], 3);
    let digest = first["digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64, "a SHA-256 in hex: {digest}");

    let second = summarise("b.csv");
    assert_eq!(
        second["digest"], first["digest"],
        "same roster, same digest"
    );
    assert_eq!(
        std::fs::read(case.path("a.csv")).unwrap(),
        std::fs::read(case.path("b.csv")).unwrap()
    );

    let mut user = case.sandbox().telecmi_users()[17].clone();
    user.phone_number = "919999999999".into();
    case.insert_telecmi(user);
    let third = summarise("c.csv");
    assert_eq!(third["users"], 120);
    assert_ne!(
        third["digest"], first["digest"],
        "a changed phone changes the digest"
    );

    // --summary FILE writes the same kind of summary.
    let summary_file = case.path("summary.json");
    let out = case.path("d.csv");
    export(
        &case,
        "telecmi",
        &out,
        &["--page-size", "50", "--summary", arg(&summary_file)],
    )
    .assert_code(0);
    let written = read_json(&summary_file);
    assert_eq!(written["digest"], third["digest"]);
    assert_eq!(written["users"], 120);
}

/// Runs an export that must fail (exit 3) over an existing file, with `env` set on top of the
/// sandbox's credentials, and checks that the file is left exactly as it was.
fn assert_failed_export_leaves_the_old_file(
    case: &Case,
    provider: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Ran {
    let out = case.write("roster.csv", "yesterday's roster\n");
    let mut command = export_command(case, provider, &out, extra);
    command.envs(env.iter().copied());
    let ran = run(command);
    ran.assert_code(3);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "yesterday's roster\n",
        "the old file is untouched"
    );
    assert_eq!(
        dir_entries(case.dir()),
        ["roster.csv"],
        "no temporary file left behind"
    );
    ran
}

#[test]
fn a_rejected_secret_leaves_the_old_export_untouched() {
    let case = Case::seeded(30, 0);
    let wrong_secret = [("TELECMI_SECRET", "not-the-secret")];
    let ran = assert_failed_export_leaves_the_old_file(&case, "telecmi", &wrong_secret, &[]);
    assert!(
        ran.stderr.to_lowercase().contains("authentication"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_failing_server_leaves_the_old_export_untouched() {
    let case = Case::start(SandboxConfig {
        seed_telecmi: 30,
        faults: Faults {
            error_rate: 1.0,
            ..Default::default()
        },
        ..Default::default()
    });
    let ran =
        assert_failed_export_leaves_the_old_file(&case, "telecmi", &[], &["--max-attempts", "1"]);
    ran.assert_stderr_contains("500");
    assert_eq!(case.sandbox().stats().requests, 1, "one attempt only");
}

#[test]
fn a_wrong_smartflo_token_exits_3() {
    let case = Case::seeded(0, 30);
    let wrong_token = [("SMARTFLO_TOKEN", "bad-token-31337")];
    let ran = assert_failed_export_leaves_the_old_file(&case, "smartflo", &wrong_token, &[]);
    ran.assert_stderr_lacks("bad-token-31337");
    assert_eq!(case.sandbox().stats().rejected_auth, 1);
}

#[test]
fn a_stuck_smartflo_cursor_is_an_error_not_a_loop() {
    // Every page says "more after 5" and holds user 5 again.
    let server = ScriptedServer::fixed(
        200,
        r#"{"has_more":true,"count":1,"last_seen_id":5,"data":[{"id":5,"name":"Loop","login_id":"l@example.com","extension":"201","user_status":1}]}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = write_file(dir.path(), "roster.csv", "old\n");
    let command = server.roster(&export_args("smartflo", &out, &["--rate", "0"]));
    let ran = run(command);
    ran.assert_code(3);
    ran.assert_stderr_contains("cursor");
    assert_eq!(server.requests(), 2);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
}

#[test]
fn has_more_with_an_empty_smartflo_page_is_an_error() {
    let server = ScriptedServer::fixed(200, r#"{"has_more":true,"count":0,"data":[]}"#);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("roster.csv");
    let command = server.roster(&export_args("smartflo", &out, &[]));
    run(command).assert_code(3);
    assert!(!out.exists(), "no file from an incomplete walk");
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn a_telecmi_list_that_repeats_users_is_never_exported_with_duplicates() {
    // The server claims 5 users but serves the same two on every page.
    let server = ScriptedServer::fixed(
        200,
        r#"{"code":200,"status":"success","count":5,"agents":[
            {"agent_id":"101_1111112","extension":101,"first_name":"A","last_name":"","phone":"919200000101","password":"p","notify":false},
            {"agent_id":"102_1111112","extension":102,"first_name":"B","last_name":"","phone":"919200000102","password":"p","notify":false}]}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = write_file(dir.path(), "roster.csv", "old\n");
    let command = server.roster(&export_args(
        "telecmi",
        &out,
        &["--rate", "0", "--page-size", "2"],
    ));
    run(command).assert_code(3);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    assert_eq!(dir_entries(dir.path()), ["roster.csv"]);
}

#[test]
fn formulas_are_neutralised_but_phone_numbers_are_kept() {
    let case = Case::new();
    case.insert_telecmi(telecmi_user(
        101,
        "=HYPERLINK(\"x\")",
        "+919200000001",
        "Secret101",
    ));
    case.insert_telecmi(telecmi_user(
        102,
        "@SUM(A1) -cmd",
        "919200000002",
        "Secret102",
    ));
    let out = exported(&case, "telecmi", "roster.csv", &[]);
    let rows = read_csv(&out);
    let row = rows.iter().find(|r| r["extension"] == "101").unwrap();
    assert!(row["name"].starts_with("'="), "{:?}", row["name"]);
    assert_eq!(row["name"], "'=HYPERLINK(\"x\")");
    assert_eq!(row["first_name"], "'=HYPERLINK(\"x\")");
    assert_eq!(row["phone_number"], "+919200000001");
    let row = rows.iter().find(|r| r["extension"] == "102").unwrap();
    assert_eq!(row["name"], "'@SUM(A1) -cmd");
    assert_eq!(row["last_name"], "'-cmd");
}

/// Exports `provider` to `NAME` in the case's directory, which must succeed: the file.
fn exported(case: &Case, provider: &str, name: &str, extra: &[&str]) -> PathBuf {
    let out = case.path(name);
    export(case, provider, &out, extra).assert_code(0);
    out
}

/// Exports the TeleCMI roster with `flags`, then imports that file back as an update; both must
/// succeed. Returns the import's run and its report.
fn export_and_import_back(case: &Case, flags: &[&str]) -> (Ran, Vec<Row>) {
    let out = exported(case, "telecmi", "roster.csv", flags);
    let report = case.path("report.csv");
    let ran = case.run(&import_args(&out, "update", &report, &["--rate", "1000"]));
    ran.assert_code(0);
    (ran, read_csv(&report))
}

/// Every row was sent as an update or skipped as already up to date.
fn assert_updated_or_up_to_date(rows: &[Row]) {
    for row in rows {
        let fine = (row["outcome"] == "ok" && row["action"] == "update")
            || (row["outcome"] == "skipped" && row["message"].contains("up to date"));
        assert!(fine, "{row:?}");
    }
}

/// Seeds `users` users, exports them with `flags` and imports the file back as an update: every
/// row is an update or skipped as up to date, and the account is as it was. Returns the import.
fn assert_export_imports_back_unchanged(users: usize, flags: &[&str], why: &str) -> Ran {
    let case = Case::seeded(users, 0);
    let before = case.sandbox().telecmi_users();
    let (ran, rows) = export_and_import_back(&case, flags);
    assert_eq!(rows.len(), users);
    assert_updated_or_up_to_date(&rows);
    assert_eq!(case.sandbox().telecmi_users(), before, "{why}");
    ran
}

#[test]
fn an_export_with_passwords_imports_back_as_a_no_op_update() {
    let ran = assert_export_imports_back_unchanged(
        60,
        &["--include-passwords"],
        "the account is unchanged",
    );
    ran.assert_stderr_lacks("ignoring unknown columns");
}

#[test]
fn an_export_without_passwords_imports_back_keeping_the_passwords() {
    assert_export_imports_back_unchanged(40, &[], "passwords kept, nothing changed");
}

/// Waits until the sandbox has seen `n` list requests (or gives up after 10 s).
fn wait_for_lists(case: &Case, n: u64) {
    let lists = || {
        let stats = case.sandbox().stats();
        stats.by_endpoint.get("/v3/user/list").copied().unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(10),
        &format!("the export to reach list request {n}"),
        || lists() >= n,
    );
}

/// `users` TeleCMI users behind a server that takes 60 ms a request, and a `roster.csv` from an
/// earlier export ("old").
fn slow_case(users: usize) -> (Case, PathBuf) {
    let case = Case::start(SandboxConfig {
        seed_telecmi: users,
        faults: Faults {
            latency: Duration::from_millis(60),
            ..Default::default()
        },
        ..Default::default()
    });
    let out = case.write("roster.csv", "old\n");
    (case, out)
}

/// `export --provider telecmi -o OUT` one page of 10 at a time: a walk that takes a while.
fn slow_walk<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = export_args(
        "telecmi",
        out,
        &["--page-size", "10", "--concurrency", "1", "--rate", "0"],
    );
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_roster_change_mid_walk_is_re_walked_into_a_complete_file() {
    let (case, out) = slow_case(80);
    let child = case
        .roster(&slow_walk(&out, &["--json"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Page 2 of 8 has arrived: the walk is under way. A new user at the front shifts every page.
    wait_for_lists(&case, 2);
    case.insert_telecmi(telecmi_user(500, "Late Joiner", "919200000500", "Late500"));
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let rows = read_csv(&out);
    let ids: Vec<&str> = column(&rows, "agent_id");
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no duplicates");
    let expected = agent_ids(&case);
    assert_eq!(expected.len(), 81);
    assert_eq!(
        unique,
        expected.iter().map(String::as_str).collect::<HashSet<_>>(),
        "exactly the users the account holds at the end"
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["users"], 81);
    assert!(summary["walks"].as_u64().unwrap() >= 2, "{summary}");
}

#[test]
fn a_roster_that_never_stops_changing_fails_and_keeps_the_old_file() {
    let (case, out) = slow_case(40);
    let case = Arc::new(case);
    let mut child = case
        .roster(&slow_walk(&out, &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let churn = {
        let (case, done) = (Arc::clone(&case), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut extension = 100;
            while !done.load(Ordering::SeqCst) {
                case.insert_telecmi(telecmi_user(extension, "Churn", "919200000100", "Churn100"));
                extension += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let status = child.wait().unwrap();
    done.store(true, Ordering::SeqCst);
    churn.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("changing"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    assert_eq!(dir_entries(case.dir()), ["roster.csv"]);
}

/// Starts a slow export over an existing file, sends `signal` mid-walk, and returns the exit code
/// and the case (whose directory holds `roster.csv`).
fn killed_export(signal: &str) -> (Option<i32>, Case) {
    let (case, out) = slow_case(100);
    let mut child = case.spawn(&slow_walk(&out, &[]));
    wait_for_lists(&case, 3);
    send_signal(&child, signal);
    let status = child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    (status.code(), case)
}

#[test]
fn a_crash_mid_walk_leaves_the_old_file_in_place() {
    let (code, case) = killed_export("-KILL");
    assert_eq!(code, None, "killed");
    assert!(dir_entries(case.dir()).contains(&"roster.csv".to_string()));
}

#[test]
fn an_interrupted_export_exits_3_and_leaves_no_temporary_file() {
    for signal in ["-TERM", "-INT"] {
        let (code, case) = killed_export(signal);
        assert_eq!(code, Some(3), "{signal}");
        assert_eq!(dir_entries(case.dir()), ["roster.csv"], "{signal}");
    }
}

#[test]
fn a_round_trip_keeps_formula_like_names_unchanged() {
    let case = Case::new();
    for (extension, name) in [(101, "@Sam Lee"), (102, "-Dash Kumar"), (103, "=Eq Sign")] {
        case.insert_telecmi(telecmi_user(
            extension,
            name,
            &format!("919200000{extension}"),
            &format!("Secret{extension}"),
        ));
    }
    case.insert_telecmi(telecmi_user(104, "Plain Name", "919200000104", "@dmin-123"));
    let before = case.sandbox().telecmi_users();
    export_and_import_back(&case, &["--include-passwords"]);
    assert_eq!(
        case.sandbox().telecmi_users(),
        before,
        "an export fed back unchanged changes nothing"
    );
}

#[test]
fn a_transient_error_late_in_a_smartflo_walk_is_retried() {
    // Twelve one-user pages; the 9th request gets one 500.
    let mut calls = 0u64;
    let mut served = 0u64;
    let server = ScriptedServer::start(move |_, _| {
        calls += 1;
        if calls == 9 {
            return (
                500,
                r#"{"success":false,"message":"Server Error"}"#.to_string(),
            );
        }
        served += 1;
        let body = format!(
            r#"{{"has_more":{},"count":1,"last_seen_id":{served},"data":[{{"id":{served},"name":"U{served}","login_id":"u{served}@example.com","extension":"{}","user_status":1}}]}}"#,
            served < 12,
            2000 + served
        );
        (200, body)
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("smartflo.csv");
    let command = server.roster(&export_args("smartflo", &out, &["--rate", "0"]));
    run(command).assert_code_because(0, "one 500 is retried");
    assert_eq!(read_csv(&out).len(), 12);
}
