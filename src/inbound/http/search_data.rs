//! `POST /webhook/search-data`: the agent searches the caller's memories mid-call.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::inbound::http::auth::SearchDataKey;
use crate::inbound::http::error::ErrorBody;
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;

/// A memory search, sent by the agent's server tool.
#[derive(Debug, Object)]
pub struct SearchDataRequest {
    /// What to look for, in plain words.
    pub query: String,
    /// The caller's phone number; fill it from `{{system__caller_id}}`.
    pub caller_id: Option<String>,
    /// Accepted instead of `caller_id`.
    pub user_id: Option<String>,
    pub agent_id: Option<String>,
    pub conversation_id: Option<String>,
    /// How many memories to return: 1 to 20, 5 when omitted.
    pub limit: Option<i64>,
}

/// The caller's profile and the memories most relevant to the query.
#[derive(Debug, Object)]
pub struct SearchDataResponse {
    /// `ok`, or `memory_store_unavailable` / `memory_store_timeout` when memories could not be
    /// searched (the profile is still returned).
    pub status: String,
    /// What is known for certain about the caller, or null for an unknown caller.
    pub profile: Option<CallerProfile>,
    /// The caller's memories, most relevant first.
    pub memories: Vec<FoundMemory>,
}

/// The caller's profile card.
#[derive(Debug, Object)]
pub struct CallerProfile {
    pub name: Option<String>,
    pub facts: std::collections::BTreeMap<String, String>,
    pub call_count: u64,
    pub last_call_summary: Option<String>,
}

/// One memory.
#[derive(Debug, Object)]
pub struct FoundMemory {
    pub content: String,
    /// `fact`, `utterance` or `call_summary`.
    pub kind: String,
    /// Relevance within this answer; higher is more relevant.
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
    Ok(Json<SearchDataResponse>),
}

#[derive(ApiResponse)]
pub enum SearchDataError {
    /// A field is missing or invalid; the message names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `X-Api-Key` is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Not available in this version.
    #[oai(status = 501)]
    NotImplemented(Json<ErrorBody>),
}

pub struct SearchDataApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl SearchDataApi {
    /// Search a caller's memories
    ///
    /// Add this URL to an agent as a server (webhook) tool with the `X-Api-Key` header. Results
    /// are always scoped to the one caller named in the request.
    #[oai(
        path = "/webhook/search-data",
        method = "post",
        operation_id = "search_data"
    )]
    async fn search_data(
        &self,
        _key: SearchDataKey,
        _state: Data<&Arc<AppState>>,
        _request: Json<SearchDataRequest>,
    ) -> Result<SearchDataSuccess, SearchDataError> {
        Err(SearchDataError::NotImplemented(Json(ErrorBody::new(
            "not_implemented",
            "search-data is not available yet",
        ))))
    }
}
