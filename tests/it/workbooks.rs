//! Workbooks in and out: fixtures made by LibreOffice (`tests/data/workbooks/make-fixtures.sh`)
//! read by validate, import and sync; the failed-rows file as CSV and as a workbook.

use std::path::{Path, PathBuf};

use calamine::{Data, Reader};

use crate::common::*;

/// The fixture `onboarding.EXT` copied into the case's directory.
fn fixture(case: &Case, extension: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/workbooks")
        .join(format!("onboarding.{extension}"));
    case.write(
        &format!("onboarding.{extension}"),
        std::fs::read(source).unwrap(),
    )
}

/// Every cell of the first sheet of the workbook at `path`, and the sheet's name.
fn read_workbook(path: &Path) -> (String, Vec<Vec<Data>>) {
    let mut book = calamine::open_workbook_auto(path).unwrap();
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    (name, range.rows().map(<[Data]>::to_vec).collect())
}

#[test]
fn an_office_workbook_imports_with_its_exact_cell_values() {
    for extension in ["xlsx", "ods", "xls"] {
        let case = Case::new();
        let input = fixture(&case, extension);
        let report = case.path("report.csv");
        case.run(&import_args(&input, "add", &report, &["--rate", "1000"]))
            .assert_code_because(0, extension);
        let rows = read_report(&report);
        assert_eq!(outcomes(&rows), ["ok", "ok", "ok"], "{extension}");
        let places: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r["row"].as_str(), r["source_row"].as_str()))
            .collect();
        assert_eq!(
            places,
            [("1", "3"), ("2", "4"), ("3", "6")],
            "{extension}: an empty row before the header and a blank row between data rows"
        );
        let mut users = case.sandbox().telecmi_users();
        users.sort_by_key(|u| u.extension);
        let got: Vec<(u32, &str, &str, bool)> = users
            .iter()
            .map(|u| {
                (
                    u.extension,
                    u.name.as_str(),
                    u.phone_number.as_str(),
                    u.sms_alert,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (201, "Anita Desai", "919812300317", true),
                (202, "Ravi Kumar", "919812300318", false),
                (203, "Meena Iyer", "919812300319", true),
            ],
            "{extension}: a number shown as 9.19812E+11 is whole, a formula gives its value, booleans are booleans"
        );
    }
}

#[test]
fn cells_of_the_wrong_type_are_invalid_with_their_sheet_row() {
    let case = Case::new();
    let input = fixture(&case, "xlsx");
    let ran = case.run(&[
        "validate",
        arg(&input),
        "--sheet",
        "Bad cells",
        "--mode",
        "add",
    ]);
    ran.assert_code(1)
        .assert_stderr_contains(
            "row 1 (sheet row 2): column 1 (extension) value \"301.5\": a number with a fraction",
        )
        .assert_stderr_contains(
            "row 2 (sheet row 3): column 3 (phone_number) value \"#N/A\": an error cell",
        )
        .assert_stderr_contains("row 3 (sheet row 4): column 3 (phone_number)")
        .assert_stderr_contains("a date or time cell")
        .assert_stderr_contains("row 4 (sheet row 5): column 3 (phone_number)")
        .assert_stderr_contains("more than 15 digits")
        .assert_stderr_contains("4 rows, 0 valid, 4 invalid");
    let by_number = case.run(&["validate", arg(&input), "--sheet", "2", "--mode", "add"]);
    by_number
        .assert_code(1)
        .assert_stderr_contains("4 rows, 0 valid, 4 invalid");
}

#[test]
fn a_sheet_without_a_header_stops_before_any_request_and_lists_the_sheets() {
    let case = Case::new();
    let input = fixture(&case, "ods");
    for sheet in ["Notes", "Payroll"] {
        let report = case.path("report.csv");
        case.run(&import_args(&input, "add", &report, &["--sheet", sheet]))
            .assert_code_because(2, sheet)
            .assert_stderr_contains("\"Staff\", \"Bad cells\", \"Notes\"");
    }
    assert_eq!(case.sandbox().stats().requests, 0);
}

#[test]
fn a_workbook_past_its_size_cap_is_refused_with_the_flag() {
    let case = Case::new();
    let input = fixture(&case, "xlsx");
    case.run(&["validate", arg(&input), "--max-workbook-bytes", "1K"])
        .assert_code(2)
        .assert_stderr_contains("--max-workbook-bytes");
}

#[test]
fn failed_rows_of_a_workbook_go_to_a_workbook_of_the_same_sheet_with_their_reason() {
    let case = Case::new();
    let input = fixture(&case, "ods");
    let report = case.path("report.csv");
    let failed = case.path("failed.xlsx");
    case.run(&import_args(
        &input,
        "add",
        &report,
        &["--sheet", "Bad cells", "--failed", arg(&failed)],
    ))
    .assert_code(1);
    let (name, rows) = read_workbook(&failed);
    assert_eq!(name, "Bad cells");
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    assert_eq!(
        header,
        [
            "extension",
            "name",
            "phone_number",
            "password",
            "original_row",
            "failure_reason"
        ]
    );
    assert_eq!(rows.len(), 5, "the header and the four rows");
    assert_eq!(
        rows[1][2],
        Data::String("919812300320".into()),
        "a phone is a text cell"
    );
    assert_eq!(rows[1][4], Data::String("1".into()));
    assert!(rows[1][5].to_string().contains("fraction"), "{:?}", rows[1]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&failed).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "it holds passwords");
    }
}

