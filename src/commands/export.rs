//! `roster export`: walk every page or cursor of a roster and write it whole, atomically.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diff::write_change_file;
use super::{
    check_outputs, open_destination, reserve_html, wait_for_shutdown_signal, write_html_page, Ctx,
};
use crate::cli::{ExportArgs, ExportFormat, Provider};
use crate::config::{self, process_env, ConfigError, Profile, TelecmiCredentials};
use crate::error::Chain;
use crate::execute::throttle::TrafficStats;
use crate::export::{self, Destination, ExportError, RosterWriter, WalkStats};
use crate::model::{AccountUser, DirectoryUser};
use crate::phone::PhoneRule;
use crate::plan::diff::{self, ChangedUser, Member, Roster};
use crate::progress::Progress;
use crate::provider::smartflo::{self, Smartflo};
use crate::provider::telecmi::{self, Telecmi};
use crate::provider::Http;
use crate::report::latency::Latency;
use crate::report::{ReservedOutput, LIST_KEPT};
use crate::text;
use crate::{Error, Exit};

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
    /// The TeleCMI app id, masked (`11****2`); none for Smartflo.
    account: Option<String>,
    /// How long the provider took to answer.
    latency: Option<Latency>,
    /// When the export ended, RFC 3339 in UTC.
    finished_at: String,
}

#[derive(Serialize)]
struct ChangeSummary<'a> {
    headline: String,
    counts: &'a diff::Counts,
    /// The export compared with (`--diff-against`).
    since: &'a Path,
    /// The change report with every change (`--diff-output`), when one was written.
    listed_in: Option<&'a Path>,
    /// The first [`LIST_KEPT`] users who joined, who left, and who changed.
    joined: Vec<Member>,
    left: Vec<Member>,
    changed: &'a [ChangedUser],
}

