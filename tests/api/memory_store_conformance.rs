//! One suite of behaviour every `MemoryStore` must show, run against each implementation: the
//! embedded SQLite store, the Postgres store in a fresh database of the local server, the
//! OpenMemory adapter against the fake legacy server, and the in-memory test double; each also with an embedder (the deterministic test embedder), where
//! the suite adds a paraphrase check.

use std::any::Any;
use std::sync::Arc;

use std::time::Duration;

use caller_memory::core::ports::{Embedder, MemoryStore};
use caller_memory::core::recall::{QueryEmbedding, RecallQuery};
use caller_memory::core::{
    AddOutcome, CallerId, ConversationId, Decay, MemoryKind, NewMemory, SearchLimit, SearchQuery,
};
use caller_memory::outbound::embedded::EmbeddedMemoryStore;
use caller_memory::outbound::postgres::PostgresMemoryStore;
use caller_memory::test_doubles::{InMemoryMemoryStore, ThesaurusEmbedder};
use chrono::{DateTime, TimeZone, Utc};

use crate::support::fake_openmemory::{FakeMode, FakeOpenMemory};
use crate::support::postgres::{test_pool, TestDatabase};

/// A store under test, the embedder it was given (if any), and whatever must live as long as
/// it (a temporary folder, a server).
pub struct Subject {
    pub store: Arc<dyn MemoryStore>,
    embedder: Option<Arc<dyn Embedder>>,
    _keep_alive: Box<dyn Any + Send>,
}

async fn embedded_with(embedder: Option<Arc<dyn Embedder>>) -> Subject {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let mut store = EmbeddedMemoryStore::open(folder.path().join("memories.sqlite"))
        .await
        .expect("an embedded store");
    if let Some(embedder) = &embedder {
        store = store.with_embedder(embedder.clone());
    }
    Subject {
        store: Arc::new(store),
        embedder,
        _keep_alive: Box::new(folder),
    }
}

async fn postgres_with(embedder: Option<Arc<dyn Embedder>>) -> Subject {
    let database = TestDatabase::create().await;
    let mut store = PostgresMemoryStore::connect(database.url(), test_pool())
        .await
        .expect("a Postgres store");
    if let Some(embedder) = &embedder {
        store = store.with_embedder(embedder.clone());
    }
    Subject {
        store: Arc::new(store),
        embedder,
        _keep_alive: Box::new(database),
    }
}

async fn openmemory_with(embedder: Option<Arc<dyn Embedder>>) -> Subject {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let mut store = fake.store();
    if let Some(embedder) = &embedder {
        store = store.with_embedder(embedder.clone(), Duration::from_secs(1));
    }
    Subject {
        store: Arc::new(store),
        embedder,
        _keep_alive: Box::new(fake),
    }
}

async fn in_memory_with(embedder: Option<Arc<dyn Embedder>>) -> Subject {
    let mut store = InMemoryMemoryStore::new();
    if let Some(embedder) = &embedder {
        store = store.with_embedder(embedder.clone());
    }
    Subject {
        store: Arc::new(store),
        embedder,
        _keep_alive: Box::new(()),
    }
}

fn test_embedder() -> Option<Arc<dyn Embedder>> {
    Some(Arc::new(ThesaurusEmbedder::new()))
}

async fn embedded() -> Subject {
    embedded_with(None).await
}

async fn embedded_hybrid() -> Subject {
    embedded_with(test_embedder()).await
}

async fn postgres() -> Subject {
    postgres_with(None).await
}

async fn postgres_hybrid() -> Subject {
    postgres_with(test_embedder()).await
}

async fn openmemory() -> Subject {
    openmemory_with(None).await
}

async fn openmemory_hybrid() -> Subject {
    openmemory_with(test_embedder()).await
}

async fn in_memory() -> Subject {
    in_memory_with(None).await
}

async fn in_memory_hybrid() -> Subject {
    in_memory_with(test_embedder()).await
}

