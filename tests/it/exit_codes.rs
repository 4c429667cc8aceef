//! Exit codes by phase: 2 when the run stopped before its first request, 3 after it; a reader
//! closing the pipe early is not a failure.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::*;

const SHEET: &str = "extension,name,phone_number,password\n201,Asha Rao,919812300001,Secret#201\n";

/// A path under a directory that does not exist.
fn nowhere(case: &Case, name: &str) -> String {
    case.path("no/such/dir").join(name).display().to_string()
}

#[test]
fn an_output_that_cannot_be_created_exits_2_before_any_request() {
    let case = Case::new();
    let sheet = case.write("s.csv", SHEET);
    let (sheet, report, export) = (arg(&sheet), case.path("r.csv"), case.path("e.csv"));
    let (plan, lost_report) = (nowhere(&case, "plan.json"), nowhere(&case, "r.csv"));
    let (summary, credentials) = (nowhere(&case, "s.json"), nowhere(&case, "c.csv"));
    let (report, export) = (arg(&report), arg(&export));
    let cases: [&[&str]; 5] = [
        &["sync", sheet, "--plan-out", &plan],
        &["sync", sheet, "--apply", "--report", &lost_report],
        &["import", sheet, "--report", report, "--summary", &summary],
        &[
            "export",
            "--provider",
            "telecmi",
            "-o",
            export,
            "--summary",
            &summary,
        ],
        &[
            "migrate",
            "--from",
            "telecmi",
            "--to",
            "telecmi",
            "--credentials-out",
            &credentials,
        ],
    ];
    for args in cases {
        case.run(args)
            .assert_code_because(2, "the mistake was visible before any request")
            .assert_stderr_contains("no/such/dir");
        assert_eq!(
            case.sandbox().stats().requests,
            0,
            "{args:?} sent a request before finding out"
        );
    }
}

#[test]
fn a_failure_after_the_first_request_exits_3() {
    let case = Case::new();
    let sheet = case.write("s.csv", SHEET);
    let mut command = case.roster(&["sync", arg(&sheet)]);
    command.env("TELECMI_SECRET", "not-the-secret");
    run(command).assert_code_because(3, "the account was read before the run stopped");
    assert!(case.sandbox().stats().requests > 0);
}

#[test]
fn each_cause_is_printed_once() {
    let case = Case::new();
    let sheet = case.write("s.csv", SHEET);
    let config = nowhere(&case, "roster.toml");
    let ran = run(roster_command(&[
        "import",
        arg(&sheet),
        "--config",
        &config,
    ]));
    ran.assert_code(2);
    assert_eq!(
        ran.stderr.matches("No such file or directory").count(),
        1,
        "{ran}"
    );
}

#[test]
fn an_export_whose_reader_stops_early_exits_0_quietly() {
    let case = Case::seeded(3000, 0);
    let mut child = case
        .roster(&["export", "--provider", "telecmi", "-o", "-", "--rate", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("agent_id,"), "{first}");
    // The reader is gone now, as `head -1` is after one line; the rest of the roster (far more
    // than a pipe holds) meets a closed pipe.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn validate_into_a_closed_pipe_exits_with_what_the_rows_earned() {
    let case = Case::new();
    for (sheet, code) in [
        (SHEET.to_string(), 0),
        (format!("{SHEET}202,Ravi Kumar,not-a-phone,Secret#202\n"), 1),
    ] {
        let path = case.write("s.csv", sheet);
        let mut child = roster_command(&["validate", arg(&path), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // `| head -c0`
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
    }
}

#[test]
fn a_sandbox_that_cannot_listen_exits_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    run(roster_command(&["sandbox", "--listen", &address]))
        .assert_code_because(2, "nothing happened")
        .assert_stderr_contains("cannot listen");
}
