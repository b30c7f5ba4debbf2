//! One suite of behaviour every `MemoryStore` must show, run against each implementation: the
//! embedded SQLite store, the OpenMemory adapter against the fake legacy server, and the
//! in-memory test double.

use std::any::Any;
use std::sync::Arc;

use caller_memory::core::ports::MemoryStore;
use caller_memory::core::{
    AddOutcome, CallerId, ConversationId, Decay, MemoryKind, NewMemory, SearchLimit, SearchQuery,
};
use caller_memory::outbound::embedded::EmbeddedMemoryStore;
use caller_memory::test_doubles::InMemoryMemoryStore;
use chrono::{DateTime, TimeZone, Utc};

use crate::support::fake_openmemory::{FakeMode, FakeOpenMemory};

/// A store under test, with whatever must live as long as it (a temporary folder, a server).
pub struct Subject {
    pub store: Arc<dyn MemoryStore>,
    _keep_alive: Box<dyn Any + Send>,
}

async fn embedded() -> Subject {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let store = EmbeddedMemoryStore::open(folder.path().join("memories.sqlite"))
        .await
        .expect("an embedded store");
    Subject {
        store: Arc::new(store),
        _keep_alive: Box::new(folder),
    }
}

async fn openmemory() -> Subject {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    Subject {
        store: Arc::new(fake.store()),
        _keep_alive: Box::new(fake),
    }
}

async fn in_memory() -> Subject {
    Subject {
        store: Arc::new(InMemoryMemoryStore::new()),
        _keep_alive: Box::new(()),
    }
}

pub fn caller(number: &str) -> CallerId {
    CallerId::parse(number).expect("a valid number")
}

pub const ALICE: &str = "+14155550123";
pub const BOB: &str = "+14155550999";

/// An utterance of `number` in `conversation`, at a time that grows with `minute`.
pub fn memory(number: &str, conversation: &str, minute: u32, content: &str) -> NewMemory {
    NewMemory {
        caller: caller(number),
        content: content.to_owned(),
        kind: MemoryKind::Utterance,
        agent_id: None,
        conversation_id: ConversationId::parse(conversation).expect("a valid id"),
        key: format!("utterance-{minute}"),
        tags: vec!["test".to_owned()],
        salience: 0.5,
        decay: Decay::Default,
        turn: None,
        occurred_at: at_minute(minute),
    }
}

pub fn at_minute(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, minute, 0).unwrap()
}

pub async fn search(store: &dyn MemoryStore, number: &str, text: &str, limit: i64) -> Vec<String> {
    let hits = store
        .search(
            &caller(number),
            &SearchQuery::parse(text).unwrap(),
            SearchLimit::new(limit).unwrap(),
        )
        .await
        .expect("a search that succeeds");
    hits.into_iter().map(|hit| hit.content).collect()
}

async fn add_all(store: &dyn MemoryStore, memories: &[NewMemory]) {
    for memory in memories {
        let outcome = store.add(memory).await.expect("an add that succeeds");
        assert_eq!(outcome, AddOutcome::Stored, "{}", memory.content);
    }
}

async fn two_callers_never_see_each_others_memories(subject: Subject) {
    let store = subject.store.as_ref();
    add_all(
        store,
        &[
            memory(
                ALICE,
                "conv_a1",
                1,
                "My dog Biscuit is afraid of thunderstorms",
            ),
            memory(ALICE, "conv_a1", 2, "Please call me back after 5 pm"),
            memory(BOB, "conv_b1", 3, "My cat Mochi loves tuna"),
            memory(BOB, "conv_b1", 4, "Please send the invoice by email"),
        ],
    )
    .await;
    // Each question names the other caller's memories as well as the caller's own.
    let alice_sees = search(
        store,
        ALICE,
        "dog call back cat Mochi tuna invoice email",
        20,
    )
    .await;
    let bob_sees = search(store, BOB, "cat invoice dog Biscuit thunderstorms call", 20).await;
    assert_eq!(alice_sees.len(), 2);
    assert!(alice_sees
        .iter()
        .all(|content| !content.contains("Mochi") && !content.contains("invoice")));
    assert_eq!(bob_sees.len(), 2);
    assert!(bob_sees
        .iter()
        .all(|content| !content.contains("Biscuit") && !content.contains("5 pm")));
}

async fn relevant_memories_rank_first(subject: Subject) {
    let store = subject.store.as_ref();
    add_all(
        store,
        &[
            memory(
                ALICE,
                "conv_a1",
                1,
                "The caller prefers email over phone calls",
            ),
            memory(ALICE, "conv_a1", 2, "The caller's dog is named Biscuit"),
            memory(
                ALICE,
                "conv_a2",
                3,
                "The caller is moving to Denver next month",
            ),
            memory(ALICE, "conv_a2", 4, "The gate code is 4412"),
        ],
    )
    .await;
    let found = search(store, ALICE, "tell me about the dog", 4).await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("The caller's dog is named Biscuit")
    );
}

