//! Chooses and builds the sentence embedder from the settings.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use url::Url;

use crate::config::Settings;
use crate::core::ports::Embedder;
use crate::outbound::embedder::catalogue::default_model_folder;
use crate::outbound::embedder::http::InputTypes;
use crate::outbound::embedder::{HttpEmbedder, LocalEmbedder};

/// Where embeddings come from, decided from the settings and the data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderSource {
    /// The folder `EMBEDDING_MODEL_DIR` names.
    ConfiguredModel(PathBuf),
    /// The model `caller-memory model download` put in the data folder.
    DownloadedModel(PathBuf),
    /// The embeddings API at `EMBEDDING_URL`, serving `EMBEDDING_MODEL`.
    Api { url: Url, model: String },
    /// None: search is lexical only.
    Nothing,
}

impl EmbedderSource {
    /// `EMBEDDING_MODEL_DIR` or `EMBEDDING_URL` when set (the configuration allows only one);
    /// otherwise the downloaded default model when its folder exists; otherwise nothing.
    pub fn choose(settings: &Settings) -> Self {
        if let Some(folder) = &settings.embedding.model_dir {
            return Self::ConfiguredModel(folder.clone());
        }
        if let Some(url) = &settings.embedding.url {
            return Self::Api {
                url: url.clone(),
                model: settings.embedding.model.clone(),
            };
        }
        let downloaded = default_model_folder(&settings.payload_storage_path);
        if downloaded.is_dir() {
            return Self::DownloadedModel(downloaded);
        }
        Self::Nothing
    }

    /// Loads the model, or reaches the API to learn its dimensions; nothing for [`Self::Nothing`].
    ///
    /// # Errors
    /// When the model cannot be loaded (the message names the file) or the API does not embed a
    /// text: a configuration error, reported before the service listens.
    pub async fn build(&self, settings: &Settings) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
        match self {
            Self::Api { url, model } => {
                let input_types =
                    settings
                        .embedding
                        .input_types
                        .as_ref()
                        .map(|(query, document)| InputTypes {
                            query: query.clone(),
                            document: document.clone(),
                        });
                let embedder = HttpEmbedder::connect(
                    url,
                    model,
                    settings.embedding.api_key.expose(),
                    input_types,
                    settings.embedding.timeout,
                )
                .await
                .with_context(|| format!("the embeddings api cannot be used ({self})"))?;
                Ok(Some(Arc::new(embedder)))
            }
            Self::ConfiguredModel(folder) | Self::DownloadedModel(folder) => {
                let embedder = LocalEmbedder::load_in_background(folder.clone())
                    .await
                    .with_context(|| format!("the sentence model cannot be used ({self})"))?;
                Ok(Some(Arc::new(embedder)))
            }
            Self::Nothing => Ok(None),
        }
    }
}

impl fmt::Display for EmbedderSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConfiguredModel(folder) => {
                write!(
                    f,
                    "local model in {} (EMBEDDING_MODEL_DIR)",
                    folder.display()
                )
            }
            Self::DownloadedModel(folder) => {
                write!(f, "downloaded model in {}", folder.display())
            }
            Self::Api { url, model } => write!(f, "model {model} at {url} (EMBEDDING_URL)"),
            Self::Nothing => f.write_str(
                "none, search is lexical only (set EMBEDDING_MODEL_DIR or EMBEDDING_URL, \
                 or run `caller-memory model download`)",
            ),
        }
    }
}
