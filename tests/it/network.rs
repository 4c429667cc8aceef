//! Corporate networks end to end: TLS trust (bundled roots, SSL_CERT_FILE / SSL_CERT_DIR,
//! --ca-cert), TLS failures in plain words and never retried, and HTTP(S) proxies from the
//! environment. The real binary against the in-process sandbox, behind a TLS terminator whose
//! certificate comes from a CA made at test time, or behind a forward proxy.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use roster::sandbox::SandboxConfig;

/// A host that resolves nowhere: reachable only through a proxy.
const NOWHERE: &str = "roster-proxy-test.invalid";

fn seeded() -> Case {
    Case::start(SandboxConfig {
        seed_telecmi: 30,
        ..Default::default()
    })
}

/// `roster export --provider telecmi -o OUT --rate 1000 EXTRA...` against `url`, with none of
/// the machine's proxy or certificate settings.
fn export(url: &str, out: &Path, extra: &[&str]) -> Command {
    roster_at(
        url,
        &export_args("telecmi", out, &[&["--rate", "1000"], extra].concat()),
    )
}

/// The export the sandbox gives over plain HTTP, to compare with one made another way.
fn direct_export(sandbox: &Case, dir: &Path) -> String {
    let out = dir.join("direct.csv");
    let ran = run(export(sandbox.url(), &out, &[]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    std::fs::read_to_string(out).unwrap()
}

const LOCAL_NAMES: [&str; 3] = ["127.0.0.1", "localhost", NOWHERE];

/// A seeded sandbox behind a TLS front whose certificate, for `names`, a private CA signed.
struct BehindTls {
    sandbox: Case,
    ca: TestCa,
    front: TlsFront,
    dir: tempfile::TempDir,
}

fn behind_tls(names: &[&str]) -> BehindTls {
    let sandbox = seeded();
    let ca = TestCa::new();
    let front = TlsFront::start(ca.server_cert(names), sandbox.sandbox().local_addr());
    BehindTls {
        sandbox,
        ca,
        front,
        dir: tempfile::tempdir().unwrap(),
    }
}

#[test]
fn an_unknown_ca_fails_at_once_with_exit_3_naming_the_issuer_and_the_fix() {
    let tls = behind_tls(&LOCAL_NAMES);
    let started = Instant::now();
    // Generous retry settings: a retried failure would take seconds and open more connections.
    let ran = run(export(
        &tls.front.url,
        &tls.dir.path().join("out.csv"),
        &["-v", "--retry-base", "1", "--max-attempts", "6"],
    ));
    let elapsed = started.elapsed();
    eprintln!("unknown CA: exit {} after {elapsed:?}", ran.code);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "cannot connect securely to 127.0.0.1: its certificate is signed by an unknown \
             authority (issuer: Test Corp CA). If your network inspects TLS, pass its CA with \
             --ca-cert FILE."
        ),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("retrying"), "{}", ran.stderr);
    assert_eq!(tls.front.connections(), 1, "one handshake, no retry");
    assert_eq!(tls.sandbox.sandbox().stats().requests, 0);
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(!tls.dir.path().join("out.csv").exists());
}

