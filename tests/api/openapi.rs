use crate::helpers::{json_body, TestApp};

#[test]
fn the_committed_spec_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml"))
            .expect("openapi/openapi.yaml exists");
    let generated = caller_memory::inbound::http::openapi_yaml();
    assert!(
        committed == generated,
        "openapi/openapi.yaml is stale: regenerate it with `cargo run -- openapi > openapi/openapi.yaml`"
    );
}

#[tokio::test]
async fn the_spec_and_docs_are_served() {
    let app = TestApp::spawn().await;
    let spec = json_body(app.get("/openapi.json").await).await;
    for path in [
        "/webhook/client-data",
        "/webhook/search-data",
        "/webhook/post-call",
        "/health",
        "/ready",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the spec"
        );
    }
    let yaml = app.get("/openapi.yaml").await.text().await.unwrap();
    assert!(yaml.contains("/webhook/post-call"));
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn the_post_call_signature_is_required_and_the_body_has_a_real_example() {
    let app = TestApp::spawn().await;
    let spec = json_body(app.get("/openapi.json").await).await;
    let operation = &spec["paths"]["/webhook/post-call"]["post"];
    let signature = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "ElevenLabs-Signature")
        .expect("the signature header is documented");
    assert_eq!(signature["required"], true, "{signature}");
    let example = &operation["requestBody"]["content"]["application/json"]["schema"]["example"];
    assert_eq!(example["type"], "post_call_transcription", "{example}");
    assert!(example["data"]["conversation_id"].is_string());
}
