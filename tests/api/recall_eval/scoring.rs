//! How a configuration's answers are scored: top-1 accuracy, recall@5 and MRR over the
//! answerable questions, the share of never-said questions answered with nothing, search latency
//! percentiles and the ingestion rate.

use std::time::Duration;

use serde_json::Value;

use super::set::{normalise, Answer};

/// How many memories each question asks for, as the agent's tool does by default.
pub const RESULTS_PER_QUESTION: u32 = 5;

/// The 1-based position of the first returned memory that is one of `answers`, if any.
pub fn rank_of_answer(memories: &[Value], answers: &[Answer]) -> Option<usize> {
    memories
        .iter()
        .position(|memory| answers.iter().any(|answer| answers_with(memory, answer)))
        .map(|index| index + 1)
}

/// A memory is the answer when it contains the answer's text and, when it says which call it
/// comes from, comes from the answer's call.
fn answers_with(memory: &Value, answer: &Answer) -> bool {
    let content = memory["content"]
        .as_str()
        .map(normalise)
        .unwrap_or_default();
    let same_call = memory["conversation_id"]
        .as_str()
        .is_none_or(|conversation| conversation == answer.conversation);
    same_call && content.contains(&answer.text)
}

/// What one configuration scored.
#[derive(Debug, Default)]
pub struct Scores {
    /// The rank of the answer of each answerable question (`None`: not in the results).
    pub ranks: Vec<Option<usize>>,
    /// Whether each never-said question got no memory at all.
    pub never_said_empty: Vec<bool>,
    /// The round trip of every search-data request.
    pub latencies: Vec<Duration>,
    /// Memories stored, and the time from the first delivery until ingestion finished.
    pub memories_learnt: usize,
    pub ingestion_time: Duration,
}

impl Scores {
    /// Share of answerable questions whose first memory is an answer, in percent.
    pub fn top1(&self) -> f64 {
        percent(
            self.ranks.iter().filter(|rank| **rank == Some(1)).count(),
            self.ranks.len(),
        )
    }

    /// Share of answerable questions with an answer among the results, in percent.
    pub fn recall_at_5(&self) -> f64 {
        percent(
            self.ranks.iter().filter(|rank| rank.is_some()).count(),
            self.ranks.len(),
        )
    }

    /// Mean reciprocal rank of the first answer (0 when absent).
    pub fn mrr(&self) -> f64 {
        let sum: f64 = self
            .ranks
            .iter()
            .flatten()
            .map(|rank| 1.0 / *rank as f64)
            .sum();
        sum / self.ranks.len().max(1) as f64
    }

    /// Share of never-said questions answered with no memory, in percent.
    pub fn never_said_empty(&self) -> f64 {
        percent(
            self.never_said_empty.iter().filter(|empty| **empty).count(),
            self.never_said_empty.len(),
        )
    }

    pub fn latency_percentile(&self, percentile: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let Some(last) = sorted.len().checked_sub(1) else {
            return Duration::ZERO;
        };
        sorted[((last as f64) * percentile / 100.0).round() as usize]
    }

    pub fn memories_per_second(&self) -> f64 {
        self.memories_learnt as f64 / self.ingestion_time.as_secs_f64().max(f64::EPSILON)
    }

    /// One row of the results table.
    pub fn markdown_row(&self, configuration: &str) -> String {
        format!(
            "| {configuration} | {} | {:.1} % | {:.1} % | {:.3} | {:.1} % | {:.2} ms | {:.2} ms | {:.0} /s |",
            self.ranks.len() + self.never_said_empty.len(),
            self.top1(),
            self.recall_at_5(),
            self.mrr(),
            self.never_said_empty(),
            milliseconds(self.latency_percentile(50.0)),
            milliseconds(self.latency_percentile(99.0)),
            self.memories_per_second(),
        )
    }
}

/// The header of the results table.
pub const MARKDOWN_HEADER: &str = "| configuration | questions | top-1 | recall@5 | MRR | never-said answered empty | search p50 | search p99 | ingestion (memories) |\n|---|---|---|---|---|---|---|---|---|";

/// A configuration that could not run, as a row of the table that `header` starts.
pub fn skipped_row(header: &str, configuration: &str, reason: &str) -> String {
    let columns = header
        .lines()
        .next()
        .unwrap_or_default()
        .matches('|')
        .count()
        - 1;
    format!(
        "| {configuration} | {reason} |{}",
        " |".repeat(columns.saturating_sub(2))
    )
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

pub fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn penicillin() -> Answer {
        Answer {
            conversation: "conv_eval_dental_1_1".to_owned(),
            text: normalise("Yes, I'm allergic to penicillin.  I get hives."),
        }
    }

    #[test]
    fn a_memory_that_wraps_the_callers_words_with_the_agents_question_is_the_answer() {
        let memories = [
            json!({"content": "Okay.", "conversation_id": "conv_eval_dental_1_1"}),
            json!({
                "content": "Agent asked: Any allergies?\nCaller: Yes, I'm allergic to PENICILLIN. I get hives.",
                "conversation_id": "conv_eval_dental_1_1"
            }),
        ];

        assert_eq!(rank_of_answer(&memories, &[penicillin()]), Some(2));
    }

    #[test]
    fn the_same_words_from_another_call_or_in_part_are_not_the_answer() {
        let memories = [
            json!({
                "content": "Yes, I'm allergic to penicillin. I get hives.",
                "conversation_id": "conv_eval_dental_1_2"
            }),
            json!({"content": "I'm allergic to penicillin.", "conversation_id": null}),
        ];

        assert_eq!(rank_of_answer(&memories, &[penicillin()]), None);
    }

    #[test]
    fn scores_count_first_places_answers_within_five_and_reciprocal_ranks() {
        let scores = Scores {
            ranks: vec![Some(1), Some(2), None, Some(4)],
            never_said_empty: vec![true, false],
            ..Scores::default()
        };

        assert_eq!(scores.top1(), 25.0);
        assert_eq!(scores.recall_at_5(), 75.0);
        assert!((scores.mrr() - (1.0 + 0.5 + 0.25) / 4.0).abs() < 1e-9);
        assert_eq!(scores.never_said_empty(), 50.0);
    }
}
