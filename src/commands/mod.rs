//! The subcommands, one file each: resolve settings → open inputs → run the stage → write outputs →
//! map to [`Exit`]. The logic lives in the stage modules; what several commands share is here
//! ([`Ctx`], opening a sheet, waiting for a signal) or in [`account`], [`rows`] and [`plan`].

mod account;
mod completions;
mod diff;
mod export;
mod import;
mod migrate;
mod plan;
mod report;
mod rows;
mod sandbox;
mod sync;
mod validate;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::cli::{Cli, Command, GlobalArgs, LogFormat, ProfileArgs, SheetArgs};
use crate::config::{self, ConnectionSettings, Profile};
use crate::execute::throttle::Throttle;
use crate::exit::{Contact, Failure};
use crate::export::Destination;
use crate::input::header::shown;
use crate::input::{InputError, Limits, Sheet, TextEncoding};
use crate::model::Mode;
use crate::progress::Progress;
use crate::provider::{Http, Trust};
use crate::report::{ReportError, ReservedOutput};
use crate::validate::{Rules, Validator};
use crate::{Console, Error, Exit};

/// Run one command line. Data goes to `console.out`, summaries to `console.err`, logs to tracing.
/// An error comes back with its exit code, decided by whether the run had tried a request yet.
pub async fn run(cli: Cli, console: &mut Console<'_>) -> Result<Exit, Failure> {
    let contact = Contact::default();
    let mut ctx = Ctx {
        global: &cli.global,
        chosen_profile: cli
            .command
            .profile_args()
            .map(|args| args.under(&cli.global))
            .unwrap_or_default(),
        console,
        contact: contact.clone(),
    };
    let result = match &cli.command {
        Command::Validate(args) => validate::exec(args, &mut ctx),
        Command::Import(args) => import::exec(args, &mut ctx).await,
        Command::Sync(args) => sync::exec(args, &mut ctx).await,
        Command::Diff(args) => diff::exec(args, &mut ctx),
        Command::Migrate(args) => migrate::exec(args, &mut ctx).await,
        Command::Export(args) => export::exec(args, &mut ctx).await,
        Command::Sandbox(args) => sandbox::exec(args, &mut ctx).await,
        Command::Report(args) => report::exec(args, &mut ctx),
        Command::Completions { shell } => completions::exec(*shell, &mut ctx),
    };
    result.map_err(|error| Failure::new(error, contact.phase()))
}

/// What every command has at hand: the global flags, the console, and the run's contact with
/// the provider.
pub(crate) struct Ctx<'r, 'c> {
    global: &'r GlobalArgs,
    chosen_profile: ProfileArgs,
    console: &'r mut Console<'c>,
    contact: Contact,
}

impl Ctx<'_, '_> {
    /// The HTTP core for `settings`: one reused client, the run's throttle and retry policy, and
    /// every try marked on the run's [`Contact`].
    fn connect(&self, settings: &ConnectionSettings) -> Result<Http, Error> {
        let throttle = Arc::new(Throttle::new(
            settings.rate,
            settings.rate_max,
            settings.burst,
            settings.concurrency,
        ));
        let trust = Trust::load(settings.ca_cert.as_deref())?;
        let http = Http::new(
            &settings.base_url,
            throttle,
            settings.retry,
            settings.timeouts,
            &trust,
        )?;
        Ok(http.reporting_to(&self.contact))
    }

    /// The profile chosen by `--config` and `--profile`.
    fn profile(&self) -> Result<Profile, Error> {
        self.profile_named(None)
    }

    /// The profile `name`, or the one `--profile` chose.
    fn profile_named(&self, name: Option<&str>) -> Result<Profile, Error> {
        let chosen = &self.chosen_profile;
        let name = name.or(chosen.profile.as_deref());
        Ok(config::load_profile(chosen.config.as_deref(), name)?)
    }

    fn quiet(&self) -> bool {
        self.global.quiet
    }

    /// `--log-format json`: stderr carries one JSON object per line, summaries included.
    fn json_logs(&self) -> bool {
        self.global.log_format == LogFormat::Json
    }

