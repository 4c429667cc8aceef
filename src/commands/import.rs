//! `roster import FILE`: the sheet's rows, validated, sent to a TeleCMI account.

use super::account::Account;
use super::rows::{RowRun, Sending};
use super::Ctx;
use crate::cli::ImportArgs;
use crate::config::process_env;
use crate::{Error, Exit};

pub async fn exec(args: &ImportArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let profile = ctx.profile()?;
    let (input, _spool) = args.sheet.spooled()?;
    input.read_through()?;
    let (sheet, validator) = input.open(args.mode, &profile)?;
    let summary = args
        .run
        .reserve_outputs(&args.sheet.file, sheet.is_workbook())?;
    let sending = if args.dry_run {
        Sending::DryRun {
            app_id: process_env("TELECMI_APP_ID").or_else(|| profile.app_id.clone()),
        }
    } else {
        Sending::Live(Account::open(&args.connection, &profile, ctx)?)
    };
    let rows = RowRun {
        command: "import",
        named: &args.sheet.file,
        file: &input.file,
        mode: args.mode,
        journal_mode: args.mode.as_str(),
        run: &args.run,
        sending,
        plan: None,
        summary,
    };
    rows.exec(sheet, validator, ctx).await
}
