//! The background worker, replays and progress records.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::caller::resolve_caller;
use super::progress::Progress;
use super::records::{
    self, FailedMarker, Folder, IngestionRecord, IngestionStatus, NotStoredMarker, PendingMarker,
};
use super::{transcription_key, IngestCall, IngestError, IngestOutcome, Stop};
use crate::core::ports::{BlobStoreError, ErrorChain, IngestionResolution, IngestionRetry};
use crate::core::use_cases::caller_privacy::is_erased;
use crate::core::ConversationId;

/// How often a worker looks for pending work it was not woken for, by default: one listing of
/// the pending folder each time, whatever the traffic.
pub const DEFAULT_PENDING_SCAN: Duration = Duration::from_secs(5);

/// Which archived conversations to learn from again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayTarget {
    Conversation(ConversationId),
    /// Every archived transcription.
    All,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub ingested: usize,
    pub skipped: usize,
    pub failed: usize,
    /// The shutdown signal stopped the replay; a conversation it had started stays pending.
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no transcription is archived for conversation {0}")]
    NotArchived(ConversationId),
    #[error("the archive could not be read or written: {0}")]
    Storage(#[from] BlobStoreError),
}

impl IngestCall {
    /// Ingests pending calls until `shutdown` fires: first whatever was left pending before a
    /// restart, then each call as [`IngestCall::schedule`] announces it, and at every pending
    /// scan whatever is pending and unclaimed (delivered to another instance that died, or left
    /// by an expired claim). Work the blob store could not complete is retried with backoff.
    /// Unfinished work stays pending on shutdown.
    pub async fn run(&self, shutdown: CancellationToken) {
        tracing::info!("ingestion worker started");
        let mut unfinished_passes = 0;
        loop {
            let finished = self.ingest_pending(&shutdown).await;
            let next_pass = if finished {
                unfinished_passes = 0;
                self.pending_scan
            } else {
                unfinished_passes += 1;
                self.retry.delay(unfinished_passes).min(self.pending_scan)
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(next_pass) => {}
            }
        }
        tracing::info!("ingestion worker stopped; unfinished calls stay pending");
    }

