//! Searching one caller's memories and giving each match back its kind, time and conversation.

use futures_util::future::join_all;

use super::client::{Api, Ownership};
use super::marker::unmark;
use super::wire::{QueryFilters, QueryMatch, QueryRequest, QueryResponse};
use crate::core::ports::MemoryStoreError;
use crate::core::{CallerId, MemoryHit, MemoryKind, SearchLimit, SearchQuery};

pub(super) async fn search(
    api: &Api,
    caller: &CallerId,
    query: &SearchQuery,
    limit: SearchLimit,
) -> Result<Vec<MemoryHit>, MemoryStoreError> {
    let user_id = caller.as_e164();
    let request = QueryRequest {
        query: query.as_str(),
        k: limit.get(),
        filters: QueryFilters { user_id },
        user_id,
    };
    let answer: QueryResponse = api.post(&["memory", "query"], &request).await?;
    let matches = answer.matches.into_iter().take(limit.get());
    Ok(join_all(matches.map(|found| hit(api, caller, found))).await)
}

/// The marker gives everything without another request; a match without one (condensed past
/// it, or written by another client) costs one read scoped to the caller.
async fn hit(api: &Api, caller: &CallerId, found: QueryMatch) -> MemoryHit {
    if let Some((marker, content)) = unmark(&found.content) {
        return MemoryHit {
            content: content.to_owned(),
            kind: marker.kind,
            score: found.score,
            created_at: Some(marker.occurred_at),
            conversation_id: Some(marker.conversation_id),
        };
    }
    let mut hit = MemoryHit {
        content: found.content,
        // Without metadata, a caller's own words are the most likely kind.
        kind: MemoryKind::Utterance,
        score: found.score,
        created_at: None,
        conversation_id: None,
    };
    match api.read_as(&found.id, caller).await {
        Ok(Ownership::Own(stored)) => stored.metadata().describe(&mut hit, stored.created_at),
        Ok(Ownership::NotOwn) => {}
        Err(error) => {
            tracing::debug!(%caller, %error, "cannot read the details of a memory match");
        }
    }
    hit
}
