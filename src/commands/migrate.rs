//! `roster migrate`: plan a source roster onto a TeleCMI account, with a credentials file for
//! review; `--apply` creates the users from exactly that file.

use std::path::Path;

use super::account::Account;
use super::plan::{self, PlanView};
use super::rows::{RowRun, RunOutputs, Sending};
use super::{check_outputs, wait_for_shutdown_signal, Ctx};
use crate::cli::{ConnectionArgs, MigrateArgs, Provider, SheetArgs};
use crate::config::{self, process_env, Profile};
use crate::export::Chunked;
use crate::input::{Delimiter, Limits, TextEncoding};
use crate::model::{AccountUser, DirectoryUser, Mode};
use crate::plan::migrate::{self, Mapping, SourceUser};
use crate::progress::Progress;
use crate::provider::smartflo::{self, Smartflo};
use crate::report::ReportError;
use crate::{export, phone, Error, Exit};

pub async fn exec(args: &MigrateArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    if args.plan.apply && args.credentials_out.is_none() {
        return Err(Error::Usage(
            "--apply needs --credentials-out FILE: the new users' passwords go there, and the users are created from it".into(),
        ));
    }
    let target = end(
        ctx,
        args,
        args.to_profile.as_deref(),
        args.to_base_url.as_ref(),
    )?;
    let account = Account::open_with(&target.connection, &target.profile, target.env(), ctx)?;
    let credentials_path = args.credentials_out.as_deref();
    // An existing credentials file is applied as it is: exactly the users and passwords reviewed.
    let reviewed = credentials_path.is_some_and(Path::exists);
    if reviewed && !args.plan.apply {
        return Err(Error::Usage(format!(
            "{} exists: it is the plan you reviewed and may hold the passwords of users already created; \
             --apply it (with --resume after an interruption), or move it away to plan again",
            credentials_path.expect("exists").display()
        )));
    }
    check_outputs([&args.plan.plan_out, &args.credentials_out])?;
    // A credentials file is the CSV roster wrote.
    let mut outputs = match (args.plan.apply, credentials_path) {
        (true, Some(path)) => args.run.reserve_outputs(path, false)?,
        _ => RunOutputs::page_only(&args.run)?,
    };
    if !reviewed
        && !plan_migration(
            args,
            &account,
            &target.profile,
            credentials_path,
            &mut outputs,
            ctx,
        )
        .await?
    {
        return Ok(Exit::Success);
    }
    let credentials_path = credentials_path.expect("--apply requires --credentials-out");
    apply(
        args,
        account,
        &target.profile,
        credentials_path,
        outputs,
        ctx,
    )
    .await
}

/// One end of a migration: its profile, whose credentials win over the environment when named
/// explicitly, and its connection flags.
struct End {
    profile: Profile,
    connection: ConnectionArgs,
    explicit: bool,
}