#[test]
fn ca_cert_trusts_the_ca_and_the_export_is_the_one_plain_http_gives() {
    let tls = behind_tls(&LOCAL_NAMES);
    let ca_pem = tls.ca.write_pem(tls.dir.path(), "corp-tls.ca.pem");
    let out = tls.dir.path().join("over-tls.csv");
    let ran = run(export(&tls.front.url, &out, &["--ca-cert", arg(&ca_pem)]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(tls.front.connections() >= 1);
    let over_tls = std::fs::read_to_string(&out).unwrap();
    assert_eq!(read_csv(&out).len(), 30);
    assert_eq!(over_tls, direct_export(&tls.sandbox, tls.dir.path()));
}

#[test]
fn the_ca_also_comes_from_roster_ca_cert_and_from_a_profile() {
    let tls = behind_tls(&LOCAL_NAMES);
    let ca_pem = tls.ca.write_pem(tls.dir.path(), "corp-tls.ca.pem");

    let mut command = export(&tls.front.url, &tls.dir.path().join("env.csv"), &[]);
    command.env("ROSTER_CA_CERT", &ca_pem);
    let ran = run(command);
    assert_eq!(ran.code, 0, "ROSTER_CA_CERT: {}", ran.stderr);

    let config = write_file(
        tls.dir.path(),
        "roster.toml",
        format!("[profiles.corp]\nca_cert = {:?}\n", arg(&ca_pem)),
    );
    let out = tls.dir.path().join("profile.csv");
    let ran = run(export(
        &tls.front.url,
        &out,
        &["--config", arg(&config), "--profile", "corp"],
    ));
    assert_eq!(ran.code, 0, "profile ca_cert: {}", ran.stderr);
    assert_eq!(read_csv(&out).len(), 30);
}

#[test]
fn ssl_cert_file_and_ssl_cert_dir_are_trusted() {
    let tls = behind_tls(&LOCAL_NAMES);
    let ca_pem = tls.ca.write_pem(tls.dir.path(), "tls.ca.pem");

    let mut command = export(&tls.front.url, &tls.dir.path().join("file.csv"), &[]);
    command.env("SSL_CERT_FILE", &ca_pem);
    let ran = run(command);
    assert_eq!(ran.code, 0, "SSL_CERT_FILE: {}", ran.stderr);

    let certs = tls.dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    tls.ca.write_pem(&certs, "corp.pem");
    let mut command = export(&tls.front.url, &tls.dir.path().join("dir.csv"), &[]);
    command.env("SSL_CERT_DIR", &certs);
    let ran = run(command);
    assert_eq!(ran.code, 0, "SSL_CERT_DIR: {}", ran.stderr);
}

#[test]
fn a_certificate_for_another_name_is_exit_3_naming_the_host() {
    let tls = behind_tls(&["provider.example"]);
    let ca_pem = tls.ca.write_pem(tls.dir.path(), "tls.ca.pem");
    let ran = run(export(
        &tls.front.url,
        &tls.dir.path().join("out.csv"),
        &["--ca-cert", arg(&ca_pem)],
    ));
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "cannot connect securely to 127.0.0.1: its certificate is for provider.example, not \
             127.0.0.1. Check --base-url"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(tls.front.connections(), 1, "not retried");
    assert_eq!(tls.sandbox.sandbox().stats().requests, 0);
}

#[test]
fn an_expired_certificate_is_exit_3_with_its_date() {
    let sandbox = seeded();
    let ca = TestCa::new();
    let cert = ca.server_cert_with(&LOCAL_NAMES, |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let front = TlsFront::start(cert, sandbox.sandbox().local_addr());
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = ca.write_pem(dir.path(), "ca.pem");
    let ran = run(export(
        &front.url,
        &dir.path().join("out.csv"),
        &["--ca-cert", arg(&ca_pem)],
    ));
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "cannot connect securely to 127.0.0.1: its certificate expired on 2021-01-01 00:00 \
             UTC. Check this machine's clock"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(front.connections(), 1, "not retried");
}

#[test]
fn an_unusable_ca_cert_is_exit_2_before_any_request_in_every_command_that_connects() {
    let sandbox = seeded();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let not_pem = write_file(dir.path(), "notes.txt", "ask IT for the proxy CA\n");
    let sheet = write_file(
        dir.path(),
        "agents.csv",
        "extension,name,phone_number,password\n101,Asha Rao,919800000001,Secret#101\n",
    );
    let credentials = dir.path().join("credentials.csv");
    let commands: [(&str, Vec<&str>); 4] = [
        ("export", vec!["export", "--provider", "telecmi"]),
        ("import", vec!["import", arg(&sheet)]),
        ("sync", vec!["sync", arg(&sheet)]),
        (
            "migrate",
            vec![
                "migrate",
                "--from",
                "smartflo",
                "--credentials-out",
                arg(&credentials),
            ],
        ),
    ];
    for (name, args) in &commands {
        for (file, problem) in [
            (&missing, "cannot read it"),
            (&not_pem, "it holds no certificate"),
        ] {
            let mut args = args.clone();
            args.extend_from_slice(&["--ca-cert", arg(file)]);
            let ran = run(roster_at(sandbox.url(), &args));
            assert_eq!(ran.code, 2, "{name}: {}", ran.stderr);
            let expected = format!("CA certificate file {}: {problem}", file.display());
            assert!(ran.stderr.contains(&expected), "{name}: {}", ran.stderr);
        }
    }
    assert_eq!(sandbox.sandbox().stats().requests, 0);
}

#[test]
fn http_proxy_and_all_proxy_carry_requests_to_a_host_only_the_proxy_reaches() {
    let sandbox = seeded();
    let dir = tempfile::tempdir().unwrap();
    let expected = direct_export(&sandbox, dir.path());
    let port = sandbox.sandbox().local_addr().port();
    let base_url = format!("http://{NOWHERE}:{port}");
    for variable in ["HTTP_PROXY", "ALL_PROXY", "http_proxy"] {
        let proxy = ForwardProxy::start(sandbox.sandbox().local_addr());
        let out = dir.path().join(format!("{variable}.csv"));
        let mut command = export(&base_url, &out, &["-v"]);
        command.env(
            variable,
            format!("http://roster:proxy-Pa55word@127.0.0.1:{}", proxy.port),
        );
        let ran = run(command);
        assert_eq!(ran.code, 0, "{variable}: {}", ran.stderr);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
        let lines = proxy.request_lines.lock().unwrap().clone();
        assert!(!lines.is_empty(), "{variable}: the proxy saw no request");
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with(&format!("POST http://{NOWHERE}:{port}/"))),
            "{lines:?}"
        );
        // The credentials in the proxy URL are sent to the proxy ...
        let authorizations = proxy.authorizations.lock().unwrap().clone();
        assert_eq!(authorizations.len(), lines.len(), "{variable}");
        assert!(
            authorizations
                .iter()
                .all(|a| a == "Basic cm9zdGVyOnByb3h5LVBhNTV3b3Jk"),
            "{authorizations:?}"
        );
        // ... and never shown, though -v names the proxy.
        assert!(
            ran.stderr
                .contains(&format!("http://roster:***@127.0.0.1:{}", proxy.port)),
            "{}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("Pa55word"), "{}", ran.stderr);
    }
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let sandbox = seeded();
    let proxy = ForwardProxy::start(sandbox.sandbox().local_addr());
    let dir = tempfile::tempdir().unwrap();
    let through = |no_proxy: Option<&str>, name: &str| {
        let mut command = export(sandbox.url(), &dir.path().join(name), &[]);
        command.env("HTTP_PROXY", &proxy.url);
        if let Some(hosts) = no_proxy {
            command.env("NO_PROXY", hosts);
        }
        run(command)
    };
    let ran = through(Some("localhost,127.0.0.1"), "bypassed.csv");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(proxy.requests(), 0, "NO_PROXY names the host");
    // The same run without NO_PROXY goes through the proxy: the bypass above was NO_PROXY's doing.
    let ran = through(None, "proxied.csv");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(proxy.requests() > 0);

    // And a dead proxy does not matter to a host NO_PROXY names.
    let mut command = export(sandbox.url(), &dir.path().join("dead.csv"), &[]);
    command
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", dead_port()))
        .env("HTTP_PROXY", format!("http://127.0.0.1:{}", dead_port()))
        .env("no_proxy", "127.0.0.1");
    let ran = run(command);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn https_proxy_tunnels_to_the_provider_and_its_ca_still_has_to_be_trusted() {
    let sandbox = seeded();
    let ca = TestCa::new();
    let front = TlsFront::start(ca.server_cert(&LOCAL_NAMES), sandbox.sandbox().local_addr());
    let proxy = ForwardProxy::start(front.addr);
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = ca.write_pem(dir.path(), "ca.pem");
    let base_url = format!("https://{NOWHERE}:{}", front.addr.port());

    let untrusted = {
        let mut command = export(&base_url, &dir.path().join("untrusted.csv"), &[]);
        command.env("HTTPS_PROXY", &proxy.url);
        run(command)
    };
    assert_eq!(untrusted.code, 3, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains(&format!(
            "cannot connect securely to {NOWHERE}: its certificate is signed by an unknown \
             authority (issuer: Test Corp CA)"
        )),
        "{}",
        untrusted.stderr
    );

    let out = dir.path().join("trusted.csv");
    let mut command = export(&base_url, &out, &["--ca-cert", arg(&ca_pem)]);
    command.env("HTTPS_PROXY", &proxy.url);
    let ran = run(command);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(read_csv(&out).len(), 30);
    let lines = proxy.request_lines.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .all(|l| l == &format!("CONNECT {NOWHERE}:{} HTTP/1.1", front.addr.port())),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "one tunnel per run: {lines:?}");
}

#[test]
fn a_dead_proxy_is_unreachable_and_its_password_is_never_shown() {
    let sandbox = seeded();
    let dir = tempfile::tempdir().unwrap();
    let mut command = export(
        sandbox.url(),
        &dir.path().join("out.csv"),
        &["-vv", "--max-attempts", "2", "--retry-base", "0.01"],
    );
    command.env(
        "HTTP_PROXY",
        format!("http://ops:Hunter2-proxy@127.0.0.1:{}", dead_port()),
    );
    let ran = run(command);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("provider unreachable"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("Hunter2"), "{}", ran.stderr);
    assert_eq!(sandbox.sandbox().stats().requests, 0);
}

#[test]
fn an_import_stops_at_the_first_tls_failure() {
    let tls = behind_tls(&LOCAL_NAMES);
    let mut sheet = String::from("extension,name,phone_number,password\n");
    for n in 0..40 {
        let extension = 200 + n;
        sheet.push_str(&format!(
            "{extension},Agent {n},9198000{n:05},Secret#{n:03}\n"
        ));
    }
    let sheet = write_file(tls.dir.path(), "agents.csv", sheet);
    let report = tls.dir.path().join("results.csv");
    let ran = run(roster_at(
        &tls.front.url,
        &import_args(
            &sheet,
            "upsert",
            &report,
            &["--rate", "0", "--concurrency", "1"],
        ),
    ));
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("its certificate is signed by an unknown authority (issuer: Test Corp CA)"),
        "{}",
        ran.stderr
    );
    assert_eq!(tls.front.connections(), 1, "stopped at the first failure");
    assert_eq!(tls.sandbox.sandbox().stats().requests, 0);
    let rows = read_csv(&report);
    assert_eq!(rows.len(), 40);
    assert!(
        rows.iter().filter(|r| r["outcome"] == "skipped").count() >= 38,
        "{rows:?}"
    );
}
