//! Export: walk every TeleCMI page or Smartflo cursor, de-duplicate, check completeness, and write
//! the roster atomically.

pub mod atomic;
pub mod record;
pub mod xlsx;

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use compact_str::CompactString;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::ExportFormat;
use crate::model::{AccountUser, DirectoryUser, User};
use crate::progress::Progress;
use crate::provider::smartflo::Smartflo;
use crate::provider::telecmi::Telecmi;
use crate::Error;
use atomic::AtomicFile;
use record::{csv_cell, ExportRecord};

/// Whole re-walks tried when the roster changes under a TeleCMI walk.
const MAX_WALKS: u32 = 3;
/// A cursor walk longer than this is taken for a provider loop.
const MAX_CURSOR_PAGES: u64 = 1_000_000;

/// Why an export could not produce a complete roster (exit 3; the previous file is untouched).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the TeleCMI export cannot be proved complete: the roster kept changing or its count is wrong ({0}); tried {MAX_WALKS} times and wrote nothing, so the previous file is untouched")]
    Unstable(String),
    #[error("the Smartflo cursor did not advance (last_seen_id {previous} then {next}): stopping instead of looping")]
    StuckCursor { previous: u64, next: String },
    #[error("Smartflo said has_more but sent an empty page after last_seen_id {0}: stopping instead of looping")]
    EmptyPageWithMore(String),
    #[error("the walk passed {0} pages without reaching the end")]
    TooLong(u64),
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// What a walk did.
#[derive(Debug, Clone, Serialize)]
pub struct WalkStats {
    pub users: u64,
    pub pages: u64,
    pub walks: u32,
    pub duplicates_dropped: u64,
    #[serde(skip)]
    pub duration: Duration,
}

/// Where a walk puts the users it finds.
pub trait RosterSink<R> {
    /// Forget everything taken so far: the walk starts over.
    fn restart(&mut self) -> io::Result<()>;
    /// Take `record` unless its key was taken already; returns whether it was new.
    fn push(&mut self, record: &R) -> io::Result<bool>;
    /// Users taken.
    fn taken(&self) -> u64;
    /// Records dropped as repeats of a key already taken.
    fn duplicates(&self) -> u64;
}

/// Keeps a walk's users in memory (a plan needs the whole live roster), each as a `T`: the
/// record itself, or what a plan reads of it.
pub struct Collected<T> {
    pub users: Vec<T>,
    seen: Seen,
}

/// The keys a walk has taken (inline: a million small strings would be left scattered among
/// the users kept), and how many records repeated one.
#[derive(Default)]
struct Seen {
    keys: HashSet<CompactString>,
    duplicates: u64,
}

impl Seen {
    /// Whether `key` is new; a repeat is counted.
    fn first(&mut self, key: String) -> bool {
        let first = self.keys.insert(CompactString::new(key));
        self.duplicates += u64::from(!first);
        first
    }
}

/// What [`Collected`] keeps of a walked record `R`.
pub trait Kept<R> {
    fn kept(record: &R) -> Self;
}

impl<R: Clone> Kept<R> for R {
    fn kept(record: &R) -> R {
        record.clone()
    }
}

/// The user a plan compares: TeleCMI's first and last name halves, which the whole name holds,
/// are let go as each page is read (112 bytes a user: a million-user sync's margin).
impl Kept<AccountUser> for User {
    fn kept(record: &AccountUser) -> User {
        record.user.clone()
    }
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Collected {
            users: Vec::new(),
            seen: Seen::default(),
        }
    }
}

impl<R: ExportRecord, T: Kept<R>> RosterSink<R> for Collected<T> {
    fn restart(&mut self) -> io::Result<()> {
        *self = Collected::default();
        Ok(())
    }

    fn push(&mut self, record: &R) -> io::Result<bool> {
        let first = self.seen.first(record.key());
        if first {
            self.users.push(T::kept(record));
        }
        Ok(first)
    }

    fn taken(&self) -> u64 {
        self.users.len() as u64
    }

    fn duplicates(&self) -> u64 {
        self.seen.duplicates
    }
}

/// A walk's users made by a function of the run (the columns a migration's mapping reads) from
/// each record as it is walked, and kept in [`Chunked`] for a consumer that lets them go as it
/// goes: the walk's whole records are never all held, nor all its users beside what is made of
/// them.
pub struct CollectedWith<T, F> {
    pub users: Chunked<T>,
    seen: Seen,
    keep: F,
}

