//! Export rows: the contract's columns per provider, typed for JSONL, neutralised for spreadsheets in CSV.

use serde_json::Value;

use crate::model::{AccountUser, DirectoryUser};

/// A user as one export line.
pub trait ExportRecord {
    const COLUMNS: &'static [&'static str];
    /// The provider's unique id, for de-duplication.
    fn key(&self) -> String;
    /// Values in `COLUMNS` order.
    fn values(&self, include_passwords: bool) -> Vec<Value>;
}

fn opt<T: Into<Value>>(value: Option<T>) -> Value {
    value.map_or(Value::Null, Into::into)
}

impl ExportRecord for AccountUser {
    const COLUMNS: &'static [&'static str] = &[
        "agent_id",
        "extension",
        "name",
        "first_name",
        "last_name",
        "phone_number",
        "password",
        "start_time",
        "end_time",
        "sms_alert",
    ];

    fn key(&self) -> String {
        self.user
            .agent_id
            .as_deref()
            .map_or_else(|| self.user.extension.to_string(), str::to_string)
    }

    fn values(&self, include_passwords: bool) -> Vec<Value> {
        let user = &self.user;
        let password = if include_passwords {
            opt(user.password.as_ref().map(|p| p.expose().to_string()))
        } else {
            Value::Null
        };
        vec![
            opt(user.agent_id.as_deref()),
            user.extension.into(),
            opt(user.name.as_deref()),
            self.first_name.clone().into(),
            self.last_name.clone().into(),
            opt(user.phone_number.as_deref()),
            password,
            opt(user.start_time),
            opt(user.end_time),
            opt(user.sms_alert),
        ]
    }
}

/// Smartflo's documented agent status codes.
pub fn agent_status_name(status: i64) -> &'static str {
    match status {
        0 => "enabled",
        1 => "blocked",
        2 => "disabled",
        3 => "busy",
        4 => "offline",
        _ => "unknown",
    }
}

impl ExportRecord for DirectoryUser {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "name",
        "login_id",
        "extension",
        "agent_id",
        "agent_name",
        "agent_status",
        "agent_status_name",
        "follow_me_number",
        "user_status",
        "role_id",
        "role_name",
    ];

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn values(&self, _include_passwords: bool) -> Vec<Value> {
        vec![
            self.id.into(),
            self.name.clone().into(),
            self.login_id.clone().into(),
            opt(self.extension.clone()),
            opt(self.agent_id.clone()),
            opt(self.agent_name.clone()),
            opt(self.agent_status),
            opt(self.agent_status.map(agent_status_name)),
            opt(self.follow_me_number.clone()),
            opt(self.user_status),
            opt(self.role_id),
            opt(self.role_name.clone()),
        ]
    }
}

/// A value as a CSV cell: text that a spreadsheet would run as a formula gets a leading `'`.
pub fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => neutralise_formula(text),
        other => other.to_string(),
    }
}

/// The OWASP CSV-injection guard: a cell that begins with `=`, `+`, `-`, `@`, tab or CR gets a
/// leading `'`, unless it is a plain number or a phone number (`+919200000000` stays as it is).
///
/// The guard is lossless: a cell that really begins with `'` (or several) before one of those
/// characters gets one more, and [`without_formula_guard`] takes exactly one off.
pub fn neutralise_formula(text: &str) -> String {
    if needs_guard(text) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// The value a guarded cell stands for: the inverse of [`neutralise_formula`].
pub fn without_formula_guard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        _ => cell,
    }
}

/// Formula-like, or quotes in front of something formula-like.
fn needs_guard(text: &str) -> bool {
    let unquoted = text.trim_start_matches('\'');
    match unquoted.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !(is_plain_number(unquoted) || is_phone_number(unquoted)),
        _ => false,
    }
}

/// `-12`, `+3.5`: a number a spreadsheet shows as itself.
fn is_plain_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && all_digits(fraction)
}

/// `+91 98123-00001`: a `+`, then digits with the usual separators, and enough digits to dial.
fn is_phone_number(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('+') else {
        return false;
    };
    let separators_and_digits = rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'));
    separators_and_digits && rest.chars().filter(char::is_ascii_digit).count() >= 7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_but_phone_numbers_are_not() {
        assert_eq!(
            neutralise_formula("=HYPERLINK(\"x\")"),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(neutralise_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            neutralise_formula("+cmd|' /C calc'!A0"),
            "'+cmd|' /C calc'!A0"
        );
        assert_eq!(neutralise_formula("+919200000000"), "+919200000000");
        assert_eq!(neutralise_formula("+91 98123-00001"), "+91 98123-00001");
        assert_eq!(neutralise_formula("-12.5"), "-12.5");
        assert_eq!(neutralise_formula("Zoë"), "Zoë");
        for formula in [
            "-2+3+cmd|' /C calc'!A0",
            "-1+1",
            "-2+3",
            "-",
            "+",
            "\tx",
            "\rx",
        ] {
            assert_eq!(
                neutralise_formula(formula),
                format!("'{formula}"),
                "{formula:?}"
            );
        }
    }

    #[test]
    fn the_guard_round_trips_every_cell() {
        for value in [
            "=1+1",
            "'=1+1",
            "''=1+1",
            "'Quoted",
            "'",
            "''",
            "-1+1",
            "'-1+1",
            "+919200000000",
            "'+919200000000",
            "Asha Rao",
            "",
        ] {
            let cell = neutralise_formula(value);
            assert_eq!(without_formula_guard(&cell), value, "{value:?} as {cell:?}");
        }
        assert_eq!(
            neutralise_formula("'=1+1"),
            "''=1+1",
            "a real quote keeps its own"
        );
        assert_eq!(without_formula_guard("'Quoted"), "'Quoted", "not a guard");
    }

    #[test]
    fn passwords_only_when_asked() {
        let user = AccountUser {
            user: crate::model::User {
                agent_id: Some("101_1".into()),
                extension: 101,
                password: Some(crate::model::Secret::new("pw123456")),
                ..Default::default()
            },
            first_name: String::new(),
            last_name: String::new(),
        };
        assert_eq!(user.values(false)[6], Value::Null);
        assert_eq!(user.values(true)[6], Value::from("pw123456"));
    }
}
