//! The diff the commands run: two CSV exports compared in memory that grows with the users who
//! changed, not with the users who did not.
//!
//! [`index`] reads the old file once, checking it as [`super::read_roster`] would, and notes
//! whether its keys come in order (an export's do). Then [`OldRoster::compare`] takes one of two
//! ways; the lists of both are spilled to temporary files as they are found, and read back one
//! entry at a time as they are rendered ([`ChangeReport`]).
//!
//! **Merge**, when both files are sorted by key: the two are read side by side once, each user
//! compared by the one rule ([`Fields`]) as it comes, the new file read and checked on another
//! core a batch ahead. Nothing grows with the users. A key out of
//! order in the new file, or anything wrong in it, drops the merge for the other way, which finds
//! the same problem in the same order as the simple path. So does a merge that finds users gone
//! far out of proportion to the new users it meets: the new file is most likely in another order,
//! which it may show only after most of the old file.
//!
//! **Hash**, for any order:
//! 1. Each file is read once, both at once when neither is yet (one on each core); each user
//!    keeps 32 bytes: a 128-bit hash of its key, a 64-bit hash of its cells (by the old file's
//!    column names) and where its record starts. Each file's users are sorted by key hash, which
//!    puts a repeated key next to its first.
//! 2. The two sorted lists are walked side by side. A user in both whose cells hash alike is
//!    unchanged and forgotten there and then.
//! 3. The new file is read again, only at the records still wanted: users it adds are listed,
//!    users with other cells set aside (their rows spilled). Then the old file, likewise: users
//!    gone are listed, and the old side of the users set aside is compared by [`Fields`]:
//!    different hashes say only "maybe changed" (a phone written another way, a password one file
//!    lacks).
//! 4. The keys of the three lists are sorted.
//!
//! Equal hashes are taken for equal text: a changed user is missed only when 64 bits of its cells
//! collide, and two keys are confused only when 128 bits collide.
//!
//! Only UTF-8 CSV (with or without a BOM, without NUL bytes) is streamed. Anything else (JSONL,
//! UTF-16, Windows-1252, a damaged byte found mid-file) goes to the simple path, [`read_roster`]
//! and [`diff`], which sniffs the whole file; both paths give the same report. Passwords never
//! reach a spill file: a user set aside carries a hash of its password, and added and removed
//! rows leave it out.
//!
//! [`read_roster`]: super::read_roster
//! [`diff`]: super::diff

use std::cell::RefCell;
use std::cmp::Ordering;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;

use csv::StringRecord;
use foldhash::quality::FixedState;
use serde::{Serialize, Serializer};

use super::compare::{diff, name_of, natural_cmp, shared_key_column, Fields};
use super::read::{header_columns, is_blank, key_column, key_of, key_problem, parse_roster};
use super::render::rank_fields;
use super::{
    Change, ChangeReport, ChangedUser, Counts, Diff, DiffError, Entry, Json, Part, Roster,
    RosterFormat, PASSWORD,
};
use crate::input::decode::{sniff, Sniffed, TextEncoding};
use crate::phone::PhoneRule;

/// Bytes read to sniff the encoding, the format and the delimiter.
const HEAD: usize = 64 * 1024;
/// A wanted record at most this far ahead is reached by reading on; further, by seeking. A seek
/// costs a buffer's refill (8 KiB), reading on parses every record on the way: a night's
/// changes, spread through a million-user file, are mostly further apart than this.
const READ_ON: u64 = 2 * 1024;
/// A merge that has found more users gone than this, and more than [`GONE_PER_USER_MET`] for
/// each user of the new file it has met, leaves the diff to the index: the new file is most
/// likely in another order.
const GIVE_UP_AFTER_GONE: usize = 1 << 16;
const GONE_PER_USER_MET: usize = 64;

/// A roster export opened for a diff; holding it open keeps its content even when an export
/// replaces the file by renaming another over it.
pub struct RosterFile {
    file: File,
    label: String,
}

impl RosterFile {
    pub fn open(path: &Path) -> Result<RosterFile, DiffError> {
        let label = path.display().to_string();
        let file = File::open(path).map_err(|source| DiffError::Io {
            path: label.clone(),
            source,
        })?;
        // An export is a file: a device or a pipe may never end, and is read more than once.
        let kind = file.metadata().map_err(|source| DiffError::Io {
            path: label.clone(),
            source,
        })?;
        if !kind.is_file() {
            return Err(DiffError::Io {
                path: label,
                source: io::Error::other("not a regular file (an export roster wrote is one)"),
            });
        }
        Ok(RosterFile { file, label })
    }

    fn io_error(&self, source: io::Error) -> DiffError {
        DiffError::Io {
            path: self.label.clone(),
            source,
        }
    }

    /// The whole file, read as the simple path reads it.
    fn read_whole(self) -> Result<Roster, DiffError> {
        let mut bytes = Vec::new();
        (&self.file)
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).read_to_end(&mut bytes))
            .map_err(|e| self.io_error(e))?;
        parse_roster(&bytes, &self.label)
    }
}

/// The old side of a diff, read once.
pub enum OldRoster {
    /// A UTF-8 CSV export whose keys come in order, checked: the file kept open to merge.
    Sorted(Sheet),
    /// A UTF-8 CSV export in another order: hashes per user, the file kept open to read the
    /// wanted rows again.
    Indexed(Indexed),
    /// Anything else, held whole.
    Held(Roster),
}

pub struct Indexed {
    sheet: Sheet,
    /// Every user, sorted by key hash.
    users: Vec<Noted>,
}

