//! Catching up on embeddings: memories stored before a model was configured, with another model,
//! or while the embedder was failing get their vector later, the same way in every store that
//! keeps vectors.

use std::sync::Arc;

use async_trait::async_trait;

use crate::core::ports::{Embedder, MemoryStoreError};
use crate::core::Embedding;

/// How many stored memories [`embed_missing`] embeds per call to the embedder.
pub const EMBEDDING_BATCH: usize = 32;

/// The two storage steps of [`embed_missing`], which a store that keeps vectors implements. A
/// memory is named by the store's own id for it.
#[async_trait]
pub trait MissingVectors: Send + Sync {
    /// Up to `batch` memories with no vector of `model`, as (id, content).
    ///
    /// # Errors
    /// The store's error when it cannot be read.
    async fn without_vector(
        &self,
        model: &str,
        batch: usize,
    ) -> Result<Vec<(i64, String)>, MemoryStoreError>;

    /// Stores each memory's vector of `model`, replacing any other vector it has. A memory
    /// deleted meanwhile is skipped.
    ///
    /// # Errors
    /// The store's error when it cannot be written.
    async fn store_vectors(
        &self,
        model: &str,
        vectors: Vec<(i64, Embedding)>,
    ) -> Result<(), MemoryStoreError>;
}

/// Embeds every memory of `store` that has no vector of the embedder's model, [`EMBEDDING_BATCH`]
/// at a time, and answers how many were embedded; nothing without an embedder. Safe beside other
/// instances doing the same on a shared store: a memory embedded twice gets the same vector.
///
/// # Errors
/// [`MemoryStoreError::Unavailable`] when the embedder fails or answers a batch with another
/// number of vectors; the store's error when it fails. What was stored so far is kept.
pub async fn embed_missing(
    embedder: Option<&Arc<dyn Embedder>>,
    store: &impl MissingVectors,
) -> Result<usize, MemoryStoreError> {
    let Some(embedder) = embedder else {
        return Ok(0);
    };
    let model = embedder.model_id();
    let mut embedded = 0;
    loop {
        let batch = store.without_vector(model, EMBEDDING_BATCH).await?;
        if batch.is_empty() {
            return Ok(embedded);
        }
        let (ids, texts): (Vec<i64>, Vec<String>) = batch.into_iter().unzip();
        let vectors = embedder.embed(&texts).await.map_err(|error| {
            MemoryStoreError::unavailable(anyhow::Error::new(error).context("the embedder failed"))
        })?;
        // Storing fewer vectors than were asked for would leave the rest missing for ever, and
        // this loop reading them again.
        if vectors.len() != ids.len() {
            return Err(MemoryStoreError::unavailable(format!(
                "the embedder answered {} texts with {} vectors",
                ids.len(),
                vectors.len()
            )));
        }
        embedded += ids.len();
        store
            .store_vectors(model, ids.into_iter().zip(vectors).collect())
            .await?;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::test_doubles::ThesaurusEmbedder;

    /// Memories by id: content and the model of their vector, if any.
    struct Memories(Mutex<BTreeMap<i64, (String, Option<String>)>>);

    #[async_trait]
    impl MissingVectors for Memories {
        async fn without_vector(
            &self,
            model: &str,
            batch: usize,
        ) -> Result<Vec<(i64, String)>, MemoryStoreError> {
            let memories = self.0.lock().unwrap();
            Ok(memories
                .iter()
                .filter(|(_, (_, stored))| stored.as_deref() != Some(model))
                .take(batch)
                .map(|(id, (content, _))| (*id, content.clone()))
                .collect())
        }

        async fn store_vectors(
            &self,
            model: &str,
            vectors: Vec<(i64, Embedding)>,
        ) -> Result<(), MemoryStoreError> {
            let mut memories = self.0.lock().unwrap();
            for (id, _) in vectors {
                if let Some(memory) = memories.get_mut(&id) {
                    memory.1 = Some(model.to_owned());
                }
            }
            Ok(())
        }
    }

    fn memories(count: i64, model: Option<&str>) -> Memories {
        Memories(Mutex::new(
            (0..count)
                .map(|id| (id, (format!("memory {id}"), model.map(str::to_owned))))
                .collect(),
        ))
    }

    #[tokio::test]
    async fn every_memory_without_a_vector_of_the_model_is_embedded_once() {
        let embedder: Arc<dyn Embedder> = Arc::new(ThesaurusEmbedder::new());
        let store = memories(EMBEDDING_BATCH as i64 * 2 + 3, Some("another model"));
        let embedded = embed_missing(Some(&embedder), &store).await.unwrap();
        assert_eq!(embedded, EMBEDDING_BATCH * 2 + 3);
        assert_eq!(embed_missing(Some(&embedder), &store).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn without_an_embedder_nothing_is_embedded() {
        let store = memories(3, None);
        assert_eq!(embed_missing(None, &store).await.unwrap(), 0);
        assert_eq!(store.without_vector("any", 10).await.unwrap().len(), 3);
    }
}
