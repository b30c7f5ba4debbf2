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
mod erase;
mod marker;
mod search;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use self::client::Api;
use self::wire::{QueryFilters, QueryRequest, QueryResponse};
use crate::core::ports::{MemoryStore, MemoryStoreError};
use crate::core::{
    AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, SearchLimit, SearchQuery,
};

/// The `user_id` of the compatibility probe: `+999` is not an assigned country code, so no
/// caller has it, and the probe only queries, so nothing is ever stored under it.
pub const PROBE_USER_ID: &str = "+99900000000000";

/// A [`MemoryStore`] backed by an OpenMemory server.
#[derive(Debug, Clone)]
pub struct OpenMemoryStore {
    api: Api,
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
        })
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
        query: &SearchQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        search::search(&self.api, caller, query, limit).await
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        erase::list(&self.api, caller).await
    }

    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        erase::delete_conversation(&self.api, caller, conversation).await
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
