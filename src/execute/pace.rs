//! The rate controller: how many requests per second a run sends, adapted to what the provider
//! answers. It is in the class of the AWS SDKs' adaptive retry mode (CUBIC-style), with a slow start
//! so that a ceiling that rises is found quickly. The contract:
//!
//! - **Modes.** `Fixed(r)` starts at `r` and never goes above it (the default, 5 req/s). `Auto`
//!   starts at [`AUTO_START`] and probes upward until the provider throttles (`--rate-max` caps
//!   it). `Unlimited` (`--rate 0`) does not pace at all until the provider throttles.
//! - **Evidence, not single answers.** Answers to the requests sent since the rate last dropped
//!   are evidence, the last [`EVIDENCE`] of them. A 429 means "you are over the ceiling" only
//!   when 429s are concentrated: at least [`CEILING_THROTTLES`] among them. An isolated 429 while the rate is
//!   steady (other integrations sharing the quota, a provider-side burst) is weak evidence: that
//!   request waits for its `Retry-After`, the rate stays. Answers to requests sent *before* the
//!   last drop describe the old rate and are not evidence about the new one.
//! - **Only throttling lowers the rate.** 5xx, timeouts and resets never reach this module as
//!   throttling; the retry budget and the abort after unreachable rows handle outages.
//! - **The drop.** `sent` = the lower of the rate in force and the send rate measured over the
//!   last second (a run held back by its concurrency sends less than its limit) or, when the pace
//!   held requests back, the rate in force; `accepted` = `sent` × the share of answers that were
//!   not 429 (since the first 429 of the window), or the answers per second that were not 429
//!   over the last [`ACCEPTED_SPAN`] if fewer. The new rate is `β·sent` ([`BETA`]), or [`MARGIN`]·`accepted`
//!   when that is lower (a large overshoot), but never below `β²·sent` in one step.
//! - **Regrowth.** Along a cubic, `w_max + C·(t − K)³` ([`CUBIC`]), which rises quickly at first,
//!   flattens at `w_max` (the estimate of the ceiling: what the provider accepted when it
//!   throttled) so that a ceiling just found is probed seldom, then rises past it. Finding the
//!   same ceiling again halves `C`: a steady ceiling is probed ever more seldom. After [`QUIET`]
//!   past the plateau without a ceiling (longer for a ceiling found again), slow start doubles
//!   the rate every second: the ceiling has probably moved up, and the cubic alone would take
//!   many seconds to find it.
//! - **Growth only where it binds.** The rate never grows above [`HEADROOM`] times the send rate
//!   measured over the last second: a limit the run does not reach (too few rows in flight, an
//!   idle spell) is not a limit worth raising.
//!
//! Time is `tokio::time::Instant`, passed in, so that tests drive the controller on a paused clock.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Where `--rate auto` starts: the default fixed rate, safe for any account.
pub const AUTO_START: f64 = 5.0;
/// On a ceiling the rate drops to this share of what was being sent (AWS adaptive retry's β).
const BETA: f64 = 0.7;
/// The cubic's scale, in req/s per s³ (AWS adaptive retry's C): from a drop at 40 req/s the rate
/// is back at 40 after about 2.9 s.
const CUBIC: f64 = 0.4;
/// After a drop the rate sits this far under what the provider accepted, so that the run has room
/// before it meets the ceiling again.
const MARGIN: f64 = 0.9;
/// The cubic flattens this far under what the provider accepted: that estimate is high when the
/// provider's bucket had tokens stored.
const PLATEAU: f64 = 0.95;
/// Ceiling estimates within this share of the last one are "the same ceiling"; each time it is
/// found again, the cubic's scale halves (down to an eighth), so it is probed more seldom.
const SAME_CEILING: f64 = 0.15;
const MAX_REPEATS: u32 = 3;
/// Evidence is the last this many answers to requests sent since the rate last dropped...
const EVIDENCE: usize = 20;
/// ...and a ceiling is at least this many 429s among them. Random 429s on 3% of requests put 5
/// in 20 about once in 4,000 windows; a client 25% over a ceiling does it in about 20 answers,
/// and a burst that gets every request in flight throttled does it at once.
const CEILING_THROTTLES: u32 = 5;
/// The whole run waits when at least [`PAUSE_THROTTLES`] of the last [`RECENT`] answers were 429s:
/// the provider refuses nearly everything, and sending more only earns more 429s. Below that the
/// throttled request alone waits for its `Retry-After`.
const RECENT: usize = 20;
const PAUSE_THROTTLES: usize = 15;
/// Past the cubic's plateau, this long without a ceiling starts slow start (longer each time the
/// same ceiling was found again).
const QUIET: Duration = Duration::from_secs(5);
/// The send rate is measured over this span.
const SEND_SPAN: Duration = Duration::from_secs(1);
/// The share of recent requests that waited for the pace above which the pace is binding.
const PACED_SHARE: f64 = 0.25;
/// What the provider accepted is measured over this span: a provider that stores a second's worth
/// of tokens lets a burst through after a quiet spell, which a one-second measure would take for
/// its rate.
const ACCEPTED_SPAN: Duration = Duration::from_secs(3);
/// A run younger than this has no measured send rate yet.
const SETTLING: Duration = Duration::from_millis(250);
/// The rate never drops below this many requests per second.
pub const LOWEST_RATE: f64 = 0.2;
/// The rate grows to at most this multiple of the measured send rate.
const HEADROOM: f64 = 2.0;
/// Send times kept for the measurement, at most; above this many per second the rate is measured
/// over a shorter span.
const SENDS_KEPT: usize = 16_384;