/// What the hash way keeps of a user: 32 bytes.
#[derive(Debug, Clone, Copy)]
struct Noted {
    key: u128,
    /// The hash of its cells, by the old file's columns.
    cells: u64,
    /// Where its record starts.
    offset: u64,
}

/// What a read of a whole file came to.
enum Scan {
    /// Every record seen.
    Done,
    /// The callback asked to stop.
    Stopped,
    /// Not UTF-8 text after all (a stray byte, a NUL): the simple path must judge it.
    NotText,
}

/// Compare the roster export at `old` with the one at `new`; phone numbers compare by `phones`.
///
/// Two clean exports sorted by key are merged at once, in one read of each. Exports in other
/// orders go the hash way ([`by_hashes`]); anything else (a damaged row, another format) starts
/// over with [`index`], which reports problems in the order [`super::read_roster`] would.
pub fn compare_paths(old: &Path, new: &Path, phones: &PhoneRule) -> Result<Changes, DiffError> {
    let sheet = |path| Sheet::open(RosterFile::open(path).ok()?).ok()?.ok();
    if let (Some(old), Some(new)) = (sheet(old), sheet(new)) {
        match merge(&old, &new, phones) {
            Ok(Some(merged)) => return Ok(Changes::Streamed(Box::new(merged))),
            // Not mergeable: [`index`] would read the old file through to learn its order, only
            // to find that again and build the index. Building it at once reports what that
            // read would, in the same order.
            Ok(None) => return by_hashes(old, new, phones),
            Err(_) => {}
        }
    }
    index(RosterFile::open(old)?)?.compare(RosterFile::open(new)?, phones)
}

/// Read the old roster; its errors come first, as they would from [`super::read_roster`].
pub fn index(old: RosterFile) -> Result<OldRoster, DiffError> {
    let sheet = match Sheet::open(old)? {
        Ok(sheet) => sheet,
        Err(old) => return old.read_whole().map(OldRoster::Held),
    };
    // Keys in order leave a repeated key next to its first: the line before tells it.
    let mut previous = (String::new(), 0);
    let scan = sheet.scan(&mut |record, key| {
        let line = record.position().map_or(0, |p| p.line());
        let in_order = previous.1 == 0 || natural_cmp(&previous.0, key).is_le();
        if in_order && previous.0 == key {
            return Err(sheet.format_error(
                record,
                key_problem(&sheet.key_column, key, Some(previous.1)).unwrap_or_default(),
            ));
        }
        previous.0.clear();
        previous.0.push_str(key);
        previous.1 = line;
        Ok(in_order)
    })?;
    match scan {
        Scan::Done => Ok(OldRoster::Sorted(sheet)),
        Scan::Stopped => Ok(match Indexed::build(sheet)? {
            Ok(indexed) => OldRoster::Indexed(indexed),
            Err(held) => OldRoster::Held(held),
        }),
        Scan::NotText => Ok(OldRoster::Held(sheet.file.read_whole()?)),
    }
}

impl OldRoster {
    /// Compare with the new roster; phone numbers compare by `phones`.
    pub fn compare(self, new: RosterFile, phones: &PhoneRule) -> Result<Changes, DiffError> {
        let (indexed, new) = match self {
            OldRoster::Held(old) => return held(old, new, phones),
            OldRoster::Sorted(old) => {
                let new = match Sheet::open(new)? {
                    Ok(new) => new,
                    Err(new) => return held(old.file.read_whole()?, new, phones),
                };
                return match merge(&old, &new, phones)? {
                    Some(merged) => Ok(Changes::Streamed(Box::new(merged))),
                    None => by_hashes(old, new, phones),
                };
            }
            OldRoster::Indexed(indexed) => match Sheet::open(new)? {
                Ok(new) => (indexed, new),
                Err(new) => return held(indexed.sheet.file.read_whole()?, new, phones),
            },
        };
        let new_users = new.note(&indexed.sheet.columns_in(&new));
        indexed.compare(new, new_users, phones)
    }
}

/// The hash way for two files neither yet read for it: each noted on its own core, the old
/// file's problems reported first.
fn by_hashes(old: Sheet, new: Sheet, phones: &PhoneRule) -> Result<Changes, DiffError> {
    let (old_users, new_users) = std::thread::scope(|scope| {
        let new_users = scope.spawn(|| new.note(&old.columns_in(&new)));
        let old_users = old.note(&old.columns_in(&old));
        let new_users = new_users
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (old_users, new_users)
    });
    match old_users? {
        Some(users) => Indexed { sheet: old, users }.compare(new, new_users, phones),
        None => held(old.file.read_whole()?, new.file, phones),
    }
}

/// The simple path's diff of an old roster held whole with the new file.
fn held(old: Roster, new: RosterFile, phones: &PhoneRule) -> Result<Changes, DiffError> {
    Ok(Changes::Held(diff(&old, &new.read_whole()?, phones)?))
}

impl Indexed {
    /// Step 1 of the hash way: the old file read again, a hash pair per user; the roster held
    /// whole when the file is not UTF-8 text after all.
    fn build(sheet: Sheet) -> Result<Result<Indexed, Roster>, DiffError> {
        Ok(match sheet.note(&sheet.columns_in(&sheet))? {
            Some(users) => Ok(Indexed { sheet, users }),
            None => Err(sheet.file.read_whole()?),
        })
    }

