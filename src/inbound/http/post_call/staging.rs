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

/// Removes the bodies a killed process left in `folder` (nothing else ever removes them), and
/// returns how many there were. Only for startup: the folder belongs to one running service.
pub fn remove_leftovers(folder: &Path) -> io::Result<usize> {
    let entries = match std::fs::read_dir(folder) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        entries => entries?,
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(STAGED_PREFIX)
        {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
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
