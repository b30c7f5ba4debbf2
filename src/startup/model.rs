//! `model download` and `model list`: fetching a sentence model into the data folder.

use anyhow::Context;
use url::Url;

use crate::config::Settings;
use crate::outbound::embedder::catalogue::{known_model, KNOWN_MODELS};
use crate::outbound::embedder::local::{
    CONFIG_FILE, POOLING_FILE, PROMPTS_FILE, SENTENCE_CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
};
use crate::outbound::model_download::{download_model, ModelRequest};

/// The revision asked for a model that is not known, when none is given.
const DEFAULT_REVISION: &str = "main";

/// What `model download` was asked.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    pub name: String,
    pub base_url: Url,
    pub revision: Option<String>,
    /// `FILE=SHA256` pairs, for a model that is not known.
    pub checksums: Vec<String>,
}

/// Downloads the model into `PAYLOAD_STORAGE_PATH/models/` and prints what was installed.
///
/// # Errors
/// When the options are contradictory or the download fails (nothing is installed then).
pub async fn download(settings: &Settings, options: DownloadOptions) -> anyhow::Result<()> {
    let request = request(&options)?;
    println!(
        "downloading {} at revision {} from {}",
        request.repository, request.revision, options.base_url
    );
    let (folder, files) =
        download_model(&options.base_url, &request, &settings.payload_storage_path)
            .await
            .with_context(|| format!("{} could not be downloaded", request.repository))?;
    for file in &files {
        println!(
            "  {} ({} bytes) sha256 {}{}",
            file.name,
            file.bytes,
            file.sha256,
            if file.verified {
                ", verified"
            } else {
                ", NOT verified (pass --sha256 FILE=SHA256 to check it)"
            }
        );
    }
    for absent in request
        .optional
        .iter()
        .filter(|name| !files.iter().any(|file| &file.name == *name))
    {
        println!("  {absent}: not in the repository (optional)");
    }
    println!(
        "installed in {}; the service uses it when neither EMBEDDING_MODEL_DIR nor EMBEDDING_URL is set",
        folder.display()
    );
    Ok(())
}

/// A known model is downloaded as pinned; any other repository needs its checksums given (or
/// is reported unverified).
fn request(options: &DownloadOptions) -> anyhow::Result<ModelRequest> {
    if let Some(model) = known_model(&options.name) {
        if options.revision.is_some() || !options.checksums.is_empty() {
            anyhow::bail!(
                "{} is pinned to revision {} and its checksums: --revision and --sha256 are for other models",
                model.repository,
                model.revision
            );
        }
        return Ok(ModelRequest::known(model));
    }
    let mut files: Vec<(String, Option<String>)> = [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE]
        .iter()
        .map(|file| ((*file).to_owned(), None))
        .collect();
    let mut optional: Vec<String> = [SENTENCE_CONFIG_FILE, POOLING_FILE, PROMPTS_FILE]
        .iter()
        .map(|file| (*file).to_owned())
        .collect();
    for pair in &options.checksums {
        let (file, sha256) = pair
            .split_once('=')
            .with_context(|| format!("--sha256 takes FILE=SHA256, not {pair:?}"))?;
        // An optional file given a checksum is one the model must have.
        if let Some(index) = optional.iter().position(|name| name == file) {
            files.push((optional.remove(index), None));
        }
        let slot = files
            .iter_mut()
            .find(|(name, _)| name == file)
            .with_context(|| format!("--sha256 names {file:?}, which is not a model file"))?;
        slot.1 = Some(sha256.trim().to_ascii_lowercase());
    }
    Ok(ModelRequest {
        repository: options.name.clone(),
        revision: options
            .revision
            .clone()
            .unwrap_or_else(|| DEFAULT_REVISION.to_owned()),
        files,
        optional,
    })
}

/// Prints every known model with its pinned revision and checksums.
pub fn list() {
    for model in KNOWN_MODELS {
        println!("{} (revision {})", model.repository, model.revision);
        for file in model.files {
            println!("  {} sha256 {}", file.name, file.sha256);
        }
    }
}
