use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::core::ports::BlobStore;
use crate::core::use_cases::ingest_call::{
    transcription_key, IngestOutcome, IngestionStatus, ReplayError, ReplayReport, ReplayTarget,
};
use crate::core::MemoryKind;

#[tokio::test]
async fn a_delivered_call_teaches_the_card_and_every_memory() {
    let app = Harness::new(ScriptedStore::healthy());

    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    assert_eq!(app.counts().await.pending, 1);
    app.run_worker_until_idle().await;

    let card = app.card(MARIA).await.expect("a card for the caller");
    assert_eq!(card.name.as_deref(), Some("Maria"));
    assert_eq!(
        card.facts.get("last_name").map(String::as_str),
        Some("Lopez")
    );
    assert_eq!(card.call_count, 1);
    assert_eq!(
        card.last_call.unwrap().conversation_id,
        FIXTURE_CONVERSATION
    );
    let memories = app.store.added.lock().unwrap().clone();
    assert_eq!(memories.len(), FIXTURE_MEMORIES);
    let kinds = |kind| memories.iter().filter(|m| m.kind == kind).count();
    assert_eq!(
        (
            kinds(MemoryKind::Fact),
            kinds(MemoryKind::CallSummary),
            kinds(MemoryKind::Utterance)
        ),
        (2, 1, 3)
    );
    assert!(memories.iter().all(|m| m.caller.as_e164() == MARIA));
    assert_eq!(app.record(&id).await.status, IngestionStatus::Ingested);
    assert!(app.card(AGENT_NUMBER).await.is_none());
}

#[tokio::test]
async fn the_same_call_delivered_five_times_is_learnt_once() {
    let app = Harness::new(ScriptedStore::healthy());
    let body = serde_json::from_str(FIXTURE).unwrap();

    for _ in 0..5 {
        let id = app.deliver(&body).await;
        app.run_worker_until_idle().await;
        app.ingest_now(&id).await;
    }
    let replayed = app
        .ingest
        .replay(ReplayTarget::All, &CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(replayed.ingested, 1);
    assert_eq!(app.store.keys().len(), FIXTURE_MEMORIES);
    app.store.assert_no_duplicates();
    assert_eq!(app.card(MARIA).await.unwrap().call_count, 1);
}

#[tokio::test]
async fn an_outbound_call_is_remembered_under_the_person_called() {
    let app = Harness::new(ScriptedStore::healthy());
    let mut body = transcription("conv_outbound", Some("+442079460958"));
    body["data"]["metadata"]["phone_call"]["direction"] = json!("outbound");
    // On outbound calls the caller-id variable can hold the number we dialled from.
    body["data"]["conversation_initiation_client_data"]["dynamic_variables"]["system__caller_id"] =
        json!(AGENT_NUMBER);

    app.deliver(&body).await;
    app.run_worker_until_idle().await;

    assert_eq!(app.card("+442079460958").await.unwrap().call_count, 1);
    assert!(app.card(AGENT_NUMBER).await.is_none());
}

#[tokio::test]
async fn a_call_without_a_usable_number_is_kept_but_nothing_is_learnt() {
    let app = Harness::new(ScriptedStore::healthy());
    let mut body = transcription("conv_anonymous", Some("anonymous"));
    body["data"]["user_id"] = json!(AGENT_NUMBER);

    let id = app.deliver(&body).await;
    app.run_worker_until_idle().await;

    assert!(app.store.keys().is_empty());
    assert!(app.card(AGENT_NUMBER).await.is_none());
    let record = app.record(&id).await;
    assert_eq!(record.status, IngestionStatus::Skipped);
    let reason = record.reason.unwrap();
    assert!(reason.contains("agent's own number"), "{reason}");
    assert!(
        !reason.contains("5550199"),
        "the full number leaked: {reason}"
    );
    assert_eq!(
        (app.counts().await.pending, app.counts().await.failed),
        (0, 0)
    );
    let archived = app.blobs.0.list(transcription_key(&id).as_str()).await;
    assert_eq!(
        archived.unwrap().len(),
        1,
        "the transcription must stay archived"
    );
}

#[tokio::test]
async fn replaying_everything_learns_each_archived_call_once() {
    let app = Harness::new(ScriptedStore::healthy());
    for (id, number) in [("conv_a", MARIA), ("conv_b", "+442079460958")] {
        let body = transcription(id, Some(number));
        app.archive(&conversation(id), body.to_string().into_bytes())
            .await;
    }
    let no_signal = CancellationToken::new();

    let first = app
        .ingest
        .replay(ReplayTarget::All, &no_signal)
        .await
        .unwrap();
    let again = app
        .ingest
        .replay(ReplayTarget::All, &no_signal)
        .await
        .unwrap();
    let one = ReplayTarget::Conversation(conversation("conv_a"));
    let single = app.ingest.replay(one, &no_signal).await.unwrap();

    let two_ingested = ReplayReport {
        ingested: 2,
        ..ReplayReport::default()
    };
    assert_eq!((first, again), (two_ingested, two_ingested));
    assert_eq!(single.ingested, 1);
    assert_eq!(app.store.keys().len(), 2 * FIXTURE_MEMORIES);
    app.store.assert_no_duplicates();
    assert_eq!(app.card(MARIA).await.unwrap().call_count, 1);
    assert_eq!(app.counts().await.pending, 0);
}

#[tokio::test]
async fn replaying_a_conversation_that_was_never_archived_says_so() {
    let app = Harness::new(ScriptedStore::healthy());
    let missing = ReplayTarget::Conversation(conversation("conv_unknown"));

    let replayed = app.ingest.replay(missing, &CancellationToken::new()).await;

    assert!(matches!(replayed, Err(ReplayError::NotArchived(_))));
    assert_eq!(app.counts().await.pending, 0);
}

#[tokio::test]
async fn ingesting_a_call_reports_how_many_memories_were_learnt() {
    let app = Harness::new(ScriptedStore::healthy());
    let id = app.deliver(&transcription("conv_c", Some(MARIA))).await;

    let outcome = app.ingest_now(&id).await;

    let expected = IngestOutcome::Ingested {
        memories: FIXTURE_MEMORIES,
        not_stored: 0,
    };
    assert_eq!(outcome, expected);
    assert_eq!(app.counts().await.pending, 0);
}

#[tokio::test]
async fn a_call_scheduled_while_the_worker_waits_is_ingested_at_once() {
    let app = Harness::new(ScriptedStore::healthy());
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn({
        let (ingest, shutdown) = (app.ingest.clone(), shutdown.clone());
        async move { ingest.run(shutdown).await }
    });
    tokio::task::yield_now().await;

    app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    while app.store.keys().len() < FIXTURE_MEMORIES {
        tokio::task::yield_now().await;
    }
    shutdown.cancel();
    worker.await.unwrap();

    assert_eq!(app.counts().await.pending, 0);
    assert_eq!(app.card(MARIA).await.unwrap().call_count, 1);
}
