//! libphonenumber's metadata (the `phonenumber` crate's), each pattern compiled once, anchored at
//! the first digit and for ASCII digits: what [`super::parse`] and [`is_valid`] read. The crate
//! asks each pattern for its leftmost match anywhere in the number and keeps it only when it
//! starts at the first digit: an anchored match answers the same question without the
//! unanchored search, whose lazy DFA was rebuilt on nearly every number, and without the crate's
//! shared cache, whose one lock every reading took for every pattern. Numbers reach these
//! patterns as ASCII digits, so Unicode classes add nothing but size.
//!
//! Every pattern but the trunk-prefix rule (whose groups a rewrite reads) is made a whole DFA
//! once, kept only as its transitions on the ten digits ([`Anchored`]): a search is then one
//! table look-up a digit, shared by every thread. Through `regex`, each search took a lazy DFA
//! cache from a shared pool and gave it back, which on any thread but the pool's first went
//! through a lock, and cost more than the search of a dozen digits itself. Held to the crate by
//! property tests here and in `parse.rs`.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::country;
use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex::{Regex, RegexBuilder};
use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::syntax;
use regex_automata::{Anchored as AnchoredAt, Input};

/// True when libphonenumber finds the number a valid number (of a known type) of its country:
/// the crate's `is_valid`, for a country calling code and national number as parsed.
pub fn is_valid(code: u16, national: &str) -> bool {
    calling_code(code)
        .and_then(|plan| plan.region_for(national))
        .is_some_and(|region| region.is_valid(national))
}

/// The regions of a country calling code, compiled on first use; `None` for a code no country uses.
pub fn calling_code(code: u16) -> Option<&'static Code> {
    CODES
        .get(usize::from(code))?
        .get_or_init(|| Code::compile(code))
        .as_ref()
}

/// True when some country uses `code` (the crate's `by_code(..).is_some()`), without compiling it.
pub fn calling_code_in_use(code: u16) -> bool {
    static IN_USE: OnceLock<Vec<bool>> = OnceLock::new();
    IN_USE
        .get_or_init(|| {
            (0..1000)
                .map(|code| DATABASE.by_code(&code).is_some())
                .collect()
        })
        .get(usize::from(code))
        .copied()
        .unwrap_or(false)
}

/// The compiled metadata of a region with a numbering plan.
pub fn region(id: country::Id) -> Option<&'static Region> {
    let meta = DATABASE.by_id(id.as_ref())?;
    calling_code(meta.country_code())?
        .regions
        .iter()
        .find(|region| region.id == meta.id())
}

/// The most digits a national number has (the crate's `MAX_LENGTH_FOR_NSN`).
pub const LONGEST_NATIONAL: usize = 17;

/// Compiled metadata by country calling code (all below 1000), each made on first use.
static CODES: [OnceLock<Option<Code>>; 1000] = [const { OnceLock::new() }; 1000];

/// The regions sharing one calling code, in the crate's order.
pub struct Code {
    regions: Vec<Region>,
}

pub struct Region {
    id: &'static str,
    pub country_code: u16,
    /// The same, written out.
    pub country_code_digits: String,
    /// Which numbers of a shared code are this region's, when the metadata says so by prefix.
    leading_digits: Option<Anchored>,
    pub general: Pattern,
    /// Lengths of numbers dialled only within an area (the general descriptor's).
    local_lengths: &'static [u16],
    /// Every type of number the crate knows: premium rate, toll free, shared cost, VoIP,
    /// personal, pager, UAN, voicemail, fixed line and mobile.
    kinds: Vec<&'static Descriptor>,
    /// By national number length, what a valid number of that length matches: the general
    /// pattern and one of the kinds of that length, as one table made on first use (one walk
    /// of the digits where the crate makes up to eleven searches); `None` when no valid number
    /// is so long.
    valid_by_length: [OnceLock<Option<Anchored>>; LONGEST_NATIONAL + 1],
    /// What is dialled before a country code from this region (`00`, `011`).
    pub international_prefix: Option<Anchored>,
    /// The trunk prefix (`0`).
    pub national_prefix: Option<&'static str>,
    /// The trunk and carrier prefixes a national number may start with, when not just the above.
    pub national_prefix_for_parsing: Option<Regex>,
    /// What replaces a match of the above (`9$1` for AR's mobile `15`), when not nothing.
    pub national_prefix_transform_rule: Option<&'static str>,
}

pub struct Pattern {
    lengths: &'static [u16],
    digits: Anchored,
}

