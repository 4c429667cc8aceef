//! Trust boundaries: what a careless sheet or a hostile server cannot do to an account or a file.

mod common;

use common::*;

#[test]
fn one_stray_byte_does_not_turn_a_utf8_sheet_into_mojibake() {
    let sandbox = TestSandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let mut sheet = "extension,name,phone_number,password\n\
                     201,Zoë Ødegård,919812300001,Secret#201\n\
                     202,José Núñez,919812300002,Secret#202\n"
        .as_bytes()
        .to_vec();
    sheet.extend_from_slice(b"203,Bad \xe9 Byte,919812300003,Secret#203\n");
    let path = write_file(dir.path(), "s.csv", sheet);
    let report = dir.path().join("r.csv");
    let summary = dir.path().join("s.json");
    let ran = run(sandbox.roster(&[
        "import",
        arg(&path),
        "--report",
        arg(&report),
        "--summary",
        arg(&summary),
        "--rate",
        "0",
    ]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let names: Vec<String> = sandbox
        .sandbox()
        .telecmi_users()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert!(names.contains(&"Zoë Ødegård".to_string()), "{names:?}");
    assert!(names.contains(&"José Núñez".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains('Ã') || n.contains("Bad")),
        "nothing garbled reaches the account: {names:?}"
    );
    let rows = read_csv(&report);
    assert_eq!(rows[2]["outcome"], "invalid");
    assert!(rows[2]["message"].contains("0xE9"), "{:?}", rows[2]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["encoding"], "utf-8");
}

#[test]
fn a_windows_1252_sheet_is_still_read_as_one() {
    let sandbox = TestSandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "s.csv",
        b"extension,name,phone_number,password\n201,Jos\xe9 Rao,919812300001,Secret#201\n",
    );
    let report = dir.path().join("r.csv");
    let ran = run(sandbox.roster(&[
        "import",
        arg(&path),
        "--report",
        arg(&report),
        "--rate",
        "0",
    ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(sandbox.sandbox().telecmi_users()[0].name, "José Rao");
}
