//! Downloads a sentence model's files into the data folder, where the service finds them.
//!
//! Each file comes from `{base}/{repository}/resolve/{revision}/{file}` (the Hugging Face hub's
//! layout), is streamed to a staging folder beside the destination while its SHA-256 is
//! computed, and checked against the pinned checksum. Only when every file is verified does the
//! staging folder replace the model folder, in one rename: an interrupted or refused download
//! leaves the previous model (or no model) in place, and running the command again starts over.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::outbound::disk_blob_store::temp_file::sync_folder;
use crate::outbound::embedder::catalogue::{folder_name, models_folder, KnownModel};

/// The Hugging Face hub.
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co";

/// How long one file's download may stall before it is given up.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRequest {
    /// The hub repository, such as `sentence-transformers/all-MiniLM-L6-v2`.
    pub repository: String,
    pub revision: String,
    /// Each file with its expected SHA-256 (hex), when known.
    pub files: Vec<(String, Option<String>)>,
    /// Files the repository may lack (such as `1_Pooling/config.json`): fetched unverified when
    /// present, skipped when the hub answers 404.
    pub optional: Vec<String>,
}

impl ModelRequest {
    pub fn known(model: &KnownModel) -> Self {
        Self {
            repository: model.repository.to_owned(),
            revision: model.revision.to_owned(),
            files: model
                .files
                .iter()
                .map(|file| (file.name.to_owned(), Some(file.sha256.to_owned())))
                .collect(),
            optional: Vec::new(),
        }
    }
}

/// A file as installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledFile {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    /// Whether it was checked against an expected checksum.
    pub verified: bool,
}

/// Downloads `request` from `base_url` into `models/<name>` of `data_folder` and returns the
/// model folder with what was installed.
///
/// # Errors
/// When a file cannot be fetched or written, or its checksum differs from the expected one;
/// then nothing is installed and the previous model folder, if any, is untouched.
pub async fn download_model(
    base_url: &Url,
    request: &ModelRequest,
    data_folder: &Path,
) -> anyhow::Result<(PathBuf, Vec<InstalledFile>)> {
    let models = models_folder(data_folder);
    let name = folder_name(&request.repository);
    let destination = models.join(name);
    let staging = models.join(format!(".{name}.download"));
    // A staging folder left by an interrupted run is never resumed: starting over is simpler
    // and the checksums make the result the same.
    remove_if_present(&staging).await?;
    fs::create_dir_all(&staging)
        .await
        .with_context(|| format!("{} cannot be created", staging.display()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(READ_TIMEOUT)
        .build()
        .context("cannot build the download http client")?;
    let wanted = request
        .files
        .iter()
        .map(|(file, expected)| (file, expected.as_deref(), Need::Required))
        .chain(
            request
                .optional
                .iter()
                .map(|file| (file, None, Need::Optional)),
        );
    let mut installed = Vec::new();
    for (file, expected, need) in wanted {
        let url = file_url(base_url, request, file)?;
        match fetch(&client, &url, &staging.join(file), expected, need).await {
            Ok(Some(done)) => installed.push(InstalledFile {
                name: file.clone(),
                ..done
            }),
            Ok(None) => {}
            Err(error) => {
                let _ = fs::remove_dir_all(&staging).await;
                return Err(error.context(format!("{file} was not installed, nor any other file")));
            }
        }
    }
    replace_folder(&staging, &destination).await?;
    Ok((destination, installed))
}

/// `{base}/{repository}/resolve/{revision}/{file}`, each part percent-encoded.
fn file_url(base: &Url, request: &ModelRequest, file: &str) -> anyhow::Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow!("the base url {base} cannot have paths"))?
        .pop_if_empty()
        .extend(request.repository.split('/'))
        .push("resolve")
        .push(&request.revision)
        .extend(file.split('/'));
    Ok(url)
}

/// Whether a model cannot do without a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    Optional,
}

/// Streams `url` into `path`, hashing as it goes, and checks the hash; `None` when an optional
/// file is not there.
async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    path: &Path,
    expected: Option<&str>,
    need: Need,
) -> anyhow::Result<Option<InstalledFile>> {
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("{url} cannot be reached"))?;
    if need == Need::Optional && response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        anyhow::bail!("{url} answered {}", response.status());
    }
    if let Some(folder) = path.parent() {
        fs::create_dir_all(folder)
            .await
            .with_context(|| format!("{} cannot be created", folder.display()))?;
    }
    let mut file = fs::File::create(path)
        .await
        .with_context(|| format!("{} cannot be created", path.display()))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0_u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("the download of {url} broke off"))?
    {
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .with_context(|| format!("{} cannot be written", path.display()))?;
    }
    file.sync_all().await?;
    let sha256 = hex::encode(hasher.finalize());
    if let Some(expected) = expected {
        if !expected.eq_ignore_ascii_case(&sha256) {
            anyhow::bail!(
                "the checksum of {url} does not match: expected SHA-256 {expected}, got {sha256}"
            );
        }
    }
    Ok(Some(InstalledFile {
        name: String::new(),
        sha256,
        bytes,
        verified: expected.is_some(),
    }))
}

/// Puts `staging` in the place of `destination` (moving any previous folder aside first, and
/// removing it once replaced).
async fn replace_folder(staging: &Path, destination: &Path) -> anyhow::Result<()> {
    let previous = destination.with_file_name(format!(
        ".{}.previous",
        destination
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
    ));
    remove_if_present(&previous).await?;
    if fs::try_exists(destination).await? {
        fs::rename(destination, &previous)
            .await
            .with_context(|| format!("{} cannot be replaced", destination.display()))?;
    }
    fs::rename(staging, destination)
        .await
        .with_context(|| format!("{} cannot be installed", destination.display()))?;
    remove_if_present(&previous).await?;
    sync_folder(destination.parent().unwrap_or(Path::new("."))).await?;
    Ok(())
}

async fn remove_if_present(folder: &Path) -> anyhow::Result<()> {
    if fs::try_exists(folder).await? {
        fs::remove_dir_all(folder)
            .await
            .with_context(|| format!("{} cannot be removed", folder.display()))?;
    }
    Ok(())
}
