//! A caller's journey through the service wired as `serve` wires it, with each memory backend:
//! the signed sample transcription is delivered to the post-call webhook and learnt by the
//! ingestion worker; the caller is then greeted by name at ring time and finds their own words
//! mid-call, while a second caller in the same run sees nothing of theirs.

use crate::calls::{assert_greeted_after_one_call, is_stored_form_of, Call, SAMPLE};
use crate::helpers::{Backend, TestApp};

async fn a_caller_learnt_from_their_call_is_greeted_and_only_they_find_their_words(
    backend: Backend,
) {
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let (maria, juan) = (Call::maria(), Call::juan());

    let delivered = webhooks.deliver(SAMPLE).await;
    assert_eq!(
        delivered.status(),
        200,
        "{}",
        delivered.text().await.unwrap()
    );
    webhooks.deliver_call(&juan.transcription()).await;
    webhooks.wait_until_learnt().await;

    let greeting = webhooks.greet(maria.number).await;
    assert_greeted_after_one_call(&greeting, &maria);
    assert_eq!(
        greeting["conversation_config_override"]["agent"]["first_message"],
        "Hi, Maria, welcome back! How can I help you today?"
    );
    let found = webhooks
        .search(maria.number, "move my cleaning appointment", 5)
        .await;
    assert_eq!(found["status"], "ok", "{found}");
    // The exchange that holds her words (with OpenMemory, which condenses long content, with
    // the end of the agent's question).
    let first = found["memories"][0]["content"].as_str().unwrap_or_default();
    assert!(
        is_stored_form_of(first, &maria.exchanges()[1]) && first.contains(maria.sentences[1]),
        "{found}"
    );

    assert_greeted_after_one_call(&webhooks.greet(juan.number).await, &juan);
    let their_search = webhooks
        .search(juan.number, "Maria cleaning appointment Friday 2:15", 20)
        .await;
    assert_eq!(their_search["profile"]["name"], "Juan", "{their_search}");
    // A long memory may come back in parts (OpenMemory keeps short memories whole).
    let theirs = juan.expected_memories();
    for memory in their_search["memories"].as_array().unwrap() {
        let content = memory["content"].as_str().unwrap();
        assert!(
            theirs.iter().any(|own| own.contains(content)),
            "Juan was shown a memory that is not his: {content}"
        );
    }
}

#[tokio::test]
async fn with_the_embedded_store_a_caller_learnt_from_a_signed_transcription_is_greeted_and_only_they_find_their_words(
) {
    a_caller_learnt_from_their_call_is_greeted_and_only_they_find_their_words(Backend::Embedded)
        .await;
}

#[tokio::test]
async fn with_openmemory_a_caller_learnt_from_a_signed_transcription_is_greeted_and_only_they_find_their_words(
) {
    a_caller_learnt_from_their_call_is_greeted_and_only_they_find_their_words(
        Backend::openmemory().await,
    )
    .await;
}

#[tokio::test]
async fn with_postgres_a_caller_learnt_from_a_signed_transcription_is_greeted_and_only_they_find_their_words(
) {
    a_caller_learnt_from_their_call_is_greeted_and_only_they_find_their_words(
        Backend::postgres().await,
    )
    .await;
}
