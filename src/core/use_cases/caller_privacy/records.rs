//! The privacy records: which conversations a caller had, and what was erased.
//!
//! They are stored as JSON, so they derive serde; their JSON form must stay backwards
//! compatible.

use std::collections::BTreeSet;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::hasher::{CallerHash, CallerHasher};
use crate::core::ports::{BlobKey, BlobStore, BlobStoreError, PutCondition};
use crate::core::use_cases::ingest_call::records::{read, write};
use crate::core::{CallerId, ConversationId, MemoryHit, ProfileCard, STATE_PREFIX};

/// How often an index update is retried when other ingests keep changing it.
const MAX_CONDITION_RETRIES: usize = 50;

/// The conversations of one caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct CallerConversations {
    #[serde(default)]
    pub conversations: BTreeSet<String>,
}

/// What was erased about one caller, kept after the erasure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Tombstone {
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub conversations: BTreeSet<String>,
}

/// One erased conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ErasedConversation {
    pub erased_at: DateTime<Utc>,
}

fn key(raw: String) -> BlobKey {
    BlobKey::parse(&raw).expect("hashes and conversation ids always make valid keys")
}

pub(super) fn index_key(caller: &CallerHash) -> BlobKey {
    key(format!("{STATE_PREFIX}privacy/callers/{caller}.json"))
}

pub(super) fn tombstone_key(caller: &CallerHash) -> BlobKey {
    key(format!("{STATE_PREFIX}privacy/erased/{caller}.json"))
}

pub(super) fn erased_conversation_key(conversation: &ConversationId) -> BlobKey {
    key(format!(
        "{STATE_PREFIX}privacy/erased-conversations/{conversation}.json"
    ))
}

/// Whether `conversation` belongs to an erased caller: such a call must be neither archived nor
/// learnt again.
///
/// # Errors
/// [`BlobStoreError::Storage`] when the marker cannot be read.
pub async fn is_erased(
    blobs: &dyn BlobStore,
    conversation: &ConversationId,
) -> Result<bool, BlobStoreError> {
    Ok(blobs
        .get(&erased_conversation_key(conversation))
        .await?
        .is_some())
}

pub(super) async fn mark_erased(
    blobs: &dyn BlobStore,
    conversation: &ConversationId,
    erased_at: DateTime<Utc>,
) -> Result<(), BlobStoreError> {
    let marker = ErasedConversation { erased_at };
    write(blobs, &erased_conversation_key(conversation), &marker).await
}

pub(super) fn do_not_remember_key(caller: &CallerHash) -> BlobKey {
    key(format!(
        "{STATE_PREFIX}privacy/do-not-remember/{caller}.json"
    ))
}

/// A caller who asked that their calls be archived but never learnt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct DoNotRemember {
    pub since: DateTime<Utc>,
}

/// The caller -> conversations index, maintained at ingestion and rebuilt from the archive.
#[derive(Clone)]
pub struct CallerIndex {
    hasher: CallerHasher,
}

impl CallerIndex {
    pub fn new(hasher: CallerHasher) -> Self {
        Self { hasher }
    }

    pub fn hash(&self, caller: &CallerId) -> CallerHash {
        self.hasher.hash(caller)
    }

