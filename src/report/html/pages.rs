//! Pages made from the JSON documents roster writes: a run's summary (import, `sync --apply`,
//! `migrate --apply`), an export's summary, and a sync or migration plan.
//!
//! The documents are read back here as JSON, by the fields a page needs, rather than through
//! the types that write them: those borrow static names and the throttle's statistics, and a
//! page must also render a document an older roster wrote (fields added since are optional).
//! A run renders its page the same way, from its own document, so a page made later with
//! `roster report` is the page the run made.
//!
//! The kind of document is told by its shape: `"command": "export"`, counts with `ok` (a run),
//! counts with `unmappable` (a migration plan) or with `create` (a sync plan).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{thousands, Bar, Block, Figure, Page, SecondSample, Section, Table, Tone};
use crate::report::latency::Latency;
use crate::report::LIST_KEPT;
use crate::text;

/// The longest a provider message or a cell is shown.
const CELL_CHARS: usize = 300;

/// A JSON document that is no summary or plan roster wrote, or one that lacks what its kind needs.
#[derive(Debug, thiserror::Error)]
#[error("not a roster summary or plan: {0}")]
pub struct NotADocument(pub String);

/// The page of `document`. `plan_rest` says where all of a plan's users are (the plan file, or
/// the flag that writes one); summaries name their own files.
pub fn page_of(document: &Value, plan_rest: &str) -> Result<Page, NotADocument> {
    let counts = document.get("counts");
    let has = |key: &str| counts.and_then(|c| c.get(key)).is_some();
    if document.get("command").and_then(Value::as_str) == Some("export") {
        Ok(export_page(read(document)?))
    } else if has("ok") {
        Ok(run_page(read(document)?))
    } else if has("unmappable") {
        Ok(migrate_plan_page(read(document)?, plan_rest))
    } else if has("create") {
        Ok(sync_plan_page(read(document)?, plan_rest))
    } else {
        Err(NotADocument(
            "expected an import, sync, migrate or export summary (--summary, --json) or a plan (--plan-out)"
                .to_string(),
        ))
    }
}

fn read<T: DeserializeOwned>(document: &Value) -> Result<T, NotADocument> {
    T::deserialize(document).map_err(|e| NotADocument(e.to_string()))
}

// ---- a run: import, sync --apply, migrate --apply ----

#[derive(Deserialize)]
struct RunDoc {
    command: String,
    input: String,
    #[serde(default)]
    encoding: String,
    mode: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    resumed_rows: u64,
    rows: u64,
    counts: OutcomeCounts,
    #[serde(default)]
    actions: BTreeMap<String, u64>,
    #[serde(default)]
    reasons: Vec<ReasonDoc>,
    #[serde(default)]
    reasons_total: u64,
    duration_seconds: f64,
    #[serde(flatten)]
    traffic: TrafficDoc,
    configured_rate: Option<f64>,
    #[serde(default)]
    concurrency: u64,
    aborted: Option<String>,
    report: String,
    failed_rows: Option<String>,
    exit_code: u8,
    account: Option<String>,
    latency: Option<Latency>,
    #[serde(default)]
    failures: Vec<FailureDoc>,
    failures_total: Option<u64>,
    finished_at: Option<String>,
    /// The per-second traffic, in summaries that record it; read leniently, since a summary
    /// without it (or with another shape) still makes a page.
    series: Option<Value>,
}

#[derive(Deserialize)]
struct OutcomeCounts {
    ok: u64,
    failed: u64,
    invalid: u64,
    skipped: u64,
}

#[derive(Deserialize, Default)]
struct TrafficDoc {
    #[serde(default)]
    requests: u64,
    #[serde(default)]
    retries: u64,
    #[serde(default)]
    throttled: u64,
    #[serde(default)]
    retries_refused: u64,
    #[serde(default)]
    achieved_rate: f64,
    effective_rate: Option<f64>,
    lowest_rate: Option<f64>,
}

