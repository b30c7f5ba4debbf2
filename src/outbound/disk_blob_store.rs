//! The local-disk blob store: one file per key under a root folder.
//!
//! Keys map to paths below the root (a [`BlobKey`] cannot climb out of it). Every put writes a
//! temporary file beside its target, fsyncs it, renames it over the target and fsyncs the
//! folder, so readers and crashes only ever see whole objects. A version is the SHA-256 of the
//! content, which stays right across restarts and needs no extra metadata.

pub(crate) mod temp_file;

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::sync::Mutex;

use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, PutCondition,
};
use temp_file::{sync_folder, TempFile, NOT_A_KEY_MARKER};

/// A [`BlobStore`] in a local folder.
#[derive(Debug)]
pub struct DiskBlobStore {
    root: PathBuf,
    /// Held from the condition check to the rename of every put, so that no other put of this
    /// process can slip in between (a store shared by several processes needs an object store).
    commit_lock: Mutex<()>,
}

impl DiskBlobStore {
    /// A store rooted at `root`; the folder is created by the first write or [`BlobStore::check`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            commit_lock: Mutex::new(()),
        }
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    /// Writes `stream` to a temporary file, then commits it if `condition` holds.
    async fn store(
        &self,
        key: &BlobKey,
        mut stream: ByteStream,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        let target = self.path_of(key);
        let write_error = |error| storage_error("write", &target, error);
        let mut temp = TempFile::create_beside(&target)
            .await
            .map_err(write_error)?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BlobStoreError::Source)?;
            hasher.update(&chunk);
            temp.write(&chunk).await.map_err(write_error)?;
        }
        self.commit(key, temp, &condition).await?;
        Ok(BlobVersion(hex::encode(hasher.finalize())))
    }

    async fn commit(
        &self,
        key: &BlobKey,
        temp: TempFile,
        condition: &PutCondition,
    ) -> Result<(), BlobStoreError> {
        let target = self.path_of(key);
        let _exclusive = self.commit_lock.lock().await;
        let current = match condition {
            PutCondition::Overwrite => None,
            PutCondition::IfAbsent | PutCondition::IfVersion(_) => read_optional(&target)
                .await
                .map_err(|error| storage_error("read", &target, error))?,
        };
        let holds = match condition {
            PutCondition::Overwrite => true,
            PutCondition::IfAbsent => current.is_none(),
            PutCondition::IfVersion(expected) => {
                current.is_some_and(|bytes| version_of(&bytes) == *expected)
            }
        };
        if !holds {
            return Err(BlobStoreError::ConditionFailed);
        }
        temp.commit(&target)
            .await
            .map_err(|error| storage_error("write", &target, error))
    }
}

#[async_trait]
impl BlobStore for DiskBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        let whole = stream::once(async { Ok(bytes) }).boxed();
        self.store(key, whole, condition).await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        self.store(key, stream, PutCondition::Overwrite).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        let path = self.path_of(key);
        let bytes = read_optional(&path)
            .await
            .map_err(|error| storage_error("read", &path, error))?;
        Ok(bytes.map(|bytes| Blob {
            version: version_of(&bytes),
            bytes: Bytes::from(bytes),
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || list_keys(&root, &prefix))
            .await
            .map_err(|error| BlobStoreError::Unknown(error.into()))?
            .map_err(|error| storage_error("list", &self.root, error))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        let path = self.path_of(key);
        let delete_error = |error| storage_error("delete", &path, error);
        match fs::remove_file(&path).await {
            Ok(()) => sync_folder(path.parent().unwrap_or(&self.root))
                .await
                .map_err(delete_error),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(delete_error(error)),
        }
    }

    async fn check(&self) -> Result<(), BlobStoreError> {
        let probe = self.root.join(format!("check{NOT_A_KEY_MARKER}probe"));
        let check_error = |error| storage_error("check", &self.root, error);
        let mut temp = TempFile::create_beside(&probe).await.map_err(check_error)?;
        temp.write(b"probe").await.map_err(check_error)?;
        temp.commit(&probe).await.map_err(check_error)?;
        let read_back = fs::read(&probe).await.map_err(check_error);
        fs::remove_file(&probe).await.map_err(check_error)?;
        if read_back? != b"probe" {
            return Err(BlobStoreError::storage(format!(
                "{} does not read back what was written",
                self.root.display()
            )));
        }
        Ok(())
    }
}

fn version_of(bytes: &[u8]) -> BlobVersion {
    BlobVersion(hex::encode(Sha256::digest(bytes)))
}

fn storage_error(action: &'static str, path: &Path, error: io::Error) -> BlobStoreError {
    BlobStoreError::storage(FileError {
        action,
        path: path.to_owned(),
        error,
    })
}

/// A file operation that failed, with the file it was about; the I/O error is its source.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
struct FileError {
    action: &'static str,
    path: PathBuf,
    #[source]
    error: io::Error,
}

async fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Walks the folder that holds every key starting with `prefix`, skipping temporary files and
/// anything else whose path is not a valid key.
fn list_keys(root: &Path, prefix: &str) -> io::Result<Vec<BlobKey>> {
    let folder = match prefix.rsplit_once('/') {
        None => String::new(),
        // A prefix whose folder part is no valid key matches no key, and must not be walked.
        Some((folder, _)) => match BlobKey::parse(folder) {
            Ok(_) => format!("{folder}/"),
            Err(_) => return Ok(Vec::new()),
        },
    };
    let mut keys = Vec::new();
    let mut pending = vec![folder];
    while let Some(relative) = pending.pop() {
        let entries = match std::fs::read_dir(root.join(&relative)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let path = format!("{relative}{name}");
            if entry.file_type()?.is_dir() {
                let folder = format!("{path}/");
                if folder.starts_with(prefix) || prefix.starts_with(&folder) {
                    pending.push(folder);
                }
            } else if path.starts_with(prefix) {
                keys.extend(BlobKey::parse(&path).ok());
            }
        }
    }
    keys.sort();
    Ok(keys)
}

#[cfg(test)]
mod tests;
