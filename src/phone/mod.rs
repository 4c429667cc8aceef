//! Phone numbers: the one rule for reading a number, for the form it is sent in, and for telling
//! whether two numbers are the same. libphonenumber's metadata (the `phonenumber` crate) knows the
//! country codes, trunk prefixes and national lengths; roster adds only these rules:
//!
//! - **Sent** as E.164 digits without the `+` (`919812300001`): every TeleCMI example is written so.
//! - **`+` or `00` first**: international, whatever the default region.
//! - **Otherwise, with a default region** (`--default-region IN`): a number of that region, national
//!   (`098123 00001`, `98123 00001`) or with its country code (`91 98123 00001`). Digits that are no
//!   number of the region but a valid number with its country code first are read that way: that
//!   is how TeleCMI stores every number, so an export of any account re-imports.
//! - **Otherwise, without one**: a valid number with its country code first, or else the digits as
//!   written ([`Reading::Unplaced`]), which a run counts and warns about once.
//! - **Invalid** for its country is invalid, with the reason.
//! - **Compared** (sync, the update-mode skip, migrate's "already there", diff): both sides read by
//!   the same rule; text that cannot be read at all compares by its digits.

mod metadata;
mod parse;

use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;
use phonenumber::metadata::DATABASE;
use phonenumber::{country, ParseError};

use crate::text::is_digits;

/// The flag that says how numbers without a country code are read, named in messages.
pub const REGION_FLAG: &str = "--default-region";

/// An ISO 3166 region with a numbering plan: how numbers written without a country code are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl FromStr for Region {
    type Err = String;

    fn from_str(text: &str) -> Result<Region, String> {
        let code = text.trim().to_ascii_uppercase();
        code.parse::<country::Id>()
            .ok()
            .filter(|id| DATABASE.by_id(id.as_ref()).is_some())
            .map(Region)
            .ok_or_else(|| {
                format!("{text:?} is not a region with a numbering plan: give an ISO 3166 code such as IN, US or GB")
            })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Region, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a written number was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// E.164 digits without the `+`: the country is known.
    Placed(CompactString),
    /// The digits as written: no default region, and not a valid number with its country code
    /// first, so which country it belongs to is unknown.
    Unplaced(CompactString),
}

impl Reading {
    pub fn digits(&self) -> &str {
        match self {
            Reading::Placed(digits) | Reading::Unplaced(digits) => digits,
        }
    }

    /// The digits to send.
    pub fn into_digits(self) -> CompactString {
        match self {
            Reading::Placed(digits) | Reading::Unplaced(digits) => digits,
        }
    }
}

/// The rule, set by the default region; the same value must read both sides of a comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhoneRule {
    region: Option<Region>,
}

impl PhoneRule {
    pub fn new(region: Option<Region>) -> PhoneRule {
        PhoneRule { region }
    }

    /// Read a number as a sheet (or a source account) writes it; the error is the rule it breaks.
    pub fn read(&self, text: &str) -> Result<Reading, String> {
        let mut gathered = CompactString::const_new("");
        let written = Written::scan(text, &mut gathered)?;
        self.read_written(&written)
    }

    /// [`PhoneRule::read`] of text that is ASCII digits alone, one or more, as most numbers are
    /// written: the text needs no scanning.
    pub fn read_digits(&self, digits: &str) -> Result<Reading, String> {
        debug_assert!(is_digits(digits), "{digits:?}");
        self.read_written(&Written::of(false, digits))
    }

    fn read_written(&self, written: &Written<'_>) -> Result<Reading, String> {
        let with_country_code = || valid_e164(None, true, written.digits);
        if written.international {
            return with_country_code().map(Reading::Placed);
        }
        match self.region {
            Some(Region(region)) => match valid_e164(Some(region), false, written.digits) {
                Ok(digits) => Ok(Reading::Placed(digits)),
                Err(why) => with_country_code().map(Reading::Placed).map_err(|_| why),
            },
            None => match with_country_code() {
                Ok(digits) => Ok(Reading::Placed(digits)),
                Err(_) if (8..=15).contains(&written.digits.len()) => {
                    Ok(Reading::Unplaced(written.digits.into()))
                }
                Err(_) => Err(format!(
                    "a phone number without a country code has 8 to 15 digits (this has {}); \
                     {REGION_FLAG} says which country's national numbers the sheet holds",
                    written.digits.len()
                )),
            },
        }
    }

