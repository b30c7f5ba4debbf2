//! Retention sweeps over a real archive folder and the embedded store, with a clock the test
//! moves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use caller_memory::core::ports::{
    BlobKey, BlobStore, CallerMemo, CallerMemos, Clock, MemoryStore, PutCondition,
};
use caller_memory::core::use_cases::caller_privacy::{CallerHasher, CallerIndex};
use caller_memory::core::use_cases::ingest_call::{transcription_key, IngestCall};
use caller_memory::core::use_cases::retention::{RetentionPolicy, SweepReport, SweepRetention};
use caller_memory::core::use_cases::ArchivedPayload;
use caller_memory::core::{CallerId, ConversationId, ProfileCard};
use caller_memory::inbound::elevenlabs::parse_transcription;
use caller_memory::outbound::disk_blob_store::DiskBlobStore;
use caller_memory::outbound::embedded::EmbeddedMemoryStore;
use caller_memory::test_doubles::ManualClock;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::calls::Call;
use crate::helpers::{json_body, Backend, TestApp};

const MARIA: &str = "+14155550123";
const SAMPLE: &str = include_str!("../../payloads/post_call_transcription.json");

/// The day the first call of each test took place.
fn day_zero() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 15, 0, 0).unwrap()
}

/// An archive folder, an embedded store and a clock, with ingestion and sweeps over them.
struct Stores {
    _folder: tempfile::TempDir,
    archive: PathBuf,
    blobs: Arc<DiskBlobStore>,
    memories: Arc<EmbeddedMemoryStore>,
    clock: Arc<ManualClock>,
    index: CallerIndex,
    ingest: IngestCall,
}

impl Stores {
    async fn new() -> Self {
        let folder = tempfile::tempdir().unwrap();
        let archive = folder.path().join("payloads");
        let blobs = Arc::new(DiskBlobStore::new(&archive));
        let memories = Arc::new(
            EmbeddedMemoryStore::open(folder.path().join("memory.sqlite3"))
                .await
                .unwrap(),
        );
        let clock = Arc::new(ManualClock::new(day_zero()));
        let index = CallerIndex::new(CallerHasher::with_key(b"a retention test key"));
        let ingest = IngestCall::new(
            memories.clone(),
            blobs.clone(),
            clock.clone(),
            parse_transcription,
            vec!["first_name".to_owned()],
        )
        .with_caller_index(index.clone());
        Self {
            _folder: folder,
            archive,
            blobs,
            memories,
            clock,
            index,
            ingest,
        }
    }

    fn sweeper(&self, policy: RetentionPolicy) -> SweepRetention {
        SweepRetention::new(
            self.memories.clone(),
            self.blobs.clone(),
            self.clock.clone(),
            parse_transcription,
            self.index.clone(),
            policy,
        )
    }

    /// Archives one of Maria's calls, started `days` after day zero, with a recording, and
    /// learns from it.
    async fn call(&self, conversation: &str, days: i64) -> ConversationId {
        let id = self.archive_call(conversation, days).await;
        self.ingest
            .ingest(&id, &CancellationToken::new())
            .await
            .unwrap();
        id
    }

    /// Archives the call and its recording without learning from it.
    async fn archive_call(&self, conversation: &str, days: i64) -> ConversationId {
        let id = ConversationId::parse(conversation).unwrap();
        let mut body: Value = serde_json::from_str(SAMPLE).unwrap();
        body["data"]["conversation_id"] = json!(conversation);
        body["data"]["metadata"]["start_time_unix_secs"] =
            json!((day_zero() + Duration::days(days)).timestamp());
        self.put(&transcription_key(&id), body.to_string().into_bytes())
            .await;
        self.put(&ArchivedPayload::Audio.key(&id), b"ID3 recording".to_vec())
            .await;
        id
    }

    async fn put(&self, key: &BlobKey, bytes: Vec<u8>) {
        self.blobs
            .put(key, bytes.into(), PutCondition::Overwrite)
            .await
            .unwrap();
    }

    fn has(&self, payload: ArchivedPayload, conversation: &ConversationId) -> bool {
        file(&self.archive, payload, conversation).exists()
    }

    async fn memories_of(&self, conversation: &ConversationId) -> usize {
        self.memories
            .memories_of(&maria())
            .await
            .unwrap()
            .iter()
            .filter(|memory| memory.conversation_id.as_ref() == Some(conversation))
            .count()
    }

    async fn card(&self) -> ProfileCard {
        let blob = self
            .blobs
            .get(&ProfileCard::storage_key(&maria()))
            .await
            .unwrap()
            .expect("Maria has a profile card");
        ProfileCard::decode(&blob.bytes).unwrap()
    }

    fn now_is_day(&self, day: i64) {
        let now = self.clock.now();
        self.clock.advance(day_zero() + Duration::days(day) - now);
    }
}

