//! Phone numbers (#16): every written form arrives as E.164 digits without the `+`; a sync right
//! after an import plans nothing; an account holding other forms of the same numbers is left alone.

use crate::common::*;

/// One number per row, each written another way; rows 306 and 307 are national (no country code).
const FORMS: &str = "extension,name,phone_number,password\n\
    301,Plus Spaces,+91 98123 00001,Secret301\n\
    302,Double Zero,0091 98123 00002,Secret302\n\
    303,Bracketed,(+91) 98123-00003,Secret303\n\
    304,Dots,+91.98123.00004,Secret304\n\
    305,Dashes,91-98123-00005,Secret305\n\
    306,National Zero,098123 00006,Secret306\n\
    307,National,98123 00007,Secret307\n";

/// The phone number the sandbox holds for each extension, as stored.
fn stored_phones(case: &Case) -> Vec<(u32, String)> {
    let mut phones: Vec<(u32, String)> = case
        .sandbox()
        .telecmi_users()
        .into_iter()
        .map(|u| (u.extension, u.phone_number))
        .collect();
    phones.sort();
    phones
}

/// `import SHEET --mode MODE EXTRA...`, exit 0; what it printed and its JSON summary.
fn import(
    case: &Case,
    sheet: &std::path::Path,
    mode: &str,
    extra: &[&str],
) -> (Ran, serde_json::Value) {
    let report = case.path("results.csv");
    let summary = case.path("summary.json");
    let mut args = import_args(
        sheet,
        mode,
        &report,
        &["--rate", "0", "--summary", arg(&summary)],
    );
    args.extend_from_slice(extra);
    let ran = case.run(&args);
    ran.assert_code(0);
    (ran, read_json(&summary))
}

fn plan_counts(case: &Case, sheet: &std::path::Path, extra: &[&str]) -> (u64, u64, u64) {
    let plan = case.path("plan.json");
    let mut args = vec!["sync", arg(sheet), "--rate", "0", "--plan-out", arg(&plan)];
    args.extend_from_slice(extra);
    case.run(&args).assert_code(0);
    let counts = &read_json(&plan)["counts"];
    let count = |name: &str| counts[name].as_u64().unwrap();
    (count("create"), count("update"), count("unchanged"))
}

#[test]
fn every_written_form_arrives_digits_only_and_a_sync_right_after_plans_nothing() {
    let case = Case::new();
    let sheet = case.write("forms.csv", FORMS);
    let (_, summary) = import(&case, &sheet, "add", &["--default-region", "IN"]);
    let expected: Vec<(u32, String)> = (1..=7)
        .map(|n| (300 + n, format!("91981230000{n}")))
        .collect();
    assert_eq!(
        stored_phones(&case),
        expected,
        "the sandbox stores what it is sent"
    );
    assert_eq!(summary["unplaced_phones"], 0);

    assert_eq!(
        plan_counts(&case, &sheet, &["--default-region", "IN"]),
        (0, 0, 7),
        "the same sheet right after its import needs no update"
    );
}

#[test]
fn without_a_region_national_numbers_go_out_as_written_and_the_summary_warns_once() {
    let case = Case::new();
    let sheet = case.write("forms.csv", FORMS);
    let (ran, summary) = import(&case, &sheet, "add", &[]);
    let phones = stored_phones(&case);
    assert_eq!(
        phones[0].1, "919812300001",
        "+91 is international without a region"
    );
    assert_eq!(phones[1].1, "919812300002", "so is 0091");
    assert_eq!(
        phones[5].1, "09812300006",
        "a national number goes out as its digits"
    );
    assert_eq!(phones[6].1, "9812300007");
    assert_eq!(summary["unplaced_phones"], 2);
    let warning = "2 phone numbers have no country code";
    assert_eq!(
        ran.stderr.matches(warning).count(),
        1,
        "warned once, naming the flag: {}",
        ran.stderr
    );
    ran.assert_stderr_contains("--default-region");
    // The profile key says the same as the flag.
    let config = case.write(
        "roster.toml",
        "[profiles.default]\ndefault_region = \"IN\"\n",
    );
    let ran = case.run(&["validate", arg(&sheet), "--config", arg(&config)]);
    ran.assert_code(0);
    assert!(!ran.stderr.contains(warning), "{}", ran.stderr);
}

#[test]
fn an_account_holding_other_forms_of_the_same_numbers_is_not_rewritten() {
    let case = Case::new();
    for (extension, phone) in [
        (401, "+919812300001"),
        (402, "+91 98123 00002"),
        (403, "9812300003"),
        (404, "098123-00004"),
    ] {
        case.insert_telecmi(telecmi_user(extension, "Same Number", phone, "Secret400"));
    }
    let before = stored_phones(&case);
    // No password column: an update-mode row reads the user back and skips it when it is as wanted.
    let sheet = case.write(
        "same.csv",
        "extension,name,phone_number\n\
         401,Same Number,919812300001\n\
         402,Same Number,(+91) 98123-00002\n\
         403,Same Number,+91 98123 00003\n\
         404,Same Number,98123 00004\n",
    );
    assert_eq!(
        plan_counts(&case, &sheet, &["--default-region", "IN"]),
        (0, 0, 4),
        "sync sees no change"
    );
    for _ in 0..2 {
        let (_, summary) = import(&case, &sheet, "update", &["--default-region", "IN"]);
        assert_eq!(summary["counts"]["skipped"], 4);
    }
    assert_eq!(
        case.sandbox()
            .stats()
            .by_endpoint
            .get("/v2/user/update")
            .copied(),
        None,
        "nothing rewritten"
    );
    assert_eq!(stored_phones(&case), before);
    // Without the region the national forms are not known to be Indian: they would change.
    assert_eq!(plan_counts(&case, &sheet, &[]), (0, 2, 2));
}

#[test]
fn diff_compares_phone_numbers_as_numbers() {
    let case = Case::new();
    let header = "agent_id,extension,name,phone_number\n";
    let old = case.write(
        "old.csv",
        format!("{header}101_1111112,101,Asha,+919812300001\n102_1111112,102,Ben,9812300002\n"),
    );
    let new = case.write(
        "new.csv",
        format!("{header}101_1111112,101,Asha,919812300001\n102_1111112,102,Ben,919812300002\n"),
    );
    case.run(&["diff", arg(&old), arg(&new), "--default-region", "IN"])
        .assert_code(0)
        .assert_stderr_contains("no changes");
    case.run(&["diff", arg(&old), arg(&new)])
        .assert_code(0)
        .assert_stderr_contains("1 changed (1 phone_number)");
}
