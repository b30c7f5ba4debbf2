use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::core::ports::EmbedderError;
use crate::core::ports::{MockBlobStore, MockMemoryStore};
use crate::core::use_cases::test_support::{erasure, juan, maria, store_with_card};
use crate::core::{AddOutcome, ConversationId, Embedding, NewMemory};
use crate::test_doubles::{utterance, InMemoryBlobStore, InMemoryMemoryStore, ThesaurusEmbedder};

const TIMEOUT: Duration = Duration::from_millis(200);

async fn memories_of_maria_and_juan() -> Arc<InMemoryMemoryStore> {
    let store = Arc::new(InMemoryMemoryStore::new());
    for memory in [
        utterance(&maria(), "conv_m", "My cleaning is on Friday the 23rd"),
        utterance(&maria(), "conv_m", "I prefer mornings"),
        utterance(&juan(), "conv_j", "My cleaning is on Monday"),
    ] {
        assert_eq!(store.add(&memory).await.unwrap(), AddOutcome::Stored);
    }
    store
}

fn query(text: &str) -> SearchQuery {
    SearchQuery::parse(text).unwrap()
}

fn marias_card() -> ProfileCard {
    ProfileCard {
        name: Some("Maria".to_owned()),
        call_count: 1,
        ..ProfileCard::default()
    }
}

#[tokio::test]
async fn the_callers_relevant_memories_come_with_their_profile() {
    let profiles = store_with_card(&maria(), &marias_card()).await;
    let search = SearchMemories::new(memories_of_maria_and_juan().await, profiles, TIMEOUT);
    let found = search
        .search(
            &maria(),
            &query("when is my cleaning"),
            SearchLimit::DEFAULT,
        )
        .await;
    assert_eq!(found.status, MemorySearchStatus::Ok);
    assert_eq!(found.profile, Some(marias_card()));
    assert_eq!(
        found.memories[0].content,
        "My cleaning is on Friday the 23rd"
    );
}

#[tokio::test]
async fn another_callers_memories_are_never_returned() {
    let search = SearchMemories::new(
        memories_of_maria_and_juan().await,
        Arc::new(InMemoryBlobStore::new()),
        TIMEOUT,
    );
    let found = search
        .search(
            &juan(),
            &query("cleaning Friday mornings"),
            SearchLimit::new(20).unwrap(),
        )
        .await;
    assert_eq!(found.profile, None);
    let contents: Vec<&str> = found
        .memories
        .iter()
        .map(|hit| hit.content.as_str())
        .collect();
    assert_eq!(contents, ["My cleaning is on Monday"]);
}

#[tokio::test]
async fn the_limit_and_the_caller_reach_the_store() {
    let mut memories = MockMemoryStore::new();
    memories
        .expect_search()
        .withf(|caller, query, limit| {
            caller == &maria() && query.text().as_str() == "parking" && limit.get() == 3
        })
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));
    let mut profiles = MockBlobStore::new();
    profiles.expect_get().returning(|_| Ok(None));
    let search = SearchMemories::new(Arc::new(memories), Arc::new(profiles), TIMEOUT);
    let found = search
        .search(&maria(), &query("parking"), SearchLimit::new(3).unwrap())
        .await;
    assert_eq!(found.status, MemorySearchStatus::Ok);
}

