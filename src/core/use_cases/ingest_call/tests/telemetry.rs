//! What ingestion reports to operators while it works.

use std::sync::Arc;
use std::time::Duration;

use super::support::*;
use crate::core::ports::{IngestionResolution, IngestionRetry};
use crate::core::use_cases::test_support::Reported;

fn resolutions(events: &[Reported]) -> Vec<&Reported> {
    events
        .iter()
        .filter(|event| matches!(event, Reported::IngestionResolved(..)))
        .collect()
}

#[tokio::test]
async fn a_learnt_call_reports_its_lag_from_archiving_and_leaves_nothing_in_progress() {
    let app = Harness::new(ScriptedStore::healthy());
    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.clock.advance(chrono::Duration::seconds(90));
    app.ingest_now(&id).await;

    let events = app.telemetry.events();
    assert_eq!(events.first(), Some(&Reported::IngestionStarted));
    assert_eq!(events.last(), Some(&Reported::IngestionStopped));
    assert_eq!(
        resolutions(&events),
        [&Reported::IngestionResolved(
            IngestionResolution::Ingested,
            Some(Duration::from_secs(90))
        )]
    );
}

#[tokio::test]
async fn each_wait_for_an_unavailable_store_is_reported_as_a_retry() {
    let store = Arc::new(ScriptedStore {
        unavailable_for: 3.into(),
        ..ScriptedStore::default()
    });
    let app = Harness::new(store);
    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.ingest_now(&id).await;

    let retries = app
        .telemetry
        .events()
        .into_iter()
        .filter(|event| *event == Reported::IngestionRetry(IngestionRetry::MemoryStoreUnavailable))
        .count();
    assert_eq!(retries, 3);
}

#[tokio::test]
async fn a_declined_memory_and_a_call_without_a_number_are_reported_as_such() {
    let store = Arc::new(ScriptedStore {
        declines_key: Some("fact-last_name"),
        ..ScriptedStore::default()
    });
    let app = Harness::new(store);
    let learnt = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.ingest_now(&learnt).await;
    let anonymous = app.deliver(&transcription("conv_anonymous", None)).await;
    app.ingest_now(&anonymous).await;

    let events = app.telemetry.events();
    let declined = events
        .iter()
        .filter(|event| **event == Reported::MemoryNotStored)
        .count();
    assert_eq!(declined, 1);
    let outcomes: Vec<IngestionResolution> = resolutions(&events)
        .into_iter()
        .map(|event| match event {
            Reported::IngestionResolved(resolution, _) => *resolution,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        outcomes,
        [IngestionResolution::Ingested, IngestionResolution::Skipped]
    );
}