    /// True when `a` and `b` are one number under this rule (`+91 98123 00001` and `919812300001`).
    pub fn same(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        if let (Some(a_tail), Some(b_tail)) = (kept_tail(a), kept_tail(b)) {
            if a_tail != b_tail {
                return false;
            }
        }
        self.key(a) == self.key(b)
    }

    /// What a number compares by: its reading, else (an account may hold anything) its digits.
    /// Two numbers are [`PhoneRule::same`] exactly when their keys are equal, so a key can index
    /// numbers in a map.
    pub fn key(&self, text: &str) -> String {
        self.read(text)
            .map(|reading| reading.into_digits().into())
            .unwrap_or_else(|_| text.chars().filter(char::is_ascii_digit).collect())
    }
}

/// Digits at the end of a number that every key keeps: libphonenumber strips or rewrites only
/// what comes first (`+`, `00`, a country code, a trunk or carrier prefix), and text it cannot
/// read compares by all its digits. Two numbers that end differently are therefore never the
/// same, and telling so needs no reading: a sync of a million changed numbers reads none twice.
const KEPT_TAIL: usize = 4;

/// The last [`KEPT_TAIL`] ASCII digits of `text`, when it has that many.
pub(crate) fn kept_tail(text: &str) -> Option<[u8; KEPT_TAIL]> {
    let mut tail = [0; KEPT_TAIL];
    let mut digits = text.bytes().rev().filter(u8::is_ascii_digit);
    for slot in tail.iter_mut().rev() {
        *slot = digits.next()?;
    }
    Some(tail)
}

/// The warning for numbers sent without a known country, once per run; `None` when there were none.
pub fn unplaced_warning(count: u64) -> Option<String> {
    (count > 0).then(|| {
        let (numbers, have, go) = if count == 1 {
            ("phone number", "has", "goes")
        } else {
            ("phone numbers", "have", "go")
        };
        format!(
            "{count} {numbers} {have} no country code and {go} out as the digits written; \
             pass {REGION_FLAG} (e.g. {REGION_FLAG} IN) to read them as national numbers"
        )
    })
}

/// A number's digits, and whether it was written international (`+` or `00` first).
struct Written<'a> {
    international: bool,
    /// The written text itself when it is digits alone, as most numbers are; else gathered from
    /// between its separators.
    digits: &'a str,
}

impl<'a> Written<'a> {
    /// Only digits, one leading `+` and separators (spaces, dashes, dots, brackets): libphonenumber
    /// would also take letters (`1-800-FLOWERS`) and extensions, which an account cannot dial.
    /// Digits between separators are gathered in `gathered` (inline up to 24 digits, past the
    /// longest number).
    fn scan(text: &'a str, gathered: &'a mut CompactString) -> Result<Written<'a>, String> {
        let rule = || {
            "a phone number is digits with an optional leading + or 00 (spaces, dashes, dots and brackets are ignored)".to_string()
        };
        let (plus, digits) = match text.strip_prefix('+') {
            Some(rest) if is_digits(rest) => (true, rest),
            None if is_digits(text) => (false, text),
            _ => {
                let mut plus = false;
                let mut run: Option<usize> = None;
                for (at, c) in text.char_indices() {
                    if c.is_ascii_digit() {
                        run.get_or_insert(at);
                        continue;
                    }
                    if let Some(start) = run.take() {
                        gathered.push_str(&text[start..at]);
                    }
                    match c {
                        '+' if !plus && gathered.is_empty() => plus = true,
                        ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                        _ => return Err(rule()),
                    }
                }
                if let Some(start) = run {
                    gathered.push_str(&text[start..]);
                }
                if gathered.is_empty() {
                    return Err(rule());
                }
                (plus, gathered.as_str())
            }
        };
        Ok(Written::of(plus, digits))
    }

    /// `digits` as written, after a `+` when `plus`: `00` first is international too.
    fn of(plus: bool, digits: &'a str) -> Written<'a> {
        match digits.strip_prefix("00") {
            Some(rest) if !plus => Written {
                international: true,
                digits: rest,
            },
            _ => Written {
                international: plus,
                digits,
            },
        }
    }
}

