//! Embeddings of OpenMemory's candidates, which the server never returns: computed at query time
//! and cached by text (bounded, least recently used first out), so a caller's memories are
//! embedded once while they keep coming back. A search waits for them at most its budget; the
//! embedding goes on without it and fills the cache for the next search, so a caller with more
//! new candidates than the budget allows is ranked by meaning from the next search on instead
//! of never. The embeddings of a deleted memory are dropped with it, and an embedding under way
//! while a memory is deleted keeps nothing.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lru::LruCache;

use crate::core::ports::{Embedder, ErrorChain, Forgets, ReadStart};
use crate::core::recall::QueryEmbedding;
use crate::core::{Embedding, MemoryHit};

/// Embeddings kept, about 1.5 KB each with a 384-dimension model: about 12 MB.
const CACHED_TEXTS: usize = 8192;

/// The embedder and the cache of candidate embeddings.
pub(super) struct CandidateEmbeddings {
    embedder: Arc<dyn Embedder>,
    budget: Duration,
    cache: Arc<Cache>,
}

/// The embeddings computed, and the texts being embedded (so that searches arriving meanwhile do
/// not embed them again).
struct Cache {
    vectors: Mutex<LruCache<String, Embedding>>,
    embedding: Mutex<HashSet<String>>,
    /// Counted, with `vectors` locked, by every [`CandidateEmbeddings::forget`]: an embedding
    /// that began before it does not keep its vectors, since one of its texts may be gone.
    forgets: Forgets,
}

impl Cache {
    fn vectors(&self) -> MutexGuard<'_, LruCache<String, Embedding>> {
        self.vectors.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn embedding(&self) -> MutexGuard<'_, HashSet<String>> {
        self.embedding.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for CandidateEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidateEmbeddings")
            .field("model", &self.embedder.model_id())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl CandidateEmbeddings {
    pub fn new(embedder: Arc<dyn Embedder>, budget: Duration) -> Self {
        let capacity = NonZeroUsize::new(CACHED_TEXTS).unwrap_or(NonZeroUsize::MIN);
        Self {
            embedder,
            budget,
            cache: Arc::new(Cache {
                vectors: Mutex::new(LruCache::new(capacity)),
                embedding: Mutex::new(HashSet::new()),
                forgets: Forgets::new(),
            }),
        }
    }

    /// Drops the embedding of `text`, once the memory it was made for is deleted: the cache is
    /// keyed by the memory's words, which must not outlive it.
    pub fn forget(&self, text: &str) {
        let mut vectors = self.cache.vectors();
        self.cache.forgets.forgot();
        vectors.pop(text);
    }

    /// The similarity of each hit with the question, in order; `None` for every hit when the
    /// question was embedded by another model, and for the hits not embedded in time.
    pub async fn similarities(
        &self,
        wanted: &QueryEmbedding,
        hits: &[MemoryHit],
    ) -> Vec<Option<f32>> {
        if wanted.model_id != self.embedder.model_id() {
            return vec![None; hits.len()];
        }
        let (missing, start) = {
            let mut cache = self.cache.vectors();
            let start = self.cache.forgets.read_start();
            let mut embedding = self.cache.embedding();
            // A text already being embedded (by another search, or earlier in this list) is not
            // embedded again: the set's insert answers false for it.
            let missing: Vec<String> = hits
                .iter()
                .filter(|hit| cache.get(&hit.content).is_none())
                .map(|hit| hit.content.clone())
                .filter(|text| embedding.insert(text.clone()))
                .collect();
            (missing, start)
        };
        if !missing.is_empty() {
            let pending = Pending {
                cache: self.cache.clone(),
                texts: missing,
                start,
            };
            let filled = tokio::spawn(fill(self.embedder.clone(), pending));
            let in_time = matches!(
                tokio::time::timeout(self.budget, filled).await,
                Ok(Ok(true))
            );
            if !in_time {
                tracing::warn!(
                    "openmemory candidates not embedded in time; ranking them by words until they are"
                );
            }
        }
        let mut cache = self.cache.vectors();
        hits.iter()
            .map(|hit| {
                cache
                    .get(&hit.content)
                    .map(|vector| wanted.embedding.similarity(vector))
            })
            .collect()
    }
}

/// Embeds the `pending` texts and keeps their vectors in the cache; whether it did. Nothing is
/// kept when a memory's embedding was forgotten meanwhile (a deletion is rare, and the next
/// search embeds its texts again).
async fn fill(embedder: Arc<dyn Embedder>, pending: Pending) -> bool {
    let texts = &pending.texts;
    match embedder.embed(texts).await {
        Ok(vectors) if vectors.len() == texts.len() => {
            let mut cached = pending.cache.vectors();
            if !pending.cache.forgets.none_since(pending.start) {
                return false;
            }
            for (text, vector) in texts.iter().zip(vectors) {
                cached.put(text.clone(), vector);
            }
            true
        }
        Ok(vectors) => {
            tracing::warn!(
                texts = texts.len(),
                vectors = vectors.len(),
                "the embedder answered openmemory candidates with the wrong number of vectors"
            );
            false
        }
        Err(error) => {
            tracing::warn!(
                candidates = texts.len(),
                error = %ErrorChain(&error),
                "openmemory candidates cannot be embedded"
            );
            false
        }
    }
}

/// Texts being embedded; they are no longer once the embedding ends, however it ends.
struct Pending {
    cache: Arc<Cache>,
    texts: Vec<String>,
    /// When the texts were claimed.
    start: ReadStart,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut embedding = self.cache.embedding();
        for text in &self.texts {
            embedding.remove(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::core::ports::EmbedderError;
    use crate::core::MemoryKind;
    use crate::test_doubles::ThesaurusEmbedder;

    /// Embeds as [`ThesaurusEmbedder`] does, each call only once the test lets it.
    struct HeldEmbedder {
        let_through: Semaphore,
    }

    #[async_trait]
    impl Embedder for HeldEmbedder {
        fn model_id(&self) -> &str {
            "test:held"
        }

        fn dimensions(&self) -> usize {
            ThesaurusEmbedder::vector("").dimensions()
        }

        async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
            let permit = self.let_through.acquire().await;
            permit.expect("the semaphore stays open").forget();
            Ok(texts
                .iter()
                .map(|text| ThesaurusEmbedder::vector(text))
                .collect())
        }
    }

    #[tokio::test]
    async fn an_embedding_that_ends_after_its_memory_was_deleted_is_not_kept() {
        let embedder = Arc::new(HeldEmbedder {
            let_through: Semaphore::new(0),
        });
        let embeddings = CandidateEmbeddings::new(embedder.clone(), Duration::from_millis(1));
        let deleted = "Agent asked: Any allergies? Caller: Penicillin.".to_owned();
        let hits = [MemoryHit {
            content: deleted.clone(),
            kind: MemoryKind::Utterance,
            score: 1.0,
            created_at: None,
            conversation_id: None,
        }];
        let question = QueryEmbedding {
            model_id: "test:held".to_owned(),
            embedding: ThesaurusEmbedder::vector("drug reactions"),
        };

        // The search gives up on its budget; the embedding goes on, held.
        let found = embeddings.similarities(&question, &hits).await;
        assert_eq!(found, [None]);
        assert!(embeddings.cache.embedding().contains(&deleted));

        embeddings.forget(&deleted);
        embedder.let_through.add_permits(1);
        while !embeddings.cache.embedding().is_empty() {
            tokio::task::yield_now().await;
        }

        assert!(
            !embeddings.cache.vectors().contains(&deleted),
            "the deleted memory's words are kept with its embedding"
        );
    }
}
