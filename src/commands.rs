//! The subcommands: resolve settings, run the pipeline stages, summarise.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{
    self, Cli, Command, ConnectionArgs, DiffArgs, ExportArgs, ImportArgs, MigrateArgs, Provider,
    SandboxArgs, SheetArgs, SyncArgs, ValidateArgs,
};
use crate::config::{self, process_env, Profile, TelecmiCredentials};
use crate::execute::journal::{self, Journal, JournalHeader, Replay};
use crate::execute::retry::RetryPolicy;
use crate::execute::throttle::{Throttle, TrafficStats};
use crate::execute::{self, ImportSettings, RunControl};
use crate::export::{self, Destination, ExportError, RosterWriter, WalkStats};
use crate::input::{InputError, Sheet, TextEncoding};
use crate::model::{AccountUser, DirectoryUser, Mode};
use crate::model::{Outcome, Status};
use crate::plan::diff;
use crate::plan::migrate;
use crate::plan::sync::{self, InvalidRow, Planned};
use crate::progress::Progress;
use crate::provider::smartflo::{self, Smartflo};
use crate::provider::telecmi::{self, Telecmi};
use crate::provider::{Http, Timeouts};
use crate::report::{self, Reason, Tally};
use crate::validate::{self, Rules, Validator};
use crate::{Console, Error, Exit};
use std::collections::HashMap;

/// Run one command line. Data goes to `console.out`, summaries to `console.err`, logs to tracing.
pub async fn run(cli: Cli, console: &mut Console<'_>) -> Result<Exit, Error> {
    let global = &cli.global;
    match &cli.command {
        Command::Validate(args) => validate_command(args, console),
        Command::Import(args) => import_command(args, global, console).await,
        Command::Sync(args) => sync_command(args, global, console).await,
        Command::Diff(args) => diff_command(args, console),
        Command::Migrate(args) => migrate_command(args, global, console).await,
        Command::Export(args) => export_command(args, global, console).await,
        Command::Sandbox(args) => sandbox_command(args, console).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "roster", console.out);
            Ok(Exit::Success)
        }
    }
}

fn console_error(source: std::io::Error) -> Error {
    Error::Io {
        context: "cannot write to the terminal".to_string(),
        source,
    }
}

fn open_sheet(args: &SheetArgs, mode: Mode) -> Result<(Sheet, Validator), Error> {
    let sheet = Sheet::open(&args.file, args.delimiter, args.encoding)?;
    if sheet.encoding() == TextEncoding::Windows1252 && args.encoding == TextEncoding::Auto {
        tracing::warn!(
            "{} is not UTF-8; reading it as Windows-1252 (pass --encoding to choose another)",
            args.file.display()
        );
    }
    let unknown = &sheet.columns().unknown;
    if !unknown.is_empty() {
        const NAMED: usize = 12;
        let more = match unknown.len().saturating_sub(NAMED) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        tracing::warn!(
            "ignoring unknown columns: {}{more}",
            unknown[..unknown.len().min(NAMED)].join(", ")
        );
    }
    let rules = Rules {
        mode,
        extension_digits: args.extension_digits,
        min_password_len: args.min_password_length,
    };
    let validator =
        Validator::new(rules, sheet.columns().clone()).map_err(|problem| InputError::Header {
            path: args.file.clone(),
            problem,
        })?;
    Ok((sheet, validator))
}

#[derive(Serialize)]
struct ValidateSummary {
    command: &'static str,
    input: PathBuf,
    mode: &'static str,
    rows: u64,
    valid: u64,
    invalid: u64,
    reasons: Vec<Reason>,
}

fn validate_command(args: &ValidateArgs, console: &mut Console<'_>) -> Result<Exit, Error> {
    let (mut sheet, mut validator) = open_sheet(&args.sheet, args.mode)?;
    let mut record = csv::ByteRecord::new();
    let mut tally = Tally::default();
    let (mut rows, mut shown) = (0u64, 0usize);
    while let Some(position) = sheet.next_record(&mut record)? {
        rows += 1;
        let Err(problems) = validator.check(position.row, &record) else {
            continue;
        };
        let message = validate::describe(&problems);
        if shown < args.show {
            shown += 1;
            writeln!(
                console.err,
                "row {} (line {}): {message}",
                position.row, position.line
            )
            .map_err(console_error)?;
        }
        let outcome = Outcome {
            row: position.row,
            extension: String::new(),
            agent_id: String::new(),
            action: crate::model::Action::None,
            status: Status::Invalid,
            http_status: None,
            attempts: 0,
            message,
        };
        tally.record(&outcome, Some(&execute::reason_of(&problems)));
    }
    let invalid = tally.count(Status::Invalid);
    if invalid as usize > shown {
        writeln!(
            console.err,
            "… and {} more invalid rows",
            invalid as usize - shown
        )
        .map_err(console_error)?;
    }
    writeln!(
        console.err,
        "{}: {rows} rows, {} valid, {invalid} invalid (--mode {})",
        args.sheet.file.display(),
        rows - invalid,
        args.mode.as_str()
    )
    .map_err(console_error)?;
    if args.json {
        let summary = ValidateSummary {
            command: "validate",
            input: args.sheet.file.clone(),
            mode: args.mode.as_str(),
            rows,
            valid: rows - invalid,
            invalid,
            reasons: tally.top_reasons(),
        };
        write_json(console.out, &summary)?;
    }
    Ok(if invalid > 0 {
        Exit::RowsFailed
    } else {
        Exit::Success
    })
}

