use std::sync::Arc;

use caller_memory::core::ports::{MemoryStore, MemoryStoreError, MockMemoryStore};
use caller_memory::core::CallRecord;
use caller_memory::test_doubles::{
    utterance, InMemoryBlobStore, InMemoryMemoryStore, ThesaurusEmbedder,
};
use chrono::Utc;
use serde_json::json;

use crate::helpers::{json_body, TestApp, TestPorts, SEARCH_DATA_KEY};
use crate::memory_store_conformance::caller;
use crate::profiles::{
    marias_card, memories_of_maria_and_juan, store_with_card, DENTAL_AGENT, JUAN, MARIA,
};

const PATH: &str = "/webhook/search-data";

async fn app_knowing_maria_and_juan() -> TestApp {
    TestApp::spawn_with(TestPorts {
        memory_store: memories_of_maria_and_juan().await,
        blob_store: store_with_card(MARIA, &marias_card()).await,
        ..TestPorts::default()
    })
    .await
}

async fn search(app: &TestApp, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = app
        .post_json(PATH, Some(SEARCH_DATA_KEY), &body.to_string())
        .await;
    (response.status().as_u16(), json_body(response).await)
}

fn contents(body: &serde_json::Value) -> Vec<&str> {
    body["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|memory| memory["content"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_agent_finds_what_the_caller_said_with_their_profile() {
    let app = app_knowing_maria_and_juan().await;
    let fixture = include_str!("../../payloads/search_data.json");
    let response = app.post_json(PATH, Some(SEARCH_DATA_KEY), fixture).await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["profile"]["name"], "Maria");
    assert_eq!(body["profile"]["call_count"], 2);
    assert_eq!(body["profile"]["facts"]["last_name"], "Lopez");
    assert_eq!(
        contents(&body)[0],
        "I'd like to move my cleaning appointment to a Friday"
    );
    let memory = &body["memories"][0];
    assert_eq!(memory["kind"], "utterance");
    assert_eq!(memory["conversation_id"], "conv_maria_2");
    assert!(memory["created_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-01-15T09:30:00"));
}

