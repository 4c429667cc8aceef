//! `roster validate FILE`: every row checked, problems listed with their row, nothing sent.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender};
use std::sync::Mutex;

use serde::Serialize;

use super::Ctx;
use crate::cli::ValidateArgs;
use crate::input::{CellProblem, InputError, RowPosition, Sheet};
use crate::model::{Action, Outcome, Status};
use crate::report::{Reason, Tally};
use crate::validate::{CheckedAlone, Validator};
use crate::{execute, phone, validate, Error, Exit};

#[derive(Serialize)]
struct ValidateSummary {
    command: &'static str,
    input: PathBuf,
    /// The text encoding the sheet was read in.
    encoding: &'static str,
    mode: &'static str,
    rows: u64,
    valid: u64,
    invalid: u64,
    /// Valid rows whose phone number has no known country (no `--default-region`).
    unplaced_phones: u64,
    reasons: Vec<Reason>,
}

/// Rows a thread reads and then checks, while another reads the next: enough to keep the
/// cores busy, few enough that memory stays flat in the size of the sheet.
const BATCH_ROWS: usize = 4_096;
/// Batches checked but not yet settled, past which the settling thread waits for the one it
/// needs instead of reading more.
const AHEAD: usize = 4;

/// A data row as read, kept for checking.
struct ReadRow {
    position: RowPosition,
    record: csv::ByteRecord,
    flagged: Vec<CellProblem>,
}

/// The sheet, read a batch at a time by whichever thread is free.
struct Shared<'s> {
    sheet: &'s mut Sheet,
    /// The number of the next batch read.
    next: u64,
    /// The sheet ended, or could not be read further.
    finished: bool,
}

/// One batch's rows checked alone, by the thread that read them.
#[derive(Default)]
struct Checked {
    /// Batches are numbered in the order they are read.
    number: u64,
    positions: Vec<RowPosition>,
    verdicts: Vec<CheckedAlone<()>>,
    /// The error that ended the reading after these rows, if one did.
    unreadable: Option<InputError>,
    /// No batch follows.
    last: bool,
    /// The helper that checked it (from 1), to give its lists back to; 0 for the settling
    /// thread.
    by: usize,
}

/// A helper's checked batch, or its panic.
type Answer = std::thread::Result<Checked>;

/// Reads the next batch into `rows` (reusing their records) and checks it, filling `into`
/// (reusing its lists); `None` once the sheet is read. A thread checks the rows it read, so
/// that a row's cells are read on the core that just wrote them.
fn read_and_check(
    shared: &Mutex<Shared<'_>>,
    rows: &mut Vec<ReadRow>,
    validator: &Validator,
    mut into: Checked,
) -> Option<Checked> {
    let filled = {
        // A thread that panicked holding the sheet took the run down with it.
        let mut shared = shared.lock().ok()?;
        if shared.finished {
            return None;
        }
        let (filled, unreadable) = read_batch(shared.sheet, rows);
        into.number = shared.next;
        into.last = unreadable.is_some() || filled < BATCH_ROWS;
        into.unreadable = unreadable;
        shared.next += 1;
        shared.finished = into.last;
        filled
    };
    let rows = &rows[..filled];
    into.positions.clear();
    into.positions.extend(rows.iter().map(|row| row.position));
    into.verdicts.clear();
    into.verdicts.extend(rows.iter().map(|row| {
        validator
            .check_alone(&row.record, &row.flagged)
            .without_user()
    }));
    Some(into)
}