fn write_json<T: Serialize>(out: &mut (dyn Write + Send), value: &T) -> Result<(), Error> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| console_error(e.into()))?;
    writeln!(out).map_err(console_error)
}

/// The resolved connection of a command: client core, concurrency and the rate for the summary.
struct Connection {
    base_url: String,
    http: Http,
    concurrency: usize,
    rate: Option<f64>,
}

fn connect(
    args: &ConnectionArgs,
    profile: &Profile,
    default_base_url: &str,
) -> Result<Connection, Error> {
    let base_url = args
        .base_url
        .clone()
        .or_else(|| profile.base_url.clone())
        .unwrap_or_else(|| default_base_url.to_string());
    match reqwest::Url::parse(&base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        _ => {
            return Err(Error::Usage(format!(
                "--base-url {base_url:?} is not an http(s) URL"
            )))
        }
    }
    let rate = args.rate.or(profile.rate).unwrap_or(cli::DEFAULT_RATE);
    if !rate.is_finite() || rate < 0.0 {
        return Err(Error::Usage(format!(
            "--rate {rate} must be 0 (unlimited) or more"
        )));
    }
    let rate = (rate > 0.0).then_some(rate);
    let concurrency = args
        .concurrency
        .or(profile.concurrency)
        .unwrap_or(cli::DEFAULT_CONCURRENCY)
        .max(1);
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(Error::Usage(
            "--timeout must be a positive number of seconds".to_string(),
        ));
    }
    let burst = args
        .burst
        .unwrap_or_else(|| rate.map_or(1, |r| (r / 100.0).ceil().max(1.0) as u32));
    let throttle = Arc::new(Throttle::new(rate, burst, concurrency));
    let seconds = |value: f64, flag: &str| {
        if value.is_finite() && value >= 0.0 {
            Ok(Duration::from_secs_f64(value))
        } else {
            Err(Error::Usage(format!(
                "{flag} must be a number of seconds, 0 or more"
            )))
        }
    };
    let retry = RetryPolicy {
        max_attempts: args.max_attempts.max(1),
        base: seconds(args.retry_base, "--retry-base")?,
        cap: seconds(args.retry_max_wait, "--retry-max-wait")?,
    };
    let timeouts = Timeouts {
        request: Duration::from_secs_f64(args.timeout),
        ..Timeouts::default()
    };
    let ca_cert = args.ca_cert.as_deref().or(profile.ca_cert.as_deref());
    let trust = crate::provider::Trust::load(ca_cert)?;
    let http = Http::new(&base_url, throttle, retry, timeouts, &trust)?;
    Ok(Connection {
        base_url,
        http,
        concurrency,
        rate,
    })
}

#[derive(Serialize)]
struct Counts {
    ok: u64,
    failed: u64,
    invalid: u64,
    skipped: u64,
}

impl Counts {
    fn of(tally: &Tally) -> Counts {
        Counts {
            ok: tally.count(Status::Ok),
            failed: tally.count(Status::Failed),
            invalid: tally.count(Status::Invalid),
            skipped: tally.count(Status::Skipped),
        }
    }
}

#[derive(Serialize)]
struct ImportSummary {
    command: &'static str,
    input: PathBuf,
    mode: &'static str,
    dry_run: bool,
    /// Rows finished by the earlier runs a `--resume` continued.
    resumed_rows: u64,
    rows: u64,
    counts: Counts,
    actions: std::collections::BTreeMap<&'static str, u64>,
    reasons: Vec<Reason>,
    duration_seconds: f64,
    requests: u64,
    retries: u64,
    throttled: u64,
    /// Failures not retried because the run's retry budget was spent.
    retries_refused: u64,
    achieved_rate: f64,
    /// The rate limit at the end of the run, after adapting to 429s.
    effective_rate: Option<f64>,
    lowest_rate: Option<f64>,
    configured_rate: Option<f64>,
    concurrency: usize,
    aborted: Option<String>,
    report: PathBuf,
    failed_rows: Option<PathBuf>,
    exit_code: Exit,
}

fn default_report_path(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or("roster".into(), |s| s.to_string_lossy());
    PathBuf::from(format!("{stem}.results.csv"))
}

/// A TeleCMI account ready to receive rows.
struct Target {
    client: Arc<Telecmi>,
    app_id: String,
    base_url: String,
    concurrency: usize,
    rate: Option<f64>,
}

fn telecmi_target(args: &ConnectionArgs, profile: &Profile) -> Result<Target, Error> {
    telecmi_target_with(args, profile, &process_env)
}

