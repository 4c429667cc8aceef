//! The page of an export, with who joined, left and changed when it was compared.

use serde::Deserialize;

use super::{
    cell, change_cells, duration, fact, figure, finished, latency_section, section, table,
    ChangeDoc,
};
use crate::report::html::{thousands, Block, Page, Section, Tone};
use crate::report::latency::Latency;
use crate::report::LIST_KEPT;

#[derive(Deserialize)]
pub(super) struct ExportDoc {
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

pub(super) fn page(doc: ExportDoc) -> Page {
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
