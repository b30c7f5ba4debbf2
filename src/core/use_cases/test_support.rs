//! Shared set-up for the use-case unit tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core::ports::{
    BlobStore, BlobVersion, CallerMemo, CallerMemos, GreetingFallback, IngestionResolution,
    IngestionRetry, MemoryStore, PutCondition, Telemetry,
};
use crate::core::use_cases::caller_privacy::{CallerHasher, CallerIndex, EraseCaller};
use crate::core::{CallerId, ProfileCard};
use crate::test_doubles::{InMemoryBlobStore, ManualClock};

pub fn maria() -> CallerId {
    CallerId::parse("+14155550123").unwrap()
}

pub fn juan() -> CallerId {
    CallerId::parse("+34911234567").unwrap()
}

pub fn version(text: &str) -> BlobVersion {
    BlobVersion(text.to_owned())
}

/// A blob store holding `card` as `caller`'s profile card.
pub async fn store_with_card(caller: &CallerId, card: &ProfileCard) -> Arc<InMemoryBlobStore> {
    let store = Arc::new(InMemoryBlobStore::new());
    let json = serde_json::to_vec(card).unwrap();
    store
        .put(
            &ProfileCard::storage_key(caller),
            json.into(),
            PutCondition::Overwrite,
        )
        .await
        .unwrap();
    store
}

/// The erasure of callers from these stores, which tells `memo` to forget them.
pub fn erasure(
    memories: Arc<dyn MemoryStore>,
    blobs: Arc<dyn BlobStore>,
    memo: Arc<dyn CallerMemo>,
) -> EraseCaller {
    EraseCaller::new(
        memories,
        blobs,
        Arc::new(ManualClock::new(chrono::Utc::now())),
        CallerIndex::new(CallerHasher::with_key(b"a test key of enough bytes")),
    )
    .with_memos(CallerMemos::new(vec![memo]))
}

/// One event a use case reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    GreetingFallback(GreetingFallback),
    IngestionStarted,
    IngestionStopped,
    IngestionResolved(IngestionResolution, Option<Duration>),
    IngestionRetry(IngestionRetry),
    MemoryNotStored,
}

/// Telemetry that keeps every event, in order.
#[derive(Default)]
pub struct RecordingTelemetry(Mutex<Vec<Reported>>);

impl RecordingTelemetry {
    pub fn events(&self) -> Vec<Reported> {
        self.0.lock().unwrap().clone()
    }

    fn report(&self, event: Reported) {
        self.0.lock().unwrap().push(event);
    }
}

impl Telemetry for RecordingTelemetry {
    fn greeting_fallback(&self, reason: GreetingFallback) {
        self.report(Reported::GreetingFallback(reason));
    }
    fn ingestion_started(&self) {
        self.report(Reported::IngestionStarted);
    }
    fn ingestion_stopped(&self) {
        self.report(Reported::IngestionStopped);
    }
    fn ingestion_resolved(&self, resolution: IngestionResolution, lag: Option<Duration>) {
        self.report(Reported::IngestionResolved(resolution, lag));
    }
    fn ingestion_retry(&self, cause: IngestionRetry) {
        self.report(Reported::IngestionRetry(cause));
    }
    fn memory_not_stored(&self) {
        self.report(Reported::MemoryNotStored);
    }
}
