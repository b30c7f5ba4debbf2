//! Long memories in parts the server keeps whole.
//!
//! With its default `OM_USE_SUMMARY_ONLY=true`, OpenMemory condenses any content over 200
//! characters (exchanges-legacy/l61, l62): it keeps a few sentences and drops long ones, so a
//! long first sentence left the stored content empty and its words lost. So, on such a server
//! (the condensation probe says so), a memory whose marked content would exceed that is
//! shortened or split into parts that fit with the plain marker:
//! - an exchange keeps the caller's answer whole with as much of the agent's question as fits
//!   (see [`crate::core::exchange::shorten`]): an answer apart from its question would mean
//!   nothing, and a question apart from its answer would be found in its place;
//! - anything else, and an exchange whose answer alone is too long, is split at sentence ends,
//!   then clause ends, then spaces. Each part is a memory of its own with a stable key: the first
//!   keeps the memory's key, the next are `<key>#2`, `<key>#3`...
//!
//! Parts are sized for the plain marker. A distinguished form (tried when the server merged the
//! plain form into another memory) has a longer marker: an exchange is then shortened further
//! ([`fitted`]); another part may be condensed. Sizing every part for the longest marker would cut
//! most exchanges in two.

use super::marker::mark;
use crate::core::{exchange, MemoryKind, NewMemory};

/// Content longer than this, marker included, is condensed by the server.
pub(super) const CONDENSED_ABOVE_CHARS: usize = 200;

/// The smallest text budget of a part, whatever the marker's length.
const MIN_PART_CHARS: usize = 40;

/// Whether the server keeps long content whole or condenses it (see [`super::condensation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LongContent {
    KeptWhole,
    Condensed,
}

/// `memory` itself when the server keeps it whole, otherwise its shortened form or its parts,
/// in order.
pub(super) fn parts(memory: &NewMemory, server: LongContent) -> Vec<NewMemory> {
    if server == LongContent::KeptWhole {
        return vec![memory.clone()];
    }
    let budget = budget(memory, 0);
    if memory.content.chars().count() <= budget {
        return vec![memory.clone()];
    }
    if memory.kind == MemoryKind::Utterance {
        if let Some(shortened) = exchange::shorten(&memory.content, budget) {
            let mut whole = memory.clone();
            whole.content = shortened;
            return vec![whole];
        }
    }
    split(&memory.content, budget)
        .into_iter()
        .enumerate()
        .map(|(index, content)| {
            let mut part = memory.clone();
            part.content = content;
            if index > 0 {
                part.key = format!("{}#{}", memory.key, index + 1);
            }
            part
        })
        .collect()
}

/// `memory` (a part, see [`parts`]) as sent with the marker of distinguishing `attempt`: an
/// exchange is shortened again to fit the longer marker, on a server that condenses. (A caller
/// who says the same in two calls gets distinguished forms often, so they must fit too.)
pub(super) fn fitted(memory: &NewMemory, attempt: u32, server: LongContent) -> NewMemory {
    let mut fitted = memory.clone();
    if server == LongContent::Condensed && memory.kind == MemoryKind::Utterance {
        if let Some(shortened) = exchange::shorten(&memory.content, budget(memory, attempt)) {
            fitted.content = shortened;
        }
    }
    fitted
}

/// The characters left for `memory`'s text beside the marker of `attempt`.
fn budget(memory: &NewMemory, attempt: u32) -> usize {
    let marker_chars = {
        let mut bare = memory.clone();
        bare.content.clear();
        mark(&bare, attempt).chars().count()
    };
    CONDENSED_ABOVE_CHARS
        .saturating_sub(marker_chars)
        .max(MIN_PART_CHARS)
}

/// Whether `stored` is `key` itself or the key of one of its parts (`<key>#2`, `<key>#3`...).
pub(super) fn is_key_or_part(stored: &str, key: &str) -> bool {
    stored == key
        || stored
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('#'))
            .is_some_and(|index| index.parse::<u32>().is_ok())
}

/// Splits `text` into pieces of at most `budget` characters, preferring sentence ends, then
/// clause ends, then spaces; a single word longer than `budget` is cut.
fn split(text: &str, budget: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    pack(
        text,
        budget,
        &[&['.', '!', '?'], &[',', ';', ':'], &[' ']],
        &mut pieces,
    );
    pieces
}

/// Packs the units of `text` (cut after each of `levels[0]`) greedily into pieces; a unit
/// that is too long on its own is split at the next level.
fn pack(text: &str, budget: usize, levels: &[&[char]], pieces: &mut Vec<String>) {
    let Some((separators, finer)) = levels.split_first() else {
        cut(text, budget, pieces);
        return;
    };
    let mut current = String::new();
    for unit in units(text, separators) {
        let unit = unit.trim();
        if unit.is_empty() {
            continue;
        }
        let joined = if current.is_empty() {
            unit.chars().count()
        } else {
            current.chars().count() + 1 + unit.chars().count()
        };
        if joined <= budget {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(unit);
            continue;
        }
        if !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        if unit.chars().count() <= budget {
            current.push_str(unit);
        } else {
            pack(unit, budget, finer, pieces);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
}

/// `text` cut after each separator that ends a word (a space, or punctuation followed by
/// whitespace or the end), so that `10:30`, `2.5` or `a,b` stay whole.
fn units<'a>(text: &'a str, separators: &[char]) -> Vec<&'a str> {
    let mut units = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let ends_word =
            c.is_whitespace() || chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if separators.contains(&c) && ends_word {
            let end = at + c.len_utf8();
            units.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        units.push(&text[start..]);
    }
    units
}

