//! `--html-report` and `roster report`: one self-contained page per run, read back and checked
//! for its structure, its counts, escaped names, and the absence of secrets and outside links.

use crate::common::*;

const HOSTILE_NAME: &str = "<script>alert(1)</script>";

/// Four good rows, one with a name that is markup, one invalid phone, one short password.
fn sheet() -> String {
    format!(
        "extension,name,phone_number,password\n\
         201,Asha Rao,919200000201,Passw0rdAsha\n\
         202,{HOSTILE_NAME},919200000202,Passw0rdBen\n\
         203,Cara Dsouza,9.19E+11,Passw0rdCara\n\
         204,Dev Patel,919200000204,abc\n\
         205,Eve Nair,919200000205,Passw0rdEve\n"
    )
}

fn assert_safe(page: &HtmlPage) {
    page.assert_self_contained()
        .assert_lacks(SECRET)
        .assert_lacks(TOKEN)
        .assert_lacks("Passw0rd")
        .assert_lacks("<script>");
}

#[test]
fn an_import_page_shows_the_outcomes_the_rows_to_fix_and_the_settings() {
    let case = Case::new();
    let input = case.write("agents.csv", sheet());
    let (report, page_path, summary) = (
        case.path("results.csv"),
        case.path("import.html"),
        case.path("summary.json"),
    );
    let extra = [
        "--html-report",
        arg(&page_path),
        "--summary",
        arg(&summary),
        "--rate",
        "50",
    ];
    case.run(&import_args(&input, "add", &report, &extra))
        .assert_code_because(1, "two rows are invalid")
        .assert_stderr_contains("page: ");
    let page = HtmlPage::read(&page_path);
    assert_safe(&page);
    assert_eq!(
        page.headings(),
        [
            "Rows",
            "Requests",
            "Latency",
            "Why rows failed",
            "Rows to fix",
            "Settings"
        ]
    );
    page.assert_says("2 rows to fix: 0 failed, 2 invalid (of 5).")
        .assert_says("ok: 3 (60%)")
        .assert_says("invalid: 2 (40%)")
        .assert_says("11****2")
        .assert_says("requests sent per second")
        .assert_says(" UTC");
    assert!(
        !page.text.contains(&APP_ID.to_string()),
        "the account id is masked"
    );
    assert_eq!(page.count("section"), 6);
    assert_eq!(
        page.count("tr"),
        1 + 2 + 1 + 2,
        "two reasons, two rows to fix"
    );
    // Latency was recorded: every request was answered.
    let json = read_json(&summary);
    assert!(json["latency"]["requests"].as_u64().unwrap() >= 3);
    assert_eq!(json["failures_total"], 2);
    assert_eq!(json["failures"][0]["row"], 3);
    page.assert_says("requests timed");

    // Rendered later from the summary: the very same page.
    let later = case.path("later.html");
    case.run(&["report", arg(&summary), "--html", arg(&later)])
        .assert_code(0);
    assert_eq!(
        std::fs::read_to_string(&later).unwrap(),
        page.html,
        "roster report makes the page the run made"
    );
}

