//! Ingestion through the service wired as `serve` wires it: repeated deliveries, calls without a
//! number and concurrent callers with each memory backend; outages of the memory store and
//! restarts of the real process in the submodules.

mod outages;
mod restarts;

use std::path::Path;

use futures_util::future::join_all;

use crate::calls::{transcription_without_a_caller_number, Call};
use crate::helpers::{Backend, TestApp};

/// Takes the embedded store's write lock, as another writer would, until the connection is
/// dropped: the service's adds wait for it and, past SQLite's busy timeout, count as the store
/// being unavailable.
fn hold_write_lock(database: &Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(database).expect("the memory database opens");
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .expect("the write lock is taken");
    connection
}

async fn a_call_delivered_five_times_is_learnt_once(backend: Backend) {
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    let transcription = maria.transcription();

    // Three deliveries at once while the call is being learnt, then two after it was learnt.
    join_all((0..3).map(|_| webhooks.deliver_call(&transcription))).await;
    webhooks.wait_until_learnt().await;
    for _ in 0..2 {
        webhooks.deliver_call(&transcription).await;
    }
    webhooks.wait_until_learnt().await;

    webhooks.assert_learnt_once(&backend, &maria).await;
}

#[tokio::test]
async fn with_the_embedded_store_a_call_delivered_five_times_leaves_one_set_of_memories_and_counts_once(
) {
    a_call_delivered_five_times_is_learnt_once(Backend::Embedded).await;
}

#[tokio::test]
async fn with_openmemory_a_call_delivered_five_times_leaves_one_set_of_memories_and_counts_once() {
    a_call_delivered_five_times_is_learnt_once(Backend::openmemory().await).await;
}

async fn a_call_without_a_number_is_archived_and_teaches_nothing(backend: Backend) {
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();

    webhooks
        .deliver_call(&transcription_without_a_caller_number())
        .await;
    webhooks.wait_until_learnt().await;

    let archived = app
        .archive()
        .join(format!("{0}/{0}_transcription.json", maria.conversation));
    assert!(archived.is_file(), "{} is missing", archived.display());
    let greeting = webhooks.greet(maria.number).await;
    assert_eq!(
        greeting["dynamic_variables"]["is_returning_caller"], false,
        "{greeting}"
    );
    assert_eq!(
        webhooks.stored_memories(&backend, maria.number).await,
        Vec::<String>::new()
    );
    if let Backend::OpenMemory(fake) = &backend {
        let adds = fake
            .caller_requests()
            .into_iter()
            .filter(|request| request.path_and_query.starts_with("/memory/add"))
            .count();
        assert_eq!(adds, 0, "memories were sent for a call without a caller");
    }
}

#[tokio::test]
async fn with_the_embedded_store_a_call_without_a_caller_number_is_archived_and_teaches_nothing() {
    a_call_without_a_number_is_archived_and_teaches_nothing(Backend::Embedded).await;
}

#[tokio::test]
async fn with_openmemory_a_call_without_a_caller_number_is_archived_and_teaches_nothing() {
    a_call_without_a_number_is_archived_and_teaches_nothing(Backend::openmemory().await).await;
}

async fn two_callers_learnt_at_once_keep_their_own_memories(backend: Backend) {
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let callers = [Call::maria(), Call::juan()];
    let transcriptions: Vec<_> = callers.iter().map(Call::transcription).collect();

    join_all(
        transcriptions
            .iter()
            .map(|call| webhooks.deliver_call(call)),
    )
    .await;
    webhooks.wait_until_learnt().await;

    for caller in &callers {
        webhooks.assert_learnt_once(&backend, caller).await;
    }
}

#[tokio::test]
async fn with_the_embedded_store_two_callers_learnt_at_once_each_keep_exactly_their_own_memories() {
    two_callers_learnt_at_once_keep_their_own_memories(Backend::Embedded).await;
}

#[tokio::test]
async fn with_openmemory_two_callers_learnt_at_once_each_keep_exactly_their_own_memories() {
    two_callers_learnt_at_once_keep_their_own_memories(Backend::openmemory().await).await;
}

#[tokio::test]
async fn memories_openmemory_merged_into_other_callers_are_counted_in_readiness() {
    let backend = Backend::openmemory().await;
    let fake = backend.fake();
    fake.seed(
        "+14155550888",
        "Another caller's memory",
        serde_json::json!({}),
    );
    fake.deduplicate_every_add();
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();

    webhooks.deliver_call(&maria.transcription()).await;
    let readiness = webhooks.wait_until_learnt().await;

    assert_eq!(
        readiness["not_stored_memories"],
        maria.expected_memories().len(),
        "{readiness}"
    );
    assert!(fake.memories_of(maria.number).is_empty());
}