#[derive(Deserialize)]
struct ReasonDoc {
    message: String,
    outcome: String,
    count: u64,
    #[serde(default)]
    example_rows: Vec<u64>,
}

#[derive(Deserialize)]
struct FailureDoc {
    row: u64,
    #[serde(default)]
    extension: String,
    #[serde(default)]
    agent_id: String,
    outcome: String,
    http_status: Option<u16>,
    #[serde(default)]
    message: String,
}

fn run_page(doc: RunDoc) -> Page {
    let c = &doc.counts;
    let (verdict, tone) = match (doc.exit_code, &doc.aborted) {
        (_, Some(reason)) => (
            format!("Aborted: {reason}. Unsent rows are marked skipped; run again with --resume to finish."),
            Tone::Bad,
        ),
        (0, None) => (
            format!(
                "Every row done: {} ok, {} skipped, in {}.",
                thousands(c.ok),
                thousands(c.skipped),
                duration(doc.duration_seconds)
            ),
            Tone::Good,
        ),
        _ => (
            format!(
                "{} rows to fix: {} failed, {} invalid (of {}).",
                thousands(c.failed + c.invalid),
                thousands(c.failed),
                thousands(c.invalid),
                thousands(doc.rows)
            ),
            Tone::Bad,
        ),
    };
    let what = match doc.command.as_str() {
        "migrate" => "Migration",
        "sync" => "Sync",
        _ => "Import",
    };
    let title = match doc.dry_run {
        true => format!("Dry run: {what} of {}", doc.input),
        false => format!("{what} of {}", doc.input),
    };
    let mut sections = vec![rows_section(&doc)];
    if !doc.dry_run {
        sections.push(requests_section(&doc));
        sections.push(latency_section(doc.latency.as_ref()));
    }
    if !doc.reasons.is_empty() {
        sections.push(reasons_section(&doc));
    }
    let failures_total = doc.failures_total.unwrap_or(doc.failures.len() as u64);
    if failures_total > 0 {
        sections.push(failures_section(&doc, failures_total));
    }
    sections.push(run_settings(&doc));
    Page {
        title,
        verdict,
        tone,
        sections,
    }
}

fn rows_section(doc: &RunDoc) -> Section {
    let c = &doc.counts;
    let outcomes = vec![
        figure("ok", c.ok, Tone::Good),
        figure("failed", c.failed, Tone::Bad),
        figure("invalid", c.invalid, Tone::Warn),
        figure("skipped", c.skipped, Tone::Muted),
    ];
    let mut figures = vec![figure("rows", doc.rows, Tone::Info)];
    figures.extend(outcomes.iter().cloned());
    let mut blocks = vec![Block::Figures(figures), Block::Stacked(outcomes)];
    let actions: Vec<String> = doc
        .actions
        .iter()
        .map(|(action, n)| format!("{action} {}", thousands(*n)))
        .collect();
    if !actions.is_empty() {
        blocks.push(Block::Note(format!("Actions: {}.", actions.join(", "))));
    }
    if doc.resumed_rows > 0 {
        blocks.push(Block::Note(format!(
            "Resumed: {} rows were finished by earlier runs and not sent again.",
            thousands(doc.resumed_rows)
        )));
    }
    section("Rows", blocks)
}

