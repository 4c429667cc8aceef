//! Trust boundaries: what a careless sheet or a hostile server cannot do to an account or a file.

use crate::common::*;

#[test]
fn one_stray_byte_does_not_turn_a_utf8_sheet_into_mojibake() {
    let case = Case::new();
    let mut sheet = "extension,name,phone_number,password\n\
                     201,Zoë Ødegård,919812300001,Secret#201\n\
                     202,José Núñez,919812300002,Secret#202\n"
        .as_bytes()
        .to_vec();
    sheet.extend_from_slice(b"203,Bad \xe9 Byte,919812300003,Secret#203\n");
    let path = case.write("s.csv", sheet);
    let (report, summary) = (case.path("r.csv"), case.path("s.json"));
    case.run(&[
        "import",
        arg(&path),
        "--report",
        arg(&report),
        "--summary",
        arg(&summary),
        "--rate",
        "0",
    ])
    .assert_code_because(1, "the row with the stray byte is invalid");
    let names = case.telecmi_names();
    assert!(names.contains(&"Zoë Ødegård".to_string()), "{names:?}");
    assert!(names.contains(&"José Núñez".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains('Ã') || n.contains("Bad")),
        "nothing garbled reaches the account: {names:?}"
    );
    let rows = read_report(&report);
    assert_eq!(rows[2]["outcome"], "invalid");
    assert_message_contains(&rows[2], "0xE9");
    assert_eq!(read_json(&summary)["encoding"], "utf-8");
}

#[test]
fn a_windows_1252_sheet_is_still_read_as_one() {
    let case = Case::new();
    let path = case.write(
        "s.csv",
        b"extension,name,phone_number,password\n201,Jos\xe9 Rao,919812300001,Secret#201\n",
    );
    let report = case.path("r.csv");
    case.run(&[
        "import",
        arg(&path),
        "--report",
        arg(&report),
        "--rate",
        "0",
    ])
    .assert_code(0);
    assert_eq!(case.sandbox().telecmi_users()[0].name, "José Rao");
}

#[test]
fn a_file_without_line_ends_is_refused_in_bounded_memory() {
    let case = Case::new();
    let path = case.path("no-line-end.csv");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        file.write_all(b"extension,name,phone_number,password\n101,")
            .unwrap();
        let block = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            file.write_all(&block).unwrap();
        }
    }
    for command in ["validate", "import"] {
        let (code, peak, stderr) = run_measured(case.roster(&[command, arg(&path)]));
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(stderr.contains("--max-record-bytes"), "{stderr}");
        assert!(
            peak < 64 << 20,
            "{command} of a 100 MB line held {} MB",
            peak >> 20
        );
    }
    assert_eq!(case.sandbox().stats().requests, 0);
}

#[test]
fn a_header_cannot_drive_the_terminal_or_flood_it() {
    let case = Case::new();
    let long = "x".repeat(100_000);
    let sheet = format!(
        "extension,name,phone_number,password,\u{1b}]0;owned\u{7},{long}\n201,Asha Rao,919812300001,Secret#201,a,b\n"
    );
    let path = case.write("s.csv", sheet);
    let ran = case.run(&[
        "validate",
        arg(&path),
        "--max-record-bytes",
        "1M",
        "--max-field-bytes",
        "1M",
    ]);
    ran.assert_code(0);
    assert!(
        !ran.stderr.contains('\u{1b}'),
        "escape sequences are shown, not sent: {ran}"
    );
    assert!(ran.stderr.contains("\\u{1b}]0;owned"), "{ran}");
    assert!(
        ran.stderr.len() < 2_000,
        "a 100 KB column name is clipped: {} bytes",
        ran.stderr.len()
    );
}

#[test]
fn a_sheet_on_standard_input_is_read_whole_and_can_be_resumed() {
    use std::io::Write;
    let case = Case::new();
    let sheet = add_rows(201, 3);
    let report = case.path("r.csv");
    let import = |extra: &[&str]| {
        let args = import_args(
            std::path::Path::new("-"),
            "add",
            &report,
            &[&["--rate", "0"], extra].concat(),
        );
        let mut child = case
            .roster(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sheet.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let first = import(&[]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(case.telecmi_names().len(), 3);
    assert_eq!(read_report(&report).len(), 3);
    let again = import(&["--resume"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("3 rows were finished by earlier runs"),
        "the same bytes on stdin resume the same run"
    );

    let validate = case
        .roster(&["validate", "-"])
        .stdin(std::fs::File::open(case.write("v.csv", &sheet)).unwrap())
        .output()
        .unwrap();
    assert_eq!(validate.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&validate.stderr).contains("standard input: 3 rows, 3 valid"),
        "the headline names what was given"
    );

    // A problem with the sheet names what was given, not the private copy.
    let short = case
        .roster(&["validate", "-", "--mode", "add"])
        .stdin(std::fs::File::open(case.write("short.csv", "extension,name\n101,A\n")).unwrap())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&short.stderr);
    assert_eq!(short.status.code(), Some(2), "{said}");
    assert!(
        said.contains("standard input: missing required columns for --mode add"),
        "{said}"
    );
}

/// A shell's `<(...)` is a pipe: read once into a private file, then read as a sheet (before,
/// the encoding scan's read at an offset failed with "Illegal seek").
#[cfg(unix)]
#[test]
fn a_sheet_from_a_pipe_is_read_whole() {
    use std::io::Write;
    let case = Case::new();
    let pipe = case.path("sheet.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success());
    // Longer than the scan's head, so that the rest is read from where the head ended.
    let sheet = add_rows(201, 2_000);
    let writer = {
        let (pipe, sheet) = (pipe.clone(), sheet.clone());
        std::thread::spawn(move || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&pipe)
                .unwrap()
                .write_all(sheet.as_bytes())
                .unwrap();
        })
    };
    let ran = case.run(&["validate", arg(&pipe), "--mode", "add"]);
    // Checked before the writer is awaited: a roster that never read the pipe leaves it waiting.
    ran.assert_code(0);
    assert!(
        ran.stderr
            .contains(&format!("{}: 2000 rows, 2000 valid", pipe.display())),
        "{ran}"
    );
    writer.join().unwrap();
}

#[test]
fn two_runs_cannot_share_one_summary() {
    let case = Case::with_latency(std::time::Duration::from_millis(200));
    let sheet = case.write("s.csv", add_rows(201, 10));
    let summary = case.path("summary.json");
    let (first_report, second_report) = (case.path("a.csv"), case.path("b.csv"));
    let args = |report| {
        vec![
            "import",
            arg(&sheet),
            "--mode",
            "add",
            "--report",
            report,
            "--summary",
            arg(&summary),
            "--concurrency",
            "1",
        ]
    };
    let mut first = case.spawn(&args(arg(&first_report)));
    case.wait_for_requests(1, "the first run is under way");
    case.run(&args(arg(&second_report)))
        .assert_code_because(2, "the summary belongs to the run under way")
        .assert_stderr_contains("another roster run");
    let status = wait_at_most(&mut first, std::time::Duration::from_secs(60), "first run");
    assert_eq!(status.code(), Some(0));
    assert_eq!(read_json(&summary)["counts"]["ok"], 10);
}
