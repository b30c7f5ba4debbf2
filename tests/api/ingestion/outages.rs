//! The memory store misbehaving while calls are learnt, played by the fake OpenMemory server:
//! down, answering 500, answering later than the service waits. Calls are never lost, and no
//! memory is stored twice.

use std::time::Duration;

use crate::calls::{eventually, Call};
use crate::helpers::{Backend, TestApp};
use crate::support::fake_openmemory::FakeOpenMemory;

use super::hold_write_lock;

/// How many memories were sent to the fake so far, answered or not.
fn adds_received(fake: &FakeOpenMemory) -> usize {
    fake.requests()
        .iter()
        .filter(|request| request.path_and_query.starts_with("/memory/add"))
        .count()
}

/// How many adds, and looks for an add whose answer was lost, were sent to the fake so far.
fn attempts_received(fake: &FakeOpenMemory) -> usize {
    fake.requests()
        .iter()
        .filter(|request| {
            request.path_and_query.starts_with("/memory/add")
                || request.path_and_query.starts_with("/users/")
        })
        .count()
}

/// A guard against a webhook that waits for the memory store: it would wait forever here.
const HANG_GUARD: Duration = Duration::from_secs(5);

#[tokio::test]
async fn with_openmemory_down_calls_are_acknowledged_kept_pending_and_all_learnt_once_it_is_back() {
    let backend = Backend::openmemory().await;
    let fake = backend.fake();
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let callers = [Call::maria(), Call::juan()];
    fake.fail_with(503);

    for caller in &callers {
        tokio::time::timeout(HANG_GUARD, webhooks.deliver_call(&caller.transcription()))
            .await
            .expect("the webhook waited for the memory store");
    }
    let readiness = webhooks.readiness().await;
    assert_eq!(readiness["status"], "unavailable", "{readiness}");
    assert_eq!(readiness["pending_ingestions"], 2, "{readiness}");
    eventually("a retry while the store is down", || {
        adds_received(fake) >= 3
    })
    .await;
    assert!(fake.memories_of(callers[0].number).is_empty());

    fake.heal();
    let readiness = webhooks.wait_until_learnt().await;

    assert_eq!(readiness["status"], "ok", "{readiness}");
    for caller in &callers {
        webhooks.assert_learnt_once(&backend, caller).await;
    }
}

#[tokio::test]
async fn with_the_embedded_store_locked_by_another_writer_calls_are_acknowledged_and_learnt_once_it_is_free(
) {
    let backend = Backend::Embedded;
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let callers = [Call::maria(), Call::juan()];
    let lock = hold_write_lock(&app.memory_database());

    for caller in &callers {
        tokio::time::timeout(HANG_GUARD, webhooks.deliver_call(&caller.transcription()))
            .await
            .expect("the webhook waited for the memory store");
    }
    let readiness = webhooks.readiness().await;
    assert_eq!(readiness["pending_ingestions"], 2, "{readiness}");
    assert_eq!(
        webhooks.stored_memories(&backend, callers[0].number).await,
        Vec::<String>::new()
    );

    drop(lock);
    webhooks.wait_until_learnt().await;

    for caller in &callers {
        webhooks.assert_learnt_once(&backend, caller).await;
    }
}

#[tokio::test]
async fn with_openmemory_answering_500_midway_through_a_call_it_is_learnt_completely_once() {
    let backend = Backend::openmemory().await;
    let fake = backend.fake();
    let app = TestApp::spawn_service(&backend, &[]).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    // Slow enough to step in between two memories of the call.
    fake.delay(Duration::from_millis(100));

    webhooks.deliver_call(&maria.transcription()).await;
    eventually("the first memories stored", || {
        fake.memories_of(maria.number).len() >= 2
    })
    .await;
    fake.fail_with(500);
    let before_outage = adds_received(fake);
    eventually("two refused attempts", || {
        adds_received(fake) >= before_outage + 2
    })
    .await;
    assert!(
        fake.memories_of(maria.number).len() < 7,
        "the call was learnt before the outage"
    );
    fake.heal();
    webhooks.wait_until_learnt().await;

    webhooks.assert_learnt_once(&backend, &maria).await;
}

#[tokio::test]
async fn with_openmemory_answering_later_than_the_timeout_a_call_is_learnt_once_it_is_fast_again() {
    let backend = Backend::openmemory().await;
    let fake = backend.fake();
    let app = TestApp::spawn_service(&backend, &[("OPENMEMORY_TIMEOUT_MS", "150")]).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    fake.delay(Duration::from_millis(300));

    webhooks.deliver_call(&maria.transcription()).await;
    // After an add timed out, the next attempt first looks for it among the caller's memories.
    eventually("three timed-out attempts", || attempts_received(fake) >= 3).await;
    // The server kept the first memory it answered too late, so a retry finds it already there.
    assert_eq!(fake.memories_of(maria.number).len(), 1);
    fake.heal();
    webhooks.wait_until_learnt().await;

    webhooks.assert_learnt_once(&backend, &maria).await;
}
