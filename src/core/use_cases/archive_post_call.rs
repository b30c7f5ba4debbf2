//! Archive a verified post-call delivery: the transcript, the audio or the initiation failure
//! of one conversation, stored whole and atomically, and for a transcript, its ingestion
//! scheduled before the delivery is acknowledged.

use std::io;
use std::sync::Arc;

use crate::core::ports::{
    BlobKey, BlobStore, BlobStoreError, ByteStream, IngestionCounts, IngestionScheduler,
    SchedulingError,
};
use crate::core::use_cases::caller_privacy::is_erased;
use crate::core::use_cases::ingest_call::{IngestCall, ScheduleError};
use crate::core::ConversationId;

/// What a delivery carries, and so where it is archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchivedPayload {
    /// The `post_call_transcription` event, byte for byte.
    Transcription,
    /// The call recording: the MP3 decoded from a `post_call_audio` event.
    Audio,
    /// The `call_initiation_failure` event, byte for byte.
    InitiationFailure,
}

impl ArchivedPayload {
    /// Every kind of archived payload.
    pub const ALL: [ArchivedPayload; 3] = [
        ArchivedPayload::Transcription,
        ArchivedPayload::Audio,
        ArchivedPayload::InitiationFailure,
    ];

    /// `{id}/{id}_transcription.json`, `{id}/{id}_audio.mp3` or `{id}/{id}_failure.json`.
    pub fn key(self, conversation: &ConversationId) -> BlobKey {
        let suffix = match self {
            Self::Transcription => "transcription.json",
            Self::Audio => "audio.mp3",
            Self::InitiationFailure => "failure.json",
        };
        let id = conversation.as_str();
        BlobKey::parse(&format!("{id}/{id}_{suffix}"))
            .expect("a conversation id is always a valid key segment")
    }
}

