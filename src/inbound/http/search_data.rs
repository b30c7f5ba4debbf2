//! `POST /webhook/search-data`: the agent searches the caller's memories mid-call.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Serialize;

use crate::core::use_cases::MemorySearchStatus;
use crate::core::ConversationId;
use crate::inbound::http::auth::SearchDataKey;
use crate::inbound::http::body_limit::small_bodies;
use crate::inbound::http::error::ErrorBody;
use crate::inbound::http::field_text::{
    AgentIdField, CallerIdField, ConversationIdField, FieldText, QueryField, UserIdField,
};
use crate::inbound::http::serde_json_payload::WrittenJson;
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;

mod limit_number;
mod mapping;

pub use limit_number::LimitNumber;
use mapping::ValidSearch;

/// What to look for, as sent (validated later into a `SearchQuery`).
pub type QueryText = FieldText<QueryField>;

/// A memory search, sent by the agent's server tool.
#[derive(Debug, Object)]
pub struct SearchDataRequest {
    /// What to look for, in plain words.
    pub query: QueryText,
    /// The caller's phone number; fill it from `{{system__caller_id}}`.
    pub caller_id: Option<FieldText<CallerIdField>>,
    /// Accepted instead of `caller_id`.
    pub user_id: Option<FieldText<UserIdField>>,
    /// The agent asking; fill it from `{{system__agent_id}}`. Its last call with the caller is
    /// preferred in the profile.
    pub agent_id: Option<FieldText<AgentIdField>>,
    /// The conversation asking; fill it from `{{system__conversation_id}}`. Used in logs only.
    pub conversation_id: Option<FieldText<ConversationIdField>>,
    /// How many memories to return: 1 to 20, 5 when omitted.
    pub limit: Option<LimitNumber>,
}

// The answer and its parts are written with serde (see `WrittenJson`): each `#[oai]` attribute
// that changes the JSON has its `#[serde]` twin, and a test checks that both write the same.
/// The caller's profile and the memories most relevant to the query.
#[derive(Debug, Object, Serialize)]
pub struct SearchDataResponse {
    /// Whether the memories could be searched; the profile is returned either way.
    pub status: SearchStatus,
    /// What is known for certain about the caller, or null for an unknown caller.
    pub profile: Option<CallerProfile>,
    /// The caller's memories, most relevant first.
    pub memories: Vec<FoundMemory>,
}

/// Whether the memories could be searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SearchStatus {
    /// The memories were searched.
    Ok,
    /// The memory store could not be reached or refused the search; `memories` is empty.
    MemoryStoreUnavailable,
    /// The memory store did not answer in time; `memories` is empty.
    MemoryStoreTimeout,
    /// The memories were searched by their words only: the embedding model failed or did not
    /// answer within its budget, so paraphrases may be missed.
    LexicalFallback,
}

/// The caller's profile card.
#[derive(Debug, Object, Serialize)]
pub struct CallerProfile {
    /// The caller's name, when known.
    pub name: Option<String>,
    /// Data-collection field -> latest value.
    pub facts: BTreeMap<String, String>,
    /// How many earlier calls the service has learnt from.
    pub call_count: u64,
    /// When the caller first called (RFC 3339), when known.
    pub first_seen: Option<String>,
    /// When the caller last called (RFC 3339), when known.
    pub last_seen: Option<String>,
    /// The summary of the caller's last call (with this agent when there was one), when known.
    pub last_call_summary: Option<String>,
}

/// One memory.
#[derive(Debug, Object, Serialize)]
pub struct FoundMemory {
    /// What the caller said (with the agent question it answers: `Agent asked: ... Caller:
    /// ...`), a fact about them, or a call summary.
    pub content: String,
    /// `fact`, `utterance` (a caller answer and its question) or `call_summary`.
    pub kind: String,
    /// Relevance within this answer, higher is more relevant: with sentence embeddings, the
    /// similarity of meaning (cosine, up to 1) plus up to 0.1 for shared words; without, up to
    /// 0.1 for shared words. 0 for the recent memories returned to a generic request ("what did
    /// we talk about last time").
    pub score: f64,
    /// When it was learnt (RFC 3339), when known.
    pub created_at: Option<String>,
    /// The conversation it comes from, when known.
    pub conversation_id: Option<String>,
}

