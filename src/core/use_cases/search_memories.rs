//! Search one caller's memories mid-call, for the agent's question.
//!
//! The search never fails as a whole: the profile card comes from the blob store and is still
//! returned when the memory store is down or slow, with a status that tells the agent so.
//!
//! With an embedder, the question is embedded once, within its own time budget; when the
//! embedder fails or is too slow, the memories are ranked by their words alone and the status
//! says so.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::core::ports::{
    BlobStore, CallerMemo, Embedder, ErrorChain, MemoryStore, MemoryStoreError,
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
    cards: Arc<DecodedCards>,
}

/// How questions are embedded: the model, the time each may take, and what is known of the
/// model's chance similarity (see [`chance_similarity`]).
struct QueryEmbedder {
    embedder: Arc<dyn Embedder>,
    budget: Duration,
    chance: Arc<watch::Sender<Chance>>,
}

/// What is known of the model's chance similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Chance {
    /// Not measured, and no measurement under way.
    Unmeasured,
    /// The first measurement is under way: searches wait for it (a fraction of a second).
    FirstMeasuring,
    /// The last measurement failed; `retrying` while another is under way. Searches rank by
    /// words meanwhile, without waiting for it.
    Failed {
        retrying: bool,
    },
    Known(f32),
}

impl QueryEmbedder {
    /// Starts measuring the chance similarity in the background, unless it is known or being
    /// measured: the first time, and after a failure.
    fn measure(&self) {
        let started = self.chance.send_if_modified(|chance| {
            *chance = match *chance {
                Chance::Unmeasured => Chance::FirstMeasuring,
                Chance::Failed { retrying: false } => Chance::Failed { retrying: true },
                _ => return false,
            };
            true
        });
        if !started {
            return;
        }
        let (embedder, chance) = (self.embedder.clone(), self.chance.clone());
        tokio::spawn(async move {
            let measured = match chance_similarity(embedder.as_ref()).await {
                Ok(value) => {
                    tracing::info!(
                        model = embedder.model_id(),
                        chance = format!("{value:.3}"),
                        "similarities are judged above the model's chance similarity"
                    );
                    Chance::Known(value)
                }
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "the model's chance similarity could not be measured; searches rank by words until the next search measures it");
                    Chance::Failed { retrying: false }
                }
            };
            chance.send_replace(measured);
        });
    }

    /// The chance similarity: waits for the first measurement; `None` while it has failed (the
    /// next measurement is started).
    async fn chance(&self) -> Option<f32> {
        self.measure();
        let mut known = self.chance.subscribe();
        let chance = *known
            .wait_for(|chance| *chance != Chance::FirstMeasuring)
            .await
            .ok()?;
        match chance {
            Chance::Known(value) => Some(value),
            _ => None,
        }
    }
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
            cards: Arc::new(DecodedCards::new(DECODED_CARDS)),
        }
    }

    /// The profile cards this use case keeps in memory, for an erasure to forget.
    pub fn memo(&self) -> Arc<dyn CallerMemo> {
        self.cards.clone()
    }

    /// Whether a card of `caller` is kept in memory.
    #[cfg(test)]
    pub(crate) fn remembers(&self, caller: &CallerId) -> bool {
        self.cards.holds(caller)
    }

    /// Embeds each question with `embedder`, giving up after `budget`, so that memories are also
    /// ranked by meaning, their similarities judged above the model's chance similarity
    /// (measured once, in the background; see [`Self::measure_chance`]).
    /// Without it, searches are lexical.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>, budget: Duration) -> Self {
        self.embedder = Some(QueryEmbedder {
            embedder,
            budget,
            chance: Arc::new(watch::Sender::new(Chance::Unmeasured)),
        });
        self
    }

    /// Starts measuring the model's chance similarity in the background now rather than at the
    /// first search (the service does as it starts); nothing without an embedder.
    pub fn measure_chance(&self) {
        if let Some(embedder) = &self.embedder {
            embedder.measure();
        }
    }

    /// The question as the store searches it, and whether its embedding was wanted but missing.
    async fn recall_query(&self, query: &SearchQuery) -> (RecallQuery, bool) {
        let Some(query_embedder) = &self.embedder else {
            return (RecallQuery::lexical(query.clone()), false);
        };
        let Some(chance) = query_embedder.chance().await else {
            tracing::warn!("the model's chance similarity is not known; ranking by words only");
            return (RecallQuery::lexical(query.clone()), true);
        };
        let QueryEmbedder {
            embedder, budget, ..
        } = query_embedder;
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
