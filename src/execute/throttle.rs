//! The one gate every request of a run passes: the pace the rate controller ([`super::pace`]) sets,
//! requests in flight, run-wide pauses, and the run's retry budget; and the record of what the
//! provider answered, second by second, for the summary.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::pace::{Controller, RateMode};

/// Retry budget: each retry of a failed request spends `RETRY_COST`, each success earns one token
/// back. With the budget spent, failures are not retried: an outage then costs a bounded number of
/// extra requests instead of multiplying the traffic. 429s are paced by `Retry-After` instead.
const RETRY_BUDGET: i64 = 200;
const RETRY_COST: i64 = 2;

/// Points the series keeps at most: an hour at one point a second. A longer run merges pairs of
/// points (two seconds a point, then four, ...), so the summary stays small whatever the run.
const SERIES_POINTS: usize = 3600;

/// Above 100 req/s, timers are coarser than the spacing: this many requests a second may go back
/// to back (unless `--burst` says otherwise), so that no one-second window sees much more than the
/// rate.
const BURST_PER: f64 = 100.0;

/// Rate limit, concurrency and pause state shared by every request of a run (reads and retries included).
pub struct Throttle {
    mode: RateMode,
    pace: Mutex<Pace>,
    burst: Option<u32>,
    in_flight: Semaphore,
    paused_until: Mutex<Option<Instant>>,
    retry_tokens: AtomicI64,
    started: Instant,
    sent: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    retries_refused: AtomicU64,
    last_sent_micros: AtomicU64,
    series: Mutex<Series>,
}

/// The controller and the next free send slot, behind one short lock.
struct Pace {
    controller: Controller,
    /// When the next request may go (a virtual schedule: it lags behind now by at most a burst).
    next: Instant,
}

/// Held while one request is on the wire.
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    sent_at: Instant,
}

impl Slot<'_> {
    /// When the request went out: its answer is evidence about the rate in force then.
    pub fn sent_at(&self) -> Instant {
        self.sent_at
    }
}

/// What the provider made of one try.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// An HTTP answer that is neither a 429 nor a 5xx (2xx, or a 4xx the caller handles).
    Status(u16),
    /// 429; the caller waits `retry_in` before trying that request again.
    Throttled { retry_in: Duration },
    /// 5xx, also inside an HTTP 200 body: an error, never a reason to slow down.
    ServerError,
    /// No answer: a timeout, a reset, a lost response, a refused connection.
    NoAnswer,
}

/// Request counters for the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrafficStats {
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    /// Failures not retried because the run's retry budget was spent.
    pub retries_refused: u64,
    /// Requests per second between the start of the run and the last request sent.
    pub achieved_rate: f64,
    /// `fixed` (`--rate R`), `auto` (`--rate auto`) or `unlimited` (`--rate 0`).
    pub rate_mode: &'static str,
    /// The rate limit in force at the end, after adapting to 429s (`None`: unlimited).
    pub effective_rate: Option<f64>,
    /// The lowest the rate limit went.
    pub lowest_rate: Option<f64>,
    /// The highest the rate limit went (where `--rate auto` probed to).
    pub highest_rate: Option<f64>,
    /// What was sent and answered, second by second.
    pub series: Series,
}

/// Per-interval counts from the start of the run; `step_seconds` is 1 unless the run was long
/// enough for points to be merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub step_seconds: u64,
    pub points: Vec<Point>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            step_seconds: 1,
            points: Vec::new(),
        }
    }
}

/// One interval of the series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Point {
    /// Seconds from the start of the run to the start of the interval.
    pub t: u64,
    pub sent: u64,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Answers with a 429.
    pub throttled: u64,
    /// Answers with a 5xx (in the status or the body).
    pub server_errors: u64,
    /// The rate limit in force at the end of the interval (`None`: unlimited).
    pub rate: Option<f64>,
}

