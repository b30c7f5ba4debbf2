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

#[tokio::test]
async fn a_signed_delivery_replayed_unchanged_is_accepted_again_and_changes_nothing() {
    // ElevenLabs retries a delivery with the very same bytes and header, so a replay within the
    // tolerance is the same delivery: accepted, idempotent.
    let disk = DiskApp::spawn().await;
    let body = sample("post_call_transcription.json");
    let signature = signature_at(-60, &body);
    for _ in 0..3 {
        let response = deliver(&disk.app, &body, Some(signature.clone())).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let key = format!("{SAMPLE_CONVERSATION}/{SAMPLE_CONVERSATION}_transcription.json");
    assert_eq!(disk.files(), [key.as_str()]);
    assert_eq!(disk.file(&key), Some(body.clone()));

    // The same header over any other body is a forgery.
    let mut forged = body.clone();
    forged.extend_from_slice(b" ");
    let other_call = String::from_utf8(body.clone())
        .unwrap()
        .replace(SAMPLE_CONVERSATION, "conv_forged");
    for tampered in [forged, other_call.into_bytes()] {
        let response = deliver(&disk.app, &tampered, Some(signature.clone())).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    }
    assert_eq!(disk.files(), [key.as_str()]);
    assert_eq!(disk.file(&key), Some(body));
}

#[tokio::test]
async fn conversation_ids_that_try_to_leave_the_archive_are_refused() {
    let disk = DiskApp::spawn().await;
    for id in [
        "..",
        ".",
        "../../../tmp/evil",
        "..\\..\\evil",
        "conv/../../evil",
        "/etc/passwd",
        "%2e%2e%2fevil",
        "conv\u{0}evil",
        "conv\u{2215}evil",
        "",
        " conv_1",
    ] {
        for kind in [
            "post_call_transcription",
            "post_call_audio",
            "call_initiation_failure",
        ] {
            let body = json!({"type": kind,
                "data": {"conversation_id": id, "full_audio": "SUQz"}})
            .to_string();
            let response = disk.deliver(body.as_bytes()).await;
            assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
    }
    assert!(disk.files().is_empty(), "{:?}", disk.files());
    let parent = disk.archive.path().parent().unwrap();
    assert!(!parent.join("evil").exists() && !parent.join("tmp/evil").exists());
}

#[tokio::test]
async fn deeply_nested_json_after_a_valid_signature_is_a_bad_request() {
    let disk = DiskApp::spawn().await;
    let nested = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let body = format!(
        r#"{{"type": "post_call_transcription", "data": {{"conversation_id": "conv_deep", "x": {nested}}}}}"#
    );
    let response = disk.deliver(body.as_bytes()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(disk.files().is_empty());
}

#[tokio::test]
async fn invalid_utf8_after_a_valid_signature_is_a_bad_request_and_is_not_archived() {
    let disk = DiskApp::spawn().await;
    for broken in [
        &b"{\"type\": \"post_call_transcription\", \"data\": {\"conversation_id\": \"conv_utf8\", \"summary\": \"caf\xe9\"}}"[..],
        b"{\"type\": \"call_initiation_failure\", \"data\": {\"conversation_id\": \"conv_utf8\", \"x\": \"\xed\xa0\x80\"}}",
        b"{\"type\": \"post_call_transcription\", \"data\": {\"conversation_id\": \"conv_utf8\"}} \xff",
    ] {
        let response = disk.deliver(broken).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert!(disk.files().is_empty(), "{:?}", disk.files());
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_refused_with_415_before_anything_is_stored() {
    let disk = DiskApp::spawn().await;
    let body = sample("post_call_transcription.json");
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        None,
    ] {
        let mut request = disk
            .app
            .client
            .post(disk.app.url(PATH))
            .header("ElevenLabs-Signature", signature_at(0, &body))
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    assert!(disk.files().is_empty());
}

#[tokio::test]
async fn every_bad_request_starts_with_the_field_at_fault() {
    let disk = DiskApp::spawn().await;
    let mut broken_audio = String::from_utf8(audio_event("conv_bad", &[7u8; 3000])).unwrap();
    broken_audio = broken_audio.replace("BwcH\"", "Bw!H\"");
    let too_deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let cases: [(Vec<u8>, &str); 10] = [
        (b"{\"type\": \"post_call_transcription\",".to_vec(), "body"),
        (b"[]".to_vec(), "body"),
        (
            b"{\"type\": \"post_call_transcription\", \"data\": {\"x\": \"caf\xe9\"}}".to_vec(),
            "body",
        ),
        (
            format!("{{\"type\": \"post_call_transcription\", \"data\": {{\"x\": {too_deep}}}}}")
                .into_bytes(),
            "body",
        ),
        (
            b"{\"data\": {\"conversation_id\": \"conv_1\"}}".to_vec(),
            "type",
        ),
        (b"{\"type\": 1}".to_vec(), "type"),
        (
            b"{\"type\": \"post_call_transcription\", \"data\": {\"conversation_id\": 7}}".to_vec(),
            "data.conversation_id",
        ),
        (
            b"{\"type\": \"post_call_transcription\", \"data\": {\"conversation_id\": \"../x\"}}"
                .to_vec(),
            "data.conversation_id",
        ),
        (
            b"{\"type\": \"post_call_audio\", \"data\": {\"conversation_id\": \"conv_1\"}}"
                .to_vec(),
            "data.full_audio",
        ),
        (broken_audio.into_bytes(), "data.full_audio"),
    ];
    for (body, field) in cases {
        let response = disk.deliver(&body).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{} -> {message}",
            String::from_utf8_lossy(&body[..body.len().min(120)])
        );
    }
    assert!(disk.files().is_empty(), "{:?}", disk.files());
}
