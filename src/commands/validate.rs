//! `roster validate FILE`: every row checked, problems listed with their row, nothing sent.

use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

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

/// Rows read, shared with the helper threads while every thread checks pieces of them.
struct Batch {
    /// Batches are numbered in the order they are read.
    number: u64,
    rows: Vec<ReadRow>,
    next_piece: AtomicUsize,
    /// The error that ended the reading after these rows, if one did.
    unreadable: Option<InputError>,
}

/// Each claimed piece's number and its rows' verdicts.
type Checked = Vec<(usize, Vec<CheckedAlone<()>>)>;

/// A helper's verdicts on the pieces it claimed of one batch (by number), or its panic.
type Answer = (u64, std::thread::Result<Checked>);

impl Batch {
    /// Reads the next rows into `rows` (reusing its records) and gives them to the helpers: the
    /// batch, and how many helpers took it and so will answer for it.
    fn read(
        sheet: &mut Sheet,
        mut rows: Vec<ReadRow>,
        number: u64,
        helpers: &[SyncSender<Arc<Batch>>],
    ) -> (Arc<Batch>, usize) {
        let (filled, unreadable) = read_batch(sheet, &mut rows);
        rows.truncate(filled);
        let batch = Arc::new(Batch {
            number,
            rows,
            next_piece: AtomicUsize::new(0),
            unreadable,
        });
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
    fn check_pieces(&self, validator: &Validator) -> Checked {
        let mut checked = Vec::new();
        loop {
            let at = self.next_piece.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = self.rows.chunks(PIECE_ROWS).nth(at) else {
                return checked;
            };
            let verdicts = piece
                .iter()
                .map(|row| {
                    validator
                        .check_alone(&row.record, &row.flagged)
                        .without_user()
                })
                .collect();
            checked.push((at, verdicts));
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
        let (mut current, mut given) =
            Batch::read(&mut sheet, Vec::with_capacity(BATCH_ROWS), 0, &helpers);
        let mut spare = Vec::new();
        loop {
            let next = (!current.is_last())
                .then(|| Batch::read(&mut sheet, spare, current.number + 1, &helpers));
            let mut checked = current.check_pieces(&validator);
            checked.extend(helpers_answers(current.number, given, &answers, &mut early));
            checked.sort_unstable_by_key(|(at, _)| *at);
            let Ok(batch) = Arc::try_unwrap(current) else {
                unreachable!("every helper lets go of a batch before it answers")
            };
            let verdicts = checked.into_iter().flat_map(|(_, verdicts)| verdicts);
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
            if let Some(error) = batch.unreadable {
                return Err(error.into());
            }
            match next {
                Some(next) => (current, given) = next,
                None => return Ok(()),
            }
            spare = batch.rows;
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

/// What the `given` helpers checked of batch `number`, waiting for each. With several helpers,
/// one may answer for the next batch before another answers for this one: such answers wait in
/// `early`. A helper's panic is resumed here.
fn helpers_answers(
    number: u64,
    given: usize,
    answers: &Receiver<Answer>,
    early: &mut Vec<Answer>,
) -> Checked {
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
    theirs
        .into_iter()
        .flat_map(|(_, answer)| answer.unwrap_or_else(|panicked| panic::resume_unwind(panicked)))
        .collect()
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
