//! Turns text into sentence embeddings: a local model run in process, or an HTTP embeddings API.

use async_trait::async_trait;

use crate::core::ports::cause::{describe, BoxError};
use crate::core::Embedding;

/// Why an embedding could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedderError {
    /// The model could not be reached or did not answer in time (an HTTP service down,
    /// overloaded or slow). Worth retrying later; a search falls back to lexical ranking.
    #[error("embedder unavailable: {}", describe(.0))]
    Unavailable(#[source] BoxError),
    /// The model refused this input for good (for example an HTTP 4xx other than 429).
    #[error("embedder rejected the input: {}", describe(.0))]
    Rejected(#[source] BoxError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl EmbedderError {
    /// [`EmbedderError::Unavailable`] caused by `cause` (an error, or a message).
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// [`EmbedderError::Rejected`] caused by `cause` (an error, or a message).
    pub fn rejected(cause: impl Into<BoxError>) -> Self {
        Self::Rejected(cause.into())
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmbedderError::Unavailable(_))
    }
}

/// Computes sentence embeddings.
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// Names the model and its settings (for example `local:all-MiniLM-L6-v2`). Stores keep it
    /// beside each vector and never compare vectors of different models.
    fn model_id(&self) -> &str;

    /// The length of every vector this embedder returns.
    fn dimensions(&self) -> usize;

    /// Embeds each text, in order: the result has exactly one unit-length embedding per text.
    ///
    /// # Errors
    /// - [`EmbedderError::Unavailable`] when the model cannot be reached or is too slow.
    /// - [`EmbedderError::Rejected`] when the model refuses the input for good.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError>;

    /// Embeds questions asked of the memories, in order. The same as [`Embedder::embed`] unless
    /// the model embeds questions apart from what they search (a query prompt, as E5 models
    /// have).
    ///
    /// # Errors
    /// As [`Embedder::embed`].
    async fn embed_queries(&self, questions: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        self.embed(questions).await
    }

    /// Embeds one question, as [`Embedder::embed_queries`] does.
    ///
    /// # Errors
    /// As [`Embedder::embed`]; [`EmbedderError::Unknown`] when it answers with no vector.
    async fn embed_query(&self, question: &str) -> Result<Embedding, EmbedderError> {
        let mut vectors = self.embed_queries(&[question.to_owned()]).await?;
        if vectors.len() != 1 {
            return Err(EmbedderError::Unknown(anyhow::anyhow!(
                "the embedder answered one question with {} vectors",
                vectors.len()
            )));
        }
        Ok(vectors.remove(0))
    }
}
