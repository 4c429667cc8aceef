//! `make bench`: throughput and memory of the real binary against the in-process sandbox.
//! Prints one line per figure; the targets come from the issues.
//!
//! Three groups: `scale` (issue 13: diff, validate and plans at a million users, against the
//! parse floor), `throughput` (issue 2: validation, imports and exports at full speed) and
//! `pressure` (issue 9: a provider that throttles, a ceiling that moves, faults). Name one to run
//! only it: `cargo bench --bench pipeline -- pressure`; `phones`, `diff`, `validate` and `plans`
//! name the parts of `scale`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roster::sandbox::{Faults, Sandbox, SandboxConfig};

mod scale;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

struct Measured {
    seconds: f64,
    peak_rss_mb: f64,
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run the binary, sampling its peak RSS (VmHWM) from /proc while it runs.
fn measure(args: &[&str], env: &[(&str, String)]) -> Measured {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster runs");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let stderr = child.stderr.take().expect("piped");
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Measured {
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: peak_kb as f64 / 1024.0,
        code: status.code().unwrap_or(-1),
        stdout: reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn write_sheet(path: &Path, rows: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "extension,name,phone_number,password,start_time,end_time,sms_alert"
    )
    .unwrap();
    for i in 0..rows {
        writeln!(
            out,
            "{},Agent Number {i},9198{:08},Welcome@{i},9,18,yes",
            100_000 + i,
            i
        )
        .unwrap();
    }
}

fn csv_baseline(path: &Path) -> (usize, f64) {
    let started = Instant::now();
    let mut reader = csv::Reader::from_path(path).unwrap();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).unwrap() {
        rows += 1;
    }
    (rows, started.elapsed().as_secs_f64())
}

struct Server {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
}

impl Server {
    fn start(config: SandboxConfig) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(Sandbox::start("127.0.0.1:0".parse().unwrap(), config))
            .unwrap();
        Server {
            runtime,
            sandbox: Some(sandbox),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let sandbox = self.sandbox.as_ref().unwrap();
        vec![
            ("ROSTER_BASE_URL", sandbox.base_url()),
            (
                "TELECMI_APP_ID",
                roster::sandbox::DEFAULT_APP_ID.to_string(),
            ),
            (
                "TELECMI_SECRET",
                roster::sandbox::DEFAULT_SECRET.to_string(),
            ),
        ]
    }

    fn stop(mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.stop());
        }
    }
}

fn json_field(stdout: &str, field: &str) -> f64 {
    let value: serde_json::Value = serde_json::from_str(stdout).expect("summary JSON on stdout");
    value[field].as_f64().unwrap_or(f64::NAN)
}

fn latency(ms: u64) -> Faults {
    Faults {
        latency: Duration::from_millis(ms),
        ..Faults::default()
    }
}

fn main() {
    // `cargo bench` passes --bench; other words name the groups to run (default: all), e.g.
    // `cargo bench --bench pipeline -- pressure`, or a part of `scale`: `phones`, `diff`, `validate`,
    // `plans`.
    let groups: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |group: &str| groups.is_empty() || groups.iter().any(|g| g == group);
    scale::run(|part| wanted("scale") || wanted(part));
    if wanted("throughput") {
        throughput();
    }
    if wanted("pressure") {
        pressure();
    }
}

