//! Request counters: totals, per path, concurrency high-water mark, arrival and creation times.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sandbox::{lock, SandboxStats};

#[derive(Default)]
struct Log {
    requests: u64,
    by_endpoint: BTreeMap<String, u64>,
    arrivals: Vec<Duration>,
    creations: Vec<Duration>,
}

pub(crate) struct StatsState {
    started: Instant,
    log: Mutex<Log>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    adds_committed: AtomicU64,
    rejected_auth: AtomicU64,
}

/// Counts a request as in flight until dropped.
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StatsState {
    pub(crate) fn new(started: Instant) -> StatsState {
        StatsState {
            started,
            log: Mutex::new(Log::default()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            adds_committed: AtomicU64::new(0),
            rejected_auth: AtomicU64::new(0),
        }
    }

    /// Records an arrival; the request counts as in flight while the guard lives.
    pub(crate) fn arrive(&self, path: &str, at: Instant) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let since_start = at.saturating_duration_since(self.started);
        let mut log = lock(&self.log);
        log.requests += 1;
        match log.by_endpoint.get_mut(path) {
            Some(n) => *n += 1,
            None => {
                log.by_endpoint.insert(path.to_owned(), 1);
            }
        }
        log.arrivals.push(since_start);
        drop(log);
        InFlight(&self.in_flight)
    }

    pub(crate) fn add_committed(&self) {
        self.adds_committed.fetch_add(1, Ordering::Relaxed);
        let since_start = self.started.elapsed();
        lock(&self.log).creations.push(since_start);
    }

    pub(crate) fn auth_rejected(&self) {
        self.rejected_auth.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SandboxStats {
        let log = lock(&self.log);
        SandboxStats {
            requests: log.requests,
            by_endpoint: log.by_endpoint.clone(),
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
            arrivals: log.arrivals.clone(),
            creations: log.creations.clone(),
            adds_committed: self.adds_committed.load(Ordering::Relaxed),
            rejected_auth: self.rejected_auth.load(Ordering::Relaxed),
        }
    }
}
