//! Resolved settings: profiles from a TOML file, environment variables and flags, in rising order
//! of precedence. Secrets come from the environment or the file, never from the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{self, ConnectionArgs, PhoneArgs, RateArg};
use crate::execute::pace::RateMode;
use crate::execute::retry::RetryPolicy;
use crate::model::Secret;
use crate::phone::{PhoneRule, Region};
use crate::provider::Timeouts;

/// A problem with configuration or credentials: nothing is sent (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no profile `{name}` in {path} (it has: {available})")]
    UnknownProfile {
        name: String,
        path: PathBuf,
        available: String,
    },
    #[error("--profile {0} given, but no --config file (or ROSTER_CONFIG) to read it from")]
    ProfileWithoutFile(String),
    #[error("missing credentials: set {variable}{hint}")]
    MissingCredential {
        variable: &'static str,
        hint: String,
    },
    #[error("{what} is not valid: {problem}")]
    Invalid { what: String, problem: String },
    /// A flag's value out of its range, in words that name the flag.
    #[error("{0}")]
    Flag(String),
    /// A `--ca-cert` file (or `ROSTER_CA_CERT`, or a profile's `ca_cert`) that cannot be used.
    #[error("CA certificate file {path}: {problem}")]
    CaCert { path: PathBuf, problem: String },
}

/// The config file: `[profiles.NAME]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One named set of settings. Each credential may be given inline, as the name of an environment
/// variable holding it, or as a file holding it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `telecmi` or `smartflo`: the provider used when the command line names none.
    pub provider: Option<String>,
    /// API root replacing the provider's default.
    pub base_url: Option<String>,
    /// TeleCMI app id (not a secret).
    pub app_id: Option<String>,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// Smartflo bearer token.
    pub token: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Requests per second, or `"auto"`.
    pub rate: Option<RateArg>,
    /// Requests in flight.
    pub concurrency: Option<usize>,
    /// PEM file of extra certificate authorities to trust (e.g. a TLS-inspecting proxy's CA).
    pub ca_cert: Option<PathBuf>,
    /// Country of phone numbers written without a country code (`IN`).
    pub default_region: Option<Region>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
    }
}

