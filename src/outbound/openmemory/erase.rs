//! Listing and erasing one caller's memories, always by id and scoped to the caller.
//!
//! `GET /users/:id/memories` pages through the caller's memories newest first
//! (exchanges-legacy/l25, l26); each one is deleted with `DELETE /memory/:id?user_id=`, which the
//! server refuses for another caller's memory (l37). The bulk `DELETE /users/:id/memories` is not
//! used: it would also erase memories this service did not write, and cannot keep one
//! conversation apart from the others.

use super::client::Api;
use super::embeddings::CandidateEmbeddings;
use super::marker::unmark;
use super::wire::{StoredMemory, UserMemories};
use crate::core::ports::MemoryStoreError;
use crate::core::{CallerId, ConversationId, MemoryHit, MemoryKind};

/// Memories read per page.
const PAGE: usize = 100;

/// Every memory of `caller`, newest first.
async fn all_of(api: &Api, caller: &CallerId) -> Result<Vec<StoredMemory>, MemoryStoreError> {
    let mut all = Vec::new();
    loop {
        let page: UserMemories = api.memories_of(caller, PAGE, all.len()).await?;
        let last = page.items.len() < PAGE;
        all.extend(page.items);
        if last {
            return Ok(all);
        }
    }
}

/// A stored memory's conversation and key without its part number.
type Group = (String, String);

/// Every memory of `caller`, newest first, each long memory stored in parts
/// ([`super::parts`]) joined back into one.
pub(super) async fn list(api: &Api, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
    let mut whole: Vec<(Group, Vec<(u32, MemoryHit)>)> = Vec::new();
    for (position, memory) in all_of(api, caller).await?.iter().enumerate() {
        let metadata = memory.metadata();
        let (key, index) = key_and_part(&metadata.key);
        let group = if key.is_empty() {
            // Not written by this service: never joined with anything.
            (String::new(), format!("#{position}"))
        } else {
            (metadata.conversation_id.clone(), key.to_owned())
        };
        let found = hit(memory);
        match whole.iter_mut().find(|(existing, _)| *existing == group) {
            Some((_, parts)) => parts.push((index, found)),
            None => whole.push((group, vec![(index, found)])),
        }
    }
    Ok(whole
        .into_iter()
        .map(|(_, mut parts)| {
            parts.sort_by_key(|(index, _)| *index);
            let content = parts
                .iter()
                .map(|(_, part)| part.content.trim())
                .filter(|content| !content.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let (_, first) = parts.swap_remove(0);
            MemoryHit { content, ..first }
        })
        .collect())
}

/// A stored key without its part number (`<key>#2` is part 2 of `<key>`), and the part number.
fn key_and_part(stored: &str) -> (&str, u32) {
    if let Some((key, index)) = stored.rsplit_once('#') {
        if let Ok(index) = index.parse::<u32>() {
            return (key, index);
        }
    }
    (stored, 1)
}

/// Deletes the caller's memories of `conversation`, and the embeddings searches made of them.
pub(super) async fn delete_conversation(
    api: &Api,
    embeddings: Option<&CandidateEmbeddings>,
    caller: &CallerId,
    conversation: &ConversationId,
) -> Result<usize, MemoryStoreError> {
    // A long memory's parts are deleted with it and counted once.
    let mut deleted = 0;
    for memory in all_of(api, caller).await? {
        let found = hit(&memory);
        if found.conversation_id.as_ref() != Some(conversation)
            || !api.delete_as(&memory.id, caller).await?
        {
            continue;
        }
        if let Some(embeddings) = embeddings {
            embeddings.forget(&found.content);
        }
        if key_and_part(&memory.metadata().key).1 == 1 {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// The marker says what the memory is; without one, the metadata stored with it does.
fn hit(memory: &StoredMemory) -> MemoryHit {
    let text = memory.content.as_deref().unwrap_or_default();
    if let Some((marker, content)) = unmark(text) {
        return MemoryHit {
            content: content.to_owned(),
            kind: marker.kind,
            score: 0.0,
            created_at: Some(marker.occurred_at),
            conversation_id: Some(marker.conversation_id),
        };
    }
    let mut hit = MemoryHit {
        content: text.to_owned(),
        // Without metadata, a caller's own words are the most likely kind.
        kind: MemoryKind::Utterance,
        score: 0.0,
        created_at: None,
        conversation_id: None,
    };
    memory.metadata().describe(&mut hit, memory.created_at);
    hit
}
