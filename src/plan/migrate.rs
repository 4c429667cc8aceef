//! `roster migrate`: map a source roster (Smartflo, or another TeleCMI account) onto TeleCMI users.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::export::record::ExportRecord;
use crate::input::header::normalise;
use crate::input::{Delimiter, InputError, Sheet, TextEncoding};
use crate::model::{telecmi_agent_id, Secret, User};
use crate::phone::{PhoneRule, Reading};
use crate::validate::{check_extension, check_phone};

/// Which source column feeds each TeleCMI field, and the values every migrated user gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    pub fields: FieldSources,
    pub defaults: Defaults,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldSources {
    /// Source column for the name (falls back to `fallback_name` when empty).
    pub name: String,
    pub fallback_name: String,
    pub phone_number: String,
    pub extension: String,
    /// Source column holding a password to carry over (TeleCMI sources list them).
    pub password: String,
    /// Source column telling whether the user is enabled, and the value that means enabled.
    pub status: String,
    pub enabled_value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    pub start_time: Option<u8>,
    pub end_time: Option<u8>,
    pub sms_alert: Option<bool>,
}

impl Default for FieldSources {
    fn default() -> Self {
        FieldSources {
            name: "name".into(),
            fallback_name: "agent_name".into(),
            phone_number: "follow_me_number".into(),
            extension: "extension".into(),
            password: String::new(),
            status: "user_status".into(),
            enabled_value: "1".into(),
        }
    }
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            fields: FieldSources::default(),
            defaults: Defaults {
                start_time: None,
                end_time: None,
                sms_alert: Some(false),
            },
        }
    }
}

impl Mapping {
    /// The defaults for a TeleCMI source: its own fields, passwords carried over, everyone enabled.
    pub fn telecmi_source() -> Mapping {
        Mapping {
            fields: FieldSources {
                name: "name".into(),
                fallback_name: String::new(),
                phone_number: "phone_number".into(),
                extension: "extension".into(),
                password: "password".into(),
                status: String::new(),
                enabled_value: String::new(),
            },
            defaults: Defaults::default(),
        }
    }

    pub fn load(path: &Path, base: Mapping) -> Result<Mapping, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Overrides {
            #[serde(default)]
            fields: BTreeMap<String, String>,
            #[serde(default)]
            defaults: Option<Defaults>,
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let overrides: Overrides =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        let mut mapping = base;
        for (field, column) in overrides.fields {
            let slot = match field.as_str() {
                "name" => &mut mapping.fields.name,
                "fallback_name" => &mut mapping.fields.fallback_name,
                "phone_number" => &mut mapping.fields.phone_number,
                "extension" => &mut mapping.fields.extension,
                "password" => &mut mapping.fields.password,
                "status" => &mut mapping.fields.status,
                "enabled_value" => &mut mapping.fields.enabled_value,
                other => {
                    return Err(format!(
                        "{}: unknown field {other:?} under [fields]",
                        path.display()
                    ))
                }
            };
            *slot = column;
        }
        if let Some(defaults) = overrides.defaults {
            mapping.defaults = defaults;
        }
        Ok(mapping)
    }
}

/// How a migration chooses extensions and passwords.
#[derive(Debug, Clone)]
pub struct Options {
    pub extension_range: (u32, u32),
    pub extension_digits: (usize, usize),
    pub include_disabled: bool,
    pub password_length: usize,
    /// Passwords by source id or login id, from `--passwords`.
    pub passwords: HashMap<String, String>,
    pub app_id: String,
    /// How source and target phone numbers are read and compared.
    pub phones: PhoneRule,
}

