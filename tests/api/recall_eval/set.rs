//! The labelled evaluation set (`eval/recall/set/*.json`, format in `eval/recall/README.md`):
//! loaded, checked, and turned into the transcriptions ElevenLabs would send.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::calls::{addressed_sample, SAMPLE};

/// Which callers a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// The callers marked `"reduced": true`, for CI.
    Reduced,
    Full,
}

impl Subset {
    pub fn name(self) -> &'static str {
        match self {
            Subset::Reduced => "reduced",
            Subset::Full => "full",
        }
    }
}

/// One trade's file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TradeFile {
    trade: String,
    agent: String,
    callers: Vec<Caller>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caller {
    #[serde(default)]
    pub reduced: bool,
    #[serde(default = "english")]
    pub language: String,
    pub calls: Vec<Call>,
    pub questions: Vec<Question>,
    /// Filled in when loaded.
    #[serde(skip)]
    pub number: String,
    #[serde(skip)]
    pub trade: String,
    #[serde(skip)]
    pub agent: String,
}

fn english() -> String {
    "en".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    pub days_ago: u32,
    #[serde(default)]
    pub collected: BTreeMap<String, String>,
    pub summary: Option<String>,
    /// `[role, message]` or `[role, message, label]`; a label names a caller turn for questions.
    pub transcript: Vec<Vec<String>>,
    #[serde(skip)]
    pub conversation: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub ask: String,
    /// Turn labels, `fact:<field>` or `summary:<call number from 1>`; any of them answers.
    #[serde(default)]
    pub answers: Vec<String>,
    #[serde(default)]
    pub never_said: bool,
}

/// What a returned memory must be to answer a question: from that conversation, and containing
/// this text (a caller turn's words, `field: value`, or a summary's first sentence), compared
/// without case and with whitespace collapsed. Whatever wraps the text (the agent's question,
/// a marker) does not matter, so labels survive a change in how memories are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub conversation: String,
    pub text: String,
}

/// The callers of `subset`, with numbers and conversation ids assigned, every label checked.
pub fn load(subset: Subset) -> Vec<Caller> {
    let mut callers = Vec::new();
    for (trade_index, path) in set_files().iter().enumerate() {
        let text = std::fs::read_to_string(path).expect("a readable set file");
        let file: TradeFile = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        for (caller_index, mut caller) in file.callers.into_iter().enumerate() {
            caller.number = format!("+1555{:03}{:04}", trade_index + 100, caller_index + 1);
            caller.trade = file.trade.clone();
            caller.agent = file.agent.clone();
            for (call_index, call) in caller.calls.iter_mut().enumerate() {
                call.conversation = format!(
                    "conv_eval_{}_{}_{}",
                    file.trade,
                    caller_index + 1,
                    call_index + 1
                );
            }
            check(&caller);
            if subset == Subset::Full || caller.reduced {
                callers.push(caller);
            }
        }
    }
    callers
}

fn set_files() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/recall/set");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("the evaluation set folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// Fails naming the caller when a question's label does not resolve or a turn is malformed.
fn check(caller: &Caller) {
    let mut labels = HashSet::new();
    for call in &caller.calls {
        for turn in &call.transcript {
            let well_formed = matches!(turn.len(), 2 | 3)
                && matches!(turn[0].as_str(), "agent" | "user")
                && (turn.len() == 2 || turn[0] == "user");
            assert!(
                well_formed,
                "{} {}: bad turn {turn:?}",
                caller.trade, caller.number
            );
            if let Some(label) = turn.get(2) {
                assert!(
                    labels.insert(label.clone()),
                    "{}: label {label} twice",
                    caller.number
                );
            }
        }
    }
    for question in &caller.questions {
        assert_eq!(
            question.never_said,
            question.answers.is_empty(),
            "{} {}: a question is either answered or never said: {question:?}",
            caller.trade,
            caller.number
        );
        for label in &question.answers {
            let answer = caller.answer(label).unwrap_or_else(|| {
                panic!("{} {}: unknown answer {label}", caller.trade, caller.number)
            });
            assert!(
                answer.text.len() >= 30 || !label.starts_with("summary:"),
                "{} {}: {label} starts with a sentence too short to recognise it",
                caller.trade,
                caller.number
            );
        }
    }
}

