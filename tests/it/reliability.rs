//! Reliability (issue 5): retries that never duplicate a user, fast abort on rejected credentials,
//! crash-safe resume, locking, signals, malformed provider answers and hostile input.
//! The real binary against the in-process sandbox (or raw-HTTP fakes), each test a few seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use roster::sandbox::Faults;

/// Every extension `from..from+count` exists exactly once, with the row's data, and nothing else.
#[track_caller]
fn assert_users_created_once(case: &Case, from: u32, count: u32) {
    let users = case.sandbox().telecmi_users();
    let extensions: Vec<u32> = users.iter().map(|u| u.extension).collect();
    assert_eq!(
        extensions,
        (from..from + count).collect::<Vec<u32>>(),
        "every user exists exactly once"
    );
    for user in &users {
        let ext = user.extension;
        assert_eq!(user.name, format!("Agent {ext}"));
        assert_eq!(user.phone_number, format!("9192000{ext:05}"));
        assert_eq!(user.password, format!("Secret{ext}"));
    }
    assert_eq!(
        case.sandbox().stats().adds_committed,
        u64::from(count),
        "each user was created exactly once"
    );
}

/// `users.csv` with add rows for extensions `from..from+count`, and `report.csv` for its report.
fn add_sheet(case: &Case, from: u32, count: u32) -> (PathBuf, PathBuf) {
    let input = case.write("users.csv", add_rows(from, count));
    (input, case.path("report.csv"))
}

/// `import INPUT --mode add --report REPORT EXTRA...`
fn add_args<'a>(input: &'a Path, report: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    import_args(input, "add", report, extra)
}

fn journal_of(report: &Path) -> PathBuf {
    let mut name = report.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

// ---- retries under a fault mix ----

#[test]
fn fault_mix_creates_every_user_exactly_once() {
    let case = Case::with_faults(Faults {
        error_rate: 0.2,
        throttle_rate: 0.1,
        retry_after_secs: 1,
        lost_add_rate: 0.05,
        jitter: Duration::from_millis(5),
        ..Default::default()
    });
    let (input, report) = add_sheet(&case, 10_000, 1000);
    let summary = case.path("summary.json");
    let args = add_args(
        &input,
        &report,
        &[
            "--rate",
            "0",
            "--concurrency",
            "16",
            "--max-attempts",
            "12",
            "--retry-base",
            "0.01",
            "--retry-max-wait",
            "0.05",
            "--summary",
            arg(&summary),
        ],
    );
    let ran = run_at_most(case.roster(&args), Duration::from_secs(60), "import");
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 1000);
    assert_all_ok(&rows);
    ran.assert_code(0);
    assert_users_created_once(&case, 10_000, 1000);

    let summary = read_json(&summary);
    assert_eq!(summary["counts"]["ok"], 1000);
    assert!(summary["retries"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["throttled"].as_u64().unwrap() > 0, "{summary}");
    let stats = case.sandbox().stats();
    assert!(
        stats.by_endpoint.get("/v3/user/get").copied().unwrap_or(0) > 0,
        "unknown outcomes were read back: {:?}",
        stats.by_endpoint
    );
    assert!(
        rows.iter().any(|r| r["message"].contains("lost response")),
        "some rows were confirmed after a lost response"
    );
    let tally =
        |column: &str| -> Vec<u64> { rows.iter().map(|r| r[column].parse().unwrap()).collect() };
    let (attempts, requests) = (tally("attempts"), tally("requests"));
    assert!(
        attempts.iter().all(|&a| (1..=12).contains(&a)),
        "an add's tries, re-sends included, stay within --max-attempts: {attempts:?}"
    );
    assert_eq!(
        attempts.iter().sum::<u64>(),
        stats.by_endpoint["/v2/user/add"],
        "attempts count every add request and nothing else"
    );
    assert_eq!(
        requests.iter().sum::<u64>() - attempts.iter().sum::<u64>(),
        stats.by_endpoint["/v3/user/get"],
        "requests count the read-backs too"
    );
}

// ---- stop fast when continuing is pointless ----

#[test]
fn wrong_secret_exits_3_within_a_few_requests() {
    let case = Case::new();
    let (input, report) = add_sheet(&case, 1000, 200);
    let args = add_args(
        &input,
        &report,
        &["--rate", "0", "--concurrency", "4", "--json"],
    );
    let mut command = case.roster(&args);
    command.env("TELECMI_SECRET", "Not-The-Secret-4242");
    let ran = run_at_most(command, Duration::from_secs(20), "import");
    ran.assert_code(3);
    assert!(!ran.stderr.contains("Not-The-Secret-4242"));
    assert!(!ran.stdout.contains("Not-The-Secret-4242"));

    let stats = case.sandbox().stats();
    assert!(
        stats.requests <= 4 + 3,
        "at most a handful of requests after the first rejection: {stats:?}"
    );
    assert_eq!(stats.adds_committed, 0);

    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 200);
    let failed = count(&rows, "failed");
    let skipped = count(&rows, "skipped");
    assert_eq!(failed + skipped, 200, "{:?}", outcomes(&rows));
    assert!(failed >= 1 && failed as u64 <= stats.requests);
    for row in rows.iter().filter(|r| r["outcome"] == "skipped") {
        assert_eq!(row["attempts"], "0", "{row:?}");
        assert!(row["message"].contains("not sent"), "{row:?}");
    }
    let summary = ran.stdout_json();
    assert!(summary["aborted"].is_string(), "{summary}");
    assert_eq!(summary["exit_code"], 3);

    // With the secret fixed, --resume sends every row again, those that failed on the bad secret too.
    let resumed_args = add_args(
        &input,
        &report,
        &["--rate", "0", "--concurrency", "4", "--resume"],
    );
    run_at_most(
        case.roster(&resumed_args),
        Duration::from_secs(20),
        "resume",
    )
    .assert_code(0);
    assert_eq!(count(&read_csv(&report), "ok"), 200);
    assert_users_created_once(&case, 1000, 200);
}

