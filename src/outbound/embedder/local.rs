//! A BERT-family sentence model (for example all-MiniLM-L6-v2) run on the CPU in process.
//!
//! The model is a folder holding `config.json` (the BERT configuration), `tokenizer.json` (a
//! Hugging Face tokenizer), `model.safetensors` (the weights) and, optionally,
//! `sentence_bert_config.json` (sentence-transformers' `max_seq_length`). A text's embedding is
//! the mean of its token vectors over the attention mask (as sentence-transformers computes it),
//! normalised to unit length. The folder's name names the model (`local:<folder name>`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::core::ports::{Embedder, EmbedderError};
use crate::core::Embedding;

/// The files a model folder must hold.
pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Optional: sentence-transformers' settings, of which only `max_seq_length` is used.
pub const SENTENCE_CONFIG_FILE: &str = "sentence_bert_config.json";

/// How many texts go through the model at once: large enough to use the matrix kernels well,
/// small enough that one long text does not pad many short ones for long.
const BATCH_SIZE: usize = 32;

/// A sentence model loaded from its files, shared by every request.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<Model>,
    model_id: String,
}

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
    dimensions: usize,
}

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

impl LocalEmbedder {
    /// Loads the model in `folder` (see the module's documentation for the files it needs).
    /// Reading and checking the weights takes a moment: call it from a blocking context.
    ///
    /// # Errors
    /// When a file is missing, unreadable or not what it should be; the message names the file.
    pub fn load(folder: &Path) -> anyhow::Result<Self> {
        let config: Config =
            serde_json::from_slice(&read(folder, CONFIG_FILE)?).with_context(|| {
                format!("{} is not a BERT configuration", file(folder, CONFIG_FILE))
            })?;
        let max_tokens = max_tokens(folder, &config)?;
        let tokenizer = load_tokenizer(folder, max_tokens)?;
        let bert = load_weights(folder, &config)?;
        let name = folder
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".to_owned());
        Ok(Self {
            model: Arc::new(Model {
                bert,
                tokenizer,
                dimensions: config.hidden_size,
            }),
            model_id: format!("local:{name}"),
        })
    }

    /// [`LocalEmbedder::load`] on a blocking thread.
    ///
    /// # Errors
    /// As [`LocalEmbedder::load`].
    pub async fn load_in_background(folder: PathBuf) -> anyhow::Result<Self> {
        tokio::task::spawn_blocking(move || Self::load(&folder))
            .await
            .context("loading the sentence model stopped unexpectedly")?
    }
}

fn file(folder: &Path, name: &str) -> String {
    folder.join(name).display().to_string()
}

fn read(folder: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(folder.join(name))
        .with_context(|| format!("the model file {} cannot be read", file(folder, name)))
}

/// The longest input in tokens: sentence-transformers' `max_seq_length` when the folder says it,
/// never more than the model's position embeddings.
fn max_tokens(folder: &Path, config: &Config) -> anyhow::Result<usize> {
    let path = folder.join(SENTENCE_CONFIG_FILE);
    if !path.exists() {
        return Ok(config.max_position_embeddings);
    }
    let sentence: SentenceConfig = serde_json::from_slice(&read(folder, SENTENCE_CONFIG_FILE)?)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(sentence
        .max_seq_length
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings))
}

/// The folder's tokenizer, truncating to `max_tokens` and padding each batch to its longest text
/// (whatever the file says: a fixed padding length would waste time on short texts).
fn load_tokenizer(folder: &Path, max_tokens: usize) -> anyhow::Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_bytes(read(folder, TOKENIZER_FILE)?).map_err(|error| {
        anyhow!(
            "{} is not a tokenizer: {error}",
            file(folder, TOKENIZER_FILE)
        )
    })?;
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    tokenizer
        .with_padding(Some(padding))
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..TruncationParams::default()
        }))
        .map_err(|error| {
            anyhow!("the tokenizer cannot truncate to {max_tokens} tokens: {error}")
        })?;
    Ok(tokenizer)
}

/// The weights are read through a memory map of the file and copied into the model's tensors;
/// the map is gone once the model is built. Reading the whole file into the heap first would
/// leave a freed copy of it (90 MB for all-MiniLM-L6-v2) that the allocator keeps for a while,
/// raising the idle process's memory by as much.
fn load_weights(folder: &Path, config: &Config) -> anyhow::Result<BertModel> {
    let path = folder.join(WEIGHTS_FILE);
    let weights = || file(folder, WEIGHTS_FILE);
    std::fs::File::open(&path)
        .with_context(|| format!("the model file {} cannot be read", weights()))?;
    // SAFETY: the map is only read while the model is built, here, and dropped with
    // `variables` when `BertModel::load` returns; the model keeps copies of the values. The
    // file must not be truncated while the service starts (a model folder is replaced whole,
    // by a rename, by `caller-memory model download`).
    let variables = unsafe { VarBuilder::from_mmaped_safetensors(&[&path], DTYPE, &Device::Cpu) }
        .with_context(|| format!("{} is not a safetensors file", weights()))?;
    BertModel::load(variables, config).with_context(|| {
        format!(
            "{} does not hold the weights {} describes",
            weights(),
            file(folder, CONFIG_FILE)
        )
    })
}

impl Model {
    /// Embeds `texts` in batches of [`BATCH_SIZE`], in order.
    fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Embedding>> {
        let mut embeddings = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH_SIZE) {
            embeddings.extend(self.embed_batch(batch)?);
        }
        Ok(embeddings)
    }

    fn embed_batch(&self, texts: &[String]) -> anyhow::Result<Vec<Embedding>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|error| anyhow!("the text cannot be tokenised: {error}"))?;
        let rows = |pick: fn(&tokenizers::Encoding) -> &[u32]| {
            let rows = encodings
                .iter()
                .map(|encoding| Tensor::new(pick(encoding), &Device::Cpu))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Tensor::stack(&rows, 0)
        };
        let token_ids = rows(|encoding| encoding.get_ids())?;
        let type_ids = rows(|encoding| encoding.get_type_ids())?;
        let attention = rows(|encoding| encoding.get_attention_mask())?;
        let tokens = self.bert.forward(&token_ids, &type_ids, Some(&attention))?;
        // Mean pooling: padding tokens must not count, so each token vector is weighed by its
        // attention mask (1 for a real token, 0 for padding).
        let mask = attention.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = tokens.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f32::MAX)?;
        let means = summed.broadcast_div(&counts)?;
        Ok(means
            .to_vec2::<f32>()?
            .into_iter()
            .map(Embedding::new)
            .collect())
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.model.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.model.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || model.embed(&texts))
            .await
            .map_err(|error| EmbedderError::Unknown(error.into()))?
            .map_err(EmbedderError::Unknown)
    }
}

#[cfg(test)]
mod tests;
