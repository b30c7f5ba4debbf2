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
fn meaning_decides_and_shared_words_break_near_ties() {
    let ranked = rank(
        vec![
            candidate("best words only", Some(9.0), Some(0.25)),
            candidate("meaning only", None, Some(0.52)),
            candidate("both", Some(4.5), Some(0.5)),
        ],
        0.0,
        5,
    );
    assert_eq!(
        contents(&ranked),
        ["both", "meaning only", "best words only"]
    );
    assert!((ranked[0].score - (0.5 + LEXICAL_WEIGHT * 0.5)).abs() < 1e-6);
    let clear = rank(
        vec![
            candidate("words", Some(9.0), Some(0.3)),
            candidate("meaning", None, Some(0.6)),
        ],
        0.0,
        5,
    );
    assert_eq!(contents(&clear)[0], "meaning");
}

#[test]
fn a_question_nothing_is_close_enough_to_gets_nothing() {
    let below = RELEVANCE_THRESHOLD as f32 - 0.11;
    let ranked = rank(
        vec![
            candidate("unrelated but shares a word", Some(2.0), Some(below)),
            candidate("unrelated", None, Some(below)),
            candidate("no embedding, no word", None, None),
        ],
        0.0,
        5,
    );
    assert!(ranked.is_empty(), "{ranked:?}");
    let answered = rank(
        vec![
            candidate("close", None, Some(RELEVANCE_THRESHOLD as f32 + 1e-3)),
            candidate("related", None, Some(RELATED_SCORE as f32 + 1e-3)),
            candidate("far", None, Some(0.05)),
        ],
        0.0,
        5,
    );
    assert_eq!(contents(&answered), ["close", "related"]);
}

#[test]
fn without_embeddings_a_shared_word_is_relevant_and_the_lexical_score_ranks() {
    let ranked = rank(
        vec![
            candidate("one word", Some(1.0), None),
            candidate("no word", None, None),
            candidate("two words", Some(2.0), None),
        ],
        0.0,
        5,
    );
    assert_eq!(contents(&ranked), ["two words", "one word"]);
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
    let ranked = rank(vec![older, newer, fact], 0.0, 5);
    assert_eq!(contents(&ranked), ["fact", "newer", "older"]);
}

#[test]
fn the_limit_is_honoured() {
    let many = (0..10)
        .map(|n| candidate(&format!("m{n}"), Some(f64::from(n)), None))
        .collect();
    let ranked = rank(many, 0.0, 3);
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

#[test]
fn similarities_are_judged_above_the_models_chance_similarity() {
    // A model that gives unrelated texts 0.8: 0.82 is barely above chance, 0.95 well above.
    let chance = 0.8;
    let close = 0.8 + (1.0 - 0.8) * (RELEVANCE_THRESHOLD as f32 + 0.1);
    let unrelated = rank(vec![candidate("unrelated", None, Some(0.82))], chance, 5);
    assert!(unrelated.is_empty());
    let ranked = rank(
        vec![
            candidate("unrelated", None, Some(0.82)),
            candidate("the answer", None, Some(close)),
        ],
        chance,
        5,
    );
    assert_eq!(contents(&ranked), ["the answer"]);
    assert!((ranked[0].score - (RELEVANCE_THRESHOLD + 0.1)).abs() < 1e-4);
}
