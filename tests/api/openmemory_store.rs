//! What only the OpenMemory adapter does: error mapping, the compatibility check, deduplication
//! across callers and encoding, against the fake server.

use std::time::Duration;

use caller_memory::core::ports::{ErrorChain, MemoryStore, MemoryStoreError};
use caller_memory::core::recall::{QueryEmbedding, RecallQuery};
use caller_memory::core::{AddOutcome, MemoryKind, SearchLimit, SearchQuery};
use caller_memory::outbound::openmemory::{
    OpenMemoryStore, CONDENSATION_PROBE_USER_ID, PROBE_USER_ID,
};
use caller_memory::test_doubles::ThesaurusEmbedder;
use serde_json::{json, Value};

use crate::memory_store_conformance::{caller, memory, search, ALICE, BOB};
use crate::support::fake_openmemory::{FakeMode, FakeOpenMemory};

async fn search_result(
    store: &OpenMemoryStore,
    text: &str,
) -> Result<Vec<caller_memory::core::MemoryHit>, MemoryStoreError> {
    store
        .search(
            &caller(ALICE),
            &SearchQuery::parse(text).unwrap().into(),
            SearchLimit::DEFAULT,
        )
        .await
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_unavailable_and_retryable() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store();
    for status in [500, 502, 503, 429] {
        fake.fail_with(status);
        let error = store
            .add(&memory(ALICE, "conv_a1", 1, "Likes jazz"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, MemoryStoreError::Unavailable(_)),
            "{status}: {error}"
        );
        assert!(error.is_retryable());
    }
    fake.heal();
    let outcome = store.add(&memory(ALICE, "conv_a1", 1, "Likes jazz")).await;
    assert_eq!(outcome.unwrap(), AddOutcome::Stored);
}

#[tokio::test]
async fn client_errors_are_rejected_for_good() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    fake.fail_with(401);
    let error = search_result(&fake.store(), "jazz").await.unwrap_err();
    assert!(matches!(error, MemoryStoreError::Rejected(_)), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_unreachable_server_keeps_the_connection_error_as_the_cause_and_logs_it() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let store = OpenMemoryStore::new(url, "key", Duration::from_secs(2)).unwrap();
    let error = store
        .add(&memory(ALICE, "conv_a1", 1, "Likes jazz"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    let refused = std::iter::successors(std::error::Error::source(&error), |cause| cause.source())
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .find(|io_error| io_error.kind() == std::io::ErrorKind::ConnectionRefused)
        .expect("no connection-refused error among the causes");
    let logged = ErrorChain(&error).to_string();
    assert!(logged.contains(&refused.to_string()), "{logged}");
    assert!(logged.contains(&format!("127.0.0.1:{port}")), "{logged}");
    assert!(!logged.contains(ALICE), "{logged}");
}

#[tokio::test]
async fn a_wrong_key_is_rejected_by_the_check_and_by_searches() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = OpenMemoryStore::new(fake.url(), "not-the-key", Duration::from_secs(2)).unwrap();
    let error = store.check().await.unwrap_err();
    assert!(
        matches!(&error, MemoryStoreError::Rejected(message) if message.to_string().contains("OPENMEMORY_KEY")),
        "{error}"
    );
    assert!(!error.to_string().contains("not-the-key"));
    let error = search_result(&store, "jazz").await.unwrap_err();
    assert!(matches!(error, MemoryStoreError::Rejected(_)), "{error}");
}

#[tokio::test]
async fn a_slow_server_times_out_as_unavailable_and_recovers() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store_with_timeout(Duration::from_millis(200));
    fake.delay(Duration::from_secs(2));
    let error = search_result(&store, "jazz").await.unwrap_err();
    assert!(
        matches!(&error, MemoryStoreError::Unavailable(message) if message.to_string().contains("timed out")),
        "{error}"
    );
    fake.heal();
    assert!(search_result(&store, "jazz").await.is_ok());
}

#[tokio::test]
async fn a_hanging_server_fails_the_probe_within_a_second_and_the_answer_is_reused() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    // Requests may wait a minute, but a probe must not: a load balancer would give up first.
    let store = fake.store_with_timeout(Duration::from_secs(60));
    fake.delay(Duration::from_secs(60));
    let error = tokio::time::timeout(Duration::from_secs(10), store.check())
        .await
        .expect("the probe hung with the server")
        .unwrap_err();
    assert!(
        matches!(&error, MemoryStoreError::Unavailable(message) if message.to_string().contains("timed out")),
        "{error}"
    );
    let asked = fake.requests().len();
    let again = store.check().await.unwrap_err();
    assert_eq!(again.to_string(), error.to_string());
    assert_eq!(fake.requests().len(), asked, "the second probe asked again");
}

