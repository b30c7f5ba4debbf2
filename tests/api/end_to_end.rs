//! A caller's journey: the sample transcription is archived and learnt from, then the caller is
//! recognised at ring time and finds their own words mid-call over HTTP, while a second caller
//! in the same service sees nothing of theirs.
//!
//! The transcription is put in the archive the way the post-call webhook stores it and learnt by
//! the real ingestion use case, on the in-memory stores.

use std::sync::Arc;

use caller_memory::core::ports::{BlobStore, Clock, PutCondition};
use caller_memory::core::use_cases::ingest_call::{transcription_key, IngestCall, IngestOutcome};
use caller_memory::core::ConversationId;
use caller_memory::inbound::elevenlabs::parse_transcription;
use caller_memory::outbound::system_clock::SystemClock;
use caller_memory::test_doubles::{InMemoryBlobStore, InMemoryMemoryStore};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{json_body, TestApp, TestPorts, CLIENT_DATA_KEY, SEARCH_DATA_KEY};
use crate::profiles::{JUAN, MARIA};

const TRANSCRIPTION: &[u8] = include_bytes!("../../payloads/post_call_transcription.json");
const CONVERSATION: &str = "conv_01jz8q4b7c2d9e3f5g6h8j0k1m";

/// Archives the sample transcription and learns from it, as after a real call.
async fn learn_the_sample_call(memories: Arc<InMemoryMemoryStore>, blobs: Arc<InMemoryBlobStore>) {
    let conversation = ConversationId::parse(CONVERSATION).unwrap();
    blobs
        .put(
            &transcription_key(&conversation),
            TRANSCRIPTION.into(),
            PutCondition::Overwrite,
        )
        .await
        .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ingest = IngestCall::new(
        memories,
        blobs,
        clock,
        parse_transcription,
        vec!["first_name".into()],
    );
    let outcome = ingest
        .ingest(&conversation, &CancellationToken::new())
        .await
        .unwrap();
    assert!(
        matches!(outcome, IngestOutcome::Ingested { .. }),
        "{outcome:?}"
    );
}

async fn post(app: &TestApp, path: &str, key: &str, body: serde_json::Value) -> serde_json::Value {
    let response = app.post_json(path, Some(key), &body.to_string()).await;
    assert_eq!(response.status(), 200, "{path}");
    json_body(response).await
}

#[tokio::test]
async fn a_caller_learnt_from_a_transcription_is_greeted_and_finds_their_words_and_no_one_else_does(
) {
    let memories = Arc::new(InMemoryMemoryStore::new());
    let blobs = Arc::new(InMemoryBlobStore::new());
    learn_the_sample_call(memories.clone(), blobs.clone()).await;
    let app = TestApp::spawn_with(TestPorts {
        memory_store: memories,
        blob_store: blobs,
        ..TestPorts::default()
    })
    .await;

    let greeting = post(
        &app,
        "/webhook/client-data",
        CLIENT_DATA_KEY,
        json!({"caller_id": MARIA}),
    )
    .await;
    let variables = &greeting["dynamic_variables"];
    assert_eq!(variables["user_name"], "Maria");
    assert_eq!(variables["previous_call_count"], 1);
    assert!(
        variables["last_call_summary"]
            .as_str()
            .unwrap()
            .contains("Friday the 23rd at 10:30 or 2:15"),
        "{variables}"
    );
    assert_eq!(
        greeting["conversation_config_override"]["agent"]["first_message"],
        "Hi, Maria, welcome back! How can I help you today?"
    );
    let found = post(
        &app,
        "/webhook/search-data",
        SEARCH_DATA_KEY,
        json!({"query": "move my cleaning appointment", "caller_id": MARIA}),
    )
    .await;
    assert_eq!(found["status"], "ok");
    assert!(found["memories"]
        .to_string()
        .contains("move my cleaning appointment next week to a Friday"));

    let stranger = post(
        &app,
        "/webhook/client-data",
        CLIENT_DATA_KEY,
        json!({"caller_id": JUAN}),
    )
    .await;
    assert_eq!(stranger["dynamic_variables"]["is_returning_caller"], false);
    assert!(stranger.get("conversation_config_override").is_none());
    let their_search = post(
        &app,
        "/webhook/search-data",
        SEARCH_DATA_KEY,
        json!({"query": "Maria cleaning appointment Friday 2:15", "caller_id": JUAN, "limit": 20}),
    )
    .await;
    assert_eq!(their_search["profile"], serde_json::Value::Null);
    assert_eq!(their_search["memories"], json!([]));
}