fn telecmi_target_with(
    args: &ConnectionArgs,
    profile: &Profile,
    env: config::Env,
) -> Result<Target, Error> {
    let credentials = TelecmiCredentials::resolve(profile, env)?;
    let connection = connect(args, profile, telecmi::DEFAULT_BASE_URL)?;
    Ok(Target {
        app_id: credentials.app_id.to_string(),
        client: Arc::new(Telecmi::new(
            connection.http,
            credentials.app_id,
            credentials.secret,
        )),
        base_url: connection.base_url,
        concurrency: connection.concurrency,
        rate: connection.rate,
    })
}

/// One run of rows through the engine, as import and sync --apply do it.
struct RowsJob<'a> {
    command: &'static str,
    file: &'a Path,
    mode: Mode,
    /// What the journal ties a resume to: the mode, or `sync`.
    journal_mode: &'static str,
    run: &'a cli::RunArgs,
    /// `None`: a dry run.
    target: Option<Target>,
    plan: Option<Arc<HashMap<u32, Planned>>>,
}

async fn import_command(
    args: &ImportArgs,
    global: &cli::GlobalArgs,
    console: &mut Console<'_>,
) -> Result<Exit, Error> {
    let profile = config::load_profile(global.config.as_deref(), global.profile.as_deref())?;
    let (sheet, validator) = open_sheet(&args.sheet, args.mode)?;
    let target = match args.dry_run {
        true => None,
        false => Some(telecmi_target(&args.connection, &profile)?),
    };
    let job = RowsJob {
        command: "import",
        file: &args.sheet.file,
        mode: args.mode,
        journal_mode: args.mode.as_str(),
        run: &args.run,
        target,
        plan: None,
    };
    let dry_run_app_id = process_env("TELECMI_APP_ID").or_else(|| profile.app_id.clone());
    run_rows(job, sheet, validator, dry_run_app_id, global, console).await
}

async fn run_rows(
    mut job: RowsJob<'_>,
    sheet: Sheet,
    validator: Validator,
    dry_run_app_id: Option<String>,
    global: &cli::GlobalArgs,
    console: &mut Console<'_>,
) -> Result<Exit, Error> {
    let run = job.run;
    let report_path = run
        .report
        .clone()
        .unwrap_or_else(|| default_report_path(job.file));
    let dry_run = job.target.is_none();
    let (client, app_id, concurrency, rate, journal, replay) = match job.target.take() {
        None => (None, dry_run_app_id, 1, None, None, None),
        Some(target) => {
            let (journal, replay) =
                open_journal(&job, &report_path, &target.app_id, &target.base_url)?;
            (
                Some(target.client),
                Some(target.app_id),
                target.concurrency,
                target.rate,
                Some(journal),
                replay,
            )
        }
    };
    let resumed_rows = replay.as_ref().map_or(0, |r| r.rows);
    let control = Arc::new(RunControl::default());
    // First Ctrl-C or SIGTERM: stop dispatching and finish in order. Second: stop at once (the
    // report keeps every row written so far).
    let force_stop = Arc::new(tokio::sync::Notify::new());
    let interrupt = {
        let control = Arc::clone(&control);
        let force_stop = Arc::clone(&force_stop);
        tokio::spawn(async move {
            wait_for_shutdown_signal().await;
            control.abort("interrupted by a signal: unsent rows are marked skipped".to_string());
            wait_for_shutdown_signal().await;
            force_stop.notify_one();
        })
    };
    let total_bytes = std::fs::metadata(job.file).map(|m| m.len()).ok();
    let progress = Progress::new(job.command, total_bytes, !global.quiet);
    let settings = ImportSettings {
        mode: job.mode,
        client,
        app_id,
        workers: concurrency,
        max_failures: run.max_failures,
        report: report_path.clone(),
        failed: run.failed.clone(),
        journal,
        replay,
        plan: job.plan,
    };
    let result = tokio::select! {
        result = execute::import(sheet, validator, settings, Arc::clone(&control), progress) => result,
        () = force_stop.notified() => Err(Error::Interrupted("stopped at once on a second signal; the report holds the rows finished so far".to_string())),
    };
    interrupt.abort();
    let result = result?;
    let tally = &result.tally;
    let exit = if result.aborted.is_some() {
        Exit::Aborted
    } else if tally.count(Status::Failed) + tally.count(Status::Invalid) > 0 {
        Exit::RowsFailed
    } else {
        Exit::Success
    };
    let summary = ImportSummary {
        command: job.command,
        input: job.file.to_path_buf(),
        mode: job.journal_mode,
        dry_run,
        resumed_rows,
        rows: tally.total(),
        counts: Counts::of(tally),
        actions: tally.actions.clone(),
        reasons: tally.top_reasons().into_iter().take(20).collect(),
        duration_seconds: result.duration.as_secs_f64(),
        requests: result.traffic.requests,
        retries: result.traffic.retries,
        throttled: result.traffic.throttled,
        retries_refused: result.traffic.retries_refused,
        achieved_rate: result.traffic.achieved_rate,
        effective_rate: result.traffic.effective_rate,
        lowest_rate: result.traffic.lowest_rate,
        configured_rate: rate,
        concurrency,
        aborted: result.aborted.clone(),
        report: report_path,
        failed_rows: run.failed.clone(),
        exit_code: exit,
    };
    if let Some(path) = &run.summary {
        report::write_json_atomically(path, &summary)?;
    }
    if run.json {
        write_json(console.out, &summary)?;
    }
    if !global.quiet {
        write_import_text(
            console.err,
            &summary,
            &result.traffic,
            run.summary.as_deref(),
        )
        .map_err(console_error)?;
    }
    Ok(exit)
}

