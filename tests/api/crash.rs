//! The process killed while an audio body streams in: nothing partial is ever archived under
//! the final name, and the retry after a restart stores the complete audio.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use caller_memory::inbound::http::signature::sign;
use serde_json::json;
use tokio::sync::mpsc;

use crate::helpers::bytes_in;
use crate::service_process::ServiceProcess;

const CONVERSATION: &str = "conv_killed";
const PIECE: usize = 64 * 1024;

fn audio_event(audio: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(audio);
    json!({"type": "post_call_audio",
           "data": {"agent_id": "agent_1", "conversation_id": CONVERSATION, "full_audio": encoded}})
    .to_string()
    .into_bytes()
}

fn post(
    service: &ServiceProcess,
    body: reqwest::Body,
    signature: String,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(service.url("/webhook/post-call"))
        .header("content-type", "application/json")
        .header("ElevenLabs-Signature", signature)
        .body(body)
}

/// Bytes written to the staging folder so far.
fn staged_bytes(payloads: &Path) -> u64 {
    bytes_in(&payloads.join(".staging"))
}

fn files_named_like_the_audio(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn a_process_killed_mid_upload_archives_no_partial_audio_and_takes_the_retry() {
    let data = tempfile::tempdir().unwrap();
    let payloads = data.path().join(".dev-data/payloads");
    let audio: Vec<u8> = (0..6_000_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let body = audio_event(&audio);
    let signature = sign(
        "dev-only-post-call-key",
        chrono::Utc::now().timestamp(),
        &body,
    );

    let service = ServiceProcess::start_dev(data.path(), &[]);
    // Half the body, then the sender stalls: the process dies while the body is streaming in.
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    });
    let upload = tokio::spawn(
        post(
            &service,
            reqwest::Body::wrap_stream(stream),
            signature.clone(),
        )
        .send(),
    );
    let half = body.len() / 2;
    for piece in body[..half].chunks(PIECE) {
        sender
            .send(Ok(Bytes::copy_from_slice(piece)))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while staged_bytes(&payloads) < (half / 2) as u64 {
        assert!(
            Instant::now() < deadline,
            "the body never reached the staging folder"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.kill();
    assert!(upload.await.unwrap().is_err(), "the killed server answered");
    drop(sender);
    let folder = payloads.join(CONVERSATION);
    assert_eq!(files_named_like_the_audio(&folder), Vec::<String>::new());

    // Started again over the same folders, the retried delivery is stored whole.
    let service = ServiceProcess::start_dev(data.path(), &[]);
    let response = post(&service, body.clone().into(), signature)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let stored = std::fs::read(folder.join(format!("{CONVERSATION}_audio.mp3"))).unwrap();
    assert!(
        stored == audio,
        "the archived audio differs from the one sent"
    );
    assert_eq!(
        files_named_like_the_audio(&folder),
        [format!("{CONVERSATION}_audio.mp3")]
    );
    assert_eq!(
        staged_bytes(&payloads),
        0,
        "the killed upload was left in staging"
    );
    service.stop();
}
