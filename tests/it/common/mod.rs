//! What the integration tests share: a [`Case`] (an in-process sandbox and a temporary directory),
//! the real binary with a clean environment, [`Ran::assert_code`], the child-process waiters, the
//! row builders and report readers, and a [`ScriptedServer`] for provider answers the sandbox does
//! not give.

mod case;
mod hostile;
mod html;
mod network;
mod process;
mod ran;
mod report;
mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use case::Case;
pub use hostile::{Answer, HostileServer};
pub use html::HtmlPage;
pub use network::*;
pub use process::{run_at_most, run_measured, send_signal, wait_at_most, wait_until};
pub use ran::{run, Ran};
pub use report::{
    add_rows, assert_all_ok, assert_interrupted_run_is_fully_reported, assert_message_contains,
    assert_rows_numbered, count, not_ok, outcomes, read_csv, read_report, Row, HEADER,
};
pub use server::ScriptedServer;

/// Proxy and certificate settings a test must not inherit from the machine that runs it.
pub const NETWORK_VARIABLES: [&str; 11] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "ROSTER_CA_CERT",
];

pub const APP_ID: u64 = roster::sandbox::DEFAULT_APP_ID;
pub const SECRET: &str = roster::sandbox::DEFAULT_SECRET;
pub const TOKEN: &str = roster::sandbox::DEFAULT_TOKEN;

/// `roster ARGS` pointed at `url` with the sandbox's default credentials (also for the raw fakes).
pub fn roster_at(url: &str, args: &[&str]) -> Command {
    let mut command = roster_command(args);
    command
        .env("ROSTER_BASE_URL", url)
        .env("TELECMI_APP_ID", APP_ID.to_string())
        .env("TELECMI_SECRET", SECRET)
        .env("SMARTFLO_TOKEN", TOKEN);
    command
}

/// The real binary with a clean environment: no credentials, no config, no colour.
pub fn roster_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    command
        .args(args)
        .env_remove("ROSTER_BASE_URL")
        .env_remove("ROSTER_CONFIG")
        .env_remove("ROSTER_PROFILE")
        .env_remove("TELECMI_APP_ID")
        .env_remove("TELECMI_SECRET")
        .env_remove("SMARTFLO_TOKEN")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    for name in NETWORK_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// `import INPUT --mode MODE --report REPORT EXTRA...`
pub fn import_args<'a>(
    input: &'a Path,
    mode: &'a str,
    report: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "import",
        arg(input),
        "--mode",
        mode,
        "--report",
        arg(report),
    ];
    args.extend_from_slice(extra);
    args
}

/// `export --provider PROVIDER -o OUTPUT EXTRA...`
pub fn export_args<'a>(provider: &'a str, output: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["export", "--provider", provider, "-o", arg(output)];
    args.extend_from_slice(extra);
    args
}

pub fn write_file(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write test file");
    path
}

/// A path as `&str` for an argument list.
/// A sheet whose first 64 KiB (roster's look at a file's head) are ASCII: ten rows from
/// `first`, each with a 7,000-byte `notes` cell, then `last_row`.
pub fn ascii_past_the_head_then(first: u32, last_row: &[u8]) -> Vec<u8> {
    let mut bytes = b"extension,name,phone_number,password,notes\n".to_vec();
    let notes = "x".repeat(7_000);
    for ext in first..first + 10 {
        let row = format!("{ext},Agent {ext},9192000{ext:05},Secret{ext},{notes}\n");
        bytes.extend_from_slice(row.as_bytes());
    }
    bytes.extend_from_slice(last_row);
    bytes
}

pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Parse JSON text, showing the text when it is not JSON.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Parse a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    json(&text)
}

/// A Smartflo agent for `insert_smartflo`: an enabled agent with web login.
pub fn smartflo_user(
    id: u64,
    name: &str,
    extension: Option<&str>,
    phone: Option<&str>,
) -> roster::sandbox::SmartfloRecord {
    roster::sandbox::SmartfloRecord {
        id,
        name: name.to_string(),
        login_id: format!("user{id}@example.com"),
        agent_id: Some(format!("05028{id}")),
        agent_name: Some(name.to_string()),
        agent_status: 0,
        follow_me_number: phone.map(str::to_string),
        extension: extension.map(str::to_string),
        user_status: 1,
        role_id: 1,
        role_name: "Agent".to_string(),
        is_login_based_calling_enabled: false,
        is_international_outbound_enabled: false,
        is_web_login_enabled: true,
    }
}

/// The columns of a TeleCMI export, as the contract fixes them.
pub const TELECMI_COLUMNS: [&str; 10] = [
    "agent_id",
    "extension",
    "name",
    "first_name",
    "last_name",
    "phone_number",
    "password",
    "start_time",
    "end_time",
    "sms_alert",
];

/// A TeleCMI user for `insert_telecmi`, without shift times and with SMS alerts off.
pub fn telecmi_user(
    extension: u32,
    name: &str,
    phone: &str,
    password: &str,
) -> roster::sandbox::TelecmiRecord {
    roster::sandbox::TelecmiRecord {
        extension,
        name: name.to_string(),
        phone_number: phone.to_string(),
        password: password.to_string(),
        start_time: None,
        end_time: None,
        sms_alert: false,
    }
}

/// `EXTENSION_APPID` for the sandbox's default app id.
pub fn agent_id(extension: u32) -> String {
    format!("{extension}_{APP_ID}")
}

/// The largest number of arrivals inside any half-open window `[t, t + window)` that starts at an
/// arrival (the worst window always starts at one).
pub fn max_in_window(arrivals: &[std::time::Duration], window: std::time::Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut end = 0;
    for start in 0..sorted.len() {
        while end < sorted.len() && sorted[end] < sorted[start] + window {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

/// The files in `dir`, sorted, except the lock files roster keeps beside what it writes.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !(name.starts_with('.') && name.ends_with(".lock")))
        .collect();
    names.sort();
    names
}
