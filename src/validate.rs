//! The rules a row must pass before anything is sent, each failure naming row, column, value and rule.

use crate::export::record::without_formula_guard;
use crate::text::{is_digits, trimmed};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use compact_str::CompactString;
use csv::ByteRecord;

use crate::input::{CellProblem, Column, ColumnMap};
use crate::model::{Mode, Secret, User};
use crate::phone::{PhoneRule, Reading};

/// Limits that differ between accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub mode: Mode,
    /// Allowed extension length in digits, inclusive.
    pub extension_digits: (usize, usize),
    pub min_password_len: usize,
    /// How phone numbers are read: the default region.
    pub phones: PhoneRule,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            mode: Mode::Upsert,
            extension_digits: (2, 6),
            min_password_len: 6,
            phones: PhoneRule::default(),
        }
    }
}

const MAX_NAME_CHARS: usize = 100;
const MAX_PASSWORD_CHARS: usize = 64;
/// How a duplicate's rule begins; the first row's number follows.
const DUPLICATE_OF: &str = "duplicate of row ";
/// Longest cell value quoted back in a message.
const MAX_QUOTED_CHARS: usize = 40;

/// One broken rule in one cell (or in the row's shape, when `column` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub column: Option<(usize, &'static str)>,
    /// The offending value as it appears in the sheet, shortened; passwords are never quoted.
    pub value: Option<String>,
    pub rule: String,
}

impl Problem {
    /// The earlier row this one repeats the extension of, when that is the problem.
    pub fn duplicate_of(&self) -> Option<u64> {
        self.rule.strip_prefix(DUPLICATE_OF)?.parse().ok()
    }

    fn row_shape(rule: String) -> Problem {
        Problem {
            column: None,
            value: None,
            rule,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((number, name)) = self.column {
            write!(f, "column {number} ({name})")?;
            if let Some(value) = &self.value {
                write!(f, " value {value:?}")?;
            }
            write!(f, ": ")?;
        }
        f.write_str(&self.rule)
    }
}

/// All the problems of one row as one report message.
pub fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The columns a header must have for a mode.
pub fn required_columns(mode: Mode) -> &'static [Column] {
    match mode {
        Mode::Add => &[
            Column::Extension,
            Column::Name,
            Column::PhoneNumber,
            Column::Password,
        ],
        Mode::Upsert => &[Column::Extension],
        Mode::Update => &[],
    }
}

/// Checks rows one by one; remembers extensions to catch duplicates within the file.
pub struct Validator {
    rules: Rules,
    columns: ColumnMap,
    /// First row of each extension seen so far (the only state that grows with the file).
    seen: FirstRows,
    /// Valid rows whose phone number goes out without a known country.
    unplaced_phones: u64,
}

/// The first row of each extension seen. While extensions have at most 8 digits, a table indexed
/// by the extension, in pages of [`FirstRows::PAGE`] slots of 4 bytes made when first written:
/// 10 million rows of dense 8-digit extensions hold 40 MB, and a 6-digit profile never more than
/// 4 MB. Sparse extensions would make a page a row, so a new page is made only while the table
/// has at most four slots for each first row noted (16 bytes, what a map entry costs); the rest,
/// longer extensions and rows past `u32` go to a map.
struct FirstRows {
    /// Row + 1 by extension; 0 when not seen.
    pages: Vec<Option<Box<[u32; FirstRows::PAGE]>>>,
    slots_made: usize,
    noted: usize,
    map: HashMap<u32, u64>,
}

impl FirstRows {
    const TABLE_DIGITS: usize = 8;
    const PAGE: usize = 1024;
    const SLOTS_A_ROW: usize = 4;

    fn new(max_digits: usize) -> FirstRows {
        let pages = if max_digits <= Self::TABLE_DIGITS {
            10usize.pow(max_digits as u32).div_ceil(Self::PAGE)
        } else {
            0
        };
        FirstRows {
            pages: std::iter::repeat_with(|| None).take(pages).collect(),
            slots_made: 0,
            noted: 0,
            map: HashMap::new(),
        }
    }

    /// The first row of `extension`; `None` (and `row` noted as its first) when it is new.
    fn first_or_note(&mut self, extension: u32, row: u64) -> Option<u64> {
        let (page, slot) = (
            extension as usize / Self::PAGE,
            extension as usize % Self::PAGE,
        );
        let FirstRows {
            pages,
            slots_made,
            noted,
            map,
        } = self;
        let page = pages.get_mut(page);
        if let Some(Some(slots)) = page.as_deref() {
            if slots[slot] != 0 {
                return Some(u64::from(slots[slot]) - 1);
            }
        }
        if let Some(&first) = map.get(&extension) {
            return Some(first);
        }
        let dense_enough = *slots_made <= Self::SLOTS_A_ROW * *noted;
        let page = page.filter(|page| page.is_some() || dense_enough);
        *noted += 1;
        match (page, u32::try_from(row + 1)) {
            (Some(page), Ok(first)) => {
                let slots = page.get_or_insert_with(|| {
                    *slots_made += Self::PAGE;
                    Box::new([0; Self::PAGE])
                });
                slots[slot] = first;
            }
            _ => {
                map.insert(extension, row);
            }
        }
        None
    }
}