impl Series {
    /// The point for `elapsed`, made (with any empty ones before it) when missing.
    fn at(&mut self, elapsed: Duration, rate: Option<f64>) -> &mut Point {
        let mut index = (elapsed.as_secs() / self.step_seconds) as usize;
        while index >= SERIES_POINTS {
            self.merge_pairs();
            index = (elapsed.as_secs() / self.step_seconds) as usize;
        }
        while self.points.len() <= index {
            let t = self.points.len() as u64 * self.step_seconds;
            let rate = self.points.last().map_or(rate, |last| last.rate);
            self.points.push(Point {
                t,
                rate,
                ..Point::default()
            });
        }
        let point = &mut self.points[index];
        point.rate = rate;
        point
    }

    fn merge_pairs(&mut self) {
        let step = self.step_seconds * 2;
        self.points = self
            .points
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                let last = pair[pair.len() - 1];
                pair.iter().fold(
                    Point {
                        t: i as u64 * step,
                        rate: last.rate,
                        ..Point::default()
                    },
                    |sum, p| Point {
                        sent: sum.sent + p.sent,
                        ok: sum.ok + p.ok,
                        throttled: sum.throttled + p.throttled,
                        server_errors: sum.server_errors + p.server_errors,
                        ..sum
                    },
                )
            })
            .collect();
        self.step_seconds = step;
    }
}

impl Throttle {
    /// `burst`: how many may go back to back after an idle spell [default: 1, or rate/100 above
    /// 100 req/s]; `rate_max` caps every mode.
    pub fn new(
        mode: RateMode,
        rate_max: Option<f64>,
        burst: Option<u32>,
        concurrency: usize,
    ) -> Self {
        let now = Instant::now();
        Throttle {
            mode,
            pace: Mutex::new(Pace {
                controller: Controller::new(mode, rate_max, now),
                next: now,
            }),
            burst,
            in_flight: Semaphore::new(concurrency.max(1)),
            paused_until: Mutex::new(None),
            retry_tokens: AtomicI64::new(RETRY_BUDGET),
            started: now,
            sent: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            retries_refused: AtomicU64::new(0),
            last_sent_micros: AtomicU64::new(0),
            series: Mutex::new(Series::default()),
        }
    }

    /// Wait for a free slot, then for a pause to end, then for the pace; the request may go as
    /// soon as this returns. The slot comes first so that a request waiting for a slot does not
    /// hold a place in the pace it cannot use yet.
    pub async fn acquire(&self) -> Slot<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        loop {
            let pause = *self.paused_until.lock().expect("pause lock");
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        let go_at = {
            let mut pace = self.pace.lock().expect("pace lock");
            let now = Instant::now();
            match pace.controller.rate(now) {
                None => now,
                Some(rate) => {
                    let interval = Duration::from_secs_f64(1.0 / rate);
                    let burst = self
                        .burst
                        .unwrap_or_else(|| (rate / BURST_PER).ceil().max(1.0) as u32);
                    let earliest = now
                        .checked_sub(interval * burst.saturating_sub(1))
                        .unwrap_or(now);
                    let slot = pace.next.max(earliest);
                    pace.next = slot + interval;
                    slot
                }
            }
        };
        let paced = go_at > Instant::now();
        tokio::time::sleep_until(go_at).await;
        let now = Instant::now();
        let rate = {
            let mut pace = self.pace.lock().expect("pace lock");
            pace.controller.sent(now, paced);
            pace.controller.rate(now)
        };
        self.sent.fetch_add(1, Ordering::Relaxed);
        let elapsed = now.saturating_duration_since(self.started);
        self.last_sent_micros
            .fetch_max(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.series
            .lock()
            .expect("series lock")
            .at(elapsed, rate)
            .sent += 1;
        Slot {
            _permit: permit,
            sent_at: now,
        }
    }

    /// The provider answered a request sent at `sent_at`. Concentrated 429s lower the rate; when
    /// most recent requests were throttled, no request of the run goes out before the throttled
    /// one's retry is due.
    pub fn answered(&self, sent_at: Instant, answer: Answer) {
        let now = Instant::now();
        let throttled = matches!(answer, Answer::Throttled { .. });
        let (judgement, rate) = {
            let mut pace = self.pace.lock().expect("pace lock");
            let judgement = pace.controller.answered(sent_at, now, throttled);
            (judgement, pace.controller.rate(now))
        };
        {
            let mut series = self.series.lock().expect("series lock");
            let point = series.at(now.saturating_duration_since(self.started), rate);
            match answer {
                Answer::Status(status) if (200..300).contains(&status) => point.ok += 1,
                Answer::Throttled { .. } => point.throttled += 1,
                Answer::ServerError => point.server_errors += 1,
                Answer::Status(_) | Answer::NoAnswer => {}
            }
        }
        if let Answer::Throttled { retry_in } = answer {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            if judgement.pause_run {
                let until = now + retry_in;
                let mut paused = self.paused_until.lock().expect("pause lock");
                if paused.is_none_or(|current| current < until) {
                    tracing::debug!(
                        "most recent requests were throttled: the run waits {retry_in:?}"
                    );
                    *paused = Some(until);
                }
            }
        }
    }

    /// May a failed request be tried again? Spends from the run's retry budget.
    pub fn take_retry(&self) -> bool {
        let granted = self
            .retry_tokens
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |tokens| {
                (tokens >= RETRY_COST).then_some(tokens - RETRY_COST)
            })
            .is_ok();
        if granted {
            self.retries.fetch_add(1, Ordering::Relaxed);
        } else {
            self.retries_refused.fetch_add(1, Ordering::Relaxed);
        }
        granted
    }