    /// Progress of a stage, drawn unless `--quiet`.
    fn progress(&self, what: &'static str, total: Option<u64>) -> Progress {
        Progress::new(what, total, !self.quiet())
    }

    /// A line for the person at the terminal, left out under `--quiet`.
    fn say(&mut self, line: fmt::Arguments<'_>) -> Result<(), Error> {
        if self.quiet() {
            return Ok(());
        }
        self.tell(line)
    }

    /// A line on stderr that is the command's own answer, shown even under `--quiet`. Under
    /// `--log-format json` it is a log event like every other line on stderr.
    fn tell(&mut self, line: fmt::Arguments<'_>) -> Result<(), Error> {
        if self.json_logs() {
            tracing::info!("{line}");
            return Ok(());
        }
        writeln!(self.console.err, "{line}").map_err(console_error)
    }

    /// `value` as pretty JSON on stdout.
    fn json<T: Serialize>(&mut self, value: &T) -> Result<(), Error> {
        // Buffered: a long report (a diff of many users) is otherwise a write per line.
        let mut out = std::io::BufWriter::new(&mut *self.console.out);
        serde_json::to_writer_pretty(&mut out, value).map_err(|e| console_error(e.into()))?;
        writeln!(out)
            .and_then(|()| out.flush())
            .map_err(console_error)
    }

    fn out(&mut self) -> &mut (dyn Write + Send) {
        self.console.out
    }

    fn err(&mut self) -> &mut (dyn Write + Send) {
        self.console.err
    }
}

fn console_error(source: std::io::Error) -> Error {
    Error::Io {
        context: "cannot write to the terminal".to_string(),
        source,
    }
}

impl SheetArgs {
    /// Open the sheet and the validator for `mode` (phone numbers read by `--default-region`, else
    /// the profile's), warning about columns it ignores. A guess of the encoding is the sheet's
    /// to say, once its reading comes to the byte that decides it.
    fn open(&self, mode: Mode, profile: &Profile) -> Result<(Sheet, Validator), Error> {
        let sheet = self.sheet()?;
        let unknown = &sheet.columns().unknown;
        if !unknown.is_empty() {
            const NAMED: usize = 12;
            let more = match unknown.len().saturating_sub(NAMED) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let named: Vec<String> = unknown.iter().take(NAMED).map(|n| shown(n)).collect();
            tracing::warn!("ignoring unknown columns: {}{more}", named.join(", "));
        }
        let rules = Rules {
            mode,
            extension_digits: self.extension_digits,
            min_password_len: self.min_password_length,
            phones: self.phones.resolve(profile),
        };
        let validator = Validator::new(rules, sheet.columns().clone()).map_err(|problem| {
            InputError::Header {
                path: self.shown().to_path_buf(),
                problem,
            }
        })?;
        Ok((sheet, validator))
    }
}

/// The file name that means standard input.
const STDIN: &str = "-";

