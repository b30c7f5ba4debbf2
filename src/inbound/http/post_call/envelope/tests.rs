use super::*;

fn envelope_of(body: &str) -> Result<Envelope, EnvelopeError> {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("event.json");
    std::fs::write(&path, body).unwrap();
    read_envelope(&path)
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!("{}/payloads/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn audio_text(body: &str, envelope: &Envelope) -> String {
    let range = envelope.full_audio.clone().expect("full_audio found");
    body[range.start as usize..range.end as usize].to_owned()
}

#[test]
fn the_sample_events_name_their_type_and_conversation() {
    for (file, kind, conversation) in [
        (
            "post_call_transcription.json",
            "post_call_transcription",
            "conv_01jz8q4b7c2d9e3f5g6h8j0k1m",
        ),
        (
            "post_call_audio.json",
            "post_call_audio",
            "conv_01jz8q4b7c2d9e3f5g6h8j0k1m",
        ),
        (
            "call_initiation_failure.json",
            "call_initiation_failure",
            "conv_01jz8r1x2y3z4a5b6c7d8e9f0g",
        ),
    ] {
        let envelope = envelope_of(&sample(file)).unwrap();
        assert_eq!(envelope.kind.as_deref(), Some(kind), "{file}");
        assert_eq!(
            envelope.conversation_id.as_deref(),
            Some(conversation),
            "{file}"
        );
    }
}

#[test]
fn the_audio_range_covers_exactly_the_base64_text() {
    let body = sample("post_call_audio.json");
    let envelope = envelope_of(&body).unwrap();
    assert_eq!(
        audio_text(&body, &envelope),
        "SUQzBAAAAAAAAP/7kGQAAAAAAAAAAAAAAAAAAA=="
    );
}

#[test]
fn keys_may_come_in_any_order_around_nested_values() {
    let body = r#" { "data" : { "full_audio" : "QUJD\/", "extra": {"a": [1, "}", {"b": null}]},
        "agent_id": "x", "n": -1.5e3, "flag": true, "conversation_id": "conv_9" },
        "event_timestamp": 1739537297, "type": "post_call_audio" } "#;
    let envelope = envelope_of(body).unwrap();
    assert_eq!(envelope.kind.as_deref(), Some("post_call_audio"));
    assert_eq!(envelope.conversation_id.as_deref(), Some("conv_9"));
    assert_eq!(audio_text(body, &envelope), r"QUJD\/");
}

#[test]
fn fields_with_the_same_names_elsewhere_are_not_mistaken_for_the_envelope() {
    let body = r#"{"meta": {"type": "fake", "conversation_id": "wrong"},
        "data": {"metadata": {"conversation_id": "nested", "full_audio": "x"}, "text": "\"type\""},
        "type": "post_call_transcription"}"#;
    let envelope = envelope_of(body).unwrap();
    assert_eq!(envelope.kind.as_deref(), Some("post_call_transcription"));
    assert_eq!(envelope.conversation_id, None);
    assert_eq!(envelope.full_audio, None);
}

#[test]
fn escaped_values_are_decoded_and_non_strings_are_absent() {
    let envelope = envelope_of(
        r#"{"type": "post_call_\u0061udio", "data": {"conversation_id": 42, "full_audio": null}}"#,
    )
    .unwrap();
    assert_eq!(envelope.kind.as_deref(), Some("post_call_audio"));
    assert_eq!(envelope.conversation_id, None);
    assert_eq!(envelope.full_audio, None);
}

#[test]
fn an_overlong_conversation_id_is_cut_but_stays_too_long_to_be_valid() {
    let body = format!(
        r#"{{"type": "t", "data": {{"conversation_id": "{}"}}}}"#,
        "a".repeat(100_000)
    );
    let id = envelope_of(&body).unwrap().conversation_id.unwrap();
    assert!(id.len() > crate::core::MAX_IDENTIFIER_LENGTH && id.len() <= 2 * MAX_CAPTURED);
}

#[test]
fn invalid_json_and_non_objects_are_refused() {
    for broken in [
        "",
        "{",
        r#"{"type": "x",}"#,
        r#"{"type": "x"} trailing"#,
        "\"text\" x",
    ] {
        assert!(
            matches!(envelope_of(broken), Err(EnvelopeError::InvalidJson(_))),
            "{broken:?}"
        );
    }
    for not_object in ["[]", "\"post_call_audio\"", "null", "12"] {
        assert!(
            matches!(envelope_of(not_object), Err(EnvelopeError::NotAnObject)),
            "{not_object:?}"
        );
    }
}
