//! `roster migrate`: map a source roster (Smartflo, or another TeleCMI account) onto TeleCMI users.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::path::Path;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::export::record::ExportRecord;
use crate::export::Chunked;
use crate::input::header::normalise;
use crate::input::{Delimiter, InputError, Sheet, TextEncoding};
use crate::model::{same_name, telecmi_agent_id, Secret, User};
use crate::phone::{self, PhoneRule, Reading};
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

/// One source user: its ids, and the values (trimmed) its mapping reads, each inline up to 24
/// bytes, as a million are held at once.
#[derive(Debug, Default)]
pub struct SourceUser {
    pub id: CompactString,
    pub login_id: CompactString,
    /// The name column's value, else the fallback name column's.
    pub name: CompactString,
    pub phone_number: CompactString,
    pub extension: CompactString,
    pub password: CompactString,
    /// The status column holds the value that means enabled, or no status column is mapped.
    pub enabled: bool,
}

/// A plan file entry: owned for a user already in the target, borrowed from a [`Creation`].
#[derive(Debug, Clone, Serialize)]
pub struct MigrateEntry<Text = String> {
    pub source_id: Text,
    pub extension: u32,
    pub agent_id: Text,
    pub name: Text,
    /// Why the extension differs from the source's, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A user to create, with its password, and where it came from: the credentials file's row and
/// the plan file's entry, held once.
#[derive(Debug)]
pub struct Creation {
    pub user: User,
    pub source_id: CompactString,
    pub login_id: CompactString,
    pub allocated: Option<Allocated>,
}

impl Creation {
    fn entry(&self) -> MigrateEntry<&str> {
        MigrateEntry {
            source_id: &self.source_id,
            extension: self.user.extension,
            agent_id: self.user.agent_id.as_deref().unwrap_or_default(),
            name: self.user.name.as_deref().unwrap_or_default(),
            note: self.allocated.as_ref().map(ToString::to_string),
        }
    }
}

impl Serialize for Creation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entry().serialize(serializer)
    }
}

/// Why a user to create gets an extension other than its source's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocated {
    NoSourceExtension,
    NotValid(CompactString),
    Taken(CompactString),
}

impl std::fmt::Display for Allocated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Allocated::NoSourceExtension => write!(f, "allocated: the source has no extension"),
            Allocated::NotValid(wanted) => {
                write!(f, "allocated: source extension {wanted:?} is not valid")
            }
            Allocated::Taken(wanted) => write!(f, "allocated: source extension {wanted} is taken"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Unmappable {
    pub source_id: CompactString,
    pub name: CompactString,
    pub reason: Cow<'static, str>,
}

/// A target user no source user is, borrowed from the target roster, which outlives the plan;
/// in the plan file, its extension, id and name.
#[derive(Debug, Clone)]
pub struct TargetOnly<'t>(&'t User);

impl Serialize for TargetOnly<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut entry = serializer.serialize_struct("TargetOnly", 3)?;
        entry.serialize_field("extension", &self.0.extension)?;
        entry.serialize_field("agent_id", self.0.agent_id.as_deref().unwrap_or_default())?;
        entry.serialize_field("name", &self.0.name)?;
        entry.end()
    }
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
pub struct MigratePlan<'t> {
    pub counts: MigrateCounts,
    pub create: Vec<Creation>,
    pub update: Vec<MigrateEntry>,
    /// Source users the target already has (same name and phone number).
    pub unchanged: Vec<MigrateEntry>,
    pub only_in_account: Vec<TargetOnly<'t>>,
    pub unmappable: Vec<Unmappable>,
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
    use rand::RngExt;
    let mut rng = rand::rng();
    loop {
        let password: String = (0..length.max(8))
            .map(|i| {
                let choices = if i == 0 {
                    ALPHANUMERIC
                } else {
                    PASSWORD_ALPHABET.len()
                };
                PASSWORD_ALPHABET[rng.random_range(0..choices)] as char
            })
            .collect();
        if password.bytes().any(|b| b.is_ascii_digit())
            && password.bytes().any(|b| b.is_ascii_alphabetic())
        {
            return password;
        }
    }
}

/// The target's users by person: a source user is "already in the target" when a user with the
/// same name and phone number is (`same_name`, `PhoneRule::same`), the first in list order. Users
/// are indexed by a hash of their name's words and of the digits every phone key ends with
/// ([`phone::kept_tail`]), so a number is read only beside a user that may be the same person:
/// a million-user target is indexed in 24 MB and a million look-ups read almost none.
struct People<'t> {
    target: &'t [User],
    /// (person hash, list position), sorted: equal hashes in list order.
    index: Vec<(u64, u32)>,
    /// Where the hashes starting with each value of their top `bits` bits begin in `index`: a
    /// look-up is two reads of memory, not a binary search's twenty.
    starts: Vec<u32>,
    bits: u32,
    /// Seeded for this run, so no roster can be made to put everyone under one hash.
    hashing: foldhash::quality::RandomState,
}