impl Code {
    /// The crate's `validator::source_for`, as data.
    fn compile(code: u16) -> Option<Code> {
        let names = DATABASE.region(&code)?;
        let metas: Vec<&'static Metadata> = match names.as_slice() {
            ["001"] => vec![*DATABASE.by_code(&code)?.first()?],
            [one] => vec![DATABASE.by_id(one.parse::<country::Id>().ok()?.as_ref())?],
            many => many
                .iter()
                .map(|name| DATABASE.by_id(*name))
                .collect::<Option<_>>()?,
        };
        Some(Code {
            regions: metas.into_iter().map(Region::compile).collect(),
        })
    }

    /// The region a national number of this code belongs to (the crate's `source_for`).
    pub fn region_for(&self, national: &str) -> Option<&Region> {
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
    fn compile(meta: &'static Metadata) -> Region {
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
        Region {
            id: meta.id(),
            country_code: meta.country_code(),
            country_code_digits: meta.country_code().to_string(),
            leading_digits: meta.leading_digits().map(|p| Anchored::new(p.as_str())),
            general: Pattern::compile(d.general()),
            local_lengths: d.general().possible_local_length(),
            kinds: kinds.into_iter().flatten().collect(),
            valid_by_length: [const { OnceLock::new() }; LONGEST_NATIONAL + 1],
            international_prefix: meta
                .international_prefix()
                .map(|p| Anchored::new(p.as_str())),
            national_prefix: meta.national_prefix(),
            national_prefix_for_parsing: meta
                .national_prefix_for_parsing()
                .map(|p| anchored_regex(p.as_str())),
            national_prefix_transform_rule: meta.national_prefix_transform_rule(),
        }
    }

    /// The crate's `number_type(..) != Type::Unknown`.
    fn is_valid(&self, national: &str) -> bool {
        self.valid_of_length(national.len())
            .is_some_and(|valid| valid.is_match(national))
    }

    /// Matches what the general pattern matches and some kind whose lengths allow `length`
    /// matches (the crate's `Descriptor::is_match` of each), when the general lengths allow it.
    fn valid_of_length(&self, length: usize) -> Option<&Anchored> {
        self.valid_by_length
            .get(length)?
            .get_or_init(|| {
                let general = &self.general;
                if !allows(general.lengths, length) {
                    return None;
                }
                let sources: Vec<String> = self
                    .kinds
                    .iter()
                    .filter(|kind| allows(kind.possible_length(), length))
                    .map(|kind| format!("(?:{}\n)", kind.national_number().as_str()))
                    .collect();
                (!sources.is_empty())
                    .then(|| Anchored::both(&general.digits, &Anchored::new(&sources.join("|"))))
            })
            .as_ref()
    }

    /// The crate's `validator::length(.., Type::Unknown)`, whose possible lengths are always
    /// the general descriptor's: a national number of `length` digits is too short to be one.
    pub fn too_short(&self, length: usize) -> bool {
        match self.general.lengths.first() {
            Some(&minimum) => {
                !self.local_lengths.contains(&(length as u16)) && length < usize::from(minimum)
            }
            None => false,
        }
    }

    /// The same test's `is_possible()`.
    pub fn possible_length(&self, length: usize) -> bool {
        !self.general.lengths.is_empty()
            && (self.local_lengths.contains(&(length as u16))
                || self.general.lengths.contains(&(length as u16)))
    }
}

impl Pattern {
    fn compile(descriptor: &'static Descriptor) -> Pattern {
        Pattern {
            lengths: descriptor.possible_length(),
            digits: Anchored::new(descriptor.national_number().as_str()),
        }
    }

    /// The crate's `Descriptor::is_match`.
    pub fn is_match(&self, national: &str) -> bool {
        allows(self.lengths, national.len()) && self.digits.is_match(national)
    }
}

/// A descriptor's possible lengths allow `length` (none listed allows any).
fn allows(lengths: &[u16], length: usize) -> bool {
    lengths.is_empty() || lengths.contains(&(length as u16))
}

/// A metadata pattern matched from the first digit of ASCII digits: the pattern's DFA, made
/// whole once, kept as its transitions on the ten digits, so that a search is one table look-up
/// a digit and any thread may search at once.
pub struct Anchored {
    /// By state (0 is the start), the step each digit takes: [`DEAD`] when no match can follow,
    /// else the next state shifted left by one, its low bit set when a match ended just before
    /// the digit (a DFA tells a match one byte late). One test a digit tells both.
    next: Box<[[u32; 10]]>,
    /// By state: a match ends at the end of the digits, when they end in it.
    ends: Box<[bool]>,
}

