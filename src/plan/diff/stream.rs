//! The diff the commands run: two CSV exports compared in memory that grows with the users who
//! changed, not with the users who did not.
//!
//! How:
//! 1. [`index`] reads the old file once. Each user keeps 32 bytes: a 128-bit hash of its key, a
//!    64-bit hash of its cells (by column name) and where its record starts.
//! 2. [`OldRoster::compare`] reads the new file once. A user whose key is known and whose cells
//!    hash alike is unchanged and forgotten there and then. A known user with other cells is set
//!    aside (its row spilled to a temporary file), and so is a user the old file lacks.
//! 3. The old file is read again, only at the records still wanted: users gone, and the old side
//!    of the users set aside. Those pairs are compared by the one rule ([`Fields`]): different
//!    hashes say only "maybe changed" (a phone written another way, a password one file lacks).
//! 4. The keys of the three lists are sorted, and each list is read back from its spill file as
//!    it is rendered ([`ChangeReport`]).
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
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

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
/// A wanted record at most this far ahead is reached by reading on; further, by seeking.
const READ_ON: u64 = 64 * 1024;
/// Set on an indexed user's offset once the new file has it.
const MATCHED: u64 = 1 << 63;

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
    /// A UTF-8 CSV export: hashes per user, the file kept open to read the wanted rows again.
    Indexed(Indexed),
    /// Anything else, held whole.
    Held(Roster),
}

pub struct Indexed {
    sheet: Sheet,
    /// Key hash -> (cells hash, record offset with [`MATCHED`]).
    users: HashMap<u128, (u64, u64), foldhash::fast::FixedState>,
}

/// Read the old roster; its errors come first, as they would from [`super::read_roster`].
pub fn index(old: RosterFile) -> Result<OldRoster, DiffError> {
    let sheet = match Sheet::open(old)? {
        Ok(sheet) => sheet,
        Err(old) => return old.read_whole().map(OldRoster::Held),
    };
    let hashes = Hashes::default();
    let all: Vec<Option<usize>> = (0..sheet.columns.len()).map(Some).collect();
    let mut users: HashMap<u128, (u64, u64), _> =
        HashMap::with_capacity_and_hasher(sheet.estimated_rows, Default::default());
    let streamed = sheet.scan(&mut |record, key| {
        let offset = record.position().map_or(0, |p| p.byte());
        let cells = hashes.cells(record, &all);
        match users.insert(hashes.key(key), (cells, offset)) {
            None => Ok(()),
            Some(_) => Err(sheet.duplicate(record, key)),
        }
    })?;
    Ok(if streamed {
        OldRoster::Indexed(Indexed { sheet, users })
    } else {
        OldRoster::Held(sheet.file.read_whole()?)
    })
}

impl OldRoster {
    /// Compare with the new roster; phone numbers compare by `phones`.
    pub fn compare(self, new: RosterFile, phones: &PhoneRule) -> Result<Changes, DiffError> {
        let indexed = match self {
            OldRoster::Held(old) => {
                return Ok(Changes::Held(diff(&old, &new.read_whole()?, phones)?));
            }
            OldRoster::Indexed(indexed) => indexed,
        };
        let held = |indexed: Indexed, new: RosterFile| -> Result<Changes, DiffError> {
            let old = indexed.sheet.file.read_whole()?;
            Ok(Changes::Held(diff(&old, &new.read_whole()?, phones)?))
        };
        let new = match Sheet::open(new)? {
            Ok(sheet) => sheet,
            Err(new) => return held(indexed, new),
        };
        let mut indexed = indexed;
        match indexed.walk_new(&new)? {
            Some(walked) => walked.finish(indexed, new, phones).map(Changes::Streamed),
            None => held(indexed, new.file),
        }
    }
}

/// A UTF-8 CSV roster opened for streaming.
struct Sheet {
    file: RosterFile,
    /// Bytes of the BOM, before the first record.
    bom: u64,
    delimiter: u8,
    columns: Vec<String>,
    key_column: String,
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

