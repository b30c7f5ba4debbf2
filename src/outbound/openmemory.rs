//! The OpenMemory adapter: memories in an OpenMemory server over HTTP.
//!
//! It targets the OpenMemory releases that take the user from the request (`user_id`), where
//! one service key serves every caller; the caller's E.164 number is the `user_id` of every add
//! and query, and no request is ever sent without one (a query without it searches every
//! caller). Newer releases tie the user to the API key; [`MemoryStore::check`] detects them and
//! refuses to run.
//!
//! How a search result keeps its kind, time and conversation: query matches carry only the
//! content, so each memory is stored with a short marker at the start of its content,
//! `[cm <kind> <time> <conversation>] <text>` (see [`marker`]), and the marker is stripped from
//! results. When a match has no readable marker (for example when the server condensed a long
//! memory past it), one read scoped to the caller (`GET /memory/:id?user_id=`) recovers the same
//! fields from the metadata stored with it.
//!
//! How deduplication is handled: see [`add`]. Every add ends in an explicit [`AddOutcome`],
//! logged with the caller masked.

mod add;
mod client;
mod embeddings;
mod marker;
mod search;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use self::client::Api;
use self::embeddings::CandidateEmbeddings;
use self::wire::{QueryFilters, QueryRequest, QueryResponse};
use crate::core::ports::{Embedder, MemoryStore, MemoryStoreError};
use crate::core::recall::RecallQuery;
use crate::core::{AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, SearchLimit};

/// The `user_id` of the compatibility probe: `+999` is not an assigned country code, so no
/// caller has it, and the probe only queries, so nothing is ever stored under it.
pub const PROBE_USER_ID: &str = "+99900000000000";

/// Memories listed per request while looking for the ones to forget.
const LIST_PAGE: usize = 500;

/// A [`MemoryStore`] backed by an OpenMemory server.
#[derive(Debug, Clone)]
pub struct OpenMemoryStore {
    api: Api,
    embeddings: Option<Arc<CandidateEmbeddings>>,
}

impl OpenMemoryStore {
    /// A store talking to the server at `base_url` with `api_key`, giving up on any request after
    /// `timeout`. Connections are reused across requests.
    ///
    /// # Errors
    /// [`MemoryStoreError::Unknown`] when the URL cannot take paths or the key cannot be sent in
    /// an HTTP header.
    pub fn new(
        base_url: Url,
        api_key: impl AsRef<str>,
        timeout: Duration,
    ) -> Result<Self, MemoryStoreError> {
        Ok(Self {
            api: Api::new(base_url, api_key.as_ref(), timeout)?,
            embeddings: None,
        })
    }

    /// Ranks candidates by meaning too: each candidate's text is embedded with `embedder` (at
    /// most `budget` per search, cached by text) and compared with the question's embedding.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>, budget: Duration) -> Self {
        self.embeddings = Some(Arc::new(CandidateEmbeddings::new(embedder, budget)));
        self
    }
}

#[async_trait]
impl MemoryStore for OpenMemoryStore {
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        let outcome = add::add(&self.api, memory).await;
        let caller = &memory.caller;
        let conversation = memory.conversation_id.as_str();
        match &outcome {
            Ok(AddOutcome::NotStored { reason }) => {
                tracing::warn!(%caller, conversation, key = memory.key, reason, "memory not stored")
            }
            Ok(AddOutcome::StoredDistinguished) => tracing::info!(
                %caller, conversation, key = memory.key,
                "memory stored in a distinguished form to escape deduplication"
            ),
            Ok(outcome) => {
                tracing::debug!(%caller, conversation, key = memory.key, ?outcome, "memory added")
            }
            Err(error) => {
                tracing::debug!(%caller, conversation, key = memory.key, %error, "memory add failed")
            }
        }
        outcome
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let embeddings = self.embeddings.as_deref();
        search::search(&self.api, embeddings, caller, query, limit).await
    }

    /// Lists the caller's memories (`GET /users/:id/memories`, paged) to find those of the
    /// conversation with one of `keys` by their metadata, then deletes each by id with
    /// `?user_id=` so the server checks that it is the caller's (exchanges-legacy/l37).
    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        let mut doomed = Vec::new();
        for page in 0.. {
            let items = self.api.list(caller, LIST_PAGE, page * LIST_PAGE).await?;
            let last_page = items.len() < LIST_PAGE;
            doomed.extend(items.into_iter().filter_map(|item| {
                let metadata = item.metadata();
                (metadata.source == add::SOURCE
                    && metadata.conversation_id == conversation.as_str()
                    && keys.contains(&metadata.key))
                .then_some(item.id)
            }));
            if last_page {
                break;
            }
        }
        for id in &doomed {
            self.api.delete_as(id, caller).await?;
        }
        Ok(doomed.len())
    }

    /// Reachable (`GET /health`), key accepted, and per-caller scoping honoured: a query for
    /// [`PROBE_USER_ID`], who never has memories, must succeed and find nothing. A server that
    /// ties users to its key answers 403 `tenant_mismatch` (exchanges-newest/a14); one that
    /// ignores the user would return other callers' memories (exchanges-legacy/l13).
    async fn check(&self) -> Result<(), MemoryStoreError> {
        self.api.health().await?;
        let probe = QueryRequest {
            query: "caller-memory compatibility probe",
            k: 1,
            filters: QueryFilters {
                user_id: PROBE_USER_ID,
            },
            user_id: PROBE_USER_ID,
        };
        let answer: QueryResponse = self
            .api
            .post(&["memory", "query"], &probe)
            .await
            .map_err(explain_check_failure)?;
        if !answer.matches.is_empty() {
            return Err(MemoryStoreError::Incompatible(
                "openmemory returned memories for a user that never stored any, so it does not \
                 scope queries by user_id; use an openmemory release that honours user_id or set \
                 MEMORY_BACKEND=embedded"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

fn explain_check_failure(error: MemoryStoreError) -> MemoryStoreError {
    match error {
        MemoryStoreError::Rejected(detail) => MemoryStoreError::Rejected(format!(
            "openmemory refused the probe query; check OPENMEMORY_KEY: {detail}"
        )),
        other => other,
    }
}
