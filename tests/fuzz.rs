//! Hostile input over the CSV → validation → request-body path: it may be refused, never panic or
//! hang, and what passes validation is sent exactly as read. `make fuzz` runs it for 10 minutes
//! (ROSTER_FUZZ_CASES sets the number of cases; the suite runs a quick 256).

use proptest::prelude::*;
use roster::input::{Delimiter, Sheet, TextEncoding};
use roster::model::{Mode, Secret};
use roster::provider::telecmi::add_request_body;
use roster::validate::{Rules, Validator};

const COLUMNS: [&str; 9] = [
    "extension",
    "Name",
    "phone",
    "password",
    "start_time",
    "end_time",
    "sms_alert",
    "agent_id",
    "team",
];

fn cases() -> u32 {
    std::env::var("ROSTER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Cells that look like what spreadsheets hold, and what they should never hold.
fn cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[0-9]{0,8}".prop_map(String::into_bytes),
        "[+]?[0-9 ()-]{6,18}".prop_map(String::into_bytes),
        "\\PC{0,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..12),
        Just(b"\"quoted, \"\"with\"\" comma\"".to_vec()),
        Just(b"9.19E+11".to_vec()),
        Just(b"\0\0".to_vec()),
        Just("Zoë Ødegård".as_bytes().to_vec()),
    ]
}

fn sheet() -> impl Strategy<Value = Vec<u8>> {
    let header = prop::sample::subsequence(COLUMNS.to_vec(), 1..COLUMNS.len());
    let delimiter = prop::sample::select(vec![b',', b';', b'\t']);
    let bom = any::<bool>();
    (
        header,
        delimiter,
        bom,
        prop::collection::vec(prop::collection::vec(cell(), 0..11), 0..24),
    )
        .prop_map(|(header, delimiter, bom, rows)| {
            let mut out = if bom {
                vec![0xEF, 0xBB, 0xBF]
            } else {
                Vec::new()
            };
            out.extend(header.join(&(delimiter as char).to_string()).into_bytes());
            for row in rows {
                out.push(b'\n');
                for (i, cell) in row.iter().enumerate() {
                    if i > 0 {
                        out.push(delimiter);
                    }
                    out.extend(cell);
                }
            }
            out
        })
}

fn run_path(bytes: &[u8], mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sheet.csv");
    std::fs::write(&path, bytes).unwrap();
    let Ok(mut sheet) = Sheet::open(&path, Delimiter::Auto, TextEncoding::Auto) else {
        return;
    };
    let rules = Rules {
        mode,
        ..Rules::default()
    };
    let Ok(mut validator) = Validator::new(rules, sheet.columns().clone()) else {
        return;
    };
    let mut record = csv::ByteRecord::new();
    let mut expected_row = 0;
    while let Ok(Some(position)) = sheet.next_record(&mut record) {
        expected_row += 1;
        assert_eq!(position.row, expected_row, "rows are numbered one by one");
        let Ok(user) = validator.check(position.row, &record) else {
            continue;
        };
        if !user.missing_required().is_empty() {
            continue;
        }
        let body = add_request_body(1111112, &Secret::new("s"), &user);
        assert_eq!(body["extension"], user.extension);
        assert_eq!(body["name"].as_str(), user.name.as_deref());
        assert_eq!(body["phone_number"].as_str(), user.phone_number.as_deref());
        assert_eq!(
            body["password"].as_str(),
            user.password.as_ref().map(Secret::expose)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn spreadsheet_like_sheets_never_panic(bytes in sheet(), mode in prop::sample::select(vec![Mode::Add, Mode::Update, Mode::Upsert])) {
        run_path(&bytes, mode);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        run_path(&bytes, Mode::Upsert);
    }
}
