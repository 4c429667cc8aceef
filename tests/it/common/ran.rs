//! [`Ran`]: what a finished command printed, and assertions that show all of it when they fail.

use std::borrow::BorrowMut;
use std::fmt;
use std::process::{Command, Output};

/// What a finished command printed, as text.
pub struct Ran {
    /// The command line, for failure messages.
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Fails unless the command exited with `code`, showing the command, its stdout and its stderr.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        self.assert_code_because(code, "")
    }

    /// [`Ran::assert_code`] that says why `code` is the right one.
    #[track_caller]
    pub fn assert_code_because(&self, code: i32, why: impl fmt::Display) -> &Self {
        if self.code != code {
            panic!(
                "expected exit {code}{}, got {}\n{self}",
                because(why),
                self.code
            );
        }
        self
    }

    /// Fails unless stderr contains `needle`, showing the command, its stdout and its stderr.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        self.assert_stderr_contains_because(needle, "")
    }

    /// [`Ran::assert_stderr_contains`] that says why `needle` must be there.
    #[track_caller]
    pub fn assert_stderr_contains_because(&self, needle: &str, why: impl fmt::Display) -> &Self {
        if !self.stderr.contains(needle) {
            panic!("expected {needle:?} on stderr{}\n{self}", because(why));
        }
        self
    }

    /// Fails unless stderr contains `needle` exactly once.
    #[track_caller]
    pub fn assert_stderr_once(&self, needle: &str, why: impl fmt::Display) -> &Self {
        let times = self.stderr.matches(needle).count();
        if times != 1 {
            panic!(
                "{needle:?} on stderr {times} times, not once{}\n{self}",
                because(why)
            );
        }
        self
    }

    /// Fails if stderr contains `needle`, showing the command, its stdout and its stderr.
    #[track_caller]
    pub fn assert_stderr_lacks(&self, needle: &str) -> &Self {
        if self.stderr.contains(needle) {
            panic!("{needle:?} on stderr\n{self}");
        }
        self
    }

    /// Stdout parsed as one JSON document.
    #[track_caller]
    pub fn stdout_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// ` (WHY)`, or nothing when there is no why.
fn because(why: impl fmt::Display) -> String {
    let why = why.to_string();
    if why.is_empty() {
        why
    } else {
        format!(" ({why})")
    }
}

/// Runs `command` to the end with its output captured.
pub fn run(mut command: impl BorrowMut<Command>) -> Ran {
    let command = command.borrow_mut();
    let shown = format!("{command:?}");
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the command runs");
    Ran {
        command: shown,
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