fn requests_section(doc: &RunDoc) -> Section {
    let t = &doc.traffic;
    let mut blocks = vec![Block::Figures(vec![
        figure("requests", t.requests, Tone::Info),
        figure("retries", t.retries, Tone::Muted),
        figure("throttled (429)", t.throttled, Tone::Warn),
        figure(
            "retries refused (budget spent)",
            t.retries_refused,
            Tone::Bad,
        ),
    ])];
    let series = doc
        .series
        .clone()
        .and_then(|v| serde_json::from_value::<Vec<SecondSample>>(v).ok())
        .filter(|s| !s.is_empty());
    match series {
        Some(samples) => blocks.push(Block::Series(samples)),
        None => {
            let rate = |label: &str, value: f64, tone| Bar {
                label: label.to_string(),
                value,
                shown: format!("{value:.1} req/s"),
                tone,
            };
            let mut bars = vec![rate("achieved", t.achieved_rate, Tone::Info)];
            if let Some(limit) = doc.configured_rate {
                bars.push(rate("limit asked for", limit, Tone::Muted));
            }
            if let Some(end) = t.effective_rate {
                bars.push(rate("limit at the end", end, Tone::Muted));
            }
            if let Some(lowest) = t.lowest_rate.filter(|l| Some(*l) != t.effective_rate) {
                bars.push(rate("lowest limit", lowest, Tone::Warn));
            }
            blocks.push(Block::Bars(bars));
            blocks.push(Block::Note(
                "This summary records no per-second series, so the rates are shown for the whole run."
                    .to_string(),
            ));
        }
    }
    section("Requests", blocks)
}

fn latency_section(latency: Option<&Latency>) -> Section {
    let blocks = match latency {
        Some(l) => {
            let ms = |label: &str, value: f64, tone| Bar {
                label: label.to_string(),
                value,
                shown: milliseconds(value),
                tone,
            };
            vec![
                Block::Bars(vec![
                    ms("median (p50)", l.p50_ms, Tone::Good),
                    ms("p90", l.p90_ms, Tone::Info),
                    ms("p99", l.p99_ms, Tone::Warn),
                    ms("slowest", l.max_ms, Tone::Bad),
                ]),
                Block::Note(format!(
                    "{} timed from sending to the whole answer (throttle waits and retry pauses not included); mean {}. Percentiles are bucket bounds, within one step.",
                    text::count(l.requests, "request", "requests"),
                    milliseconds(l.mean_ms)
                )),
            ]
        }
        None => vec![Block::Note(
            "No latency recorded: no request was answered, or the summary predates latency recording."
                .to_string(),
        )],
    };
    section("Latency", blocks)
}

fn reasons_section(doc: &RunDoc) -> Section {
    let rows = doc
        .reasons
        .iter()
        .map(|r| {
            let examples: Vec<String> = r.example_rows.iter().map(u64::to_string).collect();
            vec![
                thousands(r.count),
                r.outcome.clone(),
                cell(&r.message),
                examples.join(", "),
            ]
        })
        .collect();
    let table = table(
        vec!["rows", "outcome", "reason", "first rows"],
        rows,
        doc.reasons_total,
        format!("every row's reason is in {}", doc.report),
    );
    section("Why rows failed", vec![Block::Table(table)])
}

fn failures_section(doc: &RunDoc, total: u64) -> Section {
    let rows = doc
        .failures
        .iter()
        .take(LIST_KEPT)
        .map(|f| {
            vec![
                f.row.to_string(),
                cell(&f.extension),
                cell(&f.agent_id),
                f.outcome.clone(),
                f.http_status.map(|s| s.to_string()).unwrap_or_default(),
                cell(&f.message),
            ]
        })
        .collect();
    let mut rest = format!("all are in {}", doc.report);
    if let Some(failed) = &doc.failed_rows {
        rest += &format!(", their cells in {failed}");
    }
    let table = table(
        vec!["row", "extension", "agent id", "outcome", "HTTP", "message"],
        rows,
        total,
        rest,
    );
    let mut blocks = vec![Block::Table(table)];
    if let Some(failed) = &doc.failed_rows {
        blocks.push(Block::Note(format!(
            "Fix the rows in {failed} and import that file again."
        )));
    }
    section("Rows to fix", blocks)
}

