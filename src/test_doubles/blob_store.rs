use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, PutCondition,
};

/// A blob store held in process memory, with the same atomicity and condition rules as the real
/// ones.
#[derive(Debug, Default)]
pub struct InMemoryBlobStore {
    objects: Mutex<BTreeMap<BlobKey, Blob>>,
    next_version: Mutex<u64>,
    /// How many times each prefix was listed.
    listings: Mutex<BTreeMap<String, usize>>,
}

impl InMemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times the keys under exactly `prefix` were listed.
    pub fn times_listed(&self, prefix: &str) -> usize {
        let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        listings.get(prefix).copied().unwrap_or(0)
    }

    fn next_version(&self) -> BlobVersion {
        let mut next = self.next_version.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        BlobVersion(next.to_string())
    }

    fn store(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: &PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let current = objects.get(key).map(|blob| &blob.version);
        let allowed = match condition {
            PutCondition::Overwrite => true,
            PutCondition::IfAbsent => current.is_none(),
            PutCondition::IfVersion(expected) => current == Some(expected),
        };
        if !allowed {
            return Err(BlobStoreError::ConditionFailed);
        }
        let version = self.next_version();
        objects.insert(
            key.clone(),
            Blob {
                bytes,
                version: version.clone(),
            },
        );
        Ok(version)
    }
}

#[async_trait]
impl BlobStore for InMemoryBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.store(key, bytes, &condition)
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        mut stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        let mut buffer = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            buffer.extend_from_slice(&chunk.map_err(BlobStoreError::Source)?);
        }
        self.store(key, buffer.freeze(), &PutCondition::Overwrite)
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        Ok(self
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        self.listings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(prefix.to_owned())
            .and_modify(|times| *times += 1)
            .or_insert(1);
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        Ok(objects
            .keys()
            .filter(|key| key.as_str().starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        Ok(())
    }

    async fn check(&self) -> Result<(), BlobStoreError> {
        Ok(())
    }
}
