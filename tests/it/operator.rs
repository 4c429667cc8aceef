//! The operator's experience: what a log shipper, a cron mail and a person at a terminal see.

use crate::common::*;
use roster::sandbox::Faults;

/// Every line on stderr, parsed as JSON.
fn json_lines(ran: &Ran) -> Vec<serde_json::Value> {
    ran.stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{ran}"))
        })
        .collect()
}

#[test]
fn with_json_logs_every_stderr_line_is_json_the_summary_included() {
    let case = Case::new();
    let sheet = case.write("s.csv", format!("{}201,,bad-phone,x\n", add_rows(101, 3)));
    let report = case.path("r.csv");
    let ran = case.run(&import_args(
        &sheet,
        "upsert",
        &report,
        &["--rate", "0", "--log-format", "json"],
    ));
    ran.assert_code(1);
    let lines = json_lines(&ran);
    let summary = lines
        .iter()
        .find(|line| line["event"] == "summary")
        .unwrap_or_else(|| panic!("a summary event: {ran}"));
    assert_eq!(summary["ok"], 3);
    assert_eq!(summary["invalid"], 1);

    let out = case.path("roster.csv");
    let ran = case.run(&[
        "export",
        "--provider",
        "telecmi",
        "-o",
        arg(&out),
        "--log-format",
        "json",
    ]);
    ran.assert_code(0);
    let lines = json_lines(&ran);
    assert!(
        lines.iter().any(|line| line["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("exported 3 telecmi users (1 page, "))),
        "{ran}"
    );
}

#[test]
fn a_cut_list_says_how_many_more_and_where_they_are() {
    let case = Case::seeded(0, 0);
    let sheet = case.write("s.csv", add_rows(101, 13));
    let ran = case.run(&["sync", arg(&sheet)]);
    ran.assert_code(0)
        .assert_stderr_contains("… and 3 more (--plan-out FILE writes them all)");
    let plan = case.path("plan.json");
    case.run(&["sync", arg(&sheet), "--plan-out", arg(&plan)])
        .assert_code(0)
        .assert_stderr_contains(&format!("… and 3 more (all are in {})", plan.display()));

    // Six rows, six different reasons.
    let long_name = "N".repeat(101);
    let rows = format!(
        "{HEADER}101,Agent,not-a-phone,Secret101\n102,Agent,919812300001,x\n1,Agent,919812300001,Secret103\n\
         104,{long_name},919812300001,Secret104\n105,Agent,not-a-phone,x\n106,Agent\u{202E},919812300001,Secret106\n"
    );
    let sheet = case.write("six.csv", rows);
    let report = case.path("r.csv");
    let ran = case.run(&import_args(&sheet, "upsert", &report, &["--rate", "0"]));
    ran.assert_code(1);
    ran.assert_stderr_contains("… and 1 more reason (every row's reason is in");
}

#[test]
fn progress_off_a_terminal_says_done_of_total_rate_and_eta_and_when_the_rate_moves() {
    let case = Case::with_faults(Faults {
        rate_limit: Some(8.0),
        retry_after_secs: 1,
        ..Default::default()
    });
    let sheet = case.write("s.csv", add_rows(101, 60));
    let report = case.path("r.csv");
    let ran = case.run(&import_args(&sheet, "add", &report, &["--rate", "20"]));
    ran.assert_code(0);
    let progress: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|line| line.contains("import progress:"))
        .collect();
    assert!(!progress.is_empty(), "a progress line every 5 s: {ran}");
    for line in &progress {
        for part in ["/60 (", "%)", "/s, ETA ", " ok, "] {
            assert!(line.contains(part), "{part:?} in {line:?}");
        }
    }
    assert!(
        ran.stderr.contains("the rate limit in force is now"),
        "the provider's 429s moved the rate: {ran}"
    );
}
