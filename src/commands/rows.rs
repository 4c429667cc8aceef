//! The row run shared by `import`, `sync --apply` and `migrate --apply`: the journal, the signals,
//! the engine, and the summary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::account::Account;
use super::{
    check_outputs, console_error, reserve_html, wait_for_shutdown_signal, write_html_page, Ctx,
    STDIN,
};
use crate::cli::RunArgs;
use crate::execute::journal::{self, Journal, JournalHeader, Replay};
use crate::execute::{self, ImportSettings, RunControl};
use crate::input::{InputError, Sheet};
use crate::model::{Mode, Status, User};
use crate::plan::sync::Planned;
use crate::report::summary::{Counts, RunSummary};
use crate::report::ReservedOutput;
use crate::validate::Validator;
use crate::{report, text, Error, Exit};

/// Whether rows reach an account.
pub enum Sending {
    /// Nothing is sent; the app id, when known, gives the derived agent ids.
    DryRun {
        app_id: Option<String>,
    },
    Live(Account),
}

/// One run of a sheet's rows through the engine.
pub struct RowRun<'a> {
    pub command: &'static str,
    /// The sheet as the user named it (`-` for standard input).
    pub named: &'a Path,
    /// The file read: the sheet itself, or standard input spooled to a temporary file.
    pub file: &'a Path,
    pub mode: Mode,
    /// What the journal ties a resume to: the mode, or `sync` / `migrate`.
    pub journal_mode: &'static str,
    pub run: &'a RunArgs,
    pub sending: Sending,
    /// A sync plan: what each extension needs (none for a plain import).
    pub plan: Option<Arc<HashMap<u32, Planned>>>,
    /// `--summary` and `--html-report`, reserved by [`RunArgs::reserve_outputs`] before the
    /// first request.
    pub outputs: RunOutputs,
    /// The sheet's data rows, when it was read through first: progress then shows the total.
    pub rows: Option<u64>,
    /// The account's users, when a dry run read them (see [`ImportSettings::known_users`]).
    pub known_users: Option<Arc<HashMap<u32, User>>>,
    /// Read the account once before the rows when that is cheaper than a read per row (update
    /// and upsert imports), once the journal is open: a resume that cannot be is refused first.
    pub read_account_first: bool,
}

