//! libphonenumber's parse (the `phonenumber` crate's `parse`), step by step as the crate takes
//! it, for the only text roster hands it: ASCII digits, with one `+` first for a number read
//! with its country code. The crate's general parse first runs a character-by-character grammar
//! over the whole text (most of a reading's time) and takes its shared pattern cache's lock for
//! every pattern; on digits the grammar's answers are plain, and the patterns are compiled once
//! (`metadata.rs`). Held to the crate by property tests over every region and calling code.

use std::borrow::Cow;

use phonenumber::{country, NationalNumber, ParseError};

use super::metadata::{self, Region};

/// The crate's `MIN_LENGTH_FOR_NSN` and `MAX_LENGTH_FOR_NSN`.
const NATIONAL_LENGTHS: std::ops::RangeInclusive<usize> = 2..=metadata::LONGEST_NATIONAL;
/// The crate's `MAX_LENGTH_FOR_COUNTRY_CODE`.
const LONGEST_CALLING_CODE: usize = 3;

/// A number as the crate parses it: its country calling code and national (significant) number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub code: u16,
    /// The national number's digits, leading zeros kept (the crate's `NationalNumber` written out).
    pub national: Cow<'a, str>,
}

/// `phonenumber::parse(home, text)` for `text` of ASCII `digits`, after a `+` when `plus`.
pub fn parse(
    home: Option<country::Id>,
    plus: bool,
    digits: &str,
) -> Result<Parsed<'_>, ParseError> {
    debug_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{digits:?}");
    // The crate's viability grammar: two digits make a number, or three after a `+`.
    if digits.len() < if plus { 3 } else { 2 } {
        return Err(ParseError::NoNumber);
    }
    let home = match home {
        Some(id) => Some(metadata::region(id).ok_or(ParseError::InvalidCountryCode)?),
        None => None,
    };

    let mut national = digits;
    let mut international = plus;
    if let Some(end) = home
        .and_then(|region| region.international_prefix.as_ref())
        .and_then(|prefix| prefix.match_end(national))
    {
        // No country code starts with 0: what follows such a match is not dialled abroad.
        if !national[end..].starts_with('0') {
            national = &national[end..];
            international = true;
        }
    }

    let code = if international {
        if national.len() <= *NATIONAL_LENGTHS.start() {
            return Err(ParseError::TooShortNsn);
        }
        if national.starts_with('0') {
            return Err(ParseError::InvalidCountryCode);
        }
        // Calling codes are prefix-free: the first in use is the one.
        let length = (1..=LONGEST_CALLING_CODE)
            .find(|&length| {
                metadata::calling_code_in_use(leading_number(&national.as_bytes()[..length]))
            })
            .ok_or(ParseError::InvalidCountryCode)?;
        let code = leading_number(&national.as_bytes()[..length]);
        national = &national[length..];
        code
    } else {
        let home = home.ok_or(ParseError::InvalidCountryCode)?;
        // The home country code written first, unless the digits are a national number as they
        // stand.
        if let Some(rest) = national.strip_prefix(home.country_code_digits.as_str()) {
            if !home.general.is_match(national) || !home.possible_length(national.len()) {
                national = rest;
            }
        }
        home.country_code
    };

    // The crate strips trunk prefixes by the home region's rules when it has one, else by those
    // of the region the number belongs to.
    let rules = match home {
        Some(home) => Some(home),
        None => metadata::calling_code(code)
            .and_then(|regions| regions.region_for(national.trim_start_matches('0'))),
    };
    let national: Cow<str> = match rules {
        Some(rules) => {
            let stripped = without_national_prefix(rules, national);
            if rules.too_short(stripped.len()) {
                Cow::Borrowed(national)
            } else {
                stripped
            }
        }
        None => Cow::Borrowed(national),
    };

    if national.len() < *NATIONAL_LENGTHS.start() {
        return Err(ParseError::TooShortNsn);
    }
    if national.len() > *NATIONAL_LENGTHS.end() {
        return Err(ParseError::TooLong);
    }
    // The crate keeps the number as a `NationalNumber`, which fails on all zeros and on values
    // past 56 bits (17 digits), and writes out as the digits it was parsed from.
    if national.starts_with('0') || national.len() == *NATIONAL_LENGTHS.end() {
        national.parse::<NationalNumber>()?;
    }
    Ok(Parsed { code, national })
}

/// A calling code's digits (one to three) as a number.
pub(super) fn leading_number(digits: &[u8]) -> u16 {
    digits
        .iter()
        .fold(0, |value, &digit| value * 10 + u16::from(digit - b'0'))
}

