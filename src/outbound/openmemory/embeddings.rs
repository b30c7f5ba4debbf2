//! Embeddings of OpenMemory's candidates, which the server never returns: computed at query time
//! within a time budget, and cached by text (bounded, least recently used first out), so a
//! caller's memories are embedded once while they keep coming back.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;

use crate::core::ports::Embedder;
use crate::core::recall::QueryEmbedding;
use crate::core::{Embedding, MemoryHit};

/// Embeddings kept, about 1.5 KB each with a 384-dimension model: about 12 MB.
const CACHED_TEXTS: usize = 8192;

/// The embedder and the cache of candidate embeddings.
pub(super) struct CandidateEmbeddings {
    embedder: Arc<dyn Embedder>,
    budget: Duration,
    cache: Mutex<LruCache<String, Embedding>>,
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
            cache: Mutex::new(LruCache::new(capacity)),
        }
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
        let missing: Vec<String> = {
            let mut cache = self.lock();
            let mut missing: Vec<String> = hits
                .iter()
                .filter(|hit| cache.get(&hit.content).is_none())
                .map(|hit| hit.content.clone())
                .collect();
            missing.dedup();
            missing
        };
        if !missing.is_empty() {
            match tokio::time::timeout(self.budget, self.embedder.embed(&missing)).await {
                Ok(Ok(vectors)) if vectors.len() == missing.len() => {
                    let mut cache = self.lock();
                    for (text, vector) in missing.into_iter().zip(vectors) {
                        cache.put(text, vector);
                    }
                }
                Ok(Ok(_)) | Ok(Err(_)) | Err(_) => tracing::warn!(
                    candidates = missing.len(),
                    "openmemory candidates not embedded in time; ranking them by words"
                ),
            }
        }
        let mut cache = self.lock();
        hits.iter()
            .map(|hit| {
                cache
                    .get(&hit.content)
                    .map(|vector| wanted.embedding.similarity(vector))
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Embedding>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
