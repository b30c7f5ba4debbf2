//! The ring route in front of the OpenAPI service answers every request exactly as the
//! documented operation does, refusals included.

use std::sync::Arc;
use std::time::Duration;

use poem::http::Method;
use poem::{Body, Endpoint, EndpointExt, Request, Response, Route};

use crate::config::{EdgeSettings, Secret};
use crate::core::ports::{
    BlobStore, MockClock, MockIngestionScheduler, MockMemoryStore, PutCondition,
};
use crate::core::use_cases::{FirstMessagePolicy, GreetCaller, SearchMemories};
use crate::core::{CallRecord, CallerId, FirstMessageTemplate, ProfileCard};
use crate::inbound::http::api_service;
use crate::inbound::http::body_limit::MAX_SMALL_BODY_BYTES;
use crate::inbound::http::edge::Edge;
use crate::inbound::http::error::framework_error_to_json;
use crate::inbound::http::front::Front;
use crate::inbound::http::post_call::PostCallSettings;
use crate::inbound::http::state::{AppState, WebhookKeys};
use crate::test_doubles::InMemoryBlobStore;

const KEY: &str = "the-client-data-key";

/// The one caller the service knows, and the agent she last talked to.
const MARIA: &str = "+14155550123";
const DENTAL: &str = "agent_dental";

/// A call of Maria's, with its summary.
fn call(summary: &str) -> CallRecord {
    CallRecord {
        conversation_id: "conv_1".to_owned(),
        at: chrono::DateTime::UNIX_EPOCH,
        summary: Some(summary.to_owned()),
    }
}

/// A service that knows Maria (whose last call with the dental agent differs from her last
/// call), so that what a ring's `caller_id` and `agent_id` say changes its answer.
async fn state() -> Arc<AppState> {
    let profiles = Arc::new(InMemoryBlobStore::new());
    let card = ProfileCard {
        name: Some("Maria".to_owned()),
        call_count: 2,
        last_call: Some(call("Asked about parking.")),
        last_call_per_agent: [(DENTAL.to_owned(), call("Moved her cleaning."))].into(),
        ..ProfileCard::default()
    };
    let caller = CallerId::parse(MARIA).unwrap();
    profiles
        .put(
            &ProfileCard::storage_key(&caller),
            serde_json::to_vec(&card).unwrap().into(),
            PutCondition::Overwrite,
        )
        .await
        .unwrap();
    let template = FirstMessageTemplate::parse("Hi{name_greeting}, welcome back!").unwrap();
    let memories = Arc::new(MockMemoryStore::new());
    let key = |value: &str| Secret::new(value);
    Arc::new(AppState {
        greet_caller: GreetCaller::new(
            profiles.clone(),
            FirstMessagePolicy::Personalised(template),
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
    let (state, edge) = (state().await, edge());
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
    let elevenlabs = r#"{"caller_id": "+14155550123", "agent_id": "agent_dental",
        "called_number": "+14155550199", "call_sid": "CA71c3e9a0b2d4f6a8c0e2b4d6f8a0c2e4"}"#;
    let requests = [
        (json, Some(KEY), r#"{"caller_id": "+14155550123"}"#),
        (json, Some(KEY), elevenlabs),
        (
            Some("application/json; charset=utf-8"),
            Some(KEY),
            elevenlabs,
        ),
        (
            json,
            Some(KEY),
            r#"{"caller_id": "\u002b1 415 555 0123", "agent_id": "agent\u005fdental"}"#,
        ),
        (
            json,
            Some(KEY),
            r#"{"caller_id": "+14155550123", "agent_id": null}"#,
        ),
        (
            json,
            Some(KEY),
            r#"{"caller_id": "+14155550123", "extra": [1, {"a": 2}]}"#,
        ),
        (
            json,
            Some(KEY),
            r#"{"caller_id": "+14155550123", "caller_id": "+14155550124"}"#,
        ),
        (
            json,
            Some(KEY),
            r#"{"caller_id": "+14155550124", "caller_id": "+14155550123"}"#,
        ),
        (
            json,
            Some(KEY),
            r#"{"caller_id": 5, "caller_id": "+14155550123"}"#,
        ),
        (json, Some(KEY), r#"["+14155550123", "agent_dental"]"#),
        (json, Some(KEY), r#"{"caller_id": "+14155550123"} {}"#),
        (json, Some(KEY), " "),
        (json, Some(KEY), "null"),
        (json, Some(KEY), r#"{"call_sid": 7}"#),
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
    let mut answers = Vec::new();
    for (content_type, key, body) in requests {
        let served = seen(in_front.call(ring(content_type, key, body)).await).await;
        let documented = seen(operation_only.call(ring(content_type, key, body)).await).await;
        assert_eq!(served, documented, "{content_type:?} {key:?} {body:.80}");
        answers.push(served);
    }
    // Every kind of answer was compared, not only refusals.
    let statuses: Vec<u16> = answers.iter().map(|(status, ..)| *status).collect();
    for status in [200, 400, 401, 413, 415] {
        assert!(statuses.contains(&status), "{status} in {statuses:?}");
    }
    // Among the answered rings, the caller and the agent each made a difference.
    let greeted = |words: &str| answers.iter().any(|(.., body)| body.contains(words));
    assert!(greeted("Hi, Maria, welcome back!"));
    assert!(greeted("Moved her cleaning.") && greeted("Asked about parking."));
    assert!(greeted(r#""is_returning_caller":false"#));
}

#[tokio::test]
async fn a_ring_whose_body_comes_in_several_chunks_is_answered_as_if_it_came_whole() {
    let in_front = Front {
        routes: Route::new().nest("/", api_service()),
        state: state().await,
        edge: edge(),
    };
    let body = r#"{"caller_id": "+14155550123", "agent_id": "agent_dental"}"#;
    let chunks: Vec<std::io::Result<Vec<u8>>> = body
        .as_bytes()
        .chunks(7)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let mut chunked = ring(Some("application/json"), Some(KEY), "");
    chunked.set_body(Body::from_bytes_stream(futures_util::stream::iter(chunks)));
    let whole = ring(Some("application/json"), Some(KEY), body);
    let answer = seen(in_front.call(chunked).await).await;
    assert_eq!(answer, seen(in_front.call(whole).await).await);
    assert!(answer.2.contains("Moved her cleaning."), "{}", answer.2);
}
