//! What this process keeps in memory about callers, so that it can be told to forget one.

use std::sync::atomic::{AtomicU64, Ordering};
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

/// How many times a memo forgot, so that what a read begun before a forget made is not kept
/// (the data it was made from may be gone): take [`Forgets::read_start`] before reading, call
/// [`Forgets::forgot`] with the memo locked when forgetting, and keep only when
/// [`Forgets::none_since`] the start, checked with the memo locked. Read without a lock.
#[derive(Debug, Default)]
pub struct Forgets(AtomicU64);

/// When a read began, as [`Forgets::read_start`] marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStart(u64);

impl Forgets {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Marks the start of a read, before anything is read.
    pub fn read_start(&self) -> ReadStart {
        ReadStart(self.0.load(Ordering::Acquire))
    }

    /// Counts a forget; call it with the memo locked.
    pub fn forgot(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether nothing was forgotten since `start`, so what that read made may be kept.
    pub fn none_since(&self, start: ReadStart) -> bool {
        self.0.load(Ordering::Acquire) == start.0
    }
}