/// A row's cells (borrowed for `'r`) as the validator's columns (for `'v`) name them.
struct Cells<'r, 'v> {
    record: &'r ByteRecord,
    /// The record's cells as one text, when they are UTF-8: one check per row instead of one
    /// per cell.
    text: Option<&'r str>,
    columns: &'v ColumnMap,
    /// Cells whose type was wrong in the workbook: already problems, their text not to be read.
    flagged: &'v [CellProblem],
    problems: Vec<Problem>,
}

impl<'r> Cells<'r, '_> {
    fn is_flagged(&self, column: Column) -> bool {
        !self.flagged.is_empty()
            && self
                .columns
                .index(column)
                .is_some_and(|index| self.flagged.iter().any(|p| p.column == index))
    }

    /// The trimmed cell of `column`; `None` when the column is absent, the cell is empty, or
    /// its workbook cell was flagged.
    #[inline(always)]
    fn get(&mut self, column: Column) -> Option<&'r str> {
        let index = self.columns.index(column)?;
        if self.is_flagged(column) {
            return None;
        }
        if let Some(text) = self.text_of(index) {
            return Some(trimmed(text)).filter(|t| !t.is_empty());
        }
        let raw = self.record.get(index)?;
        match std::str::from_utf8(raw) {
            Ok(text) => Some(trimmed(text)).filter(|t| !t.is_empty()),
            Err(e) => {
                let offset = e.valid_up_to();
                self.problems.push(Problem {
                    column: Some((index + 1, column.name())),
                    value: Some(
                        String::from_utf8_lossy(raw)
                            .chars()
                            .take(MAX_QUOTED_CHARS)
                            .collect(),
                    ),
                    rule: format!(
                        "not valid UTF-8 text: byte 0x{:02X} at byte {} of the cell (save the sheet as \"CSV UTF-8\")",
                        raw[offset],
                        offset + 1
                    ),
                });
                None
            }
        }
    }

    /// Cell `index` as text, when the record is UTF-8 and the cell a whole character sequence
    /// of it.
    #[inline(always)]
    fn text_of(&self, index: usize) -> Option<&'r str> {
        self.text?.get(self.record.range(index)?)
    }

    fn fail(&mut self, column: Column, value: &str, rule: impl Into<String>) {
        let index = self.columns.index(column).map_or(0, |i| i + 1);
        let quoted = match column {
            Column::Password => None,
            _ => Some(shorten(value)),
        };
        self.problems.push(Problem {
            column: Some((index, column.name())),
            value: quoted,
            rule: rule.into(),
        });
    }

    fn require(&mut self, column: Column, why: &str) {
        if self.is_flagged(column) {
            return;
        }
        let index = self.columns.index(column).map_or(0, |i| i + 1);
        self.problems.push(Problem {
            column: Some((index, column.name())),
            value: None,
            rule: format!("required {why}, but empty"),
        });
    }
}

fn shorten(value: &str) -> String {
    crate::text::clip(value, MAX_QUOTED_CHARS + 1)
}

