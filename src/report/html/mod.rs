//! The HTML page of a run: one self-contained file an admin opens in a browser or gets as a
//! mail attachment.
//!
//! Rules:
//! - Self-contained: the CSS is inline, the charts are inline SVG drawn here (rects and
//!   polylines), and there is no script, no font, no image and no link to anything outside.
//! - Light and dark follow `prefers-color-scheme`; `@media print` gives a white page whose
//!   sections do not break across pages.
//! - Every text that came from outside (names, provider messages, file names) is HTML-escaped,
//!   made printable (control characters as escapes) and scrubbed of the secrets the caller
//!   knows; the documents a page is made from hold no secret and no password to begin with.
//! - A page is made from the JSON document the run wrote (its summary, or its plan), never from
//!   the run's own state, so `roster report SUMMARY.json --html FILE` later gives the same page
//!   as `--html-report FILE` did (see [`pages`]).
//!
//! The page is a small view model ([`Page`], [`Section`], [`Block`]) rendered by plain `write!`.

mod chart;
pub mod pages;

use std::fmt::Write;

use crate::text;

/// One run's page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The `<h1>`, e.g. `Import of agents.csv`.
    pub title: String,
    /// The one line under the title that says how it went.
    pub verdict: String,
    pub tone: Tone,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The `<h2>`.
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// The colour a figure, a bar segment or a verdict is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Warn,
    Muted,
    Info,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Bad => "bad",
            Tone::Warn => "warn",
            Tone::Muted => "muted",
            Tone::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Big numbers in tiles.
    Figures(Vec<Figure>),
    /// Parts of one whole as a stacked bar with a legend (outcomes, a plan's counts).
    Stacked(Vec<Figure>),
    /// Quantities side by side as horizontal bars (rates, latency percentiles).
    Bars(Vec<Bar>),
    /// Requests per second over the run.
    Series(Vec<SecondSample>),
    /// Label and value pairs (settings, files).
    Facts(Vec<(String, String)>),
    Table(Table),
    Note(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub label: String,
    pub count: u64,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// The value as the page writes it, e.g. `4.8 req/s`.
    pub shown: String,
    pub tone: Tone,
}

/// One second of a run's traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondSample {
    /// Seconds since the run's start.
    pub second: u64,
    pub sent: u64,
    /// Answers 2xx.
    pub ok: u64,
    /// Answers 429.
    pub throttled: u64,
    /// Answers 5xx.
    pub server_errors: u64,
    /// The rate limit in force at the end of the second, requests per second.
    pub rate_in_force: Option<f64>,
}

/// The first entries of a list, and where the rest are.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// Entries of the list shown (a changed user may take a row per field).
    pub shown: u64,
    /// Entries the list has in all (more than `shown` when it was cut).
    pub total: u64,
    /// Where all of them are, e.g. `every row is in results.csv`.
    pub rest: String,
}

