//! The command line itself: help, version, completions, the sandbox subcommand, config profiles.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// Help text with every run of whitespace collapsed, so wrapping does not matter.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn help(args: &[&str]) -> String {
    let ran = run(roster_command(args));
    ran.assert_code(0);
    assert!(ran.stderr.is_empty(), "{args:?}: help goes to stdout");
    flat(&ran.stdout)
}

#[test]
fn top_level_help_lists_every_subcommand_and_the_exit_codes() {
    let text = help(&["--help"]);
    for command in ["validate", "import", "export", "sandbox", "completions"] {
        assert!(text.contains(command), "{command} in: {text}");
    }
    assert!(text.contains("Exit codes"), "{text}");
    assert!(text.contains("TELECMI_SECRET"), "{text}");
    assert_eq!(help(&["help"]), help(&["--help"]));
}

#[test]
fn import_help_shows_safe_defaults_and_examples() {
    let text = help(&["import", "--help"]);
    assert!(text.contains("--rate"), "{text}");
    assert!(text.contains("[default: 5]"), "rate default: {text}");
    assert!(text.contains("[default: 4]"), "concurrency default: {text}");
    assert!(text.contains("[default: upsert]"), "{text}");
    assert!(text.contains("Example"), "{text}");
    assert!(text.contains("roster import"), "{text}");
    for flag in [
        "--report",
        "--failed",
        "--dry-run",
        "--summary",
        "--json",
        "--max-failures",
    ] {
        assert!(text.contains(flag), "{flag} in: {text}");
    }
}

#[test]
fn every_subcommand_has_help_with_defaults_and_an_example() {
    let cases: [(&str, &[&str]); 5] = [
        ("validate", &["[default: upsert]", "[default: 2-6]"]),
        ("import", &["[default: 5]"]),
        (
            "export",
            &[
                "[default: 100]",
                "[default: csv]",
                "[default: 5]",
                "[default: -]",
            ],
        ),
        (
            "sandbox",
            &[
                "[default: 127.0.0.1:8080]",
                "[default: sandbox-secret]",
                "[default: 1111112]",
            ],
        ),
        ("completions", &["bash"]),
    ];
    for (command, expected) in cases {
        let text = help(&[command, "--help"]);
        assert!(text.contains("Example"), "{command}: {text}");
        assert!(
            text.contains(&format!("roster {command}")),
            "{command}: {text}"
        );
        for wanted in expected {
            assert!(text.contains(wanted), "{command}: {wanted} in {text}");
        }
        assert_eq!(help(&["help", command]), text);
    }
}

/// A command's help split at its "Global options:" heading.
fn global_options_of(command: &str) -> (String, String) {
    let text = help(&[command, "--help"]);
    let (own, global) = text
        .split_once("Global options:")
        .unwrap_or_else(|| panic!("{command}: no global options heading in {text}"));
    (own.to_string(), global.to_string())
}

#[test]
fn global_options_sit_under_their_own_heading_only_where_they_apply() {
    for command in ["validate", "import", "export", "sync", "migrate", "diff"] {
        let (own, global) = global_options_of(command);
        for flag in [
            "--verbose",
            "--quiet",
            "--log-format",
            "--config",
            "--profile",
        ] {
            assert!(global.contains(flag), "{command}: {flag} under the heading");
            assert!(
                !own.contains(flag),
                "{command}: {flag} among its own options"
            );
        }
    }
    let (_, global) = global_options_of("sandbox");
    assert!(global.contains("--log-format"), "{global}");
    for flag in ["--config", "--profile"] {
        assert!(!global.contains(flag), "sandbox reads no profile: {global}");
    }
}

#[test]
fn the_config_file_may_still_come_before_the_command_name() {
    let case = Case::new();
    let broken = case.write("broken.toml", "[profiles.test\napp_id = 1\n");
    let sheet = case.write("s.csv", "extension,name\n201,Asha Rao\n");
    let ran = run(roster_command(&[
        "--config",
        arg(&broken),
        "validate",
        arg(&sheet),
    ]));
    ran.assert_code(2).assert_stderr_contains("broken.toml");
}

#[test]
fn every_example_is_one_valid_roster_command_line() {
    for command in [
        "validate", "import", "export", "sync", "migrate", "diff", "sandbox",
    ] {
        let ran = run(roster_command(&[command, "--help"]));
        let examples = ran
            .stdout
            .split_once("Example")
            .map(|(_, rest)| rest.split_once('\n').map_or("", |(_, lines)| lines))
            .unwrap_or_else(|| panic!("{command} has no example"));
        let joined = examples.replace("\\\n", " ");
        for line in joined.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let program = words.iter().find(|w| !w.contains('='));
            assert!(
                line.starts_with('#') || program == Some(&"roster"),
                "{command}: not a roster command line: {line:?}"
            );
        }
    }
}