impl<T, F> CollectedWith<T, F> {
    pub fn new(keep: F) -> Self {
        CollectedWith {
            users: Chunked::default(),
            seen: Seen::default(),
            keep,
        }
    }
}

impl<R: ExportRecord, T, F: Fn(&R) -> T> RosterSink<R> for CollectedWith<T, F> {
    fn restart(&mut self) -> io::Result<()> {
        (self.users, self.seen) = Default::default();
        Ok(())
    }

    fn push(&mut self, record: &R) -> io::Result<bool> {
        let first = self.seen.first(record.key());
        if first {
            self.users.push((self.keep)(record));
        }
        Ok(first)
    }

    fn taken(&self) -> u64 {
        self.users.len() as u64
    }

    fn duplicates(&self) -> u64 {
        self.seen.duplicates
    }
}

/// Items in chunks of [`Chunked::CHUNK`]: consumed by value, each chunk is freed as soon as its
/// last item is taken, so what is made of them can grow while they shrink.
#[derive(Debug)]
pub struct Chunked<T> {
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Vec::new() }
    }
}

impl<T> Chunked<T> {
    const CHUNK: usize = 1 << 16;

    pub fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < Self::CHUNK => chunk.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(Self::CHUNK);
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }

    /// What `make` makes of each item, in order, the chunks shared among as many threads as
    /// there are cores (a panic in `make` is resumed here).
    pub fn map_on_every_core<U: Send>(&self, make: impl Fn(&T) -> U + Sync) -> Chunked<U>
    where
        T: Sync,
    {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(self.chunks.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut made: Vec<(usize, Vec<U>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut made = Vec::new();
                        loop {
                            let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(chunk) = self.chunks.get(at) else {
                                return made;
                            };
                            made.push((at, chunk.iter().map(&make).collect::<Vec<U>>()));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        made.sort_unstable_by_key(|(at, _)| *at);
        Chunked {
            chunks: made.into_iter().map(|(_, chunk)| chunk).collect(),
        }
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut chunked = Chunked::default();
        for item in items {
            chunked.push(item);
        }
        chunked
    }
}

impl<T> IntoIterator for Chunked<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;

    /// Flattening drops each chunk once it is used up.
    fn into_iter(self) -> Self::IntoIter {
        self.chunks.into_iter().flatten()
    }
}

fn sink_error(source: io::Error) -> Error {
    Error::Export(ExportError::Write {
        path: "the export output".to_string(),
        source,
    })
}

/// Where the lines go: a file replaced atomically, or stdout after the walk is known complete.
pub enum Destination {
    File(AtomicFile),
    Stdout(BufWriter<File>),
}

impl Destination {
    pub fn open(output: &str, private: bool) -> io::Result<Destination> {
        if output == "-" {
            Ok(Destination::Stdout(BufWriter::new(tempfile::tempfile()?)))
        } else {
            Ok(Destination::File(AtomicFile::create(
                output.as_ref(),
                private,
            )?))
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Destination::File(file) => file.writer(),
            Destination::Stdout(buffer) => buffer,
        }
    }

    fn restart(&mut self) -> io::Result<()> {
        match self {
            Destination::File(file) => file.restart(),
            Destination::Stdout(buffer) => {
                buffer.flush()?;
                buffer.get_mut().set_len(0)?;
                buffer.seek(io::SeekFrom::Start(0))?;
                Ok(())
            }
        }
    }

    /// Put the finished roster in place.
    pub fn commit(self, stdout: &mut dyn Write) -> io::Result<()> {
        match self {
            Destination::File(file) => file.commit(),
            Destination::Stdout(buffer) => {
                let mut file = buffer.into_inner().map_err(|e| e.into_error())?;
                file.seek(io::SeekFrom::Start(0))?;
                io::copy(&mut file, stdout)?;
                stdout.flush()
            }
        }
    }
}

/// Formats records into the destination, remembering keys and digests.
pub struct RosterWriter<'a> {
    destination: &'a mut Destination,
    format: ExportFormat,
    include_passwords: bool,
    seen: HashSet<String>,
    digests: Vec<[u8; 32]>,
    duplicates: u64,
    line: Vec<u8>,
    /// The workbook being filled, for [`ExportFormat::Xlsx`]; written whole by
    /// [`RosterWriter::finish`].
    sheet: Option<xlsx::XlsxSheet>,
}

