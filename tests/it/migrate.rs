//! `roster migrate`: a Smartflo roster with null and duplicate extensions and missing phones moves
//! into a TeleCMI account that already has users.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use roster::sandbox::{Faults, SandboxConfig, SmartfloRecord};

fn accounts() -> Case {
    let case = Case::new();
    let s = case.sandbox();
    s.insert_smartflo(smartflo_user(
        1,
        "Asha Rao",
        Some("301"),
        Some("+91 98000 00001"),
    ));
    s.insert_smartflo(smartflo_user(
        2,
        "Ben Thomas",
        Some("301"),
        Some("919800000002"),
    )); // duplicate extension
    s.insert_smartflo(smartflo_user(3, "Cara Dsouza", None, Some("919800000003"))); // no extension
    s.insert_smartflo(smartflo_user(
        4,
        "Dev Patel",
        Some("500"),
        Some("919800000004"),
    )); // taken in the target
    s.insert_smartflo(smartflo_user(5, "Eve Nair", Some("305"), None)); // no phone
    s.insert_smartflo(SmartfloRecord {
        user_status: 0,
        ..smartflo_user(6, "Fay Iyer", Some("306"), Some("919800000006"))
    }); // disabled
    s.insert_telecmi(telecmi_user(
        500,
        "Already Here",
        "919811111111",
        "Secret500",
    ));
    s.insert_telecmi(telecmi_user(100, "Also Here", "919811111100", "Secret100"));
    case
}

fn migrate(case: &Case, extra: &[&str]) -> Ran {
    case.run(&migrate_args(extra))
}

/// `migrate --from smartflo --to telecmi --extension-range 100-199 --rate 0 EXTRA...`.
fn migrate_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "migrate",
        "--from",
        "smartflo",
        "--to",
        "telecmi",
        "--extension-range",
        "100-199",
        "--rate",
        "0",
    ];
    args.extend_from_slice(extra);
    args
}

/// `migrate ... --credentials-out CREDS --plan-out PLAN`, which must succeed: the plan.
fn plan(case: &Case, creds: &Path, plan_path: &Path) -> serde_json::Value {
    migrate(
        case,
        &[
            "--credentials-out",
            arg(creds),
            "--plan-out",
            arg(plan_path),
        ],
    )
    .assert_code(0);
    read_json(plan_path)
}

/// `migrate ... --credentials-out CREDS --apply --report REPORT EXTRA...`, which must succeed.
fn apply(case: &Case, creds: &Path, report: &Path, extra: &[&str]) {
    let mut args = vec![
        "--credentials-out",
        arg(creds),
        "--apply",
        "--report",
        arg(report),
    ];
    args.extend_from_slice(extra);
    migrate(case, &args).assert_code(0);
}

/// Every user the credentials file names exists in the account with the file's password.
#[track_caller]
fn assert_passwords_as_in(case: &Case, credentials: &[Row], why: &str) {
    let users = case.sandbox().telecmi_users();
    for row in credentials {
        let user = users
            .iter()
            .find(|u| u.extension.to_string() == row["extension"])
            .unwrap();
        assert_eq!(user.password, row["password"], "{why}");
    }
}

#[test]
fn the_plan_maps_keeps_allocates_and_lists_the_unmappable_without_creating_anyone() {
    let case = accounts();
    let plan_path = case.path("plan.json");
    let creds = case.path("creds.csv");
    let plan = plan(&case, &creds, &plan_path);
    assert_eq!(plan["counts"]["create"], 4, "{plan:#}");
    assert_eq!(plan["counts"]["unmappable"], 2);
    assert_eq!(plan["counts"]["only_in_account"], 2);
    let extension_of = |name: &str| {
        plan["create"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["extension"]
            .clone()
    };
    assert_eq!(
        extension_of("Asha Rao"),
        301,
        "a valid, free extension is kept"
    );
    assert_eq!(
        extension_of("Ben Thomas"),
        101,
        "a duplicate gets the first free one in range (100 is taken)"
    );
    assert_eq!(extension_of("Cara Dsouza"), 102);
    assert_eq!(extension_of("Dev Patel"), 103);
    assert_eq!(
        case.sandbox().stats().adds_committed,
        0,
        "a plan creates nobody"
    );

    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let rows = read_csv(&creds);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row["password"].len(), 12, "generated passwords");
        assert!(
            !std::fs::read_to_string(&plan_path)
                .unwrap()
                .contains(&row["password"]),
            "no password in the plan"
        );
    }
    assert_eq!(
        rows[0]["phone_number"], "919800000001",
        "phones as E.164 digits without the +"
    );

    // --apply creates exactly the reviewed users with the reviewed passwords.
    apply(&case, &creds, &case.path("r.csv"), &[]);
    assert_passwords_as_in(&case, &rows, "the reviewed passwords");
    assert_eq!(
        read_csv(&creds),
        rows,
        "the credentials file is applied as reviewed, not rewritten"
    );
}