impl Validator {
    /// Fails when the header lacks a column the mode needs.
    pub fn new(rules: Rules, columns: ColumnMap) -> Result<Validator, String> {
        let missing = columns.missing(required_columns(rules.mode));
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
            return Err(format!(
                "missing required column{} for --mode {}: {}",
                if names.len() > 1 { "s" } else { "" },
                rules.mode.as_str(),
                names.join(", ")
            ));
        }
        if rules.mode == Mode::Update
            && !columns.has(Column::Extension)
            && !columns.has(Column::AgentId)
        {
            return Err(
                "missing required column for --mode update: extension or agent_id".to_string(),
            );
        }
        Ok(Validator {
            seen: FirstRows::new(rules.extension_digits.1),
            rules,
            columns,
            unplaced_phones: 0,
        })
    }

    pub fn columns(&self) -> &ColumnMap {
        &self.columns
    }

    /// A validator with the same rules that has seen no row: for [`Validator::check_alone`] on
    /// another thread.
    pub fn twin(&self) -> Validator {
        Validator {
            seen: FirstRows::new(0),
            rules: self.rules.clone(),
            columns: self.columns.clone(),
            unplaced_phones: 0,
        }
    }

    /// How this validator reads phone numbers, for comparing them later by the same rule.
    pub fn phones(&self) -> PhoneRule {
        self.rules.phones
    }

    /// Valid rows so far whose phone number has no known country ([`Reading::Unplaced`]).
    pub fn unplaced_phones(&self) -> u64 {
        self.unplaced_phones
    }

    /// Validate one data row; the user it describes, or every problem it has.
    pub fn check(&mut self, row: u64, record: &ByteRecord) -> Result<User, Vec<Problem>> {
        self.check_cells(row, record, &[])
    }

    /// [`Validator::check`] of a row whose cells `flagged` were wrong for their column in the
    /// workbook (see [`crate::input::workbook`]).
    pub fn check_cells(
        &mut self,
        row: u64,
        record: &ByteRecord,
        flagged: &[CellProblem],
    ) -> Result<User, Vec<Problem>> {
        let alone = self.check_alone(record, flagged);
        self.settle(row, alone).map(UserCells::into_user)
    }

    /// The checks of a row that need no other row: every rule but the duplicate extension.
    /// Rows may go through it on several threads at once; [`Validator::settle`] finishes each,
    /// in row order.
    pub fn check_alone<'r>(
        &self,
        record: &'r ByteRecord,
        flagged: &[CellProblem],
    ) -> CheckedAlone<UserCells<'r>> {
        let mut cells = Cells {
            record,
            text: std::str::from_utf8(record.as_slice()).ok(),
            columns: &self.columns,
            flagged,
            problems: Vec::new(),
        };
        for flag in flagged {
            if let Some(column) = self.columns.column_at(flag.column) {
                let value = record.get(flag.column).unwrap_or_default();
                cells.fail(column, &String::from_utf8_lossy(value), flag.rule.clone());
            }
        }
        if record.len() != self.columns.width {
            cells.problems.push(Problem::row_shape(format!(
                "the row has {} cells but the header has {} (a stray delimiter or a missing quote?)",
                record.len(),
                self.columns.width
            )));
            return CheckedAlone {
                extension: None,
                unplaced_phone: false,
                verdict: Err(cells.problems),
            };
        }
        let adding = self.rules.mode == Mode::Add;

        let extension_cell = cells.get(Column::Extension);
        let mut extension = extension_cell.and_then(|value| {
            check_extension(value, self.rules.extension_digits)
                .map_err(|rule| cells.fail(Column::Extension, value, rule))
                .ok()
        });
        let agent_id = cells.get(Column::AgentId).and_then(|value| match check_agent_id(value) {
            Ok(id_extension) => {
                match (extension_cell, extension) {
                    (None, _) => extension = Some(id_extension),
                    (Some(_), Some(ext)) if ext != id_extension => cells.fail(
                        Column::AgentId,
                        value,
                        format!("belongs to extension {id_extension}, but the row's extension is {ext}"),
                    ),
                    _ => {}
                }
                Some(value)
            }
            Err(rule) => {
                cells.fail(Column::AgentId, value, rule);
                None
            }
        });
        if extension_cell.is_none()
            && agent_id.is_none()
            && !cells
                .problems
                .iter()
                .any(|p| p.column.is_some_and(|c| c.1 == "agent_id"))
        {
            match self.rules.mode {
                Mode::Update if !self.columns.has(Column::Extension) => {
                    cells.require(Column::AgentId, "to find the user")
                }
                _ => cells.require(Column::Extension, "to identify the user"),
            }
        }

        let name = match cells.get(Column::Name) {
            Some(value) => check_name(value)
                .map_err(|rule| cells.fail(Column::Name, value, rule))
                .ok(),
            None if adding => {
                cells.require(Column::Name, "to add a user");
                None
            }
            None => None,
        };
        let phone_number = match cells.get(Column::PhoneNumber) {
            Some(value) => check_phone(value, &self.rules.phones)
                .map_err(|rule| cells.fail(Column::PhoneNumber, value, rule))
                .ok(),
            None if adding => {
                cells.require(Column::PhoneNumber, "to add a user");
                None
            }
            None => None,
        };
        let password_at = self
            .columns
            .index(Column::Password)
            .filter(|_| !cells.is_flagged(Column::Password));
        let password = match password_at.and_then(|i| record.get(i)) {
            // Passwords are taken as typed: surrounding spaces may be part of them.
            Some(raw) if !raw.is_empty() => match password_at
                .and_then(|i| cells.text_of(i))
                .map_or_else(|| std::str::from_utf8(raw), Ok)
            {
                Ok(typed) => {
                    let value = without_formula_guard(typed);
                    check_password(value, self.rules.min_password_len)
                        .map(|()| value)
                        .map_err(|rule| cells.fail(Column::Password, value, rule))
                        .ok()
                }
                Err(_) => {
                    cells.fail(Column::Password, "", "not valid UTF-8 text");
                    None
                }
            },
            _ if adding => {
                cells.require(Column::Password, "to add a user");
                None
            }
            _ => None,
        };
        let (start_cell, end_cell) = (cells.get(Column::StartTime), cells.get(Column::EndTime));
        let start_time = start_cell.and_then(|value| {
            check_hour(value)
                .map_err(|rule| cells.fail(Column::StartTime, value, rule))
                .ok()
        });
        let end_time = end_cell.and_then(|value| {
            check_hour(value)
                .map_err(|rule| cells.fail(Column::EndTime, value, rule))
                .ok()
        });
        match (start_cell, end_cell, start_time, end_time) {
            (Some(_), None, _, _) => cells.require(Column::EndTime, "when start_time is given"),
            (None, Some(_), _, _) => cells.require(Column::StartTime, "when end_time is given"),
            (_, Some(value), Some(start), Some(end)) if start >= end => cells.fail(
                Column::EndTime,
                value,
                format!("the shift must end after it starts (start_time is {start})"),
            ),
            _ => {}
        }
        let sms_alert = cells.get(Column::SmsAlert).and_then(|value| {
            parse_bool(value)
                .ok_or(())
                .map_err(|()| {
                    cells.fail(
                        Column::SmsAlert,
                        value,
                        "expected true/false, yes/no or 1/0",
                    )
                })
                .ok()
        });

        let unplaced_phone = matches!(phone_number, Some(Reading::Unplaced(_)));
        let verdict = if cells.problems.is_empty() {
            Ok(UserCells {
                agent_id,
                extension: extension.expect("a row without problems has an extension"),
                name,
                phone_number: phone_number.map(Reading::into_digits),
                password,
                start_time,
                end_time,
                sms_alert,
            })
        } else {
            Err(cells.problems)
        };
        CheckedAlone {
            extension,
            unplaced_phone,
            verdict,
        }
    }

    /// Finishes [`Validator::check_alone`]'s verdict on data row `row`: a repeated extension is
    /// a problem of the later row. Rows must be settled in order.
    pub fn settle<U>(&mut self, row: u64, alone: CheckedAlone<U>) -> Result<U, Vec<Problem>> {
        let CheckedAlone {
            extension,
            unplaced_phone,
            verdict,
        } = alone;
        let duplicate = extension.and_then(|ext| {
            let first = self.seen.first_or_note(ext, row)?;
            Some(Problem {
                column: Some((
                    self.columns
                        .index(Column::Extension)
                        .or(self.columns.index(Column::AgentId))
                        .map_or(0, |i| i + 1),
                    "extension",
                )),
                value: Some(ext.to_string()),
                rule: format!("{DUPLICATE_OF}{first}"),
            })
        });
        match (verdict, duplicate) {
            (Err(mut problems), Some(duplicate)) => {
                problems.push(duplicate);
                Err(problems)
            }
            (Ok(_), Some(duplicate)) => Err(vec![duplicate]),
            (Err(problems), None) => Err(problems),
            (Ok(user), None) => {
                self.unplaced_phones += u64::from(unplaced_phone);
                Ok(user)
            }
        }
    }
}

