//! Logs of a full flow carry no secret and no full phone number: a transcription archived and
//! learnt, its audio archived, the caller greeted by name and searched, and the refusals around
//! them (a forged signature, wrong keys, unusable caller ids).

use caller_memory::inbound::http::signature::sign;
use serde_json::{json, Value};

use crate::calls::Webhooks;
use crate::service_process::ServiceProcess;

const CALLER: &str = "+14155550123";
const AGENT_NUMBER: &str = "+14155550199";
/// Unusable caller ids whose digits must not reach the logs either.
const GARBLED_CALLER: &str = "+1 (415) 555-0177 ext. 42";
const TOO_LONG_CALLER: &str = "+141555501889999999";

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/payloads/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn post_call(service: &ServiceProcess, body: Vec<u8>, key: &str) -> u16 {
    let signature = sign(key, chrono::Utc::now().timestamp(), &body);
    reqwest::Client::new()
        .post(service.url("/webhook/post-call"))
        .header("content-type", "application/json")
        .header("ElevenLabs-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn webhook(service: &ServiceProcess, path: &str, key: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(service.url(path))
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn greet(service: &ServiceProcess, caller: &str) -> (u16, Value) {
    let body = json!({"caller_id": caller, "agent_id": "agent_1"});
    webhook(
        service,
        "/webhook/client-data",
        "dev-only-client-data-key",
        body,
    )
    .await
}

#[tokio::test]
async fn the_logs_of_a_full_flow_contain_no_secret_and_no_full_phone_number() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_dev(data.path(), &[]);
    let transcription = sample("post_call_transcription.json");
    let audio = sample("post_call_audio.json");

    assert_eq!(
        post_call(&service, transcription.clone(), "dev-only-post-call-key").await,
        200
    );
    assert_eq!(
        post_call(&service, audio, "dev-only-post-call-key").await,
        200
    );
    assert_eq!(
        post_call(&service, transcription, "forged-post-call-key").await,
        401
    );

    // Searching needs the call's memories, not only its profile card: wait for the whole call.
    Webhooks::at(&service.address).wait_until_learnt().await;
    let (status, greeting) = greet(&service, CALLER).await;
    assert_eq!(status, 200);
    assert_eq!(greeting["dynamic_variables"]["is_returning_caller"], true);
    assert!(greeting["dynamic_variables"]["user_name"]
        .as_str()
        .is_some());
    let search = json!({"caller_id": CALLER, "query": "appointment"});
    let (status, found) = webhook(
        &service,
        "/webhook/search-data",
        "dev-only-search-data-key",
        search.clone(),
    )
    .await;
    assert_eq!((status, &found["status"]), (200, &json!("ok")));
    assert!(
        !found["memories"].as_array().unwrap().is_empty(),
        "the learnt call's words are found: {found}"
    );

    let (status, _) = webhook(
        &service,
        "/webhook/search-data",
        "wrong-key-attempt",
        search,
    )
    .await;
    assert_eq!(status, 401);
    for unusable in [GARBLED_CALLER, TOO_LONG_CALLER] {
        assert_eq!(greet(&service, unusable).await.0, 200);
        let search = json!({"caller_id": unusable, "query": "x"});
        let (status, _) = webhook(
            &service,
            "/webhook/search-data",
            "dev-only-search-data-key",
            search,
        )
        .await;
        assert_eq!(status, 400);
    }

    let logs = service.stop();
    assert!(
        logs.contains("request handled"),
        "no request was logged:\n{logs}"
    );
    assert!(
        logs.contains("X-Api-Key is wrong"),
        "the refusal's reason was not logged:\n{logs}"
    );
    for secret in [
        "dev-only-post-call-key",
        "dev-only-client-data-key",
        "dev-only-search-data-key",
        "dev-only-openmemory-key",
        "dev-only-elevenlabs-api-key",
        "forged-post-call-key",
        "wrong-key-attempt",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
    // The audio's base64 text, and the numbers in every form they could be printed in.
    let audio_text = "SUQzBAAAAAAAAP/7kGQAAAAAAAAAAAAAAAAAAA";
    assert!(
        !logs.contains(audio_text),
        "the audio payload leaked into the logs"
    );
    for number in [
        CALLER,
        "14155550123",
        "4155550123",
        "5550123",
        AGENT_NUMBER,
        "4155550199",
        "555-0177",
        "5550177",
        "41555501889999999",
    ] {
        assert!(
            !logs.contains(number),
            "a full phone number ({number}) leaked into the logs:\n{logs}"
        );
    }
}
