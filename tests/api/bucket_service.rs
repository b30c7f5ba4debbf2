//! The real binary with its objects in an S3-compatible bucket (`BLOB_STORE_URL=s3://...`, the
//! standard `AWS_*` variables), against the S3 test server: a signed transcription is learnt
//! and its caller greeted by name; audio streams to the bucket; the local folder keeps nothing
//! but what is being received.

use std::path::Path;

use base64::Engine;
use caller_memory::core::ports::BlobKey;
use serde_json::json;

use crate::calls::{assert_greeted_after_one_call, Call, Webhooks};
use crate::helpers::{files_under, CLIENT_DATA_KEY, POST_CALL_KEY, SEARCH_DATA_KEY};
use crate::service_process::ServiceProcess;
use crate::support::s3_server::{fresh_prefix, s3_server, BUCKET};

/// The service on the embedded memory store, with its objects under `prefix` of the bucket.
fn start_on_bucket(data: &Path, prefix: &str) -> ServiceProcess {
    let payloads = data.join("payloads");
    let database = data.join("memory.sqlite3");
    let blob_store_url = format!("s3://{BUCKET}/{prefix}");
    let aws = s3_server().aws_variables();
    let mut env = vec![
        ("PAYLOAD_STORAGE_PATH", payloads.to_str().unwrap()),
        ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
        ("ELEVENLABS_POST_CALL_KEY", POST_CALL_KEY),
        ("ELEVENLABS_CLIENT_DATA_KEY", CLIENT_DATA_KEY),
        ("ELEVENLABS_SEARCH_DATA_KEY", SEARCH_DATA_KEY),
        ("BLOB_STORE_URL", blob_store_url.as_str()),
    ];
    env.extend(aws.iter().map(|(key, value)| (*key, value.as_str())));
    ServiceProcess::start_dev(data, &env)
}

#[tokio::test]
async fn with_a_bucket_a_caller_learnt_from_a_signed_transcription_is_greeted_by_name() {
    let data = tempfile::tempdir().unwrap();
    let prefix = fresh_prefix();
    let service = start_on_bucket(data.path(), &prefix);
    let webhooks = Webhooks::at(&service.address);
    let maria = Call::maria();

    webhooks.deliver_call(&maria.transcription()).await;
    webhooks.wait_until_learnt().await;

    assert_greeted_after_one_call(&webhooks.greet(maria.number).await, &maria);
    let readiness = webhooks.readiness().await;
    assert_eq!(readiness["status"], "ok", "{readiness}");
    let archived = s3_server()
        .store_at(&prefix)
        .list(&format!("{}/", maria.conversation))
        .await
        .expect("the bucket lists");
    let transcription = format!("{0}/{0}_transcription.json", maria.conversation);
    assert_eq!(archived, [BlobKey::parse(&transcription).unwrap()]);
    // Profile cards, progress and the archive are all in the bucket: the local folder holds
    // only the lock (staging is empty between requests).
    assert_eq!(
        files_under(&data.path().join("payloads")),
        [".lock"],
        "{}",
        service.logs()
    );
}

#[tokio::test]
async fn with_a_bucket_audio_streams_to_the_bucket_whole() {
    let data = tempfile::tempdir().unwrap();
    let prefix = fresh_prefix();
    let service = start_on_bucket(data.path(), &prefix);
    // Larger than one part of a multipart upload (5 MiB).
    let audio: Vec<u8> = (0..7_000_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let event = json!({"type": "post_call_audio",
        "data": {"agent_id": "agent_1", "conversation_id": "conv_audio",
                 "full_audio": base64::engine::general_purpose::STANDARD.encode(&audio)}});

    let response = Webhooks::at(&service.address)
        .deliver(event.to_string().as_bytes())
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let key = BlobKey::parse("conv_audio/conv_audio_audio.mp3").unwrap();
    let stored = s3_server()
        .store_at(&prefix)
        .get(&key)
        .await
        .expect("the bucket answers")
        .expect("the audio is in the bucket");
    assert!(
        stored.bytes == audio,
        "the stored audio differs from the one sent"
    );
}
