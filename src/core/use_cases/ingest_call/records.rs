//! The durable state of ingestion, kept in the blob store so that work survives restarts:
//!
//! - `.state/ingestion/pending/{id}.json`: a call waiting to be learnt from;
//! - `.state/ingestion/progress/{id}.json`: what was already learnt from a call (kept after
//!   completion, so a repeated delivery adds nothing twice);
//! - `.state/ingestion/failed/{id}.json`: a call that could not be learnt from, until a replay
//!   succeeds;
//! - `.state/ingestion/not_stored/{id}.json`: how many memories of a call the store declined to
//!   keep, until a replay stores them;
//! - `.state/ingestion/claims/{id}.json`: which instance learns from a call now, until when (see
//!   [`super::claims`]).
//!
//! These records are stored as JSON, so they derive serde; their JSON form must stay backwards
//! compatible.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::core::ports::{BlobKey, BlobStore, BlobStoreError, BlobVersion, PutCondition};
use crate::core::use_cases::archive_post_call::ArchivedPayload;
use crate::core::{ConversationId, STATE_PREFIX};

/// Where a conversation's archived transcription is (the archive decides:
/// [`ArchivedPayload::key`]).
pub fn transcription_key(conversation: &ConversationId) -> BlobKey {
    ArchivedPayload::Transcription.key(conversation)
}

/// The folders of the ingestion state, each holding one `{id}.json` per conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Folder {
    Pending,
    Progress,
    Failed,
    NotStored,
    Claims,
}

impl Folder {
    pub(crate) fn prefix(self) -> String {
        let name = match self {
            Folder::Pending => "pending",
            Folder::Progress => "progress",
            Folder::Failed => "failed",
            Folder::NotStored => "not_stored",
            Folder::Claims => "claims",
        };
        format!("{STATE_PREFIX}ingestion/{name}/")
    }

    pub(crate) fn key(self, conversation: &ConversationId) -> BlobKey {
        key(&format!("{}{conversation}.json", self.prefix()))
    }

    /// The conversation a listed key of this folder belongs to; `None` for foreign objects.
    pub(crate) fn conversation_of(self, key: &BlobKey) -> Option<ConversationId> {
        let name = key.as_str().strip_prefix(&self.prefix())?;
        ConversationId::parse(name.strip_suffix(".json")?).ok()
    }
}

fn key(raw: &str) -> BlobKey {
    BlobKey::parse(raw).expect("a conversation id always makes a valid key")
}

/// A call waiting to be ingested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PendingMarker {
    pub conversation_id: String,
    pub scheduled_at: DateTime<Utc>,
}

/// A call that could not be learnt from, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct FailedMarker {
    pub conversation_id: String,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

/// How many memories of a learnt call the store declined to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct NotStoredMarker {
    pub conversation_id: String,
    pub memories: usize,
}

/// Where the ingestion of one conversation stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestionStatus {
    /// Started or scheduled, not finished.
    #[default]
    InProgress,
    /// Everything that could be learnt was learnt (see `not_stored` for memories the store
    /// declined to keep).
    Ingested,
    /// Nothing was learnt on purpose, for example because the call has no usable phone number.
    Skipped,
    /// Something could not be learnt; `reason` and `rejected` say what. A replay tries again.
    Failed,
}

/// What has been learnt from one conversation so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestionRecord {
    #[serde(default)]
    pub status: IngestionStatus,
    /// Whether the caller's profile card already includes this call.
    #[serde(default)]
    pub card_updated: bool,
    /// Keys of the memories the store has accepted.
    #[serde(default)]
    pub added: BTreeSet<String>,
    /// Memory key -> why the store declined to keep it separately.
    #[serde(default)]
    pub not_stored: BTreeMap<String, String>,
    /// Memory key -> why the store rejected it for good.
    #[serde(default)]
    pub rejected: BTreeMap<String, String>,
    /// Why the conversation was skipped or failed.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Reads a JSON record; a record that is not valid JSON is a storage fault, never silently
/// replaced.
pub(crate) async fn read<T: DeserializeOwned>(
    blobs: &dyn BlobStore,
    key: &BlobKey,
) -> Result<Option<T>, BlobStoreError> {
    Ok(read_versioned(blobs, key).await?.map(|(record, _)| record))
}

/// Reads a JSON record with the version a conditional write of it needs.
pub(crate) async fn read_versioned<T: DeserializeOwned>(
    blobs: &dyn BlobStore,
    key: &BlobKey,
) -> Result<Option<(T, BlobVersion)>, BlobStoreError> {
    let Some(blob) = blobs.get(key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&blob.bytes)
        .map(|record| Some((record, blob.version)))
        .map_err(|error| {
            BlobStoreError::storage(
                anyhow::Error::new(error).context(format!("{key} is not a valid record")),
            )
        })
}

pub(crate) async fn write<T: Serialize>(
    blobs: &dyn BlobStore,
    key: &BlobKey,
    record: &T,
) -> Result<(), BlobStoreError> {
    put(blobs, key, record, PutCondition::Overwrite)
        .await
        .map(drop)
}

/// Stores `record` only if the stored object is still the version `read` (`None`: still
/// absent), and returns the new version.
///
/// # Errors
/// [`BlobStoreError::ConditionFailed`] when someone else stored or removed it meanwhile.
pub(crate) async fn write_if_unchanged<T: Serialize>(
    blobs: &dyn BlobStore,
    key: &BlobKey,
    record: &T,
    read: Option<&BlobVersion>,
) -> Result<BlobVersion, BlobStoreError> {
    let condition = match read {
        Some(version) => PutCondition::IfVersion(version.clone()),
        None => PutCondition::IfAbsent,
    };
    put(blobs, key, record, condition).await
}

async fn put<T: Serialize>(
    blobs: &dyn BlobStore,
    key: &BlobKey,
    record: &T,
    condition: PutCondition,
) -> Result<BlobVersion, BlobStoreError> {
    let bytes =
        serde_json::to_vec(record).map_err(|error| BlobStoreError::Unknown(error.into()))?;
    blobs.put(key, Bytes::from(bytes), condition).await
}

/// Removes the markers that say a call failed or lost memories, for a call whose transcription
/// is gone (a replay could not retry it); its progress record stays, so that a late repeated
/// delivery is still not counted twice.
///
/// # Errors
/// [`BlobStoreError::Storage`] when the markers cannot be removed.
pub(crate) async fn delete_outcome_markers(
    blobs: &dyn BlobStore,
    conversation: &ConversationId,
) -> Result<(), BlobStoreError> {
    for folder in [Folder::Failed, Folder::NotStored] {
        blobs.delete(&folder.key(conversation)).await?;
    }
    Ok(())
}

/// Removes every ingestion record of `conversation` (pending, progress, failed, claim) and
/// returns how many there were.
///
/// # Errors
/// [`BlobStoreError::Storage`] when the records cannot be read or removed.
pub(crate) async fn delete_all(
    blobs: &dyn BlobStore,
    conversation: &ConversationId,
) -> Result<usize, BlobStoreError> {
    let mut deleted = 0;
    for folder in [
        Folder::Pending,
        Folder::Progress,
        Folder::Failed,
        Folder::Claims,
    ] {
        let key = folder.key(conversation);
        if blobs.get(&key).await?.is_some() {
            blobs.delete(&key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
