//! The import engine: a reader thread streams validated rows through bounded channels to request
//! workers, and one writer puts every row's outcome in the report, in row order.

pub mod journal;
pub mod pace;
pub mod retry;
pub mod row;
pub mod throttle;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csv::ByteRecord;
use tokio::sync::mpsc;

use crate::cli::FailureLimit;
use crate::error::Chain;
use crate::input::{Column, RowPosition, Sheet};
use crate::model::{Action, Mode, Outcome, Status, User};
use crate::phone::PhoneRule;
use crate::plan::sync::Planned;
use crate::progress::Progress;
use crate::provider::telecmi::Telecmi;
use crate::report::{FailedRowsWriter, ResultsWriter, Tally};
use crate::validate::{self, Problem, Validator};
use crate::Error;
use journal::{Journal, Replay};
use row::{RowContext, RowEnd, Tries};
use throttle::TrafficStats;

/// Rows read ahead of the workers; bounds memory whatever the file size.
const READ_AHEAD: usize = 1024;
const REPORT_FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rows in a row that exhaust their retries on an unreachable provider before the run gives up.
const UNREACHABLE_ROWS_TO_ABORT: u32 = 3;
/// Failed or invalid rows named in the log; the report has them all.
const ROWS_LOGGED: u64 = 50;
/// `--max-failures P%` judges only after this many rows, so one early failure does not stop a run.
const MIN_ROWS_FOR_PERCENT: u64 = 20;

/// Run-wide state every worker consults: abort, and the account's user limit.
#[derive(Default)]
pub struct RunControl {
    aborted: AtomicBool,
    abort_reason: Mutex<Option<String>>,
    user_limit: Mutex<Option<String>>,
    unreachable_in_a_row: std::sync::atomic::AtomicU32,
}

