//! Progress display: an indicatif bar on a terminal, a log line every few seconds elsewhere (cron),
//! and a log writer that draws around the bar instead of tearing it.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a non-terminal run logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The bar on screen, if any; the log writer suspends it while writing a line.
static ACTIVE_BAR: OnceLock<Mutex<Option<ProgressBar>>> = OnceLock::new();

fn active() -> &'static Mutex<Option<ProgressBar>> {
    ACTIVE_BAR.get_or_init(|| Mutex::new(None))
}

/// Progress of one command.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    started: Instant,
    last_log: Mutex<Instant>,
    enabled: bool,
}

impl Progress {
    /// `total`: the length of the work in `unit`s when known (bytes of input, users of a roster).
    /// `show`: false under `--quiet`; then nothing is drawn or logged.
    pub fn new(what: &'static str, total: Option<u64>, show: bool) -> Progress {
        let bar = (show && io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = match total {
                Some(_) => "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}",
                None => "{spinner} {prefix} [{elapsed_precise}] {msg}",
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            *active().lock().expect("progress lock") = Some(bar.clone());
            bar
        });
        Progress {
            bar,
            what,
            started: Instant::now(),
            last_log: Mutex::new(Instant::now()),
            enabled: show,
        }
    }

    /// Move to `position` (of the total given at creation) and show `message`.
    pub fn update(&self, position: u64, message: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            bar.set_message(message());
            return;
        }
        let mut last = self.last_log.lock().expect("progress lock");
        if last.elapsed() >= LOG_EVERY {
            *last = Instant::now();
            tracing::info!(
                elapsed_s = self.started.elapsed().as_secs(),
                "{} progress: {}",
                self.what,
                message()
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            *active().lock().expect("progress lock") = None;
        }
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
