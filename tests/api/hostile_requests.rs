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

const KEYED: [(&str, &str); 2] = [
    ("/webhook/client-data", CLIENT_DATA_KEY),
    ("/webhook/search-data", SEARCH_DATA_KEY),
];
const VALID_BODY: &str = r#"{"query": "appointment", "caller_id": "+14155550123"}"#;

#[tokio::test]
async fn a_missing_or_empty_api_key_is_rejected_with_401_on_both_keyed_webhooks() {
    let app = TestApp::spawn().await;
    for (path, _) in KEYED {
        for key in [None, Some(""), Some(" ")] {
            let response = app.post_json(path, key, VALID_BODY).await;
            assert_eq!(response.status(), 401, "{path} {key:?}");
            assert_eq!(json_body(response).await["error"], "unauthorized");
        }
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413_with_or_without_a_content_length() {
    let app = TestApp::spawn().await;
    let padding = "a".repeat(70 * 1024);
    let body = format!(r#"{{"query": "x", "caller_id": "+14155550123", "pad": "{padding}"}}"#);
    for (path, key) in KEYED {
        let declared = app.post_json(path, Some(key), &body).await;
        assert_eq!(declared.status(), 413, "{path}");
        assert_eq!(json_body(declared).await["error"], "payload_too_large");

        let pieces: Vec<Result<Vec<u8>, std::io::Error>> = body
            .as_bytes()
            .chunks(8 * 1024)
            .map(|piece| Ok(piece.to_vec()))
            .collect();
        let chunked = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("x-api-key", key)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                pieces,
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(chunked.status(), 413, "{path} chunked");
        assert_eq!(json_body(chunked).await["error"], "payload_too_large");

        let fits = app.post_json(path, Some(key), VALID_BODY).await;
        assert_eq!(fits.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_refused_with_415() {
    let app = TestApp::spawn().await;
    for (path, key) in KEYED {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/xml"),
            None,
        ] {
            let mut request = app
                .client
                .post(app.url(path))
                .header("x-api-key", key)
                .body(VALID_BODY);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 415, "{path} {content_type:?}");
            assert_eq!(json_body(response).await["error"], "unsupported_media_type");
        }
    }
}

#[tokio::test]
async fn identifiers_that_look_like_paths_are_refused_by_search_and_ignored_by_the_greeting() {
    let app = TestApp::spawn().await;
    for hostile in ["../../etc/passwd", "..", "a/b", "a\\b", "conv\u{0}x"] {
        for field in ["conversation_id", "agent_id"] {
            let body =
                serde_json::json!({"query": "x", "caller_id": "+14155550123", field: hostile});
            let response = app
                .post_json(
                    "/webhook/search-data",
                    Some(SEARCH_DATA_KEY),
                    &body.to_string(),
                )
                .await;
            assert_eq!(response.status(), 400, "{field} {hostile:?}");
            let message = json_body(response).await["message"].to_string();
            assert!(message.contains(field), "{message}");
        }
        let body = serde_json::json!({"caller_id": "+14155550123", "agent_id": hostile});
        let response = app
            .post_json(
                "/webhook/client-data",
                Some(CLIENT_DATA_KEY),
                &body.to_string(),
            )
            .await;
        assert_eq!(response.status(), 200, "{hostile:?}");
        assert_eq!(
            json_body(response).await["dynamic_variables"]["is_returning_caller"],
            false
        );
    }
}
