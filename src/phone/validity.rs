//! libphonenumber's validity test (`phonenumber::is_valid`) on the crate's own patterns, each
//! compiled once, anchored at the first digit and for ASCII digits. The crate asks each pattern
//! for its leftmost match anywhere in the national number and keeps it only when it starts at
//! the first digit: an anchored match answers the same question without the unanchored search,
//! whose lazy DFA was rebuilt on nearly every number and cost most of a reading. National
//! numbers are written in ASCII digits, so Unicode classes add nothing but size. A country
//! whose patterns do not compile so is left to the crate. Held to the crate by a property test.

use std::sync::OnceLock;

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use phonenumber::PhoneNumber;
use regex::{Regex, RegexBuilder};

/// True when libphonenumber finds `number` a valid number (of a known type) of its country.
pub fn is_valid(number: &PhoneNumber) -> bool {
    let code = number.code().value();
    match CODES
        .get(usize::from(code))
        .and_then(|plan| plan.get_or_init(|| Code::compile(code)).as_ref())
    {
        Some(plan) => {
            let national = number.national().to_string();
            plan.region_for(&national)
                .is_some_and(|region| region.is_valid(&national))
        }
        None => phonenumber::is_valid(number),
    }
}

/// Compiled patterns by country calling code (all below 1000), each made on first use; `None`
/// for a code left to the crate.
static CODES: [OnceLock<Option<Code>>; 1000] = [const { OnceLock::new() }; 1000];

/// The regions sharing one calling code, in the crate's order.
struct Code {
    regions: Vec<Region>,
}

struct Region {
    /// Which numbers of a shared code are this region's, when the metadata says so by prefix.
    leading_digits: Option<Regex>,
    general: Pattern,
    /// Every type of number the crate knows: premium rate, toll free, shared cost, VoIP,
    /// personal, pager, UAN, voicemail, fixed line and mobile.
    kinds: Vec<Pattern>,
}

struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Code {
    /// The crate's `validator::source_for`, as data.
    fn compile(code: u16) -> Option<Code> {
        let names = DATABASE.region(&code)?;
        let metas: Vec<&Metadata> = match names.as_slice() {
            ["001"] => vec![*DATABASE.by_code(&code)?.first()?],
            [one] => vec![DATABASE.by_id(one.parse::<phonenumber::country::Id>().ok()?.as_ref())?],
            many => many
                .iter()
                .map(|name| DATABASE.by_id(*name))
                .collect::<Option<_>>()?,
        };
        let regions = metas
            .into_iter()
            .map(Region::compile)
            .collect::<Option<_>>()?;
        Some(Code { regions })
    }

    fn region_for(&self, national: &str) -> Option<&Region> {
        match self.regions.as_slice() {
            [only] => Some(only),
            regions => regions.iter().find(|region| match &region.leading_digits {
                Some(prefix) => prefix.is_match(national),
                None => region.is_valid(national),
            }),
        }
    }
}

impl Region {
    fn compile(meta: &Metadata) -> Option<Region> {
        let d = meta.descriptors();
        let kinds = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Some(Region {
            leading_digits: match meta.leading_digits() {
                Some(prefix) => Some(anchored(prefix.as_str())?),
                None => None,
            },
            general: Pattern::compile(d.general())?,
            kinds: kinds
                .into_iter()
                .flatten()
                .map(Pattern::compile)
                .collect::<Option<_>>()?,
        })
    }

    /// The crate's `number_type(..) != Type::Unknown`.
    fn is_valid(&self, national: &str) -> bool {
        self.general.is_match(national) && self.kinds.iter().any(|kind| kind.is_match(national))
    }
}

impl Pattern {
    fn compile(descriptor: &Descriptor) -> Option<Pattern> {
        Some(Pattern {
            lengths: descriptor.possible_length().to_vec(),
            regex: anchored(descriptor.national_number().as_str())?,
        })
    }

    /// The crate's `Descriptor::is_match`.
    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.regex.is_match(national)
    }
}

/// `source` (written in the metadata's whitespace-insensitive syntax) matched from the start.
fn anchored(source: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{source}\n)"))
        .ignore_whitespace(true)
        .unicode(false)
        .build()
        .ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every example number the metadata gives (national digits), beside its country.
    pub(crate) fn example_numbers() -> impl Iterator<Item = (&'static Metadata, &'static str)> {
        DATABASE.iter().flat_map(|meta| {
            let d = meta.descriptors();
            [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.voip(),
                d.uan(),
                d.pager(),
            ]
            .into_iter()
            .flatten()
            .filter_map(Descriptor::example)
            .map(move |example| (meta, example))
        })
    }

    /// Calling codes of every shape: one region, shared by many (+1, +7, +44), non-geographic
    /// (+800, +882), leading zeros kept (+39), none in use (+999).
    const CODES_TRIED: [u16; 14] = [91, 1, 7, 44, 39, 49, 33, 61, 55, 86, 800, 882, 971, 999];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn validity_is_the_crates(
            code in prop::sample::select(CODES_TRIED.to_vec()),
            national in "0{0,2}[0-9]{2,13}",
        ) {
            if let Ok(number) = phonenumber::parse(None, format!("+{code}{national}")) {
                prop_assert_eq!(is_valid(&number), phonenumber::is_valid(&number), "+{} {}", code, national);
            }
        }
    }

    #[test]
    fn every_example_number_is_judged_as_the_crate_judges_it() {
        let mut valid = 0;
        for (meta, example) in example_numbers() {
            let text = format!("+{}{example}", meta.country_code());
            let Ok(number) = phonenumber::parse(None, &text) else {
                continue;
            };
            assert_eq!(
                is_valid(&number),
                phonenumber::is_valid(&number),
                "{text} ({})",
                meta.id()
            );
            valid += usize::from(is_valid(&number));
        }
        assert!(
            valid > 900,
            "the metadata examples are mostly valid: {valid}"
        );
    }
}