#[test]
fn a_sync_plan_page_lists_the_users_with_their_names_escaped() {
    let case = Case::new();
    case.insert_telecmi(telecmi_user(
        201,
        "Asha Rao",
        "919200000201",
        "Passw0rdAsha",
    ));
    case.insert_telecmi(telecmi_user(299, "Only Here", "919200000299", "Passw0rdX"));
    let input = case.write("agents.csv", sheet());
    let (page_path, plan) = (case.path("plan.html"), case.path("plan.json"));
    case.run(&[
        "sync",
        arg(&input),
        "--html-report",
        arg(&page_path),
        "--plan-out",
        arg(&plan),
    ])
    .assert_code(0);
    let page = HtmlPage::read(&page_path);
    assert_safe(&page);
    page.assert_says("Sync plan")
        .assert_says(HOSTILE_NAME)
        .assert_says("2 create, 0 update, 1 unchanged, 1 only in the account, 2 invalid")
        .assert_says("Only Here");
    assert!(page.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(
        case.sandbox().stats().adds_committed,
        0,
        "a plan creates nobody"
    );

    // The plan file renders the same page, with the plan file named as where the lists are.
    let later = case.path("later.html");
    case.run(&["report", arg(&plan), "--html", arg(&later)])
        .assert_code(0);
    HtmlPage::read(&later).assert_says("Sync plan");
}

#[test]
fn an_applied_sync_writes_the_run_page() {
    let case = Case::new();
    let input = case.write("agents.csv", sheet());
    let page_path = case.path("sync.html");
    let report = case.path("results.csv");
    case.run(&[
        "sync",
        arg(&input),
        "--apply",
        "--rate",
        "0",
        "--report",
        arg(&report),
        "--html-report",
        arg(&page_path),
    ])
    .assert_code(1);
    let page = HtmlPage::read(&page_path);
    assert_safe(&page);
    page.assert_says("Sync of").assert_says("ok: 3");
}

#[test]
fn an_export_page_shows_who_joined_left_and_changed_and_never_a_password() {
    let case = Case::new();
    for (extension, name) in [(201, "Asha Rao"), (202, "Ben Thomas"), (203, "Cara Dsouza")] {
        let password = format!("Passw0rd{extension}");
        case.insert_telecmi(telecmi_user(extension, name, "919200000201", &password));
    }
    let old = case.path("old.csv");
    case.run(&export_args("telecmi", &old, &["--include-passwords"]))
        .assert_code(0);
    // Yesterday 202 had another name and password, 203 was not there, and 209 was.
    let text = std::fs::read_to_string(&old).unwrap();
    let yesterday: String = text
        .lines()
        .filter(|line| !line.starts_with("203_"))
        .map(|line| {
            line.replace("Ben Thomas,Ben,Thomas", &format!("{HOSTILE_NAME},x,y"))
                .replace("Passw0rd202", "Passw0rdOld202")
                + "\n"
        })
        .chain(std::iter::once(format!(
            "209_{APP_ID},209,Gone Away,Gone,Away,919200000209,Passw0rd209,,,false\n"
        )))
        .collect();
    std::fs::write(&old, yesterday).unwrap();
    let (new, page_path) = (case.path("new.csv"), case.path("export.html"));
    let extra = [
        "--include-passwords",
        "--diff-against",
        arg(&old),
        "--html-report",
        arg(&page_path),
    ];
    case.run(&export_args("telecmi", &new, &extra))
        .assert_code(0);
    let page = HtmlPage::read(&page_path);
    assert_safe(&page);
    page.assert_says("Export of the TeleCMI roster")
        .assert_says("3 users written")
        .assert_says("joined: 1")
        .assert_says("left: 1")
        .assert_says("changed: 1")
        .assert_says("Gone Away")
        .assert_says(&format!(
            "202_{APP_ID} Ben Thomas name {HOSTILE_NAME} Ben Thomas"
        ))
        .assert_says("password changed");
    assert_eq!(
        page.headings(),
        [
            "Roster",
            &format!("Changes since {}", old.display()),
            "Joined",
            "Left",
            "Changed",
            "Latency"
        ]
    );
}

#[test]
fn a_migration_plan_page_lists_the_unmappable_users_with_reasons() {
    let case = Case::new();
    case.sandbox()
        .insert_smartflo(roster::sandbox::SmartfloRecord {
            follow_me_number: None,
            ..smartflo_user(5, HOSTILE_NAME, Some("305"), Some("919800000005"))
        });
    case.sandbox().insert_smartflo(smartflo_user(
        6,
        "Fay Iyer",
        Some("306"),
        Some("919800000006"),
    ));
    let (creds, page_path) = (case.path("creds.csv"), case.path("migrate.html"));
    case.run(&[
        "migrate",
        "--from",
        "smartflo",
        "--extension-range",
        "100-199",
        "--credentials-out",
        arg(&creds),
        "--html-report",
        arg(&page_path),
    ])
    .assert_code(0);
    let page = HtmlPage::read(&page_path);
    page.assert_self_contained()
        .assert_lacks(TOKEN)
        .assert_lacks("<script>");
    // The generated passwords are in the credentials file only.
    for row in read_csv(&creds) {
        page.assert_lacks(&row["password"]);
    }
    page.assert_says("Migration plan")
        .assert_says("1 create")
        .assert_says("1 unmappable")
        .assert_says(&format!("5 {HOSTILE_NAME}"))
        .assert_says("Fay Iyer");
}

#[test]
fn a_page_that_cannot_be_written_stops_the_run_before_any_request() {
    let case = Case::new();
    let input = case.write("agents.csv", sheet());
    let page = case.path("no/such/dir/page.html");
    case.run(&import_args(
        &input,
        "add",
        &case.path("r.csv"),
        &["--html-report", arg(&page)],
    ))
    .assert_code(2)
    .assert_stderr_contains("page.html");
    case.run(&export_args(
        "telecmi",
        &case.path("e.csv"),
        &["--html-report", arg(&page)],
    ))
    .assert_code(2);
    assert_eq!(case.sandbox().stats().requests, 0);
}

#[test]
fn report_refuses_a_document_that_is_no_summary() {
    let case = Case::new();
    let other = case.write("other.json", r#"{"counts": {"added": 1}}"#);
    let page = case.path("page.html");
    case.run(&["report", arg(&other), "--html", arg(&page)])
        .assert_code(2)
        .assert_stderr_contains("not a roster summary or plan");
    assert!(!page.exists(), "no page for it");
    let missing = case.path("missing.json");
    case.run(&["report", arg(&missing), "--html", arg(&page)])
        .assert_code(2);
    // A document that never ends is refused at the cap, in bounded memory.
    let (code, peak_bytes, stderr) =
        run_measured(case.roster(&["report", "/dev/zero", "--html", arg(&page)]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("over 256 MiB"), "{stderr}");
    assert!(peak_bytes < 400 << 20, "peak RSS {peak_bytes} bytes");
    assert!(!page.exists(), "no page for it");
}

#[test]
fn a_long_list_shows_its_first_thousand_and_says_where_the_rest_are() {
    let case = Case::new();
    let mut sheet = String::from("extension,name,phone_number,password\n");
    for extension in 1000..2200 {
        sheet += &format!("{extension},Agent {extension},12,Passw0rd{extension}\n");
    }
    let input = case.write("agents.csv", sheet);
    let (report, page_path, summary) = (
        case.path("results.csv"),
        case.path("import.html"),
        case.path("summary.json"),
    );
    let extra = ["--html-report", arg(&page_path), "--summary", arg(&summary)];
    case.run(&import_args(&input, "add", &report, &extra))
        .assert_code(1);
    let json = read_json(&summary);
    assert_eq!(json["failures"].as_array().unwrap().len(), 1_000);
    assert_eq!(json["failures_total"], 1_200);
    let page = HtmlPage::read(&page_path);
    assert_eq!(
        page.count("tr"),
        1 + 1 + 1 + 1_000,
        "one reason, 1,000 rows to fix"
    );
    page.assert_says(&format!(
        "The first 1,000 of 1,200: 200 more not shown; all are in {}",
        report.display()
    ));
}
