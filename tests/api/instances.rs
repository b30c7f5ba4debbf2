//! Several instances in one process sharing one blob store (the disk adapter) and one clock that
//! stands still unless told: claims keep a call learnt once, and an instance that dies mid-call
//! has its work taken over once its claim expires.

use std::collections::BTreeMap;
use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use caller_memory::core::ports::{BlobStore, MemoryStore, MemoryStoreError, PutCondition};
use caller_memory::core::recall::RecallQuery;
use caller_memory::core::use_cases::ingest_call::{
    transcription_key, IngestCall, ReplayTarget, RetryPolicy, Sharing,
};
use caller_memory::core::{
    AddOutcome, CallerId, ConversationId, InstanceId, MemoryHit, NewMemory, ProfileCard,
    SearchLimit,
};
use caller_memory::inbound::elevenlabs::parse_transcription;
use caller_memory::outbound::cached_blob_store::CachedBlobStore;
use caller_memory::outbound::disk_blob_store::DiskBlobStore;
use caller_memory::test_doubles::{InMemoryMemoryStore, ManualClock};
use chrono::TimeZone;
use tokio_util::sync::CancellationToken;

use crate::calls::Call;

const LEASE: Duration = Duration::from_secs(30);
const DEADLINE: Duration = Duration::from_secs(10);

/// A memory store that counts every add it is sent, by conversation and key, and can stop
/// answering adds (the instance using it is about to die).
#[derive(Default)]
struct CountingStore {
    inner: InMemoryMemoryStore,
    adds: Mutex<BTreeMap<String, usize>>,
    hangs: bool,
}

impl CountingStore {
    fn adds(&self) -> BTreeMap<String, usize> {
        self.adds.lock().unwrap().clone()
    }
}

#[async_trait]
impl MemoryStore for CountingStore {
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        if self.hangs {
            pending::<()>().await;
        }
        let key = format!("{}/{}", memory.conversation_id, memory.key);
        *self.adds.lock().unwrap().entry(key).or_default() += 1;
        self.inner.add(memory).await
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        self.inner.search(caller, query, limit).await
    }

    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        self.inner.forget(caller, conversation, keys).await
    }

    async fn check(&self) -> Result<(), MemoryStoreError> {
        Ok(())
    }
}

/// What the instances share: the payload folder's store and the clock.
struct Shared {
    _folder: tempfile::TempDir,
    disk: Arc<DiskBlobStore>,
    clock: Arc<ManualClock>,
}

impl Shared {
    fn new() -> Self {
        let folder = tempfile::tempdir().unwrap();
        let start = chrono::Utc.with_ymd_and_hms(2026, 1, 16, 9, 0, 0).unwrap();
        Self {
            disk: Arc::new(DiskBlobStore::new(folder.path())),
            _folder: folder,
            clock: Arc::new(ManualClock::new(start)),
        }
    }

    /// One instance: its own cache in front of the shared store, and its own claims.
    fn instance(&self, memories: Arc<CountingStore>) -> Arc<IngestCall> {
        let blobs = self.cache();
        let ingest = IngestCall::new(
            memories,
            Arc::new(blobs),
            self.clock.clone(),
            parse_transcription,
            vec!["first_name".to_owned()],
        )
        .with_claims(InstanceId::generate(), LEASE, Sharing::Shared)
        .with_pending_scan(Duration::from_millis(50))
        .with_retry_policy(RetryPolicy {
            first_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        });
        Arc::new(ingest)
    }

    /// A cache of profile cards in front of the shared store, as each instance has.
    fn cache(&self) -> CachedBlobStore {
        CachedBlobStore::new(self.disk.clone(), 100)
            .caching_only_under(ProfileCard::STORAGE_PREFIX)
            .with_max_staleness(Duration::from_secs(1), self.clock.clone())
    }

    /// Archives `call` as a delivery does; `instance` is told about it.
    async fn deliver(&self, call: &Call, instance: &IngestCall) -> ConversationId {
        let conversation = ConversationId::parse(call.conversation).unwrap();
        let bytes = Bytes::from(call.transcription().to_string());
        self.disk
            .put(
                &transcription_key(&conversation),
                bytes,
                PutCondition::Overwrite,
            )
            .await
            .unwrap();
        instance.schedule(&conversation).await.unwrap();
        conversation
    }

    async fn card(&self, call: &Call) -> Option<ProfileCard> {
        let key = ProfileCard::storage_key(&CallerId::parse(call.number).unwrap());
        let blob = self.disk.get(&key).await.unwrap()?;
        Some(ProfileCard::decode(&blob.bytes).unwrap())
    }