/// A row's verdict on every rule but the duplicate extension, with the extension to note; a
/// valid row's verdict is its user's cells, or `()` where only the verdict is wanted.
pub struct CheckedAlone<U> {
    extension: Option<u32>,
    /// The row's phone number goes out without a known country ([`Reading::Unplaced`]); counted
    /// only when the row is valid.
    unplaced_phone: bool,
    verdict: Result<U, Vec<Problem>>,
}

impl<U> CheckedAlone<U> {
    /// The verdict alone, the user dropped where it was made (`roster validate` sends none).
    pub fn without_user(self) -> CheckedAlone<()> {
        CheckedAlone {
            extension: self.extension,
            unplaced_phone: self.unplaced_phone,
            verdict: self.verdict.map(drop),
        }
    }
}

/// A valid row's values, borrowed from its record where they stand as written: made a [`User`]
/// only for a row that will be sent.
pub struct UserCells<'r> {
    agent_id: Option<&'r str>,
    extension: u32,
    name: Option<Cow<'r, str>>,
    phone_number: Option<CompactString>,
    password: Option<&'r str>,
    start_time: Option<u8>,
    end_time: Option<u8>,
    sms_alert: Option<bool>,
}

impl UserCells<'_> {
    pub fn into_user(self) -> User {
        User {
            agent_id: self.agent_id.map(Into::into),
            extension: self.extension,
            name: self.name.map(Into::into),
            phone_number: self.phone_number,
            password: self.password.map(Secret::new),
            start_time: self.start_time,
            end_time: self.end_time,
            sms_alert: self.sms_alert,
        }
    }
}

