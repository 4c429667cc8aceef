//! Rate control under pressure (issue 9): invariants with slack against the sandbox. The figures
//! (how fast, how few 429s) are `make bench`'s; these tests hold no timings.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use roster::sandbox::Faults;

use crate::common::*;

/// The summary's series agrees with its totals: every request sent is in one point, and the
/// points are a second apart.
fn assert_series_consistent(summary: &serde_json::Value) {
    let series = &summary["series"];
    assert_eq!(series["step_seconds"], 1, "{summary}");
    let points = series["points"].as_array().expect("series points");
    assert!(!points.is_empty(), "{summary}");
    let sum = |field: &str| -> u64 { points.iter().map(|p| p[field].as_u64().unwrap()).sum() };
    assert_eq!(sum("sent"), summary["requests"].as_u64().unwrap());
    assert_eq!(sum("throttled"), summary["throttled"].as_u64().unwrap());
    for (i, point) in points.iter().enumerate() {
        assert_eq!(point["t"], i as u64, "{point}");
    }
}

/// Adds `rows` users with `--rate RATE --concurrency 8` to a sandbox that accepts `limit`
/// requests a second; every row must end `ok`. Returns the run's summary.
fn import_behind_a_limit(limit: f64, rows: u32, rate: &str) -> serde_json::Value {
    let case = Case::with_faults(Faults {
        rate_limit: Some(limit),
        ..Faults::default()
    });
    let input = case.write("users.csv", add_rows(1000, rows));
    let report = case.path("report.csv");
    let ran = run_at_most(
        case.roster(&import_args(
            &input,
            "add",
            &report,
            &["--rate", rate, "--concurrency", "8", "--json"],
        )),
        Duration::from_secs(120),
        "import",
    );
    ran.assert_code(0);
    assert_all_ok(&read_csv(&report));
    ran.stdout_json()
}

#[test]
fn rate_auto_probes_up_from_a_safe_start_and_the_summary_shows_how() {
    let summary = import_behind_a_limit(40.0, 150, "auto");
    assert_eq!(summary["rate_mode"], "auto", "{summary}");
    assert_eq!(summary["configured_rate"], serde_json::Value::Null);
    let highest = summary["highest_rate"].as_f64().unwrap();
    assert!(highest > 5.0, "probed above the safe start: {summary}");
    assert_series_consistent(&summary);
    let points = summary["series"]["points"].as_array().unwrap();
    assert_eq!(points[0]["rate"].as_f64().map(|r| r >= 5.0), Some(true));
    let ok: u64 = points.iter().map(|p| p["ok"].as_u64().unwrap()).sum();
    assert!(ok >= 150, "every add answered 2xx: {summary}");
}

#[test]
fn rate_max_caps_the_probe() {
    let case = Case::new();
    let input = case.write("users.csv", add_rows(1000, 60));
    let report = case.path("report.csv");
    let ran = case.run(&import_args(
        &input,
        "add",
        &report,
        &["--rate", "auto", "--rate-max", "8", "--json"],
    ));
    ran.assert_code(0);
    let summary = ran.stdout_json();
    assert!(
        summary["highest_rate"].as_f64().unwrap() <= 8.0,
        "{summary}"
    );
}

#[test]
fn rate_0_takes_a_limit_when_the_provider_throttles() {
    let summary = import_behind_a_limit(20.0, 120, "0");
    assert_eq!(summary["rate_mode"], "unlimited", "{summary}");
    assert!(summary["throttled"].as_u64().unwrap() > 0, "{summary}");
    assert!(
        summary["lowest_rate"].as_f64().is_some(),
        "a limit was taken after the 429s: {summary}"
    );
    assert_series_consistent(&summary);
}

#[test]
fn server_errors_never_lower_the_rate() {
    let case = Case::with_faults(Faults {
        error_rate: 0.3,
        max_fault_streak: Some(2),
        ..Faults::default()
    });
    let input = case.write("users.csv", add_rows(1000, 80));
    let report = case.path("report.csv");
    let ran = case.run(&import_args(
        &input,
        "add",
        &report,
        &["--rate", "200", "--retry-base", "0.01", "--json"],
    ));
    ran.assert_code(0);
    let summary = ran.stdout_json();
    assert_eq!(summary["lowest_rate"], 200.0, "{summary}");
    let points = summary["series"]["points"].as_array().unwrap();
    let errors: u64 = points
        .iter()
        .map(|p| p["server_errors"].as_u64().unwrap())
        .sum();
    assert!(errors > 0, "the 500s are in the series: {summary}");
}

#[test]
fn the_json_log_closes_with_the_series() {
    let case = Case::new();
    let input = case.write("users.csv", add_rows(1000, 5));
    let report = case.path("report.csv");
    let ran = case.run(
        &[
            &["--log-format", "json"][..],
            &import_args(&input, "add", &report, &["--rate", "0"]),
        ]
        .concat(),
    );
    ran.assert_code(0);
    let summary = ran
        .stderr
        .lines()
        .map(json)
        .find(|event| event["event"] == "summary")
        .expect("a summary event");
    assert_eq!(summary["rate_mode"], "unlimited", "{summary}");
    let series = json(summary["series"].as_str().expect("the series as JSON text"));
    assert!(!series["points"].as_array().unwrap().is_empty(), "{series}");
}

#[test]
fn a_fault_streak_cap_lets_every_request_through_in_the_end() {
    // Every request is faulted (500) until the cap: each add meets two, then goes through.
    let mut child = roster_command(&[
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--error-rate",
        "1",
        "--max-fault-streak",
        "2",
        "--rate-schedule",
        "100@0,50@1",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path(), "users.csv", add_rows(1000, 4));
    let report = dir.path().join("report.csv");
    let ran = run(roster_at(
        url.trim(),
        &import_args(
            &input,
            "add",
            &report,
            &["--rate", "0", "--concurrency", "1", "--retry-base", "0.01"],
        ),
    ));
    let _ = child.kill();
    let _ = child.wait();
    ran.assert_code(0);
    assert_all_ok(&read_csv(&report));
}

#[test]
fn sandbox_rate_flags_are_checked() {
    for (flag, value) in [
        ("--rate-schedule", "40@10,15@5"),
        ("--rate-schedule", "fast"),
        ("--max-fault-streak", "many"),
    ] {
        run(roster_command(&[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            flag,
            value,
        ]))
        .assert_code(2)
        .assert_stderr_contains(flag);
    }
    let case = Case::new();
    let input = case.write("users.csv", add_rows(1000, 1));
    let report = case.path("report.csv");
    case.run(&import_args(&input, "add", &report, &["--rate", "quick"]))
        .assert_code(2)
        .assert_stderr_contains("auto");
}