#[tokio::test]
async fn an_add_that_timed_out_on_a_stalled_server_is_not_stored_twice() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store_with_timeout(Duration::from_millis(300));
    let name = memory(ALICE, "conv_a1", 1, "First name is Maria");
    fake.stall_adds(Duration::from_millis(1200));
    let error = store.add(&name).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");

    // The server answers again, while the add it holds is still to land.
    fake.heal();
    let retried = store.add(&name).await.unwrap();
    fake.wait_for_stalled_adds().await;

    assert_eq!(retried, AddOutcome::AlreadyStored);
    let stored: Vec<String> = fake
        .memories_of(ALICE)
        .into_iter()
        .map(|memory| memory.content)
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let url = fake.url();
    drop(fake);
    let store = OpenMemoryStore::new(url, "key", Duration::from_secs(1)).unwrap();
    let error = store.check().await.unwrap_err();
    assert!(matches!(error, MemoryStoreError::Unavailable(_)), "{error}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_with_the_cause() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let store = OpenMemoryStore::new(url.clone(), "key", Duration::from_secs(1)).unwrap();
    let message = store.check().await.unwrap_err().to_string();
    let server = url.as_str().trim_end_matches('/');
    assert!(message.contains(server), "{message}");
    assert!(message.contains("refused"), "{message}");
}

#[tokio::test]
async fn a_newest_server_without_om_api_key_is_a_configuration_error_not_an_outage() {
    let fake = FakeOpenMemory::start(FakeMode::Newest).await;
    fake.without_api_key_configured();
    let error = fake.store().check().await.unwrap_err();
    let MemoryStoreError::Incompatible(message) = &error else {
        panic!("expected incompatible, got {error}");
    };
    let message = message.to_string();
    assert!(message.contains("OM_API_KEY"), "{message}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_server_that_scopes_users_by_key_is_incompatible_and_says_what_to_do() {
    let fake = FakeOpenMemory::start(FakeMode::Newest).await;
    let store = fake.store();
    let error = store.check().await.unwrap_err();
    let MemoryStoreError::Incompatible(message) = &error else {
        panic!("expected incompatible, got {error}");
    };
    let message = message.to_string();
    assert!(message.contains("tenant_mismatch"), "{message}");
    assert!(message.contains("user_id"), "{message}");
    assert!(message.contains("MEMORY_BACKEND=embedded"), "{message}");
    let error = store
        .add(&memory(ALICE, "conv_a1", 1, "Likes jazz"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, MemoryStoreError::Incompatible(_)),
        "{error}"
    );
    assert!(fake.memories_of(&fake.tenant()).is_empty());
}

#[tokio::test]
async fn a_compatible_server_passes_the_check_without_storing_anything() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    fake.store().check().await.expect("a compatible server");
    assert!(fake.memories_of(PROBE_USER_ID).is_empty());
    assert!(fake.memories_of(ALICE).is_empty());
    let probe = fake.requests().pop().unwrap();
    let body: Value = serde_json::from_slice(&probe.body).unwrap();
    assert_eq!(body["filters"]["user_id"], PROBE_USER_ID);
}

#[tokio::test]
async fn every_request_is_scoped_keyed_and_json() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store();
    store
        .add(&memory(ALICE, "conv_a1", 1, "Likes jazz"))
        .await
        .unwrap();
    search(&store, ALICE, "jazz", 5).await;
    let requests = fake.caller_requests();
    let [add, query] = requests.as_slice() else {
        panic!("two requests, got {requests:?}")
    };
    for request in [add, query] {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {}", fake.key()).as_str())
        );
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
    }
    let add_body: Value = serde_json::from_slice(&add.body).unwrap();
    assert_eq!(add_body["user_id"], ALICE);
    assert_eq!(add_body["salience"], json!(0.5));
    let query_body: Value = serde_json::from_slice(&query.body).unwrap();
    assert_eq!(query_body["filters"]["user_id"], ALICE);
    assert_eq!(query_body["user_id"], ALICE);
    // More candidates than wanted, for the core scorer to re-rank.
    assert_eq!(query_body["k"], 20);
    assert!(fake.crashes().is_empty());
}

#[tokio::test]
async fn a_collision_with_another_callers_memory_is_stored_distinguishably() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store();
    // Same conversation, time and words: the server's token-set hash is identical (l63).
    let alices = memory(ALICE, "conv_shared", 1, "Order number is 1000");
    let bobs = memory(BOB, "conv_shared", 1, "Order number is 1000");
    assert_eq!(store.add(&alices).await.unwrap(), AddOutcome::Stored);
    assert_eq!(
        store.add(&bobs).await.unwrap(),
        AddOutcome::StoredDistinguished
    );
    assert_eq!(fake.memories_of(BOB).len(), 1);
    assert_eq!(
        search(&store, BOB, "order number", 5).await,
        ["Order number is 1000"]
    );
    // A repeated delivery reproduces the same distinguished form and is recognised.
    assert_eq!(store.add(&bobs).await.unwrap(), AddOutcome::AlreadyStored);
    assert_eq!(fake.memories_of(BOB).len(), 1);
    assert_eq!(fake.memories_of(ALICE).len(), 1);
}

