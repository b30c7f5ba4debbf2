//! What every operation can reach: the use cases and the ports they run on.

use std::sync::Arc;

use crate::config::Secret;
use crate::core::ports::{BlobStore, Clock, IngestionScheduler, MemoryStore};
use crate::core::use_cases::{GreetCaller, SearchMemories};
use crate::inbound::http::admin::AdminOperations;
use crate::inbound::http::post_call::PostCallSettings;
use crate::metrics::Metrics;

/// Shared by all requests; operations reach it through `Data<&Arc<AppState>>`.
pub struct AppState {
    pub memory_store: Arc<dyn MemoryStore>,
    pub blob_store: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub keys: WebhookKeys,
    /// Told about every archived transcription, before post-call answers 200.
    pub ingestion: Arc<dyn IngestionScheduler>,
    pub post_call: PostCallSettings,
    pub greet_caller: GreetCaller,
    pub search_memories: SearchMemories,
    /// `None` when metrics are switched off (`METRICS_ENABLED=false`).
    pub metrics: Option<Arc<Metrics>>,
    /// Erasure and export; `None` turns the administration API off.
    pub admin: Option<AdminOperations>,
}

/// The secrets ElevenLabs presents on each webhook.
#[derive(Debug, Clone)]
pub struct WebhookKeys {
    pub post_call: Secret,
    pub client_data: Secret,
    pub search_data: Secret,
}