#[tokio::test]
async fn when_the_memory_store_is_down_the_profile_is_still_returned() {
    let mut memories = MockMemoryStore::new();
    memories
        .expect_search()
        .returning(|_, _, _| Err(MemoryStoreError::unavailable("connection refused")));
    let profiles = store_with_card(&maria(), &marias_card()).await;
    let search = SearchMemories::new(Arc::new(memories), profiles, TIMEOUT);
    let found = search
        .search(&maria(), &query("parking"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(found.status, MemorySearchStatus::MemoryStoreUnavailable);
    assert_eq!(found.profile, Some(marias_card()));
    assert!(found.memories.is_empty());
}

#[tokio::test]
async fn a_memory_store_that_hangs_is_reported_as_a_timeout() {
    let profiles = store_with_card(&maria(), &marias_card()).await;
    let search = SearchMemories::new(Arc::new(HangingMemoryStore), profiles, TIMEOUT);
    let found = search
        .search(&maria(), &query("parking"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(found.status, MemorySearchStatus::MemoryStoreTimeout);
    assert_eq!(found.profile, Some(marias_card()));
}

/// Maria's memories, embedded by `embedder` as they are added, searched with `embedder` and a
/// 100 ms budget for the question.
async fn hybrid_search(embedder: Arc<dyn Embedder>) -> SearchMemories {
    let store = InMemoryMemoryStore::new().with_embedder(Arc::new(ThesaurusEmbedder::new()));
    for memory in [
        utterance(
            &maria(),
            "conv_m",
            "Agent asked: Any allergies? Caller: Yes, penicillin.",
        ),
        utterance(
            &maria(),
            "conv_m",
            "Agent asked: When suits you? Caller: Friday morning.",
        ),
    ] {
        store.add(&memory).await.unwrap();
    }
    SearchMemories::new(Arc::new(store), Arc::new(InMemoryBlobStore::new()), TIMEOUT)
        .with_embedder(embedder, Duration::from_millis(100))
}

#[tokio::test]
async fn with_an_embedder_a_paraphrase_finds_what_the_caller_meant() {
    let search = hybrid_search(Arc::new(ThesaurusEmbedder::new())).await;
    let found = search
        .search(&maria(), &query("drug reactions?"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(found.status, MemorySearchStatus::Ok);
    let contents: Vec<&str> = found
        .memories
        .iter()
        .map(|hit| hit.content.as_str())
        .collect();
    assert_eq!(
        contents,
        ["Agent asked: Any allergies? Caller: Yes, penicillin."]
    );
}

#[tokio::test]
async fn a_failing_embedder_falls_back_to_words_and_says_so() {
    let search = hybrid_search(Arc::new(ThesaurusEmbedder::failing())).await;
    let found = search
        .search(&maria(), &query("penicillin"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(found.status, MemorySearchStatus::LexicalFallback);
    assert_eq!(found.memories.len(), 1);
    let paraphrase = search
        .search(&maria(), &query("drug reactions?"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(paraphrase.status, MemorySearchStatus::LexicalFallback);
    assert!(paraphrase.memories.is_empty());
}

#[tokio::test]
async fn an_embedder_slower_than_its_budget_falls_back_to_words_and_says_so() {
    let embedder = Arc::new(ThesaurusEmbedder::new());
    let search = hybrid_search(embedder.clone()).await;
    // Once in use (its chance similarity measured), the model turns slow.
    let before = search
        .search(&maria(), &query("friday"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(before.status, MemorySearchStatus::Ok);
    embedder.delay(Duration::from_secs(5));
    let found = search
        .search(&maria(), &query("friday"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(found.status, MemorySearchStatus::LexicalFallback);
    assert_eq!(
        found.memories[0].content,
        "Agent asked: When suits you? Caller: Friday morning."
    );
}

/// The test thesaurus, failing while `down` is set.
#[derive(Default)]
struct FlakyEmbedder {
    thesaurus: ThesaurusEmbedder,
    down: AtomicBool,
}

#[async_trait]
impl Embedder for FlakyEmbedder {
    fn model_id(&self) -> &str {
        self.thesaurus.model_id()
    }
    fn dimensions(&self) -> usize {
        self.thesaurus.dimensions()
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(EmbedderError::unavailable(anyhow::anyhow!("down")));
        }
        self.thesaurus.embed(texts).await
    }
}

#[tokio::test]
async fn a_chance_similarity_that_could_not_be_measured_is_measured_again_once_the_model_is_back() {
    let embedder = Arc::new(FlakyEmbedder::default());
    embedder.down.store(true, Ordering::SeqCst);
    let search = hybrid_search(embedder.clone()).await;
    let down = search
        .search(&maria(), &query("drug reactions?"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(down.status, MemorySearchStatus::LexicalFallback);

    embedder.down.store(false, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = search
            .search(&maria(), &query("drug reactions?"), SearchLimit::DEFAULT)
            .await;
        if found.status == MemorySearchStatus::Ok {
            assert_eq!(
                found.memories[0].content,
                "Agent asked: Any allergies? Caller: Yes, penicillin."
            );
            break;
        }
        assert_eq!(found.status, MemorySearchStatus::LexicalFallback);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chance similarity was never measured again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A memory store that never answers.
struct HangingMemoryStore;

#[async_trait]
impl MemoryStore for HangingMemoryStore {
    async fn add(&self, _: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        std::future::pending().await
    }
    async fn search(
        &self,
        _: &CallerId,
        _: &RecallQuery,
        _: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        std::future::pending().await
    }
    async fn forget(
        &self,
        _: &CallerId,
        _: &ConversationId,
        _: &[String],
    ) -> Result<usize, MemoryStoreError> {
        std::future::pending().await
    }
    async fn check(&self) -> Result<(), MemoryStoreError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn an_erased_callers_card_is_not_kept_in_memory() {
    let profiles = store_with_card(&maria(), &marias_card()).await;
    let memories = memories_of_maria_and_juan().await;
    let search = SearchMemories::new(memories.clone(), profiles.clone(), TIMEOUT);
    let found = search
        .search(&maria(), &query("cleaning"), SearchLimit::DEFAULT)
        .await;
    assert_eq!(found.profile, Some(marias_card()));
    assert!(search.remembers(&maria()));

    erasure(memories, profiles, search.memo())
        .erase(&maria())
        .await
        .unwrap();

    assert!(!search.remembers(&maria()));
}
