use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::stores::{MeasuredBlobStore, MeasuredMemoryStore};
use super::*;
use crate::core::ports::{
    BlobKey, BlobStore, BlobStoreError, GreetingFallback, IngestionResolution, IngestionRetry,
    MemoryStore, MemoryStoreError, MockBlobStore, MockMemoryStore, PutCondition, Telemetry,
};
use crate::outbound::cached_blob_store::CachedBlobStore;
use crate::test_doubles::InMemoryBlobStore;

fn metrics() -> Metrics {
    Metrics::new(BuildInfo {
        memory_backend: "embedded",
        blob_backend: "disk",
    })
}

fn requests(metrics: &Metrics, operation: &str, status: &str) -> u64 {
    metrics
        .instruments
        .requests
        .with_label_values(&[operation, status])
        .get()
}

fn deliveries(metrics: &Metrics, event_type: &str, outcome: &str) -> u64 {
    metrics
        .instruments
        .post_call_deliveries
        .with_label_values(&[event_type, outcome])
        .get()
}

#[test]
fn a_request_is_counted_by_operation_and_status_with_its_latency() {
    let metrics = metrics();
    metrics.record_request(Operation::ClientData, 200, Duration::from_micros(300));
    metrics.record_request(Operation::ClientData, 200, Duration::from_micros(300));
    metrics.record_request(Operation::ClientData, 401, Duration::from_micros(80));
    metrics.record_request(Operation::ClientData, 418, Duration::from_micros(80));
    assert_eq!(requests(&metrics, "client_data", "200"), 2);
    assert_eq!(requests(&metrics, "client_data", "401"), 1);
    assert_eq!(requests(&metrics, "client_data", "418"), 1);
    assert_eq!(requests(&metrics, "search_data", "200"), 0);
    let text = metrics.render();
    // 0.3 ms falls in the 0.5 ms bucket, not the 0.25 ms one: sub-millisecond greetings resolve.
    assert!(text.contains(
        "caller_memory_http_request_duration_seconds_bucket{operation=\"client_data\",le=\"0.00025\"} 2"
    ), "{text}");
    assert!(text.contains(
        "caller_memory_http_request_duration_seconds_bucket{operation=\"client_data\",le=\"0.0005\"} 4"
    ), "{text}");
}

#[test]
fn made_up_paths_share_one_operation_label() {
    assert_eq!(
        Operation::of_path("/webhook/client-data"),
        Operation::ClientData
    );
    assert_eq!(Operation::of_path("/docs/index.css"), Operation::Docs);
    assert_eq!(Operation::of_path("/wp-admin/x.php"), Operation::Other);
    assert_eq!(
        Operation::of_path("/webhook/client-data/x"),
        Operation::Other
    );
}

#[test]
fn each_operation_has_its_own_instruments() {
    let metrics = metrics();
    for (index, operation) in Operation::ALL.iter().enumerate() {
        assert_eq!(*operation as usize, index, "Operation::ALL is out of order");
        metrics.record_request(*operation, 200, Duration::ZERO);
        assert_eq!(requests(&metrics, operation.label(), "200"), 1);
    }
}

#[test]
fn two_services_in_one_process_count_separately() {
    let (first, second) = (metrics(), metrics());
    first.record_request(Operation::Health, 200, Duration::ZERO);
    assert_eq!(requests(&first, "health", "200"), 1);
    assert_eq!(requests(&second, "health", "200"), 0);
}

