//! A read cache in front of another blob store, for the small objects read on every call.
//!
//! The greeting reads the caller's profile card at ring time; without a cache every ring costs a
//! file read on the blocking pool. This decorator keeps small objects (and the absence of an
//! object, since most rings are new callers) in memory and forgets a key whenever this process
//! writes or deletes it, so this process always reads its own writes.
//!
//! Other instances sharing the store write too: with [`CachedBlobStore::with_max_staleness`],
//! an entry (the "no such object" entry included) is served for at most that long after it was
//! read, so what another instance learnt is greeted with after that delay at most. A hit costs
//! one look at the clock. A conditional put never relies on a cached version: a put that fails
//! its condition forgets the key, so the retry reads the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, Clock, PutCondition,
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
    /// How long an entry may be served, by which clock; `None` while this process is the only
    /// writer, when entries stay until this process changes them.
    staleness: Option<(chrono::Duration, Arc<dyn Clock>)>,
    /// Only keys under this prefix are cached; `None` caches every key.
    only_under: Option<String>,
}

#[derive(Default)]
struct Cache {
    /// What was read, and when. Looked up at every ring: foldhash hashes a key in a fraction of
    /// the instructions of the standard SipHash, and the cache's size is bounded.
    objects: HashMap<BlobKey, (Option<Blob>, DateTime<Utc>), foldhash::fast::RandomState>,
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
            staleness: None,
            only_under: None,
        }
    }

    /// Caches only the keys under `prefix` (those read on every call); other keys are read from
    /// the store each time, so that state several instances coordinate on is never stale.
    pub fn caching_only_under(mut self, prefix: impl Into<String>) -> Self {
        self.only_under = Some(prefix.into());
        self
    }

    fn is_cached(&self, key: &BlobKey) -> bool {
        self.only_under
            .as_deref()
            .is_none_or(|prefix| key.as_str().starts_with(prefix))
    }

    /// Serves an entry for at most `max_staleness` after it was read (by `clock`), for stores
    /// that other processes write too.
    pub fn with_max_staleness(mut self, max_staleness: Duration, clock: Arc<dyn Clock>) -> Self {
        let max_staleness =
            chrono::Duration::from_std(max_staleness).unwrap_or(chrono::Duration::MAX);
        self.staleness = Some((max_staleness, clock));
        self
    }

    /// When entries read now were read, for [`CachedBlobStore::is_fresh`].
    fn now(&self) -> DateTime<Utc> {
        match &self.staleness {
            Some((_, clock)) => clock.now(),
            None => DateTime::<Utc>::MIN_UTC,
        }
    }

    fn is_fresh(&self, read_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.staleness
            .as_ref()
            .is_none_or(|(max_staleness, _)| now - read_at < *max_staleness)
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

    fn remember(
        &self,
        key: &BlobKey,
        found: &Option<Blob>,
        writes_before_read: u64,
        read_at: DateTime<Utc>,
    ) {
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
        cache.objects.insert(key.clone(), (found.clone(), read_at));
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
        if !self.is_cached(key) {
            return self.inner.get(key).await;
        }
        let now = self.now();
        let writes_before_read = {
            let cache = self.cache();
            let found = cache
                .objects
                .get(key)
                .filter(|(_, read_at)| self.is_fresh(*read_at, now))
                .map(|(found, _)| found);
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
        self.remember(key, &found, writes_before_read, now);
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
