//! The real process stopped while it learns a call, then started again over the same folders:
//! the new process finishes the call, and the store holds each memory exactly once.

use std::path::Path;
use std::time::Duration;

use super::hold_write_lock;
use crate::calls::{eventually, Call, Webhooks};
use crate::helpers::{Backend, CLIENT_DATA_KEY, POST_CALL_KEY, SEARCH_DATA_KEY};
use crate::service_process::ServiceProcess;

#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM: the worker stops between two memories.
    Graceful,
    /// SIGKILL: the process dies wherever it is, possibly between a memory and its record.
    Kill,
}

/// The service on `backend`, keeping everything under `data`.
fn start_service(data: &Path, backend: &Backend) -> ServiceProcess {
    let payloads = data.join("payloads");
    let database = data.join("memory.sqlite3");
    let (url, key) = match backend {
        Backend::OpenMemory(fake) => (fake.url().to_string(), fake.key()),
        Backend::Embedded => (String::new(), String::new()),
        Backend::Postgres(database) => (database.url().to_owned(), String::new()),
    };
    let mut env = vec![
        ("PAYLOAD_STORAGE_PATH", payloads.to_str().unwrap()),
        ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
        ("ELEVENLABS_POST_CALL_KEY", POST_CALL_KEY),
        ("ELEVENLABS_CLIENT_DATA_KEY", CLIENT_DATA_KEY),
        ("ELEVENLABS_SEARCH_DATA_KEY", SEARCH_DATA_KEY),
    ];
    match backend {
        Backend::OpenMemory(_) => env.extend([
            ("MEMORY_BACKEND", "openmemory"),
            ("OPENMEMORY_URL", url.as_str()),
            ("OPENMEMORY_KEY", key.as_str()),
        ]),
        Backend::Postgres(_) => env.extend([
            ("MEMORY_BACKEND", "postgres"),
            ("DATABASE_URL", url.as_str()),
        ]),
        Backend::Embedded => {}
    }
    ServiceProcess::start_dev(data, &env)
}

/// Waits for the service restarted over `data` to finish, then checks what it learnt.
async fn finish_after_a_restart(data: &Path, backend: &Backend, call: &Call) {
    let second = start_service(data, backend);
    let webhooks = Webhooks::at(&second.address);
    webhooks.wait_until_learnt().await;
    webhooks.assert_learnt_once(backend, call).await;
    second.stop();
}

async fn a_call_interrupted_by_a_stop_is_finished_after_a_restart(stop: Stop) {
    let backend = Backend::openmemory().await;
    let fake = backend.fake();
    let data = tempfile::tempdir().unwrap();
    let maria = Call::maria();
    let first = start_service(data.path(), &backend);
    // Each memory takes 300 ms to store, so the call is still being learnt when the stop comes.
    fake.delay(Duration::from_millis(300));

    Webhooks::at(&first.address)
        .deliver_call(&maria.transcription())
        .await;
    eventually("the first memories stored", || {
        fake.memories_of(maria.number).len() >= 2
    })
    .await;
    let logs = match stop {
        Stop::Graceful => first.stop(),
        Stop::Kill => first.kill(),
    };
    assert!(
        fake.memories_of(maria.number).len() < 7,
        "the call was learnt completely before the stop ({stop:?}):\n{logs}"
    );
    fake.heal();

    finish_after_a_restart(data.path(), &backend, &maria).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openmemory_a_service_stopped_with_sigterm_mid_call_finishes_it_after_a_restart_without_duplicates(
) {
    a_call_interrupted_by_a_stop_is_finished_after_a_restart(Stop::Graceful).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openmemory_a_service_killed_mid_call_finishes_it_after_a_restart_without_duplicates()
{
    a_call_interrupted_by_a_stop_is_finished_after_a_restart(Stop::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_embedded_store_a_service_killed_after_counting_a_call_learns_it_after_a_restart_without_counting_it_twice(
) {
    let data = tempfile::tempdir().unwrap();
    let maria = Call::maria();
    let first = start_service(data.path(), &Backend::Embedded);
    // The service counts the call on the caller's card, then waits to add the first memory.
    let lock = hold_write_lock(&data.path().join("memory.sqlite3"));
    let progress = data.path().join(format!(
        "payloads/.state/ingestion/progress/{}.json",
        maria.conversation
    ));

    Webhooks::at(&first.address)
        .deliver_call(&maria.transcription())
        .await;
    eventually("the call counted on the card", || progress.is_file()).await;
    first.kill();
    drop(lock);
    let pending = data.path().join(format!(
        "payloads/.state/ingestion/pending/{}.json",
        maria.conversation
    ));
    assert!(pending.is_file(), "the killed service left no pending call");

    finish_after_a_restart(data.path(), &Backend::Embedded, &maria).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_a_service_killed_after_counting_a_call_learns_it_after_a_restart_without_counting_it_twice(
) {
    let backend = Backend::postgres().await;
    let Backend::Postgres(database) = &backend else {
        unreachable!("a Postgres backend")
    };
    let data = tempfile::tempdir().unwrap();
    let maria = Call::maria();
    let first = start_service(data.path(), &backend);
    // The service counts the call on the caller's card, then waits to add the first memory.
    let mut holder = database.connect().await;
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let progress = data.path().join(format!(
        "payloads/.state/ingestion/progress/{}.json",
        maria.conversation
    ));

    Webhooks::at(&first.address)
        .deliver_call(&maria.transcription())
        .await;
    eventually("the call counted on the card", || progress.is_file()).await;
    first.kill();
    lock.rollback().await.unwrap();

    finish_after_a_restart(data.path(), &backend, &maria).await;
}
