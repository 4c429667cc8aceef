//! [`Case`]: one test's world, a sandbox account and a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use roster::sandbox::{Faults, Sandbox, SandboxConfig};

use super::{roster_at, run, wait_until, write_file, Ran};

/// A sandbox serving on 127.0.0.1:0 from a runtime of its own (so that a test drives the binary
/// with blocking calls), and a temporary directory for the files the test writes and reads.
/// The sandbox is stopped and the directory removed on drop.
pub struct Case {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    url: String,
    dir: tempfile::TempDir,
}

impl Case {
    /// An empty account with the default credentials, no faults.
    pub fn new() -> Case {
        Case::start(SandboxConfig::default())
    }

    pub fn start(config: SandboxConfig) -> Case {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let sandbox = runtime
            .block_on(Sandbox::start("127.0.0.1:0".parse().unwrap(), config))
            .expect("sandbox starts on port 0");
        let url = sandbox.base_url();
        Case {
            runtime,
            sandbox: Some(sandbox),
            url,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// An account seeded with `telecmi` TeleCMI users and `smartflo` Smartflo users.
    pub fn seeded(telecmi: usize, smartflo: usize) -> Case {
        Case::start(SandboxConfig {
            seed_telecmi: telecmi,
            seed_smartflo: smartflo,
            ..Default::default()
        })
    }

    /// An empty account whose server misbehaves as `faults` say.
    pub fn with_faults(faults: Faults) -> Case {
        Case::start(SandboxConfig {
            faults,
            ..Default::default()
        })
    }

    /// An empty account that refuses to hold more than `users` users.
    pub fn with_user_limit(users: usize) -> Case {
        Case::start(SandboxConfig {
            user_limit: Some(users),
            ..Default::default()
        })
    }

    /// An empty account that answers every request after `latency`.
    pub fn with_latency(latency: Duration) -> Case {
        Case::with_faults(Faults {
            latency,
            ..Default::default()
        })
    }

    /// The account: its users, its request statistics, its faults.
    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// Puts `user` in the account, as if it had been there before the test.
    pub fn insert_telecmi(&self, user: roster::sandbox::TelecmiRecord) {
        self.sandbox().insert_telecmi(user);
    }

    /// The names the account holds, in extension order.
    pub fn telecmi_names(&self) -> Vec<String> {
        let users = self.sandbox().telecmi_users();
        users.into_iter().map(|user| user.name).collect()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `NAME` in the case's directory (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `NAME` in the case's directory.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        write_file(self.dir.path(), name, content)
    }

    /// `roster ARGS` pointed at this sandbox with its credentials.
    pub fn roster(&self, args: &[&str]) -> Command {
        roster_at(&self.url, args)
    }

    /// Runs `roster ARGS` against this sandbox to the end.
    pub fn run(&self, args: &[&str]) -> Ran {
        run(self.roster(args))
    }

    /// Waits until the sandbox has counted `n` requests, failing after 10 s.
    pub fn wait_for_requests(&self, n: u64, what: &str) {
        wait_until(Duration::from_secs(10), what, || {
            self.sandbox().stats().requests >= n
        });
    }

    /// Starts `roster ARGS` against this sandbox in the background, its output discarded.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.roster(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the roster binary starts")
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.stop());
        }
    }
}
