//! The request body, streamed to a staging file while its signature is computed, so that memory
//! use does not grow with the body. The file is removed when the [`StagedBody`] is dropped,
//! whatever happened to the request.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::fs::{self, File};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::shape::{ShapeCheck, ShapeError};
use crate::inbound::http::edge::{BodyReadError, Edge, Reservation};
use crate::inbound::http::signature::BodyVerifier;

const WRITE_BUFFER: usize = 256 * 1024;

/// A received body on disk, removed on drop.
#[derive(Debug)]
pub struct StagedBody {
    path: PathBuf,
    shape: Result<(), ShapeError>,
}

impl StagedBody {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the body is UTF-8 and nests reasonably; to be asked only once it is known to be
    /// signed, so that an unsigned body learns nothing about how it would be read.
    pub fn shape(&self) -> Result<(), ShapeError> {
        self.shape
    }
}

impl Drop for StagedBody {
    fn drop(&mut self) {
        // A single unlink; a leftover would only cost disk space and never reach the archive.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The sender stopped or broke the body.
    #[error("the body could not be received: {0}")]
    Interrupted(io::Error),
    /// The sender sent nothing for too long.
    #[error("the body stalled: no bytes for {} ms", .0.as_millis())]
    Stalled(Duration),
    /// Too many bytes from unverified senders are already being received.
    #[error("the budget for unverified bytes is spent")]
    BudgetSpent,
    #[error("the body could not be staged in {folder}: {error}")]
    Storage { folder: PathBuf, error: io::Error },
}

/// The name of every staged body starts with this.
const STAGED_PREFIX: &str = "post-call~";

/// The lock file in an instance's staging folder; `~` keeps it out of blob store listings.
const INSTANCE_LOCK: &str = "instance~lock";

/// This instance's staging folder, locked for as long as the process lives: the operating system
/// releases the lock when the process ends, even when it is killed.
#[derive(Debug)]
pub struct StagingFolderLock {
    _file: std::fs::File,
}

/// Takes `folder` (this instance's own folder under the staging root shared by instances on one
/// machine) and removes what dead instances left beside it: every sibling folder whose lock no
/// live process holds, and bodies left directly in the root by versions that staged there.
/// Another live instance's folder is never touched. Returns the lock and how many half-received
/// bodies were removed.
///
/// # Errors
/// When `folder` cannot be created or locked, or a leftover cannot be removed.
pub fn take_folder(folder: &Path) -> io::Result<(StagingFolderLock, usize)> {
    std::fs::create_dir_all(folder)?;
    let lock = lock_folder(folder, Create::Yes)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("{} is in use by another process", folder.display()),
        )
    })?;
    let Some(root) = folder.parent() else {
        return Ok((lock, 0));
    };
    let mut removed = 0;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        if path == folder {
            continue;
        }
        if entry.file_type()?.is_dir() {
            // Held while the folder is emptied. A folder without a lock file is being created by
            // a starting instance, and left alone.
            if let Some(_dead) = lock_folder(&path, Create::No)? {
                removed += staged_bodies_in(&path)?;
                std::fs::remove_dir_all(&path)?;
            }
        } else if is_staged_body(&entry.file_name()) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok((lock, removed))
}

/// Whether a missing lock file is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    Yes,
    No,
}

/// Locks `folder`'s lock file; `None` when a live process holds it (or, with [`Create::No`],
/// when there is no lock file).
fn lock_folder(folder: &Path, create: Create) -> io::Result<Option<StagingFolderLock>> {
    let opened = std::fs::OpenOptions::new()
        .create(create == Create::Yes)
        .truncate(false)
        .write(true)
        .open(folder.join(INSTANCE_LOCK));
    let file = match opened {
        Err(error) if error.kind() == io::ErrorKind::NotFound && create == Create::No => {
            return Ok(None)
        }
        opened => opened?,
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(StagingFolderLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

fn is_staged_body(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with(STAGED_PREFIX)
}

fn staged_bodies_in(folder: &Path) -> io::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(folder)? {
        count += usize::from(is_staged_body(&entry?.file_name()));
    }
    Ok(count)
}

/// Writes `body` to a new file in `folder`, feeding every byte to `verifier` on the way. Each
/// chunk is taken from `reservation` before it is written; the whole stops as soon as more than
/// `limit` bytes have arrived, or when the body stalls for the edge's timeout.
pub async fn stage(
    body: poem::Body,
    folder: &Path,
    limit: u64,
    verifier: &mut BodyVerifier,
    edge: &Edge,
    reservation: &mut Reservation,
) -> Result<StagedBody, StagingError> {
    let storage_error = |error| StagingError::Storage {
        folder: folder.to_path_buf(),
        error,
    };
    fs::create_dir_all(folder).await.map_err(storage_error)?;
    // `~` keeps the name out of blob store listings, should the folder be inside the archive.
    let mut staged = StagedBody {
        path: folder.join(format!(
            "{STAGED_PREFIX}{}.json",
            uuid::Uuid::new_v4().simple()
        )),
        shape: Ok(()),
    };
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&staged.path)
        .await
        .map_err(storage_error)?;
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut chunks = std::pin::pin!(body.into_bytes_stream());
    let mut received = 0u64;
    let mut shape = ShapeCheck::default();
    while let Some(chunk) = edge
        .next_chunk(&mut chunks)
        .await
        .map_err(|error| match error {
            BodyReadError::Stalled(quiet) => StagingError::Stalled(quiet),
            BodyReadError::Broken(error) => StagingError::Interrupted(error),
        })?
    {
        received += chunk.len() as u64;
        if received > limit {
            return Err(StagingError::TooLarge { limit });
        }
        reservation
            .grow(chunk.len() as u64)
            .map_err(|_| StagingError::BudgetSpent)?;
        verifier.update(&chunk);
        shape.update(&chunk);
        writer.write_all(&chunk).await.map_err(storage_error)?;
    }
    writer.flush().await.map_err(storage_error)?;
    staged.shape = shape.finish();
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_in(folder: &Path, name: &str) {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join(format!("{STAGED_PREFIX}{name}.json")), b"{").unwrap();
    }

    #[test]
    fn a_dead_instance_s_bodies_go_and_a_live_instance_s_stay() {
        let root = tempfile::tempdir().unwrap();
        let live = root.path().join("live");
        let (_live_lock, _) = take_folder(&live).unwrap();
        body_in(&live, "streaming");
        let dead = root.path().join("dead");
        drop(take_folder(&dead).unwrap());
        body_in(&dead, "cut-off");
        body_in(root.path(), "from-an-older-version");

        let (_mine, removed) = take_folder(&root.path().join("mine")).unwrap();

        assert_eq!(removed, 2);
        assert!(!dead.exists());
        assert!(live.join(format!("{STAGED_PREFIX}streaming.json")).exists());
    }

    #[test]
    fn a_folder_being_created_by_a_starting_instance_is_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let starting = root.path().join("starting");
        std::fs::create_dir_all(&starting).unwrap();

        take_folder(&root.path().join("mine")).unwrap();

        assert!(starting.exists());
    }

    #[test]
    fn an_instance_s_folder_cannot_be_taken_twice() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("one");
        let _held = take_folder(&folder).unwrap();

        assert!(take_folder(&folder).is_err());
    }
}
