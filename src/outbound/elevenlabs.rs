//! The ElevenLabs API: agents' override permissions for the greeting (the [`AgentSettings`]
//! port), and the reads and writes of the `elevenlabs` and `backfill` commands.
//!
//! Wire names follow ElevenLabs' published API reference and its generated SDK models
//! (`GetAgentResponseModel`, `GetConvAiSettingsResponseModel`, `GetConversationsPageResponseModel`,
//! `GetConversationResponseModel`, `ToolResponseModel`, ...).

mod client;
mod conversations;

use async_trait::async_trait;
use serde_json::Value;

pub use client::{ApiError, ElevenLabsApi, RateLimitRetries};
pub use conversations::{as_transcription_webhook, ConversationPage, ConversationSummary};

use crate::core::ports::{AgentSettings, AgentSettingsError, OverridePermissions};
use crate::core::AgentId;

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
                ApiError::Rejected { .. } => AgentSettingsError::Rejected(error.to_string()),
                ApiError::RateLimited { .. } | ApiError::Unavailable(_) => {
                    AgentSettingsError::Unavailable(error.to_string())
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
