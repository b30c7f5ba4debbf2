//! The real process stopped while it learns a call, then started again over the same folders:
//! the new process finishes the call, and the store holds each memory exactly once.

use std::path::Path;
use std::time::Duration;

use crate::calls::{eventually, Call, Webhooks};
use crate::helpers::{Backend, CLIENT_DATA_KEY, POST_CALL_KEY, SEARCH_DATA_KEY};
use crate::service_process::ServiceProcess;
use crate::support::fake_openmemory::FakeOpenMemory;

#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM: the worker stops between two memories.
    Graceful,
    /// SIGKILL: the process dies wherever it is, possibly between a memory and its record.
    Kill,
}

/// The service on the OpenMemory backend, keeping everything under `data`.
fn start_service(data: &Path, fake: &FakeOpenMemory) -> ServiceProcess {
    let url = fake.url().to_string();
    let key = fake.key();
    let payloads = data.join("payloads");
    let database = data.join("memory.sqlite3");
    ServiceProcess::start_dev(
        data,
        &[
            ("MEMORY_BACKEND", "openmemory"),
            ("OPENMEMORY_URL", &url),
            ("OPENMEMORY_KEY", &key),
            ("PAYLOAD_STORAGE_PATH", payloads.to_str().unwrap()),
            ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
            ("ELEVENLABS_POST_CALL_KEY", POST_CALL_KEY),
            ("ELEVENLABS_CLIENT_DATA_KEY", CLIENT_DATA_KEY),
            ("ELEVENLABS_SEARCH_DATA_KEY", SEARCH_DATA_KEY),
        ],
    )
}

async fn a_call_interrupted_by_a_stop_is_finished_after_a_restart(stop: Stop) {
    let backend = Backend::openmemory().await;
    let fake = backend.fake();
    let data = tempfile::tempdir().unwrap();
    let maria = Call::maria();
    let first = start_service(data.path(), fake);
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
    let stored_before_restart = fake.memories_of(maria.number).len();
    assert!(
        stored_before_restart < 7,
        "the call was learnt completely before the stop ({stop:?}):\n{logs}"
    );
    fake.heal();
    let second = start_service(data.path(), fake);
    let webhooks = Webhooks::at(&second.address);
    webhooks.wait_until_learnt().await;

    webhooks.assert_learnt_once(&backend, &maria).await;
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_stopped_with_sigterm_mid_call_finishes_it_after_a_restart_without_duplicates() {
    a_call_interrupted_by_a_stop_is_finished_after_a_restart(Stop::Graceful).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_mid_call_finishes_it_after_a_restart_without_duplicates() {
    a_call_interrupted_by_a_stop_is_finished_after_a_restart(Stop::Kill).await;
}
