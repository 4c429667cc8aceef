//! [`HtmlPage`]: a generated HTML report read back, checked well-formed by a small tag-balance
//! parser (no HTML engine: the page is roster's own, written to close every element), with its
//! visible text and the counts of its elements at hand.

use std::path::Path;

/// Elements that never have a closing tag.
const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
/// Elements whose content is raw text, not markup.
const RAW: [&str; 2] = ["style", "title"];

pub struct HtmlPage {
    pub html: String,
    /// The visible text: tags and style left out, entities decoded, white space folded.
    pub text: String,
    /// Every element's name, in document order.
    elements: Vec<String>,
}

impl HtmlPage {
    /// Reads `path` and fails the test unless every element is closed in order.
    pub fn read(path: &Path) -> HtmlPage {
        let html = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        HtmlPage::parse(html)
    }

    pub fn parse(html: String) -> HtmlPage {
        let mut open: Vec<String> = Vec::new();
        let mut elements = Vec::new();
        let mut text = String::new();
        let mut rest = html.as_str();
        while let Some(start) = rest.find('<') {
            text.push_str(&rest[..start]);
            // Cells and tiles read apart, as a browser shows them.
            text.push(' ');
            rest = &rest[start..];
            if let Some(after) = rest.strip_prefix("<!") {
                let end = after.find('>').expect("a declaration ends");
                rest = &after[end + 1..];
                continue;
            }
            let end = tag_end(rest).unwrap_or_else(|| panic!("an unclosed tag: {}", head(rest)));
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let name = name.trim().to_ascii_lowercase();
                let top = open
                    .pop()
                    .unwrap_or_else(|| panic!("</{name}> closes nothing"));
                assert_eq!(top, name, "</{name}> closes <{top}>");
                continue;
            }
            let name: String = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "a bad tag: <{tag}>"
            );
            elements.push(name.clone());
            if RAW.contains(&name.as_str()) && !open.iter().any(|o| o == "svg") {
                let close = format!("</{name}>");
                let end = rest
                    .find(&close)
                    .unwrap_or_else(|| panic!("<{name}> never closes"));
                if name == "title" {
                    text.push_str(&rest[..end]);
                }
                rest = &rest[end + close.len()..];
                continue;
            }
            if !VOID.contains(&name.as_str()) && !tag.ends_with('/') {
                open.push(name);
            }
        }
        text.push_str(rest);
        assert!(open.is_empty(), "never closed: {open:?}");
        let text = decode(&text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        HtmlPage {
            html,
            text,
            elements,
        }
    }

    /// How many `name` elements the page has.
    pub fn count(&self, name: &str) -> usize {
        self.elements.iter().filter(|e| *e == name).count()
    }

    /// The page loads nothing from anywhere and runs nothing.
    pub fn assert_self_contained(&self) -> &Self {
        for outside in [
            "http://", "https://", "src=", "<script", "url(", "@import", "href=",
        ] {
            assert!(!self.html.contains(outside), "the page holds {outside:?}");
        }
        self
    }

    /// `secret` is nowhere in the page's bytes.
    pub fn assert_lacks(&self, secret: &str) -> &Self {
        assert!(!self.html.contains(secret), "the page holds {secret:?}");
        self
    }

    /// `needle` is in the page's visible text.
    pub fn assert_says(&self, needle: &str) -> &Self {
        assert!(
            self.text.contains(needle),
            "the page does not say {needle:?}; it says: {}",
            self.text
        );
        self
    }

    /// The `<h2>` headings, in order.
    pub fn headings(&self) -> Vec<String> {
        self.html
            .split("<h2>")
            .skip(1)
            .map(|s| decode(&s[..s.find("</h2>").expect("h2 closes")]))
            .collect()
    }
}

/// Where the tag starting at `s[0] == '<'` ends, past quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn head(s: &str) -> &str {
    &s[..s.char_indices().nth(60).map_or(s.len(), |(i, _)| i)]
}

fn decode(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn the_checker_refuses_a_broken_page() {
    let ok = HtmlPage::parse("<!DOCTYPE html><p>a &lt;b&gt;<br><svg><rect/></svg></p>".into());
    assert_eq!(ok.text, "a <b>");
    assert_eq!(ok.count("rect"), 1);
    for broken in ["<p><b></p></b>", "<p>", "</p>", "<p class=\"x>"] {
        let result = std::panic::catch_unwind(|| HtmlPage::parse(broken.to_string()));
        assert!(result.is_err(), "{broken} passed");
    }
}
