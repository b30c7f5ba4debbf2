//! A finished call as the core learns from it, whatever wire format it arrived in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::core::{AgentId, ConversationId};

/// Everything ingestion needs from one finished call.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedCall {
    pub conversation_id: ConversationId,
    pub agent_id: Option<AgentId>,
    /// The raw numbers that may identify the person on the other end of the line.
    pub caller: CallerCandidates,
    /// When the call started, if the payload says.
    pub started_at: Option<DateTime<Utc>>,
    pub transcript: Vec<Turn>,
    /// Data-collection field -> value as text; fields without a value are left out.
    pub collected: BTreeMap<String, String>,
    /// The summary the platform wrote for the call, if any.
    pub summary: Option<String>,
    /// The platform reported the call as failed (it never became a conversation).
    pub failed: bool,
}

/// Data-collection values that say nothing: the model filled the field without an answer.
const EMPTY_ANSWERS: [&str; 7] = ["none", "n/a", "na", "null", "unknown", "undefined", "nil"];

impl CompletedCall {
    /// Why this call is not a conversation to learn from, if it is not: the platform says it
    /// failed, or the caller never said a word.
    pub fn not_a_conversation(&self) -> Option<&'static str> {
        if self.failed {
            return Some("the call failed");
        }
        let caller_spoke = self.transcript.iter().any(|turn| {
            turn.speaker == Speaker::User
                && turn
                    .message
                    .as_deref()
                    .is_some_and(|words| words.chars().any(char::is_alphanumeric))
        });
        (!caller_spoke).then_some("the caller said nothing")
    }

    /// Drops data-collection values that say nothing (`None`, `N/A`, `null`, `unknown`, blank...).
    pub fn drop_empty_answers(&mut self) {
        self.collected.retain(|_, value| says_something(value));
    }
}

/// Whether a data-collection value carries an answer.
pub fn says_something(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty()
        && !EMPTY_ANSWERS
            .iter()
            .any(|empty| value.eq_ignore_ascii_case(empty))
}

/// The raw phone numbers a call payload carries, unvalidated, in the order they are trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerCandidates {
    /// The other party's number as the telephony provider reported it (inbound and outbound).
    pub external_number: Option<String>,
    /// The caller id the platform exposed to the agent as a system variable.
    pub caller_id_variable: Option<String>,
    /// The platform's user id, sometimes a phone number.
    pub user_id: Option<String>,
    /// The agent's own number: never the caller, even if another field repeats it.
    pub agent_number: Option<String>,
}

/// Who spoke a transcript turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The person on the phone.
    User,
    Agent,
    /// A role this service does not know.
    Other,
}

/// One transcript turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Speaker,
    /// What was said; `None` on turns that only called tools.
    pub message: Option<String>,
    pub time_in_call_secs: u64,
}

/// Why stored call bytes could not be read as a finished call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable transcription: {0}")]
pub struct UnreadableTranscription(pub String);

/// Turns archived payload bytes into a [`CompletedCall`]. The wire format lives in an adapter;
/// the core receives this function when it is wired.
pub type ParseTranscription = fn(&[u8]) -> Result<CompletedCall, UnreadableTranscription>;
