//! The one gate every request of a run passes: rate limit, requests in flight, and run-wide pauses.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Rate limit, concurrency and pause state shared by every request of a run (reads and retries included).
pub struct Throttle {
    limiter: Option<DefaultDirectRateLimiter>,
    in_flight: Semaphore,
    paused_until: Mutex<Option<Instant>>,
    started: Instant,
    sent: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    last_sent_micros: AtomicU64,
}

/// Held while one request is on the wire.
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
}

/// Request counters for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrafficStats {
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    /// Requests per second between the start of the run and the last request sent.
    pub achieved_rate: f64,
}

impl Throttle {
    /// `rate` is requests per second for the whole run (`None`: unlimited); `burst` is how many may go
    /// back to back after an idle spell, kept small so that no one-second window sees much more than `rate`.
    pub fn new(rate: Option<f64>, burst: u32, concurrency: usize) -> Self {
        let limiter = rate.map(|rate| {
            let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let quota = Quota::with_period(period)
                .expect("a positive rate gives a non-zero period")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is at least 1"));
            RateLimiter::direct(quota)
        });
        Throttle {
            limiter,
            in_flight: Semaphore::new(concurrency.max(1)),
            paused_until: Mutex::new(None),
            started: Instant::now(),
            sent: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
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
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let micros = self.started.elapsed().as_micros() as u64;
        self.last_sent_micros.fetch_max(micros, Ordering::Relaxed);
        Slot { _permit: permit }
    }

    /// The provider asked us to slow down: no request of the run goes out before `delay` has passed.
    pub fn pause_for(&self, delay: Duration) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + delay;
        let mut paused = self.paused_until.lock().expect("pause lock");
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    pub fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> TrafficStats {
        let requests = self.sent.load(Ordering::Relaxed);
        let span = Duration::from_micros(self.last_sent_micros.load(Ordering::Relaxed));
        let achieved_rate = if requests > 1 && !span.is_zero() {
            (requests - 1) as f64 / span.as_secs_f64()
        } else {
            0.0
        };
        TrafficStats {
            requests,
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            achieved_rate,
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
        throttle.pause_for(Duration::from_millis(120));
        let start = Instant::now();
        drop(throttle.acquire().await);
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(throttle.stats().throttled, 1);
    }
}
