//! `POST /webhook/post-call`: verified, streamed and atomically archived.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use caller_memory::core::ports::{
    BlobStoreError, IngestionScheduler, MockBlobStore, SchedulingError,
};
use caller_memory::core::ConversationId;
use caller_memory::inbound::http::signature::sign;
use caller_memory::outbound::disk_blob_store::DiskBlobStore;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{json_body, TestApp, TestPorts, POST_CALL_KEY};

const PATH: &str = "/webhook/post-call";
const SAMPLE_CONVERSATION: &str = "conv_01jz8q4b7c2d9e3f5g6h8j0k1m";

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/payloads/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn signature_at(offset_secs: i64, body: &[u8]) -> String {
    sign(
        POST_CALL_KEY,
        chrono::Utc::now().timestamp() + offset_secs,
        body,
    )
}

fn audio_event(conversation: &str, audio: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(audio);
    json!({"type": "post_call_audio", "event_timestamp": 1768489272,
           "data": {"agent_id": "agent_1", "conversation_id": conversation, "full_audio": encoded}})
    .to_string()
    .into_bytes()
}

/// An app whose archive is a real folder.
struct DiskApp {
    app: TestApp,
    archive: tempfile::TempDir,
}

impl DiskApp {
    async fn spawn() -> Self {
        Self::spawn_with(TestPorts::default()).await
    }

    async fn spawn_with(ports: TestPorts) -> Self {
        let archive = tempfile::tempdir().unwrap();
        let blob_store = Arc::new(DiskBlobStore::new(archive.path()));
        let app = TestApp::spawn_with(TestPorts {
            blob_store,
            ..ports
        })
        .await;
        Self { app, archive }
    }

    fn file(&self, relative: &str) -> Option<Vec<u8>> {
        std::fs::read(self.archive.path().join(relative)).ok()
    }

    /// Every file in the archive, relative to it.
    fn files(&self) -> Vec<String> {
        files_under(self.archive.path())
    }

    async fn deliver(&self, body: &[u8]) -> reqwest::Response {
        deliver(&self.app, body, Some(signature_at(0, body))).await
    }
}

fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path: PathBuf = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(PATH))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("ElevenLabs-Signature", signature);
    }
    request.send().await.expect("request sent")
}

/// Sends `body` with chunked transfer encoding (no Content-Length), in 64 KiB pieces.
async fn deliver_chunked(app: &TestApp, body: Vec<u8>) -> reqwest::Response {
    let signature = signature_at(0, &body);
    let pieces: Vec<Result<Bytes, std::io::Error>> = Bytes::from(body)
        .chunks(64 * 1024)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect();
    app.client
        .post(app.url(PATH))
        .header("content-type", "application/json")
        .header("ElevenLabs-Signature", signature)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .expect("request sent")
}

async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body = json_body(response).await;
    assert_eq!(body["error"], code, "{body}");
    body
}

#[tokio::test]
async fn a_signed_transcription_is_archived_byte_for_byte() {
    let disk = DiskApp::spawn().await;
    let transcription = sample("post_call_transcription.json");
    let response = disk.deliver(&transcription).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_body(response).await,
        json!({"status": "stored", "type": "post_call_transcription",
               "conversation_id": SAMPLE_CONVERSATION})
    );
    let stored = disk.file(&format!(
        "{SAMPLE_CONVERSATION}/{SAMPLE_CONVERSATION}_transcription.json"
    ));
    assert_eq!(stored, Some(transcription));
    assert!(files_under(&disk.app.staging_folder()).is_empty());
}

