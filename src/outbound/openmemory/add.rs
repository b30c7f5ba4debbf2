//! Adding a memory despite OpenMemory's global, lossy deduplication.
//!
//! Before storing, the server looks for a memory with the same token-set hash among all users'
//! memories and, when it finds one, answers `deduplicated: true` with that memory's id and stores
//! nothing (LEGACY.md section 5.3; exchanges-legacy/l63, l67, l69, l71, l74). So a deduplicated
//! answer is checked with a read scoped to the caller (l64 vs l33):
//! - the caller's own memory with the same conversation and key: a repeated delivery,
//!   [`AddOutcome::AlreadyStored`];
//! - anything else (another caller's memory, 403; or a different memory of this caller): the
//!   memory was not stored, so a distinguished form is tried (see [`super::marker`]);
//! - when every form is merged away: [`AddOutcome::NotStored`], never a silent success.

use super::client::{Api, Ownership};
use super::marker::mark;
use super::wire::{AddRequest, AddResponse, MemoryMetadata};
use crate::core::ports::MemoryStoreError;
use crate::core::{AddOutcome, Decay, NewMemory};

/// Distinguished forms tried after the plain one was merged into another memory.
const DISTINGUISHING_ATTEMPTS: u32 = 3;

/// Value of `metadata.source` on every memory this service writes.
pub(super) const SOURCE: &str = "caller-memory";

pub(super) async fn add(api: &Api, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
    for attempt in 0..=DISTINGUISHING_ATTEMPTS {
        let content = mark(memory, attempt);
        let answer: AddResponse = api
            .post(&["memory", "add"], &request(memory, &content))
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