impl<'a> RosterWriter<'a> {
    pub fn new<R: ExportRecord>(
        destination: &'a mut Destination,
        format: ExportFormat,
        include_passwords: bool,
    ) -> io::Result<Self> {
        let mut writer = RosterWriter {
            destination,
            format,
            include_passwords,
            seen: HashSet::new(),
            digests: Vec::new(),
            duplicates: 0,
            line: Vec::with_capacity(256),
            sheet: None,
        };
        writer.start::<R>()?;
        Ok(writer)
    }

    fn start<R: ExportRecord>(&mut self) -> io::Result<()> {
        self.seen.clear();
        self.digests.clear();
        self.duplicates = 0;
        match self.format {
            ExportFormat::Csv => {
                let mut header = csv::Writer::from_writer(Vec::new());
                header.write_record(R::COLUMNS)?;
                let header = header.into_inner().map_err(|e| e.into_error())?;
                self.destination.writer().write_all(&header)?;
            }
            ExportFormat::Xlsx => self.sheet = Some(xlsx::XlsxSheet::new("Roster", R::COLUMNS)?),
            ExportFormat::Jsonl => {}
        }
        Ok(())
    }

    /// Write what is held back (a workbook is written whole) and return the roster's digest.
    pub fn finish(&mut self) -> io::Result<String> {
        if let Some(sheet) = self.sheet.take() {
            self.destination.writer().write_all(&sheet.finish()?)?;
        }
        Ok(self.digest())
    }

    /// SHA-256 over the sorted per-user line digests: equal digests, equal rosters, whatever the order.
    pub fn digest(&mut self) -> String {
        self.digests.sort_unstable();
        let mut hasher = Sha256::new();
        for digest in &self.digests {
            hasher.update(digest);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<R: ExportRecord> RosterSink<R> for RosterWriter<'_> {
    fn restart(&mut self) -> io::Result<()> {
        self.destination.restart()?;
        self.start::<R>()
    }

    fn taken(&self) -> u64 {
        self.seen.len() as u64
    }

    fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Write `record` unless its key was written already; returns whether it was new.
    fn push(&mut self, record: &R) -> io::Result<bool> {
        if !self.seen.insert(record.key()) {
            self.duplicates += 1;
            return Ok(false);
        }
        let values = record.values(self.include_passwords);
        self.line.clear();
        match self.format {
            // A workbook's digest is its CSV's: equal rosters, equal digests, whatever the format.
            ExportFormat::Csv | ExportFormat::Xlsx => {
                let cells: Vec<String> = values.iter().map(csv_cell).collect();
                let mut writer = csv::Writer::from_writer(&mut self.line);
                writer.write_record(&cells)?;
                writer.flush()?;
            }
            ExportFormat::Jsonl => {
                let object: serde_json::Map<String, serde_json::Value> = R::COLUMNS
                    .iter()
                    .map(|c| c.to_string())
                    .zip(values.iter().cloned())
                    .collect();
                serde_json::to_writer(&mut self.line, &object)?;
                self.line.push(b'\n');
            }
        }
        self.digests.push(Sha256::digest(&self.line).into());
        match &mut self.sheet {
            Some(sheet) => sheet.push(&xlsx_cells(R::COLUMNS, &values))?,
            None => self.destination.writer().write_all(&self.line)?,
        }
        Ok(true)
    }
}

/// Columns that hold identifiers: text cells in a workbook, whatever they look like.
const TEXT_COLUMNS: [&str; 5] = [
    "agent_id",
    "extension",
    "phone_number",
    "follow_me_number",
    "login_id",
];

/// An export line as workbook cells: identifiers as text, numbers and booleans typed.
fn xlsx_cells<'v>(columns: &[&str], values: &'v [serde_json::Value]) -> Vec<xlsx::Cell<'v>> {
    use serde_json::Value;
    columns
        .iter()
        .zip(values)
        .map(|(column, value)| match value {
            Value::Null => xlsx::Cell::Empty,
            Value::String(text) => xlsx::Cell::Text(text),
            Value::Bool(flag) => xlsx::Cell::Bool(*flag),
            Value::Number(number) if !TEXT_COLUMNS.contains(column) => number
                .as_f64()
                .map_or(xlsx::Cell::Empty, xlsx::Cell::Number),
            // An identifier held as a JSON number (TeleCMI's extension): text, as in the CSV.
            Value::Number(_) | Value::Array(_) | Value::Object(_) => {
                xlsx::Cell::Owned(value.to_string())
            }
        })
        .collect()
}