async fn sync_command(
    args: &SyncArgs,
    global: &cli::GlobalArgs,
    console: &mut Console<'_>,
) -> Result<Exit, Error> {
    let profile = config::load_profile(global.config.as_deref(), global.profile.as_deref())?;
    let target = telecmi_target(&args.connection, &profile)?;
    // Validate the whole sheet first: a plan is only as good as its rows.
    let (mut sheet, mut validator) = open_sheet(&args.sheet, Mode::Upsert)?;
    let extension_index = validator.columns().index(crate::input::Column::Extension);
    let mut record = csv::ByteRecord::new();
    let (mut rows, mut invalid) = (Vec::new(), Vec::new());
    while let Some(position) = sheet.next_record(&mut record)? {
        match validator.check(position.row, &record) {
            Ok(user) => rows.push((position.row, user)),
            Err(problems) => invalid.push(InvalidRow {
                row: position.row,
                extension: extension_index
                    .and_then(|i| record.get(i))
                    .and_then(|cell| std::str::from_utf8(cell).ok())
                    .and_then(|cell| cell.trim().parse().ok()),
                message: validate::describe(&problems),
            }),
        }
    }
    let progress = Progress::new("sync: reading the account", None, !global.quiet);
    let mut live = export::Collected::<AccountUser>::default();
    tokio::select! {
        walked = export::walk_telecmi(&target.client, &mut live, args.plan.page_size, target.concurrency, &progress) => { walked?; }
        () = wait_for_shutdown_signal() => return Err(Error::Interrupted("sync stopped by a signal while reading the account; nothing was changed".to_string())),
    }
    progress.finish();
    let plan = sync::plan(rows, invalid, &live.users, &target.app_id);
    let shown = PlanShown {
        description: plan.describe(10),
        files: Vec::new(),
        next_step: "nothing sent: run again with --apply to carry the plan out",
    };
    if show_plan(&plan, shown, &args.plan, &args.run, global, console)? {
        // Nothing was sent: a plan, invalid rows included, is a finished job.
        return Ok(Exit::Success);
    }
    let (sheet, validator) = open_sheet(&args.sheet, Mode::Upsert)?;
    let job = RowsJob {
        command: "sync",
        file: &args.sheet.file,
        mode: Mode::Upsert,
        journal_mode: "sync",
        run: &args.run,
        target: Some(target),
        plan: Some(Arc::new(plan.actions)),
    };
    run_rows(job, sheet, validator, None, global, console).await
}

/// The journal of this run: a new one, or the earlier run's when resuming (same input, account, mode).
fn open_journal(
    job: &RowsJob<'_>,
    report: &Path,
    app_id: &str,
    base_url: &str,
) -> Result<(Journal, Option<Replay>), Error> {
    let path = job.run.journal.clone().unwrap_or_else(|| {
        let mut name = report.as_os_str().to_owned();
        name.push(".journal");
        PathBuf::from(name)
    });
    let input_sha256 = journal::hash_file(job.file).map_err(|source| InputError::Io {
        path: job.file.to_path_buf(),
        source,
    })?;
    let header = JournalHeader::new(
        input_sha256,
        format!("telecmi:{app_id}@{base_url}"),
        job.journal_mode,
    );
    if job.run.resume {
        let (journal, replay) = Journal::resume(&path, &header)?;
        tracing::info!(
            "resuming: {} rows were finished by earlier runs ({})",
            replay.rows,
            path.display()
        );
        Ok((journal, Some(replay)))
    } else {
        Ok((Journal::create(&path, &header)?, None))
    }
}