impl<'t> People<'t> {
    fn new(target: &'t [User]) -> People<'t> {
        let hashing = foldhash::quality::RandomState::default();
        let mut index: Vec<(u64, u32)> = target
            .iter()
            .zip(0u32..)
            .filter_map(|(user, at)| match (&user.phone_number, &user.name) {
                (Some(phone), Some(name)) => Some((person_hash(&hashing, name, phone), at)),
                _ => None,
            })
            .collect();
        index.sort_unstable();
        let bits = index.len().next_power_of_two().trailing_zeros();
        let mut starts = vec![0u32; (1 << bits) + 1];
        for (hash, _) in &index {
            starts[top(*hash, bits) + 1] += 1;
        }
        for at in 1..starts.len() {
            starts[at] += starts[at - 1];
        }
        People {
            target,
            index,
            starts,
            bits,
            hashing,
        }
    }

    fn find(&self, name: &str, phone: &str, phones: &PhoneRule) -> Option<&'t User> {
        let hash = person_hash(&self.hashing, name, phone);
        let bucket = top(hash, self.bits);
        let run = &self.index[self.starts[bucket] as usize..self.starts[bucket + 1] as usize];
        let key = std::cell::OnceCell::new();
        run.iter()
            .skip_while(|(h, _)| *h < hash)
            .take_while(|(h, _)| *h == hash)
            .map(|(_, at)| &self.target[*at as usize])
            .find(|user| {
                user.name.as_deref().is_some_and(|n| same_name(n, name))
                    && user
                        .phone_number
                        .as_deref()
                        .is_some_and(|p| phones.key(p) == *key.get_or_init(|| phones.key(phone)))
            })
    }
}

/// The top `bits` bits of `hash`.
fn top(hash: u64, bits: u32) -> usize {
    hash.checked_shr(u64::BITS - bits).unwrap_or(0) as usize
}

/// What two numbers that are the same, under the same name, have in common: a hash of the name's
/// words (as `same_name` compares them) and of the digits the numbers' keys end with.
fn person_hash(hashing: &impl BuildHasher, name: &str, phone: &str) -> u64 {
    let mut hasher = hashing.build_hasher();
    phone::kept_tail(phone).hash(&mut hasher);
    for word in name.split_whitespace() {
        word.hash(&mut hasher);
    }
    hasher.finish()
}

/// What the first look makes of a source user: one that cannot be migrated (why), one the target
/// already has, or one to create.
enum Look<'t> {
    Unmappable(Cow<'static, str>),
    InTarget(&'t User),
    Candidate(Candidate),
}

/// A source user that can be migrated: everything about it that does not hang on the users before
/// it, worked out on every core.
struct Candidate {
    /// Its number as read: the digits to send, and whether its country is unknown.
    number: CompactString,
    unplaced: bool,
    /// Its own extension, when that is valid; whether it keeps it is settled in source order.
    own: Option<u32>,
    kept: bool,
}

/// Whether `source` can be migrated, and when it can, what it is created with.
fn first_look<'t>(
    source: &SourceUser,
    people: &People<'t>,
    mapping: &Mapping,
    options: &Options,
) -> Look<'t> {
    if !source.enabled && !options.include_disabled {
        return Look::Unmappable(
            "disabled in the source (pass --include-disabled to migrate it)".into(),
        );
    }
    if source.name.is_empty() {
        return Look::Unmappable("no name".into());
    }
    let written = source.phone_number.as_str();
    if written.is_empty() {
        let column = &mapping.fields.phone_number;
        return Look::Unmappable(format!("no phone number ({column} is empty)").into());
    }
    let number = match check_phone(written, &options.phones) {
        Ok(number) => number,
        Err(rule) => return Look::Unmappable(format!("phone number {written:?}: {rule}").into()),
    };
    if let Some(existing) = people.find(&source.name, number.digits(), &options.phones) {
        return Look::InTarget(existing);
    }
    Look::Candidate(Candidate {
        number: CompactString::new(number.digits()),
        unplaced: matches!(number, Reading::Unplaced(_)),
        own: check_extension(source.extension.as_str(), options.extension_digits).ok(),
        kept: false,
    })
}

