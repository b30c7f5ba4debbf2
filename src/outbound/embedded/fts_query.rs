//! Turns the words of any user text into safe FTS5 match expressions.
//!
//! FTS5 has its own query language (`AND`, `OR`, `NOT`, `NEAR`, `*`, `^`, `:`, parentheses,
//! quotes), and user text that happens to contain it would either error or change meaning. So
//! only the question's topic words are searched (made of letters and digits only, see
//! [`crate::core::recall::words`]), each word is quoted as a phrase, and phrases are combined with
//! `OR`: the result is always valid syntax, and BM25 ranks memories that contain more (and rarer)
//! words first.

/// A match expression for any of `words` (topic words: letters and digits only).
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
    use crate::core::recall::words::topic_words;
    use crate::core::recall::MAX_TOPIC_WORDS;

    fn searchable_words(text: &str) -> Vec<String> {
        topic_words(text, MAX_TOPIC_WORDS)
    }

    #[test]
    fn operators_and_quotes_become_plain_quoted_words() {
        let words = searchable_words(r#"jazz AND "blues" NEAR(xy*, ^yz) col:zz jazz"#);
        assert_eq!(
            any_of(&words),
            r#""jazz" OR "blues" OR "near" OR "xy" OR "yz" OR "col" OR "zz""#
        );
    }

    #[test]
    fn text_without_words_has_no_words() {
        assert!(searchable_words("🎷 ?! ()\"*").is_empty());
    }

    mod properties {
        use proptest::prelude::*;
        use rusqlite::Connection;

        use super::super::super::{open_writer, statements};
        use super::*;
        use crate::core::recall::RecallQuery;
        use crate::core::{CallerId, SearchQuery};
        use crate::test_doubles::utterance;

        /// A real store file holding a few memories with accents, scripts and operator-like words.
        fn store(folder: &tempfile::TempDir) -> (Connection, CallerId) {
            let connection = open_writer(&folder.path().join("memory.sqlite3")).unwrap();
            let caller = CallerId::parse("+14155550123").unwrap();
            for content in [
                "Café au lait, Straße 12, naïve jazz",
                "東京 appointment AND NEAR(x) \"quoted\" col:umn",
                "Ich möchte Freitag 🎷 um 9:30",
            ] {
                statements::insert(&connection, &utterance(&caller, "conv_1", content), None)
                    .unwrap();
            }
            (connection, caller)
        }

        /// Text mixing FTS5 syntax, words the store holds and anything at all.
        fn hostile_text() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("AND".to_owned()),
                Just("OR".to_owned()),
                Just("NOT".to_owned()),
                Just("NEAR(".to_owned()),
                Just(")".to_owned()),
                Just("\"".to_owned()),
                Just("*".to_owned()),
                Just("^".to_owned()),
                Just(":".to_owned()),
                Just("café".to_owned()),
                Just("CAFE".to_owned()),
                Just("東京".to_owned()),
                Just("jazz".to_owned()),
                Just("\0".to_owned()),
                Just("\u{301}".to_owned()),
                "\\PC{0,6}",
                ".{0,6}",
            ];
            prop_oneof![
                proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.join(" ")),
                ".{0,200}",
                any::<String>(),
            ]
        }

        #[test]
        fn any_text_is_a_query_sqlite_accepts_and_a_search_that_succeeds() {
            let folder = tempfile::tempdir().unwrap();
            let (connection, caller) = store(&folder);
            proptest!(|(text in hostile_text())| {
                let words = searchable_words(&text);
                if !words.is_empty() {
                    let matched: rusqlite::Result<i64> = connection.query_row(
                        "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?1",
                        [any_of(&words)],
                        |row| row.get(0),
                    );
                    prop_assert!(matched.is_ok(), "{:?} gave {:?}", any_of(&words), matched);
                }
                if let Ok(query) = SearchQuery::parse(&text) {
                    let query = RecallQuery::lexical(query);
                    let found = statements::search(&connection, &caller, &query, 5);
                    prop_assert!(found.is_ok(), "{:?} gave {:?}", text, found);
                    prop_assert!(found.unwrap().len() <= 5);
                }
            });
        }
    }

    #[test]
    fn long_text_is_capped() {
        let text: Vec<String> = (0..100).map(|n| format!("w{n}")).collect();
        assert_eq!(searchable_words(&text.join(" ")).len(), MAX_TOPIC_WORDS);
    }
}
