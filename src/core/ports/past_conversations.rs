//! Conversations that already happened, read from ElevenLabs' history, for the backfill.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::core::ports::cause::{describe, BoxError};
use crate::core::{AgentId, ConversationId};

/// Which past conversations to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    /// Only this agent's conversations; every agent's when `None`.
    pub agent: Option<AgentId>,
    /// Only conversations started at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// One conversation of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastConversation {
    pub id: ConversationId,
    /// Whether the conversation is over and analysed (ElevenLabs status `done`); others have no
    /// final transcript yet.
    pub finished: bool,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastConversationPage {
    pub conversations: Vec<PastConversation>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Why past conversations could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PastConversationsError {
    /// This conversation no longer exists (deleted, or past its retention).
    #[error("the conversation does not exist")]
    NotFound,
    /// The answer cannot be read as a conversation; asking again will not help.
    #[error("the conversation cannot be read: {}", describe(.0))]
    Unreadable(#[source] BoxError),
    /// The key was refused; nothing will work until it is fixed.
    #[error("the key was refused: {}", describe(.0))]
    Rejected(#[source] BoxError),
    /// Unreachable, failing, or still rate limited after waiting; a later run may succeed.
    #[error("the conversation history is unavailable: {}", describe(.0))]
    Unavailable(#[source] BoxError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl PastConversationsError {
    /// [`PastConversationsError::Unreadable`] caused by `cause` (an error, or a message).
    pub fn unreadable(cause: impl Into<BoxError>) -> Self {
        Self::Unreadable(cause.into())
    }

    /// [`PastConversationsError::Rejected`] caused by `cause` (an error, or a message).
    pub fn rejected(cause: impl Into<BoxError>) -> Self {
        Self::Rejected(cause.into())
    }

    /// [`PastConversationsError::Unavailable`] caused by `cause` (an error, or a message).
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }
}

/// Reads past conversations.
#[cfg_attr(any(test, feature = "test-doubles"), mockall::automock)]
#[async_trait]
pub trait PastConversations: Send + Sync + 'static {
    /// The page of `filter`'s conversations that starts at `cursor` (the first page when `None`).
    ///
    /// # Errors
    /// [`PastConversationsError::Rejected`], [`PastConversationsError::Unavailable`], or
    /// [`PastConversationsError::Unreadable`] for an answer that is not a page.
    async fn page(
        &self,
        filter: &ConversationFilter,
        cursor: Option<String>,
    ) -> Result<PastConversationPage, PastConversationsError>;

    /// The conversation as the post-call webhook delivers it: a `post_call_transcription` body.
    ///
    /// # Errors
    /// [`PastConversationsError::NotFound`], [`PastConversationsError::Unreadable`],
    /// [`PastConversationsError::Rejected`] or [`PastConversationsError::Unavailable`].
    async fn transcription(
        &self,
        conversation: &ConversationId,
    ) -> Result<Bytes, PastConversationsError>;
}
