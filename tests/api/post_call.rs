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

mod failures;
mod refusals;

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
            } else if entry.file_name() != crate::helpers::STAGING_LOCK {
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
