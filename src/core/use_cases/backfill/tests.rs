use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::*;
use crate::core::ports::{PastConversation, PastConversationPage};
use crate::inbound::elevenlabs::parse_transcription;
use crate::test_doubles::{InMemoryBlobStore, InMemoryMemoryStore, ManualClock};

const FIXTURE: &str = include_str!("../../../../payloads/post_call_transcription.json");

/// A history of finished conversations, two per page, newest first; `cut_after` fetches
/// succeed, then the history is unavailable.
struct History {
    ids: Vec<&'static str>,
    fetched: Mutex<Vec<String>>,
    cut_after: Option<usize>,
}

impl History {
    fn of(ids: &[&'static str]) -> Arc<Self> {
        Arc::new(Self {
            ids: ids.to_vec(),
            fetched: Mutex::new(Vec::new()),
            cut_after: None,
        })
    }

    fn fetched(&self) -> Vec<String> {
        self.fetched.lock().unwrap().clone()
    }
}

#[async_trait]
impl PastConversations for History {
    async fn page(
        &self,
        _filter: &ConversationFilter,
        cursor: Option<String>,
    ) -> Result<PastConversationPage, PastConversationsError> {
        let start: usize = cursor.map_or(0, |cursor| cursor.parse().unwrap());
        let conversations = self.ids[start..]
            .iter()
            .take(2)
            .map(|id| PastConversation {
                id: ConversationId::parse(id).unwrap(),
                finished: !id.starts_with("live"),
            })
            .collect();
        let next = start + 2;
        Ok(PastConversationPage {
            conversations,
            next_cursor: (next < self.ids.len()).then(|| next.to_string()),
        })
    }

    async fn transcription(
        &self,
        conversation: &ConversationId,
    ) -> Result<Bytes, PastConversationsError> {
        let mut fetched = self.fetched.lock().unwrap();
        if self.cut_after.is_some_and(|cut| fetched.len() >= cut) {
            return Err(PastConversationsError::Unavailable("503".into()));
        }
        if conversation.as_str().starts_with("gone") {
            return Err(PastConversationsError::NotFound);
        }
        fetched.push(conversation.to_string());
        let mut body: Value = serde_json::from_str(FIXTURE).unwrap();
        body["data"]["conversation_id"] = json!(conversation.as_str());
        Ok(Bytes::from(body.to_string()))
    }
}

struct Setup {
    blobs: Arc<InMemoryBlobStore>,
    backfill: Backfill,
}

fn setup(history: Arc<History>, blobs: Arc<InMemoryBlobStore>) -> Setup {
    let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
    let ingest = Arc::new(IngestCall::new(
        Arc::new(InMemoryMemoryStore::new()),
        blobs.clone(),
        clock,
        parse_transcription,
        vec!["first_name".to_owned()],
    ));
    Setup {
        backfill: Backfill::new(history, blobs.clone(), ingest),
        blobs,
    }
}

async fn run(backfill: &Backfill) -> Result<BackfillOutcome, BackfillError> {
    backfill
        .run(
            &ConversationFilter::default(),
            &CancellationToken::new(),
            &mut |_| {},
        )
        .await
}

#[tokio::test]
async fn every_finished_conversation_is_archived_as_the_webhook_would_have_and_learnt() {
    let history = History::of(&["conv_a", "conv_b", "live_c", "conv_d", "gone_e"]);
    let Setup { blobs, backfill } = setup(history.clone(), Arc::new(InMemoryBlobStore::new()));
    let mut reports = Vec::new();
    let outcome = backfill
        .run(
            &ConversationFilter::default(),
            &CancellationToken::new(),
            &mut |progress| reports.push(progress),
        )
        .await
        .unwrap();
    let BackfillOutcome::Completed(counts) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(counts.listed, 5);
    assert_eq!(counts.unfinished, 1);
    assert_eq!(counts.archived, 3);
    assert_eq!(counts.learnt, 3);
    assert_eq!(counts.failed, 1);
    for id in ["conv_a", "conv_b", "conv_d"] {
        let key = transcription_key(&ConversationId::parse(id).unwrap());
        let stored = blobs.get(&key).await.unwrap().expect("archived");
        let call = parse_transcription(&stored.bytes).unwrap();
        assert_eq!(call.conversation_id.as_str(), id);
    }
    let last = reports.last().unwrap();
    assert_eq!((last.remaining, last.listing_done), (0, true));
    assert!(blobs.get(&Backfill::record_key()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_second_run_fetches_nothing_already_archived() {
    let history = History::of(&["conv_a", "conv_b", "conv_c"]);
    let Setup { blobs, backfill } = setup(history.clone(), Arc::new(InMemoryBlobStore::new()));
    run(&backfill).await.unwrap();
    let again = setup(history.clone(), blobs).backfill;
    let BackfillOutcome::Completed(counts) = run(&again).await.unwrap() else {
        panic!()
    };
    assert_eq!(counts.already_archived, 3);
    assert_eq!(counts.archived, 0);
    assert_eq!(history.fetched().len(), 3, "each conversation fetched once");
}

#[tokio::test]
async fn an_outage_stops_the_run_and_the_next_run_resumes_where_it_stopped() {
    let blobs = Arc::new(InMemoryBlobStore::new());
    let ids = ["conv_a", "conv_b", "conv_c", "conv_d", "conv_e"];
    let failing = Arc::new(History {
        ids: ids.to_vec(),
        fetched: Mutex::new(Vec::new()),
        cut_after: Some(2),
    });
    let first = setup(failing.clone(), blobs.clone()).backfill;
    let error = run(&first).await.unwrap_err();
    assert!(matches!(
        error,
        BackfillError::Source(PastConversationsError::Unavailable(_))
    ));
    assert!(blobs.get(&Backfill::record_key()).await.unwrap().is_some());

    let healed = History::of(&ids);
    let second = setup(healed.clone(), blobs.clone()).backfill;
    let BackfillOutcome::Completed(counts) = run(&second).await.unwrap() else {
        panic!()
    };
    assert_eq!(counts.archived, 5, "counts carry over the interruption");
    assert_eq!(healed.fetched(), ["conv_c", "conv_d", "conv_e"]);
}

#[tokio::test]
async fn a_stop_signal_saves_the_progress_for_the_next_run() {
    let blobs = Arc::new(InMemoryBlobStore::new());
    let history = History::of(&["conv_a", "conv_b", "conv_c"]);
    let backfill = setup(history.clone(), blobs.clone()).backfill;
    let stop = CancellationToken::new();
    let outcome = backfill
        .run(&ConversationFilter::default(), &stop, &mut |progress| {
            if progress.counts.archived == 1 {
                stop.cancel();
            }
        })
        .await
        .unwrap();
    assert!(matches!(outcome, BackfillOutcome::Interrupted(counts) if counts.archived == 1));
    let BackfillOutcome::Completed(counts) = run(&backfill).await.unwrap() else {
        panic!()
    };
    assert_eq!(counts.archived, 3);
    assert_eq!(history.fetched(), ["conv_a", "conv_b", "conv_c"]);
}

#[tokio::test]
async fn a_conversation_listed_on_two_shifted_pages_is_fetched_once() {
    let history = History::of(&["conv_a", "conv_b", "conv_b", "conv_c"]);
    let Setup { backfill, .. } = setup(history.clone(), Arc::new(InMemoryBlobStore::new()));
    let BackfillOutcome::Completed(counts) = run(&backfill).await.unwrap() else {
        panic!()
    };
    assert_eq!((counts.listed, counts.archived), (4, 3));
    assert_eq!(history.fetched(), ["conv_a", "conv_b", "conv_c"]);
}