    /// Steps 2 to 4 of the hash way, with the new file's users as [`Sheet::note`] found them.
    fn compare(
        self,
        new: Sheet,
        new_users: Result<Option<Vec<Noted>>, DiffError>,
        phones: &PhoneRule,
    ) -> Result<Changes, DiffError> {
        match new_users? {
            Some(new_users) => self
                .join(new, new_users, phones)
                .map(|streamed| Changes::Streamed(Box::new(streamed))),
            None => held(self.sheet.file.read_whole()?, new.file, phones),
        }
    }
}

/// A UTF-8 CSV roster opened for streaming.
pub struct Sheet {
    file: RosterFile,
    /// Bytes of the BOM, before the first record.
    bom: u64,
    delimiter: u8,
    columns: Vec<String>,
    key_column: String,
    /// Where the key column and the extension are.
    key_at: [Option<usize>; 2],
    /// From the file's size and its first rows, to size the index once.
    estimated_rows: usize,
}

impl Sheet {
    /// The sheet, or the file back when it is not a UTF-8 CSV (the simple path reads it).
    fn open(file: RosterFile) -> Result<Result<Sheet, RosterFile>, DiffError> {
        let mut head = Vec::with_capacity(HEAD);
        let size = (&file.file)
            .take(HEAD as u64)
            .read_to_end(&mut head)
            .and_then(|_| file.file.metadata())
            .map_err(|e| file.io_error(e))?
            .len();
        let bom = match sniff(&head) {
            Sniffed::Text {
                encoding: TextEncoding::Utf8,
                bom_len,
            } => bom_len,
            _ => return Ok(Err(file)),
        };
        let head = &head[bom..];
        let valid = std::str::from_utf8(head).map_or_else(|e| e.valid_up_to(), |_| head.len());
        let text = std::str::from_utf8(&head[..valid]).unwrap_or_default();
        let first = text.trim_start().chars().next();
        // The simple path reads an empty file as JSONL, strips a second BOM, and sniffs the
        // delimiter from the whole first line: leave those cases to it.
        let whole = (head.len() + bom) as u64 == size;
        if matches!(first, None | Some('{' | '\u{feff}')) || !(whole || text.contains('\n')) {
            return Ok(Err(file));
        }
        let delimiter = crate::input::sniff_delimiter(text);
        let lines = text.lines().count().max(1);
        let mut sheet = Sheet {
            file,
            bom: bom as u64,
            delimiter,
            columns: Vec::new(),
            key_column: String::new(),
            key_at: [None; 2],
            estimated_rows: (size as usize / (valid / lines).max(1)).min(1 << 26),
        };
        let header = match sheet.reader(8 * 1024)?.headers() {
            Ok(header) => header.clone(),
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                return Ok(Err(sheet.file))
            }
            Err(e) => {
                return Err(DiffError::Format {
                    path: sheet.file.label,
                    line: 1,
                    problem: format!("unreadable header: {e}"),
                })
            }
        };
        sheet.columns = header_columns(&header, &sheet.file.label)?;
        sheet.key_column = key_column(&sheet.columns, &sheet.file.label)?;
        sheet.key_at = [sheet.at(&sheet.key_column), sheet.at("extension")];
        Ok(Ok(sheet))
    }

    /// A reader at the first record (the header still to read).
    fn reader(&self, buffer: usize) -> Result<csv::Reader<&File>, DiffError> {
        (&self.file.file)
            .seek(SeekFrom::Start(self.bom))
            .map_err(|e| self.file.io_error(e))?;
        Ok(csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .delimiter(self.delimiter)
            .buffer_capacity(buffer)
            .from_reader(&self.file.file))
    }

    fn csv_error(&self, error: csv::Error) -> DiffError {
        match error.kind() {
            csv::ErrorKind::Io(_) => self.file.io_error(io::Error::other(error)),
            _ => DiffError::Format {
                path: self.file.label.clone(),
                line: error.position().map_or(0, |p| p.line()),
                problem: format!("unreadable CSV: {error}"),
            },
        }
    }

    /// Call `each` with every user's record and key, in file order, while it answers `true`.
    fn scan(
        &self,
        each: &mut dyn FnMut(&StringRecord, &str) -> Result<bool, DiffError>,
    ) -> Result<Scan, DiffError> {
        let mut reader = self.reader(HEAD)?;
        let mut record = StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => return Ok(Scan::Done),
                Ok(true) => {}
                Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                    return Ok(Scan::NotText)
                }
                Err(e) => return Err(self.csv_error(e)),
            }
            if record.as_slice().contains('\0') {
                return Ok(Scan::NotText);
            }
            if is_blank(&record, self.columns.len(), &self.file.label)? {
                continue;
            }
            let key = self.key(&record);
            if let Some(problem) = key_problem(&self.key_column, key, None) {
                return Err(self.format_error(&record, problem));
            }
            if !each(&record, key)? {
                return Ok(Scan::Stopped);
            }
        }
    }

    fn key<'r>(&self, record: &'r StringRecord) -> &'r str {
        // `key_of` asks for the key column and, for TeleCMI, the extension: both found once.
        let [key, extension] = self.key_at;
        let at = |column: &str| {
            if column == "extension" {
                extension
            } else {
                key
            }
        };
        key_of(|column| cell(record, at(column)), &self.key_column)
    }

    /// The index of `column`, if the file has it.
    fn at(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    fn format_error(&self, record: &StringRecord, problem: String) -> DiffError {
        DiffError::Format {
            path: self.file.label.clone(),
            line: record.position().map_or(0, |p| p.line()),
            problem,
        }
    }

    /// Where in `other` each column of this file is.
    fn columns_in(&self, other: &Sheet) -> Vec<Option<usize>> {
        self.columns.iter().map(|c| other.at(c)).collect()
    }

    /// Every user's hashes (its cells taken at `at`, another file's columns found in this one),
    /// sorted by key hash; `None` when the file is not UTF-8 text after all. A repeated key is
    /// reported before whatever ended the reading, since it comes earlier in the file.
    fn note(&self, at: &[Option<usize>]) -> Result<Option<Vec<Noted>>, DiffError> {
        let hashes = Hashes::default();
        let mut users = Vec::with_capacity(self.estimated_rows);
        let scan = self.scan(&mut |record, key| {
            users.push(Noted {
                key: hashes.key(key),
                cells: hashes.cells(record, at),
                offset: record.position().map_or(0, |p| p.byte()),
            });
            Ok(true)
        });
        users.sort_unstable_by_key(|user| (user.key, user.offset));
        let repeated = users
            .windows(2)
            .filter(|pair| pair[0].key == pair[1].key)
            .map(|pair| pair[1].offset)
            .min();
        if let Some(offset) = repeated {
            return Err(self.duplicate_at(offset));
        }
        Ok(match scan? {
            Scan::NotText => None,
            Scan::Done | Scan::Stopped => Some(users),
        })
    }

    /// [`Sheet::duplicate`] for the record at `offset`, found by reading from the start: a seek
    /// to it would keep its byte offset but not its line.
    fn duplicate_at(&self, offset: u64) -> DiffError {
        let mut repeat = None;
        let found = self.scan(&mut |record, _| {
            if record.position().map(|p| p.byte()) == Some(offset) {
                repeat = Some(record.clone());
            }
            Ok(repeat.is_none())
        });
        match (found, repeat) {
            (Err(error), _) => error,
            (Ok(_), Some(record)) => self.duplicate(&record, self.key(&record)),
            (Ok(_), None) => self.csv_error(io::Error::other(CHANGED).into()),
        }
    }

    /// The error for `record`, whose `key` an earlier record has: the earlier line is looked up
    /// by reading the file again, so that the index need not keep a line per user.
    fn duplicate(&self, record: &StringRecord, key: &str) -> DiffError {
        let mut first = None;
        let found = self.scan(&mut |earlier, other| {
            if other == key {
                first = earlier.position().map(|p| p.line());
            }
            Ok(first.is_none())
        });
        match found {
            Err(error) => error,
            Ok(_) => {
                let problem = key_problem(&self.key_column, key, Some(first.unwrap_or(0)));
                self.format_error(record, problem.unwrap_or_default())
            }
        }
    }
}

