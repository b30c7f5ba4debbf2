//! An erasure that lands while one of the caller's calls is being learnt.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::support::{transcription, MARIA};
use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, MemoryStore,
    MemoryStoreError, PutCondition,
};
use crate::core::recall::RecallQuery;
use crate::core::use_cases::caller_privacy::{CallerHasher, CallerIndex, EraseCaller};
use crate::core::use_cases::ingest_call::{transcription_key, IngestCall, IngestOutcome};
use crate::core::{
    AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, ProfileCard, SearchLimit,
};
use crate::inbound::elevenlabs::parse_transcription;
use crate::test_doubles::{InMemoryBlobStore, InMemoryMemoryStore, ManualClock};

/// When the erasure lands.
#[derive(Clone, Copy, PartialEq)]
enum Moment {
    /// After ingestion checked for a tombstone, as it reads the card to update it.
    BeforeTheCard,
    /// After the card was updated, as the first memory is added.
    BeforeTheMemories,
}

/// Erases Maria once, at the chosen moment.
struct Erasure {
    moment: Moment,
    erase: Mutex<Option<EraseCaller>>,
}

impl Erasure {
    async fn at(&self, moment: Moment) {
        if moment != self.moment {
            return;
        }
        let erase = self.erase.lock().unwrap().take();
        if let Some(erase) = erase {
            erase.erase(&CallerId::parse(MARIA).unwrap()).await.unwrap();
        }
    }
}

struct Blobs(Arc<InMemoryBlobStore>, Arc<Erasure>);

#[async_trait]
impl BlobStore for Blobs {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.0.put(key, bytes, condition).await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.0.put_stream(key, stream).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        if *key == ProfileCard::storage_key(&CallerId::parse(MARIA).unwrap()) {
            self.1.at(Moment::BeforeTheCard).await;
        }
        self.0.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        self.0.list(prefix).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        self.0.delete(key).await
    }

    async fn check(&self) -> Result<(), BlobStoreError> {
        Ok(())
    }
}

struct Memories(Arc<InMemoryMemoryStore>, Arc<Erasure>);

#[async_trait]
impl MemoryStore for Memories {
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        self.1.at(Moment::BeforeTheMemories).await;
        self.0.add(memory).await
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        self.0.search(caller, query, limit).await
    }

    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        self.0.forget(caller, conversation, keys).await
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        self.0.memories_of(caller).await
    }

    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        self.0.delete_conversation(caller, conversation).await
    }

    async fn check(&self) -> Result<(), MemoryStoreError> {
        Ok(())
    }
}

/// Learns from one of Maria's calls while she is erased at `moment`; answers what is left of
/// her: the card and the memories.
async fn ingest_while_erasing(moment: Moment) -> (IngestOutcome, Option<Blob>, Vec<MemoryHit>) {
    let blobs = Arc::new(InMemoryBlobStore::new());
    let memories = Arc::new(InMemoryMemoryStore::new());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let index = CallerIndex::new(CallerHasher::with_key(b"a test key of enough bytes"));
    let erasure = Arc::new(Erasure {
        moment,
        erase: Mutex::new(Some(EraseCaller::new(
            memories.clone(),
            blobs.clone(),
            clock.clone(),
            index.clone(),
        ))),
    });
    let ingest = IngestCall::new(
        Arc::new(Memories(memories.clone(), erasure.clone())),
        Arc::new(Blobs(blobs.clone(), erasure)),
        clock,
        parse_transcription,
        vec!["first_name".to_owned()],
    )
    .with_caller_index(index);
    let conversation = ConversationId::parse("conv_racing_erasure").unwrap();
    let body = transcription(conversation.as_str(), Some(MARIA)).to_string();
    let key = transcription_key(&conversation);
    blobs
        .put(&key, body.into(), PutCondition::Overwrite)
        .await
        .unwrap();

    let outcome = ingest
        .ingest(&conversation, &CancellationToken::new())
        .await
        .unwrap();

    let maria = CallerId::parse(MARIA).unwrap();
    let card = blobs.get(&ProfileCard::storage_key(&maria)).await.unwrap();
    (outcome, card, memories.memories_of(&maria).await.unwrap())
}

#[tokio::test]
async fn an_erasure_before_the_card_is_written_does_not_bring_the_card_back() {
    let (outcome, card, memories) = ingest_while_erasing(Moment::BeforeTheCard).await;

    assert!(
        matches!(outcome, IngestOutcome::Skipped { .. }),
        "{outcome:?}"
    );
    assert_eq!(card, None, "the erased caller's card came back");
    assert_eq!(memories, vec![]);
}

#[tokio::test]
async fn an_erasure_before_the_memories_are_added_does_not_bring_them_back() {
    let (outcome, card, memories) = ingest_while_erasing(Moment::BeforeTheMemories).await;

    assert!(
        matches!(outcome, IngestOutcome::Skipped { .. }),
        "{outcome:?}"
    );
    assert_eq!(card, None, "the erased caller's card came back");
    assert_eq!(memories, vec![]);
}