fn write_import_text(
    err: &mut (dyn Write + Send),
    summary: &ImportSummary,
    traffic: &TrafficStats,
    summary_path: Option<&Path>,
) -> std::io::Result<()> {
    let c = &summary.counts;
    let heading = if summary.dry_run {
        "dry run"
    } else {
        summary.command
    };
    writeln!(
        err,
        "\n{heading} of {}: {} rows in {:.1} s: {} ok, {} failed, {} invalid, {} skipped",
        summary.input.display(),
        summary.rows,
        summary.duration_seconds,
        c.ok,
        c.failed,
        c.invalid,
        c.skipped
    )?;
    if !summary.dry_run {
        let limit = summary
            .configured_rate
            .map_or("unlimited".to_string(), |r| format!("limit {r} req/s"));
        writeln!(
            err,
            "  requests: {} ({} retried, {} throttled), {:.1} req/s achieved ({limit}, concurrency {})",
            traffic.requests, traffic.retries, traffic.throttled, traffic.achieved_rate, summary.concurrency
        )?;
        if let (Some(lowest), Some(configured)) = (traffic.lowest_rate, summary.configured_rate) {
            if lowest < configured {
                writeln!(
                    err,
                    "  the provider throttled us: rate lowered to {lowest:.1} req/s, {:.1} req/s at the end",
                    traffic.effective_rate.unwrap_or(lowest)
                )?;
            }
        }
        if traffic.retries_refused > 0 {
            writeln!(
                err,
                "  {} failures not retried: the run's retry budget was spent",
                traffic.retries_refused
            )?;
        }
    }
    if summary.resumed_rows > 0 {
        writeln!(
            err,
            "  resumed: {} rows were finished by earlier runs and not sent again",
            summary.resumed_rows
        )?;
    }
    if let Some(reason) = &summary.aborted {
        writeln!(err, "  ABORTED: {reason} (continue later with --resume)")?;
    }
    if !summary.reasons.is_empty() {
        writeln!(err, "  top reasons:")?;
        for reason in summary.reasons.iter().take(5) {
            let rows: Vec<String> = reason.example_rows.iter().map(u64::to_string).collect();
            writeln!(
                err,
                "    {:>5} {}: {} (rows {})",
                reason.count,
                reason.outcome,
                reason.message,
                rows.join(", ")
            )?;
        }
    }
    writeln!(err, "  report: {}", summary.report.display())?;
    if let Some(failed) = &summary.failed_rows {
        writeln!(err, "  failed rows: {}", failed.display())?;
    }
    if let Some(path) = summary_path {
        writeln!(err, "  summary: {}", path.display())?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ExportSummary<'a> {
    /// With --diff-against: who joined, left or changed since the previous export.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<ChangeSummary<'a>>,
    command: &'static str,
    provider: &'static str,
    format: &'static str,
    output: PathBuf,
    include_passwords: bool,
    #[serde(flatten)]
    stats: WalkStats,
    /// SHA-256 over the sorted per-user lines: equal digests, equal rosters, whatever the order.
    digest: String,
    duration_seconds: f64,
    requests: u64,
    retries: u64,
    throttled: u64,
    exit_code: Exit,
}

async fn export_command(
    args: &ExportArgs,
    global: &cli::GlobalArgs,
    console: &mut Console<'_>,
) -> Result<Exit, Error> {
    if args.json && args.output == "-" {
        return Err(Error::Usage("--json prints the summary on stdout, which --output - already uses for the roster: pass --summary FILE instead".to_string()));
    }
    if args.diff_against.is_some() && args.output == "-" {
        return Err(Error::Usage(
            "--diff-against compares files: pass --output FILE".to_string(),
        ));
    }
    // Read before the walk: the previous file may be the very output this export replaces.
    let previous = args
        .diff_against
        .as_deref()
        .map(diff::read_roster)
        .transpose()?;
    let profile = config::load_profile(global.config.as_deref(), global.profile.as_deref())?;
    let provider = match (args.provider, profile.provider.as_deref()) {
        (Some(provider), _) => provider,
        (None, Some(name)) => {
            <Provider as clap::ValueEnum>::from_str(name, true).map_err(|_| {
                Error::Config(config::ConfigError::Invalid {
                    what: "the profile's provider".to_string(),
                    problem: format!("{name:?} is neither telecmi nor smartflo"),
                })
            })?
        }
        (None, None) => {
            return Err(Error::Usage(
                "name the roster to export: --provider telecmi|smartflo".to_string(),
            ))
        }
    };
    let progress = Progress::new("export", None, !global.quiet);
    let walk = async {
        Ok::<_, Error>(match provider {
            Provider::Telecmi => {
                let credentials = TelecmiCredentials::resolve(&profile, &process_env)?;
                let connection = connect(&args.connection, &profile, telecmi::DEFAULT_BASE_URL)?;
                let client = Telecmi::new(connection.http, credentials.app_id, credentials.secret);
                if !args.filter.is_empty() {
                    return Err(Error::Usage(
                        "--filter applies to --provider smartflo only".to_string(),
                    ));
                }
                let mut destination = open_destination(&args.output, args.include_passwords)?;
                let mut writer = RosterWriter::new::<AccountUser>(
                    &mut destination,
                    args.format,
                    args.include_passwords,
                )
                .map_err(export_write_error)?;
                let stats = export::walk_telecmi(
                    &client,
                    &mut writer,
                    args.page_size,
                    connection.concurrency,
                    &progress,
                )
                .await?;
                let digest = writer.digest();
                (stats, digest, client.http().throttle().stats(), destination)
            }
            Provider::Smartflo => {
                let token = config::smartflo_token(&profile, &process_env)?;
                let connection = connect(&args.connection, &profile, smartflo::DEFAULT_BASE_URL)?;
                if args.include_passwords {
                    tracing::warn!(
                        "Smartflo lists no passwords: --include-passwords changes nothing"
                    );
                }
                let client = Smartflo::new(connection.http, token);
                let mut destination = open_destination(&args.output, false)?;
                let mut writer =
                    RosterWriter::new::<DirectoryUser>(&mut destination, args.format, false)
                        .map_err(export_write_error)?;
                let stats = export::walk_smartflo(
                    &client,
                    &mut writer,
                    args.page_size,
                    &args.filter,
                    &progress,
                )
                .await?;
                let digest = writer.digest();
                (stats, digest, client.http().throttle().stats(), destination)
            }
        })
    };
    // Interrupted, the walk and its temporary file are dropped: the previous export stays in place.
    let (stats, digest, traffic, destination) = tokio::select! {
        walked = walk => walked?,
        () = wait_for_shutdown_signal() => {
            return Err(Error::Interrupted("export stopped by a signal; the previous file is untouched".to_string()))
        }
    };
    progress.finish();
    destination
        .commit(console.out)
        .map_err(|source| Error::Io {
            context: format!("cannot put the export in place at {}", args.output),
            source,
        })?;
    // The export is in place by now: a change report that cannot be made is a warning, not a failure.
    let changes = previous.as_ref().and_then(|previous| {
        let compared = diff::read_roster(Path::new(&args.output))
            .and_then(|current| diff::diff(previous, &current))
            .map_err(Error::from)
            .and_then(|changes| {
                if let Some(path) = &args.diff_output {
                    write_diff_file(path, &changes)?;
                }
                Ok(changes)
            });
        compared
            .map_err(|e| tracing::warn!("the export is complete, but no change report: {e}"))
            .ok()
    });
    let summary = ExportSummary {
        changes: changes.as_ref().map(|c| ChangeSummary {
            headline: c.headline(),
            counts: &c.counts,
        }),
        command: "export",
        provider: match provider {
            Provider::Telecmi => "telecmi",
            Provider::Smartflo => "smartflo",
        },
        format: match args.format {
            cli::ExportFormat::Csv => "csv",
            cli::ExportFormat::Jsonl => "jsonl",
        },
        output: export::output_label(&args.output),
        include_passwords: args.include_passwords && provider == Provider::Telecmi,
        duration_seconds: stats.duration.as_secs_f64(),
        stats,
        digest,
        requests: traffic.requests,
        retries: traffic.retries,
        throttled: traffic.throttled,
        exit_code: Exit::Success,
    };
    if let Some(path) = &args.summary {
        report::write_json_atomically(path, &summary)?;
    }
    if args.json {
        write_json(console.out, &summary)?;
    }
    if !global.quiet {
        writeln!(
            console.err,
            "exported {} {} users ({} pages, {} requests, {} retried) to {} in {:.1} s; digest {}",
            summary.stats.users,
            summary.provider,
            summary.stats.pages,
            summary.requests,
            summary.retries,
            summary.output.display(),
            summary.duration_seconds,
            &summary.digest[..16]
        )
        .map_err(console_error)?;
        if let Some(changes) = &summary.changes {
            writeln!(
                console.err,
                "since {}: {}",
                args.diff_against
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display(),
                changes.headline
            )
            .map_err(console_error)?;
        }
    }
    Ok(Exit::Success)
}

#[derive(Serialize)]
struct ChangeSummary<'a> {
    headline: String,
    counts: &'a diff::Counts,
}

