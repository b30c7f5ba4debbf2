//! Requests nobody legitimate sends: each gets a clear 4xx in the JSON error schema, never a
//! panic or a 500.

use crate::helpers::{json_body, TestApp, CLIENT_DATA_KEY, SEARCH_DATA_KEY};

#[tokio::test]
async fn deeply_nested_json_is_rejected_with_400() {
    let app = TestApp::spawn().await;
    let nested = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let body = format!(r#"{{"caller_id": "+14155550123", "extra": {nested}}}"#);
    for (path, key) in [
        ("/webhook/client-data", CLIENT_DATA_KEY),
        ("/webhook/search-data", SEARCH_DATA_KEY),
    ] {
        let response = app.post_json(path, Some(key), &body).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(json_body(response).await["error"], "invalid_request");
    }
}

#[tokio::test]
async fn invalid_utf8_is_rejected_with_400() {
    let app = TestApp::spawn().await;
    for (path, key) in [
        ("/webhook/client-data", CLIENT_DATA_KEY),
        ("/webhook/search-data", SEARCH_DATA_KEY),
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("x-api-key", key)
            .body(b"{\"query\": \"\xff\xfe\", \"caller_id\": \"+14155550123\"}".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(json_body(response).await["error"], "invalid_request");
    }
}

#[tokio::test]
async fn a_wrong_api_key_is_rejected_with_401_on_both_keyed_webhooks() {
    let app = TestApp::spawn().await;
    // Each webhook has its own key: the client-data key does not open search-data and vice versa.
    for (path, key) in [
        ("/webhook/client-data", SEARCH_DATA_KEY),
        ("/webhook/search-data", CLIENT_DATA_KEY),
    ] {
        let response = app
            .post_json(
                path,
                Some(key),
                r#"{"query": "x", "caller_id": "+14155550123"}"#,
            )
            .await;
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(json_body(response).await["error"], "unauthorized");
    }
}

#[tokio::test]
async fn oversized_headers_are_refused_without_crashing_the_server() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/webhook/client-data"))
        .header("content-type", "application/json")
        .header("x-api-key", CLIENT_DATA_KEY)
        .header("x-padding", "a".repeat(1024 * 1024))
        .body("{}")
        .send()
        .await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // Whatever happened to that connection, the server still answers.
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn unsupported_methods_answer_405_in_the_json_error_schema() {
    let app = TestApp::spawn().await;
    let response = app.get("/webhook/client-data").await;
    assert_eq!(response.status(), 405);
    assert_eq!(json_body(response).await["error"], "method_not_allowed");
}
