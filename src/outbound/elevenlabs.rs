//! The ElevenLabs API: agents' override permissions for the greeting (the [`AgentSettings`]
//! port), and the reads and writes of the `elevenlabs` and `backfill` commands.
//!
//! Wire names follow ElevenLabs' published API reference and its generated SDK models
//! (`GetAgentResponseModel`, `GetConvAiSettingsResponseModel`, `GetConversationsPageResponseModel`,
//! `GetConversationResponseModel`, `ToolResponseModel`, ...).

mod client;
mod conversations;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

pub use client::{ApiError, ElevenLabsApi, RateLimitRetries};
pub use conversations::{as_transcription_webhook, ConversationPage, ConversationSummary};

use crate::core::ports::{
    AgentSettings, AgentSettingsError, ConversationFilter, OverridePermissions, PastConversation,
    PastConversationPage, PastConversations, PastConversationsError,
};
use crate::core::{AgentId, ConversationId};

/// Where an agent says which overrides it allows
/// (`platform_settings.overrides.conversation_config_override.agent.first_message`).
pub const FIRST_MESSAGE_OVERRIDE_POINTER: &str =
    "/platform_settings/overrides/conversation_config_override/agent/first_message";

/// Reads a boolean setting at `pointer`; a missing or non-boolean value is `false`, as
/// ElevenLabs treats an unset permission.
pub fn flag(document: &Value, pointer: &str) -> bool {
    document
        .pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[async_trait]
impl AgentSettings for ElevenLabsApi {
    async fn override_permissions(
        &self,
        agent: &AgentId,
    ) -> Result<OverridePermissions, AgentSettingsError> {
        let document = self
            .agent(agent.as_str())
            .await
            .map_err(|error| match error {
                ApiError::NotFound(_) => AgentSettingsError::UnknownAgent,
                ApiError::Rejected { .. } => AgentSettingsError::rejected(error),
                ApiError::RateLimited { .. } | ApiError::Unavailable(_) => {
                    AgentSettingsError::unavailable(error)
                }
                ApiError::Invalid { .. } | ApiError::Unreadable(_) => {
                    AgentSettingsError::Unknown(anyhow::Error::new(error))
                }
            })?;
        Ok(OverridePermissions {
            first_message: flag(&document, FIRST_MESSAGE_OVERRIDE_POINTER),
        })
    }
}

#[async_trait]
impl PastConversations for ElevenLabsApi {
    async fn page(
        &self,
        filter: &ConversationFilter,
        cursor: Option<String>,
    ) -> Result<PastConversationPage, PastConversationsError> {
        let mut query = vec![("page_size", CONVERSATIONS_PAGE_SIZE.to_string())];
        if let Some(agent) = &filter.agent {
            query.push(("agent_id", agent.to_string()));
        }
        if let Some(since) = filter.since {
            query.push(("call_start_after_unix", since.timestamp().to_string()));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        let page = self.conversations(&query).await.map_err(history_error)?;
        let page = ConversationPage::from_wire(&page).map_err(history_error)?;
        Ok(PastConversationPage {
            conversations: page
                .conversations
                .into_iter()
                .filter_map(|summary| {
                    let id = ConversationId::parse(&summary.conversation_id)
                        .inspect_err(|error| {
                            tracing::warn!(conversation_id = %summary.conversation_id, %error, "listed conversation skipped: unusable id");
                        })
                        .ok()?;
                    Some(PastConversation {
                        id,
                        finished: summary.status.as_deref() == Some(FINISHED_STATUS),
                    })
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn transcription(
        &self,
        conversation: &ConversationId,
    ) -> Result<Bytes, PastConversationsError> {
        let document = self
            .conversation(conversation.as_str())
            .await
            .map_err(history_error)?;
        if document.get("conversation_id").and_then(Value::as_str) != Some(conversation.as_str()) {
            return Err(PastConversationsError::unreadable(
                "the answer is about another conversation",
            ));
        }
        let body = serde_json::to_vec(&as_transcription_webhook(document))
            .map_err(|error| PastConversationsError::Unknown(error.into()))?;
        Ok(Bytes::from(body))
    }
}

/// The largest page the conversations API serves.
const CONVERSATIONS_PAGE_SIZE: u32 = 100;

/// The status of a conversation that is over and analysed.
const FINISHED_STATUS: &str = "done";

fn history_error(error: ApiError) -> PastConversationsError {
    match error {
        ApiError::NotFound(_) => PastConversationsError::NotFound,
        ApiError::Rejected { .. } => PastConversationsError::rejected(error),
        ApiError::RateLimited { .. } | ApiError::Unavailable(_) => {
            PastConversationsError::unavailable(error)
        }
        ApiError::Unreadable(_) => PastConversationsError::unreadable(error),
        ApiError::Invalid { .. } => PastConversationsError::Unknown(anyhow::Error::new(error)),
    }
}
