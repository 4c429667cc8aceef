//! The two accounts' users, kept in ordered maps so pages and cursors are range walks.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::sandbox::seed;
use crate::sandbox::{SmartfloRecord, TelecmiRecord};

/// Every `CHECKPOINT_STRIDE`-th extension is remembered so that `page`/`limit` lists start near
/// their offset instead of walking the map from the beginning.
const CHECKPOINT_STRIDE: usize = 256;

/// A stored TeleCMI user: the record plus the system id shown as `user_id` in lists.
#[derive(Clone, Debug)]
pub(crate) struct TelecmiUser {
    pub(crate) record: TelecmiRecord,
    pub(crate) user_id: String,
}

pub(crate) struct TelecmiState {
    users: BTreeMap<u32, TelecmiUser>,
    /// The key at every CHECKPOINT_STRIDE-th position; rebuilt lazily after keys change.
    checkpoints: Vec<u32>,
    checkpoints_stale: bool,
    next_user_seq: u64,
}

/// What an insertion attempt did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AddOutcome {
    Added,
    Exists,
    LimitReached,
}

impl TelecmiState {
    pub(crate) fn seeded(n: usize) -> TelecmiState {
        let mut state = TelecmiState {
            users: BTreeMap::new(),
            checkpoints: Vec::new(),
            checkpoints_stale: true,
            next_user_seq: 0,
        };
        for i in 0..n {
            state.upsert(seed::telecmi(i));
        }
        state
    }

    fn new_user_id(&mut self) -> String {
        self.next_user_seq += 1;
        // 24 hex digits, like the document ids the real service shows.
        format!("64b7f0c1{:016x}", self.next_user_seq)
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    pub(crate) fn get(&self, extension: u32) -> Option<&TelecmiUser> {
        self.users.get(&extension)
    }

    pub(crate) fn get_mut(&mut self, extension: u32) -> Option<&mut TelecmiUser> {
        self.users.get_mut(&extension)
    }

    /// Creates a user unless the extension exists or the account is full.
    pub(crate) fn add(&mut self, record: TelecmiRecord, limit: Option<usize>) -> AddOutcome {
        if self.users.contains_key(&record.extension) {
            return AddOutcome::Exists;
        }
        if limit.is_some_and(|l| self.users.len() >= l) {
            return AddOutcome::LimitReached;
        }
        self.upsert(record);
        AddOutcome::Added
    }

    /// Inserts or replaces (a replaced user keeps its `user_id`).
    pub(crate) fn upsert(&mut self, record: TelecmiRecord) {
        match self.users.get_mut(&record.extension) {
            Some(user) => user.record = record,
            None => {
                let user_id = self.new_user_id();
                self.checkpoints_stale = true;
                self.users
                    .insert(record.extension, TelecmiUser { record, user_id });
            }
        }
    }

    pub(crate) fn remove(&mut self, extension: u32) -> bool {
        let removed = self.users.remove(&extension).is_some();
        if removed {
            self.checkpoints_stale = true;
        }
        removed
    }

    pub(crate) fn snapshot(&self) -> Vec<TelecmiRecord> {
        self.users.values().map(|u| u.record.clone()).collect()
    }

    /// Users at positions `offset..offset+limit` in extension order.
    pub(crate) fn page(
        &mut self,
        offset: usize,
        limit: usize,
    ) -> impl Iterator<Item = &TelecmiUser> {
        if self.checkpoints_stale {
            self.checkpoints = self
                .users
                .keys()
                .step_by(CHECKPOINT_STRIDE)
                .copied()
                .collect();
            self.checkpoints_stale = false;
        }
        let (start, skip) = match self.checkpoints.get(offset / CHECKPOINT_STRIDE) {
            Some(&key) => (Bound::Included(key), offset % CHECKPOINT_STRIDE),
            // Beyond the end: an empty walk.
            None => (Bound::Unbounded, usize::MAX),
        };
        self.users
            .range((start, Bound::Unbounded))
            .skip(skip)
            .take(limit)
            .map(|(_, u)| u)
    }

    /// Users whose name contains `needle` (already lowercased), in extension order.
    pub(crate) fn matching<'a>(
        &'a self,
        needle: &'a str,
    ) -> impl Iterator<Item = &'a TelecmiUser> + 'a {
        self.users
            .values()
            .filter(move |u| contains_ignore_case(&u.record.name, needle))
    }
}

/// Case-insensitive substring test; `needle` must already be lowercase.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}

pub(crate) struct SmartfloState {
    users: BTreeMap<u64, SmartfloRecord>,
}

impl SmartfloState {
    pub(crate) fn seeded(n: usize) -> SmartfloState {
        let users = (0..n)
            .map(seed::smartflo)
            .map(|r| (r.id, r))
            .collect::<BTreeMap<_, _>>();
        SmartfloState { users }
    }

    pub(crate) fn upsert(&mut self, record: SmartfloRecord) {
        self.users.insert(record.id, record);
    }

    pub(crate) fn snapshot(&self) -> Vec<SmartfloRecord> {
        self.users.values().cloned().collect()
    }

    /// Users with an id above `last_seen_id`, in id order.
    pub(crate) fn after(&self, last_seen_id: u64) -> impl Iterator<Item = &SmartfloRecord> {
        self.users
            .range((Bound::Excluded(last_seen_id), Bound::Unbounded))
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(extension: u32) -> TelecmiRecord {
        TelecmiRecord {
            extension,
            name: format!("User {extension}"),
            phone_number: "919800000000".into(),
            password: "pw".into(),
            start_time: None,
            end_time: None,
            sms_alert: false,
        }
    }

    #[test]
    fn pages_match_a_plain_walk_across_checkpoints() {
        let mut s = TelecmiState::seeded(0);
        for e in (1..=1000).map(|i| i * 3) {
            s.upsert(rec(e));
        }
        let all: Vec<u32> = s.users.keys().copied().collect();
        for &(offset, limit) in &[
            (0, 10),
            (250, 10),
            (255, 3),
            (256, 1),
            (511, 300),
            (995, 10),
        ] {
            let got: Vec<u32> = s.page(offset, limit).map(|u| u.record.extension).collect();
            let want: Vec<u32> = all.iter().skip(offset).take(limit).copied().collect();
            assert_eq!(got, want, "offset {offset} limit {limit}");
        }
        assert_eq!(s.page(1000, 10).count(), 0);
        assert_eq!(s.page(5000, 10).count(), 0);
        // Keys change: checkpoints must follow.
        assert!(s.remove(3));
        s.upsert(rec(1));
        let got: Vec<u32> = s.page(256, 2).map(|u| u.record.extension).collect();
        let all: Vec<u32> = s.users.keys().copied().collect();
        assert_eq!(got, all[256..258].to_vec());
    }

    #[test]
    fn name_filter_is_case_insensitive_including_non_ascii() {
        assert!(contains_ignore_case("Zoë Ødegård", "øde"));
        assert!(contains_ignore_case("Manish Kumar", "kum"));
        assert!(contains_ignore_case("अनिल कुमार", "कुमार"));
        assert!(!contains_ignore_case("Manish", "kumar"));
    }

    #[test]
    fn add_respects_existing_and_limit() {
        let mut s = TelecmiState::seeded(2);
        assert_eq!(s.add(rec(1001), None), AddOutcome::Exists);
        assert_eq!(s.add(rec(5), Some(2)), AddOutcome::LimitReached);
        assert_eq!(s.add(rec(5), Some(3)), AddOutcome::Added);
        assert_eq!(s.len(), 3);
    }
}
