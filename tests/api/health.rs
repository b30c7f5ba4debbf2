use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use caller_memory::core::ports::{
    IngestionScheduler, MemoryStoreError, MockMemoryStore, SchedulingError,
};
use caller_memory::core::ConversationId;
use serde_json::json;

use crate::helpers::{json_body, TestApp, TestPorts, CLIENT_DATA_KEY, SEARCH_DATA_KEY};

#[tokio::test]
async fn health_answers_ok_and_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(json_body(response).await["status"], "ok");
}

#[tokio::test]
async fn ready_answers_503_with_the_reason_when_the_memory_store_is_down() {
    let mut memory_store = MockMemoryStore::new();
    memory_store
        .expect_check()
        .returning(|| Err(MemoryStoreError::Unavailable("connection refused".into())));
    memory_store.expect_notices().returning(Vec::new);
    let app = TestApp::spawn_with(TestPorts {
        memory_store: Arc::new(memory_store),
        ..TestPorts::default()
    })
    .await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{body}"
    );
}

/// Counts how often it is told that the memory store works.
#[derive(Default)]
struct WakeCounter(AtomicUsize);

#[async_trait]
impl IngestionScheduler for WakeCounter {
    async fn schedule(&self, _: &ConversationId) -> Result<(), SchedulingError> {
        Ok(())
    }

    fn memory_store_healthy(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_memory_store_seen_working_by_ready_or_a_search_wakes_waiting_ingestion() {
    let ingestion = Arc::new(WakeCounter::default());
    let app = TestApp::spawn_with(TestPorts {
        ingestion: ingestion.clone(),
        ..TestPorts::default()
    })
    .await;

    assert_eq!(app.get("/ready").await.status(), 200);
    assert_eq!(ingestion.0.load(Ordering::SeqCst), 1);
    let search = json!({"caller_id": "+14155550123", "query": "jazz"}).to_string();
    let response = app
        .post_json("/webhook/search-data", Some(SEARCH_DATA_KEY), &search)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(ingestion.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn ready_answers_200_when_every_backend_works() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/ready").await.status(), 200);
}

#[tokio::test]
async fn unknown_routes_answer_in_the_json_error_schema() {
    let app = TestApp::spawn().await;
    let response = app.get("/nowhere").await;
    assert_eq!(response.status(), 404);
    assert_eq!(json_body(response).await["error"], "not_found");
}

#[tokio::test]
async fn malformed_json_answers_400_in_the_json_error_schema() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json("/webhook/client-data", Some(CLIENT_DATA_KEY), "{not json")
        .await;
    assert_eq!(response.status(), 400);
    let body = json_body(response).await;
    assert_eq!(body["error"], "invalid_request");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn a_wrong_content_type_answers_415_in_the_json_error_schema() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/webhook/client-data"))
        .header("x-api-key", CLIENT_DATA_KEY)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(json_body(response).await["error"], "unsupported_media_type");
}

#[tokio::test]
async fn a_missing_api_key_answers_401_in_the_json_error_schema() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json("/webhook/search-data", None, r#"{"query":"x"}"#)
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(json_body(response).await["error"], "unauthorized");
}