/// Map every source user onto the target account.
pub fn plan<'t>(
    sources: Chunked<SourceUser>,
    target: &'t [User],
    mapping: &Mapping,
    options: &Options,
) -> MigratePlan<'t> {
    let mut plan = MigratePlan::default();
    let mut taken: foldhash::HashSet<u32> = target.iter().map(|a| a.extension).collect();
    let mut matched_targets = foldhash::HashSet::default();
    let people = People::new(target);
    let mut next_free = options.extension_range.0;
    // First look: who can be migrated at all, and with what, on every core (reading numbers is
    // most of a plan's time). Then, in order, every valid, free source extension is reserved
    // before any is allocated, so an allocation never takes the extension a later source user
    // brings (duplicates: the first wins). The looks are chunked as the users are, and let go
    // with them.
    let mut looks =
        sources.map_on_every_core(|source| first_look(source, &people, mapping, options));
    drop(people);
    let mut to_create = 0;
    for (source, look) in sources.iter().zip(looks.iter_mut()) {
        match look {
            Look::Candidate(candidate) => {
                to_create += 1;
                candidate.kept = candidate.own.is_some_and(|own| taken.insert(own));
            }
            Look::Unmappable(reason) => plan.unmappable.push(Unmappable {
                source_id: source.id.clone(),
                name: source.name.clone(),
                reason: std::mem::take(reason),
            }),
            Look::InTarget(existing) => {
                matched_targets.insert(existing.extension);
                plan.unchanged.push(MigrateEntry {
                    source_id: source.id.to_string(),
                    extension: existing.extension,
                    agent_id: existing.agent_id.as_deref().unwrap_or_default().to_string(),
                    name: source.name.to_string(),
                    note: Some("already in the target (same name and phone number)".into()),
                });
            }
        }
    }
    // Second pass: where each one goes.
    plan.create.reserve_exact(to_create);
    for (source, look) in sources.into_iter().zip(looks) {
        let Look::Candidate(candidate) = look else {
            continue;
        };
        let (extension, allocated) = match candidate.own.filter(|_| candidate.kept) {
            Some(extension) => (extension, None),
            None => {
                while next_free <= options.extension_range.1 && taken.contains(&next_free) {
                    next_free = next_free.saturating_add(1);
                }
                if next_free > options.extension_range.1 || taken.contains(&next_free) {
                    plan.unmappable.push(Unmappable {
                        reason: format!(
                            "no free extension left in {}-{}",
                            options.extension_range.0, options.extension_range.1
                        )
                        .into(),
                        source_id: source.id,
                        name: source.name,
                    });
                    continue;
                }
                let why = match candidate.own {
                    _ if source.extension.is_empty() => Allocated::NoSourceExtension,
                    None => Allocated::NotValid(source.extension),
                    Some(_) => Allocated::Taken(source.extension),
                };
                taken.insert(next_free);
                (next_free, Some(why))
            }
        };
        let password = options
            .passwords
            .get(source.id.as_str())
            .or_else(|| options.passwords.get(source.login_id.as_str()))
            .cloned()
            .or_else(|| Some(source.password.to_string()).filter(|p| !p.is_empty()))
            .unwrap_or_else(|| generate_password(options.password_length));
        if candidate.unplaced {
            plan.unplaced_phones += 1;
        }
        plan.create.push(Creation {
            user: User {
                agent_id: Some(telecmi_agent_id(extension, &options.app_id).into()),
                extension,
                name: Some(source.name),
                phone_number: Some(candidate.number),
                password: Some(Secret::new(password)),
                start_time: mapping.defaults.start_time,
                end_time: mapping.defaults.end_time,
                sms_alert: mapping.defaults.sms_alert,
            },
            source_id: source.id,
            login_id: source.login_id,
            allocated,
        });
    }
    plan.only_in_account = target
        .iter()
        .filter(|t| !matched_targets.contains(&t.extension))
        .map(TargetOnly)
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

/// What a source user is kept as, from its export columns, so a mapping can name any column: only
/// the values the mapping reads, made from each record as it is walked.
pub fn source_user<R: ExportRecord>(
    login_column: &str,
    fields: &FieldSources,
) -> impl Fn(&R) -> SourceUser + use<R> {
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
    let (status_mapped, enabled_value) = (!fields.status.is_empty(), fields.enabled_value.clone());
    move |user: &R| {
        let values = user.values(true);
        let written = |at: Option<usize>, trim: bool| match at.and_then(|at| values.get(at)) {
            None | Some(serde_json::Value::Null) => CompactString::default(),
            Some(serde_json::Value::String(text)) if trim => CompactString::new(text.trim()),
            Some(serde_json::Value::String(text)) => CompactString::new(text),
            Some(other) => compact_str::format_compact!("{other}"),
        };
        let mut name = written(name, true);
        if name.is_empty() {
            name = written(fallback_name, true);
        }
        SourceUser {
            id: CompactString::new(user.key()),
            login_id: written(login, false),
            name,
            phone_number: written(phone_number, true),
            extension: written(extension, true),
            password: written(password, true),
            enabled: !status_mapped || written(status, true) == enabled_value,
        }
    }
}

