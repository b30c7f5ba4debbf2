//! What `build` connects.

use super::build;
use crate::config::{Profile, Settings};
use crate::core::ports::PutCondition;
use crate::core::{CallerId, ProfileCard, SearchLimit, SearchQuery};

#[tokio::test]
async fn an_erasure_by_the_service_leaves_nothing_of_the_caller_in_its_memos() {
    let folder = tempfile::tempdir().unwrap();
    let payloads = folder.path().join("payloads");
    let database = folder.path().join("memory.sqlite3");
    let settings = Settings::from_values(
        Profile::Dev,
        [
            ("PAYLOAD_STORAGE_PATH", payloads.to_str().unwrap()),
            ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
            ("PORT", "0"),
        ],
    )
    .unwrap();
    let service = build(&settings).await.unwrap();
    let state = &service.state;
    let maria = CallerId::parse("+14155550123").unwrap();
    let card = ProfileCard {
        name: Some("Maria".to_owned()),
        call_count: 1,
        ..ProfileCard::default()
    };
    let card = serde_json::to_vec(&card).unwrap();
    let key = ProfileCard::storage_key(&maria);
    let stored = state
        .blob_store
        .put(&key, card.into(), PutCondition::Overwrite);
    stored.await.unwrap();
    let greeting = state.greet_caller.greet(Some(&maria), None).await;
    assert_eq!(greeting.user_name, "Maria");
    let question = SearchQuery::parse("anything").unwrap();
    let found = state
        .search_memories
        .search(&maria, &question, SearchLimit::DEFAULT)
        .await;
    assert!(found.profile.is_some());
    assert!(state.greet_caller.remembers(&maria));
    assert!(state.search_memories.remembers(&maria));

    service.privacy.erase.erase(&maria).await.unwrap();

    assert!(!state.greet_caller.remembers(&maria));
    assert!(!state.search_memories.remembers(&maria));
}
