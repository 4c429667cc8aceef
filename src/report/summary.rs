//! The summary of a run that sends rows (import, `sync --apply`, `migrate --apply`): the JSON
//! document behind `--summary` and `--json`, and the text block the terminal shows.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::latency::Latency;
use super::{FailedRow, Reason, Tally};
use crate::execute::throttle::TrafficStats;
use crate::model::Status;
use crate::Exit;

/// How many reasons the JSON summary keeps, and how many the terminal shows.
const REASONS_KEPT: usize = 20;
const REASONS_SHOWN: usize = 5;

/// Rows per outcome.
#[derive(Debug, Serialize)]
pub struct Counts {
    pub ok: u64,
    pub failed: u64,
    pub invalid: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn of(tally: &Tally) -> Counts {
        Counts {
            ok: tally.count(Status::Ok),
            failed: tally.count(Status::Failed),
            invalid: tally.count(Status::Invalid),
            skipped: tally.count(Status::Skipped),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub command: &'static str,
    pub input: PathBuf,
    /// The text encoding the sheet was read in.
    pub encoding: &'static str,
    pub mode: &'static str,
    pub dry_run: bool,
    /// Rows finished by the earlier runs a `--resume` continued.
    pub resumed_rows: u64,
    pub rows: u64,
    pub counts: Counts,
    pub actions: BTreeMap<&'static str, u64>,
    /// The most frequent reasons (at most 20).
    pub reasons: Vec<Reason>,
    /// How many distinct reasons there were in all.
    pub reasons_total: usize,
    pub duration_seconds: f64,
    #[serde(flatten)]
    pub traffic: TrafficStats,
    pub configured_rate: Option<f64>,
    pub concurrency: usize,
    pub aborted: Option<String>,
    /// Valid rows whose phone number went out without a known country (no `--default-region`).
    pub unplaced_phones: u64,
    pub report: PathBuf,
    pub failed_rows: Option<PathBuf>,
    pub exit_code: Exit,
    /// The TeleCMI app id, masked (`11****2`); none for a dry run without credentials.
    pub account: Option<String>,
    /// How long the provider took to answer; none when no request was sent.
    pub latency: Option<Latency>,
    /// The first [`super::LIST_KEPT`] rows that failed or were invalid (all are in `report`).
    pub failures: Vec<FailedRow>,
    /// How many rows failed or were invalid in all.
    pub failures_total: u64,
    /// When the run ended, RFC 3339 in UTC.
    pub finished_at: String,
}

impl RunSummary {
    /// The reasons worth keeping of a run's tally, most frequent first, and how many there were.
    pub fn reasons_of(tally: &Tally) -> (Vec<Reason>, usize) {
        let reasons = tally.top_reasons();
        let total = reasons.len();
        (reasons.into_iter().take(REASONS_KEPT).collect(), total)
    }

    /// The closing block on the terminal; `summary_path` names the JSON file when one was written.
    pub fn write_text(&self, err: &mut dyn Write, summary_path: Option<&Path>) -> io::Result<()> {
        let c = &self.counts;
        let heading = if self.dry_run {
            "dry run"
        } else {
            self.command
        };
        writeln!(
            err,
            "\n{heading} of {}: {} rows in {:.1} s: {} ok, {} failed, {} invalid, {} skipped",
            self.input.display(),
            self.rows,
            self.duration_seconds,
            c.ok,
            c.failed,
            c.invalid,
            c.skipped
        )?;
        if !self.dry_run {
            self.write_traffic(err)?;
        }
        if self.resumed_rows > 0 {
            writeln!(
                err,
                "  resumed: {} rows were finished by earlier runs and not sent again",
                self.resumed_rows
            )?;
        }
        if let Some(reason) = &self.aborted {
            writeln!(err, "  ABORTED: {reason} (continue later with --resume)")?;
        }
        if let Some(warning) = crate::phone::unplaced_warning(self.unplaced_phones) {
            writeln!(err, "  warning: {warning}")?;
        }
        if !self.reasons.is_empty() {
            writeln!(err, "  top reasons:")?;
            for reason in self.reasons.iter().take(REASONS_SHOWN) {
                let rows: Vec<String> = reason.example_rows.iter().map(u64::to_string).collect();
                let label = if rows.len() == 1 { "row" } else { "rows" };
                writeln!(
                    err,
                    "    {:>5} {}: {} ({label} {})",
                    reason.count,
                    reason.outcome,
                    reason.message,
                    rows.join(", ")
                )?;
            }
            let more = self.reasons_total.saturating_sub(REASONS_SHOWN);
            if more > 0 {
                let noun = if more == 1 { "reason" } else { "reasons" };
                writeln!(
                    err,
                    "    … and {more} more {noun} (every row's reason is in {})",
                    self.report.display()
                )?;
            }
        }
        writeln!(err, "  report: {}", self.report.display())?;
        if let Some(failed) = &self.failed_rows {
            writeln!(err, "  failed rows: {}", failed.display())?;
        }
        if let Some(path) = summary_path {
            writeln!(err, "  summary: {}", path.display())?;
        }
        Ok(())
    }

    /// The closing summary as one log event with the counts, for `--log-format json`.
    pub fn log_event(&self) {
        let c = &self.counts;
        let t = &self.traffic;
        tracing::info!(
            event = "summary",
            command = self.command,
            dry_run = self.dry_run,
            rows = self.rows,
            ok = c.ok,
            failed = c.failed,
            invalid = c.invalid,
            skipped = c.skipped,
            resumed_rows = self.resumed_rows,
            requests = t.requests,
            retries = t.retries,
            throttled = t.throttled,
            achieved_rate = t.achieved_rate,
            rate_mode = t.rate_mode,
            highest_rate = t.highest_rate,
            series = %serde_json::to_string(&t.series).unwrap_or_default(),
            duration_seconds = self.duration_seconds,
            report = %self.report.display(),
            aborted = self.aborted.as_deref(),
            exit_code = self.exit_code.code(),
            "{} of {} finished: {} rows, {} ok, {} failed, {} invalid, {} skipped",
            self.command,
            self.input.display(),
            self.rows,
            c.ok,
            c.failed,
            c.invalid,
            c.skipped
        );
    }

    fn write_traffic(&self, err: &mut dyn Write) -> io::Result<()> {
        let traffic = &self.traffic;
        let limit = match (self.configured_rate, traffic.rate_mode) {
            (Some(rate), _) => format!("limit {rate} req/s"),
            (None, "auto") => format!(
                "rate auto, probed up to {:.1} req/s",
                traffic.highest_rate.unwrap_or_default()
            ),
            (None, _) => "unlimited".to_string(),
        };
        writeln!(
            err,
            "  requests: {} ({} retried, {} throttled), {:.1} req/s achieved ({limit}, concurrency {})",
            traffic.requests, traffic.retries, traffic.throttled, traffic.achieved_rate, self.concurrency
        )?;
        if let (Some(lowest), Some(configured)) = (traffic.lowest_rate, self.configured_rate) {
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
        Ok(())
    }
}
