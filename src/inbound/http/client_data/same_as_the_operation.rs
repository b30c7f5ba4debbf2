//! The ring route in front of the OpenAPI service answers every request exactly as the
//! documented operation does, refusals included.

use std::sync::Arc;
use std::time::Duration;

use poem::http::Method;
use poem::{Endpoint, EndpointExt, Request, Response, Route};

use crate::config::{EdgeSettings, Secret};
use crate::core::ports::{MockBlobStore, MockClock, MockIngestionScheduler, MockMemoryStore};
use crate::core::use_cases::{FirstMessagePolicy, GreetCaller, SearchMemories};
use crate::inbound::http::api_service;
use crate::inbound::http::body_limit::MAX_SMALL_BODY_BYTES;
use crate::inbound::http::edge::Edge;
use crate::inbound::http::error::framework_error_to_json;
use crate::inbound::http::front::Front;
use crate::inbound::http::post_call::PostCallSettings;
use crate::inbound::http::state::{AppState, WebhookKeys};

const KEY: &str = "the-client-data-key";

/// A service that knows nobody: every ring is a new caller.
fn state() -> Arc<AppState> {
    let mut profiles = MockBlobStore::new();
    profiles.expect_get().returning(|_| Ok(None));
    let profiles = Arc::new(profiles);
    let memories = Arc::new(MockMemoryStore::new());
    let key = |value: &str| Secret::new(value);
    Arc::new(AppState {
        greet_caller: GreetCaller::new(
            profiles.clone(),
            FirstMessagePolicy::AgentDefault,
            Duration::from_secs(5),
        ),
        search_memories: SearchMemories::new(
            memories.clone(),
            profiles.clone(),
            Duration::from_secs(5),
        ),
        memory_store: memories,
        blob_store: profiles,
        clock: Arc::new(MockClock::new()),
        keys: WebhookKeys {
            post_call: key("post-call"),
            client_data: key(KEY),
            search_data: key("search-data"),
        },
        ingestion: Arc::new(MockIngestionScheduler::new()),
        post_call: PostCallSettings {
            max_body_bytes: 1024,
            signature_tolerance: Duration::from_secs(60),
            staging_folder: std::env::temp_dir(),
            archive_redaction: Default::default(),
        },
        metrics: None,
        admin: None,
    })
}

fn edge() -> Arc<Edge> {
    Edge::new(&EdgeSettings {
        allowed_sources: Vec::new(),
        trusted_proxies: Vec::new(),
        max_unverified_bytes: 1024,
        header_read_timeout: Duration::from_secs(5),
        body_stall_timeout: Duration::from_secs(5),
        max_connections: 16,
        auth_failure_limit: 1_000,
        auth_lockout: Duration::from_secs(60),
    })
}

/// A ring with these headers and body.
fn ring(content_type: Option<&str>, key: Option<&str>, body: &str) -> Request {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri_str("/webhook/client-data");
    if let Some(content_type) = content_type {
        request = request.content_type(content_type);
    }
    if let Some(key) = key {
        request = request.header("X-Api-Key", key);
    }
    request.body(body.to_owned())
}

/// What a caller sees of an answer: status, content type and body.
async fn seen(answer: poem::Result<Response>) -> (u16, Option<String>, String) {
    let answer = answer.expect("both endpoints turn errors into answers");
    let status = answer.status().as_u16();
    let content_type = answer.content_type().map(str::to_owned);
    let body = answer.into_body().into_string().await.unwrap();
    (status, content_type, body)
}

#[tokio::test]
async fn the_ring_route_answers_every_request_as_the_documented_operation_does() {
    let (state, edge) = (state(), edge());
    let in_front = Front {
        routes: Route::new().nest("/", api_service()),
        state: state.clone(),
        edge: edge.clone(),
    };
    let operation_only = Route::new()
        .nest("/", api_service())
        .data(state)
        .data(edge)
        .catch_all_error(|error| async move { framework_error_to_json(error) });
    let json = Some("application/json");
    let oversized = format!(r#"{{"pad": "{}"}}"#, "a".repeat(MAX_SMALL_BODY_BYTES));
    let requests = [
        (json, Some(KEY), r#"{"caller_id": "+14155550123"}"#),
        (
            Some("application/vnd.api+json; charset=utf-8"),
            Some(KEY),
            "{}",
        ),
        (
            json,
            Some(KEY),
            r#"{"caller_id": "anonymous", "agent_id": "../x"}"#,
        ),
        (json, None, "{}"),
        (json, Some("wrong"), "{}"),
        (None, Some(KEY), "{}"),
        (Some("text/plain"), Some(KEY), "{}"),
        (json, Some(KEY), ""),
        (json, Some(KEY), "{nope"),
        (json, Some(KEY), "[]"),
        (json, Some(KEY), r#"{"caller_id": 14155550123}"#),
        (json, Some(KEY), r#"{"agent_id": ["a"]}"#),
        (json, Some(KEY), &oversized),
        (json, None, &oversized),
    ];
    let mut statuses = Vec::new();
    for (content_type, key, body) in requests {
        let served = seen(in_front.call(ring(content_type, key, body)).await).await;
        let documented = seen(operation_only.call(ring(content_type, key, body)).await).await;
        assert_eq!(served, documented, "{content_type:?} {key:?} {body:.80}");
        statuses.push(served.0);
    }
    // Every kind of answer was compared, not only refusals.
    for status in [200, 400, 401, 413, 415] {
        assert!(statuses.contains(&status), "{status} in {statuses:?}");
    }
}