/// How a run's rate is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateMode {
    /// Start at this many requests per second, never go above it, drop when throttled.
    Fixed(f64),
    /// Start at [`AUTO_START`] and probe upward.
    Auto,
    /// No pacing until the provider throttles.
    Unlimited,
}

impl RateMode {
    /// The name the summary uses.
    pub fn name(&self) -> &'static str {
        match self {
            RateMode::Fixed(_) => "fixed",
            RateMode::Auto => "auto",
            RateMode::Unlimited => "unlimited",
        }
    }

    /// The configured rate, for a fixed mode.
    pub fn fixed(&self) -> Option<f64> {
        match self {
            RateMode::Fixed(rate) => Some(*rate),
            _ => None,
        }
    }
}

/// How the rate moves now.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// At the configured rate (or unlimited) and never throttled: nothing to regrow.
    Holding,
    /// Regrowing along the cubic since a drop at `since`.
    Cubic {
        since: Instant,
        w_max: f64,
        k: f64,
        c: f64,
    },
    /// Doubling every second from `from` since `since`.
    SlowStart { since: Instant, from: f64 },
}

/// What one answer means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    /// The rate was lowered.
    pub lowered: bool,
    /// Nearly all recent requests were throttled: the whole run should wait.
    pub pause_run: bool,
}

/// The controller's state; the caller serialises access.
#[derive(Debug)]
pub struct Controller {
    cap: f64,
    floor: f64,
    rate: Option<f64>,
    phase: Phase,
    /// When the rate last dropped: answers to earlier requests are not evidence.
    epoch: Instant,
    /// Whether each of the last [`EVIDENCE`] answers to requests sent since `epoch` was a 429.
    answers: VecDeque<bool>,
    throttles_in_window: u32,
    /// Whether each of the last [`RECENT`] answers was a 429, whenever its request was sent.
    recent: VecDeque<bool>,
    /// When each request of the last [`SEND_SPAN`] went out, and whether it had waited for the pace.
    sends: VecDeque<(Instant, bool)>,
    paced_sends: usize,
    /// When each answer of the last [`ACCEPTED_SPAN`] that was not a 429 came.
    accepted: VecDeque<Instant>,
    started: Instant,
    lowest: Option<f64>,
    highest: Option<f64>,
    /// The last estimate of the ceiling, and how many drops in a row found about the same one.
    w_max: Option<f64>,
    repeats: u32,
}

