//! Where memories live and are searched: OpenMemory over HTTP or the embedded SQLite store.

use async_trait::async_trait;

use crate::core::ports::cause::{describe, BoxError};
use crate::core::recall::RecallQuery;
use crate::core::{AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, SearchLimit};

/// Why a memory store call failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryStoreError {
    /// The store could not be reached or is overloaded (timeouts, connection errors, 5xx, 429).
    /// Worth retrying later.
    #[error("memory store unavailable: {}", describe(.0))]
    Unavailable(#[source] BoxError),
    /// The store refused this request for good (a 4xx other than 429). Retrying will not help.
    #[error("memory store rejected the request: {}", describe(.0))]
    Rejected(#[source] BoxError),
    /// The store works but not the way this service needs (for example it scopes users by API
    /// key and ignores per-caller scoping).
    #[error("memory store is incompatible: {}", describe(.0))]
    Incompatible(#[source] BoxError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl MemoryStoreError {
    /// [`MemoryStoreError::Unavailable`] caused by `cause` (an error, or a message).
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// [`MemoryStoreError::Rejected`] caused by `cause` (an error, or a message).
    pub fn rejected(cause: impl Into<BoxError>) -> Self {
        Self::Rejected(cause.into())
    }

    /// [`MemoryStoreError::Incompatible`] caused by `cause` (an error, or a message).
    pub fn incompatible(cause: impl Into<BoxError>) -> Self {
        Self::Incompatible(cause.into())
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MemoryStoreError::Unavailable(_))
    }
}

/// Stores and searches memories, always scoped to one caller.
///
/// Implementations must never let a search for one caller return another caller's memories, and
/// must treat memory content and search text as plain data (no query syntax).
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
#[async_trait]
pub trait MemoryStore: Send + Sync + 'static {
    /// Adds one memory for `memory.caller`.
    ///
    /// # Errors
    /// - [`MemoryStoreError::Unavailable`] when the store cannot be reached; nothing may have been
    ///   stored, and the caller should retry.
    /// - [`MemoryStoreError::Rejected`] when the store refuses the memory for good.
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError>;

    /// Adds the memories of one call, in order, and answers one result per memory, in the same
    /// order, as [`MemoryStore::add`] would; it stops after the first error worth retrying
    /// ([`MemoryStoreError::is_retryable`]), so the memories after it have no result and were not
    /// added. The default adds them one by one; a store that can do better (one embedding batch,
    /// one transaction) overrides it.
    async fn add_many(&self, memories: &[NewMemory]) -> Vec<Result<AddOutcome, MemoryStoreError>> {
        let mut results = Vec::with_capacity(memories.len());
        for memory in memories {
            let added = self.add(memory).await;
            let stop = added.as_ref().is_err_and(MemoryStoreError::is_retryable);
            results.push(added);
            if stop {
                break;
            }
        }
        results
    }

    /// Returns at most `limit` of `caller`'s memories relevant to `query`, best first, ranked by
    /// [`crate::core::recall::rank`]: nothing when no memory is relevant. A generic request
    /// ([`RecallQuery::is_generic`]) gets [`crate::core::recall::recent_context`] instead. The
    /// query's embedding, when present, is compared only with vectors of the same model.
    ///
    /// # Errors
    /// - [`MemoryStoreError::Unavailable`] when the store cannot be reached in time.
    /// - [`MemoryStoreError::Rejected`] when the store refuses the query.
    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError>;

    /// Removes `caller`'s memories of `conversation` whose key is one of `keys` (memories an
    /// earlier version of the learning rules derived and the current rules no longer do), and
    /// answers how many were removed. Keys that are not stored are ignored, so repeating a call
    /// is harmless. Nothing of another caller or conversation is touched.
    ///
    /// # Errors
    /// - [`MemoryStoreError::Unavailable`] when the store cannot be reached; some memories may
    ///   already be removed, and repeating the call finishes the work.
    /// - [`MemoryStoreError::Rejected`] when the store refuses the removal.
    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError>;

    /// Every memory of `caller`, newest first, for an export; `score` is 0 in each.
    ///
    /// # Errors
    /// - [`MemoryStoreError::Unavailable`] when the store cannot be reached.
    /// - [`MemoryStoreError::Rejected`] when the store refuses the listing, or cannot list (the
    ///   default, for stores written before listing existed).
    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let _ = caller;
        Err(MemoryStoreError::rejected(
            "this memory store cannot list a caller's memories",
        ))
    }

    /// Deletes every memory of `caller` learnt from `conversation`, and only those, and returns
    /// how many were deleted. Deleting what is already gone succeeds with 0. What the store keeps
    /// of those memories in this process (a cache) goes with them.
    ///
    /// # Errors
    /// - [`MemoryStoreError::Unavailable`] when the store cannot be reached; some memories may
    ///   be deleted already, and calling again finishes the work.
    /// - [`MemoryStoreError::Rejected`] when the store refuses the deletion, or cannot delete
    ///   (the default, for stores written before erasure existed): an erasure then fails loudly
    ///   instead of leaving memories behind.
    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        let _ = (caller, conversation);
        Err(MemoryStoreError::rejected(
            "this memory store cannot delete memories",
        ))
    }

    /// Checks that the store is reachable, accepts our credentials and scopes memories per caller.
    ///
    /// # Errors
    /// - [`MemoryStoreError::Unavailable`] when it cannot be reached.
    /// - [`MemoryStoreError::Rejected`] when it refuses our credentials.
    /// - [`MemoryStoreError::Incompatible`] when it does not honour per-caller scoping.
    async fn check(&self) -> Result<(), MemoryStoreError>;

    /// Things about the store an operator should know although it works (for example a setting
    /// that makes it store long memories in parts). Stores with nothing to say report nothing.
    async fn notices(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The results [`MemoryStore::add_many`] answers for a store that adds a call's memories in one
/// transaction: one outcome per memory, or, when the transaction failed and nothing was added,
/// its error alone.
pub fn results_of_one_transaction(
    stored: Result<Vec<AddOutcome>, MemoryStoreError>,
) -> Vec<Result<AddOutcome, MemoryStoreError>> {
    match stored {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(error) => vec![Err(error)],
    }
}

/// [`MemoryStore::add`] for a store that adds one memory as [`MemoryStore::add_many`] of one.
///
/// # Errors
/// The error of `add_many`; [`MemoryStoreError::Unknown`] when it answered no result.
pub async fn add_as_one_of_many(
    store: &(impl MemoryStore + ?Sized),
    memory: &NewMemory,
) -> Result<AddOutcome, MemoryStoreError> {
    let mut results = store.add_many(std::slice::from_ref(memory)).await;
    results.pop().unwrap_or_else(|| {
        Err(MemoryStoreError::Unknown(anyhow::anyhow!(
            "a memory was added without an outcome"
        )))
    })
}
