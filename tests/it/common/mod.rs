//! Shared helpers: an in-process sandbox on port 0 with its own runtime, and the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use roster::sandbox::{Sandbox, SandboxConfig};

pub const APP_ID: u64 = roster::sandbox::DEFAULT_APP_ID;
pub const SECRET: &str = roster::sandbox::DEFAULT_SECRET;
pub const TOKEN: &str = roster::sandbox::DEFAULT_TOKEN;

/// A sandbox serving on 127.0.0.1:0 from a runtime of its own, so tests can drive the binary
/// with blocking calls. Stopped on drop.
pub struct TestSandbox {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    pub url: String,
}

impl TestSandbox {
    pub fn start(config: SandboxConfig) -> TestSandbox {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let sandbox = runtime
            .block_on(Sandbox::start("127.0.0.1:0".parse().unwrap(), config))
            .expect("sandbox starts on port 0");
        let url = sandbox.base_url();
        TestSandbox {
            runtime,
            sandbox: Some(sandbox),
            url,
        }
    }

    /// A sandbox that answers every request after `latency`.
    pub fn with_latency(latency: std::time::Duration) -> TestSandbox {
        TestSandbox::start(SandboxConfig {
            faults: roster::sandbox::Faults {
                latency,
                ..Default::default()
            },
            ..Default::default()
        })
    }

    pub fn new() -> TestSandbox {
        TestSandbox::start(SandboxConfig::default())
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// `roster ARGS` pointed at this sandbox with its credentials.
    pub fn roster(&self, args: &[&str]) -> Command {
        roster_at(&self.url, args)
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.stop());
        }
    }
}

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
    command
}

/// What a finished command printed, as text.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut command: impl std::borrow::BorrowMut<Command>) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .borrow_mut()
        .output()
        .expect("the roster binary runs");
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn write_file(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write test file");
    path
}

/// Parse a CSV file into header-keyed rows.
pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("open csv");
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

// ---- additions for the import / export / cli suites ----

/// A path as `&str` for an argument list.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

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

/// A one-trick HTTP server on 127.0.0.1:0: every request, whatever its path, gets `status` with the
/// JSON `body` (and `Connection: close`). For provider behaviour the sandbox does not produce.
/// Counts the requests it answered.
pub struct FixedServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FixedServer {
    pub fn start(status: u16, body: &'static str) -> FixedServer {
        let server = ScriptedServer::start(move |_, _| (status, body.to_string()));
        FixedServer {
            url: server.url,
            requests: server.requests,
        }
    }
}

/// An HTTP server on 127.0.0.1:0 whose answers come from `answer(path_and_query, body)`, called
/// once per request in arrival order (one connection at a time, `Connection: close`).
pub struct ScriptedServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ScriptedServer {
    pub fn start(
        mut answer: impl FnMut(&str, &[u8]) -> (u16, String) + Send + 'static,
    ) -> ScriptedServer {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                    continue;
                }
                let target = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_string();
                let mut length = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" || line == "\n" {
                        break;
                    }
                }
                let mut request_body = vec![0; length];
                let _ = reader.read_exact(&mut request_body);
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, body) = answer(&target, &request_body);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        ScriptedServer { url, requests }
    }
}