/// The E.164 digits of ASCII `digits` (written after a `+` when `plus`) read in `region`, when
/// libphonenumber finds them a valid number.
fn valid_e164(
    region: Option<country::Id>,
    plus: bool,
    digits: &str,
) -> Result<CompactString, String> {
    let number = parse::parse(region, plus, digits).map_err(|e| parse_failure(&e))?;
    if !metadata::is_valid(number.code, &number.national) {
        return Err(invalid(&number));
    }
    Ok(e164_digits(&number, digits))
}

/// The E.164 form without the `+`, as the crate's E.164 formatter writes it (country code, then
/// the national number with its leading zeros), without the formatter's look-up of the
/// country's format patterns, which E.164 never uses.
fn e164_digits(number: &parse::Parsed, written: &str) -> CompactString {
    debug_assert!(is_digits(written), "{written:?}");
    let national = number.national.as_bytes();
    // Most numbers are written as they are sent: the calling code's one to three digits, then
    // the national number, which the parse then borrowed from them (its bytes then need no
    // comparing).
    if let Some((code, tail)) = written
        .len()
        .checked_sub(national.len())
        .map(|at| written.as_bytes().split_at(at))
    {
        if (1..=3).contains(&code.len())
            && code[0] != b'0'
            && parse::leading_number(code) == number.code
            && (std::ptr::eq(tail, national) || tail == national)
        {
            return written.into();
        }
    }
    // Calling codes have one to three digits.
    let code = [100, 10, 1].map(|place| b'0' + (number.code / place % 10) as u8);
    let code = &code[code.iter().position(|&digit| digit != b'0').unwrap_or(2)..];
    let mut digits = [0; 3 + metadata::LONGEST_NATIONAL];
    let length = code.len() + national.len();
    digits[..code.len()].copy_from_slice(code);
    digits[code.len()..length].copy_from_slice(national);
    CompactString::from_utf8(&digits[..length]).expect("ASCII digits")
}

fn parse_failure(error: &ParseError) -> String {
    match error {
        ParseError::InvalidCountryCode => {
            "it does not start with a country calling code in use".to_string()
        }
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => {
            "too short for a phone number".to_string()
        }
        ParseError::TooLong => "too long for a phone number".to_string(),
        ParseError::NoNumber | ParseError::MalformedInteger(_) => "not a phone number".to_string(),
    }
}

