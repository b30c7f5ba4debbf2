//! Backfill: learn from the conversations that happened before the service was installed.
//!
//! Past conversations are listed from ElevenLabs' history, each one not yet archived is fetched
//! as the post-call webhook would have delivered it, archived like a delivery, and learnt from.
//! A progress record in the blob store (`.state/backfill/progress.json`) holds the listing cursor
//! and the conversations still to fetch, so an interrupted run resumes where it stopped; a
//! conversation already archived is never fetched again.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::core::ports::{
    BlobKey, BlobStore, BlobStoreError, ConversationFilter, ErrorChain, PastConversations,
    PastConversationsError,
};
use crate::core::use_cases::ingest_call::{
    read_record, transcription_key, write_record, IngestCall, IngestError, IngestOutcome,
};
use crate::core::use_cases::{ArchiveError, ArchivePostCall, ArchivedPayload};
use crate::core::{AgentId, ConversationId, STATE_PREFIX};

/// The progress is saved every this many conversations at least, and every 1 % of a long queue
/// (the record holds the whole queue; an unsaved step only costs a cheap archive check).
const SAVE_EVERY: u64 = 20;

/// What a backfill has done so far. Stored in the progress record, so its JSON form must stay
/// backwards compatible.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillCounts {
    /// Conversations listed.
    #[serde(default)]
    pub listed: u64,
    /// Listed conversations that were already archived (by the webhook or an earlier run).
    #[serde(default)]
    pub already_archived: u64,
    /// Listed conversations still in progress or without a final transcript.
    #[serde(default)]
    pub unfinished: u64,
    /// Conversations fetched and archived.
    #[serde(default)]
    pub archived: u64,
    /// Archived conversations learnt from.
    #[serde(default)]
    pub learnt: u64,
    /// Archived conversations with nothing to learn (no usable caller number) or whose
    /// learning failed (`replay` tries them again).
    #[serde(default)]
    pub not_learnt: u64,
    /// Conversations that could not be fetched (deleted meanwhile, unreadable).
    #[serde(default)]
    pub failed: u64,
}

/// Where a running backfill stands, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillProgress {
    pub counts: BackfillCounts,
    /// Whether the listing is complete (then `remaining` is final).
    pub listing_done: bool,
    /// Conversations listed and still to fetch.
    pub remaining: usize,
    /// Conversations fetched in this run (for a rate).
    pub fetched_this_run: u64,
}

/// How a backfill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillOutcome {
    Completed(BackfillCounts),
    /// Stopped by the shutdown signal; the next run resumes.
    Interrupted(BackfillCounts),
}