/// A record's cell `at`, trimmed; `""` past its end or for a column the file lacks.
fn cell(record: &StringRecord, at: Option<usize>) -> &str {
    crate::text::trimmed(at.and_then(|i| record.get(i)).unwrap_or(""))
}

/// The hashes of keys and of cells, with fixed seeds: the same text hashes alike in both files.
struct Hashes {
    key: [FixedState; 2],
    cells: FixedState,
    password: [FixedState; 2],
}

impl Default for Hashes {
    fn default() -> Hashes {
        let seed = |n: u64| FixedState::with_seed(0x726f_7374_6572_0000 + n);
        Hashes {
            key: [seed(1), seed(2)],
            cells: seed(3),
            password: [seed(4), seed(5)],
        }
    }
}

/// 128 bits of `text`: two 64-bit hashes of different seeds.
fn wide(states: &[FixedState; 2], text: &str) -> u128 {
    u128::from(states[0].hash_one(text)) | u128::from(states[1].hash_one(text)) << 64
}

impl Hashes {
    fn key(&self, key: &str) -> u128 {
        wide(&self.key, key)
    }

    /// The cells at `at` (the old file's columns, found in this file), each marked present or
    /// missing, so that a column one file lacks never hashes like an empty one.
    fn cells(&self, record: &StringRecord, at: &[Option<usize>]) -> u64 {
        let mut hasher = self.cells.build_hasher();
        for &column in at {
            match column {
                Some(i) => {
                    let text = cell(record, Some(i));
                    hasher.write_u8(0);
                    hasher.write_usize(text.len());
                    hasher.write(text.as_bytes());
                }
                None => hasher.write_u8(1),
            }
        }
        hasher.finish()
    }

    /// What a set-aside user carries instead of its password: empty stays empty (it says
    /// nothing), anything else becomes 32 hex digits, equal when the passwords are.
    fn conceal(&self, password: &str) -> String {
        if password.is_empty() {
            String::new()
        } else {
            format!("{:032x}", wide(&self.password, password))
        }
    }
}

/// The three lists being found, and the counts that go with them.
struct Lists {
    fields: Fields,
    /// Where each of `fields` is in the old and the new file.
    old_at: Vec<Option<usize>>,
    new_at: Vec<Option<usize>>,
    added: Listed,
    removed: Listed,
    changed: Listed,
    /// Users who changed each of `fields`.
    field_counts: Vec<usize>,
    unchanged: usize,
}

impl Lists {
    fn new(old: &Sheet, new: &Sheet) -> io::Result<Lists> {
        let fields = Fields::new(
            (&old.columns, RosterFormat::Csv),
            (&new.columns, RosterFormat::Csv),
        );
        Ok(Lists {
            field_counts: vec![0; fields.names.len()],
            old_at: fields.names.iter().map(|c| old.at(c)).collect(),
            new_at: fields.names.iter().map(|c| new.at(c)).collect(),
            fields,
            added: Listed::new(without_password(&new.columns))?,
            removed: Listed::new(without_password(&old.columns))?,
            changed: Listed::new(Vec::new())?,
            unchanged: 0,
        })
    }

