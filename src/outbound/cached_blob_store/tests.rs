use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Notify;

use super::*;
use crate::test_doubles::InMemoryBlobStore;

/// An in-memory store that counts reads and can hold the next read until released.
#[derive(Default)]
struct Observed {
    inner: InMemoryBlobStore,
    reads: AtomicUsize,
    hold_next_read: Mutex<Option<Arc<Notify>>>,
}

#[async_trait]
impl BlobStore for Observed {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.inner.put(key, bytes, condition).await
    }
    async fn put_stream(
        &self,
        key: &BlobKey,
        stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.inner.put_stream(key, stream).await
    }
    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let found = self.inner.get(key).await;
        let hold = self.hold_next_read.lock().unwrap().take();
        if let Some(release) = hold {
            release.notified().await;
        }
        found
    }
    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        self.inner.delete(key).await
    }
    async fn check(&self) -> Result<(), BlobStoreError> {
        self.inner.check().await
    }
}

fn key() -> BlobKey {
    BlobKey::parse(".state/profiles/14155550123.json").unwrap()
}

fn cached(inner: &Arc<Observed>) -> CachedBlobStore {
    CachedBlobStore::new(inner.clone(), 100)
}

async fn content(store: &CachedBlobStore) -> Option<Bytes> {
    store.get(&key()).await.unwrap().map(|blob| blob.bytes)
}

#[tokio::test]
async fn a_small_object_is_read_from_storage_once() {
    let inner = Arc::new(Observed::default());
    let store = cached(&inner);
    inner
        .put(&key(), Bytes::from_static(b"card"), PutCondition::Overwrite)
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(content(&store).await.as_deref(), Some(&b"card"[..]));
    }
    assert_eq!(inner.reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_write_through_the_cache_is_seen_by_the_next_read() {
    let inner = Arc::new(Observed::default());
    let store = cached(&inner);
    assert_eq!(content(&store).await, None);
    store
        .put(&key(), Bytes::from_static(b"first"), PutCondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(content(&store).await.as_deref(), Some(&b"first"[..]));
    store
        .put(
            &key(),
            Bytes::from_static(b"second"),
            PutCondition::Overwrite,
        )
        .await
        .unwrap();
    assert_eq!(content(&store).await.as_deref(), Some(&b"second"[..]));
    store.delete(&key()).await.unwrap();
    assert_eq!(content(&store).await, None);
}

#[tokio::test]
async fn a_read_that_overlaps_a_write_does_not_keep_the_old_content() {
    let inner = Arc::new(Observed::default());
    let store = Arc::new(cached(&inner));
    inner
        .put(&key(), Bytes::from_static(b"old"), PutCondition::Overwrite)
        .await
        .unwrap();
    let release = Arc::new(Notify::new());
    *inner.hold_next_read.lock().unwrap() = Some(release.clone());

    let slow_read = tokio::spawn({
        let store = store.clone();
        async move { content(&store).await }
    });
    while inner.reads.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    store
        .put(&key(), Bytes::from_static(b"new"), PutCondition::Overwrite)
        .await
        .unwrap();
    release.notify_one();
    assert_eq!(slow_read.await.unwrap().as_deref(), Some(&b"old"[..]));

    assert_eq!(content(&store).await.as_deref(), Some(&b"new"[..]));
}

#[tokio::test]
async fn large_objects_are_always_read_from_storage() {
    let inner = Arc::new(Observed::default());
    let store = cached(&inner);
    let large = Bytes::from(vec![b'x'; MAX_CACHED_OBJECT_BYTES + 1]);
    inner
        .put(&key(), large, PutCondition::Overwrite)
        .await
        .unwrap();
    content(&store).await;
    content(&store).await;
    assert_eq!(inner.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_cache_never_holds_more_keys_than_its_capacity() {
    let inner = Arc::new(Observed::default());
    let store = CachedBlobStore::new(inner.clone(), 2);
    for n in 0..5 {
        let key = BlobKey::parse(&format!("k{n}")).unwrap();
        store.get(&key).await.unwrap();
        assert!(store.cache().objects.len() <= 2);
    }
}

/// Another instance's writes reach the shared store without passing through this cache.
mod another_instance_writing {
    use chrono::TimeZone;

    use super::*;
    use crate::test_doubles::ManualClock;

    const STALENESS: Duration = Duration::from_secs(1);

    fn clock() -> Arc<ManualClock> {
        let start = chrono::Utc.with_ymd_and_hms(2026, 1, 16, 9, 0, 0).unwrap();
        Arc::new(ManualClock::new(start))
    }

    fn bounded(inner: &Arc<Observed>, clock: &Arc<ManualClock>) -> CachedBlobStore {
        CachedBlobStore::new(inner.clone(), 100).with_max_staleness(STALENESS, clock.clone())
    }

    #[tokio::test]
    async fn a_remembered_absence_expires_and_the_new_card_is_read() {
        let (inner, clock) = (Arc::new(Observed::default()), clock());
        let store = bounded(&inner, &clock);
        assert_eq!(content(&store).await, None);

        inner
            .put(&key(), Bytes::from_static(b"card"), PutCondition::IfAbsent)
            .await
            .unwrap();
        clock.advance(chrono::Duration::milliseconds(500));
        assert_eq!(content(&store).await, None, "served fresh within the bound");
        clock.advance(chrono::Duration::milliseconds(500));

        assert_eq!(content(&store).await.as_deref(), Some(&b"card"[..]));
    }

    #[tokio::test]
    async fn a_remembered_card_expires_and_the_newer_card_is_read() {
        let (inner, clock) = (Arc::new(Observed::default()), clock());
        let store = bounded(&inner, &clock);
        inner
            .put(&key(), Bytes::from_static(b"old"), PutCondition::Overwrite)
            .await
            .unwrap();
        assert_eq!(content(&store).await.as_deref(), Some(&b"old"[..]));

        inner
            .put(&key(), Bytes::from_static(b"new"), PutCondition::Overwrite)
            .await
            .unwrap();
        clock.advance(chrono::Duration::from_std(STALENESS).unwrap());

        assert_eq!(content(&store).await.as_deref(), Some(&b"new"[..]));
        assert_eq!(inner.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn within_the_bound_reads_stay_in_memory() {
        let (inner, clock) = (Arc::new(Observed::default()), clock());
        let store = bounded(&inner, &clock);
        for _ in 0..5 {
            content(&store).await;
            clock.advance(chrono::Duration::milliseconds(100));
        }
        assert_eq!(inner.reads.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn keys_outside_the_cached_prefix_are_always_read_from_storage() {
    let inner = Arc::new(Observed::default());
    let store = CachedBlobStore::new(inner.clone(), 100).caching_only_under(".state/profiles/");
    let lease = BlobKey::parse(".state/ingestion/claims/conv_1.json").unwrap();
    store.get(&lease).await.unwrap();
    store.get(&lease).await.unwrap();
    content(&store).await;
    content(&store).await;
    assert_eq!(inner.reads.load(Ordering::SeqCst), 3);
}
