//! Greetings already composed, kept per caller, card version and agent: a returning caller rings
//! again and again with the same card, and composing their greeting means decoding the card and
//! writing its summaries. A new card version (any write changes it) is composed afresh.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::core::ports::BlobVersion;
use crate::core::{AgentId, CallerId};

use super::Greeting;

/// At most this many agents are remembered per caller; a caller beyond it starts over.
const MAX_AGENTS_PER_CALLER: usize = 64;

/// A bounded memo of composed greetings.
pub(super) struct ComposedGreetings {
    capacity: usize,
    callers: Mutex<HashMap<CallerId, CallerGreetings, Hasher>>,
}

/// Looked up twice at every ring (the caller, then the agent): foldhash hashes a short key in
/// a fraction of the instructions of the standard SipHash, and the memo's size is bounded.
type Hasher = foldhash::fast::RandomState;

/// One caller's greetings, for one version of their card.
struct CallerGreetings {
    version: BlobVersion,
    /// By agent id; the empty string stands for no agent.
    by_agent: HashMap<String, Greeting, Hasher>,
}

fn agent_key(agent: Option<&AgentId>) -> &str {
    agent.map_or("", AgentId::as_str)
}

impl ComposedGreetings {
    /// Remembers the greetings of at most `capacity` callers.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            callers: Mutex::default(),
        }
    }

    fn callers(&self) -> std::sync::MutexGuard<'_, HashMap<CallerId, CallerGreetings, Hasher>> {
        self.callers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The greeting composed for this card version and agent, if there is one.
    pub(super) fn get(
        &self,
        caller: &CallerId,
        version: &BlobVersion,
        agent: Option<&AgentId>,
    ) -> Option<Greeting> {
        let callers = self.callers();
        let known = callers
            .get(caller)
            .filter(|known| known.version == *version)?;
        known.by_agent.get(agent_key(agent)).cloned()
    }

    /// Keeps `greeting`, composed from this card version for this agent.
    pub(super) fn keep(
        &self,
        caller: &CallerId,
        version: &BlobVersion,
        agent: Option<&AgentId>,
        greeting: &Greeting,
    ) {
        let mut callers = self.callers();
        if !callers.contains_key(caller) && callers.len() >= self.capacity {
            // Crude but bounded: a full memo starts over rather than tracking recency.
            callers.clear();
        }
        let known = callers
            .entry(caller.clone())
            .or_insert_with(|| CallerGreetings {
                version: version.clone(),
                by_agent: HashMap::default(),
            });
        if known.version != *version || known.by_agent.len() >= MAX_AGENTS_PER_CALLER {
            known.version = version.clone();
            known.by_agent.clear();
        }
        known
            .by_agent
            .insert(agent_key(agent).to_owned(), greeting.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(number: &str) -> CallerId {
        CallerId::parse(number).unwrap()
    }

    fn version(text: &str) -> BlobVersion {
        BlobVersion(text.to_owned())
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
        memo.keep(&maria, &version("v1"), Some(&dental), &named("Maria"));
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
        memo.keep(&maria, &version("v1"), None, &named("Maria"));
        memo.keep(&maria, &version("v2"), None, &named("María"));
        assert_eq!(memo.get(&maria, &version("v2"), None), Some(named("María")));
        assert_eq!(memo.get(&maria, &version("v1"), None), None);
    }

    #[test]
    fn the_memo_stays_within_its_capacity() {
        let memo = ComposedGreetings::new(2);
        for number in ["+14155550121", "+14155550122", "+14155550123"] {
            memo.keep(&caller(number), &version("v1"), None, &named(number));
        }
        assert!(memo.callers().len() <= 2);
        assert_eq!(
            memo.get(&caller("+14155550123"), &version("v1"), None),
            Some(named("+14155550123"))
        );
    }
}
