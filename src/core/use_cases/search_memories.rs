//! Search one caller's memories mid-call, for the agent's question.
//!
//! The search never fails as a whole: the profile card comes from the blob store and is still
//! returned when the memory store is down or slow, with a status that tells the agent so.

use std::sync::Arc;
use std::time::Duration;

use crate::core::ports::{BlobStore, MemoryStore, MemoryStoreError};
use crate::core::use_cases::read_profile::read_profile;
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
}

/// The search-memories use case.
pub struct SearchMemories {
    memories: Arc<dyn MemoryStore>,
    profiles: Arc<dyn BlobStore>,
    timeout: Duration,
}

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
        }
    }

    /// Searches `caller`'s memories, and only theirs, for `query`.
    pub async fn search(
        &self,
        caller: &CallerId,
        query: &SearchQuery,
        limit: SearchLimit,
    ) -> MemorySearch {
        let (profile, found) = tokio::join!(
            read_profile(self.profiles.as_ref(), caller, self.timeout),
            tokio::time::timeout(self.timeout, self.memories.search(caller, query, limit)),
        );
        let profile = profile.unwrap_or_else(|error| {
            tracing::warn!(%caller, %error, "searching without the profile card");
            None
        });
        let (memories, status) = match found {
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
            tracing::warn!(%caller, %error, "memory search failed");
        }
        MemoryStoreError::Rejected(_)
        | MemoryStoreError::Incompatible(_)
        | MemoryStoreError::Unknown(_) => {
            tracing::error!(%caller, %error, "memory search failed");
        }
    }
}

#[cfg(test)]
mod tests;