impl Controller {
    /// `rate_max` caps every mode (a fixed rate above it is lowered to it).
    pub fn new(mode: RateMode, rate_max: Option<f64>, now: Instant) -> Controller {
        let mut cap = rate_max.unwrap_or(f64::INFINITY);
        let (rate, phase, floor) = match mode {
            RateMode::Fixed(rate) => {
                cap = cap.min(rate);
                (Some(cap), Phase::Holding, cap)
            }
            RateMode::Auto => {
                let start = AUTO_START.min(cap);
                let phase = Phase::SlowStart {
                    since: now,
                    from: start,
                };
                (Some(start), phase, start)
            }
            RateMode::Unlimited => (None, Phase::Holding, LOWEST_RATE),
        };
        Controller {
            cap,
            floor,
            rate,
            phase,
            epoch: now,
            answers: VecDeque::new(),
            throttles_in_window: 0,
            recent: VecDeque::with_capacity(RECENT),
            sends: VecDeque::new(),
            paced_sends: 0,
            accepted: VecDeque::new(),
            started: now,
            lowest: rate,
            highest: rate,
            w_max: None,
            repeats: 0,
        }
    }

    /// The rate in force at `now` (`None`: unlimited), after the regrowth since the last call.
    pub fn rate(&mut self, now: Instant) -> Option<f64> {
        let current = self.rate?;
        let grown = match self.phase {
            Phase::Holding => return Some(current),
            Phase::Cubic { since, w_max, k, c } => {
                let t = now.saturating_duration_since(since).as_secs_f64();
                // A ceiling found again and again is probed past ever more seldom.
                let quiet = QUIET.as_secs_f64() * f64::from(1 + self.repeats);
                if t > k + quiet {
                    self.phase = Phase::SlowStart {
                        since: now,
                        from: current,
                    };
                    current
                } else {
                    w_max + c * (t - k).powi(3)
                }
            }
            Phase::SlowStart { since, from } => {
                from * 2f64.powf(now.saturating_duration_since(since).as_secs_f64())
            }
        };
        let binding = self
            .measured(now)
            .map_or(f64::INFINITY, |measured| HEADROOM * measured)
            .max(self.floor);
        let rate = grown.min(binding).min(self.cap).max(current);
        if rate >= self.cap {
            self.phase = Phase::Holding;
        }
        self.set(rate);
        Some(rate)
    }

    fn set(&mut self, rate: f64) {
        self.rate = Some(rate);
        self.lowest = Some(self.lowest.map_or(rate, |lowest| lowest.min(rate)));
        self.highest = Some(self.highest.map_or(rate, |highest| highest.max(rate)));
    }

    /// A request went out at `now`; `paced`: it had waited for the pace.
    pub fn sent(&mut self, now: Instant, paced: bool) {
        if self.sends.len() >= SENDS_KEPT {
            self.forget_oldest_send();
        }
        self.sends.push_back((now, paced));
        self.paced_sends += usize::from(paced);
    }

    fn forget_oldest_send(&mut self) {
        if let Some((_, paced)) = self.sends.pop_front() {
            self.paced_sends -= usize::from(paced);
        }
    }

    /// Whether the pace held requests back lately: then the rate in force is what was sent, even
    /// when the requests came in bursts (workers waiting out a `Retry-After` together), and the
    /// measured mean is not.
    fn pace_binds(&self) -> bool {
        self.paced_sends as f64 >= PACED_SHARE * self.sends.len() as f64 && self.paced_sends > 0
    }

