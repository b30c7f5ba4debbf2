//! What readiness probes and metric scrapes see of ingestion: the backlog.
//!
//! Counting the backlog lists three folders of the blob store (pending, failed, not stored) and
//! reads every not-stored marker. A bucket charges for each listing and answers it in tens of
//! milliseconds, while load balancers probe every few seconds, often from several nodes at once.
//! So an instance counts at most once per pending-scan interval (`PENDING_SCAN_MS`, the interval
//! at which its worker lists the pending calls anyway): the first probe that finds the figures
//! older counts again, probes arriving meanwhile wait for that one count instead of starting
//! their own, and every other probe answers the remembered figures with the time they were
//! counted. A count that fails is not remembered, so the next probe tries again.

use tokio::sync::Mutex;

use super::records::{self, Folder, NotStoredMarker};
use super::IngestCall;
use crate::core::ports::{BlobStoreError, IngestionCounts};

/// The figures of the latest count, if any.
#[derive(Default)]
pub(super) struct LatestCount(Mutex<Option<IngestionCounts>>);

impl IngestCall {
    /// How many calls are pending and failed, and how many memories were not stored, counted now.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the state cannot be listed or read.
    pub async fn counts(&self) -> Result<IngestionCounts, BlobStoreError> {
        let counted_at = self.clock.now();
        let mut not_stored = 0;
        for key in self.blobs.list(&Folder::NotStored.prefix()).await? {
            let marker: Option<NotStoredMarker> = records::read(&*self.blobs, &key).await?;
            not_stored += marker.map_or(0, |marker| marker.memories);
        }
        Ok(IngestionCounts {
            pending: self.blobs.list(&Folder::Pending.prefix()).await?.len(),
            failed: self.blobs.list(&Folder::Failed.prefix()).await?.len(),
            not_stored,
            counted_at: Some(counted_at),
        })
    }

    /// [`IngestCall::counts`] as counted at most one pending-scan interval ago: what probes
    /// answer (see the module's documentation).
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when a new count was due and failed.
    pub async fn recent_counts(&self) -> Result<IngestionCounts, BlobStoreError> {
        let mut latest = self.latest_count.0.lock().await;
        let now = self.clock.now();
        // A clock set back makes the figures look newer than they are: count again then too.
        let recent = |counts: &IngestionCounts| {
            counts
                .counted_at
                .and_then(|at| (now - at).to_std().ok())
                .is_some_and(|age| age < self.pending_scan)
        };
        if let Some(counts) = latest.as_ref().filter(|counts| recent(counts)) {
            return Ok(*counts);
        }
        let counts = self.counts().await?;
        *latest = Some(counts);
        Ok(counts)
    }
}
