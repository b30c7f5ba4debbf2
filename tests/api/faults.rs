//! Faults the service survives: a memory store that is down, slow or failing while callers are
//! greeted and searched, and storage that fails while a call is archived.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caller_memory::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, PutCondition,
};
use futures_util::StreamExt;

mod greeting_and_search;
mod storage;

/// A request that takes longer than this failed: the greeting deadline (1.5 s) and the search
/// timeout (3 s) of the test app are well under it, the slow stores well over it.
const CLIENT_PATIENCE: Duration = Duration::from_secs(15);
/// How long a slow store takes to answer.
const STORE_DELAY: Duration = Duration::from_secs(120);

/// A blob store around a real one, with faults switched on: reads that hang for
/// [`STORE_DELAY`] (a disk or network share that stalls), or writes that fail partway through
/// as on a full disk (tests run as root, so permissions cannot make a folder unwritable, and a
/// small filesystem cannot be mounted without privileges).
struct FaultyBlobStore {
    inner: Arc<dyn BlobStore>,
    slow_reads: bool,
    full: AtomicBool,
}

impl FaultyBlobStore {
    fn with_slow_reads(inner: Arc<dyn BlobStore>) -> Self {
        Self {
            inner,
            slow_reads: true,
            full: AtomicBool::new(false),
        }
    }

    fn full(inner: Arc<dyn BlobStore>) -> Self {
        Self {
            inner,
            slow_reads: false,
            full: AtomicBool::new(true),
        }
    }

    fn free_space(&self) {
        self.full.store(false, Ordering::SeqCst);
    }

    fn refuse_when_full(&self) -> Result<(), BlobStoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(BlobStoreError::storage(
                "no space left on device (os error 28)",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FaultyBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: bytes::Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.refuse_when_full()?;
        self.inner.put(key, bytes, condition).await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        mut stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        if self.full.load(Ordering::SeqCst) {
            // The disk fills up once part of the object is written.
            let _ = stream.next().await;
            self.refuse_when_full()?;
        }
        self.inner.put_stream(key, stream).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        if self.slow_reads {
            tokio::time::sleep(STORE_DELAY).await;
        }
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        self.refuse_when_full()?;
        self.inner.delete(key).await
    }

    async fn check(&self) -> Result<(), BlobStoreError> {
        self.refuse_when_full()?;
        self.inner.check().await
    }
}
