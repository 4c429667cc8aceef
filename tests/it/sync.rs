//! `roster sync`: plan against the live roster, apply through the import engine, re-plan to nothing.

use crate::common::*;

fn seeded_account() -> Case {
    let case = Case::new();
    for (extension, name, phone, password) in [
        (201, "Asha Rao", "919200000201", "Secret201"),
        (202, "Ben Thomas", "919200000202", "Secret202"),
        (203, "Cara Dsouza", "919200000203", "Secret203"),
        (204, "Only In Account", "919200000204", "Secret204"),
    ] {
        case.insert_telecmi(telecmi_user(extension, name, phone, password));
    }
    case
}

const SHEET: &str = "extension,name,phone_number,password,sms_alert\n\
    201,Asha Rao,919200000201,Secret201,\n\
    202,Ben Thomas,919299999202,,\n\
    203,Cara Dsouza,919200000203,NewSecret203,yes\n\
    205,Dev Patel,919200000205,Secret205,no\n\
    206,No Phone,,,\n";

fn sync(case: &Case, sheet: &std::path::Path, extra: &[&str]) -> Ran {
    let mut args = vec!["sync", arg(sheet), "--rate", "0"];
    args.extend_from_slice(extra);
    case.run(&args)
}

#[test]
fn the_plan_sorts_every_user_and_sends_nothing_but_list_calls() {
    let case = seeded_account();
    let sheet = case.write("agents.csv", SHEET);
    let plan_path = case.path("plan.json");
    sync(&case, &sheet, &["--plan-out", arg(&plan_path)])
        .assert_code_because(0, "a plan sends nothing; row 206 is listed as invalid");
    let plan = read_json(&plan_path);
    let counts = &plan["counts"];
    assert_eq!(
        (
            &counts["create"],
            &counts["update"],
            &counts["unchanged"],
            &counts["only_in_account"],
            &counts["invalid"]
        ),
        (&1.into(), &2.into(), &1.into(), &1.into(), &1.into()),
        "{plan:#}"
    );
    assert_eq!(plan["create"][0]["extension"], 205);
    assert_eq!(plan["only_in_account"][0]["extension"], 204);
    let updates = plan["update"].as_array().unwrap();
    let phone = &updates.iter().find(|u| u["extension"] == 202).unwrap()["changes"][0];
    assert_eq!(
        (&phone["field"], &phone["old"], &phone["new"]),
        (
            &"phone_number".into(),
            &"919200000202".into(),
            &"919299999202".into()
        )
    );
    let cara: Vec<&str> = updates.iter().find(|u| u["extension"] == 203).unwrap()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(cara, ["password", "sms_alert"]);
    let text = std::fs::read_to_string(&plan_path).unwrap();
    assert!(
        !text.contains("NewSecret203") && !text.contains("Secret202"),
        "passwords are compared, never shown"
    );
    let stats = case.sandbox().stats();
    assert_eq!(
        stats.requests,
        stats.by_endpoint.get("/v3/user/list").copied().unwrap_or(0),
        "{:?}",
        stats.by_endpoint
    );
}

#[test]
fn apply_then_sync_again_plans_no_change() {
    let case = seeded_account();
    let sheet = case.write("agents.csv", SHEET);
    let report = case.path("results.csv");
    sync(&case, &sheet, &["--apply", "--report", arg(&report)])
        .assert_code_because(1, "row 206 stays invalid");
    let rows = read_csv(&report);
    assert_eq!(rows.len(), 5, "one line per sheet row");
    let outcome = |ext: &str| {
        let r = rows.iter().find(|r| r["extension"] == ext).unwrap();
        (r["action"].clone(), r["outcome"].clone())
    };
    assert_eq!(outcome("201"), ("none".into(), "skipped".into()));
    assert_eq!(outcome("202"), ("update".into(), "ok".into()));
    assert_eq!(outcome("203"), ("update".into(), "ok".into()));
    assert_eq!(outcome("205"), ("add".into(), "ok".into()));
    assert_eq!(outcome("206").1, "invalid");
    let users = case.sandbox().telecmi_users();
    let ben = users.iter().find(|u| u.extension == 202).unwrap();
    assert_eq!(
        (ben.phone_number.as_str(), ben.password.as_str()),
        ("919299999202", "Secret202"),
        "empty cells keep values"
    );
    assert_eq!(
        users.iter().find(|u| u.extension == 203).unwrap().password,
        "NewSecret203"
    );
    assert!(
        users.iter().any(|u| u.extension == 204),
        "users only in the account are never touched"
    );

    let before = case.sandbox().stats();
    let plan_path = case.path("plan.json");
    let fixed = case.write("fixed.csv", SHEET.replace("206,No Phone,,,\n", ""));
    sync(&case, &fixed, &["--plan-out", arg(&plan_path)]).assert_code(0);
    let plan = read_json(&plan_path);
    assert_eq!(plan["counts"]["create"], 0, "{plan:#}");
    assert_eq!(plan["counts"]["update"], 0, "{plan:#}");
    assert_eq!(plan["counts"]["unchanged"], 4);
    let after = case.sandbox().stats();
    let sent: u64 = after.requests - before.requests;
    let lists = after.by_endpoint["/v3/user/list"] - before.by_endpoint["/v3/user/list"];
    assert_eq!(sent, lists, "a re-plan sends only list calls");
}

/// A sheet that turns Windows-1252 past its first 64 KiB is planned and applied in it, and the
/// guess is said once though the sheet is read twice (plan, then apply).
#[test]
fn a_late_windows_1252_sheet_is_planned_and_applied_as_such_and_said_once() {
    let case = seeded_account();
    let bytes =
        ascii_past_the_head_then(301, b"311,Fran\xE7oise \x80uro,919200000311,Secret311,\n");
    let sheet = case.write("late.csv", bytes);
    let report = case.path("results.csv");
    sync(&case, &sheet, &["--apply", "--report", arg(&report)])
        .assert_code(0)
        .assert_stderr_once("reading it as Windows-1252", "plan and apply read it twice");
    let users = case.sandbox().telecmi_users();
    let added = users.iter().find(|u| u.extension == 311).unwrap();
    assert_eq!(added.name, "Françoise €uro");
}