/// Values a spreadsheet program produced by treating a long digit string as a number.
fn spreadsheet_damage(value: &str) -> Option<&'static str> {
    let (mantissa, exponent) = value.split_at(value.bytes().position(|b| b | 0x20 == b'e')?);
    let exponent = &exponent[1..];
    let exponent = exponent.trim_start_matches('+');
    (!mantissa.is_empty()
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit()))
    .then_some(
        "the spreadsheet turned this number into scientific notation and lost digits: format the column as Text, re-enter the values and save again",
    )
}

fn decimal_damage(value: &str) -> Option<&'static str> {
    let (whole, fraction) = value.split_at(value.bytes().position(|b| b == b'.')?);
    let fraction = &fraction[1..];
    (!whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && !fraction.is_empty() && fraction.bytes().all(|b| b == b'0'))
        .then_some("the spreadsheet stored this as a decimal number (trailing .0): format the column as Text and save again")
}

pub fn check_extension(value: &str, (min, max): (usize, usize)) -> Result<u32, String> {
    // One pass: whether every byte is a digit, and the number the bytes make as digits, in a
    // u64 that 19 digits cannot overflow (wrapping, for bytes that turn out not to be digits).
    let (digits_only, number) = value.bytes().fold((true, 0u64), |(all, number), byte| {
        let digit = byte.wrapping_sub(b'0');
        (
            all & (digit < 10),
            number.wrapping_mul(10).wrapping_add(u64::from(digit)),
        )
    });
    if !digits_only {
        let hint = spreadsheet_damage(value).or_else(|| decimal_damage(value));
        return Err(hint.unwrap_or("an extension is digits only").to_string());
    }
    if value.len() < min || value.len() > max {
        return Err(format!("an extension has {min} to {max} digits"));
    }
    if value.starts_with('0') {
        return Err("an extension cannot start with 0: TeleCMI stores it as a number".to_string());
    }
    u32::try_from(number)
        .ok()
        .filter(|_| value.len() <= 19)
        .ok_or_else(|| "extension out of range".to_string())
}

/// `EXTENSION_APPID`; returns the extension part.
fn check_agent_id(value: &str) -> Result<u32, String> {
    let rule = || {
        "an agent_id is EXTENSION_APPID, digits on both sides of one underscore (e.g. 101_1111112)"
            .to_string()
    };
    let (extension, app) = value.split_once('_').ok_or_else(rule)?;
    if !is_digits(extension) || !is_digits(app) {
        return Err(rule());
    }
    check_extension(extension, (1, 9)).map_err(|why| format!("its extension part: {why}"))
}

/// A name as roster sends and compares it: line breaks and tabs (a cell's Alt+Enter, a pasted
/// column) fold with the spaces around them into one space, as [`crate::model::same_name`]
/// compares, so a name the provider holds with a line break re-imports unchanged.
fn check_name(value: &str) -> Result<Cow<'_, str>, String> {
    let value = without_formula_guard(value);
    if is_folded_ascii(value) && value.len() <= MAX_NAME_CHARS {
        return Ok(Cow::Borrowed(value));
    }
    check_name_fully(value).map(Cow::Owned)
}

/// Printable ASCII with one space between words: a name with nothing to fold or refuse, as most
/// are, which the full rules would return unchanged.
fn is_folded_ascii(value: &str) -> bool {
    let bytes = value.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return true;
    };
    // Folds over whole slices, without a branch per byte, which the compiler turns into vector
    // operations.
    let printable = bytes
        .iter()
        .fold(true, |all, &byte| all & (0x20..=0x7E).contains(&byte));
    let double_space = bytes[1..]
        .iter()
        .zip(bytes)
        .fold(false, |any, (&byte, &before)| {
            any | (byte == b' ' && before == b' ')
        });
    printable && first != b' ' && last != b' ' && !double_space
}

fn check_name_fully(value: &str) -> Result<String, String> {
    if value.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err("a name cannot contain control characters".to_string());
    }
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    // Direction overrides make a name display as something other than what it is.
    if value
        .chars()
        .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        return Err("a name cannot contain text-direction override characters".to_string());
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a name has at most {MAX_NAME_CHARS} characters"));
    }
    Ok(value.to_string())
}

/// A phone number read by `phones` (see [`crate::phone`]), after the spreadsheet-damage checks.
pub fn check_phone(value: &str, phones: &PhoneRule) -> Result<Reading, String> {
    // Damage leaves an exponent or a decimal point, which a number of digits alone (as most
    // are) cannot hold; such a number needs no scanning for separators either.
    if is_digits(value) {
        return phones.read_digits(value);
    }
    if let Some(hint) = spreadsheet_damage(value).or_else(|| decimal_damage(value)) {
        return Err(hint.to_string());
    }
    phones.read(value)
}

