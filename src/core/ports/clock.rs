//! The wall clock, behind a port so that time-dependent rules can be tested.

use chrono::{DateTime, Utc};

/// Tells the current time. Infallible.
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}
