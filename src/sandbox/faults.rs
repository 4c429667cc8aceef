//! Fault injection: latency, rate limit (fixed or on a schedule), random 429s and 500s, lost
//! responses, and a cap on random faults in a row for one request.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
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

/// A token bucket: `rate` tokens per second, at most one second's worth stored (so a client just
/// under the rate never sees a 429 for timer jitter), one per request.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        let capacity = rate.max(1.0);
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
    /// Random faults in a row per request (path and body), while `max_fault_streak` is set.
    streaks: HashMap<u64, u32>,
}

/// The current faults and the rate limiter's bucket, behind one short lock.
pub(crate) struct FaultState {
    inner: Mutex<Inner>,
    started: Instant,
}

/// The limit in force `elapsed` into the run: the schedule's, else the fixed one.
fn usable_rate(faults: &Faults, elapsed: Duration) -> Option<f64> {
    let scheduled = faults
        .rate_schedule
        .iter()
        .rev()
        .find(|(from, _)| *from <= elapsed)
        .map(|(_, rate)| *rate);
    scheduled
        .or(faults.rate_limit)
        .filter(|r| r.is_finite() && *r > 0.0)
}

/// Which request a try is, for the streak cap: the same path and body are the same request.
pub(crate) fn request_key(path: &str, body: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    body.hash(&mut hasher);
    hasher.finish()
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> FaultState {
        let now = Instant::now();
        let bucket = usable_rate(&faults, Duration::ZERO).map(|r| Bucket::new(r, now));
        FaultState {
            inner: Mutex::new(Inner {
                faults,
                bucket,
                streaks: HashMap::new(),
            }),
            started: now,
        }
    }

    /// Replaces the faults; the rate limiter restarts with a full bucket when its rate changed.
    pub(crate) fn set(&self, faults: Faults) {
        let mut inner = lock(&self.inner);
        inner.faults = faults;
        self.follow_rate(&mut inner, Instant::now());
    }

    /// A new bucket, full, whenever the limit in force changed (`set`, or the schedule's next step).
    fn follow_rate(&self, inner: &mut Inner, now: Instant) {
        let rate = usable_rate(&inner.faults, now.saturating_duration_since(self.started));
        let same_rate = match (&inner.bucket, rate) {
            (Some(b), Some(r)) => b.rate == r,
            (None, None) => true,
            _ => false,
        };
        if !same_rate {
            inner.bucket = rate.map(|r| Bucket::new(r, now));
        }
    }

    /// The `limit` cap the list endpoints honour, if any.
    pub(crate) fn list_limit_cap(&self) -> Option<usize> {
        lock(&self.inner).faults.list_limit_cap
    }

    /// Decides the fate of request `key` that arrived at `arrived`: rate limit first, then the
    /// random throttle, then the random server error (random ones only while the request's
    /// streak allows). Also returns the faults in force.
    pub(crate) fn judge(&self, arrived: Instant, key: u64) -> (Verdict, Faults) {
        let mut inner = lock(&self.inner);
        self.follow_rate(&mut inner, arrived);
        let within_rate = match inner.bucket.as_mut() {
            Some(bucket) => bucket.try_take(arrived),
            None => true,
        };
        let faults = inner.faults.clone();
        let retry_after = faults.retry_after_secs.max(1);
        let throttled =
            !within_rate || (chance(faults.throttle_rate) && Self::may_fault(&mut inner, key));
        let verdict = if throttled {
            Verdict::Throttled(retry_after)
        } else if chance(faults.error_rate) && Self::may_fault(&mut inner, key) {
            Verdict::ServerError
        } else {
            Verdict::Proceed
        };
        (verdict, faults)
    }

    /// A random fault for request `key`, if its streak allows one more (and it is counted).
    pub(crate) fn fault_allowed(&self, key: u64) -> bool {
        Self::may_fault(&mut lock(&self.inner), key)
    }

    fn may_fault(inner: &mut Inner, key: u64) -> bool {
        let Some(most) = inner.faults.max_fault_streak else {
            return true;
        };
        let streak = inner.streaks.entry(key).or_insert(0);
        if *streak >= most {
            inner.streaks.remove(&key);
            return false;
        }
        *streak += 1;
        true
    }

    /// Request `key` was answered without a random fault: its streak ends.
    pub(crate) fn answered_cleanly(&self, key: u64) {
        let mut inner = lock(&self.inner);
        if !inner.streaks.is_empty() {
            inner.streaks.remove(&key);
        }
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
    fn bucket_holds_one_seconds_worth_then_gives_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, t0);
        for _ in 0..10 {
            assert!(b.try_take(t0));
        }
        assert!(!b.try_take(t0), "one second's worth is 10");
        assert!(!b.try_take(t0 + Duration::from_millis(50)));
        assert!(b.try_take(t0 + Duration::from_millis(101)));
    }

    #[test]
    fn the_schedule_sets_the_limit_in_force() {
        let faults = Faults {
            rate_limit: Some(99.0),
            rate_schedule: vec![
                (Duration::ZERO, 40.0),
                (Duration::from_secs(10), 15.0),
                (Duration::from_secs(20), 60.0),
            ],
            ..Faults::default()
        };
        let rate = |s| usable_rate(&faults, Duration::from_secs(s));
        assert_eq!(
            (rate(0), rate(9), rate(10), rate(25)),
            (Some(40.0), Some(40.0), Some(15.0), Some(60.0))
        );
    }

    #[test]
    fn a_request_meets_at_most_the_streak_of_random_faults() {
        let state = FaultState::new(Faults {
            error_rate: 1.0,
            max_fault_streak: Some(3),
            ..Faults::default()
        });
        let key = request_key("/v2/user/add", b"{}");
        let verdicts: Vec<Verdict> = (0..8).map(|_| state.judge(Instant::now(), key).0).collect();
        use Verdict::{Proceed, ServerError};
        assert_eq!(
            verdicts,
            [
                ServerError,
                ServerError,
                ServerError,
                Proceed,
                ServerError,
                ServerError,
                ServerError,
                Proceed
            ]
        );
    }

    #[test]
    fn chance_extremes() {
        assert!(!chance(0.0));
        assert!(!chance(f64::NAN));
        assert!(chance(1.0));
        assert!(chance(7.0));
    }
}