/// The `throughput` group: validate, import and export throughput against the sandbox.
fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let big: PathBuf = dir.path().join("agents-1m.csv");
    write_sheet(&big, 1_000_000);
    let size_mb = std::fs::metadata(&big).unwrap().len() as f64 / 1e6;

    let (rows, seconds) = csv_baseline(&big);
    let baseline = rows as f64 / seconds;
    println!("csv crate plain read: {rows} rows ({size_mb:.0} MB) in {seconds:.2} s = {baseline:.0} rows/s");
    let m = measure(
        &[
            "-q",
            "validate",
            big.to_str().unwrap(),
            "--mode",
            "add",
            "--extension-digits",
            "2-7",
        ],
        &[],
    );
    assert_eq!(m.code, 0, "the generated sheet is valid");
    let rate = 1_000_000.0 / m.seconds;
    println!(
        "roster validate 1,000,000 rows: {:.2} s = {rate:.0} rows/s (target >= 1,000,000), {:.0}% of the csv read, peak RSS {:.1} MB (target < 64)",
        m.seconds,
        100.0 * rate / baseline,
        m.peak_rss_mb
    );

    let sheet = dir.path().join("agents-20k.csv");
    write_sheet(&sheet, 20_000);
    let server = Server::start(SandboxConfig {
        faults: latency(20),
        ..SandboxConfig::default()
    });
    let m = measure(
        &[
            "-q",
            "import",
            sheet.to_str().unwrap(),
            "--mode",
            "add",
            "--rate",
            "500",
            "--concurrency",
            "32",
            "--json",
            "--report",
            dir.path().join("r1.csv").to_str().unwrap(),
        ],
        &server.env(),
    );
    let achieved = json_field(&m.stdout, "achieved_rate");
    println!(
        "import 20,000 rows, 20 ms latency, --rate 500 --concurrency 32: {:.1} s, {achieved:.1} req/s = {:.3} of the configured rate (target >= 0.95), peak RSS {:.1} MB, exit {}",
        m.seconds,
        achieved / 500.0,
        m.peak_rss_mb,
        m.code
    );
    server.stop();

    let server = Server::start(SandboxConfig {
        faults: latency(20),
        ..SandboxConfig::default()
    });
    let m = measure(
        &[
            "-q",
            "import",
            sheet.to_str().unwrap(),
            "--mode",
            "add",
            "--rate",
            "0",
            "--concurrency",
            "64",
            "--json",
            "--report",
            dir.path().join("r2.csv").to_str().unwrap(),
        ],
        &server.env(),
    );
    let limit = 64.0 / 0.020;
    println!(
        "import 20,000 rows, 20 ms latency, no rate limit, --concurrency 64: {:.1} s = {:.0} rows/s ({:.2} of the {limit:.0}/s that 64 in flight allow), exit {}",
        m.seconds,
        20_000.0 / m.seconds,
        20_000.0 / m.seconds / limit,
        m.code
    );
    server.stop();

    for users in [10_000usize, 100_000] {
        let server = Server::start(SandboxConfig {
            seed_telecmi: users,
            faults: latency(20),
            ..SandboxConfig::default()
        });
        let out = dir.path().join("export.csv");
        let m = measure(
            &[
                "-q",
                "export",
                "--provider",
                "telecmi",
                "--output",
                out.to_str().unwrap(),
                "--rate",
                "500",
                "--concurrency",
                "32",
                "--page-size",
                "100",
                "--json",
            ],
            &server.env(),
        );
        let pages = json_field(&m.stdout, "pages");
        let physical = 500f64.min(32.0 / 0.020);
        println!(
            "export {users} TeleCMI users, 20 ms latency, --rate 500 --concurrency 32: {pages} pages in {:.2} s = {:.0} pages/s, {:.2} of min(rate, concurrency/latency) = {physical:.0} (target >= 0.8), peak RSS {:.1} MB (target < 64), exit {}",
            m.seconds,
            pages / m.seconds,
            pages / m.seconds / physical,
            m.peak_rss_mb,
            m.code
        );
        server.stop();
    }
}