    /// Call `each` with every user's record and key, in file order; `false` when the file turned
    /// out not to be UTF-8 text (a stray byte, a NUL), which the simple path must judge.
    fn scan(
        &self,
        each: &mut dyn FnMut(&StringRecord, &str) -> Result<(), DiffError>,
    ) -> Result<bool, DiffError> {
        let mut reader = self.reader(HEAD)?;
        let mut record = StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => return Ok(true),
                Ok(true) => {}
                Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => return Ok(false),
                Err(e) => return Err(self.csv_error(e)),
            }
            if record.as_slice().contains('\0') {
                return Ok(false);
            }
            if is_blank(&record, self.columns.len(), &self.file.label)? {
                continue;
            }
            let key = self.key(&record);
            if let Some(problem) = key_problem(&self.key_column, key, None) {
                return Err(self.format_error(&record, problem));
            }
            each(&record, key)?;
        }
    }

    fn key<'r>(&self, record: &'r StringRecord) -> &'r str {
        key_of(|column| cell(record, self.at(column)), &self.key_column)
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

    /// The error for `record`, whose `key` an earlier record has: the earlier line is looked up
    /// by reading the file again, so that the index need not keep a line per user.
    fn duplicate(&self, record: &StringRecord, key: &str) -> DiffError {
        let mut first = None;
        let found = self.scan(&mut |earlier, other| {
            if first.is_none() && other == key {
                first = earlier.position().map(|p| p.line());
            }
            Ok(())
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
    at.and_then(|i| record.get(i)).unwrap_or("").trim()
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

/// What the walk of the new file leaves for the second look at the old one.
struct Walked {
    hashes: Hashes,
    unchanged: usize,
    added: Listed,
    /// New rows of users whose cells hash differently (passwords concealed).
    pending: Spill,
    /// (old record offset, position in `pending`) of each such user.
    waiting: Vec<(u64, u64)>,
}

impl Indexed {
    /// Step 2: the new file against the index; `None` when it must go the simple path.
    fn walk_new(&mut self, new: &Sheet) -> Result<Option<Walked>, DiffError> {
        let hashes = Hashes::default();
        let old_columns: Vec<Option<usize>> =
            self.sheet.columns.iter().map(|c| new.at(c)).collect();
        let password = new.at(PASSWORD);
        let io = |e| new.file.io_error(e);
        let mut added = Listed::new(without_password(&new.columns)).map_err(io)?;
        let mut pending = Spill::new().map_err(io)?;
        let mut waiting = Vec::new();
        let mut unchanged = 0;
        let mut added_keys = HashSet::new();
        let users = &mut self.users;
        let streamed = new.scan(&mut |record, key| {
            let hash = hashes.key(key);
            match users.get_mut(&hash) {
                Some((_, offset)) if *offset & MATCHED != 0 => Err(new.duplicate(record, key)),
                Some((cells, offset)) => {
                    *offset |= MATCHED;
                    if *cells == hashes.cells(record, &old_columns) {
                        unchanged += 1;
                    } else {
                        let concealed = password.map(|at| hashes.conceal(cell(record, Some(at))));
                        let row = (0..new.columns.len()).map(|i| match &concealed {
                            Some(text) if Some(i) == password => text.as_str(),
                            _ => cell(record, Some(i)),
                        });
                        let at = pending.push(row).map_err(io)?;
                        waiting.push((*offset & !MATCHED, at));
                    }
                    Ok(())
                }
                None if !added_keys.insert(hash) => Err(new.duplicate(record, key)),
                None => added
                    .push(key, kept_cells(record, new.columns.len(), password))
                    .map_err(io),
            }
        })?;
        if !streamed {
            return Ok(None);
        }
        Ok(Some(Walked {
            hashes,
            unchanged,
            added,
            pending,
            waiting,
        }))
    }
}

impl Walked {
    /// Step 3: the old records still wanted, read again; then the report.
    fn finish(
        self,
        indexed: Indexed,
        new: Sheet,
        phones: &PhoneRule,
    ) -> Result<Streamed, DiffError> {
        let old = &indexed.sheet;
        let key_column = shared_key_column(
            (&old.key_column, &old.file.label),
            (&new.key_column, &new.file.label),
        )?;
        let fields = Fields::new(
            (&old.columns, RosterFormat::Csv),
            (&new.columns, RosterFormat::Csv),
        );
        let old_at: Vec<Option<usize>> = fields.names.iter().map(|c| old.at(c)).collect();
        let new_at: Vec<Option<usize>> = fields.names.iter().map(|c| new.at(c)).collect();
        let password = old.at(PASSWORD);
        let io = |e| old.file.io_error(e);

        // Removed users and the old side of the waiting ones, in file order.
        let mut wanted: Vec<(u64, Option<u64>)> = indexed
            .users
            .values()
            .filter(|(_, offset)| offset & MATCHED == 0)
            .map(|&(_, offset)| (offset, None))
            .chain(self.waiting.iter().map(|&(offset, at)| (offset, Some(at))))
            .collect();
        drop(indexed.users);
        wanted.sort_unstable_by_key(|(offset, _)| *offset);

        let mut removed = Listed::new(without_password(&old.columns)).map_err(io)?;
        let mut changed = Listed::new(Vec::new()).map_err(io)?;
        let mut field_counts = vec![0; fields.names.len()];
        let mut unchanged = self.unchanged;
        let mut pending = self.pending.into_reader().map_err(io)?;
        let mut new_row = Vec::new();
        let mut reader = old.reader(8 * 1024)?;
        reader.headers().map_err(|e| old.csv_error(e))?;
        let mut record = StringRecord::new();
        for (offset, waiting) in wanted {
            read_at(&mut reader, &mut record, old.bom, offset).map_err(|e| old.csv_error(e))?;
            let key = old.key(&record);
            let Some(at) = waiting else {
                removed
                    .push(key, kept_cells(&record, old.columns.len(), password))
                    .map_err(io)?;
                continue;
            };
            pending.read(at, &mut new_row).map_err(io)?;
            let concealed = password.map(|at| self.hashes.conceal(cell(&record, Some(at))));
            let old_cell = |i: usize| match (&concealed, old_at[i]) {
                (Some(text), Some(at)) if Some(at) == password => text.as_str(),
                (_, at) => cell(&record, at),
            };
            let new_cell = |i: usize| {
                new_at[i]
                    .and_then(|at| new_row.get(at))
                    .map_or("", String::as_str)
            };
            let changes = fields.changes(phones, old_cell, new_cell);
            if changes.is_empty() {
                unchanged += 1;
                continue;
            }
            for change in &changes {
                if let Some(i) = fields.names.iter().position(|n| *n == change.field) {
                    field_counts[i] += 1;
                }
            }
            let name = name_of(|c| new.at(c).and_then(|at| new_row.get(at)).map(String::as_str))
                .or_else(|| name_of(|c| old.at(c).map(|at| cell(&record, Some(at)))))
                .unwrap_or_default();
            let mut cells = vec![name.as_str()];
            for change in &changes {
                cells.push(&change.field);
                cells.push(change.old.as_deref().unwrap_or(""));
                cells.push(change.new.as_deref().unwrap_or(""));
            }
            changed.push(key, cells.into_iter()).map_err(io)?;
        }
        let (added, removed, changed) = (
            self.added.into_sorted().map_err(io)?,
            removed.into_sorted().map_err(io)?,
            changed.into_sorted().map_err(io)?,
        );
        Ok(Streamed {
            counts: Counts {
                added: added.order.len(),
                removed: removed.order.len(),
                changed: changed.order.len(),
                unchanged,
            },
            key_column,
            field_counts: rank_fields(&fields.names, &field_counts),
            added,
            removed,
            changed,
        })
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
    Err(io::Error::other("the file changed while it was compared").into())
}

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
    Streamed(Streamed),
    Held(Diff),
}

impl Changes {
    fn report(&self) -> &dyn ChangeReport {
        match self {
            Changes::Streamed(streamed) => streamed,
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