/// Walk every TeleCMI page: the first page gives the total and the page size the server really
/// honours; the rest are fetched concurrently (in order) within the run's rate limit.
///
/// The count is a claim, not a proof. The walk goes on past the announced pages until a page comes
/// back short or empty (one extra request when the last announced page is full), stops at the
/// first empty page whatever the count says, and then holds the users it gathered against the
/// count. A walk whose total moved, that saw the same user twice, or whose users disagree with the
/// count is done again; one that never agrees fails, and nothing is written.
pub async fn walk_telecmi(
    client: &Telecmi,
    sink: &mut impl RosterSink<AccountUser>,
    page_size: u64,
    concurrency: usize,
    progress: &Progress,
) -> Result<WalkStats, Error> {
    let started = Instant::now();
    let asked = page_size.max(1);
    let mut pages = 0u64;
    let mut problem = String::new();
    for walk in 1..=MAX_WALKS {
        if walk > 1 {
            tracing::warn!("re-walking the TeleCMI roster: {problem}");
            sink.restart().map_err(sink_error)?;
        }
        let first = client.list_page(1, asked, &mut 0).await?;
        pages += 1;
        let total = first.total;
        let got = first.users.len() as u64;
        // Fewer users than asked and no more announced: the end. Fewer than asked while the
        // count says there are more: the server honours a smaller page size, so page with that.
        let limit = got.clamp(1, asked);
        let mut reached_end = got < asked && got >= total;
        let mut shifted = false;
        for user in &first.users {
            shifted |= !sink.push(user).map_err(sink_error)?;
        }
        let announced_pages = if reached_end {
            1
        } else {
            total.div_ceil(limit).max(1)
        };
        let mut totals_agree = true;
        let mut next_page = 2u64;
        let mut stream = futures_util::stream::iter(2..=announced_pages)
            .map(|page| async move { client.list_page(page, limit, &mut 0).await })
            .buffered(concurrency.max(1));
        while let Some(page) = stream.next().await {
            let page = page?;
            pages += 1;
            next_page += 1;
            totals_agree &= page.total == total;
            for user in &page.users {
                shifted |= !sink.push(user).map_err(sink_error)?;
            }
            progress.update(sink.taken(), || {
                format!("{} users, {pages} pages", sink.taken())
            });
            if (page.users.len() as u64) < limit {
                // Short or empty: the end, however many pages the count announced.
                reached_end = true;
                break;
            }
        }
        drop(stream);
        // Past the announced pages: a full last page may not be the last.
        let bound = announced_pages.saturating_mul(2).saturating_add(10);
        while !reached_end && next_page <= bound {
            let page = client.list_page(next_page, limit, &mut 0).await?;
            pages += 1;
            next_page += 1;
            totals_agree &= page.total == total;
            reached_end = (page.users.len() as u64) < limit;
            for user in &page.users {
                shifted |= !sink.push(user).map_err(sink_error)?;
            }
        }
        let unique = sink.taken();
        problem = if !totals_agree {
            "the user count changed between pages".to_string()
        } else if shifted {
            format!(
                "{} users appeared on two pages (the list shifted)",
                sink.duplicates()
            )
        } else if !reached_end {
            format!(
                "{pages} pages and still no last page, though the account reports {total} users"
            )
        } else if unique != total {
            format!("the account reports {total} users but the pages held {unique}")
        } else {
            return Ok(WalkStats {
                users: unique,
                pages,
                walks: walk,
                duplicates_dropped: sink.duplicates(),
                duration: started.elapsed(),
            });
        };
    }
    Err(ExportError::Unstable(problem).into())
}

