//! Reading a caller's profile card, shared by the greeting and the search.

use std::time::Duration;

use crate::core::ports::{Blob, BlobStore, BlobStoreError};
use crate::core::{CallerId, ProfileCard};

/// Why a profile card could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadProfileError {
    #[error("profile card lookup took longer than {0:?}")]
    DeadlinePassed(Duration),
    #[error("profile card could not be read: {0}")]
    Storage(#[from] BlobStoreError),
    #[error("stored profile card is not valid json: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Reads `caller`'s card; `None` when the caller has no card yet.
pub async fn read_profile(
    profiles: &dyn BlobStore,
    caller: &CallerId,
    deadline: Duration,
) -> Result<Option<ProfileCard>, ReadProfileError> {
    match read_profile_blob(profiles, caller, deadline).await? {
        Some(blob) => Ok(Some(ProfileCard::decode(&blob.bytes)?)),
        None => Ok(None),
    }
}

/// Reads `caller`'s card as stored, undecoded, with its version; `None` when the caller has no
/// card yet.
pub async fn read_profile_blob(
    profiles: &dyn BlobStore,
    caller: &CallerId,
    deadline: Duration,
) -> Result<Option<Blob>, ReadProfileError> {
    let key = ProfileCard::storage_key(caller);
    Ok(tokio::time::timeout(deadline, profiles.get(&key))
        .await
        .map_err(|_| ReadProfileError::DeadlinePassed(deadline))??)
}
