//! Progress display: an indicatif bar on a terminal, a log line every few seconds elsewhere (cron),
//! and a log writer that draws around the bar instead of tearing it.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::text;

/// How often a non-terminal run logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// How often the current rate is measured: long enough to smooth a burst, short enough to follow
/// a change.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// How far the rate limit in force may move from the last one printed before a line says so.
const RATE_CHANGE_SHOWN: f64 = 0.2;
/// The widest a bar line may be, whatever the terminal claims.
const BAR_LINE_WIDTH: usize = 80;
const BAR_WIDTH: usize = 16;

/// The bar on screen, if any; the log writer suspends it while writing a line.
static ACTIVE_BAR: OnceLock<Mutex<Option<ProgressBar>>> = OnceLock::new();

fn active() -> &'static Mutex<Option<ProgressBar>> {
    ACTIVE_BAR.get_or_init(|| Mutex::new(None))
}

/// Progress of one command.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    total: Option<u64>,
    pace: Mutex<Pace>,
    enabled: bool,
    /// Drawn on two lines with another stage's bar: suspending either suspends both, so the log
    /// writer keeps this one when the other finishes first.
    paired: bool,
}

/// What the progress lines measure as the run goes.
struct Pace {
    started: Instant,
    /// Where the current rate's window began, and how much was done then.
    window: (Instant, u64),
    per_second: Option<f64>,
    last_log: Instant,
    /// The rate limit in force as last printed, and when it was last looked at.
    rate_printed: Option<f64>,
    rate_looked: Option<Instant>,
}

impl Progress {
    /// `total`: how much work there is (rows of a sheet), when known. `show`: false under
    /// `--quiet`; then nothing is drawn or logged.
    pub fn new(what: &'static str, total: Option<u64>, show: bool) -> Progress {
        let bar = (show && io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = match total {
                Some(_) => format!("{{spinner}} {{prefix}} {{bar:{BAR_WIDTH}}} {{msg}}"),
                None => "{spinner} {prefix} {msg}".to_string(),
            };
            bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            *active().lock().expect("progress lock") = Some(bar.clone());
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            what,
            total,
            pace: Mutex::new(Pace {
                started: now,
                window: (now, 0),
                per_second: None,
                last_log: now,
                rate_printed: None,
                rate_looked: None,
            }),
            enabled: show,
            paired: false,
        }
    }

    /// Two stages that run at once, each on its own line.
    pub fn pair(first: &'static str, second: &'static str, show: bool) -> (Progress, Progress) {
        let (mut first, mut second) = (
            Progress::new(first, None, show),
            Progress::new(second, None, show),
        );
        if let (Some(a), Some(b)) = (&first.bar, &second.bar) {
            let lines = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            lines.add(a.clone());
            lines.add(b.clone());
            (first.paired, second.paired) = (true, true);
        }
        (first, second)
    }

    /// `done` of the total given at creation are finished; `detail` says how they went.
    pub fn update(&self, done: u64, detail: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        let mut pace = self.pace.lock().expect("progress lock");
        let (since, done_then) = pace.window;
        let window = since.elapsed();
        if window >= RATE_WINDOW {
            pace.per_second = Some(done.saturating_sub(done_then) as f64 / window.as_secs_f64());
            pace.window = (Instant::now(), done);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            let fixed = self.what.len() + BAR_WIDTH + 4;
            let line = self.line(done, pace.per_second, &detail());
            bar.set_message(text::clip(&line, BAR_LINE_WIDTH.saturating_sub(fixed)));
            return;
        }
        if pace.last_log.elapsed() >= LOG_EVERY {
            pace.last_log = Instant::now();
            tracing::info!(
                elapsed_s = pace.started.elapsed().as_secs(),
                "{} progress: {}",
                self.what,
                self.line(done, pace.per_second, &detail())
            );
        }
    }

    /// Say so when the rate limit in force has moved by more than a fifth since it was last said
    /// (the first look only remembers it). `rate` is asked at most once per [`RATE_WINDOW`]: it
    /// takes the lock every request takes.
    pub fn rate_in_force(&self, rate: impl FnOnce() -> Option<f64>) {
        if !self.enabled {
            return;
        }
        let mut pace = self.pace.lock().expect("progress lock");
        if pace
            .rate_looked
            .is_some_and(|at| at.elapsed() < RATE_WINDOW)
        {
            return;
        }
        pace.rate_looked = Some(Instant::now());
        let Some(rate) = rate() else { return };
        match pace.rate_printed {
            None => pace.rate_printed = Some(rate),
            Some(printed) if (rate - printed).abs() > RATE_CHANGE_SHOWN * printed => {
                pace.rate_printed = Some(rate);
                drop(pace);
                tracing::info!(
                    "{}: the rate limit in force is now {rate:.1} requests/s (was {printed:.1})",
                    self.what
                );
            }
            Some(_) => {}
        }
    }

    /// `1200/5000 (24%), 41.3/s, ETA 1m 32s: DETAIL`, as much of it as is known.
    fn line(&self, done: u64, per_second: Option<f64>, detail: &str) -> String {
        let rate = per_second.map(|r| format!(", {r:.1}/s"));
        match self.total {
            Some(total) => {
                let percent = (done * 100).checked_div(total).unwrap_or(100);
                let eta = per_second
                    .filter(|r| *r > 0.0)
                    .map(|r| format!(", ETA {}", eta(total.saturating_sub(done) as f64 / r)));
                format!(
                    "{done}/{total} ({percent}%){}{}: {detail}",
                    rate.unwrap_or_default(),
                    eta.unwrap_or_default()
                )
            }
            None => format!("{detail}{}", rate.unwrap_or_default()),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            if !self.paired {
                *active().lock().expect("progress lock") = None;
            }
        }
    }
}

/// `45s`, `4m 10s`, `2h 05m`.
fn eta(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Log destination (stderr) that hides the progress bar while a line is written.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = active().lock().expect("progress lock").clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_done_total_percent_rate_and_eta() {
        let progress = Progress::new("import", Some(5000), false);
        assert_eq!(
            progress.line(1200, Some(40.0), "1200 ok"),
            "1200/5000 (24%), 40.0/s, ETA 1m 35s: 1200 ok"
        );
        assert_eq!(
            progress.line(0, None, "starting"),
            "0/5000 (0%): starting",
            "no rate measured yet"
        );
        let unknown = Progress::new("export", None, false);
        assert_eq!(
            unknown.line(300, Some(12.5), "300 users"),
            "300 users, 12.5/s"
        );
    }

    #[test]
    fn eta_reads_as_people_say_it() {
        assert_eq!(eta(44.6), "45s");
        assert_eq!(eta(250.0), "4m 10s");
        assert_eq!(eta(7500.0), "2h 05m");
    }
}
