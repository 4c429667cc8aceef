//! How long the provider took to answer: a fixed-bucket histogram every request of a run adds
//! to, cheap enough for the hot path (one atomic add per bucket, count, sum and maximum; no lock,
//! no allocation), and the percentiles a summary keeps of it.
//!
//! Rules:
//! - A request's latency is the time from handing it to the HTTP client to its answer arriving
//!   whole (or failing): throttle waits and retry back-offs are not in it.
//! - Buckets are fixed (1 ms to 60 s, about 1-2-3-5 steps, then one open bucket), so a
//!   percentile is the upper bound of the bucket it falls in, never above the largest latency
//!   seen: at most one step off, which is all a report needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bounds of the buckets, in milliseconds; one more bucket holds everything slower.
const BOUNDS_MS: [u64; 25] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000,
    3_000, 5_000, 10_000, 30_000, 60_000,
];

/// The latencies of a run's requests, shared by every HTTP core of the run.
#[derive(Debug, Default)]
pub struct LatencyRecorder {
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
    max_micros: AtomicU64,
}

/// What a summary keeps of the latencies: how many, and the percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub requests: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencyRecorder {
    /// Add one request's latency.
    pub fn record(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let millis = micros.div_ceil(1_000);
        let bucket = BOUNDS_MS.partition_point(|&bound| bound < millis);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// The percentiles so far; `None` before the first request.
    pub fn summary(&self) -> Option<Latency> {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return None;
        }
        let max_ms = self.max_micros.load(Ordering::Relaxed) as f64 / 1_000.0;
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let percentile = |p: f64| {
            // The rank of the p-th percentile, 1-based, and the bucket that holds it.
            let rank = ((p * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            let bucket = counts
                .iter()
                .position(|&n| {
                    seen += n;
                    seen >= rank
                })
                .unwrap_or(BOUNDS_MS.len());
            BOUNDS_MS
                .get(bucket)
                .map_or(max_ms, |&bound| (bound as f64).min(max_ms))
        };
        Some(Latency {
            requests: count,
            mean_ms: self.sum_micros.load(Ordering::Relaxed) as f64 / 1_000.0 / count as f64,
            p50_ms: percentile(0.50),
            p90_ms: percentile(0.90),
            p99_ms: percentile(0.99),
            max_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_recorded_has_no_percentiles() {
        assert_eq!(LatencyRecorder::default().summary(), None);
    }

    #[test]
    fn percentiles_are_bucket_bounds_never_above_the_slowest() {
        let recorder = LatencyRecorder::default();
        for _ in 0..90 {
            recorder.record(ms(12));
        }
        for _ in 0..9 {
            recorder.record(ms(180));
        }
        recorder.record(ms(4_200));
        let latency = recorder.summary().unwrap();
        assert_eq!(latency.requests, 100);
        assert_eq!(latency.p50_ms, 15.0);
        assert_eq!(latency.p90_ms, 15.0);
        assert_eq!(latency.p99_ms, 200.0);
        assert_eq!(latency.max_ms, 4_200.0);
        assert!((latency.mean_ms - (90.0 * 12.0 + 9.0 * 180.0 + 4_200.0) / 100.0).abs() < 1e-9);
    }

    #[test]
    fn one_slow_request_is_its_own_percentile() {
        let recorder = LatencyRecorder::default();
        recorder.record(ms(95_000));
        let latency = recorder.summary().unwrap();
        assert_eq!(
            (latency.p50_ms, latency.p99_ms, latency.max_ms),
            (95_000.0, 95_000.0, 95_000.0),
            "past the last bound, the slowest latency itself"
        );
        let fast = LatencyRecorder::default();
        fast.record(Duration::from_micros(400));
        assert_eq!(fast.summary().unwrap().p50_ms, 0.4, "capped by the maximum");
    }
}
