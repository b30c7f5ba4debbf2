//! Which words of a sentence carry information: the one rule behind the filler filter, the search
//! terms and the recognition of generic requests.
//!
//! A word is lower-cased and its accents are folded (`Médico` and `medico` are one word). It is a
//! **content word** unless it is on one of the small lists below (English and Spanish): function
//! words ("the", "de"), acknowledgements and pleasantries ("okay", "thanks", "gracias", "much
//! obliged", "thank you, dear") and bare
//! answers ("yes", "no", "sí"). Any word with a digit is a content word ("2:15", "1002").
//! Questions also drop the words agents use to talk *about* a conversation ("what did they say
//! last time", "la última llamada"), which name no topic.

use std::collections::HashSet;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Words that only hold a sentence together.
const FUNCTION_WORDS: &str = "\
    a about after again all also am an and any are as at be because been before being but \
    by can could d did do does doing don didn doesn else for from get got had has have \
    having he her here hers him his how i if im in into is isn it its just let lets like ll \
    m may me might mine more much must my myself not now of on one only or our ours out re \
    really s same shall she should so some still t than that thats the their theirs them \
    then there these they this those to too us ve very want wanted was wasn we well were \
    what whats when where which who whom whose why will with won would you your yours \
    anything something everything nothing help today need know think maybe going gonna \
    wanna able please oh um uh hmm mm ah er \
    al algo como con cual cuando de del donde e el ella ellas ellos en era es esa ese eso \
    esta estas este esto estos estoy fue ha hay la las le les lo los mas mi mis muy nada \
    nos o para pero por puede puedo que quien se ser soy su sus tambien te tengo tiene tu \
    tus u un una unas unos usted ustedes y ya yo quiero quisiera favor ayudar hoy eh pues \
    entonces";

/// Acknowledgements, greetings and goodbyes, and the forms of address and courtesies said with
/// them: what is said to keep a call polite, not to inform.
const PLEASANTRIES: &str = "\
    alright awesome bye cheers cool day evening fine good goodbye great hello hey hi \
    morning afternoon nice ok okay perfect sounds sure thank thanks thankyou welcome \
    wonderful appreciate appreciated talk soon later gotcha see care \
    lovely fantastic excellent meet obliged kindly sweet lot lots \
    dear honey sweetie sweetheart man mate buddy pal sir maam madam young lady \
    adios bien bueno buena buenas buenos chao dias gracias genial hola luego muchas noches \
    perfecto tardes vale igualmente encantado encantada hasta amable amables saludos \
    cuidese cuidate grazie ciao";

/// Bare answers: informative only together with the question they answer.
const BARE_ANSWERS: &str = "\
    yes yeah yep yup yea no nope nah correct right exactly absolutely definitely si claro \
    correcto exacto afirmativo";

/// Words that refer to the conversation itself rather than to what was said in it.
const CONVERSATION_WORDS: &str = "\
    talk talked talking discuss discussed say said tell told mention mentioned ask asked \
    remember recall last previous previously earlier before time times call calls called \
    calling conversation conversations chat spoke speak caller customer client agent we \
    anything regarding info information details notes summary recap happened go over went \
    hablamos hablar hablado hablo dijo dije dijimos ultima ultimo vez veces llamada \
    llamadas llamo anterior antes conversacion recordar cliente resumen paso sobre acerca";

/// A word list as a set.
struct WordList(LazyLock<HashSet<&'static str>>);

macro_rules! word_list {
    ($words:expr) => {
        WordList(LazyLock::new(|| $words.split_whitespace().collect()))
    };
}

impl WordList {
    fn contains(&self, word: &str) -> bool {
        self.0.contains(word)
    }
}

static FUNCTION: WordList = word_list!(FUNCTION_WORDS);
static POLITE: WordList = word_list!(PLEASANTRIES);
static ANSWERS: WordList = word_list!(BARE_ANSWERS);
static ABOUT_THE_CALL: WordList = word_list!(CONVERSATION_WORDS);

/// The words of `text`: runs of letters and digits, lower-cased, accents folded, in order.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(fold)
}

/// Lower-cases and removes accents (`Día` -> `dia`).
fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_number(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_digit())
}

/// Whether `word` (as returned by [`words`]) carries information: a number, or a word of two
/// letters or more on none of the lists of a statement (function words, pleasantries, bare
/// answers).
fn is_content_word(word: &str) -> bool {
    is_number(word)
        || word.chars().nth(1).is_some()
            && !(FUNCTION.contains(word) || POLITE.contains(word) || ANSWERS.contains(word))
}

/// The content words of a statement, in order.
pub fn content_words(text: &str) -> Vec<String> {
    words(text).filter(|word| is_content_word(word)).collect()
}

/// Whether `text` is a bare yes or no ("Yes.", "No, not really.", "Sí, claro."): it has a bare
/// answer and no content word.
pub fn is_bare_answer(text: &str) -> bool {
    let mut answered = false;
    for word in words(text) {
        if is_content_word(&word) {
            return false;
        }
        answered |= ANSWERS.contains(&word);
    }
    answered
}

/// The distinct words of a question that name what it is about: its content words minus the
/// words about the conversation itself, at most `max` of them, in order.
pub fn topic_words(question: &str, max: usize) -> Vec<String> {
    let mut topic: Vec<String> = Vec::new();
    for word in words(question) {
        let talks_about_the_call = !is_number(&word) && ABOUT_THE_CALL.contains(&word);
        if is_content_word(&word) && !talks_about_the_call && !topic.contains(&word) {
            topic.push(word);
            if topic.len() == max {
                break;
            }
        }
    }
    topic
}

/// Reduces a word to its English stem (`cancelled`, `cancellation` -> `cancel`), the same
/// family of stemmer as the embedded store's full-text index, so every backend matches word forms
/// alike.
pub fn stem(word: &str) -> String {
    Stemmer::create(Algorithm::English).stem(word).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_and_lose_their_accents() {
        let folded: Vec<String> = words("Médico: ¿MAÑANA a las 9:30?").collect();
        assert_eq!(folded, ["medico", "manana", "a", "las", "9", "30"]);
    }

    #[test]
    fn pleasantries_and_function_words_are_not_content() {
        assert!(content_words("Okay, thank you so much. Bye!").is_empty());
        assert!(content_words("Vale, muchas gracias, adiós.").is_empty());
        assert_eq!(
            content_words("Yes, I'm allergic to penicillin."),
            ["allergic", "penicillin"]
        );
        assert_eq!(content_words("2:15 works for me."), ["2", "15", "works"]);
    }

    #[test]
    fn a_bare_answer_is_a_yes_or_no_without_content() {
        assert!(is_bare_answer("Yes."));
        assert!(is_bare_answer("No, not really."));
        assert!(is_bare_answer("Sí, claro."));
        assert!(!is_bare_answer("Okay, sounds good."));
        assert!(!is_bare_answer("Yes, penicillin."));
    }

    #[test]
    fn a_question_about_the_last_call_names_no_topic() {
        assert!(topic_words("What did we talk about last time?", 8).is_empty());
        assert!(topic_words("Anything from the previous call?", 8).is_empty());
        assert!(topic_words("¿De qué hablamos la última vez?", 8).is_empty());
        assert_eq!(
            topic_words("What did the caller say about drug reactions?", 8),
            ["drug", "reactions"]
        );
        assert_eq!(
            topic_words("the jazz and the blues and soul", 2),
            ["jazz", "blues"]
        );
    }

    #[test]
    fn word_forms_share_a_stem() {
        assert_eq!(stem("cancelled"), stem("cancellation"));
        assert_eq!(stem("appointments"), stem("appointment"));
    }
}