    /// Compare one user's rows, each a sheet and `column index -> value`, and file it as
    /// changed or unchanged.
    fn compare<'a>(
        &mut self,
        key: &str,
        phones: &PhoneRule,
        (old_sheet, old): (&Sheet, impl Fn(usize) -> &'a str),
        (new_sheet, new): (&Sheet, impl Fn(usize) -> &'a str),
    ) -> io::Result<()> {
        let (old_at, new_at) = (&self.old_at, &self.new_at);
        let changes = self.fields.changes(
            phones,
            |i| old_at[i].map_or("", &old),
            |i| new_at[i].map_or("", &new),
        );
        if changes.is_empty() {
            self.unchanged += 1;
            return Ok(());
        }
        for change in &changes {
            if let Some(i) = self.fields.names.iter().position(|n| *n == change.field) {
                self.field_counts[i] += 1;
            }
        }
        let name = name_of(|c| new_sheet.at(c).map(&new))
            .or_else(|| name_of(|c| old_sheet.at(c).map(&old)))
            .unwrap_or_default();
        let mut cells = vec![name.as_str()];
        for change in &changes {
            cells.push(&change.field);
            cells.push(change.old.as_deref().unwrap_or(""));
            cells.push(change.new.as_deref().unwrap_or(""));
        }
        self.changed.push(key, cells.into_iter())
    }

    /// Step 4: the lists in key order, and the report.
    fn finish(self, old: &Sheet, new: &Sheet) -> Result<Streamed, DiffError> {
        let key_column = shared_key_column(
            (&old.key_column, &old.file.label),
            (&new.key_column, &new.file.label),
        )?;
        let io = |e| old.file.io_error(e);
        let (added, removed, changed) = (
            self.added.into_sorted().map_err(io)?,
            self.removed.into_sorted().map_err(io)?,
            self.changed.into_sorted().map_err(io)?,
        );
        Ok(Streamed {
            counts: Counts {
                added: added.order.len(),
                removed: removed.order.len(),
                changed: changed.order.len(),
                unchanged: self.unchanged,
            },
            key_column,
            field_counts: rank_fields(&self.fields.names, &self.field_counts),
            added,
            removed,
            changed,
        })
    }
}

/// One file of a merge: the record at hand.
struct Cursor<'s> {
    sheet: &'s Sheet,
    records: Records<'s>,
    record: StringRecord,
    /// False at the end of the file.
    here: bool,
}

impl<'s> Cursor<'s> {
    /// A cursor reading `sheet` itself, or (given a scope) on another core, ahead of the merge.
    fn new<'scope>(
        sheet: &'s Sheet,
        ahead: Option<&'scope std::thread::Scope<'scope, 's>>,
    ) -> Result<Cursor<'s>, DiffError> {
        let mut reader = sheet.reader(HEAD)?;
        reader.headers().map_err(|e| sheet.csv_error(e))?;
        let checked = Checked {
            sheet,
            reader,
            previous: None,
        };
        Ok(Cursor {
            sheet,
            records: match ahead {
                Some(scope) => Records::Ahead(ReadAhead::start(scope, checked)),
                None => Records::Here(checked),
            },
            record: StringRecord::new(),
            here: true,
        })
    }

    fn key(&self) -> Option<&str> {
        self.here.then(|| self.sheet.key(&self.record))
    }

    /// On to the next user; `false` when the file cannot be merged from here.
    fn advance(&mut self) -> bool {
        let read = match &mut self.records {
            Records::Here(checked) => checked.read(&mut self.record),
            Records::Ahead(ahead) => ahead.read(&mut self.record),
        };
        match read {
            Ok(more) => {
                self.here = more;
                true
            }
            Err(Unreadable) => false,
        }
    }
}

/// A record the merge cannot take: a key out of order or repeated, or anything the other ways
/// must report in their order (they read the file again and say why).
struct Unreadable;

/// Where a cursor's records come from.
enum Records<'s> {
    Here(Checked<'s>),
    Ahead(ReadAhead),
}

/// A file's users read in turn, each checked fit to merge.
struct Checked<'s> {
    sheet: &'s Sheet,
    reader: csv::Reader<&'s File>,
    /// The key before, to see that keys rise.
    previous: Option<String>,
}

impl Checked<'_> {
    /// The next user's record into `record`; `false` at the end of the file.
    fn read(&mut self, record: &mut StringRecord) -> Result<bool, Unreadable> {
        loop {
            if !self.reader.read_record(record).map_err(|_| Unreadable)? {
                return Ok(false);
            }
            if record.as_slice().contains('\0') {
                return Err(Unreadable);
            }
            if is_blank(record, self.sheet.columns.len(), "").map_err(|_| Unreadable)? {
                continue;
            }
            let key = self.sheet.key(record);
            let rises = self
                .previous
                .as_deref()
                .is_none_or(|previous| natural_cmp(previous, key).is_lt());
            if key.is_empty() || !rises {
                return Err(Unreadable);
            }
            let previous = self.previous.get_or_insert_with(String::new);
            previous.clear();
            previous.push_str(key);
            return Ok(true);
        }
    }
}

/// Users read and checked on another core, handed over in batches; a spent batch goes back to
/// be filled again, so the reading allocates only its first few batches.
struct ReadAhead {
    batches: mpsc::Receiver<Batch>,
    spent: mpsc::Sender<Vec<StringRecord>>,
    batch: Batch,
    taken: usize,
}

#[derive(Default)]
struct Batch {
    records: Vec<StringRecord>,
    filled: usize,
    /// After its records: `Some(Ok(()))` the end of the file, `Some(Err(_))` a record the reader
    /// could not read.
    end: Option<Result<(), Unreadable>>,
}

