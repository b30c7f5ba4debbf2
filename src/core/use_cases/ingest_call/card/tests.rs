use std::collections::BTreeMap;

use chrono::{Duration, TimeZone};
use mockall::predicate::eq;

use super::*;
use crate::core::ports::{Blob, BlobVersion, MockBlobStore};
use crate::core::{AgentId, CallerCandidates, ConversationId};

fn name_fields() -> Vec<String> {
    ["first_name", "name", "user_name", "caller_name"]
        .map(String::from)
        .to_vec()
}

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap()
}

fn call(conversation: &str, collected: &[(&str, &str)], summary: &str) -> CompletedCall {
    CompletedCall {
        conversation_id: ConversationId::parse(conversation).unwrap(),
        agent_id: Some(AgentId::parse("agent_1").unwrap()),
        caller: CallerCandidates::default(),
        started_at: None,
        transcript: Vec::new(),
        collected: collected
            .iter()
            .map(|(field, value)| (field.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>(),
        summary: Some(summary.to_owned()),
        failed: false,
    }
}

#[test]
fn a_name_field_is_found_whatever_its_case_and_separators() {
    let mut card = ProfileCard::default();
    let spelled = call(
        "conv_1",
        &[("First Name", "Maria"), ("Last Name", "Lopez")],
        "Moved the cleaning.",
    );

    assert!(apply(&mut card, &spelled, noon(), &name_fields()));

    assert_eq!(card.name.as_deref(), Some("Maria"));
    assert!(!card.facts.contains_key("First Name"), "{:?}", card.facts);
    assert_eq!(
        card.facts.get("Last Name").map(String::as_str),
        Some("Lopez")
    );
}

#[test]
fn a_first_call_fills_the_card() {
    let mut card = ProfileCard::default();
    let first = call(
        "conv_1",
        &[("first_name", "Maria"), ("last_name", "Lopez")],
        "Moved the cleaning.",
    );

    assert!(apply(&mut card, &first, noon(), &name_fields()));

    assert_eq!(card.name.as_deref(), Some("Maria"));
    assert_eq!(
        card.facts.get("last_name").map(String::as_str),
        Some("Lopez")
    );
    assert!(!card.facts.contains_key("first_name"));
    assert_eq!(card.call_count, 1);
    assert_eq!(card.first_seen, Some(noon()));
    assert_eq!(card.last_seen, Some(noon()));
    let last = card.last_call.clone().unwrap();
    assert_eq!(last.summary.as_deref(), Some("Moved the cleaning."));
    assert_eq!(card.last_call_per_agent.get("agent_1"), Some(&last));
}

#[test]
fn the_same_conversation_is_counted_once() {
    let mut card = ProfileCard::default();
    let first = call("conv_1", &[], "First.");

    assert!(apply(&mut card, &first, noon(), &name_fields()));
    let after_first = card.clone();
    assert!(!apply(&mut card, &first, noon(), &name_fields()));

    assert_eq!(card, after_first);
    assert_eq!(card.call_count, 1);
}

#[test]
fn the_latest_name_wins_and_an_older_call_replayed_later_does_not_overwrite_it() {
    let mut card = ProfileCard::default();
    let early = call(
        "conv_early",
        &[("caller_name", "Mary"), ("plan", "basic")],
        "Early.",
    );
    let late = call(
        "conv_late",
        &[("first_name", "Maria"), ("plan", "gold")],
        "Late.",
    );

    apply(&mut card, &late, noon(), &name_fields());
    apply(
        &mut card,
        &early,
        noon() - Duration::days(3),
        &name_fields(),
    );

    assert_eq!(card.name.as_deref(), Some("Maria"));
    assert_eq!(card.facts.get("plan").map(String::as_str), Some("gold"));
    assert_eq!(card.last_call.unwrap().summary.as_deref(), Some("Late."));
    assert_eq!(card.first_seen, Some(noon() - Duration::days(3)));
    assert_eq!(card.last_seen, Some(noon()));
    assert_eq!(card.call_count, 2);
}

#[test]
fn the_name_fields_are_configurable() {
    let mut card = ProfileCard::default();
    let with_custom_field = call("conv_1", &[("vorname", "Jonas")], "Hallo.");

    apply(
        &mut card,
        &with_custom_field,
        noon(),
        &["vorname".to_owned()],
    );

    assert_eq!(card.name.as_deref(), Some("Jonas"));
}

#[test]
fn the_list_of_counted_conversations_stays_bounded() {
    let mut card = ProfileCard::default();
    for index in 0..COUNTED_CONVERSATIONS_KEPT + 5 {
        let next = call(&format!("conv_{index}"), &[], "Call.");
        apply(&mut card, &next, noon(), &name_fields());
    }

    assert_eq!(card.counted_conversations.len(), COUNTED_CONVERSATIONS_KEPT);
    assert_eq!(card.counted_conversations[0], "conv_5");
    assert_eq!(card.call_count, COUNTED_CONVERSATIONS_KEPT as u64 + 5);
}

#[tokio::test]
async fn a_card_changed_by_someone_else_is_read_again_before_writing() {
    let caller = CallerId::parse("+14155550123").unwrap();
    let key = ProfileCard::storage_key(&caller);
    let mut blobs = MockBlobStore::new();
    let mut versions = ["1", "2"].into_iter();
    blobs
        .expect_get()
        .with(eq(key.clone()))
        .times(2)
        .returning(move |_| {
            Ok(Some(Blob {
                bytes: Bytes::from_static(b"{}"),
                version: BlobVersion(versions.next().unwrap().to_owned()),
            }))
        });
    blobs
        .expect_put()
        .withf(|_, _, condition| *condition == PutCondition::IfVersion(BlobVersion("1".into())))
        .times(1)
        .returning(|_, _, _| Err(BlobStoreError::ConditionFailed));
    blobs
        .expect_put()
        .withf(|_, _, condition| *condition == PutCondition::IfVersion(BlobVersion("2".into())))
        .times(1)
        .returning(|_, _, _| Ok(BlobVersion("3".into())));

    let result = record_call(&blobs, &caller, &call("conv_1", &[], "Hi."), noon(), &[]).await;

    assert!(result.is_ok());
}