fn file(archive: &Path, payload: ArchivedPayload, conversation: &ConversationId) -> PathBuf {
    archive.join(payload.key(conversation).as_str())
}

fn maria() -> CallerId {
    CallerId::parse(MARIA).unwrap()
}

fn policy(audio: Option<u32>, transcripts: Option<u32>, memories: Option<u32>) -> RetentionPolicy {
    RetentionPolicy {
        audio_days: audio,
        transcript_days: transcripts,
        memory_days: memories,
        ..RetentionPolicy::default()
    }
}

#[tokio::test]
async fn each_kind_is_deleted_after_its_own_period_and_the_card_keeps_its_counts() {
    let stores = Stores::new().await;
    let old = stores.call("conv_retention_old", 0).await;
    let recent = stores.call("conv_retention_recent", 40).await;
    let memories_per_call = stores.memories_of(&old).await;
    assert!(memories_per_call > 0);
    stores.now_is_day(45);

    let report = stores
        .sweeper(policy(Some(3), Some(30), Some(30)))
        .sweep()
        .await
        .unwrap();

    assert_eq!(
        (
            report.audio_files,
            report.transcripts,
            report.memories,
            report.unfinished
        ),
        (2, 1, memories_per_call, false),
        "{report:?}"
    );
    assert!(!stores.has(ArchivedPayload::Audio, &old));
    assert!(!stores.has(ArchivedPayload::Audio, &recent));
    assert!(!stores.has(ArchivedPayload::Transcription, &old));
    assert!(stores.has(ArchivedPayload::Transcription, &recent));
    assert_eq!(stores.memories_of(&old).await, 0);
    assert_eq!(stores.memories_of(&recent).await, memories_per_call);
    let card = stores.card().await;
    assert_eq!(card.call_count, 2, "calls stay counted");
    assert_eq!(card.name.as_deref(), Some("Maria"));
    assert_eq!(card.last_call.unwrap().conversation_id, recent.as_str());
}

#[tokio::test]
async fn the_summary_of_a_deleted_call_leaves_the_card_but_the_call_stays_counted() {
    let stores = Stores::new().await;
    let call = stores.call("conv_retention_summary", 0).await;
    assert!(stores.card().await.last_call.unwrap().summary.is_some());
    stores.now_is_day(31);

    let report = stores
        .sweeper(policy(None, Some(30), None))
        .sweep()
        .await
        .unwrap();

    assert_eq!((report.transcripts, report.summaries), (1, 1), "{report:?}");
    let card = stores.card().await;
    assert_eq!(card.call_count, 1);
    let last_call = card.last_call.unwrap();
    assert_eq!(last_call.conversation_id, call.as_str());
    assert_eq!(last_call.summary, None);
    assert!(card
        .last_call_per_agent
        .values()
        .all(|call| call.summary.is_none()));
    assert!(stores.has(ArchivedPayload::Audio, &call), "audio is kept");
    assert!(stores.memories_of(&call).await > 0, "memories are kept");
}

/// The callers a memo was told to forget.
#[derive(Default)]
struct ForgottenCallers(Mutex<Vec<CallerId>>);

impl CallerMemo for ForgottenCallers {
    fn forget(&self, caller: &CallerId) {
        self.0.lock().unwrap().push(caller.clone());
    }
}

#[tokio::test]
async fn a_caller_whose_card_lost_a_summary_is_forgotten_by_the_memos_of_the_process() {
    let stores = Stores::new().await;
    stores.call("conv_retention_memo", 0).await;
    stores.now_is_day(31);
    let memo = Arc::new(ForgottenCallers::default());

    let report = stores
        .sweeper(policy(None, Some(30), None))
        .with_memos(CallerMemos::new(vec![memo.clone()]))
        .sweep()
        .await
        .unwrap();

    assert_eq!(report.summaries, 1, "{report:?}");
    assert_eq!(*memo.0.lock().unwrap(), vec![maria()]);
}

#[tokio::test]
async fn nothing_is_deleted_before_its_period_and_a_second_sweep_finds_nothing() {
    let stores = Stores::new().await;
    let call = stores.call("conv_retention_young", 0).await;
    stores.now_is_day(29);
    let sweeper = stores.sweeper(policy(Some(30), Some(30), Some(30)));

    let first = sweeper.sweep().await.unwrap();
    assert!(!first.removed_anything(), "{first:?}");
    assert!(stores.has(ArchivedPayload::Transcription, &call));
    stores.now_is_day(31);
    let second = sweeper.sweep().await.unwrap();
    let third = sweeper.sweep().await.unwrap();

    assert_eq!((second.audio_files, second.transcripts), (1, 1));
    assert!(second.memories > 0);
    assert_eq!(third, SweepReport::default(), "deletions are done once");
}

