//! OpenMemory's JSON, as the legacy servers send and accept it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::{ConversationId, MemoryHit, MemoryKind};

/// `POST /memory/add`. `salience` and `decay_lambda` are ignored by every server release
/// (exchanges-legacy/l06, l07) but sent so that a server that honours them gets them.
#[derive(Debug, Serialize)]
pub(super) struct AddRequest<'a> {
    pub content: &'a str,
    pub tags: Vec<String>,
    pub metadata: MemoryMetadata,
    pub user_id: &'a str,
    pub salience: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decay_lambda: Option<f64>,
}

/// What the service keeps about a memory beside its content. Query matches never carry it; a
/// scoped `GET /memory/:id` does (exchanges-legacy/l33).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct MemoryMetadata {
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub conversation_id: String,
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub occurred_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_call_secs: Option<u64>,
}

impl MemoryMetadata {
    /// Metadata is whatever the writer sent, so it is read leniently.
    fn read(stored: &serde_json::Value) -> Self {
        serde_json::from_value(stored.clone()).unwrap_or_default()
    }

    /// Gives `hit` the kind, conversation and time this metadata records; the server's own
    /// creation time (ms) stands in for a missing time.
    pub fn describe(&self, hit: &mut MemoryHit, created_at_ms: Option<i64>) {
        if let Some(kind) = MemoryKind::from_name(&self.kind) {
            hit.kind = kind;
        }
        hit.conversation_id = ConversationId::parse(&self.conversation_id).ok();
        hit.created_at = DateTime::parse_from_rfc3339(&self.occurred_at)
            .map(|time| time.with_timezone(&Utc))
            .ok()
            .or_else(|| created_at_ms.and_then(DateTime::from_timestamp_millis));
    }
}

/// exchanges-legacy/l02 (stored) and l63 (`deduplicated: true`, another memory's id).
#[derive(Debug, Deserialize)]
pub(super) struct AddResponse {
    pub id: String,
    #[serde(default)]
    pub deduplicated: bool,
}

/// `POST /memory/query`, scoped twice: `filters.user_id` wins on legacy servers
/// (exchanges-legacy/l12), the top-level one is there for servers that only read that.
#[derive(Debug, Serialize)]
pub(super) struct QueryRequest<'a> {
    pub query: &'a str,
    pub k: usize,
    pub filters: QueryFilters<'a>,
    pub user_id: &'a str,
}

#[derive(Debug, Serialize)]
pub(super) struct QueryFilters<'a> {
    pub user_id: &'a str,
}

#[derive(Debug, Deserialize)]
pub(super) struct QueryResponse {
    #[serde(default)]
    pub matches: Vec<QueryMatch>,
}

/// exchanges-legacy/l09: no tags, metadata or creation time.
#[derive(Debug, Deserialize)]
pub(super) struct QueryMatch {
    pub id: String,
    pub content: String,
    #[serde(default)]
    pub score: f64,
}

/// `GET /memory/:id?user_id=` (exchanges-legacy/l33). Metadata is whatever the writer sent, so
/// it is read leniently.
#[derive(Debug, Deserialize)]
pub(super) struct StoredMemory {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    #[serde(default)]
    pub created_at: Option<i64>,
}

impl StoredMemory {
    pub fn metadata(&self) -> MemoryMetadata {
        MemoryMetadata::read(&self.metadata)
    }
}

/// `GET /users/:id/memories` (exchanges-legacy/l25): the caller's memories, newest first.
#[derive(Debug, Deserialize)]
pub(super) struct UserMemories {
    #[serde(default)]
    pub items: Vec<StoredMemory>,
}

/// Error bodies: `{"error": "..."}` on auth and tenant errors, `{"err": "..."}` elsewhere.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub err: Option<String>,
}

impl ErrorBody {
    pub fn code(&self) -> Option<&str> {
        self.error.as_deref().or(self.err.as_deref())
    }
}
