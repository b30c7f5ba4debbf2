//! Logs of a full flow carry no secret and no full phone number.

use crate::service_process::ServiceProcess;

const CALLER: &str = "+14155550123";

#[tokio::test]
async fn the_logs_of_a_full_flow_contain_no_secret_and_no_full_phone_number() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_dev(data.path(), &[]);
    let client = reqwest::Client::new();

    let transcription = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/payloads/post_call_transcription.json"
    ))
    .unwrap();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = caller_memory::inbound::http::signature::sign(
        "dev-only-post-call-key",
        timestamp,
        &transcription,
    );
    let posted = client
        .post(service.url("/webhook/post-call"))
        .header("content-type", "application/json")
        .header("ElevenLabs-Signature", signature)
        .body(transcription)
        .send()
        .await
        .unwrap();
    assert!(posted.status().as_u16() < 500 || posted.status().as_u16() == 501);
    for (path, key, body) in [
        (
            "/webhook/client-data",
            "dev-only-client-data-key",
            format!(r#"{{"caller_id": "{CALLER}", "agent_id": "agent_1"}}"#),
        ),
        (
            "/webhook/search-data",
            "dev-only-search-data-key",
            format!(r#"{{"caller_id": "{CALLER}", "query": "appointment"}}"#),
        ),
        (
            "/webhook/search-data",
            "wrong-key-attempt",
            format!(r#"{{"caller_id": "{CALLER}", "query": "x"}}"#),
        ),
    ] {
        client
            .post(service.url(path))
            .header("content-type", "application/json")
            .header("x-api-key", key)
            .body(body)
            .send()
            .await
            .unwrap();
    }

    let logs = service.stop();
    assert!(
        logs.contains("request handled"),
        "no request was logged:\n{logs}"
    );
    for secret in [
        "dev-only-post-call-key",
        "dev-only-client-data-key",
        "dev-only-search-data-key",
        "dev-only-openmemory-key",
        "dev-only-elevenlabs-api-key",
        "wrong-key-attempt",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
    for number in [CALLER, "14155550123", "4155550123"] {
        assert!(
            !logs.contains(number),
            "a full phone number leaked into the logs:\n{logs}"
        );
    }
}
