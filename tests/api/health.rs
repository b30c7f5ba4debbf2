use std::sync::Arc;

use caller_memory::core::ports::{MemoryStoreError, MockMemoryStore};

use crate::helpers::{json_body, TestApp, TestPorts, CLIENT_DATA_KEY};

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
