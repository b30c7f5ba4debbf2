//! Where an archived transcription is handed over to ingestion.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::core::ports::cause::{describe, BoxError};
use crate::core::ConversationId;

/// Why ingestion could not be scheduled.
#[derive(Debug, thiserror::Error)]
pub enum SchedulingError {
    /// The schedule could not be recorded durably; the delivery should be retried.
    #[error("ingestion could not be scheduled: {}", describe(.0))]
    Storage(#[source] BoxError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl SchedulingError {
    /// [`SchedulingError::Storage`] caused by `cause` (an error, or a message).
    pub fn storage(cause: impl Into<BoxError>) -> Self {
        Self::Storage(cause.into())
    }
}

/// How much ingestion work is outstanding, for readiness checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestionCounts {
    /// Calls archived but not yet resolved.
    pub pending: usize,
    /// Calls that could not be learnt from; a replay tries them again.
    pub failed: usize,
    /// Memories of learnt calls that the memory store declined to keep (for example merged by
    /// OpenMemory's global deduplication); a replay tries them again.
    pub not_stored: usize,
    /// When these figures were counted; `None` for schedulers that keep no backlog.
    pub counted_at: Option<DateTime<Utc>>,
}

/// Records, durably, that a conversation's archived transcription must be ingested.
///
/// Called after the transcription is archived and before the webhook is acknowledged, so that a
/// delivery is only acknowledged once its ingestion cannot be forgotten. Scheduling the same
/// conversation again (a repeated delivery) must be harmless.
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
#[async_trait]
pub trait IngestionScheduler: Send + Sync + 'static {
    /// # Errors
    /// - [`SchedulingError::Storage`] when the schedule could not be made durable.
    async fn schedule(&self, conversation: &ConversationId) -> Result<(), SchedulingError>;

    /// How many scheduled conversations are still pending and how many failed, as counted at
    /// [`IngestionCounts::counted_at`]: a scheduler may answer figures it counted a little
    /// earlier rather than count again for every probe. Schedulers that keep no backlog report
    /// none.
    ///
    /// # Errors
    /// - [`SchedulingError::Storage`] when the backlog cannot be read.
    async fn counts(&self) -> Result<IngestionCounts, SchedulingError> {
        Ok(IngestionCounts::default())
    }

    /// The memory store was just seen working (a probe or a search succeeded): work waiting for
    /// it should start now rather than at its next retry. Schedulers that wait for nothing
    /// ignore it.
    fn memory_store_healthy(&self) {}
}

/// Schedules nothing, for deployments and tests that only archive.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchiveOnly;

#[async_trait]
impl IngestionScheduler for ArchiveOnly {
    async fn schedule(&self, _conversation: &ConversationId) -> Result<(), SchedulingError> {
        Ok(())
    }
}