fn run_settings(doc: &RunDoc) -> Section {
    let mut facts = vec![
        fact("command", &doc.command),
        fact("sheet", &doc.input),
        fact("mode", &doc.mode),
        fact("account", doc.account.as_deref().unwrap_or("not known")),
        fact(
            "rate limit",
            &doc.configured_rate
                .map_or("unlimited".to_string(), |r| format!("{r} req/s")),
        ),
        fact("concurrency", &doc.concurrency.to_string()),
        fact("dry run", if doc.dry_run { "yes" } else { "no" }),
        fact("encoding", &doc.encoding),
        fact("finished", &finished(doc.finished_at.as_deref())),
        fact("duration", &duration(doc.duration_seconds)),
        fact("report", &doc.report),
    ];
    if let Some(failed) = &doc.failed_rows {
        facts.push(fact("failed rows", failed));
    }
    facts.push(fact("exit code", &doc.exit_code.to_string()));
    section("Settings", vec![Block::Facts(facts)])
}

// ---- an export ----

#[derive(Deserialize)]
struct ExportDoc {
    provider: String,
    format: String,
    output: String,
    #[serde(default)]
    include_passwords: bool,
    users: u64,
    pages: u64,
    #[serde(default)]
    walks: u64,
    #[serde(default)]
    duplicates_dropped: u64,
    digest: String,
    duration_seconds: f64,
    #[serde(default)]
    requests: u64,
    #[serde(default)]
    retries: u64,
    #[serde(default)]
    throttled: u64,
    account: Option<String>,
    latency: Option<Latency>,
    changes: Option<ChangesDoc>,
    finished_at: Option<String>,
}

#[derive(Deserialize)]
struct ChangesDoc {
    headline: String,
    counts: DiffCounts,
    since: Option<String>,
    listed_in: Option<String>,
    #[serde(default)]
    joined: Vec<MemberDoc>,
    #[serde(default)]
    left: Vec<MemberDoc>,
    #[serde(default)]
    changed: Vec<ChangedDoc>,
}

#[derive(Deserialize)]
struct DiffCounts {
    added: u64,
    removed: u64,
    changed: u64,
    #[serde(default)]
    unchanged: u64,
}

