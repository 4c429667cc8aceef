//! Command-line definitions (raw options). Resolution into settings happens in `config` and the
//! command modules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::input::{Delimiter, SheetChoice, TextEncoding};
use crate::model::Mode;
use crate::phone::Region;

pub const DEFAULT_RATE: f64 = 5.0;
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Users asked for per list call.
pub const DEFAULT_PAGE_SIZE: u64 = 100;

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "Keep TeleCMI and Tata Smartflo user rosters in step with spreadsheets",
    long_about = "Keep TeleCMI and Tata Smartflo user rosters in step with spreadsheets.\n\n\
        Credentials come from TELECMI_APP_ID, TELECMI_SECRET and SMARTFLO_TOKEN, or from a --config profile; \
        never from the command line. Logs and progress go to stderr; data goes to stdout only when asked.\n\n\
        Corporate networks: the system's certificate store (or SSL_CERT_FILE / SSL_CERT_DIR) is trusted besides the \
        bundled public roots, --ca-cert FILE adds a CA, and HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured.\n\n\
        Environment: TELECMI_APP_ID, TELECMI_SECRET and SMARTFLO_TOKEN (credentials), ROSTER_BASE_URL (the API root), \
        ROSTER_CONFIG and ROSTER_PROFILE (the config file and its profile), ROSTER_CA_CERT (an extra CA), NO_COLOR.",
    after_help = "Exit codes: 0 all rows ok, 1 some rows failed or invalid, 2 stopped before the first request \
        (usage, config, credentials, input, outputs), 3 aborted after it (auth rejected, provider unreachable, \
        TLS failure, interrupted)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, under their own heading.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More detail in logs (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Only errors in logs, no progress display
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Log line format on stderr (json: one object per line, for log shippers)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, help_heading = GLOBAL)]
    pub log_format: LogFormat,
    /// `roster --config FILE COMMAND`, as earlier versions took it; hidden so that the commands
    /// that read a profile show these where they apply
    #[arg(long, value_name = "FILE", hide = true)]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "NAME", hide = true)]
    pub profile: Option<String>,
}

const GLOBAL: &str = "Global options";

/// The config file and profile, taken by the commands that read one.
#[derive(Debug, Args, Clone, Default)]
pub struct ProfileArgs {
    /// TOML file with named profiles (see samples/roster.toml)
    #[arg(long, env = "ROSTER_CONFIG", value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// Profile of the config file to use [default: `default` when the file has one]
    #[arg(long, env = "ROSTER_PROFILE", value_name = "NAME", help_heading = GLOBAL)]
    pub profile: Option<String>,
}

