//! The `scale` group (#13): diff, validate, sync and migrate at a million users, each figure a
//! ratio against a raw csv `ByteRecord` pass over the same files, measured in the same run.
//! Diff and validate take the fastest of [`RUNS`] runs and of as many floor passes, in turn, so
//! that one busy moment of the machine moves neither side alone.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use roster::sandbox::SandboxConfig;

use super::{measure, write_sheet, Measured, Server};

const USERS: usize = 1_000_000;
const EXPORT_HEADER: &str =
    "agent_id,extension,name,first_name,last_name,phone_number,password,start_time,end_time,sms_alert";

/// A TeleCMI export of `users` users, sorted by key as the walker writes them. `day` 1 is the
/// next night: every 200th user left, every 200th other one changed phone, 0.5% more joined.
/// `shuffled` writes the same users in a scrambled order, as a re-saved sheet might hold them.
fn write_export(path: &Path, users: usize, day: usize, shuffled: bool) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "{EXPORT_HEADER}").unwrap();
    let total = users + day * users / 200;
    let mut order: Vec<usize> = (0..total).collect();
    if shuffled {
        // A fixed permutation: multiply by a number prime to the length.
        let step = (1..)
            .map(|k| 7919 * k + 1)
            .find(|s| gcd(*s, total) == 1)
            .unwrap();
        order = (0..total).map(|i| i * step % total).collect();
    }
    for i in order {
        if day == 1 && i < users && i % 200 == 0 {
            continue;
        }
        let phone = if day == 1 && i % 200 == 100 {
            99_000_000 + i
        } else {
            i
        };
        let extension = 100_000 + i;
        writeln!(
            out,
            "{extension}_1111112,{extension},Agent {i} Rao,Agent {i},Rao,9198{phone:08},,9,18,true"
        )
        .unwrap();
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Timed runs of each diff and validate figure, and floor passes beside them: enough that a
/// busy moment of this shared machine, which slows roster's two threads more often than the
/// floor's one, leaves some run of each untouched.
const RUNS: usize = 5;

/// The fastest of [`RUNS`] runs of roster with `args`, each after a floor pass over `paths`,
/// and the fastest of those passes; the peak RSS is the largest of the runs'.
fn fastest(args: &[&str], paths: &[&Path]) -> (Measured, f64) {
    let mut floor = f64::INFINITY;
    let mut best: Option<Measured> = None;
    let mut peak_rss_mb = 0f64;
    for _ in 0..RUNS {
        floor = floor.min(parse_floor(paths));
        let m = measure(args, &[]);
        peak_rss_mb = peak_rss_mb.max(m.peak_rss_mb);
        if best.as_ref().is_none_or(|best| m.seconds < best.seconds) {
            best = Some(m);
        }
    }
    let best = best.expect("at least one run");
    (
        Measured {
            peak_rss_mb,
            ..best
        },
        floor,
    )
}

/// Seconds for a raw csv pass over `paths`: the parse floor every figure is divided by.
fn parse_floor(paths: &[&Path]) -> f64 {
    let started = Instant::now();
    for path in paths {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record).unwrap() {}
    }
    started.elapsed().as_secs_f64()
}

fn report(what: &str, m: &Measured, floor: f64, target: f64, rss_target: f64) {
    println!(
        "scale: {what}: {:.2} s = {:.2}x the parse floor ({floor:.2} s; target <= {target}x; fastest of {RUNS} each), peak RSS {:.0} MB (target <= {rss_target:.0}), exit {}",
        m.seconds,
        m.seconds / floor,
        m.peak_rss_mb,
        m.code
    );
}