    /// A retry of a 429: paced by `Retry-After`, not charged to the budget.
    pub fn count_throttled_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// A request succeeded: earn back a retry token.
    pub fn succeeded(&self) {
        let _ = self
            .retry_tokens
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |tokens| {
                (tokens < RETRY_BUDGET).then_some(tokens + 1)
            });
    }

    /// The rate limit now in force (`None`: unlimited).
    pub fn rate_in_force(&self) -> Option<f64> {
        self.pace
            .lock()
            .expect("pace lock")
            .controller
            .rate(Instant::now())
    }

    pub fn stats(&self) -> TrafficStats {
        let requests = self.sent.load(Ordering::Relaxed);
        let span = Duration::from_micros(self.last_sent_micros.load(Ordering::Relaxed));
        let achieved_rate = if requests > 1 && !span.is_zero() {
            (requests - 1) as f64 / span.as_secs_f64()
        } else {
            0.0
        };
        let (effective_rate, (lowest_rate, highest_rate)) = {
            let mut pace = self.pace.lock().expect("pace lock");
            let rate = pace.controller.rate(Instant::now());
            (rate, pace.controller.extremes())
        };
        TrafficStats {
            requests,
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries_refused: self.retries_refused.load(Ordering::Relaxed),
            achieved_rate,
            rate_mode: self.mode.name(),
            effective_rate,
            lowest_rate,
            highest_rate,
            series: self.series.lock().expect("series lock").clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_at_the_configured_rate() {
        let throttle = Throttle::new(RateMode::Fixed(50.0), None, None, 8);
        let start = Instant::now();
        for _ in 0..11 {
            drop(throttle.acquire().await);
        }
        // 10 intervals of 20 ms: a burst-of-one pace cannot do it faster.
        assert!(
            start.elapsed() >= Duration::from_millis(199),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(throttle.stats().requests, 11);
    }

    #[tokio::test(start_paused = true)]
    async fn nearly_every_request_throttled_holds_back_every_request() {
        let throttle = Throttle::new(RateMode::Unlimited, None, None, 8);
        let retry_in = Duration::from_millis(500);
        for _ in 0..20 {
            let sent_at = throttle.acquire().await.sent_at();
            throttle.answered(sent_at, Answer::Throttled { retry_in });
        }
        let start = Instant::now();
        drop(throttle.acquire().await);
        assert!(start.elapsed() >= Duration::from_millis(400));
        assert_eq!(throttle.stats().throttled, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn one_429_paces_only_its_own_retry() {
        let throttle = Throttle::new(RateMode::Unlimited, None, None, 8);
        for _ in 0..20 {
            let sent_at = throttle.acquire().await.sent_at();
            throttle.answered(sent_at, Answer::Status(200));
        }
        let sent_at = throttle.acquire().await.sent_at();
        let retry_in = Duration::from_secs(1);
        throttle.answered(sent_at, Answer::Throttled { retry_in });
        let start = Instant::now();
        drop(throttle.acquire().await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(throttle.rate_in_force(), None, "still unlimited");
    }

    #[test]
    fn an_outage_spends_the_retry_budget_and_successes_earn_it_back() {
        let throttle = Throttle::new(RateMode::Unlimited, None, None, 8);
        let granted = (0..1000).filter(|_| throttle.take_retry()).count() as i64;
        assert_eq!(granted, RETRY_BUDGET / RETRY_COST);
        assert!(!throttle.take_retry());
        throttle.succeeded();
        throttle.succeeded();
        assert!(throttle.take_retry());
        assert_eq!(throttle.stats().retries_refused, 1000 - granted as u64 + 1);
    }

    #[test]
    fn a_long_series_is_merged_into_wider_points() {
        let mut series = Series::default();
        for second in 0..(SERIES_POINTS as u64 + 10) {
            series.at(Duration::from_secs(second), Some(5.0)).sent += 1;
        }
        assert_eq!(series.step_seconds, 2);
        assert!(series.points.len() <= SERIES_POINTS);
        let total: u64 = series.points.iter().map(|p| p.sent).sum();
        assert_eq!(total, SERIES_POINTS as u64 + 10);
        assert_eq!(series.points[1].t, 2);
    }

    // ---- the scenarios of issue 9, on a paused clock against a simulated provider ----

    /// A provider: a token bucket holding one second's worth (`limit` may change over time),
    /// random 429s, a fixed latency. Deterministic: its randomness is a seeded xorshift.
    struct Provider {
        schedule: Vec<(f64, f64)>,
        throttle_share: f64,
        error_share: f64,
        latency: Duration,
        start: Instant,
        state: Mutex<(f64, f64, Instant, u64, Option<f64>)>,
    }

    impl Provider {
        fn new(schedule: &[(f64, f64)], throttle_share: f64, latency_ms: u64) -> Arc<Provider> {
            let start = Instant::now();
            Arc::new(Provider {
                schedule: schedule.to_vec(),
                throttle_share,
                error_share: 0.0,
                latency: Duration::from_millis(latency_ms),
                start,
                state: Mutex::new((0.0, 0.0, start, 0x9E37_79B9_7F4A_7C15, None)),
            })
        }

        fn limit_at(&self, t: f64) -> f64 {
            self.schedule
                .iter()
                .rev()
                .find(|(from, _)| *from <= t)
                .map_or(f64::INFINITY, |(_, limit)| *limit)
        }

        fn with_errors(self: Arc<Provider>, error_share: f64) -> Arc<Provider> {
            let mut provider = Arc::into_inner(self).expect("not shared yet");
            provider.error_share = error_share;
            Arc::new(provider)
        }

        /// What the provider answers a request arriving at `now`.
        fn judge(&self, now: Instant) -> Answer {
            let t = now.saturating_duration_since(self.start).as_secs_f64();
            let limit = self.limit_at(t);
            let mut state = self.state.lock().unwrap();
            let (tokens, _, last, seed, current) = &mut *state;
            if *current != Some(limit) {
                *current = Some(limit);
                *tokens = limit;
            } else {
                let elapsed = now.saturating_duration_since(*last).as_secs_f64();
                *tokens = (*tokens + elapsed * limit).min(limit);
            }
            *last = now;
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let random = (*seed % 1_000_000) as f64 / 1e6;
            let throttled = Answer::Throttled {
                retry_in: Duration::from_secs(1),
            };
            if random < self.throttle_share {
                return throttled;
            }
            if random < self.throttle_share + self.error_share {
                return Answer::ServerError;
            }
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                Answer::Status(200)
            } else {
                throttled
            }
        }
    }

    /// `workers` tasks send `rows` requests between them (429s retried after 1 s, 5xx after 0.1 s) through
    /// `throttle`; returns the series of the run.
    async fn simulate(
        throttle: Arc<Throttle>,
        provider: Arc<Provider>,
        workers: usize,
        rows: usize,
    ) -> Vec<Point> {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let (throttle, provider, next) = (throttle.clone(), provider.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < rows as u64 {
                    loop {
                        let (sent_at, answer) = {
                            let slot = throttle.acquire().await;
                            let answer = provider.judge(slot.sent_at());
                            tokio::time::sleep(provider.latency).await;
                            (slot.sent_at(), answer)
                        };
                        throttle.answered(sent_at, answer);
                        match answer {
                            Answer::Throttled { retry_in } => tokio::time::sleep(retry_in).await,
                            Answer::ServerError => {
                                tokio::time::sleep(Duration::from_millis(100)).await
                            }
                            _ => break,
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        throttle.stats().series.points
    }

    fn mean_ok(points: &[Point], from: usize, to: usize) -> f64 {
        let to = to.min(points.len());
        points[from..to].iter().map(|p| p.ok).sum::<u64>() as f64 / (to - from) as f64
    }

    fn share_throttled(points: &[Point]) -> f64 {
        let sent: u64 = points.iter().map(|p| p.sent).sum();
        points.iter().map(|p| p.throttled).sum::<u64>() as f64 / sent as f64
    }

    #[tokio::test(start_paused = true)]
    async fn sporadic_429s_keep_the_configured_rate() {
        let throttle = Arc::new(Throttle::new(RateMode::Fixed(100.0), None, None, 8));
        let provider = Provider::new(&[], 0.03, 20);
        let points = simulate(throttle.clone(), provider, 8, 1500).await;
        let sent: u64 = points.iter().map(|p| p.sent).sum();
        let seconds = points.len() as f64;
        assert!(sent as f64 / seconds >= 85.0, "{sent} in {seconds} s");
        assert_eq!(throttle.stats().lowest_rate, Some(100.0), "never lowered");
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_ceiling_is_held_with_few_429s() {
        let throttle = Arc::new(Throttle::new(RateMode::Fixed(120.0), None, None, 8));
        let provider = Provider::new(&[(0.0, 40.0)], 0.0, 5);
        let points = simulate(throttle, provider, 8, 600).await;
        let adds = mean_ok(&points, 0, points.len() - 1);
        assert!(adds >= 0.9 * 40.0, "{adds} adds/s: {points:?}");
        let share = share_throttled(&points);
        assert!(share <= 0.05, "{share} of requests throttled: {points:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_moving_ceiling_is_followed_down_and_up() {
        let throttle = Arc::new(Throttle::new(RateMode::Fixed(120.0), None, None, 8));
        let provider = Provider::new(&[(0.0, 40.0), (10.0, 15.0), (20.0, 60.0)], 0.0, 5);
        let points = simulate(throttle, provider, 8, 1400).await;
        for (phase, limit) in [(0, 40.0), (1, 15.0), (2, 60.0)] {
            let end = 10 * (phase + 1);
            let adds = mean_ok(&points, end - 5, end);
            assert!(
                adds >= 0.8 * limit,
                "phase {phase}: {adds} adds/s of {limit}: {points:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn auto_finds_an_unknown_limit() {
        let throttle = Arc::new(Throttle::new(RateMode::Auto, None, None, 8));
        let provider = Provider::new(&[(0.0, 60.0)], 0.0, 5);
        let points = simulate(throttle.clone(), provider, 8, 1300).await;
        let adds = mean_ok(&points, 10, points.len() - 1);
        assert!(adds >= 0.85 * 60.0, "{adds} adds/s: {points:?}");
        let share = share_throttled(&points);
        assert!(share <= 0.05, "{share} of requests throttled: {points:?}");
        assert!(throttle.stats().highest_rate.unwrap() >= 60.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_mix_lowers_the_rate_for_429s_only() {
        let throttle = Arc::new(Throttle::new(RateMode::Fixed(100.0), None, None, 8));
        let provider = Provider::new(&[], 0.03, 5).with_errors(0.2);
        let points = simulate(throttle.clone(), provider, 8, 1000).await;
        let errors: u64 = points.iter().map(|p| p.server_errors).sum();
        assert!(errors > 100, "{errors}");
        assert_eq!(throttle.stats().lowest_rate, Some(100.0), "{points:?}");
        assert!(points.len() <= 15, "1,000 rows in {} s", points.len());
    }
}
