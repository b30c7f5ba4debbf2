//! Shapes of real calls: failed calls, placeholder summaries, data-collection answers that say
//! nothing, field names spelled by people, web sessions and odd numbers.

use serde_json::{json, Value};

use super::support::*;
use crate::core::use_cases::ingest_call::IngestionStatus;

fn second_call(conversation: &str) -> Value {
    let mut body = transcription(conversation, Some(MARIA));
    body["data"]["metadata"]["start_time_unix_secs"] = json!(1_768_600_000);
    body
}

async fn after_a_first_call() -> Harness {
    let app = Harness::new(ScriptedStore::healthy());
    app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.run_worker_until_idle().await;
    app
}

#[tokio::test]
async fn a_failed_call_is_archived_but_neither_counted_nor_summarised() {
    let app = after_a_first_call().await;
    let before = app.card(MARIA).await.unwrap();
    let mut failed = second_call("conv_failed");
    failed["data"]["status"] = json!("failed");
    failed["data"]["analysis"]["transcript_summary"] = json!("The call failed.");

    let id = app.deliver(&failed).await;
    app.run_worker_until_idle().await;

    let card = app.card(MARIA).await.unwrap();
    assert_eq!(card.call_count, 1);
    assert_eq!(card.last_call, before.last_call);
    let record = app.record(&id).await;
    assert_eq!(record.status, IngestionStatus::Skipped);
    assert_eq!(record.reason.as_deref(), Some("the call failed"));
}

#[tokio::test]
async fn a_call_where_the_caller_said_nothing_is_not_counted() {
    let app = after_a_first_call().await;
    let mut silent = second_call("conv_silent");
    silent["data"]["transcript"] = json!([
        {"role": "agent", "message": "Hello, how can I help?", "time_in_call_secs": 0},
        {"role": "user", "message": "...", "time_in_call_secs": 4},
        {"role": "user", "message": null, "time_in_call_secs": 9}
    ]);

    let id = app.deliver(&silent).await;
    app.run_worker_until_idle().await;

    assert_eq!(app.card(MARIA).await.unwrap().call_count, 1);
    let reason = app.record(&id).await.reason;
    assert_eq!(reason.as_deref(), Some("the caller said nothing"));
}

#[tokio::test]
async fn the_placeholder_summary_never_replaces_the_last_one() {
    let app = after_a_first_call().await;
    let mut unsummarised = second_call("conv_unsummarised");
    unsummarised["data"]["analysis"]["transcript_summary"] =
        json!("Summary couldn't be generated for this call.");

    app.deliver(&unsummarised).await;
    app.run_worker_until_idle().await;

    let card = app.card(MARIA).await.unwrap();
    assert_eq!(card.call_count, 2);
    let last = card.last_call.unwrap();
    assert_eq!(last.conversation_id, "conv_unsummarised");
    assert_eq!(last.summary, None);
    let keys = app.store.keys();
    assert!(keys.iter().any(|key| key.starts_with("conv_unsummarised/")));
    assert!(
        !keys.contains(&"conv_unsummarised/summary".to_owned()),
        "{keys:?}"
    );
}

#[tokio::test]
async fn answers_that_say_nothing_are_not_facts() {
    let app = Harness::new(ScriptedStore::healthy());
    let mut body = transcription("conv_empty_answers", Some(MARIA));
    let results = &mut body["data"]["analysis"]["data_collection_results"];
    for (field, value) in [
        ("first_name", json!("None")),
        ("city", json!("N/A")),
        ("email", json!("null")),
        ("plan", json!("unknown")),
        ("notes", json!("   ")),
        ("pet", json!("none")),
    ] {
        results[field] = json!({"value": value});
    }

    app.deliver(&body).await;
    app.run_worker_until_idle().await;

    let card = app.card(MARIA).await.unwrap();
    assert_eq!(card.name, None);
    for field in ["city", "email", "plan", "notes", "pet"] {
        assert!(!card.facts.contains_key(field), "{field}: {:?}", card.facts);
    }
    assert!(card.facts.contains_key("last_name"));
    let facts: Vec<String> = app
        .store
        .keys()
        .into_iter()
        .filter(|key| key.contains("fact-"))
        .collect();
    assert!(
        facts.iter().all(|key| key.ends_with("fact-last_name")),
        "{facts:?}"
    );
}

#[tokio::test]
async fn a_first_name_field_spelled_with_spaces_and_capitals_names_the_caller() {
    let app = Harness::new(ScriptedStore::healthy());
    let mut body = transcription("conv_spelled", Some(MARIA));
    let results = body["data"]["analysis"]["data_collection_results"]
        .as_object_mut()
        .unwrap();
    let first_name = results.remove("first_name").unwrap();
    results.insert("First Name".to_owned(), first_name);

    app.deliver(&body).await;
    app.run_worker_until_idle().await;

    let card = app.card(MARIA).await.unwrap();
    assert_eq!(card.name.as_deref(), Some("Maria"));
    assert!(!card.facts.contains_key("First Name"));
}

#[tokio::test]
async fn a_web_session_without_any_number_is_kept_and_skipped() {
    let app = Harness::new(ScriptedStore::healthy());
    let mut web = transcription("conv_web", None);
    web["data"]["metadata"]["phone_call"] = Value::Null;
    web["data"]["conversation_initiation_client_data"]["dynamic_variables"]["system__caller_id"] =
        Value::Null;
    web["data"]["user_id"] = Value::Null;

    let id = app.deliver(&web).await;
    app.run_worker_until_idle().await;

    assert!(app.store.keys().is_empty());
    let record = app.record(&id).await;
    assert_eq!(record.status, IngestionStatus::Skipped);
    assert_eq!(app.counts().await.failed, 0);
}

#[tokio::test]
async fn numbers_with_spaces_and_a_sip_agent_number_without_plus_are_understood() {
    let app = Harness::new(ScriptedStore::healthy());
    let mut outbound = transcription("conv_outbound_spaces", Some("+1 415 555 0123"));
    outbound["data"]["metadata"]["phone_call"]["agent_number"] = json!("14155550199");
    outbound["data"]["conversation_initiation_client_data"]["dynamic_variables"]
        ["system__caller_id"] = json!("14155550199");

    app.deliver(&outbound).await;
    app.run_worker_until_idle().await;

    let card = app
        .card(MARIA)
        .await
        .expect("learnt under the caller's number");
    assert_eq!(card.call_count, 1);
    assert!(app.card(AGENT_NUMBER).await.is_none());
}
