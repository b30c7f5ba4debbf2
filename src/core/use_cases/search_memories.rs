//! Search one caller's memories mid-call, for the agent's question.
//!
//! The search never fails as a whole: the profile card comes from the blob store and is still
//! returned when the memory store is down or slow, with a status that tells the agent so.
//!
//! With an embedder, the question is embedded once, within its own time budget; when the
//! embedder fails or is too slow, the memories are ranked by their words alone and the status
//! says so.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::core::ports::{
    BlobStore, Embedder, EmbedderError, ErrorChain, MemoryStore, MemoryStoreError,
};
use crate::core::recall::{chance_similarity, QueryEmbedding, RecallQuery};
use crate::core::use_cases::read_profile::DecodedCards;
use crate::core::{CallerId, MemoryHit, ProfileCard, SearchLimit, SearchQuery};

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySearch {
    /// The caller's profile card; `None` for an unknown caller or an unreadable card.
    pub profile: Option<ProfileCard>,
    /// The caller's memories, most relevant first; empty when the memory store failed.
    pub memories: Vec<MemoryHit>,
    pub status: MemorySearchStatus,
}

/// Whether the memories could be searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySearchStatus {
    Ok,
    /// The memory store could not be reached or refused the search.
    MemoryStoreUnavailable,
    /// The memory store did not answer within the search timeout.
    MemoryStoreTimeout,
    /// The memories were searched, but ranked by their words only: the embedder failed or did
    /// not embed the question within its budget.
    LexicalFallback,
}

/// The search-memories use case.
pub struct SearchMemories {
    memories: Arc<dyn MemoryStore>,
    profiles: Arc<dyn BlobStore>,
    timeout: Duration,
    embedder: Option<QueryEmbedder>,
    cards: DecodedCards,
}

/// How questions are embedded: the model, the time each may take, and the model's chance
/// similarity (see [`chance_similarity`]), measured once.
struct QueryEmbedder {
    embedder: Arc<dyn Embedder>,
    budget: Duration,
    chance: Arc<OnceCell<f32>>,
}

/// The chance similarity of `embedder`'s model, kept in `measured`: measured by the first to
/// ask, awaited by those who ask meanwhile, and measured again by the next after a failure.
async fn measured_chance(
    embedder: &Arc<dyn Embedder>,
    measured: &OnceCell<f32>,
) -> Result<f32, EmbedderError> {
    measured
        .get_or_try_init(|| async {
            let chance = chance_similarity(embedder.as_ref()).await?;
            tracing::info!(
                model = embedder.model_id(),
                chance = format!("{chance:.3}"),
                "similarities are judged above the model's chance similarity"
            );
            Ok(chance)
        })
        .await
        .copied()
}

/// How many callers' decoded cards are kept: the callers searched for mid-call, so those on a
/// call now and shortly before (each card at most 8 KiB as stored, see [`DecodedCards`]).
const DECODED_CARDS: usize = 1_024;

impl SearchMemories {
    /// `timeout` bounds the memory store call and the profile card read, each.
    pub fn new(
        memories: Arc<dyn MemoryStore>,
        profiles: Arc<dyn BlobStore>,
        timeout: Duration,
    ) -> Self {
        Self {
            memories,
            profiles,
            timeout,
            embedder: None,
            cards: DecodedCards::new(DECODED_CARDS),
        }
    }

    /// Embeds each question with `embedder`, giving up after `budget`, so that memories are also
    /// ranked by meaning, their similarities judged above the model's chance similarity
    /// (measured once, before the first search with a model; see [`Self::calibration`]).
    /// Without it, searches are lexical.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>, budget: Duration) -> Self {
        self.embedder = Some(QueryEmbedder {
            embedder,
            budget,
            chance: Arc::new(OnceCell::new()),
        });
        self
    }

    /// Measuring the model's chance similarity, to run now rather than at the first search (the
    /// service starts it as it starts); `None` without an embedder.
    pub fn calibration(
        &self,
    ) -> Option<impl Future<Output = Result<f32, EmbedderError>> + Send + 'static> {
        let QueryEmbedder {
            embedder, chance, ..
        } = self.embedder.as_ref()?;
        let (embedder, chance) = (embedder.clone(), chance.clone());
        Some(async move { measured_chance(&embedder, &chance).await })
    }

    /// The question as the store searches it, and whether its embedding was wanted but missing.
    async fn recall_query(&self, query: &SearchQuery) -> (RecallQuery, bool) {
        let Some(QueryEmbedder {
            embedder,
            budget,
            chance,
        }) = &self.embedder
        else {
            return (RecallQuery::lexical(query.clone()), false);
        };
        let chance = match measured_chance(embedder, chance).await {
            Ok(chance) => chance,
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "the model's chance similarity could not be measured; ranking by words only");
                return (RecallQuery::lexical(query.clone()), true);
            }
        };
        match tokio::time::timeout(*budget, QueryEmbedding::of(query, embedder.as_ref())).await {
            Ok(Ok(embedding)) => (
                RecallQuery::hybrid(query.clone(), embedding).above_chance(chance),
                false,
            ),
            Ok(Err(error)) => {
                tracing::warn!(error = %ErrorChain(&error), "the question could not be embedded; ranking by words only");
                (RecallQuery::lexical(query.clone()), true)
            }
            Err(_) => {
                tracing::warn!(
                    ?budget,
                    "the question was not embedded in time; ranking by words only"
                );
                (RecallQuery::lexical(query.clone()), true)
            }
        }
    }

    /// Searches `caller`'s memories, and only theirs, for `query`.
    pub async fn search(
        &self,
        caller: &CallerId,
        query: &SearchQuery,
        limit: SearchLimit,
    ) -> MemorySearch {
        let search = async {
            let (query, fell_back) = self.recall_query(query).await;
            let found =
                tokio::time::timeout(self.timeout, self.memories.search(caller, &query, limit))
                    .await;
            (found, fell_back)
        };
        let (profile, (found, fell_back)) = tokio::join!(
            self.cards
                .read(self.profiles.as_ref(), caller, self.timeout),
            search,
        );
        let profile = profile.unwrap_or_else(|error| {
            tracing::warn!(%caller, error = %ErrorChain(&error), "searching without the profile card");
            None
        });
        let (memories, status) = match found {
            Ok(Ok(memories)) if fell_back => (memories, MemorySearchStatus::LexicalFallback),
            Ok(Ok(memories)) => (memories, MemorySearchStatus::Ok),
            Ok(Err(error)) => {
                log_store_failure(caller, &error);
                (Vec::new(), MemorySearchStatus::MemoryStoreUnavailable)
            }
            Err(_) => {
                tracing::warn!(%caller, timeout = ?self.timeout, "memory search timed out");
                (Vec::new(), MemorySearchStatus::MemoryStoreTimeout)
            }
        };
        MemorySearch {
            profile,
            memories,
            status,
        }
    }
}

fn log_store_failure(caller: &CallerId, error: &MemoryStoreError) {
    match error {
        MemoryStoreError::Unavailable(_) => {
            tracing::warn!(%caller, error = %ErrorChain(error), "memory search failed");
        }
        MemoryStoreError::Rejected(_)
        | MemoryStoreError::Incompatible(_)
        | MemoryStoreError::Unknown(_) => {
            tracing::error!(%caller, error = %ErrorChain(error), "memory search failed");
        }
    }
}

#[cfg(test)]
mod tests;
