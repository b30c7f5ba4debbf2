//! Adding a memory despite OpenMemory's global, lossy deduplication.
//!
//! Before storing, the server looks for a memory with the same token-set hash among all users'
//! memories and, when it finds one, answers `deduplicated: true` with that memory's id and stores
//! nothing (exchanges-legacy/l63, l67, l69, l71, l74). So a deduplicated
//! answer is checked with a read scoped to the caller (l64 vs l33):
//! - the caller's own memory with the same conversation and key: a repeated delivery,
//!   [`AddOutcome::AlreadyStored`];
//! - anything else (another caller's memory, 403; or a different memory of this caller): the
//!   memory was not stored, so a distinguished form is tried (see [`super::marker`]);
//! - when every form is merged away: [`AddOutcome::NotStored`], never a silent success.
//!
//! An add whose outcome is unknown (it timed out, or the connection broke after it was sent) may
//! still be stored later: a stalled server keeps such requests queued and stores each copy when
//! it resumes, and its duplicate check is not atomic. So such a memory is never added again
//! blindly: the next add of it first looks for it among the caller's memories (by its
//! conversation and key), waiting a little for a late one to land, and adds only if it is
//! really missing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::{Api, Ownership, PostFailure};
use super::marker::mark;
use super::parts::{fitted, parts, LongContent};
use super::wire::{AddRequest, AddResponse, MemoryMetadata};
use crate::core::ports::MemoryStoreError;
use crate::core::{AddOutcome, CallerId, ConversationId, Decay, NewMemory};

/// Distinguished forms tried after the plain one was merged into another memory.
const DISTINGUISHING_ATTEMPTS: u32 = 3;

/// Value of `metadata.source` on every memory this service writes.
pub(super) const SOURCE: &str = "caller-memory";

/// How long a memory whose add had an unknown outcome is looked for before it is added again,
/// and how often.
const LANDING_WAIT: Duration = Duration::from_secs(2);
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// Memories per page, and pages at most, when looking through a caller's memories.
const PAGE: usize = 100;
const MAX_PAGES: usize = 50;

/// Memories whose last add had an unknown outcome, by caller, conversation and key.
#[derive(Debug, Clone, Default)]
pub(super) struct Unsettled(Arc<Mutex<HashSet<String>>>);

