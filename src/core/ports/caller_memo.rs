//! What this process keeps in memory about callers, so that it can be told to forget one.

use std::sync::Arc;

use crate::core::CallerId;

/// A memo in this process that keeps what it made from a caller's data (a composed greeting, a
/// decoded profile card, a written answer), to serve the next ring or search faster. Infallible.
///
/// An erasure, and a retention sweep that takes a summary out of a card, tell every memo to
/// forget the caller once the card has changed in the store, so that the process keeps nothing
/// of what was deleted.
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
pub trait CallerMemo: Send + Sync + 'static {
    /// Drops everything kept about `caller` (everything, for a memo that cannot tell callers
    /// apart). What a read that began before this call made is not kept afterwards either.
    fn forget(&self, caller: &CallerId);
}

/// Every caller memo of this process, told to forget together. Empty by default: a process
/// that keeps nothing in memory (a command) has nothing to forget.
#[derive(Clone, Default)]
pub struct CallerMemos(Vec<Arc<dyn CallerMemo>>);

impl CallerMemos {
    pub fn new(memos: Vec<Arc<dyn CallerMemo>>) -> Self {
        Self(memos)
    }

    /// Tells every memo to forget `caller`.
    pub fn forget(&self, caller: &CallerId) {
        for memo in &self.0 {
            memo.forget(caller);
        }
    }
}