pub fn exec(args: &ValidateArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let (input, _spool) = args.sheet.spooled()?;
    let (mut sheet, mut validator) = input.open(args.mode, &ctx.profile()?)?;
    let mut tally = Tally::default();
    let (mut rows, mut shown) = (0u64, 0usize);
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    // Every thread reads a batch in turn and checks it (every rule that needs no other row);
    // this thread also settles the batches in order (duplicates, counts, messages). Helpers
    // live as long as the run, so that a thread's allocator heap is made once.
    let shared = Mutex::new(Shared {
        sheet: &mut sheet,
        next: 0,
        finished: false,
    });
    std::thread::scope(|scope| -> Result<(), Error> {
        let (answer, answers) = mpsc::sync_channel::<Answer>(AHEAD);
        // Settled batches go back to the helper that checked them, to be filled again.
        let mut spares: Vec<SyncSender<Checked>> = Vec::new();
        for helper in 1..cores {
            let (give_back, given_back) = mpsc::sync_channel::<Checked>(AHEAD + 1);
            spares.push(give_back);
            let (answer, twin, shared) = (answer.clone(), validator.twin(), &shared);
            scope.spawn(move || {
                let mut rows = Vec::with_capacity(BATCH_ROWS);
                loop {
                    let into = given_back.try_recv().unwrap_or_default();
                    let checked = panic::catch_unwind(AssertUnwindSafe(|| {
                        read_and_check(shared, &mut rows, &twin, into)
                    }));
                    let answered = match checked {
                        Ok(None) => return,
                        Ok(Some(mut checked)) => {
                            checked.by = helper;
                            answer.send(Ok(checked))
                        }
                        Err(panicked) => answer.send(Err(panicked)),
                    };
                    if answered.is_err() {
                        return;
                    }
                }
            });
        }
        // Only helpers answer: should every helper end, waiting for one fails instead of
        // hanging.
        drop(answer);
        let mut pending: BTreeMap<u64, Checked> = BTreeMap::new();
        let (mut settled, mut own_rows, mut own_spare) = (0u64, Vec::new(), Checked::default());
        let mut reading = true;
        loop {
            if reading && pending.len() < AHEAD {
                let into = std::mem::take(&mut own_spare);
                match read_and_check(&shared, &mut own_rows, &validator, into) {
                    Some(mut checked) => {
                        checked.by = 0;
                        pending.insert(checked.number, checked);
                    }
                    None => reading = false,
                }
            }
            // Take what the helpers have answered, waiting while the batch to settle next is
            // theirs and this thread may not read on.
            loop {
                let wait = !pending.contains_key(&settled) && (!reading || pending.len() >= AHEAD);
                let answer = if wait {
                    answers
                        .recv()
                        .unwrap_or_else(|_| unreachable!("a helper answers every batch it reads"))
                } else if let Ok(answer) = answers.try_recv() {
                    answer
                } else {
                    break;
                };
                let checked = answer.unwrap_or_else(|panicked| panic::resume_unwind(panicked));
                pending.insert(checked.number, checked);
            }
            while let Some(mut batch) = pending.remove(&settled) {
                settled += 1;
                for (position, alone) in batch.positions.iter().zip(batch.verdicts.drain(..)) {
                    rows += 1;
                    let Err(problems) = validator.settle(position.row, alone) else {
                        continue;
                    };
                    // The message goes only to the screen and to the tally's first failures:
                    // once both have enough, it is not written at all.
                    let message = if shown < args.show || tally.keeps_more_failures() {
                        validate::describe(&problems)
                    } else {
                        String::new()
                    };
                    if shown < args.show {
                        shown += 1;
                        ctx.tell(format_args!("{position}: {message}"))?;
                    }
                    let outcome = Outcome {
                        row: position.row,
                        extension: String::new(),
                        agent_id: String::new(),
                        action: Action::None,
                        status: Status::Invalid,
                        http_status: None,
                        attempts: 0,
                        requests: 0,
                        message,
                    };
                    tally.record(&outcome, Some(&execute::reason_of(&problems)));
                }
                if let Some(error) = batch.unreadable.take() {
                    return Err(error.into());
                }
                if batch.last {
                    return Ok(());
                }
                match batch.by.checked_sub(1) {
                    None => own_spare = batch,
                    // A helper that has all it can hold makes its own.
                    Some(helper) => drop(spares[helper].try_send(batch)),
                }
            }
        }
    })?;
    let invalid = tally.count(Status::Invalid);
    if invalid as usize > shown {
        ctx.tell(format_args!(
            "… and {} more invalid rows",
            invalid as usize - shown
        ))?;
    }
    ctx.tell(format_args!(
        "{}: {rows} rows, {} valid, {invalid} invalid (--mode {})",
        input.shown().display(),
        rows - invalid,
        args.mode.as_str()
    ))?;
    if let Some(warning) = phone::unplaced_warning(validator.unplaced_phones()) {
        ctx.tell(format_args!("warning: {warning}"))?;
    }
    if args.json {
        ctx.json(&ValidateSummary {
            command: "validate",
            input: args.sheet.file.clone(),
            encoding: sheet.encoding().name(),
            mode: args.mode.as_str(),
            rows,
            valid: rows - invalid,
            invalid,
            unplaced_phones: validator.unplaced_phones(),
            reasons: tally.top_reasons(),
        })?;
    }
    Ok(if invalid > 0 {
        Exit::RowsFailed
    } else {
        Exit::Success
    })
}

/// Reads up to [`BATCH_ROWS`] rows into `batch`, reusing its records: how many were read, and
/// the error that stopped the reading, if one did (the rows before it are still checked).
fn read_batch(sheet: &mut Sheet, batch: &mut Vec<ReadRow>) -> (usize, Option<InputError>) {
    for filled in 0..BATCH_ROWS {
        if filled == batch.len() {
            batch.push(ReadRow {
                position: RowPosition::default(),
                record: csv::ByteRecord::new(),
                flagged: Vec::new(),
            });
        }
        let row = &mut batch[filled];
        row.position = match sheet.next_record(&mut row.record) {
            Ok(Some(position)) => position,
            Ok(None) => return (filled, None),
            Err(error) => return (filled, Some(error)),
        };
        row.flagged.clear();
        row.flagged.extend_from_slice(sheet.cell_problems());
    }
    (BATCH_ROWS, None)
}
