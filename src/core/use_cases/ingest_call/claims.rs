//! Claims: which instance learns from a conversation now.
//!
//! Several instances may share one blob store (a bucket): a delivery reaches any of them,
//! ElevenLabs retries to another, and `replay` may run beside them. Before learning from a
//! conversation an instance claims it with a lease object, `.state/ingestion/claims/{id}.json`,
//! holding `{owner, expires_at}`. Only conditional writes of the [`BlobStore`] port are used, so
//! the design works the same on the local disk and on any S3-compatible bucket:
//!
//! - claiming creates the lease only if none exists (`IfAbsent`), or replaces an expired or
//!   released lease only if it is still the version that was read (`IfVersion`): of several
//!   instances racing for a conversation, exactly one wins;
//! - the holder renews its lease (`IfVersion`) every third of the lease while it works; a renewal
//!   that finds another version means the claim was taken over (this instance stalled past its
//!   lease), and the work stops there;
//! - releasing marks the lease expired, conditionally too, so that it never clobbers a claim
//!   another instance took over; the small object stays, like the progress record;
//! - an instance killed mid-way renews nothing: its lease expires and another instance takes the
//!   work over, resuming from the progress record.
//!
//! Expiry is read from the [`Clock`] port; the instances' clocks must agree to well within a
//! lease (NTP does). A claim saves double work but is not what keeps a call learnt once: even two
//! instances learning from one call at the same time count it once on the card (a conditional
//! update that remembers counted conversations), store each memory once (stable keys) and keep
//! both progress updates (conditional writes, see [`super::progress`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{self, Folder};
use crate::core::ports::{BlobKey, BlobStore, BlobStoreError, BlobVersion, Clock};
use crate::core::{ConversationId, InstanceId};

/// How long a claim lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Whether other instances may be claiming conversations in the same store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// This process is the store's only user (it holds the data folder's lock): a claim of any
    /// other instance was left by a process that ended, and is taken over at once.
    Exclusive,
    /// Other instances share the store: their claims are honoured until they expire.
    Shared,
}

/// The lease object. Stored as JSON, so it derives serde; its form must stay compatible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Lease {
    owner: String,
    expires_at: DateTime<Utc>,
}

/// A conversation this instance holds, until [`Claims::release`] or expiry.
#[derive(Debug)]
pub(super) struct Claim {
    key: BlobKey,
    expires_at: DateTime<Utc>,
    version: BlobVersion,
}

/// Claims conversations for one instance.
pub(super) struct Claims {
    owner: InstanceId,
    lease: Duration,
    sharing: Sharing,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
}

impl Claims {
    pub(super) fn new(
        owner: InstanceId,
        lease: Duration,
        sharing: Sharing,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            owner,
            lease,
            sharing,
            blobs,
            clock,
        }
    }

    /// How long to wait before asking again for a conversation another instance holds.
    pub(super) fn poll_interval(&self) -> Duration {
        (self.lease / 10).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }

    /// Claims `conversation`; `None` when someone (another instance, or another task of this one)
    /// holds an unexpired claim on it or won the race for it. With [`Sharing::Exclusive`] only
    /// this instance's own claims are honoured.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the lease cannot be read or written.
    pub(super) async fn claim(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<Claim>, BlobStoreError> {
        let key = Folder::Claims.key(conversation);
        let now = self.clock.now();
        let read = match self.blobs.get(&key).await? {
            None => None,
            Some(blob) => {
                // An unreadable lease protects nothing: it is taken over like an expired one.
                if let Ok(lease) = serde_json::from_slice::<Lease>(&blob.bytes) {
                    let honoured =
                        self.sharing == Sharing::Shared || lease.owner == self.owner.as_str();
                    if honoured && lease.expires_at > now {
                        return Ok(None);
                    }
                }
                Some(blob.version)
            }
        };
        let expires_at = now + self.lease;
        match self.write(&key, expires_at, read.as_ref()).await {
            Ok(version) => Ok(Some(Claim {
                key,
                expires_at,
                version,
            })),
            Err(BlobStoreError::ConditionFailed) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Extends `claim` by a lease from now.
    ///
    /// # Errors
    /// [`BlobStoreError::ConditionFailed`] when another instance took the claim over;
    /// [`BlobStoreError::Storage`] when the lease cannot be written.
    pub(super) async fn renew(&self, claim: &mut Claim) -> Result<(), BlobStoreError> {
        let expires_at = self.clock.now() + self.lease;
        claim.version = self
            .write(&claim.key, expires_at, Some(&claim.version))
            .await?;
        claim.expires_at = expires_at;
        Ok(())
    }

    /// Renews `claim` every third of the lease, for as long as it is held; returns when it was
    /// lost (taken over, or not renewable before it expired).
    pub(super) async fn keep(&self, claim: &mut Claim) {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            match self.renew(claim).await {
                Ok(()) => {}
                Err(BlobStoreError::ConditionFailed) => {
                    tracing::warn!(claim = %claim.key, "another instance took the claim over");
                    return;
                }
                Err(error) if self.clock.now() >= claim.expires_at => {
                    tracing::warn!(claim = %claim.key, "the claim expired unrenewed: {error}");
                    return;
                }
                Err(error) => {
                    tracing::warn!(claim = %claim.key, "the claim could not be renewed yet: {error}");
                }
            }
        }
    }

    /// Lets others claim the conversation at once. A claim another instance took over meanwhile
    /// stays theirs; a release that cannot be written only delays others until expiry.
    pub(super) async fn release(&self, claim: Claim) {
        let now = self.clock.now();
        match self.write(&claim.key, now, Some(&claim.version)).await {
            Ok(_) | Err(BlobStoreError::ConditionFailed) => {}
            Err(error) => {
                tracing::warn!(claim = %claim.key, "the claim could not be released, it expires: {error}");
            }
        }
    }

    async fn write(
        &self,
        key: &BlobKey,
        expires_at: DateTime<Utc>,
        read: Option<&BlobVersion>,
    ) -> Result<BlobVersion, BlobStoreError> {
        let lease = Lease {
            owner: self.owner.to_string(),
            expires_at,
        };
        records::write_if_unchanged(&*self.blobs, key, &lease, read).await
    }
}

#[cfg(test)]
mod tests;
