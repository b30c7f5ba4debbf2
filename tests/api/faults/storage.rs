//! Storage that fails while a call is archived: the delivery answers 500 so that ElevenLabs
//! retries it, nothing is left half-written, and the retry succeeds once storage is back.

use std::sync::Arc;

use base64::Engine;
use caller_memory::inbound::http::signature::sign;
use caller_memory::outbound::disk_blob_store::DiskBlobStore;
use serde_json::json;

use super::FaultyBlobStore;
use crate::helpers::{files_under, TestApp, TestPorts, POST_CALL_KEY};

fn audio_event(conversation: &str, audio: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(audio);
    json!({"type": "post_call_audio",
           "data": {"agent_id": "agent_1", "conversation_id": conversation, "full_audio": encoded}})
    .to_string()
    .into_bytes()
}

async fn deliver(app: &TestApp, body: &[u8]) -> u16 {
    let signature = sign(POST_CALL_KEY, chrono::Utc::now().timestamp(), body);
    app.client
        .post(app.url("/webhook/post-call"))
        .header("content-type", "application/json")
        .header("ElevenLabs-Signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_disk_that_fills_up_answers_500_keeps_nothing_and_takes_the_retry_once_freed() {
    let archive = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyBlobStore::full(Arc::new(DiskBlobStore::new(
        archive.path(),
    ))));
    let app = TestApp::spawn_with(TestPorts {
        blob_store: disk.clone(),
        ..TestPorts::default()
    })
    .await;
    let audio: Vec<u8> = (0..600_000u32).map(|n| (n % 253) as u8).collect();
    let body = audio_event("conv_full", &audio);
    for _ in 0..2 {
        assert_eq!(deliver(&app, &body).await, 500);
    }
    assert_eq!(files_under(archive.path()), Vec::<String>::new());
    assert_eq!(files_under(&app.staging_folder()), Vec::<String>::new());

    disk.free_space();
    assert_eq!(deliver(&app, &body).await, 200);
    assert_eq!(
        files_under(archive.path()),
        ["conv_full/conv_full_audio.mp3"]
    );
    let stored = std::fs::read(archive.path().join("conv_full/conv_full_audio.mp3")).unwrap();
    assert!(
        stored == audio,
        "the archived audio differs from the one sent"
    );
}

#[tokio::test]
async fn an_archive_that_cannot_be_created_answers_500_until_it_can_then_takes_the_retry() {
    // A file where the archive's parent folder should be: every write fails with "not a
    // directory", for real, until the file is removed.
    let scratch = tempfile::tempdir().unwrap();
    let blocker = scratch.path().join("volume");
    std::fs::write(&blocker, b"").unwrap();
    let root = blocker.join("archive");
    let app = TestApp::spawn_with(TestPorts {
        blob_store: Arc::new(DiskBlobStore::new(&root)),
        ..TestPorts::default()
    })
    .await;
    let transcription = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/payloads/post_call_transcription.json"
    ))
    .unwrap();
    let audio = audio_event("conv_ro", &[9u8; 70_000]);
    for body in [&transcription, &audio] {
        assert_eq!(deliver(&app, body).await, 500);
    }
    assert_eq!(files_under(scratch.path()), ["volume"]);

    std::fs::remove_file(&blocker).unwrap();
    for body in [&transcription, &audio] {
        assert_eq!(deliver(&app, body).await, 200);
    }
    let id = "conv_01jz8q4b7c2d9e3f5g6h8j0k1m";
    assert_eq!(
        std::fs::read(root.join(format!("{id}/{id}_transcription.json"))).unwrap(),
        transcription
    );
    assert_eq!(
        std::fs::read(root.join("conv_ro/conv_ro_audio.mp3")).unwrap(),
        vec![9u8; 70_000]
    );
}
