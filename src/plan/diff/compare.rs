//! Comparing two rosters by key: who joined, who left, and which shared fields changed.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{
    Change, ChangedUser, Counts, Diff, DiffError, Roster, RosterFormat, DERIVED, PASSWORD, PHONES,
};
use crate::export::record::neutralise_formula;
use crate::phone::PhoneRule;

/// Compare `old` with `new`: who joined, who left, and which shared fields changed for the rest;
/// phone numbers compare by `phones`.
pub fn diff(old: &Roster, new: &Roster, phones: &PhoneRule) -> Result<Diff, DiffError> {
    if !old.key_column.is_empty() && !new.key_column.is_empty() && old.key_column != new.key_column
    {
        return Err(DiffError::Mismatch(format!(
            "{} is a {} roster (keyed by {}) but {} is a {} roster (keyed by {}): \
             only exports of the same provider can be compared",
            old.source,
            old.provider(),
            old.key_column,
            new.source,
            new.provider(),
            new.key_column
        )));
    }
    let key_column = if new.key_column.is_empty() {
        old.key_column.clone()
    } else {
        new.key_column.clone()
    };
    let shared: Vec<&String> = new
        .columns
        .iter()
        .filter(|c| old.columns.contains(c))
        .collect();
    let is_shared = |column: &str| shared.iter().any(|s| s.as_str() == column);
    let compared: Vec<String> = shared
        .iter()
        .filter(|c| {
            !DERIVED
                .iter()
                .any(|(derived, source)| c.as_str() == *derived && is_shared(source))
        })
        .map(|c| c.to_string())
        .collect();
    // A CSV cell holds the formula-guarded text; guard the JSONL side too when the formats differ.
    let view = |value: &str, roster: &Roster, other: &Roster| -> String {
        if roster.format == RosterFormat::Jsonl && other.format == RosterFormat::Csv {
            neutralise_formula(value)
        } else {
            value.to_string()
        }
    };

    let mut counts = Counts::default();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    let mut keys: Vec<&String> = new.users.keys().chain(old.users.keys()).collect();
    keys.sort_by(|a, b| natural_cmp(a, b));
    keys.dedup();
    for key in keys {
        match (old.users.get(key), new.users.get(key)) {
            (None, Some(row)) => added.push(without_password(row)),
            (Some(row), None) => removed.push(without_password(row)),
            (Some(before), Some(after)) => {
                let mut changes = Vec::new();
                for column in &compared {
                    let a = before.get(column).map_or("", String::as_str);
                    let b = after.get(column).map_or("", String::as_str);
                    if column == PASSWORD {
                        if !a.is_empty() && !b.is_empty() && a != b {
                            changes.push(Change {
                                field: column.clone(),
                                old: None,
                                new: None,
                            });
                        }
                    } else {
                        let differs = if PHONES.contains(&column.as_str()) {
                            !phones.same(a, b)
                        } else {
                            view(a, old, new) != view(b, new, old)
                        };
                        if differs {
                            changes.push(Change {
                                field: column.clone(),
                                old: Some(a.to_string()),
                                new: Some(b.to_string()),
                            });
                        }
                    }
                }
                if changes.is_empty() {
                    counts.unchanged += 1;
                } else {
                    changed.push(ChangedUser {
                        key: key.clone(),
                        name: display_name(after)
                            .or_else(|| display_name(before))
                            .unwrap_or_default(),
                        changes,
                    });
                }
            }
            (None, None) => {}
        }
    }
    counts.added = added.len();
    counts.removed = removed.len();
    counts.changed = changed.len();
    Ok(Diff {
        counts,
        key_column,
        added,
        removed,
        changed,
        field_order: compared,
    })
}

fn without_password(row: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    row.iter()
        .filter(|(column, _)| *column != PASSWORD)
        .map(|(c, v)| (c.clone(), v.clone()))
        .collect()
}

/// `name`, else Smartflo's `agent_name`.
pub(super) fn display_name(row: &BTreeMap<String, String>) -> Option<String> {
    ["name", "agent_name"]
        .iter()
        .filter_map(|c| row.get(*c))
        .find(|v| !v.is_empty())
        .cloned()
}

/// Digits compare as numbers (`9` before `10`, `101_2` before `101_10`), the rest as text.
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let (na, nb) = (&a[..da], &b[..db]);
                let (ta, tb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
                let order = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| na.len().cmp(&nb.len()));
                if order != Ordering::Equal {
                    return order;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                a = &a[x.len_utf8()..];
                b = &b[y.len_utf8()..];
            }
        }
    }
}
