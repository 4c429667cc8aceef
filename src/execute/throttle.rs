//! The one gate every request of a run passes: rate limit, requests in flight, run-wide pauses,
//! the rate's adaptation to a provider that throttles us, and the run's retry budget.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

/// On a 429 the rate is multiplied by this...
const DECREASE: f64 = 0.5;
/// ...and recovers by this factor for every spell of `RECOVERY_SPELL` without one.
const INCREASE: f64 = 1.2;
const RECOVERY_SPELL: Duration = Duration::from_secs(5);
/// 429s closer together than this describe one overload and lower the rate once.
const DECREASE_SPACING: Duration = Duration::from_secs(1);
/// The adapted rate never drops below this many requests per second.
const LOWEST_RATE: f64 = 0.2;

/// Retry budget: each retry of a failed request spends `RETRY_COST`, each success earns one token
/// back. With the budget spent, failures are not retried: an outage then costs a bounded number of
/// extra requests instead of multiplying the traffic. 429s are paced by `Retry-After` instead.
const RETRY_BUDGET: i64 = 200;
const RETRY_COST: i64 = 2;

/// Rate limit, concurrency and pause state shared by every request of a run (reads and retries included).
pub struct Throttle {
    rate: Mutex<Pace>,
    in_flight: Semaphore,
    paused_until: Mutex<Option<Instant>>,
    retry_tokens: AtomicI64,
    started: Instant,
    sent: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    retries_refused: AtomicU64,
    last_sent_micros: AtomicU64,
}

/// The rate limiter in force and how it came to be.
struct Pace {
    configured: Option<f64>,
    current: Option<f64>,
    lowest: Option<f64>,
    burst: u32,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    changed: Instant,
}

impl Pace {
    fn set(&mut self, rate: f64) {
        self.current = Some(rate);
        self.lowest = Some(self.lowest.map_or(rate, |lowest| lowest.min(rate)));
        self.limiter = Some(Arc::new(limiter(rate, self.burst)));
        self.changed = Instant::now();
    }
}

fn limiter(rate: f64, burst: u32) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let quota = Quota::with_period(period)
        .expect("a positive rate gives a non-zero period")
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is at least 1"));
    RateLimiter::direct(quota)
}

/// Held while one request is on the wire.
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
}

/// Request counters for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TrafficStats {
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    /// Failures not retried because the run's retry budget was spent.
    pub retries_refused: u64,
    /// Requests per second between the start of the run and the last request sent.
    pub achieved_rate: f64,
    /// The rate limit in force at the end, after adapting to 429s.
    pub effective_rate: Option<f64>,
    /// The lowest the rate limit went.
    pub lowest_rate: Option<f64>,
}

impl Throttle {
    /// `rate` is requests per second for the whole run (`None`: unlimited); `burst` is how many may go
    /// back to back after an idle spell, kept small so that no one-second window sees much more than `rate`.
    pub fn new(rate: Option<f64>, burst: u32, concurrency: usize) -> Self {
        let mut pace = Pace {
            configured: rate,
            current: None,
            lowest: None,
            burst,
            limiter: None,
            changed: Instant::now(),
        };
        if let Some(rate) = rate {
            pace.set(rate);
        }
        Throttle {
            rate: Mutex::new(pace),
            in_flight: Semaphore::new(concurrency.max(1)),
            paused_until: Mutex::new(None),
            retry_tokens: AtomicI64::new(RETRY_BUDGET),
            started: Instant::now(),
            sent: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            retries_refused: AtomicU64::new(0),
            last_sent_micros: AtomicU64::new(0),
        }
    }

