//! The progress record of one conversation, changed only with conditional writes.
//!
//! Each change is a function applied to the record as stored. The write succeeds only if nobody
//! stored another version meanwhile; otherwise the record is read again and the change applied
//! to what is stored now, so that two updates racing (two instances, or a replay beside a
//! server) both stay. Nothing is ever overwritten blindly.

use crate::core::ports::{
    BlobKey, BlobStore, BlobStoreError, BlobVersion, ErrorChain, MemoryStoreError,
};
use crate::core::{AddOutcome, ConversationId};

use super::records::{self, Folder, IngestionRecord};

/// How often a change is tried again when the record keeps changing under it.
const MAX_CONDITION_RETRIES: usize = 50;

/// A conversation's progress record as last read or written, with its version.
#[derive(Debug)]
pub(super) struct Progress {
    key: BlobKey,
    record: IngestionRecord,
    /// `None` while nothing is stored.
    version: Option<BlobVersion>,
}

impl Progress {
    /// Reads the record of `conversation`; an empty one when nothing is stored yet.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when it cannot be read or is not a valid record.
    pub(super) async fn load(
        blobs: &dyn BlobStore,
        conversation: &ConversationId,
    ) -> Result<Self, BlobStoreError> {
        let key = Folder::Progress.key(conversation);
        let (record, version) = Self::read(blobs, &key).await?;
        Ok(Self {
            key,
            record,
            version,
        })
    }

    async fn read(
        blobs: &dyn BlobStore,
        key: &BlobKey,
    ) -> Result<(IngestionRecord, Option<BlobVersion>), BlobStoreError> {
        Ok(match records::read_versioned(blobs, key).await? {
            Some((record, version)) => (record, Some(version)),
            None => (IngestionRecord::default(), None),
        })
    }

    pub(super) fn record(&self) -> &IngestionRecord {
        &self.record
    }

    /// Applies `change` to the stored record and stores the result if the record did not change
    /// meanwhile; if it did, applies `change` to the newer record and tries again.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the record cannot be read or written, or kept changing.
    pub(super) async fn update(
        &mut self,
        blobs: &dyn BlobStore,
        change: impl Fn(&mut IngestionRecord),
    ) -> Result<(), BlobStoreError> {
        for _ in 0..MAX_CONDITION_RETRIES {
            let mut next = self.record.clone();
            change(&mut next);
            match records::write_if_unchanged(blobs, &self.key, &next, self.version.as_ref()).await
            {
                Ok(version) => {
                    self.record = next;
                    self.version = Some(version);
                    return Ok(());
                }
                Err(BlobStoreError::ConditionFailed) => {
                    (self.record, self.version) = Self::read(blobs, &self.key).await?;
                    tokio::task::yield_now().await;
                }
                Err(error) => return Err(error),
            }
        }
        Err(BlobStoreError::storage(format!(
            "{} kept changing during {MAX_CONDITION_RETRIES} attempts",
            self.key
        )))
    }
}

/// What the store did with one memory.
pub(super) enum MemoryFate {
    Added,
    NotStored(String),
    Rejected(String),
}

impl MemoryFate {
    /// # Errors
    /// The store's error when it is not about this memory (an incompatible store, an unexpected
    /// failure): that fails the whole conversation, and a replay can try again.
    pub(super) fn of(
        added: Result<AddOutcome, MemoryStoreError>,
    ) -> Result<Self, MemoryStoreError> {
        match added {
            Ok(
                AddOutcome::Stored | AddOutcome::AlreadyStored | AddOutcome::StoredDistinguished,
            ) => Ok(Self::Added),
            Ok(AddOutcome::NotStored { reason }) => Ok(Self::NotStored(reason)),
            Err(MemoryStoreError::Rejected(reason)) => {
                Ok(Self::Rejected(ErrorChain(reason.as_ref()).to_string()))
            }
            Err(error) => Err(error),
        }
    }

    /// Records it in the conversation's progress.
    pub(super) fn note(&self, record: &mut IngestionRecord, key: &str) {
        match self {
            Self::Added => {
                record.added.insert(key.to_owned());
                record.rejected.remove(key);
                record.not_stored.remove(key);
            }
            Self::NotStored(reason) => {
                record.rejected.remove(key);
                record.not_stored.insert(key.to_owned(), reason.clone());
            }
            Self::Rejected(reason) => {
                record.rejected.insert(key.to_owned(), reason.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::use_cases::ingest_call::tests::support::YieldingBlobStore;

    fn conversation() -> ConversationId {
        ConversationId::parse("conv_race").unwrap()
    }

    async fn add_all(blobs: &YieldingBlobStore, progress: &mut Progress, keys: [&str; 3]) {
        for key in keys {
            progress
                .update(blobs, |record| {
                    record.added.insert(key.to_owned());
                })
                .await
                .unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_updating_one_record_at_once_keep_both_updates() {
        for _ in 0..20 {
            let blobs = Arc::new(YieldingBlobStore::default());
            let mut first = Progress::load(&*blobs, &conversation()).await.unwrap();
            let mut second = Progress::load(&*blobs, &conversation()).await.unwrap();

            tokio::join!(
                add_all(&blobs, &mut first, ["a1", "a2", "a3"]),
                add_all(&blobs, &mut second, ["b1", "b2", "b3"])
            );

            let stored = Progress::load(&*blobs, &conversation()).await.unwrap();
            let added: Vec<&str> = stored.record().added.iter().map(String::as_str).collect();
            assert_eq!(
                added,
                ["a1", "a2", "a3", "b1", "b2", "b3"],
                "an update was lost"
            );
        }
    }

    #[tokio::test]
    async fn a_record_changed_by_someone_else_is_updated_not_replaced() {
        let blobs = YieldingBlobStore::default();
        let mut stale = Progress::load(&blobs, &conversation()).await.unwrap();
        let mut other = Progress::load(&blobs, &conversation()).await.unwrap();
        other
            .update(&blobs, |record| record.card_updated = true)
            .await
            .unwrap();

        stale
            .update(&blobs, |record| {
                record.added.insert("m1".to_owned());
            })
            .await
            .unwrap();

        let stored = Progress::load(&blobs, &conversation()).await.unwrap();
        assert!(stored.record().card_updated, "the other update was lost");
        assert!(stored.record().added.contains("m1"));
    }
}
