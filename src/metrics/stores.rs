//! Decorators that time every call of the memory store and of the payload storage, count their
//! errors by kind, and keep each store's up or down as its last probe (`check`) saw it.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use prometheus::{Histogram, HistogramVec, IntCounterVec, IntGauge};

use super::Metrics;
use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, MemoryStore,
    MemoryStoreError, PutCondition,
};
use crate::core::recall::RecallQuery;
use crate::core::{AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, SearchLimit};

/// One store's instruments.
struct StoreInstruments {
    duration: HistogramVec,
    errors: IntCounterVec,
    up: IntGauge,
}

impl StoreInstruments {
    /// Runs `call`, timing it as `name` and counting its error by `kind_of`.
    async fn measure<T, E>(
        &self,
        timer: &Histogram,
        name: &str,
        call: impl Future<Output = Result<T, E>>,
        kind_of: impl Fn(&E) -> Option<&'static str>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        timer.observe(started.elapsed().as_secs_f64());
        if let Some(kind) = result.as_ref().err().and_then(kind_of) {
            self.errors.with_label_values(&[name, kind]).inc();
        }
        result
    }

    fn probed<T, E>(&self, result: &Result<T, E>) {
        self.up.set(i64::from(result.is_ok()));
    }

    fn timer(&self, name: &str) -> Histogram {
        self.duration.with_label_values(&[name])
    }
}

fn memory_error_kind(error: &MemoryStoreError) -> Option<&'static str> {
    Some(match error {
        MemoryStoreError::Unavailable(_) => "unavailable",
        MemoryStoreError::Rejected(_) => "rejected",
        MemoryStoreError::Incompatible(_) => "incompatible",
        MemoryStoreError::Unknown(_) => "unknown",
    })
}

/// A lost conditional update and a failing upload source are answers, not store failures.
fn blob_error_kind(error: &BlobStoreError) -> Option<&'static str> {
    match error {
        BlobStoreError::Storage(_) => Some("storage"),
        BlobStoreError::Unknown(_) => Some("unknown"),
        BlobStoreError::ConditionFailed | BlobStoreError::Source(_) => None,
    }
}

/// A memory store whose calls are measured.
pub struct MeasuredMemoryStore {
    inner: Arc<dyn MemoryStore>,
    store: StoreInstruments,
    add: Histogram,
    search: Histogram,
    forget: Histogram,
    check: Histogram,
}

impl MeasuredMemoryStore {
    pub fn new(inner: Arc<dyn MemoryStore>, metrics: &Metrics) -> Self {
        let store = StoreInstruments {
            duration: metrics.instruments.memory_store_duration.clone(),
            errors: metrics.instruments.memory_store_errors.clone(),
            up: metrics.instruments.memory_store_up.clone(),
        };
        Self {
            inner,
            add: store.timer("add"),
            search: store.timer("search"),
            forget: store.timer("forget"),
            check: store.timer("check"),
            store,
        }
    }
}

#[async_trait]
impl MemoryStore for MeasuredMemoryStore {
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        let call = self.inner.add(memory);
        self.store
            .measure(&self.add, "add", call, memory_error_kind)
            .await
    }

    /// Each memory counts as one add taking its share of the batch's time.
    async fn add_many(&self, memories: &[NewMemory]) -> Vec<Result<AddOutcome, MemoryStoreError>> {
        let started = Instant::now();
        let results = self.inner.add_many(memories).await;
        let share = started.elapsed().as_secs_f64() / results.len().max(1) as f64;
        for result in &results {
            self.add.observe(share);
            if let Some(kind) = result.as_ref().err().and_then(memory_error_kind) {
                self.store.errors.with_label_values(&["add", kind]).inc();
            }
        }
        results
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let call = self.inner.search(caller, query, limit);
        self.store
            .measure(&self.search, "search", call, memory_error_kind)
            .await
    }

    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        let call = self.inner.forget(caller, conversation, keys);
        self.store
            .measure(&self.forget, "forget", call, memory_error_kind)
            .await
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        self.inner.memories_of(caller).await
    }

    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        self.inner.delete_conversation(caller, conversation).await
    }

    async fn check(&self) -> Result<(), MemoryStoreError> {
        let call = self.inner.check();
        let result = self
            .store
            .measure(&self.check, "check", call, memory_error_kind)
            .await;
        self.store.probed(&result);
        result
    }
}

/// A blob store whose calls are measured.
pub struct MeasuredBlobStore {
    inner: Arc<dyn BlobStore>,
    store: StoreInstruments,
    put: Histogram,
    put_stream: Histogram,
    get: Histogram,
    list: Histogram,
    delete: Histogram,
    check: Histogram,
}

impl MeasuredBlobStore {
    pub fn new(inner: Arc<dyn BlobStore>, metrics: &Metrics) -> Self {
        let store = StoreInstruments {
            duration: metrics.instruments.blob_store_duration.clone(),
            errors: metrics.instruments.blob_store_errors.clone(),
            up: metrics.instruments.blob_store_up.clone(),
        };
        Self {
            inner,
            put: store.timer("put"),
            put_stream: store.timer("put_stream"),
            get: store.timer("get"),
            list: store.timer("list"),
            delete: store.timer("delete"),
            check: store.timer("check"),
            store,
        }
    }
}

#[async_trait]
impl BlobStore for MeasuredBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        let call = self.inner.put(key, bytes, condition);
        self.store
            .measure(&self.put, "put", call, blob_error_kind)
            .await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        let call = self.inner.put_stream(key, stream);
        self.store
            .measure(&self.put_stream, "put_stream", call, blob_error_kind)
            .await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        let call = self.inner.get(key);
        self.store
            .measure(&self.get, "get", call, blob_error_kind)
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        let call = self.inner.list(prefix);
        self.store
            .measure(&self.list, "list", call, blob_error_kind)
            .await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        let call = self.inner.delete(key);
        self.store
            .measure(&self.delete, "delete", call, blob_error_kind)
            .await
    }

    async fn check(&self) -> Result<(), BlobStoreError> {
        let call = self.inner.check();
        let result = self
            .store
            .measure(&self.check, "check", call, blob_error_kind)
            .await;
        self.store.probed(&result);
        result
    }
}