/// Users 201..=203 exist; the update sheet names them and two agents the account does not have:
/// one with every field (the update answers 401 "Invalid user ID") and one with a name only (the
/// read answers 404).
fn update_sheet_with_unknown_agents(case: &Case) -> PathBuf {
    for ext in 201..=203 {
        case.insert_telecmi(telecmi_user(
            ext,
            &format!("Old {ext}"),
            &format!("9192000{ext:05}"),
            &format!("Secret{ext}"),
        ));
    }
    case.write(
        "updates.csv",
        "extension,name,phone_number,password\n\
         201,New 201,919200000201,Secret201\n\
         299,Nobody Here,919200000299,Secret299\n\
         202,New 202,919200000202,Secret202\n\
         298,Name Only,,\n\
         203,New 203,919200000203,Secret203\n",
    )
}

#[test]
fn an_unknown_agent_fails_only_its_row_when_the_credentials_are_fine() {
    let case = Case::new();
    let input = update_sheet_with_unknown_agents(&case);
    let report = case.path("report.csv");
    let ran = case.run(&import_args(
        &input,
        "update",
        &report,
        &["--rate", "0", "--concurrency", "1", "--json"],
    ));
    ran.assert_code_because(1, "a row failure, not an abort");
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 5);
    assert_eq!(outcomes(&rows), ["ok", "failed", "ok", "failed", "ok"]);
    for (index, agent) in [(1, agent_id(299)), (3, agent_id(298))] {
        let message = &rows[index]["message"];
        assert!(
            message.contains(&format!("no user {agent}")) && message.contains("in the account"),
            "row {}: {message:?}",
            index + 1
        );
        assert!(
            !message.to_lowercase().contains("authentication"),
            "{message:?}"
        );
    }
    let summary = ran.stdout_json();
    assert!(summary["aborted"].is_null(), "{summary}");
    assert_eq!(case.telecmi_names(), ["New 201", "New 202", "New 203"]);
}

#[test]
fn a_wrong_secret_stops_an_update_run_at_its_first_request() {
    let case = Case::new();
    let input = update_sheet_with_unknown_agents(&case);
    let report = case.path("report.csv");
    let mut command = case.roster(&import_args(
        &input,
        "update",
        &report,
        &["--rate", "0", "--concurrency", "1"],
    ));
    command.env("TELECMI_SECRET", "Not-The-Secret-4242");
    run(command).assert_code(3);
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 5);
    for row in &rows {
        assert_eq!(row["outcome"], "skipped");
        assert_message_contains(row, "authentication rejected");
    }
    // The read of the account before the rows: TeleCMI's list answers 401 for bad credentials
    // only, so no call is needed to tell them apart from an unknown user.
    assert_eq!(case.sandbox().stats().requests, 1);
}

