//! Exit codes by phase: 2 when the run stopped before its first request, 3 after it; a reader
//! closing the pipe early is not a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;
use roster::sandbox::SandboxConfig;

const SHEET: &str = "extension,name,phone_number,password\n201,Asha Rao,919812300001,Secret#201\n";

fn no_such_dir(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path()
        .join("no/such/dir")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn an_output_that_cannot_be_created_exits_2_before_any_request() {
    let sandbox = TestSandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let sheet = write_file(dir.path(), "s.csv", SHEET);
    let report = dir.path().join("r.csv");
    let cases: [Vec<String>; 5] = [
        vec![
            "sync".into(),
            arg(&sheet).into(),
            "--plan-out".into(),
            no_such_dir(&dir, "plan.json"),
        ],
        vec![
            "sync".into(),
            arg(&sheet).into(),
            "--apply".into(),
            "--report".into(),
            no_such_dir(&dir, "r.csv"),
        ],
        vec![
            "import".into(),
            arg(&sheet).into(),
            "--report".into(),
            arg(&report).into(),
            "--summary".into(),
            no_such_dir(&dir, "s.json"),
        ],
        vec![
            "export".into(),
            "--provider".into(),
            "telecmi".into(),
            "-o".into(),
            arg(&dir.path().join("e.csv")).into(),
            "--summary".into(),
            no_such_dir(&dir, "s.json"),
        ],
        vec![
            "migrate".into(),
            "--from".into(),
            "telecmi".into(),
            "--to".into(),
            "telecmi".into(),
            "--credentials-out".into(),
            no_such_dir(&dir, "c.csv"),
        ],
    ];
    for case in &cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        let ran = run(sandbox.roster(&args));
        assert_eq!(ran.code, 2, "{args:?}\n{}", ran.stderr);
        assert!(
            ran.stderr.contains("no/such/dir"),
            "names the path: {}",
            ran.stderr
        );
        assert_eq!(
            sandbox.sandbox().stats().requests,
            0,
            "{args:?} sent a request before finding out"
        );
    }
}

#[test]
fn a_failure_after_the_first_request_exits_3() {
    let sandbox = TestSandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let sheet = write_file(dir.path(), "s.csv", SHEET);
    let mut command = sandbox.roster(&["sync", arg(&sheet)]);
    command.env("TELECMI_SECRET", "not-the-secret");
    let ran = run(command);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(sandbox.sandbox().stats().requests > 0);
}

#[test]
fn the_cause_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = write_file(dir.path(), "s.csv", SHEET);
    let ran = run(roster_command(&[
        "import",
        arg(&sheet),
        "--config",
        &no_such_dir(&dir, "roster.toml"),
    ]));
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(
        ran.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        ran.stderr
    );
}

#[test]
fn an_export_whose_reader_stops_early_exits_0_quietly() {
    let sandbox = TestSandbox::start(SandboxConfig {
        seed_telecmi: 3000,
        ..SandboxConfig::default()
    });
    let mut command =
        sandbox.roster(&["export", "--provider", "telecmi", "-o", "-", "--rate", "0"]);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("agent_id,"), "{first}");
    // The reader is dropped here, as `head -1` exits after one line.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn validate_into_a_closed_pipe_exits_with_what_the_rows_earned() {
    let dir = tempfile::tempdir().unwrap();
    for (sheet, code) in [
        (SHEET.to_string(), 0),
        (format!("{SHEET}202,Ravi Kumar,not-a-phone,Secret#202\n"), 1),
    ] {
        let path = write_file(dir.path(), "s.csv", sheet);
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
    let ran = run(roster_command(&["sandbox", "--listen", &address]));
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("cannot listen"), "{}", ran.stderr);
}