#[test]
fn failed_alone_names_the_file_after_the_input_and_its_kind() {
    let case = Case::new();
    let input = fixture(&case, "xls");
    let report = case.path("report.csv");
    let mut command = case.roster(&import_args(
        &input,
        "add",
        &report,
        &["--sheet", "Bad cells", "--failed"],
    ));
    run(command.current_dir(case.dir())).assert_code(1);
    let (name, rows) = read_workbook(&case.path("onboarding.failed.xlsx"));
    assert_eq!((name.as_str(), rows.len()), ("Bad cells", 5));
}

#[test]
fn a_duplicate_of_a_row_that_succeeded_is_kept_out_of_the_failed_rows_file() {
    let case = Case::new();
    let input = case.write(
        "hr.csv",
        format!(
            "{HEADER}105,Good User,919200000105,secret105\n\
             106,Bad Phone,12,secret106\n\
             105,Duplicate User,919299999999,secret999\n\
             106,Second Bad,919200000106,secret106\n"
        ),
    );
    let report = case.path("report.csv");
    let failed = case.path("failed.csv");
    case.run(&import_args(
        &input,
        "upsert",
        &report,
        &["--failed", arg(&failed), "--rate", "1000"],
    ))
    .assert_code(1)
    .assert_stderr_contains("row 3 (line 4) is left out of the failed-rows file");
    let rows = read_csv(&failed);
    let kept: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["extension"].as_str(), r["original_row"].as_str()))
        .collect();
    assert_eq!(
        kept,
        [("106", "2"), ("106", "4")],
        "the duplicate of a failed row stays beside it; the duplicate of 105, which was added, does not"
    );
    assert!(rows[1]["failure_reason"].contains("duplicate of row 2"));

    // Re-run on its own, the failed file cannot touch user 105, and its added columns are
    // read past without a warning.
    let again = case.path("again.csv");
    case.run(&import_args(
        &failed,
        "upsert",
        &report,
        &["--failed", arg(&again)],
    ))
    .assert_code(1)
    .assert_stderr_lacks("unknown columns");
    let user = case
        .sandbox()
        .telecmi_users()
        .into_iter()
        .find(|u| u.extension == 105)
        .unwrap();
    assert_eq!(user.name, "Good User");
    let header = std::fs::read_to_string(&again).unwrap();
    assert!(
        header.starts_with("extension,name,phone_number,password,original_row,failure_reason\n"),
        "the added columns are replaced, not repeated: {header}"
    );
}

#[test]
fn an_xlsx_export_holds_identifiers_as_text_cells_under_a_bold_filtered_header() {
    let case = Case::seeded(3, 0);
    let output = case.path("roster.xlsx");
    case.run(&export_args("telecmi", &output, &["--format", "xlsx"]))
        .assert_code(0);
    let (name, rows) = read_workbook(&output);
    assert_eq!(name, "Roster");
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    assert_eq!(&header[..3], ["agent_id", "extension", "name"]);
    assert_eq!(rows.len(), 4);
    for row in &rows[1..] {
        for column in ["agent_id", "extension", "phone_number"] {
            let index = header.iter().position(|h| h == column).unwrap();
            assert!(
                matches!(row[index], Data::String(_)),
                "{column} is a text cell: {:?}",
                row[index]
            );
        }
    }
    let sms = header.iter().position(|h| h == "sms_alert").unwrap();
    assert!(matches!(rows[1][sms], Data::Bool(_)), "{:?}", rows[1][sms]);
    let bytes = std::fs::read(&output).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(".tmp"), "written in place whole");
}

#[test]
fn an_xlsx_export_with_passwords_is_private() {
    let case = Case::seeded(2, 0);
    let output = case.path("roster.xlsx");
    case.run(&export_args(
        "telecmi",
        &output,
        &["--format", "xlsx", "--include-passwords"],
    ))
    .assert_code(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&output).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_diff_report_can_be_a_workbook() {
    let case = Case::new();
    let old = case.write(
        "old.csv",
        "agent_id,extension,name,phone_number\n101_1,101,Asha,919200000101\n",
    );
    let new = case.write(
        "new.csv",
        "agent_id,extension,name,phone_number\n101_1,101,Asha,919200000199\n",
    );
    let output = case.path("changes.xlsx");
    case.run(&["diff", arg(&old), arg(&new), "--output", arg(&output)])
        .assert_code(0);
    let (_, rows) = read_workbook(&output);
    assert_eq!(rows[0][0], Data::String("change".into()));
    assert_eq!(rows[1][5], Data::String("919200000199".into()));
}
