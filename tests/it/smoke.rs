//! `make demo`'s path, so that it cannot rot.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn demo_script(out: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .arg("scripts/demo.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ROSTER_BIN", env!("CARGO_BIN_EXE_roster"))
        .env("DEMO_DIR", out)
        .env_remove("ROSTER_BASE_URL")
        .env_remove("TELECMI_SECRET")
        .env("NO_COLOR", "1");
    command
}

#[test]
fn demo_imports_the_sample_and_exports_both_rosters_from_an_in_process_sandbox() {
    let case = Case::seeded(0, 40);
    run(demo_script(case.dir()).env("ROSTER_BASE_URL", case.url())).assert_code(0);

    let rows = read_csv(&case.path("results.csv"));
    assert_eq!(
        rows.len(),
        31,
        "one report line per data row of samples/users.csv"
    );
    let ok: Vec<_> = rows.iter().filter(|r| r["outcome"] == "ok").collect();
    assert_eq!(ok.len(), 25);
    assert_eq!(
        case.sandbox().telecmi_users().len(),
        25,
        "exactly the valid rows were created"
    );
    assert_eq!(read_csv(&case.path("telecmi-roster.csv")).len(), 25);
    assert_eq!(read_csv(&case.path("smartflo-roster.csv")).len(), 40);
    let summary = read_json(&case.path("summary.json"));
    assert_eq!(summary["counts"]["ok"], 25);
    assert_eq!(summary["rows"], 31);
}

#[test]
fn demo_script_starts_and_stops_its_own_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let ran = run(demo_script(dir.path()));
    ran.assert_code(0);
    assert!(
        ran.stdout.contains("sandbox running at http://127.0.0.1:"),
        "{}",
        ran.stdout
    );
    assert_eq!(read_csv(&dir.path().join("telecmi-roster.csv")).len(), 25);
    let url = std::fs::read_to_string(dir.path().join("sandbox.url")).unwrap();
    let port_free = std::net::TcpStream::connect(url.trim().trim_start_matches("http://")).is_err();
    assert!(port_free, "the sandbox was stopped when the demo ended");
}