fn write_diff_file(path: &Path, changes: &diff::Diff) -> Result<(), Error> {
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    export::atomic::write_atomically(path, false, |out| {
        if json {
            serde_json::to_writer_pretty(&mut *out, changes).map_err(std::io::Error::other)?;
            writeln!(out)
        } else {
            changes.write_csv(out)
        }
    })
    .map_err(|source| {
        Error::Setup(report::ReportError {
            path: path.to_path_buf(),
            source,
        })
    })
}

fn diff_command(args: &DiffArgs, console: &mut Console<'_>) -> Result<Exit, Error> {
    let old = diff::read_roster(&args.old)?;
    let new = diff::read_roster(&args.new)?;
    let changes = diff::diff(&old, &new)?;
    if let Some(path) = &args.output {
        write_diff_file(path, &changes)?;
    }
    if args.json {
        write_json(console.out, &changes)?;
    } else if args.output.is_none() {
        changes.write_table(console.out).map_err(console_error)?;
    }
    writeln!(
        console.err,
        "{} -> {}: {}",
        args.old.display(),
        args.new.display(),
        changes.headline()
    )
    .map_err(console_error)?;
    Ok(Exit::Success)
}

fn export_write_error(source: std::io::Error) -> Error {
    Error::Export(ExportError::Write {
        path: "the export output".to_string(),
        source,
    })
}

fn open_destination(output: &str, private: bool) -> Result<Destination, Error> {
    Destination::open(output, private).map_err(|source| {
        Error::Setup(report::ReportError {
            path: PathBuf::from(output),
            source,
        })
    })
}