#[test]
fn build_info_names_the_version_and_backends() {
    let text = metrics().render();
    let expected = format!(
        "caller_memory_build_info{{blob_backend=\"disk\",memory_backend=\"embedded\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&expected), "{text}");
}

#[test]
fn post_call_outcomes_are_counted_by_event_type_and_reason() {
    let metrics = metrics();
    metrics.post_call_accepted("post_call_transcription", true);
    metrics.post_call_accepted("post_call_audio", true);
    metrics.post_call_accepted("some_future_event", false);
    for status in [401, 413, 415, 400, 500] {
        metrics.post_call_answered(status);
    }
    assert_eq!(
        deliveries(&metrics, "post_call_transcription", "archived"),
        1
    );
    assert_eq!(deliveries(&metrics, "post_call_audio", "archived"), 1);
    assert_eq!(deliveries(&metrics, "other", "ignored"), 1);
    assert_eq!(deliveries(&metrics, "unknown", "refused_signature"), 1);
    assert_eq!(deliveries(&metrics, "unknown", "refused_size"), 1);
    assert_eq!(deliveries(&metrics, "unknown", "refused_shape"), 2);
    assert_eq!(deliveries(&metrics, "unknown", "failed"), 1);
}

#[test]
fn the_failure_streak_grows_with_each_refusal_and_ends_with_a_success() {
    let metrics = metrics();
    let streak = || metrics.instruments.post_call_failure_streak.get();
    metrics.post_call_answered(401);
    metrics.post_call_answered(500);
    assert_eq!(streak(), 2);
    metrics.post_call_answered(200);
    assert_eq!(streak(), 0);
    metrics.post_call_answered(401);
    assert_eq!(streak(), 1);
}

/// Collects what the log says while `action` runs.
fn logged(action: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, action);
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn the_log_says_once_at_each_threshold_what_to_do_about_refused_signatures() {
    let metrics = metrics();
    let log = logged(|| {
        for _ in 0..7 {
            metrics.post_call_answered(401);
        }
    });
    let advice = "post-call deliveries in a row were refused for their signature: \
                  ELEVENLABS_POST_CALL_KEY probably differs from the webhook secret; ElevenLabs \
                  disables the webhook after 10";
    assert_eq!(log.matches(&format!("3 {advice}")).count(), 1, "{log}");
    assert_eq!(log.matches(&format!("5 {advice}")).count(), 1, "{log}");
    assert_eq!(
        log.matches("post-call deliveries in a row").count(),
        2,
        "{log}"
    );
    assert!(log.contains("WARN") && log.contains("ERROR"), "{log}");
}

#[test]
fn a_streak_of_mixed_failures_is_said_as_such_and_its_end_is_logged() {
    let metrics = metrics();
    let log = logged(|| {
        metrics.post_call_answered(401);
        metrics.post_call_answered(500);
        metrics.post_call_answered(401);
        metrics.post_call_answered(200);
    });
    assert!(
        log.contains("3 post-call deliveries in a row were refused or failed for several reasons"),
        "{log}"
    );
    assert!(
        log.contains("succeed again after 3 in a row did not"),
        "{log}"
    );
}

#[test]
fn use_case_events_move_their_counters() {
    let metrics = metrics();
    metrics.greeting_fallback(GreetingFallback::DeadlinePassed);
    metrics.ingestion_started();
    assert_eq!(metrics.instruments.ingestion_in_progress.get(), 1);
    metrics.ingestion_retry(IngestionRetry::MemoryStoreUnavailable);
    metrics.memory_not_stored();
    metrics.ingestion_resolved(IngestionResolution::Ingested, Some(Duration::from_secs(2)));
    metrics.ingestion_resolved(IngestionResolution::Failed, Some(Duration::from_secs(2)));
    metrics.ingestion_stopped();
    let instruments = &metrics.instruments;
    assert_eq!(instruments.ingestion_in_progress.get(), 0);
    let fallbacks = instruments
        .greeting_fallbacks
        .with_label_values(&["deadline"]);
    assert_eq!(fallbacks.get(), 1);
    let retries = instruments
        .ingestion_retries
        .with_label_values(&["memory_store_unavailable"]);
    assert_eq!(retries.get(), 1);
    assert_eq!(instruments.memories_not_stored.get(), 1);
    let resolved = |outcome: &str| {
        instruments
            .ingestion_resolved
            .with_label_values(&[outcome])
            .get()
    };
    assert_eq!((resolved("ingested"), resolved("failed")), (1, 1));
    // Only calls learnt from have a lag.
    assert_eq!(instruments.ingestion_lag.get_sample_count(), 1);
    assert_eq!(instruments.ingestion_lag.get_sample_sum(), 2.0);
}

#[tokio::test]
async fn memory_store_calls_are_timed_and_their_errors_counted_by_kind() {
    let metrics = metrics();
    let mut inner = MockMemoryStore::new();
    inner
        .expect_check()
        .returning(|| Err(MemoryStoreError::Unavailable("connection refused".into())));
    let store = MeasuredMemoryStore::new(Arc::new(inner), &metrics);
    assert!(store.check().await.is_err());
    assert!(store.check().await.is_err());
    let errors = metrics
        .instruments
        .memory_store_errors
        .with_label_values(&["check", "unavailable"]);
    assert_eq!(errors.get(), 2);
    let timed = metrics
        .instruments
        .memory_store_duration
        .with_label_values(&["check"]);
    assert_eq!(timed.get_sample_count(), 2);
}

#[tokio::test]
async fn a_lost_conditional_update_is_not_a_blob_store_error() {
    let metrics = metrics();
    let mut inner = MockBlobStore::new();
    inner
        .expect_put()
        .returning(|_, _, _| Err(BlobStoreError::ConditionFailed));
    inner
        .expect_delete()
        .returning(|_| Err(BlobStoreError::Storage("disk full".into())));
    let store = MeasuredBlobStore::new(Arc::new(inner), &metrics);
    let key = BlobKey::parse("a/b.json").unwrap();
    let put = store.put(&key, Bytes::new(), PutCondition::Overwrite).await;
    assert!(put.is_err());
    assert!(store.delete(&key).await.is_err());
    let errors = |call: &str, kind: &str| {
        metrics
            .instruments
            .blob_store_errors
            .with_label_values(&[call, kind])
            .get()
    };
    assert_eq!(errors("delete", "storage"), 1);
    assert_eq!(errors("put", "storage") + errors("put", "unknown"), 0);
}

#[tokio::test]
async fn read_cache_hits_and_misses_are_counted() {
    let metrics = metrics();
    let cached = CachedBlobStore::new(Arc::new(InMemoryBlobStore::new()), 16)
        .with_lookups(metrics.cache_lookups());
    let key = BlobKey::parse("card.json").unwrap();
    for _ in 0..3 {
        cached.get(&key).await.unwrap();
    }
    let lookups = |result: &str| {
        metrics
            .instruments
            .read_cache_lookups
            .with_label_values(&[result])
            .get()
    };
    assert_eq!((lookups("miss"), lookups("hit")), (1, 2));
}

/// The count of a one-label counter family's child.
fn count(family: &IntCounterVec, label: &str) -> u64 {
    family.with_label_values(&[label]).get()
}

#[test]
fn withheld_overrides_are_counted_by_reason() {
    for (index, reason) in WithheldReason::ALL.iter().enumerate() {
        assert_eq!(
            *reason as usize, index,
            "WithheldReason::ALL is out of order"
        );
    }
    let metrics = metrics();
    metrics.override_withheld(WithheldReason::NotAllowed);
    metrics.override_withheld(WithheldReason::NotAllowed);
    metrics.override_withheld(WithheldReason::SettingsUnknown);
    let withheld = |reason| count(&metrics.instruments.greeting_overrides_withheld, reason);
    assert_eq!(withheld("not_allowed"), 2);
    assert_eq!(withheld("settings_unknown"), 1);
    assert_eq!(withheld("no_agent"), 0);
}

fn edge_stats(source_refusals: u64, auth_throttled_requests: u64) -> EdgeStats {
    EdgeStats {
        open_connections: 4,
        unverified_bytes_in_flight: 1_000,
        locked_out_peers: 1,
        source_refusals,
        connections_shed: 0,
        header_timeouts: 0,
        body_stalls: 0,
        unverified_budget_refusals: 0,
        auth_failures: 0,
        auth_lockouts: 0,
        auth_throttled_requests,
    }
}

#[test]
fn edge_refusal_counters_follow_the_edge_totals_without_counting_twice() {
    let metrics = metrics();
    let refusals = |kind| count(&metrics.instruments.edge_refusals, kind);
    metrics.set_edge(&edge_stats(3, 0));
    metrics.set_edge(&edge_stats(3, 0));
    assert_eq!(
        (refusals("source_not_allowed"), refusals("auth_throttled")),
        (3, 0)
    );
    metrics.set_edge(&edge_stats(5, 2));
    assert_eq!(
        (refusals("source_not_allowed"), refusals("auth_throttled")),
        (5, 2)
    );
    assert_eq!(refusals("connection_cap"), 0);
    assert_eq!(metrics.instruments.edge_open_connections.get(), 4);
    assert_eq!(metrics.instruments.edge_unverified_bytes.get(), 1_000);
    assert_eq!(metrics.instruments.edge_locked_out_peers.get(), 1);
}
