//! `roster validate FILE`: every row checked, problems listed with their row, nothing sent.

use std::path::PathBuf;

use serde::Serialize;

use super::Ctx;
use crate::cli::ValidateArgs;
use crate::model::{Action, Outcome, Status};
use crate::report::{Reason, Tally};
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

pub fn exec(args: &ValidateArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let (input, _spool) = args.sheet.spooled()?;
    let (mut sheet, mut validator) = input.open(args.mode, &ctx.profile()?)?;
    let mut record = csv::ByteRecord::new();
    let mut tally = Tally::default();
    let (mut rows, mut shown) = (0u64, 0usize);
    while let Some(position) = sheet.next_record(&mut record)? {
        rows += 1;
        let Err(problems) = validator.check_cells(position.row, &record, sheet.cell_problems())
        else {
            continue;
        };
        let message = validate::describe(&problems);
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
