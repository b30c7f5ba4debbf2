//! What every operation can reach: the use cases and the ports they run on.

use std::sync::Arc;

use crate::config::Secret;
use crate::core::ports::{BlobStore, Clock, MemoryStore};

/// Shared by all requests; operations reach it through `Data<&Arc<AppState>>`.
pub struct AppState {
    pub memory_store: Arc<dyn MemoryStore>,
    pub blob_store: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub keys: WebhookKeys,
}

/// The secrets ElevenLabs presents on each webhook.
#[derive(Debug, Clone)]
pub struct WebhookKeys {
    pub post_call: Secret,
    pub client_data: Secret,
    pub search_data: Secret,
}
