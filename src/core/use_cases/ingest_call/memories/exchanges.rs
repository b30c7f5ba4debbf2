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

use crate::core::exchange::{compose, sentences, trimmed_context};
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
    let context = context
        .map(|context| trimmed_context(context, CONTEXT_CHARS))
        .filter(|text| !text.is_empty());
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
    Some(Exchange {
        first_turn,
        time_in_call_secs,
        content: compose(context.as_deref(), &answer),
    })
}

#[cfg(test)]
mod tests;
