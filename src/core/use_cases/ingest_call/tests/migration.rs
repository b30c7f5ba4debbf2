//! A call learnt under earlier rules (each caller line alone, filler included) is migrated by a
//! replay.

use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::core::use_cases::ingest_call::records::{self, Folder};
use crate::core::use_cases::ingest_call::ReplayTarget;
use crate::core::{CallerId, MemoryKind, NewMemory};

/// The memories the earlier rules derived from the fixture's caller lines.
fn lone_lines(id: &str) -> Vec<NewMemory> {
    let caller = CallerId::parse(MARIA).unwrap();
    [
        (1, "Hi Ava, this is Maria Lopez."),
        (7, "No, that's all. Thanks!"),
    ]
    .into_iter()
    .map(|(index, content)| NewMemory {
        key: format!("utterance-{index}"),
        ..crate::test_doubles::utterance(&caller, id, content)
    })
    .collect()
}

#[tokio::test]
async fn a_replay_replaces_the_memories_of_earlier_rules_without_duplicates() {
    let app = Harness::new(ScriptedStore::healthy());
    let id = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.run_worker_until_idle().await;
    // As if the call had been learnt by the earlier rules too.
    let mut record = app.record(&id).await;
    for memory in lone_lines(id.as_str()) {
        record.added.insert(memory.key.clone());
        app.store.added.lock().unwrap().push(memory);
    }
    records::write(&*app.blobs, &Folder::Progress.key(&id), &record)
        .await
        .unwrap();

    let no_signal = CancellationToken::new();
    for _ in 0..2 {
        let replayed = app.ingest.replay(ReplayTarget::All, &no_signal).await;
        assert_eq!(replayed.unwrap().ingested, 1);
    }

    let memories = app.store.added.lock().unwrap().clone();
    assert_eq!(memories.len(), FIXTURE_MEMORIES);
    assert!(memories.iter().all(|m| !m.key.starts_with("utterance-")));
    assert!(memories
        .iter()
        .filter(|m| m.kind == MemoryKind::Utterance)
        .all(|m| m.content.starts_with("Agent asked: ")));
    app.store.assert_no_duplicates();
    let record = app.record(&id).await;
    assert!(record
        .added
        .iter()
        .all(|key| !key.starts_with("utterance-")));
    assert_eq!(app.card(MARIA).await.unwrap().call_count, 1);
}
