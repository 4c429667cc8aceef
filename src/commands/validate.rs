//! `roster validate FILE`: every row checked, problems listed with their row, nothing sent.

use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

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

/// Rows read before they are checked together, on every core: enough to keep the cores busy,
/// few enough that memory stays flat in the size of the sheet.
const BATCH_ROWS: usize = 4_096;
/// Rows a thread claims at a time.
const PIECE_ROWS: usize = 256;

/// A data row as read, kept for checking.
struct ReadRow {
    position: RowPosition,
    record: csv::ByteRecord,
    flagged: Vec<CellProblem>,
}

/// Rows read, shared with the helper threads while every thread checks pieces of them. A batch
/// is refilled once settled, so that its records and verdict lists are made once per run.
struct Batch {
    /// Batches are numbered in the order they are read.
    number: u64,
    rows: Vec<ReadRow>,
    /// Each piece's verdicts, in row order, written by the thread that claimed the piece.
    verdicts: Vec<Mutex<Vec<CheckedAlone<()>>>>,
    next_piece: AtomicUsize,
    /// The error that ended the reading after these rows, if one did.
    unreadable: Option<InputError>,
}

/// A helper's word that it has checked the pieces it claimed of one batch (by number), or its
/// panic.
type Answer = (u64, std::thread::Result<()>);

impl Batch {
    fn new() -> Batch {
        Batch {
            number: 0,
            rows: Vec::with_capacity(BATCH_ROWS),
            verdicts: (0..BATCH_ROWS.div_ceil(PIECE_ROWS))
                .map(|_| Mutex::new(Vec::with_capacity(PIECE_ROWS)))
                .collect(),
            next_piece: AtomicUsize::new(0),
            unreadable: None,
        }
    }

    /// Refills `self` with the next rows (reusing its records) as batch `number`, and gives it
    /// to the helpers: the batch, and how many helpers took it and so will answer for it.
    fn read(
        mut self,
        sheet: &mut Sheet,
        number: u64,
        helpers: &[SyncSender<Arc<Batch>>],
    ) -> (Arc<Batch>, usize) {
        let (filled, unreadable) = read_batch(sheet, &mut self.rows);
        self.rows.truncate(filled);
        self.number = number;
        self.unreadable = unreadable;
        *self.next_piece.get_mut() = 0;
        let batch = Arc::new(self);
        let given = helpers
            .iter()
            .filter(|helper| helper.send(Arc::clone(&batch)).is_ok())
            .count();
        (batch, given)
    }

    /// The last batch: the sheet ended, or could not be read further.
    fn is_last(&self) -> bool {
        self.unreadable.is_some() || self.rows.len() < BATCH_ROWS
    }

    /// Claims pieces until none is left, checking each row alone.
    fn check_pieces(&self, validator: &Validator) {
        loop {
            let at = self.next_piece.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = self.rows.chunks(PIECE_ROWS).nth(at) else {
                return;
            };
            let mut verdicts = self.verdicts[at]
                .lock()
                .expect("a piece is claimed by one thread");
            verdicts.clear();
            verdicts.extend(piece.iter().map(|row| {
                validator
                    .check_alone(&row.record, &row.flagged)
                    .without_user()
            }));
        }
    }
}

pub fn exec(args: &ValidateArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let (input, _spool) = args.sheet.spooled()?;
    let (mut sheet, mut validator) = input.open(args.mode, &ctx.profile()?)?;
    let mut tally = Tally::default();
    let (mut rows, mut shown) = (0u64, 0usize);
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    // This thread reads rows and settles them in order (duplicates, counts, messages); every
    // rule that needs no other row is checked on every core. Helpers live as long as the run,
    // so a thread's allocator heap and pattern caches are made once, and check one batch while
    // this thread reads the next.
    std::thread::scope(|scope| -> Result<(), Error> {
        let (answer, answers) = mpsc::channel::<Answer>();
        let helpers: Vec<SyncSender<Arc<Batch>>> = (1..cores)
            .map(|_| {
                let (give, batches) = mpsc::sync_channel::<Arc<Batch>>(1);
                let (answer, twin) = (answer.clone(), validator.twin());
                scope.spawn(move || {
                    for batch in batches {
                        let checked =
                            panic::catch_unwind(AssertUnwindSafe(|| batch.check_pieces(&twin)));
                        let number = batch.number;
                        drop(batch);
                        if answer.send((number, checked)).is_err() {
                            return;
                        }
                    }
                });
                give
            })
            .collect();
        // Only helpers answer: should one end early, waiting for it fails instead of hanging.
        drop(answer);
        let mut early: Vec<Answer> = Vec::new();
        let (mut current, mut given) = Batch::new().read(&mut sheet, 0, &helpers);
        let mut spare = Batch::new();
        loop {
            let next =
                (!current.is_last()).then(|| spare.read(&mut sheet, current.number + 1, &helpers));
            current.check_pieces(&validator);
            helpers_answers(current.number, given, &answers, &mut early);
            let Ok(mut batch) = Arc::try_unwrap(current) else {
                unreachable!("every helper lets go of a batch before it answers")
            };
            let verdicts = batch.verdicts.iter_mut().flat_map(|verdicts| {
                verdicts
                    .get_mut()
                    .expect("every piece was checked")
                    .drain(..)
            });
            for (row, alone) in batch.rows.iter().zip(verdicts) {
                rows += 1;
                let position = row.position;
                let Err(problems) = validator.settle(position.row, alone) else {
                    continue;
                };
                // The message goes only to the screen and to the tally's first failures: once
                // both have enough, it is not written at all.
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
            match next {
                Some(next) => (current, given) = next,
                None => return Ok(()),
            }
            spare = batch;
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
        args.sheet.file.display(),
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

/// Waits for the `given` helpers to have checked their pieces of batch `number`. With several
/// helpers, one may answer for the next batch before another answers for this one: such answers
/// wait in `early`. A helper's panic is resumed here.
fn helpers_answers(number: u64, given: usize, answers: &Receiver<Answer>, early: &mut Vec<Answer>) {
    let (mut theirs, later): (Vec<Answer>, Vec<Answer>) = std::mem::take(early)
        .into_iter()
        .partition(|(of, _)| *of == number);
    *early = later;
    while theirs.len() < given {
        let answer = answers
            .recv()
            .unwrap_or_else(|_| unreachable!("a helper answers every batch it is given"));
        if answer.0 == number {
            theirs.push(answer);
        } else {
            early.push(answer);
        }
    }
    for (_, answer) in theirs {
        answer.unwrap_or_else(|panicked| panic::resume_unwind(panicked));
    }
}

/// Reads up to [`BATCH_ROWS`] rows into `batch`, reusing its records: how many were read, and
/// the error that stopped the reading, if one did (the rows before it are still checked).
fn read_batch(sheet: &mut Sheet, batch: &mut Vec<ReadRow>) -> (usize, Option<InputError>) {
    for filled in 0..BATCH_ROWS {
        let mut record = batch
            .get_mut(filled)
            .map(|row| std::mem::take(&mut row.record))
            .unwrap_or_default();
        let position = match sheet.next_record(&mut record) {
            Ok(Some(position)) => position,
            Ok(None) => return (filled, None),
            Err(error) => return (filled, Some(error)),
        };
        let row = ReadRow {
            position,
            record,
            flagged: sheet.cell_problems().to_vec(),
        };
        match batch.get_mut(filled) {
            Some(slot) => *slot = row,
            None => batch.push(row),
        }
    }
    (BATCH_ROWS, None)
}