/// One source user: its ids, and the value (trimmed) of each column its mapping reads.
#[derive(Debug, Default)]
pub struct SourceUser {
    pub id: String,
    pub login_id: String,
    pub name: String,
    pub fallback_name: String,
    pub phone_number: String,
    pub extension: String,
    pub password: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateEntry {
    pub source_id: String,
    pub extension: u32,
    pub agent_id: String,
    pub name: String,
    /// Why the extension differs from the source's, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unmappable {
    pub source_id: String,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetOnly {
    pub extension: u32,
    pub agent_id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrateCounts {
    pub create: u64,
    pub update: u64,
    pub unchanged: u64,
    pub only_in_account: u64,
    pub unmappable: u64,
}

/// The plan file (no passwords), and the users to create (with them) for the credentials file.
#[derive(Debug, Default, Serialize)]
pub struct MigratePlan {
    pub counts: MigrateCounts,
    pub create: Vec<MigrateEntry>,
    pub update: Vec<MigrateEntry>,
    /// Source users the target already has (same name and phone number).
    pub unchanged: Vec<MigrateEntry>,
    pub only_in_account: Vec<TargetOnly>,
    pub unmappable: Vec<Unmappable>,
    /// The users of `create`, in its order, with passwords and each one's source login id.
    #[serde(skip)]
    pub users: Vec<(User, String)>,
    /// Users to create whose phone number has no known country (no `--default-region`).
    #[serde(skip)]
    pub unplaced_phones: u64,
}

const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789@#%+=";

/// Symbols come last in the alphabet: a password never starts with one, so a spreadsheet opening the
/// credentials file cannot take it for a formula.
const ALPHANUMERIC: usize = 56;

/// A random password from the operating system's CSPRNG-seeded generator, with a letter and a digit.
pub fn generate_password(length: usize) -> String {
    loop {
        let password: String = (0..length.max(8))
            .map(|i| {
                let choices = if i == 0 {
                    ALPHANUMERIC
                } else {
                    PASSWORD_ALPHABET.len()
                };
                PASSWORD_ALPHABET[rand::random_range(0..choices)] as char
            })
            .collect();
        if password.bytes().any(|b| b.is_ascii_digit())
            && password.bytes().any(|b| b.is_ascii_alphabetic())
        {
            return password;
        }
    }
}

/// The target's users by person (phone key and name words), each the first in list order: a
/// source user is "already in the target" when a user with the same name and phone number is
/// (`same_name`, `PhoneRule::same`). One map look-up a source user, not a walk of the target.
struct People<'t> {
    first: HashMap<(String, String), &'t User>,
}

impl<'t> People<'t> {
    fn new(target: &'t [User], phones: &PhoneRule) -> People<'t> {
        let mut first = HashMap::with_capacity(target.len());
        for account in target {
            if let (Some(phone), Some(name)) = (&account.phone_number, &account.name) {
                first
                    .entry((phones.key(phone), name_words(name)))
                    .or_insert(account);
            }
        }
        People { first }
    }

    fn find(&self, name: &str, phone: &str, phones: &PhoneRule) -> Option<&'t User> {
        self.first
            .get(&(phones.key(phone), name_words(name)))
            .copied()
    }
}

/// A name's words joined by one space: equal exactly when `same_name` says the names are.
fn name_words(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Map every source user onto the target account. Each source user is dropped once its entry
/// is made, so the plan never holds the whole source beside every user it creates.
pub fn plan(
    sources: Vec<SourceUser>,
    target: &[User],
    mapping: &Mapping,
    options: &Options,
) -> MigratePlan {
    let mut plan = MigratePlan::default();
    let mut taken: HashSet<u32> = target.iter().map(|a| a.extension).collect();
    let mut matched_targets = HashSet::new();
    let people = People::new(target, &options.phones);
    let mut next_free = options.extension_range.0;
    let fields = &mapping.fields;
    // First pass: who can be migrated at all.
    let mut candidates: Vec<(SourceUser, String, Reading)> = Vec::new();
    for source in sources {
        let mut name = source.name.clone();
        if name.is_empty() {
            name = source.fallback_name.clone();
        }
        let unmappable = |reason: String| Unmappable {
            source_id: source.id.clone(),
            name: name.clone(),
            reason,
        };
        if !fields.status.is_empty()
            && !options.include_disabled
            && source.status != fields.enabled_value
        {
            plan.unmappable.push(unmappable(
                "disabled in the source (pass --include-disabled to migrate it)".into(),
            ));
            continue;
        }
        if name.is_empty() {
            plan.unmappable.push(unmappable("no name".into()));
            continue;
        }
        let raw_phone = source.phone_number.as_str();
        if raw_phone.is_empty() {
            plan.unmappable.push(unmappable(format!(
                "no phone number ({} is empty)",
                fields.phone_number
            )));
            continue;
        }
        let phone = match check_phone(raw_phone, &options.phones) {
            Ok(phone) => phone,
            Err(rule) => {
                plan.unmappable
                    .push(unmappable(format!("phone number {raw_phone:?}: {rule}")));
                continue;
            }
        };
        if let Some(existing) = people.find(&name, phone.digits(), &options.phones) {
            matched_targets.insert(existing.extension);
            plan.unchanged.push(MigrateEntry {
                source_id: source.id.clone(),
                extension: existing.extension,
                agent_id: existing.agent_id.as_deref().unwrap_or_default().to_string(),
                name,
                note: Some("already in the target (same name and phone number)".into()),
            });
            continue;
        }
        candidates.push((source, name, phone));
    }
    // Second pass: every valid, free source extension is reserved before any is allocated, so an
    // allocation never takes the extension a later source user brings (duplicates: the first wins).
    let kept: Vec<Option<u32>> = candidates
        .iter()
        .map(|(source, _, _)| {
            check_extension(source.extension.as_str(), options.extension_digits)
                .ok()
                .filter(|extension| taken.insert(*extension))
        })
        .collect();
    for ((source, name, phone), kept) in candidates.into_iter().zip(kept) {
        let unmappable = |reason: String| Unmappable {
            source_id: source.id.clone(),
            name: name.clone(),
            reason,
        };
        let wanted = source.extension.as_str();
        let (extension, note) = match kept {
            Some(extension) => (extension, None),
            None => {
                while next_free <= options.extension_range.1 && taken.contains(&next_free) {
                    next_free = next_free.saturating_add(1);
                }
                if next_free > options.extension_range.1 || taken.contains(&next_free) {
                    plan.unmappable.push(unmappable(format!(
                        "no free extension left in {}-{}",
                        options.extension_range.0, options.extension_range.1
                    )));
                    continue;
                }
                let why = match wanted {
                    "" => "the source has no extension".to_string(),
                    w if check_extension(w, options.extension_digits).is_err() => {
                        format!("source extension {w:?} is not valid")
                    }
                    w => format!("source extension {w} is taken"),
                };
                taken.insert(next_free);
                (next_free, Some(format!("allocated: {why}")))
            }
        };
        let password = options
            .passwords
            .get(&source.id)
            .or_else(|| options.passwords.get(&source.login_id))
            .cloned()
            .or_else(|| Some(source.password.clone()).filter(|p| !p.is_empty()))
            .unwrap_or_else(|| generate_password(options.password_length));
        let agent_id = telecmi_agent_id(extension, &options.app_id);
        if let Reading::Unplaced(_) = phone {
            plan.unplaced_phones += 1;
        }
        let user = User {
            agent_id: Some(agent_id.as_str().into()),
            extension,
            name: Some(name.as_str().into()),
            phone_number: Some(phone.into_digits().into()),
            password: Some(Secret::new(password)),
            start_time: mapping.defaults.start_time,
            end_time: mapping.defaults.end_time,
            sms_alert: mapping.defaults.sms_alert,
        };
        let entry = MigrateEntry {
            source_id: source.id,
            extension,
            agent_id,
            name,
            note,
        };
        plan.create.push(entry);
        plan.users.push((user, source.login_id));
    }
    plan.only_in_account = target
        .iter()
        .filter(|t| !matched_targets.contains(&t.extension))
        .map(|t| TargetOnly {
            extension: t.extension,
            agent_id: t.agent_id.as_deref().unwrap_or_default().to_string(),
            name: t.name.as_deref().map(str::to_string),
        })
        .collect();
    plan.counts = MigrateCounts {
        create: plan.create.len() as u64,
        update: 0,
        unchanged: plan.unchanged.len() as u64,
        only_in_account: plan.only_in_account.len() as u64,
        unmappable: plan.unmappable.len() as u64,
    };
    plan
}

/// The columns of the credentials file: an import sheet (`roster import FILE --mode add`) plus
/// the source references.
pub const CREDENTIAL_COLUMNS: [&str; 10] = [
    "agent_id",
    "extension",
    "name",
    "password",
    "phone_number",
    "start_time",
    "end_time",
    "sms_alert",
    "source_id",
    "login_id",
];

/// Passwords to carry over: `password` plus an `id`, `source_id` or `login_id` column.
pub fn read_passwords(path: &Path) -> Result<HashMap<String, String>, InputError> {
    let bad = |problem: String| InputError::Header {
        path: path.to_path_buf(),
        problem,
    };
    // The same reader as an import's: CSV in any encoding, or a workbook's first sheet.
    let mut sheet = Sheet::open(path, Delimiter::Auto, TextEncoding::Auto)?;
    let find = |names: &[&str]| {
        sheet.header().iter().position(|h| {
            std::str::from_utf8(h).is_ok_and(|h| names.contains(&normalise(h).as_str()))
        })
    };
    let key = find(&["source_id", "id", "login_id"])
        .ok_or_else(|| bad("no id, source_id or login_id column".into()))?;
    let password = find(&["password"]).ok_or_else(|| bad("no password column".into()))?;
    let mut passwords = HashMap::new();
    let mut record = csv::ByteRecord::new();
    while let Some(position) = sheet.next_record(&mut record)? {
        let cell = |index: usize| {
            std::str::from_utf8(record.get(index).unwrap_or_default())
                .map_err(|_| bad(format!("{position}: not valid UTF-8 text")))
        };
        let (k, p) = (cell(key)?, cell(password)?);
        if !k.trim().is_empty() && !p.is_empty() {
            passwords.insert(k.trim().to_string(), p.to_string());
        }
    }
    Ok(passwords)
}

/// Source users by their export columns, so a mapping can name any column; each user keeps
/// only the values its mapping reads, and each record is dropped as it is read, so the walk's
/// records and every column of every user are never all held at once.
pub fn source_users<R: ExportRecord>(
    users: Vec<R>,
    login_column: &str,
    fields: &FieldSources,
) -> Vec<SourceUser> {
    let at = |name: &str| R::COLUMNS.iter().position(|column| *column == name);
    let (login, name, fallback_name, phone_number, extension, password, status) = (
        at(login_column),
        at(&fields.name),
        at(&fields.fallback_name),
        at(&fields.phone_number),
        at(&fields.extension),
        at(&fields.password),
        at(&fields.status),
    );
    users
        .into_iter()
        .map(|user| {
            let values = user.values(true);
            let as_written = |at: Option<usize>| match at.and_then(|at| values.get(at)) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
            let value = |at: Option<usize>| {
                let text = as_written(at);
                match text.trim() {
                    trimmed if trimmed.len() == text.len() => text,
                    trimmed => trimmed.to_string(),
                }
            };
            SourceUser {
                id: user.key(),
                login_id: as_written(login),
                name: value(name),
                fallback_name: value(fallback_name),
                phone_number: value(phone_number),
                extension: value(extension),
                password: value(password),
                status: value(status),
            }
        })
        .collect()
}

/// Write the users to create, passwords included, as CSV.
pub fn write_credentials(out: &mut dyn std::io::Write, plan: &MigratePlan) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CREDENTIAL_COLUMNS)?;
    let text = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_default();
    for (entry, (user, login_id)) in plan.create.iter().zip(&plan.users) {
        writer.write_record([
            entry.agent_id.as_str(),
            &user.extension.to_string(),
            user.name.as_deref().unwrap_or_default(),
            user.password
                .as_ref()
                .map(Secret::expose)
                .unwrap_or_default(),
            user.phone_number.as_deref().unwrap_or_default(),
            &text(user.start_time),
            &text(user.end_time),
            &user.sms_alert.map(|v| v.to_string()).unwrap_or_default(),
            &entry.source_id,
            login_id,
        ])?;
    }
    writer.flush()
}

impl MigratePlan {
    /// The plan for the terminal: counts, then up to `limit` entries of each list; `rest` says
    /// where a cut list can be read whole.
    pub fn describe(&self, limit: usize, rest: &str) -> String {
        let c = &self.counts;
        let mut text = format!(
            "migration plan: {} to create, {} already in the target, {} unmappable, {} only in the target (left alone)\n",
            c.create, c.unchanged, c.unmappable, c.only_in_account
        );
        text += &crate::text::listed(
            &self.create,
            limit,
            |entry| {
                let note = entry
                    .note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                format!(
                    "create {} {} from {}{note}",
                    entry.extension, entry.name, entry.source_id
                )
            },
            rest,
        );
        text += &crate::text::listed(
            &self.unmappable,
            limit,
            |skipped| {
                format!(
                    "unmappable {} {}: {}",
                    skipped.source_id, skipped.name, skipped.reason
                )
            },
            rest,
        );
        text
    }
}

#[cfg(test)]
mod tests {
    mod people {
        use super::super::*;
        use crate::model::same_name;
        use proptest::prelude::*;

