//! Callers the greeting and search tests know, seeded straight into the in-memory stores.

use std::sync::Arc;

use caller_memory::core::ports::{BlobStore, MemoryStore, PutCondition};
use caller_memory::core::{AddOutcome, CallRecord, CallerId, ProfileCard};
use caller_memory::test_doubles::{utterance, InMemoryBlobStore, InMemoryMemoryStore};
use chrono::{TimeZone, Utc};

pub const MARIA: &str = "+14155550123";
pub const JUAN: &str = "+34911234567";
pub const DENTAL_AGENT: &str = "agent_01jz8q3w5e6r7t8y9u0i1o2p3a";

pub fn caller(number: &str) -> CallerId {
    CallerId::parse(number).unwrap()
}

pub fn marias_card() -> ProfileCard {
    let last_call = CallRecord {
        conversation_id: "conv_maria_2".to_owned(),
        at: Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap(),
        summary: Some("Maria moved her cleaning to Friday the 23rd at 2:15.".to_owned()),
    };
    ProfileCard {
        name: Some("Maria".to_owned()),
        facts: [("last_name".to_owned(), "Lopez".to_owned())].into(),
        first_seen: Some(Utc.with_ymd_and_hms(2026, 1, 2, 8, 0, 0).unwrap()),
        last_seen: Some(last_call.at),
        call_count: 2,
        last_call: Some(last_call),
        ..ProfileCard::default()
    }
}

/// A blob store holding `card` as the profile card of `number`.
pub async fn store_with_card(number: &str, card: &ProfileCard) -> Arc<InMemoryBlobStore> {
    let store = Arc::new(InMemoryBlobStore::new());
    let key = ProfileCard::storage_key(&caller(number));
    let json = serde_json::to_vec(card).unwrap();
    store
        .put(&key, json.into(), PutCondition::Overwrite)
        .await
        .unwrap();
    store
}

/// A memory store holding what Maria and Juan said in their calls.
pub async fn memories_of_maria_and_juan() -> Arc<InMemoryMemoryStore> {
    let store = Arc::new(InMemoryMemoryStore::new());
    for (number, conversation, content) in [
        (
            MARIA,
            "conv_maria_2",
            "I'd like to move my cleaning appointment to a Friday",
        ),
        (MARIA, "conv_maria_2", "2:15 works for me"),
        (
            JUAN,
            "conv_juan_1",
            "My next appointment is a filling on Monday",
        ),
    ] {
        let memory = utterance(&caller(number), conversation, content);
        assert_eq!(store.add(&memory).await.unwrap(), AddOutcome::Stored);
    }
    store
}