#[test]
fn an_unreachable_provider_aborts_after_a_few_rows() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path(), "users.csv", add_rows(1000, 20));
    let report = dir.path().join("report.csv");
    let command = roster_at(
        &format!("http://127.0.0.1:{port}"),
        &add_args(
            &input,
            &report,
            &[
                "--rate",
                "0",
                "--concurrency",
                "1",
                "--max-attempts",
                "2",
                "--retry-base",
                "0.01",
            ],
        ),
    );
    run_at_most(command, Duration::from_secs(20), "import").assert_code(3);
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 20);
    let failed = count(&rows, "failed");
    assert!((1..=4).contains(&failed), "{:?}", outcomes(&rows));
    assert_eq!(count(&rows, "skipped"), 20 - failed);
    assert_message_contains(&rows[0], "unreachable");
    assert_eq!(rows[0]["attempts"], "2", "--max-attempts applies");
}

#[test]
fn user_limit_fails_the_remaining_adds_without_sending_them() {
    let case = Case::with_user_limit(5);
    let (input, report) = add_sheet(&case, 1000, 10);
    case.run(&add_args(
        &input,
        &report,
        &["--rate", "0", "--concurrency", "1"],
    ))
    .assert_code(1);
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 10);
    assert_eq!(count(&rows, "ok"), 5, "{:?}", outcomes(&rows));
    assert_eq!(count(&rows, "failed"), 5);
    for row in rows.iter().filter(|r| r["outcome"] == "failed") {
        assert_message_contains(row, "User limit reached");
    }
    let adds = case.sandbox().stats().by_endpoint["/v2/user/add"];
    assert!(adds <= 6, "{adds} adds sent");
    assert_eq!(case.sandbox().telecmi_users().len(), 5);
}

#[test]
fn retry_after_slows_the_run_to_the_providers_limit() {
    let case = Case::with_faults(Faults {
        rate_limit: Some(5.0),
        retry_after_secs: 1,
        ..Default::default()
    });
    let (input, report) = add_sheet(&case, 1000, 30);
    let started = Instant::now();
    let ran = run_at_most(
        case.roster(&add_args(
            &input,
            &report,
            &["--rate", "50", "--retry-max-wait", "2", "--json"],
        )),
        Duration::from_secs(60),
        "import",
    );
    let took = started.elapsed();
    let rows = read_csv(&report);
    assert_all_ok(&rows); // slowed down instead of failing
    ran.assert_code(0);
    assert_users_created_once(&case, 1000, 30);
    let summary = ran.stdout_json();
    assert!(summary["throttled"].as_u64().unwrap() > 0, "{summary}");
    assert!(
        took >= Duration::from_secs(5),
        "30 adds at 5 req/s take about 6 s: {took:?}"
    );
    let lowest = summary["lowest_rate"].as_f64().expect("lowest_rate");
    assert!(
        lowest <= 25.0,
        "a 429 lowers the rate (multiplicative decrease): {summary}"
    );
    assert!(
        took < Duration::from_secs(25),
        "settles near the provider's limit instead of crawling: {took:?}"
    );
    eprintln!(
        "rate-limited run: {took:?}, {} requests, {} throttled, {:.1} req/s achieved, rate lowered to {lowest:.1}, {} at the end",
        summary["requests"], summary["throttled"], summary["achieved_rate"], summary["effective_rate"]
    );
}

// ---- resume ----

#[test]
fn sigkill_mid_run_then_resume_creates_every_user_exactly_once() {
    let case = Case::with_latency(Duration::from_millis(20));
    let (input, report) = add_sheet(&case, 1000, 400);
    let args = add_args(&input, &report, &["--rate", "100", "--concurrency", "4"]);
    let mut child = case.spawn(&args);
    // Past the journal's first one-second sync, with adds in flight.
    wait_until(Duration::from_secs(20), "150 adds", || {
        case.sandbox().stats().adds_committed >= 150
    });
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal, not finished");
    let committed = case.sandbox().stats().adds_committed;
    assert!(committed < 400, "the run was cut short: {committed}");
    let adds_before = case.sandbox().stats().by_endpoint["/v2/user/add"];

    let resume = [&args[..], &["--resume", "--json"]].concat();
    let ran = run_at_most(case.roster(&resume), Duration::from_secs(30), "resume");
    ran.assert_code(0);
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 400);
    assert_eq!(count(&rows, "failed"), 0, "{:?}", not_ok(&rows));
    assert_eq!(
        count(&rows, "ok") + count(&rows, "skipped"),
        400,
        "{:?}",
        not_ok(&rows)
    );
    for row in rows.iter().filter(|r| r["outcome"] == "skipped") {
        assert!(row["message"].contains("already in the account"), "{row:?}");
    }
    assert_users_created_once(&case, 1000, 400);
    let summary = ran.stdout_json();
    let resumed = summary["resumed_rows"].as_u64().unwrap();
    assert!(resumed > 0 && resumed <= committed, "{summary}");
    let adds_resumed = case.sandbox().stats().by_endpoint["/v2/user/add"] - adds_before;
    assert_eq!(
        adds_resumed,
        400 - resumed,
        "journaled rows are not sent again, every other row once"
    );
}

