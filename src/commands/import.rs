//! `roster import FILE`: the sheet's rows, validated, sent to a TeleCMI account.

use super::account::Account;
use super::rows::{RowRun, Sending};
use super::Ctx;
use std::sync::Arc;

use crate::cli::{ImportArgs, DEFAULT_PAGE_SIZE};
use crate::config::{process_env, ConfigError, Profile, TelecmiCredentials};
use crate::{Error, Exit};

pub async fn exec(args: &ImportArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let profile = ctx.profile()?;
    let (input, _spool) = args.sheet.spooled()?;
    let rows = input.read_through()?;
    let (sheet, validator) = input.open(args.mode, &profile)?;
    let summary = args
        .run
        .reserve_outputs(&args.sheet.file, sheet.is_workbook())?;
    let sending = if args.dry_run {
        dry_run(args, &profile, ctx).await?
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
        rows: Some(rows),
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
) -> Result<Sending, Error> {
    if let Err(ConfigError::MissingCredential { .. }) =
        TelecmiCredentials::resolve(profile, &process_env)
    {
        return Ok(Sending::DryRun {
            app_id: process_env("TELECMI_APP_ID").or_else(|| profile.app_id.clone()),
            account: None,
        });
    }
    let account = Account::open(&args.connection, profile, ctx)?;
    let users = account
        .read_users("dry run: reading the account", DEFAULT_PAGE_SIZE, ctx)
        .await?;
    let by_extension = users
        .into_iter()
        .map(|known| (known.user.extension, known.user))
        .collect();
    Ok(Sending::DryRun {
        app_id: Some(account.app_id),
        account: Some(Arc::new(by_extension)),
    })
}
