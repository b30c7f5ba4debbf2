//! What an ElevenLabs agent allows the ring-time answer to override in its configuration.
//!
//! ElevenLabs rejects a conversation whose initiation answer overrides a field the agent has not
//! allowed, so the greeting asks this port before it sends an override.

use async_trait::async_trait;

use crate::core::ports::cause::{describe, BoxError};
use crate::core::AgentId;

/// The overrides an agent accepts in the conversation-initiation answer. Only the fields the
/// service can send are listed; dynamic variables need no permission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverridePermissions {
    /// `conversation_config_override.agent.first_message` may be sent.
    pub first_message: bool,
}

/// Why an agent's settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AgentSettingsError {
    /// The workspace has no agent with this id.
    #[error("the ElevenLabs workspace has no agent with this id")]
    UnknownAgent,
    /// The API refused the key (wrong key, or a key without access to agents).
    #[error("the ElevenLabs API refused the key: {}", describe(.0))]
    Rejected(#[source] BoxError),
    /// The API could not be reached, answered too late, was rate limited or failed; a later read
    /// may succeed.
    #[error("the ElevenLabs API is unavailable: {}", describe(.0))]
    Unavailable(#[source] BoxError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl AgentSettingsError {
    /// [`AgentSettingsError::Rejected`] caused by `cause` (an error, or a message).
    pub fn rejected(cause: impl Into<BoxError>) -> Self {
        Self::Rejected(cause.into())
    }

    /// [`AgentSettingsError::Unavailable`] caused by `cause` (an error, or a message).
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }
}

/// Reads agents' settings from ElevenLabs.
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
#[async_trait]
pub trait AgentSettings: Send + Sync + 'static {
    /// The overrides `agent` accepts.
    ///
    /// # Errors
    /// - [`AgentSettingsError::UnknownAgent`] when the workspace has no such agent.
    /// - [`AgentSettingsError::Rejected`] when the API refuses the key.
    /// - [`AgentSettingsError::Unavailable`] when the API cannot answer now.
    async fn override_permissions(
        &self,
        agent: &AgentId,
    ) -> Result<OverridePermissions, AgentSettingsError>;
}