#[tokio::test]
async fn a_signed_audio_event_is_archived_as_the_decoded_mp3() {
    let disk = DiskApp::spawn().await;
    let response = disk.deliver(&sample("post_call_audio.json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await["type"], "post_call_audio");
    let mp3 = disk.file(&format!(
        "{SAMPLE_CONVERSATION}/{SAMPLE_CONVERSATION}_audio.mp3"
    ));
    let expected = base64::engine::general_purpose::STANDARD
        .decode("SUQzBAAAAAAAAP/7kGQAAAAAAAAAAAAAAAAAAA==")
        .unwrap();
    assert_eq!(mp3, Some(expected));
}

#[tokio::test]
async fn audio_with_json_escaped_slashes_decodes_to_the_same_mp3() {
    let disk = DiskApp::spawn().await;
    let audio = [0xff_u8, 0xfb, 0x90, 0x64, 0xff, 0xfe, 0xfd];
    let escaped = String::from_utf8(audio_event("conv_slash", &audio))
        .unwrap()
        .replace('/', "\\/");
    assert!(escaped.contains("\\/"));
    assert_eq!(
        disk.deliver(escaped.as_bytes()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        disk.file("conv_slash/conv_slash_audio.mp3"),
        Some(audio.to_vec())
    );
}

#[tokio::test]
async fn a_call_initiation_failure_is_archived_whether_sip_numbers_are_numbers_or_strings() {
    let disk = DiskApp::spawn().await;
    let twilio = sample("call_initiation_failure.json");
    assert_eq!(disk.deliver(&twilio).await.status(), StatusCode::OK);
    let id = "conv_01jz8r1x2y3z4a5b6c7d8e9f0g";
    assert_eq!(disk.file(&format!("{id}/{id}_failure.json")), Some(twilio));

    let sip = json!({"type": "call_initiation_failure", "event_timestamp": 1768575612,
        "data": {"agent_id": "agent_1", "conversation_id": "conv_sip", "failure_reason": "busy",
                 "metadata": {"type": "sip", "body": {"from_number": 14155550199_u64,
                     "to_number": "+14155550123", "sip_status_code": 486,
                     "error_reason": "INVITE failed: sip status: 486: Busy here (SIP 486)"}}}})
    .to_string();
    assert_eq!(disk.deliver(sip.as_bytes()).await.status(), StatusCode::OK);
    assert_eq!(
        disk.file("conv_sip/conv_sip_failure.json"),
        Some(sip.into_bytes())
    );
}

#[tokio::test]
async fn an_event_of_another_type_is_acknowledged_and_ignored() {
    let disk = DiskApp::spawn().await;
    let body = br#"{"type": "voice_removal_notice", "data": {"voice_id": "v1"}}"#;
    let response = disk.deliver(body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_body(response).await,
        json!({"status": "ignored", "type": "voice_removal_notice", "conversation_id": null})
    );
    assert!(disk.files().is_empty());
}

#[tokio::test]
async fn a_missing_garbled_wrong_stale_or_future_signature_is_refused_without_detail() {
    let disk = DiskApp::spawn().await;
    let body = sample("post_call_transcription.json");
    let now = chrono::Utc::now().timestamp();
    let cases = [
        None,
        Some("garbled".to_owned()),
        Some(sign("another-key", now, &body)),
        Some(signature_at(-31 * 60, &body)),
        Some(signature_at(10 * 60, &body)),
        Some(signature_at(0, b"{\"type\": \"another body\"}")),
    ];
    for signature in cases {
        let response = deliver(&disk.app, &body, signature.clone()).await;
        let error = assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
        assert_eq!(
            error,
            json!({"error": "invalid_signature", "message": "invalid signature"})
        );
    }
    assert!(disk.files().is_empty());
    assert!(files_under(&disk.app.staging_folder()).is_empty());
}

#[tokio::test]
async fn an_unsigned_body_is_refused_before_it_is_parsed() {
    let app = TestApp::spawn().await;
    let response = deliver(&app, b"not json at all", Some("t=1,v0=00".to_owned())).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
}

#[tokio::test]
async fn invalid_json_after_a_valid_signature_is_a_bad_request() {
    let disk = DiskApp::spawn().await;
    for broken in [
        &b"{\"type\": \"post_call_transcription\","[..],
        b"[]",
        b"{\"type\": 1}",
    ] {
        let response = disk.deliver(broken).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert!(disk.files().is_empty());
}

#[tokio::test]
async fn a_missing_or_unsafe_conversation_id_is_a_bad_request() {
    let disk = DiskApp::spawn().await;
    for data in [
        json!({}),
        json!({"conversation_id": "../../etc"}),
        json!({"conversation_id": "a".repeat(129)}),
        json!({"conversation_id": 7}),
    ] {
        let body = json!({"type": "post_call_transcription", "data": data}).to_string();
        let response = disk.deliver(body.as_bytes()).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("conversation_id"),
            "{error}"
        );
    }
    assert!(disk.files().is_empty());
}

#[tokio::test]
async fn invalid_base64_audio_is_a_bad_request_and_leaves_no_file() {
    let disk = DiskApp::spawn().await;
    // Broken at the very end, once most of the audio has already been decoded and written.
    let body = String::from_utf8(audio_event("conv_bad", &[7u8; 300_000]))
        .unwrap()
        .replace("BwcH\"", "Bw!H\"");
    let response = disk.deliver(body.as_bytes()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let missing_audio = json!({"type": "post_call_audio", "data": {"conversation_id": "conv_bad"}});
    let response = disk.deliver(missing_audio.to_string().as_bytes()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(disk.files().is_empty(), "{:?}", disk.files());
    assert!(files_under(&disk.app.staging_folder()).is_empty());
}

#[tokio::test]
async fn a_50_mb_audio_body_sent_chunked_is_archived_decoded() {
    let disk = DiskApp::spawn().await;
    let audio: Vec<u8> = (0..37_500_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let body = audio_event("conv_long", &audio);
    assert!(body.len() > 50_000_000);
    let response = deliver_chunked(&disk.app, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored = disk
        .file("conv_long/conv_long_audio.mp3")
        .expect("audio archived");
    assert!(
        stored == audio,
        "the archived audio differs from the one sent"
    );
    assert_eq!(disk.files(), ["conv_long/conv_long_audio.mp3"]);
}

#[tokio::test]
async fn a_repeated_delivery_answers_200_again_and_leaves_the_same_files() {
    let disk = DiskApp::spawn().await;
    let transcription = sample("post_call_transcription.json");
    for _ in 0..3 {
        assert_eq!(disk.deliver(&transcription).await.status(), StatusCode::OK);
    }
    let key = format!("{SAMPLE_CONVERSATION}/{SAMPLE_CONVERSATION}_transcription.json");
    assert_eq!(disk.files(), [key.as_str()]);
    assert_eq!(disk.file(&key), Some(transcription));
}

#[tokio::test]
async fn audio_and_transcript_are_both_kept_whichever_arrives_first() {
    let disk = DiskApp::spawn().await;
    assert_eq!(
        disk.deliver(&sample("post_call_audio.json")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        disk.deliver(&sample("post_call_transcription.json"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        disk.files(),
        [
            format!("{SAMPLE_CONVERSATION}/{SAMPLE_CONVERSATION}_audio.mp3"),
            format!("{SAMPLE_CONVERSATION}/{SAMPLE_CONVERSATION}_transcription.json"),
        ]
    );
}

#[tokio::test]
async fn a_storage_failure_answers_500_so_that_elevenlabs_retries() {
    let mut failing = MockBlobStore::new();
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

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_with_or_without_content_length() {
    let limit = 1024 * 1024;
    let disk = DiskApp::spawn_with(TestPorts {
        max_body_bytes: limit,
        ..TestPorts::default()
    })
    .await;
    let body = audio_event("conv_big", &vec![1u8; 2 * limit as usize]);
    let declared = disk.deliver(&body).await;
    assert_error(declared, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let chunked = deliver_chunked(&disk.app, body).await;
    assert_error(chunked, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let just_fits = audio_event("conv_fits", &[1u8; 1000]);
    assert_eq!(disk.deliver(&just_fits).await.status(), StatusCode::OK);
    assert_eq!(disk.files(), ["conv_fits/conv_fits_audio.mp3"]);
    assert!(files_under(&disk.app.staging_folder()).is_empty());
}