#[tokio::test]
async fn the_plus_of_a_caller_number_is_always_percent_encoded() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store();
    let alices = memory(ALICE, "conv_shared", 1, "Gate code is 4412");
    store.add(&alices).await.unwrap();
    // The ownership read after a deduplicated add carries the caller in the query string.
    store.add(&alices).await.unwrap();
    let reads: Vec<String> = fake
        .caller_requests()
        .into_iter()
        .filter(|request| request.method == "GET")
        .map(|request| request.path_and_query)
        .collect();
    assert!(!reads.is_empty());
    for read in reads {
        assert!(read.ends_with("?user_id=%2B14155550123"), "{read}");
    }
}

#[tokio::test]
async fn a_memory_every_form_of_which_collides_is_reported_not_stored() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    fake.seed(ALICE, "Caller's order number is 1000.", json!({}));
    fake.deduplicate_every_add();
    let outcome = fake
        .store()
        .add(&memory(BOB, "conv_b1", 1, "Caller's order number is 1002."))
        .await;
    assert!(matches!(outcome.unwrap(), AddOutcome::NotStored { .. }));
    assert!(fake.memories_of(BOB).is_empty());
}

#[tokio::test]
async fn a_long_memory_is_stored_in_parts_the_server_keeps_whole() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store();
    let mut summary = memory(ALICE, "conv_a9", 2, "Caller called about the annual service plan. They want the technician visit moved from Tuesday to Thursday morning. The upstairs thermostat reads three degrees too high. They asked about the loyalty discount. They prefer text reminders.");
    summary.kind = MemoryKind::CallSummary;
    assert_eq!(store.add(&summary).await.unwrap(), AddOutcome::Stored);
    let parts = fake.memories_of(ALICE);
    assert!(parts.len() > 1, "{parts:?}");
    let keys: Vec<&str> = parts
        .iter()
        .map(|part| part.metadata["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys[0], summary.key);
    assert_eq!(keys[1], format!("{}#2", summary.key));
    // A repeated delivery finds every part already there.
    assert_eq!(
        store.add(&summary).await.unwrap(),
        AddOutcome::AlreadyStored
    );
    assert_eq!(fake.memories_of(ALICE).len(), parts.len());
    let hits = search_result(&store, "service plan").await.unwrap();
    assert_eq!(hits[0].kind, MemoryKind::CallSummary);
    assert_eq!(
        hits[0].conversation_id.as_ref().map(|id| id.as_str()),
        Some("conv_a9")
    );
    assert!(hits[0]
        .content
        .starts_with("Caller called about the annual service plan."));
}

#[tokio::test]
async fn a_long_utterance_keeps_every_word_and_no_empty_memory_is_returned() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store();
    let said = "So what happened was that the plumber you sent on Monday replaced the valve under \
                the kitchen sink, but the pipe behind the dishwasher started dripping again on \
                Wednesday night, and my neighbour downstairs says there is a brown stain on her \
                ceiling now. Thanks.";
    store
        .add(&memory(ALICE, "conv_long", 1, said))
        .await
        .unwrap();
    // A memory the server emptied: only its marker is left.
    fake.seed(
        ALICE,
        "[cm utterance 20260105T101500Z conv_old] ",
        json!({}),
    );

    for stored in fake.memories_of(ALICE) {
        assert!(stored.content.chars().count() <= 200, "{}", stored.content);
    }
    let hits = store
        .search(
            &caller(ALICE),
            &RecallQuery::lexical(SearchQuery::parse("plumber valve dishwasher ceiling").unwrap()),
            SearchLimit::new(20).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        hits.iter().all(|hit| !hit.content.trim().is_empty()),
        "{hits:?}"
    );
    assert!(
        hits.iter().any(|hit| hit.content.contains("dishwasher")),
        "{hits:?}"
    );
    // Every word is kept by the server (a search returns only the parts relevant to it).
    let kept: String = fake
        .memories_of(ALICE)
        .iter()
        .map(|stored| stored.content.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    for word in said.split_whitespace() {
        assert!(kept.contains(word), "{word:?} was lost: {kept}");
    }
}

#[tokio::test]
async fn a_server_that_condenses_long_content_is_noticed_once() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let store = fake.store();
    for _ in 0..2 {
        let notices = store.notices().await;
        assert!(
            notices
                .iter()
                .any(|notice| notice.contains("OM_USE_SUMMARY_ONLY=false")),
            "{notices:?}"
        );
    }
    assert_eq!(fake.memories_of(CONDENSATION_PROBE_USER_ID).len(), 1);
    store
        .check()
        .await
        .expect("the probes do not disturb each other");
}

