//! A read cache in front of another blob store, for the small objects read on every call.
//!
//! The greeting reads the caller's profile card at ring time; without a cache every ring costs a
//! file read on the blocking pool. This decorator keeps small objects (and the absence of an
//! object, since most rings are new callers) in memory and forgets a key whenever this process
//! writes or deletes it. It is right only while this process is the store's sole writer, which
//! is how the service runs: one server per payload folder, with `replay` run while it is stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, PutCondition,
};
use crate::metrics::CacheLookups;

/// Objects larger than this are never cached.
const MAX_CACHED_OBJECT_BYTES: usize = 8 * 1024;

/// Wraps a blob store with a bounded read cache of small objects.
pub struct CachedBlobStore {
    inner: Arc<dyn BlobStore>,
    capacity: usize,
    cache: Mutex<Cache>,
    lookups: Option<CacheLookups>,
}

#[derive(Default)]
struct Cache {
    objects: HashMap<BlobKey, Option<Blob>>,
    /// Bumped by every write; a read that started before a write must not fill the cache with
    /// what it read, since that may already be stale.
    writes: u64,
}

impl CachedBlobStore {
    /// Caches at most `capacity` keys (8 KiB each at most).
    pub fn new(inner: Arc<dyn BlobStore>, capacity: usize) -> Self {
        Self {
            inner,
            capacity,
            cache: Mutex::default(),
            lookups: None,
        }
    }

    /// Counts every read as a hit or a miss of the cache.
    pub fn with_lookups(mut self, lookups: CacheLookups) -> Self {
        self.lookups = Some(lookups);
        self
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget(&self, key: &BlobKey) {
        let mut cache = self.cache();
        cache.writes += 1;
        cache.objects.remove(key);
    }

    fn remember(&self, key: &BlobKey, found: &Option<Blob>, writes_before_read: u64) {
        let small = found
            .as_ref()
            .is_none_or(|blob| blob.bytes.len() <= MAX_CACHED_OBJECT_BYTES);
        let mut cache = self.cache();
        if !small || cache.writes != writes_before_read {
            return;
        }
        if cache.objects.len() >= self.capacity {
            // Crude but bounded: a full cache starts over rather than tracking recency.
            cache.objects.clear();
        }
        cache.objects.insert(key.clone(), found.clone());
    }
}

#[async_trait]
impl BlobStore for CachedBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        let result = self.inner.put(key, bytes, condition).await;
        self.forget(key);
        result
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        let result = self.inner.put_stream(key, stream).await;
        self.forget(key);
        result
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        let writes_before_read = {
            let cache = self.cache();
            let found = cache.objects.get(key);
            if let Some(lookups) = &self.lookups {
                match found {
                    Some(_) => lookups.hit.inc(),
                    None => lookups.miss.inc(),
                }
            }
            if let Some(found) = found {
                return Ok(found.clone());
            }
            cache.writes
        };
        let found = self.inner.get(key).await?;
        self.remember(key, &found, writes_before_read);
        Ok(found)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        let result = self.inner.delete(key).await;
        self.forget(key);
        result
    }

    async fn check(&self) -> Result<(), BlobStoreError> {
        self.inner.check().await
    }
}

#[cfg(test)]
mod tests;