#[test]
fn version_prints_the_crate_version() {
    let ran = run(roster_command(&["--version"]));
    ran.assert_code(0);
    assert_eq!(
        ran.stdout.trim(),
        format!("roster {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_usage_exits_2() {
    run(roster_command(&["import"])).assert_code_because(2, "a missing FILE");
    run(roster_command(&["import", "x.csv", "--mode", "replace"])).assert_code(2);
    // Secrets are never taken from the command line.
    run(roster_command(&["import", "x.csv", "--secret", "s"])).assert_code(2);
    run(roster_command(&["frobnicate"])).assert_code(2);
    let ran = run(roster_command(&[
        "import",
        "/nonexistent/roster-test.csv",
        "--dry-run",
    ]));
    ran.assert_code_because(2, "an unreadable file");
    ran.assert_stderr_contains("/nonexistent/roster-test.csv");
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let ran = run(roster_command(&["completions", shell]));
        ran.assert_code(0);
        assert!(ran.stdout.contains("roster"), "{shell}");
        assert!(
            ran.stdout.contains("import"),
            "{shell}: subcommands complete"
        );
    }
    let ran = run(roster_command(&["completions", "bash"]));
    assert!(ran.stdout.contains("complete"), "a bash completion script");
}

#[test]
fn sandbox_subcommand_prints_its_url_first_serves_and_stops_on_sigterm() {
    let mut child = roster_command(&[
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--seed-telecmi",
        "7",
        "--seed-smartflo",
        "5",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    stdout.read_line(&mut url).unwrap();
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "first line: {url:?}");
    assert!(!url.ends_with(":0"), "the chosen port, not 0: {url}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("telecmi.csv");
    let export = roster_at(&url, &export_args("telecmi", &out, &["--rate", "0"]));
    run(export).assert_code(0);
    assert_eq!(read_csv(&out).len(), 7);

    let export = roster_at(&url, &["export", "--provider", "smartflo", "--rate", "0"]);
    let ran = run(export);
    ran.assert_code(0);
    assert_eq!(ran.stdout.lines().count(), 1 + 5);

    send_signal(&child, "-TERM");
    let status = wait_at_most(
        &mut child,
        Duration::from_secs(10),
        "the sandbox subcommand",
    );
    assert_eq!(
        status.code(),
        Some(0),
        "a clean stop on SIGTERM: {status:?}"
    );
}

/// `roster export --provider telecmi -o OUT --config CONFIG --profile PROFILE EXTRA...` with a
/// clean environment: what the profile does not give, the command does not have.
fn export_with_profile(out: &Path, config: &Path, profile: &str, extra: &[&str]) -> Command {
    let mut args = export_args(
        "telecmi",
        out,
        &["--config", arg(config), "--profile", profile],
    );
    args.extend_from_slice(extra);
    roster_command(&args)
}

#[test]
fn a_config_profile_supplies_base_url_and_credentials() {
    let case = Case::seeded(12, 0);
    let config = case.write(
        "roster.toml",
        format!(
            "[profiles.test]\n\
             app_id = \"{APP_ID}\"\n\
             secret_env = \"ROSTER_TEST_SECRET\"\n\
             base_url = \"{}\"\n\
             rate = 1000.0\n\
             \n\
             [profiles.other]\n\
             app_id = \"1\"\n",
            case.url()
        ),
    );
    let out = case.path("telecmi.csv");
    let mut command = export_with_profile(&out, &config, "test", &[]);
    command.env("ROSTER_TEST_SECRET", SECRET);
    run(command).assert_code(0);
    assert_eq!(read_csv(&out).len(), 12);

    // Import through the same profile, chosen by environment variables this time.
    let input = case.write(
        "users.csv",
        "extension,name,phone_number,password\n2001,Profile User,919200002001,Secret2001\n",
    );
    let report = case.path("report.csv");
    let mut command = roster_command(&["import", arg(&input), "--report", arg(&report)]);
    command
        .env("ROSTER_CONFIG", &config)
        .env("ROSTER_PROFILE", "test")
        .env("ROSTER_TEST_SECRET", SECRET);
    run(command).assert_code(0);
    assert!(case
        .sandbox()
        .telecmi_users()
        .iter()
        .any(|u| u.extension == 2001 && u.name == "Profile User"));

    // The profile names a variable that is not set: exit 2, nothing sent, the variable named.
    let before = case.sandbox().stats().requests;
    let ran = run(export_with_profile(&out, &config, "test", &[]));
    ran.assert_code(2);
    ran.assert_stderr_contains("ROSTER_TEST_SECRET");
    assert_eq!(case.sandbox().stats().requests, before);

    // An unknown profile: exit 2, naming what the file has.
    let ran = run(export_with_profile(&out, &config, "staging", &[]));
    ran.assert_code(2);
    ran.assert_stderr_contains("staging");
    ran.assert_stderr_contains_because("test", "lists the profiles");
    assert_eq!(case.sandbox().stats().requests, before);

    // A profile without a config file, and a config file that is not TOML.
    run(roster_command(&[
        "export",
        "--provider",
        "telecmi",
        "--profile",
        "test",
    ]))
    .assert_code(2);
    let broken = case.write("broken.toml", "[profiles.test\napp_id = 1\n");
    let ran = run(roster_command(&[
        "export",
        "--provider",
        "telecmi",
        "--config",
        arg(&broken),
        "--profile",
        "test",
    ]));
    ran.assert_code(2);
    ran.assert_stderr_contains("broken.toml");
}

#[test]
fn environment_wins_over_the_profile() {
    let case = Case::seeded(3, 0);
    let config = case.write(
        "roster.toml",
        format!(
            "[profiles.test]\napp_id = \"{APP_ID}\"\nsecret = \"wrong-inline-secret\"\nbase_url = \"{}\"\n",
            case.url()
        ),
    );
    let out = case.path("telecmi.csv");
    let ran = run(export_with_profile(&out, &config, "test", &["--rate", "0"]));
    ran.assert_code_because(3, "the file's secret is wrong");
    ran.assert_stderr_lacks("wrong-inline-secret");
    let mut command = export_with_profile(&out, &config, "test", &["--rate", "0"]);
    command.env("TELECMI_SECRET", SECRET);
    run(command).assert_code_because(0, "TELECMI_SECRET wins");
    assert_eq!(read_csv(&out).len(), 3);
}
