//! The neutral model every stage speaks. Only `provider/` knows the JSON field names of the APIs.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::phone::PhoneRule;

/// A string that must never be shown: app secrets, bearer tokens, user passwords.
///
/// `Debug` and `Display` print a fixed mask so that a secret carried in a struct cannot leak through
/// `{:?}` in a log line or an error message; the value is only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the few places that must send or write it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A TeleCMI-style user: what roster creates, updates and exports.
///
/// Every field but the extension is optional because an import row may leave cells empty
/// ("not given"), and an update then keeps the value the account already has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// Provider user id, `EXTENSION_APPID` on TeleCMI.
    pub agent_id: Option<CompactString>,
    pub extension: u32,
    pub name: Option<CompactString>,
    pub phone_number: Option<CompactString>,
    pub password: Option<Secret>,
    pub start_time: Option<u8>,
    pub end_time: Option<u8>,
    pub sms_alert: Option<bool>,
}

impl User {
    /// The fields an add (and, per the docs, an update) cannot do without.
    pub fn missing_required(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.name.is_none() {
            missing.push("name");
        }
        if self.phone_number.is_none() {
            missing.push("phone_number");
        }
        if self.password.is_none() {
            missing.push("password");
        }
        missing
    }

    /// Fill every field this user leaves empty from `current`: an update sends the whole user.
    pub fn merged_over(&self, current: &User) -> User {
        User {
            agent_id: self.agent_id.clone().or_else(|| current.agent_id.clone()),
            extension: self.extension,
            name: self.name.clone().or_else(|| current.name.clone()),
            phone_number: self
                .phone_number
                .clone()
                .or_else(|| current.phone_number.clone()),
            password: self.password.clone().or_else(|| current.password.clone()),
            start_time: self.start_time.or(current.start_time),
            end_time: self.end_time.or(current.end_time),
            sms_alert: self.sms_alert.or(current.sms_alert),
        }
    }

    /// True when no field that both this user and `current` have differs: `current` as read back
    /// may lack fields (`/v3/user/get` has no `notify`), which then cannot tell against it. Phone
    /// numbers compare by `phones`.
    pub fn agrees_with(&self, current: &User, phones: &PhoneRule) -> bool {
        fn agree<T: PartialEq>(wanted: &Option<T>, have: &Option<T>) -> bool {
            wanted.is_none() || have.is_none() || wanted == have
        }
        let names_agree = match (&self.name, &current.name) {
            (Some(wanted), Some(have)) => same_name(wanted, have),
            _ => true,
        };
        let phones_agree = match (&self.phone_number, &current.phone_number) {
            (Some(wanted), Some(have)) => phones.same(wanted, have),
            _ => true,
        };
        names_agree
            && phones_agree
            && agree(&self.password, &current.password)
            && agree(&self.start_time, &current.start_time)
            && agree(&self.end_time, &current.end_time)
            && agree(&self.sms_alert, &current.sms_alert)
    }

    /// True when every field this user gives already has that value in `current`; phone numbers
    /// compare by `phones`.
    pub fn matches(&self, current: &User, phones: &PhoneRule) -> bool {
        fn same<T: PartialEq>(wanted: &Option<T>, have: &Option<T>) -> bool {
            wanted.is_none() || wanted == have
        }
        let names_match = match (&self.name, &current.name) {
            (None, _) => true,
            (Some(wanted), Some(have)) => same_name(wanted, have),
            (Some(_), None) => false,
        };
        let phones_match = match (&self.phone_number, &current.phone_number) {
            (None, _) => true,
            (Some(wanted), Some(have)) => phones.same(wanted, have),
            (Some(_), None) => false,
        };
        names_match
            && phones_match
            && same(&self.password, &current.password)
            && same(&self.start_time, &current.start_time)
            && same(&self.end_time, &current.end_time)
            && same(&self.sms_alert, &current.sms_alert)
    }
}

/// A user as an account lists it: the user plus what the provider keeps beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUser {
    pub user: User,
    pub first_name: String,
    pub last_name: String,
}

/// Names compare with runs of white space folded: TeleCMI splits a name into first and last name
/// and joins them again.
pub fn same_name(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// `EXTENSION_APPID`, the TeleCMI user id of an extension.
pub fn telecmi_agent_id(extension: u32, app_id: &str) -> String {
    format!("{extension}_{app_id}")
}

/// A user as a directory-style provider (Tata Smartflo) lists it, flattened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: u64,
    pub name: String,
    pub login_id: String,
    pub extension: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub agent_status: Option<i64>,
    pub follow_me_number: Option<String>,
    pub user_status: Option<i64>,
    pub role_id: Option<u64>,
    pub role_name: Option<String>,
}

/// What an import is allowed to do with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Create users; a row whose user exists fails.
    Add,
    /// Change existing users; empty cells keep the account's current values.
    Update,
    /// Create users, or update them when they already exist.
    Upsert,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Add => "add",
            Mode::Update => "update",
            Mode::Upsert => "upsert",
        }
    }
}

/// What roster does (or would do) with one input row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Update,
    None,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Update => "update",
            Action::None => "none",
        }
    }
}

/// How one input row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Invalid,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Skipped => "skipped",
        }
    }
}

/// The result of one input row, one line of the results report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// 1-based data row number (the first row after the header is 1).
    pub row: u64,
    /// The raw extension cell, as given (it may be the invalid value).
    pub extension: String,
    pub agent_id: String,
    pub action: Action,
    pub status: Status,
    pub http_status: Option<u16>,
    /// Write requests (add and update) made for the row: at most `--max-attempts` per action.
    pub attempts: u32,
    /// Every request made for the row, reads included.
    pub requests: u32,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn merge_keeps_current_values_for_empty_cells() {
        let current = User {
            extension: 101,
            name: Some("Old".into()),
            phone_number: Some("919200000000".into()),
            password: Some(Secret::new("secret1")),
            sms_alert: Some(true),
            ..User::default()
        };
        let change = User {
            extension: 101,
            phone_number: Some("919300000000".into()),
            ..User::default()
        };
        let merged = change.merged_over(&current);
        assert_eq!(merged.name.as_deref(), Some("Old"));
        assert_eq!(merged.phone_number.as_deref(), Some("919300000000"));
        assert_eq!(merged.sms_alert, Some(true));
        let phones = PhoneRule::default();
        assert!(!change.matches(&current, &phones));
        assert!(merged.matches(&current, &phones) == (merged.phone_number == current.phone_number));
    }

    #[test]
    fn phone_numbers_match_by_the_phone_rule() {
        let current = User {
            extension: 101,
            phone_number: Some("9812300001".into()),
            ..User::default()
        };
        let wanted = User {
            extension: 101,
            phone_number: Some("919812300001".into()),
            ..User::default()
        };
        let india = PhoneRule::new(Some("IN".parse().unwrap()));
        assert!(wanted.matches(&current, &india));
        assert!(wanted.agrees_with(&current, &india));
        assert!(!wanted.matches(&current, &PhoneRule::default()));
        assert!(!wanted.agrees_with(&current, &PhoneRule::default()));
    }
}
