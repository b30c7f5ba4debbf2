//! The greeting and the search answer in time, whatever state the stores are in.

use std::time::Duration;

use caller_memory::core::ports::MemoryStore;
use caller_memory::outbound::openmemory::OpenMemoryStore;
use serde_json::{json, Value};

use super::{FaultyBlobStore, CLIENT_PATIENCE};
use crate::helpers::{json_body, TestApp, TestPorts, CLIENT_DATA_KEY, SEARCH_DATA_KEY};
use crate::profiles::{marias_card, memories_of_maria_and_juan, store_with_card, MARIA};
use crate::support::fake_openmemory::{FakeMode, FakeOpenMemory};

const CLIENT_DATA: &str = "/webhook/client-data";
const SEARCH_DATA: &str = "/webhook/search-data";

/// Posts `body` and gives up after [`CLIENT_PATIENCE`]: an answer that late is a failure.
async fn ask(app: &TestApp, path: &str, key: &str, body: Value) -> Value {
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(body.to_string())
        .timeout(CLIENT_PATIENCE)
        .send()
        .await
        .unwrap_or_else(|error| panic!("{path} did not answer in time: {error}"));
    assert_eq!(response.status(), 200, "{path}");
    json_body(response).await
}

async fn greet_maria(app: &TestApp) -> Value {
    let body = json!({"caller_id": MARIA, "agent_id": "agent_1"});
    ask(app, CLIENT_DATA, CLIENT_DATA_KEY, body).await
}

async fn search_maria(app: &TestApp) -> Value {
    let body = json!({"caller_id": MARIA, "query": "cleaning appointment"});
    ask(app, SEARCH_DATA, SEARCH_DATA_KEY, body).await
}

/// An OpenMemory adapter pointed at a port where nothing listens.
fn unreachable_openmemory() -> OpenMemoryStore {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}").parse().unwrap();
    OpenMemoryStore::new(url, "key", Duration::from_secs(2)).unwrap()
}

/// An app knowing Maria's card, with `memory_store` behind the search.
async fn app_with_memory_store(memory_store: std::sync::Arc<dyn MemoryStore>) -> TestApp {
    TestApp::spawn_with(TestPorts {
        memory_store,
        blob_store: store_with_card(MARIA, &marias_card()).await,
        ..TestPorts::default()
    })
    .await
}

#[tokio::test]
async fn a_hanging_profile_store_still_lets_the_phone_be_answered_as_a_new_caller() {
    let cards = store_with_card(MARIA, &marias_card()).await;
    let app = TestApp::spawn_with(TestPorts {
        blob_store: std::sync::Arc::new(FaultyBlobStore::with_slow_reads(cards)),
        ..TestPorts::default()
    })
    .await;
    let greeting = greet_maria(&app).await;
    assert_eq!(greeting["dynamic_variables"]["is_returning_caller"], false);
    assert_eq!(greeting["dynamic_variables"]["user_name"], "");
    assert!(greeting.get("conversation_config_override").is_none());
    // Operators see it: the fallback is counted.
    let metrics = crate::metrics::scrape(&app).await;
    let fallbacks = r#"caller_memory_greeting_fallbacks_total{reason="deadline"}"#;
    assert_eq!(
        crate::metrics::sample(&metrics, fallbacks),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_the_memory_store_down_a_returning_caller_is_still_greeted_by_name() {
    let app = app_with_memory_store(std::sync::Arc::new(unreachable_openmemory())).await;
    let greeting = greet_maria(&app).await;
    assert_eq!(greeting["dynamic_variables"]["user_name"], "Maria");
    assert_eq!(greeting["dynamic_variables"]["is_returning_caller"], true);
}

#[tokio::test]
async fn with_the_memory_store_down_the_search_says_so_and_still_returns_the_profile() {
    let app = app_with_memory_store(std::sync::Arc::new(unreachable_openmemory())).await;
    let found = search_maria(&app).await;
    assert_eq!(found["status"], "memory_store_unavailable");
    assert_eq!(found["profile"]["name"], "Maria");
    assert_eq!(found["memories"], json!([]));
}

#[tokio::test]
async fn a_failing_then_healed_memory_store_is_searched_again_as_soon_as_it_is_back() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let app = app_with_memory_store(std::sync::Arc::new(fake.store())).await;
    for status in [500, 503, 429] {
        fake.fail_with(status);
        let found = search_maria(&app).await;
        assert_eq!(found["status"], "memory_store_unavailable", "{status}");
        assert_eq!(found["profile"]["name"], "Maria");
    }
    fake.heal();
    let found = search_maria(&app).await;
    assert_eq!(found["status"], "ok");
    assert_eq!(found["profile"]["name"], "Maria");
}

#[tokio::test]
async fn a_memory_store_slower_than_the_search_timeout_gives_a_timeout_status_and_the_profile() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    fake.delay(super::STORE_DELAY);
    let store = fake.store_with_timeout(super::STORE_DELAY * 2);
    let app = app_with_memory_store(std::sync::Arc::new(store)).await;
    let found = search_maria(&app).await;
    assert_eq!(found["status"], "memory_store_timeout");
    assert_eq!(found["profile"]["name"], "Maria");
    assert_eq!(found["memories"], json!([]));
}

#[tokio::test]
async fn a_hanging_profile_store_still_lets_the_search_return_the_memories() {
    let cards = store_with_card(MARIA, &marias_card()).await;
    let app = TestApp::spawn_with(TestPorts {
        memory_store: memories_of_maria_and_juan().await,
        blob_store: std::sync::Arc::new(FaultyBlobStore::with_slow_reads(cards)),
        ..TestPorts::default()
    })
    .await;
    let found = search_maria(&app).await;
    assert_eq!(found["status"], "ok");
    assert_eq!(found["profile"], Value::Null);
    assert_eq!(
        found["memories"][0]["content"],
        "I'd like to move my cleaning appointment to a Friday"
    );
}