impl ReadAhead {
    const BATCH: usize = 1024;

    /// Read on a thread of `scope`, which ends when the file does, or when the cursor is dropped.
    fn start<'scope, 's>(
        scope: &'scope std::thread::Scope<'scope, 's>,
        mut checked: Checked<'s>,
    ) -> ReadAhead {
        // Two batches waiting keep the reader a batch ahead without letting it run away.
        let (filled, batches) = mpsc::sync_channel(2);
        let (spent, refills) = mpsc::channel::<Vec<StringRecord>>();
        scope.spawn(move || loop {
            let mut records = refills
                .try_recv()
                .unwrap_or_else(|_| vec![StringRecord::new(); Self::BATCH]);
            let mut batch = Batch::default();
            for record in &mut records {
                match checked.read(record) {
                    Ok(true) => batch.filled += 1,
                    Ok(false) => batch.end = Some(Ok(())),
                    Err(Unreadable) => batch.end = Some(Err(Unreadable)),
                }
                if batch.end.is_some() {
                    break;
                }
            }
            batch.records = records;
            let last = batch.end.is_some();
            if filled.send(batch).is_err() || last {
                return;
            }
        });
        ReadAhead {
            batches,
            spent,
            batch: Batch::default(),
            taken: 0,
        }
    }

    fn read(&mut self, record: &mut StringRecord) -> Result<bool, Unreadable> {
        loop {
            if self.taken < self.batch.filled {
                // The batch gets the spent record back, to be filled in its turn.
                std::mem::swap(record, &mut self.batch.records[self.taken]);
                self.taken += 1;
                return Ok(true);
            }
            if let Some(end) = self.batch.end.take() {
                return end.map(|()| false);
            }
            // A reader that stopped without saying why has panicked: the merge gives up, and
            // the scope panics in turn when it ends.
            let next = self.batches.recv().map_err(|_| Unreadable)?;
            let spent = std::mem::replace(&mut self.batch, next);
            // The first batch replaces an empty one, which has nothing to lend. The reader is
            // gone only when it has read its last batch.
            if !spent.records.is_empty() {
                let _ = self.spent.send(spent.records);
            }
            self.taken = 0;
        }
    }
}

/// Which of two lists walked side by side goes on: `Less` the first's next entry alone,
/// `Greater` the second's, `Equal` both; `None` when both are done.
fn side_by_side<T>(
    a: Option<T>,
    b: Option<T>,
    cmp: impl FnOnce(T, T) -> Ordering,
) -> Option<Ordering> {
    Some(match (a, b) {
        (None, None) => return None,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(a), Some(b)) => cmp(a, b),
    })
}

/// The merge of two files sorted by key; `None` when the new one turns out not to be.
fn merge(old: &Sheet, new: &Sheet, phones: &PhoneRule) -> Result<Option<Streamed>, DiffError> {
    // The new file is read on another core, the old one here beside the comparing.
    std::thread::scope(|scope| merge_reading_ahead(old, new, phones, scope))
}

fn merge_reading_ahead<'s, 'scope>(
    old: &'s Sheet,
    new: &'s Sheet,
    phones: &PhoneRule,
    scope: &'scope std::thread::Scope<'scope, 's>,
) -> Result<Option<Streamed>, DiffError> {
    let io = |e| new.file.io_error(e);
    let mut lists = Lists::new(old, new).map_err(io)?;
    let (old_password, new_password) = (old.at(PASSWORD), new.at(PASSWORD));
    // Byte-equal rows of files with the same columns are equal by every rule of [`Fields`].
    let same_columns = old.columns == new.columns;
    let mut a = Cursor::new(old, None)?;
    let mut b = Cursor::new(new, Some(scope))?;
    if !(a.advance() && b.advance()) {
        return Ok(None);
    }
    // Users found gone, and users of the new file met. A new file in another order may rise in
    // strides, each passing over thousands of old users, and fall only after most of the old
    // file (sorted by team, then by extension, a team's first users span the account). Giving
    // up early changes no report, only which way finds it.
    let (mut gone, mut met) = (0usize, 0usize);
    loop {
        // Once the new file has ended it has proved itself sorted: what is left is only gone.
        if gone > GIVE_UP_AFTER_GONE && gone / GONE_PER_USER_MET > met && b.key().is_some() {
            return Ok(None);
        }
        let Some(order) = side_by_side(a.key(), b.key(), natural_cmp) else {
            break;
        };
        let moved = match order {
            Ordering::Less => {
                gone += 1;
                let key = old.key(&a.record);
                let cells = kept_cells(&a.record, old.columns.len(), old_password);
                lists.removed.push(key, cells).map_err(io)?;
                a.advance()
            }
            Ordering::Greater => {
                met += 1;
                let key = new.key(&b.record);
                let cells = kept_cells(&b.record, new.columns.len(), new_password);
                lists.added.push(key, cells).map_err(io)?;
                b.advance()
            }
            Ordering::Equal => {
                met += 1;
                let (x, y) = (&a.record, &b.record);
                if same_columns && x == y {
                    lists.unchanged += 1;
                } else {
                    lists
                        .compare(
                            new.key(y),
                            phones,
                            (old, |i| cell(x, Some(i))),
                            (new, |i| cell(y, Some(i))),
                        )
                        .map_err(io)?;
                }
                a.advance() && b.advance()
            }
        };
        if !moved {
            return Ok(None);
        }
    }
    lists.finish(old, new).map(Some)
}