/// An import of `rows` new users into a fresh sandbox with `faults`; the client's summary, the
/// sandbox's statistics and the run.
fn pressure_run(
    dir: &Path,
    name: &str,
    rows: usize,
    faults: Faults,
    client: &[&str],
) -> (serde_json::Value, roster::sandbox::SandboxStats, Measured) {
    let sheet = dir.join(format!("{name}.csv"));
    write_sheet(&sheet, rows);
    let report = dir.join(format!("{name}.results.csv"));
    let server = Server::start(SandboxConfig {
        faults,
        ..SandboxConfig::default()
    });
    let mut args = vec![
        "-q",
        "import",
        sheet.to_str().unwrap(),
        "--mode",
        "add",
        "--json",
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(client);
    let m = measure(&args, &server.env());
    let stats = server.sandbox.as_ref().unwrap().stats();
    server.stop();
    let summary = serde_json::from_str(&m.stdout).unwrap_or(serde_json::Value::Null);
    (summary, stats, m)
}

/// Creations per second between `from` and `to` (seconds since the sandbox started).
fn creations_per_second(creations: &[Duration], from: f64, to: f64) -> f64 {
    let n = creations
        .iter()
        .filter(|c| (from..to).contains(&c.as_secs_f64()))
        .count();
    n as f64 / (to - from)
}

fn throttled_share(summary: &serde_json::Value) -> f64 {
    summary["throttled"].as_f64().unwrap_or(f64::NAN)
        / summary["requests"].as_f64().unwrap_or(f64::NAN)
}

fn pressure() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // 1. Sporadic: 3% random 429s, no real ceiling.
    let (summary, _, m) = pressure_run(
        dir,
        "sporadic",
        1500,
        Faults {
            throttle_rate: 0.03,
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
        &["--rate", "100", "--concurrency", "8"],
    );
    let rate = summary["requests"].as_f64().unwrap_or(f64::NAN)
        / summary["duration_seconds"].as_f64().unwrap_or(f64::NAN);
    println!(
        "pressure 1, sporadic 429s (3%, 20 ms), --rate 100 --concurrency 8, 1,500 rows: {rate:.1} req/s over the run = {:.3} of 100 (target >= 0.85), lowest rate {}, exit {}",
        rate / 100.0,
        summary["lowest_rate"],
        m.code
    );

    // 2. A steady ceiling of 40 req/s.
    let (summary, stats, m) = pressure_run(
        dir,
        "ceiling",
        600,
        Faults {
            rate_limit: Some(40.0),
            ..Faults::default()
        },
        &["--rate", "120", "--concurrency", "8"],
    );
    let first = stats.creations.first().map_or(0.0, Duration::as_secs_f64);
    let last = stats.creations.last().map_or(0.0, Duration::as_secs_f64);
    let adds = (stats.creations.len() as f64 - 1.0) / (last - first);
    println!(
        "pressure 2, ceiling 40 req/s, --rate 120 --concurrency 8, 600 rows: {adds:.1} adds/s first to last = {:.3} of 40 (target >= 0.9), {:.3} of requests 429 (target <= 0.05), exit {}",
        adds / 40.0,
        throttled_share(&summary),
        m.code
    );

    // 3. A moving ceiling: 40, then 15, then 60 req/s, 10 s each.
    let (summary, stats, m) = pressure_run(
        dir,
        "moving",
        1400,
        Faults {
            rate_schedule: vec![
                (Duration::ZERO, 40.0),
                (Duration::from_secs(10), 15.0),
                (Duration::from_secs(20), 60.0),
            ],
            ..Faults::default()
        },
        &["--rate", "120", "--concurrency", "8"],
    );
    let phases: Vec<String> = [(40.0, 10.0), (15.0, 20.0), (60.0, 30.0)]
        .iter()
        .map(|&(limit, end)| {
            let adds = creations_per_second(&stats.creations, end - 5.0, end);
            format!("{:.3} of {limit}", adds / limit)
        })
        .collect();
    println!(
        "pressure 3, ceiling 40 -> 15 -> 60 req/s (10 s each), --rate 120, 1,400 rows: adds/s over each phase's last 5 s = {} (target >= 0.8 each), {:.3} of requests 429, exit {}",
        phases.join(", "),
        throttled_share(&summary),
        m.code
    );

    // 4. Auto: an unknown limit of 60 req/s.
    let (summary, stats, m) = pressure_run(
        dir,
        "auto",
        1300,
        Faults {
            rate_limit: Some(60.0),
            ..Faults::default()
        },
        &["--rate", "auto", "--concurrency", "8"],
    );
    let last = stats.creations.last().map_or(0.0, Duration::as_secs_f64);
    let adds = creations_per_second(&stats.creations, 10.0, last + 1e-9);
    println!(
        "pressure 4, limit 60 req/s unknown, --rate auto --concurrency 8, 1,300 rows: {adds:.1} adds/s after the first 10 s = {:.3} of 60 (target >= 0.85), {:.3} of requests 429 (target <= 0.05), highest rate {:.1}, exit {}",
        adds / 60.0,
        throttled_share(&summary),
        summary["highest_rate"].as_f64().unwrap_or_default(),
        m.code
    );

    // 5. The fault mix, no request meeting more than 3 faults in a row.
    let (summary, stats, m) = pressure_run(
        dir,
        "faults",
        1000,
        Faults {
            error_rate: 0.2,
            throttle_rate: 0.03,
            lost_add_rate: 0.05,
            max_fault_streak: Some(3),
            ..Faults::default()
        },
        &["--rate", "100", "--concurrency", "8"],
    );
    println!(
        "pressure 5, 20% 500s + 3% 429s + 5% lost adds (at most 3 in a row), --rate 100 --concurrency 8, 1,000 rows: exit {} (target 0) in {:.1} s (target <= 30), {} users created by {} creations (target 1,000 each, once), {} ok",
        m.code,
        m.seconds,
        stats.adds_committed,
        stats.creations.len(),
        summary["counts"]["ok"]
    );
}