/// No match can follow (its low bit is set, as a match's is).
const DEAD: u32 = u32::MAX;

/// Where a digit leads from a state of a table being built.
enum Step<S> {
    /// No match can follow.
    Dead,
    /// A match has ended and the walk stops: `is_match` needs nothing more.
    Matched,
    /// On to a state, the flag telling that a match ended just before the digit.
    To(S, bool),
}

impl Anchored {
    /// `source` (written in the metadata's whitespace-insensitive syntax): for ASCII only when
    /// it compiles so, else with Unicode classes, as the crate compiles it.
    fn new(source: &str) -> Anchored {
        let compile = |unicode| {
            dense::Builder::new()
                .configure(dense::Config::new().start_kind(StartKind::Anchored))
                .syntax(
                    syntax::Config::new()
                        .ignore_whitespace(true)
                        .unicode(unicode),
                )
                .build(&format!("(?:{source}\n)"))
                .map_err(|error| error.to_string())
        };
        let dfa = compile(false)
            .or_else(|_| compile(true))
            .unwrap_or_else(|error| not_compiled(source, &error));
        Anchored::on_digits(&dfa)
    }

    /// The states of `dfa` that digits reach from its anchored start.
    fn on_digits(dfa: &dense::DFA<Vec<u32>>) -> Anchored {
        let start = dfa
            .start_state_forward(&Input::new("").anchored(AnchoredAt::Yes))
            .expect("an anchored DFA has an anchored start");
        Anchored::explore(
            start,
            |state, digit| {
                let to = dfa.next_state(state, digit);
                if dfa.is_dead_state(to) {
                    Step::Dead
                } else {
                    Step::To(to, dfa.is_match_state(to))
                }
            },
            |state| dfa.is_match_state(dfa.next_eoi_state(state)),
        )
    }

    /// What both `a` and `b` match, as [`Anchored::is_match`] tells (not `match_end`): a pair of
    /// their states walked as one. A side whose match has ended is satisfied and reads no more
    /// digits; either side's dead end is the pair's.
    fn both(a: &Anchored, b: &Anchored) -> Anchored {
        const SATISFIED: u32 = u32::MAX;
        let side = |table: &Anchored, state: u32, digit: u8| match state {
            SATISFIED => Some(SATISFIED),
            state => match table.step(state as usize, digit) {
                DEAD => None,
                step if step & 1 != 0 => Some(SATISFIED),
                step => Some(step >> 1),
            },
        };
        let ends = |table: &Anchored, state: u32| state == SATISFIED || table.ends[state as usize];
        Anchored::explore(
            (0, 0),
            |(x, y), digit| match (side(a, x, digit), side(b, y, digit)) {
                (Some(SATISFIED), Some(SATISFIED)) => Step::Matched,
                (Some(x), Some(y)) => Step::To((x, y), false),
                _ => Step::Dead,
            },
            |(x, y)| ends(a, x) && ends(b, y),
        )
    }

    /// The table of the states digits reach from `start` by `step`, numbered as first met
    /// (`start` is 0); `ends` tells a state where a match ends at the end of the digits.
    fn explore<S: Copy + Eq + std::hash::Hash>(
        start: S,
        step: impl Fn(S, u8) -> Step<S>,
        ends: impl Fn(S) -> bool,
    ) -> Anchored {
        let mut numbers = HashMap::from([(start, 0u32)]);
        let mut states = vec![start];
        let (mut next, mut ending) = (Vec::new(), Vec::new());
        while let Some(&state) = states.get(next.len()) {
            let mut row = [DEAD; 10];
            for (digit, cell) in (b'0'..=b'9').zip(&mut row) {
                *cell = match step(state, digit) {
                    Step::Dead => DEAD,
                    // Any state with the match bit: the walk stops there.
                    Step::Matched => 1,
                    Step::To(to, matched) => {
                        let number = *numbers.entry(to).or_insert_with(|| {
                            states.push(to);
                            (states.len() - 1) as u32
                        });
                        number << 1 | u32::from(matched)
                    }
                };
            }
            next.push(row);
            ending.push(ends(state));
        }
        assert!(
            states.len() < 1 << 31,
            "a phone number pattern of few states"
        );
        Anchored {
            next: next.into(),
            ends: ending.into(),
        }
    }

