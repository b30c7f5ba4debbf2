//! A BERT-family sentence model (for example all-MiniLM-L6-v2) run on the CPU in process.
//!
//! The model is a folder holding `config.json` (the BERT configuration), `tokenizer.json` (a
//! Hugging Face tokenizer), `model.safetensors` (the weights) and, optionally,
//! `sentence_bert_config.json` (sentence-transformers' `max_seq_length`) and
//! `1_Pooling/config.json` (sentence-transformers' pooling). A text's embedding is pooled from its
//! token vectors as that file says: their mean over the attention mask (the default, as for
//! all-MiniLM-L6-v2), the first token's vector (`[CLS]`, as for the BGE models) or the largest
//! value of each dimension; then normalised to unit length. When the folder's
//! `config_sentence_transformers.json` has prompts (as E5 models have: `query: `, `passage: `),
//! questions start with the query prompt and memories with the document (or passage) prompt.
//! The folder's name names the model (`local:<folder name>`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use serde::Deserialize;
use tokenizers::utils::padding::pad_encodings;
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::core::ports::{Embedder, EmbedderError};
use crate::core::Embedding;

/// The files a model folder must hold.
pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Optional: sentence-transformers' settings, of which only `max_seq_length` is used.
pub const SENTENCE_CONFIG_FILE: &str = "sentence_bert_config.json";
/// Optional: sentence-transformers' pooling (mean when absent).
pub const POOLING_FILE: &str = "1_Pooling/config.json";
/// Optional: sentence-transformers' prompts for questions and documents (none when absent).
pub const PROMPTS_FILE: &str = "config_sentence_transformers.json";

/// How many texts go through the model at once: large enough to use the matrix kernels well,
/// small enough that one long text does not pad many short ones for long (texts are batched
/// with others of about their length, see [`Model::embed`]).
const BATCH_SIZE: usize = 32;

/// The variable that tells candle (and the tokenizer) over how many threads to split each
/// matrix product and each batch; read at every product.
const THREADS_VARIABLE: &str = "RAYON_NUM_THREADS";

/// Makes the model compute each request on the one thread that asked for it, unless
/// `RAYON_NUM_THREADS` is set. Splitting every matrix product over both cores of a small machine
/// (candle's default) made a question's embedding and a batch of memories slower, and cost
/// half as much processor time again, whenever anything else ran (README section "Recall");
/// concurrent requests still run side by side, each on its own blocking thread.
///
/// It changes the process's environment, which another thread could be reading: call it first
/// thing in `main`, before any thread starts.
pub fn one_thread_per_request() {
    if std::env::var_os(THREADS_VARIABLE).is_none() {
        std::env::set_var(THREADS_VARIABLE, "1");
    }
}

/// A sentence model loaded from its files, shared by every request.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<Model>,
    model_id: String,
}

struct Model {
    bert: BertModel,
    /// Tokenises without padding: each batch is padded to its longest text by [`Model::embed`].
    tokenizer: Tokenizer,
    padding: PaddingParams,
    dimensions: usize,
    pooling: Pooling,
    prompts: Prompts,
}

/// The text put before a question, and before a memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Prompts {
    query: String,
    document: String,
}

/// sentence-transformers' model settings, of which only the prompts are used.
#[derive(Deserialize)]
struct PromptsConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

/// How a text's token vectors become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    /// The mean over the attention mask.
    Mean,
    /// The first token's vector (`[CLS]`).
    Cls,
    /// The largest value of each dimension over the attention mask.
    Max,
}

/// sentence-transformers' pooling settings: one mode is on.
#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
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
        let pooling = pooling(folder)?;
        let prompts = prompts(folder)?;
        let (tokenizer, padding) = load_tokenizer(folder, max_tokens)?;
        let bert = load_weights(folder, &config)?;
        let name = folder
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".to_owned());
        Ok(Self {
            model: Arc::new(Model {
                bert,
                tokenizer,
                padding,
                dimensions: config.hidden_size,
                pooling,
                prompts,
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

/// The prompts `config_sentence_transformers.json` names: `query`, and `document` (or
/// `passage`); none when the folder has no such file.
fn prompts(folder: &Path) -> anyhow::Result<Prompts> {
    let path = folder.join(PROMPTS_FILE);
    if !path.exists() {
        return Ok(Prompts::default());
    }
    let mut config: PromptsConfig = serde_json::from_slice(&read(folder, PROMPTS_FILE)?)
        .with_context(|| format!("{} is not sentence-transformers' settings", path.display()))?;
    let mut take = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| config.prompts.remove(*name))
            .unwrap_or_default()
    };
    Ok(Prompts {
        query: take(&["query"]),
        document: take(&["document", "passage"]),
    })
}

/// The pooling `1_Pooling/config.json` asks for, mean when the folder has none.
fn pooling(folder: &Path) -> anyhow::Result<Pooling> {
    let path = folder.join(POOLING_FILE);
    if !path.exists() {
        return Ok(Pooling::Mean);
    }
    let config: PoolingConfig = serde_json::from_slice(&read(folder, POOLING_FILE)?)
        .with_context(|| format!("{} is not a pooling configuration", path.display()))?;
    let modes = [
        (config.pooling_mode_mean_tokens, Some(Pooling::Mean)),
        (config.pooling_mode_cls_token, Some(Pooling::Cls)),
        (config.pooling_mode_max_tokens, Some(Pooling::Max)),
        (config.pooling_mode_mean_sqrt_len_tokens, None),
        (config.pooling_mode_weightedmean_tokens, None),
        (config.pooling_mode_lasttoken, None),
    ];
    let mut chosen = modes
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, pooling)| *pooling);
    match (chosen.next(), chosen.next()) {
        (Some(Some(pooling)), None) => Ok(pooling),
        (Some(None), None) => anyhow::bail!(
            "{} asks for a pooling this service does not compute (it pools by mean, first token or max)",
            path.display()
        ),
        _ => anyhow::bail!(
            "{} must turn on exactly one pooling mode (mean, cls or max)",
            path.display()
        ),
    }
}

