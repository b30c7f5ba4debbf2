use std::collections::BTreeMap;
use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::TimeZone;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, MemoryStore,
    MemoryStoreError, PutCondition,
};
use crate::core::recall::RecallQuery;
use crate::core::use_cases::ingest_call::{
    transcription_key, IngestCall, IngestOutcome, IngestionCounts, IngestionRecord, RetryPolicy,
};
use crate::core::use_cases::test_support::RecordingTelemetry;
use crate::core::{
    AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, ProfileCard, SearchLimit,
};
use crate::inbound::elevenlabs::parse_transcription;
use crate::test_doubles::{InMemoryBlobStore, ManualClock};

pub const FIXTURE: &str = include_str!("../../../../../payloads/post_call_transcription.json");
pub const FIXTURE_CONVERSATION: &str = "conv_01jz8q4b7c2d9e3f5g6h8j0k1m";
pub const MARIA: &str = "+14155550123";
pub const AGENT_NUMBER: &str = "+14155550199";
/// The memories the fixture produces: two facts, the summary and three exchanges (the goodbye is
/// filler).
pub const FIXTURE_MEMORIES: usize = 6;

pub fn conversation(id: &str) -> ConversationId {
    ConversationId::parse(id).unwrap()
}

/// The documented transcription, as another conversation with another caller number.
pub fn transcription(conversation: &str, external_number: Option<&str>) -> Value {
    let mut body: Value = serde_json::from_str(FIXTURE).unwrap();
    body["data"]["conversation_id"] = json!(conversation);
    body["data"]["metadata"]["phone_call"]["external_number"] = json!(external_number);
    body["data"]["conversation_initiation_client_data"]["dynamic_variables"]["system__caller_id"] =
        json!(external_number);
    body
}

/// A memory store that answers as scripted and, unlike real stores, never recognises a repeated
/// memory: every duplicate the use case sends is kept, so tests can see it.
#[derive(Default)]
pub struct ScriptedStore {
    pub added: Mutex<Vec<NewMemory>>,
    /// How many of the next adds answer "unavailable".
    pub unavailable_for: AtomicUsize,
    /// Once this many memories are stored, every add answers "unavailable".
    pub unavailable_after: Option<usize>,
    /// Once this many memories are stored, adds never answer (the process is about to die).
    pub hangs_after: Option<usize>,
    pub rejects_key: Option<&'static str>,
    pub declines_key: Option<&'static str>,
}

impl ScriptedStore {
    pub fn healthy() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A store holding the same memories that now accepts everything, as after a fix.
    pub fn healthy_copy(&self) -> Arc<Self> {
        let added = self.added.lock().unwrap().clone();
        Arc::new(Self {
            added: Mutex::new(added),
            ..Self::default()
        })
    }

    /// `conversation/key` of every memory stored, in order.
    pub fn keys(&self) -> Vec<String> {
        let added = self.added.lock().unwrap();
        added
            .iter()
            .map(|memory| format!("{}/{}", memory.conversation_id, memory.key))
            .collect()
    }

    pub fn assert_no_duplicates(&self) {
        let mut keys = self.keys();
        let total = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), total, "duplicate memories were added");
    }

    fn stored(&self) -> usize {
        self.added.lock().unwrap().len()
    }
}

#[async_trait]
impl MemoryStore for ScriptedStore {
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        let unavailable = self
            .unavailable_for
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if unavailable || self.unavailable_after.is_some_and(|n| self.stored() >= n) {
            return Err(MemoryStoreError::Unavailable("connection refused".into()));
        }
        if self.hangs_after.is_some_and(|n| self.stored() >= n) {
            pending::<()>().await;
        }
        if self.rejects_key == Some(memory.key.as_str()) {
            return Err(MemoryStoreError::Rejected("422 content too long".into()));
        }
        if self.declines_key == Some(memory.key.as_str()) {
            let reason = "deduplicated with another caller's memory".to_owned();
            return Ok(AddOutcome::NotStored { reason });
        }
        let mut added = self.added.lock().unwrap();
        let again = added.iter().any(|stored| {
            stored.caller == memory.caller
                && stored.conversation_id == memory.conversation_id
                && stored.key == memory.key
        });
        if again {
            // As every store does (the conformance suite checks it): a repeat is recognised.
            return Ok(AddOutcome::AlreadyStored);
        }
        added.push(memory.clone());
        Ok(AddOutcome::Stored)
    }

    async fn search(
        &self,
        _: &CallerId,
        _: &RecallQuery,
        _: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        Ok(Vec::new())
    }

    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        let mut added = self.added.lock().unwrap();
        let before = added.len();
        added.retain(|memory| {
            !(&memory.caller == caller
                && &memory.conversation_id == conversation
                && keys.contains(&memory.key))
        });
        Ok(before - added.len())
    }

    async fn check(&self) -> Result<(), MemoryStoreError> {
        Ok(())
    }
}