    /// The crate's `is_match` of the pattern at the first digit.
    pub fn is_match(&self, digits: &str) -> bool {
        let mut state = 0;
        for digit in digits.bytes() {
            let step = self.step(state, digit);
            if step & 1 != 0 {
                return step != DEAD;
            }
            state = (step >> 1) as usize;
        }
        self.ends[state]
    }

    /// Where the leftmost-first match from the first digit ends, as the crate's `find` would
    /// tell.
    pub fn match_end(&self, digits: &str) -> Option<usize> {
        let (mut state, mut end) = (0, None);
        for (at, digit) in digits.bytes().enumerate() {
            let step = self.step(state, digit);
            if step == DEAD {
                return end;
            }
            if step & 1 != 0 {
                end = Some(at);
            }
            state = (step >> 1) as usize;
        }
        if self.ends[state] {
            Some(digits.len())
        } else {
            end
        }
    }

    fn step(&self, state: usize, digit: u8) -> u32 {
        debug_assert!(digit.is_ascii_digit(), "{digit}");
        self.next[state]
            .get(usize::from(digit.wrapping_sub(b'0')))
            .copied()
            .unwrap_or(DEAD)
    }
}

/// The trunk-prefix rule, whose groups a rewrite reads: the `regex` crate's, anchored, compiled
/// as [`Anchored::new`] compiles.
fn anchored_regex(source: &str) -> Regex {
    let compile = |unicode| {
        RegexBuilder::new(&format!("^(?:{source}\n)"))
            .ignore_whitespace(true)
            .unicode(unicode)
            .build()
    };
    compile(false)
        .or_else(|_| compile(true))
        .unwrap_or_else(|error| not_compiled(source, &error))
}

fn not_compiled(source: &str, error: &dyn std::fmt::Display) -> ! {
    // The crate checked this syntax when it loaded its metadata and would fail the same way on
    // its first use of the pattern.
    panic!("libphonenumber's pattern {source:?} does not compile: {error}")
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

    fn ours(number: &phonenumber::PhoneNumber) -> bool {
        is_valid(number.code().value(), &number.national().to_string())
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
                prop_assert_eq!(ours(&number), phonenumber::is_valid(&number), "+{} {}", code, national);
            }
        }
    }

    /// Patterns of every kind the parse searches (a national number, an international prefix,
    /// a shared code's leading digits, a mobile number), each as a digit table and as the regex.
    fn both_ways() -> &'static [(Anchored, Regex)] {
        static BOTH: OnceLock<Vec<(Anchored, Regex)>> = OnceLock::new();
        BOTH.get_or_init(|| {
            [
                "IN", "US", "GB", "AR", "MX", "DE", "IT", "BR", "RU", "AU", "JP", "CA",
            ]
            .into_iter()
            .map(|id| DATABASE.by_id(id).expect("a region"))
            .flat_map(|meta| {
                [
                    Some(meta.descriptors().general().national_number()),
                    meta.international_prefix(),
                    meta.leading_digits(),
                    meta.descriptors().mobile().map(Descriptor::national_number),
                ]
            })
            .flatten()
            .map(|pattern| {
                (
                    Anchored::new(pattern.as_str()),
                    anchored_regex(pattern.as_str()),
                )
            })
            .collect()
        })
    }

    proptest! {
        #[test]
        fn a_digit_table_finds_what_the_regex_finds(
            pattern in 0..both_ways().len(),
            digits in "[0-9]{0,18}",
        ) {
            let (table, regex) = &both_ways()[pattern];
            prop_assert_eq!(table.is_match(&digits), regex.is_match(&digits), "{}", regex.as_str());
            prop_assert_eq!(
                table.match_end(&digits),
                regex.find(&digits).map(|found| found.end()),
                "{}",
                regex.as_str()
            );
        }
    }

    proptest! {
        #[test]
        fn a_pair_of_tables_matches_what_both_match(
            first in 0..both_ways().len(),
            second in 0..both_ways().len(),
            digits in "[0-9]{0,18}",
        ) {
            let (a, b) = (&both_ways()[first].0, &both_ways()[second].0);
            prop_assert_eq!(
                Anchored::both(a, b).is_match(&digits),
                a.is_match(&digits) && b.is_match(&digits)
            );
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
                ours(&number),
                phonenumber::is_valid(&number),
                "{text} ({})",
                meta.id()
            );
            valid += usize::from(ours(&number));
        }
        assert!(
            valid > 900,
            "the metadata examples are mostly valid: {valid}"
        );
    }
}