fn diff(dir: &Path) {
    let old = dir.join("old.csv");
    let new = dir.join("new.csv");
    let shuffled = dir.join("new-shuffled.csv");
    write_export(&old, USERS, 0, false);
    write_export(&new, USERS, 1, false);
    write_export(&shuffled, USERS, 1, true);
    for (label, new_path) in [("sorted", &new), ("shuffled", &shuffled)] {
        let files = [old.as_path(), new_path.as_path()];
        let (old, new) = (old.to_str().unwrap(), new_path.to_str().unwrap());
        let (m, floor) = fastest(&["-q", "diff", old, new, "--json"], &files);
        report(
            &format!("diff --json, 1,000,000 users vs a night later ({label})"),
            &m,
            floor,
            3.0,
            256.0,
        );
        let changes = dir.join("changes.csv");
        let (m, floor) = fastest(
            &[
                "-q",
                "diff",
                old,
                new,
                "--output",
                changes.to_str().unwrap(),
            ],
            &files,
        );
        report(
            &format!("diff --output changes.csv ({label})"),
            &m,
            floor,
            3.0,
            256.0,
        );
    }
}

/// A sheet like `write_sheet`'s without the phone column: what validation costs beside
/// libphonenumber, which reads each number in microseconds.
fn write_sheet_without_phones(path: &Path, rows: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "extension,name,password,start_time,end_time,sms_alert").unwrap();
    for i in 0..rows {
        writeln!(out, "{},Agent Number {i},Welcome@{i},9,18,yes", 100_000 + i).unwrap();
    }
}

fn validate(dir: &Path) {
    let sheet = dir.join("validate.csv");
    // Without phones the mode is update, the one that needs no phone column.
    for (label, rows, phones) in [
        ("1,000,000 rows (--mode add)", USERS, true),
        (
            "1,000,000 rows without a phone column (--mode update)",
            USERS,
            false,
        ),
        (
            "10,000,000 rows without a phone column (--mode update)",
            10 * USERS,
            false,
        ),
    ] {
        if phones {
            write_sheet(&sheet, rows);
        } else {
            write_sheet_without_phones(&sheet, rows);
        }
        let (m, floor) = fastest(
            &[
                "-q",
                "validate",
                sheet.to_str().unwrap(),
                "--mode",
                if phones { "add" } else { "update" },
                "--extension-digits",
                "2-8",
            ],
            &[&sheet],
        );
        report(&format!("validate {label}"), &m, floor, 2.0, 64.0);
    }
    // The streaming import path over the same ten million rows: a dry run, with no account to
    // read (empty credentials are none), whose report holds a line for every row.
    let results = dir.join("dry-run.results.csv");
    let no_account = [
        ("TELECMI_APP_ID", String::new()),
        ("TELECMI_SECRET", String::new()),
    ];
    let m = measure(
        &[
            "-q",
            "import",
            sheet.to_str().unwrap(),
            "--mode",
            "update",
            "--dry-run",
            "--extension-digits",
            "2-8",
            "--report",
            results.to_str().unwrap(),
        ],
        &no_account,
    );
    println!(
        "scale: import --dry-run, 10,000,000 rows without a phone column (--mode update): {:.1} s, peak RSS {:.0} MB (target <= 64), exit {}",
        m.seconds, m.peak_rss_mb, m.code
    );
    let _ = std::fs::remove_file(results);
}