fn cut(word: &str, budget: usize, pieces: &mut Vec<String>) {
    let chars: Vec<char> = word.chars().collect();
    pieces.extend(
        chars
            .chunks(budget.max(1))
            .map(|chunk| chunk.iter().collect()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CallerId;
    use crate::test_doubles::utterance;

    const EXCHANGE: &str = "Agent asked: Thanks for holding, I have the schedule open now and we \
        can do most days of the week. Do you have any allergies we should know about? Caller: \
        Yes, I'm allergic to penicillin. I get hives when I take it.";

    fn exchange() -> NewMemory {
        let caller = CallerId::parse("+14155550123").unwrap();
        utterance(&caller, "conv_eval_dental_12_3", EXCHANGE)
    }

    #[test]
    fn a_server_that_keeps_long_content_whole_gets_the_memory_as_it_is() {
        assert_eq!(parts(&exchange(), LongContent::KeptWhole), [exchange()]);
    }

    #[test]
    fn a_long_exchange_stays_one_memory_with_its_question_and_whole_answer() {
        let stored = parts(&exchange(), LongContent::Condensed);
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(stored[0].key, exchange().key);
        assert!(mark(&stored[0], 0).chars().count() <= CONDENSED_ABOVE_CHARS);
        assert!(
            stored[0].content.starts_with("Agent asked: ")
                && stored[0].content.contains(
                    "allergies we should know about? Caller: Yes, \
                    I'm allergic to penicillin. I get hives when I take it."
                ),
            "{}",
            stored[0].content
        );
    }

    #[test]
    fn a_distinguished_form_of_a_long_exchange_still_fits_with_its_whole_answer() {
        let part = parts(&exchange(), LongContent::Condensed).remove(0);
        for attempt in 0..=3 {
            let sent = mark(&fitted(&part, attempt, LongContent::Condensed), attempt);
            assert!(sent.chars().count() <= CONDENSED_ABOVE_CHARS, "{sent}");
            assert!(sent
                .ends_with("Caller: Yes, I'm allergic to penicillin. I get hives when I take it."));
        }
    }

    #[test]
    fn a_long_memory_that_is_not_an_exchange_is_split_into_parts_that_fit() {
        let mut summary = exchange();
        summary.kind = MemoryKind::CallSummary;
        summary.content = "Emily called about her tooth. ".repeat(8);
        let stored = parts(&summary, LongContent::Condensed);
        assert!(stored.len() > 1, "{stored:?}");
        assert!(stored
            .iter()
            .all(|part| mark(part, 0).chars().count() <= CONDENSED_ABOVE_CHARS));
        assert_eq!(stored[1].key, format!("{}#2", summary.key));
    }

    #[test]
    fn pieces_fit_and_keep_every_word_in_order() {
        let text = "First short one. Then a much longer sentence, with clauses; and more words \
                    than fit in one piece at all. End!";
        for budget in [10, 25, 40, 200] {
            let pieces = split(text, budget);
            assert!(pieces.iter().all(|piece| piece.chars().count() <= budget));
            assert!(pieces.iter().all(|piece| !piece.trim().is_empty()));
            let words: Vec<&str> = text.split_whitespace().collect();
            let rejoined = pieces.join(" ");
            assert_eq!(rejoined.split_whitespace().collect::<Vec<_>>(), words);
        }
    }

    #[test]
    fn a_part_is_known_by_its_memory_key() {
        assert!(is_key_or_part("exchange-3", "exchange-3"));
        assert!(is_key_or_part("exchange-3#2", "exchange-3"));
        assert!(!is_key_or_part("exchange-31", "exchange-3"));
        assert!(!is_key_or_part("exchange-3#x", "exchange-3"));
    }

    #[test]
    fn sentences_stay_whole_when_they_fit() {
        let pieces = split("One two. Three four five. Six.", 20);
        assert_eq!(pieces, ["One two.", "Three four five.", "Six."]);
    }

    #[test]
    fn times_decimals_and_lists_without_spaces_are_not_cut() {
        let pieces = split("We said 10:30, or 2.5 hours. Then a,b,c.", 12);
        assert!(
            pieces.iter().any(|piece| piece.contains("10:30")),
            "{pieces:?}"
        );
        assert!(
            pieces.iter().any(|piece| piece.contains("2.5")),
            "{pieces:?}"
        );
        assert!(
            pieces.iter().any(|piece| piece.contains("a,b,c.")),
            "{pieces:?}"
        );
    }

    #[test]
    fn a_word_longer_than_a_piece_is_cut() {
        assert_eq!(split("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }
}
