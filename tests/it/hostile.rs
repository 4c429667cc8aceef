//! A provider gone wrong: redirects, lying counts, echoed secrets, endless bodies. Each case
//! asserts the exit code and that nothing secret or unproven leaves roster.

use std::time::{Duration, Instant};

use crate::common::*;

/// One TeleCMI list answer: `count` announced, the users with these extensions.
fn telecmi_page(count: u64, extensions: impl Iterator<Item = u32>) -> String {
    let agents: Vec<serde_json::Value> = extensions
        .map(|extension| {
            serde_json::json!({
                "agent_id": format!("{extension}_{APP_ID}"),
                "extension": extension,
                "first_name": "Agent",
                "last_name": extension.to_string(),
                "phone": "919812300001",
                "password": "listed-password",
                "notify": false,
                "start_time": 9,
                "end_time": 18,
            })
        })
        .collect();
    serde_json::json!({"code": 200, "status": "success", "count": count, "agents": agents})
        .to_string()
}

/// A TeleCMI account of `held` users (extensions from 1001) that announces `count` of them.
fn lying_account(held: u32, count: u64) -> HostileServer {
    HostileServer::start(move |request| {
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
        let page = body["page"].as_u64().unwrap_or(1) as u32;
        let limit = body["limit"].as_u64().unwrap_or(10) as u32;
        let first = 1001 + (page - 1) * limit;
        let last = (1001 + held).min(first + limit);
        Answer::json(200, telecmi_page(count, first..last))
    })
}

fn export_from(server: &HostileServer, out: &std::path::Path, extra: &[&str]) -> Ran {
    let args = export_args("telecmi", out, &[&["--rate", "0"], extra].concat());
    run_at_most(
        roster_at(&server.url, &args),
        Duration::from_secs(60),
        "export",
    )
}

#[test]
fn a_redirect_is_reported_and_nothing_follows_it_to_the_other_host() {
    let elsewhere = HostileServer::start(|_| Answer::json(200, telecmi_page(0, 0..0)));
    let location = format!("{}/v3/user/list", elsewhere.url);
    for status in [301, 302, 307, 308] {
        let location = location.clone();
        let server = HostileServer::start(move |_| Answer::Json {
            status,
            headers: vec![("Location", location.clone())],
            body: String::new(),
        });
        let case = Case::new();
        let out = case.write("roster.csv", "yesterday\n");
        export_from(&server, &out, &[])
            .assert_code_because(3, "the provider answered, wrongly")
            .assert_stderr_contains("never follows redirects")
            .assert_stderr_contains(&elsewhere.url);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "yesterday\n");
        assert_eq!(server.seen().len(), 1, "a redirect is not retried");

        let sheet = case.write("s.csv", add_rows(201, 3));
        let report = case.path("r.csv");
        let ran = run(roster_at(
            &server.url,
            &import_args(&sheet, "add", &report, &["--rate", "0"]),
        ));
        ran.assert_code_because(3, "a redirect stops the run");
        assert!(
            !outcomes(&read_report(&report)).contains(&"ok"),
            "no row is reported created by a redirect"
        );
    }
    let smartflo_location = format!("{}/v1/users", elsewhere.url);
    let smartflo = HostileServer::start(move |_| Answer::Json {
        status: 308,
        headers: vec![("Location", smartflo_location.clone())],
        body: String::new(),
    });
    let case = Case::new();
    let out = case.path("smartflo.csv");
    let args = [
        "export",
        "--provider",
        "smartflo",
        "-o",
        arg(&out),
        "--rate",
        "0",
    ];
    run(roster_at(&smartflo.url, &args)).assert_code(3);
    let asked = smartflo.seen();
    assert!(
        asked[0].headers.to_ascii_lowercase().contains(&format!(
            "authorization: bearer {}",
            TOKEN.to_ascii_lowercase()
        )),
        "the token went to the configured host: {asked:?}"
    );
    assert!(
        elsewhere.seen().is_empty(),
        "the other host never saw a request, a secret or a token: {:?}",
        elsewhere.seen()
    );
}

#[test]
fn a_count_that_is_too_small_cannot_shorten_an_export() {
    let server = lying_account(250, 150);
    let case = Case::new();
    let out = case.write("roster.csv", "yesterday\n");
    export_from(&server, &out, &["--page-size", "50"])
        .assert_code_because(
            3,
            "250 users held, 150 announced: the export cannot be proved complete",
        )
        .assert_stderr_contains("reports 150 users but the pages held 250");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "yesterday\n");
}

