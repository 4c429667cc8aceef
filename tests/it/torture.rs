//! Crash torture (`make torture`, outside `make test`): the real binary is killed with SIGKILL at
//! 100 random moments across `import` (add, update, upsert) and `migrate --apply`, with faults on,
//! each kill followed by `--resume`, and a last resume that completes. Asserts: no user created
//! twice, no row lost, the final report covers every row. Prints how many rows the resumes sent
//! again (done at the provider before the kill, not yet in the journal).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roster::sandbox::{Faults, SandboxConfig};

use crate::common::*;

/// Kills per scenario; four scenarios make 100.
const KILLS: usize = 25;
const ROWS: u32 = 1000;
const FIRST: u32 = 10_000;

fn faults() -> Faults {
    Faults {
        error_rate: 0.05,
        throttle_rate: 0.03,
        lost_add_rate: 0.03,
        max_fault_streak: Some(3),
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(5),
        ..Faults::default()
    }
}

/// A seeded xorshift: the run prints its seed, so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn millis(&mut self, from: u64, to: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        from + self.0 % (to - from)
    }
}

/// Adds and updates the provider has received.
fn writes(case: &Case) -> u64 {
    let stats = case.sandbox().stats();
    ["/v2/user/add", "/v2/user/update"]
        .iter()
        .map(|path| stats.by_endpoint.get(*path).copied().unwrap_or(0))
        .sum()
}

/// The extensions the journal records as finished.
fn journaled(journal: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry.get("row").is_some())
        .filter_map(|entry| entry["extension"].as_str().map(str::to_string))
        .collect()
}

