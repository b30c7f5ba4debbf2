//! Greetings already composed, kept per caller, card version and agent: a returning caller rings
//! again and again with the same card, and composing their greeting means decoding the card and
//! writing its summaries. A new card version (any write changes it) is composed afresh.

use std::collections::HashMap;

use crate::core::ports::{BlobVersion, CallerMemo, ReadStart};
use crate::core::use_cases::card_memo::CardMemo;
use crate::core::{AgentId, CallerId};

use super::Greeting;

/// At most this many agents are remembered per caller; a caller beyond it starts over.
const MAX_AGENTS_PER_CALLER: usize = 64;

/// A bounded memo of composed greetings, forgotten with the caller.
pub(super) struct ComposedGreetings(CardMemo<ByAgent>);

/// One caller's greetings, by agent id; the empty string stands for no agent. Looked up at every
/// ring: foldhash hashes a short key in a fraction of the instructions of the standard SipHash.
type ByAgent = HashMap<String, Greeting, foldhash::fast::RandomState>;

fn agent_key(agent: Option<&AgentId>) -> &str {
    agent.map_or("", AgentId::as_str)
}

impl ComposedGreetings {
    /// Remembers the greetings of at most `capacity` callers.
    pub(super) fn new(capacity: usize) -> Self {
        Self(CardMemo::new(capacity))
    }

    /// Marks the start of a card read, before the card is read (see [`Self::keep`]).
    pub(super) fn read_start(&self) -> ReadStart {
        self.0.read_start()
    }

    /// The greeting composed for this card version and agent, if there is one.
    pub(super) fn get(
        &self,
        caller: &CallerId,
        version: &BlobVersion,
        agent: Option<&AgentId>,
    ) -> Option<Greeting> {
        self.0.find(caller, version, |by_agent| {
            by_agent.get(agent_key(agent)).cloned()
        })
    }

    /// Keeps `greeting`, composed from this card version (read since `start`) for this agent.
    pub(super) fn keep(
        &self,
        start: ReadStart,
        caller: &CallerId,
        version: &BlobVersion,
        agent: Option<&AgentId>,
        greeting: &Greeting,
    ) {
        self.0.keep(start, caller, version, |by_agent| {
            if by_agent.len() >= MAX_AGENTS_PER_CALLER {
                by_agent.clear();
            }
            by_agent.insert(agent_key(agent).to_owned(), greeting.clone());
        });
    }

    /// Whether any greeting of `caller` is kept.
    #[cfg(test)]
    pub(super) fn holds(&self, caller: &CallerId) -> bool {
        self.0.holds(caller)
    }
}

impl CallerMemo for ComposedGreetings {
    fn forget(&self, caller: &CallerId) {
        self.0.forget(caller);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::use_cases::test_support::version;

    fn caller(number: &str) -> CallerId {
        CallerId::parse(number).unwrap()
    }

    fn named(name: &str) -> Greeting {
        Greeting {
            user_name: name.to_owned(),
            ..Greeting::new_caller()
        }
    }

    #[test]
    fn a_greeting_is_found_only_for_its_card_version_and_agent() {
        let memo = ComposedGreetings::new(8);
        let maria = caller("+14155550123");
        let dental = AgentId::parse("agent_dental").unwrap();
        memo.keep(
            memo.read_start(),
            &maria,
            &version("v1"),
            Some(&dental),
            &named("Maria"),
        );
        assert_eq!(
            memo.get(&maria, &version("v1"), Some(&dental)),
            Some(named("Maria"))
        );
        assert_eq!(memo.get(&maria, &version("v1"), None), None);
        assert_eq!(memo.get(&maria, &version("v2"), Some(&dental)), None);
        assert_eq!(
            memo.get(&caller("+14155550124"), &version("v1"), None),
            None
        );
    }

    #[test]
    fn a_new_card_version_replaces_every_greeting_of_the_old_one() {
        let memo = ComposedGreetings::new(8);
        let maria = caller("+14155550123");
        let start = memo.read_start();
        memo.keep(start, &maria, &version("v1"), None, &named("Maria"));
        memo.keep(start, &maria, &version("v2"), None, &named("María"));
        assert_eq!(memo.get(&maria, &version("v2"), None), Some(named("María")));
        assert_eq!(memo.get(&maria, &version("v1"), None), None);
    }

    #[test]
    fn the_memo_stays_within_its_capacity() {
        let memo = ComposedGreetings::new(2);
        for number in ["+14155550121", "+14155550122", "+14155550123"] {
            let start = memo.read_start();
            memo.keep(start, &caller(number), &version("v1"), None, &named(number));
        }
        assert!(memo.0.callers() <= 2);
        assert_eq!(
            memo.get(&caller("+14155550123"), &version("v1"), None),
            Some(named("+14155550123"))
        );
    }
}
