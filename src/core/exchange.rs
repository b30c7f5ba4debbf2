//! How a question-and-answer exchange reads as a memory: `Agent asked: <context> Caller:
//! <answer>` (or `Agent said:` when the agent's words are not a question, or `Caller: <answer>`
//! alone), and how it is shortened for a store that keeps only short memories whole. Ingestion
//! writes exchanges with [`compose`]; stores that must shorten them use [`shorten`], so the form
//! has one home.

const ASKED: &str = "Agent asked: ";
const SAID: &str = "Agent said: ";
const CALLER: &str = "Caller: ";

/// Below this many characters the agent's words say too little to be worth keeping: a shortened
/// exchange then keeps the caller's answer alone.
const MIN_CONTEXT_CHARS: usize = 24;

/// The memory text of a caller's `answer` to the agent's `context` (already trimmed, see
/// [`trimmed_context`]).
pub fn compose(context: Option<&str>, answer: &str) -> String {
    match context {
        Some(context) if context.ends_with('?') => format!("{ASKED}{context} {CALLER}{answer}"),
        Some(context) => format!("{SAID}{context} {CALLER}{answer}"),
        None => format!("{CALLER}{answer}"),
    }
}

/// `content` within `max_chars` characters with the caller's answer whole: the agent's words
/// are cut to their last sentences or words (the question usually comes last), or left out when
/// too little of them would fit. `None` when `content` is not an exchange or its answer alone
/// does not fit.
pub fn shorten(content: &str, max_chars: usize) -> Option<String> {
    if content.chars().count() <= max_chars {
        return Some(content.to_owned());
    }
    let (context, answer) = split(content)?;
    let answer_alone = CALLER.chars().count() + answer.chars().count();
    if answer_alone > max_chars {
        return None;
    }
    let prefix = if context.ends_with('?') { ASKED } else { SAID };
    let room = max_chars.saturating_sub(answer_alone + prefix.chars().count() + 1);
    if room < MIN_CONTEXT_CHARS {
        return Some(compose(None, answer));
    }
    Some(compose(Some(&trimmed_context(context, room)), answer))
}

/// The agent's words and the caller's answer of an exchange's text.
fn split(content: &str) -> Option<(&str, &str)> {
    let rest = content
        .strip_prefix(ASKED)
        .or_else(|| content.strip_prefix(SAID))?;
    let (context, answer) = rest.split_once(&format!(" {CALLER}"))?;
    Some((context, answer))
}

/// The last sentences of an agent turn within `max_chars`, without leading sentences that carry
/// nothing; a single longer sentence keeps its last words after an ellipsis.
pub fn trimmed_context(message: &str, max_chars: usize) -> String {
    let sentences = sentences(message);
    let mut kept: Vec<&str> = Vec::new();
    let mut length = 0;
    for sentence in sentences.iter().rev() {
        let added = sentence.chars().count() + usize::from(!kept.is_empty());
        if !kept.is_empty() && length + added > max_chars {
            break;
        }
        kept.insert(0, sentence);
        length += added;
    }
    while kept.len() > 1 && crate::core::recall::words::content_words(kept[0]).is_empty() {
        kept.remove(0);
    }
    let context = kept.join(" ");
    if context.chars().count() <= max_chars {
        return context;
    }
    let mut tail: Vec<&str> = Vec::new();
    let mut length = 1;
    for word in context.split_whitespace().rev() {
        length += word.chars().count() + 1;
        if length > max_chars {
            break;
        }
        tail.insert(0, word);
    }
    format!("…{}", tail.join(" "))
}

/// Sentences end at `.`, `?` or `!` followed by a space.
pub fn sentences(text: &str) -> Vec<&str> {
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
mod tests {
    use super::*;

    const LONG: &str = "Agent asked: Thanks for holding, I have the schedule open now and we can \
        do most days. Do you have any allergies we should know about? Caller: Yes, I'm allergic \
        to penicillin. I get hives.";

    #[test]
    fn a_short_exchange_is_left_as_it_is() {
        assert_eq!(shorten(LONG, 500).as_deref(), Some(LONG));
    }

    #[test]
    fn a_shortened_exchange_keeps_the_question_and_the_whole_answer() {
        let short = shorten(LONG, 120).unwrap();
        assert_eq!(
            short,
            "Agent asked: Do you have any allergies we should know about? Caller: Yes, I'm \
             allergic to penicillin. I get hives."
        );
        let shorter = shorten(LONG, 100).unwrap();
        assert!(shorter.chars().count() <= 100, "{shorter}");
        assert!(shorter.starts_with("Agent asked: …"), "{shorter}");
        assert!(
            shorter.ends_with("know about? Caller: Yes, I'm allergic to penicillin. I get hives.")
        );
    }

    #[test]
    fn without_room_for_the_question_the_answer_stays_alone_and_too_long_an_answer_is_refused() {
        assert_eq!(
            shorten(LONG, 60).as_deref(),
            Some("Caller: Yes, I'm allergic to penicillin. I get hives.")
        );
        assert_eq!(shorten(LONG, 40), None);
        assert_eq!(
            shorten(&"A summary, not an exchange. ".repeat(9), 100),
            None
        );
    }
}