#[test]
fn resume_is_refused_for_another_file_account_or_mode_and_without_a_journal() {
    let case = Case::new();
    let (input, report) = add_sheet(&case, 1000, 5);
    let first = case.run(&add_args(&input, &report, &["--rate", "0"]));
    first.assert_code(0);
    let journal = journal_of(&report);
    let report_before = std::fs::read(&report).unwrap();
    let journal_before = std::fs::read(&journal).unwrap();
    let requests_before = case.sandbox().stats().requests;

    let refused = |command: Command, what: &str| -> String {
        let ran = run(command);
        ran.assert_code_because(2, what);
        assert_eq!(
            case.sandbox().stats().requests,
            requests_before,
            "{what}: nothing sent"
        );
        assert_eq!(std::fs::read(&report).unwrap(), report_before, "{what}");
        assert_eq!(std::fs::read(&journal).unwrap(), journal_before, "{what}");
        ran.stderr
    };

    // another input file, same report
    let other = case.write("other.csv", add_rows(2000, 5));
    let stderr = refused(
        case.roster(&import_args(&other, "add", &report, &["--resume"])),
        "another file",
    );
    assert!(stderr.contains("input file"), "{stderr}");

    // the same file, edited since
    std::fs::write(&input, add_rows(1000, 6)).unwrap();
    let stderr = refused(
        case.roster(&add_args(&input, &report, &["--resume"])),
        "an edited file",
    );
    assert!(stderr.contains("input file"), "{stderr}");
    std::fs::write(&input, add_rows(1000, 5)).unwrap();

    // another account
    let mut command = case.roster(&add_args(&input, &report, &["--resume"]));
    command.env("TELECMI_APP_ID", "7777777");
    let stderr = refused(command, "another app id");
    assert!(
        stderr.contains(&APP_ID.to_string()) && stderr.contains("7777777"),
        "names both accounts: {stderr}"
    );

    // another mode
    let args = import_args(&input, "upsert", &report, &["--resume"]);
    let stderr = refused(case.roster(&args), "another mode");
    assert!(stderr.contains("--mode"), "{stderr}");

    // no journal
    let fresh = case.path("fresh.csv");
    let ran = case.run(&import_args(&input, "add", &fresh, &["--resume"]));
    ran.assert_code(2);
    ran.assert_stderr_contains("nothing to resume");
    assert_eq!(case.sandbox().stats().requests, requests_before);
    assert!(!fresh.exists(), "no report for a refused resume");

    // the untouched file still resumes: everything replayed, nothing sent
    let ran = case.run(&add_args(&input, &report, &["--resume", "--json"]));
    ran.assert_code(0);
    assert_eq!(ran.stdout_json()["resumed_rows"], 5);
    assert_eq!(case.sandbox().stats().requests, requests_before);
}

#[test]
fn a_torn_last_journal_line_is_dropped_with_a_warning() {
    let case = Case::new();
    let (input, report) = add_sheet(&case, 1000, 20);
    let args = add_args(&input, &report, &["--rate", "0"]);
    let first = case.run(&args);
    first.assert_code(0);

    // As if the run had been killed mid-write after row 10: header, segment mark, ten rows, a torn line.
    let journal = journal_of(&report);
    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + 20, "{text}");
    let mut torn = lines[..12].join("\n");
    torn.push('\n');
    torn.push_str(&lines[12][..lines[12].len() / 2]);
    std::fs::write(&journal, torn).unwrap();

    let resume = [&args[..], &["--resume", "--json"]].concat();
    let ran = case.run(&resume);
    ran.assert_code(0);
    ran.assert_stderr_contains_because("torn", "warns about the torn line");
    assert_eq!(ran.stdout_json()["resumed_rows"], 10);
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 20);
    assert_eq!(count(&rows, "failed"), 0, "{:?}", not_ok(&rows));
    assert!(rows[..10].iter().all(|r| r["message"] == "created"));
    assert_users_created_once(&case, 1000, 20);

    // The journal is whole again: every line JSON, and a second resume replays all 20 rows.
    for line in std::fs::read_to_string(&journal).unwrap().lines() {
        json(line);
    }
    let requests = case.sandbox().stats().requests;
    let ran = case.run(&resume);
    ran.assert_code(0);
    ran.assert_stderr_lacks("torn");
    assert_eq!(ran.stdout_json()["resumed_rows"], 20);
    assert_eq!(case.sandbox().stats().requests, requests, "nothing sent");
    assert_rows_numbered(&read_csv(&report), 20);
}

