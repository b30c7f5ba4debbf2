use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::core::ports::{BlobStore, BlobStoreError, MockBlobStore, MockMemoryStore, PutCondition};
use crate::core::use_cases::ingest_call::{
    IngestCall, IngestError, IngestOutcome, IngestionStatus, ReplayTarget, ScheduleError,
};
use crate::core::{CallerId, ProfileCard};
use crate::inbound::elevenlabs::parse_transcription;
use crate::test_doubles::ManualClock;

#[tokio::test]
async fn memories_wait_for_an_unavailable_store_and_all_land_when_it_is_back() {
    let store = Arc::new(ScriptedStore {
        unavailable_for: 12.into(),
        ..ScriptedStore::default()
    });
    let app = Harness::new(store);

    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.run_worker_until_idle().await;

    assert_eq!(app.store.keys().len(), FIXTURE_MEMORIES);
    app.store.assert_no_duplicates();
    assert_eq!(app.record(&id).await.status, IngestionStatus::Ingested);
}

#[tokio::test]
async fn a_store_seen_healthy_again_ends_the_wait_for_it_at_once() {
    let store = Arc::new(ScriptedStore {
        unavailable_for: 1.into(),
        ..ScriptedStore::default()
    });
    let app = Harness::patient(store);
    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    let learning = tokio::spawn({
        let (ingest, id) = (app.ingest.clone(), id.clone());
        async move { ingest.ingest(&id, &CancellationToken::new()).await }
    });
    while app.store.unavailable_for.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    app.ingest.memory_store_healthy();

    let outcome = tokio::time::timeout(Duration::from_secs(30), learning)
        .await
        .expect("still waiting out an hour of backoff")
        .unwrap()
        .unwrap();
    assert!(matches!(outcome, IngestOutcome::Ingested { .. }));
    assert_eq!(app.store.keys().len(), FIXTURE_MEMORIES);
}

#[tokio::test]
async fn a_rejected_memory_fails_the_call_visibly_until_a_replay_succeeds() {
    let rejecting = Arc::new(ScriptedStore {
        rejects_key: Some("exchange-3"),
        ..ScriptedStore::default()
    });
    let app = Harness::new(rejecting);

    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.run_worker_until_idle().await;

    let counts = app.counts().await;
    assert_eq!((counts.pending, counts.failed), (0, 1));
    let record = app.record(&id).await;
    assert_eq!(record.status, IngestionStatus::Failed);
    assert!(record.rejected["exchange-3"].contains("422"));
    assert_eq!(app.store.keys().len(), FIXTURE_MEMORIES - 1);

    let fixed = app.restarted(app.store.healthy_copy());
    let no_signal = CancellationToken::new();
    let target = ReplayTarget::Conversation(id.clone());
    let replayed = fixed.ingest.replay(target, &no_signal).await;
    assert!(replayed.is_ok());

    assert_eq!(fixed.counts().await.failed, 0);
    assert_eq!(fixed.store.keys().len(), FIXTURE_MEMORIES);
    fixed.store.assert_no_duplicates();
    assert_eq!(fixed.card(MARIA).await.unwrap().call_count, 1);
}

#[tokio::test]
async fn a_memory_the_store_declines_is_recorded_and_the_call_still_counts_as_learnt() {
    let declining = Arc::new(ScriptedStore {
        declines_key: Some("fact-last_name"),
        ..ScriptedStore::default()
    });
    let app = Harness::new(declining);

    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    let outcome = app.ingest_now(&id).await;

    let expected = IngestOutcome::Ingested {
        memories: FIXTURE_MEMORIES - 1,
        not_stored: 1,
    };
    assert_eq!(outcome, expected);
    let record = app.record(&id).await;
    assert!(record.not_stored["fact-last_name"].contains("another caller"));
    let counts = app.counts().await;
    assert_eq!((counts.failed, counts.not_stored), (0, 1));

    let fixed = app.restarted(app.store.healthy_copy());
    let target = ReplayTarget::Conversation(id.clone());
    fixed
        .ingest
        .replay(target, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(fixed.counts().await.not_stored, 0);
}

#[tokio::test]
async fn a_shutdown_leaves_the_unfinished_call_pending_for_the_next_start() {
    let down_after_three = Arc::new(ScriptedStore {
        unavailable_after: Some(3),
        ..ScriptedStore::default()
    });
    let app = Harness::new(down_after_three);
    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    let shutdown = CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stopper.cancel();
    });

    let interrupted = app.ingest.ingest(&id, &shutdown).await;

    assert!(matches!(interrupted, Err(IngestError::Interrupted)));
    assert_eq!(app.counts().await.pending, 1);
    assert_eq!(app.record(&id).await.added.len(), 3);

    let next_start = app.restarted(ScriptedStore::healthy());
    next_start.run_worker_until_idle().await;
    assert_eq!(next_start.store.keys().len(), FIXTURE_MEMORIES - 3);
    assert_eq!(next_start.card(MARIA).await.unwrap().call_count, 1);
}

