//! Retention: what is older than its kind's retention period is deleted by a periodic sweep
//! (`RETENTION_AUDIO_DAYS`, `RETENTION_TRANSCRIPT_DAYS`, `RETENTION_MEMORY_DAYS`).
//!
//! How the age of each thing is known:
//! - An archived call (recording, transcription, initiation failure) is as old as the call: its
//!   start time in the archived transcription (`metadata.start_time_unix_secs`). A call archived
//!   without a dated transcription (a recording or a failure alone) counts from the sweep that
//!   first saw it, so it is kept a little longer, never shorter. The first sweep that sees a call
//!   records its date as an empty object `.state/retention/calls/{conversation}.{unix seconds}`,
//!   so later sweeps date every call from one listing, without reading a transcription again.
//! - A memory is as old as the store says it is (`created_at`): for the embedded store the
//!   start of the call it was learnt from, for OpenMemory the time it was added. The memories of
//!   one call go together, once the newest of them is past the period. Memories without a time
//!   or a conversation are kept.
//!
//! The profile card stays consistent: its call count and the calls it counted stay, and the
//! summary of a call whose transcription or memories were deleted is removed from it (and the
//! process's memos, which may hold it, forget the caller).
//!
//! Each sweep does a bounded amount of work ([`RetentionPolicy::batch`] conversations and as many
//! callers); the next sweep goes on where it stopped. Deletions are idempotent and the card is
//! changed with conditional writes, so several instances may sweep the same stores at once.

mod archive;
mod memories;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::core::ports::{
    BlobStore, BlobStoreError, CallerMemos, Clock, MemoryStore, MemoryStoreError,
};
use crate::core::use_cases::caller_privacy::CallerIndex;
use crate::core::use_cases::ingest_call::card::{self, CardError};
use crate::core::{CallerId, ConversationId, ParseTranscription};

/// How many conversations (and how many callers) one sweep works on unless configured.
pub const DEFAULT_BATCH: usize = 500;

/// How long each kind of data is kept, in days; `None` keeps it for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Call recordings.
    pub audio_days: Option<u32>,
    /// Archived transcriptions and call-initiation failures.
    pub transcript_days: Option<u32>,
    /// Memories learnt from calls.
    pub memory_days: Option<u32>,
    /// The most conversations to date or expire, and the most callers whose memories to look
    /// at, in one sweep.
    pub batch: usize,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            audio_days: None,
            transcript_days: None,
            memory_days: None,
            batch: DEFAULT_BATCH,
        }
    }
}

impl RetentionPolicy {
    /// Whether everything is kept for ever (no sweep is needed).
    pub fn is_off(&self) -> bool {
        self.audio_days.is_none() && self.transcript_days.is_none() && self.memory_days.is_none()
    }
}

/// The moment before which data of a kind kept `days` days is due.
fn cutoff(now: DateTime<Utc>, days: Option<u32>) -> Option<DateTime<Utc>> {
    days.map(|days| now - chrono::Duration::days(i64::from(days)))
}

/// What one sweep removed, counted per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub audio_files: usize,
    pub transcripts: usize,
    pub failure_files: usize,
    pub memories: usize,
    /// Call summaries removed from profile cards (the calls stay counted).
    pub summaries: usize,
    /// Calls dated for the first time (see the module documentation).
    pub conversations_dated: usize,
    /// More work was due than one sweep does; the next sweep goes on.
    pub unfinished: bool,
}

impl SweepReport {
    /// Whether anything was removed.
    pub fn removed_anything(&self) -> bool {
        self.audio_files + self.transcripts + self.failure_files + self.memories + self.summaries
            > 0
    }
}

/// Why a sweep stopped early. What it deleted stays deleted; the next sweep goes on.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("the memory store failed: {0}")]
    MemoryStore(#[from] MemoryStoreError),
    #[error("the archive failed: {0}")]
    Storage(#[from] BlobStoreError),
}

/// Deletes what is older than the retention policy allows.
#[derive(Clone)]
pub struct SweepRetention {
    memories: Arc<dyn MemoryStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    /// Reads archived transcriptions (an inbound adapter provides it).
    parse: ParseTranscription,
    /// Orders callers by keyed hash, so the sweep can say where it stopped without a number.
    index: CallerIndex,
    policy: RetentionPolicy,
    /// Forget a caller whose card lost a summary.
    memos: CallerMemos,
}

impl SweepRetention {
    pub fn new(
        memories: Arc<dyn MemoryStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        parse: ParseTranscription,
        index: CallerIndex,
        policy: RetentionPolicy,
    ) -> Self {
        Self {
            memories,
            blobs,
            clock,
            parse,
            index,
            policy,
            memos: CallerMemos::default(),
        }
    }

    /// Tells `memos` to forget a caller once a summary is taken out of their card.
    pub fn with_memos(mut self, memos: CallerMemos) -> Self {
        self.memos = memos;
        self
    }

    pub fn policy(&self) -> RetentionPolicy {
        self.policy
    }

    /// One sweep: deletes the archived files, then the memories, that are past their period.
    ///
    /// # Errors
    /// [`SweepError`] when a store fails; the next sweep finishes the work.
    pub async fn sweep(&self) -> Result<SweepReport, SweepError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        if self.policy.audio_days.is_some() || self.policy.transcript_days.is_some() {
            self.sweep_archive(now, &mut report).await?;
        }
        if let Some(cutoff) = cutoff(now, self.policy.memory_days) {
            self.sweep_memories(cutoff, &mut report).await?;
        }
        Ok(report)
    }

    /// Sweeps now, then every `every`, until `shutdown` fires; logs what each sweep removed.
    pub async fn run(&self, every: Duration, shutdown: CancellationToken) {
        tracing::info!(every_secs = every.as_secs(), "retention sweeps started");
        loop {
            match self.sweep().await {
                Ok(report) if report.removed_anything() || report.unfinished => {
                    tracing::info!(?report, "retention sweep removed data past its period");
                }
                Ok(report) => tracing::debug!(?report, "retention sweep found nothing due"),
                Err(error) => {
                    tracing::warn!("retention sweep stopped early, the next one goes on: {error}");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Removes the summary of `conversation` from the caller's card; counts it when there was one.
    async fn forget_summary(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        match card::forget_summary(&*self.blobs, caller, conversation).await {
            Ok(removed) => {
                if removed {
                    // The memos may still hold the summary, made from the card's last version.
                    self.memos.forget(caller);
                }
                report.summaries += usize::from(removed);
            }
            Err(CardError::Storage(error)) => return Err(error.into()),
            // Left as it is for someone to look at; the rest of the sweep goes on.
            Err(unreadable @ CardError::Unreadable(..)) => tracing::warn!("{unreadable}"),
        }
        Ok(())
    }
}