#[derive(ApiResponse)]
pub enum SearchDataSuccess {
    /// The profile and memories.
    #[oai(status = 200)]
    Ok(WrittenJson<SearchDataResponse>),
}

#[derive(ApiResponse)]
pub enum SearchDataError {
    /// The body is not JSON, or a field is missing or invalid; the message names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `X-Api-Key` is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The sender's address is not in `ALLOWED_SOURCE_IPS` (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The body stopped arriving for `BODY_STALL_TIMEOUT_MS` (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The body is larger than 64 KiB (`payload_too_large`). Answered by the body limit before
    /// the operation runs; listed so that the documentation shows it.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not sent as `application/json` (`unsupported_media_type`). Answered by the
    /// framework before the operation runs; listed so that the documentation shows it.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Too many failed authentications came from this address (`too_many_failures`); retry
    /// after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyFailures(
        Json<ErrorBody>,
        /// Seconds to wait before trying again.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

pub struct SearchDataApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl SearchDataApi {
    /// Search a caller's memories
    ///
    /// Add this URL to an agent as a server (webhook) tool with the `X-Api-Key` header, filling
    /// `caller_id` from `system__caller_id` so that the model cannot choose whose memories it
    /// reads. Results are always scoped to that one caller. When the memory store is down or slow
    /// the answer is still 200, with the profile, no memories and a `status` that says why.
    #[oai(
        path = "/webhook/search-data",
        method = "post",
        operation_id = "search_data",
        transform = "small_bodies"
    )]
    async fn search_data(
        &self,
        _key: SearchDataKey,
        state: Data<&Arc<AppState>>,
        request: Json<SearchDataRequest>,
    ) -> Result<SearchDataSuccess, SearchDataError> {
        let search = ValidSearch::try_from(request.0)?;
        let found = state
            .search_memories
            .search(&search.caller, &search.query, search.limit)
            .await;
        if found.status == MemorySearchStatus::Ok {
            state.ingestion.memory_store_healthy();
        }
        tracing::info!(
            caller = %search.caller,
            conversation_id = ?search.conversation.as_ref().map(ConversationId::as_str),
            status = ?found.status,
            memories = found.memories.len(),
            "memory search answered"
        );
        let answer = SearchDataResponse::new(found, search.agent.as_ref());
        let written = WrittenJson::write(&answer)
            .expect("an answer of text, numbers and maps keyed by text always writes");
        Ok(SearchDataSuccess::Ok(written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::http::serde_json_payload::same_json_both_ways;

    fn memory(kind: &str, created_at: Option<&str>) -> FoundMemory {
        FoundMemory {
            content: "Agent asked: \"When?\" Caller: Friday at 2:15\n".to_owned(),
            kind: kind.to_owned(),
            score: 0.731_250_000_000_1,
            created_at: created_at.map(str::to_owned),
            conversation_id: created_at.map(|_| "conv_1".to_owned()),
        }
    }

    #[test]
    fn serde_writes_the_answer_exactly_as_the_documented_schema_does() {
        let profile = CallerProfile {
            name: Some("Maria \"Mary\" López".to_owned()),
            facts: [("last_name", "Lopez"), ("pet", "a cat")]
                .map(|(field, value)| (field.to_owned(), value.to_owned()))
                .into(),
            call_count: 2,
            first_seen: Some("2026-01-15T09:30:00+00:00".to_owned()),
            last_seen: None,
            last_call_summary: Some("Moved her cleaning.".to_owned()),
        };
        let found = SearchDataResponse {
            status: SearchStatus::Ok,
            profile: Some(profile),
            memories: vec![
                memory("utterance", Some("2026-01-15T09:30:00+00:00")),
                memory("fact", None),
            ],
        };
        assert!(same_json_both_ways(&found));
        for status in [
            SearchStatus::MemoryStoreUnavailable,
            SearchStatus::MemoryStoreTimeout,
            SearchStatus::LexicalFallback,
        ] {
            let unknown = SearchDataResponse {
                status,
                profile: None,
                memories: Vec::new(),
            };
            assert!(same_json_both_ways(&unknown));
        }
    }
}