impl ProfileArgs {
    /// These, with what was given before the command name winning over the environment.
    pub fn under(&self, global: &GlobalArgs) -> ProfileArgs {
        ProfileArgs {
            config: global.config.clone().or_else(|| self.config.clone()),
            profile: global.profile.clone().or_else(|| self.profile.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    Telecmi,
    Smartflo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportProvider {
    Telecmi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
    /// An Excel workbook: phone numbers, extensions and agent ids are text cells, so Excel never
    /// shows them as 9.19812E+11; header bold, frozen and filtered
    Xlsx,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every row of a sheet and print row-numbered problems; sends nothing
    #[command(after_help = "Example:\n  roster validate agents.csv --mode add")]
    Validate(ValidateArgs),
    /// Create or update TeleCMI users from a sheet, rate-limited and concurrent, with a per-row report
    #[command(
        after_help = "Examples:\n  roster import agents.csv --provider telecmi --mode upsert --report results.csv\n  \
        roster import agents.csv --dry-run\n  roster import fixes.csv --mode update --rate 10 --concurrency 8 --json"
    )]
    Import(ImportArgs),
    /// Write the full user roster of an account to CSV, JSONL or an Excel workbook, atomically
    #[command(
        after_help = "Examples:\n  roster export --provider telecmi --output roster.csv\n  \
        roster export --provider smartflo --format jsonl --output - --filter is_extension_created=true"
    )]
    Export(ExportArgs),
    /// Make the account look like a sheet: plan against the live roster, --apply to carry it out
    #[command(
        after_help = "Examples:\n  roster sync agents.csv --provider telecmi --plan-out plan.json\n  \
        roster sync agents.csv --apply --report results.csv"
    )]
    Sync(SyncArgs),
    /// Move users from a Smartflo or TeleCMI account into a TeleCMI account: plan, then --apply
    #[command(
        after_help = "Examples:\n  roster migrate --from smartflo --to telecmi --extension-range 100-999 \\\n    \
        --credentials-out credentials.csv --plan-out plan.json\n  \
        roster migrate --from telecmi --from-profile old --to-profile new \\\n    \
        --credentials-out creds.csv --apply"
    )]
    Migrate(MigrateArgs),
    /// Change report between two roster exports (CSV or JSONL): who joined, left or changed
    #[command(
        after_help = "Examples:\n  roster diff yesterday.csv today.csv\n  roster diff old.jsonl new.csv --output changes.csv\n  \
        roster diff old.csv new.csv --json"
    )]
    Diff(DiffArgs),
    /// Run the built-in fake TeleCMI + Smartflo server, for demos, tests and rehearsals
    #[command(
        after_help = "Example:\n  roster sandbox --listen 127.0.0.1:8080 --seed-telecmi 50 --seed-smartflo 40\n  \
        # then, in another shell:\n  ROSTER_BASE_URL=http://127.0.0.1:8080 TELECMI_APP_ID=1111112 \\\n    \
        TELECMI_SECRET=sandbox-secret roster export --provider telecmi"
    )]
    Sandbox(SandboxArgs),
    /// Render the HTML page of a run later, from its JSON summary or plan
    #[command(
        after_help = "Reads what --summary, --json or --plan-out wrote (import, export, sync, migrate) and\n\
        writes the same self-contained page --html-report writes.\n\nExamples:\n  \
        roster report summary.json --html summary.html\n  roster report plan.json --html plan.html"
    )]
    Report(ReportArgs),
    /// Print a shell completion script
    #[command(after_help = "Example:\n  roster completions bash > /etc/bash_completion.d/roster")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The config file and profile this command reads, if it reads one.
    pub fn profile_args(&self) -> Option<&ProfileArgs> {
        match self {
            Command::Validate(args) => Some(&args.profile),
            Command::Import(args) => Some(&args.profile),
            Command::Export(args) => Some(&args.profile),
            Command::Sync(args) => Some(&args.profile),
            Command::Migrate(args) => Some(&args.profile),
            Command::Diff(args) => Some(&args.profile),
            Command::Sandbox(_) | Command::Report(_) | Command::Completions { .. } => None,
        }
    }
}

/// How a sheet is read and which rules apply.
#[derive(Debug, Clone, Args)]
pub struct SheetArgs {
    /// The spreadsheet: CSV (UTF-8, UTF-16 or Windows-1252) or a workbook (.xlsx, .xlsm, .xls,
    /// .xlsb, .ods), told apart by content; `-` reads standard input (it and a pipe are copied to
    /// a private temporary file first)
    pub file: PathBuf,
    /// The sheet of a workbook to read, by name or number (1 is the first) [default: the first
    /// visible worksheet]
    #[arg(long, value_name = "NAME|INDEX", value_parser = clap::value_parser!(SheetChoice))]
    pub sheet: Option<SheetChoice>,
    /// Field delimiter: auto (`,` `;` or tab from the header), a character, tab, comma or semicolon
    #[arg(long, default_value = "auto", value_parser = clap::value_parser!(Delimiter))]
    pub delimiter: Delimiter,
    /// Text encoding of the file
    #[arg(long, value_enum, default_value_t = TextEncoding::Auto)]
    pub encoding: TextEncoding,
    /// Allowed extension length in digits, MIN-MAX
    #[arg(long, default_value = "2-6", value_parser = parse_range, value_name = "MIN-MAX")]
    pub extension_digits: (usize, usize),
    /// Shortest password accepted
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub min_password_length: usize,
    /// Largest row read, all its cells together (K, M and G suffixes: 1M = 1 MiB)
    #[arg(long, default_value = "1M", value_parser = parse_size, value_name = "SIZE")]
    pub max_record_bytes: u64,
    /// Largest cell read
    #[arg(long, default_value = "64K", value_parser = parse_size, value_name = "SIZE")]
    pub max_field_bytes: u64,
    /// Largest workbook read (a sheet is read into memory whole)
    #[arg(long, default_value = "64M", value_parser = parse_size, value_name = "SIZE")]
    pub max_workbook_bytes: u64,
    #[command(flatten)]
    pub phones: PhoneArgs,
    /// What messages call the sheet when `file` is a copy of it (standard input, a pipe).
    #[arg(skip)]
    pub shown_as: Option<PathBuf>,
}

