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
            .clone()
            .unwrap_or_else(|| self.user.extension.to_string())
    }

    fn values(&self, include_passwords: bool) -> Vec<Value> {
        let user = &self.user;
        let password = if include_passwords {
            opt(user.password.as_ref().map(|p| p.expose().to_string()))
        } else {
            Value::Null
        };
        vec![
            opt(user.agent_id.clone()),
            user.extension.into(),
            opt(user.name.clone()),
            self.first_name.clone().into(),
            self.last_name.clone().into(),
            opt(user.phone_number.clone()),
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

/// `=`, `@`, tab, CR, or `+`/`-` before a non-digit start a formula in Excel and LibreOffice;
/// phone numbers such as `+919200000000` are left exactly as they are.
pub fn neutralise_formula(text: &str) -> String {
    let mut chars = text.chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => chars.next().is_some_and(|c| !c.is_ascii_digit()),
        _ => false,
    };
    if risky {
        format!("'{text}")
    } else {
        text.to_string()
    }
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
        assert_eq!(neutralise_formula("-2+3"), "-2+3");
        assert_eq!(neutralise_formula("+919200000000"), "+919200000000");
        assert_eq!(neutralise_formula("Zoë"), "Zoë");
        assert_eq!(neutralise_formula("-"), "-");
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
