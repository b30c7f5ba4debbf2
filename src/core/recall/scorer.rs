//! Fusing lexical and semantic evidence into one ranking, with a relevance cut-off.
//!
//! - A candidate is **relevant** when it shares a topic word (any word form) with the question,
//!   or when its embedding's cosine similarity with the question's reaches
//!   [`SIMILARITY_THRESHOLD`]. Nothing else is returned, so a question about something the caller
//!   never said gets no memories.
//! - Relevant candidates are ranked twice, by lexical score and by similarity (equal scores share
//!   a rank), and the two ranks are fused by reciprocal rank fusion: `score = Σ 1 / (60 + rank)`
//!   over the rankings a candidate is in. A candidate found both ways beats one found one way.
//! - Equal scores are broken by recency (newer first), then by kind (a collected fact, then an
//!   exchange, then a call summary).

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use super::words::{stem, words};
use crate::core::{MemoryHit, MemoryKind};

/// The cosine similarity from which a memory counts as being about the question without sharing
/// a word with it. Measured with all-MiniLM-L6-v2 by `scripts/similarity-threshold.py` (40
/// questions about exchanges of four trades, 14 about things never said): questions score 0.15
/// to 0.62 with the exchange that answers them (a quarter below 0.35, "drug reactions?" against
/// "allergic to penicillin" 0.29), and never-said questions at most 0.25 with any exchange. At
/// 0.28, 34 of 40 answers are reached by meaning alone (the others by their words) and every
/// never-said question finds nothing.
pub const SIMILARITY_THRESHOLD: f32 = 0.28;

/// Reciprocal rank fusion's constant: large enough that one list's first place does not drown
/// the other list's evidence.
const FUSION_CONSTANT: f64 = 60.0;

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

impl Candidate {
    fn is_relevant(&self) -> bool {
        self.lexical.is_some() || self.semantic().is_some()
    }

    fn semantic(&self) -> Option<f32> {
        self.similarity
            .filter(|similarity| *similarity >= SIMILARITY_THRESHOLD)
    }
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

/// The relevant candidates, best first, at most `limit`; each hit's `score` is its fused score.
pub fn rank(candidates: Vec<Candidate>, limit: usize) -> Vec<MemoryHit> {
    let relevant: Vec<Candidate> = candidates
        .into_iter()
        .filter(Candidate::is_relevant)
        .collect();
    let lexical_ranks = shared_ranks(relevant.iter().map(|c| c.lexical));
    let semantic_ranks = shared_ranks(relevant.iter().map(|c| c.semantic().map(f64::from)));
    let mut fused: Vec<MemoryHit> = relevant
        .into_iter()
        .zip(lexical_ranks.into_iter().zip(semantic_ranks))
        .map(|(candidate, ranks)| {
            let score = [ranks.0, ranks.1]
                .into_iter()
                .flatten()
                .map(|rank| 1.0 / (FUSION_CONSTANT + rank as f64))
                .sum();
            MemoryHit {
                score,
                ..candidate.hit
            }
        })
        .collect();
    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| newest_first(a, b))
            .then_with(|| kind_order(a.kind).cmp(&kind_order(b.kind)))
    });
    fused.truncate(limit);
    fused
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

/// The 1-based rank of each score among the present ones, higher first; equal scores share a
/// rank, and the next distinct score takes the next rank.
fn shared_ranks(scores: impl Iterator<Item = Option<f64>>) -> Vec<Option<usize>> {
    let scores: Vec<Option<f64>> = scores.collect();
    let mut distinct: Vec<f64> = scores.iter().flatten().copied().collect();
    distinct.sort_by(|a, b| b.total_cmp(a));
    distinct.dedup();
    scores
        .iter()
        .map(|score| {
            score.map(|score| {
                distinct.partition_point(|other| other.total_cmp(&score) == Ordering::Greater) + 1
            })
        })
        .collect()
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
