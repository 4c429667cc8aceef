//! Comparing two rosters by key: who joined, who left, and which shared fields changed.
//!
//! [`Fields`] holds the one comparison rule; the in-memory [`diff`] here and the streaming diff
//! (`stream`) both ask it, so the two cannot drift apart.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{
    provider_name, Change, ChangedUser, Counts, Diff, DiffError, Roster, RosterFormat, DERIVED,
    PASSWORD, PHONES,
};
use crate::export::record::neutralise_formula;
use crate::phone::PhoneRule;

/// The same provider on both sides, or the error naming both; returns the key column of the diff
/// (an empty JSONL roster has none and takes the other's).
pub(super) fn shared_key_column(
    (old_key, old_source): (&str, &str),
    (new_key, new_source): (&str, &str),
) -> Result<String, DiffError> {
    if !old_key.is_empty() && !new_key.is_empty() && old_key != new_key {
        return Err(DiffError::Mismatch(format!(
            "{old_source} is a {} roster (keyed by {old_key}) but {new_source} is a {} roster \
             (keyed by {new_key}): only exports of the same provider can be compared",
            provider_name(old_key),
            provider_name(new_key),
        )));
    }
    Ok(if new_key.is_empty() { old_key } else { new_key }.to_string())
}

/// How a column compares.
enum Kind {
    /// Only "changed", and only when both sides hold one.
    Password,
    /// By the phone rule.
    Phone,
    /// As text (formula-guarded when the formats differ).
    Text,
}

/// The columns compared and how: shared columns in the new roster's order, derived ones left out
/// when their source is compared.
pub(super) struct Fields {
    pub(super) names: Vec<String>,
    /// How each of `names` compares, decided once rather than per user.
    kinds: Vec<Kind>,
    /// A CSV cell holds the formula-guarded text: the JSONL side is guarded too when formats differ.
    guard_old: bool,
    guard_new: bool,
}

impl Fields {
    pub(super) fn new(
        (old_columns, old_format): (&[String], RosterFormat),
        (new_columns, new_format): (&[String], RosterFormat),
    ) -> Fields {
        let shared: Vec<&String> = new_columns
            .iter()
            .filter(|c| old_columns.contains(c))
            .collect();
        let is_shared = |column: &str| shared.iter().any(|s| s.as_str() == column);
        let names: Vec<String> = shared
            .iter()
            .filter(|c| {
                !DERIVED
                    .iter()
                    .any(|(derived, source)| c.as_str() == *derived && is_shared(source))
            })
            .map(|c| c.to_string())
            .collect();
        let guards = |this: RosterFormat, other: RosterFormat| {
            this == RosterFormat::Jsonl && other == RosterFormat::Csv
        };
        let kinds = names
            .iter()
            .map(|name| match name.as_str() {
                PASSWORD => Kind::Password,
                name if PHONES.contains(&name) => Kind::Phone,
                _ => Kind::Text,
            })
            .collect();
        Fields {
            names,
            kinds,
            guard_old: guards(old_format, new_format),
            guard_new: guards(new_format, old_format),
        }
    }

    /// The changed fields of one user; `old(i)` and `new(i)` give the value of `names[i]`.
    pub(super) fn changes<'a>(
        &self,
        phones: &PhoneRule,
        old: impl Fn(usize) -> &'a str,
        new: impl Fn(usize) -> &'a str,
    ) -> Vec<Change> {
        let view = |value: &'a str, guard: bool| -> Cow<'a, str> {
            if guard {
                Cow::Owned(neutralise_formula(value))
            } else {
                Cow::Borrowed(value)
            }
        };
        let mut changes = Vec::new();
        for (i, (column, kind)) in self.names.iter().zip(&self.kinds).enumerate() {
            let (a, b) = (old(i), new(i));
            let differs = match kind {
                Kind::Password => {
                    if !a.is_empty() && !b.is_empty() && a != b {
                        changes.push(Change {
                            field: column.clone(),
                            old: None,
                            new: None,
                        });
                    }
                    continue;
                }
                Kind::Phone => !phones.same(a, b),
                Kind::Text => {
                    !(a == b && self.guard_old == self.guard_new)
                        && view(a, self.guard_old) != view(b, self.guard_new)
                }
            };
            if differs {
                changes.push(Change {
                    field: column.clone(),
                    old: Some(a.to_string()),
                    new: Some(b.to_string()),
                });
            }
        }
        changes
    }
}

/// Compare `old` with `new`: who joined, who left, and which shared fields changed for the rest;
/// phone numbers compare by `phones`. Both rosters are held whole: the simple path, which the
/// streaming diff of large CSV exports is tested against.
pub fn diff(old: &Roster, new: &Roster, phones: &PhoneRule) -> Result<Diff, DiffError> {
    let key_column = shared_key_column(
        (&old.key_column, &old.source),
        (&new.key_column, &new.source),
    )?;
    let fields = Fields::new((&old.columns, old.format), (&new.columns, new.format));
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
                let changes = fields.changes(
                    phones,
                    |i| before.get(&fields.names[i]).map_or("", String::as_str),
                    |i| after.get(&fields.names[i]).map_or("", String::as_str),
                );
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
        field_order: fields.names,
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
    name_of(|column| row.get(column).map(String::as_str))
}

/// `name`, else Smartflo's `agent_name`, from a row given as `column -> value`.
pub(super) fn name_of<'a>(cell: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    ["name", "agent_name"]
        .iter()
        .filter_map(|c| cell(c))
        .find(|v| !v.is_empty())
        .map(str::to_string)
}
/// Digits compare as numbers (`9` before `10`, `101_2` before `101_10`), the rest as text.
///
/// Byte by byte: UTF-8 orders bytes as it orders characters, and no byte of a multi-byte
/// character is an ASCII digit, so this is the character order without decoding.
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    // Most comparisons in a merge of two nights' exports are of one user's key with itself.
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let digits = |text: &[u8], from: usize| {
        text[from..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(text.len(), |n| from + n)
    };
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (end_a, end_b) = (digits(a, i), digits(b, j));
                let (na, nb) = (&a[i..end_a], &b[j..end_b]);
                let zeros = |n: &[u8]| n.iter().take_while(|c| **c == b'0').count();
                let (ta, tb) = (&na[zeros(na)..], &nb[zeros(nb)..]);
                let order = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| na.len().cmp(&nb.len()));
                if order != Ordering::Equal {
                    return order;
                }
                (i, j) = (end_a, end_b);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (i, j) = (i + 1, j + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use proptest::prelude::*;
    use std::cmp::Ordering;

    /// The order as first written, a character at a time: what the byte version must agree with.
    fn by_chars(a: &str, b: &str) -> Ordering {
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

    proptest! {
        #[test]
        fn bytes_order_keys_as_characters_do(a in "[0-9_a-zé😀]{0,10}", b in "[0-9_a-zé😀]{0,10}") {
            prop_assert_eq!(natural_cmp(&a, &b), by_chars(&a, &b));
            prop_assert_eq!(natural_cmp(&a, &a), Ordering::Equal);
        }
    }
}