async fn sandbox_command(args: &SandboxArgs, console: &mut Console<'_>) -> Result<Exit, Error> {
    use crate::sandbox::{Faults, Sandbox, SandboxConfig};
    let config = SandboxConfig {
        app_id: args.app_id,
        secret: args.secret.clone(),
        token: args.token.clone(),
        seed_telecmi: args.seed_telecmi,
        seed_smartflo: args.seed_smartflo,
        user_limit: args.user_limit,
        faults: Faults {
            latency: Duration::from_millis(args.latency_ms),
            jitter: Duration::from_millis(args.jitter_ms),
            rate_limit: args.rate_limit,
            error_rate: args.error_rate,
            throttle_rate: args.throttle_rate,
            retry_after_secs: args.retry_after,
            lost_add_rate: args.lost_add_rate,
            list_limit_cap: args.list_limit_cap,
        },
    };
    let sandbox = Sandbox::start(args.listen, config)
        .await
        .map_err(|source| Error::Io {
            context: format!("cannot listen on {}", args.listen),
            source,
        })?;
    writeln!(console.out, "{}", sandbox.base_url()).map_err(console_error)?;
    console.out.flush().map_err(console_error)?;
    let shown = |value: &str, default: &str| {
        if value == default {
            value.to_string()
        } else {
            "(as given)".to_string()
        }
    };
    writeln!(
        console.err,
        "sandbox listening on {url} (TeleCMI and Smartflo paths); {} TeleCMI and {} Smartflo users seeded\n  \
         export ROSTER_BASE_URL={url} TELECMI_APP_ID={} TELECMI_SECRET={} SMARTFLO_TOKEN={}\n  stop with Ctrl-C",
        args.seed_telecmi,
        args.seed_smartflo,
        args.app_id,
        shown(&args.secret, crate::sandbox::DEFAULT_SECRET),
        shown(&args.token, crate::sandbox::DEFAULT_TOKEN),
        url = sandbox.base_url(),
    )
    .map_err(console_error)?;
    wait_for_shutdown_signal().await;
    sandbox.stop().await;
    Ok(Exit::Success)
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// What the terminal shows of a plan besides the plan file.
struct PlanShown {
    description: String,
    files: Vec<(&'static str, Option<PathBuf>)>,
    next_step: &'static str,
}

/// Write the plan file and show the plan; true when the command ends here (no `--apply`).
fn show_plan<P: Serialize>(
    plan: &P,
    shown: PlanShown,
    args: &cli::PlanArgs,
    run: &cli::RunArgs,
    global: &cli::GlobalArgs,
    console: &mut Console<'_>,
) -> Result<bool, Error> {
    if let Some(path) = &args.plan_out {
        report::write_json_atomically(path, plan)?;
    }
    if !global.quiet {
        write!(console.err, "{}", shown.description).map_err(console_error)?;
        let files = std::iter::once(("plan", args.plan_out.clone())).chain(shown.files);
        for (label, path) in files {
            if let Some(path) = path {
                writeln!(console.err, "  {label}: {}", path.display()).map_err(console_error)?;
            }
        }
    }
    if args.apply {
        return Ok(false);
    }
    if run.json {
        write_json(console.out, plan)?;
    }
    if !global.quiet {
        writeln!(console.err, "{}", shown.next_step).map_err(console_error)?;
    }
    Ok(true)
}

/// A migration end: its profile, whose credentials win over the environment when named explicitly.
fn migration_end(
    global: &cli::GlobalArgs,
    profile: Option<&str>,
    base_url: Option<&String>,
    args: &MigrateArgs,
) -> Result<(Profile, ConnectionArgs, bool), Error> {
    let explicit = profile.is_some();
    let profile = config::load_profile(
        global.config.as_deref(),
        profile.or(global.profile.as_deref()),
    )?;
    let mut connection = args.connection.clone();
    if let Some(url) = base_url {
        connection.base_url = Some(url.clone());
    }
    Ok((profile, connection, explicit))
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Passwords to carry over: `password` plus an `id`, `source_id` or `login_id` column.
fn read_passwords(path: &Path) -> Result<HashMap<String, String>, Error> {
    let bad = |problem: String| {
        Error::Input(InputError::Header {
            path: path.to_path_buf(),
            problem,
        })
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&crate::input::header::normalise(h).as_str()))
    };
    let key = find(&["source_id", "id", "login_id"])
        .ok_or_else(|| bad("no id, source_id or login_id column".into()))?;
    let password = find(&["password"]).ok_or_else(|| bad("no password column".into()))?;
    let mut passwords = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        if let (Some(k), Some(p)) = (record.get(key), record.get(password)) {
            if !k.trim().is_empty() && !p.is_empty() {
                passwords.insert(k.trim().to_string(), p.to_string());
            }
        }
    }
    Ok(passwords)
}

/// Source users by their export columns, so a mapping can name any column.
fn source_users<R: export::record::ExportRecord>(
    users: &[R],
    login_column: &str,
) -> Vec<migrate::SourceUser> {
    users
        .iter()
        .map(|user| {
            let columns: std::collections::BTreeMap<String, String> = R::COLUMNS
                .iter()
                .map(|c| c.to_string())
                .zip(user.values(true).iter().map(|v| match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }))
                .collect();
            migrate::SourceUser {
                id: user.key(),
                login_id: columns.get(login_column).cloned().unwrap_or_default(),
                columns,
            }
        })
        .collect()
}

