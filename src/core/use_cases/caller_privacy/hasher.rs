//! The keyed hash that names a caller in privacy records without storing the number.

use std::fmt;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::core::ports::{BlobKey, BlobStore, BlobStoreError, PutCondition};
use crate::core::{CallerId, STATE_PREFIX};

/// Length of the hash key, in bytes.
pub const HASH_KEY_BYTES: usize = 32;

/// A caller's keyed hash: 32 lowercase hex characters, safe as a key segment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallerHash(String);

impl CallerHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallerHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CallerHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallerHash({})", self.0)
    }
}

/// HMAC-SHA256 of the E.164 number under a random key kept in the blob store: without the key,
/// a hash cannot be matched to a number by trying every number.
#[derive(Clone)]
pub struct CallerHasher {
    key: Vec<u8>,
}

impl fmt::Debug for CallerHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallerHasher([redacted])")
    }
}

fn key_location() -> BlobKey {
    BlobKey::parse(&format!("{STATE_PREFIX}privacy/caller-hash-key")).expect("a valid literal key")
}

impl CallerHasher {
    /// A hasher with this key; for tests and tools that already hold the key.
    pub fn with_key(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// The store's key, stored first as `candidate` (fresh random bytes from the caller) when the
    /// store has none yet. Every instance sharing the store ends up with the same key.
    ///
    /// # Errors
    /// [`BlobStoreError::Storage`] when the key cannot be read or stored, or the stored key is
    /// unreadable.
    pub async fn load_or_create(
        blobs: &dyn BlobStore,
        candidate: [u8; HASH_KEY_BYTES],
    ) -> Result<Self, BlobStoreError> {
        let location = key_location();
        for _ in 0..2 {
            if let Some(stored) = blobs.get(&location).await? {
                let key = hex::decode(stored.bytes.trim_ascii()).map_err(|error| {
                    BlobStoreError::storage(
                        anyhow::Error::new(error).context(format!("{location} is not a hex key")),
                    )
                })?;
                return Ok(Self { key });
            }
            let text = Bytes::from(hex::encode(candidate));
            match blobs.put(&location, text, PutCondition::IfAbsent).await {
                Ok(_) => return Ok(Self::with_key(&candidate)),
                // Another instance stored its key first: read that one.
                Err(BlobStoreError::ConditionFailed) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(BlobStoreError::storage(format!(
            "{location} could not be created or read"
        )))
    }

    pub fn hash(&self, caller: &CallerId) -> CallerHash {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac accepts any key length");
        mac.update(caller.as_e164().as_bytes());
        CallerHash(hex::encode(&mac.finalize().into_bytes()[..16]))
    }
}
