//! The sentence models `caller-memory model download` knows, pinned to a revision and checksums,
//! and where downloaded models live in the data folder.

use std::path::{Path, PathBuf};

/// A model on the Hugging Face hub, pinned so that a download is always the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The hub repository, such as `sentence-transformers/all-MiniLM-L6-v2`.
    pub repository: &'static str,
    pub revision: &'static str,
    pub files: &'static [PinnedFile],
}

/// A file of a model and the SHA-256 of its bytes (hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedFile {
    pub name: &'static str,
    pub sha256: &'static str,
}

/// all-MiniLM-L6-v2: 384 dimensions, 90 MB of weights, fast on a CPU.
pub const DEFAULT_MODEL: KnownModel = KnownModel {
    repository: "sentence-transformers/all-MiniLM-L6-v2",
    revision: "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    files: &[
        PinnedFile {
            name: "config.json",
            sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        },
        PinnedFile {
            name: "tokenizer.json",
            sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        PinnedFile {
            name: "sentence_bert_config.json",
            sha256: "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
        },
        PinnedFile {
            name: "model.safetensors",
            sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        },
    ],
};

/// Every model known by name.
pub const KNOWN_MODELS: &[KnownModel] = &[DEFAULT_MODEL];

/// The known model named `name`: its repository (`sentence-transformers/all-MiniLM-L6-v2`) or
/// the repository's last part (`all-MiniLM-L6-v2`).
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|model| {
        model.repository.eq_ignore_ascii_case(name)
            || folder_name(model.repository).eq_ignore_ascii_case(name)
    })
}

/// The folder a model of `repository` is downloaded to: its last part, so that the local
/// embedder names it the same wherever it runs (`local:all-MiniLM-L6-v2`).
pub fn folder_name(repository: &str) -> &str {
    repository.rsplit('/').next().unwrap_or(repository)
}

/// Where downloaded models are kept: `models/` in the payload storage folder.
pub fn models_folder(data_folder: &Path) -> PathBuf {
    data_folder.join("models")
}

/// The folder of the default model once downloaded (it may not exist).
pub fn default_model_folder(data_folder: &Path) -> PathBuf {
    models_folder(data_folder).join(folder_name(DEFAULT_MODEL.repository))
}