/// Sync and migrate plans at `users` on each side (a million is the goal; ROSTER_SCALE_PLAN_USERS
/// sets fewer), against the list walks they start with (exports of the same accounts, timed in
/// the same run).
fn plans(dir: &Path) {
    let users: usize = std::env::var("ROSTER_SCALE_PLAN_USERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(USERS);
    let server = Server::start(SandboxConfig {
        seed_telecmi: users,
        seed_smartflo: users,
        ..SandboxConfig::default()
    });
    let mut env = server.env();
    env.push(("SMARTFLO_TOKEN", roster::sandbox::DEFAULT_TOKEN.to_string()));
    let fast = ["--rate", "0", "--concurrency", "8", "--page-size", "1000"];
    let walk = |provider: &str| {
        let out = dir.join(format!("{provider}.csv"));
        let mut args = vec![
            "-q",
            "export",
            "--provider",
            provider,
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend(fast);
        let m = measure(&args, &env);
        assert_eq!(m.code, 0, "export {provider}");
        m.seconds
    };
    let telecmi_walk = walk("telecmi");
    let smartflo_walk = walk("smartflo");

    // Seed users are extensions 1001 onwards: the sheet renames every one of them.
    let sheet = dir.join("sync.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&sheet).unwrap());
    writeln!(out, "extension,name,phone_number,password").unwrap();
    for i in 0..users {
        writeln!(out, "{},Renamed Agent {i},9198{i:08},Welcome@{i}", 1001 + i).unwrap();
    }
    drop(out);
    let plan = dir.join("plan.json");
    // The walk's own time, from the same run: an export timed apart from it differs by more than
    // the plan costs on a loaded machine.
    env.push(("RUST_LOG", "error,roster::commands=debug".to_string()));
    let mut args = vec![
        "--log-format",
        "json",
        "sync",
        sheet.to_str().unwrap(),
        "--plan-out",
        plan.to_str().unwrap(),
    ];
    args.extend(fast);
    let m = measure(&args, &env);
    println!(
        "scale: sync plan, {users} sheet rows vs {users} users: {:.2} s, {:.2} s beyond its {:.2} s list walk (target <= 3; an export's walk: {telecmi_walk:.2} s), peak RSS {:.0} MB (target <= 512), exit {}",
        m.seconds,
        m.seconds - walk_seconds(&m),
        walk_seconds(&m),
        m.peak_rss_mb,
        m.code
    );

    let credentials = dir.join("credentials.csv");
    let mut args = vec![
        "--log-format",
        "json",
        "migrate",
        "--from",
        "smartflo",
        "--to",
        "telecmi",
        "--extension-range",
        "2000000-9999999",
        "--extension-digits",
        "2-7",
        "--credentials-out",
        credentials.to_str().unwrap(),
        "--plan-out",
        plan.to_str().unwrap(),
    ];
    args.extend(fast);
    let m = measure(&args, &env);
    println!(
        "scale: migrate plan, {users} Smartflo users into {users} TeleCMI users: {:.2} s, {:.2} s beyond its {:.2} s of both list walks at once (target <= 3; exports' walks: {telecmi_walk:.2} s and {smartflo_walk:.2} s), peak RSS {:.0} MB (target <= 512), exit {}",
        m.seconds,
        m.seconds - walk_seconds(&m),
        walk_seconds(&m),
        m.peak_rss_mb,
        m.code
    );
    server.stop();
}

/// The `walk_seconds` a plan logs (`--log-format json`, debug) once its rosters are read.
fn walk_seconds(m: &Measured) -> f64 {
    m.stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|event| event.get("walk_seconds")?.as_f64())
        .unwrap_or_else(|| panic!("no walk_seconds in the log: {}", m.stderr))
}

/// What reading one phone number costs, in process (the figures of vendor/regex-cache/ROSTER.md).
fn phones(_: &Path) {
    use roster::phone::PhoneRule;
    let rule = |region: &str| PhoneRule::new(Some(region.parse().unwrap()));
    let numbers = 300_000u32;
    type Written = fn(u32) -> String;
    let forms: [(&str, PhoneRule, Written); 3] = [
        ("Indian, 9198xxxxxxxx, region IN", rule("IN"), |i| {
            format!("9198{i:08}")
        }),
        ("Indian, 98xxxxxxxx, region IN", rule("IN"), |i| {
            format!("98{i:08}")
        }),
        ("US, (202) 555-xxxx, region US", rule("US"), |i| {
            format!("(202) 555-{:04}", i % 10_000)
        }),
    ];
    for (label, rule, text) in forms {
        let texts: Vec<String> = (0..numbers).map(text).collect();
        let started = Instant::now();
        let read = texts.iter().filter(|t| rule.read(t).is_ok()).count();
        println!(
            "scale: phone numbers, {label}: {:.2} us a reading ({read} of {numbers} read)",
            started.elapsed().as_secs_f64() * 1e6 / f64::from(numbers)
        );
    }
}

/// The parts `wanted` names: `phones`, `diff`, `validate`, `plans`.
pub fn run(wanted: impl Fn(&str) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    type Part = fn(&Path);
    let parts: [(&str, Part); 4] = [
        ("phones", phones),
        ("diff", diff),
        ("validate", validate),
        ("plans", plans),
    ];
    for (name, part) in parts {
        if wanted(name) {
            part(dir.path());
        }
    }
}
