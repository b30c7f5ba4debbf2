//! Searching one caller's memories: OpenMemory finds candidates, the core scorer ranks them.
//!
//! OpenMemory's own ranking has no relevance cut-off and weighs words its own way, so the query
//! asks for more candidates than wanted ([`CANDIDATES_PER_RESULT`] per result), each match gets
//! back its kind, time and conversation (from the content marker, or one scoped read), and the
//! candidates are ranked by [`crate::core::recall::rank`] exactly as the embedded store ranks its
//! own: topic words in any word form, and with an embedder, the similarity of their embeddings
//! (see [`super::embeddings`]). A generic request lists the caller's newest memories instead.

use futures_util::future::join_all;

use super::client::{Api, Ownership};
use super::embeddings::CandidateEmbeddings;
use super::marker::unmark;
use super::wire::{QueryFilters, QueryMatch, QueryRequest, QueryResponse};
use crate::core::ports::{ErrorChain, MemoryStoreError};
use crate::core::recall::{rank, recent_context, word_overlap, Candidate, RecallQuery};
use crate::core::{CallerId, MemoryHit, MemoryKind, SearchLimit};

/// Candidates fetched per wanted result.
const CANDIDATES_PER_RESULT: usize = 4;
/// Candidates fetched at least, and at most.
const MIN_CANDIDATES: usize = 20;
const MAX_CANDIDATES: usize = 80;
/// Newest memories listed for a generic request, enough to reach the last call's summary after
/// that call's exchanges.
const RECENT_LISTED: usize = 60;

pub(super) async fn search(
    api: &Api,
    embeddings: Option<&CandidateEmbeddings>,
    caller: &CallerId,
    query: &RecallQuery,
    limit: SearchLimit,
) -> Result<Vec<MemoryHit>, MemoryStoreError> {
    if query.is_generic() {
        return recent(api, caller, limit).await;
    }
    let user_id = caller.as_e164();
    let wanted = (limit.get() * CANDIDATES_PER_RESULT).clamp(MIN_CANDIDATES, MAX_CANDIDATES);
    let request = QueryRequest {
        query: query.text().as_str(),
        k: wanted,
        filters: QueryFilters { user_id },
        user_id,
    };
    let answer: QueryResponse = api.post(&["memory", "query"], &request).await?;
    let matches = answer.matches.into_iter().take(wanted);
    let hits: Vec<MemoryHit> = join_all(matches.map(|found| hit(api, caller, found)))
        .await
        .into_iter()
        // A memory the server condensed to nothing says nothing.
        .filter(|hit| !hit.content.trim().is_empty())
        .collect();
    let similarities = match (embeddings, query.embedding()) {
        (Some(embeddings), Some(wanted)) => embeddings.similarities(wanted, &hits).await,
        _ => vec![None; hits.len()],
    };
    let topic = query.topic_words();
    let candidates = hits
        .into_iter()
        .zip(similarities)
        .map(|(hit, similarity)| Candidate {
            lexical: word_overlap(&topic, &hit.content),
            similarity,
            hit,
        })
        .collect();
    Ok(rank(candidates, query.chance(), limit.get()))
}

/// The caller's newest memories, ordered as the core orders recent context.
async fn recent(
    api: &Api,
    caller: &CallerId,
    limit: SearchLimit,
) -> Result<Vec<MemoryHit>, MemoryStoreError> {
    let listed = api.memories_of(caller, RECENT_LISTED, 0).await?.items;
    let hits = listed
        .into_iter()
        .filter_map(|item| {
            let (marker, content) = unmark(item.content.as_deref()?)?;
            if content.trim().is_empty() {
                return None;
            }
            Some(MemoryHit {
                content: content.to_owned(),
                kind: marker.kind,
                score: 0.0,
                created_at: Some(marker.occurred_at),
                conversation_id: Some(marker.conversation_id),
            })
        })
        .collect();
    Ok(recent_context(hits, limit.get()))
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
            tracing::debug!(%caller, error = %ErrorChain(&error), "cannot read the details of a memory match");
        }
    }
    hit
}
