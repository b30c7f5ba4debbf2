//! An OpenAI-compatible embeddings API (`POST /v1/embeddings`): OpenAI, Ollama, vLLM,
//! text-embeddings-inference and others.
//!
//! Request `{"model", "input": [texts]}`, answer `{"data": [{"embedding": [...], "index": i}]}`;
//! results are put back in input order by `index`. Servers of asymmetric models (E5-style, which
//! embed a question and a passage differently) take the request's kind in `input_type`, as NVIDIA
//! NIM does (`query` or `passage`); with [`InputTypes`] every request names it. Texts are sent in
//! batches of [`BATCH_SIZE`] (text-embeddings-inference's default limit per request).

use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Client, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::core::ports::{Embedder, EmbedderError};
use crate::core::Embedding;

/// How many texts one request carries.
pub const BATCH_SIZE: usize = 32;

/// The text embedded once at start to learn the model's dimensions.
const PROBE_TEXT: &str = "caller memory";

/// An embeddings API client for one model.
#[derive(Debug, Clone)]
pub struct HttpEmbedder {
    client: Client,
    endpoint: Url,
    model: String,
    model_id: String,
    dimensions: usize,
    input_types: Option<InputTypes>,
}

/// The `input_type` a request carries: one value for questions, one for memories
/// (`EMBEDDING_INPUT_TYPES`, for example `query,passage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputTypes {
    pub query: String,
    pub document: String,
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    input_type: Option<&'a str>,
}

/// What a request embeds: questions or memories.
#[derive(Debug, Clone, Copy)]
enum Input {
    Query,
    Document,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    index: usize,
}

/// The error bodies of the common servers: OpenAI and vLLM `{"error": {"message"}}`, Ollama and
/// text-embeddings-inference `{"error": "..."}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Nested { error: NestedError },
    Flat { error: String },
}

#[derive(Deserialize)]
struct NestedError {
    message: String,
}

impl HttpEmbedder {
    /// A client of the API at `base_url` (`{base_url}/v1/embeddings`) for `model`, sending
    /// `api_key` as a bearer token when not empty and `input_types` when given, giving up on a
    /// request after `timeout`. Embeds one text to learn the model's dimensions.
    ///
    /// # Errors
    /// When the URL or key is not usable, or the API does not answer the probe with an
    /// embedding.
    pub async fn connect(
        base_url: &Url,
        model: &str,
        api_key: &str,
        input_types: Option<InputTypes>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut embedder = Self {
            client: client(api_key, timeout)?,
            endpoint: endpoint(base_url)?,
            model: model.to_owned(),
            model_id: format!("api:{model}"),
            dimensions: 0,
            input_types,
        };
        let probe = embedder
            .request(Input::Document, &[PROBE_TEXT.to_owned()])
            .await
            .with_context(|| format!("{} did not embed a text", embedder.endpoint))?;
        embedder.dimensions = probe[0].dimensions();
        if embedder.dimensions == 0 {
            anyhow::bail!("{} answered an empty embedding", embedder.endpoint);
        }
        Ok(embedder)
    }

    /// Embeds one batch and checks that every text got exactly one embedding of the right size.
    async fn request(
        &self,
        input: Input,
        texts: &[String],
    ) -> Result<Vec<Embedding>, EmbedderError> {
        let input_type = self.input_types.as_ref().map(|types| match input {
            Input::Query => types.query.as_str(),
            Input::Document => types.document.as_str(),
        });
        let response = self
            .client
            .post(self.endpoint.clone())
            .json(&EmbeddingsRequest {
                model: &self.model,
                input: texts,
                input_type,
            })
            .send()
            .await
            .map_err(EmbedderError::unavailable)?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(status_error(status, &body));
        }
        let body: EmbeddingsResponse = response.json().await.map_err(|error| {
            if error.is_timeout() {
                EmbedderError::unavailable(error)
            } else {
                EmbedderError::Unknown(anyhow!("the answer is not embeddings: {error}"))
            }
        })?;
        self.in_order(body.data, texts.len())
    }

    /// Embeds `texts` of one kind, [`BATCH_SIZE`] a request, in order.
    async fn in_batches(
        &self,
        input: Input,
        texts: &[String],
    ) -> Result<Vec<Embedding>, EmbedderError> {
        let mut embeddings = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH_SIZE) {
            embeddings.extend(self.request(input, batch).await?);
        }
        Ok(embeddings)
    }

    fn in_order(
        &self,
        mut items: Vec<EmbeddingItem>,
        expected: usize,
    ) -> Result<Vec<Embedding>, EmbedderError> {
        items.sort_by_key(|item| item.index);
        let indexes_match = items.iter().enumerate().all(|(at, item)| item.index == at);
        if items.len() != expected || !indexes_match {
            return Err(EmbedderError::Unknown(anyhow!(
                "the answer has {} embeddings for {expected} texts, or their indexes are not 0 to {}",
                items.len(),
                expected.saturating_sub(1)
            )));
        }
        let wrong_size = self.dimensions != 0
            && items
                .iter()
                .any(|item| item.embedding.len() != self.dimensions);
        if wrong_size {
            return Err(EmbedderError::Unknown(anyhow!(
                "the answer has embeddings that are not of {} dimensions",
                self.dimensions
            )));
        }
        Ok(items
            .into_iter()
            .map(|item| Embedding::new(item.embedding))
            .collect())
    }
}

fn client(api_key: &str, timeout: Duration) -> anyhow::Result<Client> {
    let mut headers = HeaderMap::new();
    if !api_key.is_empty() {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .context("EMBEDDING_API_KEY contains characters not allowed in an http header")?;
        authorization.set_sensitive(true);
        headers.insert(AUTHORIZATION, authorization);
    }
    Client::builder()
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the embeddings http client")
}

/// `{base}/v1/embeddings`; a base that already ends in `/v1` is not given a second one.
fn endpoint(base: &Url) -> anyhow::Result<Url> {
    if base.cannot_be_a_base() {
        anyhow::bail!("EMBEDDING_URL {base} cannot have paths");
    }
    let path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    if path.ends_with("/v1") {
        url.set_path(&format!("{path}/embeddings"));
    } else {
        url.set_path(&format!("{path}/v1/embeddings"));
    }
    Ok(url)
}

/// 429 and 5xx are worth retrying (overloaded or down); any other status refuses the input for
/// good, with the server's own message.
fn status_error(status: StatusCode, body: &str) -> EmbedderError {
    let message = match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody::Nested { error }) => error.message,
        Ok(ErrorBody::Flat { error }) => error,
        Err(_) => body.chars().take(500).collect(),
    };
    let error = anyhow!("the embeddings api answered {status}: {message}");
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        EmbedderError::unavailable(error)
    } else {
        EmbedderError::rejected(error)
    }
}

#[async_trait]
impl Embedder for HttpEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        self.in_batches(Input::Document, texts).await
    }

    async fn embed_queries(&self, questions: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        self.in_batches(Input::Query, questions).await
    }
}

#[cfg(test)]
mod tests;
