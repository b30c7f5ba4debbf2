//! `/ready` reports the ingestion backlog without listing the ingestion folders for every probe:
//! an instance counts the backlog at most once per `PENDING_SCAN_MS`, and the figures still
//! follow the calls delivered and learnt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use caller_memory::core::use_cases::ingest_call::IngestCall;
use caller_memory::inbound::elevenlabs::parse_transcription;
use caller_memory::outbound::system_clock::SystemClock;
use caller_memory::test_doubles::{InMemoryBlobStore, InMemoryMemoryStore};
use futures_util::future::join_all;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::calls::{Call, Webhooks};
use crate::helpers::{json_body, TestApp, TestPorts};

/// The folders a count of the backlog lists.
const BACKLOG_FOLDERS: [&str; 3] = [
    ".state/ingestion/pending/",
    ".state/ingestion/failed/",
    ".state/ingestion/not_stored/",
];

const DEADLINE: Duration = Duration::from_secs(10);

/// An app over `blobs` whose ingestion counts its backlog at most once per `pending_scan`; its
/// worker is not running.
async fn app_over(
    blobs: Arc<InMemoryBlobStore>,
    pending_scan: Duration,
) -> (TestApp, Arc<IngestCall>) {
    let memory_store = Arc::new(InMemoryMemoryStore::new());
    let ingest = Arc::new(
        IngestCall::new(
            memory_store.clone(),
            blobs.clone(),
            Arc::new(SystemClock),
            parse_transcription,
            vec!["first_name".to_owned()],
        )
        .with_pending_scan(pending_scan),
    );
    let app = TestApp::spawn_with(TestPorts {
        memory_store,
        blob_store: blobs,
        ingestion: ingest.clone(),
        ..TestPorts::default()
    })
    .await;
    (app, ingest)
}

async fn ready(app: &TestApp) -> Value {
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}

/// The backlog figures of a `/ready` answer, with the time they were counted.
fn backlog(readiness: &Value) -> [Value; 4] {
    [
        "pending_ingestions",
        "failed_ingestions",
        "not_stored_memories",
        "ingestions_counted_at",
    ]
    .map(|field| readiness[field].clone())
}

/// Polls `/ready` until `condition` holds; fails with the last answer after the deadline.
async fn wait_for_readiness(webhooks: &Webhooks, condition: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let readiness = webhooks.readiness().await;
        if condition(&readiness) {
            return readiness;
        }
        assert!(
            Instant::now() < deadline,
            "not within {DEADLINE:?}: {readiness}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn many_ready_probes_at_once_and_in_a_row_list_the_ingestion_folders_once_per_pending_scan() {
    let blobs = Arc::new(InMemoryBlobStore::new());
    let (app, _ingest) = app_over(blobs.clone(), Duration::from_secs(3600)).await;
    app.webhooks()
        .deliver_call(&Call::maria().transcription())
        .await;

    let mut answers = join_all((0..20).map(|_| ready(&app))).await;
    for _ in 0..30 {
        answers.push(ready(&app).await);
    }

    let first = backlog(&answers[0]);
    assert_eq!(first[0], 1, "{}", answers[0]);
    assert!(first[3].is_string(), "{}", answers[0]);
    for answer in &answers {
        assert_eq!(backlog(answer), first, "{answer}");
    }
    for folder in BACKLOG_FOLDERS {
        assert_eq!(blobs.times_listed(folder), 1, "{folder}");
    }
}

#[tokio::test]
async fn ready_counts_the_calls_delivered_and_learnt_since_its_last_count() {
    let blobs = Arc::new(InMemoryBlobStore::new());
    let (app, ingest) = app_over(blobs, Duration::from_millis(100)).await;
    let webhooks = app.webhooks();
    assert_eq!(webhooks.readiness().await["pending_ingestions"], 0);

    for call in [Call::maria(), Call::juan()] {
        webhooks.deliver_call(&call.transcription()).await;
    }
    wait_for_readiness(&webhooks, |readiness| readiness["pending_ingestions"] == 2).await;
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { ingest.run(shutdown).await }
    });
    let learnt = webhooks.wait_until_learnt().await;
    shutdown.cancel();
    worker.await.unwrap();

    assert_eq!(backlog(&learnt)[..3], [0, 0, 0], "{learnt}");
}