#[derive(Deserialize)]
struct MemberDoc {
    key: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct ChangedDoc {
    key: String,
    #[serde(default)]
    name: String,
    changes: Vec<ChangeDoc>,
}

/// One field's change, in a diff and in a sync plan alike.
#[derive(Deserialize)]
struct ChangeDoc {
    field: String,
    old: Option<String>,
    new: Option<String>,
}

fn export_page(doc: ExportDoc) -> Page {
    let provider = match doc.provider.as_str() {
        "telecmi" => "TeleCMI",
        "smartflo" => "Smartflo",
        other => other,
    };
    let verdict = format!(
        "{} users written to {} in {}.",
        thousands(doc.users),
        doc.output,
        duration(doc.duration_seconds)
    );
    let roster = section(
        "Roster",
        vec![
            Block::Figures(vec![
                figure("users", doc.users, Tone::Info),
                figure("pages", doc.pages, Tone::Muted),
                figure("requests", doc.requests, Tone::Muted),
                figure("retries", doc.retries, Tone::Muted),
                figure("throttled (429)", doc.throttled, Tone::Warn),
            ]),
            Block::Facts(vec![
                fact("provider", provider),
                fact("account", doc.account.as_deref().unwrap_or("not shown")),
                fact("output", &doc.output),
                fact("format", &doc.format),
                fact(
                    "passwords",
                    if doc.include_passwords {
                        "included in the file (not on this page)"
                    } else {
                        "not exported"
                    },
                ),
                fact("digest (SHA-256)", &doc.digest),
                fact("finished", &finished(doc.finished_at.as_deref())),
                fact("duration", &duration(doc.duration_seconds)),
                fact("walks", &doc.walks.to_string()),
                fact("duplicates dropped", &doc.duplicates_dropped.to_string()),
            ]),
        ],
    );
    let mut sections = vec![roster];
    if let Some(changes) = &doc.changes {
        sections.extend(change_sections(changes, &doc.output));
    }
    sections.push(latency_section(doc.latency.as_ref()));
    Page {
        title: format!("Export of the {provider} roster"),
        verdict,
        tone: Tone::Good,
        sections,
    }
}

fn change_sections(changes: &ChangesDoc, output: &str) -> Vec<Section> {
    let c = &changes.counts;
    let parts = vec![
        figure("joined", c.added, Tone::Good),
        figure("left", c.removed, Tone::Bad),
        figure("changed", c.changed, Tone::Warn),
        figure("unchanged", c.unchanged, Tone::Muted),
    ];
    let since = changes.since.as_deref().unwrap_or("the previous export");
    let rest = match &changes.listed_in {
        Some(file) => format!("all are in {file}"),
        None => format!("roster diff OLD {output} lists them all (--diff-output FILE writes them)"),
    };
    let members = |list: &[MemberDoc]| -> Vec<Vec<String>> {
        list.iter()
            .take(LIST_KEPT)
            .map(|m| vec![cell(&m.key), cell(&m.name)])
            .collect()
    };
    let mut changed_rows = Vec::new();
    for user in changes.changed.iter().take(LIST_KEPT) {
        for change in &user.changes {
            let mut row = vec![cell(&user.key), cell(&user.name)];
            row.extend(change_cells(change));
            changed_rows.push(row);
        }
    }
    let mut changed = table(
        vec!["key", "name", "field", "old", "new"],
        changed_rows,
        c.changed,
        rest.clone(),
    );
    changed.shown = changes.changed.len().min(LIST_KEPT) as u64;
    vec![
        section(
            &format!("Changes since {since}"),
            vec![
                Block::Stacked(parts),
                Block::Note(format!("In short: {}.", changes.headline)),
            ],
        ),
        section(
            "Joined",
            vec![Block::Table(table(
                vec!["key", "name"],
                members(&changes.joined),
                c.added,
                rest.clone(),
            ))],
        ),
        section(
            "Left",
            vec![Block::Table(table(
                vec!["key", "name"],
                members(&changes.left),
                c.removed,
                rest,
            ))],
        ),
        section("Changed", vec![Block::Table(changed)]),
    ]
}

/// Field, old and new; a password is only ever "changed".
fn change_cells(change: &ChangeDoc) -> [String; 3] {
    if change.field == "password" {
        return [change.field.clone(), String::new(), "changed".to_string()];
    }
    let value = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
    [cell(&change.field), value(&change.old), value(&change.new)]
}

// ---- plans ----

#[derive(Deserialize)]
struct SyncPlanDoc {
    counts: SyncCounts,
    #[serde(default)]
    create: Vec<PlanEntryDoc>,
    #[serde(default)]
    update: Vec<PlanEntryDoc>,
    #[serde(default)]
    unchanged: Vec<PlanEntryDoc>,
    #[serde(default)]
    only_in_account: Vec<PlanEntryDoc>,
    #[serde(default)]
    invalid: Vec<InvalidDoc>,
}

#[derive(Deserialize)]
struct SyncCounts {
    create: u64,
    update: u64,
    unchanged: u64,
    only_in_account: u64,
    #[serde(default)]
    invalid: u64,
}

#[derive(Deserialize)]
struct PlanEntryDoc {
    row: Option<u64>,
    extension: u64,
    agent_id: String,
    name: Option<String>,
    #[serde(default)]
    changes: Vec<ChangeDoc>,
}

#[derive(Deserialize)]
struct InvalidDoc {
    row: u64,
    extension: Option<u64>,
    message: String,
}

#[derive(Deserialize)]
struct MigratePlanDoc {
    counts: MigrateCounts,
    #[serde(default)]
    create: Vec<MigrateEntryDoc>,
    #[serde(default)]
    update: Vec<MigrateEntryDoc>,
    #[serde(default)]
    unchanged: Vec<MigrateEntryDoc>,
    #[serde(default)]
    only_in_account: Vec<TargetOnlyDoc>,
    #[serde(default)]
    unmappable: Vec<UnmappableDoc>,
}

#[derive(Deserialize)]
struct MigrateCounts {
    create: u64,
    update: u64,
    unchanged: u64,
    only_in_account: u64,
    unmappable: u64,
}

#[derive(Deserialize)]
struct MigrateEntryDoc {
    source_id: String,
    extension: u64,
    agent_id: String,
    name: String,
    note: Option<String>,
}

#[derive(Deserialize)]
struct TargetOnlyDoc {
    extension: u64,
    agent_id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct UnmappableDoc {
    source_id: String,
    name: String,
    reason: String,
}

const PLAN_VERDICT: &str = "A plan: nothing was sent.";

fn sync_plan_page(doc: SyncPlanDoc, rest: &str) -> Page {
    let c = &doc.counts;
    let parts = vec![
        figure("create", c.create, Tone::Good),
        figure("update", c.update, Tone::Info),
        figure("unchanged", c.unchanged, Tone::Muted),
        figure("only in the account", c.only_in_account, Tone::Warn),
        figure("invalid", c.invalid, Tone::Bad),
    ];
    let entry = |e: &PlanEntryDoc| {
        vec![
            e.row.map(|r| r.to_string()).unwrap_or_default(),
            e.extension.to_string(),
            cell(&e.agent_id),
            e.name.as_deref().map(cell).unwrap_or_default(),
        ]
    };
    let entries = |title: &str, list: &[PlanEntryDoc], total: u64| {
        let rows = list.iter().take(LIST_KEPT).map(entry).collect();
        let columns = vec!["row", "extension", "agent id", "name"];
        section(
            title,
            vec![Block::Table(table(columns, rows, total, rest.to_string()))],
        )
    };
    let mut update_rows = Vec::new();
    for e in doc.update.iter().take(LIST_KEPT) {
        for change in &e.changes {
            let mut row = entry(e);
            row.extend(change_cells(change));
            update_rows.push(row);
        }
    }
    let mut update = table(
        vec![
            "row",
            "extension",
            "agent id",
            "name",
            "field",
            "old",
            "new",
        ],
        update_rows,
        c.update,
        rest.to_string(),
    );
    update.shown = doc.update.len().min(LIST_KEPT) as u64;
    let invalid_rows = doc
        .invalid
        .iter()
        .take(LIST_KEPT)
        .map(|i| {
            vec![
                i.row.to_string(),
                i.extension.map(|e| e.to_string()).unwrap_or_default(),
                cell(&i.message),
            ]
        })
        .collect();
    Page {
        title: "Sync plan".to_string(),
        verdict: plan_verdict(&parts),
        tone: Tone::Info,
        sections: vec![
            plan_section(parts),
            entries("To create", &doc.create, c.create),
            section("To update", vec![Block::Table(update)]),
            section(
                "Invalid rows",
                vec![Block::Table(table(
                    vec!["row", "extension", "reason"],
                    invalid_rows,
                    c.invalid,
                    rest.to_string(),
                ))],
            ),
            entries(
                "Only in the account (never deleted)",
                &doc.only_in_account,
                c.only_in_account,
            ),
            entries("Unchanged", &doc.unchanged, c.unchanged),
        ],
    }
}

fn migrate_plan_page(doc: MigratePlanDoc, rest: &str) -> Page {
    let c = &doc.counts;
    let parts = vec![
        figure("create", c.create, Tone::Good),
        figure("update", c.update, Tone::Info),
        figure("unchanged", c.unchanged, Tone::Muted),
        figure("only in the target", c.only_in_account, Tone::Warn),
        figure("unmappable", c.unmappable, Tone::Bad),
    ];
    let entries = |title: &str, list: &[MigrateEntryDoc], total: u64| {
        let rows = list
            .iter()
            .take(LIST_KEPT)
            .map(|e| {
                vec![
                    cell(&e.source_id),
                    e.extension.to_string(),
                    cell(&e.agent_id),
                    cell(&e.name),
                    e.note.as_deref().map(cell).unwrap_or_default(),
                ]
            })
            .collect();
        let columns = vec!["source id", "extension", "agent id", "name", "note"];
        section(
            title,
            vec![Block::Table(table(columns, rows, total, rest.to_string()))],
        )
    };
    let unmappable = doc
        .unmappable
        .iter()
        .take(LIST_KEPT)
        .map(|u| vec![cell(&u.source_id), cell(&u.name), cell(&u.reason)])
        .collect();
    let target_only = doc
        .only_in_account
        .iter()
        .take(LIST_KEPT)
        .map(|t| {
            vec![
                t.extension.to_string(),
                cell(&t.agent_id),
                t.name.as_deref().map(cell).unwrap_or_default(),
            ]
        })
        .collect();
    Page {
        title: "Migration plan".to_string(),
        verdict: plan_verdict(&parts),
        tone: Tone::Info,
        sections: vec![
            plan_section(parts),
            entries("To create", &doc.create, c.create),
            section(
                "Unmappable users",
                vec![Block::Table(table(
                    vec!["source id", "name", "reason"],
                    unmappable,
                    c.unmappable,
                    rest.to_string(),
                ))],
            ),
            entries("To update", &doc.update, c.update),
            section(
                "Only in the target account (never deleted)",
                vec![Block::Table(table(
                    vec!["extension", "agent id", "name"],
                    target_only,
                    c.only_in_account,
                    rest.to_string(),
                ))],
            ),
            entries("Already in the target", &doc.unchanged, c.unchanged),
        ],
    }
}

fn plan_verdict(parts: &[Figure]) -> String {
    let counts: Vec<String> = parts
        .iter()
        .map(|p| format!("{} {}", thousands(p.count), p.label))
        .collect();
    format!("{PLAN_VERDICT} {}.", counts.join(", "))
}

fn plan_section(parts: Vec<Figure>) -> Section {
    section(
        "Plan",
        vec![
            Block::Figures(parts.clone()),
            Block::Stacked(parts),
            Block::Note(
                "Run the same command again with --apply to carry the plan out.".to_string(),
            ),
        ],
    )
}

// ---- small builders ----

fn section(heading: &str, blocks: Vec<Block>) -> Section {
    Section {
        heading: heading.to_string(),
        blocks,
    }
}

fn figure(label: &str, count: u64, tone: Tone) -> Figure {
    Figure {
        label: label.to_string(),
        count,
        tone,
    }
}

fn fact(label: &str, value: &str) -> (String, String) {
    (label.to_string(), value.to_string())
}

fn table(columns: Vec<&'static str>, rows: Vec<Vec<String>>, total: u64, rest: String) -> Table {
    Table {
        columns,
        shown: rows.len() as u64,
        rows,
        total,
        rest,
    }
}

/// A value from outside, clipped to fit a cell.
fn cell(text: &str) -> String {
    text::clip(text, CELL_CHARS)
}

/// `2026-12-03 07:10:49 UTC` of a document's RFC 3339 time, as people read it.
fn finished(at: Option<&str>) -> String {
    match at {
        Some(at) => at.replacen('T', " ", 1).replace('Z', " UTC"),
        None => "not recorded".to_string(),
    }
}

/// `0.4 ms`, `12 ms`, `1,500 ms`.
fn milliseconds(ms: f64) -> String {
    match ms {
        ms if ms < 10.0 => format!("{ms:.1} ms"),
        ms => format!("{} ms", thousands(ms.round() as u64)),
    }
}

/// `0.4 s`, `12.3 s`, `4 min 05 s`.
fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    match whole {
        w if w < 3_600 => format!("{} min {:02} s", w / 60, w % 60),
        w => format!("{} h {:02} min", w / 3_600, w % 3_600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn import_summary() -> Value {
        json!({
            "command": "import", "input": "agents.csv", "encoding": "UTF-8", "mode": "upsert",
            "dry_run": false, "resumed_rows": 0, "rows": 4,
            "counts": {"ok": 2, "failed": 1, "invalid": 1, "skipped": 0},
            "actions": {"add": 3, "none": 1},
            "reasons": [{"message": "bad phone", "outcome": "invalid", "count": 1, "example_rows": [4]}],
            "reasons_total": 1, "duration_seconds": 1.5, "requests": 9, "retries": 1, "throttled": 1,
            "retries_refused": 0, "achieved_rate": 4.5, "effective_rate": 2.5, "lowest_rate": 2.5,
            "configured_rate": 5.0, "concurrency": 4, "aborted": null, "unplaced_phones": 0,
            "report": "agents.results.csv", "failed_rows": null, "exit_code": 1,
            "account": "11****2",
            "latency": {"requests": 9, "mean_ms": 12.0, "p50_ms": 10.0, "p90_ms": 20.0, "p99_ms": 30.0, "max_ms": 31.0},
            "failures": [
                {"row": 3, "extension": "103", "agent_id": "103_1111112", "action": "add", "outcome": "failed", "http_status": 400, "message": "Name <b>bad</b>"},
                {"row": 4, "extension": "104", "agent_id": "", "action": "none", "outcome": "invalid", "http_status": null, "message": "bad phone"}
            ],
            "failures_total": 1200
        })
    }

    #[test]
    fn an_import_summary_makes_an_import_page() {
        let page = page_of(&import_summary(), "").unwrap();
        assert_eq!(page.title, "Import of agents.csv");
        assert_eq!(page.tone, Tone::Bad);
        let headings: Vec<&str> = page.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(
            headings,
            [
                "Rows",
                "Requests",
                "Latency",
                "Why rows failed",
                "Rows to fix",
                "Settings"
            ]
        );
        let html = page.render(&[]);
        assert!(html.contains("Name &lt;b&gt;bad&lt;/b&gt;"));
        assert!(html.contains("1,198 more not shown; all are in agents.results.csv."));
        assert!(html.contains("no per-second series"));
        assert!(html.contains("11****2"));
    }

    #[test]
    fn a_series_is_drawn_when_the_summary_has_one() {
        let mut summary = import_summary();
        summary["series"] = json!([
            {"second": 0, "sent": 5, "ok": 5, "throttled": 0, "server_errors": 0, "rate_in_force": 5.0},
            {"second": 1, "sent": 5, "ok": 3, "throttled": 2, "server_errors": 0, "rate_in_force": 2.5}
        ]);
        let html = page_of(&summary, "").unwrap().render(&[]);
        assert_eq!(html.matches("<polyline").count(), 5);
        assert!(!html.contains("no per-second series"));
    }

    #[test]
    fn a_password_change_shows_only_that_it_changed() {
        let change = ChangeDoc {
            field: "password".to_string(),
            old: Some("oldpass".to_string()),
            new: Some("newpass".to_string()),
        };
        assert_eq!(change_cells(&change), ["password", "", "changed"]);
    }

    #[test]
    fn plans_are_told_apart_by_their_counts() {
        let sync = json!({"counts": {"create": 1, "update": 0, "unchanged": 0, "only_in_account": 0, "invalid": 0},
            "create": [{"row": 1, "extension": 101, "agent_id": "101_1", "name": "<script>x</script>"}],
            "update": [], "unchanged": [], "only_in_account": [], "invalid": []});
        let page = page_of(&sync, "all are in plan.json").unwrap();
        assert_eq!(page.title, "Sync plan");
        assert!(page.render(&[]).contains("&lt;script&gt;x&lt;/script&gt;"));
        let migrate = json!({"counts": {"create": 0, "update": 0, "unchanged": 0, "only_in_account": 0, "unmappable": 1},
            "create": [], "update": [], "unchanged": [], "only_in_account": [],
            "unmappable": [{"source_id": "7", "name": "Ravi", "reason": "no phone number"}]});
        let page = page_of(&migrate, "").unwrap();
        assert_eq!(page.title, "Migration plan");
        assert!(page.render(&[]).contains("no phone number"));
        assert!(page_of(&json!({"counts": {"added": 1}}), "").is_err());
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0.42), "0.4 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(7_300.0), "2 h 01 min");
    }
}