        /// The rule as first written: a walk of the target for the first user with the same
        /// name and phone number.
        fn walk<'t>(
            target: &'t [User],
            name: &str,
            phone: &str,
            phones: &PhoneRule,
        ) -> Option<&'t User> {
            target.iter().find(|t| {
                t.phone_number
                    .as_deref()
                    .is_some_and(|p| phones.same(p, phone))
                    && t.name.as_deref().is_some_and(|n| same_name(n, name))
            })
        }

        fn person() -> impl Strategy<Value = (Option<String>, Option<String>)> {
            let name = prop::option::of(
                prop::sample::select(vec!["Asha Rao", " Asha  Rao", "Asha\nRao", "Ravi", ""])
                    .prop_map(String::from),
            );
            let phone = prop::option::of(
                prop::sample::select(vec![
                    "+919200000001",
                    "919200000001",
                    "092000 00001",
                    "12",
                    "+919200000002",
                    "abc",
                ])
                .prop_map(String::from),
            );
            (name, phone)
        }

        proptest! {
            #[test]
            fn the_map_finds_whom_the_walk_finds(people in prop::collection::vec(person(), 0..12), (name, phone) in person(), india in any::<bool>()) {
                let phones = PhoneRule::new(india.then(|| "IN".parse().unwrap()));
                let target: Vec<User> = people
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, phone_number))| User { extension: 100 + i as u32, name: name.map(Into::into), phone_number: phone_number.map(Into::into), ..User::default() })
                    .collect();
                let (name, phone) = (name.unwrap_or_default(), phone.unwrap_or_default());
                let map = People::new(&target, &phones);
                prop_assert_eq!(
                    map.find(&name, &phone, &phones).map(|t| t.extension),
                    walk(&target, &name, &phone, &phones).map(|t| t.extension)
                );
            }
        }
    }

    use super::*;
    use crate::model::AccountUser;

    fn source(id: u64, name: &str, extension: &str, phone: &str, status: &str) -> SourceUser {
        SourceUser {
            id: id.to_string(),
            login_id: format!("user{id}@example.com"),
            name: name.into(),
            extension: extension.into(),
            phone_number: phone.into(),
            status: status.into(),
            ..SourceUser::default()
        }
    }

    fn target(extension: u32, name: &str, phone: &str) -> User {
        User {
            agent_id: Some(telecmi_agent_id(extension, "7").into()),
            extension,
            name: Some(name.into()),
            phone_number: Some(phone.into()),
            ..User::default()
        }
    }

    #[test]
    fn a_source_user_keeps_the_columns_its_mapping_names() {
        let fields = FieldSources {
            name: "last_name".into(),
            fallback_name: "name".into(),
            phone_number: "phone_number".into(),
            password: String::new(),
            status: String::new(),
            ..FieldSources::default()
        };
        let account = AccountUser {
            user: target(101, "Asha Rao", "919812300001"),
            first_name: String::new(),
            last_name: " Rao ".into(),
        };
        let [source]: [SourceUser; 1] = source_users(vec![account], "agent_id", &fields)
            .try_into()
            .unwrap();
        assert_eq!(source.name, "Rao", "trimmed");
        assert_eq!(source.fallback_name, "Asha Rao");
        assert_eq!(source.phone_number, "919812300001");
        assert_eq!(source.extension, "101");
        assert_eq!(source.login_id, telecmi_agent_id(101, "7"));
        assert_eq!((source.password.as_str(), source.status.as_str()), ("", ""));
    }

    fn options() -> Options {
        Options {
            extension_range: (100, 102),
            extension_digits: (2, 6),
            include_disabled: false,
            password_length: 12,
            passwords: HashMap::from([(
                "user3@example.com".to_string(),
                "Given#Pass3".to_string(),
            )]),
            app_id: "7".into(),
            phones: PhoneRule::new(Some("IN".parse().unwrap())),
        }
    }

    #[test]
    fn extensions_are_kept_when_free_and_allocated_otherwise() {
        let sources = vec![
            source(1, "Asha", "2001", "+91 98000 00001", "1"),
            source(2, "Ben", "2001", "+919800000002", "1"), // duplicate extension
            source(3, "Cara", "", "919800000003", "1"),     // no extension
            source(4, "Dev", "100", "919800000004", "1"),   // taken in the target
            source(5, "Eve", "2005", "", "1"),              // no phone
            source(6, "Fay", "2006", "919800000006", "2"),  // disabled
            source(7, "Gus", "2007", "919800000007", "1"),  // range exhausted? no: kept
            source(8, "Old Hand", "2008", "98000 00008", "1"), // national, as Smartflo keeps it
        ];
        let targets = vec![
            target(100, "Someone", "919811111111"),
            target(300, "Old  Hand", "+91 98000 00008"),
        ];
        let plan = plan(sources, &targets, &Mapping::default(), &options());
        let extensions: Vec<(String, u32)> = plan
            .create
            .iter()
            .map(|e| (e.name.clone(), e.extension))
            .collect();
        assert_eq!(
            extensions,
            [
                ("Asha".into(), 2001),
                ("Ben".into(), 101),
                ("Cara".into(), 102),
                ("Gus".into(), 2007)
            ],
        );
        let reasons: Vec<&str> = plan.unmappable.iter().map(|u| u.reason.as_str()).collect();
        assert!(reasons[0].starts_with("no phone number"), "{reasons:?}");
        assert!(reasons[1].starts_with("disabled"), "{reasons:?}");
        assert!(
            reasons[2].starts_with("no free extension"),
            "Dev: {reasons:?}"
        );
        assert_eq!(
            plan.unchanged[0].extension, 300,
            "already migrated: same name and phone"
        );
        assert_eq!(plan.counts.only_in_account, 1);
        let asha = &plan.users[0].0;
        assert_eq!(
            asha.phone_number.as_deref(),
            Some("919800000001"),
            "sent as E.164 digits without the +"
        );
        assert_eq!(asha.sms_alert, Some(false));
        let cara_password = plan.users[2].0.password.as_ref().unwrap().expose();
        assert_eq!(
            cara_password, "Given#Pass3",
            "passwords from --passwords by login id"
        );
        let generated = plan.users[0].0.password.as_ref().unwrap().expose();
        assert_eq!(generated.len(), 12);
        assert!(
            !serde_json::to_string(&plan).unwrap().contains(generated),
            "the plan never holds passwords"
        );
    }

    #[test]
    fn a_source_extension_is_reserved_before_any_allocation() {
        let sources = vec![
            source(1, "No Extension", "", "919800000001", "1"),
            source(2, "Brings 100", "100", "919800000002", "1"),
        ];
        let plan = plan(sources, &[], &Mapping::default(), &options());
        let extensions: Vec<u32> = plan.create.iter().map(|e| e.extension).collect();
        assert_eq!(extensions, [101, 100]);
    }

    #[test]
    fn generated_passwords_differ_and_mix_letters_and_digits() {
        let a = generate_password(12);
        let b = generate_password(12);
        assert_ne!(a, b);
        assert!(
            a.bytes().any(|c| c.is_ascii_digit()) && a.bytes().any(|c| c.is_ascii_alphabetic())
        );
    }

    #[test]
    fn a_mapping_file_overrides_fields_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mapping.toml");
        std::fs::write(&path, "[fields]\nname = \"agent_name\"\n[defaults]\nsms_alert = true\nstart_time = 9\nend_time = 18\n").unwrap();
        let mapping = Mapping::load(&path, Mapping::default()).unwrap();
        assert_eq!(mapping.fields.name, "agent_name");
        assert_eq!(
            mapping.fields.phone_number, "follow_me_number",
            "fields not named keep their default"
        );
        assert_eq!(mapping.defaults.start_time, Some(9));
        std::fs::write(&path, "[fields]\nnmae = \"x\"\n").unwrap();
        assert!(Mapping::load(&path, Mapping::default())
            .unwrap_err()
            .contains("unknown field"));
    }
}
