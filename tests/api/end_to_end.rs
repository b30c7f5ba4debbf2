//! A caller's journey over HTTP: recognised at ring time, then their own words found mid-call,
//! while a second caller in the same service sees nothing of theirs.
//!
//! The profile card and memories are seeded straight into the in-memory stores, as ingestion
//! leaves them after a call.

use serde_json::json;

use crate::helpers::{json_body, TestApp, TestPorts, CLIENT_DATA_KEY, SEARCH_DATA_KEY};
use crate::profiles::{marias_card, memories_of_maria_and_juan, store_with_card, JUAN, MARIA};

async fn post(app: &TestApp, path: &str, key: &str, body: serde_json::Value) -> serde_json::Value {
    let response = app.post_json(path, Some(key), &body.to_string()).await;
    assert_eq!(response.status(), 200, "{path}");
    json_body(response).await
}

#[tokio::test]
async fn a_returning_caller_is_greeted_and_finds_their_words_while_another_caller_sees_none() {
    let app = TestApp::spawn_with(TestPorts {
        memory_store: memories_of_maria_and_juan().await,
        blob_store: store_with_card(MARIA, &marias_card()).await,
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
    assert_eq!(greeting["dynamic_variables"]["user_name"], "Maria");
    assert_eq!(
        greeting["dynamic_variables"]["last_call_summary"],
        "Maria moved her cleaning to Friday the 23rd at 2:15."
    );
    let found = post(
        &app,
        "/webhook/search-data",
        SEARCH_DATA_KEY,
        json!({"query": "which time works for me", "caller_id": MARIA}),
    )
    .await;
    assert_eq!(found["memories"][0]["content"], "2:15 works for me");

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
        json!({"query": "2:15 works cleaning Friday", "caller_id": JUAN, "limit": 20}),
    )
    .await;
    assert_eq!(their_search["profile"], serde_json::Value::Null);
    let text = their_search["memories"].to_string();
    assert!(!text.contains("2:15") && !text.contains("Friday"), "{text}");
}