impl<'a> ChangeSummary<'a> {
    fn of(changes: &'a diff::Diff, args: &'a ExportArgs, since: &'a Path) -> ChangeSummary<'a> {
        let (joined, left) = changes.members(LIST_KEPT);
        ChangeSummary {
            headline: changes.headline(),
            counts: &changes.counts,
            since,
            listed_in: args.diff_output.as_deref(),
            joined,
            left,
            changed: &changes.changed[..changes.changed.len().min(LIST_KEPT)],
        }
    }
}

/// A finished walk, its roster still in the temporary file.
struct Walked {
    stats: WalkStats,
    digest: String,
    traffic: TrafficStats,
    destination: Destination,
    /// The TeleCMI app id, masked.
    account: Option<String>,
}

impl Walked {
    fn new(stats: WalkStats, digest: String, http: &Http, destination: Destination) -> Walked {
        Walked {
            stats,
            digest,
            traffic: http.throttle().stats(),
            destination,
            account: None,
        }
    }
}

pub async fn exec(args: &ExportArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    if args.json && args.output == "-" {
        return Err(Error::Usage("--json prints the summary on stdout, which --output - already uses for the roster: pass --summary FILE instead".to_string()));
    }
    if args.diff_against.is_some() && args.format == ExportFormat::Xlsx {
        return Err(Error::Usage(
            "--diff-against compares CSV or JSONL exports: pass --format csv or jsonl".to_string(),
        ));
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
    check_outputs([&args.diff_output])?;
    let summary_file = args
        .summary
        .as_deref()
        .map(ReservedOutput::reserve)
        .transpose()?;
    let page_file = reserve_html(args.html_report.as_deref())?;
    let profile = ctx.profile()?;
    let provider = chosen_provider(args, &profile)?;
    let progress = ctx.progress("export", None);
    // Interrupted, the walk and its temporary file are dropped: the previous export stays in place.
    let walked = tokio::select! {
        walked = walk(args, provider, &profile, &progress, ctx) => walked?,
        () = wait_for_shutdown_signal() => {
            return Err(Error::Interrupted("export stopped by a signal; the previous file is untouched".to_string()))
        }
    };
    progress.finish();
    walked
        .destination
        .commit(ctx.out())
        .map_err(|source| Error::Io {
            context: format!("cannot put the export in place at {}", args.output),
            source,
        })?;
    let changes = previous.as_ref().and_then(|previous| {
        changes_since(previous, args, &PhoneRule::new(profile.default_region))
    });
    let since = args.diff_against.as_deref().unwrap_or(Path::new(""));
    let summary = ExportSummary {
        changes: changes.as_ref().map(|c| ChangeSummary::of(c, args, since)),
        command: "export",
        provider: match provider {
            Provider::Telecmi => "telecmi",
            Provider::Smartflo => "smartflo",
        },
        format: match args.format {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Xlsx => "xlsx",
        },
        output: export::output_label(&args.output),
        include_passwords: args.include_passwords && provider == Provider::Telecmi,
        duration_seconds: walked.stats.duration.as_secs_f64(),
        stats: walked.stats,
        digest: walked.digest,
        requests: walked.traffic.requests,
        retries: walked.traffic.retries,
        throttled: walked.traffic.throttled,
        exit_code: Exit::Success,
        account: walked.account,
        latency: ctx.contact.latency(),
        finished_at: text::now(),
    };
    if let Some(file) = summary_file {
        file.write(&summary)?;
    }
    let page_path = page_file.as_ref().map(|file| file.path().to_path_buf());
    if let Some(file) = page_file {
        write_html_page(file, &summary, "")?;
    }
    if args.json {
        ctx.json(&summary)?;
    }
    ctx.say(format_args!(
        "exported {} {} users ({}, {}, {} retried) to {} in {:.1} s; digest {}",
        summary.stats.users,
        summary.provider,
        text::count(summary.stats.pages, "page", "pages"),
        text::count(summary.requests, "request", "requests"),
        summary.retries,
        summary.output.display(),
        summary.duration_seconds,
        &summary.digest[..16]
    ))?;
    if let Some(path) = page_path {
        ctx.say(format_args!("page: {}", path.display()))?;
    }
    if let Some(changes) = &summary.changes {
        ctx.say(format_args!(
            "since {}: {}",
            since.display(),
            changes.headline
        ))?;
    }
    Ok(Exit::Success)
}

/// `--provider`, else the profile's.
fn chosen_provider(args: &ExportArgs, profile: &Profile) -> Result<Provider, Error> {
    match (args.provider, profile.provider.as_deref()) {
        (Some(provider), _) => Ok(provider),
        (None, Some(name)) => <Provider as clap::ValueEnum>::from_str(name, true).map_err(|_| {
            Error::Config(ConfigError::Invalid {
                what: "the profile's provider".to_string(),
                problem: format!("{name:?} is neither telecmi nor smartflo"),
            })
        }),
        (None, None) => Err(Error::Usage(
            "name the roster to export: --provider telecmi|smartflo".to_string(),
        )),
    }
}

async fn walk(
    args: &ExportArgs,
    provider: Provider,
    profile: &Profile,
    progress: &Progress,
    ctx: &Ctx<'_, '_>,
) -> Result<Walked, Error> {
    let write_error = |source| {
        Error::Export(ExportError::Write {
            path: "the export output".to_string(),
            source,
        })
    };
    match provider {
        Provider::Telecmi => {
            let credentials = TelecmiCredentials::resolve(profile, &process_env)?;
            let settings = args
                .connection
                .resolve(profile, telecmi::DEFAULT_BASE_URL)?;
            let client = Telecmi::new(
                ctx.connect(&settings)?,
                credentials.app_id,
                credentials.secret,
            );
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
            .map_err(write_error)?;
            let stats = export::walk_telecmi(
                &client,
                &mut writer,
                args.page_size,
                settings.concurrency,
                progress,
            )
            .await?;
            let digest = writer.finish().map_err(write_error)?;
            Ok(Walked {
                account: Some(text::mask(&credentials.app_id.to_string())),
                ..Walked::new(stats, digest, client.http(), destination)
            })
        }
        Provider::Smartflo => {
            let token = config::smartflo_token(profile, &process_env)?;
            let settings = args
                .connection
                .resolve(profile, smartflo::DEFAULT_BASE_URL)?;
            if args.include_passwords {
                tracing::warn!("Smartflo lists no passwords: --include-passwords changes nothing");
            }
            let client = Smartflo::new(ctx.connect(&settings)?, token);
            let mut destination = open_destination(&args.output, false)?;
            let mut writer =
                RosterWriter::new::<DirectoryUser>(&mut destination, args.format, false)
                    .map_err(write_error)?;
            let stats =
                export::walk_smartflo(&client, &mut writer, args.page_size, &args.filter, progress)
                    .await?;
            let digest = writer.finish().map_err(write_error)?;
            Ok(Walked::new(stats, digest, client.http(), destination))
        }
    }
}

/// The export is in place by now: a change report that cannot be made is a warning, not a failure.
/// Phone numbers compare under the profile's default region.
fn changes_since(previous: &Roster, args: &ExportArgs, phones: &PhoneRule) -> Option<diff::Diff> {
    let compared = diff::read_roster(Path::new(&args.output))
        .and_then(|current| diff::diff(previous, &current, phones))
        .map_err(Error::from)
        .and_then(|changes| {
            if let Some(path) = &args.diff_output {
                write_change_file(&changes, path)?;
            }
            Ok(changes)
        });
    compared
        .map_err(|e| {
            tracing::warn!(
                "the export is complete, but no change report: {}",
                Chain(&e)
            )
        })
        .ok()
}
