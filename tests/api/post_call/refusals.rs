//! Deliveries that are refused: bad signatures, bad payloads, oversized bodies.

use super::*;

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