/// Why a delivery was not archived. In every case nothing partial is left under its key.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The content could not be decoded (its stream yielded [`io::ErrorKind::InvalidData`], for
    /// example invalid base64). Sending it again will not help.
    #[error("the payload content is invalid: {0}")]
    InvalidContent(io::Error),
    /// The archive could not take the payload; a later retry may succeed.
    #[error("the payload could not be stored: {0}")]
    Storage(BlobStoreError),
    /// The payload is archived but its ingestion could not be scheduled; a retry schedules it.
    #[error(transparent)]
    Scheduling(#[from] SchedulingError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<BlobStoreError> for ArchiveError {
    fn from(error: BlobStoreError) -> Self {
        match error {
            BlobStoreError::Source(source) if source.kind() == io::ErrorKind::InvalidData => {
                Self::InvalidContent(source)
            }
            BlobStoreError::Source(source) => {
                Self::Unknown(anyhow::Error::new(source).context("the payload could not be read"))
            }
            BlobStoreError::Storage(_) => Self::Storage(error),
            BlobStoreError::ConditionFailed => Self::Unknown(anyhow::anyhow!(
                "an unconditional put reported a failed condition"
            )),
            BlobStoreError::Unknown(error) => Self::Unknown(error),
        }
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archived {
    /// Stored under this key.
    Stored(BlobKey),
    /// Dropped: the conversation's caller was erased.
    Erased,
}

/// Archives post-call deliveries.
#[derive(Clone)]
pub struct ArchivePostCall {
    blobs: Arc<dyn BlobStore>,
    ingestion: Arc<dyn IngestionScheduler>,
}

impl ArchivePostCall {
    pub fn new(blobs: Arc<dyn BlobStore>, ingestion: Arc<dyn IngestionScheduler>) -> Self {
        Self { blobs, ingestion }
    }

    /// Stores `content` as the `payload` of `conversation`, replacing an identical earlier
    /// delivery. A transcription is then scheduled for ingestion. A conversation whose caller was
    /// erased is not stored again (a retried delivery must not bring it back).
    pub async fn archive(
        &self,
        payload: ArchivedPayload,
        conversation: &ConversationId,
        content: ByteStream,
    ) -> Result<Archived, ArchiveError> {
        if is_erased(&*self.blobs, conversation).await? {
            return Ok(Archived::Erased);
        }
        let key = payload.key(conversation);
        self.blobs.put_stream(&key, content).await?;
        if payload == ArchivedPayload::Transcription {
            self.ingestion.schedule(conversation).await?;
        }
        Ok(Archived::Stored(key))
    }
}

/// The production scheduler: ingestion records a durable pending marker and wakes its worker.
#[async_trait::async_trait]
impl IngestionScheduler for IngestCall {
    async fn schedule(&self, conversation: &ConversationId) -> Result<(), SchedulingError> {
        IngestCall::schedule(self, conversation)
            .await
            .map_err(|ScheduleError::Storage(cause)| SchedulingError::storage(cause))
    }

    async fn counts(&self) -> Result<IngestionCounts, SchedulingError> {
        IngestCall::recent_counts(self)
            .await
            .map_err(SchedulingError::storage)
    }

    fn memory_store_healthy(&self) {
        IngestCall::memory_store_healthy(self);
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use bytes::Bytes;
    use futures_util::{stream, StreamExt};

    use super::*;
    use crate::core::ports::{MockBlobStore, MockIngestionScheduler, PutCondition};
    use crate::test_doubles::InMemoryBlobStore;

    fn conversation() -> ConversationId {
        ConversationId::parse("conv_1").unwrap()
    }

    fn content(parts: Vec<io::Result<&'static [u8]>>) -> ByteStream {
        stream::iter(parts.into_iter().map(|part| part.map(Bytes::from_static))).boxed()
    }

    fn never_scheduled() -> Arc<MockIngestionScheduler> {
        let mut ingestion = MockIngestionScheduler::new();
        ingestion.expect_schedule().never();
        Arc::new(ingestion)
    }

    /// Schedules only when the transcription is already readable in the archive.
    struct RequiresArchivedTranscription(Arc<InMemoryBlobStore>);

    #[async_trait]
    impl IngestionScheduler for RequiresArchivedTranscription {
        async fn schedule(&self, conversation: &ConversationId) -> Result<(), SchedulingError> {
            let key = ArchivedPayload::Transcription.key(conversation);
            match self.0.get(&key).await {
                Ok(Some(_)) => Ok(()),
                _ => Err(SchedulingError::Storage("not archived yet".into())),
            }
        }
    }

    #[test]
    fn each_payload_has_its_own_file_in_the_conversation_folder() {
        let keys = [
            ArchivedPayload::Transcription,
            ArchivedPayload::Audio,
            ArchivedPayload::InitiationFailure,
        ]
        .map(|payload| payload.key(&conversation()).to_string());
        assert_eq!(
            keys,
            [
                "conv_1/conv_1_transcription.json",
                "conv_1/conv_1_audio.mp3",
                "conv_1/conv_1_failure.json"
            ]
        );
    }

    #[tokio::test]
    async fn a_transcription_is_archived_before_its_ingestion_is_scheduled() {
        let blobs = Arc::new(InMemoryBlobStore::new());
        let ingestion = Arc::new(RequiresArchivedTranscription(blobs.clone()));
        let archive = ArchivePostCall::new(blobs.clone(), ingestion);
        let body = content(vec![Ok(b"{\"type\":"), Ok(b"\"post_call_transcription\"}")]);
        let Archived::Stored(key) = archive
            .archive(ArchivedPayload::Transcription, &conversation(), body)
            .await
            .unwrap()
        else {
            panic!("the transcription was not stored")
        };
        let stored = blobs.get(&key).await.unwrap().unwrap();
        assert_eq!(
            stored.bytes,
            Bytes::from_static(b"{\"type\":\"post_call_transcription\"}")
        );
    }

    #[tokio::test]
    async fn audio_and_failures_are_archived_without_scheduling_ingestion() {
        let blobs = Arc::new(InMemoryBlobStore::new());
        let archive = ArchivePostCall::new(blobs.clone(), never_scheduled());
        for payload in [ArchivedPayload::Audio, ArchivedPayload::InitiationFailure] {
            let Archived::Stored(key) = archive
                .archive(payload, &conversation(), content(vec![Ok(b"x")]))
                .await
                .unwrap()
            else {
                panic!("{payload:?} was not stored")
            };
            assert!(blobs.get(&key).await.unwrap().is_some(), "{key}");
        }
    }

    #[tokio::test]
    async fn a_delivery_of_an_erased_conversation_stores_nothing_and_schedules_nothing() {
        let blobs = Arc::new(InMemoryBlobStore::new());
        let erased = BlobKey::parse(".state/privacy/erased-conversations/conv_1.json").unwrap();
        blobs
            .put(&erased, Bytes::from_static(b"{}"), PutCondition::Overwrite)
            .await
            .unwrap();
        let archive = ArchivePostCall::new(blobs.clone(), never_scheduled());
        let body = content(vec![Ok(b"{}")]);
        let outcome = archive
            .archive(ArchivedPayload::Transcription, &conversation(), body)
            .await
            .unwrap();
        assert_eq!(outcome, Archived::Erased);
        assert_eq!(blobs.list("conv_1/").await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn undecodable_content_is_invalid_and_leaves_nothing() {
        let blobs = Arc::new(InMemoryBlobStore::new());
        let archive = ArchivePostCall::new(blobs.clone(), never_scheduled());
        let broken = content(vec![
            Ok(b"ID3"),
            Err(io::Error::new(io::ErrorKind::InvalidData, "invalid base64")),
        ]);
        let result = archive
            .archive(ArchivedPayload::Audio, &conversation(), broken)
            .await;
        assert!(matches!(result, Err(ArchiveError::InvalidContent(_))));
        assert!(blobs.list("").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_storage_failure_is_reported_and_nothing_is_scheduled() {
        let mut blobs = MockBlobStore::new();
        blobs.expect_get().returning(|_| Ok(None));
        blobs
            .expect_put_stream()
            .returning(|_, _| Err(BlobStoreError::Storage("disk full".into())));
        let archive = ArchivePostCall::new(Arc::new(blobs), never_scheduled());
        let result = archive
            .archive(
                ArchivedPayload::Transcription,
                &conversation(),
                content(vec![]),
            )
            .await;
        assert!(matches!(result, Err(ArchiveError::Storage(_))));
    }

    #[tokio::test]
    async fn a_scheduling_failure_is_reported_so_that_the_delivery_is_retried() {
        let mut ingestion = MockIngestionScheduler::new();
        ingestion
            .expect_schedule()
            .times(1)
            .returning(|_| Err(SchedulingError::Storage("unwritable".into())));
        let archive = ArchivePostCall::new(Arc::new(InMemoryBlobStore::new()), Arc::new(ingestion));
        let result = archive
            .archive(
                ArchivedPayload::Transcription,
                &conversation(),
                content(vec![Ok(b"{}")]),
            )
            .await;
        assert!(matches!(result, Err(ArchiveError::Scheduling(_))));
    }
}
