//! Turns any user text into a safe FTS5 match expression.
//!
//! FTS5 has its own query language (`AND`, `OR`, `NOT`, `NEAR`, `*`, `^`, `:`, parentheses,
//! quotes), and user text that happens to contain it would either error or change meaning. So the
//! text is cut into words made of letters and digits only, each word is quoted as a phrase, and the
//! phrases are combined with `OR`: the result is always valid syntax and BM25 ranks memories that
//! contain more (and rarer) words first.

/// At most this many distinct words are searched; longer questions keep their first words.
const MAX_WORDS: usize = 32;

/// The match expression for `text`, restricted to one caller's token, or `None` when the text has
/// no searchable word (only punctuation or emoji, for example).
pub(super) fn match_expression(caller_token: &str, text: &str) -> Option<String> {
    let words = searchable_words(text);
    if words.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = words.iter().map(|word| format!("\"{word}\"")).collect();
    Some(format!(
        "caller_token : \"{caller_token}\" AND ({})",
        alternatives.join(" OR ")
    ))
}

fn searchable_words(text: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_quotes_become_plain_quoted_words() {
        let expression = match_expression("14155550123", r#"jazz AND "blues" NEAR(x*, ^y) col:z"#);
        assert_eq!(
            expression.as_deref(),
            Some(
                r#"caller_token : "14155550123" AND ("jazz" OR "and" OR "blues" OR "near" OR "x" OR "y" OR "col" OR "z")"#
            )
        );
    }

    #[test]
    fn text_without_words_has_no_expression() {
        assert_eq!(match_expression("1", "🎷 ?! ()\"*"), None);
    }

    #[test]
    fn long_text_is_capped() {
        let text: Vec<String> = (0..100).map(|n| format!("w{n}")).collect();
        let expression = match_expression("1", &text.join(" ")).unwrap();
        assert_eq!(expression.matches(" OR ").count(), MAX_WORDS - 1);
    }
}