#[tokio::test]
async fn a_crash_halfway_is_finished_after_restart_without_duplicates() {
    let dies_after_four = Arc::new(ScriptedStore {
        hangs_after: Some(4),
        ..ScriptedStore::default()
    });
    let app = Harness::new(dies_after_four);
    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    let doomed = tokio::spawn({
        let (ingest, id) = (app.ingest.clone(), id.clone());
        async move { ingest.ingest(&id, &CancellationToken::new()).await }
    });
    // Die while the fifth memory is on its way, after the fourth was stored (the call's
    // memories are added together, so none is recorded as added yet).
    while app.store.keys().len() < 4 {
        tokio::task::yield_now().await;
    }
    doomed.abort();
    assert!(doomed.await.unwrap_err().is_cancelled());

    // The new process shares the memory store, which still holds what was added before. The dead
    // process's claim on the call expires first.
    let after_restart = app.restarted(app.store.healthy_copy());
    let too_early = after_restart
        .ingest
        .ingest_if_free(&id, &CancellationToken::new())
        .await;
    assert!(too_early.unwrap().is_none(), "a live claim was ignored");
    after_restart.clock.advance(chrono::Duration::seconds(31));
    after_restart.run_worker_until_idle().await;

    assert_eq!(after_restart.store.keys().len(), FIXTURE_MEMORIES);
    after_restart.store.assert_no_duplicates();
    assert_eq!(after_restart.card(MARIA).await.unwrap().call_count, 1);
}

#[tokio::test]
async fn an_unreadable_or_missing_transcription_fails_visibly_and_stays_archived() {
    let app = Harness::new(ScriptedStore::healthy());
    let garbled = conversation("conv_garbled");
    app.archive(&garbled, b"{\"data\": ".to_vec()).await;
    app.ingest.schedule(&garbled).await.unwrap();
    app.ingest
        .schedule(&conversation("conv_lost"))
        .await
        .unwrap();

    app.run_worker_until_idle().await;

    assert_eq!(app.counts().await.failed, 2);
    let record = app.record(&garbled).await;
    assert!(record.reason.unwrap().contains("unreadable transcription"));
    assert!(app
        .snapshot()
        .await
        .contains_key("conv_garbled/conv_garbled_transcription.json"));
}

#[tokio::test]
async fn scheduling_fails_when_the_pending_marker_cannot_be_stored() {
    let mut blobs = MockBlobStore::new();
    blobs
        .expect_put()
        .returning(|_, _, _| Err(BlobStoreError::Storage("disk full".into())));
    let ingest = IngestCall::new(
        Arc::new(MockMemoryStore::new()),
        Arc::new(blobs),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        parse_transcription,
        Vec::new(),
    );

    let scheduled = ingest.schedule(&conversation("conv_1")).await;

    assert!(matches!(scheduled, Err(ScheduleError::Storage(_))));
}

#[tokio::test]
async fn a_damaged_profile_card_is_never_overwritten_and_the_call_fails_visibly() {
    let app = Harness::new(ScriptedStore::healthy());
    let caller = CallerId::parse(MARIA).unwrap();
    let card_key = ProfileCard::storage_key(&caller);
    let damaged = Bytes::from_static(b"{\"name\": \"Mar");
    app.blobs
        .put(&card_key, damaged.clone(), PutCondition::Overwrite)
        .await
        .unwrap();

    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    let outcome = app.ingest_now(&id).await;

    assert!(
        matches!(outcome, IngestOutcome::Failed { reason } if reason.contains("not valid JSON"))
    );
    assert_eq!(app.counts().await.failed, 1);
    assert_eq!(
        app.blobs.get(&card_key).await.unwrap().unwrap().bytes,
        damaged
    );
}
