//! The caller profile card: the small structured record the greeting reads.
//!
//! The card is stored as a JSON object in the blob store, so it derives `Serialize` and
//! `Deserialize`; its JSON form is its storage format and must stay backwards compatible.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::ports::BlobKey;
use crate::core::CallerId;

/// Keys of the service's own state start with `.state/`: a conversation id cannot contain `.`, so
/// they never collide with archived payloads (`{conversation_id}/...`).
pub const STATE_PREFIX: &str = ".state/";

/// Everything the service knows for certain about one caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileCard {
    /// The latest non-null name the agent collected.
    #[serde(default)]
    pub name: Option<String>,
    /// Data-collection field -> latest non-null value, as text.
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    #[serde(default)]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// Calls counted, each conversation once.
    #[serde(default)]
    pub call_count: u64,
    #[serde(default)]
    pub last_call: Option<CallRecord>,
    /// Agent id -> the last call with that agent.
    #[serde(default)]
    pub last_call_per_agent: BTreeMap<String, CallRecord>,
    /// The most recent conversation ids already counted, newest last.
    #[serde(default)]
    pub counted_conversations: Vec<String>,
}

/// One call as the profile card remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub conversation_id: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub summary: Option<String>,
}

impl ProfileCard {
    /// Reads a stored card.
    ///
    /// # Errors
    /// When the bytes are not a card in JSON.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Where every card is stored, under [`STATE_PREFIX`].
    pub const STORAGE_PREFIX: &'static str = ".state/profiles/";

    /// Where a caller's card is stored: `.state/profiles/{digits}.json`.
    pub fn storage_key(caller: &CallerId) -> BlobKey {
        let digits = caller.as_e164().trim_start_matches('+');
        debug_assert!(Self::STORAGE_PREFIX.starts_with(STATE_PREFIX));
        BlobKey::parse_owned([Self::STORAGE_PREFIX, digits, ".json"].concat())
            .expect("an E.164 number always makes a valid key")
    }
}
