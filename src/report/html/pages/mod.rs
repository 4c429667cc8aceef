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

mod export;
mod plan;
mod run;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{thousands, Bar, Block, Figure, Page, Section, Table, Tone};
use crate::report::latency::Latency;
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
        Ok(export::page(read(document)?))
    } else if has("ok") {
        Ok(run::page(read(document)?))
    } else if has("unmappable") {
        Ok(plan::migrate_page(read(document)?, plan_rest))
    } else if has("create") {
        Ok(plan::sync_page(read(document)?, plan_rest))
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

/// One field's change, in a diff and in a sync plan alike.
#[derive(Deserialize)]
struct ChangeDoc {
    field: String,
    old: Option<String>,
    new: Option<String>,
}

/// Field, old and new; a password is only ever "changed".
fn change_cells(change: &ChangeDoc) -> [String; 3] {
    if change.field == "password" {
        return [change.field.clone(), String::new(), "changed".to_string()];
    }
    let value = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
    [cell(&change.field), value(&change.old), value(&change.new)]
}

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