/// The profile chosen by `--config` and `--profile` (`default` when the file has one and none is named).
pub fn load_profile(config: Option<&Path>, profile: Option<&str>) -> Result<Profile, ConfigError> {
    let Some(path) = config else {
        return match profile {
            Some(name) => Err(ConfigError::ProfileWithoutFile(name.to_string())),
            None => Ok(Profile::default()),
        };
    };
    let file = ConfigFile::load(path)?;
    let name = profile.unwrap_or("default");
    match file.profiles.get(name) {
        Some(found) => Ok(found.clone()),
        None if profile.is_none() => Ok(Profile::default()),
        None => Err(ConfigError::UnknownProfile {
            name: name.to_string(),
            path: path.to_path_buf(),
            available: file.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Reads an environment variable; a seam so tests need not touch the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// TeleCMI app id and secret.
#[derive(Debug, Clone)]
pub struct TelecmiCredentials {
    pub app_id: u64,
    pub secret: Secret,
}

fn from_file(path: &Path, what: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value = text.trim().to_string();
    if value.is_empty() {
        return Err(ConfigError::Invalid {
            what: format!("{what} file {}", path.display()),
            problem: "it is empty".to_string(),
        });
    }
    Ok(value)
}

/// The first of: the standard variable, the profile's inline value, its named variable, its file.
fn secret_value(
    env: Env,
    standard: &'static str,
    inline: &Option<String>,
    named_env: &Option<String>,
    file: &Option<PathBuf>,
    what: &str,
) -> Result<Option<String>, ConfigError> {
    if let Some(value) = env(standard) {
        return Ok(Some(value));
    }
    if let Some(value) = inline.clone().filter(|v| !v.is_empty()) {
        return Ok(Some(value));
    }
    if let Some(variable) = named_env {
        return match env(variable) {
            Some(value) => Ok(Some(value)),
            None => Err(ConfigError::Invalid {
                what: what.to_string(),
                problem: format!(
                    "the profile names environment variable {variable}, which is not set"
                ),
            }),
        };
    }
    file.as_deref()
        .map(|path| from_file(path, what))
        .transpose()
}

impl TelecmiCredentials {
    pub fn resolve(profile: &Profile, env: Env) -> Result<TelecmiCredentials, ConfigError> {
        let app_id = env("TELECMI_APP_ID")
            .or_else(|| profile.app_id.clone())
            .ok_or_else(|| ConfigError::MissingCredential {
                variable: "TELECMI_APP_ID",
                hint: " (or app_id in a --config profile)".to_string(),
            })?;
        let app_id = app_id
            .trim()
            .parse::<u64>()
            .map_err(|_| ConfigError::Invalid {
                what: "TELECMI_APP_ID".to_string(),
                problem: format!("expected the numeric app id, got {:?}", app_id.trim()),
            })?;
        let secret = secret_value(
            env,
            "TELECMI_SECRET",
            &profile.secret,
            &profile.secret_env,
            &profile.secret_file,
            "the TeleCMI secret",
        )?
        .ok_or_else(|| ConfigError::MissingCredential {
            variable: "TELECMI_SECRET",
            hint: " (or secret, secret_env or secret_file in a --config profile)".to_string(),
        })?;
        Ok(TelecmiCredentials {
            app_id,
            secret: Secret::new(secret),
        })
    }
}

/// The Smartflo bearer token.
pub fn smartflo_token(profile: &Profile, env: Env) -> Result<Secret, ConfigError> {
    secret_value(
        env,
        "SMARTFLO_TOKEN",
        &profile.token,
        &profile.token_env,
        &profile.token_file,
        "the Smartflo token",
    )?
    .map(Secret::new)
    .ok_or_else(|| ConfigError::MissingCredential {
        variable: "SMARTFLO_TOKEN",
        hint: " (or token, token_env or token_file in a --config profile)".to_string(),
    })
}

/// How to reach a provider, resolved from the flags over the profile over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSettings {
    pub base_url: String,
    /// How the rate is chosen: fixed (the default), auto, or unlimited.
    pub rate: RateMode,
    /// The highest rate any mode may reach.
    pub rate_max: Option<f64>,
    /// Requests that may go back to back; `None`: derived from the rate in force.
    pub burst: Option<u32>,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    /// A CA file to trust besides the bundled roots and the system's store.
    pub ca_cert: Option<PathBuf>,
}

impl ConnectionArgs {
    /// Precedence: flag (or its environment variable) > profile > `default_base_url` and the built-in
    /// defaults. Every value is checked here, before anything is sent.
    pub fn resolve(
        &self,
        profile: &Profile,
        default_base_url: &str,
    ) -> Result<ConnectionSettings, ConfigError> {
        let base_url = self
            .base_url
            .clone()
            .or_else(|| profile.base_url.clone())
            .unwrap_or_else(|| default_base_url.to_string());
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(ConfigError::Flag(format!(
                    "--base-url {base_url:?} is not an http(s) URL"
                )))
            }
        }
        let rate = match self.rate.or(profile.rate) {
            Some(RateArg::Auto) => RateMode::Auto,
            Some(RateArg::PerSecond(rate)) => fixed_rate(rate)?,
            None => fixed_rate(cli::DEFAULT_RATE)?,
        };
        if let Some(max) = self.rate_max {
            if !(max.is_finite() && max > 0.0) {
                return Err(ConfigError::Flag(format!(
                    "--rate-max {max} must be a positive number of requests per second"
                )));
            }
        }
        let concurrency = self
            .concurrency
            .or(profile.concurrency)
            .unwrap_or(cli::DEFAULT_CONCURRENCY)
            .max(1);
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return Err(ConfigError::Flag(
                "--timeout must be a positive number of seconds".to_string(),
            ));
        }
        let seconds = |value: f64, flag: &str| {
            if value.is_finite() && value >= 0.0 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(ConfigError::Flag(format!(
                    "{flag} must be a number of seconds, 0 or more"
                )))
            }
        };
        let retry = RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            base: seconds(self.retry_base, "--retry-base")?,
            cap: seconds(self.retry_max_wait, "--retry-max-wait")?,
        };
        let timeouts = Timeouts {
            request: Duration::from_secs_f64(self.timeout),
            ..Timeouts::default()
        };
        Ok(ConnectionSettings {
            base_url,
            rate,
            rate_max: self.rate_max,
            burst: self.burst,
            concurrency,
            retry,
            timeouts,
            ca_cert: self.ca_cert.clone().or_else(|| profile.ca_cert.clone()),
        })
    }
}

