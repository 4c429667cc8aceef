//! `roster diff` and `roster export --diff-against`: the nightly change report.

use crate::common::*;

fn export(sandbox: &TestSandbox, out: &std::path::Path, extra: &[&str]) -> Ran {
    let mut args = vec![
        "export",
        "--provider",
        "telecmi",
        "--output",
        arg(out),
        "--rate",
        "0",
    ];
    args.extend_from_slice(extra);
    run(sandbox.roster(&args))
}

#[test]
fn a_nightly_export_reports_who_joined_left_and_changed_since_the_previous_one() {
    let sandbox = TestSandbox::new();
    for extension in 301..=305 {
        sandbox.sandbox().insert_telecmi(telecmi_user(
            extension,
            &format!("Agent {extension}"),
            &format!("919200000{extension}"),
            "Secret300",
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("roster.csv");
    let yesterday = dir.path().join("yesterday.csv");
    assert_eq!(export(&sandbox, &roster, &[]).code, 0);
    std::fs::copy(&roster, &yesterday).unwrap();

    // overnight: 306 joins, 301 leaves, 302 changes phone, 303 changes password
    sandbox
        .sandbox()
        .insert_telecmi(telecmi_user(306, "New Joiner", "919200000306", "Secret306"));
    assert!(sandbox.sandbox().remove_telecmi(301));
    sandbox
        .sandbox()
        .insert_telecmi(telecmi_user(302, "Agent 302", "919299999302", "Secret300"));
    sandbox
        .sandbox()
        .insert_telecmi(telecmi_user(303, "Agent 303", "919200000303", "Changed303"));

    let changes = dir.path().join("changes.csv");
    let summary = dir.path().join("summary.json");
    let ran = export(
        &sandbox,
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
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("1 joined, 1 left, 1 changed (1 phone_number)"),
        "{}",
        ran.stderr
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
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
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
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
    let sandbox = TestSandbox::start(roster::sandbox::SandboxConfig {
        seed_telecmi: 30,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("roster.csv");
    let jsonl = dir.path().join("roster.jsonl");
    assert_eq!(export(&sandbox, &csv, &[]).code, 0);
    assert_eq!(export(&sandbox, &jsonl, &["--format", "jsonl"]).code, 0);
    let ran = run(roster_command(&["diff", arg(&csv), arg(&jsonl)]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("no changes"), "{}", ran.stderr);

    let missing = dir.path().join("missing.csv");
    assert_eq!(
        run(roster_command(&["diff", arg(&missing), arg(&csv)])).code,
        2
    );
    let sent_before = sandbox.sandbox().stats().requests;
    let ran = export(&sandbox, &csv, &["--diff-against", arg(&missing)]);
    assert_eq!(
        ran.code, 2,
        "a missing previous export is found before anything is sent"
    );
    assert_eq!(sandbox.sandbox().stats().requests, sent_before);
}