async fn unicode_round_trips(subject: Subject) {
    let store = subject.store.as_ref();
    let text = "Zoë mag crème brûlée 🍮 — 東京で会いましょう «merci» \"quoted\"";
    let mut original = memory(ALICE, "conv_a1", 7, text);
    original.kind = MemoryKind::Fact;
    add_all(store, &[original]).await;
    let hits = store
        .search(
            &caller(ALICE),
            &SearchQuery::parse("crème brûlée").unwrap(),
            SearchLimit::DEFAULT,
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].content, text);
    assert_eq!(hits[0].kind, MemoryKind::Fact);
    assert_eq!(hits[0].created_at, Some(at_minute(7)));
    assert_eq!(
        hits[0].conversation_id.as_ref().map(|id| id.as_str()),
        Some("conv_a1")
    );
}

async fn limits_are_honoured(subject: Subject) {
    let store = subject.store.as_ref();
    let memories: Vec<NewMemory> = (0..8)
        .map(|n| {
            memory(
                ALICE,
                "conv_a1",
                n,
                &format!("Jazz record number {n} arrived on day {}", n * 7 + 3),
            )
        })
        .collect();
    add_all(store, &memories).await;
    assert_eq!(search(store, ALICE, "jazz record", 3).await.len(), 3);
    assert_eq!(
        search(store, ALICE, "which jazz records", 20).await.len(),
        8
    );
}

async fn hostile_query_text_never_errors(subject: Subject) {
    let store = subject.store.as_ref();
    add_all(
        store,
        &[memory(
            ALICE,
            "conv_a1",
            1,
            "Caller likes \"jazz\" AND blues (NOT rock)",
        )],
    )
    .await;
    let long_text = "jazz ".repeat(199) + "NEAR";
    let hostile = [
        "\"unbalanced",
        "jazz AND OR NOT",
        "NEAR(jazz blues, 2)",
        "*",
        "^start",
        "content:jazz",
        "(((",
        "'; DROP TABLE memories; --",
        "🎷🎺",
        "%E0%A4%A",
        "100% sure",
        "a\\\"b",
        "\u{0}",
        "jazz*",
        "{content}: jazz",
        long_text.as_str(),
    ];
    for text in hostile {
        let found = search(store, ALICE, text, 5).await;
        assert_eq!(found.len(), 1, "query {text:?}");
    }
}

async fn a_query_without_words_returns_the_most_recent_memories(subject: Subject) {
    let store = subject.store.as_ref();
    add_all(
        store,
        &[
            memory(ALICE, "conv_a1", 1, "First call about the boiler"),
            memory(ALICE, "conv_a2", 2, "Second call about the invoice"),
            memory(ALICE, "conv_a3", 3, "Third call about the garden"),
        ],
    )
    .await;
    assert_eq!(
        search(store, ALICE, "?!", 1).await,
        ["Third call about the garden"]
    );
}

async fn a_repeated_add_is_not_duplicated(subject: Subject) {
    let store = subject.store.as_ref();
    let original = memory(ALICE, "conv_a1", 1, "The caller's order number is 1000");
    assert_eq!(store.add(&original).await.unwrap(), AddOutcome::Stored);
    assert_eq!(
        store.add(&original).await.unwrap(),
        AddOutcome::AlreadyStored
    );
    let found = search(store, ALICE, "order number", 20).await;
    assert_eq!(found, ["The caller's order number is 1000"]);
}

async fn deleting_a_conversation_removes_only_that_callers_memories_of_it(subject: Subject) {
    let store = subject.store.as_ref();
    for added in [
        memory(ALICE, "conv_a1", 1, "Alice wants the blue bicycle"),
        memory(ALICE, "conv_a1", 2, "Alice lives near the harbour"),
        memory(ALICE, "conv_a2", 3, "Alice asked about a refund"),
        memory(BOB, "conv_a1", 4, "Bob wants the red scooter"),
    ] {
        store.add(&added).await.unwrap();
    }
    let conversation = ConversationId::parse("conv_a1").unwrap();

    let deleted = store
        .delete_conversation(&caller(ALICE), &conversation)
        .await;

    assert_eq!(deleted.unwrap(), 2);
    let left: Vec<String> = store
        .memories_of(&caller(ALICE))
        .await
        .unwrap()
        .into_iter()
        .map(|memory| memory.content)
        .collect();
    assert_eq!(left, ["Alice asked about a refund"]);
    assert_eq!(
        search(store, BOB, "scooter", 5).await,
        ["Bob wants the red scooter"]
    );
    let again = store
        .delete_conversation(&caller(ALICE), &conversation)
        .await;
    assert_eq!(again.unwrap(), 0);
}

macro_rules! conformance_suite {
    ($subject:ident) => {
        mod $subject {
            conformance_suite!(@checks $subject:
                two_callers_never_see_each_others_memories,
                relevant_memories_rank_first,
                unicode_round_trips,
                limits_are_honoured,
                hostile_query_text_never_errors,
                a_query_without_words_returns_the_most_recent_memories,
                a_repeated_add_is_not_duplicated,
                deleting_a_conversation_removes_only_that_callers_memories_of_it,
            );
        }
    };
    (@checks $subject:ident: $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                super::$check(super::$subject().await).await;
            }
        )+
    };
}

conformance_suite!(embedded);
conformance_suite!(openmemory);
conformance_suite!(in_memory);
