//! Question-and-answer exchanges: what the caller said, with the agent turn it answers, and
//! without filler.
//!
//! - Consecutive caller turns are one answer (the caller was interrupted or went on).
//! - The agent turn before an answer is its context, cut to its last sentences within
//!   [`CONTEXT_CHARS`] (the question usually comes last), without leading pleasantries ("Sure.",
//!   "Great."). It reads `Agent asked: <context> Caller: <answer>`, or `Agent said:` when the
//!   context is not a question, or just `Caller: <answer>` before the agent spoke.
//! - An answer is kept when it has a content word (see [`crate::core::recall::words`]): "2:15
//!   works for me." or "Yes, penicillin.". A bare yes or no is kept only when the question it
//!   answers (the agent's last sentence) names something ("Are you allergic to penicillin?"
//!   "Yes."), not after "Is there anything else?". Everything else ("Okay.", "Thank you, bye.",
//!   "No, that's all.") is filler and not stored.

use crate::core::recall::words::{content_words, is_bare_answer};
use crate::core::{Speaker, Turn};

/// At most this many characters of the agent turn are kept with an answer.
const CONTEXT_CHARS: usize = 160;

/// One exchange worth remembering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Exchange {
    /// Transcript index of the answer's first caller turn: the exchange's stable identity.
    pub first_turn: usize,
    pub time_in_call_secs: u64,
    pub content: String,
}

/// The exchanges of `transcript` worth remembering, in call order.
pub(super) fn exchanges_of(transcript: &[Turn]) -> Vec<Exchange> {
    let mut exchanges = Vec::new();
    let mut context: Option<&str> = None;
    let mut answer: Option<(usize, u64, Vec<&str>)> = None;
    for (index, turn) in transcript.iter().enumerate() {
        let Some(message) = turn.message.as_deref().map(str::trim) else {
            continue;
        };
        if message.is_empty() {
            continue;
        }
        match turn.speaker {
            Speaker::User => answer
                .get_or_insert((index, turn.time_in_call_secs, Vec::new()))
                .2
                .push(message),
            Speaker::Agent | Speaker::Other => {
                if let Some(finished) = answer.take() {
                    exchanges.extend(exchange(context, finished));
                }
                context = Some(message);
            }
        }
    }
    if let Some(finished) = answer {
        exchanges.extend(exchange(context, finished));
    }
    exchanges
}

fn exchange(
    context: Option<&str>,
    (first_turn, time_in_call_secs, parts): (usize, u64, Vec<&str>),
) -> Option<Exchange> {
    let answer = parts.join(" ");
    let context = context.map(trimmed_context).filter(|text| !text.is_empty());
    let is_question = context.as_deref().is_some_and(|text| text.ends_with('?'));
    let informative = !content_words(&answer).is_empty()
        || is_bare_answer(&answer)
            && is_question
            && context
                .as_deref()
                .and_then(|text| sentences(text).pop())
                .is_some_and(|question| !content_words(question).is_empty());
    if !informative {
        return None;
    }
    let content = match context {
        Some(context) if is_question => format!("Agent asked: {context} Caller: {answer}"),
        Some(context) => format!("Agent said: {context} Caller: {answer}"),
        None => format!("Caller: {answer}"),
    };
    Some(Exchange {
        first_turn,
        time_in_call_secs,
        content,
    })
}

/// The last sentences of an agent turn within [`CONTEXT_CHARS`], without leading sentences
/// that carry nothing; a single longer sentence keeps its last words.
fn trimmed_context(message: &str) -> String {
    let sentences = sentences(message);
    let mut kept: Vec<&str> = Vec::new();
    let mut length = 0;
    for sentence in sentences.iter().rev() {
        let added = sentence.chars().count() + usize::from(!kept.is_empty());
        if !kept.is_empty() && length + added > CONTEXT_CHARS {
            break;
        }
        kept.insert(0, sentence);
        length += added;
    }
    while kept.len() > 1 && content_words(kept[0]).is_empty() {
        kept.remove(0);
    }
    let context = kept.join(" ");
    if context.chars().count() <= CONTEXT_CHARS {
        return context;
    }
    let words: Vec<&str> = context.split_whitespace().collect();
    let mut tail: Vec<&str> = Vec::new();
    let mut length = 1;
    for word in words.iter().rev() {
        length += word.chars().count() + 1;
        if length > CONTEXT_CHARS {
            break;
        }
        tail.insert(0, word);
    }
    format!("…{}", tail.join(" "))
}

/// Sentences end at `.`, `?` or `!` followed by a space.
fn sentences(text: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut previous_ends = false;
    for (at, c) in text.char_indices() {
        if c.is_whitespace() && previous_ends {
            sentences.push(text[start..at].trim());
            start = at;
        }
        previous_ends = matches!(c, '.' | '?' | '!');
    }
    sentences.push(text[start..].trim());
    sentences.retain(|sentence| !sentence.is_empty());
    sentences
}

#[cfg(test)]
mod tests;
