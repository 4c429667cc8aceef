//! `roster sync`: what it takes to make the account look like the sheet.

use std::borrow::Cow;
use std::collections::HashMap;

use compact_str::CompactString;
use serde::Serialize;

use crate::input::{Column, InputError, Sheet};
use crate::model::{same_name, telecmi_agent_id, User};
use crate::phone::PhoneRule;
use crate::text;
use crate::validate::{self, Validator};

/// What sync does with one sheet row; the engine follows it when the plan is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Create,
    /// The whole user to send: the sheet's cells over the account's values.
    Update(Box<User>),
    Unchanged,
    /// Valid as a row, but the plan cannot carry it out (a new user without the fields to create it).
    Invalid(String),
}

/// One field a plan changes. Passwords are compared, never shown. Values are borrowed from
/// the sheet and the account: a plan of a million users holds no copies of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange<'a> {
    pub field: &'static str,
    pub old: Option<Cow<'a, str>>,
    pub new: Option<Cow<'a, str>>,
}

/// One user of a plan, written out as `row`, `extension`, `agent_id`, `name` and `changes`. It
/// points into the sheet and the account and keeps only which fields differ: a plan of a million
/// users holds no copies of their names, ids or values.
#[derive(Debug, Clone, Copy)]
pub struct PlanEntry<'a> {
    /// The sheet row (absent for users only in the account).
    pub row: Option<u64>,
    /// The sheet's user; the account's for a user only in the account.
    user: &'a User,
    /// The account's user beside the sheet's, when it has one.
    current: Option<&'a User>,
    changed: Changed,
    /// For a sheet row without an agent_id, the account it is made from (TeleCMI's agent ids
    /// are `EXTENSION_APPID`); `None` for a user only in the account.
    app_id: Option<&'a str>,
}

impl<'a> PlanEntry<'a> {
    pub fn extension(&self) -> u32 {
        self.user.extension
    }

    pub fn agent_id(&self) -> Cow<'a, str> {
        match (&self.user.agent_id, self.app_id) {
            (Some(id), _) => Cow::Borrowed(id),
            (None, Some(app_id)) => Cow::Owned(telecmi_agent_id(self.user.extension, app_id)),
            (None, None) => Cow::Borrowed(""),
        }
    }

    /// The account's name when the account has the user, else the sheet's.
    pub fn name(&self) -> Option<&'a str> {
        self.current.unwrap_or(self.user).name.as_deref()
    }

    pub fn changes(&self) -> Vec<FieldChange<'a>> {
        match self.current {
            Some(current) => self.changed.list(self.user, current),
            None => Vec::new(),
        }
    }
}

impl Serialize for PlanEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let changes = self.changes();
        let mut entry = serializer.serialize_struct("PlanEntry", 5)?;
        match self.row {
            Some(row) => entry.serialize_field("row", &row)?,
            None => entry.skip_field("row")?,
        }
        entry.serialize_field("extension", &self.extension())?;
        entry.serialize_field("agent_id", &self.agent_id())?;
        entry.serialize_field("name", &self.name())?;
        match changes.is_empty() {
            true => entry.skip_field("changes")?,
            false => entry.serialize_field("changes", &changes)?,
        }
        entry.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidRow {
    pub row: u64,
    /// The row's extension when it can be read: such a user is in the sheet, not only in the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<u32>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub create: u64,
    pub update: u64,
    pub unchanged: u64,
    pub only_in_account: u64,
    pub invalid: u64,
}

/// The plan file: counts, then one entry per user under the same names.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncPlan<'a> {
    pub counts: PlanCounts,
    pub create: Vec<PlanEntry<'a>>,
    pub update: Vec<PlanEntry<'a>>,
    pub unchanged: Vec<PlanEntry<'a>>,
    pub only_in_account: Vec<PlanEntry<'a>>,
    pub invalid: Vec<InvalidRow>,
    /// What to do per extension, for `--apply`.
    #[serde(skip)]
    pub actions: HashMap<u32, Planned>,
}

/// Which fields the sheet gives that differ from the account, a bit each in [`Changed::FIELDS`]
/// order; phone numbers compare by `phones`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed(u8);

impl Changed {
    const FIELDS: [Column; 6] = [
        Column::Name,
        Column::PhoneNumber,
        Column::Password,
        Column::StartTime,
        Column::EndTime,
        Column::SmsAlert,
    ];