#[test]
fn apply_creates_each_mapped_user_once_and_a_second_run_creates_nobody() {
    let case = accounts();
    let creds = case.path("creds.csv");
    let report = case.path("report.csv");
    apply(&case, &creds, &report, &[]);
    assert_eq!(
        case.sandbox().telecmi_users().len(),
        6,
        "2 already there + 4 migrated"
    );
    let credentials = read_csv(&creds);
    assert_passwords_as_in(
        &case,
        &credentials,
        "the credentials file holds the real passwords",
    );
    migrate(&case, &["--credentials-out", arg(&creds)])
        .assert_code_because(2, "an existing credentials file is never overwritten");
    assert_eq!(read_csv(&creds), credentials);

    apply(&case, &creds, &report, &["--resume"]);
    assert_eq!(
        case.sandbox().stats().adds_committed,
        4,
        "a resume of a finished migration sends no add"
    );

    let plan = plan(&case, &case.path("fresh.csv"), &case.path("plan.json"));
    assert_eq!(
        plan["counts"]["create"], 0,
        "migrated users are recognised: {plan:#}"
    );
    assert_eq!(plan["counts"]["unchanged"], 4);
}

#[test]
fn apply_needs_a_credentials_file() {
    let case = accounts();
    let ran = migrate(&case, &["--apply"]);
    ran.assert_code(2);
    ran.assert_stderr_contains("--credentials-out");
}

#[test]
fn a_mapping_file_that_cannot_be_read_stops_the_run_before_any_request() {
    let case = accounts();
    let mapping = case.write("mapping.toml", "[fields]\nname = 7\n");
    migrate(&case, &["--mapping", arg(&mapping)])
        .assert_code(2)
        .assert_stderr_contains("mapping.toml");
    assert_eq!(case.sandbox().stats().requests, 0);
}

#[test]
fn a_national_follow_me_number_is_read_by_the_default_region() {
    let case = Case::new();
    case.sandbox().insert_smartflo(smartflo_user(
        1,
        "Asha Rao",
        Some("301"),
        Some("98000 00001"),
    ));
    case.sandbox().insert_smartflo(smartflo_user(
        2,
        "Ben Thomas",
        Some("302"),
        Some("098000-00002"),
    ));
    // Asha is already in the target, stored with a + as the real service may keep it.
    case.insert_telecmi(telecmi_user(
        150,
        "Asha Rao",
        "+91 98000 00001",
        "Secret150",
    ));
    let plan_path = case.path("plan.json");
    let run = |extra: &[&str]| {
        let mut args = vec!["--plan-out", arg(&plan_path)];
        args.extend_from_slice(extra);
        let ran = migrate(&case, &args);
        ran.assert_code(0);
        (ran, read_json(&plan_path))
    };

    let (_, plan) = run(&["--default-region", "IN"]);
    assert_eq!(plan["counts"]["unchanged"], 1, "{plan:#}");
    assert_eq!(plan["unchanged"][0]["extension"], 150);
    assert_eq!(plan["counts"]["create"], 1, "{plan:#}");
    let creds = case.path("creds.csv");
    migrate(
        &case,
        &["--default-region", "IN", "--credentials-out", arg(&creds)],
    )
    .assert_code(0);
    let rows = read_csv(&creds);
    assert_eq!(
        rows[0]["phone_number"], "919800000002",
        "E.164 digits without the +"
    );

    let (ran, plan) = run(&[]);
    assert_eq!(
        plan["counts"]["unchanged"], 0,
        "without a region a national number is not known to be the target's"
    );
    ran.assert_stderr_contains("2 phone numbers have no country code");
}

#[test]
fn a_signal_after_the_target_is_read_stops_the_source_walk_with_nothing_written() {
    // Both walks start at once; the empty target is read in one page while the source's hundred
    // users come ten to a page, 60 ms a page.
    let case = Case::start(SandboxConfig {
        seed_smartflo: 100,
        faults: Faults {
            latency: Duration::from_millis(60),
            ..Default::default()
        },
        ..Default::default()
    });
    let creds = case.dir().join("creds.csv");
    let child = case
        .roster(&migrate_args(&[
            "--page-size",
            "10",
            "--credentials-out",
            arg(&creds),
        ]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let requests = |path: &str| {
        let stats = case.sandbox().stats();
        stats.by_endpoint.get(path).copied().unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(10),
        "the target read and the source walk at its third page",
        || requests("/v3/user/list") >= 1 && requests("/v1/users") >= 3,
    );
    send_signal(&child, "-INT");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    assert!(!creds.exists(), "no plan was made");
    assert!(requests("/v1/users") < 10, "the walk stopped early");
}
