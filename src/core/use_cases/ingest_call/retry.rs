//! Waiting between attempts while a store is unavailable.

use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Exponential backoff with jitter: the n-th wait is between half and all of
/// `first_delay * 2^(n-1)`, capped at `max_delay`. The jitter keeps several instances from
/// hammering a recovering store in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1`, where `attempt` (from 1) attempts failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let half = ceiling / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=ceiling - half)
    }
}

/// The shutdown signal fired while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ShutDown;

/// Sleeps for `delay` unless `shutdown` fires or `wake` is notified first.
pub(super) async fn pause(
    delay: Duration,
    shutdown: &CancellationToken,
    wake: &Notify,
) -> Result<(), ShutDown> {
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(()),
        () = wake.notified() => Ok(()),
        () = shutdown.cancelled() => Err(ShutDown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_exponentially_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.delay(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = policy.delay(3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let late = policy.delay(40);
            assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(&late));
        }
    }

    #[tokio::test]
    async fn a_shutdown_ends_the_wait_at_once() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();

        let waited = pause(Duration::from_secs(3600), &shutdown, &Notify::new()).await;

        assert_eq!(waited, Err(ShutDown));
    }

    #[tokio::test]
    async fn a_wake_up_ends_the_wait_at_once() {
        let wake = Notify::new();
        wake.notify_one();

        let waited = pause(Duration::from_secs(3600), &CancellationToken::new(), &wake).await;

        assert_eq!(waited, Ok(()));
    }
}