    fn pass(&self, time: Duration) {
        self.clock
            .advance(chrono::Duration::from_std(time).unwrap());
    }
}

/// Runs `instance`'s worker until stopped.
fn start_worker(
    instance: &Arc<IngestCall>,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (instance, stop) = (instance.clone(), stop.clone());
    tokio::spawn(async move { instance.run(stop).await })
}

async fn wait_until_nothing_pending(instance: &IngestCall) {
    let deadline = Instant::now() + DEADLINE;
    while instance.counts().await.unwrap().pending > 0 {
        assert!(Instant::now() < deadline, "the call was never learnt");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_each_memory_added_once(adds: &BTreeMap<String, usize>, call: &Call) {
    assert_eq!(adds.len(), call.expected_memories().len(), "{adds:?}");
    assert!(adds.values().all(|&count| count == 1), "{adds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_told_about_one_call_learn_it_once() {
    for _ in 0..5 {
        let shared = Shared::new();
        let memories = Arc::new(CountingStore::default());
        let (first, second) = (
            shared.instance(memories.clone()),
            shared.instance(memories.clone()),
        );
        let stop = CancellationToken::new();
        let workers = [start_worker(&first, &stop), start_worker(&second, &stop)];

        // ElevenLabs delivers the call to one instance and retries it to the other.
        let maria = Call::maria();
        shared.deliver(&maria, &first).await;
        shared.deliver(&maria, &second).await;
        wait_until_nothing_pending(&first).await;
        stop.cancel();
        for worker in workers {
            worker.await.unwrap();
        }

        assert_eq!(shared.card(&maria).await.unwrap().call_count, 1);
        assert_each_memory_added_once(&memories.adds(), &maria);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_beside_running_servers_learns_nothing_twice() {
    let shared = Shared::new();
    let memories = Arc::new(CountingStore::default());
    let server = shared.instance(memories.clone());
    let stop = CancellationToken::new();
    let worker = start_worker(&server, &stop);
    let maria = Call::maria();
    let conversation = shared.deliver(&maria, &server).await;

    let replay = shared.instance(memories.clone());
    let report = replay
        .replay(
            ReplayTarget::Conversation(conversation),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    wait_until_nothing_pending(&server).await;
    stop.cancel();
    worker.await.unwrap();

    assert_eq!(report.ingested, 1);
    assert_eq!(shared.card(&maria).await.unwrap().call_count, 1);
    assert_each_memory_added_once(&memories.adds(), &maria);
}

#[tokio::test]
async fn the_call_of_an_instance_that_died_mid_way_is_taken_over_once_its_claim_expires() {
    let shared = Shared::new();
    let dying = shared.instance(Arc::new(CountingStore {
        hangs: true,
        ..CountingStore::default()
    }));
    let maria = Call::maria();
    let conversation = shared.deliver(&maria, &dying).await;
    let stop_dying = CancellationToken::new();
    let doomed = start_worker(&dying, &stop_dying);
    // It dies once the card is counted, while its first memory is on its way.
    let deadline = Instant::now() + DEADLINE;
    while !dying
        .record(&conversation)
        .await
        .unwrap()
        .is_some_and(|record| record.card_updated)
    {
        assert!(
            Instant::now() < deadline,
            "the dying instance never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.abort();

    let memories = Arc::new(CountingStore::default());
    let survivor = shared.instance(memories.clone());
    let stop = CancellationToken::new();
    let worker = start_worker(&survivor, &stop);
    shared.pass(LEASE + Duration::from_secs(1));
    wait_until_nothing_pending(&survivor).await;
    stop.cancel();
    worker.await.unwrap();

    assert_eq!(shared.card(&maria).await.unwrap().call_count, 1);
    assert_each_memory_added_once(&memories.adds(), &maria);
}

#[tokio::test]
async fn an_instance_greets_with_what_another_learnt_once_its_cache_entry_is_stale() {
    let shared = Shared::new();
    let reader = shared.cache();
    let maria = Call::maria();
    let card_key = ProfileCard::storage_key(&CallerId::parse(maria.number).unwrap());
    assert!(
        reader.get(&card_key).await.unwrap().is_none(),
        "a new caller"
    );

    let learner = shared.instance(Arc::new(CountingStore::default()));
    shared.deliver(&maria, &learner).await;
    learner
        .ingest(
            &ConversationId::parse(maria.conversation).unwrap(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    shared.pass(Duration::from_secs(1));

    let card = reader.get(&card_key).await.unwrap().expect("the new card");
    assert_eq!(ProfileCard::decode(&card.bytes).unwrap().call_count, 1);
}
