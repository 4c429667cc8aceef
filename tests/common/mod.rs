//! Shared helpers: an in-process sandbox on port 0 with its own runtime, and the real binary.
#![allow(dead_code)] // each test file uses a different subset

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

    pub fn new() -> TestSandbox {
        TestSandbox::start(SandboxConfig::default())
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// `roster ARGS` pointed at this sandbox with its credentials.
    pub fn roster(&self, args: &[&str]) -> Command {
        let mut command = roster_command(args);
        command
            .env("ROSTER_BASE_URL", &self.url)
            .env("TELECMI_APP_ID", APP_ID.to_string())
            .env("TELECMI_SECRET", SECRET)
            .env("SMARTFLO_TOKEN", TOKEN);
        command
    }

    /// Run a future on the sandbox's runtime (for library-level tests).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.stop());
        }
    }
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
    let Output { status, stdout, stderr } = command.borrow_mut().output().expect("the roster binary runs");
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
            headers.iter().map(String::from).zip(r.iter().map(String::from)).collect()
        })
        .collect()
}
