//! Header names to columns: case, spaces, hyphens and common aliases forgiven.

use csv::ByteRecord;

/// A column roster understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Extension,
    Name,
    PhoneNumber,
    Password,
    StartTime,
    EndTime,
    SmsAlert,
    AgentId,
}

impl Column {
    pub const ALL: [Column; 8] = [
        Column::Extension,
        Column::Name,
        Column::PhoneNumber,
        Column::Password,
        Column::StartTime,
        Column::EndTime,
        Column::SmsAlert,
        Column::AgentId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Extension => "extension",
            Column::Name => "name",
            Column::PhoneNumber => "phone_number",
            Column::Password => "password",
            Column::StartTime => "start_time",
            Column::EndTime => "end_time",
            Column::SmsAlert => "sms_alert",
            Column::AgentId => "agent_id",
        }
    }

    /// The canonical column a normalised header name stands for.
    fn from_normalised(name: &str) -> Option<Column> {
        Some(match name {
            "extension" | "ext" | "extn" | "extension_number" | "ext_no" => Column::Extension,
            "name" | "full_name" | "agent_name" | "user_name" | "display_name" => Column::Name,
            "phone_number" | "phone" | "mobile" | "mobile_number" | "phone_no" | "mobile_no"
            | "contact_number" | "msisdn" => Column::PhoneNumber,
            "password" | "pass" | "pwd" => Column::Password,
            "start_time" | "shift_start" => Column::StartTime,
            "end_time" | "shift_end" => Column::EndTime,
            "sms_alert" | "notify" | "sms" | "missed_call_alert" => Column::SmsAlert,
            "agent_id" | "user_id" | "id" => Column::AgentId,
            _ => return None,
        })
    }
}

/// Columns an import reads past without a warning: `first_name`/`last_name` of a roster export
/// (derived from `name`, so an export feeds straight back into `import --mode update`), the
/// source references of a migration's credentials file, and what a failed-rows file adds.
const DERIVED_COLUMNS: [&str; 6] = [
    "first_name",
    "last_name",
    "source_id",
    "login_id",
    "original_row",
    "failure_reason",
];

/// `Phone Number`, ` phone-number ` and `PHONE_NUMBER` all become `phone_number`.
pub fn normalise(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for c in header.trim().trim_start_matches('\u{feff}').chars() {
        let c = if c == ' ' || c == '-' {
            '_'
        } else {
            c.to_ascii_lowercase()
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Where each known column is in the file (0-based), and what was not recognised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    indices: [Option<usize>; 8],
    /// Header cells that name no known column, as written.
    pub unknown: Vec<String>,
    /// Number of cells in the header row.
    pub width: usize,
}

/// A header name as a message shows it: on one line, inert, and short.
pub fn shown(name: &str) -> String {
    crate::text::printable(&crate::text::clip(name, 40))
}

impl ColumnMap {
    /// The known column at 0-based `index`, if any.
    pub fn column_at(&self, index: usize) -> Option<Column> {
        Column::ALL
            .into_iter()
            .find(|&column| self.index(column) == Some(index))
    }

    pub fn from_header(header: &ByteRecord) -> Result<ColumnMap, String> {
        let mut map = ColumnMap {
            width: header.len(),
            ..ColumnMap::default()
        };
        for (index, cell) in header.iter().enumerate() {
            let Ok(text) = std::str::from_utf8(cell) else {
                return Err(format!(
                    "header cell {} is not valid text in the file's encoding",
                    index + 1
                ));
            };
            let normalised = normalise(text);
            match Column::from_normalised(&normalised) {
                Some(column) => {
                    let slot = &mut map.indices[column as usize];
                    if let Some(first) = *slot {
                        return Err(format!(
                            "header columns {} and {} both mean `{}`: keep one",
                            first + 1,
                            index + 1,
                            column.name()
                        ));
                    }
                    *slot = Some(index);
                }
                None if normalised.is_empty() || DERIVED_COLUMNS.contains(&normalised.as_str()) => {
                }
                None => map.unknown.push(text.trim().to_string()),
            }
        }
        if map.indices.iter().all(Option::is_none) {
            let found: Vec<String> = header
                .iter()
                .take(6)
                .map(|c| shown(std::str::from_utf8(c).unwrap_or("?")))
                .collect();
            return Err(format!(
                "no header row: the first row names no known column (it has: {}); expected names like {}",
                found.join(", "),
                Column::ALL.map(Column::name).join(", ")
            ));
        }
        Ok(map)
    }

    pub fn index(&self, column: Column) -> Option<usize> {
        self.indices[column as usize]
    }

    pub fn has(&self, column: Column) -> bool {
        self.index(column).is_some()
    }

    /// The columns of `required` this header lacks.
    pub fn missing(&self, required: &[Column]) -> Vec<Column> {
        required.iter().copied().filter(|c| !self.has(*c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_forgiving() {
        assert_eq!(normalise(" Phone Number "), "phone_number");
        assert_eq!(normalise("PHONE-NUMBER"), "phone_number");
        assert_eq!(normalise("phone  _ number"), "phone_number");
        assert_eq!(normalise("\u{feff}Extension"), "extension");
    }

    #[test]
    fn maps_aliases_and_lists_unknown_columns() {
        let header = ByteRecord::from(vec![
            "Ext",
            "Full Name",
            "Mobile",
            "Notify",
            "Team",
            "first_name",
        ]);
        let map = ColumnMap::from_header(&header).unwrap();
        assert_eq!(map.index(Column::Extension), Some(0));
        assert_eq!(map.index(Column::PhoneNumber), Some(2));
        assert_eq!(map.index(Column::SmsAlert), Some(3));
        assert_eq!(map.unknown, vec!["Team".to_string()]);
        assert_eq!(
            map.missing(&[Column::Extension, Column::Password]),
            vec![Column::Password]
        );
    }

    #[test]
    fn two_columns_for_one_field_is_an_error() {
        let header = ByteRecord::from(vec!["phone", "mobile"]);
        assert!(ColumnMap::from_header(&header)
            .unwrap_err()
            .contains("columns 1 and 2"));
    }

    #[test]
    fn a_data_row_is_not_a_header() {
        let header = ByteRecord::from(vec!["101", "Manish", "919200000000"]);
        assert!(ColumnMap::from_header(&header)
            .unwrap_err()
            .starts_with("no header row"));
    }
}