/// The in-memory blob store, yielding to other tasks before each call so that concurrent
/// ingests really interleave between reading and writing a card.
#[derive(Default)]
pub struct YieldingBlobStore(pub InMemoryBlobStore);

#[async_trait]
impl BlobStore for YieldingBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        tokio::task::yield_now().await;
        self.0.put(key, bytes, condition).await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.0.put_stream(key, stream).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        self.0.list(prefix).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        self.0.delete(key).await
    }

    async fn check(&self) -> Result<(), BlobStoreError> {
        Ok(())
    }
}

/// One service instance: the use case over a blob store that outlives it.
pub struct Harness {
    pub blobs: Arc<YieldingBlobStore>,
    pub store: Arc<ScriptedStore>,
    pub ingest: Arc<IngestCall>,
    pub clock: Arc<ManualClock>,
    pub telemetry: Arc<RecordingTelemetry>,
}

impl Harness {
    pub fn new(store: Arc<ScriptedStore>) -> Self {
        Self::over(Arc::default(), store)
    }

    /// Waits an hour between attempts while the memory store is unavailable.
    pub fn patient(store: Arc<ScriptedStore>) -> Self {
        let mut harness = Self::new(store);
        let ingest = Arc::into_inner(harness.ingest).expect("not shared yet");
        harness.ingest = Arc::new(ingest.with_retry_policy(RetryPolicy {
            first_delay: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
        }));
        harness
    }

    /// A fresh instance over the same blob store, as after a restart.
    pub fn restarted(&self, store: Arc<ScriptedStore>) -> Self {
        Self::over(self.blobs.clone(), store)
    }

    fn over(blobs: Arc<YieldingBlobStore>, store: Arc<ScriptedStore>) -> Self {
        let clock = Arc::new(ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 1, 16, 9, 0, 0).unwrap(),
        ));
        let telemetry = Arc::new(RecordingTelemetry::default());
        let name_fields = ["first_name", "name", "user_name", "caller_name"].map(String::from);
        let ingest = IngestCall::new(
            store.clone(),
            blobs.clone(),
            clock.clone(),
            parse_transcription,
            name_fields.to_vec(),
        )
        .with_retry_policy(RetryPolicy {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        })
        .with_telemetry(telemetry.clone());
        Self {
            blobs,
            store,
            ingest: Arc::new(ingest),
            clock,
            telemetry,
        }
    }

    /// Archives a transcription as the post-call webhook does, and schedules it.
    pub async fn deliver(&self, body: &Value) -> ConversationId {
        let id = conversation(body["data"]["conversation_id"].as_str().unwrap());
        self.archive(&id, body.to_string().into_bytes()).await;
        self.ingest.schedule(&id).await.unwrap();
        id
    }

    pub async fn archive(&self, id: &ConversationId, bytes: Vec<u8>) {
        let key = transcription_key(id);
        let bytes = Bytes::from(bytes);
        self.blobs
            .put(&key, bytes, PutCondition::Overwrite)
            .await
            .unwrap();
    }

    pub async fn ingest_now(&self, id: &ConversationId) -> IngestOutcome {
        self.ingest
            .ingest(id, &CancellationToken::new())
            .await
            .unwrap()
    }

    /// Runs the worker until nothing is pending, then shuts it down.
    pub async fn run_worker_until_idle(&self) {
        let shutdown = CancellationToken::new();
        let worker = tokio::spawn({
            let (ingest, shutdown) = (self.ingest.clone(), shutdown.clone());
            async move { ingest.run(shutdown).await }
        });
        for _ in 0..2000 {
            if self.counts().await.pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
        worker.await.unwrap();
        assert_eq!(
            self.counts().await.pending,
            0,
            "the worker left work pending"
        );
    }

    pub async fn counts(&self) -> IngestionCounts {
        self.ingest.counts().await.unwrap()
    }

    pub async fn record(&self, id: &ConversationId) -> IngestionRecord {
        self.ingest.record(id).await.unwrap().unwrap()
    }

    pub async fn card(&self, number: &str) -> Option<ProfileCard> {
        let key = ProfileCard::storage_key(&CallerId::parse(number).unwrap());
        let blob = self.blobs.get(&key).await.unwrap()?;
        Some(serde_json::from_slice(&blob.bytes).unwrap())
    }

    /// Every stored object and its bytes, to prove that something changed nothing.
    pub async fn snapshot(&self) -> BTreeMap<String, Bytes> {
        let mut objects = BTreeMap::new();
        for key in self.blobs.list("").await.unwrap() {
            let blob = self.blobs.get(&key).await.unwrap().unwrap();
            objects.insert(key.to_string(), blob.bytes);
        }
        objects
    }
}