/// The folder's tokenizer, truncating to `max_tokens` and not padding, and how to pad a batch:
/// to its longest text (whatever the file says: a fixed padding length would waste time on short
/// texts).
fn load_tokenizer(folder: &Path, max_tokens: usize) -> anyhow::Result<(Tokenizer, PaddingParams)> {
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
        .with_padding(None)
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..TruncationParams::default()
        }))
        .map_err(|error| {
            anyhow!("the tokenizer cannot truncate to {max_tokens} tokens: {error}")
        })?;
    Ok((tokenizer, padding))
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
    /// Embeds `texts`, each after `prompt`, in order. Texts go through the model in batches of
    /// [`BATCH_SIZE`] texts of about the same length, shortest first, each batch padded to its
    /// longest text: a call's short answers are not padded to the length of its summary.
    fn embed(&self, prompt: &str, texts: &[String]) -> anyhow::Result<Vec<Embedding>> {
        let prompted: Vec<String> = texts.iter().map(|text| format!("{prompt}{text}")).collect();
        let mut encodings = self
            .tokenizer
            .encode_batch(prompted, true)
            .map_err(|error| anyhow!("the text cannot be tokenised: {error}"))?;
        let mut by_length: Vec<usize> = (0..encodings.len()).collect();
        by_length.sort_by_key(|&index| encodings[index].len());
        let mut embeddings = vec![None; texts.len()];
        for indices in by_length.chunks(BATCH_SIZE) {
            let mut batch: Vec<Encoding> = indices
                .iter()
                .map(|&index| std::mem::take(&mut encodings[index]))
                .collect();
            pad_encodings(&mut batch, &self.padding)
                .map_err(|error| anyhow!("the texts cannot be padded: {error}"))?;
            for (&index, embedding) in indices.iter().zip(self.embed_batch(&batch)?) {
                embeddings[index] = Some(embedding);
            }
        }
        embeddings
            .into_iter()
            .map(|embedding| embedding.ok_or_else(|| anyhow!("the model gave too few vectors")))
            .collect()
    }

    /// Embeds `encodings`, padded to the same length.
    fn embed_batch(&self, encodings: &[Encoding]) -> anyhow::Result<Vec<Embedding>> {
        let rows = |pick: fn(&Encoding) -> &[u32]| {
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
        let pooled = self.pooling.pool(&tokens, &attention)?;
        Ok(pooled
            .to_vec2::<f32>()?
            .into_iter()
            .map(Embedding::new)
            .collect())
    }
}

impl Pooling {
    /// One vector per text from `tokens` (texts, tokens, dimensions); `attention` is 1 for a
    /// real token and 0 for padding. The vectors are not normalised: [`Embedding::new`] does it.
    fn pool(self, tokens: &Tensor, attention: &Tensor) -> candle_core::Result<Tensor> {
        let mask = attention.to_dtype(DType::F32)?.unsqueeze(2)?;
        match self {
            // Padding tokens must not count, so each token vector is weighed by its mask.
            Pooling::Mean => {
                let summed = tokens.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1e-9, f32::MAX)?;
                summed.broadcast_div(&counts)
            }
            Pooling::Cls => tokens.narrow(1, 0, 1)?.squeeze(1),
            // Padding tokens are pushed far below any real value before taking the maximum.
            Pooling::Max => {
                let padding = ((mask.ones_like()? - &mask)? * -1e9)?;
                tokens.broadcast_add(&padding)?.max(1)
            }
        }
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
        self.run(Prompted::Document, texts.to_vec()).await
    }

    async fn embed_queries(&self, questions: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        self.run(Prompted::Query, questions.to_vec()).await
    }
}

/// Which prompt goes before the texts.
#[derive(Debug, Clone, Copy)]
enum Prompted {
    Query,
    Document,
}

impl LocalEmbedder {
    /// Runs the model over `texts` on a blocking thread.
    async fn run(
        &self,
        prompted: Prompted,
        texts: Vec<String>,
    ) -> Result<Vec<Embedding>, EmbedderError> {
        let model = self.model.clone();
        tokio::task::spawn_blocking(move || {
            let prompt = match prompted {
                Prompted::Query => &model.prompts.query,
                Prompted::Document => &model.prompts.document,
            };
            model.embed(prompt, &texts)
        })
        .await
        .map_err(|error| EmbedderError::Unknown(error.into()))?
        .map_err(EmbedderError::Unknown)
    }
}

#[cfg(test)]
mod tests;