    pub fn of(wanted: &User, current: &User, phones: &PhoneRule) -> Changed {
        let name = wanted.name.as_deref().is_some_and(|name| {
            !current
                .name
                .as_deref()
                .is_some_and(|old| same_name(old, name))
        });
        let phone = wanted.phone_number.as_deref().is_some_and(|phone| {
            !current
                .phone_number
                .as_deref()
                .is_some_and(|old| phones.same(old, phone))
        });
        let password = wanted
            .password
            .as_ref()
            .is_some_and(|password| current.password.as_ref() != Some(password));
        let start = wanted.start_time.is_some() && wanted.start_time != current.start_time;
        let end = wanted.end_time.is_some() && wanted.end_time != current.end_time;
        let alert = wanted
            .sms_alert
            .is_some_and(|alert| current.sms_alert != Some(alert));
        let bits = [name, phone, password, start, end, alert];
        Changed(
            bits.iter()
                .enumerate()
                .fold(0, |mask, (i, &bit)| mask | (u8::from(bit) << i)),
        )
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The changes with their values, borrowed from the two users. Passwords are compared,
    /// never shown.
    pub fn list<'a>(self, wanted: &'a User, current: &'a User) -> Vec<FieldChange<'a>> {
        let text = |value: &'a Option<CompactString>| value.as_deref().map(Cow::Borrowed);
        let hour = |h: Option<u8>| h.map(|h| Cow::Owned(h.to_string()));
        let alert = |v: Option<bool>| v.map(|v| Cow::Borrowed(if v { "true" } else { "false" }));
        Self::FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, &column)| {
                let (new, old) = match column {
                    Column::Name => (text(&wanted.name), text(&current.name)),
                    Column::PhoneNumber => {
                        (text(&wanted.phone_number), text(&current.phone_number))
                    }
                    Column::StartTime => (hour(wanted.start_time), hour(current.start_time)),
                    Column::EndTime => (hour(wanted.end_time), hour(current.end_time)),
                    Column::SmsAlert => (alert(wanted.sms_alert), alert(current.sms_alert)),
                    // The password: compared, never shown.
                    _ => (None, None),
                };
                FieldChange {
                    field: column.name(),
                    old,
                    new,
                }
            })
            .collect()
    }
}

/// A sheet read whole before the plan.
#[derive(Debug, Default)]
pub struct SheetRows {
    /// Valid users by data row.
    pub valid: Vec<(u64, User)>,
    pub invalid: Vec<InvalidRow>,
}

/// Read and check every row of `sheet`.
pub fn read_sheet(sheet: &mut Sheet, validator: &mut Validator) -> Result<SheetRows, InputError> {
    let extension_index = validator.columns().index(Column::Extension);
    let mut record = csv::ByteRecord::new();
    let mut rows = SheetRows::default();
    while let Some(position) = sheet.next_record(&mut record)? {
        match validator.check_cells(position.row, &record, sheet.cell_problems()) {
            Ok(user) => rows.valid.push((position.row, user)),
            Err(problems) => rows.invalid.push(InvalidRow {
                row: position.row,
                extension: extension_index
                    .and_then(|i| record.get(i))
                    .and_then(|cell| std::str::from_utf8(cell).ok())
                    .and_then(|cell| cell.trim().parse().ok()),
                message: validate::describe(&problems),
            }),
        }
    }
    Ok(rows)
}

/// Match valid sheet rows to the live roster by extension and sort them into the plan.
/// `applying` keeps [`SyncPlan::actions`], each update's whole user among them, which a plan
/// that is only shown never reads.
pub fn plan<'a>(
    rows: &'a [(u64, User)],
    invalid: Vec<InvalidRow>,
    live: &'a [User],
    app_id: &'a str,
    phones: &PhoneRule,
    applying: bool,
) -> SyncPlan<'a> {
    let mut account = LiveIndex::new(live);
    let mut plan = SyncPlan {
        invalid,
        ..SyncPlan::default()
    };
    for extension in plan.invalid.iter().filter_map(|i| i.extension) {
        account.name(extension);
    }
    for (row, user) in rows {
        let row = *row;
        let entry = |current: Option<&'a User>, changed: Changed| PlanEntry {
            row: Some(row),
            user,
            current,
            changed,
            app_id: Some(app_id),
        };
        let planned = match account.name(user.extension) {
            None if !user.missing_required().is_empty() => {
                let message = format!(
                    "extension {} is not in the account; to create it the row needs {}",
                    user.extension,
                    user.missing_required().join(", ")
                );
                plan.invalid.push(InvalidRow {
                    row,
                    extension: Some(user.extension),
                    message: message.clone(),
                });
                Some(Planned::Invalid(message))
            }
            None => {
                plan.create.push(entry(None, Changed::default()));
                Some(Planned::Create)
            }
            Some(current) => {
                let changed = Changed::of(user, current, phones);
                let entry = entry(Some(current), changed);
                if changed.is_empty() {
                    plan.unchanged.push(entry);
                    Some(Planned::Unchanged)
                } else {
                    plan.update.push(entry);
                    applying.then(|| Planned::Update(Box::new(user.merged_over(current))))
                }
            }
        };
        if let Some(planned) = planned.filter(|_| applying) {
            plan.actions.insert(user.extension, planned);
        }
    }
    plan.only_in_account = account
        .unnamed()
        .map(|a| PlanEntry {
            row: None,
            user: a,
            current: None,
            changed: Changed::default(),
            app_id: None,
        })
        .collect();
    plan.counts = PlanCounts {
        create: plan.create.len() as u64,
        update: plan.update.len() as u64,
        unchanged: plan.unchanged.len() as u64,
        only_in_account: plan.only_in_account.len() as u64,
        invalid: plan.invalid.len() as u64,
    };
    plan
}

