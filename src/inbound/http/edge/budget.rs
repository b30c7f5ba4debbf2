//! The budget for unverified bytes: post-call bodies are staged on disk before their signature
//! can be checked, so the bytes received from senders not yet proven genuine are capped across
//! all requests, and part of the budget is kept for small bodies (transcriptions), so that large
//! fake uploads cannot starve them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The most of the budget kept for small bodies.
const MAX_SMALL_BODY_RESERVE: u64 = 64 * 1024 * 1024;

/// Bytes of post-call bodies received and not yet verified, across all requests.
#[derive(Debug)]
pub struct UnverifiedBudget {
    limit: u64,
    /// Only bodies of at most `small_body` bytes may use the last `reserve` bytes.
    reserve: u64,
    small_body: u64,
    in_use: AtomicU64,
}

/// The budget has no room for these bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the budget for unverified bytes is spent")]
pub struct BudgetSpent;

impl UnverifiedBudget {
    /// A quarter of `limit` (at most 64 MiB) is kept for bodies of at most a sixteenth of that
    /// (4 MiB with the largest reserve): transcriptions are far smaller, audio far larger.
    pub fn new(limit: u64) -> Arc<Self> {
        let reserve = (limit / 4).min(MAX_SMALL_BODY_RESERVE);
        Arc::new(Self {
            limit,
            reserve,
            small_body: reserve / 16,
            in_use: AtomicU64::new(0),
        })
    }

    /// Bytes held by bodies in flight.
    pub fn in_use(&self) -> u64 {
        self.in_use.load(Ordering::Relaxed)
    }

    /// A reservation for one body, holding nothing yet.
    pub fn open(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: Arc::clone(self),
            held: 0,
            used: 0,
        }
    }

    fn take(&self, bytes: u64, body_total: u64) -> Result<(), BudgetSpent> {
        let ceiling = if body_total <= self.small_body {
            self.limit
        } else {
            self.limit - self.reserve
        };
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_use| {
                in_use.checked_add(bytes).filter(|total| *total <= ceiling)
            })
            .map(|_| ())
            .map_err(|_| BudgetSpent)
    }

    fn give_back(&self, bytes: u64) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The bytes one body holds in the budget, given back when it is dropped (once the body is
/// verified, or refused).
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<UnverifiedBudget>,
    /// Taken from the budget.
    held: u64,
    /// Received so far; at most `held`.
    used: u64,
}

impl Reservation {
    /// Takes the whole declared length at once, so that a body that cannot fit is refused
    /// before any of it is read.
    pub fn hold(&mut self, declared: u64) -> Result<(), BudgetSpent> {
        if declared > self.held {
            self.budget.take(declared - self.held, declared)?;
            self.held = declared;
        }
        Ok(())
    }

    /// Counts `bytes` more received for this body, before they are written anywhere, taking
    /// from the budget what was not held already.
    pub fn grow(&mut self, bytes: u64) -> Result<(), BudgetSpent> {
        let used = self.used.saturating_add(bytes);
        self.hold(used)?;
        self.used = used;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_share_the_budget_and_give_it_back_when_done() {
        let budget = UnverifiedBudget::new(4_000);
        let mut first = budget.open();
        first.grow(2_500).unwrap();
        let mut second = budget.open();
        assert_eq!(
            second.grow(600),
            Err(BudgetSpent),
            "only 500 left for large bodies"
        );
        drop(first);
        assert_eq!(budget.in_use(), 0);
        second.grow(2_900).unwrap();
        assert_eq!(budget.in_use(), 2_900);
    }

    #[test]
    fn large_bodies_cannot_spend_the_room_kept_for_small_ones() {
        // 1,000 kept for bodies of at most 62 bytes.
        let budget = UnverifiedBudget::new(4_000);
        let mut large = budget.open();
        large.grow(3_000).unwrap();
        assert_eq!(large.grow(1), Err(BudgetSpent));
        let mut smalls: Vec<Reservation> = (0..16).map(|_| budget.open()).collect();
        for small in &mut smalls {
            small.grow(62).unwrap();
        }
        assert_eq!(budget.in_use(), 3_000 + 16 * 62);
        let mut one_more = budget.open();
        assert_eq!(
            one_more.grow(62),
            Err(BudgetSpent),
            "the whole budget is spent"
        );
    }

    #[test]
    fn a_declared_length_is_held_at_once_and_not_counted_twice() {
        let budget = UnverifiedBudget::new(4_000);
        let mut declared = budget.open();
        declared.hold(2_000).unwrap();
        declared.grow(1_500).unwrap();
        declared.grow(500).unwrap();
        assert_eq!(budget.in_use(), 2_000);
        let mut too_long = budget.open();
        assert_eq!(too_long.hold(1_500), Err(BudgetSpent));
        assert_eq!(budget.in_use(), 2_000, "a refused hold takes nothing");
    }

    #[test]
    fn a_small_body_that_grows_large_loses_the_reserve() {
        let budget = UnverifiedBudget::new(4_000);
        let mut large = budget.open();
        large.grow(3_000).unwrap();
        let mut growing = budget.open();
        growing.grow(60).unwrap();
        assert_eq!(growing.grow(60), Err(BudgetSpent));
        assert_eq!(budget.in_use(), 3_060);
    }
}
