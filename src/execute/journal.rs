//! The resume journal: an append-only JSON-lines file recording each row's final outcome, tied to
//! the input's content hash, the target account and the mode.
//!
//! The report writer records rows in row order, so each run appends one ascending *segment*; a
//! resume replays the segments side by side while the input streams past, in constant memory.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Action, Outcome, Status};

/// Rows written before the journal is synced to disk, at the latest (it is handed to the operating
/// system, which a kill cannot undo, after every batch of finished rows).
const SYNC_EVERY_ROWS: usize = 256;
const SYNC_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the journal {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another roster run is using {0} (and its report); wait for it to finish")]
    Locked(PathBuf),
    #[error("nothing to resume: no journal at {0} (run without --resume, or pass the --report of the earlier run)")]
    Missing(PathBuf),
    #[error("cannot resume from {path}: {why}")]
    Mismatch { path: PathBuf, why: String },
}

/// What a journal belongs to; a resume must match it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    pub roster_journal: u32,
    pub input_sha256: String,
    pub account: String,
    pub mode: String,
}

impl JournalHeader {
    pub fn new(input_sha256: String, account: String, mode: &str) -> Self {
        JournalHeader {
            roster_journal: 1,
            input_sha256,
            account,
            mode: mode.to_string(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    row: u64,
    extension: String,
    agent_id: String,
    action: Action,
    outcome: Status,
    http_status: Option<u16>,
    attempts: u32,
    /// Absent from journals written before the column existed.
    #[serde(default)]
    requests: u32,
    message: String,
}

#[derive(Serialize, Deserialize)]
struct SegmentMark {
    segment: u32,
}

/// SHA-256 of a file's bytes.
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// An open, locked journal that rows are appended to.
pub struct Journal {
    path: PathBuf,
    writer: BufWriter<File>,
    unsynced: usize,
    last_sync: Instant,
}

/// The outcomes of earlier runs, handed out row by row.
#[derive(Default)]
pub struct Replay {
    segments: Vec<Segment>,
    pub rows: u64,
}

struct Segment {
    lines: io::Lines<BufReader<File>>,
    next: Option<Entry>,
}

impl Segment {
    fn advance(&mut self) {
        self.next = self
            .lines
            .next()
            .and_then(Result::ok)
            .and_then(|line| serde_json::from_str::<Entry>(&line).ok());
    }
}

impl Replay {
    /// The recorded outcome of `row`, if an earlier run finished it. Rows must be asked in order.
    pub fn take(&mut self, row: u64) -> Option<Outcome> {
        let mut found = None;
        for segment in &mut self.segments {
            while segment.next.as_ref().is_some_and(|e| e.row < row) {
                segment.advance();
            }
            if segment.next.as_ref().is_some_and(|e| e.row == row) {
                let entry = segment.next.take().expect("checked");
                segment.advance();
                found.get_or_insert(entry);
            }
        }
        found.map(|e| Outcome {
            row: e.row,
            extension: e.extension,
            agent_id: e.agent_id,
            action: e.action,
            status: e.outcome,
            http_status: e.http_status,
            attempts: e.attempts,
            requests: e.requests,
            message: e.message,
        })
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn lock(file: &File, path: &Path) -> Result<(), JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked(path.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Journal {
    /// Start a new journal at `path`, replacing any earlier one.
    pub fn create(path: &Path, header: &JournalHeader) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        // Lock before truncating: a running import keeps its journal.
        lock(&file, path)?;
        file.set_len(0).map_err(io_error(path))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
            unsynced: 0,
            last_sync: Instant::now(),
        };
        journal.write_line(header)?;
        journal.write_line(&SegmentMark { segment: 1 })?;
        journal.sync()?;
        Ok(journal)
    }

    /// Reopen the journal at `path` to continue it: the header must match, a torn last line is dropped.
    pub fn resume(path: &Path, header: &JournalHeader) -> Result<(Journal, Replay), JournalError> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(JournalError::Missing(path.to_path_buf()))
            }
            Err(e) => return Err(io_error(path)(e)),
        };
        lock(&file, path)?;
        let mismatch = |why: String| JournalError::Mismatch {
            path: path.to_path_buf(),
            why,
        };
        let mut reader = BufReader::new(&file);
        let mut line = String::new();
        let mut offset = reader.read_line(&mut line).map_err(io_error(path))? as u64;
        let found: JournalHeader = serde_json::from_str(line.trim_end())
            .map_err(|_| mismatch("it is not a roster journal".to_string()))?;
        if found.input_sha256 != header.input_sha256 {
            return Err(mismatch(
                "the input file is not the one that run read (its content differs)".to_string(),
            ));
        }
        if found.account != header.account {
            return Err(mismatch(format!(
                "that run wrote to {}, not {}",
                found.account, header.account
            )));
        }
        if found.mode != header.mode {
            return Err(mismatch(format!(
                "that run used --mode {}, not --mode {}",
                found.mode, header.mode
            )));
        }
        // Scan: where each segment starts, how many rows are done, where the last whole line ends.
        let mut segment_starts = Vec::new();
        let mut rows = 0u64;
        let mut good_end = offset;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(io_error(path))? as u64;
            if n == 0 {
                break;
            }
            let whole = line.ends_with('\n');
            if whole && serde_json::from_str::<SegmentMark>(line.trim_end()).is_ok() {
                segment_starts.push(offset + n);
            } else if whole && serde_json::from_str::<Entry>(line.trim_end()).is_ok() {
                rows += 1;
            } else {
                // A torn line can only be the last one, cut by a crash mid-write.
                tracing::warn!(
                    "dropping a torn last line of the journal {}",
                    path.display()
                );
                break;
            }
            offset += n;
            good_end = offset;
        }
        drop(reader);
        file.set_len(good_end).map_err(io_error(path))?;
        let mut segments = Vec::with_capacity(segment_starts.len());
        for start in &segment_starts {
            let mut handle = File::open(path).map_err(io_error(path))?;
            handle
                .seek(SeekFrom::Start(*start))
                .map_err(io_error(path))?;
            let mut segment = Segment {
                lines: BufReader::new(handle).lines(),
                next: None,
            };
            segment.advance();
            segments.push(segment);
        }
        file.seek(SeekFrom::End(0)).map_err(io_error(path))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
            unsynced: 0,
            last_sync: Instant::now(),
        };
        journal.write_line(&SegmentMark {
            segment: segment_starts.len() as u32 + 1,
        })?;
        journal.sync()?;
        Ok((journal, Replay { segments, rows }))
    }

    fn write_line<T: Serialize>(&mut self, value: &T) -> Result<(), JournalError> {
        let path = self.path.clone();
        serde_json::to_writer(&mut self.writer, value).map_err(|e| io_error(&path)(e.into()))?;
        self.writer.write_all(b"\n").map_err(io_error(&path))
    }

    /// Record a row's final outcome; synced to disk in batches.
    pub fn record(&mut self, outcome: &Outcome) -> Result<(), JournalError> {
        self.write_line(&Entry {
            row: outcome.row,
            extension: outcome.extension.clone(),
            agent_id: outcome.agent_id.clone(),
            action: outcome.action,
            outcome: outcome.status,
            http_status: outcome.http_status,
            attempts: outcome.attempts,
            requests: outcome.requests,
            message: outcome.message.clone(),
        })?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY_ROWS || self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Hand what was recorded to the operating system (group commit, once per batch of finished
    /// rows): a killed run loses none of it; [`Journal::sync`] makes it survive a power cut too.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        self.writer.flush().map_err(io_error(&self.path))
    }

    /// Flush and fsync what was recorded.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.writer.flush().map_err(io_error(&self.path))?;
        self.writer
            .get_ref()
            .sync_data()
            .map_err(io_error(&self.path))?;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(row: u64) -> Outcome {
        Outcome {
            row,
            extension: (100 + row).to_string(),
            agent_id: format!("{}_1", 100 + row),
            action: Action::Add,
            status: Status::Ok,
            http_status: Some(200),
            attempts: 1,
            requests: 1,
            message: "created".into(),
        }
    }

    fn header() -> JournalHeader {
        JournalHeader::new("abc".into(), "telecmi:1@http://x".into(), "add")
    }

    #[test]
    fn resume_replays_every_segment_in_row_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        {
            let mut journal = Journal::create(&path, &header()).unwrap();
            for row in [1, 2, 5] {
                journal.record(&outcome(row)).unwrap();
            }
        }
        {
            let (mut journal, mut replay) = Journal::resume(&path, &header()).unwrap();
            assert_eq!(replay.rows, 3);
            assert!(replay.take(1).is_some());
            for row in [3, 4] {
                assert!(replay.take(row).is_none());
                journal.record(&outcome(row)).unwrap();
            }
        }
        // a crash mid-write leaves a torn line
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"row\":6,\"ext")
            .unwrap();
        let (_journal, mut replay) = Journal::resume(&path, &header()).unwrap();
        let done: Vec<u64> = (1..=7).filter(|row| replay.take(*row).is_some()).collect();
        assert_eq!(done, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn resume_refuses_another_input_account_or_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        drop(Journal::create(&path, &header()).unwrap());
        let other_input = JournalHeader::new("def".into(), "telecmi:1@http://x".into(), "add");
        assert!(Journal::resume(&path, &other_input)
            .err()
            .unwrap()
            .to_string()
            .contains("input file"));
        let other_account = JournalHeader::new("abc".into(), "telecmi:2@http://x".into(), "add");
        assert!(Journal::resume(&path, &other_account)
            .err()
            .unwrap()
            .to_string()
            .contains("telecmi:1@http://x"));
        let missing = dir.path().join("none");
        assert!(matches!(
            Journal::resume(&missing, &header()),
            Err(JournalError::Missing(_))
        ));
    }

    #[test]
    fn a_locked_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let _running = Journal::create(&path, &header()).unwrap();
        assert!(matches!(
            Journal::create(&path, &header()),
            Err(JournalError::Locked(_))
        ));
    }
}