    /// One pass over the pending markers; `false` when some are left for a later pass. A
    /// conversation another instance holds is left to it.
    async fn ingest_pending(&self, shutdown: &CancellationToken) -> bool {
        let keys = match self.blobs.list(&Folder::Pending.prefix()).await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "pending ingestions could not be listed");
                return false;
            }
        };
        let mut finished = true;
        for key in keys {
            let Some(conversation) = Folder::Pending.conversation_of(&key) else {
                tracing::warn!(%key, "ignoring an object that is not a pending ingestion");
                continue;
            };
            match self.ingest_if_free(&conversation, shutdown).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::debug!(%conversation, "another instance is learning from the call");
                }
                Err(IngestError::Interrupted) => return false,
                Err(error) => {
                    tracing::warn!(%conversation, error = %ErrorChain(&error), "ingestion will be retried");
                    self.telemetry.ingestion_retry(IngestionRetry::Storage);
                    finished = false;
                }
            }
        }
        finished
    }

    /// Learns again from one or every archived conversation, now, idempotently: memories
    /// already added are not added again and a call is never counted twice, while memories the
    /// store rejected before are tried again. Each conversation is marked pending first, so an
    /// interrupted replay is finished by the worker.
    ///
    /// # Errors
    /// [`ReplayError::NotArchived`] for a conversation without an archived transcription,
    /// [`ReplayError::Storage`] when the blob store fails.
    pub async fn replay(
        &self,
        target: ReplayTarget,
        shutdown: &CancellationToken,
    ) -> Result<ReplayReport, ReplayError> {
        let conversations = match target {
            ReplayTarget::Conversation(conversation) => {
                let key = transcription_key(&conversation);
                if !self.blobs.list(key.as_str()).await?.contains(&key) {
                    return Err(ReplayError::NotArchived(conversation));
                }
                vec![conversation]
            }
            ReplayTarget::All => self.archived_conversations().await?,
        };
        let mut report = ReplayReport::default();
        for conversation in conversations {
            if shutdown.is_cancelled() {
                report.interrupted = true;
                break;
            }
            self.mark_pending(&conversation).await?;
            match self.ingest(&conversation, shutdown).await {
                Ok(IngestOutcome::Ingested { .. }) => report.ingested += 1,
                Ok(IngestOutcome::Skipped { .. }) => report.skipped += 1,
                Ok(IngestOutcome::Failed { .. }) => report.failed += 1,
                Err(IngestError::Interrupted) => {
                    report.interrupted = true;
                    break;
                }
                Err(IngestError::Storage(error)) => return Err(error.into()),
            }
        }
        Ok(report)
    }

    /// Conversations with an archived transcription (`{id}/{id}_transcription.json`), from one
    /// listing of the store, each key looked at once.
    async fn archived_conversations(&self) -> Result<Vec<ConversationId>, BlobStoreError> {
        let keys = self.blobs.list("").await?;
        Ok(keys
            .iter()
            .filter_map(|key| {
                let folder = key.as_str().split('/').next()?;
                let conversation = ConversationId::parse(folder).ok()?;
                (transcription_key(&conversation) == *key).then_some(conversation)
            })
            .collect())
    }

    /// Records every archived call in the caller -> conversations index (for archives kept
    /// before the index existed) and returns how many calls were indexed; calls without a
    /// usable number, erased calls and unreadable transcriptions are left out.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the archive or the index cannot be read or written.
    pub async fn rebuild_caller_index(&self) -> Result<usize, BlobStoreError> {
        let Some(index) = &self.index else {
            return Ok(0);
        };
        let mut indexed = 0;
        for conversation in self.archived_conversations().await? {
            if is_erased(&*self.blobs, &conversation).await? {
                continue;
            }
            let call = match self.read_call(&conversation).await {
                Ok(call) => call,
                Err(Stop::Storage(error)) => return Err(error),
                Err(_) => continue,
            };
            if let Ok(caller) = resolve_caller(&call.caller) {
                index.record(&*self.blobs, &caller, &conversation).await?;
                indexed += 1;
            }
        }
        Ok(indexed)
    }

    /// What has been learnt from `conversation` so far; `None` before its ingestion started.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the record cannot be read.
    pub async fn record(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<IngestionRecord>, BlobStoreError> {
        records::read(&*self.blobs, &Folder::Progress.key(conversation)).await
    }

    /// Stores how the conversation ended, then removes its pending marker: only now is the
    /// work done.
    pub(super) async fn resolve(
        &self,
        conversation: &ConversationId,
        progress: &mut Progress,
        outcome: &IngestOutcome,
    ) -> Result<(), BlobStoreError> {
        let now = self.clock.now();
        let pending_key = Folder::Pending.key(conversation);
        // Read before the marker goes: the lag runs from the call's latest scheduling. It only
        // feeds a metric, so an unreadable marker leaves the lag unknown instead of failing.
        let scheduled_at = records::read::<PendingMarker>(&*self.blobs, &pending_key)
            .await
            .ok()
            .flatten()
            .map(|marker| marker.scheduled_at);
        let (status, reason) = match outcome {
            IngestOutcome::Ingested { .. } => (IngestionStatus::Ingested, None),
            IngestOutcome::Skipped { reason } => (IngestionStatus::Skipped, Some(reason)),
            IngestOutcome::Failed { reason } => (IngestionStatus::Failed, Some(reason)),
        };
        progress
            .update(&*self.blobs, |record| {
                record.status = status;
                record.reason = reason.cloned();
                record.updated_at = Some(now);
            })
            .await?;
        let record = progress.record();
        let failed_key = Folder::Failed.key(conversation);
        if let IngestOutcome::Failed { reason } = outcome {
            let marker = FailedMarker {
                conversation_id: conversation.to_string(),
                reason: reason.clone(),
                failed_at: now,
            };
            records::write(&*self.blobs, &failed_key, &marker).await?;
        } else {
            self.blobs.delete(&failed_key).await?;
        }
        let not_stored_key = Folder::NotStored.key(conversation);
        if record.not_stored.is_empty() {
            self.blobs.delete(&not_stored_key).await?;
        } else {
            let marker = NotStoredMarker {
                conversation_id: conversation.to_string(),
                memories: record.not_stored.len(),
            };
            records::write(&*self.blobs, &not_stored_key, &marker).await?;
        }
        self.blobs.delete(&pending_key).await?;
        log_outcome(conversation, record, outcome);
        let resolution = match outcome {
            IngestOutcome::Ingested { .. } => IngestionResolution::Ingested,
            IngestOutcome::Skipped { .. } => IngestionResolution::Skipped,
            IngestOutcome::Failed { .. } => IngestionResolution::Failed,
        };
        let lag = scheduled_at.and_then(|at| (now - at).to_std().ok());
        self.telemetry.ingestion_resolved(resolution, lag);
        Ok(())
    }
}

fn log_outcome(conversation: &ConversationId, record: &IngestionRecord, outcome: &IngestOutcome) {
    match outcome {
        IngestOutcome::Ingested {
            memories,
            not_stored: 0,
        } => {
            tracing::info!(%conversation, memories, "learnt from the call");
        }
        IngestOutcome::Ingested {
            memories,
            not_stored,
        } => {
            let declined: Vec<String> = record
                .not_stored
                .iter()
                .map(|(key, reason)| format!("{key}: {reason}"))
                .collect();
            tracing::warn!(
                %conversation, memories, not_stored,
                "learnt from the call, but the memory store declined some memories ({})",
                declined.join("; ")
            );
        }
        IngestOutcome::Skipped { reason } => {
            tracing::warn!(%conversation, "nothing learnt from the call, it stays archived: {reason}");
        }
        IngestOutcome::Failed { reason } => {
            tracing::error!(%conversation, "the call could not be learnt from: {reason}");
        }
    }
}
