//! The content marker: how a memory's kind, time and conversation survive an OpenMemory query.
//!
//! Query matches carry only `id`, `content` and scores (exchanges-legacy/l09), so every memory is
//! stored as `[cm <kind> <time> <conversation>] <content>`, for example
//! `[cm fact 20260105T101500Z conv_7f3] Name is Maria`. The marker has no `.`, `!` or `?`, so it
//! stays inside the first sentence, which the server keeps when it condenses content longer than
//! 200 characters (exchanges-legacy/l61, l62).
//!
//! A distinguished form (see `add`) appends words derived from the caller, conversation, key and
//! attempt: `[cm fact 20260105T101500Z conv_7f3 qhxbzt wmrkaa ...] Name is Maria`. They change
//! the server's token-set hash, and being derived rather than random, a repeated delivery produces
//! the same form again and is recognised as already stored.

use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

use crate::core::{ConversationId, MemoryKind, NewMemory};

const OPEN: &str = "[cm ";
const CLOSE: &str = "] ";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// Words added per distinguishing attempt; several, because one extra word rarely flips the
/// majority vote of the server's token-set hash.
const DISTINGUISHING_WORDS: usize = 6;

/// What the marker of a stored memory says.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Marker {
    pub kind: MemoryKind,
    pub occurred_at: DateTime<Utc>,
    pub conversation_id: ConversationId,
}

/// The content to send for `memory`: attempt 0 is the plain form, later attempts are
/// distinguished forms.
pub(super) fn mark(memory: &NewMemory, attempt: u32) -> String {
    let mut header = format!(
        "{OPEN}{} {} {}",
        memory.kind.as_str(),
        memory.occurred_at.format(TIME_FORMAT),
        memory.conversation_id.as_str()
    );
    if attempt > 0 {
        for word in distinguishing_words(memory, attempt) {
            header.push(' ');
            header.push_str(&word);
        }
    }
    format!("{header}{CLOSE}{}", memory.content)
}

/// Splits stored content into its marker and the original text, or `None` when the content has
/// no readable marker (stored by another client, or condensed past it).
pub(super) fn unmark(stored: &str) -> Option<(Marker, &str)> {
    let rest = stored.strip_prefix(OPEN)?;
    let (header, content) = rest.split_once(CLOSE)?;
    let mut fields = header.split(' ');
    let kind = MemoryKind::from_name(fields.next()?)?;
    let occurred_at = NaiveDateTime::parse_from_str(fields.next()?, TIME_FORMAT)
        .ok()?
        .and_utc();
    let conversation_id = ConversationId::parse(fields.next()?).ok()?;
    let marker = Marker {
        kind,
        occurred_at,
        conversation_id,
    };
    Some((marker, content))
}

fn distinguishing_words(memory: &NewMemory, attempt: u32) -> Vec<String> {
    let mut hasher = Sha256::new();
    for part in [
        memory.caller.as_e164(),
        memory.conversation_id.as_str(),
        memory.key.as_str(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(attempt.to_be_bytes());
    let digest = hasher.finalize();
    digest
        .chunks(5)
        .take(DISTINGUISHING_WORDS)
        .map(|chunk| {
            chunk
                .iter()
                .map(|byte| char::from(b'a' + byte % 26))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{CallerId, Decay};
    use chrono::TimeZone;

    fn memory(content: &str) -> NewMemory {
        NewMemory {
            caller: CallerId::parse("+14155550123").unwrap(),
            content: content.to_owned(),
            kind: MemoryKind::CallSummary,
            agent_id: None,
            conversation_id: ConversationId::parse("conv_7f3").unwrap(),
            key: "summary".to_owned(),
            tags: vec![],
            salience: 0.5,
            decay: Decay::Default,
            turn: None,
            occurred_at: Utc.with_ymd_and_hms(2026, 1, 5, 10, 15, 0).unwrap(),
        }
    }

    #[test]
    fn a_marked_memory_reads_back_with_its_kind_time_and_conversation() {
        let original = memory("Caller [asked] about ] the invoice. 🎷");
        for attempt in [0, 2] {
            let stored = mark(&original, attempt);
            let (marker, content) = unmark(&stored).unwrap();
            assert_eq!(content, original.content);
            assert_eq!(marker.kind, MemoryKind::CallSummary);
            assert_eq!(marker.occurred_at, original.occurred_at);
            assert_eq!(marker.conversation_id.as_str(), "conv_7f3");
        }
    }

    #[test]
    fn distinguished_forms_differ_per_attempt_but_repeat_exactly() {
        let original = memory("Order number is 1002");
        assert_ne!(mark(&original, 1), mark(&original, 2));
        assert_eq!(mark(&original, 1), mark(&original, 1));
        assert!(mark(&original, 0).starts_with("[cm call_summary 20260105T101500Z conv_7f3] "));
    }

    #[test]
    fn content_without_a_marker_is_not_misread() {
        assert_eq!(unmark("Caller likes jazz"), None);
        assert_eq!(unmark("[cm nonsense 2026 conv] text"), None);
    }
}
