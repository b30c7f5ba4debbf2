use serde_json::{json, Value};

use super::*;

const FIXTURE: &str = include_str!("../../../../payloads/post_call_transcription.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).unwrap()
}

fn parse(body: &Value) -> Result<CompletedCall, UnreadableTranscription> {
    parse_transcription(body.to_string().as_bytes())
}

#[test]
fn the_documented_example_is_read_completely() {
    let call = parse_transcription(FIXTURE.as_bytes()).unwrap();

    assert_eq!(
        call.conversation_id.as_str(),
        "conv_01jz8q4b7c2d9e3f5g6h8j0k1m"
    );
    assert_eq!(
        call.agent_id.unwrap().as_str(),
        "agent_01jz8q3w5e6r7t8y9u0i1o2p3a"
    );
    assert_eq!(
        call.caller,
        CallerCandidates {
            external_number: Some("+14155550123".into()),
            caller_id_variable: Some("+14155550123".into()),
            user_id: None,
            agent_number: Some("+14155550199".into()),
        }
    );
    assert_eq!(call.started_at.unwrap().timestamp(), 1_768_489_200);
    assert_eq!(call.transcript.len(), 9);
    assert_eq!(
        call.transcript[1],
        Turn {
            speaker: Speaker::User,
            message: Some("Hi Ava, this is Maria Lopez.".into()),
            time_in_call_secs: 4,
        }
    );
    let collected: Vec<(&str, &str)> = call
        .collected
        .iter()
        .map(|(field, value)| (field.as_str(), value.as_str()))
        .collect();
    assert_eq!(collected, [("first_name", "Maria"), ("last_name", "Lopez")]);
    assert!(call.summary.unwrap().starts_with("Maria Lopez called"));
}

#[test]
fn nulls_and_unknown_fields_are_tolerated() {
    let body = json!({
        "type": "post_call_transcription",
        "event_timestamp": "1768489264",
        "brand_new_field": {"nested": [1, 2]},
        "data": {
            "conversation_id": "conv_1",
            "agent_id": null,
            "user_id": null,
            "transcript": [
                {"role": "user", "message": null, "tool_calls": null, "time_in_call_secs": 3},
                {"role": "user", "message": "  ", "tool_calls": []},
                {"role": "agent", "message": "Hello", "surprise": true},
                42
            ],
            "metadata": null,
            "analysis": null,
            "conversation_initiation_client_data": null
        }
    });

    let call = parse(&body).unwrap();

    assert_eq!(call.agent_id, None);
    assert_eq!(call.caller, CallerCandidates::default());
    assert_eq!(call.started_at.unwrap().timestamp(), 1_768_489_264);
    assert_eq!(call.transcript.len(), 4);
    assert_eq!(call.transcript[0].message, None);
    assert_eq!(call.transcript[1].message, None);
    assert_eq!(call.transcript[3].speaker, Speaker::Other);
    assert!(call.collected.is_empty());
    assert_eq!(call.summary, None);
}

#[test]
fn data_collection_values_of_any_type_become_text() {
    let mut body = fixture();
    body["data"]["analysis"]["data_collection_results"] = json!({
        "first_name": {"value": "  Maria "},
        "age": {"value": 42},
        "score": {"value": 4.5},
        "wants_reminder": {"value": false},
        "topics": {"value": ["cleaning", "billing"]},
        "email": {"value": null},
        "nickname": {"value": ""},
        "no_value": {"rationale": "not asked"},
        "odd": "not an object"
    });

    let call = parse(&body).unwrap();

    let collected: Vec<(&str, &str)> = call
        .collected
        .iter()
        .map(|(field, value)| (field.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        collected,
        [
            ("age", "42"),
            ("first_name", "Maria"),
            ("score", "4.5"),
            ("topics", r#"["cleaning","billing"]"#),
            ("wants_reminder", "false"),
        ]
    );
}

#[test]
fn fields_of_an_unexpected_type_are_treated_as_absent() {
    let mut body = fixture();
    body["event_timestamp"] = json!({"not": "a time"});
    body["data"]["metadata"]["start_time_unix_secs"] = json!("soon");
    body["data"]["metadata"]["phone_call"]["external_number"] = json!(14155550123_u64);
    body["data"]["analysis"]["transcript_summary"] = json!(["a", "list"]);
    body["data"]["conversation_initiation_client_data"]["dynamic_variables"]["system__caller_id"] =
        json!(null);

    let call = parse(&body).unwrap();

    assert_eq!(call.started_at, None);
    assert_eq!(call.caller.external_number, None);
    assert_eq!(call.caller.caller_id_variable, None);
    assert_eq!(call.summary, None);
    assert_eq!(call.transcript.len(), 9);
}

#[test]
fn only_a_body_without_a_usable_conversation_id_is_unreadable() {
    let mut other_type = fixture();
    other_type["type"] = json!("post_call_audio");
    let mut hostile_id = fixture();
    hostile_id["data"]["conversation_id"] = json!("../../etc");
    let mut missing_id = fixture();
    missing_id["data"]
        .as_object_mut()
        .unwrap()
        .remove("conversation_id");

    assert!(parse_transcription(b"not json").is_err());
    assert!(parse_transcription(b"[]").is_err());
    assert!(parse(&json!({"type": "post_call_transcription"})).is_err());
    assert!(parse(&other_type).is_err());
    assert!(parse(&hostile_id).is_err());
    assert!(parse(&missing_id).is_err());
}
