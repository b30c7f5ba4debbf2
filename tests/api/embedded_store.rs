//! What only the embedded store does: a file that survives restarts, a versioned schema, bulk
//! loading and concurrent use.

use std::sync::Arc;

use caller_memory::core::ports::MemoryStore;
use caller_memory::core::AddOutcome;
use caller_memory::outbound::embedded::EmbeddedMemoryStore;

use crate::memory_store_conformance::{memory, search, ALICE, BOB};

#[tokio::test]
async fn memories_survive_a_restart_and_stay_unique() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("nested/folder/memories.sqlite");
    let original = memory(ALICE, "conv_a1", 1, "Caller's boiler was serviced in March");
    {
        let store = EmbeddedMemoryStore::open(&path).await.unwrap();
        assert_eq!(store.add(&original).await.unwrap(), AddOutcome::Stored);
    }
    let reopened = EmbeddedMemoryStore::open(&path).await.unwrap();
    reopened.check().await.unwrap();
    assert_eq!(
        reopened.add(&original).await.unwrap(),
        AddOutcome::AlreadyStored
    );
    assert_eq!(
        search(&reopened, ALICE, "boiler", 5).await,
        ["Caller's boiler was serviced in March"]
    );
}

#[tokio::test]
async fn a_database_written_by_a_newer_version_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("memories.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = EmbeddedMemoryStore::open(&path).await.unwrap_err();
    assert!(format!("{error:#}").contains("newer"), "{error:#}");
}

#[tokio::test]
async fn a_bulk_load_is_searchable_and_skips_repeats() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("memories.sqlite");
    let memories = (0..50).map(|n| {
        memory(
            BOB,
            "conv_b1",
            n % 25,
            &format!("Parcel {n} left the depot"),
        )
    });
    let stored = tokio::task::spawn_blocking({
        let path = path.clone();
        move || EmbeddedMemoryStore::bulk_load(&path, memories)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stored, 25);
    let store = EmbeddedMemoryStore::open(&path).await.unwrap();
    assert_eq!(search(&store, BOB, "parcel depot", 20).await.len(), 20);
    assert!(search(&store, ALICE, "parcel depot", 20).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_and_searches_all_succeed() {
    let folder = tempfile::tempdir().unwrap();
    let store = Arc::new(
        EmbeddedMemoryStore::open(folder.path().join("m.sqlite"))
            .await
            .unwrap(),
    );
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .add(&memory(
                        ALICE,
                        "conv_a1",
                        n,
                        &format!("Note {n} about jazz"),
                    ))
                    .await
                    .unwrap();
                search(store.as_ref(), ALICE, "jazz", 20).await.len()
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap() >= 1);
    }
    assert_eq!(
        search(store.as_ref(), ALICE, "jazz note", 20).await.len(),
        20
    );
}

#[tokio::test]
async fn memories_stored_before_an_embedder_are_found_by_meaning_once_embedded() {
    use caller_memory::core::recall::{QueryEmbedding, RecallQuery};
    use caller_memory::core::{SearchLimit, SearchQuery};
    use caller_memory::test_doubles::ThesaurusEmbedder;

    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("memories.sqlite");
    let allergy = memory(ALICE, "conv_a1", 1, "Caller: I'm allergic to penicillin");
    {
        let lexical = EmbeddedMemoryStore::open(&path).await.unwrap();
        assert_eq!(lexical.add(&allergy).await.unwrap(), AddOutcome::Stored);
    }
    let embedder = Arc::new(ThesaurusEmbedder::new());
    let store = EmbeddedMemoryStore::open(&path)
        .await
        .unwrap()
        .with_embedder(embedder.clone());
    let text = SearchQuery::parse("drug reactions").unwrap();
    let embedding = QueryEmbedding::of(&text, embedder.as_ref()).await.unwrap();
    let query = RecallQuery::hybrid(text, embedding);
    let found = |store: EmbeddedMemoryStore, query: RecallQuery| async move {
        let caller = crate::memory_store_conformance::caller(ALICE);
        store
            .search(&caller, &query, SearchLimit::DEFAULT)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(found(store.clone(), query.clone()).await, 0);

    assert_eq!(store.embed_missing().await.unwrap(), 1);
    assert_eq!(store.embed_missing().await.unwrap(), 0);
    assert_eq!(found(store, query).await, 1);
}
