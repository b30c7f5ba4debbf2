//! The core: domain types, the ports the core needs, and the use cases.
//!
//! Nothing here knows about HTTP, SQLite, files or configuration formats; adapters in
//! [`crate::inbound`] and [`crate::outbound`] translate between the outside world and these types.

mod caller_id;
mod completed_call;
mod conversation_id;
mod embedding;
pub mod exchange;
mod first_message;
mod instance_id;
mod memory;
pub mod ports;
mod profile;
pub mod recall;
pub mod redaction;
mod search_query;
pub mod use_cases;

pub use caller_id::{mask_phone_number, CallerId, InvalidCallerId};
pub use completed_call::{
    says_something, CallerCandidates, CompletedCall, ParseTranscription, Speaker, Turn,
    UnreadableTranscription,
};
pub use conversation_id::{AgentId, ConversationId, InvalidIdentifier, MAX_IDENTIFIER_LENGTH};
pub use embedding::Embedding;
pub use first_message::{FirstMessageTemplate, InvalidFirstMessageTemplate};
pub use instance_id::InstanceId;
pub use memory::{AddOutcome, Decay, MemoryHit, MemoryKind, NewMemory, TurnPosition};
pub use profile::{CallRecord, ProfileCard, STATE_PREFIX};
pub use search_query::{InvalidSearchLimit, InvalidSearchQuery, SearchLimit, SearchQuery};