/// `--rate R` (or a profile's `rate`): 0 is unlimited.
fn fixed_rate(rate: f64) -> Result<RateMode, ConfigError> {
    if !rate.is_finite() || rate < 0.0 {
        return Err(ConfigError::Flag(format!(
            "--rate {rate} must be 0 (unlimited), more, or auto"
        )));
    }
    Ok(if rate > 0.0 {
        RateMode::Fixed(rate)
    } else {
        RateMode::Unlimited
    })
}

impl PhoneArgs {
    /// Precedence: `--default-region` (or `ROSTER_DEFAULT_REGION`) > the profile's `default_region`
    /// > none (numbers without a country code go out as written).
    pub fn resolve(&self, profile: &Profile) -> PhoneRule {
        PhoneRule::new(self.default_region.or(profile.default_region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_wins_over_the_profile() {
        let profile = Profile {
            app_id: Some("1".into()),
            secret: Some("from-file".into()),
            ..Profile::default()
        };
        let env = env_of(&[
            ("TELECMI_APP_ID", "1111112"),
            ("TELECMI_SECRET", "from-env"),
        ]);
        let creds = TelecmiCredentials::resolve(&profile, &env).unwrap();
        assert_eq!(creds.app_id, 1111112);
        assert_eq!(creds.secret.expose(), "from-env");
        let none = env_of(&[]);
        assert_eq!(
            TelecmiCredentials::resolve(&profile, &none)
                .unwrap()
                .secret
                .expose(),
            "from-file"
        );
    }

    #[test]
    fn missing_credentials_name_the_variable() {
        let env = env_of(&[("TELECMI_APP_ID", "1111112")]);
        let err = TelecmiCredentials::resolve(&Profile::default(), &env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("missing credentials: set TELECMI_SECRET"),
            "{err}"
        );
        let err = smartflo_token(&Profile::default(), &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("SMARTFLO_TOKEN"));
    }

    #[test]
    fn secrets_from_named_variables_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "tok-from-file\n").unwrap();
        let profile = Profile {
            token_file: Some(path),
            secret_env: Some("PROD_SECRET".into()),
            app_id: Some("42".into()),
            ..Profile::default()
        };
        assert_eq!(
            smartflo_token(&profile, &env_of(&[])).unwrap().expose(),
            "tok-from-file"
        );
        let env = env_of(&[("PROD_SECRET", "s3")]);
        assert_eq!(
            TelecmiCredentials::resolve(&profile, &env)
                .unwrap()
                .secret
                .expose(),
            "s3"
        );
        let err = TelecmiCredentials::resolve(&profile, &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("PROD_SECRET"), "{err}");
    }

    #[test]
    fn a_profile_rate_is_a_number_or_auto() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(&path, "[profiles.auto]\nrate = \"auto\"\n").unwrap();
        let auto = load_profile(Some(&path), Some("auto")).unwrap();
        assert_eq!(auto.rate, Some(RateArg::Auto));
        let settings = connection(&[]).resolve(&auto, "https://default.example");
        assert_eq!(settings.unwrap().rate, RateMode::Auto);
        std::fs::write(&path, "[profiles.fast]\nrate = \"fast\"\n").unwrap();
        let error = load_profile(Some(&path), Some("fast"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("roster.toml"), "{error}");
    }

    #[test]
    fn profiles_load_from_toml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(
            &path,
            "[profiles.prod]\nprovider = \"telecmi\"\napp_id = \"1111112\"\nsecret_env = \"X\"\nrate = 3.5\n\
             ca_cert = \"/etc/roster/corp-ca.pem\"\ndefault_region = \"in\"\n",
        )
        .unwrap();
        let prod = load_profile(Some(&path), Some("prod")).unwrap();
        assert_eq!(prod.rate, Some(RateArg::PerSecond(3.5)));
        assert_eq!(prod.default_region, Some("IN".parse().unwrap()));
        assert_eq!(
            prod.ca_cert.as_deref(),
            Some(Path::new("/etc/roster/corp-ca.pem"))
        );
        assert!(load_profile(Some(&path), None).unwrap().app_id.is_none());
        let err = load_profile(Some(&path), Some("staging")).unwrap_err();
        assert!(err.to_string().contains("it has: prod"), "{err}");
        std::fs::write(&path, "[profiles.prod]\nsecrett = \"typo\"\n").unwrap();
        assert!(matches!(
            load_profile(Some(&path), Some("prod")),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::write(&path, "[profiles.prod]\ndefault_region = \"India\"\n").unwrap();
        let err = load_profile(Some(&path), Some("prod")).unwrap_err();
        assert!(err.to_string().contains("ISO 3166"), "{err}");
    }

    #[test]
    fn the_region_flag_wins_over_the_profile() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            phones: PhoneArgs,
        }
        let flags = |args: &[&str]| {
            let argv = std::iter::once("roster").chain(args.iter().copied());
            Flags::try_parse_from(argv).expect("valid flags").phones
        };
        let profile = Profile {
            default_region: Some("IN".parse().unwrap()),
            ..Profile::default()
        };
        let us = PhoneRule::new(Some("US".parse().unwrap()));
        let india = PhoneRule::new(Some("IN".parse().unwrap()));
        assert_eq!(flags(&["--default-region", "us"]).resolve(&profile), us);
        assert_eq!(flags(&[]).resolve(&profile), india);
        assert_eq!(
            flags(&[]).resolve(&Profile::default()),
            PhoneRule::default()
        );
        assert!(Flags::try_parse_from(["roster", "--default-region", "XX"]).is_err());
    }

