//! Combining lexical and semantic evidence into one ranking, with a relevance cut-off.
//!
//! - With the question's embedding, a candidate's **score** is its similarity above chance plus
//!   a lexical bonus. Similarity above chance is the cosine similarity with the question
//!   rescaled so that the model's chance similarity (what it gives unrelated texts, measured at
//!   start, [`super::chance_similarity`]) is 0 and identical texts are 1: `(cosine - chance) /
//!   (1 - chance)`, so the same thresholds serve models that spread similarities differently.
//!   The bonus is [`LEXICAL_WEIGHT`] times its lexical score relative to the best lexical score
//!   among the candidates. Meaning decides; sharing the question's rarest words breaks the
//!   near-ties between memories about the same subject.
//! - The question is **answered** when its best candidate scores at least
//!   [`RELEVANCE_THRESHOLD`]; the best candidates scoring at least [`RELATED_SCORE`] are then
//!   returned, at most `limit`. Otherwise nothing is returned, so a question about something the
//!   caller never said gets no memories.
//! - Without the question's embedding (no embedder, or it ran out of time), a candidate that
//!   shares a topic word (any word form) is relevant and the lexical score alone ranks; a memory
//!   stored without a vector is judged the same way.
//! - Equal scores are broken by recency (newer first), then by kind (a collected fact, then an
//!   exchange, then a call summary).

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use super::words::{stem, words};
use crate::core::{MemoryHit, MemoryKind};

/// The score from which a question counts as being about something the caller said. Measured
/// with all-MiniLM-L6-v2 on the evaluation set (`eval/recall/`), callers split by position: the
/// cosine similarity that keeps the answer within reach for 85 % of the answerable questions of
/// one half is 0.31 (even callers) or 0.26 (odd callers). At a cosine of 0.30 (0.24 above that
/// model's chance similarity of 0.08) the other half loses a seventh of its answers, and about a
/// third of its never-said questions get no memory: sentence similarity alone separates "never
/// said" from "said in other words" only that far (README, "Recall").
pub const RELEVANCE_THRESHOLD: f64 = 0.24;

/// Once a question is answered, the other candidates returned with the best one score at least
/// this: memories on the same subject, not the caller's other topics (a cosine of 0.20 with
/// all-MiniLM-L6-v2). On the evaluation set no answer scores below it.
pub const RELATED_SCORE: f64 = 0.13;

/// How much sharing the question's words adds at most to a similarity above chance (0.1 of a
/// cosine with all-MiniLM-L6-v2).
const LEXICAL_WEIGHT: f64 = 0.11;

/// One memory a store found, with the evidence it has for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub hit: MemoryHit,
    /// Lexical relevance, higher is better; `None` when the memory shares no topic word with the
    /// question.
    pub lexical: Option<f64>,
    /// Cosine similarity of the memory's and the question's embeddings; `None` when either has
    /// none (no embedder, another model, or the query embedding ran out of time).
    pub similarity: Option<f32>,
}

/// A memory's lexical score and similarity, as [`Candidate`] takes them.
pub type Evidence = (Option<f64>, Option<f32>);

/// Adds the similarities of a store's memories (`similar`, most similar first) to the evidence
/// it has from its lexical index: the `candidates` most similar memories join, and every memory
/// already found by its words gets its similarity whatever its place.
pub fn add_similar<Id: Hash + Eq>(
    evidence: &mut HashMap<Id, Evidence>,
    similar: Vec<(Id, f32)>,
    candidates: usize,
) {
    for (index, (id, similarity)) in similar.into_iter().enumerate() {
        let entry = evidence.entry(id);
        if index < candidates || matches!(entry, Entry::Occupied(_)) {
            entry.or_default().1 = Some(similarity);
        }
    }
}

/// The candidates to return, best first, at most `limit`; each hit's `score` is its score
/// (see the module's documentation), its similarity taken above `chance`. Empty when the
/// question is about nothing the caller said.
pub fn rank(candidates: Vec<Candidate>, chance: f32, limit: usize) -> Vec<MemoryHit> {
    let above_chance = |similarity: f32| {
        f64::from(similarity - chance) / f64::from(1.0 - chance).max(f64::from(f32::EPSILON))
    };
    let best_lexical = candidates
        .iter()
        .filter_map(|candidate| candidate.lexical)
        .fold(0.0, f64::max);
    let lexical_bonus = |lexical: Option<f64>| match lexical {
        Some(lexical) if best_lexical > 0.0 => LEXICAL_WEIGHT * lexical / best_lexical,
        _ => 0.0,
    };
    let mut answered = false;
    let mut scored: Vec<MemoryHit> = candidates
        .into_iter()
        .filter_map(|candidate| {
            let bonus = lexical_bonus(candidate.lexical);
            let score = match candidate.similarity {
                Some(similarity) => {
                    let score = above_chance(similarity) + bonus;
                    answered |= score >= RELEVANCE_THRESHOLD;
                    (score >= RELATED_SCORE).then_some(score)?
                }
                // Judged by its words only: relevant when it shares one.
                None => {
                    answered |= candidate.lexical.is_some();
                    candidate.lexical.map(|_| bonus)?
                }
            };
            Some(MemoryHit {
                score,
                ..candidate.hit
            })
        })
        .collect();
    if !answered {
        return Vec::new();
    }
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| newest_first(a, b))
            .then_with(|| kind_order(a.kind).cmp(&kind_order(b.kind)))
    });
    scored.truncate(limit);
    scored
}

/// Context for a generic request: the most recent call's summary first, then the most recent
/// memories, at most `limit`; scores are 0 (no question to be relevant to).
pub fn recent_context(mut hits: Vec<MemoryHit>, limit: usize) -> Vec<MemoryHit> {
    hits.sort_by(|a, b| {
        newest_first(a, b).then_with(|| kind_order(a.kind).cmp(&kind_order(b.kind)))
    });
    let last_call = hits.first().and_then(|hit| hit.conversation_id.clone());
    let summary = hits
        .iter()
        .position(|hit| hit.kind == MemoryKind::CallSummary && hit.conversation_id == last_call);
    if let Some(summary) = summary {
        let summary = hits.remove(summary);
        hits.insert(0, summary);
    }
    hits.truncate(limit);
    for hit in &mut hits {
        hit.score = 0.0;
    }
    hits
}

/// A lexical score for stores without a full-text index: how many of the question's topic
/// words appear in `content`, any word form; `None` when none does.
pub fn word_overlap(topic_words: &[String], content: &str) -> Option<f64> {
    let stems: HashSet<String> = words(content).map(|word| stem(&word)).collect();
    let shared = topic_words
        .iter()
        .filter(|word| stems.contains(&stem(word)))
        .count();
    (shared > 0).then_some(shared as f64)
}

fn newest_first(a: &MemoryHit, b: &MemoryHit) -> Ordering {
    b.created_at.cmp(&a.created_at)
}

/// Collected facts are checked values, exchanges are the caller's words, summaries paraphrase
/// them.
fn kind_order(kind: MemoryKind) -> u8 {
    match kind {
        MemoryKind::Fact => 0,
        MemoryKind::Utterance => 1,
        MemoryKind::CallSummary => 2,
    }
}

#[cfg(test)]
mod tests;