    /// Requests per second sent over the last [`SEND_SPAN`]; `None` in the first [`SETTLING`] of
    /// the run, too short a span to judge.
    fn measured(&mut self, now: Instant) -> Option<f64> {
        while self
            .sends
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > SEND_SPAN)
        {
            self.forget_oldest_send();
        }
        let since_start = now.saturating_duration_since(self.started);
        let span = match self.sends.front() {
            Some(&(oldest, _)) if self.sends.len() >= SENDS_KEPT => {
                now.saturating_duration_since(oldest)
            }
            _ if since_start < SETTLING => return None,
            _ => since_start.min(SEND_SPAN),
        };
        Some(self.sends.len() as f64 / span.max(SETTLING).as_secs_f64())
    }

    /// Answers that were not 429s, per second over the last [`ACCEPTED_SPAN`] (`None` while settling).
    fn accepted_rate(&mut self, now: Instant) -> Option<f64> {
        while self
            .accepted
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) > ACCEPTED_SPAN)
        {
            self.accepted.pop_front();
        }
        let since_start = now.saturating_duration_since(self.started);
        let span = match self.accepted.front() {
            Some(&oldest) if self.accepted.len() >= SENDS_KEPT => {
                now.saturating_duration_since(oldest)
            }
            _ if since_start < SETTLING => return None,
            _ => since_start.min(ACCEPTED_SPAN),
        };
        Some(self.accepted.len() as f64 / span.max(SETTLING).as_secs_f64())
    }

    /// The provider answered, at `now`, a request sent at `sent_at`; `throttled`: with a 429.
    pub fn answered(&mut self, sent_at: Instant, now: Instant, throttled: bool) -> Judgement {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(throttled);
        let pause_run = self.recent.iter().filter(|&&t| t).count() >= PAUSE_THROTTLES;
        let nothing = Judgement {
            lowered: false,
            pause_run,
        };
        if sent_at < self.epoch {
            return nothing;
        }
        if self.answers.len() == EVIDENCE {
            if let Some(true) = self.answers.pop_front() {
                self.throttles_in_window -= 1;
            }
        }
        self.answers.push_back(throttled);
        if !throttled {
            if self.accepted.len() >= SENDS_KEPT {
                self.accepted.pop_front();
            }
            self.accepted.push_back(now);
            return nothing;
        }
        self.throttles_in_window += 1;
        let k = self.throttles_in_window;
        let ceiling = k >= CEILING_THROTTLES;
        if ceiling {
            // The share since the first 429 of the window: answers before it describe the
            // provider before the ceiling was reached (or before a stash of tokens ran out).
            let first = self.answers.iter().position(|&t| t).unwrap_or(0);
            let since_first = (self.answers.len() - first) as u32;
            self.lower(now, f64::from(k) / f64::from(since_first));
        }
        Judgement {
            lowered: ceiling,
            pause_run,
        }
    }

    /// A ceiling: drop, and regrow from there.
    fn lower(&mut self, now: Instant, throttled_share: f64) {
        let measured = self.measured(now);
        let sent = match (self.rate, measured) {
            (Some(rate), _) if self.pace_binds() => rate,
            (Some(rate), Some(measured)) => rate.min(measured),
            (Some(rate), None) => rate,
            (None, Some(measured)) => measured,
            (None, None) => {
                let since_start = now.saturating_duration_since(self.started);
                self.sends.len() as f64 / since_start.max(Duration::from_millis(10)).as_secs_f64()
            }
        }
        .max(LOWEST_RATE);
        // What the provider let through: the share of recent answers that were not 429s, or what
        // it accepted over the last second, if less (a share can hide a ceiling that a stash of
        // tokens masked at first).
        let share_accepted = sent * (1.0 - throttled_share);
        let accepted = self
            .accepted_rate(now)
            .map_or(share_accepted, |rate| rate.min(share_accepted));
        let lowered = (BETA * sent)
            .min(MARGIN * accepted)
            .max(BETA * BETA * sent)
            .max(LOWEST_RATE);
        let w_max = (PLATEAU * accepted).max(lowered);
        // The same ceiling found again: probe it more seldom.
        self.repeats = match self.w_max {
            Some(before) if (w_max - before).abs() <= SAME_CEILING * before => {
                (self.repeats + 1).min(MAX_REPEATS)
            }
            _ => 0,
        };
        self.w_max = Some(w_max);
        let c = CUBIC / f64::from(1u32 << self.repeats);
        let k = ((w_max - lowered) / c).cbrt();
        match self.rate {
            Some(before) => tracing::info!(
                "the provider is throttling: rate lowered from {before:.1} to {lowered:.1} req/s"
            ),
            None => {
                tracing::info!("the provider is throttling: rate limited to {lowered:.1} req/s")
            }
        }
        self.set(lowered);
        self.phase = Phase::Cubic {
            since: now,
            w_max,
            k,
            c,
        };
        self.epoch = now;
        self.answers.clear();
        self.throttles_in_window = 0;
    }

    /// The lowest and highest rates that were in force.
    pub fn extremes(&self) -> (Option<f64>, Option<f64>) {
        (self.lowest, self.highest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, seconds: f64) -> Instant {
        start + Duration::from_secs_f64(seconds)
    }

    /// Sends at `rate` for `seconds` from `from`, each answered at once, throttled when `throttle`
    /// says so; returns the time reached.
    fn drive(
        c: &mut Controller,
        start: Instant,
        from: f64,
        seconds: f64,
        mut throttle: impl FnMut(u32) -> bool,
    ) -> f64 {
        let mut t = from;
        let mut i = 0;
        while t < from + seconds {
            let now = at(start, t);
            let rate = c.rate(now).unwrap_or(1000.0);
            c.sent(now, true);
            c.answered(now, now, throttle(i));
            i += 1;
            t += 1.0 / rate;
        }
        t
    }

    #[test]
    fn an_isolated_429_at_a_steady_rate_is_ignored() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Fixed(100.0), None, start);
        // One in 33 throttled, evenly: 3%.
        drive(&mut c, start, 0.0, 10.0, |i| i % 33 == 32);
        assert_eq!(c.rate(at(start, 10.0)), Some(100.0));
        assert_eq!(c.extremes().0, Some(100.0), "never lowered");
    }

    #[test]
    fn concentrated_429s_lower_the_rate_by_at_most_half() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Fixed(100.0), None, start);
        drive(&mut c, start, 0.0, 2.0, |_| false);
        // 1 in 3 throttled: over the ceiling, seen once the window holds enough of it.
        let (mut t, mut n) = (2.0, 0);
        let mut one_in_three = |_| {
            n += 1;
            n % 3 == 0
        };
        while c.rate(at(start, t)) == Some(100.0) {
            t = drive(&mut c, start, t, 0.01, &mut one_in_three);
            assert!(t < 2.5, "lowered within a fraction of a second");
        }
        let lowered = c.rate(at(start, t)).unwrap();
        // β² (0.49) at most, β (0.7) at least; here what the provider accepted, with a margin.
        assert!((49.0..=70.0).contains(&lowered), "{lowered}");
    }

    #[test]
    fn a_large_overshoot_drops_further_but_at_most_to_beta_squared() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Fixed(120.0), None, start);
        // Every answer a 429 from the start: the provider accepts far less than is sent.
        for i in 0..CEILING_THROTTLES {
            let now = at(start, 0.01 * f64::from(i));
            c.sent(now, true);
            c.answered(now, now, true);
        }
        let lowered = c.rate(at(start, 0.06)).unwrap();
        assert!((lowered - BETA * BETA * 120.0).abs() < 0.01, "{lowered}");
    }

    #[test]
    fn server_errors_never_lower_the_rate() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Fixed(50.0), None, start);
        // Errors are answers that are not 429s: they only dilute the window.
        drive(&mut c, start, 0.0, 5.0, |_| false);
        assert_eq!(c.rate(at(start, 5.0)), Some(50.0));
    }

    #[test]
    fn answers_to_requests_sent_before_a_drop_are_not_evidence() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Fixed(100.0), None, start);
        drive(&mut c, start, 0.0, 1.0, |_| false);
        let t = drive(&mut c, start, 1.0, 0.1, |_| true);
        let once = c.rate(at(start, t)).unwrap();
        // Late 429s for requests sent at the old rate.
        for i in 0..20 {
            let now = at(start, t + 0.001 * f64::from(i));
            assert!(!c.answered(at(start, 0.5), now, true).lowered);
        }
        assert!(c.rate(at(start, t + 0.02)).unwrap() >= once);
    }

    #[test]
    fn the_rate_regrows_past_the_old_ceiling_and_never_above_a_fixed_rate() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Fixed(80.0), None, start);
        drive(&mut c, start, 0.0, 1.0, |_| false);
        let (mut t, mut n) = (1.0, 0);
        let mut one_in_three = |_| {
            n += 1;
            n % 3 == 0
        };
        while c.rate(at(start, t)) == Some(80.0) {
            t = drive(&mut c, start, t, 0.01, &mut one_in_three);
            assert!(t < 5.0, "never lowered");
        }
        let lowered = c.rate(at(start, t)).unwrap();
        assert!(lowered < 60.0, "{lowered}");
        // Flat near the ceiling first, then past it, then back at the configured rate.
        let t2 = drive(&mut c, start, t, 1.0, |_| false);
        let near = c.rate(at(start, t2)).unwrap();
        assert!(near > lowered && near < 75.0, "{near}");
        let t3 = drive(&mut c, start, t2, 12.0, |_| false);
        assert_eq!(c.rate(at(start, t3)), Some(80.0));
    }

    #[test]
    fn auto_starts_safe_and_doubles_until_capped() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Auto, Some(60.0), start);
        assert_eq!(c.rate(start), Some(AUTO_START));
        let t = drive(&mut c, start, 0.0, 2.0, |_| false);
        let two_seconds = c.rate(at(start, t)).unwrap();
        assert!(two_seconds > 12.0 && two_seconds < 25.0, "{two_seconds}");
        let t = drive(&mut c, start, t, 4.0, |_| false);
        assert_eq!(
            c.rate(at(start, t)),
            Some(60.0),
            "--rate-max caps the probe"
        );
    }

    #[test]
    fn growth_stops_where_the_limit_does_not_bind() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Auto, None, start);
        // Only 10 requests a second go out, whatever the limit.
        let mut t = 0.0;
        while t < 20.0 {
            let now = at(start, t);
            c.rate(now);
            c.sent(now, false);
            c.answered(now, now, false);
            t += 0.1;
        }
        let rate = c.rate(at(start, t)).unwrap();
        assert!(rate <= 2.0 * 10.0 + 1.0, "{rate}");
    }

    #[test]
    fn unlimited_starts_without_a_limit_and_takes_one_when_throttled() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Unlimited, None, start);
        assert_eq!(c.rate(start), None);
        drive(&mut c, start, 0.0, 1.0, |_| false);
        drive(&mut c, start, 1.0, 0.5, |i| i % 2 == 0);
        let limited = c.rate(at(start, 1.6)).expect("a limit now");
        assert!(limited < 1000.0, "{limited}");
    }

    #[test]
    fn most_requests_throttled_pauses_the_run() {
        let start = Instant::now();
        let mut c = Controller::new(RateMode::Fixed(10.0), None, start);
        for i in 0..RECENT {
            let now = at(start, 0.1 * i as f64);
            c.sent(now, true);
            let pause = c.answered(now, now, i % 4 != 0).pause_run;
            assert_eq!(pause, i == RECENT - 1, "{i}");
        }
    }
}