#[tokio::test]
async fn a_transcription_still_waiting_to_be_learnt_is_kept() {
    let stores = Stores::new().await;
    let call = stores.archive_call("conv_retention_pending", 0).await;
    stores.ingest.schedule(&call).await.unwrap();
    stores.now_is_day(60);

    let report = stores
        .sweeper(policy(Some(30), Some(30), None))
        .sweep()
        .await
        .unwrap();

    assert_eq!((report.audio_files, report.transcripts), (1, 0));
    assert!(stores.has(ArchivedPayload::Transcription, &call));
}

#[tokio::test]
async fn a_recording_without_a_transcription_counts_from_the_sweep_that_first_sees_it() {
    let stores = Stores::new().await;
    let call = ConversationId::parse("conv_retention_audio_only").unwrap();
    stores
        .put(&ArchivedPayload::Audio.key(&call), b"ID3".to_vec())
        .await;
    stores.now_is_day(100);
    let sweeper = stores.sweeper(policy(Some(7), None, None));

    let first = sweeper.sweep().await.unwrap();
    assert_eq!((first.conversations_dated, first.audio_files), (1, 0));
    stores.now_is_day(108);
    let later = sweeper.sweep().await.unwrap();

    assert_eq!(later.audio_files, 1, "{later:?}");
    assert!(!stores.has(ArchivedPayload::Audio, &call));
}

#[tokio::test]
async fn one_sweep_does_at_most_a_batch_and_the_next_sweeps_go_on() {
    let stores = Stores::new().await;
    let mut calls = Vec::new();
    for n in 0..5 {
        calls.push(stores.call(&format!("conv_retention_batch_{n}"), 0).await);
    }
    stores.now_is_day(60);
    let sweeper = stores.sweeper(RetentionPolicy {
        batch: 2,
        ..policy(None, Some(30), Some(30))
    });

    let mut sweeps = Vec::new();
    loop {
        let report = sweeper.sweep().await.unwrap();
        sweeps.push(report);
        assert!(
            report.conversations_dated + report.transcripts <= 2,
            "one sweep did more than its batch: {report:?}"
        );
        if !report.unfinished || sweeps.len() > 20 {
            break;
        }
    }

    let transcripts: usize = sweeps.iter().map(|report| report.transcripts).sum();
    assert_eq!(transcripts, 5, "{sweeps:?}");
    assert!(sweeps.len() > 1, "{sweeps:?}");
    for call in &calls {
        assert!(!stores.has(ArchivedPayload::Transcription, call));
        assert_eq!(stores.memories_of(call).await, 0);
    }
    assert_eq!(stores.card().await.call_count, 5);
}

#[tokio::test]
async fn two_instances_sweeping_at_once_delete_everything_once_and_fail_nothing() {
    let stores = Stores::new().await;
    let mut calls = Vec::new();
    for n in 0..6 {
        calls.push(stores.call(&format!("conv_retention_twice_{n}"), n).await);
    }
    stores.now_is_day(90);
    let policy = policy(Some(30), Some(30), Some(30));
    let (one, other) = (stores.sweeper(policy), stores.sweeper(policy));

    let (first, second) = tokio::join!(one.sweep(), other.sweep());
    let (first, second) = (first.unwrap(), second.unwrap());

    assert!(first.transcripts + second.transcripts >= 6);
    for call in &calls {
        assert!(!stores.has(ArchivedPayload::Transcription, call));
        assert!(!stores.has(ArchivedPayload::Audio, call));
        assert_eq!(stores.memories_of(call).await, 0);
    }
    let card = stores.card().await;
    assert_eq!(card.call_count, 6);
    assert_eq!(card.last_call.unwrap().summary, None);
}

#[tokio::test]
async fn the_server_sweeps_on_its_own_and_the_administration_api_sweeps_on_demand() {
    const ADMIN_KEY: &str = "test-admin-key-0123456789";
    let app = TestApp::spawn_service(
        &Backend::Embedded,
        &[
            ("ADMIN_API_KEY", ADMIN_KEY),
            ("RETENTION_TRANSCRIPT_DAYS", "30"),
            ("RETENTION_SWEEP_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    // The sample call took place on 2026-01-15, long before the service's clock.
    webhooks.deliver_call(&maria.transcription()).await;
    webhooks.wait_until_learnt().await;
    let conversation = ConversationId::parse(maria.conversation).unwrap();
    let transcription = file(
        &app.archive(),
        ArchivedPayload::Transcription,
        &conversation,
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while transcription.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the periodic sweep never deleted the transcription"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let greeting = webhooks.greet(maria.number).await;
    let variables = &greeting["dynamic_variables"];
    assert_eq!(variables["previous_call_count"], 1, "{greeting}");
    assert_eq!(variables["last_call_summary"], "", "{greeting}");
    assert_eq!(variables["user_name"], maria.first_name, "{greeting}");
    let response = app
        .client
        .post(app.url("/admin/retention/sweep"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report = json_body(response).await;
    assert_eq!(report["transcript_days"], 30, "{report}");
    assert_eq!(report["transcripts"], 0, "{report}");
}