/// One scenario: `command(resume)` run, killed at a random moment, resumed, `KILLS` times, then a
/// resume to the end. `done` says which extensions the provider holds as the sheet wants them.
/// Returns the rows sent again across the kills.
fn torture(
    case: &Case,
    name: &str,
    dice: &mut Dice,
    journal: &Path,
    command: impl Fn(bool) -> Command,
    done: impl Fn(&Case) -> HashSet<String>,
) -> usize {
    let mut resent = 0;
    for kill in 0..KILLS {
        let mut child = command(kill > 0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("roster starts");
        // A random moment once rows are being written (before that, a kill tests nothing the
        // journal has to survive): after this run's first add or update reached the provider.
        let writes_before = writes(case);
        wait_until(Duration::from_secs(60), "the run's first write", || {
            writes(case) > writes_before
        });
        std::thread::sleep(Duration::from_millis(dice.millis(0, 400)));
        let finished = child.try_wait().unwrap();
        assert!(
            finished.is_none(),
            "{name}: the run ended before kill {kill} ({finished:?}); make it longer"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        // Requests already on their way are answered.
        std::thread::sleep(Duration::from_millis(30));
        let at_provider = done(case);
        let recorded = journaled(journal);
        resent += at_provider.difference(&recorded).count();
    }
    let before_last = journaled(journal).len();
    let started = Instant::now();
    let status = command(true).status().unwrap();
    assert_eq!(status.code(), Some(0), "{name}: the last resume completes");
    eprintln!(
        "{name}: {KILLS} kills, {before_last} rows journaled before the last resume ({:.1} s), {resent} rows sent again",
        started.elapsed().as_secs_f64()
    );
    resent
}

/// Every row is in the report once, ok (or skipped as already done by a killed run).
fn assert_every_row_reported(report: &Path, rows: usize, name: &str) {
    let rows_read = read_csv(report);
    assert_rows_numbered(&rows_read, rows);
    for row in &rows_read {
        let fine = row["outcome"] == "ok"
            || (row["outcome"] == "skipped" && !row["message"].contains("not sent"));
        assert!(fine, "{name}: {row:?}");
    }
}

fn sheet(from: u32, count: u32, name: &str) -> String {
    let mut text = String::from(HEADER);
    for ext in from..from + count {
        text.push_str(&format!("{ext},{name} {ext},9192000{ext:05},Secret{ext}\n"));
    }
    text
}

fn import_scenario(mode: &str, seeded: u32, dice: &mut Dice) -> usize {
    let case = Case::start(SandboxConfig {
        faults: faults(),
        ..SandboxConfig::default()
    });
    for ext in FIRST..FIRST + seeded {
        case.insert_telecmi(telecmi_user(ext, "Before", "919100000000", "Secret0"));
    }
    let input = case.write("users.csv", sheet(FIRST, ROWS, "Torture"));
    let report = case.path("report.csv");
    let journal = case.path("report.csv.journal");
    let command = |resume: bool| {
        let mut extra = vec![
            "--rate",
            "100",
            "--concurrency",
            "8",
            "--retry-base",
            "0.05",
        ];
        if resume {
            extra.push("--resume");
        }
        case.roster(&import_args(&input, mode, &report, &extra))
    };
    let done = |case: &Case| -> HashSet<String> {
        case.sandbox()
            .telecmi_users()
            .into_iter()
            .filter(|u| u.name == format!("Torture {}", u.extension))
            .map(|u| u.extension.to_string())
            .collect()
    };
    let name = format!("import --mode {mode}");
    let resent = torture(&case, &name, dice, &journal, command, done);
    assert_every_row_reported(&report, ROWS as usize, &name);
    let users = case.sandbox().telecmi_users();
    assert_eq!(users.len(), ROWS as usize, "{name}: one user per row");
    assert!(users
        .iter()
        .all(|u| u.name == format!("Torture {}", u.extension)));
    assert_eq!(
        case.sandbox().stats().adds_committed,
        u64::from(ROWS - seeded),
        "{name}: no user created twice"
    );
    resent
}

fn migrate_scenario(dice: &mut Dice) -> usize {
    let case = Case::start(SandboxConfig {
        seed_smartflo: ROWS as usize,
        faults: faults(),
        ..SandboxConfig::default()
    });
    let creds = case.path("creds.csv");
    let report = case.path("report.csv");
    let journal = case.path("report.csv.journal");
    let base = [
        "migrate",
        "--from",
        "smartflo",
        "--to",
        "telecmi",
        "--extension-range",
        "20000-29999",
        "--credentials-out",
        arg(&creds),
    ];
    case.run(&base).assert_code(0);
    let planned = read_csv(&creds).len();
    assert!(planned > 0);
    let command = |resume: bool| {
        let mut args = base.to_vec();
        args.extend_from_slice(&["--apply", "--report", arg(&report), "--rate", "100"]);
        args.extend_from_slice(&["--concurrency", "8", "--retry-base", "0.05"]);
        if resume {
            args.push("--resume");
        }
        case.roster(&args)
    };
    let done = |case: &Case| -> HashSet<String> {
        case.sandbox()
            .telecmi_users()
            .into_iter()
            .map(|u| u.extension.to_string())
            .collect()
    };
    let resent = torture(&case, "migrate --apply", dice, &journal, command, done);
    assert_every_row_reported(&report, planned, "migrate --apply");
    assert_eq!(case.sandbox().telecmi_users().len(), planned);
    assert_eq!(
        case.sandbox().stats().adds_committed,
        planned as u64,
        "migrate: no user created twice"
    );
    resent
}

#[test]
#[ignore = "crash torture: run by `make torture`"]
fn torture_sigkill_at_100_moments_then_resume() {
    let seed = std::env::var("TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("torture seed {seed} (TORTURE_SEED={seed} replays the kill moments)");
    let mut dice = Dice(seed);
    let resent = import_scenario("add", 0, &mut dice)
        + import_scenario("update", ROWS, &mut dice)
        + import_scenario("upsert", ROWS / 2, &mut dice)
        + migrate_scenario(&mut dice);
    eprintln!(
        "torture: {} kills, 0 users created twice, 0 rows lost, {resent} rows sent again in all",
        4 * KILLS
    );
}