#[tokio::test]
async fn a_caller_never_sees_another_callers_memories() {
    let app = app_knowing_maria_and_juan().await;
    let (status, body) = search(
        &app,
        json!({"query": "cleaning appointment Friday 2:15", "caller_id": JUAN, "limit": 20}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["profile"], serde_json::Value::Null);
    assert_eq!(
        contents(&body),
        ["My next appointment is a filling on Monday"]
    );
}

#[tokio::test]
async fn user_id_is_accepted_instead_of_caller_id() {
    let app = app_knowing_maria_and_juan().await;
    let (status, body) = search(&app, json!({"query": "2:15", "user_id": MARIA})).await;
    assert_eq!(status, 200);
    assert_eq!(body["profile"]["name"], "Maria");
    assert_eq!(contents(&body)[0], "2:15 works for me");
}

#[tokio::test]
async fn the_last_call_with_the_asking_agent_is_preferred_in_the_profile() {
    let mut card = marias_card();
    card.last_call_per_agent.insert(
        DENTAL_AGENT.to_owned(),
        CallRecord {
            conversation_id: "conv_maria_1".to_owned(),
            at: Utc::now(),
            summary: Some("Booked a cleaning.".to_owned()),
        },
    );
    let app = TestApp::spawn_with(TestPorts {
        blob_store: store_with_card(MARIA, &card).await,
        ..TestPorts::default()
    })
    .await;
    let request = json!({"query": "cleaning", "caller_id": MARIA, "agent_id": DENTAL_AGENT});
    let (_, body) = search(&app, request).await;
    assert_eq!(body["profile"]["last_call_summary"], "Booked a cleaning.");
}

#[tokio::test]
async fn an_invalid_field_is_refused_with_400_naming_it() {
    let app = app_knowing_maria_and_juan().await;
    for (request, field) in [
        (
            json!({"query": "x", "caller_id": "not a number"}),
            "caller_id",
        ),
        (json!({"query": "x"}), "caller_id"),
        (json!({"query": "x", "user_id": "0044"}), "user_id"),
        (
            json!({"query": "x", "caller_id": MARIA, "user_id": JUAN}),
            "user_id",
        ),
        (json!({"query": "   ", "caller_id": MARIA}), "query"),
        (
            json!({"query": "x", "caller_id": MARIA, "limit": 21}),
            "limit",
        ),
        (
            json!({"query": "x", "caller_id": MARIA, "limit": 0}),
            "limit",
        ),
        (
            json!({"query": "x", "caller_id": MARIA, "conversation_id": "../x"}),
            "conversation_id",
        ),
        (
            json!({"query": "x", "caller_id": MARIA, "agent_id": "a b"}),
            "agent_id",
        ),
        (json!({"caller_id": MARIA}), "query"),
        (json!({"query": 5, "caller_id": MARIA}), "query"),
        (
            json!({"query": "x", "caller_id": MARIA, "limit": "five"}),
            "limit",
        ),
        (
            json!({"query": "x", "caller_id": 14155550123_u64}),
            "caller_id",
        ),
        (json!({"query": "x", "user_id": true}), "user_id"),
        (
            json!({"query": "x", "caller_id": MARIA, "agent_id": 1}),
            "agent_id",
        ),
        (
            json!({"query": "x", "caller_id": MARIA, "conversation_id": {}}),
            "conversation_id",
        ),
        (json!({"query": null, "caller_id": MARIA}), "query"),
        (json!([]), "body"),
    ] {
        let (status, body) = search(&app, request.clone()).await;
        assert_eq!(status, 400, "{request}");
        assert_eq!(body["error"], "invalid_request");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{request} -> {message}"
        );
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_with_400_about_the_body() {
    let app = app_knowing_maria_and_juan().await;
    let response = app.post_json(PATH, Some(SEARCH_DATA_KEY), "{nope").await;
    assert_eq!(response.status(), 400);
    let body = json_body(response).await;
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("body: "), "{message}");
}

#[tokio::test]
async fn when_the_memory_store_is_down_the_profile_still_comes_back_with_the_status() {
    let mut memory_store = MockMemoryStore::new();
    memory_store
        .expect_search()
        .returning(|_, _, _| Err(MemoryStoreError::Unavailable("connection refused".into())));
    let app = TestApp::spawn_with(TestPorts {
        memory_store: Arc::new(memory_store),
        blob_store: store_with_card(MARIA, &marias_card()).await,
        ..TestPorts::default()
    })
    .await;
    let (status, body) = search(&app, json!({"query": "cleaning", "caller_id": MARIA})).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "memory_store_unavailable");
    assert_eq!(body["profile"]["name"], "Maria");
    assert_eq!(body["memories"], json!([]));
}

#[tokio::test]
async fn a_wrong_or_missing_api_key_is_refused_with_401_naming_the_header() {
    let app = TestApp::spawn_with(TestPorts {
        blob_store: Arc::new(InMemoryBlobStore::new()),
        ..TestPorts::default()
    })
    .await;
    let body = json!({"query": "x", "caller_id": MARIA}).to_string();
    let wrong = app
        .post_json(PATH, Some("test-client-data-key"), &body)
        .await;
    // A bearer token is not this webhook's credential: the answer still names X-Api-Key.
    let bearer_only = app
        .client
        .post(app.url(PATH))
        .header("content-type", "application/json")
        .bearer_auth(SEARCH_DATA_KEY)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    for (response, why) in [(wrong, "does not match"), (bearer_only, "missing")] {
        assert_eq!(response.status(), 401);
        let answer = json_body(response).await;
        assert_eq!(answer["error"], "unauthorized");
        let message = answer["message"].as_str().unwrap();
        assert!(message.starts_with("X-Api-Key"), "{message}");
        assert!(message.contains(why), "{message}");
    }
}