impl Indexed {
    /// Steps 2 and 3 of the hash way: both sorted lists of users walked side by side, then the
    /// records still wanted read again, the new file's and then the old file's.
    fn join(
        self,
        new: Sheet,
        new_users: Vec<Noted>,
        phones: &PhoneRule,
    ) -> Result<Streamed, DiffError> {
        let old = &self.sheet;
        let mut lists = Lists::new(old, &new).map_err(|e| new.file.io_error(e))?;
        // Offsets: in the old file of users gone; in the new file of users joined (`None`) and
        // of users whose cells hash differently (with their old offset).
        let mut gone = Vec::new();
        let mut wanted_new: Vec<(u64, Option<u64>)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while let Some(order) = side_by_side(self.users.get(i), new_users.get(j), |a, b| {
            a.key.cmp(&b.key)
        }) {
            match order {
                Ordering::Less => gone.push(self.users[i].offset),
                Ordering::Greater => wanted_new.push((new_users[j].offset, None)),
                Ordering::Equal if self.users[i].cells == new_users[j].cells => {
                    lists.unchanged += 1;
                }
                Ordering::Equal => {
                    wanted_new.push((new_users[j].offset, Some(self.users[i].offset)))
                }
            }
            i += usize::from(order.is_le());
            j += usize::from(order.is_ge());
        }
        drop((self.users, new_users));

        // The new rows wanted, in file order: joined users listed, the others set aside with
        // their password concealed.
        let hashes = Hashes::default();
        let mut pending = Spill::new().map_err(|e| new.file.io_error(e))?;
        let mut waiting: Vec<(u64, Option<u64>)> =
            gone.into_iter().map(|offset| (offset, None)).collect();
        wanted_new.sort_unstable_by_key(|(offset, _)| *offset);
        let password = new.at(PASSWORD);
        let mut reader = new.reader(8 * 1024)?;
        reader.headers().map_err(|e| new.csv_error(e))?;
        let mut record = StringRecord::new();
        for (offset, old_offset) in wanted_new {
            read_at(&mut reader, &mut record, new.bom, offset).map_err(|e| new.csv_error(e))?;
            let io = |e| new.file.io_error(e);
            match old_offset {
                None => {
                    let cells = kept_cells(&record, new.columns.len(), password);
                    lists.added.push(new.key(&record), cells).map_err(io)?;
                }
                Some(old_offset) => {
                    let concealed = password.map(|at| hashes.conceal(cell(&record, Some(at))));
                    let row = (0..new.columns.len()).map(|i| match &concealed {
                        Some(text) if Some(i) == password => text.as_str(),
                        _ => cell(&record, Some(i)),
                    });
                    waiting.push((old_offset, Some(pending.push(row).map_err(io)?)));
                }
            }
        }

        // The old rows wanted, in file order: users gone listed, the others compared.
        let io = |e| old.file.io_error(e);
        waiting.sort_unstable_by_key(|(offset, _)| *offset);
        let password = old.at(PASSWORD);
        let mut pending = pending.into_reader().map_err(io)?;
        let mut new_row = Vec::new();
        let mut reader = old.reader(8 * 1024)?;
        reader.headers().map_err(|e| old.csv_error(e))?;
        for (offset, set_aside) in waiting {
            read_at(&mut reader, &mut record, old.bom, offset).map_err(|e| old.csv_error(e))?;
            let key = old.key(&record);
            let Some(at) = set_aside else {
                let cells = kept_cells(&record, old.columns.len(), password);
                lists.removed.push(key, cells).map_err(io)?;
                continue;
            };
            pending.read(at, &mut new_row).map_err(io)?;
            let concealed = password.map(|at| hashes.conceal(cell(&record, Some(at))));
            let old_cell = |at: usize| match &concealed {
                Some(text) if Some(at) == password => text.as_str(),
                _ => cell(&record, Some(at)),
            };
            let new_cell = |at: usize| new_row.get(at).map_or("", String::as_str);
            lists
                .compare(key, phones, (old, old_cell), (&new, new_cell))
                .map_err(io)?;
        }
        lists.finish(old, &new)
    }
}

/// Read the record that starts at `offset` into `record`: by reading on when it is near, else by
/// seeking to it.
fn read_at(
    reader: &mut csv::Reader<&File>,
    record: &mut StringRecord,
    bom: u64,
    offset: u64,
) -> csv::Result<()> {
    let here = reader.position().byte();
    if offset < here || offset - here > READ_ON {
        let mut position = csv::Position::new();
        position.set_byte(offset);
        reader.seek_raw(SeekFrom::Start(bom + offset), position)?;
    }
    loop {
        if !reader.read_record(record)? {
            break;
        }
        match record.position().map(|p| p.byte()) {
            Some(at) if at == offset => return Ok(()),
            Some(at) if at < offset => {}
            _ => break,
        }
    }
    Err(io::Error::other(CHANGED).into())
}

/// Why a record read before is not where it was.
const CHANGED: &str = "the file changed while it was compared";

/// Column names without the password, which no list carries.
fn without_password(columns: &[String]) -> Vec<String> {
    columns.iter().filter(|c| *c != PASSWORD).cloned().collect()
}

/// A record's cells, one per column, without the password cell.
fn kept_cells(
    record: &StringRecord,
    columns: usize,
    password: Option<usize>,
) -> impl Iterator<Item = &str> {
    (0..columns)
        .filter(move |i| Some(*i) != password)
        .map(|i| cell(record, Some(i)))
}

/// Strings appended to an unnamed temporary file, read back by position.
struct Spill {
    writer: BufWriter<File>,
    written: u64,
}