// ---- locking ----

#[test]
fn a_second_run_on_the_same_report_is_refused_while_the_first_runs() {
    let case = Case::with_latency(Duration::from_millis(50));
    let (input, report) = add_sheet(&case, 1000, 10);
    let args = add_args(&input, &report, &["--rate", "5"]);
    let mut first = case.spawn(&args);
    case.wait_for_requests(1, "the first run to start");

    for extra in [&[][..], &["--resume"][..]] {
        let second = [&args[..], extra].concat();
        let started = Instant::now();
        let ran = run_at_most(case.roster(&second), Duration::from_secs(10), "second run");
        ran.assert_code(2)
            .assert_stderr_contains("another roster run");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "refused at once"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run was still going"
        );
    }

    let status = wait_at_most(&mut first, Duration::from_secs(20), "the first run");
    assert_eq!(status.code(), Some(0));
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 10);
    assert_all_ok(&rows);
    assert_users_created_once(&case, 1000, 10);
    assert_eq!(
        case.sandbox().stats().by_endpoint["/v2/user/add"],
        10,
        "the refused runs sent nothing"
    );
}

#[test]
fn a_second_run_with_another_journal_but_the_same_report_is_refused() {
    let case = Case::with_latency(Duration::from_millis(50));
    let (input, report) = add_sheet(&case, 1000, 10);
    let args = add_args(&input, &report, &["--rate", "5"]);
    let mut first = case.spawn(&args);
    case.wait_for_requests(1, "the first run to start");
    let other_journal = case.path("other.journal");
    let second = [&args[..], &["--journal", arg(&other_journal)]].concat();
    let ran = run_at_most(case.roster(&second), Duration::from_secs(20), "second run");
    let first_status = wait_at_most(&mut first, Duration::from_secs(20), "the first run");
    ran.assert_code_because(2, "the report is in use by another run");
    assert_eq!(first_status.code(), Some(0));
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 10);
    assert_all_ok(&rows);
}

#[test]
fn a_sync_apply_on_a_report_in_use_is_refused_before_it_reads_the_account() {
    let case = Case::with_latency(Duration::from_millis(50));
    let (input, report) = add_sheet(&case, 1000, 10);
    let mut first = case.spawn(&add_args(&input, &report, &["--rate", "5"]));
    case.wait_for_requests(1, "the first run to start");
    let ran = run_at_most(
        case.roster(&["sync", arg(&input), "--apply", "--report", arg(&report)]),
        Duration::from_secs(20),
        "sync --apply",
    );
    ran.assert_code_because(2, "the lock was visible before any request")
        .assert_stderr_contains("another roster run");
    assert!(
        !case
            .sandbox()
            .stats()
            .by_endpoint
            .contains_key("/v3/user/list"),
        "the refused sync walked the account"
    );
    let status = wait_at_most(&mut first, Duration::from_secs(20), "the first run");
    assert_eq!(status.code(), Some(0));
}

// ---- signals ----

