//! Memories: what the service learns from calls and finds again mid-call.

use chrono::{DateTime, Utc};

use crate::core::{AgentId, CallerId, ConversationId};

/// What a memory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    /// A value collected by the agent's data collection (a name, an order number...).
    Fact,
    /// Something the caller said, one transcript turn.
    Utterance,
    /// The summary ElevenLabs wrote for a whole call.
    CallSummary,
}

impl MemoryKind {
    /// The stable name used in tags, storage and the HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryKind::Fact => "fact",
            MemoryKind::Utterance => "utterance",
            MemoryKind::CallSummary => "call_summary",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fact" => Some(MemoryKind::Fact),
            "utterance" => Some(MemoryKind::Utterance),
            "call_summary" => Some(MemoryKind::CallSummary),
            _ => None,
        }
    }
}

/// How fast a memory should fade, where the store supports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// Never fades (facts).
    Never,
    /// The store's own default.
    Default,
}

/// Where a memory sits inside its call, for utterances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnPosition {
    /// Index of the turn in the transcript, starting at 0.
    pub index: usize,
    /// Seconds from the start of the call.
    pub time_in_call_secs: u64,
}

/// One memory to add to a caller's store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    pub caller: CallerId,
    pub content: String,
    pub kind: MemoryKind,
    pub agent_id: Option<AgentId>,
    pub conversation_id: ConversationId,
    /// Identifies this memory within its conversation (for example `utterance-3`), so that adding
    /// the same memory twice can be recognised.
    pub key: String,
    /// Free-form labels (the store adds caller, kind and conversation itself).
    pub tags: Vec<String>,
    /// From 0.0 (trivia) to 1.0 (must not be forgotten).
    pub salience: f32,
    pub decay: Decay,
    pub turn: Option<TurnPosition>,
    /// When the call this memory comes from took place.
    pub occurred_at: DateTime<Utc>,
}

/// What happened to an added memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored as given.
    Stored,
    /// This caller already had this exact memory (a repeated delivery); nothing new was stored.
    AlreadyStored,
    /// The store would have silently merged it with another caller's memory, so a distinguishable
    /// form was stored instead.
    StoredDistinguished,
    /// The store refused to keep it as a separate memory (for example a cross-caller
    /// deduplication that could not be avoided); the reason says why.
    NotStored { reason: String },
}

/// One memory found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryHit {
    pub content: String,
    pub kind: MemoryKind,
    /// Relevance within this result set; higher is more relevant. Not comparable across searches.
    pub score: f64,
    pub created_at: Option<DateTime<Utc>>,
    pub conversation_id: Option<ConversationId>,
}
