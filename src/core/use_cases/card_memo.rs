//! A bounded memo of what was made from callers' profile cards (greetings, decoded cards), each
//! entry valid for the version of the card it was made from, and forgotten with the caller.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::core::ports::{BlobVersion, CallerMemo, Forgets, ReadStart};
use crate::core::CallerId;

/// Looked up at every ring or search: foldhash hashes a short key in a fraction of the
/// instructions of the standard SipHash, and the memo's size is bounded.
type Hasher = foldhash::fast::RandomState;

/// What was made from each caller's card, for the version it was made from; at most `capacity`
/// callers.
pub(super) struct CardMemo<V> {
    capacity: usize,
    by_caller: Mutex<ByCaller<V>>,
    /// Counted, with `by_caller` locked, by every [`CallerMemo::forget`]: what a read that began
    /// before it made is not kept, since the card it was made from may be gone.
    forgets: Forgets,
}

type ByCaller<V> = HashMap<CallerId, (BlobVersion, V), Hasher>;

impl<V> CardMemo<V> {
    fn by_caller(&self) -> MutexGuard<'_, ByCaller<V>> {
        self.by_caller
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<V: Default> CardMemo<V> {
    /// Remembers what was made from the cards of at most `capacity` callers.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            by_caller: Mutex::default(),
            forgets: Forgets::new(),
        }
    }

    /// Marks the start of a card read, before the card is read.
    pub(super) fn read_start(&self) -> ReadStart {
        self.forgets.read_start()
    }

    /// What `look` finds in what was made from this version of `caller`'s card.
    pub(super) fn find<R>(
        &self,
        caller: &CallerId,
        version: &BlobVersion,
        look: impl FnOnce(&V) -> Option<R>,
    ) -> Option<R> {
        let by_caller = self.by_caller();
        let (kept_version, kept) = by_caller.get(caller)?;
        (kept_version == version).then(|| look(kept)).flatten()
    }

    /// Lets `update` change what is kept for this version of `caller`'s card (from
    /// `V::default()` when nothing is kept for this version), unless a caller was forgotten
    /// since `start`: any caller, since forgetting is rare and the next read keeps it.
    pub(super) fn keep(
        &self,
        start: ReadStart,
        caller: &CallerId,
        version: &BlobVersion,
        update: impl FnOnce(&mut V),
    ) {
        let mut by_caller = self.by_caller();
        if !self.forgets.none_since(start) {
            return;
        }
        if !by_caller.contains_key(caller) && by_caller.len() >= self.capacity {
            // Crude but bounded: a full memo starts over rather than tracking recency.
            by_caller.clear();
        }
        let (kept_version, kept) = by_caller
            .entry(caller.clone())
            .or_insert_with(|| (version.clone(), V::default()));
        if kept_version != version {
            *kept_version = version.clone();
            *kept = V::default();
        }
        update(kept);
    }

    /// How many callers something is kept for.
    #[cfg(test)]
    pub(super) fn callers(&self) -> usize {
        self.by_caller().len()
    }

    /// Whether anything is kept for `caller`, whatever the version.
    #[cfg(test)]
    pub(super) fn holds(&self, caller: &CallerId) -> bool {
        self.by_caller().contains_key(caller)
    }
}

impl<V: Send + 'static> CallerMemo for CardMemo<V> {
    fn forget(&self, caller: &CallerId) {
        let mut by_caller = self.by_caller();
        self.forgets.forgot();
        by_caller.remove(caller);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::use_cases::test_support::{juan, maria, version};

    fn name_kept(memo: &CardMemo<String>, caller: &CallerId) -> Option<String> {
        memo.find(caller, &version("v1"), |name| Some(name.clone()))
    }

    fn keep_name(memo: &CardMemo<String>, start: ReadStart, caller: &CallerId, name: &str) {
        memo.keep(start, caller, &version("v1"), |kept| {
            *kept = name.to_owned();
        });
    }

    #[test]
    fn a_forgotten_caller_has_nothing_kept_and_the_others_keep_theirs() {
        let memo = CardMemo::new(8);
        keep_name(&memo, memo.read_start(), &maria(), "Maria");
        keep_name(&memo, memo.read_start(), &juan(), "Juan");

        memo.forget(&maria());

        assert!(!memo.holds(&maria()));
        assert_eq!(name_kept(&memo, &maria()), None);
        assert_eq!(name_kept(&memo, &juan()).as_deref(), Some("Juan"));
    }

    #[test]
    fn what_a_read_begun_before_a_forget_made_is_not_kept() {
        let memo = CardMemo::new(8);
        let before = memo.read_start();
        memo.forget(&maria());

        keep_name(&memo, before, &maria(), "Maria");
        assert!(!memo.holds(&maria()));

        keep_name(&memo, memo.read_start(), &maria(), "Maria");
        assert_eq!(name_kept(&memo, &maria()).as_deref(), Some("Maria"));
    }
}
