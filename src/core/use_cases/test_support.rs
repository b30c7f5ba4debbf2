//! Shared set-up for the use-case unit tests.

use std::sync::Arc;

use crate::core::ports::{BlobStore, PutCondition};
use crate::core::{CallerId, ProfileCard};
use crate::test_doubles::InMemoryBlobStore;

pub fn maria() -> CallerId {
    CallerId::parse("+14155550123").unwrap()
}

pub fn juan() -> CallerId {
    CallerId::parse("+34911234567").unwrap()
}

/// A blob store holding `card` as `caller`'s profile card.
pub async fn store_with_card(caller: &CallerId, card: &ProfileCard) -> Arc<InMemoryBlobStore> {
    let store = Arc::new(InMemoryBlobStore::new());
    let json = serde_json::to_vec(card).unwrap();
    store
        .put(
            &ProfileCard::storage_key(caller),
            json.into(),
            PutCondition::Overwrite,
        )
        .await
        .unwrap();
    store
}
