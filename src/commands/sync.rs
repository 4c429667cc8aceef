//! `roster sync FILE`: plan the account against the sheet; `--apply` carries the plan out.

use std::sync::Arc;

use super::account::Account;
use super::plan::{self, PlanView, SHOWN};
use super::rows::{RowRun, RunOutputs, Sending};
use super::{check_outputs, Ctx};
use crate::cli::SyncArgs;
use crate::model::Mode;
use crate::plan::sync;
use crate::{phone, Error, Exit};

pub async fn exec(args: &SyncArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let profile = ctx.profile()?;
    let account = Account::open(&args.connection, &profile, ctx)?;
    let (mut input, _spool) = args.sheet.spooled()?;
    let (mut sheet, mut validator) = input.open(Mode::Upsert, &profile)?;
    check_outputs([&args.plan.plan_out])?;
    let mut outputs = match args.plan.apply {
        true => args
            .run
            .reserve_outputs(&args.sheet.file, sheet.is_workbook())?,
        false => RunOutputs::page_only(&args.run)?,
    };
    // The rows are checked while the account is walked: the walk mostly waits on the provider.
    // A sheet that cannot be read stops the walk at once; its header was checked before it began.
    let reading = tokio::task::spawn_blocking(move || {
        sync::read_sheet(&mut sheet, &mut validator).map(|rows| (rows, validator, sheet.encoding()))
    });
    let read = async {
        match reading.await {
            Ok(read) => read.map_err(Error::from),
            Err(failed) => std::panic::resume_unwind(failed.into_panic()),
        }
    };
    let started = std::time::Instant::now();
    let walk = account.read_users("sync: reading the account", args.plan.page_size, ctx);
    let ((rows, validator, found), live) = tokio::try_join!(read, walk)?;
    tracing::debug!(
        walk_seconds = started.elapsed().as_secs_f64(),
        "sync: the account is walked and the sheet read; planning"
    );
    let row_count = (rows.valid.len() + rows.invalid.len()) as u64;
    // An applied plan's run summary warns instead.
    if let (false, Some(warning)) = (
        args.plan.apply,
        phone::unplaced_warning(validator.unplaced_phones()),
    ) {
        tracing::warn!("{warning}");
    }
    let app_id = account.app_id.clone();
    let plan = sync::plan(
        &rows.valid,
        rows.invalid,
        &live,
        &app_id,
        &validator.phones(),
        args.plan.apply,
    );
    let view = PlanView {
        description: plan.describe(SHOWN, &plan::rest_of_list(&args.plan)),
        files: Vec::new(),
        next_step: "nothing sent: run again with --apply to carry the plan out",
    };
    if plan::show(&plan, view, &args.plan, &args.run, &mut outputs, ctx)? {
        // Nothing was sent: a plan, invalid rows included, is a finished job.
        return Ok(Exit::Success);
    }
    input.read_as(found);
    let (sheet, validator) = input.open(Mode::Upsert, &profile)?;
    let rows = RowRun {
        command: "sync",
        named: &args.sheet.file,
        file: &input.file,
        mode: Mode::Upsert,
        journal_mode: "sync",
        run: &args.run,
        sending: Sending::Live(account),
        plan: Some(Arc::new(plan.actions)),
        outputs,
        rows: Some(row_count),
        known_users: None,
        read_account_first: false,
    };
    rows.exec(sheet, validator, ctx).await
}
