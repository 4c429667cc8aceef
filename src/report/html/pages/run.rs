//! The page of a run that sent rows: import, `sync --apply`, `migrate --apply`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{cell, duration, fact, figure, finished, latency_section, section, table};
use crate::report::html::{thousands, Bar, Block, Page, SecondSample, Section, Tone};
use crate::report::latency::Latency;
use crate::report::LIST_KEPT;

#[derive(Deserialize)]
pub(super) struct RunDoc {
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

/// The summary's `series`: what was sent and answered in each interval of `step_seconds`
/// (one second unless a long run merged them).
#[derive(Deserialize)]
struct SeriesDoc {
    step_seconds: u64,
    points: Vec<PointDoc>,
}

#[derive(Deserialize)]
struct PointDoc {
    t: u64,
    sent: u64,
    ok: u64,
    throttled: u64,
    server_errors: u64,
    rate: Option<f64>,
}

impl SeriesDoc {
    /// The points as rates per second, whatever their interval.
    fn per_second(self) -> Vec<SecondSample> {
        let step = self.step_seconds.max(1);
        let rate = |count: u64| (count + step / 2) / step;
        self.points
            .into_iter()
            .map(|p| SecondSample {
                second: p.t,
                sent: rate(p.sent),
                ok: rate(p.ok),
                throttled: rate(p.throttled),
                server_errors: rate(p.server_errors),
                rate_in_force: p.rate,
            })
            .collect()
    }
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

pub(super) fn page(doc: RunDoc) -> Page {
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
        .and_then(|v| serde_json::from_value::<SeriesDoc>(v).ok())
        .map(SeriesDoc::per_second)
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

#[cfg(test)]
mod tests {
    use super::super::page_of;
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
        summary["series"] = json!({"step_seconds": 1, "points": [
            {"t": 0, "sent": 5, "ok": 5, "throttled": 0, "server_errors": 0, "rate": 5.0},
            {"t": 1, "sent": 5, "ok": 3, "throttled": 2, "server_errors": 0, "rate": 2.5}
        ]});
        let html = page_of(&summary, "").unwrap().render(&[]);
        assert_eq!(html.matches("<polyline").count(), 5);
        assert!(!html.contains("no per-second series"));
    }
}
