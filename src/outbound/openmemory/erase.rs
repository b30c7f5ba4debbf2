//! Listing and erasing one caller's memories, always by id and scoped to the caller.
//!
//! `GET /users/:id/memories` pages through the caller's memories newest first
//! (exchanges-legacy/l25, l26); each one is deleted with `DELETE /memory/:id?user_id=`, which the
//! server refuses for another caller's memory (l37). The bulk `DELETE /users/:id/memories` is not
//! used: it would also erase memories this service did not write, and cannot keep one
//! conversation apart from the others.

use super::client::Api;
use super::marker::unmark;
use super::wire::{UserMemories, UserMemory};
use crate::core::ports::MemoryStoreError;
use crate::core::{CallerId, ConversationId, MemoryHit, MemoryKind};

/// Memories read per page.
const PAGE: usize = 100;

/// Every memory of `caller`, newest first.
async fn all_of(api: &Api, caller: &CallerId) -> Result<Vec<UserMemory>, MemoryStoreError> {
    let mut all = Vec::new();
    loop {
        let (limit, offset) = (PAGE.to_string(), all.len().to_string());
        let page: UserMemories = api
            .get(
                &["users", caller.as_e164(), "memories"],
                &[("l", limit.as_str()), ("u", offset.as_str())],
            )
            .await?;
        let last = page.items.len() < PAGE;
        all.extend(page.items);
        if last {
            return Ok(all);
        }
    }
}

pub(super) async fn list(api: &Api, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
    Ok(all_of(api, caller).await?.iter().map(hit).collect())
}

pub(super) async fn delete_conversation(
    api: &Api,
    caller: &CallerId,
    conversation: &ConversationId,
) -> Result<usize, MemoryStoreError> {
    let mut deleted = 0;
    for memory in all_of(api, caller).await? {
        if hit(&memory).conversation_id.as_ref() == Some(conversation)
            && api.delete_as(&memory.id, caller).await?
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// The marker says what the memory is; without one, the metadata stored with it does.
fn hit(memory: &UserMemory) -> MemoryHit {
    if let Some((marker, content)) = unmark(&memory.content) {
        return MemoryHit {
            content: content.to_owned(),
            kind: marker.kind,
            score: 0.0,
            created_at: Some(marker.occurred_at),
            conversation_id: Some(marker.conversation_id),
        };
    }
    let mut hit = MemoryHit {
        content: memory.content.clone(),
        // Without metadata, a caller's own words are the most likely kind.
        kind: MemoryKind::Utterance,
        score: 0.0,
        created_at: None,
        conversation_id: None,
    };
    memory.metadata().describe(&mut hit, memory.created_at);
    hit
}