/// Why a number that parsed is not valid: its length, or digits its country does not use. Lengths
/// are those of the country's mobile and fixed-line numbers, the phones people answer.
fn invalid(number: &parse::Parsed) -> String {
    let (code, national) = (number.code, &number.national);
    let Some(meta) = DATABASE.by_code(&code).and_then(|m| m.into_iter().next()) else {
        return format!("+{code} is not a country calling code in use");
    };
    let country = format!("{} (+{code})", meta.id());
    let descriptors = meta.descriptors();
    let mut lengths: Vec<u16> = [descriptors.mobile(), descriptors.fixed_line()]
        .into_iter()
        .flatten()
        .flat_map(|d| d.possible_length().iter().copied())
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    let length = national.len();
    if !lengths.is_empty() && !lengths.contains(&(length as u16)) {
        let allowed: Vec<String> = lengths.iter().map(u16::to_string).collect();
        return format!(
            "not a valid number for {country}: its phone numbers have {} digits after the country code, this has {length}",
            allowed.join(" or ")
        );
    }
    format!("not a valid number for {country}: no number there begins {national}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::Mode;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn e164_digits_are_what_the_formatter_writes(text in "[+]?[0-9]{6,15}", region in prop::sample::select(vec!["IN", "US", "GB", "IT", "DE"])) {
            let region: Region = region.parse().unwrap();
            if let Ok(number) = phonenumber::parse(Some(region.0), &text) {
                if phonenumber::is_valid(&number) {
                    let formatted = number.format().mode(Mode::E164).to_string();
                    let parsed = parse::Parsed { code: number.code().value(), national: number.national().to_string().into() };
                    // As `valid_e164` hands it the digits: without the `+`.
                    let written = text.trim_start_matches('+');
                    prop_assert_eq!(format!("+{}", e164_digits(&parsed, written)), formatted);
                }
            }
        }
    }

    /// Holds [`KEPT_TAIL`] to what it claims: a key ends with the digits its text ends with.
    fn assert_key_keeps_the_tail(rule: PhoneRule, text: &str) {
        if let Some(tail) = kept_tail(text) {
            let key = rule.key(text);
            assert!(
                key.as_bytes().ends_with(&tail),
                "{text:?} under {:?} has the key {key}",
                rule.region
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn a_key_ends_as_its_number_ends(
            text in "(\\+|00)?[0-9 ().-]{1,20}",
            region in prop::sample::select(vec![None, Some("IN"), Some("US"), Some("GB"), Some("IT"), Some("DE"), Some("AR"), Some("MX"), Some("BR"), Some("RU"), Some("FR"), Some("CN")]),
        ) {
            let rule = PhoneRule::new(region.map(|r| r.parse().unwrap()));
            assert_key_keeps_the_tail(rule, &text);
        }
    }

    /// Every example number of the metadata, in every way a sheet writes one, read with and
    /// without its region: trunk prefixes, transform rules (AR's `15`, MX's `1`) and carrier
    /// codes all come first.
    #[test]
    fn every_example_number_keeps_its_tail_in_every_written_form() {
        let mut read = 0;
        for (meta, national) in metadata::tests::example_numbers() {
            let region = meta.id().parse::<Region>().ok();
            let code = meta.country_code();
            let prefix = meta.national_prefix().unwrap_or("");
            for text in [
                format!("+{code} {national}"),
                format!("00{code}{national}"),
                format!("{code}{national}"),
                format!("{prefix}{national}"),
                national.to_string(),
            ] {
                for rule in [PhoneRule::default(), PhoneRule::new(region)] {
                    assert_key_keeps_the_tail(rule, &text);
                    read += usize::from(rule.read(&text).is_ok());
                }
            }
        }
        assert!(read > 5000, "most example numbers read: {read}");
    }

    #[test]
    fn numbers_that_end_differently_are_not_the_same_and_the_rest_are_read() {
        let rule = india();
        assert!(!rule.same("919812300001", "+91 98123 00002"));
        assert!(rule.same("919812300001", "+91 98123 00001"));
        assert!(rule.same("919812300001", "098123 00001"));
        // Too few digits to tell by the end: both are read.
        assert!(!rule.same("001", "+91 98123 00001"));
    }

    fn india() -> PhoneRule {
        PhoneRule::new(Some("IN".parse().unwrap()))
    }

    fn sent(rule: PhoneRule, text: &str) -> Result<CompactString, String> {
        rule.read(text).map(Reading::into_digits)
    }

    /// Every example number written as a sheet of its country writes it, with its trunk prefix
    /// (RU's `8`, GB's `0`) or as it stands, goes out as the crate's E.164 form wherever the crate
    /// reads it a valid number.
    #[test]
    fn example_numbers_written_nationally_are_sent_as_the_crate_formats_them() {
        let mut compared = 0;
        for (meta, national) in metadata::tests::example_numbers() {
            let Ok(region) = meta.id().parse::<Region>() else {
                continue;
            };
            let prefix = meta.national_prefix().unwrap_or("");
            for text in [format!("{prefix}{national}"), national.to_string()] {
                let Some(number) = phonenumber::parse(Some(region.0), &text)
                    .ok()
                    .filter(phonenumber::is_valid)
                else {
                    continue;
                };
                let formatted = number.format().mode(Mode::E164).to_string();
                let read = PhoneRule::new(Some(region)).read(&text);
                assert_eq!(
                    read.map(|reading| format!("+{}", reading.digits())),
                    Ok(formatted),
                    "{text} in {region}"
                );
                compared += 1;
            }
        }
        assert!(compared > 1500, "example numbers compared: {compared}");
    }

    #[test]
    fn every_written_form_of_one_number_is_sent_as_e164_digits() {
        for rule in [PhoneRule::default(), india()] {
            for text in [
                "+91 98123 00001",
                "919812300001",
                "(+91) 98123-00001",
                "0091 98123 00001",
                "+91.98123.00001",
                "+91\u{a0}98123\u{a0}00001",
            ] {
                assert_eq!(
                    rule.read(text),
                    Ok(Reading::Placed("919812300001".into())),
                    "{text} with {rule:?}"
                );
            }
        }
        for national in ["098123 00001", "98123 00001", "98123-00001"] {
            assert_eq!(
                sent(india(), national).unwrap(),
                "919812300001",
                "{national}"
            );
        }
    }

    #[test]
    fn without_a_region_a_national_number_goes_out_as_its_digits() {
        assert_eq!(
            PhoneRule::default().read("098123 00001"),
            Ok(Reading::Unplaced("09812300001".into()))
        );
        assert_eq!(
            PhoneRule::default().read("98123 00001"),
            Ok(Reading::Unplaced("9812300001".into()))
        );
        let short = PhoneRule::default().read("12345").unwrap_err();
        assert!(
            short.contains("8 to 15 digits") && short.contains(REGION_FLAG),
            "{short}"
        );
    }

    #[test]
    fn plus_and_00_are_international_whatever_the_region() {
        let us = PhoneRule::new(Some("us".parse().unwrap()));
        assert_eq!(sent(us, "+44 20 7946 0958").unwrap(), "442079460958");
        assert_eq!(sent(us, "0044 20 7946 0958").unwrap(), "442079460958");
        assert_eq!(sent(us, "(202) 555-0147").unwrap(), "12025550147");
    }

    #[test]
    fn a_region_still_reads_the_country_code_first_form_telecmi_stores() {
        // A UK number exported from the account, re-imported under an Indian default region.
        assert_eq!(sent(india(), "447911123456").unwrap(), "447911123456");
    }

    #[test]
    fn invalid_numbers_say_why() {
        let short = sent(india(), "+91 98123 0000").unwrap_err();
        assert!(
            short.contains("IN (+91)") && short.contains("this has 9"),
            "{short}"
        );
        let unused = sent(india(), "50000 00000").unwrap_err();
        assert!(
            unused.contains("not a valid number for IN (+91)"),
            "{unused}"
        );
        let country = sent(PhoneRule::default(), "+999 1234 5678").unwrap_err();
        assert!(country.contains("country calling code"), "{country}");
        let letters = sent(india(), "1-800-FLOWERS").unwrap_err();
        assert!(
            letters.contains("digits with an optional leading +"),
            "{letters}"
        );
        assert!(sent(india(), "+91 +98123 00001").is_err(), "one + only");
    }

    #[test]
    fn comparison_reads_both_sides_by_the_same_rule() {
        let forms = ["+91 98123 00001", "919812300001", "(+91) 98123-00001"];
        for a in forms {
            for b in forms {
                assert!(PhoneRule::default().same(a, b), "{a} = {b}");
            }
        }
        assert!(india().same("9812300001", "+91 98123 00001"));
        assert!(india().same("098123 00001", "919812300001"));
        assert!(
            !PhoneRule::default().same("9812300001", "+91 98123 00001"),
            "without a region a national number is not known to be Indian"
        );
        assert!(!india().same("919812300001", "919812300002"));
        assert!(
            PhoneRule::default().same("n/a 123", "123"),
            "unreadable text compares by digits"
        );
    }

    #[test]
    fn regions_are_iso_codes_with_a_numbering_plan() {
        assert_eq!("in".parse::<Region>().unwrap().to_string(), "IN");
        let err = "India".parse::<Region>().unwrap_err();
        assert!(err.contains("ISO 3166"), "{err}");
    }

    #[test]
    fn the_warning_counts_and_names_the_flag() {
        assert_eq!(unplaced_warning(0), None);
        let warning = unplaced_warning(3).unwrap();
        assert!(warning.starts_with("3 phone numbers have"), "{warning}");
        assert!(warning.contains(REGION_FLAG), "{warning}");
        assert!(unplaced_warning(1)
            .unwrap()
            .starts_with("1 phone number has no country code and goes out"));
    }
}
