//! Fault injection: latency, rate limit, random 429s and 500s, lost responses.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;

use crate::sandbox::{lock, Faults};

/// What the fault injection decided for one request, before it is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Proceed,
    /// Answer 429 with this `Retry-After` (rate limit or random throttle).
    Throttled(u64),
    /// Answer 500.
    ServerError,
}

/// A token bucket: `rate` tokens per second, at most `capacity` stored, one per request.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        let capacity = (rate / 5.0).ceil().max(2.0);
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Inner {
    faults: Faults,
    bucket: Option<Bucket>,
}

/// The current faults and the rate limiter's bucket, behind one short lock.
pub(crate) struct FaultState {
    inner: Mutex<Inner>,
}

fn usable_rate(faults: &Faults) -> Option<f64> {
    faults.rate_limit.filter(|r| r.is_finite() && *r > 0.0)
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> FaultState {
        let bucket = usable_rate(&faults).map(|r| Bucket::new(r, Instant::now()));
        FaultState {
            inner: Mutex::new(Inner { faults, bucket }),
        }
    }

    /// Replaces the faults; the rate limiter restarts with a full bucket when its rate changed.
    pub(crate) fn set(&self, faults: Faults) {
        let mut inner = lock(&self.inner);
        let rate = usable_rate(&faults);
        let same_rate = match (&inner.bucket, rate) {
            (Some(b), Some(r)) => b.rate == r,
            (None, None) => true,
            _ => false,
        };
        if !same_rate {
            inner.bucket = rate.map(|r| Bucket::new(r, Instant::now()));
        }
        inner.faults = faults;
    }

    /// The `limit` cap the list endpoints honour, if any.
    pub(crate) fn list_limit_cap(&self) -> Option<usize> {
        lock(&self.inner).faults.list_limit_cap
    }

    /// Decides the fate of a request that arrived at `arrived`: rate limit first, then the random
    /// throttle, then the random server error. Also returns the faults in force.
    pub(crate) fn judge(&self, arrived: Instant) -> (Verdict, Faults) {
        let (within_rate, faults) = {
            let mut inner = lock(&self.inner);
            let within = match inner.bucket.as_mut() {
                Some(bucket) => bucket.try_take(arrived),
                None => true,
            };
            (within, inner.faults.clone())
        };
        let retry_after = faults.retry_after_secs.max(1);
        let verdict = if !within_rate || chance(faults.throttle_rate) {
            Verdict::Throttled(retry_after)
        } else if chance(faults.error_rate) {
            Verdict::ServerError
        } else {
            Verdict::Proceed
        };
        (verdict, faults)
    }
}

/// True with probability `p` (clamped to 0..=1; NaN counts as 0).
pub(crate) fn chance(p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        rand::random_bool(p)
    }
}

/// Sleeps the fixed latency plus a uniform random part of the jitter.
pub(crate) async fn delay(faults: &Faults) {
    let mut total = faults.latency;
    if !faults.jitter.is_zero() {
        let nanos = u64::try_from(faults.jitter.as_nanos()).unwrap_or(u64::MAX);
        total += Duration::from_nanos(rand::random_range(0..=nanos));
    }
    if !total.is_zero() {
        tokio::time::sleep(total).await;
    }
}

/// A response whose body fails at once. hyper buffers the response head and polls the body before
/// flushing, so the error closes the connection before anything is written: the client sees a
/// transport failure (connection closed before message completed), never an HTTP status.
pub(crate) fn lost_response() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "response lost (sandbox fault injection)",
        ))
    });
    Response::new(Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_small_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, t0);
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0), "burst of 10/s is 2");
        assert!(!b.try_take(t0 + Duration::from_millis(50)));
        assert!(b.try_take(t0 + Duration::from_millis(101)));
    }

    #[test]
    fn chance_extremes() {
        assert!(!chance(0.0));
        assert!(!chance(f64::NAN));
        assert!(chance(1.0));
        assert!(chance(7.0));
    }
}
