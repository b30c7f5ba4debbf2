//! Everything held about one caller, gathered for a copy they can take away.

use std::sync::Arc;

use bytes::Bytes;

use super::records::{conversations_of, CallerIndex};
use super::EraseError;
use crate::core::ports::{BlobStore, MemoryStore};
use crate::core::use_cases::ingest_call::records::read;
use crate::core::use_cases::ArchivedPayload;
use crate::core::{CallerId, ConversationId, MemoryHit, ProfileCard};

/// One call of the caller, as archived.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedCall {
    pub conversation_id: ConversationId,
    /// The archived `post_call_transcription` event, byte for byte.
    pub transcription: Option<Bytes>,
    /// The archived call-initiation failure event, byte for byte.
    pub failure: Option<Bytes>,
    /// The recording, when it was asked for and is archived.
    pub audio: Option<Bytes>,
    /// Whether a recording is archived (also when it was not asked for).
    pub has_audio: bool,
}

/// Everything held about one caller.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerExport {
    pub profile: Option<ProfileCard>,
    /// Newest first.
    pub memories: Vec<MemoryHit>,
    pub calls: Vec<ExportedCall>,
}

/// Whether recordings go into the export (they can be large).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recordings {
    Included,
    Left,
}

/// Gathers a caller's data from every store.
#[derive(Clone)]
pub struct ExportCaller {
    memories: Arc<dyn MemoryStore>,
    blobs: Arc<dyn BlobStore>,
    index: CallerIndex,
}

impl ExportCaller {
    pub fn new(
        memories: Arc<dyn MemoryStore>,
        blobs: Arc<dyn BlobStore>,
        index: CallerIndex,
    ) -> Self {
        Self {
            memories,
            blobs,
            index,
        }
    }

    /// The caller's profile card, memories and calls (the same calls an erasure walks).
    ///
    /// # Errors
    /// [`EraseError`] (the same store failures as an erasure) when a store cannot be read.
    pub async fn export(
        &self,
        caller: &CallerId,
        recordings: Recordings,
    ) -> Result<CallerExport, EraseError> {
        let profile: Option<ProfileCard> =
            read(&*self.blobs, &ProfileCard::storage_key(caller)).await?;
        let memories = self.memories.memories_of(caller).await?;
        let conversations = conversations_of(
            &*self.blobs,
            &self.index,
            caller,
            profile.as_ref(),
            &memories,
        )
        .await?;
        let mut calls = Vec::new();
        for conversation in conversations {
            calls.push(self.call(conversation, recordings).await?);
        }
        Ok(CallerExport {
            profile,
            memories,
            calls,
        })
    }

    async fn call(
        &self,
        conversation: ConversationId,
        recordings: Recordings,
    ) -> Result<ExportedCall, EraseError> {
        let read_payload = |payload: ArchivedPayload| {
            let key = payload.key(&conversation);
            let blobs = self.blobs.clone();
            async move {
                blobs
                    .get(&key)
                    .await
                    .map(|found| found.map(|blob| blob.bytes))
            }
        };
        let audio_key = ArchivedPayload::Audio.key(&conversation);
        let has_audio = self
            .blobs
            .list(audio_key.as_str())
            .await?
            .contains(&audio_key);
        let audio = match (recordings, has_audio) {
            (Recordings::Included, true) => read_payload(ArchivedPayload::Audio).await?,
            _ => None,
        };
        Ok(ExportedCall {
            transcription: read_payload(ArchivedPayload::Transcription).await?,
            failure: read_payload(ArchivedPayload::InitiationFailure).await?,
            audio,
            has_audio,
            conversation_id: conversation,
        })
    }
}
