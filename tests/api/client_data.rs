use std::sync::Arc;

use caller_memory::core::ports::{BlobStoreError, MockBlobStore};
use caller_memory::core::use_cases::FirstMessagePolicy;
use serde_json::json;

use crate::helpers::{json_body, TestApp, TestPorts, CLIENT_DATA_KEY};
use crate::profiles::{marias_card, store_with_card, MARIA};

const PATH: &str = "/webhook/client-data";
const FIXTURE: &str = include_str!("../../payloads/client_data.json");

async fn app_knowing_maria(first_message: FirstMessagePolicy) -> TestApp {
    TestApp::spawn_with(TestPorts {
        blob_store: store_with_card(MARIA, &marias_card()).await,
        first_message,
        ..TestPorts::default()
    })
    .await
}

fn new_caller_answer() -> serde_json::Value {
    json!({
        "type": "conversation_initiation_client_data",
        "dynamic_variables": {
            "user_name": "",
            "user_profile_summary": "",
            "last_call_summary": "",
            "is_returning_caller": false,
            "previous_call_count": 0
        }
    })
}

#[tokio::test]
async fn a_returning_caller_is_greeted_by_name_with_their_last_call() {
    let app = app_knowing_maria(TestPorts::default().first_message).await;
    let response = app.post_json(PATH, Some(CLIENT_DATA_KEY), FIXTURE).await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["type"], "conversation_initiation_client_data");
    let variables = &body["dynamic_variables"];
    assert_eq!(variables["user_name"], "Maria");
    assert_eq!(variables["is_returning_caller"], true);
    assert_eq!(variables["previous_call_count"], 2);
    assert_eq!(
        variables["last_call_summary"],
        "Maria moved her cleaning to Friday the 23rd at 2:15."
    );
    let summary = variables["user_profile_summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Maria has called twice before"),
        "{summary}"
    );
    assert_eq!(
        body["conversation_config_override"]["agent"]["first_message"],
        "Hi, Maria, welcome back! How can I help you today?"
    );
}

#[tokio::test]
async fn a_new_caller_gets_every_variable_with_a_neutral_value_and_no_override() {
    let app = TestApp::spawn().await;
    let response = app.post_json(PATH, Some(CLIENT_DATA_KEY), FIXTURE).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, new_caller_answer());
}

#[tokio::test]
async fn a_withheld_or_garbled_caller_id_is_a_new_caller_not_an_error() {
    let app = app_knowing_maria(TestPorts::default().first_message).await;
    for body in [
        r#"{}"#,
        r#"{"caller_id": null}"#,
        r#"{"caller_id": ""}"#,
        r#"{"caller_id": "anonymous", "agent_id": "../../etc"}"#,
        r#"{"caller_id": "+1 415 ☎", "called_number": "+14155550199", "extra": {"a": 1}}"#,
    ] {
        let response = app.post_json(PATH, Some(CLIENT_DATA_KEY), body).await;
        assert_eq!(response.status(), 200, "{body}");
        assert_eq!(json_body(response).await, new_caller_answer(), "{body}");
    }
}

#[tokio::test]
async fn with_the_override_switched_off_a_returning_caller_gets_no_override_object() {
    let app = app_knowing_maria(FirstMessagePolicy::AgentDefault).await;
    let body = json_body(app.post_json(PATH, Some(CLIENT_DATA_KEY), FIXTURE).await).await;
    assert_eq!(body["dynamic_variables"]["user_name"], "Maria");
    assert!(body.get("conversation_config_override").is_none(), "{body}");
}

#[tokio::test]
async fn a_broken_profile_store_still_lets_the_call_start_as_a_new_caller() {
    let mut blob_store = MockBlobStore::new();
    blob_store
        .expect_get()
        .returning(|_| Err(BlobStoreError::Storage("disk unreadable".into())));
    let app = TestApp::spawn_with(TestPorts {
        blob_store: Arc::new(blob_store),
        ..TestPorts::default()
    })
    .await;
    let response = app.post_json(PATH, Some(CLIENT_DATA_KEY), FIXTURE).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, new_caller_answer());
}

#[tokio::test]
async fn a_wrong_or_missing_api_key_is_refused_without_revealing_the_caller() {
    let app = app_knowing_maria(TestPorts::default().first_message).await;
    for key in [None, Some("wrong-key"), Some("")] {
        let response = app.post_json(PATH, key, FIXTURE).await;
        assert_eq!(response.status(), 401, "{key:?}");
        let body = json_body(response).await;
        assert_eq!(body["error"], "unauthorized");
        assert!(!body.to_string().contains("Maria"));
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("X-Api-Key"), "{message}");
        let why = if key.is_none() {
            "missing"
        } else {
            "does not match"
        };
        assert!(message.contains(why), "{message}");
    }
}

#[tokio::test]
async fn a_field_of_the_wrong_json_type_is_a_400_that_starts_with_its_name() {
    let app = app_knowing_maria(TestPorts::default().first_message).await;
    for (request, field) in [
        (json!({"caller_id": 14155550123_u64}), "caller_id"),
        (json!({"caller_id": MARIA, "agent_id": ["a"]}), "agent_id"),
        (
            json!({"caller_id": MARIA, "called_number": 1}),
            "called_number",
        ),
        (json!({"caller_id": MARIA, "call_sid": false}), "call_sid"),
        (json!([]), "body"),
    ] {
        let response = app
            .post_json(PATH, Some(CLIENT_DATA_KEY), &request.to_string())
            .await;
        assert_eq!(response.status(), 400, "{request}");
        let body = json_body(response).await;
        assert_eq!(body["error"], "invalid_request");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{request} -> {message}"
        );
    }
    let unreadable = app.post_json(PATH, Some(CLIENT_DATA_KEY), "{nope").await;
    assert_eq!(unreadable.status(), 400);
    let message = json_body(unreadable).await["message"].to_string();
    assert!(message.starts_with("\"body: "), "{message}");
}