#[tokio::test]
async fn the_example_elevenlabs_tool_sends_what_the_endpoint_accepts() {
    let tool: serde_json::Value =
        serde_json::from_str(include_str!("../../elevenlabs/search-data-tool.json")).unwrap();
    let api_schema = &tool["tool_config"]["api_schema"];
    assert!(api_schema["url"].as_str().unwrap().ends_with(PATH));
    assert!(api_schema["request_headers"]["X-Api-Key"]["secret_id"].is_string());
    // Fill the body as ElevenLabs would: system variables from the call, the rest by the model.
    let system_variables = json!({
        "system__caller_id": MARIA,
        "system__agent_id": DENTAL_AGENT,
        "system__conversation_id": "conv_01jz9a2b3c4d5e6f7g8h9j0k1m",
    });
    let properties = api_schema["request_body_schema"]["properties"]
        .as_object()
        .unwrap();
    let body: serde_json::Map<String, serde_json::Value> = properties
        .iter()
        .map(|(name, property)| {
            let value = match property["dynamic_variable"].as_str() {
                Some(variable) => system_variables[variable].clone(),
                None => json!("cleaning appointment"),
            };
            (name.clone(), value)
        })
        .collect();
    let app = app_knowing_maria_and_juan().await;
    let (status, answer) = search(&app, serde_json::Value::Object(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["profile"]["name"], "Maria");
}

/// Maria's exchanges, embedded by the test embedder as they are added, and an app that embeds
/// questions with `embedder`.
async fn app_with_embedder(embedder: ThesaurusEmbedder) -> TestApp {
    let store = InMemoryMemoryStore::new().with_embedder(Arc::new(ThesaurusEmbedder::new()));
    for (conversation, content) in [
        (
            "conv_maria_1",
            "Agent asked: Any allergies? Caller: Yes, I'm allergic to penicillin.",
        ),
        (
            "conv_maria_2",
            "Agent asked: How should we remind you? Caller: Please text me.",
        ),
    ] {
        store
            .add(&utterance(&caller(MARIA), conversation, content))
            .await
            .unwrap();
    }
    TestApp::spawn_with(TestPorts {
        memory_store: Arc::new(store),
        embedder: Some(Arc::new(embedder)),
        ..TestPorts::default()
    })
    .await
}

#[tokio::test]
async fn a_paraphrase_finds_what_the_caller_meant_and_a_question_never_answered_finds_nothing() {
    let app = app_with_embedder(ThesaurusEmbedder::new()).await;
    let (status, found) = search(
        &app,
        json!({"caller_id": MARIA, "query": "Any drug reactions on file?"}),
    )
    .await;
    assert_eq!((status, &found["status"]), (200, &json!("ok")));
    assert_eq!(
        contents(&found),
        ["Agent asked: Any allergies? Caller: Yes, I'm allergic to penicillin."]
    );
    assert!(found["memories"][0]["score"].as_f64().unwrap() > 0.0);

    let (status, nothing) = search(
        &app,
        json!({"caller_id": MARIA, "query": "What car does she drive?"}),
    )
    .await;
    assert_eq!((status, &nothing["status"]), (200, &json!("ok")));
    assert_eq!(nothing["memories"], json!([]), "{nothing}");
}

#[tokio::test]
async fn with_the_embedding_model_down_memories_are_ranked_by_words_and_the_status_says_so() {
    let app = app_with_embedder(ThesaurusEmbedder::failing()).await;
    let (status, found) = search(&app, json!({"caller_id": MARIA, "query": "penicillin"})).await;
    assert_eq!(status, 200);
    assert_eq!(found["status"], "lexical_fallback");
    assert_eq!(contents(&found).len(), 1, "{found}");
}

#[tokio::test]
async fn a_generic_request_gets_the_most_recent_memories() {
    let app = app_with_embedder(ThesaurusEmbedder::new()).await;
    let (status, found) = search(
        &app,
        json!({"caller_id": MARIA, "query": "What did we talk about last time?"}),
    )
    .await;
    assert_eq!((status, &found["status"]), (200, &json!("ok")));
    assert_eq!(contents(&found).len(), 2, "{found}");
    assert_eq!(found["memories"][0]["score"], 0.0);
}