impl RunControl {
    /// Stop dispatching; the first reason given is kept.
    pub fn abort(&self, reason: String) {
        let mut current = self.abort_reason.lock().expect("control lock");
        if current.is_none() {
            tracing::error!("aborting the run: {reason}");
            *current = Some(reason);
        }
        self.aborted.store(true, Ordering::SeqCst);
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    pub fn abort_reason(&self) -> Option<String> {
        self.abort_reason.lock().expect("control lock").clone()
    }

    fn set_user_limit(&self, reason: String) {
        let mut limit = self.user_limit.lock().expect("control lock");
        if limit.is_none() {
            tracing::warn!("the account's user limit is reached: remaining adds are not sent");
            *limit = Some(reason);
        }
    }

    /// A row gave up on an unreachable provider: after a few in a row, so will the run.
    fn note_unreachable(&self, error: &crate::provider::ApiError) {
        let in_a_row = self.unreachable_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
        if in_a_row >= UNREACHABLE_ROWS_TO_ABORT {
            self.abort(format!("{error} ({in_a_row} rows in a row)"));
        }
    }

    fn note_reachable(&self) {
        self.unreachable_in_a_row.store(0, Ordering::SeqCst);
    }

    fn user_limit(&self) -> Option<String> {
        self.user_limit.lock().expect("control lock").clone()
    }
}

/// How an import runs.
pub struct ImportSettings {
    pub mode: Mode,
    /// `None`: a dry run, nothing is sent.
    pub client: Option<Arc<Telecmi>>,
    /// For `EXTENSION_APPID` in dry runs, when known.
    pub app_id: Option<String>,
    pub workers: usize,
    pub max_failures: Option<FailureLimit>,
    pub report: PathBuf,
    pub failed: Option<PathBuf>,
    /// Where final outcomes are recorded for `--resume` (none in a dry run).
    pub journal: Option<Journal>,
    /// Outcomes of the earlier runs being resumed.
    pub replay: Option<Replay>,
    /// A sync plan: what each extension needs (none for a plain import).
    pub plan: Option<Arc<HashMap<u32, Planned>>>,
    /// The account's users by extension, read with the list walk before the run: a dry run tells
    /// from them what would happen, and an update reads them instead of one `/v3/user/get` per row
    /// (they carry `notify`, which that call does not). `None`: not read.
    pub known_users: Option<Arc<HashMap<u32, User>>>,
    /// How phone numbers compare when a row reads its user back: the validator's rule.
    pub phones: PhoneRule,
}

/// What an import did.
pub struct ImportResult {
    pub tally: Tally,
    pub traffic: TrafficStats,
    pub duration: Duration,
    pub aborted: Option<String>,
    /// The failed-rows file written (a CSV beside the name asked for, past a worksheet's rows).
    pub failed_rows: Option<PathBuf>,
    /// Duplicates kept out of the failed-rows file because the row they repeat is not in it.
    pub duplicates_left_out: u64,
    /// Valid rows whose phone number went out without a known country.
    pub unplaced_phones: u64,
}

/// One row on its way from the reader to the writer.
struct Item {
    position: RowPosition,
    record: ByteRecord,
    extension_cell: String,
    verdict: Result<User, Vec<Problem>>,
    /// Finished by an earlier run (`--resume`): reported again, not sent again.
    replayed: Option<Outcome>,
}

struct Done {
    outcome: Outcome,
    reason: Option<String>,
    /// A final outcome this run reached, to be journaled (not a replay, not a row to try again).
    journal: bool,
    position: RowPosition,
    /// Kept only for rows that go to the failed-rows file.
    record: Option<ByteRecord>,
    /// The earlier row whose extension this row repeats.
    duplicate_of: Option<u64>,
}

/// Stream `sheet` through `validator` and the provider; every row ends in the report.
pub async fn import(
    mut sheet: Sheet,
    mut validator: Validator,
    mut settings: ImportSettings,
    control: Arc<RunControl>,
    progress: Progress,
) -> Result<ImportResult, Error> {
    let started = Instant::now();
    let mut results = ResultsWriter::create(&settings.report)?;
    let mut failed_rows = match &settings.failed {
        Some(path) => Some(FailedRowsWriter::create(
            path,
            sheet.header(),
            sheet.delimiter(),
            sheet.sheet_name(),
        )?),
        None => None,
    };
    // Data rows in the failed-rows file: a duplicate goes there only beside the row it repeats.
    let mut rows_in_failed_file = std::collections::HashSet::new();
    let mut duplicates_left_out = 0u64;

    let (item_tx, item_rx) = mpsc::channel::<Item>(READ_AHEAD);
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(READ_AHEAD);

    let extension_index = validator.columns().index(Column::Extension);
    let mut journal = settings.journal.take();
    let mut replay = settings.replay.take();
    let reader = tokio::task::spawn_blocking(move || -> Result<u64, Error> {
        let mut record = ByteRecord::new();
        while let Some(position) = sheet.next_record(&mut record)? {
            // Validate replayed rows too: duplicate detection must see the same rows every run.
            let verdict = validator.check_cells(position.row, &record, sheet.cell_problems());
            let replayed = replay.as_mut().and_then(|r| r.take(position.row));
            let extension_cell = extension_index
                .and_then(|i| record.get(i))
                .map(|cell| String::from_utf8_lossy(cell).trim().to_string())
                .unwrap_or_default();
            let item = Item {
                position,
                record: record.clone(),
                extension_cell,
                verdict,
                replayed,
            };
            if item_tx.blocking_send(item).is_err() {
                break;
            }
        }
        Ok(validator.unplaced_phones())
    });

    let item_rx = Arc::new(tokio::sync::Mutex::new(item_rx));
    let settings = Arc::new(settings);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..settings.workers.max(1) {
        let item_rx = Arc::clone(&item_rx);
        let done_tx = done_tx.clone();
        let settings = Arc::clone(&settings);
        let control = Arc::clone(&control);
        workers.spawn(async move {
            loop {
                let next = item_rx.lock().await.recv().await;
                let Some(item) = next else { break };
                let done = handle(item, &settings, &control).await;
                if done_tx.send(done).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(done_tx);

    let client = settings.client.clone();
    let rate_in_force = || {
        client
            .as_ref()
            .and_then(|c| c.http().throttle().rate_in_force())
    };
    let mut tally = Tally::default();
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next_row = 1u64;
    let mut bad_rows = 0u64;
    let mut last_flush = Instant::now();
    while let Some(done) = done_rx.recv().await {
        pending.insert(done.outcome.row, done);
        while let Some(done) = pending.remove(&next_row) {
            next_row += 1;
            if matches!(done.outcome.status, Status::Failed | Status::Invalid) {
                bad_rows += 1;
                if bad_rows <= ROWS_LOGGED {
                    tracing::warn!(
                        "{} {}: {}",
                        done.position,
                        done.outcome.status.as_str(),
                        done.outcome.message
                    );
                } else if bad_rows == ROWS_LOGGED + 1 {
                    tracing::warn!("more failed or invalid rows: see the report");
                }
                if let (Some(writer), Some(record)) = (failed_rows.as_mut(), &done.record) {
                    // Re-run alone, a duplicate of a row that is not in the file would overwrite
                    // the user that row made (or is to make) with the duplicate's values.
                    match done.duplicate_of {
                        Some(first) if !rows_in_failed_file.contains(&first) => {
                            duplicates_left_out += 1;
                            tracing::warn!(
                                "{} is left out of the failed-rows file: it repeats the extension of row {first}, which is not in the file, and re-running it would overwrite that user",
                                done.position
                            );
                        }
                        _ => {
                            writer.write(record, done.outcome.row, &done.outcome.message)?;
                            rows_in_failed_file.insert(done.outcome.row);
                        }
                    }
                }
            }
            results.write(&done.outcome, done.position.source_row)?;
            if let (Some(journal), true) = (journal.as_mut(), done.journal) {
                journal.record(&done.outcome)?;
            }
            tally.record(&done.outcome, done.reason.as_deref());
            if let Some(limit) = settings.max_failures {
                if !control.is_aborted() && over_limit(limit, bad_rows, tally.total()) {
                    control.abort(format!(
                        "--max-failures reached: {bad_rows} of {} rows failed or invalid",
                        tally.total()
                    ));
                }
            }
            progress.rate_in_force(rate_in_force);
            progress.update(tally.total(), || {
                format!(
                    "{} ok, {} failed, {} invalid, {} skipped",
                    tally.count(Status::Ok),
                    tally.count(Status::Failed),
                    tally.count(Status::Invalid),
                    tally.count(Status::Skipped)
                )
            });
        }
        // Group commit: once the rows finished so far are written, the journal goes to the
        // operating system, so a kill re-sends only rows in flight or waiting for an earlier row.
        if done_rx.is_empty() {
            if let Some(journal) = journal.as_mut() {
                journal.commit()?;
            }
        }
        // A killed run still leaves a report of what finished, at most a second behind.
        if last_flush.elapsed() >= REPORT_FLUSH_EVERY {
            results.flush()?;
            last_flush = Instant::now();
        }
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            control.abort(format!("a request worker stopped unexpectedly: {e}"));
        }
    }
    // Requests may have been sent already: a read error part-way is an abort (exit 3), reported
    // with the rows read so far, not a "nothing sent" input error.
    let unplaced_phones = match reader.await {
        Ok(Ok(unplaced)) => unplaced,
        Ok(Err(e)) => {
            control.abort(format!(
                "stopped reading the input after row {}: {}",
                next_row - 1,
                Chain(&e)
            ));
            0
        }
        Err(e) => {
            control.abort(format!("the input reader stopped unexpectedly: {e}"));
            0
        }
    };
    if !pending.is_empty() {
        control.abort(format!(
            "{} rows lost their outcome; see the log",
            pending.len()
        ));
        for done in pending.into_values() {
            results.write(&done.outcome, done.position.source_row)?;
            tally.record(&done.outcome, done.reason.as_deref());
        }
    }
    results.flush()?;
    let failed_rows = match failed_rows.as_mut() {
        Some(writer) => Some(writer.finish()?),
        None => None,
    };
    if let Some(journal) = journal.as_mut() {
        journal.sync()?;
    }
    progress.finish();
    Ok(ImportResult {
        tally,
        traffic: settings
            .client
            .as_ref()
            .map(|c| c.http().throttle().stats())
            .unwrap_or_default(),
        duration: started.elapsed(),
        aborted: control.abort_reason(),
        failed_rows,
        duplicates_left_out,
        unplaced_phones,
    })
}

fn over_limit(limit: FailureLimit, bad: u64, total: u64) -> bool {
    match limit {
        FailureLimit::Count(n) => bad >= n,
        FailureLimit::Percent(p) => {
            total >= MIN_ROWS_FOR_PERCENT && (bad as f64) * 100.0 >= p * total as f64
        }
    }
}

async fn handle(item: Item, settings: &ImportSettings, control: &RunControl) -> Done {
    let Item {
        position,
        record,
        extension_cell,
        verdict,
        replayed,
    } = item;
    let duplicate_of = verdict
        .as_ref()
        .err()
        .and_then(|problems| problems.iter().find_map(Problem::duplicate_of));
    if let Some(outcome) = replayed {
        let keep_record =
            matches!(outcome.status, Status::Failed | Status::Invalid) && settings.failed.is_some();
        let reason = matches!(outcome.status, Status::Failed | Status::Invalid)
            .then(|| outcome.message.clone());
        return Done {
            outcome,
            reason,
            journal: false,
            position,
            record: keep_record.then_some(record),
            duplicate_of,
        };
    }
    let agent_id_of = |user: &User| {
        user.agent_id.as_deref().map(str::to_string).or_else(|| {
            settings
                .app_id
                .as_deref()
                .map(|app| crate::model::telecmi_agent_id(user.extension, app))
        })
    };
    let (end, agent_id, tries) = match verdict {
        Err(problems) => {
            let end = RowEnd {
                action: Action::None,
                status: Status::Invalid,
                http_status: None,
                message: validate::describe(&problems),
                reason: Some(reason_of(&problems)),
                transient: false,
            };
            (end, String::new(), Tries::default())
        }
        Ok(user) => {
            let agent_id = match &settings.client {
                Some(client) => user
                    .agent_id
                    .as_deref()
                    .map_or_else(|| client.agent_id(user.extension), str::to_string),
                None => agent_id_of(&user).unwrap_or_default(),
            };
            let mut tries = Tries::default();
            let end = match &settings.client {
                _ if control.is_aborted() => RowEnd {
                    action: Action::None,
                    status: Status::Skipped,
                    http_status: None,
                    message: format!(
                        "not sent: the run was aborted ({})",
                        control.abort_reason().unwrap_or_default()
                    ),
                    reason: Some("not sent: the run was aborted".to_string()),
                    // Not final: a --resume sends it.
                    transient: true,
                },
                None => foresee(
                    settings.mode,
                    &user,
                    &agent_id,
                    settings.known_users.as_deref(),
                    &settings.phones,
                ),
                Some(client) => {
                    let context = RowContext {
                        client,
                        control,
                        mode: settings.mode,
                        plan: settings.plan.as_deref(),
                        known_users: settings.known_users.as_deref(),
                        phones: settings.phones,
                    };
                    context.apply(&user, &agent_id, &mut tries).await
                }
            };
            (end, agent_id, tries)
        }
    };
    let keep_record =
        matches!(end.status, Status::Failed | Status::Invalid) && settings.failed.is_some();
    Done {
        journal: !end.transient,
        outcome: Outcome {
            row: position.row,
            extension: extension_cell,
            agent_id,
            action: end.action,
            status: end.status,
            http_status: end.http_status,
            attempts: tries.writes(),
            requests: tries.requests(),
            message: end.message,
        },
        reason: end.reason,
        position,
        record: keep_record.then_some(record),
        duplicate_of,
    }
}

/// A dry run's word on a valid row. With the account read, what the real run would do to it (the
/// same decisions as [`row::RowContext`], from the users read instead of from answers); without,
/// only what its mode allows.
fn foresee(
    mode: Mode,
    user: &User,
    agent_id: &str,
    account: Option<&HashMap<u32, User>>,
    phones: &PhoneRule,
) -> RowEnd {
    let complete = user.missing_required().is_empty();
    let (action, outlook) = match account.map(|users| users.get(&user.extension)) {
        None => {
            let (action, what) = match mode {
                Mode::Add => (Action::Add, "add"),
                Mode::Upsert if complete => (Action::Add, "add, or update if the user exists"),
                Mode::Update | Mode::Upsert => (Action::Update, "update, if the user exists"),
            };
            let unread = "the account was not read: no credentials";
            (action, Outlook::Will(format!("{what} ({unread})")))
        }
        Some(None) if mode == Mode::Update || !complete => (
            Action::Update,
            Outlook::Fail(row::absent(agent_id, mode, user)),
        ),
        Some(None) => (Action::Add, Outlook::Will("add".to_string())),
        Some(Some(current)) => match mode {
            Mode::Add if user.agrees_with(current, phones) => (
                Action::None,
                Outlook::Will("skip: already in the account with these details".to_string()),
            ),
            Mode::Add => (
                Action::Add,
                Outlook::Fail(format!(
                    "user {agent_id} is in the account with other details"
                )),
            ),
            _ if !complete && user.matches(current, phones) => (
                Action::None,
                Outlook::Will("skip: already up to date".to_string()),
            ),
            _ => (Action::Update, Outlook::Will("update".to_string())),
        },
    };
    let (message, reason) = match outlook {
        Outlook::Will(what) => (format!("dry run: would {what}"), None),
        Outlook::Fail(why) => (
            format!("dry run: would fail: {why}"),
            Some(format!(
                "would fail: {}",
                why.replace(agent_id, "EXTENSION_APPID")
            )),
        ),
    };
    RowEnd {
        action,
        status: Status::Skipped,
        http_status: None,
        message,
        reason,
        transient: false,
    }
}

enum Outlook {
    Will(String),
    Fail(String),
}

/// The problems of a row without their values and row numbers, for grouping.
pub fn reason_of(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            let rule = if p.rule.starts_with("duplicate of row") {
                "duplicate of an earlier row"
            } else {
                p.rule.split(" (").next().unwrap_or(&p.rule)
            };
            match p.column {
                Some((_, name)) => format!("{name}: {rule}"),
                None => rule.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