/// A named pipe or a socket (a shell's `<(...)` is one): its bytes can be read only once, as
/// they come. A device is not one: `/dev/zero` would never end, and is refused as binary.
fn is_pipe(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(path).is_ok_and(|kind| {
            let kind = kind.file_type();
            kind.is_fifo() || kind.is_socket()
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

impl SheetArgs {
    /// These arguments reading a whole file: standard input (`-`) or a pipe (a shell's `<(...)`)
    /// is first spooled to a private temporary file, so the encoding decision, the read-through
    /// before sending and the resume hash all see the whole sheet, and it can be read more than
    /// once; messages still name what was given. The temporary file lives as long as the
    /// returned guard.
    fn spooled(&self) -> Result<(SheetArgs, Option<tempfile::TempPath>), Error> {
        let stdin = self.file == Path::new(STDIN);
        let shown_as = if stdin {
            PathBuf::from("standard input")
        } else if is_pipe(&self.file) {
            self.file.clone()
        } else {
            return Ok((self.clone(), None));
        };
        let error = |source| InputError::Io {
            path: shown_as.clone(),
            source,
        };
        let mut source: Box<dyn std::io::Read> = if stdin {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(&self.file).map_err(error)?)
        };
        // tempfile creates the file readable by its owner only: a sheet may hold passwords.
        let mut spool = tempfile::NamedTempFile::new().map_err(error)?;
        std::io::copy(&mut source, &mut spool).map_err(error)?;
        let path = spool.into_temp_path();
        let args = SheetArgs {
            file: path.to_path_buf(),
            shown_as: Some(shown_as),
            ..self.clone()
        };
        Ok((args, Some(path)))
    }

    /// The sheet as messages name it.
    fn shown(&self) -> &Path {
        self.shown_as.as_deref().unwrap_or(&self.file)
    }

    fn sheet(&self) -> Result<Sheet, InputError> {
        let limits = Limits {
            record_bytes: self.max_record_bytes,
            field_bytes: self.max_field_bytes,
            workbook_bytes: self.max_workbook_bytes,
            ..Limits::default()
        };
        let choice = self.sheet.clone().unwrap_or_default();
        Sheet::open_within(&self.file, self.delimiter, self.encoding, &choice, limits)
            .map(|sheet| sheet.named(self.shown()))
            .map_err(|error| error.named(self.shown()))
    }

    /// Read every record once, before the first request: a sheet that cannot be read to its end
    /// stops the run with nothing sent. Invalid rows are not its concern; they go to the report.
    /// The encoding found is kept for the next opening (see [`SheetArgs::read_as`]).
    fn read_through(&mut self) -> Result<u64, Error> {
        let mut sheet = self.sheet()?;
        let mut record = csv::ByteRecord::new();
        let mut rows = 0;
        while sheet.next_record(&mut record)?.is_some() {
            rows += 1;
        }
        self.read_as(sheet.encoding());
        Ok(rows)
    }

    /// Open the sheet again in the encoding a reading to its end `found`, instead of voting
    /// again (and saying a guess twice).
    fn read_as(&mut self, found: TextEncoding) {
        self.encoding = found;
    }
}

/// Each optional output of a command, checked before its first request.
fn check_outputs<'p>(paths: impl IntoIterator<Item = &'p Option<PathBuf>>) -> Result<(), Error> {
    for path in paths.into_iter().flatten() {
        crate::report::check_can_create(path)?;
    }
    Ok(())
}

/// `--html-report FILE`, reserved (directory tried, lock held) before the first request.
fn reserve_html(path: Option<&Path>) -> Result<Option<ReservedOutput>, Error> {
    Ok(path.map(ReservedOutput::reserve).transpose()?)
}

/// Write the HTML page of `document`, a summary or plan this run wrote, to the reserved `file`.
/// `plan_rest` says where all of a plan's users are. The page is made from the document as
/// JSON, exactly as `roster report` makes it later.
fn write_html_page<T: Serialize>(
    file: ReservedOutput,
    document: &T,
    plan_rest: &str,
) -> Result<(), Error> {
    let value = serde_json::to_value(document).map_err(|e| {
        Error::Report(ReportError {
            path: file.path().to_path_buf(),
            source: e.into(),
        })
    })?;
    let page = crate::report::html::pages::page_of(&value, plan_rest)?;
    let secrets = known_secrets();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    Ok(file.write_html(&page.render(&secrets))?)
}

/// The secrets in the environment, kept off every page whatever a document holds (a summary
/// is secret-free when roster writes it; one edited by hand, or rendered later, may not be).
fn known_secrets() -> Vec<String> {
    ["TELECMI_SECRET", "SMARTFLO_TOKEN"]
        .into_iter()
        .filter_map(config::process_env)
        .collect()
}

/// The export's output, `-` for stdout, opened before anything is fetched.
fn open_destination(output: &str, private: bool) -> Result<Destination, Error> {
    Destination::open(output, private).map_err(|source| {
        Error::Report(ReportError {
            path: PathBuf::from(output),
            source,
        })
    })
}

/// Ctrl-C or SIGTERM.
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
