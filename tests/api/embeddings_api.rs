//! The service with its embeddings from an OpenAI-compatible API serving an asymmetric model
//! whose similarities crowd together, as E5 models' do (unrelated texts about 0.8): questions and
//! memories are sent as their kind, and relevance is judged above the model's chance similarity.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use caller_memory::test_doubles::ThesaurusEmbedder;

use crate::calls::Call;
use crate::helpers::{Backend, TestApp};

/// How alike the model finds any two texts before their meaning counts.
const CROWDING: f32 = 0.8;

/// Answers like an E5 server that needs `input_type`: the test thesaurus' vectors, tilted
/// towards one shared direction so that unrelated texts score about [`CROWDING`].
fn crowded_model(request: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    if !matches!(body["input_type"].as_str(), Some("query" | "passage")) {
        return ResponseTemplate::new(400)
            .set_body_json(json!({"error": {"message": "input_type must be query or passage"}}));
    }
    let data: Vec<Value> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let meaning = ThesaurusEmbedder::vector(text.as_str().unwrap());
            let mut vector = vec![CROWDING.sqrt()];
            let scale = (1.0 - CROWDING).sqrt();
            vector.extend(meaning.values().iter().map(|value| value * scale));
            json!({"index": index, "embedding": vector})
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({"data": data}))
}

#[tokio::test]
async fn with_a_model_whose_similarities_crowd_together_a_never_said_question_still_gets_nothing() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(crowded_model)
        .mount(&api)
        .await;
    let app = TestApp::spawn_service(
        &Backend::Embedded,
        &[
            ("EMBEDDING_URL", &api.uri()),
            ("EMBEDDING_MODEL", "crowded-e5"),
            ("EMBEDDING_INPUT_TYPES", "query,passage"),
        ],
    )
    .await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    let mut event = maria.transcription();
    event["data"]["transcript"][4]["message"] = json!("Before I book it, any allergies?");
    event["data"]["transcript"][5]["message"] = json!("Yes, I'm allergic to penicillin.");
    webhooks.deliver_call(&event).await;
    webhooks.wait_until_learnt().await;

    let found = webhooks
        .search(maria.number, "Any drug reactions on file?", 5)
        .await;
    assert_eq!(found["status"], "ok", "{found}");
    let first = found["memories"][0]["content"].as_str().unwrap_or_default();
    assert!(first.contains("allergic to penicillin"), "{found}");

    let nothing = webhooks
        .search(maria.number, "What car does she drive?", 5)
        .await;
    assert_eq!(nothing["status"], "ok", "{nothing}");
    assert_eq!(nothing["memories"], json!([]), "{nothing}");
}