/// The style sheet: CSS variables for the two colour schemes, and a print style.
const STYLE: &str = r#"
:root{--bg:#f7f7f5;--card:#fff;--ink:#1d232b;--dim:#5b6573;--line:#dde1e6;--good:#1f8a4c;--bad:#c62f2f;--warn:#c77c00;--muted:#8b95a1;--info:#2b6cb0;--grid:#e7eaee}
@media (prefers-color-scheme:dark){:root{--bg:#15181d;--card:#1e232a;--ink:#e6e9ee;--dim:#a3adba;--line:#333a44;--good:#45c07a;--bad:#f06a6a;--warn:#f0aa3c;--muted:#7d8896;--info:#6aa8f0;--grid:#2b323b}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:24px 20px 40px}
h1{font-size:26px;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:18px;margin:0 0 12px}
.verdict{font-size:17px;font-weight:600;margin:0 0 20px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:0 0 16px}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 12px}
.figure{flex:1 1 120px;border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.figure b{display:block;font-size:24px;font-variant-numeric:tabular-nums}
.figure span{color:var(--dim);font-size:13px}
.good{color:var(--good)}.bad{color:var(--bad)}.warn{color:var(--warn)}.muted{color:var(--muted)}.info{color:var(--info)}
svg .good{fill:var(--good);stroke:var(--good)}svg .bad{fill:var(--bad);stroke:var(--bad)}svg .warn{fill:var(--warn);stroke:var(--warn)}
svg .muted{fill:var(--muted);stroke:var(--muted)}svg .info{fill:var(--info);stroke:var(--info)}
svg polyline[class]{fill:none;stroke-width:2;stroke-linejoin:round}
svg polyline.limit{stroke-dasharray:6 4}
svg .grid{stroke:var(--grid);stroke-width:1}
svg text{fill:var(--dim);font-size:12px;font-family:inherit}
svg rect.track{fill:var(--grid);stroke:none}
.stacked{display:block;width:100%;height:28px;border-radius:6px}
.legend{list-style:none;padding:0;margin:8px 0 0;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:14px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:6px;background:currentColor;vertical-align:-1px}
.legend .n{color:var(--ink);font-variant-numeric:tabular-nums}
.bars{display:grid;grid-template-columns:max-content 1fr max-content;gap:6px 12px;align-items:center;font-size:14px}
.bars svg{width:100%;height:14px;display:block}
.bars .v{font-variant-numeric:tabular-nums;text-align:right}
.series{width:100%;height:auto;display:block}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dt{color:var(--dim)}dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
th{color:var(--dim);font-weight:600;white-space:nowrap}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.note{color:var(--dim);margin:8px 0 0;font-size:14px}
footer{color:var(--dim);font-size:13px;text-align:center}
@media print{:root{--bg:#fff;--card:#fff;--ink:#000;--dim:#444;--line:#bbb;--grid:#ddd}
body{font-size:12px}main{max-width:none;padding:0}section{break-inside:avoid;border-color:#bbb}
table{break-inside:auto}tr{break-inside:avoid}.scroll{overflow:visible}}
"#;

impl Page {
    /// The whole document. `secrets` are removed from every text on the page.
    pub fn render(&self, secrets: &[&str]) -> String {
        let mut out = Html {
            buf: String::with_capacity(16 * 1024),
            secrets,
        };
        out.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
        out.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n");
        out.raw("<meta name=\"color-scheme\" content=\"light dark\" />\n<title>");
        out.text(&self.title);
        out.raw(" · roster</title>\n<style>");
        out.raw(STYLE);
        out.raw("</style>\n</head>\n<body>\n<main>\n<h1>");
        out.text(&self.title);
        out.raw("</h1>\n");
        out.open("p", &format!("verdict {}", self.tone.class()));
        out.text(&self.verdict);
        out.raw("</p>\n");
        for section in &self.sections {
            out.raw("<section>\n<h2>");
            out.text(&section.heading);
            out.raw("</h2>\n");
            for block in &section.blocks {
                out.block(block);
            }
            out.raw("</section>\n");
        }
        out.raw(concat!(
            "<footer>made by roster ",
            env!("CARGO_PKG_VERSION"),
            "</footer>\n</main>\n</body>\n</html>\n"
        ));
        out.buf
    }
}

/// The document being written.
struct Html<'s> {
    buf: String,
    secrets: &'s [&'s str],
}

impl Html<'_> {
    fn raw(&mut self, markup: &str) {
        self.buf.push_str(markup);
    }

    /// `text` from outside: scrubbed, printable and escaped.
    fn text(&mut self, text: &str) {
        let clean = text::printable(&text::scrub(text, self.secrets));
        escape_into(&mut self.buf, &clean);
    }

    fn open(&mut self, tag: &str, class: &str) {
        let _ = write!(self.buf, "<{tag} class=\"{class}\">");
    }

    fn block(&mut self, block: &Block) {
        match block {
            Block::Figures(figures) => self.figures(figures),
            Block::Stacked(parts) => self.stacked(parts),
            Block::Bars(bars) => self.bars(bars),
            Block::Series(samples) => chart::series(&mut self.buf, samples),
            Block::Facts(facts) => self.facts(facts),
            Block::Table(table) => self.table(table),
            Block::Note(note) => {
                self.raw("<p class=\"note\">");
                self.text(note);
                self.raw("</p>\n");
            }
        }
    }

    fn figures(&mut self, figures: &[Figure]) {
        self.raw("<div class=\"figures\">\n");
        for figure in figures {
            self.raw("<div class=\"figure\">");
            self.open("b", figure.tone.class());
            self.raw(&thousands(figure.count));
            self.raw("</b><span>");
            self.text(&figure.label);
            self.raw("</span></div>\n");
        }
        self.raw("</div>\n");
    }

    fn stacked(&mut self, parts: &[Figure]) {
        chart::stacked(&mut self.buf, parts);
        let total: u64 = parts.iter().map(|p| p.count).sum();
        self.raw("<ul class=\"legend\">\n");
        for part in parts {
            self.open("li", part.tone.class());
            self.raw("<i></i><span class=\"n\">");
            self.text(&part.label);
            let _ = write!(self.buf, ": {}", thousands(part.count));
            if total > 0 && part.count > 0 {
                let _ = write!(self.buf, " ({})", percent(part.count as f64 / total as f64));
            }
            self.raw("</span></li>\n");
        }
        self.raw("</ul>\n");
    }

    fn bars(&mut self, bars: &[Bar]) {
        let top = bars.iter().map(|b| b.value).fold(0.0, f64::max);
        self.raw("<div class=\"bars\">\n");
        for bar in bars {
            self.raw("<span>");
            self.text(&bar.label);
            self.raw("</span>");
            chart::bar(&mut self.buf, bar.value, top, bar.tone);
            self.raw("<span class=\"v\">");
            self.text(&bar.shown);
            self.raw("</span>\n");
        }
        self.raw("</div>\n");
    }

    fn facts(&mut self, facts: &[(String, String)]) {
        self.raw("<dl>\n");
        for (label, value) in facts {
            self.raw("<dt>");
            self.text(label);
            self.raw("</dt><dd>");
            self.text(value);
            self.raw("</dd>\n");
        }
        self.raw("</dl>\n");
    }

    fn table(&mut self, table: &Table) {
        if table.rows.is_empty() {
            self.raw("<p class=\"note\">None.</p>\n");
            return;
        }
        self.raw("<div class=\"scroll\"><table>\n<thead><tr>");
        for column in &table.columns {
            self.raw("<th>");
            self.text(column);
            self.raw("</th>");
        }
        self.raw("</tr></thead>\n<tbody>\n");
        for row in &table.rows {
            self.raw("<tr>");
            for cell in row {
                let numeric = !cell.is_empty() && cell.bytes().all(|b| b.is_ascii_digit());
                self.raw(if numeric {
                    "<td class=\"num\">"
                } else {
                    "<td>"
                });
                self.text(cell);
                self.raw("</td>");
            }
            self.raw("</tr>\n");
        }
        self.raw("</tbody>\n</table></div>\n");
        let shown = table.shown;
        if table.total > shown {
            self.raw("<p class=\"note\">");
            self.text(&format!(
                "The first {} of {}: {} more not shown; {}.",
                thousands(shown),
                thousands(table.total),
                thousands(table.total - shown),
                table.rest
            ));
            self.raw("</p>\n");
        }
    }
}

/// `text` with the five characters HTML gives a meaning written as entities.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// `12,345`: a count as people read it.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12.5%`, or `<0.1%` for a sliver that would round to nothing.
fn percent(share: f64) -> String {
    match share * 100.0 {
        p if p > 0.0 && p < 0.1 => "<0.1%".to_string(),
        p if p >= 10.0 => format!("{p:.0}%"),
        p => format!("{p:.1}%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(blocks: Vec<Block>) -> Page {
        Page {
            title: "Import of <script>alert(1)</script>.csv".to_string(),
            verdict: "3 rows & 1 failed".to_string(),
            tone: Tone::Bad,
            sections: vec![Section {
                heading: "Rows".to_string(),
                blocks,
            }],
        }
    }

    #[test]
    fn outside_text_is_escaped_printable_and_scrubbed() {
        let html = page(vec![Block::Note(
            "provider said: bad secret s3cr3t\u{1b}[2J".to_string(),
        )])
        .render(&["s3cr3t"]);
        assert!(html.contains("Import of &lt;script&gt;alert(1)&lt;/script&gt;.csv"));
        assert!(!html.contains("<script"));
        assert!(html.contains("3 rows &amp; 1 failed"));
        assert!(!html.contains("s3cr3t"));
        assert!(html.contains("[redacted]"));
        assert!(!html.contains('\u{1b}'));
    }

    #[test]
    fn a_cut_table_says_how_many_more_and_where() {
        let table = Table {
            columns: vec!["row", "message"],
            rows: vec![vec!["7".to_string(), "bad phone".to_string()]],
            shown: 1,
            total: 1_250,
            rest: "every row is in results.csv".to_string(),
        };
        let html = page(vec![Block::Table(table)]).render(&[]);
        assert!(html.contains("<td class=\"num\">7</td><td>bad phone</td>"));
        assert!(html
            .contains("The first 1 of 1,250: 1,249 more not shown; every row is in results.csv."));
    }

    #[test]
    fn nothing_on_the_page_reaches_outside() {
        let html = page(vec![
            Block::Stacked(vec![Figure {
                label: "ok".to_string(),
                count: 3,
                tone: Tone::Good,
            }]),
            Block::Series(vec![SecondSample {
                second: 0,
                sent: 5,
                ok: 5,
                throttled: 0,
                server_errors: 0,
                rate_in_force: Some(5.0),
            }]),
        ])
        .render(&[]);
        for outside in ["http://", "https://", "src=", "<script", "url(", "@import"] {
            assert!(!html.contains(outside), "{outside} in the page");
        }
    }

    #[test]
    fn counts_and_shares_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(0.0123), "1.2%");
        assert_eq!(percent(0.0001), "<0.1%");
    }
}