/// How phone numbers are read and compared.
#[derive(Debug, Args, Clone, Default)]
pub struct PhoneArgs {
    /// Country (ISO 3166 code, e.g. IN) of phone numbers written without a country code, such as
    /// `098123 00001`; numbers starting + or 00 are international whatever it says. Phones are sent
    /// as digits with the country code first (919812300001) [profile key: default_region]
    #[arg(long, env = "ROSTER_DEFAULT_REGION", value_name = "REGION")]
    pub default_region: Option<Region>,
}

/// `4096`, `64K`, `1M`, `2G` (binary units).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&text[..text.len() - 1], 10),
        Some('M') => (&text[..text.len() - 1], 20),
        Some('G') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let number: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("expected a size such as 4096, 64K or 1M, got {text:?}"))?;
    number
        .checked_mul(1 << shift)
        .filter(|&size| size > 0)
        .ok_or_else(|| format!("{text:?} is not a size roster can use"))
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub sheet: SheetArgs,
    /// What the rows are for
    #[arg(long, value_enum, default_value_t = Mode::Upsert)]
    pub mode: Mode,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Most problems listed on stderr (all are counted)
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub show: usize,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Where requests go and how fast.
#[derive(Debug, Args, Clone)]
pub struct ConnectionArgs {
    /// API root replacing the provider's default (documented paths are appended)
    #[arg(long, env = "ROSTER_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Requests per second for the whole run, retries and reads included, lowered while the
    /// provider throttles and regrown after; `auto` = start at 5 and probe up to the provider's
    /// limit; 0 = unlimited until the provider throttles [default: 5]
    #[arg(long, value_name = "R|auto", value_parser = parse_rate)]
    pub rate: Option<RateArg>,
    /// Highest rate `--rate auto` (or `--rate 0` after a throttle) may probe to, in req/s
    #[arg(long, value_name = "R")]
    pub rate_max: Option<f64>,
    /// Requests that may go back to back after an idle spell [default: 1, or rate/100 above 100 req/s, which
    /// absorbs timer slack without letting any one-second window see much more than the rate]
    #[arg(long, value_name = "N")]
    pub burst: Option<u32>,
    /// Requests in flight at once [default: 4]
    #[arg(long, value_name = "C")]
    pub concurrency: Option<usize>,
    /// Seconds before a request is given up (connect timeout is 10 s)
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Tries per request, the first included, for transient failures (timeouts, 429, 5xx); an add
    /// sent again after a lost response spends from the same tries
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub max_attempts: u32,
    /// First backoff ceiling in seconds; doubles per retry, each wait drawn at random below it
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS")]
    pub retry_base: f64,
    /// Longest wait before a retry, in seconds, for backoff and for a provider's Retry-After alike
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    pub retry_max_wait: f64,
    /// Also trust the certificate authorities in FILE (PEM, one or more), e.g. the CA of a
    /// TLS-inspecting proxy; the bundled public roots and the system's store stay trusted
    #[arg(long, env = "ROSTER_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub sheet: SheetArgs,
    /// What the rows are for
    #[arg(long, value_enum, default_value_t = Mode::Upsert)]
    pub mode: Mode,
    /// Target provider
    #[arg(long, value_enum, default_value_t = ImportProvider::Telecmi)]
    pub provider: ImportProvider,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Validate and plan, change nothing: with credentials the account is read (list calls only)
    /// so that each row says what the real run would do to it
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Reporting, resume and safety stops of a run that sends rows.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Results CSV: one line per input row [default: the sheet's stem + .results.csv; for
    /// migrate, the credentials file's]
    #[arg(long, value_name = "OUT.csv")]
    pub report: Option<PathBuf>,
    /// The original rows of every failed or invalid row, to fix and feed back (mode 0600), with
    /// their row number and reason in two added columns that import ignores. A workbook when OUT
    /// ends in .xlsx, else CSV [default OUT: the sheet's stem + .failed.csv, or .failed.xlsx
    /// for a workbook; for migrate, the credentials file's]. A duplicate goes in only beside the row it repeats, so re-running the file
    /// never overwrites the user an earlier row made
    #[arg(long, value_name = "OUT", num_args = 0..=1, require_equals = false)]
    pub failed: Option<Option<PathBuf>>,
    /// JSON summary of the run
    #[arg(long, value_name = "OUT.json")]
    pub summary: Option<PathBuf>,
    /// Print the JSON summary on stdout
    #[arg(long)]
    pub json: bool,
    /// One self-contained HTML page of the run (a plan's page without --apply): outcomes,
    /// requests, latency, the rows to fix and the settings; no secret, no password
    #[arg(long, value_name = "FILE.html")]
    pub html_report: Option<PathBuf>,
    /// Continue an interrupted or crashed run of the same sheet (for migrate, the same credentials
    /// file) against the same account: rows its journal records as done are reported again, not
    /// sent again
    #[arg(long)]
    pub resume: bool,
    /// Resume journal: each row's final outcome, synced as the run goes [default: REPORT.journal]
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Stop early once this many rows failed or were invalid (N, or P% of the rows so far); off by default
    #[arg(long, value_name = "N|P%", value_parser = parse_failure_limit)]
    pub max_failures: Option<FailureLimit>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON summary (import, export, sync --apply, migrate --apply) or plan (sync, migrate)
    #[arg(value_name = "SUMMARY.json")]
    pub document: PathBuf,
    /// Where the page goes
    #[arg(long, value_name = "FILE.html")]
    pub html: PathBuf,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier export
    pub old: PathBuf,
    /// The later export
    pub new: PathBuf,
    /// Write the change report to FILE: CSV (change,key,name,field,old,new), JSON when FILE ends
    /// in .json, or a workbook when it ends in .xlsx
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the change report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub phones: PhoneArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Source roster
    #[arg(long, value_enum)]
    pub from: Provider,
    /// Target provider
    #[arg(long, value_enum, default_value_t = ImportProvider::Telecmi)]
    pub to: ImportProvider,
    /// Config profile with the source's credentials (its values then win over the environment)
    #[arg(long, value_name = "NAME")]
    pub from_profile: Option<String>,
    /// Config profile with the target's credentials (its values then win over the environment)
    #[arg(long, value_name = "NAME")]
    pub to_profile: Option<String>,
    /// API root of the source (else --base-url)
    #[arg(long, value_name = "URL")]
    pub from_base_url: Option<String>,
    /// API root of the target (else --base-url)
    #[arg(long, value_name = "URL")]
    pub to_base_url: Option<String>,
    /// Extensions to allocate when a source extension is missing, invalid or taken
    #[arg(long, default_value = "100-999", value_parser = parse_extension_range, value_name = "A-B")]
    pub extension_range: (u32, u32),
    /// Valid extension length in digits, MIN-MAX
    #[arg(long, default_value = "2-6", value_parser = parse_range, value_name = "MIN-MAX")]
    pub extension_digits: (usize, usize),
    /// CSV of passwords to use: a `password` column and an `id`, `source_id` or `login_id` column
    #[arg(long, value_name = "FILE")]
    pub passwords: Option<PathBuf>,
    /// Length of generated passwords
    #[arg(long, default_value_t = 12, value_name = "N", value_parser = clap::value_parser!(u16).range(8..=64))]
    pub password_length: u16,
    /// Migrate users that are disabled in the source too
    #[arg(long)]
    pub include_disabled: bool,
    /// TOML overriding which source column feeds each field, and the defaults (see README)
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Users to create with their passwords, mode 0600; an import sheet (required with --apply)
    #[arg(long, value_name = "FILE.csv")]
    pub credentials_out: Option<PathBuf>,
    #[command(flatten)]
    pub phones: PhoneArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Plan first, act on request: sync and migrate.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Write the plan as JSON (passwords are compared, never written)
    #[arg(long, value_name = "PLAN.json")]
    pub plan_out: Option<PathBuf>,
    /// Carry the plan out (without it, nothing but the list calls is sent)
    #[arg(long)]
    pub apply: bool,
    /// Users asked for per page of each roster
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub page_size: u64,
}

fn parse_extension_range(s: &str) -> Result<(u32, u32), String> {
    let (first, last) = s.split_once('-').ok_or("expected A-B, e.g. 100-999")?;
    let first: u32 = first.trim().parse().map_err(|_| "A is not a number")?;
    let last: u32 = last.trim().parse().map_err(|_| "B is not a number")?;
    if first == 0 || first > last || last > 999_999_999 {
        return Err("expected 0 < A <= B <= 999999999".to_string());
    }
    Ok((first, last))
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub sheet: SheetArgs,
    /// Target provider
    #[arg(long, value_enum, default_value_t = ImportProvider::Telecmi)]
    pub provider: ImportProvider,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureLimit {
    Count(u64),
    Percent(f64),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Source provider [default: the profile's `provider`]
    #[arg(long, value_enum)]
    pub provider: Option<Provider>,
    /// Output file, or - for stdout
    #[arg(long, short, default_value = "-", value_name = "FILE|-")]
    pub output: String,
    /// File format of the export
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write TeleCMI passwords (the file is then created with mode 0600)
    #[arg(long)]
    pub include_passwords: bool,
    /// Smartflo list filter, NAME=true|false (is_extension_created, is_login_based_calling,
    /// is_international_calling, is_web_login, user_status); repeatable
    #[arg(long, value_name = "NAME=BOOL", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Users asked for per page
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub page_size: u64,
    /// Compare the new roster with this earlier export (it may be the --output file being replaced)
    /// and report who joined, left or changed
    #[arg(long, value_name = "PREVIOUS")]
    pub diff_against: Option<PathBuf>,
    /// Where the change report goes (CSV, or JSON when it ends in .json) [default: only the summary line]
    #[arg(long, value_name = "FILE", requires = "diff_against")]
    pub diff_output: Option<PathBuf>,
    /// JSON summary of the export
    #[arg(long, value_name = "OUT.json")]
    pub summary: Option<PathBuf>,
    /// One self-contained HTML page of the export: users, pages, digest, and with
    /// --diff-against who joined, left and changed (passwords only as "changed")
    #[arg(long, value_name = "FILE.html")]
    pub html_report: Option<PathBuf>,
    /// Print the JSON summary on stdout (not with --output -)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port (the URL is printed first on stdout)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// TeleCMI app id the sandbox accepts
    #[arg(long, default_value_t = crate::sandbox::DEFAULT_APP_ID)]
    pub app_id: u64,
    /// TeleCMI secret the sandbox accepts
    #[arg(long, default_value = crate::sandbox::DEFAULT_SECRET)]
    pub secret: String,
    /// Smartflo bearer token the sandbox accepts
    #[arg(long, default_value = crate::sandbox::DEFAULT_TOKEN)]
    pub token: String,
    /// Pre-populated TeleCMI users (deterministic)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed_telecmi: usize,
    /// Pre-populated Smartflo users (deterministic; some without extension)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed_smartflo: usize,
    /// TeleCMI add answers "User limit reached" once the account holds N users; off by default
    #[arg(long, value_name = "N")]
    pub user_limit: Option<usize>,
    /// Store TeleCMI phone numbers as their digits only (+91 98123 00001 becomes 919812300001);
    /// by default they are kept exactly as received, as the real service may
    #[arg(long)]
    pub normalise_phones: bool,
    /// Fixed latency added to every request, in milliseconds
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Random extra latency up to this many milliseconds
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub jitter_ms: u64,
    /// Requests per second the server accepts (its bucket holds one second's worth); above it,
    /// 429 with Retry-After; off by default
    #[arg(long, value_name = "R")]
    pub rate_limit: Option<f64>,
    /// The limit changing over time, RATE@SECONDS steps from the start, e.g. 40@0,15@10,60@20
    /// (40 req/s, 15 from the tenth second, 60 from the twentieth); replaces --rate-limit
    #[arg(long, value_name = "R@S,...", value_parser = parse_rate_schedule)]
    pub rate_schedule: Option<RateSchedule>,
    /// At most N random faults (429, 500, lost add response) in a row for one request (the same
    /// path and body); its next try goes through, so a correct client always finishes
    #[arg(long, value_name = "N")]
    pub max_fault_streak: Option<u32>,
    /// Fraction of requests answered 500
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION", value_parser = parse_fraction)]
    pub error_rate: f64,
    /// Fraction of requests answered 429 with Retry-After
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION", value_parser = parse_fraction)]
    pub throttle_rate: f64,
    /// Retry-After seconds sent with 429 answers
    #[arg(long, default_value_t = 1, value_name = "SECONDS")]
    pub retry_after: u64,
    /// Fraction of adds that are committed but whose response is lost
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION", value_parser = parse_fraction)]
    pub lost_add_rate: f64,
    /// Largest list `limit` the server honours; off by default (any limit is honoured)
    #[arg(long, value_name = "N")]
    pub list_limit_cap: Option<usize>,
}

/// `--rate-schedule`: `(from, rate)` steps in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSchedule(pub Vec<(Duration, f64)>);

fn parse_rate_schedule(s: &str) -> Result<RateSchedule, String> {
    let mut steps = Vec::new();
    for step in s.split(',') {
        let (rate, at) = step
            .trim()
            .split_once('@')
            .ok_or("expected RATE@SECONDS steps, e.g. 40@0,15@10,60@20")?;
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("{rate:?} is not a rate"))?;
        let at: f64 = at
            .trim()
            .parse()
            .map_err(|_| format!("{at:?} is not a number of seconds"))?;
        if !(rate.is_finite() && rate >= 0.0 && at.is_finite() && at >= 0.0) {
            return Err(format!("{step:?}: rates and seconds are 0 or more"));
        }
        steps.push((Duration::from_secs_f64(at), rate));
    }
    if !steps.windows(2).all(|pair| pair[0].0 < pair[1].0) {
        return Err("the steps' seconds must increase".to_string());
    }
    Ok(RateSchedule(steps))
}

/// `--rate`: a number of requests per second, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateArg {
    Auto,
    PerSecond(f64),
}

/// A profile's `rate`: a number, or `"auto"`.
impl<'de> serde::Deserialize<'de> for RateArg {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(f64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(rate) => Ok(RateArg::PerSecond(rate)),
            Written::Text(text) => parse_rate(&text).map_err(serde::de::Error::custom),
        }
    }
}

