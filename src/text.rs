//! Text that came from outside (sheets, provider answers) made safe to show: control characters
//! escaped so that no cell can move the cursor or retitle a terminal, long values clipped, and a
//! run's secrets removed.

/// What stands in for a secret in provider text.
pub const REDACTED: &str = "[redacted]";

/// `text` with control characters written as escapes (`\u{1b}`, `\n`), so it prints on one line
/// and cannot drive the terminal.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `text` is one or more ASCII digits, told in one pass without a branch a byte (most numbers
/// in a sheet are).
pub fn is_digits(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .fold(true, |all, byte| all & byte.is_ascii_digit())
}

/// `text.trim()`, without decoding characters when it starts and ends with visible ASCII, as
/// nearly every cell does: nothing to trim, and no need to look for Unicode white space.
pub fn trimmed(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// At most `max_chars` characters of `text`, ending in `…` when something was cut.
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((cut, _)) => {
            let mut short = text[..cut].to_string();
            short.pop();
            short.push('…');
            short
        }
    }
}

/// `text` with every secret removed, as written and as JSON would escape it (a provider that
/// echoes a request body echoes the escaped form).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let escaped = serde_json::to_string(secret).expect("a string serialises");
        let escaped = &escaped[1..escaped.len() - 1];
        for form in [*secret, escaped] {
            if text.contains(form) {
                text = text.replace(form, REDACTED);
            }
        }
    }
    text
}

/// The first `limit` of `items`, a line each (indented two spaces), and when that cuts the list,
/// a last line that says how many more there are and where they are (`rest`).
pub fn listed<T>(items: &[T], limit: usize, line: impl Fn(&T) -> String, rest: &str) -> String {
    let mut text: String = items
        .iter()
        .take(limit)
        .map(|item| format!("  {}\n", line(item)))
        .collect();
    if items.len() > limit {
        text += &format!("  … and {} more ({rest})\n", items.len() - limit);
    }
    text
}

/// An account id shown without giving it away: its first two characters and its last, the rest
/// starred (`1111112` → `11****2`); a short id is starred whole.
pub fn mask(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 5 {
        return "*".repeat(chars.len());
    }
    let hidden = "*".repeat(chars.len() - 3);
    format!("{}{}{hidden}{}", chars[0], chars[1], chars[chars.len() - 1])
}

/// A UNIX time as `YYYY-MM-DD HH:MM UTC`, for messages.
pub fn utc(secs: u64) -> String {
    let (year, month, day, seconds) = civil(secs);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        seconds / 3_600,
        seconds % 3_600 / 60
    )
}

/// A UNIX time as RFC 3339 in UTC (`2026-12-03T07:10:49Z`), for documents.
pub fn timestamp(secs: u64) -> String {
    let (year, month, day, seconds) = civil(secs);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

/// This moment as [`timestamp`] writes it.
pub fn now() -> String {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    timestamp(since.map_or(0, |d| d.as_secs()))
}

/// The civil date of a UNIX time (Howard Hinnant's algorithm), and the seconds into its day.
fn civil(secs: u64) -> (i64, i64, i64, u64) {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rest)
}

/// `1 page`, `2 pages`: the count and the noun, plural as English wants it.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_609_459_199), "2020-12-31 23:59 UTC");
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00 UTC");
        assert_eq!(timestamp(1_609_459_199), "2020-12-31T23:59:59Z");
    }

    #[test]
    fn an_account_id_is_masked() {
        assert_eq!(mask("1111112"), "11****2");
        assert_eq!(mask("33335"), "33**5");
        assert_eq!(mask("1234"), "****");
    }

    #[test]
    fn a_cut_list_says_how_many_more_and_where() {
        let items = [1, 2, 3, 4];
        let shown = listed(&items, 2, |n| format!("item {n}"), "see plan.json");
        assert_eq!(
            shown,
            "  item 1\n  item 2\n  … and 2 more (see plan.json)\n"
        );
        assert_eq!(
            listed(&items, 4, |n| n.to_string(), "x"),
            "  1\n  2\n  3\n  4\n"
        );
        assert_eq!(count(1u64, "page", "pages"), "1 page");
        assert_eq!(count(0u64, "row", "rows"), "0 rows");
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            printable("name\u{1b}]0;owned\u{7}"),
            "name\\u{1b}]0;owned\\u{7}"
        );
        assert_eq!(printable("Anita\nDesai"), "Anita\\nDesai");
        assert_eq!(printable("Zoë Ødegård"), "Zoë Ødegård");
    }

    #[test]
    fn clipping_counts_characters_and_marks_the_cut() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdefg", 6), "abcde…");
        assert_eq!(clip("ज़ोया देसाई", 3), "ज़…");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn secrets_are_removed_raw_and_json_escaped() {
        let secret = "s3cr\"t\\x";
        let echoed = format!(
            "Validation failed for request {}",
            serde_json::json!({"secret": secret, "password": "Pass#101"})
        );
        let clean = scrub(&echoed, &[secret, "Pass#101", ""]);
        assert!(!clean.contains("s3cr"), "{clean}");
        assert!(!clean.contains("Pass#101"), "{clean}");
        assert_eq!(clean.matches(REDACTED).count(), 2, "{clean}");
    }
}