/// The crate's `helper::national_number` and the trunk prefix strip that follows it in `parse`.
fn without_national_prefix<'a>(rules: &Region, national: &'a str) -> Cow<'a, str> {
    let trunk = |national| without_trunk_prefix(rules, national);
    let Some(parsing) = &rules.national_prefix_for_parsing else {
        // Without a parsing rule the crate strips the trunk prefix twice, once here and once
        // after.
        return Cow::Borrowed(trunk(trunk(national)));
    };
    let Some(captures) = parsing.captures(national) else {
        return Cow::Borrowed(trunk(national));
    };
    let last_group_matched = captures.get(captures.len() - 1).is_some();
    let stripped = match rules.national_prefix_transform_rule {
        Some(transform) if last_group_matched => {
            let transformed = parsing.replace(national, transform);
            // A number the general pattern took as it stood must still be one after the rule.
            if rules.general.is_match(national) && !rules.general.is_match(&transformed) {
                Cow::Borrowed(national)
            } else {
                Cow::Owned(transformed.into_owned())
            }
        }
        _ => Cow::Borrowed(&national[captures.get(0).map_or(0, |all| all.end())..]),
    };
    match stripped {
        Cow::Borrowed(stripped) => Cow::Borrowed(trunk(stripped)),
        Cow::Owned(stripped) => Cow::Owned(without_trunk_prefix(rules, &stripped).to_string()),
    }
}

/// `national` without the region's trunk prefix, when it starts with it.
fn without_trunk_prefix<'s>(rules: &Region, national: &'s str) -> &'s str {
    rules
        .national_prefix
        .and_then(|prefix| national.strip_prefix(prefix))
        .unwrap_or(national)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::metadata::DATABASE;
    use proptest::prelude::*;

    /// The crate's answer in the same shape, errors compared by what they say.
    fn crates(home: Option<country::Id>, text: &str) -> Result<Parsed<'static>, String> {
        phonenumber::parse(home, text)
            .map(|number| Parsed {
                code: number.code().value(),
                national: number.national().to_string().into(),
            })
            .map_err(|error| format!("{error:?}"))
    }

    fn ours(home: Option<country::Id>, text: &str) -> Result<Parsed<'_>, String> {
        let (plus, digits) = match text.strip_prefix('+') {
            Some(digits) => (true, digits),
            None => (false, text),
        };
        parse(home, plus, digits).map_err(|error| format!("{error:?}"))
    }

    fn every_region() -> Vec<country::Id> {
        DATABASE
            .iter()
            .filter_map(|meta| meta.id().parse().ok())
            .collect()
    }

    /// What a number may start with that the parse treats specially: trunk prefixes, carrier
    /// codes, international prefixes and calling codes, each of some region.
    fn special_starts() -> Vec<String> {
        let mut starts: Vec<String> = DATABASE
            .iter()
            .flat_map(|meta| {
                [
                    meta.national_prefix().map(str::to_string),
                    meta.preferred_international_prefix()
                        .filter(|idd| idd.bytes().all(|b| b.is_ascii_digit()))
                        .map(str::to_string),
                    Some(meta.country_code().to_string()),
                ]
            })
            .flatten()
            .chain(["", "0", "00", "011", "15", "810", "0011", "1"].map(String::from))
            .collect();
        starts.sort();
        starts.dedup();
        starts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn a_parse_is_the_crates(
            home in prop::option::of(prop::sample::select(every_region())),
            start in prop::sample::select(special_starts()),
            rest in "[0-9]{0,16}",
            plus in any::<bool>(),
        ) {
            let text = format!("{}{start}{rest}", if plus { "+" } else { "" });
            prop_assert_eq!(ours(home, &text), crates(home, &text), "{:?} {}", home, text);
        }
    }

    /// Regions whose trunk prefixes are rewritten rather than stripped (AR's `15`, MX's `1`).
    fn regions_with_a_transform_rule() -> Vec<country::Id> {
        DATABASE
            .iter()
            .filter(|meta| meta.national_prefix_transform_rule().is_some())
            .filter_map(|meta| meta.id().parse().ok())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn a_rewritten_trunk_prefix_is_the_crates(
            home in prop::sample::select(regions_with_a_transform_rule()),
            trunk in "0?(1|15|9)?",
            rest in "[0-9]{4,12}",
        ) {
            let text = format!("{trunk}{rest}");
            prop_assert_eq!(ours(Some(home), &text), crates(Some(home), &text), "{:?} {}", home, text);
        }
    }

    /// Every example number of the metadata, in every digits-only form a sheet writes it, read
    /// in its own region, in none, and in two others.
    #[test]
    fn every_example_number_parses_as_the_crate_parses_it() {
        let others: [country::Id; 2] = ["US".parse().unwrap(), "AR".parse().unwrap()];
        let mut parsed = 0;
        for (meta, national) in super::super::metadata::tests::example_numbers() {
            let code = meta.country_code();
            let trunk = meta.national_prefix().unwrap_or("");
            let own: Option<country::Id> = meta.id().parse().ok();
            for text in [
                format!("+{code}{national}"),
                format!("+{code}{trunk}{national}"),
                format!("{code}{national}"),
                format!("00{code}{national}"),
                format!("011{code}{national}"),
                format!("{trunk}{national}"),
                national.to_string(),
            ] {
                for home in [own, None, Some(others[0]), Some(others[1])] {
                    let expected = crates(home, &text);
                    assert_eq!(ours(home, &text), expected, "{home:?} {text}");
                    parsed += usize::from(expected.is_ok());
                }
            }
        }
        assert!(parsed > 20_000, "most forms parse: {parsed}");
    }
}
