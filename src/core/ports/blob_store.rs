//! Durable objects by key: archived payloads, profile cards and ingestion progress.
//!
//! The port speaks of keys and whole objects (not paths and renames), so that a local folder and
//! an S3-compatible bucket shared by several instances implement it alike.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::core::ports::cause::{describe, BoxError};

/// A stream of bytes to store, as produced while a request body is read or decoded.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// An object key: `/`-separated segments of `[A-Za-z0-9_.-]`, none of them empty, `.` or `..`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid blob key {0:?}")]
pub struct InvalidBlobKey(pub String);

impl BlobKey {
    pub const MAX_LEN: usize = 512;

    pub fn parse(raw: &str) -> Result<Self, InvalidBlobKey> {
        Self::parse_owned(raw.to_owned())
    }

    /// [`BlobKey::parse`] of a key already built as a `String`, which becomes the key as it is.
    pub fn parse_owned(raw: String) -> Result<Self, InvalidBlobKey> {
        let valid_segment = |segment: &str| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if raw.len() > Self::MAX_LEN || !raw.split('/').all(valid_segment) {
            return Err(InvalidBlobKey(raw));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.0)
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque version tag of a stored object (an ETag), used for conditional updates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobVersion(pub String);

/// A stored object and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Bytes,
    pub version: BlobVersion,
}

/// When a put may replace what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    /// Always.
    Overwrite,
    /// Only if nothing is stored under the key.
    IfAbsent,
    /// Only if the stored object still has this version.
    IfVersion(BlobVersion),
}

/// Why a blob store call failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobStoreError {
    /// A conditional put found a different (or no) object; read again and retry.
    #[error("the stored object changed")]
    ConditionFailed,
    /// The source stream of a streamed put failed (for example undecodable input); nothing was
    /// stored.
    #[error("the data to store could not be read: {0}")]
    Source(#[source] std::io::Error),
    /// The storage itself failed (unwritable, full, unreachable); nothing was stored.
    #[error("storage failed: {}", describe(.0))]
    Storage(#[source] BoxError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl BlobStoreError {
    /// [`BlobStoreError::Storage`] caused by `cause` (an error, or a message).
    pub fn storage(cause: impl Into<BoxError>) -> Self {
        Self::Storage(cause.into())
    }
}

/// Durable, atomic object storage.
///
/// Every put is atomic: a reader sees either the previous object or the complete new one, never
/// a part, and a failed put leaves nothing under the key that was not there before.
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key` if `condition` holds, durably, and returns the new version.
    ///
    /// # Errors
    /// - [`BlobStoreError::ConditionFailed`] when `condition` does not hold.
    /// - [`BlobStoreError::Storage`] when the storage cannot take the object.
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError>;

    /// Stores everything `stream` yields under `key`, replacing what was there, without holding
    /// the whole object in memory.
    ///
    /// # Errors
    /// - [`BlobStoreError::Source`] when the stream yields an error; nothing is stored.
    /// - [`BlobStoreError::Storage`] when the storage cannot take the object.
    async fn put_stream(
        &self,
        key: &BlobKey,
        stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError>;

    /// Reads a whole object; `None` when nothing is stored under `key`.
    ///
    /// # Errors
    /// - [`BlobStoreError::Storage`] when the storage cannot be read.
    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError>;

    /// Lists the keys that start with `prefix`, in lexicographic order.
    ///
    /// # Errors
    /// - [`BlobStoreError::Storage`] when the storage cannot be read.
    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError>;

    /// Removes an object; removing a missing object succeeds.
    ///
    /// # Errors
    /// - [`BlobStoreError::Storage`] when the storage cannot be changed.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError>;

    /// Checks that objects can be written and read back.
    ///
    /// # Errors
    /// - [`BlobStoreError::Storage`] when they cannot.
    async fn check(&self) -> Result<(), BlobStoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_their_root() {
        for hostile in ["../x", "a/../b", "/abs", "a//b", "a/", ".", "a\\b", "a b"] {
            assert!(BlobKey::parse(hostile).is_err(), "{hostile:?} accepted");
        }
        assert!(BlobKey::parse("conv_1/conv_1_audio.mp3").is_ok());
    }
}