    /// Wait for a free slot, then for a pause to end, then for the rate limiter; the request may go
    /// as soon as this returns. The slot comes first so that a request waiting for a slot does not hold
    /// a rate token it cannot use yet.
    pub async fn acquire(&self) -> Slot<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        loop {
            let pause = *self.paused_until.lock().expect("pause lock");
            match pause {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until.into()).await;
                }
                _ => break,
            }
        }
        if let Some(limiter) = self.current_limiter() {
            limiter.until_ready().await;
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let micros = self.started.elapsed().as_micros() as u64;
        self.last_sent_micros.fetch_max(micros, Ordering::Relaxed);
        Slot { _permit: permit }
    }

    /// The limiter in force, raising the rate a step after a quiet spell since the last 429.
    fn current_limiter(&self) -> Option<Arc<DefaultDirectRateLimiter>> {
        let mut pace = self.rate.lock().expect("rate lock");
        if let (Some(configured), Some(current)) = (pace.configured, pace.current) {
            if current < configured && pace.changed.elapsed() >= RECOVERY_SPELL {
                pace.set((current * INCREASE).min(configured));
            }
        }
        pace.limiter.clone()
    }

    /// The provider asked us to slow down: no request of the run goes out before `delay` has passed,
    /// and the rate is lowered (multiplicative decrease) so the run settles under the provider's limit.
    pub fn throttled(&self, delay: Duration) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + delay;
        {
            let mut paused = self.paused_until.lock().expect("pause lock");
            if paused.is_none_or(|current| current < until) {
                *paused = Some(until);
            }
        }
        let mut pace = self.rate.lock().expect("rate lock");
        // One decrease per burst of 429s: those already in flight describe the same overload.
        if let Some(current) = pace.current {
            if pace.changed.elapsed() >= DECREASE_SPACING {
                let lowered = (current * DECREASE).max(LOWEST_RATE);
                tracing::info!(
                    "the provider is throttling: rate lowered from {current:.1} to {lowered:.1} req/s"
                );
                pace.set(lowered);
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

    /// A retry of a 429: paced by the pause, not charged to the budget.
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
        self.rate.lock().expect("rate lock").current
    }

    pub fn stats(&self) -> TrafficStats {
        let requests = self.sent.load(Ordering::Relaxed);
        let span = Duration::from_micros(self.last_sent_micros.load(Ordering::Relaxed));
        let achieved_rate = if requests > 1 && !span.is_zero() {
            (requests - 1) as f64 / span.as_secs_f64()
        } else {
            0.0
        };
        let pace = self.rate.lock().expect("rate lock");
        TrafficStats {
            requests,
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries_refused: self.retries_refused.load(Ordering::Relaxed),
            achieved_rate,
            effective_rate: pace.current,
            lowest_rate: pace.lowest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_spaced_at_the_configured_rate() {
        let throttle = Throttle::new(Some(50.0), 1, 8);
        let start = Instant::now();
        for _ in 0..11 {
            drop(throttle.acquire().await);
        }
        // 10 intervals of 20 ms: a burst-of-one limiter cannot do it faster.
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(throttle.stats().requests, 11);
    }

    #[tokio::test]
    async fn a_pause_holds_back_every_request() {
        let throttle = Throttle::new(None, 1, 8);
        throttle.throttled(Duration::from_millis(120));
        let start = Instant::now();
        drop(throttle.acquire().await);
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(throttle.stats().throttled, 1);
    }

    #[test]
    fn throttling_halves_the_rate_once_per_burst_and_never_below_the_floor() {
        let throttle = Throttle::new(Some(10.0), 1, 8);
        throttle.rate.lock().unwrap().changed = Instant::now() - Duration::from_secs(2);
        throttle.throttled(Duration::from_millis(10));
        throttle.throttled(Duration::from_millis(10));
        assert_eq!(
            throttle.stats().effective_rate,
            Some(5.0),
            "two 429s of one burst lower it once"
        );
        for _ in 0..20 {
            throttle.rate.lock().unwrap().changed = Instant::now() - Duration::from_secs(2);
            throttle.throttled(Duration::from_millis(10));
        }
        assert_eq!(throttle.stats().lowest_rate, Some(LOWEST_RATE));
    }

    #[test]
    fn the_rate_recovers_after_a_quiet_spell_up_to_the_configured_rate() {
        let throttle = Throttle::new(Some(10.0), 1, 8);
        throttle.rate.lock().unwrap().set(4.0);
        throttle.rate.lock().unwrap().changed = Instant::now() - RECOVERY_SPELL;
        throttle.current_limiter();
        let recovered = throttle.stats().effective_rate.unwrap();
        assert!((recovered - 4.8).abs() < 1e-9, "{recovered}");
        throttle.rate.lock().unwrap().set(9.5);
        throttle.rate.lock().unwrap().changed = Instant::now() - RECOVERY_SPELL;
        throttle.current_limiter();
        assert_eq!(throttle.stats().effective_rate, Some(10.0));
    }

    #[test]
    fn an_outage_spends_the_retry_budget_and_successes_earn_it_back() {
        let throttle = Throttle::new(None, 1, 8);
        let granted = (0..1000).filter(|_| throttle.take_retry()).count() as i64;
        assert_eq!(granted, RETRY_BUDGET / RETRY_COST);
        assert!(!throttle.take_retry());
        throttle.succeeded();
        throttle.succeeded();
        assert!(throttle.take_retry());
        assert_eq!(throttle.stats().retries_refused, 1000 - granted as u64 + 1);
    }
}