fn parse_rate(s: &str) -> Result<RateArg, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(RateArg::Auto);
    }
    s.trim()
        .parse::<f64>()
        .map(RateArg::PerSecond)
        .map_err(|_| "expected requests per second (0 = unlimited) or auto".to_string())
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (min, max) = s.split_once('-').ok_or("expected MIN-MAX, e.g. 2-6")?;
    let min: usize = min.trim().parse().map_err(|_| "MIN is not a number")?;
    let max: usize = max.trim().parse().map_err(|_| "MAX is not a number")?;
    if min == 0 || min > max || max > 9 {
        return Err("expected 1 <= MIN <= MAX <= 9".to_string());
    }
    Ok((min, max))
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err("expected a fraction from 0 to 1, e.g. 0.05".to_string()),
    }
}

fn parse_failure_limit(s: &str) -> Result<FailureLimit, String> {
    if let Some(percent) = s.strip_suffix('%') {
        return match percent.trim().parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(FailureLimit::Percent(p)),
            _ => Err("expected a percentage above 0 and at most 100, e.g. 20%".to_string()),
        };
    }
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(FailureLimit::Count(n)),
        _ => Err("expected a row count above 0 or a percentage, e.g. 50 or 20%".to_string()),
    }
}

fn parse_filter(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=true|false")?;
    let name = name.trim();
    if !crate::provider::smartflo::FILTERS.contains(&name) {
        return Err(format!(
            "unknown filter {name:?}; the documented ones are {}",
            crate::provider::smartflo::FILTERS.join(", ")
        ));
    }
    let value = crate::validate::parse_bool(value.trim()).ok_or("expected true or false")?;
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn rate_schedules_and_rates() {
        let schedule = parse_rate_schedule("40@0, 15@10,60@20.5").unwrap();
        assert_eq!(
            schedule.0,
            [
                (Duration::ZERO, 40.0),
                (Duration::from_secs(10), 15.0),
                (Duration::from_secs_f64(20.5), 60.0)
            ]
        );
        assert!(parse_rate_schedule("40@10,15@5").is_err());
        assert!(parse_rate_schedule("40").is_err());
        assert!(parse_rate_schedule("-1@0").is_err());
        assert_eq!(parse_rate("auto"), Ok(RateArg::Auto));
        assert_eq!(parse_rate("2.5"), Ok(RateArg::PerSecond(2.5)));
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn failure_limits() {
        assert_eq!(parse_failure_limit("50"), Ok(FailureLimit::Count(50)));
        assert_eq!(parse_failure_limit("20%"), Ok(FailureLimit::Percent(20.0)));
        assert!(parse_failure_limit("0").is_err());
        assert!(parse_failure_limit("120%").is_err());
    }

    #[test]
    fn filters_are_the_documented_ones() {
        assert_eq!(
            parse_filter("is_extension_created=yes"),
            Ok(("is_extension_created".to_string(), "true".to_string()))
        );
        assert!(parse_filter("colour=blue")
            .unwrap_err()
            .contains("documented"));
    }
}