/// The account's users by extension, and which of them the sheet names: 9 bytes a user, where
/// a map and a set took 20 and more (a million-user plan's margin under 512 MB).
struct LiveIndex<'a> {
    live: &'a [User],
    /// (extension, walk position), sorted: an account that holds one extension twice keeps
    /// both, in the order walked.
    by_extension: Vec<(u32, u32)>,
    /// Beside each pair: the sheet names this extension, as a valid or an invalid row.
    named: Vec<bool>,
}

impl<'a> LiveIndex<'a> {
    fn new(live: &'a [User]) -> LiveIndex<'a> {
        let position = |i: usize| u32::try_from(i).expect("an account of under 4 billion users");
        let mut by_extension: Vec<(u32, u32)> = live
            .iter()
            .enumerate()
            .map(|(i, user)| (user.extension, position(i)))
            .collect();
        by_extension.sort_unstable();
        LiveIndex {
            live,
            named: vec![false; by_extension.len()],
            by_extension,
        }
    }

    /// Mark `extension` as in the sheet, and give its account user: the last walked, if the
    /// account holds it twice.
    fn name(&mut self, extension: u32) -> Option<&'a User> {
        let start = self.by_extension.partition_point(|&(e, _)| e < extension);
        let end = start
            + self.by_extension[start..]
                .iter()
                .take_while(|&&(e, _)| e == extension)
                .count();
        self.named[start..end].fill(true);
        let live = self.live;
        self.by_extension[start..end]
            .last()
            .map(|&(_, i)| &live[i as usize])
    }

    /// The users the sheet does not name, by extension.
    fn unnamed(&self) -> impl Iterator<Item = &'a User> + '_ {
        let live = self.live;
        self.by_extension
            .iter()
            .zip(&self.named)
            .filter(|(_, &named)| !named)
            .map(move |(&(_, i), _)| &live[i as usize])
    }
}