/// Follow the Smartflo cursor until `has_more` is false; the cursor must strictly advance, each
/// page's `count` must match what it carries, and a full page that claims to be the last is
/// confirmed by one more (empty or short) page.
#[allow(clippy::too_many_arguments)]
pub async fn walk_smartflo(
    client: &Smartflo,
    sink: &mut impl RosterSink<DirectoryUser>,
    page_size: u64,
    filters: &[(String, String)],
    progress: &Progress,
) -> Result<WalkStats, Error> {
    let started = Instant::now();
    let mut cursor: Option<u64> = None;
    let mut pages = 0u64;
    let mut confirming = false;
    loop {
        let page = client
            .list_page(cursor, page_size.max(1), filters, &mut 0)
            .await?;
        pages += 1;
        for user in &page.users {
            if !sink.push(user).map_err(sink_error)? {
                tracing::warn!(
                    id = user.id,
                    "Smartflo listed user {} twice; kept the first",
                    user.id
                );
            }
        }
        progress.update(sink.taken(), || {
            format!("{} users, {pages} pages", sink.taken())
        });
        let shown = |c: Option<u64>| c.map_or("(start)".to_string(), |c| c.to_string());
        if page.users.is_empty() {
            if page.has_more {
                return Err(ExportError::EmptyPageWithMore(shown(cursor)).into());
            }
            break;
        }
        let full = page.users.len() as u64 >= page_size.max(1);
        if !page.has_more && !full {
            break;
        }
        if !page.has_more {
            // A full page that claims to be the last proves nothing: one more page must come
            // back empty (or short) before the walk believes it.
            confirming = true;
        } else if confirming {
            tracing::warn!(
                "Smartflo said has_more false after last_seen_id {}, but the next page held users: walking on",
                shown(cursor)
            );
            confirming = false;
        }
        let next = page
            .last_seen_id
            .or_else(|| page.users.iter().map(|u| u.id).max());
        match (cursor, next) {
            (_, None) => {
                return Err(ExportError::StuckCursor {
                    previous: cursor.unwrap_or(0),
                    next: "none".to_string(),
                }
                .into())
            }
            (Some(previous), Some(next)) if next <= previous => {
                return Err(ExportError::StuckCursor {
                    previous,
                    next: next.to_string(),
                }
                .into())
            }
            (_, next) => cursor = next,
        }
        if pages >= MAX_CURSOR_PAGES {
            return Err(ExportError::TooLong(pages).into());
        }
    }
    Ok(WalkStats {
        users: sink.taken(),
        pages,
        walks: 1,
        duplicates_dropped: sink.duplicates(),
        duration: started.elapsed(),
    })
}

/// Where a finished export was written, for the summary.
pub fn output_label(output: &str) -> PathBuf {
    PathBuf::from(if output == "-" { "(stdout)" } else { output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_items_come_back_in_order_across_chunks() {
        let count = Chunked::<u32>::CHUNK * 2 + 3;
        let chunked: Chunked<u32> = (0..count as u32).collect();
        assert_eq!(chunked.len(), count);
        assert_eq!(chunked.chunks.len(), 3, "full chunks, then the rest");
        assert!(chunked.iter().copied().eq(0..count as u32));
        assert!(chunked.into_iter().eq(0..count as u32));
        assert!(Chunked::<u32>::default().is_empty());
    }

    #[test]
    fn a_map_on_every_core_keeps_the_order() {
        let count = Chunked::<u64>::CHUNK * 5 + 7;
        let chunked: Chunked<u64> = (0..count as u64).collect();
        let doubled = chunked.map_on_every_core(|n| n * 2);
        assert_eq!(doubled.chunks.len(), 6);
        assert!(doubled.into_iter().eq((0..count as u64).map(|n| n * 2)));
        assert!(Chunked::<u64>::default()
            .map_on_every_core(|n| *n)
            .is_empty());
    }

    #[test]
    fn a_walk_made_into_other_users_keeps_the_first_of_each_key_and_starts_over_clean() {
        let record = |id: u64, name: &str| DirectoryUser {
            id,
            name: name.into(),
            ..DirectoryUser::default()
        };
        let mut names = CollectedWith::new(|user: &DirectoryUser| user.name.clone());
        assert!(names.push(&record(1, "Asha")).unwrap());
        assert!(!names.push(&record(1, "Asha again")).unwrap());
        assert!(names.push(&record(2, "Ravi")).unwrap());
        assert_eq!((names.taken(), names.duplicates()), (2, 1));
        assert!(names.users.iter().eq(["Asha", "Ravi"]));
        names.restart().unwrap();
        assert_eq!((names.taken(), names.duplicates()), (0, 0));
        assert!(
            names.push(&record(1, "Asha")).unwrap(),
            "the key is new again"
        );
    }
}