impl Unsettled {
    fn id(memory: &NewMemory) -> String {
        format!(
            "{}\n{}\n{}",
            memory.caller.as_e164(),
            memory.conversation_id.as_str(),
            memory.key
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn contains(&self, memory: &NewMemory) -> bool {
        self.lock().contains(&Self::id(memory))
    }

    fn mark(&self, memory: &NewMemory) {
        self.lock().insert(Self::id(memory));
    }

    fn settle(&self, memory: &NewMemory) {
        self.lock().remove(&Self::id(memory));
    }

    /// Settles every memory of the caller's conversation, once its memories are deleted: the
    /// caller's number must not outlive them.
    pub(super) fn settle_conversation(&self, caller: &CallerId, conversation: &ConversationId) {
        let prefix = format!("{}\n{}\n", caller.as_e164(), conversation.as_str());
        self.lock().retain(|id| !id.starts_with(&prefix));
    }
}

/// Adds `memory`, shortened or in parts when `server` would not keep it whole (see
/// [`super::parts`]): the outcome is the least favourable of its parts'.
pub(super) async fn add(
    api: &Api,
    memory: &NewMemory,
    unsettled: &Unsettled,
    server: LongContent,
) -> Result<AddOutcome, MemoryStoreError> {
    let parts = parts(memory, server);
    let count = parts.len();
    let mut outcomes = Vec::with_capacity(count);
    for (index, part) in parts.iter().enumerate() {
        match add_one(api, part, unsettled, server).await? {
            AddOutcome::NotStored { reason } if count > 1 => {
                return Ok(AddOutcome::NotStored {
                    reason: format!("part {} of {count}: {reason}", index + 1),
                })
            }
            AddOutcome::NotStored { reason } => return Ok(AddOutcome::NotStored { reason }),
            outcome => outcomes.push(outcome),
        }
    }
    Ok(if outcomes.contains(&AddOutcome::StoredDistinguished) {
        AddOutcome::StoredDistinguished
    } else if outcomes
        .iter()
        .all(|outcome| *outcome == AddOutcome::AlreadyStored)
    {
        AddOutcome::AlreadyStored
    } else {
        AddOutcome::Stored
    })
}

async fn add_one(
    api: &Api,
    memory: &NewMemory,
    unsettled: &Unsettled,
    server: LongContent,
) -> Result<AddOutcome, MemoryStoreError> {
    if unsettled.contains(memory) {
        if landed(api, memory).await? {
            unsettled.settle(memory);
            return Ok(AddOutcome::AlreadyStored);
        }
        unsettled.settle(memory);
    }
    let outcome = add_now(api, memory, server).await;
    if let Err(PostFailure {
        maybe_received: true,
        ..
    }) = &outcome
    {
        unsettled.mark(memory);
    }
    outcome.map_err(|failure| failure.error)
}

/// Whether the memory is among the caller's, looking again for [`LANDING_WAIT`].
async fn landed(api: &Api, memory: &NewMemory) -> Result<bool, MemoryStoreError> {
    let mut waited = Duration::ZERO;
    loop {
        if is_stored(api, memory).await? {
            return Ok(true);
        }
        if waited >= LANDING_WAIT {
            return Ok(false);
        }
        tokio::time::sleep(LOOK_EVERY).await;
        waited += LOOK_EVERY;
    }
}

async fn is_stored(api: &Api, memory: &NewMemory) -> Result<bool, MemoryStoreError> {
    for page in 0..MAX_PAGES {
        let memories = api.memories_of(&memory.caller, PAGE, page * PAGE).await?;
        if memories.items.iter().any(|stored| {
            let metadata = stored.metadata();
            metadata.conversation_id == memory.conversation_id.as_str()
                && metadata.key == memory.key
        }) {
            return Ok(true);
        }
        if memories.items.len() < PAGE {
            break;
        }
    }
    Ok(false)
}

async fn add_now(
    api: &Api,
    memory: &NewMemory,
    server: LongContent,
) -> Result<AddOutcome, PostFailure> {
    for attempt in 0..=DISTINGUISHING_ATTEMPTS {
        let content = mark(&fitted(memory, attempt, server), attempt);
        let answer: AddResponse = api
            .post_telling_if_sent(&["memory", "add"], &request(memory, &content), None)
            .await?;
        if !answer.deduplicated {
            return Ok(if attempt == 0 {
                AddOutcome::Stored
            } else {
                AddOutcome::StoredDistinguished
            });
        }
        if is_this_memory(api, memory, &answer.id).await? {
            return Ok(AddOutcome::AlreadyStored);
        }
        tracing::debug!(
            caller = %memory.caller,
            conversation = memory.conversation_id.as_str(),
            attempt,
            "openmemory merged a memory into another one; trying a distinguished form"
        );
    }
    Ok(AddOutcome::NotStored {
        reason: format!(
            "openmemory merged every form of this memory into other memories \
             (global deduplication), {} attempts",
            DISTINGUISHING_ATTEMPTS + 1
        ),
    })
}

/// Whether `id` is this very memory, already stored for this caller by an earlier delivery.
async fn is_this_memory(api: &Api, memory: &NewMemory, id: &str) -> Result<bool, MemoryStoreError> {
    match api.read_as(id, &memory.caller).await? {
        Ownership::Own(stored) => {
            let metadata = stored.metadata();
            Ok(metadata.conversation_id == memory.conversation_id.as_str()
                && metadata.key == memory.key)
        }
        Ownership::NotOwn => Ok(false),
    }
}

fn request<'a>(memory: &'a NewMemory, content: &'a str) -> AddRequest<'a> {
    let mut tags = memory.tags.clone();
    tags.push(format!("kind:{}", memory.kind.as_str()));
    tags.push(format!("conversation:{}", memory.conversation_id.as_str()));
    let salience = if memory.salience.is_finite() {
        memory.salience.clamp(0.0, 1.0)
    } else {
        0.5
    };
    AddRequest {
        content,
        tags,
        metadata: MemoryMetadata {
            source: SOURCE.to_owned(),
            kind: memory.kind.as_str().to_owned(),
            conversation_id: memory.conversation_id.as_str().to_owned(),
            key: memory.key.clone(),
            agent_id: memory
                .agent_id
                .as_ref()
                .map(|agent| agent.as_str().to_owned()),
            occurred_at: memory.occurred_at.to_rfc3339(),
            turn_index: memory.turn.map(|turn| turn.index),
            time_in_call_secs: memory.turn.map(|turn| turn.time_in_call_secs),
        },
        user_id: memory.caller.as_e164(),
        salience,
        decay_lambda: match memory.decay {
            Decay::Never => Some(0.0),
            Decay::Default => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_doubles::utterance;

    #[test]
    fn deleting_a_conversation_settles_its_memories_and_only_those() {
        let maria = CallerId::parse("+14155550123").unwrap();
        let juan = CallerId::parse("+34911234567").unwrap();
        let gone = utterance(&maria, "conv_m", "I prefer mornings");
        let other_call = utterance(&maria, "conv_m2", "I prefer mornings");
        let other_caller = utterance(&juan, "conv_m", "I prefer mornings");
        let unsettled = Unsettled::default();
        for memory in [&gone, &other_call, &other_caller] {
            unsettled.mark(memory);
        }

        unsettled.settle_conversation(&maria, &gone.conversation_id);

        assert!(!unsettled.contains(&gone));
        assert!(unsettled.contains(&other_call));
        assert!(unsettled.contains(&other_caller));
    }
}
