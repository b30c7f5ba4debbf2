//! Reading a caller's profile card, shared by the greeting and the search.

use std::time::Duration;

use crate::core::ports::{Blob, BlobStore, BlobStoreError, CallerMemo};
use crate::core::use_cases::card_memo::CardMemo;
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

/// Cards already decoded, by caller, for the version of the card they were decoded from: a
/// caller's card is read at each of their searches, and decoding it (its dates included) costs
/// more than the rest of reading it. A new version (any write changes it) is decoded afresh.
/// Only cards of at most [`MAX_KEPT_CARD_BYTES`] as stored are kept, so that the memo's size is
/// bounded by its capacity. Forgotten with the caller.
pub struct DecodedCards(CardMemo<ProfileCard>);

/// The largest card, as stored, that [`DecodedCards`] keeps; a card is normally well under it.
const MAX_KEPT_CARD_BYTES: usize = 8 * 1024;

impl DecodedCards {
    /// Keeps the cards of at most `capacity` callers.
    pub fn new(capacity: usize) -> Self {
        Self(CardMemo::new(capacity))
    }

    /// Reads `caller`'s card; `None` when the caller has no card yet.
    pub async fn read(
        &self,
        profiles: &dyn BlobStore,
        caller: &CallerId,
        deadline: Duration,
    ) -> Result<Option<ProfileCard>, ReadProfileError> {
        let start = self.0.read_start();
        let Some(blob) = read_profile_blob(profiles, caller, deadline).await? else {
            return Ok(None);
        };
        if let Some(card) = self
            .0
            .find(caller, &blob.version, |card| Some(card.clone()))
        {
            return Ok(Some(card));
        }
        let card = ProfileCard::decode(&blob.bytes)?;
        if blob.bytes.len() <= MAX_KEPT_CARD_BYTES {
            self.0
                .keep(start, caller, &blob.version, |kept| *kept = card.clone());
        }
        Ok(Some(card))
    }

    /// Whether a card of `caller` is kept.
    #[cfg(test)]
    pub(super) fn holds(&self, caller: &CallerId) -> bool {
        self.0.holds(caller)
    }
}

impl CallerMemo for DecodedCards {
    fn forget(&self, caller: &CallerId) {
        self.0.forget(caller);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;

    use super::*;
    use crate::core::ports::{BlobVersion, MockBlobStore};
    use crate::core::use_cases::test_support::maria;

    const DEADLINE: Duration = Duration::from_secs(5);

    fn named(name: &str) -> Bytes {
        let card = ProfileCard {
            name: Some(name.to_owned()),
            ..ProfileCard::default()
        };
        serde_json::to_vec(&card).unwrap().into()
    }

    /// A store whose card is given by each read in turn, with its version.
    fn store_answering(reads: Vec<(&'static str, Bytes)>) -> MockBlobStore {
        let next = AtomicUsize::new(0);
        let mut store = MockBlobStore::new();
        store.expect_get().returning(move |_| {
            let (version, bytes) = reads[next.fetch_add(1, Ordering::Relaxed)].clone();
            Ok(Some(Blob {
                bytes,
                version: BlobVersion(version.to_owned()),
            }))
        });
        store
    }

    async fn name_read(cards: &DecodedCards, store: &MockBlobStore) -> Option<String> {
        let card = cards.read(store, &maria(), DEADLINE).await.unwrap();
        card.and_then(|card| card.name)
    }

    #[tokio::test]
    async fn a_card_is_decoded_once_per_version() {
        let store = store_answering(vec![
            ("v1", named("Maria")),
            // The same version is not decoded again, whatever the store hands back.
            ("v1", Bytes::from_static(b"not a card")),
            ("v2", named("Mary")),
        ]);
        let cards = DecodedCards::new(8);
        for expected in ["Maria", "Maria", "Mary"] {
            assert_eq!(name_read(&cards, &store).await.as_deref(), Some(expected));
        }
    }

    #[tokio::test]
    async fn a_large_card_is_decoded_at_each_read() {
        let mut large = ProfileCard {
            name: Some("Maria".to_owned()),
            ..ProfileCard::default()
        };
        large
            .facts
            .insert("notes".to_owned(), "x".repeat(MAX_KEPT_CARD_BYTES));
        let large: Bytes = serde_json::to_vec(&large).unwrap().into();
        let store = store_answering(vec![("v1", large), ("v1", named("Mary"))]);
        let cards = DecodedCards::new(8);
        for expected in ["Maria", "Mary"] {
            assert_eq!(name_read(&cards, &store).await.as_deref(), Some(expected));
        }
    }
}
