//! Atomic replacement of one file: write beside it, fsync, rename over it, fsync the folder.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs::{self, File};
use tokio::io::AsyncWriteExt;

/// Marks files that are not objects: no blob key may contain it, so listings skip such files.
pub(super) const NOT_A_KEY_MARKER: char = '~';

/// A file being written next to its final path. Dropped without [`TempFile::commit`], it is
/// removed, so a failed write never leaves anything under the final name.
pub(super) struct TempFile {
    path: PathBuf,
    file: Option<File>,
    created_folders: Vec<PathBuf>,
}

impl TempFile {
    /// Creates the temporary file in the folder of `target`, creating that folder if needed.
    pub(super) async fn create_beside(target: &Path) -> io::Result<Self> {
        let folder = parent_of(target);
        let created_folders = create_folders(folder).await?;
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let path = folder.join(format!(
            "{name}{NOT_A_KEY_MARKER}{}.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(Self {
            path,
            file: Some(file),
            created_folders,
        })
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.write_all(bytes).await,
            None => Err(io::Error::other("the temporary file is already closed")),
        }
    }

    /// Makes the content durable, renames it over `target` and makes the rename durable.
    pub(super) async fn commit(mut self, target: &Path) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        fs::rename(&self.path, target).await?;
        // From here on the temporary name no longer exists; make sure Drop does not look for it.
        self.path = PathBuf::new();
        sync_folder(parent_of(target)).await?;
        // New folders are only durable once the folder holding each of them is synced too.
        for folder in &self.created_folders {
            sync_folder(parent_of(folder)).await?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            // Unlinking is a single short system call; a leftover would only cost disk space.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Creates `folder` and its missing ancestors; returns the ones it created, deepest first.
async fn create_folders(folder: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut current = Some(folder);
    while let Some(candidate) = current {
        if fs::try_exists(candidate).await? {
            break;
        }
        missing.push(candidate.to_path_buf());
        current = candidate.parent();
    }
    fs::create_dir_all(folder).await?;
    Ok(missing)
}

/// Makes the entries of a folder (creations, renames, removals) durable.
pub(crate) async fn sync_folder(folder: &Path) -> io::Result<()> {
    let folder = folder.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&folder)?.sync_all())
        .await
        .map_err(io::Error::other)?
}
