//! An export of any account goes back in unchanged: re-imported with `--mode update` it sends only
//! reads and skips every row, and `roster sync` plans nothing, whatever names the provider holds.

use proptest::prelude::*;

use crate::common::*;

/// Names as people and spreadsheets make them: Alt+Enter line breaks, tabs, a leading formula
/// character or apostrophe, Devanagari and Tamil.
fn name() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "Anita",
        "Desai",
        "O'Brien",
        "अनीता",
        "देसाई",
        "தமிழ்",
        "செல்வி",
        "Ravi",
        "3rd",
    ]);
    let gap = prop::sample::select(vec![" ", "\n", "  ", "\t", "\r\n"]);
    let lead = prop::sample::select(vec!["", "", "=", "+", "-", "@", "'", "'=", "\t", " "]);
    let tail = prop::sample::select(vec!["", "", "\n", " ", "\t"]);
    (
        lead,
        word.clone(),
        prop::collection::vec((gap, word), 0..3),
        tail,
    )
        .prop_map(|(lead, first, rest, tail)| {
            let mut name = format!("{lead}{first}");
            for (gap, word) in rest {
                name.push_str(gap);
                name.push_str(word);
            }
            name.push_str(tail);
            name
        })
}

/// Every endpoint the sandbox was asked for, with how often.
fn endpoints(case: &Case) -> Vec<String> {
    case.sandbox().stats().by_endpoint.keys().cloned().collect()
}

fn assert_goes_back_unchanged(case: &Case, export: &std::path::Path, rows: usize) {
    let before = case.sandbox().telecmi_users();
    let report = case.path("back.csv");
    let ran = case.run(&[
        "import",
        arg(export),
        "--mode",
        "update",
        "--report",
        arg(&report),
        "--rate",
        "0",
    ]);
    ran.assert_code(0);
    let outcomes = read_csv(&report);
    assert_eq!(outcomes.len(), rows);
    for row in &outcomes {
        assert_eq!(row["outcome"], "skipped", "{row:?}");
    }
    assert!(
        endpoints(case).iter().all(|path| path.ends_with("/list")),
        "only reads were sent: {:?}",
        case.sandbox().stats().by_endpoint
    );
    assert_eq!(
        case.sandbox().telecmi_users(),
        before,
        "the account is as it was"
    );

    let plan = case.path("plan.json");
    case.run(&["sync", arg(export), "--plan-out", arg(&plan), "--rate", "0"])
        .assert_code(0);
    let counts = &read_json(&plan)["counts"];
    for count in ["create", "update", "invalid", "only_in_account"] {
        assert_eq!(counts[count], 0, "{count}: {counts}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn an_export_goes_back_unchanged_whatever_names_the_account_holds(
        names in prop::collection::vec(name(), 4..10),
        alerts in prop::collection::vec(any::<bool>(), 10),
    ) {
        let case = Case::new();
        for (index, name) in names.iter().enumerate() {
            let extension = 301 + index as u32;
            let mut user = telecmi_user(extension, name, &format!("9198123{extension:05}"), "Secret#301");
            user.sms_alert = alerts[index];
            user.start_time = Some(9);
            user.end_time = Some(18);
            case.insert_telecmi(user);
        }
        for format in ["csv", "xlsx"] {
            let export = case.path(&format!("roster.{format}"));
            case.run(&["export", "--provider", "telecmi", "--format", format, "-o", arg(&export), "--rate", "0"])
                .assert_code(0);
            assert_goes_back_unchanged(&case, &export, names.len());
        }
    }
}