    /// Adds `conversation` to `caller`'s conversations, with a conditional read-modify-write so
    /// that concurrent ingests never lose each other's entry. Adding it again changes nothing.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the index cannot be read or written.
    pub async fn record(
        &self,
        blobs: &dyn BlobStore,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<(), BlobStoreError> {
        let location = index_key(&self.hash(caller));
        for _ in 0..MAX_CONDITION_RETRIES {
            let (mut entry, condition) = match blobs.get(&location).await? {
                None => (CallerConversations::default(), PutCondition::IfAbsent),
                Some(blob) => (
                    serde_json::from_slice::<CallerConversations>(&blob.bytes).map_err(
                        |error| {
                            BlobStoreError::storage(
                                anyhow::Error::new(error)
                                    .context(format!("{location} is unreadable")),
                            )
                        },
                    )?,
                    PutCondition::IfVersion(blob.version),
                ),
            };
            if !entry.conversations.insert(conversation.to_string()) {
                return Ok(());
            }
            let bytes = serde_json::to_vec(&entry)
                .map_err(|error| BlobStoreError::Unknown(error.into()))?;
            match blobs.put(&location, Bytes::from(bytes), condition).await {
                Ok(_) => return Ok(()),
                Err(BlobStoreError::ConditionFailed) => tokio::task::yield_now().await,
                Err(error) => return Err(error),
            }
        }
        Err(BlobStoreError::storage(format!(
            "{location} kept changing during {MAX_CONDITION_RETRIES} attempts"
        )))
    }

    /// Marks `caller` so that their later calls are archived but never learnt. Marking again
    /// changes nothing.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the mark cannot be stored.
    pub async fn mark_do_not_remember(
        &self,
        blobs: &dyn BlobStore,
        caller: &CallerId,
        since: DateTime<Utc>,
    ) -> Result<(), BlobStoreError> {
        let location = do_not_remember_key(&self.hash(caller));
        let bytes = serde_json::to_vec(&DoNotRemember { since })
            .map_err(|error| BlobStoreError::Unknown(error.into()))?;
        match blobs
            .put(&location, Bytes::from(bytes), PutCondition::IfAbsent)
            .await
        {
            Ok(_) | Err(BlobStoreError::ConditionFailed) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Whether `caller` asked not to be remembered.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the mark cannot be read.
    pub async fn is_do_not_remember(
        &self,
        blobs: &dyn BlobStore,
        caller: &CallerId,
    ) -> Result<bool, BlobStoreError> {
        let location = do_not_remember_key(&self.hash(caller));
        Ok(blobs.get(&location).await?.is_some())
    }

    /// The conversations recorded for `caller`.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the index cannot be read.
    pub async fn conversations(
        &self,
        blobs: &dyn BlobStore,
        caller: &CallerId,
    ) -> Result<BTreeSet<ConversationId>, BlobStoreError> {
        let entry: Option<CallerConversations> =
            read(blobs, &index_key(&self.hash(caller))).await?;
        Ok(entry
            .unwrap_or_default()
            .conversations
            .iter()
            .filter_map(|id| ConversationId::parse(id).ok())
            .collect())
    }
}

/// Every conversation of a caller that any store knows of: the index, the profile card's counted
/// calls, and the memories (for calls learnt before the index existed). Erasure and export walk
/// the same calls.
///
/// # Errors
/// [`BlobStoreError::Storage`] when the index cannot be read.
pub(super) async fn conversations_of(
    blobs: &dyn BlobStore,
    index: &CallerIndex,
    caller: &CallerId,
    card: Option<&ProfileCard>,
    memories: &[MemoryHit],
) -> Result<BTreeSet<ConversationId>, BlobStoreError> {
    let mut conversations = index.conversations(blobs, caller).await?;
    conversations.extend(
        card.iter()
            .flat_map(|card| &card.counted_conversations)
            .filter_map(|id| ConversationId::parse(id).ok()),
    );
    conversations.extend(
        memories
            .iter()
            .filter_map(|memory| memory.conversation_id.clone()),
    );
    Ok(conversations)
}

/// Marks callers who ask not to be remembered (from the administration API).
#[derive(Clone)]
pub struct MarkDoNotRemember {
    blobs: std::sync::Arc<dyn BlobStore>,
    clock: std::sync::Arc<dyn crate::core::ports::Clock>,
    index: CallerIndex,
}

impl MarkDoNotRemember {
    pub fn new(
        blobs: std::sync::Arc<dyn BlobStore>,
        clock: std::sync::Arc<dyn crate::core::ports::Clock>,
        index: CallerIndex,
    ) -> Self {
        Self {
            blobs,
            clock,
            index,
        }
    }

    /// From now on, `caller`'s calls are archived but never learnt. What was learnt before stays
    /// until the caller is erased.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the mark cannot be stored.
    pub async fn mark(&self, caller: &CallerId) -> Result<(), BlobStoreError> {
        self.index
            .mark_do_not_remember(&*self.blobs, caller, self.clock.now())
            .await
    }
}
