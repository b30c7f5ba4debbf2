//! Failures on our side answer 500, so that ElevenLabs retries, and leave nothing half-written.

use super::*;

#[tokio::test]
async fn a_storage_failure_answers_500_so_that_elevenlabs_retries() {
    let mut failing = MockBlobStore::new();
    // Nothing is erased: the tombstone lookup finds no marker.
    failing.expect_get().returning(|_| Ok(None));
    failing
        .expect_put_stream()
        .returning(|_, _| Err(BlobStoreError::Storage("disk full".into())));
    let app = TestApp::spawn_with(TestPorts {
        blob_store: Arc::new(failing),
        ..TestPorts::default()
    })
    .await;
    let body = sample("post_call_transcription.json");
    let response = deliver(&app, &body, Some(signature_at(0, &body))).await;
    let error = assert_error(
        response,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    assert!(
        !error.to_string().contains("disk full"),
        "the cause leaked: {error}"
    );
    assert!(files_under(&app.staging_folder()).is_empty());
}

#[tokio::test]
async fn an_unwritable_archive_folder_answers_500_and_keeps_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let not_a_folder = scratch.path().join("file");
    std::fs::write(&not_a_folder, b"").unwrap();
    let blob_store = Arc::new(DiskBlobStore::new(not_a_folder.join("archive")));
    let app = TestApp::spawn_with(TestPorts {
        blob_store,
        ..TestPorts::default()
    })
    .await;
    let body = sample("post_call_audio.json");
    let response = deliver(&app, &body, Some(signature_at(0, &body))).await;
    assert_error(
        response,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    assert_eq!(files_under(scratch.path()), ["file"]);
}

/// Remembers the conversations it was asked to schedule; fails when told to.
#[derive(Default)]
struct RecordingScheduler {
    scheduled: Mutex<Vec<String>>,
    fail: bool,
}

#[async_trait]
impl IngestionScheduler for RecordingScheduler {
    async fn schedule(&self, conversation: &ConversationId) -> Result<(), SchedulingError> {
        if self.fail {
            return Err(SchedulingError::Storage("read-only".into()));
        }
        self.scheduled
            .lock()
            .unwrap()
            .push(conversation.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn only_a_transcription_is_scheduled_for_ingestion_before_the_answer() {
    let scheduler = Arc::new(RecordingScheduler::default());
    let disk = DiskApp::spawn_with(TestPorts {
        ingestion: scheduler.clone(),
        ..TestPorts::default()
    })
    .await;
    for file in [
        "post_call_audio.json",
        "call_initiation_failure.json",
        "post_call_transcription.json",
    ] {
        assert_eq!(disk.deliver(&sample(file)).await.status(), StatusCode::OK);
    }
    assert_eq!(*scheduler.scheduled.lock().unwrap(), [SAMPLE_CONVERSATION]);
}

#[tokio::test]
async fn a_transcription_whose_ingestion_cannot_be_scheduled_answers_500() {
    let scheduler = Arc::new(RecordingScheduler {
        fail: true,
        ..RecordingScheduler::default()
    });
    let disk = DiskApp::spawn_with(TestPorts {
        ingestion: scheduler,
        ..TestPorts::default()
    })
    .await;
    let response = disk.deliver(&sample("post_call_transcription.json")).await;
    assert_error(
        response,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
}