impl End {
    fn env(&self) -> config::Env<'static> {
        if self.explicit {
            &no_env
        } else {
            &process_env
        }
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn end(
    ctx: &Ctx<'_, '_>,
    args: &MigrateArgs,
    profile: Option<&str>,
    base_url: Option<&String>,
) -> Result<End, Error> {
    let mut connection = args.connection.clone();
    if let Some(url) = base_url {
        connection.base_url = Some(url.clone());
    }
    Ok(End {
        profile: ctx.profile_named(profile)?,
        connection,
        explicit: profile.is_some(),
    })
}

/// Read both rosters, plan, write the credentials file and show the plan; true when `--apply`
/// goes on to create the users.
async fn plan_migration(
    args: &MigrateArgs,
    account: &Account,
    target: &Profile,
    credentials_path: Option<&Path>,
    outputs: &mut RunOutputs,
    ctx: &mut Ctx<'_, '_>,
) -> Result<bool, Error> {
    // Both rosters are walked at once: a million-user Smartflo source takes longer than its
    // TeleCMI target, which is read in its shadow.
    let started = std::time::Instant::now();
    let (source_progress, target_progress) = Progress::pair(
        "migrate: reading the source",
        "migrate: reading the target",
        !ctx.quiet(),
    );
    let walks = async {
        tokio::try_join!(
            read_source(args, ctx, &source_progress),
            account.read_users_shown(
                "migrate: reading the target",
                &target_progress,
                args.plan.page_size
            ),
        )
    };
    // The target's walk stops at a signal; the source's may go on after it.
    let ((sources, mapping), live) = tokio::select! {
        walked = walks => walked?,
        () = wait_for_shutdown_signal() => return Err(Error::Interrupted(
            "migrate: reading the source: stopped by a signal; nothing was changed".into()
        )),
    };
    drop((source_progress, target_progress));
    tracing::debug!(
        walk_seconds = started.elapsed().as_secs_f64(),
        "migrate: both rosters are walked; planning"
    );
    let options = migrate::Options {
        extension_range: args.extension_range,
        extension_digits: args.extension_digits,
        include_disabled: args.include_disabled,
        password_length: usize::from(args.password_length),
        passwords: args
            .passwords
            .as_deref()
            .map(migrate::read_passwords)
            .transpose()?
            .unwrap_or_default(),
        app_id: account.app_id.clone(),
        phones: args.phones.resolve(target),
    };
    let plan = migrate::plan(sources, &live, &mapping, &options);
    if let (false, Some(warning)) = (
        args.plan.apply,
        phone::unplaced_warning(plan.unplaced_phones),
    ) {
        tracing::warn!("{warning}");
    }
    if let Some(path) = credentials_path {
        write_credentials(path, &plan)?;
    }
    let view = PlanView {
        description: plan.describe(plan::SHOWN, &plan::rest_of_list(&args.plan)),
        files: vec![(
            "credentials (mode 0600)",
            credentials_path.map(Path::to_path_buf),
        )],
        next_step: "nothing created: run again with --apply to create the users",
    };
    Ok(!plan::show(
        &plan, view, &args.plan, &args.run, outputs, ctx,
    )?)
}

/// The source roster as the columns the mapping reads, and the mapping: the one that suits its
/// provider, under `--mapping`'s overrides (read before the first request).
async fn read_source(
    args: &MigrateArgs,
    ctx: &Ctx<'_, '_>,
    progress: &Progress,
) -> Result<(Chunked<SourceUser>, Mapping), Error> {
    let source = end(
        ctx,
        args,
        args.from_profile.as_deref(),
        args.from_base_url.as_ref(),
    )?;
    let mapping = |base: Mapping| match &args.mapping {
        Some(path) => Mapping::load(path, base).map_err(Error::Usage),
        None => Ok(base),
    };
    match args.from {
        Provider::Smartflo => {
            let mapping = mapping(Mapping::default())?;
            let token = config::smartflo_token(&source.profile, source.env())?;
            let settings = source
                .connection
                .resolve(&source.profile, smartflo::DEFAULT_BASE_URL)?;
            let client = Smartflo::new(ctx.connect(&settings)?, token);
            let mut users = export::CollectedWith::new(migrate::source_user::<DirectoryUser>(
                "login_id",
                &mapping.fields,
            ));
            export::walk_smartflo(&client, &mut users, args.plan.page_size, &[], progress).await?;
            progress.finish();
            Ok((users.users, mapping))
        }
        Provider::Telecmi => {
            let mapping = mapping(Mapping::telecmi_source())?;
            let account =
                Account::open_with(&source.connection, &source.profile, source.env(), ctx)?;
            let mut users = export::CollectedWith::new(migrate::source_user::<AccountUser>(
                "agent_id",
                &mapping.fields,
            ));
            export::walk_telecmi(
                &account.client,
                &mut users,
                args.plan.page_size,
                account.settings.concurrency,
                progress,
            )
            .await?;
            progress.finish();
            Ok((users.users, mapping))
        }
    }
}

fn write_credentials(path: &Path, plan: &migrate::MigratePlan) -> Result<(), Error> {
    export::atomic::write_atomically(path, true, |out| migrate::write_credentials(out, plan))
        .map_err(|source| {
            Error::Report(ReportError {
                path: path.to_path_buf(),
                source,
            })
        })
}

/// Create the users of the reviewed credentials file.
async fn apply(
    args: &MigrateArgs,
    account: Account,
    target: &Profile,
    credentials_path: &Path,
    outputs: RunOutputs,
    ctx: &mut Ctx<'_, '_>,
) -> Result<Exit, Error> {
    let mut sheet_args = SheetArgs {
        file: credentials_path.to_path_buf(),
        delimiter: Delimiter::Byte(b','),
        encoding: TextEncoding::Utf8,
        extension_digits: (1, 9),
        min_password_length: 1,
        max_record_bytes: Limits::default().record_bytes,
        max_field_bytes: Limits::default().field_bytes,
        sheet: None,
        max_workbook_bytes: Limits::default().workbook_bytes,
        phones: args.phones.clone(),
        shown_as: None,
    };
    let rows_read = sheet_args.read_through()?;
    let (sheet, validator) = sheet_args.open(Mode::Add, target)?;
    let rows = RowRun {
        command: "migrate",
        named: credentials_path,
        file: credentials_path,
        mode: Mode::Add,
        journal_mode: "migrate",
        run: &args.run,
        sending: Sending::Live(account),
        plan: None,
        outputs,
        rows: Some(rows_read),
        known_users: None,
        read_account_first: false,
    };
    rows.exec(sheet, validator, ctx).await
}
