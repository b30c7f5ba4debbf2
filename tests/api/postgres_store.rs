//! What only the Postgres store does: a schema migrated once however many instances start at
//! once, a database of a newer version refused, an unreachable or stalled server reported as
//! unavailable instead of waited for, and memories shared by every instance.

use std::sync::Arc;
use std::time::Duration;

use caller_memory::core::ports::{MemoryStore, MemoryStoreError};
use caller_memory::core::AddOutcome;
use caller_memory::outbound::postgres::{PoolOptions, PostgresMemoryStore};

use crate::memory_store_conformance::{memory, search, ALICE};
use crate::support::postgres::{test_pool, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_migrate_once_and_share_their_memories() {
    let database = TestDatabase::create().await;
    let starts = (0..4).map(|_| PostgresMemoryStore::connect(database.url(), test_pool()));
    let stores: Vec<PostgresMemoryStore> = futures_util::future::join_all(starts)
        .await
        .into_iter()
        .map(|store| store.expect("every instance starts"))
        .collect();
    let versions: Vec<i32> = database
        .connect()
        .await
        .query("SELECT version FROM caller_memory_schema", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [1, 2]);

    let original = memory(ALICE, "conv_a1", 1, "The boiler was serviced in March");
    let adds = stores.iter().map(|store| store.add(&original));
    let mut outcomes: Vec<AddOutcome> = futures_util::future::join_all(adds)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("an add that succeeds"))
        .collect();
    outcomes.sort_by_key(|outcome| *outcome != AddOutcome::Stored);
    assert_eq!(
        outcomes,
        [
            AddOutcome::Stored,
            AddOutcome::AlreadyStored,
            AddOutcome::AlreadyStored,
            AddOutcome::AlreadyStored
        ]
    );
    for store in &stores {
        store.check().await.unwrap();
        assert_eq!(
            search(store, ALICE, "boiler service", 5).await,
            ["The boiler was serviced in March"]
        );
    }
}

#[tokio::test]
async fn a_database_written_by_a_newer_version_is_refused() {
    let database = TestDatabase::create().await;
    PostgresMemoryStore::connect(database.url(), test_pool())
        .await
        .unwrap();
    database
        .connect()
        .await
        .batch_execute("INSERT INTO caller_memory_schema (version) VALUES (99)")
        .await
        .unwrap();
    let error = PostgresMemoryStore::connect(database.url(), test_pool())
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("newer"), "{error:#}");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_the_acquire_timeout() {
    let options = PoolOptions {
        acquire_timeout: Duration::from_millis(500),
        ..test_pool()
    };
    // Nothing listens on port 1 of loopback.
    let error =
        PostgresMemoryStore::connect("postgres://postgres:secret@127.0.0.1:1/none", options)
            .await
            .unwrap_err();
    assert!(
        matches!(error, MemoryStoreError::Unavailable(_)),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("secret"), "{message}");
}

#[tokio::test]
async fn a_store_whose_server_stops_answering_reports_it_instead_of_waiting() {
    let database = TestDatabase::create().await;
    let options = PoolOptions {
        size: 1,
        acquire_timeout: Duration::from_millis(300),
        statement_timeout: Duration::from_millis(500),
    };
    let store = PostgresMemoryStore::connect(database.url(), options)
        .await
        .unwrap();
    let mut holder = database.connect().await;
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let error = store
        .add(&memory(ALICE, "conv_a1", 1, "The gate code is 4412"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error:?}");
    lock.rollback().await.unwrap();
    assert_eq!(
        store
            .add(&memory(ALICE, "conv_a1", 1, "The gate code is 4412"))
            .await
            .unwrap(),
        AddOutcome::Stored
    );
}

#[tokio::test]
async fn memories_stored_before_an_embedder_are_found_by_meaning_once_embedded() {
    use caller_memory::core::recall::{QueryEmbedding, RecallQuery};
    use caller_memory::core::{SearchLimit, SearchQuery};
    use caller_memory::test_doubles::ThesaurusEmbedder;

    let database = TestDatabase::create().await;
    let allergy = memory(ALICE, "conv_a1", 1, "Caller: I'm allergic to penicillin");
    let lexical = PostgresMemoryStore::connect(database.url(), test_pool())
        .await
        .unwrap();
    assert_eq!(lexical.add(&allergy).await.unwrap(), AddOutcome::Stored);
    let embedder = Arc::new(ThesaurusEmbedder::new());
    let store = PostgresMemoryStore::connect(database.url(), test_pool())
        .await
        .unwrap()
        .with_embedder(embedder.clone());
    let text = SearchQuery::parse("drug reactions").unwrap();
    let embedding = QueryEmbedding::of(&text, embedder.as_ref()).await.unwrap();
    let query = RecallQuery::hybrid(text, embedding);
    let caller = crate::memory_store_conformance::caller(ALICE);
    let found = store
        .search(&caller, &query, SearchLimit::DEFAULT)
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");

    assert_eq!(store.embed_missing().await.unwrap(), 1);
    assert_eq!(store.embed_missing().await.unwrap(), 0);
    let found = store
        .search(&caller, &query, SearchLimit::DEFAULT)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
}

#[tokio::test]
async fn vectors_stored_by_the_first_schema_version_are_kept_when_it_is_upgraded() {
    use caller_memory::core::ports::Embedder;
    use caller_memory::core::recall::{QueryEmbedding, RecallQuery};
    use caller_memory::core::{SearchLimit, SearchQuery};
    use caller_memory::test_doubles::ThesaurusEmbedder;

    let database = TestDatabase::create().await;
    let embedder = Arc::new(ThesaurusEmbedder::new());
    let allergy = "Caller: I'm allergic to penicillin";
    let vector = embedder
        .embed(&[allergy.to_owned()])
        .await
        .unwrap()
        .remove(0);
    PostgresMemoryStore::connect(database.url(), test_pool())
        .await
        .unwrap();
    // The table as the first version left it: vectors as `real[]`.
    let old = database.connect().await;
    old.batch_execute(
        "DELETE FROM caller_memory_schema WHERE version > 1;
         ALTER TABLE memories DROP COLUMN embedding;
         ALTER TABLE memories ADD COLUMN embedding real[];",
    )
    .await
    .unwrap();
    old.execute(
        "INSERT INTO memories (caller, conversation_id, memory_key, kind, content, tags,
                               salience, occurred_at, embedding_model, embedding)
         VALUES ($1, 'conv_a1', 'utterance-1', 'utterance', $2, '{}', 0.5, now(), $3, $4)",
        &[
            &ALICE,
            &allergy,
            &embedder.model_id(),
            &vector.values().to_vec(),
        ],
    )
    .await
    .unwrap();

    let store = PostgresMemoryStore::connect(database.url(), test_pool())
        .await
        .unwrap()
        .with_embedder(embedder.clone());

    assert_eq!(store.embed_missing().await.unwrap(), 0);
    let text = SearchQuery::parse("drug reactions").unwrap();
    let question = QueryEmbedding::of(&text, embedder.as_ref()).await.unwrap();
    let expected = question.embedding.similarity(&vector);
    let found = store
        .search(
            &crate::memory_store_conformance::caller(ALICE),
            &RecallQuery::hybrid(text, question),
            SearchLimit::DEFAULT,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].content, allergy);
    assert!(
        (found[0].score - f64::from(expected)).abs() < 1e-6,
        "{found:?} {expected}"
    );
}
