//! One process at a time on a data folder: with the single-instance settings (a local blob store
//! or the embedded memory store, see `startup::single_instance_reason`), `serve`, `replay` and
//! `backfill` hold an exclusive lock on `PAYLOAD_STORAGE_PATH/.lock` for as long as they run, so
//! that a second server, or a replay while the server is learning from the same calls, is refused
//! with a clear message instead of racing it. The operating system releases the lock when the
//! process ends, even on a crash.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The lock file's name inside the data folder.
pub const LOCK_FILE: &str = ".lock";

/// Held while the process uses the data folder; released when dropped.
#[derive(Debug)]
pub struct DataFolderLock {
    _file: File,
    path: PathBuf,
}

impl DataFolderLock {
    /// Takes the lock on `folder` (creating it if needed), or says who to stop.
    ///
    /// # Errors
    /// When another process holds the lock, or the lock file cannot be created.
    pub fn acquire(folder: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("the data folder {} cannot be created", folder.display()))?;
        let path = folder.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("the lock file {} cannot be opened", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "the data folder {} is in use by another caller-memory process (a running `serve` \
                 or `replay`); stop it first (replay runs while the server is stopped), or give \
                 this one another PAYLOAD_STORAGE_PATH",
                folder.display()
            ),
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("{} cannot be locked", path.display()))
            }
        }
        // For a person looking at the folder: which process holds it.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let folder = tempfile::tempdir().unwrap();
        let first = DataFolderLock::acquire(folder.path()).unwrap();

        let refused = DataFolderLock::acquire(folder.path())
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains(&folder.path().display().to_string()),
            "{refused}"
        );
        assert!(refused.contains("stop it first"), "{refused}");

        drop(first);
        DataFolderLock::acquire(folder.path()).expect("free again");
    }
}