/// Why a backfill stopped early; the progress is saved and the next run resumes.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("the conversation history could not be read: {0}")]
    Source(#[from] PastConversationsError),
    #[error("the archive could not be read or written: {0}")]
    Storage(#[from] BlobStoreError),
    #[error("a conversation could not be archived: {0}")]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// The progress record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct BackfillRecord {
    agent: Option<String>,
    since: Option<DateTime<Utc>>,
    listing_done: bool,
    cursor: Option<String>,
    queue: VecDeque<String>,
    counts: BackfillCounts,
}

impl BackfillRecord {
    fn new(filter: &ConversationFilter) -> Self {
        Self {
            agent: filter.agent.as_ref().map(|agent| agent.to_string()),
            since: filter.since,
            ..Self::default()
        }
    }

    fn is_for(&self, filter: &ConversationFilter) -> bool {
        self.agent.as_deref() == filter.agent.as_ref().map(AgentId::as_str)
            && self.since == filter.since
    }
}

/// The backfill use case.
pub struct Backfill {
    source: Arc<dyn PastConversations>,
    blobs: Arc<dyn BlobStore>,
    archive: ArchivePostCall,
    ingest: Arc<IngestCall>,
}

impl Backfill {
    /// `ingest` learns from each archived conversation (and schedules it first, so that an
    /// interrupted learning is finished by the service's worker).
    pub fn new(
        source: Arc<dyn PastConversations>,
        blobs: Arc<dyn BlobStore>,
        ingest: Arc<IngestCall>,
    ) -> Self {
        Self {
            archive: ArchivePostCall::new(blobs.clone(), ingest.clone()),
            source,
            blobs,
            ingest,
        }
    }

    /// Where the progress record is kept.
    pub fn record_key() -> BlobKey {
        BlobKey::parse(&format!("{STATE_PREFIX}backfill/progress.json"))
            .expect("a constant valid key")
    }

    /// Backfills `filter`'s conversations, resuming an interrupted run with the same filter, and
    /// reports progress after each conversation. Stops between two conversations when `stop`
    /// fires.
    ///
    /// # Errors
    /// When the history or the archive fails; the progress is saved first.
    pub async fn run(
        &self,
        filter: &ConversationFilter,
        stop: &CancellationToken,
        report: &mut (dyn FnMut(BackfillProgress) + Send),
    ) -> Result<BackfillOutcome, BackfillError> {
        let mut record = self.start(filter).await?;
        let mut fetched_this_run = 0;
        let mut queued: HashSet<String> = record.queue.iter().cloned().collect();
        let progress = |record: &BackfillRecord, fetched_this_run| BackfillProgress {
            counts: record.counts,
            listing_done: record.listing_done,
            remaining: record.queue.len(),
            fetched_this_run,
        };
        while !record.listing_done {
            if stop.is_cancelled() {
                return self.interrupted(&record).await;
            }
            self.list_next_page(filter, &mut record, &mut queued)
                .await?;
            report(progress(&record, fetched_this_run));
        }
        let save_every = SAVE_EVERY.max(record.queue.len() as u64 / 100);
        while let Some(raw) = record.queue.front().cloned() {
            if stop.is_cancelled() {
                return self.interrupted(&record).await;
            }
            match self.backfill_one(&raw, &mut record, stop).await {
                Ok(Step::Done) => {}
                // Archived and still pending: the service's worker finishes learning it.
                Ok(Step::Interrupted) => return self.interrupted(&record).await,
                Err(error) => {
                    self.save(&record).await?;
                    return Err(error);
                }
            }
            record.queue.pop_front();
            fetched_this_run += 1;
            if fetched_this_run % save_every == 0 {
                self.save(&record).await?;
            }
            report(progress(&record, fetched_this_run));
        }
        self.blobs.delete(&Self::record_key()).await?;
        Ok(BackfillOutcome::Completed(record.counts))
    }

    /// The record of an interrupted run with the same filter, or a new one.
    async fn start(&self, filter: &ConversationFilter) -> Result<BackfillRecord, BackfillError> {
        match read_record::<BackfillRecord>(&*self.blobs, &Self::record_key()).await? {
            Some(record) if record.is_for(filter) => {
                tracing::info!(
                    remaining = record.queue.len(),
                    "resuming the interrupted backfill"
                );
                Ok(record)
            }
            Some(_) => {
                tracing::info!("an interrupted backfill with other filters is replaced by this one; what it archived is kept");
                Ok(BackfillRecord::new(filter))
            }
            None => Ok(BackfillRecord::new(filter)),
        }
    }

    /// Lists one page: finished conversations not yet archived join the queue.
    async fn list_next_page(
        &self,
        filter: &ConversationFilter,
        record: &mut BackfillRecord,
        queued: &mut HashSet<String>,
    ) -> Result<(), BackfillError> {
        let page = self.source.page(filter, record.cursor.clone()).await?;
        for conversation in page.conversations {
            record.counts.listed += 1;
            if !conversation.finished {
                record.counts.unfinished += 1;
            } else if self.is_archived(&conversation.id).await? {
                record.counts.already_archived += 1;
            } else if queued.insert(conversation.id.to_string()) {
                // A conversation that started while listing can shift the pages: listed once.
                record.queue.push_back(conversation.id.to_string());
            }
        }
        record.listing_done = page.next_cursor.is_none();
        record.cursor = page.next_cursor;
        self.save(record).await
    }

    /// Fetches, archives and learns from one conversation of the queue.
    async fn backfill_one(
        &self,
        raw: &str,
        record: &mut BackfillRecord,
        stop: &CancellationToken,
    ) -> Result<Step, BackfillError> {
        let Ok(conversation) = ConversationId::parse(raw) else {
            record.counts.failed += 1;
            return Ok(Step::Done);
        };
        if self.is_archived(&conversation).await? {
            // Archived by the webhook (or before an interruption) since it was listed.
            record.counts.already_archived += 1;
            return Ok(Step::Done);
        }
        let body = match self.source.transcription(&conversation).await {
            Ok(body) => body,
            Err(
                error @ (PastConversationsError::NotFound | PastConversationsError::Unreadable(_)),
            ) => {
                tracing::warn!(%conversation, error = %ErrorChain(&error), "conversation not backfilled");
                record.counts.failed += 1;
                return Ok(Step::Done);
            }
            Err(error) => return Err(error.into()),
        };
        self.archive
            .archive(
                ArchivedPayload::Transcription,
                &conversation,
                as_stream(body),
            )
            .await?;
        record.counts.archived += 1;
        match self.ingest.ingest(&conversation, stop).await {
            Ok(IngestOutcome::Ingested { .. }) => record.counts.learnt += 1,
            Ok(IngestOutcome::Skipped { reason }) => {
                tracing::info!(%conversation, %reason, "archived; nothing to learn");
                record.counts.not_learnt += 1;
            }
            Ok(IngestOutcome::Failed { reason }) => {
                tracing::warn!(%conversation, %reason, "archived; learning failed (replay tries again)");
                record.counts.not_learnt += 1;
            }
            Err(IngestError::Interrupted) => return Ok(Step::Interrupted),
            Err(IngestError::Storage(error)) => return Err(error.into()),
        }
        Ok(Step::Done)
    }

    async fn is_archived(&self, conversation: &ConversationId) -> Result<bool, BlobStoreError> {
        let key = transcription_key(conversation);
        Ok(self.blobs.list(key.as_str()).await?.contains(&key))
    }

    async fn interrupted(&self, record: &BackfillRecord) -> Result<BackfillOutcome, BackfillError> {
        self.save(record).await?;
        Ok(BackfillOutcome::Interrupted(record.counts))
    }

    async fn save(&self, record: &BackfillRecord) -> Result<(), BackfillError> {
        Ok(write_record(&*self.blobs, &Self::record_key(), record).await?)
    }
}

/// How the backfill of one conversation ended.
enum Step {
    Done,
    /// The shutdown signal stopped learning from it; it is archived and stays pending.
    Interrupted,
}

fn as_stream(body: Bytes) -> crate::core::ports::ByteStream {
    futures_util::stream::once(async move { Ok(body) }).boxed()
}

#[cfg(test)]
mod tests;