impl Spill {
    fn new() -> io::Result<Spill> {
        Ok(Spill {
            writer: BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?),
            written: 0,
        })
    }

    /// Append one entry (lengths first); returns where it starts.
    fn push<'a>(&mut self, cells: impl Iterator<Item = &'a str>) -> io::Result<u64> {
        let start = self.written;
        for text in cells {
            self.writer.write_all(&(text.len() as u32).to_le_bytes())?;
            self.writer.write_all(text.as_bytes())?;
            self.written += 4 + text.len() as u64;
        }
        self.writer.write_all(&u32::MAX.to_le_bytes())?;
        self.written += 4;
        Ok(start)
    }

    fn into_reader(self) -> io::Result<SpillReader> {
        let mut file = self.writer.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(SpillReader {
            reader: BufReader::with_capacity(64 * 1024, file),
            at: 0,
        })
    }
}

struct SpillReader {
    reader: BufReader<File>,
    at: u64,
}

impl SpillReader {
    /// The entry at `start`; reading entries in the order they were written never seeks.
    fn read(&mut self, start: u64, cells: &mut Vec<String>) -> io::Result<()> {
        if start != self.at {
            self.reader.seek_relative(start as i64 - self.at as i64)?;
            self.at = start;
        }
        cells.clear();
        let mut word = [0u8; 4];
        loop {
            self.reader.read_exact(&mut word)?;
            self.at += 4;
            let len = u32::from_le_bytes(word);
            if len == u32::MAX {
                return Ok(());
            }
            let mut text = vec![0; len as usize];
            self.reader.read_exact(&mut text)?;
            self.at += u64::from(len);
            cells.push(String::from_utf8(text).map_err(io::Error::other)?);
        }
    }
}

/// One list being collected: entries spilled as they come, their keys kept to sort them.
struct Listed {
    columns: Vec<String>,
    spill: Spill,
    keys: Vec<(Box<str>, u64)>,
}

impl Listed {
    fn new(columns: Vec<String>) -> io::Result<Listed> {
        Ok(Listed {
            columns,
            spill: Spill::new()?,
            keys: Vec::new(),
        })
    }

    fn push<'a>(&mut self, key: &'a str, cells: impl Iterator<Item = &'a str>) -> io::Result<()> {
        let at = self.spill.push(std::iter::once(key).chain(cells))?;
        self.keys.push((key.into(), at));
        Ok(())
    }

    /// Step 4: the entries in key order.
    fn into_sorted(mut self) -> io::Result<Sorted> {
        self.keys.sort_unstable_by(|a, b| natural_cmp(&a.0, &b.0));
        Ok(Sorted {
            columns: self.columns,
            order: self.keys.into_iter().map(|(_, at)| at).collect(),
            spill: RefCell::new(self.spill.into_reader()?),
        })
    }
}

/// A finished list: where each entry is in its spill file, in key order.
struct Sorted {
    /// Column names of a row entry, after its key.
    columns: Vec<String>,
    order: Vec<u64>,
    spill: RefCell<SpillReader>,
}

/// A change report of two CSV exports, its lists in spill files.
pub struct Streamed {
    counts: Counts,
    key_column: String,
    field_counts: Vec<(String, usize)>,
    added: Sorted,
    removed: Sorted,
    changed: Sorted,
}

impl ChangeReport for Streamed {
    fn counts(&self) -> Counts {
        self.counts
    }

    fn key_column(&self) -> &str {
        &self.key_column
    }

    fn field_counts(&self) -> Vec<(String, usize)> {
        self.field_counts.clone()
    }

    fn visit(&self, part: Part, f: &mut dyn FnMut(Entry<'_>) -> io::Result<()>) -> io::Result<()> {
        let list = match part {
            Part::Added => &self.added,
            Part::Removed => &self.removed,
            Part::Changed => &self.changed,
        };
        let mut spill = list.spill.borrow_mut();
        let mut cells = Vec::new();
        for &at in &list.order {
            spill.read(at, &mut cells)?;
            let mut cells = cells.drain(..);
            let key = cells.next().unwrap_or_default();
            if part == Part::Changed {
                let name = cells.next().unwrap_or_default();
                let mut changes = Vec::new();
                while let (Some(field), Some(old), Some(new)) =
                    (cells.next(), cells.next(), cells.next())
                {
                    let shown = field != PASSWORD;
                    changes.push(Change {
                        field,
                        old: shown.then_some(old),
                        new: shown.then_some(new),
                    });
                }
                f(Entry::User(&ChangedUser { key, name, changes }))?;
            } else {
                let row = list.columns.iter().cloned().zip(cells).collect();
                f(Entry::Row(&row))?;
            }
        }
        Ok(())
    }
}

/// A change report from either path.
pub enum Changes {
    Streamed(Box<Streamed>),
    Held(Diff),
}

impl Changes {
    fn report(&self) -> &dyn ChangeReport {
        match self {
            Changes::Streamed(streamed) => streamed.as_ref(),
            Changes::Held(diff) => diff,
        }
    }
}

impl ChangeReport for Changes {
    fn counts(&self) -> Counts {
        self.report().counts()
    }

    fn key_column(&self) -> &str {
        self.report().key_column()
    }

    fn field_counts(&self) -> Vec<(String, usize)> {
        self.report().field_counts()
    }

    fn visit(&self, part: Part, f: &mut dyn FnMut(Entry<'_>) -> io::Result<()>) -> io::Result<()> {
        self.report().visit(part, f)
    }
}

impl Serialize for Changes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Json(self).serialize(serializer)
    }
}