async fn migrate_command(
    args: &MigrateArgs,
    global: &cli::GlobalArgs,
    console: &mut Console<'_>,
) -> Result<Exit, Error> {
    if args.plan.apply && args.credentials_out.is_none() {
        return Err(Error::Usage(
            "--apply needs --credentials-out FILE: the new users' passwords go there, and the users are created from it".into(),
        ));
    }
    let (to_profile, to_connection, to_explicit) = migration_end(
        global,
        args.to_profile.as_deref(),
        args.to_base_url.as_ref(),
        args,
    )?;
    let env: config::Env = if to_explicit { &no_env } else { &process_env };
    let target = telecmi_target_with(&to_connection, &to_profile, env)?;
    let credentials_path = args.credentials_out.clone();
    let credentials_exist = credentials_path.as_ref().is_some_and(|p| p.exists());
    if credentials_exist && !args.plan.apply {
        return Err(Error::Usage(format!(
            "{} exists: it is the plan you reviewed and may hold the passwords of users already created; \
             --apply it (with --resume after an interruption), or move it away to plan again",
            credentials_path.as_ref().expect("exists").display()
        )));
    }
    // An existing credentials file is applied as it is: exactly the users and passwords reviewed.
    let resuming = credentials_exist;
    if !resuming {
        let (from_profile, from_connection, from_explicit) = migration_end(
            global,
            args.from_profile.as_deref(),
            args.from_base_url.as_ref(),
            args,
        )?;
        let from_env: config::Env = if from_explicit { &no_env } else { &process_env };
        let progress = Progress::new("migrate: reading the rosters", None, !global.quiet);
        let (sources, base_mapping) = match args.from {
            Provider::Smartflo => {
                let token = config::smartflo_token(&from_profile, from_env)?;
                let connection =
                    connect(&from_connection, &from_profile, smartflo::DEFAULT_BASE_URL)?;
                let client = Smartflo::new(connection.http, token);
                let mut users = export::Collected::<DirectoryUser>::default();
                export::walk_smartflo(&client, &mut users, args.plan.page_size, &[], &progress)
                    .await?;
                (
                    source_users(&users.users, "login_id"),
                    migrate::Mapping::default(),
                )
            }
            Provider::Telecmi => {
                let source = telecmi_target_with(&from_connection, &from_profile, from_env)?;
                let mut users = export::Collected::<AccountUser>::default();
                export::walk_telecmi(
                    &source.client,
                    &mut users,
                    args.plan.page_size,
                    source.concurrency,
                    &progress,
                )
                .await?;
                (
                    source_users(&users.users, "agent_id"),
                    migrate::Mapping::telecmi_source(),
                )
            }
        };
        let mut live = export::Collected::<AccountUser>::default();
        export::walk_telecmi(
            &target.client,
            &mut live,
            args.plan.page_size,
            target.concurrency,
            &progress,
        )
        .await?;
        progress.finish();
        let mapping = match &args.mapping {
            Some(path) => migrate::Mapping::load(path, base_mapping).map_err(Error::Usage)?,
            None => base_mapping,
        };
        let options = migrate::Options {
            extension_range: args.extension_range,
            extension_digits: args.extension_digits,
            include_disabled: args.include_disabled,
            password_length: usize::from(args.password_length),
            passwords: args
                .passwords
                .as_deref()
                .map(read_passwords)
                .transpose()?
                .unwrap_or_default(),
            app_id: target.app_id.clone(),
        };
        let plan = migrate::plan(&sources, &live.users, &mapping, &options);
        if let Some(path) = &credentials_path {
            export::atomic::write_atomically(path, true, |out| {
                migrate::write_credentials(out, &plan)
            })
            .map_err(|source| {
                Error::Setup(report::ReportError {
                    path: path.clone(),
                    source,
                })
            })?;
        }
        let shown = PlanShown {
            description: plan.describe(10),
            files: vec![("credentials (mode 0600)", credentials_path.clone())],
            next_step: "nothing created: run again with --apply to create the users",
        };
        if show_plan(&plan, shown, &args.plan, &args.run, global, console)? {
            return Ok(Exit::Success);
        }
    }
    let credentials_path = credentials_path.expect("--apply requires --credentials-out");
    let sheet_args = SheetArgs {
        file: credentials_path.clone(),
        delimiter: crate::input::Delimiter::Byte(b','),
        encoding: TextEncoding::Utf8,
        extension_digits: (1, 9),
        min_password_length: 1,
    };
    let (sheet, validator) = open_sheet(&sheet_args, Mode::Add)?;
    let job = RowsJob {
        command: "migrate",
        file: &credentials_path,
        mode: Mode::Add,
        journal_mode: "migrate",
        run: &args.run,
        target: Some(target),
        plan: None,
    };
    run_rows(job, sheet, validator, None, global, console).await
}