impl Caller {
    /// The memory text that `label` names.
    pub fn answer(&self, label: &str) -> Option<Answer> {
        if let Some(field) = label.strip_prefix("fact:") {
            let call = self
                .calls
                .iter()
                .rev()
                .find(|c| c.collected.contains_key(field))?;
            let text = format!("{field}: {}", call.collected[field]);
            return Some(call.answer(text));
        }
        if let Some(number) = label.strip_prefix("summary:") {
            let call = self
                .calls
                .get(number.parse::<usize>().ok()?.checked_sub(1)?)?;
            return Some(call.answer(first_sentence(call.summary.as_deref()?)));
        }
        self.calls.iter().find_map(|call| {
            let turn = call
                .transcript
                .iter()
                .find(|t| t.get(2).map(String::as_str) == Some(label))?;
            Some(call.answer(turn[1].clone()))
        })
    }

    /// Every answer of `question`; empty for a never-said question.
    pub fn answers(&self, question: &Question) -> Vec<Answer> {
        question
            .answers
            .iter()
            .map(|label| self.answer(label).expect("checked when loaded"))
            .collect()
    }
}

impl Call {
    fn answer(&self, text: String) -> Answer {
        Answer {
            conversation: self.conversation.clone(),
            text: normalise(&text),
        }
    }

    /// The sample transcription carrying this call: its turns, its values, its summary, its
    /// start time `days_ago` days before now.
    pub fn transcription(&self, caller: &Caller) -> Value {
        let sample: Value = serde_json::from_slice(SAMPLE).expect("the sample is JSON");
        let template = |role: &str| -> Value {
            sample["data"]["transcript"]
                .as_array()
                .expect("a transcript")
                .iter()
                .find(|turn| turn["role"] == role)
                .expect("the sample has both roles")
                .clone()
        };
        let (agent_turn, user_turn) = (template("agent"), template("user"));
        let turns: Vec<Value> = self
            .transcript
            .iter()
            .enumerate()
            .map(|(index, turn)| {
                let mut wire = if turn[0] == "agent" {
                    agent_turn.clone()
                } else {
                    user_turn.clone()
                };
                wire["message"] = json!(turn[1]);
                wire["time_in_call_secs"] = json!(index * 6);
                wire
            })
            .collect();
        let started = Utc::now().timestamp() - i64::from(self.days_ago) * 86_400;
        let mut event = addressed_sample(&caller.number, &self.conversation);
        let data = &mut event["data"];
        data["agent_name"] = json!(caller.agent);
        data["transcript"] = json!(turns);
        data["metadata"]["start_time_unix_secs"] = json!(started);
        data["metadata"]["main_language"] = json!(caller.language);
        data["analysis"]["transcript_summary"] = json!(self.summary);
        data["analysis"]["data_collection_results"] = self
            .collected
            .iter()
            .map(|(field, value)| {
                (
                    field.clone(),
                    json!({"data_collection_id": field, "value": value}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        event
    }
}

/// Lower case, whitespace collapsed.
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The summary up to its first `.`, `!` or `?`: a stretch that survives OpenMemory's
/// condensation of long content, which keeps the first sentences but re-spaces words around
/// every such mark.
fn first_sentence(summary: &str) -> String {
    let end = summary.find(['.', '!', '?']).unwrap_or(summary.len());
    summary[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (callers, calls, answerable questions, never-said questions, Spanish-speaking callers)
    fn size(callers: &[Caller]) -> (usize, usize, usize, usize, usize) {
        let questions = callers.iter().flat_map(|caller| &caller.questions);
        let never_said = questions.clone().filter(|q| q.never_said).count();
        (
            callers.len(),
            callers.iter().map(|caller| caller.calls.len()).sum(),
            questions.count() - never_said,
            never_said,
            callers
                .iter()
                .filter(|caller| caller.language == "es")
                .count(),
        )
    }

    #[test]
    fn the_full_set_keeps_its_promised_size_and_every_label_resolves() {
        let (callers, calls, answerable, never_said, spanish) = size(&load(Subset::Full));

        assert!(callers >= 40, "{callers} callers");
        assert!(calls > callers, "{calls} calls");
        assert!(answerable >= 250, "{answerable} answerable questions");
        assert!(never_said >= 40, "{never_said} never-said questions");
        assert!(spanish >= 4, "{spanish} Spanish-speaking callers");
    }

    #[test]
    fn the_reduced_set_is_a_part_of_the_full_set_with_spanish_and_never_said_questions() {
        let full: Vec<String> = load(Subset::Full).into_iter().map(|c| c.number).collect();
        let reduced = load(Subset::Reduced);
        let (callers, _, answerable, never_said, spanish) = size(&reduced);

        assert!(reduced.iter().all(|caller| full.contains(&caller.number)));
        assert!((8..=15).contains(&callers), "{callers} callers");
        assert!(answerable >= 60 && never_said >= 8 && spanish >= 1);
    }
}
