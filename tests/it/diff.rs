//! `roster diff` and `roster export --diff-against`: the nightly change report.

use crate::common::*;

fn export(case: &Case, out: &std::path::Path, extra: &[&str]) -> Ran {
    case.run(&export_args(
        "telecmi",
        out,
        &[&["--rate", "0"], extra].concat(),
    ))
}

#[test]
fn a_device_or_pipe_is_refused_at_once_instead_of_read_forever() {
    let case = Case::seeded(3, 0);
    let roster = case.path("roster.csv");
    export(&case, &roster, &[]).assert_code(0);
    let ran = run_at_most(
        roster_command(&["diff", "/dev/zero", arg(&roster)]),
        std::time::Duration::from_secs(10),
        "diff of /dev/zero",
    );
    ran.assert_code(2)
        .assert_stderr_contains("/dev/zero: not a regular file");
}

#[test]
fn a_nightly_export_reports_who_joined_left_and_changed_since_the_previous_one() {
    let case = Case::new();
    for extension in 301..=305 {
        case.insert_telecmi(telecmi_user(
            extension,
            &format!("Agent {extension}"),
            &format!("919200000{extension}"),
            "Secret300",
        ));
    }
    let roster = case.path("roster.csv");
    let yesterday = case.path("yesterday.csv");
    export(&case, &roster, &[]).assert_code(0);
    std::fs::copy(&roster, &yesterday).unwrap();

    // overnight: 306 joins, 301 leaves, 302 changes phone, 303 changes password
    case.insert_telecmi(telecmi_user(306, "New Joiner", "919200000306", "Secret306"));
    assert!(case.sandbox().remove_telecmi(301));
    case.insert_telecmi(telecmi_user(302, "Agent 302", "919299999302", "Secret300"));
    case.insert_telecmi(telecmi_user(303, "Agent 303", "919200000303", "Changed303"));

    let changes = case.path("changes.csv");
    let summary = case.path("summary.json");
    let ran = export(
        &case,
        &roster,
        &[
            "--include-passwords",
            "--diff-against",
            arg(&roster),
            "--diff-output",
            arg(&changes),
            "--summary",
            arg(&summary),
        ],
    );
    ran.assert_code(0);
    ran.assert_stderr_contains("1 joined, 1 left, 1 changed (1 phone_number)");
    let json = read_json(&summary);
    assert_eq!(json["changes"]["counts"]["added"], 1);
    assert_eq!(json["changes"]["counts"]["removed"], 1);
    let lines = read_csv(&changes);
    assert!(
        lines
            .iter()
            .any(|l| l["change"] == "added" && l["key"] == agent_id(306)),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l["change"] == "removed" && l["key"] == agent_id(301)));
    let phone = lines.iter().find(|l| l["field"] == "phone_number").unwrap();
    assert_eq!(
        (phone["old"].as_str(), phone["new"].as_str()),
        ("919200000302", "919299999302")
    );

    // The same two files through `roster diff`, with passwords on one side only: no password noise.
    let ran = run(roster_command(&[
        "diff",
        arg(&yesterday),
        arg(&roster),
        "--json",
    ]));
    ran.assert_code(0);
    let report = ran.stdout_json();
    assert_eq!(report["counts"]["added"], 1);
    assert_eq!(report["counts"]["removed"], 1);
    assert_eq!(report["counts"]["changed"], 1);
    assert!(
        !ran.stdout.contains("Changed303") && !ran.stdout.contains("Secret"),
        "{}",
        ran.stdout
    );
}

#[test]
fn diff_of_csv_and_jsonl_exports_of_one_roster_is_empty_and_bad_files_exit_2() {
    let case = Case::seeded(30, 0);
    let csv = case.path("roster.csv");
    let jsonl = case.path("roster.jsonl");
    export(&case, &csv, &[]).assert_code(0);
    export(&case, &jsonl, &["--format", "jsonl"]).assert_code(0);
    let ran = run(roster_command(&["diff", arg(&csv), arg(&jsonl)]));
    ran.assert_code(0);
    ran.assert_stderr_contains("no changes");

    let missing = case.path("missing.csv");
    run(roster_command(&["diff", arg(&missing), arg(&csv)])).assert_code(2);
    let sent_before = case.sandbox().stats().requests;
    export(&case, &csv, &["--diff-against", arg(&missing)]).assert_code_because(
        2,
        "a missing previous export is found before anything is sent",
    );
    assert_eq!(case.sandbox().stats().requests, sent_before);
}