#[tokio::test]
async fn a_memory_without_a_marker_gets_its_details_from_a_scoped_read() {
    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let metadata = json!({"kind": "fact", "conversation_id": "conv_old", "occurred_at": "2025-12-01T09:00:00Z"});
    fake.seed(ALICE, "Preferred name is Maggie", metadata);
    let hits = search_result(&fake.store(), "preferred name")
        .await
        .unwrap();
    assert_eq!(hits[0].content, "Preferred name is Maggie");
    assert_eq!(hits[0].kind, MemoryKind::Fact);
    assert_eq!(
        hits[0].conversation_id.as_ref().map(|id| id.as_str()),
        Some("conv_old")
    );
    assert_eq!(
        hits[0].created_at.map(|at| at.to_rfc3339()),
        Some("2025-12-01T09:00:00+00:00".to_owned())
    );
}

/// A question about allergies, in words no memory below uses. Its embedding comes from another
/// instance of the same model, so that what the embedder under test counts is the candidates'.
async fn allergy_question() -> RecallQuery {
    let question = SearchQuery::parse("any drug reactions?").unwrap();
    let embedding = QueryEmbedding::of(&question, &ThesaurusEmbedder::new())
        .await
        .unwrap();
    RecallQuery::hybrid(question, embedding)
}

/// Candidates that take longer to embed than a search may wait are ranked by words for that
/// search, and by meaning from the search after their embedding ends; each is embedded once,
/// however many searches arrive meanwhile.
#[tokio::test]
async fn candidates_embedded_too_late_for_one_search_are_ranked_by_meaning_afterwards() {
    use std::sync::Arc;

    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let embedder = Arc::new(ThesaurusEmbedder::new());
    embedder.delay(Duration::from_millis(400));
    let store = fake
        .store()
        .with_embedder(embedder.clone(), Duration::from_millis(50));
    let memories = [
        "Agent asked: Do you have any allergies? Caller: Yes, I'm allergic to penicillin.",
        "Agent asked: What's going on with the kitchen? Caller: The sink has been dripping since Monday.",
    ];
    for (minute, content) in memories.iter().enumerate() {
        store
            .add(&memory(ALICE, "conv_a1", minute as u32, content))
            .await
            .expect("stored");
    }
    let query = allergy_question().await;
    let alice = caller(ALICE);
    let ask = || store.search(&alice, &query, SearchLimit::DEFAULT);

    let first = ask().await.expect("a search that succeeds");
    assert!(
        first.is_empty(),
        "no shared word, no similarity yet: {first:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = ask().await.expect("a search that succeeds");
        if found
            .first()
            .is_some_and(|hit| hit.content.contains("penicillin"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the candidates were never ranked by meaning: {found:?}"
        );
    }
    assert_eq!(embedder.embedded(), memories.len());
}

/// The embeddings a search made of a caller's memories (cached by their words) go when the
/// memories are deleted: told again after the deletion, the same words are embedded afresh.
#[tokio::test]
async fn the_embeddings_of_deleted_memories_leave_the_process_with_them() {
    use std::sync::Arc;

    use caller_memory::core::ConversationId;

    let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
    let embedder = Arc::new(ThesaurusEmbedder::new());
    // Generous: each search waits for its candidates' embeddings, so they are counted after it.
    let store = fake
        .store()
        .with_embedder(embedder.clone(), Duration::from_secs(30));
    let said = memory(
        ALICE,
        "conv_a1",
        0,
        "Agent asked: Any allergies? Caller: Penicillin.",
    );
    let query = allergy_question().await;
    let alice = caller(ALICE);
    store.add(&said).await.expect("stored");
    store
        .search(&alice, &query, SearchLimit::DEFAULT)
        .await
        .expect("a search that succeeds");
    let embedded_once = embedder.embedded();
    assert!(embedded_once > 0);

    let conversation = ConversationId::parse("conv_a1").unwrap();
    let deleted = store.delete_conversation(&alice, &conversation).await;
    assert_eq!(deleted.expect("deleted"), 1);
    store.add(&said).await.expect("stored again");
    store
        .search(&alice, &query, SearchLimit::DEFAULT)
        .await
        .expect("a search that succeeds");

    assert_eq!(embedder.embedded(), 2 * embedded_once);
}
