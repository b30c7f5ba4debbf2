use chrono::{TimeZone, Utc};

use crate::core::{CallerId, ConversationId, Decay, MemoryKind, NewMemory};

/// Something `caller` said in `conversation`, as ingestion would store it (on 15 January 2026).
///
/// # Panics
/// When `conversation` is not a valid conversation id.
pub fn utterance(caller: &CallerId, conversation: &str, content: &str) -> NewMemory {
    NewMemory {
        caller: caller.clone(),
        content: content.to_owned(),
        kind: MemoryKind::Utterance,
        agent_id: None,
        conversation_id: ConversationId::parse(conversation).expect("a valid conversation id"),
        key: format!("utterance-{content}"),
        tags: Vec::new(),
        salience: 0.5,
        decay: Decay::Default,
        turn: None,
        occurred_at: Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap(),
    }
}
