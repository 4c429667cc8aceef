//! `roster import FILE`: the sheet's rows, validated, sent to a TeleCMI account.

use std::collections::HashMap;
use std::sync::Arc;

use super::account::Account;
use super::rows::{RowRun, Sending};
use super::Ctx;
use crate::cli::ImportArgs;
use crate::config::{process_env, ConfigError, Profile, TelecmiCredentials};
use crate::model::{Mode, User};
use crate::{Error, Exit};

pub async fn exec(args: &ImportArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let profile = ctx.profile()?;
    let (mut input, _spool) = args.sheet.spooled()?;
    let row_count = input.read_through()?;
    let (sheet, validator) = input.open(args.mode, &profile)?;
    let outputs = args
        .run
        .reserve_outputs(&args.sheet.file, sheet.is_workbook())?;
    let (sending, known_users) = if args.dry_run {
        dry_run(args, &profile, ctx).await?
    } else {
        let account = Account::open(&args.connection, &profile, ctx)?;
        (Sending::Live(account), None)
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
        outputs,
        rows: Some(row_count),
        known_users: known_users.map(Arc::new),
        // Adds never read; updates read each row's user, unless one walk of the roster is cheaper.
        read_account_first: args.mode != Mode::Add,
    };
    rows.exec(sheet, validator, ctx).await
}

/// A dry run reads the account when there are credentials to read it with (list calls only), so
/// that each row can say what the real run would do to it; without them it says what it cannot
/// know.
async fn dry_run(
    args: &ImportArgs,
    profile: &Profile,
    ctx: &Ctx<'_, '_>,
) -> Result<(Sending, Option<HashMap<u32, User>>), Error> {
    if let Err(ConfigError::MissingCredential { .. }) =
        TelecmiCredentials::resolve(profile, &process_env)
    {
        let app_id = process_env("TELECMI_APP_ID").or_else(|| profile.app_id.clone());
        return Ok((Sending::DryRun { app_id }, None));
    }
    let account = Account::open(&args.connection, profile, ctx)?;
    let users = account.users_by_extension("dry run", ctx).await?;
    let app_id = Some(account.app_id);
    Ok((Sending::DryRun { app_id }, Some(users)))
}