#[test]
fn sigint_stops_dispatching_and_resume_finishes_the_rest() {
    let case = Case::new();
    let (input, report) = add_sheet(&case, 1000, 100);
    let args = add_args(&input, &report, &["--rate", "50", "--concurrency", "4"]);
    let mut child = case.spawn(&args);
    case.wait_for_requests(10, "10 requests");
    send_signal(&child, "-INT");
    let status = wait_at_most(&mut child, Duration::from_secs(10), "the interrupted run");
    let rows = read_csv(&report);
    let created = case.sandbox().telecmi_users().len();
    assert_interrupted_run_is_fully_reported(status.code(), &rows, created);
    let ok = count(&rows, "ok");

    let adds_before = case.sandbox().stats().by_endpoint["/v2/user/add"];
    let resume = [&args[..], &["--resume", "--json"]].concat();
    let ran = run_at_most(case.roster(&resume), Duration::from_secs(20), "resume");
    ran.assert_code(0);
    let summary = ran.stdout_json();
    assert_eq!(
        summary["resumed_rows"].as_u64(),
        Some(ok as u64),
        "the journal holds exactly the rows the interrupted run finished: {summary}"
    );
    assert_eq!(
        case.sandbox().stats().by_endpoint["/v2/user/add"] - adds_before,
        (100 - ok) as u64,
        "only the unsent rows are sent"
    );
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 100);
    assert_all_ok(&rows);
    assert_users_created_once(&case, 1000, 100);
}

#[test]
fn a_second_sigint_exits_at_once_and_the_journal_stays_usable() {
    let case = Case::with_latency(Duration::from_secs(3));
    let (input, report) = add_sheet(&case, 1000, 20);
    let args = add_args(&input, &report, &["--rate", "0", "--concurrency", "4"]);
    let mut child = case.spawn(&args);
    case.wait_for_requests(4, "4 requests in flight");
    send_signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal waits for the requests in flight"
    );
    let second = Instant::now();
    send_signal(&child, "-INT");
    let status = wait_at_most(&mut child, Duration::from_secs(10), "the run");
    assert!(
        second.elapsed() < Duration::from_millis(1500),
        "the second signal stops at once: {:?}",
        second.elapsed()
    );
    assert_eq!(status.code(), Some(3));

    case.sandbox().set_faults(Faults::default());
    let resume = [&args[..], &["--resume"]].concat();
    run_at_most(case.roster(&resume), Duration::from_secs(20), "resume").assert_code(0);
    let rows = read_csv(&report);
    assert_rows_numbered(&rows, 20);
    assert_eq!(count(&rows, "failed"), 0, "{:?}", not_ok(&rows));
    assert_users_created_once(&case, 1000, 20);
}

// ---- provider answers that are not the documented JSON ----