    fn connection(args: &[&str]) -> ConnectionArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            connection: ConnectionArgs,
        }
        let argv = std::iter::once("roster").chain(args.iter().copied());
        Flags::try_parse_from(argv).expect("valid flags").connection
    }

    #[test]
    fn connection_flags_win_over_the_profile_over_the_defaults() {
        let profile = Profile {
            base_url: Some("http://profile.example".into()),
            rate: Some(RateArg::PerSecond(2.0)),
            concurrency: Some(3),
            ..Profile::default()
        };
        let from_profile = connection(&[])
            .resolve(&profile, "https://default.example")
            .unwrap();
        assert_eq!(from_profile.base_url, "http://profile.example");
        assert_eq!(
            (from_profile.rate, from_profile.concurrency),
            (RateMode::Fixed(2.0), 3)
        );
        let flags = connection(&[
            "--base-url",
            "http://flag.example",
            "--rate",
            "250",
            "--concurrency",
            "9",
        ]);
        let from_flags = flags.resolve(&profile, "https://default.example").unwrap();
        assert_eq!(from_flags.base_url, "http://flag.example");
        assert_eq!(
            (from_flags.rate, from_flags.concurrency),
            (RateMode::Fixed(250.0), 9)
        );
        assert_eq!(from_flags.burst, None, "derived from the rate in force");
        let defaults = connection(&[])
            .resolve(&Profile::default(), "https://default.example")
            .unwrap();
        assert_eq!(defaults.base_url, "https://default.example");
        assert_eq!(defaults.rate, RateMode::Fixed(cli::DEFAULT_RATE));
        assert_eq!(defaults.concurrency, cli::DEFAULT_CONCURRENCY);
        assert_eq!(
            connection(&["--rate", "0"])
                .resolve(&profile, "")
                .unwrap()
                .rate,
            RateMode::Unlimited
        );
        let auto = connection(&["--rate", "auto", "--rate-max", "80"])
            .resolve(&profile, "")
            .unwrap();
        assert_eq!((auto.rate, auto.rate_max), (RateMode::Auto, Some(80.0)));
    }

    #[test]
    fn connection_values_out_of_range_name_their_flag() {
        let none = Profile::default();
        for (args, flag) in [
            (&["--base-url", "ftp://x"][..], "--base-url"),
            (&["--rate=-1"][..], "--rate"),
            (&["--rate-max", "0"][..], "--rate-max"),
            (&["--timeout", "0"][..], "--timeout"),
            (&["--retry-base", "NaN"][..], "--retry-base"),
            (&["--retry-max-wait=-2"][..], "--retry-max-wait"),
        ] {
            let err = connection(args)
                .resolve(&none, "https://d.example")
                .unwrap_err();
            assert!(err.to_string().starts_with(flag), "{args:?}: {err}");
        }
    }
}
