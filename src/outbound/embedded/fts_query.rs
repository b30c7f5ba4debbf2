//! Turns any user text into safe FTS5 match expressions.
//!
//! FTS5 has its own query language (`AND`, `OR`, `NOT`, `NEAR`, `*`, `^`, `:`, parentheses,
//! quotes), and user text that happens to contain it would either error or change meaning. So the
//! text is cut into words made of letters and digits only, each word is quoted as a phrase, and
//! phrases are combined with `OR`: the result is always valid syntax, and BM25 ranks memories
//! that contain more (and rarer) words first.

/// At most this many distinct words are searched; longer questions keep their first words.
const MAX_WORDS: usize = 24;

/// The distinct words of `text`, lower-cased, in order; empty when the text has no searchable
/// word (only punctuation or emoji, for example).
pub(super) fn searchable_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
        if words.len() == MAX_WORDS {
            break;
        }
    }
    words
}

/// A match expression for any of `words` (as returned by [`searchable_words`]).
pub(super) fn any_of<S: AsRef<str>>(words: &[S]) -> String {
    let phrases: Vec<String> = words
        .iter()
        .map(|word| format!("\"{}\"", word.as_ref()))
        .collect();
    phrases.join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_quotes_become_plain_quoted_words() {
        let words = searchable_words(r#"jazz AND "blues" NEAR(x*, ^y) col:z jazz"#);
        assert_eq!(
            any_of(&words),
            r#""jazz" OR "and" OR "blues" OR "near" OR "x" OR "y" OR "col" OR "z""#
        );
    }

    #[test]
    fn text_without_words_has_no_words() {
        assert!(searchable_words("🎷 ?! ()\"*").is_empty());
    }

    #[test]
    fn long_text_is_capped() {
        let text: Vec<String> = (0..100).map(|n| format!("w{n}")).collect();
        assert_eq!(searchable_words(&text.join(" ")).len(), MAX_WORDS);
    }
}