impl RowRun<'_> {
    pub async fn exec(
        self,
        sheet: Sheet,
        validator: Validator,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<Exit, Error> {
        let run = self.run;
        let report_path = run.report_path(self.named);
        let mut known_users = self.known_users.clone();
        let mut stopped = None;
        let (dry_run, client, account_id, concurrency, rate, journal, replay) = match &self.sending
        {
            Sending::DryRun { app_id } => (true, None, app_id.clone(), 1, None, None, None),
            Sending::Live(account) => {
                let (journal, replay) = self.open_journal(&report_path, account)?;
                if self.read_account_first {
                    let rows = self.rows.unwrap_or(u64::MAX);
                    match account.users_if_cheaper(rows, ctx).await {
                        Ok(users) => known_users = users.map(Arc::new),
                        // Every row is still reported, as not sent.
                        Err(Error::Api(error)) => stopped = Some(error.to_string()),
                        Err(error) => return Err(error),
                    }
                }
                (
                    false,
                    Some(Arc::clone(&account.client)),
                    Some(account.app_id.clone()),
                    account.settings.concurrency,
                    account.settings.rate.fixed(),
                    Some(journal),
                    replay,
                )
            }
        };
        let resumed_rows = replay.as_ref().map_or(0, |r| r.rows);
        // Known before any row is read: every row run's sheet was read to its end first, and
        // opened again in the encoding found then (`SheetArgs::read_as`).
        let encoding = sheet.encoding().name();
        let control = Arc::new(RunControl::default());
        if let Some(reason) = stopped {
            control.abort(reason);
        }
        // First Ctrl-C or SIGTERM: stop dispatching and finish in order. Second: stop at once (the
        // report keeps every row written so far).
        let force_stop = Arc::new(tokio::sync::Notify::new());
        let interrupt = {
            let control = Arc::clone(&control);
            let force_stop = Arc::clone(&force_stop);
            tokio::spawn(async move {
                wait_for_shutdown_signal().await;
                control
                    .abort("interrupted by a signal: unsent rows are marked skipped".to_string());
                wait_for_shutdown_signal().await;
                force_stop.notify_one();
            })
        };
        let progress = ctx.progress(self.command, self.rows);
        let settings = ImportSettings {
            mode: self.mode,
            client,
            app_id: account_id.clone(),
            workers: concurrency,
            max_failures: run.max_failures,
            report: report_path.clone(),
            failed: run.failed_path(self.file, sheet.is_workbook()),
            journal,
            replay,
            plan: self.plan,
            known_users,
            phones: validator.phones(),
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
        let (reasons, reasons_total) = RunSummary::reasons_of(tally);
        let summary = RunSummary {
            command: self.command,
            input: self.named.to_path_buf(),
            encoding,
            mode: self.journal_mode,
            dry_run,
            resumed_rows,
            rows: tally.total(),
            counts: Counts::of(tally),
            actions: tally.actions.clone(),
            reasons,
            reasons_total,
            duration_seconds: result.duration.as_secs_f64(),
            traffic: result.traffic,
            configured_rate: rate,
            concurrency,
            aborted: result.aborted.clone(),
            unplaced_phones: result.unplaced_phones,
            report: report_path,
            failed_rows: result.failed_rows.clone(),
            exit_code: exit,
            account: account_id.as_deref().map(text::mask),
            latency: ctx.contact.latency(),
            failures_total: tally.count(Status::Failed) + tally.count(Status::Invalid),
            failures: tally.failures.clone(),
            finished_at: text::now(),
        };
        let (summary_path, page_path) = self.outputs.write(&summary)?;
        if run.json {
            ctx.json(&summary)?;
        }
        if ctx.json_logs() {
            summary.log_event();
        } else if !ctx.quiet() {
            summary
                .write_text(ctx.err(), summary_path.as_deref())
                .map_err(console_error)?;
            if let Some(path) = page_path {
                ctx.say(format_args!("  page: {}", path.display()))?;
            }
        }
        Ok(exit)
    }

    /// The journal of this run: a new one, or the earlier run's when resuming (same input, account
    /// and mode).
    fn open_journal(
        &self,
        report: &Path,
        account: &Account,
    ) -> Result<(Journal, Option<Replay>), Error> {
        let path = self.run.journal_path(report);
        let input_sha256 = journal::hash_file(self.file).map_err(|source| InputError::Io {
            path: self.file.to_path_buf(),
            source,
        })?;
        let header = JournalHeader::new(
            input_sha256,
            format!("telecmi:{}@{}", account.app_id, account.settings.base_url),
            self.journal_mode,
        );
        if self.run.resume {
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
}

impl RunArgs {
    /// `--report`, or the input's stem with `.results.csv` in the working directory
    /// (`stdin.results.csv` for `-`, `pipe.results.csv` for a pipe).
    fn report_path(&self, input: &Path) -> PathBuf {
        self.report
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.results.csv", input_stem(input))))
    }

    /// `--journal`, or the report's name with `.journal` added.
    fn journal_path(&self, report: &Path) -> PathBuf {
        self.journal.clone().unwrap_or_else(|| {
            let mut name = report.as_os_str().to_owned();
            name.push(".journal");
            PathBuf::from(name)
        })
    }

    /// `--failed OUT`, or for `--failed` alone the input's name with `.failed.csv`, or
    /// `.failed.xlsx` when the input is a workbook (so the admin fixes the rows where they were
    /// made; `.ods` and `.xls` inputs get `.xlsx` too, the one workbook roster writes).
    fn failed_path(&self, input: &Path, workbook: bool) -> Option<PathBuf> {
        let chosen = self.failed.as_ref()?;
        Some(chosen.clone().unwrap_or_else(|| {
            let extension = if workbook { "xlsx" } else { "csv" };
            PathBuf::from(format!("{}.failed.{extension}", input_stem(input)))
        }))
    }

    /// Every file a run of `input` writes, checked before its first request; the summary and
    /// the HTML page are reserved (and locked) from here to the end of the run.
    pub fn reserve_outputs(&self, input: &Path, workbook: bool) -> Result<RunOutputs, Error> {
        let report = self.report_path(input);
        let journal = self.journal_path(&report);
        report::check_can_create(&report)?;
        report::check_can_create(&journal)?;
        check_outputs([&self.failed_path(input, workbook)])?;
        let summary = self.summary.as_deref().map(ReservedOutput::reserve);
        Ok(RunOutputs {
            summary: summary.transpose()?,
            html: reserve_html(self.html_report.as_deref())?,
        })
    }
}

/// The documents a row run writes when it ends.
pub struct RunOutputs {
    pub summary: Option<ReservedOutput>,
    pub html: Option<ReservedOutput>,
}

impl RunOutputs {
    /// Write the summary and the page that were asked for; their paths, for the closing lines.
    fn write(self, summary: &RunSummary) -> Result<(Option<PathBuf>, Option<PathBuf>), Error> {
        let path = |file: &Option<ReservedOutput>| file.as_ref().map(|f| f.path().to_path_buf());
        let paths = (path(&self.summary), path(&self.html));
        if let Some(file) = self.summary {
            file.write(summary)?;
        }
        if let Some(file) = self.html {
            write_html_page(file, summary, "")?;
        }
        Ok(paths)
    }

    /// A plan's outputs, when it is not carried out: only its HTML page.
    pub fn page_only(run: &RunArgs) -> Result<RunOutputs, Error> {
        Ok(RunOutputs {
            summary: None,
            html: reserve_html(run.html_report.as_deref())?,
        })
    }
}

/// The name outputs are named after: the input's stem, or `stdin` for `-`.
fn input_stem(input: &Path) -> String {
    match input.file_stem() {
        _ if input == Path::new(STDIN) => "stdin".to_string(),
        // Every `<(...)` is /dev/fd/NN: a name that says nothing, the same each run.
        _ if super::is_pipe(input) => "pipe".to_string(),
        Some(stem) => stem.to_string_lossy().into_owned(),
        None => "roster".to_string(),
    }
}
