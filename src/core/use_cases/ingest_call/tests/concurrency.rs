use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::core::ConversationId;

const OTHER_CALLER: &str = "+442079460958";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_ingested_at_once_each_get_their_own_card_and_memories() {
    let app = Harness::new(ScriptedStore::healthy());
    let maria = app.deliver(&transcription("conv_maria", Some(MARIA))).await;
    let other = app
        .deliver(&transcription("conv_other", Some(OTHER_CALLER)))
        .await;

    ingest_at_once(&app, [&maria, &other]).await;

    for (number, conversation) in [(MARIA, "conv_maria"), (OTHER_CALLER, "conv_other")] {
        let card = app.card(number).await.unwrap();
        assert_eq!(card.call_count, 1);
        assert_eq!(card.counted_conversations, [conversation]);
        let memories = app.store.added.lock().unwrap().clone();
        let theirs = memories
            .iter()
            .filter(|m| m.caller.as_e164() == number)
            .inspect(|m| assert_eq!(m.conversation_id.as_str(), conversation))
            .count();
        assert_eq!(theirs, FIXTURE_MEMORIES);
    }
    app.store.assert_no_duplicates();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_of_one_caller_ingested_at_once_are_both_counted() {
    for _ in 0..20 {
        let app = Harness::new(ScriptedStore::healthy());
        let morning = app
            .deliver(&transcription("conv_morning", Some(MARIA)))
            .await;
        let evening = app
            .deliver(&transcription("conv_evening", Some(MARIA)))
            .await;

        ingest_at_once(&app, [&morning, &evening]).await;

        let card = app.card(MARIA).await.unwrap();
        assert_eq!(card.call_count, 2, "an update was lost");
        assert_eq!(card.counted_conversations.len(), 2);
        assert_eq!(app.store.keys().len(), 2 * FIXTURE_MEMORIES);
    }
}

/// Ingests both conversations of `app` in parallel tasks, to the end.
async fn ingest_at_once(app: &Harness, conversations: [&ConversationId; 2]) {
    let tasks = conversations.map(|conversation| {
        let (ingest, conversation) = (app.ingest.clone(), conversation.clone());
        tokio::spawn(async move {
            let no_signal = CancellationToken::new();
            ingest.ingest(&conversation, &no_signal).await.unwrap()
        })
    });
    for task in tasks {
        task.await.unwrap();
    }
}