impl SyncPlan<'_> {
    /// A few lines for the terminal: counts, then the first entries of each kind.
    /// The plan for the terminal: counts, then up to `limit` entries of each list; `rest` says
    /// where a cut list can be read whole.
    pub fn describe(&self, limit: usize, rest: &str) -> String {
        let c = &self.counts;
        let mut text = format!(
            "plan: {} to create, {} to update, {} unchanged, {} only in the account (left alone: the API has no delete), {}\n",
            c.create, c.update, c.unchanged, c.only_in_account, text::count(c.invalid, "invalid row", "invalid rows")
        );
        let name = |entry: &PlanEntry| entry.name().unwrap_or_default().to_string();
        text += &text::listed(
            &self.create,
            limit,
            |e| format!("create {} {}", e.extension(), name(e)),
            rest,
        );
        text += &text::listed(
            &self.update,
            limit,
            |entry| {
                let fields: Vec<String> = entry
                    .changes()
                    .iter()
                    .map(|change| match (&change.old, &change.new) {
                        (None, None) => format!("{} changed", change.field),
                        (old, new) => format!(
                            "{}: {} -> {}",
                            change.field,
                            old.as_deref().unwrap_or("(none)"),
                            new.as_deref().unwrap_or("(none)")
                        ),
                    })
                    .collect();
                format!("update {} {}", entry.extension(), fields.join(", "))
            },
            rest,
        );
        text += &text::listed(
            &self.only_in_account,
            limit,
            |e| format!("only in the account {} {}", e.extension(), name(e)),
            rest,
        );
        text += &text::listed(
            &self.invalid,
            limit,
            |invalid| format!("invalid row {}: {}", invalid.row, invalid.message),
            rest,
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Secret;

    fn live(extension: u32, name: &str, phone: &str, password: &str) -> User {
        User {
            agent_id: Some(telecmi_agent_id(extension, "1").into()),
            extension,
            name: Some(name.into()),
            phone_number: Some(phone.into()),
            password: Some(Secret::new(password)),
            start_time: Some(9),
            end_time: Some(18),
            sms_alert: Some(true),
        }
    }

    fn row(
        extension: u32,
        name: Option<&str>,
        phone: Option<&str>,
        password: Option<&str>,
    ) -> User {
        User {
            extension,
            name: name.map(Into::into),
            phone_number: phone.map(Into::into),
            password: password.map(Secret::new),
            ..User::default()
        }
    }

    #[test]
    fn rows_sort_into_create_update_unchanged_and_only_in_account() {
        let account = vec![
            // National form in the account: the same number as the sheet's under region IN.
            live(101, "Asha  Rao", "092000 00101", "pw101pw"),
            live(102, "Ben", "919200000102", "pw102pw"),
            live(103, "Cara", "919200000103", "pw103pw"),
        ];
        let rows = vec![
            (1, row(101, Some("Asha Rao"), Some("919200000101"), None)),
            (2, row(102, None, Some("919299999999"), Some("new-secret"))),
            (
                3,
                row(104, Some("Dev"), Some("919200000104"), Some("pw104pw")),
            ),
            (4, row(105, Some("Eve"), None, None)),
        ];
        let india = PhoneRule::new(Some("IN".parse().unwrap()));
        let plan = plan(&rows, Vec::new(), &account, "1", &india, true);
        assert_eq!(
            plan.counts,
            PlanCounts {
                create: 1,
                update: 1,
                unchanged: 1,
                only_in_account: 1,
                invalid: 1
            }
        );
        let update = &plan.update[0];
        assert_eq!(update.extension(), 102);
        assert_eq!(
            update.changes()[0],
            FieldChange {
                field: "phone_number",
                old: Some("919200000102".into()),
                new: Some("919299999999".into())
            }
        );
        assert_eq!(
            update.changes()[1],
            FieldChange {
                field: "password",
                old: None,
                new: None
            }
        );
        let Planned::Update(merged) = &plan.actions[&102] else {
            panic!("update planned")
        };
        assert_eq!(
            merged.name.as_deref(),
            Some("Ben"),
            "cells left empty keep the account's value"
        );
        assert_eq!(plan.actions[&104], Planned::Create);
        assert_eq!(plan.only_in_account[0].extension(), 103);
        assert!(
            plan.invalid[0]
                .message
                .contains("needs phone_number, password"),
            "{:?}",
            plan.invalid
        );
        let json = serde_json::to_string(&plan).unwrap();
        assert!(
            !json.contains("new-secret") && !json.contains("pw102pw"),
            "{json}"
        );
        assert!(json.starts_with(
            "{\"counts\":{\"create\":1,\"update\":1,\"unchanged\":1,\"only_in_account\":1"
        ));
    }

    #[test]
    fn an_extension_the_account_holds_twice_is_matched_to_the_last_walked_and_listed_in_walk_order()
    {
        let mut first = live(101, "Old Copy", "919200000101", "pw");
        first.agent_id = Some("101_old".into());
        let mut second = live(101, "Asha Rao", "919200000101", "pw");
        second.agent_id = Some("101_new".into());
        let mut third = live(90, "Cara", "919200000090", "pw");
        third.agent_id = Some("90_a".into());
        let mut fourth = live(90, "Cara Two", "919200000090", "pw");
        fourth.agent_id = Some("90_b".into());
        // An invalid row's extension is in the sheet too: not only in the account.
        let fifth = live(300, "Gone", "919200000300", "pw");
        let account = vec![first, third, second, fourth, fifth];
        let rows = vec![(1, row(101, Some("Asha Rao"), None, None))];
        let invalid = vec![InvalidRow {
            row: 2,
            extension: Some(300),
            message: "bad".into(),
        }];
        let plan = plan(&rows, invalid, &account, "1", &PhoneRule::default(), false);
        assert_eq!(plan.counts.unchanged, 1, "compared with the last walked");
        let listed: Vec<_> = plan
            .only_in_account
            .iter()
            .map(|entry| entry.agent_id())
            .collect();
        assert_eq!(listed, ["90_a", "90_b"]);
    }
}