fn check_password(value: &str, min: usize) -> Result<(), String> {
    // Most passwords are printable ASCII, which one pass without a branch a byte tells: a
    // character a byte, none a control character (those are below a space, and DEL).
    let printable_ascii = value
        .bytes()
        .fold(true, |all, byte| all & (b' '..=b'~').contains(&byte));
    let chars = if printable_ascii {
        value.len()
    } else {
        value.chars().count()
    };
    if trimmed(value).is_empty() {
        return Err("a password cannot be blank".to_string());
    }
    if chars < min {
        return Err(format!("a password has at least {min} characters"));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "a password has at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    if !printable_ascii && value.chars().any(char::is_control) {
        return Err("a password cannot contain control characters".to_string());
    }
    Ok(())
}

fn check_hour(value: &str) -> Result<u8, String> {
    // One or two digits, as hours are written, without the general parse; it takes the rest
    // (`+9`, `009`).
    let hour = match *value.as_bytes() {
        [one] if one.is_ascii_digit() => Some(one - b'0'),
        [tens, ones] if tens.is_ascii_digit() && ones.is_ascii_digit() => {
            Some((tens - b'0') * 10 + (ones - b'0'))
        }
        _ => value.parse::<u8>().ok(),
    };
    match hour {
        Some(hour) if hour <= 24 => Ok(hour),
        _ => Err("a shift time is a whole hour from 0 to 24".to_string()),
    }
}

