//! How a caller's memories are found again: what a question is about, how candidates from the
//! lexical index and from sentence embeddings are fused, where relevance stops, and what a
//! generic request ("what did we talk about last time") gets. Every memory store ranks with this
//! code, so they all answer alike; the README section "How search ranks memories" explains it.

mod calibration;
mod missing_vectors;
mod scorer;
pub mod words;

pub use calibration::chance_similarity;
pub use missing_vectors::{embed_missing, MissingVectors, EMBEDDING_BATCH};

pub use scorer::{
    add_similar, rank, recent_context, word_overlap, Candidate, Evidence, RELATED_SCORE,
    RELEVANCE_THRESHOLD,
};

use std::sync::Arc;

use crate::core::ports::{Embedder, EmbedderError};
use crate::core::{Embedding, NewMemory, SearchQuery};

/// At most this many topic words of a question are searched; longer questions keep their first.
pub const MAX_TOPIC_WORDS: usize = 24;

/// A question's embedding and the model that computed it: a store compares it only with vectors
/// of the same model.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryEmbedding {
    pub model_id: String,
    pub embedding: Embedding,
}

/// What a store searches for: the agent's question and, when the embedder answered within its
/// budget, its embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallQuery {
    text: SearchQuery,
    embedding: Option<QueryEmbedding>,
    /// The model's chance similarity (see [`chance_similarity`]); 0 takes similarities as they
    /// are.
    chance: f32,
}

impl QueryEmbedding {
    /// Embeds `question` with `embedder`, once.
    ///
    /// # Errors
    /// The embedder's error; [`EmbedderError::Unknown`] when it answers with no vector.
    pub async fn of(
        question: &SearchQuery,
        embedder: &dyn Embedder,
    ) -> Result<Self, EmbedderError> {
        Ok(Self {
            model_id: embedder.model_id().to_owned(),
            embedding: embedder.embed_query(question.as_str()).await?,
        })
    }
}

/// The embeddings a store keeps beside new memories, with their model, computed in one call to
/// the embedder: one entry per memory, all `None` without an embedder or when it fails, since a
/// memory is stored without a vector (and found by its words) rather than held back; the store
/// embeds it later.
pub async fn memory_embeddings(
    embedder: Option<&Arc<dyn Embedder>>,
    memories: &[NewMemory],
) -> Vec<Option<QueryEmbedding>> {
    let none = || vec![None; memories.len()];
    let (Some(embedder), Some(first)) = (embedder, memories.first()) else {
        return none();
    };
    let texts: Vec<String> = memories
        .iter()
        .map(|memory| memory.content.clone())
        .collect();
    match embedder.embed(&texts).await {
        Ok(vectors) if vectors.len() == memories.len() => vectors
            .into_iter()
            .map(|embedding| {
                Some(QueryEmbedding {
                    model_id: embedder.model_id().to_owned(),
                    embedding,
                })
            })
            .collect(),
        Ok(_) | Err(_) => {
            tracing::warn!(
                caller = %first.caller,
                memories = memories.len(),
                "memories stored without embeddings: the embedder failed"
            );
            none()
        }
    }
}

impl RecallQuery {
    /// A question ranked by its words only.
    pub fn lexical(text: SearchQuery) -> Self {
        Self {
            text,
            embedding: None,
            chance: 0.0,
        }
    }

    /// A question ranked by its words and its meaning.
    pub fn hybrid(text: SearchQuery, embedding: QueryEmbedding) -> Self {
        Self {
            text,
            embedding: Some(embedding),
            chance: 0.0,
        }
    }

    /// The same question, its similarities judged above `chance`, the similarity the model
    /// gives unrelated texts (see [`chance_similarity`]).
    pub fn above_chance(mut self, chance: f32) -> Self {
        self.chance = chance;
        self
    }

    /// How similar the model finds unrelated texts; 0 when not measured.
    pub fn chance(&self) -> f32 {
        self.chance
    }

    pub fn text(&self) -> &SearchQuery {
        &self.text
    }

    pub fn embedding(&self) -> Option<&QueryEmbedding> {
        self.embedding.as_ref()
    }

    /// The words that name what the question is about (see [`words::topic_words`]).
    pub fn topic_words(&self) -> Vec<String> {
        words::topic_words(self.text.as_str(), MAX_TOPIC_WORDS)
    }

    /// A generic request names no topic ("what did we talk about last time?", "anything from
    /// the previous call?", "¿de qué hablamos?"): it gets the last call's summary and the most
    /// recent memories instead of a ranked search.
    pub fn is_generic(&self) -> bool {
        self.topic_words().is_empty()
    }
}

impl From<SearchQuery> for RecallQuery {
    fn from(text: SearchQuery) -> Self {
        Self::lexical(text)
    }
}