/// Searches as the search-data use case would: with the question's embedding when the subject
/// has an embedder.
async fn recall(subject: &Subject, number: &str, text: &str, limit: i64) -> Vec<String> {
    let text = SearchQuery::parse(text).unwrap();
    let query = match &subject.embedder {
        Some(embedder) => {
            let embedding = QueryEmbedding::of(&text, embedder.as_ref()).await.unwrap();
            RecallQuery::hybrid(text, embedding)
        }
        None => RecallQuery::lexical(text),
    };
    let hits = subject
        .store
        .search(&caller(number), &query, SearchLimit::new(limit).unwrap())
        .await
        .expect("a search that succeeds");
    hits.into_iter().map(|hit| hit.content).collect()
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
            &SearchQuery::parse(text).unwrap().into(),
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
            &SearchQuery::parse("crème brûlée").unwrap().into(),
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
        // A text naming the memory's words finds it; any other text succeeds, finding nothing
        // (a topic the caller never mentioned) or the recent context (no topic at all).
        if text.contains("jazz") {
            assert_eq!(found.len(), 1, "query {text:?}");
        } else {
            assert!(found.len() <= 1, "query {text:?}");
        }
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

/// Answers as exchanges store them, from callers of several trades.
fn exchanges() -> Vec<NewMemory> {
    [
        "Agent asked: Any allergies we should know about? Caller: Yes, I'm allergic to penicillin.",
        "Agent asked: What's the best way to reach you? Caller: Please text me, I can't take calls at work.",
        "Agent asked: What's going on with the kitchen? Caller: The sink has been dripping since Monday.",
        "Agent asked: Anything else for the order? Caller: I cancelled the gym membership last week.",
    ]
    .iter()
    .enumerate()
    .map(|(minute, content)| memory(ALICE, "conv_a1", minute as u32, content))
    .collect()
}

/// A call's memories added at once, as ingestion adds them: each stored once however often the
/// call is delivered, and each found by its own words (and meaning, with an embedder).
async fn a_call_added_at_once_is_stored_once_however_often_it_is_delivered(subject: Subject) {
    let store = subject.store.as_ref();
    let call = exchanges();
    let outcomes = |results: Vec<Result<AddOutcome, _>>| -> Vec<AddOutcome> {
        results
            .into_iter()
            .map(|result| result.expect("an add that succeeds"))
            .collect()
    };

    let first = outcomes(store.add_many(&call[..3]).await);
    let again = outcomes(store.add_many(&call).await);

    assert_eq!(first, [const { AddOutcome::Stored }; 3]);
    assert_eq!(
        again,
        [
            AddOutcome::AlreadyStored,
            AddOutcome::AlreadyStored,
            AddOutcome::AlreadyStored,
            AddOutcome::Stored
        ]
    );
    let stored = store.memories_of(&caller(ALICE)).await.unwrap();
    assert_eq!(stored.len(), call.len(), "{stored:?}");
    let leak = recall(&subject, ALICE, "drips", 5).await;
    assert_eq!(leak.len(), 1, "{leak:?}");
    assert!(leak[0].contains("dripping"), "{leak:?}");
    let found = recall(&subject, ALICE, "membership cancellation", 5).await;
    assert!(found[0].contains("cancelled"), "{found:?}");
    if subject.embedder.is_some() {
        let allergy = recall(&subject, ALICE, "any drug reactions?", 5).await;
        assert!(allergy[0].contains("penicillin"), "{allergy:?}");
    }
}

async fn a_paraphrase_finds_what_the_caller_meant(subject: Subject) {
    add_all(subject.store.as_ref(), &exchanges()).await;
    let allergy = recall(&subject, ALICE, "any drug reactions?", 5).await;
    assert!(allergy[0].contains("penicillin"), "{allergy:?}");
    let contact = recall(&subject, ALICE, "how does she want to be contacted", 5).await;
    assert!(contact[0].contains("text me"), "{contact:?}");
}

async fn another_word_form_finds_the_memory(subject: Subject) {
    add_all(subject.store.as_ref(), &exchanges()).await;
    let found = recall(&subject, ALICE, "membership cancellation", 5).await;
    assert!(found[0].contains("cancelled"), "{found:?}");
    let leak = recall(&subject, ALICE, "drips", 5).await;
    assert_eq!(leak.len(), 1, "{leak:?}");
}

async fn a_question_about_something_never_said_finds_nothing(subject: Subject) {
    add_all(subject.store.as_ref(), &exchanges()).await;
    for question in [
        "Does the caller have any pets?",
        "What car does he drive?",
        "¿Cuál es su dirección de facturación?",
    ] {
        let found = recall(&subject, ALICE, question, 5).await;
        assert!(found.is_empty(), "{question}: {found:?}");
    }
}

async fn forgetting_removes_only_the_named_memories_of_that_conversation(subject: Subject) {
    let store = subject.store.as_ref();
    add_all(
        store,
        &[
            memory(ALICE, "conv_a1", 1, "Old line about the boiler"),
            memory(ALICE, "conv_a1", 2, "Kept line about the garden"),
            memory(ALICE, "conv_a2", 1, "Another call about the boiler"),
            memory(BOB, "conv_a1", 1, "Bob's line about the boiler"),
        ],
    )
    .await;
    let keys = ["utterance-1".to_owned(), "utterance-9".to_owned()];
    let conversation = ConversationId::parse("conv_a1").unwrap();
    let removed = store.forget(&caller(ALICE), &conversation, &keys).await;
    assert_eq!(removed.unwrap(), 1);
    assert_eq!(
        store
            .forget(&caller(ALICE), &conversation, &keys)
            .await
            .unwrap(),
        0
    );
    let mut left = search(store, ALICE, "what did we talk about?", 20).await;
    left.sort();
    assert_eq!(
        left,
        [
            "Another call about the boiler",
            "Kept line about the garden"
        ]
    );
    assert_eq!(
        search(store, BOB, "anything from last time?", 20).await,
        ["Bob's line about the boiler"]
    );
    let again = memory(ALICE, "conv_a1", 1, "Old line about the boiler");
    assert_eq!(store.add(&again).await.unwrap(), AddOutcome::Stored);
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
    ($subject:ident $(, $extra:ident)*) => {
        mod $subject {
            conformance_suite!(@checks $subject:
                two_callers_never_see_each_others_memories,
                relevant_memories_rank_first,
                unicode_round_trips,
                limits_are_honoured,
                hostile_query_text_never_errors,
                a_query_without_words_returns_the_most_recent_memories,
                a_repeated_add_is_not_duplicated,
                a_call_added_at_once_is_stored_once_however_often_it_is_delivered,
                another_word_form_finds_the_memory,
                a_question_about_something_never_said_finds_nothing,
                forgetting_removes_only_the_named_memories_of_that_conversation,
                deleting_a_conversation_removes_only_that_callers_memories_of_it,
                $($extra,)*
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
conformance_suite!(postgres);
conformance_suite!(in_memory);
conformance_suite!(embedded_hybrid, a_paraphrase_finds_what_the_caller_meant);
conformance_suite!(openmemory_hybrid, a_paraphrase_finds_what_the_caller_meant);
conformance_suite!(postgres_hybrid, a_paraphrase_finds_what_the_caller_meant);
conformance_suite!(in_memory_hybrid, a_paraphrase_finds_what_the_caller_meant);
