//! Erasing everything held about one caller, in every store, for good.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::records::{
    conversations_of, index_key, mark_erased, tombstone_key, CallerIndex, Tombstone,
};
use crate::core::ports::{
    BlobStore, BlobStoreError, CallerMemos, Clock, MemoryStore, MemoryStoreError,
};
use crate::core::use_cases::ingest_call::records::{self, read, write};
use crate::core::use_cases::ArchivedPayload;
use crate::core::{CallerId, ConversationId, ProfileCard};

/// What an erasure removed, counted per kind; it names no content and no number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasureReceipt {
    /// Conversations of the caller that were erased (found in the index, the profile card or
    /// the memory store).
    pub conversations: usize,
    pub memories: usize,
    pub transcripts: usize,
    pub audio_files: usize,
    pub failure_files: usize,
    pub ingestion_records: usize,
    pub profile_cards: usize,
}

/// Why an erasure stopped before it finished. What was erased stays erased, the tombstone is
/// already written, and running the erasure again finishes the work.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("the memory store failed: {0}")]
    MemoryStore(#[from] MemoryStoreError),
    #[error("the archive failed: {0}")]
    Storage(#[from] BlobStoreError),
}

/// Erases a caller: profile card, memories, archived files, ingestion records and index entry,
/// and what this process keeps of them in memory.
#[derive(Clone)]
pub struct EraseCaller {
    memories: Arc<dyn MemoryStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    index: CallerIndex,
    memos: CallerMemos,
}

impl EraseCaller {
    pub fn new(
        memories: Arc<dyn MemoryStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        index: CallerIndex,
    ) -> Self {
        Self {
            memories,
            blobs,
            clock,
            index,
            memos: CallerMemos::default(),
        }
    }

    /// Tells `memos` to forget the caller once their card is deleted.
    pub fn with_memos(mut self, memos: CallerMemos) -> Self {
        self.memos = memos;
        self
    }

    /// Erases everything about `caller`. Idempotent: erasing again finds nothing and counts
    /// zeros. The tombstone is written before anything is deleted, so that a delivery or a
    /// replay racing with the erasure cannot bring a call back.
    ///
    /// # Errors
    /// [`EraseError`] when a store fails; run the erasure again to finish it.
    pub async fn erase(&self, caller: &CallerId) -> Result<ErasureReceipt, EraseError> {
        let conversations = self.conversations_of(caller).await?;
        self.write_tombstone(caller, &conversations).await?;
        let mut receipt = ErasureReceipt {
            conversations: conversations.len(),
            ..ErasureReceipt::default()
        };
        for conversation in &conversations {
            receipt.memories += self
                .memories
                .delete_conversation(caller, conversation)
                .await?;
            self.delete_archive(conversation, &mut receipt).await?;
            receipt.ingestion_records += records::delete_all(&*self.blobs, conversation).await?;
        }
        let card = ProfileCard::storage_key(caller);
        if self.blobs.get(&card).await?.is_some() {
            self.blobs.delete(&card).await?;
            receipt.profile_cards += 1;
        }
        // Everything the memos keep was made from the card: with the card gone, none comes back.
        self.memos.forget(caller);
        self.blobs
            .delete(&index_key(&self.index.hash(caller)))
            .await?;
        tracing::info!(caller = %caller, ?receipt, "caller erased");
        Ok(receipt)
    }

    /// Every conversation of the caller that any store knows of.
    async fn conversations_of(
        &self,
        caller: &CallerId,
    ) -> Result<BTreeSet<ConversationId>, EraseError> {
        let card: Option<ProfileCard> =
            read(&*self.blobs, &ProfileCard::storage_key(caller)).await?;
        let memories = self.memories.memories_of(caller).await?;
        Ok(conversations_of(&*self.blobs, &self.index, caller, card.as_ref(), &memories).await?)
    }

    async fn write_tombstone(
        &self,
        caller: &CallerId,
        conversations: &BTreeSet<ConversationId>,
    ) -> Result<(), BlobStoreError> {
        let now = self.clock.now();
        for conversation in conversations {
            mark_erased(&*self.blobs, conversation, now).await?;
        }
        let location = tombstone_key(&self.index.hash(caller));
        let mut tombstone: Tombstone = read(&*self.blobs, &location).await?.unwrap_or_default();
        tombstone.erased_at = Some(now);
        tombstone
            .conversations
            .extend(conversations.iter().map(ToString::to_string));
        write(&*self.blobs, &location, &tombstone).await
    }

    /// Removes every archived file of the conversation (`{id}/...`), counted by kind.
    async fn delete_archive(
        &self,
        conversation: &ConversationId,
        receipt: &mut ErasureReceipt,
    ) -> Result<(), BlobStoreError> {
        for key in self.blobs.list(&format!("{conversation}/")).await? {
            self.blobs.delete(&key).await?;
            match ArchivedPayload::ALL
                .into_iter()
                .find(|payload| payload.key(conversation) == key)
            {
                Some(ArchivedPayload::Transcription) => receipt.transcripts += 1,
                Some(ArchivedPayload::Audio) => receipt.audio_files += 1,
                Some(ArchivedPayload::InitiationFailure) => receipt.failure_files += 1,
                None => {}
            }
        }
        Ok(())
    }
}
