//! Between the search-data wire types and the domain: request validation and the answer.

use poem_openapi::payload::Json;

use crate::core::use_cases::greet_caller::last_call_summary;
use crate::core::use_cases::{MemorySearch, MemorySearchStatus};
use crate::core::{
    AgentId, CallerId, ConversationId, MemoryHit, ProfileCard, SearchLimit, SearchQuery,
};
use crate::inbound::http::error::ErrorBody;
use crate::inbound::http::search_data::{
    CallerProfile, FoundMemory, SearchDataError, SearchDataRequest, SearchDataResponse,
    SearchStatus,
};

/// A search request whose every field is usable.
pub struct ValidSearch {
    pub caller: CallerId,
    pub query: SearchQuery,
    pub limit: SearchLimit,
    pub agent: Option<AgentId>,
    pub conversation: Option<ConversationId>,
}

/// A request field that cannot be used, and why.
struct InvalidField {
    field: &'static str,
    problem: String,
}

impl InvalidField {
    fn new(field: &'static str, problem: impl ToString) -> Self {
        Self {
            field,
            problem: problem.to_string(),
        }
    }
}

impl From<InvalidField> for SearchDataError {
    fn from(invalid: InvalidField) -> Self {
        let message = format!("{}: {}", invalid.field, invalid.problem);
        SearchDataError::BadRequest(Json(ErrorBody::new("invalid_request", message)))
    }
}

impl TryFrom<SearchDataRequest> for ValidSearch {
    type Error = SearchDataError;

    fn try_from(request: SearchDataRequest) -> Result<Self, Self::Error> {
        let query =
            SearchQuery::parse(&request.query).map_err(|e| InvalidField::new("query", e))?;
        let limit = match request.limit {
            Some(limit) => SearchLimit::new(limit.0).map_err(|e| InvalidField::new("limit", e))?,
            None => SearchLimit::DEFAULT,
        };
        Ok(Self {
            caller: caller(request.caller_id.as_deref(), request.user_id.as_deref())?,
            query,
            limit,
            agent: optional_id("agent_id", request.agent_id.as_deref(), AgentId::parse)?,
            conversation: optional_id(
                "conversation_id",
                request.conversation_id.as_deref(),
                ConversationId::parse,
            )?,
        })
    }
}

/// `caller_id`, or its alias `user_id`; when both are sent they must name the same caller.
fn caller(caller_id: Option<&str>, user_id: Option<&str>) -> Result<CallerId, InvalidField> {
    let parse = |field, raw: &str| CallerId::parse(raw).map_err(|e| InvalidField::new(field, e));
    match (caller_id, user_id) {
        (Some(caller_id), None) => parse("caller_id", caller_id),
        (None, Some(user_id)) => parse("user_id", user_id),
        (Some(caller_id), Some(user_id)) => {
            let caller = parse("caller_id", caller_id)?;
            if parse("user_id", user_id)? != caller {
                return Err(InvalidField::new(
                    "user_id",
                    "names a different caller than caller_id; send one of them",
                ));
            }
            Ok(caller)
        }
        (None, None) => Err(InvalidField::new(
            "caller_id",
            "the caller's phone number is required (or user_id)",
        )),
    }
}

/// An optional identifier: absent or empty means not given; anything else must be valid.
fn optional_id<T, E: ToString>(
    field: &'static str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, InvalidField> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => parse(raw)
            .map(Some)
            .map_err(|e| InvalidField::new(field, e)),
    }
}

impl SearchDataResponse {
    pub fn new(found: MemorySearch, agent: Option<&AgentId>) -> Self {
        Self {
            status: found.status.into(),
            profile: found.profile.map(|card| CallerProfile::new(card, agent)),
            memories: found.memories.into_iter().map(FoundMemory::from).collect(),
        }
    }
}

impl From<MemorySearchStatus> for SearchStatus {
    fn from(status: MemorySearchStatus) -> Self {
        match status {
            MemorySearchStatus::Ok => SearchStatus::Ok,
            MemorySearchStatus::MemoryStoreUnavailable => SearchStatus::MemoryStoreUnavailable,
            MemorySearchStatus::MemoryStoreTimeout => SearchStatus::MemoryStoreTimeout,
            MemorySearchStatus::LexicalFallback => SearchStatus::LexicalFallback,
        }
    }
}

impl CallerProfile {
    fn new(card: ProfileCard, agent: Option<&AgentId>) -> Self {
        Self {
            last_call_summary: last_call_summary(&card, agent).map(str::to_owned),
            name: card.name,
            facts: card.facts,
            call_count: card.call_count,
            first_seen: card.first_seen.map(|at| at.to_rfc3339()),
            last_seen: card.last_seen.map(|at| at.to_rfc3339()),
        }
    }
}

impl From<MemoryHit> for FoundMemory {
    fn from(hit: MemoryHit) -> Self {
        Self {
            content: hit.content,
            kind: hit.kind.as_str().to_owned(),
            score: hit.score,
            created_at: hit.created_at.map(|at| at.to_rfc3339()),
            conversation_id: hit.conversation_id.map(|id| id.as_str().to_owned()),
        }
    }
}
