//! The pages of a sync plan and of a migration plan: counts, and the users in each list.

use serde::Deserialize;

use super::{cell, change_cells, figure, section, table, ChangeDoc};
use crate::report::html::{thousands, Block, Figure, Page, Section, Tone};
use crate::report::LIST_KEPT;

#[derive(Deserialize)]
pub(super) struct SyncPlanDoc {
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
pub(super) struct MigratePlanDoc {
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

pub(super) fn sync_page(doc: SyncPlanDoc, rest: &str) -> Page {
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

pub(super) fn migrate_page(doc: MigratePlanDoc, rest: &str) -> Page {
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