/// true/false, yes/no, 1/0, in any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    let is = |word: &str| value.eq_ignore_ascii_case(word);
    if is("true") || is("yes") || value == "1" {
        Some(true)
    } else if is("false") || is("no") || value == "0" {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest::proptest! {
        /// An extension is what the general parse makes of its digits, within every rule.
        #[test]
        fn an_extension_is_what_the_general_parse_reads(
            value in "[0-9]{0,22}|[1-9][0-9.e]{0,5}",
            digits in (1usize..4).prop_flat_map(|min| (Just(min), min..24)),
        ) {
            let general = match check_extension(&value, digits) {
                Err(rule) if rule == "extension out of range" => {
                    proptest::prop_assert!(value.parse::<u32>().is_err());
                    None
                }
                checked => checked.ok(),
            };
            let rules_pass = value.bytes().all(|b| b.is_ascii_digit())
                && (digits.0..=digits.1).contains(&value.len())
                && !value.starts_with('0');
            proptest::prop_assert_eq!(general, value.parse::<u32>().ok().filter(|_| rules_pass));
        }

        /// A password breaks the rules the general character tests say it breaks.
        #[test]
        fn a_password_is_refused_as_the_character_tests_refuse_it(value in "[ -~\\x00-\\x1f\\x7fé\u{85}]{0,12}") {
            let chars = value.chars().count();
            let expected = if value.trim().is_empty() {
                Some("blank")
            } else if chars < 6 {
                Some("at least")
            } else if value.chars().any(char::is_control) {
                Some("control")
            } else {
                None
            };
            let checked = check_password(&value, 6).err();
            proptest::prop_assert_eq!(checked.is_some(), expected.is_some(), "{:?}", checked);
            if let (Some(checked), Some(expected)) = (checked, expected) {
                proptest::prop_assert!(checked.contains(expected), "{}", checked);
            }
        }

        /// An hour read without the general parse is what the general parse reads.
        #[test]
        fn an_hour_is_what_the_general_parse_reads(value in "[+0-9a -]{0,4}") {
            let general = value.parse::<u8>().ok().filter(|&hour| hour <= 24);
            proptest::prop_assert_eq!(check_hour(&value).ok(), general);
        }

        /// The table answers as a plain map of first rows does, sparse extensions (kept in the
        /// map) and rows past `u32` included.
        #[test]
        fn first_rows_answer_as_a_map_does(
            digits in 1usize..6,
            extensions in proptest::collection::vec(proptest::prop_oneof![0u32..3000, 0u32..200_000], 0..300),
            start in proptest::prop_oneof![proptest::strategy::Just(1u64), proptest::strategy::Just(u64::from(u32::MAX) - 50)],
        ) {
            let mut fast = FirstRows::new(digits);
            let mut simple: HashMap<u32, u64> = HashMap::new();
            for (row, extension) in (start..).zip(extensions) {
                let expected = simple.get(&extension).copied();
                simple.entry(extension).or_insert(row);
                proptest::prop_assert_eq!(fast.first_or_note(extension, row), expected);
            }
        }
    }

    const HEADER: [&str; 8] = [
        "extension",
        "name",
        "phone_number",
        "password",
        "start_time",
        "end_time",
        "sms_alert",
        "agent_id",
    ];

    proptest! {
        #[test]
        fn a_plain_name_is_what_the_full_rules_make_of_it(
            name in prop_oneof!["[ -~]{0,70}", "[a-z ]{95,105}", "[ -~\t\n\u{a0}\u{202e}\u{7}é]{0,12}"],
        ) {
            prop_assert_eq!(check_name(&name).map(Cow::into_owned), check_name_fully(without_formula_guard(&name)));
        }
    }

    fn validator(mode: Mode) -> Validator {
        let columns = ColumnMap::from_header(&ByteRecord::from(HEADER.to_vec())).unwrap();
        Validator::new(
            Rules {
                mode,
                ..Rules::default()
            },
            columns,
        )
        .unwrap()
    }

    fn row(cells: [&str; 8]) -> ByteRecord {
        ByteRecord::from(cells.to_vec())
    }

    fn rules_broken(v: &mut Validator, cells: [&str; 8]) -> String {
        describe(&v.check(1, &row(cells)).unwrap_err())
    }

    #[test]
    fn a_complete_row_becomes_a_user() {
        let mut v = validator(Mode::Add);
        let user = v
            .check(
                1,
                &row([
                    "101",
                    " Manish ",
                    "+91 92000-00000",
                    "123456",
                    "1",
                    "24",
                    "Yes",
                    "",
                ]),
            )
            .unwrap();
        assert_eq!(user.extension, 101);
        assert_eq!(user.name.as_deref(), Some("Manish"));
        assert_eq!(user.phone_number.as_deref(), Some("919200000000"));
        assert_eq!(user.sms_alert, Some(true));
        assert_eq!((user.start_time, user.end_time), (Some(1), Some(24)));
    }

    #[test]
    fn names_that_display_as_something_else_are_refused() {
        let mut v = validator(Mode::Add);
        let spoof = "Asha \u{202E}oaR";
        let message = rules_broken(
            &mut v,
            ["101", spoof, "+919200000000", "123456", "", "", "", ""],
        );
        assert!(message.contains("text-direction override"), "{message}");
    }

    #[test]
    fn line_breaks_and_tabs_in_a_name_fold_into_one_space() {
        assert_eq!(check_name("Anita\nDesai").as_deref(), Ok("Anita Desai"));
        assert_eq!(
            check_name("\tAnita \r\n Desai\n").as_deref(),
            Ok("Anita Desai")
        );
        assert_eq!(check_name("'=Sum \t Total").as_deref(), Ok("=Sum Total"));
        assert!(
            check_name("Bell\u{7}Name").is_err(),
            "other control characters"
        );
    }

    #[test]
    fn phones_are_read_by_the_default_region_and_unplaced_ones_counted() {
        let national = |rules: Rules| {
            let columns = ColumnMap::from_header(&ByteRecord::from(HEADER.to_vec())).unwrap();
            let mut v = Validator::new(rules, columns).unwrap();
            let user = v
                .check(1, &row(["101", "", "098123 00001", "", "", "", "", ""]))
                .unwrap();
            (user.phone_number.unwrap().to_string(), v.unplaced_phones())
        };
        assert_eq!(national(Rules::default()), ("09812300001".to_string(), 1));
        let india = Rules {
            phones: PhoneRule::new(Some("IN".parse().unwrap())),
            ..Rules::default()
        };
        assert_eq!(national(india), ("919812300001".to_string(), 0));
    }

    #[test]
    fn add_requires_name_phone_and_password() {
        let mut v = validator(Mode::Add);
        let message = rules_broken(&mut v, ["101", "", "", "", "", "", "", ""]);
        assert!(message.contains("column 2 (name): required"), "{message}");
        assert!(
            message.contains("column 3 (phone_number): required"),
            "{message}"
        );
        assert!(
            message.contains("column 4 (password): required"),
            "{message}"
        );
    }

    #[test]
    fn extension_rules() {
        // 2^64 + 5: twenty digits, whose number wraps around to 5 in 64 bits.
        assert_eq!(
            check_extension("18446744073709551621", (1, 24)),
            Err("extension out of range".to_string())
        );
        let mut v = validator(Mode::Update);
        assert!(rules_broken(&mut v, ["1a1", "", "", "", "", "", "", ""]).contains("digits only"));
        assert!(rules_broken(&mut v, ["1", "", "", "", "", "", "", ""]).contains("2 to 6 digits"));
        assert!(rules_broken(&mut v, ["0101", "", "", "", "", "", "", ""])
            .contains("cannot start with 0"));
        assert!(
            rules_broken(&mut v, ["101.0", "", "", "", "", "", "", ""]).contains("decimal number")
        );
    }

    #[test]
    fn spreadsheet_damage_in_phone_numbers_gets_a_hint() {
        let mut v = validator(Mode::Update);
        let message = rules_broken(&mut v, ["101", "", "9.19E+11", "", "", "", "", ""]);
        assert!(
            message.contains("column 3 (phone_number) value \"9.19E+11\""),
            "{message}"
        );
        assert!(message.contains("scientific notation"), "{message}");
        assert!(
            rules_broken(&mut v, ["102", "", "919200000000.0", "", "", "", "", ""])
                .contains("Text")
        );
        assert!(
            rules_broken(&mut v, ["103", "", "12345", "", "", "", "", ""])
                .contains("8 to 15 digits")
        );
        assert!(
            rules_broken(&mut v, ["104", "", "91920000000x", "", "", "", "", ""])
                .contains("digits with")
        );
        assert!(
            rules_broken(&mut v, ["105", "", "+91 98123 0000", "", "", "", "", ""])
                .contains("not a valid number for IN (+91)"),
            "a number invalid for its country is invalid, with the reason"
        );
    }

    #[test]
    fn password_is_checked_but_never_quoted() {
        let mut v = validator(Mode::Add);
        let message = rules_broken(&mut v, ["101", "A", "919200000000", "abc", "", "", "", ""]);
        assert!(message.contains("at least 6"), "{message}");
        assert!(!message.contains("abc"), "{message}");
    }

    #[test]
    fn shift_times() {
        let mut v = validator(Mode::Update);
        assert!(rules_broken(&mut v, ["101", "", "", "", "25", "26", "", ""]).contains("0 to 24"));
        assert!(rules_broken(&mut v, ["102", "", "", "", "9", "", "", ""])
            .contains("when start_time is given"));
        assert!(rules_broken(&mut v, ["103", "", "", "", "", "9", "", ""])
            .contains("when end_time is given"));
        assert!(rules_broken(&mut v, ["104", "", "", "", "18", "9", "", ""])
            .contains("end after it starts"));
    }

    #[test]
    fn sms_alert_words() {
        for (text, expected) in [
            ("TRUE", true),
            ("no", false),
            ("1", true),
            ("0", false),
            ("Yes", true),
        ] {
            assert_eq!(parse_bool(text), Some(expected));
        }
        let mut v = validator(Mode::Update);
        assert!(
            rules_broken(&mut v, ["101", "", "", "", "", "", "maybe", ""]).contains("true/false")
        );
    }

    #[test]
    fn agent_id_rules() {
        let mut v = validator(Mode::Update);
        let user = v
            .check(1, &row(["", "", "", "", "", "", "", "101_1111112"]))
            .unwrap();
        assert_eq!(user.extension, 101);
        assert!(
            rules_broken(&mut v, ["", "", "", "", "", "", "", "abc"]).contains("EXTENSION_APPID")
        );
        assert!(
            rules_broken(&mut v, ["105", "", "", "", "", "", "", "106_1111112"])
                .contains("belongs to extension 106")
        );
        assert!(
            rules_broken(&mut v, ["", "", "", "", "", "", "", ""]).contains("required to identify")
        );
    }

    #[test]
    fn the_export_formula_guard_comes_off_on_import() {
        let mut v = validator(Mode::Add);
        let user = v
            .check(
                1,
                &row([
                    "101",
                    "'@Sam Lee",
                    "+919200000000",
                    "'=dmin-123",
                    "",
                    "",
                    "",
                    "",
                ]),
            )
            .unwrap();
        assert_eq!(user.name.as_deref(), Some("@Sam Lee"));
        assert_eq!(user.password.unwrap().expose(), "=dmin-123");
        let plain = v
            .check(
                2,
                &row([
                    "102",
                    "'Quoted",
                    "+919200000000",
                    "'secret1",
                    "",
                    "",
                    "",
                    "",
                ]),
            )
            .unwrap();
        assert_eq!(
            plain.name.as_deref(),
            Some("'Quoted"),
            "a quote not guarding a formula is the user's own"
        );
    }

    #[test]
    fn duplicate_extensions_point_at_the_first_row() {
        let mut v = validator(Mode::Update);
        v.check(3, &row(["101", "", "", "", "", "", "", ""]))
            .unwrap();
        let problems = v
            .check(7, &row(["101", "", "", "", "", "", "", ""]))
            .unwrap_err();
        assert_eq!(problems[0].rule, "duplicate of row 3");
    }

    #[test]
    fn ragged_rows_and_bad_utf8_are_row_problems() {
        let mut v = validator(Mode::Update);
        let short = ByteRecord::from(vec!["101", "x"]);
        assert!(describe(&v.check(1, &short).unwrap_err()).contains("2 cells but the header has 8"));
        let mut bad = row(["101", "", "", "", "", "", "", ""]);
        bad = bad
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 1 { &b"Jos\xe9"[..] } else { c })
            .collect();
        assert!(describe(&v.check(2, &bad).unwrap_err()).contains("not valid UTF-8"));
    }

    #[test]
    fn header_must_have_the_mode_columns() {
        let columns = ColumnMap::from_header(&ByteRecord::from(vec!["extension", "name"])).unwrap();
        let err = Validator::new(
            Rules {
                mode: Mode::Add,
                ..Rules::default()
            },
            columns,
        )
        .err()
        .unwrap();
        assert!(err.contains("phone_number, password"), "{err}");
    }
}