#[test]
fn an_absurd_count_stops_at_the_first_empty_page() {
    let server = lying_account(120, 1_000_000_000_000);
    let case = Case::new();
    let out = case.path("roster.csv");
    let started = Instant::now();
    export_from(&server, &out, &["--page-size", "50"]).assert_code(3);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        server.seen().len() <= 3 * 8,
        "three walks of a few pages each, not 2·10¹⁰ pages: {}",
        server.seen().len()
    );
    assert!(!out.exists());
}

#[test]
fn an_honest_count_on_a_full_last_page_costs_one_more_request() {
    let server = lying_account(100, 100);
    let case = Case::new();
    let out = case.path("roster.csv");
    export_from(&server, &out, &["--page-size", "50", "--concurrency", "1"]).assert_code(0);
    assert_eq!(read_csv(&out).len(), 100);
    assert_eq!(
        server.seen().len(),
        3,
        "pages 1 and 2, then an empty page 3 proves the end"
    );
}

#[test]
fn a_provider_that_echoes_the_request_leaks_no_secret_anywhere() {
    let server = HostileServer::start(|request| {
        if request.target.ends_with("/v3/user/list") {
            return Answer::json(200, telecmi_page(0, 0..0));
        }
        let echo = serde_json::json!({
            "code": 400,
            "status": "error",
            "msg": format!("Validation failed for request {}", request.body),
        });
        Answer::json(400, echo.to_string())
    });
    let case = Case::new();
    let sheet = case.write("s.csv", add_rows(201, 3));
    let (report, summary, failed) = (case.path("r.csv"), case.path("s.json"), case.path("f.csv"));
    let ran = run(roster_at(
        &server.url,
        &import_args(
            &sheet,
            "add",
            &report,
            &["--summary", arg(&summary), "--rate", "0", "-vv"],
        ),
    ));
    ran.assert_code_because(1, "every row was refused");
    assert!(ran.stderr.contains("Validation failed"), "{ran}");
    let mut everything = ran.stdout.clone() + &ran.stderr;
    for file in std::fs::read_dir(case.dir()).unwrap() {
        let path = file.unwrap().path();
        if path != sheet && path != failed {
            everything += &String::from_utf8_lossy(&std::fs::read(&path).unwrap());
        }
    }
    assert!(!everything.contains(SECRET), "the app secret leaked");
    for row in read_report(&report) {
        assert!(row["message"].contains("[redacted]"), "{row:?}");
    }
    let passwords: Vec<String> = (201..204).map(|n| format!("Secret{n}")).collect();
    for password in &passwords {
        assert!(!everything.contains(password.as_str()), "{password} leaked");
    }
}

#[test]
fn a_page_larger_than_memory_is_refused_in_bounded_memory() {
    let server = HostileServer::start(|_| Answer::Huge { bytes: 200 << 20 });
    let case = Case::new();
    let out = case.path("roster.csv");
    let (code, peak, stderr) = run_measured(roster_at(
        &server.url,
        &[
            "export",
            "--provider",
            "telecmi",
            "-o",
            arg(&out),
            "--rate",
            "0",
        ],
    ));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("roster reads at most 32 MiB"), "{stderr}");
    assert!(peak < 128 << 20, "a 200 MB page held {} MB", peak >> 20);
}

#[test]
fn a_body_that_never_finishes_times_out_and_aborts() {
    let server = HostileServer::start(|_| Answer::Stalled {
        declared: 10_000,
        sent: "{\"code\":200,",
    });
    let case = Case::new();
    let out = case.path("roster.csv");
    let started = Instant::now();
    export_from(
        &server,
        &out,
        &["--timeout", "1", "--max-attempts", "2", "--retry-base", "0"],
    )
    .assert_code(3);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!out.exists());
}

#[test]
fn a_server_error_inside_http_200_is_retried_like_one() {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let server = HostileServer::start(move |_| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Answer::json(
                200,
                r#"{"code":500,"status":"error","msg":"Internal error"}"#,
            )
        } else {
            Answer::json(200, telecmi_page(2, 1001..1003))
        }
    });
    let case = Case::new();
    let out = case.path("roster.csv");
    export_from(&server, &out, &["--retry-base", "0"]).assert_code(0);
    assert_eq!(read_csv(&out).len(), 2);
}
