//! The memories one finished call produces.

mod exchanges;

use chrono::{DateTime, Utc};

use crate::core::{CallerId, CompletedCall, Decay, MemoryKind, NewMemory, TurnPosition};
use exchanges::exchanges_of;

/// Facts must not be forgotten; a summary matters more than a single exchange.
const FACT_SALIENCE: f32 = 1.0;
const SUMMARY_SALIENCE: f32 = 0.7;
const UTTERANCE_SALIENCE: f32 = 0.5;

/// Every memory of `call`, most important first: the collected facts, the call summary, then each
/// exchange worth keeping (a caller answer with the agent turn it answers, see [`exchanges`]).
/// Each has a key that is stable across deliveries and replays (`fact-{field}`, `summary`,
/// `exchange-{index of the answer's first turn}`), so a repeat is recognisable.
pub(super) fn memories_of(
    call: &CompletedCall,
    caller: &CallerId,
    occurred_at: DateTime<Utc>,
) -> Vec<NewMemory> {
    let memory = |key: String, content: String, kind: MemoryKind, salience: f32| NewMemory {
        caller: caller.clone(),
        content,
        kind,
        agent_id: call.agent_id.clone(),
        conversation_id: call.conversation_id.clone(),
        key,
        tags: Vec::new(),
        salience,
        decay: if kind == MemoryKind::Fact {
            Decay::Never
        } else {
            Decay::Default
        },
        turn: None,
        occurred_at,
    };
    let facts = call.collected.iter().map(|(field, value)| {
        memory(
            format!("fact-{field}"),
            format!("{field}: {value}"),
            MemoryKind::Fact,
            FACT_SALIENCE,
        )
    });
    let summary = call.summary.iter().map(|summary| {
        memory(
            "summary".to_owned(),
            summary.clone(),
            MemoryKind::CallSummary,
            SUMMARY_SALIENCE,
        )
    });
    let exchanges = exchanges_of(&call.transcript)
        .into_iter()
        .map(|exchange| NewMemory {
            turn: Some(TurnPosition {
                index: exchange.first_turn,
                time_in_call_secs: exchange.time_in_call_secs,
            }),
            ..memory(
                format!("exchange-{}", exchange.first_turn),
                exchange.content,
                MemoryKind::Utterance,
                UTTERANCE_SALIENCE,
            )
        });
    facts.chain(summary).chain(exchanges).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::elevenlabs::parse_transcription;

    const FIXTURE: &str = include_str!("../../../../payloads/post_call_transcription.json");

    #[test]
    fn the_documented_call_yields_its_facts_summary_and_exchanges_without_filler() {
        let call = parse_transcription(FIXTURE.as_bytes()).unwrap();
        let caller = CallerId::parse("+14155550123").unwrap();
        let at = call.started_at.unwrap();

        let memories = memories_of(&call, &caller, at);

        let listed: Vec<(&str, MemoryKind, &str)> = memories
            .iter()
            .map(|m| (m.key.as_str(), m.kind, m.content.as_str()))
            .collect();
        assert_eq!(
            listed[..2],
            [
                ("fact-first_name", MemoryKind::Fact, "first_name: Maria"),
                ("fact-last_name", MemoryKind::Fact, "last_name: Lopez"),
            ]
        );
        assert_eq!(listed[2].0, "summary");
        assert_eq!(listed[2].1, MemoryKind::CallSummary);
        let exchanges: Vec<&str> = listed[3..].iter().map(|(key, _, _)| *key).collect();
        // The last caller turn, "No, that's all. Thanks!", is a goodbye.
        assert_eq!(exchanges, ["exchange-1", "exchange-3", "exchange-5"]);
        assert_eq!(
            listed[5].2,
            "Agent asked: I have Friday the 23rd at 10:30 in the morning or 2:15 in the \
             afternoon. Which works better? Caller: 2:15 works for me."
        );
        assert_eq!(
            memories[4].turn,
            Some(TurnPosition {
                index: 3,
                time_in_call_secs: 11
            })
        );
        assert!(memories.iter().all(|m| m.caller == caller
            && m.conversation_id == call.conversation_id
            && m.agent_id == call.agent_id
            && m.occurred_at == at));
    }

    #[test]
    fn facts_never_fade_and_outrank_everything_else() {
        let call = parse_transcription(FIXTURE.as_bytes()).unwrap();
        let caller = CallerId::parse("+14155550123").unwrap();

        let memories = memories_of(&call, &caller, Utc::now());

        for memory in &memories {
            let is_fact = memory.kind == MemoryKind::Fact;
            assert_eq!(memory.decay == Decay::Never, is_fact, "{}", memory.key);
            assert_eq!(memory.salience == FACT_SALIENCE, is_fact, "{}", memory.key);
        }
    }
}
