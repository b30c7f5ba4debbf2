//! What the edge has refused so far, as counters a metrics exporter can read, and a limiter that
//! keeps a repeated warning to one line per period.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Running totals since the start; each only grows.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    /// Requests refused because their client is not in `ALLOWED_SOURCE_IPS` (403).
    pub source_refusals: AtomicU64,
    /// Connections closed, new or idle, because `MAX_CONNECTIONS` were open.
    pub connections_shed: AtomicU64,
    /// Connections closed because no request headers came within `HEADER_READ_TIMEOUT_MS`.
    pub header_timeouts: AtomicU64,
    /// Requests dropped because their body went quiet for `BODY_STALL_TIMEOUT_MS` (408).
    pub body_stalls: AtomicU64,
    /// Post-call deliveries refused because `MAX_UNVERIFIED_BYTES` were in flight (503).
    pub unverified_budget_refusals: AtomicU64,
    /// Failed authentications: wrong signature or key (401).
    pub auth_failures: AtomicU64,
    /// Peers refused for a while after too many failed authentications.
    pub auth_lockouts: AtomicU64,
    /// Requests refused because their peer was locked out (429).
    pub auth_throttled_requests: AtomicU64,
}

/// A snapshot of the edge: the totals above plus what is held right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeStats {
    pub open_connections: u64,
    pub unverified_bytes_in_flight: u64,
    pub locked_out_peers: u64,
    pub source_refusals: u64,
    pub connections_shed: u64,
    pub header_timeouts: u64,
    pub body_stalls: u64,
    pub unverified_budget_refusals: u64,
    pub auth_failures: u64,
    pub auth_lockouts: u64,
    pub auth_throttled_requests: u64,
}

impl EdgeCounters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// How often a repeated warning may be logged.
const LOG_PERIOD: Duration = Duration::from_secs(10);

/// Lets one line through per [`LOG_PERIOD`], and says how many were held back.
#[derive(Debug, Default)]
pub struct LogLimiter {
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimiter {
    /// `Some(events since the last line, this one included)` when a line may be logged now.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().expect("log limiter lock");
        let (last, held_back) = &mut *state;
        *held_back += 1;
        if last.is_some_and(|last| now.duration_since(last) < LOG_PERIOD) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_logged_once_per_period_with_the_count() {
        let limiter = LogLimiter::default();
        let start = Instant::now();
        assert_eq!(limiter.allow_at(start), Some(1));
        assert_eq!(limiter.allow_at(start + Duration::from_secs(1)), None);
        assert_eq!(limiter.allow_at(start + Duration::from_secs(9)), None);
        assert_eq!(limiter.allow_at(start + LOG_PERIOD), Some(3));
    }
}
