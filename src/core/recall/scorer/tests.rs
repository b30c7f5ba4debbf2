use chrono::{TimeZone, Utc};

use super::*;
use crate::core::ConversationId;

fn hit(content: &str, kind: MemoryKind, minute: u32, conversation: &str) -> MemoryHit {
    MemoryHit {
        content: content.to_owned(),
        kind,
        score: 0.0,
        created_at: Some(Utc.with_ymd_and_hms(2026, 1, 5, 10, minute, 0).unwrap()),
        conversation_id: ConversationId::parse(conversation).ok(),
    }
}

fn candidate(content: &str, lexical: Option<f64>, similarity: Option<f32>) -> Candidate {
    Candidate {
        hit: hit(content, MemoryKind::Utterance, 1, "conv_1"),
        lexical,
        similarity,
    }
}

fn contents(hits: &[MemoryHit]) -> Vec<&str> {
    hits.iter().map(|hit| hit.content.as_str()).collect()
}

#[test]
fn a_memory_found_both_ways_beats_one_found_one_way() {
    let ranked = rank(
        vec![
            candidate("best words only", Some(9.0), Some(0.1)),
            candidate("meaning only", None, Some(0.9)),
            candidate("both", Some(4.0), Some(0.6)),
        ],
        5,
    );
    assert_eq!(contents(&ranked)[0], "both");
    assert_eq!(ranked.len(), 3);
    assert!(ranked.windows(2).all(|pair| pair[0].score >= pair[1].score));
}

#[test]
fn nothing_relevant_means_nothing_returned() {
    let ranked = rank(
        vec![
            candidate("unrelated", None, Some(SIMILARITY_THRESHOLD - 0.01)),
            candidate("no embedding", None, None),
        ],
        5,
    );
    assert!(ranked.is_empty());
    let kept = rank(
        vec![candidate("close", None, Some(SIMILARITY_THRESHOLD))],
        5,
    );
    assert_eq!(contents(&kept), ["close"]);
}

#[test]
fn equal_scores_go_to_the_newer_memory_then_to_facts() {
    let older = Candidate {
        hit: hit("older", MemoryKind::Fact, 1, "conv_1"),
        ..candidate("", Some(1.0), None)
    };
    let newer = Candidate {
        hit: hit("newer", MemoryKind::CallSummary, 2, "conv_2"),
        ..candidate("", Some(1.0), None)
    };
    let fact = Candidate {
        hit: hit("fact", MemoryKind::Fact, 2, "conv_2"),
        ..candidate("", Some(1.0), None)
    };
    let ranked = rank(vec![older, newer, fact], 5);
    assert_eq!(contents(&ranked), ["fact", "newer", "older"]);
}

#[test]
fn the_limit_is_honoured() {
    let many = (0..10)
        .map(|n| candidate(&format!("m{n}"), Some(f64::from(n)), None))
        .collect();
    let ranked = rank(many, 3);
    assert_eq!(contents(&ranked), ["m9", "m8", "m7"]);
}

#[test]
fn a_generic_request_gets_the_last_calls_summary_first_then_recent_memories() {
    let hits = vec![
        hit("old summary", MemoryKind::CallSummary, 1, "conv_1"),
        hit("old words", MemoryKind::Utterance, 2, "conv_1"),
        hit("new words", MemoryKind::Utterance, 5, "conv_2"),
        hit("new summary", MemoryKind::CallSummary, 4, "conv_2"),
        hit("newer words", MemoryKind::Utterance, 6, "conv_2"),
    ];
    let context = recent_context(hits, 3);
    assert_eq!(
        contents(&context),
        ["new summary", "newer words", "new words"]
    );
}

#[test]
fn word_overlap_counts_topic_words_in_any_form() {
    let topic = vec!["cancellation".to_owned(), "fee".to_owned()];
    assert_eq!(
        word_overlap(&topic, "I cancelled, is there a fee?"),
        Some(2.0)
    );
    assert_eq!(word_overlap(&topic, "Booked for Friday"), None);
}