/// Write the users to create, passwords included, as CSV.
pub fn write_credentials(
    out: &mut dyn std::io::Write,
    plan: &MigratePlan<'_>,
) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CREDENTIAL_COLUMNS)?;
    let text = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_default();
    for creation in &plan.create {
        let user = &creation.user;
        writer.write_record([
            user.agent_id.as_deref().unwrap_or_default(),
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
            &creation.source_id,
            &creation.login_id,
        ])?;
    }
    writer.flush()
}

impl MigratePlan<'_> {
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
            |creation| {
                let entry = creation.entry();
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
                let map = People::new(&target);
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
            id: id.to_string().into(),
            login_id: format!("user{id}@example.com").into(),
            name: name.into(),
            extension: extension.into(),
            phone_number: phone.into(),
            enabled: status == Mapping::default().fields.enabled_value,
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
        let mut account = AccountUser {
            user: target(101, "Asha Rao", "919812300001"),
            first_name: String::new(),
            last_name: " Rao ".into(),
        };
        let source = source_user::<AccountUser>("agent_id", &fields)(&account);
        assert_eq!(source.name, "Rao", "trimmed");
        assert_eq!(source.phone_number, "919812300001");
        assert_eq!(source.extension, "101");
        assert_eq!(source.login_id, telecmi_agent_id(101, "7"));
        assert_eq!(source.password, "");
        assert!(source.enabled, "no status column: everyone is enabled");

        account.last_name = "  ".into();
        let source = source_user::<AccountUser>("agent_id", &fields)(&account);
        assert_eq!(source.name, "Asha Rao", "an empty name falls back");

        let fields = FieldSources {
            status: "sms_alert".into(),
            enabled_value: "true".into(),
            ..fields
        };
        let source = source_user::<AccountUser>("agent_id", &fields)(&account);
        assert!(!source.enabled, "the status column lacks the enabled value");
        account.user.sms_alert = Some(true);
        let source = source_user::<AccountUser>("agent_id", &fields)(&account);
        assert!(source.enabled);
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
        let plan = plan(
            sources.into_iter().collect(),
            &targets,
            &Mapping::default(),
            &options(),
        );
        let extensions: Vec<(String, u32)> = plan
            .create
            .iter()
            .map(|e| {
                (
                    e.user.name.as_deref().unwrap().to_string(),
                    e.user.extension,
                )
            })
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
        let reasons: Vec<&str> = plan.unmappable.iter().map(|u| &*u.reason).collect();
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
        let asha = &plan.create[0].user;
        assert_eq!(
            asha.phone_number.as_deref(),
            Some("919800000001"),
            "sent as E.164 digits without the +"
        );
        assert_eq!(asha.sms_alert, Some(false));
        let cara_password = plan.create[2].user.password.as_ref().unwrap().expose();
        assert_eq!(
            cara_password, "Given#Pass3",
            "passwords from --passwords by login id"
        );
        let generated = plan.create[0].user.password.as_ref().unwrap().expose();
        assert_eq!(generated.len(), 12);
        assert!(
            !serde_json::to_string(&plan).unwrap().contains(generated),
            "the plan never holds passwords"
        );
    }

    #[test]
    fn why_an_extension_was_allocated_is_noted() {
        let sources = vec![
            source(1, "Asha", "2001", "919800000001", "1"),
            source(2, "Ben", "2001", "919800000002", "1"), // repeats Asha's
            source(3, "Cara", "", "919800000003", "1"),
            source(4, "Dev", "12a", "919800000004", "1"),
            source(5, "Eve", "100", "919800000005", "1"), // the target's
        ];
        let options = Options {
            extension_range: (100, 109),
            ..options()
        };
        let targets = [target(100, "Someone", "919811111111")];
        let plan = plan(
            sources.into_iter().collect(),
            &targets,
            &Mapping::default(),
            &options,
        );
        let allocated: Vec<(u32, Option<Allocated>)> = plan
            .create
            .iter()
            .map(|c| (c.user.extension, c.allocated.clone()))
            .collect();
        assert_eq!(
            allocated,
            [
                (2001, None),
                (101, Some(Allocated::Taken("2001".into()))),
                (102, Some(Allocated::NoSourceExtension)),
                (103, Some(Allocated::NotValid("12a".into()))),
                (104, Some(Allocated::Taken("100".into()))),
            ]
        );
    }

    #[test]
    fn a_source_extension_is_reserved_before_any_allocation() {
        let sources = vec![
            source(1, "No Extension", "", "919800000001", "1"),
            source(2, "Brings 100", "100", "919800000002", "1"),
        ];
        let plan = plan(
            sources.into_iter().collect(),
            &[],
            &Mapping::default(),
            &options(),
        );
        let extensions: Vec<u32> = plan.create.iter().map(|e| e.user.extension).collect();
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