#[test]
fn non_json_truncated_and_mistyped_answers_fail_the_row_with_a_clear_message() {
    let server = ScriptedServer::start(|path, body| {
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let extension = request["extension"].as_u64().unwrap_or(0);
        if path.ends_with("/v3/user/get") {
            return (
                200,
                r#"{"code":200,"status":"success","agent":{"agent_id":5,"extension":"abc"}}"#
                    .to_string(),
            );
        }
        if path.ends_with("/v3/user/list") {
            // An account too large to walk for one row: the update reads its user with get.
            return (
                200,
                r#"{"code":200,"status":"success","count":100000,"agents":[]}"#.to_string(),
            );
        }
        match extension {
            101 => (200, "<html>oops</html>".to_string()),
            102 => (200, r#"{"code":200,"status":"succ"#.to_string()),
            103 => (200, String::new()),
            104 => (
                200,
                r#"{"code":200,"status":["success"],"msg":7}"#.to_string(),
            ),
            _ => (
                200,
                format!(
                    r#"{{"code":200,"status":"success","msg":"User saved","agent":{{"agent_id":"{extension}_{APP_ID}","name":"x","extension":{extension}}}}}"#
                ),
            ),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path(), "users.csv", add_rows(101, 5));
    let report = dir.path().join("report.csv");
    let command = server.roster(&add_args(
        &input,
        &report,
        &["--rate", "0", "--concurrency", "1"],
    ));
    let ran = run_at_most(command, Duration::from_secs(20), "import");
    ran.assert_code(1);
    ran.assert_stderr_lacks("panicked");
    let rows = read_csv(&report);
    assert_eq!(
        outcomes(&rows),
        ["failed", "failed", "failed", "failed", "ok"]
    );
    for row in &rows[..3] {
        assert!(
            row["message"].contains("unexpected response")
                && row["message"].contains("not the documented JSON"),
            "row {}: {:?}",
            row["row"],
            row["message"]
        );
    }
    assert!(rows[0]["message"].contains("oops"), "{:?}", rows[0]);
    assert!(
        rows[3]["message"].contains("unexpected response")
            || rows[3]["message"].contains("HTTP 200"),
        "{:?}",
        rows[3]
    );

    // a read back with the wrong types (update of a row without every field)
    let input = write_file(dir.path(), "update.csv", "extension,name\n101,Only Name\n");
    let command = server.roster(&import_args(&input, "update", &report, &["--rate", "0"]));
    let ran = run_at_most(command, Duration::from_secs(20), "import");
    ran.assert_code(1);
    ran.assert_stderr_lacks("panicked");
    let rows = read_csv(&report);
    assert_eq!(outcomes(&rows), ["failed"]);
    assert!(
        rows[0]["message"].contains("unexpected response"),
        "{:?}",
        rows[0]
    );
    assert!(server.requests() >= 6);
}

// ---- hostile input ----

/// `roster validate FILE --mode add` within 20 s: exit 0, 1 or 2, never a panic.
fn validate_survives(dir: &Path, name: &str, content: &[u8]) -> Ran {
    let path = write_file(dir, name, content);
    let started = Instant::now();
    let ran = run_at_most(
        roster_command(&["validate", arg(&path), "--mode", "add"]),
        Duration::from_secs(20),
        name,
    );
    assert!(
        [0, 1, 2].contains(&ran.code),
        "{name}: exit {} {}",
        ran.code,
        &ran.stderr[..ran.stderr.len().min(2000)]
    );
    assert!(!ran.stderr.contains("panicked"), "{name}: {}", ran.stderr);
    eprintln!(
        "{name}: exit {} in {:?}, {} bytes on stderr",
        ran.code,
        started.elapsed(),
        ran.stderr.len()
    );
    ran
}

#[test]
fn hostile_input_never_panics_or_hangs() {
    let dir = tempfile::tempdir().unwrap();

    let mut huge = String::from(HEADER);
    huge.push_str("101,");
    huge.push_str(&"A".repeat(10 << 20));
    huge.push_str(",919200000101,Secret101\n102,Bo Lin,919200000102,Secret102\n");
    let ran = validate_survives(dir.path(), "huge-cell.csv", huge.as_bytes());
    ran.assert_code_because(
        2,
        "a 10 MB row is past the row limit: nothing is read, nothing sent",
    )
    .assert_stderr_contains("row 1:")
    .assert_stderr_contains("--max-record-bytes");
    assert!(
        ran.stderr.len() < 100_000,
        "the 10 MB value is not echoed: {} bytes",
        ran.stderr.len()
    );

    let mut wide = String::from("extension,name,phone_number,password");
    for i in 5..=10_000 {
        wide.push_str(&format!(",c{i}"));
    }
    wide.push('\n');
    wide.push_str("101,Asha Rao,919200000101,Secret101");
    for _ in 5..=10_000 {
        wide.push_str(",x");
    }
    wide.push('\n');
    validate_survives(dir.path(), "wide.csv", wide.as_bytes());

    validate_survives(
        dir.path(),
        "nul.csv",
        b"extension,name,phone_number,password\n101,Asha\0Rao,919200000101,Sec\0ret101\n1\x0002,Bo,919200000102,Secret102\n",
    ).assert_code_because(1, "NUL bytes make rows invalid");

    validate_survives(dir.path(), "empty.csv", b"").assert_code(2);

    validate_survives(dir.path(), "header-only.csv", HEADER.as_bytes()).assert_code(0);

    let utf16: Vec<u8> = "extension,name,phone_number,password\r\n101,Asha Rao,919200000101,Secret101\r\n102,Zoë Ng,919200000102,Secret102\r\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let ran = validate_survives(dir.path(), "utf16le-nobom.csv", &utf16);
    ran.assert_code_because(0, "read as UTF-16LE");
    ran.assert_stderr_contains("2 rows");

    // deterministic "random" bytes (xorshift)
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    validate_survives(dir.path(), "noise.csv", &noise);
    let mut noisy_rows = HEADER.as_bytes().to_vec();
    noisy_rows.extend_from_slice(&noise);
    validate_survives(dir.path(), "header-then-noise.csv", &noisy_rows);

    // unbalanced quote to the end of a large file
    let mut quote = String::from(HEADER);
    quote.push_str("101,\"Asha");
    quote.push_str(&"x,y\n".repeat(100_000));
    validate_survives(dir.path(), "open-quote.csv", quote.as_bytes());

    // ragged rows and a lone CR
    validate_survives(
        dir.path(),
        "ragged.csv",
        b"extension,name,phone_number,password\n101\n102,a,b,c,d,e,f\r103,Bo,919200000103,Secret103\n,,,,\n",
    );
}
